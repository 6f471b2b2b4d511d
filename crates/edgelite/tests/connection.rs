//! Opening, closing and connection-level queries.

use std::time::Duration;

use edgelite::{Connection, Error, ErrorCode, OpenFlags, OptionalExtension, Result};

#[test]
fn open_file_create_and_reopen() -> Result<()> {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("a.db");
    {
        let conn = Connection::open(&path)?;
        conn.execute_batch("CREATE TABLE t(x); INSERT INTO t VALUES ('kept')")?;
        let p = conn.path().expect("file database has a path");
        assert!(p.ends_with("a.db"), "{p}");
    }
    let conn = Connection::open_with_flags(&path, OpenFlags::READ_ONLY)?;
    assert_eq!(conn.query_row("SELECT x FROM t", [], |r| r.get::<_, String>(0))?, "kept");
    let err = conn.execute("INSERT INTO t VALUES (1)", []).expect_err("read-only");
    assert_eq!(err.sqlite_error_code(), Some(ErrorCode::ReadOnly));
    Ok(())
}

#[test]
fn open_without_create_fails_with_cannot_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    let err = Connection::open_with_flags(dir.path().join("none.db"), OpenFlags::READ_WRITE).expect_err("missing file");
    assert_eq!(err.sqlite_error_code(), Some(ErrorCode::CannotOpen));
    assert!(matches!(err, Error::SqliteFailure { message: Some(_), .. }));
}

#[test]
fn uris_are_understood() -> Result<()> {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("u.db");
    Connection::open(&path)?.execute_batch("CREATE TABLE t(x)")?;
    let uri = format!("file:{}?mode=ro", path.display());
    let conn = Connection::open(&uri)?;
    let err = conn.execute_batch("INSERT INTO t VALUES (1)").expect_err("mode=ro");
    assert_eq!(err.sqlite_error_code(), Some(ErrorCode::ReadOnly));
    // A named shared in-memory database, seen by two connections.
    let flags = OpenFlags::default() | OpenFlags::MEMORY;
    let a = Connection::open_with_flags("file:shared_mem_db?cache=shared", flags)?;
    let b = Connection::open_with_flags("file:shared_mem_db?cache=shared", flags)?;
    a.execute_batch("CREATE TABLE s(x); INSERT INTO s VALUES (5)")?;
    assert_eq!(b.query_row("SELECT x FROM s", [], |r| r.get::<_, i64>(0))?, 5);
    Ok(())
}

#[test]
fn in_memory_has_no_path() -> Result<()> {
    let conn = Connection::open_in_memory()?;
    assert_eq!(conn.path(), None);
    assert!(format!("{conn:?}").contains("Connection"));
    Ok(())
}

#[test]
fn unknown_vfs_is_an_error() {
    let err = Connection::open_with_flags_and_vfs(":memory:", OpenFlags::default(), "no-such-vfs").expect_err("vfs");
    assert!(err.sqlite_error_code().is_some());
}

#[test]
fn execute_counts_changes_and_rowids() -> Result<()> {
    let conn = Connection::open_in_memory()?;
    conn.execute_batch("CREATE TABLE t(id INTEGER PRIMARY KEY, v)")?;
    assert_eq!(conn.execute("INSERT INTO t(v) VALUES (1), (2), (3)", [])?, 3);
    assert_eq!(conn.last_insert_rowid(), 3);
    assert_eq!(conn.changes(), 3);
    assert_eq!(conn.execute("UPDATE t SET v = v + 1 WHERE id > ?1", [1])?, 2);
    assert_eq!(conn.total_changes(), 5);
    Ok(())
}

#[test]
fn execute_refuses_rows_and_multiple_statements() -> Result<()> {
    let conn = Connection::open_in_memory()?;
    assert!(matches!(conn.execute("SELECT 1", []), Err(Error::ExecuteReturnedResults)));
    assert!(matches!(conn.execute("SELECT 1; SELECT 2", []), Err(Error::MultipleStatement)));
    assert!(matches!(conn.prepare("  -- nothing\n"), Err(Error::InvalidQuery)));
    // Trailing semicolons and comments are fine.
    conn.execute("CREATE TABLE t(x); -- done", [])?;
    Ok(())
}

#[test]
fn execute_batch_runs_everything_and_stops_at_the_first_error() -> Result<()> {
    let conn = Connection::open_in_memory()?;
    conn.execute_batch("CREATE TABLE t(x UNIQUE); INSERT INTO t VALUES (1); SELECT * FROM t;")?;
    let err = conn.execute_batch("INSERT INTO t VALUES (2); INSERT INTO t VALUES (1); INSERT INTO t VALUES (3)");
    assert_eq!(err.expect_err("unique").extended_code(), Some(edgelite::ffi::SQLITE_CONSTRAINT_UNIQUE));
    assert_eq!(conn.query_row("SELECT count(*) FROM t", [], |r| r.get::<_, i64>(0))?, 2);
    conn.execute_batch("")?;
    conn.execute_batch("  ;  ")?;
    Ok(())
}

#[test]
fn query_row_and_query_one() -> Result<()> {
    let conn = Connection::open_in_memory()?;
    assert_eq!(conn.query_row("VALUES (1), (2)", [], |r| r.get::<_, i64>(0))?, 1);
    assert!(matches!(conn.query_row("SELECT 1 WHERE 0", [], |r| r.get::<_, i64>(0)), Err(Error::QueryReturnedNoRows)));
    assert_eq!(conn.query_row("SELECT 1 WHERE 0", [], |r| r.get::<_, i64>(0)).optional()?, None);
    assert_eq!(conn.query_one("SELECT 3", [], |r| r.get::<_, i64>(0))?, 3);
    assert!(matches!(
        conn.query_one("VALUES (1), (2)", [], |r| r.get::<_, i64>(0)),
        Err(Error::QueryReturnedMoreThanOneRow)
    ));
    assert!(matches!(conn.query_one("SELECT 1 WHERE 0", [], |r| r.get::<_, i64>(0)), Err(Error::QueryReturnedNoRows)));
    Ok(())
}

#[test]
fn autocommit_tracks_transactions() -> Result<()> {
    let conn = Connection::open_in_memory()?;
    assert!(conn.is_autocommit());
    conn.execute_batch("BEGIN")?;
    assert!(!conn.is_autocommit());
    conn.execute_batch("COMMIT")?;
    assert!(conn.is_autocommit());
    Ok(())
}

#[test]
fn busy_timeout_waits_then_fails_with_busy() -> Result<()> {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("busy.db");
    let a = Connection::open(&path)?;
    a.execute_batch("CREATE TABLE t(x); BEGIN EXCLUSIVE; INSERT INTO t VALUES (1)")?;
    let b = Connection::open(&path)?;
    b.busy_timeout(Duration::from_millis(50))?;
    let started = std::time::Instant::now();
    let err = b.execute("INSERT INTO t VALUES (2)", []).expect_err("locked");
    assert_eq!(err.sqlite_error_code(), Some(ErrorCode::DatabaseBusy));
    assert!(started.elapsed() >= Duration::from_millis(40));
    a.execute_batch("COMMIT")?;
    b.execute("INSERT INTO t VALUES (2)", [])?;
    Ok(())
}

#[test]
fn close_reports_success() -> Result<()> {
    let conn = Connection::open_in_memory()?;
    conn.prepare_cached("SELECT 1")?; // a cached statement does not block closing
    conn.close().map_err(|(_, e)| e)
}

#[test]
fn close_returns_the_connection_on_failure() -> Result<()> {
    let conn = Connection::open_in_memory()?;
    conn.execute_batch("CREATE TABLE t(x); INSERT INTO t VALUES (9)")?;
    // A leaked statement stays unfinalized, so sqlite3_close refuses.
    std::mem::forget(conn.prepare("SELECT x FROM t")?);
    let (conn, err) = conn.close().expect_err("a statement is still open");
    assert_eq!(err.sqlite_error_code(), Some(ErrorCode::DatabaseBusy));
    // The connection is still usable.
    assert_eq!(conn.query_row("SELECT x FROM t", [], |r| r.get::<_, i64>(0))?, 9);
    // Dropping it now uses sqlite3_close_v2, which defers the close: no crash, no error.
    drop(conn);
    Ok(())
}

#[test]
fn interrupt_before_running_is_harmless() -> Result<()> {
    let conn = Connection::open_in_memory()?;
    conn.interrupt();
    conn.execute_batch("CREATE TABLE t(x)")?;
    Ok(())
}

#[test]
fn connections_move_between_threads() -> Result<()> {
    let conn = Connection::open_in_memory()?;
    conn.execute_batch("CREATE TABLE t(x); INSERT INTO t VALUES (1)")?;
    let conn = std::thread::spawn(move || -> Result<Connection> {
        conn.execute("INSERT INTO t VALUES (2)", [])?;
        Ok(conn)
    })
    .join()
    .expect("thread")?;
    assert_eq!(conn.query_row("SELECT sum(x) FROM t", [], |r| r.get::<_, i64>(0))?, 3);
    assert!(edgelite::version().starts_with("3."));
    Ok(())
}

/// `drop_module` removes a module and its eponymous table, and only that: a table of the same
/// name still works, and a name no module has is no error.
#[test]
fn drop_module_removes_the_eponymous_table_only() {
    let conn = Connection::open_in_memory().expect("open");
    let ops: i64 = conn.query_row("SELECT count(*) FROM bytecode('SELECT 1')", [], |r| r.get(0)).expect("bytecode");
    assert!(ops > 0);
    conn.drop_module("bytecode").expect("drop");
    conn.drop_module("no_such_module").expect("a name no module has");
    let err =
        conn.query_row("SELECT count(*) FROM bytecode('SELECT 1')", [], |r| r.get::<_, i64>(0)).expect_err("dropped");
    assert!(err.to_string().contains("no such table"), "{err}");
    conn.execute_batch("CREATE TABLE bytecode(x); INSERT INTO bytecode VALUES (7)").expect("own table");
    let x: i64 = conn.query_row("SELECT x FROM bytecode", [], |r| r.get(0)).expect("read");
    assert_eq!(x, 7);
    // other modules stay
    let n: i64 = conn
        .query_row("SELECT count(*) FROM tables_used('SELECT * FROM sqlite_schema')", [], |r| r.get(0))
        .expect("tables_used");
    assert!(n >= 1, "sqlite_schema is used");
}
