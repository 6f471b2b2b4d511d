//! Building a vector index from its table (CREATE INDEX on a filled table, REINDEX) in memory.
//!
//! The core passes every row of a build to xInsert with a third argument 1, then calls xBuild
//! (core patch 0001). Inserting row by row into the shadow table would read and rewrite node
//! blocks through SQL some thirty times a row; instead the rows go into a graph held in
//! memory by the connection, and xBuild writes every block once, in rowid order (appends to
//! the shadow table's B-tree). The graph is the same one the incremental path would build:
//! same algorithm, same insertion order, same entry point.
//!
//! Memory is bounded by the connection's vector memory limit, the node cache's
//! (`edgelite_vector_cache_limit`, 256 MiB by default: 26,000 rows of 384 f32 dimensions at
//! edgelite's defaults): a build whose blocks would pass it writes what it has to the shadow
//! table and inserts the remaining rows incrementally, into the same graph. Everything happens
//! inside the building statement, so a failed or rolled-back build leaves nothing in the
//! database; its memory is dropped when a row fails, by the next build of that index, by DROP
//! INDEX, or when the connection closes.

use edgelite_diskann::{DiskAnn, MemStorage, Storage};
use edgelite_vector::VectorRef;

use super::cache::with_state;
use super::sql::{Db, SqlResult};
use super::vector_index::{IndexName, ShadowStorage, graph_error};

/// One index build in progress.
pub(crate) struct Build {
    graph: DiskAnn,
    mem: MemStorage,
    /// The blocks were written out; later rows go through the shadow table.
    spilled: bool,
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
        let build = match state.builds.entry(key(index)) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                let graph = open.take().expect("invariant: first use")()?;
                e.insert(Build { graph, mem: MemStorage::new(), spilled: false })
            }
        };
        if !build.spilled && (build.mem.len() + 1).saturating_mul(build.graph.layout().block_size()) > limit {
            write_out(db, index, &build.mem)?;
            build.mem = MemStorage::new();
            build.spilled = true;
        }
        if build.spilled {
            let mut shadow = ShadowStorage::new(db, index);
            build.graph.insert(&mut shadow, rowid, vector).map_err(graph_error)
        } else {
            build.graph.insert(&mut build.mem, rowid, vector).map_err(graph_error)
        }
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

/// Completes the build of `index`: writes the blocks still in memory.
pub(crate) fn finish(db: Db, index: &IndexName) -> SqlResult<()> {
    if let Some(Some(build)) = with_state(db, |s| s.builds.remove(&key(index)))
        && !build.spilled
    {
        write_out(db, index, &build.mem)?;
    }
    // a build follows CREATE INDEX or xClear, which dropped the cached blocks and (xClear)
    // advanced the write counter; it wrote none through the cache
    forget(db, index);
    Ok(())
}
