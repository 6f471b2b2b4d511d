//! Rows held back until the transaction needs them: the vector index's per-transaction state
//! (method table version 3, `sqlite3-src/ext/edgelite.h`).
//!
//! Inserting a row into the graph reads and rewrites some thirty node blocks through SQL. A
//! transaction that inserts many rows one statement at a time (an `executemany`, a loader's
//! loop) paid that for each row, on one thread, where CREATE INDEX on the filled table adds
//! the same rows in parallel batches in memory (`build.rs`). So xInsert, outside a build,
//! checks the row (type and dimensions, with libSQL's messages, so a bad row still fails its
//! own INSERT) and keeps it in the connection's memory; the rows are added in batches, as a
//! build adds them, when the transaction needs them:
//!
//! - at COMMIT (`xSync` of the transaction module below): a failure fails the COMMIT, and
//!   SQLite then rolls the transaction back, so a commit never leaves rows without nodes;
//! - when a savepoint opens (`xSavepoint`: a SAVEPOINT, or a statement that needs a statement
//!   journal such as `INSERT ... SELECT`): no held row ever straddles a savepoint, so
//!   `xRollbackTo` and `xRollback` simply drop every row held back;
//! - before anything else touches the index: a delete or update of a row, a search
//!   (`vector_top_k`, `vector_scan`, the planner's rewrite), `PRAGMA integrity_check`, a
//!   SELECT that names the shadow table in its FROM clause or in a subquery there (xFlush,
//!   coded by patch 0002's hook: the shell's `.dump` inside the transaction has every node; a
//!   view or CTE over the shadow table, a trigger reading it, a blob handle on it or
//!   `INSERT INTO copy SELECT * FROM <shadow>` do not add them); DROP INDEX, DROP TABLE,
//!   `DELETE` without WHERE and REINDEX drop them instead;
//! - when they pass a quarter of the build budget (`edgelite_vector_build_limit`).
//!
//! The rows held back are charged to the memory budget of the scope that held the first of
//! them (`memory.rs`'s `HeldBytes`): past it, the INSERT fails with `SQLITE_NOMEM` (on which
//! SQLite rolls the transaction back, and the rows are dropped with it). When they go in, the
//! blocks loaded or read into memory for their batches are charged to the budget of the scope
//! that adds them (`build.rs`'s `ChargedReads`): past it, that statement (or the COMMIT)
//! fails with `SQLITE_NOMEM`.
//!
//! A statement that needs a statement journal (a multi-row `INSERT ... SELECT`, one that fires
//! a trigger, any insert into a table with two vector indexes) opens a savepoint, so it adds the
//! rows held back before it; its own rows are held back until the next such point.
//!
//! The core takes part by coding, in each statement that calls xInsert outside a build, the
//! opening of the eponymous virtual table `edgelite_vector_pending` as if the statement wrote
//! it, which gives this module sqlite3_module's transaction callbacks (the way FTS5 holds its
//! pending terms). The table lists what is held back: `SELECT * FROM edgelite_vector_pending`
//! gives (schema, index, rows).
//!
//! If a flush fails anywhere but at COMMIT (an interrupt during a search, a corrupt block
//! met by a delete), the index may hold part of the rows: the index then refuses every use
//! until the transaction ends, and its COMMIT fails (so SQLite rolls it back).
//!
//! Few rows (fewer than [`BATCH_FROM`]) are inserted one by one, as without this module, so the
//! blocks of a transaction of a few rows are those of row-by-row inserts. More go in batches
//! ([`edgelite_diskann::DiskAnn::insert_batch_cached`]), over the index's blocks loaded into
//! memory when they fit the build budget and the memory budget: the graph is the one a build
//! would make from those rows, not block for block the one row-by-row inserts make.

use core::ffi::{c_char, c_int};
use std::collections::BTreeMap;

use edgelite_diskann::{BuildCache, DiskAnn, MemStorage, Storage, batch_size};
use edgelite_vector::{Vector, VectorRef};

use super::build::ChargedReads;
use super::cache::with_state;
use super::memory::HeldBytes;
use super::sql::{Db, SqlError, SqlResult};
use super::vector_index::{IndexName, RowKey, ShadowStorage, count_nodes, end_write, epoch, graph_error, open_index};
use super::vtab::{Table, fail, guarded, x_connect, x_disconnect};
use crate::bindings::*;

/// A flush of fewer rows than this inserts them one by one.
const BATCH_FROM: usize = 64;

/// The rows of one index held back.
pub(crate) struct Pending {
    /// The index's graph as it was when the first row came: what each row is checked against.
    graph: DiskAnn,
    /// Whether rows are named by keys that map to node ids (`keys.rs`).
    keyed: bool,
    rows: Vec<(RowKey, Vector)>,
    /// The rows' bytes, charged to the memory budget of the scope that held the first row
    /// ([`HeldBytes`]): thirty streams of one tenant each holding rows back in an open
    /// transaction took 2 GB that its budget never saw (a review, session 44).
    held: HeldBytes,
}

/// A connection's transaction state.
#[derive(Default)]
pub(crate) struct Txn {
    /// Between the transaction module's xBegin and its xCommit or xRollback.
    open: bool,
    /// By (schema, index), in name order (flushes run in a deterministic order).
    pending: BTreeMap<(String, String), Pending>,
    /// A flush is running (its own statements must not start another).
    flushing: bool,
    /// A flush failed outside COMMIT: the error every later use of the index gets, until the
    /// transaction ends.
    poisoned: BTreeMap<(String, String), SqlError>,
    /// Counts transactions (xBegin and the end of each): a flush whose transaction ended while
    /// it ran (SQLite rolled it back on a full disk) poisons nothing.
    generation: u64,
}

fn key(index: &IndexName) -> (String, String) {
    (index.schema.clone(), index.name.clone())
}

/// What [`hold`] did with a row.
pub(crate) enum Held {
    /// Kept back, to be added later.
    Kept,
    /// Not kept (no transaction module, or a flush running): the caller inserts it now.
    Insert(Vector),
}

/// Keeps a row that xInsert got (outside a build) until the transaction needs it, after
/// checking it against the index. `keyed` tells whether the index maps keys to node ids, and
/// `graph` opens the index: both are asked only for an index's first row of the transaction.
/// `row` names the row, given whether the index is keyed.
pub(crate) fn hold(
    db: Db,
    index: &IndexName,
    vector: Vector,
    row: impl FnOnce(bool) -> SqlResult<RowKey>,
    keyed: impl FnOnce() -> SqlResult<bool>,
    graph: impl FnOnce() -> SqlResult<DiskAnn>,
) -> SqlResult<Held> {
    let k = key(index);
    let status = with_state(db, |s| {
        if !s.txn.open || s.txn.flushing {
            return Ok(None);
        }
        if let Some(e) = s.txn.poisoned.get(&k) {
            return Err(e.clone());
        }
        Ok(Some(s.txn.pending.get(&k).map(|p| p.keyed)))
    });
    let known = match status {
        None | Some(Ok(None)) => return Ok(Held::Insert(vector)),
        Some(Err(e)) => return Err(e),
        Some(Ok(Some(known))) => known,
    };
    let (first, is_keyed) = match known {
        Some(is_keyed) => (None, is_keyed),
        None => {
            let is_keyed = keyed()?;
            (Some(graph()?), is_keyed)
        }
    };
    let row = row(is_keyed)?;
    let limit = with_state(db, |s| s.build_limit).unwrap_or(super::build::DEFAULT_BUILD_LIMIT);
    let full = with_state(db, |s| -> SqlResult<bool> {
        let pending = match first {
            Some(graph) => s.txn.pending.entry(k.clone()).or_insert(Pending {
                graph,
                keyed: is_keyed,
                rows: Vec::new(),
                held: HeldBytes::new(),
            }),
            None => s.txn.pending.get_mut(&k).ok_or_else(|| SqlError::new(SQLITE_INTERNAL, "vector index: lost"))?,
        };
        pending.graph.check_row::<SqlError>(vector.as_ref()).map_err(graph_error)?;
        let size = u64::try_from(vector.data().len() + size_of::<(RowKey, Vector)>()).unwrap_or(u64::MAX);
        if !pending.held.hold(pending.held.held().saturating_add(size)) {
            return Err(SqlError::new(
                SQLITE_NOMEM,
                "vector index: rows held back for the index pass the memory budget of this connection's group",
            ));
        }
        pending.rows.push((row, vector));
        Ok(pending.held.held() > u64::try_from(limit / 4).unwrap_or(u64::MAX))
    });
    match full {
        Some(Ok(true)) => flush(db, index).map(|()| Held::Kept),
        Some(Ok(false)) => Ok(Held::Kept),
        Some(Err(e)) => Err(e),
        None => Err(SqlError::new(SQLITE_INTERNAL, "vector index: no connection state")),
    }
}

/// Whether the connection holds no row back and no index is refused (cheap: no SQL); also
/// true while its state is borrowed (a flush is running: its own reads need nothing).
pub(crate) fn nothing_held(db: Db) -> bool {
    with_state(db, |s| s.txn.pending.is_empty() && s.txn.poisoned.is_empty()).unwrap_or(true)
}

/// Whether `index` has rows held back (cheap: no SQL).
fn has_pending(db: Db, index: &IndexName) -> bool {
    with_state(db, |s| s.txn.pending.contains_key(&key(index))).unwrap_or(false)
}

/// Adds the rows held back for `index` to it, before anything else uses it; fails with the
/// error of an earlier flush that failed.
pub(crate) fn flush(db: Db, index: &IndexName) -> SqlResult<()> {
    let k = key(index);
    let taken = with_state(db, |s| {
        if let Some(e) = s.txn.poisoned.get(&k) {
            return Err(e.clone());
        }
        if s.txn.flushing {
            return Ok(None);
        }
        let taken = s.txn.pending.remove(&k);
        s.txn.flushing = taken.is_some();
        Ok(taken.map(|p| (p, s.build_limit, s.build_threads, s.txn.generation)))
    });
    let Some((pending, limit, threads, generation)) = taken.transpose()?.flatten() else {
        return Ok(());
    };
    /// Ends the flush however `write` ends, a panic included (the rows it took are then in
    /// the index only in part): a failure poisons the index, unless SQLite ended the
    /// transaction meanwhile (its rollback took the partial writes away).
    struct Done<'a> {
        db: Db,
        key: &'a (String, String),
        generation: u64,
        error: Option<SqlError>,
    }
    impl Drop for Done<'_> {
        fn drop(&mut self) {
            let error = self.error.take().or_else(|| {
                std::thread::panicking().then(|| SqlError::new(SQLITE_INTERNAL, "vector index: a flush failed"))
            });
            with_state(self.db, |s| {
                s.txn.flushing = false;
                if let Some(e) = error
                    && s.txn.open
                    && s.txn.generation == self.generation
                {
                    s.txn.poisoned.insert(self.key.clone(), e);
                }
            });
        }
    }
    let mut done = Done { db, key: &k, generation, error: None };
    let written = write(db, index, pending, limit, threads);
    done.error = written.as_ref().err().cloned();
    drop(done);
    written
}

/// Drops the rows held back for `index` (emptied, dropped or rebuilt).
pub(crate) fn discard(db: Db, index: &IndexName) {
    let k = key(index);
    with_state(db, |s| {
        s.txn.pending.remove(&k);
        s.txn.poisoned.remove(&k);
    });
}

/// Adds every index's rows held back (xSync, xSavepoint).
fn flush_all(db: Db) -> SqlResult<()> {
    let keys: Vec<(String, String)> = with_state(db, |s| s.txn.pending.keys().cloned().collect()).unwrap_or_default();
    for (schema, name) in keys {
        flush(db, &IndexName { schema, name })?;
    }
    // an index whose flush failed earlier must not commit
    let poisoned = with_state(db, |s| s.txn.poisoned.values().next().cloned()).flatten();
    poisoned.map_or(Ok(()), Err)
}

/// Writes `pending`'s rows into the index's shadow table: one by one if few, else in batches.
fn write(db: Db, index: &IndexName, pending: Pending, limit: usize, threads: usize) -> SqlResult<()> {
    let (config, metadata) = open_index(db, index, "insert")?;
    let graph = super::vector_index::graph(config)?;
    // node ids: the rows' own, or allocated one past the largest for a keyed index
    let mut keys: super::keys::Ids = None;
    let mut rows: Vec<(i64, Vector)> = Vec::with_capacity(pending.rows.len());
    for (row, vector) in pending.rows {
        let id = match row {
            RowKey::Id(id) => id,
            RowKey::Key(row_key) => super::keys::assign(db, index, &mut keys, row_key)?,
        };
        rows.push((id, vector));
    }
    let epoch = epoch(&metadata);
    let storage = || {
        let s = ShadowStorage::for_write(db, index, epoch, graph.config().block_size);
        match &keys {
            Some((_, map)) => s.with_keys(map.clone()),
            None => s,
        }
    };
    let refs: Vec<(i64, VectorRef<'_>)> = rows.iter().map(|(id, v)| (*id, v.as_ref())).collect();
    let written = if refs.len() < BATCH_FROM {
        let mut s = storage();
        refs.iter().try_for_each(|&(id, v)| {
            let mut charged = ChargedReads::insert(&mut s, graph.layout().block_size())?;
            graph.insert(&mut charged, id, v).map_err(graph_error)
        })
    } else {
        write_batches(db, index, &graph, &refs, limit, threads, storage)
    };
    end_write(db, index, &metadata, written.is_ok())?;
    written
}

/// Adds `rows` in batches, over the index's blocks in memory if they fit `limit`.
fn write_batches(
    db: Db,
    index: &IndexName,
    graph: &DiskAnn,
    rows: &[(i64, VectorRef<'_>)],
    limit: usize,
    threads: usize,
    storage: impl Fn() -> ShadowStorage,
) -> SqlResult<()> {
    let mut nodes = count_nodes(db, index)?;
    let block = graph.layout().block_size();
    let mut mem = MemStorage::new();
    // the blocks in memory are charged to the budget of the scope, as a build's are: the index
    // is loaded whole only if the budget has room for it
    let mut held = HeldBytes::new();
    let whole = (nodes + rows.len()).saturating_mul(block);
    let loaded = whole <= limit && held.hold(u64::try_from(whole).unwrap_or(u64::MAX));
    if loaded {
        let mut all = db.prepare(&format!("SELECT rowid, data FROM {}", index.shadow()))?;
        while all.step()? {
            mem.insert(all.int(0), all.blob(1)).map_err(SqlError::from)?;
        }
    }
    let mut cache = BuildCache::new(mem);
    let bytes = |cache: &BuildCache| u64::try_from(cache.bytes()).unwrap_or(u64::MAX);
    let _ = held.hold(bytes(&cache));
    let pool = super::build::pool(threads)?;
    let mut done = 0;
    while done < rows.len() {
        let mut take = batch_size(nodes).min(rows.len() - done);
        if !loaded {
            take = take.min(super::build::rows_within(held.room(), graph));
        }
        // what the batch reads into the cache is charged as it is read (past the budget, the
        // batch fails with SQLITE_NOMEM), then counted with the cache's blocks
        let mut cached = cache.over(ChargedReads::kept(storage()));
        graph.insert_batch_cached(&mut cached, &rows[done..done + take], &pool).map_err(graph_error)?;
        drop(cached);
        done += take;
        nodes += take;
        if cache.bytes() > limit || !held.hold(bytes(&cache)) {
            let mut s = storage();
            cache.write_back(&mut s)?;
            super::build::shrink(&mut cache, &mut s, graph, limit)?;
            let _ = held.hold(bytes(&cache));
        }
    }
    cache.write_back(&mut storage())
}

/// Before `index` is read or changed otherwise than by an insert: its rows held back go in
/// first. Cheap when there are none.
pub(crate) fn before_use(db: Db, index: &IndexName) -> SqlResult<()> {
    let poisoned = with_state(db, |s| s.txn.poisoned.get(&key(index)).cloned()).flatten();
    if let Some(e) = poisoned {
        return Err(e);
    }
    if has_pending(db, index) { flush(db, index) } else { Ok(()) }
}

// ---- the transaction module: eponymous virtual table `edgelite_vector_pending` ----

/// The table's schema.
const SCHEMA: &core::ffi::CStr = c"CREATE TABLE x(schema TEXT, idx TEXT, rows INTEGER)";

/// A cursor over a copy of the list taken when the scan starts.
#[repr(C)]
struct Cursor {
    base: sqlite3_vtab_cursor,
    rows: Vec<(String, String, i64)>,
    at: usize,
}

/// The connection of a table.
///
/// # Safety
/// `vtab` is a live [`Table`].
unsafe fn table_db(vtab: *mut sqlite3_vtab) -> Db {
    // SAFETY: a live Table (caller).
    let db = unsafe { (*vtab.cast::<Table>()).db };
    // SAFETY: the table's connection outlives it.
    unsafe { Db::new(db) }
}

unsafe extern "C" fn x_best_index(_vtab: *mut sqlite3_vtab, info: *mut sqlite3_index_info) -> c_int {
    guarded(|| {
        // SAFETY: SQLite's live index-info.
        unsafe { (*info).estimatedCost = 10.0 };
        SQLITE_OK
    })
}

unsafe extern "C" fn x_open(vtab: *mut sqlite3_vtab, out: *mut *mut sqlite3_vtab_cursor) -> c_int {
    guarded(|| {
        // SAFETY: a live table.
        let db = unsafe { table_db(vtab) };
        let rows = with_state(db, |s| {
            s.txn
                .pending
                .iter()
                .map(|((schema, name), p)| (schema.clone(), name.clone(), p.rows.len() as i64))
                .collect()
        })
        .unwrap_or_default();
        // SAFETY: a zeroed base is what SQLite expects; it fills pVtab.
        let cursor = Box::new(Cursor { base: unsafe { core::mem::zeroed() }, rows, at: 0 });
        // SAFETY: SQLite's out-pointer; x_close takes the Box back.
        unsafe { *out = Box::into_raw(cursor).cast::<sqlite3_vtab_cursor>() };
        SQLITE_OK
    })
}

unsafe extern "C" fn x_close(cursor: *mut sqlite3_vtab_cursor) -> c_int {
    guarded(|| {
        // SAFETY: from Box::into_raw in x_open; closed once.
        drop(unsafe { Box::from_raw(cursor.cast::<Cursor>()) });
        SQLITE_OK
    })
}

unsafe extern "C" fn x_filter(
    cursor: *mut sqlite3_vtab_cursor,
    _idx: c_int,
    _idx_str: *const c_char,
    _argc: c_int,
    _argv: *mut *mut sqlite3_value,
) -> c_int {
    guarded(|| {
        // SAFETY: a live cursor of ours.
        unsafe { (*cursor.cast::<Cursor>()).at = 0 };
        SQLITE_OK
    })
}

unsafe extern "C" fn x_next(cursor: *mut sqlite3_vtab_cursor) -> c_int {
    guarded(|| {
        // SAFETY: a live cursor of ours.
        unsafe { (*cursor.cast::<Cursor>()).at += 1 };
        SQLITE_OK
    })
}

unsafe extern "C" fn x_eof(cursor: *mut sqlite3_vtab_cursor) -> c_int {
    // SAFETY: a live cursor of ours.
    let c = unsafe { &*cursor.cast::<Cursor>() };
    c_int::from(c.at >= c.rows.len())
}

unsafe extern "C" fn x_column(cursor: *mut sqlite3_vtab_cursor, ctx: *mut sqlite3_context, i: c_int) -> c_int {
    guarded(|| {
        // SAFETY: a live cursor of ours, on a row (SQLite asks only before eof).
        let c = unsafe { &*cursor.cast::<Cursor>() };
        let Some((schema, name, rows)) = c.rows.get(c.at) else { return SQLITE_OK };
        // SAFETY: the live context of this call.
        let context = unsafe { super::values::Context::new(ctx) };
        match i {
            0 => context.text(schema),
            1 => context.text(name),
            _ => context.int(*rows),
        }
        SQLITE_OK
    })
}

unsafe extern "C" fn x_rowid(cursor: *mut sqlite3_vtab_cursor, rowid: *mut sqlite3_int64) -> c_int {
    guarded(|| {
        // SAFETY: a live cursor of ours.
        let at = unsafe { (*cursor.cast::<Cursor>()).at };
        // SAFETY: SQLite's out-pointer.
        unsafe { *rowid = i64::try_from(at).unwrap_or(i64::MAX) };
        SQLITE_OK
    })
}

unsafe extern "C" fn x_begin(vtab: *mut sqlite3_vtab) -> c_int {
    guarded(|| {
        // SAFETY: a live table.
        let db = unsafe { table_db(vtab) };
        with_state(db, |s| {
            s.txn.open = true;
            s.txn.generation += 1;
            s.txn.pending.clear();
            s.txn.poisoned.clear();
        });
        SQLITE_OK
    })
}

/// Runs a flush of every index for a transaction callback; its error becomes the callback's.
///
/// # Safety
/// `vtab` is a live [`Table`].
unsafe fn flush_for(vtab: *mut sqlite3_vtab) -> c_int {
    guarded(|| {
        // SAFETY: a live table (caller).
        let db = unsafe { table_db(vtab) };
        match flush_all(db) {
            Ok(()) => SQLITE_OK,
            // SAFETY: as above.
            Err(e) => unsafe { fail(vtab, &e) },
        }
    })
}

unsafe extern "C" fn x_sync(vtab: *mut sqlite3_vtab) -> c_int {
    // SAFETY: SQLite passes its live table.
    unsafe { flush_for(vtab) }
}

unsafe extern "C" fn x_savepoint(vtab: *mut sqlite3_vtab, _i: c_int) -> c_int {
    // SAFETY: SQLite passes its live table.
    unsafe { flush_for(vtab) }
}

/// Ends the transaction's state (commit or rollback): nothing is held back any more.
///
/// # Safety
/// `vtab` is a live [`Table`].
unsafe fn end(vtab: *mut sqlite3_vtab) -> c_int {
    guarded(|| {
        // SAFETY: a live table (caller).
        let db = unsafe { table_db(vtab) };
        with_state(db, |s| s.txn = Txn { generation: s.txn.generation + 1, ..Txn::default() });
        SQLITE_OK
    })
}

unsafe extern "C" fn x_commit(vtab: *mut sqlite3_vtab) -> c_int {
    // SAFETY: SQLite passes its live table.
    unsafe { end(vtab) }
}

unsafe extern "C" fn x_rollback(vtab: *mut sqlite3_vtab) -> c_int {
    // SAFETY: SQLite passes its live table.
    unsafe { end(vtab) }
}

unsafe extern "C" fn x_release(_vtab: *mut sqlite3_vtab, _i: c_int) -> c_int {
    SQLITE_OK
}

unsafe extern "C" fn x_rollback_to(vtab: *mut sqlite3_vtab, _i: c_int) -> c_int {
    guarded(|| {
        // every row held back came after the newest savepoint (xSavepoint flushes), so after
        // any savepoint being rolled back to
        // SAFETY: SQLite passes its live table.
        let db = unsafe { table_db(vtab) };
        with_state(db, |s| s.txn.pending.clear());
        SQLITE_OK
    })
}

static MODULE: sqlite3_module = sqlite3_module {
    iVersion: 2,
    xCreate: None,
    xConnect: Some(x_connect),
    xBestIndex: Some(x_best_index),
    xDisconnect: Some(x_disconnect),
    xDestroy: Some(x_disconnect),
    xOpen: Some(x_open),
    xClose: Some(x_close),
    xFilter: Some(x_filter),
    xNext: Some(x_next),
    xEof: Some(x_eof),
    xColumn: Some(x_column),
    xRowid: Some(x_rowid),
    xUpdate: None,
    xBegin: Some(x_begin),
    xSync: Some(x_sync),
    xCommit: Some(x_commit),
    xRollback: Some(x_rollback),
    xFindFunction: None,
    xRename: None,
    xSavepoint: Some(x_savepoint),
    xRelease: Some(x_release),
    xRollbackTo: Some(x_rollback_to),
    xShadowName: None,
    xIntegrity: None,
};

/// Registers the transaction module (`EDGELITE_VECTOR_TXN_MODULE` of edgelite.h) on `db`.
///
/// # Safety
/// `db` is a valid open connection.
pub(crate) unsafe fn register(db: *mut sqlite3) -> c_int {
    // SAFETY: `db` is valid (caller); statics throughout.
    unsafe { super::vtab::register(db, c"edgelite_vector_pending", &MODULE, SCHEMA) }
}
