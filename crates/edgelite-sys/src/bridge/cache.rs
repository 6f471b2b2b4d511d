//! A per-connection cache of node blocks, so that searches stop re-reading the same blocks
//! through SQL (each read assembles a 15-80 KB blob from overflow pages).
//!
//! Coherence rule: an index's entries are tagged with the pager's data version
//! (SQLITE_FCNTL_DATA_VERSION), which changes on every commit by this connection or any other,
//! together with the pager's serial (core patch 0004: a schema detached and attached again, or
//! replaced by `sqlite3_deserialize`, gets a new pager whose data version starts over, and a
//! reviewer saw `vector_top_k` return another file's rowids), and with the index's write
//! counter (metadata record `EDGELITE_EPOCH`), which every write by
//! an index hook advances inside the writing statement, so that a rollback of any kind (the
//! statement's, a savepoint's, the transaction's) takes it back. A search or a write that finds
//! another (version, counter) than the entries' drops them first. The hooks write through: a
//! block written, added or deleted is changed in the cache too, and the entries are retagged
//! with the new counter once the hook has succeeded (a failed hook drops them). So inside a
//! write transaction the cache holds exactly what the shadow table holds, and the inserts of a
//! long transaction stop re-reading blocks through SQLite's (small) page cache. A new index's
//! counter starts at a fresh random value (xCreate), so that an index dropped and created again
//! inside a transaction that rolls back never meets its predecessor's tags (issue 14: the
//! cache served the rolled-back index's blocks).
//!
//! An index without room for the counter in its metadata (128 bytes, see edgelite-diskann's
//! options) has none: its entries are used only outside write transactions, inside a read
//! transaction held for the search's whole run (one snapshot), as the data version alone then
//! suffices.
//!
//! The cache lives in the connection's client data and is freed when the connection closes;
//! so do the index builds in progress (`build.rs`), which have a limit of their own
//! (`edgelite_vector_build_limit`).
//! Its size is bounded: `SELECT edgelite_vector_cache_limit(bytes)` sets the limit (0 turns the
//! cache off) and returns the previous one, `edgelite_vector_cache_limit(NULL)` returns the
//! limit and changes nothing; once full, the cache keeps what it has until the data version
//! changes.
//!
//! Caches also share budgets ([`VectorCacheBudget`]): every connection's counts against the
//! process's ([`VectorCacheBudget::process`], no limit unless set, `SELECT
//! edgelite_vector_cache_process_limit(bytes)` from SQL), and a connection may be given a budget
//! shared with others ([`set_vector_cache_budget`]: the server gives one to each namespace's
//! connections). A block is cached only if every budget it counts against has room; a full
//! budget stops growth, and the bytes come back as the caches that hold them drop blocks, are
//! emptied ([`release_vector_cache`]) or close. A limit of 256 MiB per connection alone let a
//! server that pools 16 connections per tenant hold 4 GB for one tenant's index.
//!
//! The blocks live in fixed-size slots (the index's block size) of large chunks that the kernel
//! may back with huge pages (`slab.rs`), not in an allocation each. The limit counts the
//! blocks' bytes (and the search seeds' of each index, at most 64 KB): the memory taken can
//! pass it by the chunks' unused room, at most one partly used 2 MiB page per index and
//! connection, and the slots of evicted blocks until the index's entries are dropped.
//!
//! The cache also remembers the planner's samples of a table's rowids (`vector_sample.rs`),
//! drawn outside write transactions and tagged with the data version as the metadata is: a
//! filtered query drew its sample afresh on every run, two statements prepared and 64 seeks,
//! about 150 microseconds on minilm-20k, where the whole query takes about a millisecond. It
//! remembers too what a rewrite's filter counted over its sample, for the values of the
//! filter's parameters, while neither this connection's count of changed rows nor any schema's
//! data version moves (`edgelite_sample_memo`).

use core::cell::Cell;
use core::ffi::{CStr, c_void};
use core::sync::atomic::{AtomicU64, Ordering};
use std::collections::HashMap;
use std::sync::Arc;

use edgelite_diskann::RowidBuildHasher;

use super::slab::{Slab, SlotMap};
use super::sql::{DataVersion, Db};
use super::vector_sample::MemoKey;
use crate::bindings::*;

/// Default limit: 256 MiB a connection.
pub(crate) const DEFAULT_LIMIT: usize = 256 << 20;

const KEY: &CStr = c"edgelite.vector_node_cache";

/// The blocks of one index, as of one data version and write counter, with its metadata, entry
/// point and last rowid when known (saving a statement each per search).
struct IndexBlocks {
    /// Distinct for every entry a cache makes: a [`BlocksAt`] taken of an entry since dropped
    /// finds another serial (or none) at its place.
    serial: u64,
    tag: (DataVersion, Option<u64>),
    /// Where each cached block lies in `slab`.
    blocks: SlotMap,
    /// The blocks themselves, in slots of the index's block size (`slab.rs`); a block of
    /// another size (a corrupt one) is not cached and is read through SQL each time.
    slab: Slab,
    /// The metadata blob as read by a search outside write transactions: valid while the data
    /// version is the tag's (any change to it is a commit), and only used outside them.
    metadata: Option<Vec<u8>>,
    /// The lowest rowid (the entry point); `Some(None)` for an empty index.
    first: Option<Option<i64>>,
    /// The highest rowid (where the search seeds end), as `first` is.
    last: Option<Option<i64>>,
    /// The number of nodes, counted by a search outside write transactions: valid as the
    /// metadata is.
    count: Option<usize>,
    /// The nodes without a direction (`zeros.rs`), read by a search outside write
    /// transactions: valid as the metadata is.
    directionless: Option<Vec<i64>>,
    /// Every node's rowid in order, for an index of at most [`MAX_LISTED`] nodes, listed by a
    /// search outside write transactions: valid as the metadata is.
    ids: Option<Arc<[i64]>>,
}

/// The most nodes an index may have for its rowids to be remembered ([`NodeCache::ids`]):
/// 32 KB of them. Brute force over a small index lists them on every search, and the
/// statement that does, prepared each time, cost a few microseconds of a search of 200 rows.
pub(crate) const MAX_LISTED: usize = 4096;

/// Where an index's blocks are in a [`NodeCache`], for [`NodeCache::get_at`]: valid while
/// that entry lives, found stale after ([`NodeCache::blocks_at`] finds it again).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BlocksAt {
    place: usize,
    serial: u64,
}

/// A memory budget that node caches share: the bytes of the blocks they hold together, and a
/// limit past which none of them caches another block.
#[derive(Debug)]
pub struct VectorCacheBudget(super::tally::ByteBudget);

static PROCESS: VectorCacheBudget = VectorCacheBudget::new(usize::MAX);

/// Bytes as the tally counts them (usize is at most 64 bits here).
const fn wide(n: usize) -> u64 {
    n as u64
}

fn narrow(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

impl VectorCacheBudget {
    /// A budget of `limit` bytes (0: the caches under it hold nothing).
    #[must_use]
    pub const fn new(limit: usize) -> VectorCacheBudget {
        VectorCacheBudget(super::tally::ByteBudget::new(wide(limit)))
    }

    /// The process's budget, which every connection's cache counts against; its limit is
    /// `usize::MAX` (none) until set.
    #[must_use]
    pub fn process() -> &'static VectorCacheBudget {
        &PROCESS
    }

    /// Bytes of blocks held under this budget now.
    #[must_use]
    pub fn used(&self) -> usize {
        narrow(self.0.used())
    }

    /// The limit in bytes.
    #[must_use]
    pub fn limit(&self) -> usize {
        narrow(self.0.limit())
    }

    /// Sets the limit and returns the previous one. Caches already past a lowered limit keep
    /// their blocks and stop growing; [`release_vector_cache`] empties one.
    pub fn set_limit(&self, limit: usize) -> usize {
        narrow(self.0.set_limit(wide(limit)))
    }

    /// Takes `n` bytes if they fit under the limit.
    fn reserve(&self, n: usize) -> bool {
        self.0.reserve(wide(n))
    }

    fn give_back(&self, n: usize) {
        self.0.give_back(wide(n));
    }
}

/// One connection's cache.
pub(crate) struct NodeCache {
    limit: usize,
    used: usize,
    /// The budget shared with other connections, if given one; `used` counts against it and
    /// against the process's.
    shared: Option<Arc<VectorCacheBudget>>,
    /// Where in `entries` the blocks of each index (schema, index) are; the cheap hasher, as
    /// the keys are the schema's own names.
    indexes: HashMap<(String, String), usize, RowidBuildHasher>,
    /// The blocks of each index; a free place is `None` (taken by the next index). A search
    /// reads a block for each node it visits and each it prefetches, and its storage finds
    /// them by place ([`BlocksAt`]): looked up by name, the key's two strings were hashed and
    /// compared at every read (4.9% of a filtered query's time, `perf`, minilm-20k at 10%).
    entries: Vec<Option<IndexBlocks>>,
    /// The serial of the next index's entry ([`IndexBlocks::serial`]).
    next_serial: u64,
    /// Index builds in progress on this connection (see `build.rs`).
    pub(crate) builds: HashMap<(String, String), super::build::Build>,
    /// Threads of the next index build (`edgelite_vector_build_threads`; 0: one per core).
    pub(crate) build_threads: usize,
    /// Memory budget of an index build in bytes (`edgelite_vector_build_limit`).
    pub(crate) build_limit: usize,
    /// The rows the open transaction holds back (`txn.rs`).
    pub(crate) txn: super::txn::Txn,
    /// The planner's samples (`vector_sample.rs`) by (schema, table, size): the data version
    /// they were drawn at, the sampled rowids and the table's size ([`Rowids::size`]). At most
    /// [`MAX_SAMPLES`].
    samples: HashMap<SampleKey, (DataVersion, Vec<i64>, i64)>,
    /// What a filter counted over its sample, by the rewrite that asked
    /// (`edgelite_sample_memo`, `vector_sample.rs`): what the count holds for (the filter's
    /// parameters and the data's stamp) and the count.
    sample_counts: HashMap<i64, (MemoKey, i64)>,
    /// The rowid range and size ([`Rowids`]; `None`: empty) of each table (schema, table) that
    /// the planner's guard or sample read (`vector_sample.rs`), with the data version it was
    /// read at (none in a write transaction): the range while that version stands, and the
    /// planner's hint at prepare time whatever the version (`edgelite_size_hint`). At most
    /// [`MAX_SAMPLES`].
    ranges: HashMap<(String, String), (Option<DataVersion>, RowidRange)>,
    /// Where searches of each index (schema, shadow table) go on from once they settle
    /// (edgelite-diskann's `Seeds`: 64 rowids and their copies, about 26 KB at 384 dimensions
    /// with f8 copies). Hints, not data: a seed deleted since is a missing node, one updated
    /// since starts the search elsewhere, and every result still comes from the blocks read. So
    /// they are kept across commits, this connection's or another's, and drawn again (a seek
    /// and a read of a node's first bytes for each of up to 256 candidates) only when the
    /// index's first or last rowid moves by an eighth of its span.
    /// Their bytes count against the limits as blocks do (at most 64 KB an index: a tenant's
    /// many indexes of wide vectors must not hold memory no budget sees); without room they
    /// are drawn again by each statement that searches. Dropped with the blocks
    /// ([`release_vector_cache`]) or when the connection closes.
    seeds: HashMap<(String, String), Arc<edgelite_diskann::Seeds>>,
}

/// A planner's sample: (schema, table, size).
type SampleKey = (String, String, i64);

/// A table's least and greatest rowid and its size as the planner reckons it
/// (`vector_sample.rs`); `None` for an empty table.
pub(crate) type RowidRange = Option<Rowids>;

/// See [`RowidRange`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Rowids {
    pub(crate) lo: i64,
    pub(crate) hi: i64,
    /// Rows, as `vector_sample.rs`'s `table_size` reckons them: the rowid span, or an estimate
    /// of the rows where the rowids are sparse.
    pub(crate) size: i64,
}

/// Tables whose sample a connection remembers; one more empties the memo.
const MAX_SAMPLES: usize = 32;

/// Rewrites whose sample count a connection remembers; one more empties the memo.
const MAX_SAMPLE_COUNTS: usize = 256;

impl NodeCache {
    /// An empty cache with the default limits.
    fn new() -> NodeCache {
        NodeCache {
            limit: DEFAULT_LIMIT,
            used: 0,
            shared: None,
            indexes: HashMap::default(),
            entries: Vec::new(),
            next_serial: 0,
            builds: HashMap::new(),
            build_threads: 0,
            build_limit: super::build::DEFAULT_BUILD_LIMIT,
            txn: super::txn::Txn::default(),
            samples: HashMap::new(),
            sample_counts: HashMap::new(),
            ranges: HashMap::new(),
            seeds: HashMap::new(),
        }
    }

    /// The limit in bytes (0: off).
    pub(crate) fn limit(&self) -> usize {
        self.limit
    }

    /// Sets the limit in bytes (0: off) and returns the previous one; a cache fuller than the
    /// new limit is emptied.
    pub(crate) fn set_limit(&mut self, limit: usize) -> usize {
        let previous = self.limit;
        self.limit = limit;
        if self.used > limit {
            self.clear();
        }
        previous
    }

    fn clear(&mut self) {
        self.indexes.clear();
        self.entries.clear();
        self.seeds.clear();
        self.shrink(self.used);
    }

    /// Takes `n` bytes of every budget the cache counts against, if all have room.
    fn grow(&mut self, n: usize) -> bool {
        if self.used + n > self.limit || !PROCESS.reserve(n) {
            return false;
        }
        if let Some(shared) = &self.shared
            && !shared.reserve(n)
        {
            PROCESS.give_back(n);
            return false;
        }
        self.used += n;
        true
    }

    /// Gives `n` bytes back to every budget the cache counts against.
    fn shrink(&mut self, n: usize) {
        self.used -= n;
        PROCESS.give_back(n);
        if let Some(shared) = &self.shared {
            shared.give_back(n);
        }
    }

    /// Counts the cache against `budget` (and no longer against any other shared one), emptied.
    fn share(&mut self, budget: Option<Arc<VectorCacheBudget>>) {
        self.clear();
        self.shared = budget;
    }

    /// The entry of `key`, if any.
    fn entry(&self, key: &(String, String)) -> Option<&IndexBlocks> {
        self.indexes.get(key).and_then(|&at| self.entries[at].as_ref())
    }

    fn entry_mut(&mut self, key: &(String, String)) -> Option<&mut IndexBlocks> {
        self.indexes.get(key).and_then(|&at| self.entries[at].as_mut())
    }

    /// Where the blocks of `key` are, if it has an entry: for [`Self::get_at`].
    pub(crate) fn blocks_at(&self, key: &(String, String)) -> Option<BlocksAt> {
        let &place = self.indexes.get(key)?;
        self.entries[place].as_ref().map(|e| BlocksAt { place, serial: e.serial })
    }

    /// Block `id` at `at`: `Err(())` if that entry is gone (look it up by name again), else
    /// the block if cached.
    #[inline]
    pub(crate) fn get_at(&self, at: BlocksAt, id: i64) -> Result<Option<&[u8]>, ()> {
        match self.entries.get(at.place) {
            Some(Some(e)) if e.serial == at.serial => Ok(e.blocks.get(id).map(|slot| e.slab.get(slot))),
            _ => Err(()),
        }
    }

    /// Makes the entries of `key` those of data version `version` and write counter `epoch`
    /// (dropping any others), holding blocks of `block_size` bytes (the index's) only.
    pub(crate) fn sync(&mut self, key: &(String, String), version: DataVersion, epoch: Option<u64>, block_size: usize) {
        if self.entry(key).is_some_and(|e| e.tag != (version, epoch) || e.slab.slot_size() != block_size) {
            self.forget(key);
        }
        if self.indexes.contains_key(key) {
            return;
        }
        let place = match self.entries.iter().position(Option::is_none) {
            Some(place) => place,
            None => {
                self.entries.push(None);
                self.entries.len() - 1
            }
        };
        self.next_serial += 1;
        self.indexes.insert(key.clone(), place);
        self.entries[place] = Some(IndexBlocks {
            serial: self.next_serial,
            tag: (version, epoch),
            blocks: SlotMap::default(),
            slab: Slab::new(block_size),
            metadata: None,
            first: None,
            last: None,
            count: None,
            directionless: None,
            ids: None,
        });
    }

    /// The tag of `key`'s entries (data version, write counter), if it has any.
    pub(crate) fn tag(&self, key: &(String, String)) -> Option<(DataVersion, Option<u64>)> {
        self.entry(key).map(|e| e.tag)
    }

    /// The metadata of `key` remembered at data version `version`, if any.
    pub(crate) fn metadata(&self, key: &(String, String), version: DataVersion) -> Option<&[u8]> {
        self.entry(key).filter(|e| e.tag.0 == version).and_then(|e| e.metadata.as_deref())
    }

    /// Remembers the metadata of synced index `key` (read outside a write transaction).
    pub(crate) fn set_metadata(&mut self, key: &(String, String), metadata: &[u8]) {
        if let Some(e) = self.entry_mut(key) {
            e.metadata = Some(metadata.to_vec());
        }
    }

    /// The node count of `key` remembered at data version `version`, if any.
    pub(crate) fn count(&self, key: &(String, String), version: DataVersion) -> Option<usize> {
        self.entry(key).filter(|e| e.tag.0 == version).and_then(|e| e.count)
    }

    /// Remembers the node count of synced index `key`, counted outside a write transaction at
    /// data version `version` (not if the entry is of another).
    pub(crate) fn set_count(&mut self, key: &(String, String), version: DataVersion, count: usize) {
        if let Some(e) = self.entry_mut(key).filter(|e| e.tag.0 == version) {
            e.count = Some(count);
        }
    }

    /// Every node's rowid of `key` in order, remembered at data version `version`, if any.
    pub(crate) fn ids(&self, key: &(String, String), version: DataVersion) -> Option<Arc<[i64]>> {
        self.entry(key).filter(|e| e.tag.0 == version).and_then(|e| e.ids.clone())
    }

    /// Remembers every node's rowid of synced index `key`, listed outside a write transaction
    /// at data version `version` (not if the entry is of another, or there are more than
    /// [`MAX_LISTED`]).
    pub(crate) fn set_ids(&mut self, key: &(String, String), version: DataVersion, ids: Arc<[i64]>) {
        if ids.len() <= MAX_LISTED
            && let Some(e) = self.entry_mut(key).filter(|e| e.tag.0 == version)
        {
            e.ids = Some(ids);
        }
    }

    /// The nodes without a direction of `key` remembered at data version `version`, if any.
    pub(crate) fn directionless(&self, key: &(String, String), version: DataVersion) -> Option<&[i64]> {
        self.entry(key).filter(|e| e.tag.0 == version).and_then(|e| e.directionless.as_deref())
    }

    /// Remembers the nodes without a direction of synced index `key` (read outside a write
    /// transaction).
    pub(crate) fn set_directionless(&mut self, key: &(String, String), ids: &[i64]) {
        if let Some(e) = self.entry_mut(key) {
            e.directionless = Some(ids.to_vec());
        }
    }

    /// The entry point of `key`, if known.
    pub(crate) fn first(&self, key: &(String, String)) -> Option<Option<i64>> {
        self.entry(key).and_then(|e| e.first)
    }

    /// Remembers the entry point of synced index `key`.
    pub(crate) fn set_first(&mut self, key: &(String, String), first: Option<i64>) {
        if let Some(e) = self.entry_mut(key) {
            e.first = Some(first);
        }
    }

    /// The search seeds of index `key` (schema, shadow table), if kept.
    pub(crate) fn seeds(&self, key: &(String, String)) -> Option<Arc<edgelite_diskann::Seeds>> {
        self.seeds.get(key).cloned()
    }

    /// Keeps the search seeds of index `key` (schema, shadow table), in place of any it had, if
    /// every budget has room for their bytes.
    pub(crate) fn set_seeds(&mut self, key: &(String, String), seeds: Arc<edgelite_diskann::Seeds>) {
        if let Some(old) = self.seeds.remove(key) {
            self.shrink(old.bytes());
        }
        if self.grow(seeds.bytes()) {
            self.seeds.insert(key.clone(), seeds);
        }
    }

    /// The last rowid of `key`, if known.
    pub(crate) fn last(&self, key: &(String, String)) -> Option<Option<i64>> {
        self.entry(key).and_then(|e| e.last)
    }

    /// Remembers the last rowid of synced index `key`.
    pub(crate) fn set_last(&mut self, key: &(String, String), last: Option<i64>) {
        if let Some(e) = self.entry_mut(key) {
            e.last = Some(last);
        }
    }

    /// Drops every entry of `key`.
    pub(crate) fn forget(&mut self, key: &(String, String)) {
        if let Some(old) = self.indexes.remove(key).and_then(|at| self.entries[at].take()) {
            self.shrink(old.blocks.len() * old.slab.slot_size());
        }
    }

    /// After a successful write: the entries of `key` are those of counter `epoch` now.
    pub(crate) fn retag(&mut self, key: &(String, String), epoch: u64) {
        if let Some(e) = self.entry_mut(key) {
            e.tag.1 = Some(epoch);
        }
    }

    /// Write-through of block `id` of `key`, written or added: replaced, or dropped if the new
    /// one does not fit; a known entry point moves down to a lower new id, a known last rowid up
    /// to a higher one.
    pub(crate) fn store(&mut self, key: &(String, String), id: i64, block: &[u8]) {
        let Some(e) = self.entry_mut(key) else { return };
        // a block rewritten at its own size (every back edge) is copied over in its slot
        if let Some(at) = e.blocks.get(id)
            && e.slab.slot_size() == block.len()
        {
            e.slab.get_mut(at).copy_from_slice(block);
            return;
        }
        self.evict(key, id);
        if let Some(e) = self.entry_mut(key) {
            if e.first.is_some_and(|first| first.is_none_or(|f| id < f)) {
                e.first = Some(Some(id));
            }
            if e.last.is_some_and(|last| last.is_none_or(|l| id > l)) {
                e.last = Some(Some(id));
            }
        }
        self.put(key, id, block);
    }

    /// Write-through of the deletion of block `id` of `key` (the entry point, or the last
    /// rowid, becomes unknown if it was `id`).
    pub(crate) fn remove(&mut self, key: &(String, String), id: i64) {
        self.evict(key, id);
        if let Some(e) = self.entry_mut(key) {
            if e.first == Some(Some(id)) {
                e.first = None;
            }
            if e.last == Some(Some(id)) {
                e.last = None;
            }
        }
    }

    fn evict(&mut self, key: &(String, String), id: i64) {
        if let Some(e) = self.entry_mut(key)
            && let Some(at) = e.blocks.remove(id)
        {
            e.slab.remove(at);
            let size = e.slab.slot_size();
            self.shrink(size);
        }
    }

    /// Block `id` of `key`, if cached (for tests: storages go by place, [`Self::get_at`]).
    #[cfg(test)]
    pub(crate) fn get(&self, key: &(String, String), id: i64) -> Option<&[u8]> {
        let e = self.entry(key)?;
        Some(e.slab.get(e.blocks.get(id)?))
    }

    /// The sample of `key` (schema, table, size) drawn at data version `version`, if remembered:
    /// (rowids, the table's size).
    pub(crate) fn sample(&self, key: &SampleKey, version: DataVersion) -> Option<(Vec<i64>, i64)> {
        match self.samples.get(key) {
            Some((at, ids, size)) if *at == version => Some((ids.clone(), *size)),
            _ => None,
        }
    }

    /// The rowid range and size of `key` read at `version`, if they were.
    pub(crate) fn range(&self, key: &(String, String), version: DataVersion) -> Option<RowidRange> {
        match self.ranges.get(key) {
            Some((Some(at), range)) if *at == version => Some(*range),
            _ => None,
        }
    }

    /// The rowid range and size of `key` last read, at whatever version.
    pub(crate) fn range_hint(&self, key: &(String, String)) -> Option<RowidRange> {
        self.ranges.get(key).map(|&(_, range)| range)
    }

    /// Remembers the rowid range and size of `key` read at `version` (none: in a write
    /// transaction).
    pub(crate) fn set_range(&mut self, key: (String, String), version: Option<DataVersion>, range: RowidRange) {
        if self.ranges.len() >= MAX_SAMPLES && !self.ranges.contains_key(&key) {
            self.ranges.clear();
        }
        self.ranges.insert(key, (version, range));
    }

    /// The count remembered for rewrite `site` under `key`, if any.
    pub(crate) fn sample_count(&self, site: i64, key: &MemoKey) -> Option<i64> {
        self.sample_counts.get(&site).filter(|(k, _)| k == key).map(|&(_, n)| n)
    }

    /// Remembers `count` for rewrite `site` under `key` (replacing what the site had).
    pub(crate) fn set_sample_count(&mut self, site: i64, key: MemoKey, count: i64) {
        if self.sample_counts.len() >= MAX_SAMPLE_COUNTS && !self.sample_counts.contains_key(&site) {
            self.sample_counts.clear();
        }
        self.sample_counts.insert(site, (key, count));
    }

    /// Remembers the sample of `key` drawn at data version `version`.
    pub(crate) fn set_sample(&mut self, key: SampleKey, version: DataVersion, ids: &[i64], size: i64) {
        if self.samples.len() >= MAX_SAMPLES && !self.samples.contains_key(&key) {
            self.samples.clear();
        }
        self.samples.insert(key, (version, ids.to_vec(), size));
    }

    /// Remembers block `id` of `key` (a synced index) if it fits under the limit and the
    /// budgets. A full cache keeps what it has: the blocks read first (around the entry point,
    /// on every search's path) are the ones worth keeping, and starting over when full made
    /// large indexes thrash.
    pub(crate) fn put(&mut self, key: &(String, String), id: i64, block: &[u8]) {
        // a block cached already is replaced (the cache reads only what it missed, and writes
        // go through `store`, so this is for safety's sake)
        self.evict(key, id);
        // a block of another size than the index's (a corrupt one) is not cached
        if self.entry(key).is_none_or(|e| e.slab.slot_size() != block.len()) || !self.grow(block.len()) {
            return;
        }
        let Some(entry) = self.entry_mut(key) else { return };
        match entry.slab.insert(block) {
            Some(at) => {
                // evicted above: nothing to replace
                entry.blocks.insert(id, at);
            }
            None => self.shrink(block.len()),
        }
    }
}

impl Drop for NodeCache {
    fn drop(&mut self) {
        self.shrink(self.used);
    }
}

/// Makes the node cache of connection `db` count against `budget` besides the process's (or
/// against the process's alone, `None`), emptying it first. Returns false if SQLite refused
/// the connection's client data (out of memory), or if called from inside one of the
/// connection's vector calls (a function the index runs), whose state is in use.
///
/// # Safety
/// `db` is an open connection, and no statement of it runs on another thread meanwhile.
pub unsafe fn set_vector_cache_budget(db: *mut sqlite3, budget: Option<Arc<VectorCacheBudget>>) -> bool {
    // SAFETY: the caller's promise.
    let db = unsafe { Db::new(db) };
    with_state(db, |c| c.share(budget)).is_some()
}

/// Drops the vector index builds that connection `db` holds although none of its statements
/// runs: a build lives inside its CREATE INDEX or REINDEX, and one that the core failed for a
/// reason of its own (an error in a partial index's WHERE, an interrupt, a full disk) is
/// dropped when its statement halts (`build.rs`), unless SQLite could not tie it to the
/// statement (out of memory): it then keeps its graph, blocks and threads (up to the build
/// budget, 256 MiB in the server, per connection) until the next build, the connection's close
/// or this call. Returns how many were dropped. Cheap when there are none (no statement is
/// looked at).
///
/// # Safety
/// As [`set_vector_cache_budget`].
pub unsafe fn drop_stale_vector_builds(db: *mut sqlite3) -> usize {
    // SAFETY: the caller's promise.
    let db = unsafe { Db::new(db) };
    with_state(db, |c| {
        if c.builds.is_empty() || any_statement_running(db) {
            return 0;
        }
        let n = c.builds.len();
        c.builds.clear();
        n
    })
    .unwrap_or(0)
}

/// Whether a statement of `db` has started and not been reset.
fn any_statement_running(db: Db) -> bool {
    let mut stmt = core::ptr::null_mut();
    loop {
        // SAFETY: a live connection (Db's invariant), used by this thread alone meanwhile (the
        // callers' promise); `stmt` is null or a statement of it that this loop just got.
        stmt = unsafe { sqlite3_next_stmt(db.raw(), stmt) };
        if stmt.is_null() {
            return false;
        }
        // SAFETY: as above.
        if unsafe { sqlite3_stmt_busy(stmt) } != 0 {
            return true;
        }
    }
}

/// Empties the node cache of connection `db`, giving its bytes back to its budgets; the limit
/// and the budget stay. Returns the bytes freed.
///
/// # Safety
/// As [`set_vector_cache_budget`].
pub unsafe fn release_vector_cache(db: *mut sqlite3) -> usize {
    // SAFETY: the caller's promise.
    let db = unsafe { Db::new(db) };
    with_state(db, |c| {
        let used = c.used;
        c.clear();
        used
    })
    .unwrap_or(0)
}

/// How many connections' states have been freed: a thread's memo of the last state it looked up
/// ([`LAST`]) holds only while this count has not moved.
static FREED: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// The connection this thread last looked up, its state, and [`FREED`] as it was then. A
    /// search looks its connection's state up twice per node it visits (the block, and the next
    /// one's prefetch), and SQLite's client-data lookup takes the connection's mutex and walks
    /// its list of names each time.
    static LAST: Cell<(*mut sqlite3, *mut NodeCache, u64)> =
        const { Cell::new((core::ptr::null_mut(), core::ptr::null_mut(), u64::MAX)) };
}

unsafe extern "C" fn destroy(p: *mut c_void) {
    // before the state goes: no memo of it is used from here on (a new connection may come to
    // have this one's address)
    FREED.fetch_add(1, Ordering::SeqCst);
    if !p.is_null() {
        // SAFETY: `p` came from Box::into_raw in `with_cache`; SQLite calls this once, when the
        // client data is replaced or the connection closes.
        drop(unsafe { Box::from_raw(p.cast::<NodeCache>()) });
    }
}

/// The connection's cache, created on first use; `None` if SQLite refuses the client data.
fn cache_ptr(db: Db) -> Option<*mut NodeCache> {
    let freed = FREED.load(Ordering::SeqCst);
    let (last_db, last, then) = LAST.with(Cell::get);
    if last_db == db.raw() && then == freed {
        return Some(last);
    }
    // SAFETY: a live connection (Db's invariant); the key is a static C string.
    let p = unsafe { sqlite3_get_clientdata(db.raw(), KEY.as_ptr()) }.cast::<NodeCache>();
    if !p.is_null() {
        LAST.with(|l| l.set((db.raw(), p, freed)));
        return Some(p);
    }
    let p = Box::into_raw(Box::new(NodeCache::new()));
    // SAFETY: as above; SQLite owns the pointer from here and frees it with `destroy`.
    let rc = unsafe { sqlite3_set_clientdata(db.raw(), KEY.as_ptr(), p.cast(), Some(destroy)) };
    if rc != SQLITE_OK {
        // SAFETY: not handed over, so still ours to free.
        drop(unsafe { Box::from_raw(p) });
        return None;
    }
    Some(p)
}

/// Runs `f` on the connection's cache; `None` when the cache is off.
pub(crate) fn with_cache<T>(db: Db, f: impl FnOnce(&mut NodeCache) -> T) -> Option<T> {
    with_state(db, |cache| (cache.limit != 0).then(|| f(cache))).flatten()
}

thread_local! {
    /// The connection whose state this thread has borrowed (null: none).
    static BORROWED: Cell<*mut sqlite3> = const { Cell::new(core::ptr::null_mut()) };
}

/// Runs `f` on the connection's vector state whatever the cache limit; `None` if SQLite
/// refused the client data, or if the state is already borrowed: `f` may run SQL on `db`, and
/// should that SQL call back into the bridge (a transaction callback of `txn.rs`), the inner
/// call finds no state rather than a second borrow of it.
pub(crate) fn with_state<T>(db: Db, f: impl FnOnce(&mut NodeCache) -> T) -> Option<T> {
    struct Release(*mut sqlite3);
    impl Drop for Release {
        fn drop(&mut self) {
            BORROWED.with(|b| b.set(self.0));
        }
    }
    let p = cache_ptr(db)?;
    // a connection's calls run on one thread at a time (SQLite serialises them), so a borrow
    // of this connection's state is visible here if it exists
    let outer = BORROWED.with(|b| b.get());
    if outer == db.raw() {
        return None;
    }
    BORROWED.with(|b| b.set(db.raw()));
    let _release = Release(outer);
    // SAFETY: `p` is this connection's live state (looked up in its client data, or
    // remembered from that lookup while no state has been freed since: `cache_ptr`), whose
    // calls SQLite serialises, and no other borrow of it is live (checked just above).
    Some(f(unsafe { &mut *p }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An in-memory connection, closed on drop.
    struct Conn(*mut sqlite3);

    impl Drop for Conn {
        fn drop(&mut self) {
            // SAFETY: opened by `open`, every statement already finalized (Stmt's drop).
            unsafe { sqlite3_close(self.0) };
        }
    }

    fn open() -> Conn {
        let mut db = core::ptr::null_mut();
        // SAFETY: a NUL-terminated name and a valid out-pointer.
        let rc = unsafe { sqlite3_open(c":memory:".as_ptr(), &raw mut db) };
        assert_eq!(rc, SQLITE_OK);
        Conn(db)
    }

    fn query_int(db: Db, sql: &str) -> i64 {
        let mut stmt = db.prepare(sql).expect("prepare");
        assert!(stmt.step().expect("step"), "{sql}: no row");
        stmt.int(0)
    }

    /// The index's block size, not the first block read, sizes the slots: a corrupt (short)
    /// block read first left every good block of its index uncached, each search then reading
    /// them all through SQL (helper review of session 24).
    #[test]
    fn a_block_of_another_size_is_not_cached_and_the_others_are() {
        let mut c = NodeCache::new();
        let key = ("main".to_owned(), "i".to_owned());
        c.sync(&key, (1, 1), None, 64);
        c.put(&key, 1, &[7; 17]);
        c.put(&key, 2, &[1; 64]);
        c.put(&key, 3, &[]);
        assert_eq!(c.get(&key, 1), None);
        assert_eq!(c.get(&key, 2), Some(&[1u8; 64][..]));
        assert_eq!(c.get(&key, 3), None);
        assert_eq!(c.used, 64);
        // written through at the same size in place; at another size dropped
        c.store(&key, 2, &[2; 64]);
        assert_eq!(c.get(&key, 2), Some(&[2u8; 64][..]));
        c.store(&key, 2, &[3; 10]);
        assert_eq!(c.get(&key, 2), None);
        assert_eq!(c.used, 0);
        // a freed slot takes the next block; another block size for the index starts over
        c.store(&key, 4, &[4; 64]);
        c.put(&key, 5, &[5; 64]);
        assert_eq!((c.get(&key, 4), c.get(&key, 5)), (Some(&[4u8; 64][..]), Some(&[5u8; 64][..])));
        assert_eq!(c.used, 128);
        c.sync(&key, (1, 1), None, 32);
        assert_eq!((c.get(&key, 4), c.used), (None, 0));
    }

    /// The same data version and write counter on another pager (a schema attached again, or
    /// deserialized) is another database: its entries and memos start over.
    #[test]
    fn another_pager_at_the_same_data_version_starts_over() {
        let mut c = NodeCache::new();
        let key = ("aux".to_owned(), "i".to_owned());
        c.sync(&key, (7, 1), Some(0), 64);
        c.put(&key, 1, &[1; 64]);
        c.set_count(&key, (7, 1), 1);
        // a count taken at another data version is not remembered for this one
        c.set_count(&key, (6, 1), 5);
        c.sync(&key, (7, 1), Some(0), 64);
        assert_eq!((c.get(&key, 1), c.count(&key, (7, 1))), (Some(&[1u8; 64][..]), Some(1)));
        c.sync(&key, (8, 1), Some(0), 64);
        assert_eq!((c.get(&key, 1), c.count(&key, (8, 1)), c.used), (None, None, 0));
    }

    /// A storage keeps where its index's blocks are (`BlocksAt`): once that entry is dropped,
    /// its place answers "gone", whether it is empty or another index's, and never with
    /// another entry's blocks; finding the entry again by name gives the current one.
    #[test]
    fn a_place_taken_of_a_dropped_entry_answers_gone() {
        let mut c = NodeCache::new();
        let (a, b) = (("main".to_owned(), "a".to_owned()), ("main".to_owned(), "b".to_owned()));
        c.sync(&a, (1, 1), None, 64);
        c.put(&a, 1, &[1; 64]);
        let at = c.blocks_at(&a).expect("synced");
        assert_eq!((c.get_at(at, 1), c.get_at(at, 2)), (Ok(Some(&[1u8; 64][..])), Ok(None)));
        // a new data version drops the entry; the index's new one takes the same place
        c.sync(&a, (2, 1), None, 64);
        c.put(&a, 1, &[2; 64]);
        assert_eq!(c.get_at(at, 1), Err(()));
        let again = c.blocks_at(&a).expect("synced");
        assert_ne!(again, at);
        assert_eq!(c.get_at(again, 1), Ok(Some(&[2u8; 64][..])));
        // dropped, then taken by another index: still gone for `a`
        c.forget(&a);
        assert_eq!((c.get_at(again, 1), c.blocks_at(&a)), (Err(()), None));
        c.sync(&b, (2, 1), None, 64);
        c.put(&b, 1, &[3; 64]);
        assert_eq!(c.get_at(again, 1), Err(()));
        assert_eq!(c.get_at(c.blocks_at(&b).expect("synced"), 1), Ok(Some(&[3u8; 64][..])));
        // emptied whole
        let at_b = c.blocks_at(&b).expect("synced");
        c.clear();
        assert_eq!(c.get_at(at_b, 1), Err(()));
    }

    #[test]
    fn reading_the_limit_keeps_the_cached_blocks() {
        let conn = open();
        // SAFETY: open until `conn` drops, after the last use of `db`.
        let db = unsafe { Db::new(conn.0) };
        db.exec("CREATE TABLE t(v F32_BLOB(4))").expect("create");
        db.exec("CREATE INDEX t_v ON t (libsql_vector_idx(v))").expect("index");
        for v in ["[1,0,0,0]", "[0,1,0,0]", "[0,0,1,0]", "[1,1,0,0]"] {
            db.exec(&format!("INSERT INTO t VALUES (vector('{v}'))")).expect("insert");
        }
        let search = "SELECT count(*) FROM vector_top_k('t_v', vector('[1,0,0,0]'), 3)";
        assert_eq!(query_int(db, search), 3);
        let used = || with_state(db, |c| c.used).expect("state");
        let filled = used();
        assert!(filled > 0, "a search caches the blocks it read");

        let limit = i64::try_from(DEFAULT_LIMIT).expect("fits");
        assert_eq!(query_int(db, "SELECT edgelite_vector_cache_limit(NULL)"), limit);
        assert_eq!(used(), filled, "reading the limit must not drop the cache");
        assert_eq!(query_int(db, "SELECT edgelite_vector_cache_limit(NULL)"), limit);

        // Setting a limit the cache fits in keeps it; 0 turns it off and empties it.
        assert_eq!(query_int(db, "SELECT edgelite_vector_cache_limit(1 << 20)"), limit);
        assert_eq!(used(), filled);
        assert_eq!(query_int(db, "SELECT edgelite_vector_cache_limit(0)"), 1 << 20);
        assert_eq!(used(), 0);
        assert_eq!(query_int(db, "SELECT edgelite_vector_cache_limit(NULL)"), 0);
    }

    /// A search's seeds (`edgelite_diskann::Seeds`) are kept with the blocks and count against
    /// the limit as they do: a tenant's many indexes of wide vectors must not hold memory that
    /// no budget sees.
    #[test]
    fn search_seeds_count_against_the_limit() {
        let conn = open();
        // SAFETY: open until `conn` drops, after the last use of `db`.
        let db = unsafe { Db::new(conn.0) };
        fill_rows(db, 600);
        let search = "SELECT count(*) FROM vector_top_k('t_v', vector('[1,2,3,4,5,6,7,8]'), 10)";
        assert_eq!(query_int(db, search), 10);
        let held = || {
            with_state(db, |c| {
                let blocks: usize = c.entries.iter().flatten().map(|e| e.blocks.len() * e.slab.slot_size()).sum();
                let seeds: usize = c.seeds.values().map(|s| s.bytes()).sum();
                (blocks, seeds, c.used)
            })
            .expect("state")
        };
        let (blocks, seeds, used) = held();
        // 63 seeds (the entry point has the first of 64 places) of 8-d rows with f32 copies: an
        // id and 32 bytes each
        assert_eq!((seeds, used), (63 * 40, blocks + seeds));
        // a limit below the seeds' bytes empties the cache, and the next search keeps none
        query_int(db, "SELECT edgelite_vector_cache_limit(1000)");
        assert_eq!(query_int(db, search), 10);
        let (_, seeds, used) = held();
        assert_eq!(seeds, 0);
        assert!(used <= 1000, "{used} bytes held under a limit of 1,000");
    }

    /// Fills `db` with an index of 200 rows.
    fn fill(db: Db) {
        fill_rows(db, 200);
    }

    /// Fills `db` with an index of `rows` 8-d rows.
    fn fill_rows(db: Db, rows: usize) {
        db.exec("CREATE TABLE t(v F32_BLOB(8))").expect("create");
        db.exec("CREATE INDEX t_v ON t (libsql_vector_idx(v))").expect("index");
        db.exec(&format!(
            "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < {rows}) \
             INSERT INTO t SELECT vector('[' || (x % 7) || ',' || (x % 11) || ',' || (x % 13) || ',1,2,3,4,' || x || ']') FROM n",
        ))
        .expect("fill");
    }

    /// Searches that read most of the blocks of `fill`'s index.
    fn search_a_lot(db: Db) {
        for q in ["[1,2,3,4,5,6,7,8]", "[6,10,12,1,2,3,4,200]", "[0,0,0,1,2,3,4,100]"] {
            let sql = format!("SELECT count(*) FROM vector_top_k('t_v', vector('{q}'), 50)");
            assert_eq!(query_int(db, &sql), 50);
        }
    }

    /// Connections given one budget hold at most its limit together, and give their bytes back
    /// when they drop blocks, are released or close.
    #[test]
    fn connections_that_share_a_budget_hold_at_most_its_limit() {
        let (a, b) = (open(), open());
        // SAFETY: open until `a` drops, after the last use of `da`.
        let da = unsafe { Db::new(a.0) };
        // SAFETY: open until `b` drops, after the last use of `db`.
        let db = unsafe { Db::new(b.0) };
        let used = |d: Db| with_state(d, |c| c.used).expect("state");
        fill(da);
        fill(db);
        // alone, one connection's searches cache this much
        search_a_lot(da);
        let alone = used(da);
        assert!(alone > 0);

        let budget = Arc::new(VectorCacheBudget::new(alone + alone / 2));
        // SAFETY: open connections, used on this thread only.
        assert!(unsafe { set_vector_cache_budget(a.0, Some(Arc::clone(&budget))) });
        assert_eq!(used(da), 0, "a cache given a budget starts empty");
        // SAFETY: as above.
        assert!(unsafe { set_vector_cache_budget(b.0, Some(Arc::clone(&budget))) });
        search_a_lot(da);
        search_a_lot(db);
        let (ua, ub) = (used(da), used(db));
        assert_eq!(ua, alone);
        assert!(ub > 0 && ub < alone, "B is held to what is left: {ub} of {alone}");
        assert_eq!(budget.used(), ua + ub);
        assert!(ua + ub <= budget.limit(), "{ua} + {ub} past {}", budget.limit());

        // Released, A's bytes come back, and B (searching again) takes them.
        // SAFETY: as above.
        assert_eq!(unsafe { release_vector_cache(a.0) }, ua);
        assert_eq!(budget.used(), ub);
        search_a_lot(db);
        assert!(used(db) > ub, "B grows into the room A gave back");
        assert!(budget.used() <= budget.limit());

        // Searches still answer in full with no room at all.
        budget.set_limit(0);
        // SAFETY: as above.
        unsafe { release_vector_cache(b.0) };
        search_a_lot(db);
        assert_eq!((used(db), budget.used()), (0, 0));
        budget.set_limit(usize::MAX);
        search_a_lot(db);
        assert_eq!(budget.used(), used(db));

        // Out of the group: emptied, and the bytes given back; closing gives back the rest.
        // SAFETY: as above.
        assert!(unsafe { set_vector_cache_budget(b.0, None) });
        assert_eq!(budget.used(), 0);
        search_a_lot(da);
        assert_eq!(budget.used(), used(da));
        drop(a);
        assert_eq!(budget.used(), 0, "a closed connection's cache gives its bytes back");
    }

    /// A build that the core failed (here an integer overflow in a partial index's WHERE,
    /// halfway through the rows) is dropped when its statement halts: it was kept until the
    /// next build or the connection's close (up to the build budget, 1 GiB by default). One
    /// that its statement could not be tied to (SQLite out of memory; here a row added outside
    /// any statement) stays until dropped as stale, which waits while a statement runs; the
    /// next build of another index drops it too.
    #[test]
    fn a_failed_build_is_dropped_with_its_statement_or_as_stale() {
        let conn = open();
        // SAFETY: open until `conn` drops, after the last use of `db`.
        let db = unsafe { Db::new(conn.0) };
        db.exec("CREATE TABLE t(id INTEGER PRIMARY KEY, v F32_BLOB(4))").expect("create");
        db.exec(
            "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 500) \
             INSERT INTO t SELECT x, vector('[' || x || ',1,2,3]') FROM n",
        )
        .expect("fill");
        let failing = "CREATE INDEX t_v ON t(libsql_vector_idx(v)) \
                       WHERE abs(CASE WHEN id >= 300 THEN -9223372036854775807 - 1 ELSE 1 END)";
        let builds = || with_state(db, |s| s.builds.len()).expect("state");
        assert!(db.exec(failing).is_err());
        assert_eq!(builds(), 0, "the failed build went with its statement");

        // a build no statement holds
        db.exec("CREATE INDEX t_u ON t(libsql_vector_idx(v))").expect("index");
        let index = super::super::vector_index::IndexName { schema: "main".into(), name: "t_u".into() };
        let row = edgelite_vector::Vector::from_f32(&[1.0, 2.0, 3.0, 4.0]).expect("vector");
        let graph = || {
            let (config, _) = super::super::vector_index::open_index(db, &index, "test")?;
            super::super::vector_index::graph(config)
        };
        let began =
            super::super::build::add(db, &index, super::super::vector_index::RowKey::Id(1), row.as_ref(), graph);
        assert_eq!(began, Ok(true));
        assert_eq!(builds(), 1);
        // not while a statement of the connection runs
        let mut running = db.prepare("SELECT id FROM t").expect("prepare");
        assert!(running.step().expect("step"));
        // SAFETY: an open connection, used on this thread only.
        assert_eq!(unsafe { drop_stale_vector_builds(conn.0) }, 0);
        drop(running);
        // SAFETY: as above.
        assert_eq!(unsafe { drop_stale_vector_builds(conn.0) }, 1);
        assert_eq!(builds(), 0);
        // SAFETY: as above.
        assert_eq!(unsafe { drop_stale_vector_builds(conn.0) }, 0);

        // left again, then another index's build drops it and completes
        let began =
            super::super::build::add(db, &index, super::super::vector_index::RowKey::Id(1), row.as_ref(), graph);
        assert_eq!(began, Ok(true));
        assert_eq!(builds(), 1);
        db.exec("CREATE INDEX t_w ON t(libsql_vector_idx(v)) WHERE id > 10").expect("another build");
        assert_eq!(builds(), 0);
        assert_eq!(query_int(db, "SELECT count(*) FROM vector_top_k('t_w', vector('[1,1,2,3]'), 1000)"), 490);
    }

    /// The planner's sample of a table is remembered until a commit changes the data version,
    /// and not used inside a write transaction, whose own changes its samples must see.
    #[test]
    fn a_remembered_sample_follows_commits_and_the_open_transaction() {
        let conn = open();
        // SAFETY: open until `conn` drops, after the last use of `db`.
        let db = unsafe { Db::new(conn.0) };
        db.exec("CREATE TABLE t(id INTEGER PRIMARY KEY)").expect("create");
        db.exec("WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 100) INSERT INTO t SELECT x FROM n")
            .expect("fill");
        let top = "SELECT max(edgelite_id) FROM edgelite_vector_sample('main', 't', 16)";
        let size = "SELECT max(edgelite_rows) FROM edgelite_vector_sample('main', 't', 16)";
        assert!(query_int(db, top) <= 100);
        assert_eq!(query_int(db, size), 100);
        assert_eq!(with_state(db, |c| c.samples.len()), Some(1), "the sample is remembered");

        db.exec("INSERT INTO t SELECT id + 100 FROM t").expect("commit more rows");
        assert!(query_int(db, top) > 100, "a commit's rows are in the next sample");
        assert_eq!(query_int(db, size), 200);

        db.exec("BEGIN").expect("begin");
        db.exec("DELETE FROM t WHERE id > 10").expect("delete in the transaction");
        assert!(query_int(db, top) <= 10, "the transaction's own deletes count");
        assert_eq!(query_int(db, size), 10);
        db.exec("ROLLBACK").expect("rollback");
        assert!(query_int(db, top) > 100);
        assert_eq!(query_int(db, size), 200);
    }

    /// A thread remembers the last connection whose state it looked up; a connection closed
    /// and another opened (often at the same address) must not find the closed one's state.
    #[test]
    fn a_new_connection_never_sees_a_closed_ones_state() {
        let limit = i64::try_from(DEFAULT_LIMIT).expect("fits");
        for _ in 0..20 {
            let conn = open();
            // SAFETY: open until `conn` drops, after the last use of `db`.
            let db = unsafe { Db::new(conn.0) };
            assert_eq!(query_int(db, "SELECT edgelite_vector_cache_limit(NULL)"), limit);
            assert_eq!(query_int(db, "SELECT edgelite_vector_cache_limit(12345)"), limit);
            assert_eq!(query_int(db, "SELECT edgelite_vector_cache_limit(NULL)"), 12345);
        }
    }
}
