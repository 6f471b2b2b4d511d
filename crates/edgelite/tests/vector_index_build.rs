//! Issue 14: CREATE INDEX and REINDEX on every core. A build's graph does not depend on the
//! number of threads (`edgelite_vector_build_threads`), every row stays reachable, and the
//! index finds what brute force finds.

mod common;

use common::Lcg;
use edgelite::{Connection, Result};

fn blocks(conn: &Connection) -> Vec<(i64, Vec<u8>)> {
    let mut stmt = conn.prepare("SELECT index_key, data FROM t_idx_shadow ORDER BY index_key").expect("prepare");
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).expect("query").collect::<Result<_>>().expect("rows")
}

/// 3,000 clustered 32-d rows (so batches of up to 15 rows run in parallel).
fn table(conn: &Connection) {
    let mut rng = Lcg(21);
    let centres: Vec<Vec<f32>> = (0..16).map(|_| (0..32).map(|_| rng.next() * 3.0).collect()).collect();
    conn.execute_batch("CREATE TABLE t(id INTEGER PRIMARY KEY, v F32_BLOB(32))").expect("table");
    let tx = conn.unchecked_transaction().expect("begin");
    for i in 0..3000_u64 {
        let c = &centres[(rng.next_u64() % 16) as usize];
        let v: Vec<String> = c.iter().map(|x| format!("{}", x + rng.next() * 0.5)).collect();
        conn.execute("INSERT INTO t(id, v) VALUES (?1, vector(?2))", (i + 1, format!("[{}]", v.join(","))))
            .expect("row");
    }
    tx.commit().expect("commit");
}

fn threads(conn: &Connection, n: Option<i64>) -> i64 {
    conn.query_row("SELECT edgelite_vector_build_threads(?1)", [n], |r| r.get(0)).expect("threads")
}

#[test]
fn one_thread_or_several_build_the_same_index() {
    let cores = std::thread::available_parallelism().map_or(1, usize::from) as i64;
    let mut built = Vec::new();
    for n in [1, 2, 3] {
        let conn = Connection::open_in_memory().expect("open");
        assert_eq!(threads(&conn, None), cores, "one per core by default");
        assert_eq!(threads(&conn, Some(n)), cores);
        assert_eq!(threads(&conn, None), n);
        table(&conn);
        conn.execute_batch("CREATE INDEX t_idx ON t(libsql_vector_idx(v, 'metric=l2'))").expect("create");
        let verdict: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).expect("check");
        assert_eq!(verdict, "ok", "{n} threads: every row reachable, one node per row");
        let b = blocks(&conn);
        assert_eq!(b.len(), 3000);
        conn.execute_batch("REINDEX t_idx").expect("reindex");
        assert!(blocks(&conn) == b, "{n} threads: REINDEX builds the same graph");
        // the index answers as brute force does for most queries
        let mut hits = 0;
        for id in (1..=3000).step_by(150) {
            let q: Vec<u8> = conn.query_row("SELECT v FROM t WHERE id = ?1", [id], |r| r.get(0)).expect("q");
            let ids = |sql: &str| -> Vec<i64> {
                let mut s = conn.prepare(sql).expect("prepare");
                s.query_map([&q], |r| r.get(0)).expect("query").collect::<Result<_>>().expect("rows")
            };
            let approx = ids("SELECT id FROM vector_top_k('t_idx', ?1, 10)");
            let exact = ids("SELECT id FROM t ORDER BY vector_distance_l2(v, ?1), id LIMIT 10");
            hits += approx.iter().filter(|i| exact.contains(i)).count();
        }
        assert!(hits >= 190, "{n} threads: recall@10 {hits}/200");
        built.push(b);
    }
    assert!(built[1] == built[0], "2 threads build what 1 builds");
    assert!(built[2] == built[0], "3 threads build what 1 builds");
}

#[test]
fn the_thread_count_is_checked() {
    let conn = Connection::open_in_memory().expect("open");
    for bad in ["-1", "1025", "'two'", "1.5"] {
        let e = conn
            .query_row(&format!("SELECT edgelite_vector_build_threads({bad})"), [], |r| r.get::<_, i64>(0))
            .expect_err(bad);
        assert!(e.to_string().contains("from 0 (one per core) to 1024"), "{bad}: {e}");
    }
    assert_eq!(threads(&conn, Some(0)), std::thread::available_parallelism().map_or(1, usize::from) as i64);
}

fn build_limit(conn: &Connection, bytes: Option<i64>) -> i64 {
    conn.query_row("SELECT edgelite_vector_build_limit(?1)", [bytes], |r| r.get(0)).expect("build limit")
}

/// A build larger than its memory budget writes its blocks out and carries on in batches over
/// the shadow table: the index is the one an unbounded build makes, block for block.
#[test]
fn a_build_past_its_memory_budget_builds_the_same_index() {
    let mut built = Vec::new();
    // the default (all in memory), about 150 blocks (the cache then keeps about 75)
    for limit in [None, Some(200_000)] {
        let conn = Connection::open_in_memory().expect("open");
        assert_eq!(build_limit(&conn, None), 1 << 30, "1 GiB by default");
        if let Some(bytes) = limit {
            assert_eq!(build_limit(&conn, Some(bytes)), 1 << 30);
            assert_eq!(build_limit(&conn, None), bytes);
        }
        threads(&conn, Some(2));
        table(&conn);
        conn.execute_batch("CREATE INDEX t_idx ON t(libsql_vector_idx(v, 'metric=l2'))").expect("create");
        let verdict: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).expect("check");
        assert_eq!(verdict, "ok", "limit {limit:?}");
        let b = blocks(&conn);
        assert_eq!(b.len(), 3000);
        if limit.is_some() {
            // a budget of 0 keeps no block between batches
            assert_eq!(build_limit(&conn, Some(0)), 200_000);
            conn.execute_batch("REINDEX t_idx").expect("reindex");
            assert!(blocks(&conn) == b, "REINDEX with a budget of 0 builds the same graph");
        }
        built.push(b);
    }
    assert!(built[1] == built[0], "a budget of 150 blocks builds what an unbounded build does");
}

#[test]
fn the_build_limit_is_checked() {
    let conn = Connection::open_in_memory().expect("open");
    for bad in ["-1", "'big'", "1.5"] {
        let e = conn
            .query_row(&format!("SELECT edgelite_vector_build_limit({bad})"), [], |r| r.get::<_, i64>(0))
            .expect_err(bad);
        assert!(e.to_string().contains("non-negative integer (bytes)"), "{bad}: {e}");
    }
}

/// The keyed index's blocks (libSQL's second shadow-table shape: node ids are the shadow rows'
/// own rowids), after checking that each row's `index_key` is the key `printf('k%05d', rowid)`.
fn keyed_blocks(conn: &Connection, index: &str) -> Vec<(i64, Vec<u8>)> {
    let bad: i64 = conn
        .query_row(
            &format!("SELECT count(*) FROM {index}_shadow WHERE index_key IS NOT printf('k%05d', rowid)"),
            [],
            |r| r.get(0),
        )
        .expect("keys");
    assert_eq!(bad, 0, "{index}: every node keeps its row's key");
    let mut stmt = conn.prepare(&format!("SELECT rowid, data FROM {index}_shadow ORDER BY rowid")).expect("prepare");
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).expect("query").collect::<Result<_>>().expect("rows")
}

/// A WITHOUT ROWID table keyed by TEXT gets libSQL's second shadow-table shape. With keys in the
/// order of a rowid table's ids, its rows get the same node ids (1, 2, ...), so the index must be
/// the rowid table's, block for block: built in memory, built past its memory budget, or kept
/// row by row through inserts and deletes; and its searches answer the same rows, by key.
#[test]
fn a_text_keyed_index_is_the_rowid_tables_index_under_other_names() {
    for limit in [None, Some(200_000)] {
        let conn = Connection::open_in_memory().expect("open");
        threads(&conn, Some(2));
        if let Some(bytes) = limit {
            build_limit(&conn, Some(bytes));
        }
        table(&conn);
        conn.execute_batch(
            "CREATE TABLE w(k TEXT PRIMARY KEY, v F32_BLOB(32)) WITHOUT ROWID;
             INSERT INTO w SELECT printf('k%05d', id), v FROM t;
             CREATE INDEX t_idx ON t(libsql_vector_idx(v, 'metric=l2'));
             CREATE INDEX w_idx ON w(libsql_vector_idx(v, 'metric=l2'));",
        )
        .expect("build");
        let verdict: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).expect("check");
        assert_eq!(verdict, "ok", "limit {limit:?}");
        assert!(keyed_blocks(&conn, "w_idx") == blocks(&conn), "limit {limit:?}: CREATE INDEX builds the same graph");

        // row by row: deletes, then inserts into the indexed tables (new keyed nodes are numbered
        // one past the largest, so the new rowids follow on too)
        conn.execute_batch(
            "DELETE FROM t WHERE id % 7 = 0;
             DELETE FROM w WHERE CAST(substr(k, 2) AS INT) % 7 = 0;
             INSERT INTO t(id, v)
               SELECT 3000 + row_number() OVER (ORDER BY id),
                      vector_concat(vector_slice(v, 16, 32), vector_slice(v, 0, 16))
               FROM t WHERE id <= 300;
             INSERT INTO w SELECT printf('k%05d', id), v FROM t WHERE id > 3000;",
        )
        .expect("dml");
        let verdict: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).expect("check");
        assert_eq!(verdict, "ok", "limit {limit:?}, after DML");
        assert!(keyed_blocks(&conn, "w_idx") == blocks(&conn), "limit {limit:?}: inserts and deletes keep them equal");

        for id in (1..=3000).step_by(250) {
            let q: Vec<u8> =
                conn.query_row("SELECT v FROM t WHERE id >= ?1 ORDER BY id LIMIT 1", [id], |r| r.get(0)).expect("q");
            let by_id: Vec<String> = {
                let mut s =
                    conn.prepare("SELECT printf('k%05d', id) FROM vector_top_k('t_idx', ?1, 10)").expect("prepare");
                s.query_map([&q], |r| r.get(0)).expect("query").collect::<Result<_>>().expect("rows")
            };
            let by_key: Vec<String> = {
                let mut s = conn.prepare("SELECT id FROM vector_top_k('w_idx', ?1, 10)").expect("prepare");
                s.query_map([&q], |r| r.get(0)).expect("query").collect::<Result<_>>().expect("rows")
            };
            assert_eq!(by_key, by_id, "query {id}");
            let scanned: Vec<String> = {
                let mut s = conn.prepare("SELECT id FROM vector_scan('w_idx', ?1) LIMIT 10").expect("prepare");
                s.query_map([&q], |r| r.get(0)).expect("query").collect::<Result<_>>().expect("rows")
            };
            assert_eq!(scanned.len(), 10, "query {id}: vector_scan answers keys too");
            assert!(scanned.iter().all(|k| k.starts_with('k')), "query {id}: {scanned:?}");
        }
    }
}
