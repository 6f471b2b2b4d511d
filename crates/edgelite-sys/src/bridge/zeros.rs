//! Rows whose distance is NULL to every query. A vector of norm zero has no direction:
//! `vector_distance_cos` of it is NULL (libSQL's too); a vector with a NaN element has a NaN
//! distance under either metric, and one with an infinite element under cosine, which is NULL
//! too. `ORDER BY` sorts NULL before every
//! distance, so the exact query returns such rows first. The graph's walk meets their nodes last
//! (a NaN distance ranks after all others), so the index keeps their node ids aside and
//! `vector_scan` returns them first, as SQL orders them: the planner's rewrite then gives the
//! exact query's rows even when such vectors are in the table.
//!
//! Each such node is one row of `libsql_vector_meta_shadow`, named `sqlite_edgelite_zero`
//! char(1) `<length of the index's name>` char(1) `<index>` char(1) `<id>`, with the id as its
//! `metadata`: no index can be named so (SQLite reserves `sqlite_`), so libSQL's lookups by an
//! index's name never see them and no index's records fall in another's range; a `.dump`
//! carries them, and they roll back with the statement that wrote them (they are written only
//! once the row is in the index, so a row refused for its dimensions leaves none). Only
//! rowid-keyed indexes keep them (the planner rewrites queries of rowid tables only), and only
//! for vectors whose distance to any query is NULL ([`always_null`]): a vector whose squared
//! length overflows or underflows the arithmetic, or with an infinite element under l2, has a
//! NULL distance to some queries and a number to others. A file that libSQL wrote such vectors into
//! has no records for them (COMPAT.md; `PRAGMA integrity_check` reports both kinds of
//! difference).

use edgelite_vector::{Metric, VectorRef, VectorType};

use super::sql::{Db, SqlResult};
use super::vector_index::IndexName;

/// The names of `index`'s records run from this prefix (inclusive) to [`end`] (exclusive).
/// (`length` as SQL counts it, in characters: the DROP INDEX of edgelite_vector_index.c makes
/// the same names.)
fn prefix(index: &IndexName) -> String {
    format!("sqlite_edgelite_zero\u{1}{}\u{1}{}\u{1}", index.name.chars().count(), index.name)
}

fn end(index: &IndexName) -> String {
    format!("sqlite_edgelite_zero\u{1}{}\u{1}{}\u{2}", index.name.chars().count(), index.name)
}

/// True if `vector`'s distance to any query under `metric` is NULL: an element is NaN, or,
/// under cosine, an element is infinite (its norm is then infinite and its dot product with
/// any query infinite or NaN: the quotient is NaN) or every element is zero. Under l2 an
/// infinite element gives NULL only against a query with an infinity of the same sign there.
/// A 1-bit vector's elements are ±1, and its cosine distance is a Hamming distance.
pub(crate) fn always_null(vector: VectorRef<'_>, metric: Metric) -> bool {
    let (cosine, l2) = always_null_under(vector);
    if metric == Metric::L2 { l2 } else { cosine }
}

/// [`always_null`] under cosine and under l2, with one pass over the elements (xInsert asks
/// both before it knows the index's metric, which it reads only for such a vector).
pub(crate) fn always_null_under(vector: VectorRef<'_>) -> (bool, bool) {
    if vector.vector_type() == VectorType::Bit1 {
        return (false, false);
    }
    let (mut nan, mut infinite, mut zero) = (false, false, true);
    for x in vector.to_f64_vec() {
        nan |= x.is_nan();
        infinite |= x.is_infinite();
        zero &= x == 0.0;
    }
    (nan || infinite || zero, nan)
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
    ids(db, index, &format!("AND EXISTS (SELECT 1 FROM {} WHERE index_key = m.metadata)", index.shadow()))
}

/// Every recorded node of `index`, whether the index has it or not, in ascending id order
/// (`PRAGMA integrity_check` compares them with the table's zero vectors).
pub(crate) fn recorded(db: Db, index: &IndexName) -> SqlResult<Vec<i64>> {
    ids(db, index, "")
}

fn ids(db: Db, index: &IndexName, and: &str) -> SqlResult<Vec<i64>> {
    let mut select = db.prepare(&format!(
        "SELECT m.metadata FROM {} AS m WHERE m.name >= ?1 AND m.name < ?2 {and} ORDER BY 1",
        index.meta()
    ))?;
    select.bind_text(1, &prefix(index))?;
    select.bind_text(2, &end(index))?;
    let mut ids = Vec::new();
    while select.step()? {
        ids.push(select.int(0));
    }
    Ok(ids)
}
