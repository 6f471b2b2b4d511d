//! Issue 14, per-transaction hooks (method table version 3): inside a transaction a vector index
//! holds the rows inserted into it back, and adds them when the transaction needs them (a
//! search, a delete, a savepoint, the COMMIT). These tests check what users can observe: every
//! search sees every row, a rollback of a statement, a savepoint or the transaction drops
//! exactly what it undoes, a COMMIT that cannot add the rows fails and leaves nothing, and no
//! end state ever has a row without its node (`PRAGMA integrity_check`).

mod common;

use common::Lcg;
use edgelite::{Connection, ErrorCode, params};

fn held(conn: &Connection) -> i64 {
    conn.query_row("SELECT coalesce(sum(rows), 0) FROM edgelite_vector_pending", [], |r| r.get(0)).expect("pending")
}

fn count(conn: &Connection, sql: &str) -> i64 {
    conn.query_row(sql, [], |r| r.get(0)).unwrap_or_else(|e| panic!("{sql}: {e}"))
}

fn sound(conn: &Connection) {
    let verdict: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).expect("integrity");
    assert_eq!(verdict, "ok");
}

fn insert(conn: &Connection, rng: &mut Lcg, ids: std::ops::Range<i64>) {
    let mut stmt = conn.prepare("INSERT INTO t(id, v) VALUES (?1, vector(?2))").expect("prepare");
    for id in ids {
        stmt.execute(params![id, rng.vector(8)]).expect("insert");
    }
}

fn table() -> Connection {
    let conn = Connection::open_in_memory().expect("open");
    conn.execute_batch(
        "CREATE TABLE t(id INTEGER PRIMARY KEY, v F32_BLOB(8));
         CREATE INDEX t_v ON t(libsql_vector_idx(v, 'metric=l2'));",
    )
    .expect("schema");
    conn
}

#[test]
fn rows_are_held_back_and_every_search_sees_them() {
    let conn = table();
    let mut rng = Lcg(1);
    conn.execute_batch("BEGIN").expect("begin");
    insert(&conn, &mut rng, 1..301);
    assert_eq!(held(&conn), 300, "single-row inserts in a transaction are held back");
    // a search adds them first: a k above the row count returns every row
    assert_eq!(count(&conn, "SELECT count(*) FROM vector_top_k('t_v', vector('[0,0,0,0,0,0,0,0]'), 400)"), 300);
    assert_eq!(held(&conn), 0);
    insert(&conn, &mut rng, 301..401);
    // so does the planner's rewrite (vector_scan), and a delete of a held row
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM (SELECT id FROM t ORDER BY vector_distance_l2(v, vector('[1,1,1,1,1,1,1,1]')) LIMIT 1000)"
        ),
        400
    );
    insert(&conn, &mut rng, 401..451);
    conn.execute("DELETE FROM t WHERE id = 420", []).expect("delete");
    assert_eq!(held(&conn), 0);
    insert(&conn, &mut rng, 451..471);
    // and a statement that reads the shadow table itself (a dump inside the transaction)
    assert_eq!(count(&conn, "SELECT count(*) FROM t_v_shadow"), 469);
    assert_eq!(held(&conn), 0);
    insert(&conn, &mut rng, 471..501);
    conn.execute_batch("COMMIT").expect("commit");
    assert_eq!(held(&conn), 0, "the commit adds them");
    assert_eq!(count(&conn, "SELECT count(*) FROM t_v_shadow"), 499);
    sound(&conn);
    assert_eq!(count(&conn, "SELECT count(*) FROM vector_top_k('t_v', vector('[0,0,0,0,0,0,0,0]'), 600)"), 499);
}

#[test]
fn rollbacks_drop_what_they_undo() {
    let conn = table();
    let mut rng = Lcg(2);
    // the transaction
    conn.execute_batch("BEGIN").expect("begin");
    insert(&conn, &mut rng, 1..101);
    conn.execute_batch("ROLLBACK").expect("rollback");
    assert_eq!((held(&conn), count(&conn, "SELECT count(*) FROM t_v_shadow")), (0, 0));
    // a savepoint: rows before it stay, rows after it go
    conn.execute_batch("BEGIN").expect("begin");
    insert(&conn, &mut rng, 1..81);
    conn.execute_batch("SAVEPOINT a").expect("savepoint");
    assert_eq!(held(&conn), 0, "a savepoint adds the rows before it");
    insert(&conn, &mut rng, 81..161);
    conn.execute_batch("ROLLBACK TO a; RELEASE a").expect("rollback to");
    assert_eq!(held(&conn), 0);
    insert(&conn, &mut rng, 161..181);
    conn.execute_batch("COMMIT").expect("commit");
    assert_eq!(count(&conn, "SELECT count(*) FROM t"), 100);
    assert_eq!(count(&conn, "SELECT count(*) FROM t_v_shadow"), 100);
    sound(&conn);
    // a statement: an INSERT ... SELECT that fails half-way drops its own rows only
    conn.execute_batch("BEGIN").expect("begin");
    insert(&conn, &mut rng, 1000..1070);
    let e = conn
        .execute(
            "INSERT INTO t SELECT id + 5000, CASE WHEN id = 1050 THEN vector('[1,2]') ELSE v END FROM t WHERE id >= 1000",
            [],
        )
        .expect_err("a bad row fails the statement");
    assert!(e.to_string().contains("dimensions are different"), "{e}");
    assert_eq!(held(&conn), 0, "the failed statement's rows are gone, the earlier ones were added when it began");
    conn.execute_batch("COMMIT").expect("commit");
    assert_eq!(count(&conn, "SELECT count(*) FROM t"), 170);
    assert_eq!(count(&conn, "SELECT count(*) FROM t_v_shadow"), 170);
    sound(&conn);
}

#[test]
fn a_row_refused_by_a_second_index_leaves_none_in_the_first() {
    let conn = Connection::open_in_memory().expect("open");
    conn.execute_batch(
        "CREATE TABLE t(id INTEGER PRIMARY KEY, a F32_BLOB(4), b F32_BLOB(3));
         CREATE INDEX t_a ON t(libsql_vector_idx(a));
         CREATE INDEX t_b ON t(libsql_vector_idx(b));",
    )
    .expect("schema");
    conn.execute_batch("BEGIN").expect("begin");
    for id in 1..=100i64 {
        let b = if id % 10 == 0 { "[1,2]" } else { "[1,2,3]" };
        let r = conn.execute("INSERT INTO t VALUES (?1, vector('[1,2,3,4]'), vector(?2))", params![id, b]);
        assert_eq!(r.is_err(), id % 10 == 0, "row {id}: {r:?}");
    }
    conn.execute_batch("COMMIT").expect("commit");
    assert_eq!(count(&conn, "SELECT count(*) FROM t"), 90);
    assert_eq!(count(&conn, "SELECT count(*) FROM t_a_shadow"), 90, "no node for a row that failed");
    assert_eq!(count(&conn, "SELECT count(*) FROM t_b_shadow"), 90);
    sound(&conn);
}

#[test]
fn keyed_tables_and_triggers_hold_rows_back_too() {
    let conn = Connection::open_in_memory().expect("open");
    conn.execute_batch(
        "CREATE TABLE k(name TEXT PRIMARY KEY, v F32_BLOB(4)) WITHOUT ROWID;
         CREATE INDEX k_v ON k(libsql_vector_idx(v));
         CREATE TABLE src(name TEXT, x REAL);
         CREATE TRIGGER copy AFTER INSERT ON src BEGIN
           INSERT INTO k VALUES (new.name, vector('[' || new.x || ',1,2,3]'));
         END;",
    )
    .expect("schema");
    conn.execute_batch("BEGIN").expect("begin");
    for i in 0..120 {
        conn.execute("INSERT INTO src VALUES (?1, ?2)", params![format!("n{i}"), f64::from(i)]).expect("insert");
    }
    // a statement that fires a trigger has a statement journal, whose savepoint adds the rows
    // of the statements before it: the last statement's row is still held back
    assert_eq!(held(&conn), 1, "rows inserted by a trigger are held back");
    // a direct read of the shadow table finds every row (it adds them first)
    assert_eq!(count(&conn, "SELECT count(*) FROM k_v_shadow"), 120);
    assert_eq!(held(&conn), 0);
    // a delete by key of a row still held back
    conn.execute("DELETE FROM k WHERE name = 'n7'", []).expect("delete");
    conn.execute_batch("COMMIT").expect("commit");
    assert_eq!(count(&conn, "SELECT count(*) FROM k_v_shadow"), 119);
    sound(&conn);
    let nearest: String =
        conn.query_row("SELECT id FROM vector_top_k('k_v', vector('[7,1,2,3]'), 1)", [], |r| r.get(0)).expect("search");
    assert_ne!(nearest, "n7", "the deleted row has no node");
    assert!(nearest == "n6" || nearest == "n8", "{nearest}");
}

/// A 64-d indexed table (after `setup`) with room for 150 more rows but not for their node
/// blocks, and an open transaction holding 150 rows back.
fn held_without_room(setup: &str) -> Connection {
    let conn = Connection::open_in_memory().expect("open");
    conn.execute_batch(&format!(
        "CREATE TABLE t(id INTEGER PRIMARY KEY, v F32_BLOB(64));
         CREATE INDEX t_v ON t(libsql_vector_idx(v)); {setup}"
    ))
    .expect("schema");
    let pages = count(&conn, "PRAGMA page_count");
    conn.execute_batch(&format!("PRAGMA max_page_count = {}", pages + 12)).expect("cap");
    let mut rng = Lcg(5);
    conn.execute_batch("BEGIN").expect("begin");
    for id in 1..=150i64 {
        conn.execute("INSERT INTO t VALUES (?1, vector(?2))", params![id, rng.vector(64)]).expect("held back");
    }
    conn
}

/// A COMMIT that cannot add the rows held back (no room left) fails with SQLITE_FULL, and
/// SQLite rolls the transaction back: nothing of it is in the table or the index.
#[test]
fn a_commit_without_room_for_the_rows_fails_whole() {
    let conn = held_without_room("");
    let e = conn.execute_batch("COMMIT").expect_err("no room for the index");
    assert_eq!(e.sqlite_error_code(), Some(ErrorCode::DiskFull), "{e}");
    assert!(conn.is_autocommit(), "SQLite rolled the transaction back");
    assert_eq!(count(&conn, "SELECT count(*) FROM t"), 0);
    assert_eq!(count(&conn, "SELECT count(*) FROM t_v_shadow"), 0);
    assert_eq!(held(&conn), 0);
    sound(&conn);
}

/// An interrupt that stops a search while it adds the rows held back, at any point: the
/// transaction either goes on with every row indexed, or (if the index may hold part of them)
/// refuses the index and its COMMIT, which rolls everything back. Never a committed row
/// without its node.
#[test]
fn an_interrupted_flush_never_commits_half_an_index() {
    for ops in [50, 500, 5_000, 50_000, 500_000] {
        let conn = table();
        let mut rng = Lcg(6);
        conn.execute_batch("BEGIN").expect("begin");
        insert(&conn, &mut rng, 1..201);
        let calls = std::cell::Cell::new(0u32);
        conn.progress_handler(
            ops,
            Some(move || {
                calls.set(calls.get() + 1);
                calls.get() > 1
            }),
        );
        let first =
            conn.query_row("SELECT count(*) FROM vector_top_k('t_v', vector('[0,0,0,0,0,0,0,0]'), 300)", [], |r| {
                r.get::<_, i64>(0)
            });
        conn.progress_handler(0, None::<fn() -> bool>);
        let second =
            conn.query_row("SELECT count(*) FROM vector_top_k('t_v', vector('[0,0,0,0,0,0,0,0]'), 300)", [], |r| {
                r.get::<_, i64>(0)
            });
        let committed = conn.execute_batch("COMMIT");
        if !conn.is_autocommit() {
            conn.execute_batch("ROLLBACK").expect("rollback");
        }
        let rows = count(&conn, "SELECT count(*) FROM t");
        assert_eq!(
            rows,
            count(&conn, "SELECT count(*) FROM t_v_shadow"),
            "ops {ops}: {first:?} {second:?} {committed:?}"
        );
        assert_eq!(held(&conn), 0);
        sound(&conn);
        match (&second, &committed) {
            (Ok(200), Ok(())) => assert_eq!(rows, 200),
            (Err(_), Err(_)) => assert_eq!(rows, 0, "a refused index rolls the transaction back"),
            other => panic!("ops {ops}: first {first:?}, then {other:?}"),
        }
    }
}

/// A one-row UPDATE whose new vector the index refuses fails whole: the row keeps its old
/// vector and its node (the delete of the node is taken back with the statement).
#[test]
fn a_refused_update_keeps_the_old_node() {
    let conn = table();
    let mut rng = Lcg(7);
    insert(&conn, &mut rng, 1..21);
    for tx in [false, true] {
        if tx {
            conn.execute_batch("BEGIN").expect("begin");
        }
        let e = conn.execute("UPDATE t SET v = vector('[1,2]') WHERE id = 3", []).expect_err("wrong size");
        assert!(e.to_string().contains("dimensions are different"), "{e}");
        let e = conn
            .execute("INSERT INTO t VALUES (4, vector('[1]')) ON CONFLICT(id) DO UPDATE SET v = excluded.v", [])
            .expect_err("wrong size");
        assert!(e.to_string().contains("dimensions are different"), "{e}");
        if tx {
            conn.execute_batch("COMMIT").expect("commit");
        }
        assert_eq!(count(&conn, "SELECT count(*) FROM t_v_shadow"), 20, "in a transaction: {tx}");
        sound(&conn);
    }
}

/// A search whose flush runs out of room fails; SQLite rolls the transaction back, and once
/// there is room again the index answers as before (the failure does not outlive it).
#[test]
fn a_flush_that_rolls_the_transaction_back_leaves_the_index_usable() {
    let conn = held_without_room("INSERT INTO t VALUES (1000, vector(zeroblob(256)));");
    let search = "SELECT count(*) FROM vector_top_k('t_v', vector(zeroblob(256)), 10)";
    let e = conn.query_row(search, [], |r| r.get::<_, i64>(0)).expect_err("no room for the held rows");
    assert_eq!(e.sqlite_error_code(), Some(ErrorCode::DiskFull), "{e}");
    assert!(conn.is_autocommit(), "SQLite rolled the transaction back");
    conn.execute_batch("PRAGMA max_page_count = 1000000").expect("room");
    assert_eq!(count(&conn, search), 1, "the index answers again");
    assert_eq!(count(&conn, "SELECT count(*) FROM t"), 1);
    sound(&conn);
}

/// A shadow table read through a subquery in FROM finds the held rows too.
#[test]
fn a_subquery_over_the_shadow_table_finds_the_held_rows() {
    let conn = table();
    let mut rng = Lcg(9);
    conn.execute_batch("BEGIN").expect("begin");
    insert(&conn, &mut rng, 1..41);
    assert_eq!(count(&conn, "SELECT count(*) FROM (SELECT index_key FROM t_v_shadow WHERE index_key > 0)"), 40);
    assert_eq!(held(&conn), 0);
    conn.execute_batch("COMMIT").expect("commit");
}
