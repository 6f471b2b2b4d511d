//! The process's vector node cache budget (`edgelite_vector_cache_process_limit`), which every
//! connection's cache counts against. One test in a binary of its own: the budget is the whole
//! process's, and another test's searches running beside it would count too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use edgelite::{Connection, VectorCacheBudget};

fn filled() -> Connection {
    let conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(
        "CREATE TABLE t(v F32_BLOB(8));
         CREATE INDEX t_v ON t (libsql_vector_idx(v));
         WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 300)
         INSERT INTO t SELECT vector('[' || (x % 7) || ',' || (x % 11) || ',' || (x % 13) || ',1,2,3,4,' || x || ']')
           FROM n;",
    )
    .unwrap();
    conn
}

/// Ids of the 40 nearest rows to three queries.
fn search(conn: &Connection) -> Vec<i64> {
    let mut ids = Vec::new();
    for q in ["[1,2,3,4,5,6,7,8]", "[6,10,12,1,2,3,4,300]", "[0,0,0,1,2,3,4,150]"] {
        let sql = format!("SELECT id FROM vector_top_k('t_v', vector('{q}'), 40)");
        let mut stmt = conn.prepare(&sql).unwrap();
        let found: Vec<i64> = stmt.query_map([], |r| r.get(0)).unwrap().collect::<Result<_, _>>().unwrap();
        assert_eq!(found.len(), 40);
        ids.extend(found);
    }
    ids
}

fn limit(conn: &Connection, set: Option<i64>) -> i64 {
    conn.query_row("SELECT edgelite_vector_cache_process_limit(?1)", [set], |r| r.get(0)).unwrap()
}

#[test]
fn the_process_budget_bounds_every_connections_cache_together() {
    let process = VectorCacheBudget::process();
    let first = filled();
    assert_eq!(limit(&first, None), i64::MAX, "no limit by default");
    let expected = search(&first);
    let alone = process.used();
    assert!(alone > 0, "a search caches the blocks it read");

    // Ten connections under a limit of twice what one caches: together they stay under it, and
    // every search still finds what the first did.
    assert_eq!(limit(&first, Some(i64::try_from(2 * alone).unwrap())), i64::MAX);
    assert_eq!(limit(&first, None), i64::try_from(2 * alone).unwrap());
    let others: Vec<Connection> = (0..10).map(|_| filled()).collect();
    for conn in &others {
        assert_eq!(search(conn), expected);
        assert!(process.used() <= 2 * alone, "{} past {}", process.used(), 2 * alone);
    }
    let cached: Vec<usize> = others.iter().map(Connection::release_vector_cache).collect();
    assert_eq!(cached[0], alone, "the first of them had room for all it read");
    assert!(cached[2..].iter().all(|&c| c == 0), "the later ones had none: {cached:?}");
    assert_eq!(process.used(), alone, "released, their bytes came back");

    // Closing gives back too; with none left, nothing is counted.
    drop(others);
    drop(first);
    assert_eq!(process.used(), 0);

    // Wrong arguments are errors.
    let conn = Connection::open_in_memory().unwrap();
    for bad in ["-1", "'x'", "1.5"] {
        let err = conn
            .query_row(&format!("SELECT edgelite_vector_cache_process_limit({bad})"), [], |r| r.get::<_, i64>(0))
            .expect_err(bad);
        assert!(err.to_string().contains("non-negative integer"), "{err}");
    }
}
