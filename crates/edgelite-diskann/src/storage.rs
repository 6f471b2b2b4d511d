//! Where node blocks live: the [`Storage`] trait and the in-memory [`MemStorage`].

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::ops::Bound;
use std::sync::Arc;

use crate::graph::Seeds;

/// The index's view of `<idx>_shadow(index_key INTEGER PRIMARY KEY, data BLOB)`: node blocks
/// keyed by rowid. The graph never caches blocks across calls, so an implementation may (a
/// reused `sqlite3_blob` handle, a page cache) but need not.
///
/// Every failure of the underlying store is an [`Storage::Error`] and comes back unchanged
/// inside [`crate::GraphError::Storage`], so the bridge can return SQLite's own code.
///
/// Suggested SQL for the shadow table (`"s"` the schema, `idx` the index name):
///
/// | Method | SQL |
/// |---|---|
/// | [`read`](Storage::read) | `sqlite3_blob_open`/`_reopen` on `data` + `sqlite3_blob_read` (missing row = `Ok(false)`) |
/// | [`write`](Storage::write) | `sqlite3_blob_write` of the whole block |
/// | [`insert`](Storage::insert) | `INSERT INTO "s".idx_shadow(index_key, data) VALUES (?1, ?2)` |
/// | [`delete`](Storage::delete) | `DELETE FROM "s".idx_shadow WHERE index_key = ?1` |
/// | [`first_id`](Storage::first_id) | `SELECT index_key FROM "s".idx_shadow ORDER BY index_key LIMIT 1` |
/// | [`next_id`](Storage::next_id) | `SELECT index_key FROM "s".idx_shadow WHERE index_key > ?1 ORDER BY index_key LIMIT 1` |
pub trait Storage {
    /// The store's error (e.g. a SQLite result code with its message).
    type Error: std::error::Error + 'static;

    /// Reads the block of node `id` into `buf` (replacing its contents). `Ok(false)` if there
    /// is no such node, which the graph treats as a dangling edge to skip.
    ///
    /// # Errors
    /// Any failure of the store other than "no such row".
    fn read(&mut self, id: i64, buf: &mut Vec<u8>) -> Result<bool, Self::Error>;

    /// Calls `f` on the block of node `id`, lent rather than copied where the store can (a
    /// search reads a block for each node it visits and keeps none of them); `Ok(None)` if
    /// there is no such node. The default reads into a new buffer.
    ///
    /// # Errors
    /// As [`Self::read`].
    fn read_with<R>(&mut self, id: i64, f: impl FnOnce(&[u8]) -> R) -> Result<Option<R>, Self::Error> {
        let mut buf = Vec::new();
        Ok(if self.read(id, &mut buf)? { Some(f(&buf)) } else { None })
    }

    /// Calls `f` on at least the first `len` bytes of the block of node `id` (the whole block
    /// is as good; fewer only for a block shorter than `len`); `Ok(None)` if there is no such
    /// node. For a caller that needs a node's rowid and vector only ([`crate::Layout::head`]):
    /// a store that keeps blocks where reading part of one is cheaper reads just those bytes.
    /// The default lends the whole block ([`Self::read_with`]).
    ///
    /// # Errors
    /// As [`Self::read`].
    fn read_head<R>(&mut self, id: i64, len: usize, f: impl FnOnce(&[u8]) -> R) -> Result<Option<R>, Self::Error> {
        let _ = len;
        self.read_with(id, f)
    }

    /// Calls `f` on the block of node `id` only if the store holds it in memory, where looking
    /// at it costs nothing but CPU cache misses; otherwise does nothing (the default). The
    /// graph uses it to start loading the next block it will visit while it works on this one.
    fn peek(&mut self, id: i64, f: &mut dyn FnMut(&[u8])) {
        let _ = (id, f);
    }

    /// Overwrites the block of existing node `id` (same length).
    ///
    /// # Errors
    /// Store failures, including a missing node.
    fn write(&mut self, id: i64, block: &[u8]) -> Result<(), Self::Error>;

    /// Overwrites the block of existing node `id`, which held `old`, with `new` (same length).
    /// A store that can write part of a value writes only the bytes that changed (adding an
    /// edge changes about a twentieth of a block); the default writes the whole block.
    ///
    /// # Errors
    /// As [`Self::write`].
    fn update(&mut self, id: i64, old: &[u8], new: &[u8]) -> Result<(), Self::Error> {
        let _ = old;
        self.write(id, new)
    }

    /// Adds node `id`.
    ///
    /// # Errors
    /// Store failures, including an existing node (a constraint error in SQLite).
    fn insert(&mut self, id: i64, block: &[u8]) -> Result<(), Self::Error>;

    /// Removes node `id`; `Ok(false)` if it did not exist.
    ///
    /// # Errors
    /// Store failures.
    fn delete(&mut self, id: i64) -> Result<bool, Self::Error>;

    /// The lowest rowid, or `None` for an empty index. This is the search entry point: fixed,
    /// so results are reproducible, and O(log n) where libSQL counts and skips rows at random.
    ///
    /// # Errors
    /// Store failures.
    fn first_id(&mut self) -> Result<Option<i64>, Self::Error>;

    /// The lowest rowid greater than `after` (full scans: integrity checks).
    ///
    /// # Errors
    /// Store failures.
    fn next_id(&mut self, after: i64) -> Result<Option<i64>, Self::Error>;

    /// Appends to `out` the (up to) `n` lowest rowids greater than `after`, in order: fewer
    /// than `n` only when no more follow. The default asks [`Self::next_id`] for each; a store
    /// that seeks for each rowid should read them in one pass (a walk that gives way to brute
    /// force lists every node).
    ///
    /// # Errors
    /// Store failures.
    fn next_ids(&mut self, after: i64, n: usize, out: &mut Vec<i64>) -> Result<(), Self::Error> {
        let mut at = after;
        for _ in 0..n {
            match self.next_id(at)? {
                Some(id) => {
                    out.push(id);
                    at = id;
                }
                None => break,
            }
        }
        Ok(())
    }

    /// The highest rowid, or `None` for an empty index or a store that cannot say (the
    /// default: its searches have no [`Seeds`]); with [`Self::next_id`] it spreads the seeds
    /// over the index.
    ///
    /// # Errors
    /// Store failures.
    fn last_id(&mut self) -> Result<Option<i64>, Self::Error> {
        Ok(None)
    }

    /// The index's [`Seeds`] as [`Self::keep_seeds`] last kept them, if the store still holds
    /// them; `None` (the default) makes a search draw them again (a seek and a
    /// [`Self::read_head`] for each of up to four times `SEEDS` candidates).
    fn seeds(&mut self) -> Option<Arc<Seeds>> {
        None
    }

    /// Keeps the seeds a search drew, for the searches after it; the default keeps nothing. A
    /// store may keep them while the index changes: they are hints (see [`Seeds`]), and a
    /// search draws them again when they no longer fit the index.
    fn keep_seeds(&mut self, seeds: &Arc<Seeds>) {
        let _ = seeds;
    }
}

impl<S: Storage + ?Sized> Storage for &mut S {
    type Error = S::Error;
    fn read(&mut self, id: i64, buf: &mut Vec<u8>) -> Result<bool, Self::Error> {
        (**self).read(id, buf)
    }
    fn read_with<R>(&mut self, id: i64, f: impl FnOnce(&[u8]) -> R) -> Result<Option<R>, Self::Error> {
        (**self).read_with(id, f)
    }
    fn read_head<R>(&mut self, id: i64, len: usize, f: impl FnOnce(&[u8]) -> R) -> Result<Option<R>, Self::Error> {
        (**self).read_head(id, len, f)
    }
    fn peek(&mut self, id: i64, f: &mut dyn FnMut(&[u8])) {
        (**self).peek(id, f);
    }
    fn write(&mut self, id: i64, block: &[u8]) -> Result<(), Self::Error> {
        (**self).write(id, block)
    }
    fn update(&mut self, id: i64, old: &[u8], new: &[u8]) -> Result<(), Self::Error> {
        (**self).update(id, old, new)
    }
    fn insert(&mut self, id: i64, block: &[u8]) -> Result<(), Self::Error> {
        (**self).insert(id, block)
    }
    fn delete(&mut self, id: i64) -> Result<bool, Self::Error> {
        (**self).delete(id)
    }
    fn first_id(&mut self) -> Result<Option<i64>, Self::Error> {
        (**self).first_id()
    }
    fn next_id(&mut self, after: i64) -> Result<Option<i64>, Self::Error> {
        (**self).next_id(after)
    }
    fn next_ids(&mut self, after: i64, n: usize, out: &mut Vec<i64>) -> Result<(), Self::Error> {
        (**self).next_ids(after, n, out)
    }
    fn last_id(&mut self) -> Result<Option<i64>, Self::Error> {
        (**self).last_id()
    }
    fn seeds(&mut self) -> Option<Arc<Seeds>> {
        (**self).seeds()
    }
    fn keep_seeds(&mut self, seeds: &Arc<Seeds>) {
        (**self).keep_seeds(seeds);
    }
}

/// A failure of [`MemStorage`] (it is strict, to catch graph bugs in tests).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MemError {
    /// Insert of an existing node.
    #[error("node {0} already exists")]
    Exists(i64),
    /// Write of a missing node.
    #[error("node {0} does not exist")]
    Missing(i64),
    /// Write to a read-only view (a parallel build's searches).
    #[error("node {0}: the store is read-only here")]
    ReadOnly(i64),
    /// Read, by a parallel build's search, of a block that its [`BuildCache`] does not hold
    /// (the search is done again on the caller's thread, through the backing store).
    #[error("node {0} is not in memory")]
    NotLoaded(i64),
    /// Write that changes the block length.
    #[error("block of node {id} would change from {old} to {new} bytes")]
    Length {
        /// Node.
        id: i64,
        /// Stored length.
        old: usize,
        /// Written length.
        new: usize,
    },
}

/// Encoded blocks in memory, for in-memory builds, tests and benchmarks. Blocks are copied in
/// and out, so every operation goes through the block codec as it will over SQLite.
#[derive(Debug, Clone, Default)]
pub struct MemStorage {
    /// A hash map for the reads, one per visited node; the ordered ids beside it for the entry
    /// point and ordered walks.
    blocks: HashMap<i64, Vec<u8>, crate::RowidBuildHasher>,
    ids: BTreeSet<i64>,
    reads: u64,
    writes: u64,
}

impl MemStorage {
    /// An empty store.
    pub fn new() -> MemStorage {
        MemStorage::default()
    }
    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.blocks.len()
    }
    /// True if there are no nodes.
    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }
    /// Node ids in ascending order.
    pub fn ids(&self) -> impl Iterator<Item = i64> + '_ {
        self.ids.iter().copied()
    }
    /// The block of node `id`.
    pub fn get(&self, id: i64) -> Option<&[u8]> {
        self.blocks.get(&id).map(Vec::as_slice)
    }
    /// Replaces a block with arbitrary bytes, bypassing every check (corruption tests).
    pub fn put_raw(&mut self, id: i64, bytes: Vec<u8>) {
        self.ids.insert(id);
        self.blocks.insert(id, bytes);
    }
    /// Removes a block bypassing the graph (dangling-edge tests).
    pub fn remove_raw(&mut self, id: i64) -> Option<Vec<u8>> {
        self.ids.remove(&id);
        self.blocks.remove(&id)
    }
    /// Successful block reads so far.
    pub fn reads(&self) -> u64 {
        self.reads
    }
    /// Block writes and inserts so far.
    pub fn writes(&self) -> u64 {
        self.writes
    }
    /// The lowest id above `after`.
    pub(crate) fn after(&self, after: i64) -> Option<i64> {
        self.ids.range((Bound::Excluded(after), Bound::Unbounded)).next().copied()
    }
    /// [`Storage::insert`] of a block given away (not copied again).
    pub(crate) fn insert_vec(&mut self, id: i64, block: Vec<u8>) -> Result<(), MemError> {
        if self.blocks.contains_key(&id) {
            return Err(MemError::Exists(id));
        }
        self.blocks.insert(id, block);
        self.ids.insert(id);
        self.writes += 1;
        Ok(())
    }
    /// [`Storage::write`] of a block given away (not copied again); returns the old one.
    pub(crate) fn write_vec(&mut self, id: i64, block: Vec<u8>) -> Result<Vec<u8>, MemError> {
        let b = self.blocks.get_mut(&id).ok_or(MemError::Missing(id))?;
        if b.len() != block.len() {
            return Err(MemError::Length { id, old: b.len(), new: block.len() });
        }
        self.writes += 1;
        Ok(std::mem::replace(b, block))
    }
    /// Total bytes of all blocks.
    pub fn bytes(&self) -> usize {
        self.blocks.values().map(Vec::len).sum()
    }
}

impl Storage for MemStorage {
    type Error = MemError;

    fn read(&mut self, id: i64, buf: &mut Vec<u8>) -> Result<bool, MemError> {
        buf.clear();
        match self.blocks.get(&id) {
            Some(b) => {
                buf.extend_from_slice(b);
                self.reads += 1;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    fn read_with<R>(&mut self, id: i64, f: impl FnOnce(&[u8]) -> R) -> Result<Option<R>, MemError> {
        let found = self.blocks.get(&id).map(|b| f(b));
        self.reads += u64::from(found.is_some());
        Ok(found)
    }

    fn peek(&mut self, id: i64, f: &mut dyn FnMut(&[u8])) {
        if let Some(b) = self.blocks.get(&id) {
            f(b);
        }
    }

    fn write(&mut self, id: i64, block: &[u8]) -> Result<(), MemError> {
        let b = self.blocks.get_mut(&id).ok_or(MemError::Missing(id))?;
        if b.len() != block.len() {
            return Err(MemError::Length { id, old: b.len(), new: block.len() });
        }
        b.copy_from_slice(block);
        self.writes += 1;
        Ok(())
    }

    fn insert(&mut self, id: i64, block: &[u8]) -> Result<(), MemError> {
        if self.blocks.contains_key(&id) {
            return Err(MemError::Exists(id));
        }
        self.blocks.insert(id, block.to_vec());
        self.ids.insert(id);
        self.writes += 1;
        Ok(())
    }

    fn delete(&mut self, id: i64) -> Result<bool, MemError> {
        self.ids.remove(&id);
        Ok(self.blocks.remove(&id).is_some())
    }

    fn first_id(&mut self) -> Result<Option<i64>, MemError> {
        Ok(self.ids.first().copied())
    }

    fn next_id(&mut self, after: i64) -> Result<Option<i64>, MemError> {
        Ok(self.ids.range((Bound::Excluded(after), Bound::Unbounded)).next().copied())
    }

    fn last_id(&mut self) -> Result<Option<i64>, MemError> {
        Ok(self.ids.last().copied())
    }
}

/// The blocks of a build larger than its memory budget, held between batches: a write-back
/// cache over the store the index lives in (the shadow table), whose new and rewritten blocks
/// reach that store in [`BuildCache::write_back`]. [`crate::DiskAnn::insert_batch_cached`] adds
/// batches through it: their searches run in parallel over the blocks in memory, and a search
/// that needs a block not in memory is done again on the caller's thread, through the store.
#[derive(Debug, Default)]
pub struct BuildCache {
    blocks: MemStorage,
    /// Nodes added since the last write-back (not in the backing store yet).
    added: BTreeSet<i64>,
    /// Nodes of the backing store rewritten since the last write-back.
    changed: BTreeSet<i64>,
}

impl BuildCache {
    /// A cache holding `blocks`, all of them already in the backing store.
    pub fn new(blocks: MemStorage) -> BuildCache {
        BuildCache { blocks, added: BTreeSet::new(), changed: BTreeSet::new() }
    }
    /// The blocks in memory.
    pub fn blocks(&self) -> &MemStorage {
        &self.blocks
    }
    /// Bytes of the blocks in memory.
    pub fn bytes(&self) -> usize {
        self.blocks.bytes()
    }
    /// The cache over `backing`, as a [`Storage`]: reads fall through to `backing` (and stay
    /// in memory), writes stay in memory until [`Self::write_back`].
    pub fn over<B: Storage>(&mut self, backing: B) -> Cached<'_, B> {
        Cached { cache: self, backing }
    }
    /// Writes the rewritten blocks, then the added ones in rowid order, to `backing`.
    ///
    /// # Errors
    /// The first failure of `backing`; the blocks not written stay marked.
    pub fn write_back<B: Storage>(&mut self, backing: &mut B) -> Result<(), B::Error> {
        while let Some(id) = self.changed.first().copied() {
            if let Some(b) = self.blocks.get(id) {
                backing.write(id, b)?;
            }
            self.changed.remove(&id);
        }
        while let Some(id) = self.added.first().copied() {
            if let Some(b) = self.blocks.get(id) {
                backing.insert(id, b)?;
            }
            self.added.remove(&id);
        }
        Ok(())
    }
    /// After [`Self::write_back`]: keeps at most `keep` bytes of blocks, those nearest the
    /// entry point `entry` by edges (every search passes there), and drops the others.
    /// `edges` lists a block's out-neighbours. Blocks not written back are always kept.
    pub fn shrink(&mut self, entry: Option<i64>, keep: usize, edges: impl Fn(&[u8]) -> Vec<i64>) {
        let mut kept = MemStorage::new();
        let mut bytes = 0;
        let mut queue: VecDeque<i64> = entry.into_iter().collect();
        let mut seen: BTreeSet<i64> = queue.iter().copied().collect();
        // the blocks kept move over, not copied: a copy held the cache and the half kept at once
        // (a commit's cache of 1.1 MB blocks: 265 MB at its peak, heaptrack)
        while let Some(id) = queue.pop_front() {
            let Some(len) = self.blocks.get(id).map(<[u8]>::len) else { continue };
            if bytes + len > keep {
                break;
            }
            bytes += len;
            let Some(block) = self.blocks.remove_raw(id) else { continue };
            for e in edges(&block) {
                if seen.insert(e) {
                    queue.push_back(e);
                }
            }
            kept.put_raw(id, block);
        }
        for &id in self.added.iter().chain(&self.changed) {
            if kept.get(id).is_none()
                && let Some(b) = self.blocks.remove_raw(id)
            {
                kept.put_raw(id, b);
            }
        }
        self.blocks = kept;
    }
}

/// A [`BuildCache`] over its backing store (see [`BuildCache::over`]).
pub struct Cached<'a, B> {
    cache: &'a mut BuildCache,
    backing: B,
}

impl<B> Cached<'_, B> {
    /// The blocks in memory.
    pub(crate) fn blocks(&self) -> &MemStorage {
        &self.cache.blocks
    }
    /// [`Storage::insert`] of a block given away (not copied again).
    pub(crate) fn insert_vec(&mut self, id: i64, block: Vec<u8>) {
        // a rowid already in the backing store fails there, at the write-back
        self.cache.blocks.put_raw(id, block);
        self.cache.added.insert(id);
    }
    /// [`Storage::write`] of a block given away (not copied again); returns the old one.
    pub(crate) fn write_vec(&mut self, id: i64, block: Vec<u8>) -> Option<Vec<u8>> {
        // the graph writes only blocks it has just read: they are in memory
        if !self.cache.added.contains(&id) {
            self.cache.changed.insert(id);
        }
        self.cache.blocks.ids.insert(id);
        self.cache.blocks.blocks.insert(id, block)
    }
}

impl<B: Storage> Storage for Cached<'_, B> {
    type Error = B::Error;

    fn read(&mut self, id: i64, buf: &mut Vec<u8>) -> Result<bool, B::Error> {
        if let Some(b) = self.cache.blocks.get(id) {
            buf.clear();
            buf.extend_from_slice(b);
            return Ok(true);
        }
        let found = self.backing.read(id, buf)?;
        if found {
            self.cache.blocks.put_raw(id, buf.clone());
        }
        Ok(found)
    }

    fn read_with<R>(&mut self, id: i64, f: impl FnOnce(&[u8]) -> R) -> Result<Option<R>, B::Error> {
        if self.cache.blocks.get(id).is_none() {
            let mut buf = Vec::new();
            if !self.read(id, &mut buf)? {
                return Ok(None);
            }
        }
        Ok(self.cache.blocks.get(id).map(f))
    }

    fn peek(&mut self, id: i64, f: &mut dyn FnMut(&[u8])) {
        if let Some(b) = self.cache.blocks.get(id) {
            f(b);
        }
    }

    fn write(&mut self, id: i64, block: &[u8]) -> Result<(), B::Error> {
        // the graph writes only blocks it has just read: they are in memory
        self.cache.blocks.put_raw(id, block.to_vec());
        if !self.cache.added.contains(&id) {
            self.cache.changed.insert(id);
        }
        Ok(())
    }

    fn insert(&mut self, id: i64, block: &[u8]) -> Result<(), B::Error> {
        // a rowid already in the backing store fails there, at the write-back
        self.cache.blocks.put_raw(id, block.to_vec());
        self.cache.added.insert(id);
        Ok(())
    }

    fn delete(&mut self, id: i64) -> Result<bool, B::Error> {
        let cached = self.cache.blocks.remove_raw(id).is_some();
        self.cache.changed.remove(&id);
        if self.cache.added.remove(&id) {
            return Ok(true);
        }
        Ok(self.backing.delete(id)? || cached)
    }

    fn first_id(&mut self) -> Result<Option<i64>, B::Error> {
        let stored = self.backing.first_id()?;
        Ok(stored.into_iter().chain(self.cache.added.first().copied()).min())
    }

    fn next_id(&mut self, after: i64) -> Result<Option<i64>, B::Error> {
        let stored = self.backing.next_id(after)?;
        let added = self.cache.added.range((Bound::Excluded(after), Bound::Unbounded)).next().copied();
        Ok(stored.into_iter().chain(added).min())
    }

    fn last_id(&mut self) -> Result<Option<i64>, B::Error> {
        let stored = self.backing.last_id()?;
        Ok(stored.into_iter().chain(self.cache.added.last().copied()).max())
    }
}
