//! Vector indexes keyed by something else than an integer: libSQL's second shadow-table shape.
//!
//! An index on a rowid table, or on a WITHOUT ROWID table whose primary key is one INTEGER
//! column with the BINARY collation, names its graph nodes by the row's key:
//! `i_shadow (index_key INTEGER, data BLOB, PRIMARY KEY (index_key))`. Any other one-column key
//! (TEXT, BLOB, REAL, NUMERIC, or another collation) cannot be a node id, and libSQL gives such
//! an index a second shape, which edgelite writes and reads byte for byte:
//!
//! ```sql
//! CREATE TABLE i_shadow (rowid INTEGER PRIMARY KEY, index_key  TEXT , data BLOB, UNIQUE (index_key))
//! CREATE INDEX i_shadow_idx ON i_shadow (rowid)
//! ```
//!
//! `index_key`'s declared type is the key column's affinity, followed by the key's collation
//! when it is not BINARY (as a bare word, so as libSQL it names no collation). A node's id is
//! its shadow row's own rowid, allocated one past the largest (as SQLite allocates rowids);
//! `index_key` is the table's key. The core passes the key to xInsert and xDelete where it
//! passes a rowid for other tables; searches (`vector_top_k`, `vector_scan`) answer the key.

use core::ffi::c_int;

use super::sql::{Db, SqlError, SqlResult, Stmt, ident};
use super::vector_index::IndexName;
use crate::bindings::*;

/// A row key of a keyed index, owned (a build keeps its rows' keys until it writes them).
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Key {
    Null,
    Integer(i64),
    Real(f64),
    Text(Vec<u8>),
    Blob(Vec<u8>),
}

impl Key {
    /// Binds the key to parameter `i` of `stmt`, with its own type.
    pub(crate) fn bind(&self, stmt: &mut Stmt, i: c_int) -> SqlResult<()> {
        match self {
            Key::Null => stmt.bind_null(i),
            Key::Integer(v) => stmt.bind_int(i, *v),
            Key::Real(v) => stmt.bind_double(i, *v),
            Key::Text(v) => stmt.bind_text_bytes(i, v),
            Key::Blob(v) => stmt.bind_blob(i, v),
        }
    }

    /// Column `i` of `stmt`'s current row.
    pub(crate) fn column(stmt: &Stmt, i: c_int) -> Key {
        match stmt.column_type(i) {
            SQLITE_INTEGER => Key::Integer(stmt.int(i)),
            SQLITE_FLOAT => Key::Real(stmt.double(i)),
            SQLITE_TEXT => Key::Text(stmt.text_bytes(i)),
            SQLITE_BLOB => Key::Blob(stmt.bytes(i)),
            _ => Key::Null,
        }
    }
}

/// SQL that is true when table `?2` of schema `?1` is a WITHOUT ROWID table: its primary key
/// index holds no rowid column (a rowid table's, when its key is not the rowid, ends with the
/// rowid, `cid` -1). Not `pragma_table_list`'s `wr`: that pragma first prepares `SELECT *` of
/// every view of the schema, and a server's reviewer made 18 levels of views, each the
/// `UNION ALL` of two of the level below, over which one `PRAGMA integrity_check` on a table
/// with a vector index held the server for minutes (a read-only token may run it).
pub(crate) const WITHOUT_ROWID: &str = "EXISTS (SELECT 1 FROM pragma_index_list(?2, ?1) AS wl \
     WHERE wl.origin = 'pk' AND NOT EXISTS (SELECT 1 FROM pragma_index_xinfo(wl.name, ?1) AS wx WHERE wx.cid = -1))";

/// The declared type of a keyed index's `index_key` column for the primary key of
/// `schema.table`, as libSQL writes it; `None` if the table's rows are named by integers (a
/// rowid table, or a WITHOUT ROWID table with one INTEGER key column of collation BINARY).
pub(crate) fn key_column_type(db: Db, schema: &str, table: &str) -> SqlResult<Option<String>> {
    // the key columns of a WITHOUT ROWID table's primary key index, with their collations
    let mut key = db.prepare(&format!(
        "SELECT t.type, x.coll FROM pragma_index_list(?2, ?1) AS il, pragma_index_xinfo(il.name, ?1) AS x, \
         pragma_table_info(?2, ?1) AS t \
         WHERE il.origin = 'pk' AND x.key AND x.cid >= 0 AND t.cid = x.cid AND {WITHOUT_ROWID}"
    ))?;
    key.bind_text(1, schema)?;
    key.bind_text(2, table)?;
    if !key.step()? {
        return Ok(None);
    }
    let declared = String::from_utf8_lossy(&key.text_bytes(0)).into_owned();
    let collation = String::from_utf8_lossy(&key.text_bytes(1)).into_owned();
    if key.step()? {
        // the core refuses these when the index is created, with libSQL's message
        return Err("vector index: unsupported for tables without ROWID and composite primary key".into());
    }
    let affinity = affinity(&declared);
    let binary = collation.is_empty() || collation.eq_ignore_ascii_case("BINARY");
    Ok(match (affinity, binary) {
        ("INTEGER", true) => None,
        (affinity, true) => Some(format!("{affinity} ")),
        (affinity, false) => Some(format!("{affinity} {collation}")),
    })
}

/// The affinity of a declared column type, by SQLite's rules (section 3.1 of "Datatypes In
/// SQLite": the first of INT, then CHAR/CLOB/TEXT, then BLOB or no type, then REAL/FLOA/DOUB).
fn affinity(declared: &str) -> &'static str {
    let t = declared.to_ascii_uppercase();
    if t.contains("INT") {
        "INTEGER"
    } else if t.contains("CHAR") || t.contains("CLOB") || t.contains("TEXT") {
        "TEXT"
    } else if t.contains("BLOB") || t.trim().is_empty() {
        "BLOB"
    } else if t.contains("REAL") || t.contains("FLOA") || t.contains("DOUB") {
        "REAL"
    } else {
        "NUMERIC"
    }
}

/// Makes a keyed index's shadow table and its index (libSQL's second shape).
pub(crate) fn create_shadow(db: Db, index: &IndexName, key_type: &str) -> SqlResult<()> {
    db.exec(&format!(
        "CREATE TABLE IF NOT EXISTS {} (rowid INTEGER PRIMARY KEY, index_key  {key_type}, data BLOB, UNIQUE (index_key))",
        index.shadow()
    ))?;
    db.exec(&format!(
        "CREATE INDEX IF NOT EXISTS {}.{} ON {} (rowid)",
        ident(&index.schema),
        ident(&format!("{}_idx", index.shadow_name())),
        ident(&index.shadow_name())
    ))
}

/// Whether the shadow table `schema.shadow` has libSQL's second shape: its `index_key` is not
/// the primary key. Reads the schema in memory only (no SQL runs).
pub(crate) fn is_keyed(db: Db, schema: &str, shadow: &str) -> SqlResult<bool> {
    db.in_primary_key(schema, shadow, "index_key").map(|pk| !pk)
}

/// The id of the next node of a keyed index: one past the largest.
pub(crate) fn next_id(db: Db, index: &IndexName) -> SqlResult<i64> {
    let mut max = db.prepare(&format!("SELECT max(rowid) FROM {}", index.shadow()))?;
    max.step()?;
    max.int(0).checked_add(1).ok_or_else(|| SqlError::new(SQLITE_FULL, "vector index: no node id left"))
}

/// Node ids for new rows of a keyed index, and the row key of each: the first allocated one
/// past the largest id in the shadow table, the next ones after it.
pub(crate) type Ids = Option<(i64, super::vector_index::KeyMap)>;

/// Gives the row with `key` the next node id of `ids` (started on first use) and records its key.
pub(crate) fn assign(db: Db, index: &IndexName, ids: &mut Ids, key: Key) -> SqlResult<i64> {
    if ids.is_none() {
        *ids = Some((next_id(db, index)?, super::vector_index::KeyMap::default()));
    }
    let (next, map) = ids.as_mut().expect("invariant: just set");
    let id = *next;
    *next = id.checked_add(1).ok_or_else(|| SqlError::new(SQLITE_FULL, "vector index: no node id left"))?;
    map.borrow_mut().insert(id, key);
    Ok(id)
}

/// The node of the row with `key` in a keyed index, if it has one.
pub(crate) fn id_of(db: Db, index: &IndexName, key: &Key) -> SqlResult<Option<i64>> {
    let mut find = db.prepare(&format!("SELECT rowid FROM {} WHERE index_key = ?1", index.shadow()))?;
    key.bind(&mut find, 1)?;
    Ok(if find.step()? { Some(find.int(0)) } else { None })
}

/// The row keys of nodes `ids` of the keyed index whose shadow table is `table` (a qualified
/// name); a node without a row (none should be) answers NULL.
pub(crate) fn keys_of(db: Db, table: &str, ids: impl Iterator<Item = i64>) -> SqlResult<Vec<Key>> {
    let mut find = db.prepare(&format!("SELECT index_key FROM {table} WHERE rowid = ?1"))?;
    ids.map(|id| {
        find.reset();
        find.bind_int(1, id)?;
        Ok(if find.step()? { Key::column(&find, 0) } else { Key::Null })
    })
    .collect()
}

#[cfg(test)]
mod tests {
    use super::affinity;

    #[test]
    fn affinities_follow_sqlite_rules() {
        for (declared, want) in [
            ("INTEGER", "INTEGER"),
            ("int", "INTEGER"),
            ("BIGINT", "INTEGER"),
            ("VARCHAR(10)", "TEXT"),
            ("text", "TEXT"),
            ("CLOB", "TEXT"),
            ("BLOB", "BLOB"),
            ("", "BLOB"),
            ("REAL", "REAL"),
            ("DOUBLE PRECISION", "REAL"),
            ("FLOAT", "REAL"),
            ("NUMERIC", "NUMERIC"),
            ("DECIMAL(10,5)", "NUMERIC"),
            ("CHARINT", "INTEGER"),
            ("BLOBTEXT", "TEXT"),
        ] {
            assert_eq!(affinity(declared), want, "{declared}");
        }
    }
}
