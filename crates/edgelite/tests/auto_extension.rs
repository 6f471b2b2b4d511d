//! `sqlite3_reset_auto_extension()` removes the application's auto-extensions, not edgelite's
//! functions: edgelite is a built-in extension of the core (`SQLITE_EXTRA_AUTOEXT`), registered
//! by `openDatabase()` itself, as FTS5 and R*Tree are (see ARCHITECTURE.md and COMPAT.md).
//! A binary of its own: resetting the auto-extension list is process-wide.

use edgelite::{Connection, Result, ffi};

#[test]
fn reset_auto_extension_keeps_edgelite_functions() -> Result<()> {
    let before = Connection::open_in_memory()?;
    // SAFETY: no argument; it only empties SQLite's list of auto-extensions (process-wide, and
    // this test binary registers none of its own).
    unsafe { ffi::sqlite3_reset_auto_extension() };
    let after = Connection::open_in_memory()?;
    for conn in [&before, &after] {
        let v: String = conn.query_row("SELECT vector_extract(vector('[1, 2.5]'))", [], |r| r.get(0))?;
        assert_eq!(v, "[1,2.5]");
        conn.execute_batch("CREATE TABLE t(v F32_BLOB(2)); CREATE INDEX t_v ON t (libsql_vector_idx(v))")?;
        let fts: i64 =
            conn.query_row("SELECT count(*) FROM pragma_module_list WHERE name = 'fts5'", [], |r| r.get(0))?;
        assert_eq!(fts, 1, "the other built-in extensions stay too");
    }
    Ok(())
}
