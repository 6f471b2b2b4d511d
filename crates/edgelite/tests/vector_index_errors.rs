//! Issue 14, "errors keep their codes": a failure inside the vector index reaches the caller
//! with SQLite's own result code, not a generic `SQLITE_ERROR`, so that clients retry what can be
//! retried (busy, interrupted), stop on a full disk, and see corruption for what it is.

mod common;

use common::Lcg;
use edgelite::{Connection, ErrorCode, params};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

fn code(e: &edgelite::Error) -> Option<ErrorCode> {
    e.sqlite_error_code()
}

fn fill(conn: &Connection, table: &str, rows: usize, dims: usize, seed: u64) {
    let mut rng = Lcg(seed);
    let tx = conn.unchecked_transaction().expect("begin");
    let mut stmt = conn.prepare(&format!("INSERT INTO {table}(v) VALUES (vector(?1))")).expect("prepare");
    for _ in 0..rows {
        stmt.execute([rng.vector(dims)]).expect("row");
    }
    drop(stmt);
    tx.commit().expect("commit");
}

fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("vector-index-errors");
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let path = dir.join(name);
    for suffix in ["", "-journal", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    path
}

/// A build that runs out of pages fails with SQLITE_FULL, and leaves no index behind.
#[test]
fn a_full_database_is_sqlite_full() {
    let conn = Connection::open_in_memory().expect("open");
    conn.execute_batch("CREATE TABLE t(id INTEGER PRIMARY KEY, v F32_BLOB(64))").expect("table");
    fill(&conn, "t", 400, 64, 1);
    // room for the table, not for the index's node blocks (written by the bridge's own SQL)
    let pages: i64 = conn.query_row("PRAGMA page_count", [], |r| r.get(0)).expect("pages");
    conn.execute_batch(&format!("PRAGMA max_page_count = {}", pages + 8)).expect("cap");
    let e = conn.execute_batch("CREATE INDEX i ON t(libsql_vector_idx(v))").expect_err("no room for the index");
    assert_eq!(code(&e), Some(ErrorCode::DiskFull), "{e}");
    let indexes: i64 = conn
        .query_row("SELECT count(*) FROM sqlite_schema WHERE name IN ('i', 'i_shadow')", [], |r| r.get(0))
        .expect("schema");
    assert_eq!(indexes, 0, "a failed build leaves nothing");

    // the same for one row inserted into an indexed table that has no room left for its node
    conn.execute_batch("PRAGMA max_page_count = 1000000; CREATE INDEX i ON t(libsql_vector_idx(v))").expect("index");
    let pages: i64 = conn.query_row("PRAGMA page_count", [], |r| r.get(0)).expect("pages");
    conn.execute_batch(&format!("PRAGMA max_page_count = {pages}")).expect("cap");
    let mut rng = Lcg(2);
    let mut failed = None;
    for _ in 0..200 {
        if let Err(e) = conn.execute("INSERT INTO t(v) VALUES (vector(?1))", [rng.vector(64)]) {
            failed = Some(e);
            break;
        }
    }
    let e = failed.expect("the database fills up");
    assert_eq!(code(&e), Some(ErrorCode::DiskFull), "{e}");
    assert_eq!(conn.query_row("PRAGMA integrity_check", [], |r| r.get::<_, String>(0)).expect("check"), "ok");
}

/// A node block that does not decode is SQLITE_CORRUPT for a search, as a page that does not
/// decode is.
#[test]
fn a_corrupt_block_is_sqlite_corrupt() {
    let conn = Connection::open_in_memory().expect("open");
    conn.execute_batch(
        "CREATE TABLE t(id INTEGER PRIMARY KEY, v F32_BLOB(8));
         CREATE INDEX i ON t(libsql_vector_idx(v));",
    )
    .expect("schema");
    fill(&conn, "t", 50, 8, 3);
    // the shadow table is writable on a connection without SQLITE_DBCONFIG_DEFENSIVE
    conn.execute_batch("UPDATE i_shadow SET data = X'0102030405'").expect("corrupt every block");
    let e = conn
        .query_row("SELECT count(*) FROM vector_top_k('i', vector('[1,2,3,4,5,6,7,8]'), 5)", [], |r| r.get::<_, i64>(0))
        .expect_err("the blocks do not decode");
    assert_eq!(code(&e), Some(ErrorCode::DatabaseCorrupt), "{e}");
    let e = conn
        .execute("INSERT INTO t(v) VALUES (vector('[1,2,3,4,5,6,7,8]'))", [])
        .expect_err("an insert reads the blocks too");
    assert_eq!(code(&e), Some(ErrorCode::DatabaseCorrupt), "{e}");
}

/// A shadow table another connection holds locked is SQLITE_BUSY (retry), not SQLITE_ERROR.
#[test]
fn a_locked_shadow_table_is_sqlite_busy() {
    let path = scratch("busy.db");
    let writer = Connection::open(&path).expect("open");
    writer
        .execute_batch(
            "PRAGMA journal_mode = DELETE;
             CREATE TABLE t(id INTEGER PRIMARY KEY, v F32_BLOB(4));
             CREATE INDEX i ON t(libsql_vector_idx(v));",
        )
        .expect("schema");
    fill(&writer, "t", 20, 4, 4);
    // the search runs on an attached schema, where the index's own SQL takes the read lock
    let reader = Connection::open_in_memory().expect("open");
    reader.execute("ATTACH ?1 AS aux", [path.to_str().expect("utf-8")]).expect("attach");
    let search = "SELECT count(*) FROM vector_top_k('aux.i', vector('[1,2,3,4]'), 3)";
    assert_eq!(reader.query_row(search, [], |r| r.get::<_, i64>(0)).expect("search"), 3);
    writer.execute_batch("BEGIN EXCLUSIVE; INSERT INTO t(v) VALUES (vector('[4,3,2,1]'));").expect("lock");
    let e = reader.query_row(search, [], |r| r.get::<_, i64>(0)).expect_err("locked out");
    assert_eq!(code(&e), Some(ErrorCode::DatabaseBusy), "{e}");
    writer.execute_batch("COMMIT").expect("commit");
    assert_eq!(reader.query_row(search, [], |r| r.get::<_, i64>(0)).expect("search again"), 3);
}

/// An insert interrupted at any point, inside the index's own statements too (the progress
/// handler runs in them), is SQLITE_INTERRUPT, and never leaves a row without its node (or a
/// node without its row). As in upstream SQLite, a handler that fires after the statement
/// committed (at its very last step) still reports SQLITE_INTERRUPT, with the row in.
#[test]
fn an_interrupted_insert_is_sqlite_interrupt() {
    let conn = Connection::open_in_memory().expect("open");
    conn.execute_batch(
        "CREATE TABLE t(id INTEGER PRIMARY KEY, v F32_BLOB(16));
         CREATE INDEX i ON t(libsql_vector_idx(v));",
    )
    .expect("schema");
    fill(&conn, "t", 300, 16, 5);
    let budget = Arc::new(AtomicU64::new(u64::MAX));
    let b = Arc::clone(&budget);
    // interrupts once `budget` VM steps (of any statement, nested ones included) have run
    conn.progress_handler(1, Some(move || b.fetch_sub(1, Ordering::Relaxed) == 0));
    let mut rng = Lcg(6);
    let mut interrupted = 0;
    for steps in (0..).step_by(29) {
        budget.store(steps, Ordering::Relaxed);
        let result = conn.execute("INSERT INTO t(v) VALUES (vector(?1))", params![rng.vector(16)]);
        budget.store(u64::MAX, Ordering::Relaxed);
        let verdict: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).expect("check");
        assert_eq!(verdict, "ok", "after an insert stopped at step {steps}: {result:?}");
        match result {
            Ok(_) => break,
            Err(e) => {
                assert_eq!(code(&e), Some(ErrorCode::OperationInterrupted), "after {steps} steps: {e}");
                interrupted += 1;
            }
        }
    }
    assert!(interrupted > 10, "the insert took only {interrupted} interruptions to get through");
    let rows: i64 = conn.query_row("SELECT count(*) FROM t", [], |r| r.get(0)).expect("count");
    let nodes: i64 = conn.query_row("SELECT count(*) FROM i_shadow", [], |r| r.get(0)).expect("nodes");
    assert_eq!(rows, nodes, "one node per row");
}
