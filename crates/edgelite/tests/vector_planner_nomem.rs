//! Out of memory while the planner rewrites a vector query, or while the index is kept up: the
//! statement fails with SQLITE_NOMEM and the process goes on. A reviewer's sweep of
//! `PRAGMA hard_heap_limit` over a filtered `ORDER BY vector_distance_cos(...) LIMIT n` found a
//! segfault: the rewrite handed its LIMIT expression to a call that frees its operands when it
//! cannot allocate, while a copy of the same expression was made in another argument of that
//! call. The heap limit is the whole process's, so this test has a binary of its own.

use edgelite::{Connection, ErrorCode};

/// Sets the process's hard heap limit (0: none) and returns the previous one.
fn hard_heap_limit(bytes: i64) -> i64 {
    // SAFETY: sqlite3_hard_heap_limit64 takes a plain integer and is thread-safe; a limit set too
    // low makes allocations fail, which every caller here expects.
    unsafe { edgelite::ffi::sqlite3_hard_heap_limit64(bytes) }
}

/// The statements of the reviewer's sweep: the rewrite's shapes (filters, OFFSET, a partial
/// index, a join, a subquery, INSERT ... SELECT) and the index's upkeep.
const STATEMENTS: &[&str] = &[
    "SELECT id FROM t ORDER BY vector_distance_cos(v, vector('[1,2,3,4]')) LIMIT 10",
    "SELECT id FROM t WHERE a = 1 ORDER BY vector_distance_cos(v, vector('[1,2,3,4]')) LIMIT 10 OFFSET 3",
    "SELECT id FROM t WHERE a > 1 ORDER BY vector_distance_cos(v, vector('[1,2,3,4]')) LIMIT ?1",
    "SELECT id FROM t WHERE b LIKE 'x1%' AND a > 0 ORDER BY vector_distance_cos(v, vector('[1,2,3,4]')) LIMIT 10",
    "SELECT id FROM t WHERE a IN (1, 2) ORDER BY vector_distance_cos(v, vector('[1,2,3,4]')) LIMIT 10",
    "SELECT id FROM t WHERE a = 2 ORDER BY vector_distance_cos(v, vector('[1,2,3,4]')) LIMIT 10",
    "SELECT x.id FROM t AS x JOIN u ON u.tid = x.id WHERE x.a = 1 \
     ORDER BY vector_distance_cos(x.v, vector('[1,2,3,4]')) LIMIT 10",
    "SELECT count(*) FROM (SELECT id FROM t WHERE a IN (1, 3) ORDER BY vector_distance_cos(v, vector('[1,2,3,4]')) LIMIT 10)",
    "INSERT INTO s SELECT id FROM t WHERE a = 3 ORDER BY vector_distance_cos(v, vector('[1,2,3,4]')) LIMIT 10",
    "SELECT id FROM vector_top_k('i', vector('[1,2,3,4]'), 10)",
    "INSERT INTO t(a, b, v) VALUES (1, 'x', vector('[4,3,2,1]'))",
    "UPDATE t SET v = vector('[1,1,1,2]') WHERE id = 17",
    "DELETE FROM t WHERE id = 29",
];

#[test]
fn running_out_of_memory_in_a_vector_statement_is_sqlite_nomem() {
    let conn = Connection::open_in_memory().expect("open");
    conn.execute_batch(
        "CREATE TABLE t(id INTEGER PRIMARY KEY, a INT, b TEXT, v F32_BLOB(4));
         CREATE INDEX i ON t(libsql_vector_idx(v));
         CREATE INDEX i2 ON t(libsql_vector_idx(v)) WHERE a = 2;
         CREATE TABLE u(tid);
         CREATE TABLE s(x);
         WITH RECURSIVE n(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM n WHERE k < 300)
         INSERT INTO t SELECT k, k % 5, 'x' || k,
             vector('[' || (k % 7) || ',' || (k % 11 + 1) || ',' || (k % 13) || ',' || (k % 3 + 1) || ']') FROM n;
         INSERT INTO u SELECT id FROM t WHERE id % 3 = 1;",
    )
    .expect("load");
    let mut failed = 0;
    for sql in STATEMENTS {
        // every allocation the statement makes, from its first to past its last: up to 24 KB
        // more than the connection holds, in steps of an odd size so that they land anywhere
        for extra in (0..24_000).step_by(61) {
            hard_heap_limit(edgelite::memory_used() + extra);
            let result = conn.prepare(sql).and_then(|mut stmt| {
                let mut rows = if sql.contains("?1") { stmt.query([10])? } else { stmt.query([])? };
                while rows.next()?.is_some() {}
                Ok(())
            });
            hard_heap_limit(0);
            if let Err(e) = result {
                assert_eq!(e.sqlite_error_code(), Some(ErrorCode::OutOfMemory), "{sql}, {extra} bytes: {e}");
                failed += 1;
            }
        }
    }
    assert!(failed > 0, "the limits never made a statement fail: the test tests nothing");
    // the tables and their indexes are whole, and the rewrite still answers as the scan does
    let verdict: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).expect("integrity");
    assert_eq!(verdict, "ok");
    let count = |sql: &str| -> i64 { conn.query_row(sql, [], |r| r.get(0)).expect("count") };
    for from in ["t", "t NOT INDEXED"] {
        let n = count(&format!(
            "SELECT count(*) FROM (SELECT id FROM {from} WHERE a IN (1, 3) \
             ORDER BY vector_distance_cos(v, vector('[1,2,3,4]')) LIMIT 50)"
        ));
        assert_eq!(n, 50, "{from}");
    }
}
