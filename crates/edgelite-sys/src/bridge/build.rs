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
//! Memory is bounded by the connection's vector memory limit, the node cache's
//! (`edgelite_vector_cache_limit`, 256 MiB by default: 26,000 rows of 384 f32 dimensions at
//! edgelite's defaults): a build whose blocks would pass it writes what it has to the shadow
//! table and inserts the remaining rows incrementally, one at a time, into the same graph.
//! Everything happens inside the building statement, so a failed or rolled-back build leaves
//! nothing in the database; its memory is dropped when a row fails, by the next build of that
//! index, by DROP INDEX, or when the connection closes.

use std::sync::Arc;

use edgelite_diskann::{DiskAnn, MemStorage, Storage, batch_size};
use edgelite_vector::{Vector, VectorRef};

use super::cache::with_state;
use super::sql::{Db, SqlError, SqlResult};
use super::vector_index::{IndexName, ShadowStorage, graph_error};

/// One index build in progress.
pub(crate) struct Build {
    graph: DiskAnn,
    mem: MemStorage,
    /// Rows collected for the next batch.
    pending: Vec<(i64, Vector)>,
    /// The threads of this build's batches.
    pool: Arc<rayon::ThreadPool>,
    /// The blocks were written out; later rows go through the shadow table.
    spilled: bool,
}

impl Build {
    /// Adds the pending rows to the in-memory graph, as one batch.
    fn flush(&mut self) -> SqlResult<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let rows: Vec<(i64, VectorRef<'_>)> = self.pending.iter().map(|(id, v)| (*id, v.as_ref())).collect();
        let (graph, mem) = (&self.graph, &mut self.mem);
        self.pool.install(|| graph.insert_batch(mem, &rows)).map_err(graph_error)?;
        self.pending.clear();
        Ok(())
    }
}

/// The thread pool of a build with `threads` threads (0: one per core).
fn pool(threads: usize) -> SqlResult<Arc<rayon::ThreadPool>> {
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
fn write_out(db: Db, index: &IndexName, mem: &MemStorage) -> SqlResult<()> {
    let mut shadow = ShadowStorage::new(db, index);
    for id in mem.ids() {
        let block = mem.get(id).expect("invariant: id listed by the store");
        shadow.insert(id, block)?;
    }
    Ok(())
}

/// Adds one row of a build. `graph` opens the index (only called for the build's first row).
pub(crate) fn add(
    db: Db,
    index: &IndexName,
    rowid: i64,
    vector: VectorRef<'_>,
    graph: impl FnOnce() -> SqlResult<DiskAnn>,
) -> SqlResult<()> {
    let mut open = Some(graph);
    let added = with_state(db, |state| -> SqlResult<()> {
        let limit = state.limit();
        let threads = state.build_threads;
        let build = match state.builds.entry(key(index)) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                let graph = open.take().expect("invariant: first use")()?;
                e.insert(Build {
                    graph,
                    mem: MemStorage::new(),
                    pending: Vec::new(),
                    pool: pool(threads)?,
                    spilled: false,
                })
            }
        };
        if !build.spilled {
            let rows = build.mem.len() + build.pending.len() + 1;
            if rows.saturating_mul(build.graph.layout().block_size()) > limit {
                build.flush()?;
                write_out(db, index, &build.mem)?;
                build.mem = MemStorage::new();
                build.spilled = true;
            } else {
                // the graph checks the row when its batch goes in; a bad row fails the build then
                build.pending.push((rowid, vector.to_vector()));
                if build.pending.len() >= batch_size(build.mem.len()) {
                    build.flush()?;
                }
                return Ok(());
            }
        }
        let mut shadow = ShadowStorage::new(db, index);
        build.graph.insert(&mut shadow, rowid, vector).map_err(graph_error)
    });
    match added {
        Some(Err(e)) => {
            // the statement fails and rolls back: the build's memory is of no more use
            forget(db, index);
            Err(e)
        }
        Some(Ok(())) => Ok(()),
        // no connection state (SQLite refused the client data): insert row by row
        None => {
            let graph = open.take().expect("invariant: not used when there is no state")()?;
            graph.insert(&mut ShadowStorage::new(db, index), rowid, vector).map_err(graph_error)
        }
    }
}

/// Completes the build of `index`: adds the rows still pending and writes the blocks still in
/// memory.
pub(crate) fn finish(db: Db, index: &IndexName) -> SqlResult<()> {
    if let Some(Some(mut build)) = with_state(db, |s| s.builds.remove(&key(index)))
        && !build.spilled
    {
        build.flush()?;
        write_out(db, index, &build.mem)?;
    }
    // a build follows CREATE INDEX or xClear, which dropped the cached blocks and (xClear)
    // advanced the write counter; it wrote none through the cache
    forget(db, index);
    Ok(())
}
