//! Rows whose cosine distance is NULL. A vector of norm zero has no direction:
//! `vector_distance_cos` of it is NULL (libSQL's too), and `ORDER BY` sorts NULL before every
//! distance, so the exact query returns such rows first. The graph's walk meets their nodes last
//! (a NaN distance ranks after all others), so the index keeps their node ids aside and
//! `vector_scan` returns them first, as SQL orders them: the planner's rewrite then gives the
//! exact query's rows even when all-zero vectors are in the table.
//!
//! Each such node is one row of `libsql_vector_meta_shadow`, named `<index>\x01zero\x01<id>`
//! with the id as its `metadata`: libSQL reads that table by an index's name and never sees
//! them, a `.dump` carries them, and they roll back with the statement that wrote them. Only
//! rowid-keyed cosine indexes keep them (the planner rewrites queries of rowid tables only).
//! A file that libSQL wrote zero vectors into has no such records for them (COMPAT.md).

use edgelite_diskann::DiskAnn;
use edgelite_vector::{Metric, VectorRef};

use super::sql::{Db, SqlResult};
use super::vector_index::IndexName;

/// The names of `index`'s records run from this prefix (inclusive) to [`end`] (exclusive).
fn prefix(index: &IndexName) -> String {
    format!("{}\u{1}zero\u{1}", index.name)
}

fn end(index: &IndexName) -> String {
    format!("{}\u{1}zero\u{2}", index.name)
}

/// True if `vector`'s cosine distance to anything is NULL (its norm, as the distance computes
/// it, is zero).
pub(crate) fn has_no_direction(vector: VectorRef<'_>) -> bool {
    edgelite_vector::distance(Metric::Cosine, vector, vector).is_ok_and(f64::is_nan)
}

/// True if `graph`'s index keeps zero-norm nodes aside (a cosine index; the caller checks that
/// it is rowid-keyed).
pub(crate) fn applies(graph: &DiskAnn) -> bool {
    graph.config().metric == Metric::Cosine
}

/// Records node `id` of `index` as one without a direction.
pub(crate) fn mark(db: Db, index: &IndexName, id: i64) -> SqlResult<()> {
    let mut insert =
        db.prepare(&format!("INSERT OR REPLACE INTO {} (name, metadata) VALUES (?1, ?2)", index.meta()))?;
    insert.bind_text(1, &format!("{}{id}", prefix(index)))?;
    insert.bind_int(2, id)?;
    while insert.step()? {}
    Ok(())
}

/// Forgets node `id` of `index` (deleted, or given a vector with a direction); nothing if it
/// was not recorded.
pub(crate) fn unmark(db: Db, index: &IndexName, id: i64) -> SqlResult<()> {
    let mut delete = db.prepare(&format!("DELETE FROM {} WHERE name = ?1", index.meta()))?;
    delete.bind_text(1, &format!("{}{id}", prefix(index)))?;
    while delete.step()? {}
    Ok(())
}

/// Forgets every record of `index` (emptied for a rebuild, or created anew where an index of
/// the same name left some: libSQL's DROP INDEX deletes only the index's own metadata row).
pub(crate) fn clear(db: Db, index: &IndexName) -> SqlResult<()> {
    let mut delete = db.prepare(&format!("DELETE FROM {} WHERE name >= ?1 AND name < ?2", index.meta()))?;
    delete.bind_text(1, &prefix(index))?;
    delete.bind_text(2, &end(index))?;
    while delete.step()? {}
    Ok(())
}

/// The recorded nodes of `index` that the index still has (a record whose node libSQL deleted
/// is skipped), in ascending id order.
pub(crate) fn marked(db: Db, index: &IndexName) -> SqlResult<Vec<i64>> {
    let mut select = db.prepare(&format!(
        "SELECT m.metadata FROM {} AS m WHERE m.name >= ?1 AND m.name < ?2 \
         AND EXISTS (SELECT 1 FROM {} WHERE index_key = m.metadata) ORDER BY 1",
        index.meta(),
        index.shadow()
    ))?;
    select.bind_text(1, &prefix(index))?;
    select.bind_text(2, &end(index))?;
    let mut ids = Vec::new();
    while select.step()? {
        ids.push(select.int(0));
    }
    Ok(ids)
}
