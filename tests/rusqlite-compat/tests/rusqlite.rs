//! rusqlite from crates.io, unmodified, running on edgelite's core through the shim.

use rusqlite::{Connection, ErrorCode, OptionalExtension, params};

fn open() -> Connection {
    Connection::open_in_memory().expect("open in-memory database")
}

#[test]
fn rusqlite_runs_on_the_edgelite_core() {
    let db = open();
    // Our core, not some other libsqlite3: the version we vendor and a function only we have.
    assert_eq!(rusqlite::version(), "3.54.1");
    let ours: String = db.query_row("SELECT edgelite_version()", [], |r| r.get(0)).expect("edgelite_version()");
    assert_eq!(ours, "0.1.0");
}

#[test]
fn statements_parameters_and_rows() {
    let db = open();
    db.execute_batch("CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT NOT NULL, score REAL, data BLOB)").expect("ddl");
    let mut insert = db.prepare("INSERT INTO t(name, score, data) VALUES (?1, ?2, ?3)").expect("prepare");
    for i in 0..50 {
        insert.execute(params![format!("n{i}"), f64::from(i) / 2.0, vec![i as u8; 3]]).expect("insert");
    }
    drop(insert);
    assert_eq!(db.last_insert_rowid(), 50);
    let total: f64 = db.query_row("SELECT sum(score) FROM t", [], |r| r.get(0)).expect("sum");
    assert!((total - 612.5).abs() < 1e-9);
    let blob: Vec<u8> = db.query_row("SELECT data FROM t WHERE name = 'n7'", [], |r| r.get(0)).expect("blob");
    assert_eq!(blob, [7, 7, 7]);
    let missing: Option<String> =
        db.query_row("SELECT name FROM t WHERE id = 999", [], |r| r.get(0)).optional().expect("query");
    assert_eq!(missing, None);
}

#[test]
fn errors_carry_sqlite_codes_and_messages() {
    let db = open();
    db.execute_batch("CREATE TABLE u(x UNIQUE)").expect("ddl");
    db.execute("INSERT INTO u VALUES (1)", []).expect("first insert");
    let err = db.execute("INSERT INTO u VALUES (1)", []).expect_err("duplicate must fail");
    assert_eq!(err.sqlite_error_code(), Some(ErrorCode::ConstraintViolation));
    assert!(err.to_string().contains("UNIQUE constraint failed: u.x"), "{err}");
    let err = db.prepare("SELEC 1").expect_err("syntax error");
    assert!(err.to_string().contains("syntax error"), "{err}");
}

#[test]
fn transactions_roll_back() {
    let mut db = open();
    db.execute_batch("CREATE TABLE t(x)").expect("ddl");
    {
        let tx = db.transaction().expect("begin");
        tx.execute("INSERT INTO t VALUES (1)", []).expect("insert");
        // dropped without commit: rolled back
    }
    let n: i64 = db.query_row("SELECT count(*) FROM t", [], |r| r.get(0)).expect("count");
    assert_eq!(n, 0);
}

#[test]
fn user_functions_and_compiled_in_extensions() {
    let db = open();
    db.create_scalar_function("twice", 1, rusqlite::functions::FunctionFlags::SQLITE_DETERMINISTIC, |ctx| {
        Ok(ctx.get::<i64>(0)? * 2)
    })
    .expect("create function");
    let v: i64 = db.query_row("SELECT twice(21)", [], |r| r.get(0)).expect("twice");
    assert_eq!(v, 42);
    // FTS5, JSON, math functions and R*Tree are compiled into our core.
    db.execute_batch(
        "CREATE VIRTUAL TABLE docs USING fts5(body);
         INSERT INTO docs VALUES ('edge databases'), ('vector search at the edge');
         CREATE VIRTUAL TABLE r USING rtree(id, x0, x1);",
    )
    .expect("fts5 + rtree");
    let hits: i64 = db.query_row("SELECT count(*) FROM docs WHERE docs MATCH 'edge'", [], |r| r.get(0)).expect("match");
    assert_eq!(hits, 2);
    let j: String = db.query_row("SELECT json_extract('{\"a\":[1,2]}', '$.a')", [], |r| r.get(0)).expect("json");
    assert_eq!(j, "[1,2]");
    let p: f64 = db.query_row("SELECT pi()", [], |r| r.get(0)).expect("math");
    assert!((p - std::f64::consts::PI).abs() < 1e-12);
}

#[test]
fn blobs_backup_and_hooks() {
    let src = open();
    src.execute_batch("CREATE TABLE b(data BLOB); INSERT INTO b VALUES (zeroblob(16));").expect("ddl");
    {
        let mut blob = src.blob_open(rusqlite::MAIN_DB, "b", "data", 1, false).expect("blob_open");
        use std::io::Write;
        blob.write_all(b"edgelite").expect("write blob");
    }
    let mut dst = open();
    {
        let backup = rusqlite::backup::Backup::new(&src, &mut dst).expect("backup");
        backup.step(-1).expect("step");
    }
    let data: Vec<u8> = dst.query_row("SELECT data FROM b", [], |r| r.get(0)).expect("read copy");
    assert_eq!(&data[..8], b"edgelite");

    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = seen.clone();
    dst.update_hook(Some(move |_: rusqlite::hooks::Action, _: &str, table: &str, rowid: i64| {
        sink.lock().expect("hook lock").push((table.to_owned(), rowid));
    }))
    .expect("update hook");
    dst.execute("INSERT INTO b VALUES (x'01')", []).expect("insert");
    assert_eq!(*seen.lock().expect("lock"), [("b".to_owned(), 2)]);
}
