//! Building a vector index from its table (CREATE INDEX on a filled table, REINDEX) in memory,
//! on several threads.
//!
//! The core passes every row of a build to xInsert with a third argument 1, then calls xBuild
//! (core patch 0001). Inserting row by row into the shadow table would read and rewrite node
//! blocks through SQL some thirty times a row; instead the rows go into a graph held in
//! memory by the connection, and xBuild writes every block once, in rowid order (appends to
//! the shadow table's B-tree). Rows are collected and added in batches
//! (`edgelite_diskann::DiskAnn::insert_batch`, a two-hundredth of the graph at a time), whose
//! searches and prunes run on `edgelite_vector_build_threads()` threads (every core by
//! default); the graph does not depend on the number of threads. Each batch is added inside the
//! xInsert call of its last row, so a build still advances row by row for SQLite's progress
//! handler and `sqlite3_interrupt` (a batch takes a fraction of a second).
//!
//! Memory is bounded by the build's own budget, `edgelite_vector_build_limit(bytes)` (1 GiB by
//! default: about 120,000 rows of 384 f32 dimensions at edgelite's defaults; the search cache's
//! `edgelite_vector_cache_limit` is apart). A build whose blocks pass it writes them all to the
//! shadow table and carries on in batches as before, with the memory as a write-back cache over
//! the shadow table (`edgelite_diskann::BuildCache`): a batch's searches run in parallel over the
//! blocks in memory, and the few that need one that is not are done again on the connection's
//! thread, through SQL; new and rewritten blocks stay in memory. Whenever the memory passes the
//! budget again, the changed blocks are written out and it keeps half the budget of blocks, those
//! nearest the entry point (on every search's path). The budget may be passed by one batch (at
//! most 2,048 blocks); a budget of 0 keeps nothing between batches. The blocks written are the
//! same whatever the budget. The blocks in memory (and a block for each row waiting for its
//! batch) are also charged to the memory budget of the scope that began the build
//! (`memory.rs`'s `HeldBytes`; a server sets one per tenant), each row's block before the row
//! is taken, and so are the blocks a batch reads into the cache, as it reads them
//! ([`ChargedReads`]): past that budget the build fails with `SQLITE_NOMEM`. Under a budget, a
//! spilled build's batches are no larger than the budget has room for their reads
//! ([`rows_within`]).
//!
//! Everything happens inside the building statement, so a failed or rolled-back build leaves
//! nothing in the database; its memory is dropped when a row fails, and when the statement
//! that runs it halts (the build ties itself to it, [`watch`]): a build that the core failed
//! for a reason of its own (an error in a partial index's WHERE, an interrupt, a full disk)
//! was never told so, and it kept its graph, blocks and threads (up to the build budget)
//! until the next build of any index or the connection's close. Should that tie fail (SQLite
//! out of memory), the next build of any index, DROP INDEX, `drop_stale_vector_builds` (the
//! server calls it after every request) or the connection's close drop it.

use std::sync::Arc;

use edgelite_diskann::{BuildCache, DiskAnn, MemStorage, Storage, batch_size};
use edgelite_vector::{Vector, VectorRef};

use core::ffi::{c_int, c_void};

use super::cache::with_state;
use super::keys;
use super::memory::HeldBytes;
use super::sql::{Db, SqlError, SqlResult};
use super::vector_index::{IndexName, KeyMap, RowKey, ShadowStorage, graph_error};

/// Default build memory budget: 1 GiB a connection.
pub(crate) const DEFAULT_BUILD_LIMIT: usize = 1 << 30;

/// Where a build's blocks are.
enum Blocks {
    /// All in memory: none written yet.
    Memory(MemStorage),
    /// In the shadow table, some of them (and the changed ones) in memory.
    Spilled(BuildCache),
}

/// One index build in progress.
pub(crate) struct Build {
    graph: DiskAnn,
    blocks: Blocks,
    /// Rows in the graph so far.
    nodes: usize,
    /// The build's memory budget in bytes.
    limit: usize,
    /// Rows collected for the next batch.
    pending: Vec<(i64, Vector)>,
    /// The threads of this build's batches.
    pool: Arc<rayon::ThreadPool>,
    /// For a keyed index (`keys.rs`): the next node id, and the row key of every node added.
    keys: Option<(i64, KeyMap)>,
    /// The build's blocks in memory (as of its last batch) and a block for each pending row,
    /// charged to the memory budget of the scope that began it ([`HeldBytes`]): a tenant's
    /// builds then count against its SQLite memory, and one that would pass it fails with
    /// `SQLITE_NOMEM` before it takes the memory.
    held: HeldBytes,
    /// Bytes of the blocks in memory after the last batch.
    block_bytes: u64,
}

impl Build {
    /// Adds the pending rows to the graph, as one batch; then, if the blocks in memory pass the
    /// budget, writes them out and keeps some.
    fn flush(&mut self, db: Db, index: &IndexName) -> SqlResult<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let storage = shadow(db, index, &self.keys);
        let rows: Vec<(i64, VectorRef<'_>)> = self.pending.iter().map(|(id, v)| (*id, v.as_ref())).collect();
        let graph = &self.graph;
        let bytes = match &mut self.blocks {
            Blocks::Memory(mem) => {
                self.pool.install(|| graph.insert_batch(mem, &rows)).map_err(graph_error)?;
                mem.bytes()
            }
            Blocks::Spilled(cache) => {
                let mut cached = cache.over(ChargedReads::kept(storage));
                graph.insert_batch_cached(&mut cached, &rows, &self.pool).map_err(graph_error)?;
                drop(cached);
                cache.bytes()
            }
        };
        self.nodes += rows.len();
        drop(rows);
        self.pending.clear();
        self.block_bytes = u64::try_from(bytes).unwrap_or(u64::MAX);
        if bytes > self.limit {
            self.spill(db, index)?;
        }
        // what the batch took, measured now (a block for each of its rows was held before it):
        // usually less, given back. A spilled build's batch may have read more blocks into its
        // cache than it held; if the budget refuses them here, the build holds what it held,
        // and its next row asks for the rest (hold_row), failing then
        let _ = self.held.hold(self.block_bytes);
        Ok(())
    }

    /// Holds the memory for one more pending row: the block it becomes, on top of the blocks
    /// in memory and the pending rows' blocks.
    fn hold_row(&mut self) -> SqlResult<()> {
        let block = u64::try_from(self.graph.layout().block_size()).unwrap_or(u64::MAX);
        let rows = u64::try_from(self.pending.len()).unwrap_or(u64::MAX).saturating_add(1);
        if self.held.hold(self.block_bytes.saturating_add(rows.saturating_mul(block))) {
            return Ok(());
        }
        Err(SqlError::new(
            crate::bindings::SQLITE_NOMEM,
            "vector index build: past the memory budget of this connection's group (its builds' blocks count with its SQLite memory)",
        ))
    }

    /// Writes out what the shadow table lacks, and keeps half the budget of blocks.
    fn spill(&mut self, db: Db, index: &IndexName) -> SqlResult<()> {
        let mut shadow = shadow(db, index, &self.keys);
        let mut cache = match std::mem::replace(&mut self.blocks, Blocks::Memory(MemStorage::new())) {
            Blocks::Memory(mem) => {
                write_out(&mut shadow, &mem)?;
                BuildCache::new(mem)
            }
            Blocks::Spilled(mut cache) => {
                cache.write_back(&mut shadow)?;
                cache
            }
        };
        shrink(&mut cache, &mut shadow, &self.graph, self.limit)?;
        self.block_bytes = u64::try_from(cache.bytes()).unwrap_or(u64::MAX);
        self.blocks = Blocks::Spilled(cache);
        Ok(())
    }

    /// Adds the rows still pending and writes what the shadow table lacks.
    fn finish(&mut self, db: Db, index: &IndexName) -> SqlResult<()> {
        self.flush(db, index)?;
        let mut shadow = shadow(db, index, &self.keys);
        match &mut self.blocks {
            Blocks::Memory(mem) => write_out(&mut shadow, mem),
            Blocks::Spilled(cache) => cache.write_back(&mut shadow),
        }
    }
}

/// Keeps half the budget `limit` of `cache`'s blocks, those nearest the entry point of the
/// index in `shadow` (on every search's path); the cache's changes must be written back.
pub(crate) fn shrink(
    cache: &mut BuildCache,
    shadow: &mut ShadowStorage,
    graph: &DiskAnn,
    limit: usize,
) -> SqlResult<()> {
    let entry = shadow.first_id()?;
    let layout = *graph.layout();
    cache.shrink(entry, limit / 2, |block| {
        layout.node(block).map(|n| (0..n.edge_count()).map(|i| n.edge_id(i)).collect()).unwrap_or_default()
    });
    Ok(())
}

/// The rows of a batch over a cache of the blocks (a spilled build's, a commit's) whose reads
/// should fit in `room` bytes of the memory budget, at least 1: a row's search reads about its
/// insert list (`insert_l`) of blocks, which the cache may lack and keeps until the batch ends
/// ([`ChargedReads::kept`]). A batch of a two-hundredth of the graph read past a budget of
/// twice the build limit (`vector_build_budget.rs`: 10,000 rows of 32 dimensions, a build
/// limit of 256 KiB, refused at 600 KB); smaller batches take longer, and make a graph nearer
/// the one row-by-row inserts make.
pub(crate) fn rows_within(room: u64, graph: &DiskAnn) -> usize {
    let list = u64::try_from(graph.config().insert_l.max(1)).unwrap_or(u64::MAX);
    let block = u64::try_from(graph.layout().block_size()).unwrap_or(u64::MAX);
    usize::try_from(room / list.saturating_mul(block).max(1)).unwrap_or(usize::MAX).max(1)
}

/// A store whose block reads are charged to the memory budget of the scope that makes it
/// ([`HeldBytes`]) for as long as it lives: a block read past the budget fails with
/// `SQLITE_NOMEM`. Its uses:
/// - [`ChargedReads::kept`], under a [`BuildCache`]: a batch reads through it the blocks the
///   cache lacks, and the cache keeps a copy of each until the batch ends, so each read is
///   charged its length. Without it, a review's tenant built an index of 60 MB blocks
///   (`max_neighbors=2500000` on two dimensions) to 1.2 GB of RSS while its budget counted
///   242 MB (heaptrack: the cache's copies of the blocks its inserts read and rewrote).
/// - [`ChargedReads::buffers`], under one insert or delete: the graph reads blocks into buffers
///   of its own, reusing some (an insert's block to rewrite) and keeping others until the
///   operation ends (a delete's in-neighbours, each of which it rewrites), so each read is
///   charged what it grew its buffer by. Without it, four streams of one tenant deleting rows
///   of TEMP indexes of 60 MB blocks at once held 1.6 GB that no budget saw. An insert also
///   holds two blocks that no read makes ([`ChargedReads::insert`]).
/// - [`ChargedReads::each`], under `PRAGMA integrity_check`, which keeps every node's edge list.
pub(crate) struct ChargedReads<S> {
    inner: S,
    held: HeldBytes,
    charge: Charge,
}

/// What a [`ChargedReads`] charges for a block read.
#[derive(Clone, Copy)]
enum Charge {
    /// Its length: the caller keeps a copy of every block read.
    Length,
    /// What it grew the caller's buffer by.
    Growth,
    /// These bytes: what the caller keeps of every block read.
    Each(u64),
}

impl<S> ChargedReads<S> {
    /// `inner`, each block read charged its length to the budget of the thread's scope (see
    /// [`HeldBytes::new`]).
    pub(crate) fn kept(inner: S) -> ChargedReads<S> {
        ChargedReads { inner, held: HeldBytes::new(), charge: Charge::Length }
    }

    /// `inner`, each block read charged what it grew the caller's buffer by.
    pub(crate) fn buffers(inner: S) -> ChargedReads<S> {
        ChargedReads { inner, held: HeldBytes::new(), charge: Charge::Growth }
    }

    /// `inner`, each block read charged `bytes`: for `PRAGMA integrity_check`, which keeps
    /// every node's edge list until it ends (`edgelite_diskann::DiskAnn::check`).
    pub(crate) fn each(inner: S, bytes: u64) -> ChargedReads<S> {
        ChargedReads { inner, held: HeldBytes::new(), charge: Charge::Each(bytes) }
    }

    /// [`Self::buffers`] for one insert into an index of `block`-byte blocks, holding two
    /// blocks from the start: the new node's and the insert's copy of each block it rewrites,
    /// as it was (neither is read). `SQLITE_NOMEM` if the budget has no room for them.
    pub(crate) fn insert(inner: S, block: usize) -> SqlResult<ChargedReads<S>> {
        let mut charged = ChargedReads::buffers(inner);
        if !charged.held.hold(u64::try_from(block).unwrap_or(u64::MAX).saturating_mul(2)) {
            return Err(past_budget());
        }
        Ok(charged)
    }
}

/// The error of a [`ChargedReads`] past its budget.
fn past_budget() -> SqlError {
    SqlError::new(
        crate::bindings::SQLITE_NOMEM,
        "vector index: past the memory budget of this connection's group (the blocks an index change reads count with its SQLite memory)",
    )
}

impl<S: Storage<Error = SqlError>> Storage for ChargedReads<S> {
    type Error = SqlError;

    fn read(&mut self, id: i64, buf: &mut Vec<u8>) -> SqlResult<bool> {
        let before = buf.capacity();
        let found = self.inner.read(id, buf)?;
        let bytes = match (found, self.charge) {
            (false, _) => 0,
            (true, Charge::Length) => u64::try_from(buf.len()).unwrap_or(u64::MAX),
            (true, Charge::Growth) => u64::try_from(buf.capacity().saturating_sub(before)).unwrap_or(u64::MAX),
            (true, Charge::Each(bytes)) => bytes,
        };
        if bytes > 0 && !self.held.hold(self.held.held().saturating_add(bytes)) {
            return Err(past_budget());
        }
        Ok(found)
    }
    // the rest as the store does it: a block lent (read_with, read_head, peek) is not kept
    fn read_with<R>(&mut self, id: i64, f: impl FnOnce(&[u8]) -> R) -> SqlResult<Option<R>> {
        self.inner.read_with(id, f)
    }
    fn read_head<R>(&mut self, id: i64, len: usize, f: impl FnOnce(&[u8]) -> R) -> SqlResult<Option<R>> {
        self.inner.read_head(id, len, f)
    }
    fn peek(&mut self, id: i64, f: &mut dyn FnMut(&[u8])) {
        self.inner.peek(id, f);
    }
    fn write(&mut self, id: i64, block: &[u8]) -> SqlResult<()> {
        self.inner.write(id, block)
    }
    fn update(&mut self, id: i64, old: &[u8], new: &[u8]) -> SqlResult<()> {
        self.inner.update(id, old, new)
    }
    fn insert(&mut self, id: i64, block: &[u8]) -> SqlResult<()> {
        self.inner.insert(id, block)
    }
    fn delete(&mut self, id: i64) -> SqlResult<bool> {
        self.inner.delete(id)
    }
    fn first_id(&mut self) -> SqlResult<Option<i64>> {
        self.inner.first_id()
    }
    fn next_id(&mut self, after: i64) -> SqlResult<Option<i64>> {
        self.inner.next_id(after)
    }
    fn next_ids(&mut self, after: i64, n: usize, out: &mut Vec<i64>) -> SqlResult<()> {
        self.inner.next_ids(after, n, out)
    }
    fn last_id(&mut self) -> SqlResult<Option<i64>> {
        self.inner.last_id()
    }
    fn seeds(&mut self) -> Option<Arc<edgelite_diskann::Seeds>> {
        self.inner.seeds()
    }
    fn keep_seeds(&mut self, seeds: &Arc<edgelite_diskann::Seeds>) {
        self.inner.keep_seeds(seeds);
    }
}

/// A storage over the shadow table that writes a build's nodes (with their row `keys`, for a
/// keyed index).
fn shadow(db: Db, index: &IndexName, keys: &Option<(i64, KeyMap)>) -> ShadowStorage {
    let storage = ShadowStorage::new(db, index);
    match keys {
        Some((_, keys)) => storage.with_keys(keys.clone()),
        None => storage,
    }
}

/// The thread pool of a build with `threads` threads (0: one per core).
pub(crate) fn pool(threads: usize) -> SqlResult<Arc<rayon::ThreadPool>> {
    let threads = if threads == 0 { std::thread::available_parallelism().map_or(1, usize::from) } else { threads };
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("edgelite-build-{i}"))
        .build()
        .map(Arc::new)
        .map_err(|e| SqlError::new(crate::bindings::SQLITE_NOMEM, format!("vector index: no build threads: {e}")))
}

fn key(index: &IndexName) -> (String, String) {
    (index.schema.clone(), index.name.clone())
}

/// Forgets what this connection holds for `index`: a build (one that failed, or a new one about
/// to start) and its cached blocks (an index created, dropped or emptied).
pub(crate) fn forget(db: Db, index: &IndexName) {
    let key = key(index);
    with_state(db, |s| {
        s.builds.remove(&key);
        s.forget(&key);
    });
}

/// Writes every block of `mem` to the shadow table, in rowid order.
fn write_out(shadow: &mut ShadowStorage, mem: &MemStorage) -> SqlResult<()> {
    for id in mem.ids() {
        let block = mem.get(id).expect("invariant: id listed by the store");
        shadow.insert(id, block)?;
    }
    Ok(())
}

/// The auxiliary-data slot of the building statement that [`watch`] uses: a negative
/// argument number is SQLite's per-statement slot, kept until the statement halts (whatever
/// function set it), and this one is unlikely to be any other function's.
const WATCH_SLOT: c_int = -0x6564_6c62;

/// What [`watch`] leaves with the building statement.
struct Watch {
    db: *mut crate::bindings::sqlite3,
    key: (String, String),
    /// Set once SQLite holds it: a registration that failed frees it at once, and the build
    /// that has only begun must then stay.
    armed: bool,
}

/// Ties the build of `index`, which the call `ctx` has just begun, to its statement: when the
/// statement halts, [`build_ended`] drops the build if it is still there (it failed; one that
/// completed was removed by [`finish`]).
///
/// # Safety
/// `ctx` is the running call's context, of a statement of connection `db`.
pub(crate) unsafe fn watch(ctx: *mut crate::bindings::sqlite3_context, db: Db, index: &IndexName) {
    let watch = Box::into_raw(Box::new(Watch { db: db.raw(), key: key(index), armed: false }));
    // SAFETY: the caller's context; `watch` is a live Box handed to SQLite, which frees it
    // through `build_ended` exactly once (at once if it cannot keep it).
    unsafe { crate::bindings::sqlite3_set_auxdata(ctx, WATCH_SLOT, watch.cast(), Some(build_ended)) };
    // SAFETY: as above; a pointer SQLite returns for the slot is the live one it holds.
    let held = unsafe { crate::bindings::sqlite3_get_auxdata(ctx, WATCH_SLOT) };
    if held == watch.cast::<c_void>() {
        // SAFETY: SQLite holds it (just checked) and frees it only when the statement halts,
        // which cannot happen during this call.
        unsafe { (*watch).armed = true };
    }
}

/// SQLite's destructor of a [`Watch`]: the building statement halted (or a later build of the
/// same statement took the slot, once this one had completed).
unsafe extern "C" fn build_ended(p: *mut c_void) {
    // SAFETY: made by `Box::into_raw` in `watch`; SQLite calls its destructor once.
    let watch = unsafe { Box::from_raw(p.cast::<Watch>()) };
    if watch.armed {
        // SAFETY: the statement that held it belongs to this connection, which is open while
        // any of its statements exists.
        let db = unsafe { Db::new(watch.db) };
        with_state(db, |s| s.builds.remove(&watch.key));
    }
}

/// Adds one row of a build. `graph` opens the index (only called for the build's first row).
/// Returns whether this row began the build.
pub(crate) fn add(
    db: Db,
    index: &IndexName,
    row: RowKey,
    vector: VectorRef<'_>,
    graph: impl FnOnce() -> SqlResult<DiskAnn>,
) -> SqlResult<bool> {
    let mut open = Some(graph);
    let mut row = Some(row);
    let mut began = false;
    let added = with_state(db, |state| -> SqlResult<()> {
        let (limit, threads) = (state.build_limit, state.build_threads);
        if !state.builds.contains_key(&key(index)) {
            // a statement builds one index at a time (REINDEX ends each before the next): any
            // other build was left by a statement that failed (see `drop_stale_vector_builds`)
            state.builds.clear();
        }
        let build = match state.builds.entry(key(index)) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                let graph = open.take().expect("invariant: first use")()?;
                began = true;
                e.insert(Build {
                    graph,
                    blocks: Blocks::Memory(MemStorage::new()),
                    nodes: 0,
                    limit,
                    pending: Vec::new(),
                    pool: pool(threads)?,
                    keys: None,
                    held: HeldBytes::new(),
                    block_bytes: 0,
                })
            }
        };
        let rowid = match row.take().expect("invariant: taken once") {
            RowKey::Id(id) => id,
            RowKey::Key(row_key) => keys::assign(db, index, &mut build.keys, row_key)?,
        };
        // the graph checks the row when its batch goes in; a bad row fails the build then
        build.hold_row()?;
        build.pending.push((rowid, vector.to_vector()));
        let mut batch = batch_size(build.nodes);
        if matches!(build.blocks, Blocks::Spilled(_)) {
            batch = batch.min(rows_within(build.held.room(), &build.graph));
        }
        if build.pending.len() >= batch {
            build.flush(db, index)?;
        }
        Ok(())
    });
    match added {
        Some(Err(e)) => {
            // the statement fails and rolls back: the build's memory is of no more use
            forget(db, index);
            Err(e)
        }
        Some(Ok(())) => Ok(began),
        // no connection state (SQLite refused the client data): insert row by row
        None => {
            let graph = open.take().expect("invariant: not used when there is no state")()?;
            let mut storage = ShadowStorage::new(db, index);
            let rowid = match row.take().expect("invariant: not used when there is no state") {
                RowKey::Id(id) => id,
                RowKey::Key(row_key) => {
                    let id = keys::next_id(db, index)?;
                    storage = storage.with_keys(KeyMap::default());
                    storage.keys_mut().insert(id, row_key);
                    id
                }
            };
            let mut charged = ChargedReads::insert(&mut storage, graph.layout().block_size())?;
            graph.insert(&mut charged, rowid, vector).map_err(graph_error).map(|()| false)
        }
    }
}

/// Completes the build of `index`: adds the rows still pending and writes the blocks the shadow
/// table lacks.
pub(crate) fn finish(db: Db, index: &IndexName) -> SqlResult<()> {
    if let Some(Some(mut build)) = with_state(db, |s| s.builds.remove(&key(index))) {
        build.finish(db, index)?;
    }
    // a build follows CREATE INDEX or xClear, which dropped the cached blocks and (xClear)
    // advanced the write counter; it wrote none through the cache
    forget(db, index);
    Ok(())
}
