//! libSQL's vector index (`CREATE INDEX ... libsql_vector_idx(col)`, `vector_top_k`) on
//! edgelite: the objects and bytes of libSQL's format, the option errors, the index kept in
//! step with the table through every kind of write, and search quality against brute force.
//! `PRAGMA integrity_check` is run after the DML of every test.

mod common;

use common::Lcg;
use edgelite::{Connection, Result, params};

fn db() -> Connection {
    Connection::open_in_memory().expect("open")
}

fn ok(conn: &Connection) {
    let verdict: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).expect("integrity_check");
    assert_eq!(verdict, "ok");
}

fn top_k(conn: &Connection, index: &str, query: &str, k: i64) -> Vec<i64> {
    let mut stmt = conn.prepare("SELECT id FROM vector_top_k(?1, ?2, ?3)").expect("prepare");
    stmt.query_map(params![index, query, k], |r| r.get(0)).expect("query").collect::<Result<_>>().expect("rows")
}

fn err(conn: &Connection, sql: &str) -> String {
    conn.execute_batch(sql).expect_err(sql).to_string()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

#[test]
fn creates_libsql_objects_and_metadata_byte_for_byte() {
    let conn = db();
    conn.execute_batch(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, v F32_BLOB(3));
         INSERT INTO t VALUES (1, vector('[1,2,3]')), (2, vector('[3,2,1]'));
         CREATE INDEX t_idx ON t (libsql_vector_idx(v, 'compress_neighbors=float32', 'max_neighbors=6', 'alpha=1.2', 'search_l=200'));",
    )
    .expect("create");
    let mut stmt = conn.prepare("SELECT type, name, sql FROM sqlite_schema ORDER BY name").expect("schema");
    let objects: Vec<(String, String, Option<String>)> =
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).expect("q").collect::<Result<_>>().expect("rows");
    let names: Vec<&str> = objects.iter().map(|o| o.1.as_str()).collect();
    assert_eq!(names, ["libsql_vector_meta_shadow", "t", "t_idx", "t_idx_shadow", "t_idx_shadow_idx"]);
    let sql = |name: &str| objects.iter().find(|o| o.1 == name).and_then(|o| o.2.clone()).unwrap_or_default();
    assert_eq!(
        sql("libsql_vector_meta_shadow"),
        "CREATE TABLE libsql_vector_meta_shadow ( name TEXT PRIMARY KEY, metadata BLOB ) WITHOUT ROWID"
    );
    assert_eq!(
        sql("t_idx_shadow"),
        "CREATE TABLE t_idx_shadow (index_key  INTEGER , data BLOB, PRIMARY KEY (index_key))"
    );
    assert_eq!(sql("t_idx_shadow_idx"), "CREATE INDEX t_idx_shadow_idx ON t_idx_shadow (index_key)");

    // libSQL's default parameters on F32_BLOB(3), given as options (edgelite's own defaults
    // differ), as libSQL 0.5.29 writes them for this statement (docs/libsql-vector.md §3.4): the given options,
    // then the derived records.
    let meta: Vec<u8> = conn
        .query_row("SELECT metadata FROM libsql_vector_meta_shadow WHERE name = 't_idx'", [], |r| r.get(0))
        .expect("meta");
    // plus edgelite's write counter (tag 0x80, which libSQL skips), started at a fresh value
    let (ours, meta): (Vec<&[u8]>, Vec<&[u8]>) = meta.chunks(9).partition(|r| r[0] == 0x80);
    assert_eq!(ours.len(), 1);
    let meta = meta.concat();
    assert_eq!(
        hex(&meta),
        "010300000000000000030100000000000000040300000000000000\
         0B01000000000000000A060000000000000007333333333333F33F09C800000000000000\
         020100000000000000050100000000000000060001000000000000084600000000000000"
    );

    // The node block of row 1 (docs/libsql-vector.md §3.5): rowid, one edge, its vector, the neighbour's copy,
    // and at byte 124 the edge's metadata: distance 0.2857143 (2549923E) and neighbour 2.
    let block: Vec<u8> =
        conn.query_row("SELECT data FROM t_idx_shadow WHERE index_key = 1", [], |r| r.get(0)).expect("block");
    assert_eq!(block.len(), 256);
    assert_eq!(hex(&block[..16]), "01000000000000000100000000000000");
    assert_eq!(hex(&block[16..28]), "0000803F0000004000004040");
    assert_eq!(hex(&block[28..40]), "00004040000000400000803F");
    assert_eq!(hex(&block[124..140]), "000000002549923E0200000000000000");
    ok(&conn);
}

#[test]
fn bad_index_definitions_fail_at_prepare_time_with_libsql_texts() {
    let conn = db();
    conn.execute_batch(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, v F32_BLOB(3), w TEXT, b FLOAT1BIT(16), n FLOAT32);
         CREATE TABLE wc (a INTEGER, b INTEGER, v F32_BLOB(3), PRIMARY KEY (a, b)) WITHOUT ROWID;",
    )
    .expect("tables");
    let cases = [
        (
            "CREATE INDEX i ON t (libsql_vector_idx(v) COLLATE NOCASE)",
            "vector index: collation in expression is forbidden",
        ),
        (
            "CREATE INDEX i ON t (libsql_vector_idx(v), w)",
            "vector index: must contain exactly one column wrapped into the libsql_vector_idx function",
        ),
        (
            "CREATE INDEX i ON t (libsql_vector_idx(v || 'x'))",
            "vector index: libsql_vector_idx first argument must be a column token",
        ),
        ("CREATE INDEX i ON t (libsql_vector_idx(v, 3))", "vector index: all arguments after first must be strings"),
        ("CREATE INDEX i ON t (libsql_vector_idx(w))", "vector index: unexpected vector column type: TEXT"),
        ("CREATE INDEX i ON t (libsql_vector_idx(n))", "vector index: unexpected vector column type: FLOAT32"),
        (
            "CREATE INDEX i ON t (libsql_vector_idx(v, 'metric'))",
            "vector index: invalid vector index parameter 'metric': unexpected parameter format",
        ),
        (
            "CREATE INDEX i ON t (libsql_vector_idx(v, 'colour=red'))",
            "vector index: invalid vector index parameter 'colour=red': invalid parameter",
        ),
        (
            "CREATE INDEX i ON t (libsql_vector_idx(v, 'metric=manhattan'))",
            "vector index: invalid vector index parameter 'metric=manhattan': invalid parameter",
        ),
        (
            "CREATE INDEX i ON t (libsql_vector_idx(v, 'search_l=0'))",
            "vector index: invalid vector index parameter 'search_l=0': invalid representation of integer vector index parameter",
        ),
        (
            "CREATE INDEX i ON t (libsql_vector_idx(v, 'search_l=-5'))",
            "vector index: invalid vector index parameter 'search_l=-5': integer vector index parameter must be positive",
        ),
        (
            "CREATE INDEX i ON t (libsql_vector_idx(v, 'alpha=big'))",
            "vector index: invalid vector index parameter 'alpha=big': invalid representation of floating point vector index parameter",
        ),
        (
            "CREATE INDEX i ON t (libsql_vector_idx(b, 'metric=l2'))",
            "vector index: unable to initialize diskann: 1-bit compression available only for cosine metric",
        ),
        // edgelite's own refusals (libSQL crashes on UNIQUE, and edgelite supports rowid tables)
        (
            "CREATE UNIQUE INDEX i ON t (libsql_vector_idx(v))",
            "vector index: UNIQUE is not supported for vector indexes",
        ),
        (
            "CREATE INDEX i ON wc (libsql_vector_idx(v))",
            "vector index: unsupported for tables without ROWID and composite primary key",
        ),
    ];
    for (sql, message) in cases {
        let e = err(&conn, sql);
        assert!(e.contains(message), "{sql}: got {e:?}, want {message:?}");
    }
    let too_many: Vec<String> = (0..12).map(|_| "'search_l=10'".to_owned()).collect();
    let e = err(&conn, &format!("CREATE INDEX i ON t (libsql_vector_idx(v, {}))", too_many.join(", ")));
    assert!(e.contains("vector index: invalid vector index parameter 'search_l=10': unable to serialize"), "{e}");
    // Nothing was created by any of them.
    let n: i64 = conn
        .query_row("SELECT count(*) FROM sqlite_schema WHERE name LIKE 'i%' OR name LIKE 'libsql%'", [], |r| r.get(0))
        .expect("count");
    assert_eq!(n, 0);
    // As a plain function the marker is its first argument; with none it is an error, not garbage.
    let v: String = conn.query_row("SELECT libsql_vector_idx('x', 'metric=l2')", [], |r| r.get(0)).expect("marker");
    assert_eq!(v, "x");
    assert!(conn.query_row("SELECT libsql_vector_idx()", [], |r| r.get::<_, String>(0)).is_err());
}

#[test]
fn every_kind_of_write_keeps_the_index_in_step() {
    let conn = db();
    conn.execute_batch(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, v F32_BLOB(2), tag TEXT);
         CREATE INDEX t_idx ON t (libsql_vector_idx(v));
         INSERT INTO t VALUES (1, vector('[1,0]'), 'a'), (2, vector('[0,1]'), 'b'), (3, NULL, 'c');",
    )
    .expect("setup");
    let nodes =
        |c: &Connection| -> i64 { c.query_row("SELECT count(*) FROM t_idx_shadow", [], |r| r.get(0)).expect("count") };
    assert_eq!(nodes(&conn), 2, "a NULL vector has no node");
    assert_eq!(top_k(&conn, "t_idx", "[1,0.1]", 5), [1, 2]);

    // UPDATE of the vector, of the key, and of another column.
    conn.execute("UPDATE t SET v = vector('[-1,0]') WHERE id = 1", []).expect("update v");
    assert_eq!(top_k(&conn, "t_idx", "[-1,0]", 1), [1]);
    conn.execute("UPDATE t SET id = 10 WHERE id = 2", []).expect("update key");
    assert_eq!(top_k(&conn, "t_idx", "[0,1]", 1), [10]);
    conn.execute("UPDATE t SET tag = 'z'", []).expect("update other");
    assert_eq!(nodes(&conn), 2);

    // REPLACE and UPSERT.
    conn.execute("INSERT OR REPLACE INTO t VALUES (10, vector('[5,5]'), 'r')", []).expect("replace");
    assert_eq!(top_k(&conn, "t_idx", "[1,1]", 1), [10]);
    conn.execute("INSERT INTO t VALUES (3, vector('[0,-1]'), 'u') ON CONFLICT(id) DO UPDATE SET v = excluded.v", [])
        .expect("upsert");
    assert_eq!(top_k(&conn, "t_idx", "[0,-1]", 1), [3]);
    assert_eq!(nodes(&conn), 3);

    // Rollback undoes the index with the table, savepoints too.
    conn.execute_batch("BEGIN; DELETE FROM t WHERE id = 1; SAVEPOINT s; INSERT INTO t VALUES (7, vector('[-1,0.1]'), 'x'); ROLLBACK TO s; RELEASE s; ROLLBACK;").expect("tx");
    assert_eq!(top_k(&conn, "t_idx", "[-1,0]", 1), [1]);
    assert_eq!(nodes(&conn), 3);

    // DELETE with a WHERE, then without one (libSQL leaves the shadow rows behind).
    conn.execute("DELETE FROM t WHERE id = 3", []).expect("delete");
    assert!(!top_k(&conn, "t_idx", "[0,-1]", 10).contains(&3));
    conn.execute("DELETE FROM t", []).expect("truncate");
    assert_eq!(nodes(&conn), 0);
    assert!(top_k(&conn, "t_idx", "[0,1]", 10).is_empty());
    conn.execute("INSERT INTO t VALUES (1, vector('[1,0]'), 'again')", []).expect("reinsert an old rowid");
    assert_eq!(top_k(&conn, "t_idx", "[1,0]", 10), [1]);

    // A wrong dimension or type is refused, and changes nothing.
    let e = conn.execute("INSERT INTO t VALUES (2, vector('[1,2,3]'), 'bad')", []).expect_err("dims");
    assert!(e.to_string().contains("vector index(insert): dimensions are different: 3 != 2"), "{e}");
    let e = conn.execute("INSERT INTO t VALUES (2, vector64('[1,2]'), 'bad')", []).expect_err("type");
    assert!(e.to_string().contains("vector index(insert): vector type differs from column type: 2 != 1"), "{e}");
    let n: i64 = conn.query_row("SELECT count(*) FROM t", [], |r| r.get(0)).expect("count");
    assert_eq!(n, 1);
    ok(&conn);
}

#[test]
fn count_planner_reindex_and_schema_changes() {
    let conn = db();
    conn.execute_batch(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, v F32_BLOB(2));
         INSERT INTO t VALUES (1, vector('[1,0]')), (2, vector('[0,1]')), (3, vector('[1,1]'));
         CREATE INDEX t_idx ON t (libsql_vector_idx(v, 'metric=l2'));
         ANALYZE;",
    )
    .expect("setup");
    // The index's B-tree is empty: it must never answer count(*) (libSQL #1819).
    let n: i64 = conn.query_row("SELECT count(*) FROM t", [], |r| r.get(0)).expect("count");
    assert_eq!(n, 3);
    let plan: String = conn
        .query_row("EXPLAIN QUERY PLAN SELECT * FROM t WHERE libsql_vector_idx(v, 'metric=l2') = x'00'", [], |r| {
            r.get(3)
        })
        .expect("plan");
    assert!(!plan.contains("t_idx"), "the planner must not use the vector index: {plan}");

    conn.execute_batch("REINDEX t_idx; REINDEX t;").expect("reindex");
    assert_eq!(top_k(&conn, "t_idx", "[1,0.9]", 1), [3]);
    conn.execute_batch("ALTER TABLE t RENAME TO u; ALTER TABLE u ADD COLUMN note TEXT;").expect("alter");
    conn.execute("INSERT INTO u(id, v) VALUES (4, vector('[9,9]'))", []).expect("insert after rename");
    assert_eq!(top_k(&conn, "t_idx", "[9,9]", 1), [4]);
    let e = err(&conn, "ALTER TABLE u DROP COLUMN v");
    assert!(e.contains("no such column") || e.contains("t_idx"), "{e}");
    ok(&conn);

    // INSERT ... SELECT into an indexed table goes through the index (no B-tree copy).
    conn.execute_batch(
        "CREATE TABLE w (id INTEGER PRIMARY KEY, v F32_BLOB(2), note TEXT);
         CREATE INDEX w_idx ON w (libsql_vector_idx(v));
         INSERT INTO w SELECT * FROM u;",
    )
    .expect("copy");
    let n: i64 = conn.query_row("SELECT count(*) FROM w_idx_shadow", [], |r| r.get(0)).expect("nodes");
    assert_eq!(n, 4);

    // DROP INDEX and DROP TABLE remove the shadow tables and metadata rows.
    conn.execute_batch("DROP INDEX t_idx; DROP TABLE w;").expect("drop");
    let mut stmt =
        conn.prepare("SELECT name FROM sqlite_schema WHERE name NOT LIKE 'sqlite_%' ORDER BY name").expect("schema");
    let names: Vec<String> = stmt.query_map([], |r| r.get(0)).expect("q").collect::<Result<_>>().expect("rows");
    assert_eq!(names, ["libsql_vector_meta_shadow", "u"]);
    let rows: i64 = conn.query_row("SELECT count(*) FROM libsql_vector_meta_shadow", [], |r| r.get(0)).expect("meta");
    assert_eq!(rows, 0);
    ok(&conn);
}

#[test]
fn preparing_a_drop_changes_nothing() {
    let conn = db();
    conn.execute_batch(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, v F32_BLOB(2));
         CREATE INDEX t_idx ON t (libsql_vector_idx(v));
         INSERT INTO t VALUES (1, vector('[1,0]'));",
    )
    .expect("setup");
    // libSQL drops the shadow table while DROP INDEX is prepared (docs/libsql-vector.md §4.2).
    drop(conn.prepare("DROP INDEX t_idx").expect("prepare"));
    conn.execute_batch("EXPLAIN DROP INDEX t_idx; EXPLAIN DROP TABLE t;").expect("explain");
    assert_eq!(top_k(&conn, "t_idx", "[1,0]", 1), [1]);
    ok(&conn);
}

#[test]
fn vector_top_k_arguments_and_errors() {
    let conn = db();
    conn.execute_batch(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, v F32_BLOB(2));
         CREATE INDEX t_idx ON t (libsql_vector_idx(v));
         INSERT INTO t VALUES (1, vector('[1,0]')), (2, vector('[0,1]'));
         CREATE TABLE plain (x);",
    )
    .expect("setup");
    let q = |sql: &str| conn.query_row(sql, [], |r| r.get::<_, i64>(0));
    assert_eq!(q("SELECT count(*) FROM vector_top_k('t_idx', '[1,0]', 0)").expect("k=0"), 0);
    assert_eq!(q("SELECT count(*) FROM vector_top_k('t_idx', '[1,0]', 100)").expect("big k"), 2);
    assert_eq!(q("SELECT count(*) FROM vector_top_k('t_idx', '[1,0]', CAST(1 AS REAL))").expect("real k"), 1);
    assert_eq!(
        q("SELECT id FROM vector_top_k WHERE idx = 't_idx' AND vector = '[0,1]' AND k = 1").expect("constraint form"),
        2
    );
    // A query vector from another table (libSQL: "xBestIndex malfunction", #1927).
    conn.execute_batch("CREATE TABLE queries (q BLOB); INSERT INTO queries VALUES (vector('[0,1]'));")
        .expect("queries");
    assert_eq!(q("SELECT v.id FROM queries, vector_top_k('t_idx', queries.q, 1) AS v").expect("join"), 2);
    let d: f64 =
        conn.query_row("SELECT distance FROM vector_top_k('t_idx', '[1,0]', 1)", [], |r| r.get(0)).expect("distance");
    assert!(d.abs() < 1e-6, "{d}");
    let cases = [
        (
            "SELECT * FROM vector_top_k('t_idx', '[1,0]', -1)",
            "vector index(search): third parameter (k) must be a non-negative integer, but negative value were provided",
        ),
        (
            "SELECT * FROM vector_top_k('t_idx', '[1,0]', 1.5)",
            "vector index(search): third parameter (k) must be an integer, but float value were provided",
        ),
        (
            "SELECT * FROM vector_top_k('t_idx', '[1,0]', 'x')",
            "vector index(search): third parameter (k) must be an integer, but unexpected type of value were provided",
        ),
        (
            "SELECT * FROM vector_top_k('nope', '[1,0]', 1)",
            "vector index(search): failed to parse vector index parameters",
        ),
        ("SELECT * FROM vector_top_k('nowhere.t_idx', '[1,0]', 1)", "vector index(search): unknown schema 'nowhere'"),
        (
            "SELECT * FROM vector_top_k('t_idx', vector64('[1,0]'), 1)",
            "vector index(search): vector type differs from column type: 2 != 1",
        ),
        (
            "SELECT * FROM vector_top_k('t_idx', '[1,0,0,0]', 1)",
            "vector index(search): dimensions are different: 4 != 2",
        ),
        ("SELECT * FROM vector_top_k('t_idx', '[1,0]')", "vector index(search): got 2 parameters, expected 3"),
    ];
    for (sql, message) in cases {
        let e = conn.query_row(sql, [], |r| r.get::<_, i64>(0)).expect_err(sql).to_string();
        assert!(e.contains(message), "{sql}: got {e:?}, want {message:?}");
    }
}

#[test]
fn attached_and_temp_schemas() {
    let conn = db();
    conn.execute_batch(
        "ATTACH ':memory:' AS aux;
         CREATE TABLE aux.t (id INTEGER PRIMARY KEY, v F32_BLOB(2));
         CREATE INDEX aux.t_idx ON t (libsql_vector_idx(v));
         INSERT INTO aux.t VALUES (1, vector('[1,0]')), (2, vector('[0,1]'));
         CREATE TEMP TABLE tt (id INTEGER PRIMARY KEY, v F32_BLOB(2));
         CREATE INDEX temp.tt_idx ON tt (libsql_vector_idx(v));
         INSERT INTO tt VALUES (5, vector('[1,1]'));",
    )
    .expect("setup");
    assert_eq!(top_k(&conn, "aux.t_idx", "[0,1]", 1), [2]);
    assert_eq!(top_k(&conn, "temp.tt_idx", "[1,1]", 1), [5]);
    let n: i64 =
        conn.query_row("SELECT count(*) FROM aux.libsql_vector_meta_shadow", [], |r| r.get(0)).expect("aux meta");
    assert_eq!(n, 1);
    ok(&conn);
}

#[test]
fn search_matches_brute_force_and_survives_churn() {
    let conn = db();
    let dims = 16;
    conn.execute_batch(&format!(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, v F32_BLOB({dims})); CREATE INDEX t_idx ON t (libsql_vector_idx(v));"
    ))
    .expect("setup");
    let mut rng = Lcg(42);
    conn.execute_batch("BEGIN").expect("begin");
    for id in 1..=600 {
        conn.execute("INSERT INTO t VALUES (?1, vector(?2))", params![id, rng.vector(dims)]).expect("insert");
    }
    // Duplicates (libSQL #2104/#2197): every copy is returned, and survives deleting another.
    let dup = rng.vector(dims);
    for id in 1001..=1003 {
        conn.execute("INSERT INTO t VALUES (?1, vector(?2))", params![id, dup]).expect("dup");
    }
    conn.execute_batch("COMMIT").expect("commit");
    let mut found = top_k(&conn, "t_idx", &dup, 3);
    found.sort_unstable();
    assert_eq!(found, [1001, 1002, 1003]);
    conn.execute("DELETE FROM t WHERE id = 1002", []).expect("delete a copy");
    let mut found = top_k(&conn, "t_idx", &dup, 2);
    found.sort_unstable();
    assert_eq!(found, [1001, 1003]);

    // Churn: delete a third of the rows; no deleted row may come back, and every live row must
    // still be found by searching for its own vector.
    conn.execute("DELETE FROM t WHERE id % 3 = 0", []).expect("churn");
    let mut stmt = conn.prepare("SELECT id, vector_extract(v) FROM t").expect("rows");
    let live: Vec<(i64, String)> =
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).expect("q").collect::<Result<_>>().expect("rows");
    for (id, v) in &live {
        let hits = top_k(&conn, "t_idx", v, 3);
        assert!(hits.contains(id), "row {id} unreachable");
        assert!(hits.iter().all(|h| h % 3 != 0 || *h > 1000), "a deleted row came back: {hits:?}");
    }

    // recall@10 against exact search, at the default settings.
    let mut hits = 0;
    let queries = 50;
    for _ in 0..queries {
        let q = rng.vector(dims);
        let approx = top_k(&conn, "t_idx", &q, 10);
        let mut exact_stmt =
            conn.prepare("SELECT id FROM t ORDER BY vector_distance_cos(v, vector(?1)), id LIMIT 10").expect("exact");
        let exact: Vec<i64> =
            exact_stmt.query_map([&q], |r| r.get(0)).expect("q").collect::<Result<_>>().expect("rows");
        hits += approx.iter().filter(|id| exact.contains(id)).count();
    }
    let recall = hits as f64 / (queries * 10) as f64;
    assert!(recall >= 0.95, "recall@10 = {recall}");
    ok(&conn);
}

/// A database file path of this test process's own, with no file there yet.
fn fresh_file(tag: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("edgelite-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("test.db");
    let _ = std::fs::remove_file(&path);
    path
}

#[test]
fn node_cache_stays_coherent_across_connections_and_rollbacks() {
    let path = fresh_file("cache");
    let a = Connection::open(&path).expect("open a");
    a.execute_batch(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, v F32_BLOB(2));
         CREATE INDEX t_idx ON t (libsql_vector_idx(v));
         INSERT INTO t VALUES (1, vector('[1,0]')), (2, vector('[0,1]'));",
    )
    .expect("setup");
    let b = Connection::open(&path).expect("open b");
    // a's searches fill its cache; b's commit must be seen by a's next search.
    assert_eq!(top_k(&a, "t_idx", "[0.9,0.1]", 1), [1]);
    b.execute("INSERT INTO t VALUES (3, vector('[0.9,0.1]'))", []).expect("b inserts");
    assert_eq!(top_k(&a, "t_idx", "[0.9,0.1]", 1), [3]);
    b.execute("DELETE FROM t WHERE id = 3", []).expect("b deletes");
    assert_eq!(top_k(&a, "t_idx", "[0.9,0.1]", 1), [1]);

    // A write rolled back by a itself leaves nothing behind in its cache.
    a.execute_batch("BEGIN; INSERT INTO t VALUES (4, vector('[0.9,0.1]'));").expect("tx");
    assert_eq!(top_k(&a, "t_idx", "[0.9,0.1]", 1), [4]);
    a.execute_batch("ROLLBACK").expect("rollback");
    assert_eq!(top_k(&a, "t_idx", "[0.9,0.1]", 1), [1]);

    // The limit is per connection; 0 turns the cache off and searches still work.
    let previous: i64 = a.query_row("SELECT edgelite_vector_cache_limit(0)", [], |r| r.get(0)).expect("limit");
    assert_eq!(previous, 256 << 20);
    assert_eq!(top_k(&a, "t_idx", "[0,1]", 1), [2]);
    let current: i64 = a.query_row("SELECT edgelite_vector_cache_limit(NULL)", [], |r| r.get(0)).expect("limit");
    assert_eq!(current, 0);
    assert!(a.query_row("SELECT edgelite_vector_cache_limit(-1)", [], |r| r.get::<_, i64>(0)).is_err());
    drop((a, b));
    let _ = std::fs::remove_dir_all(path.parent().expect("dir"));
}

/// Every node block of index `index`, by rowid.
fn blocks(conn: &Connection, index: &str) -> Vec<(i64, Vec<u8>)> {
    let mut stmt =
        conn.prepare(&format!("SELECT index_key, data FROM {index}_shadow ORDER BY index_key")).expect("prepare");
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).expect("query").collect::<Result<_>>().expect("rows")
}

#[test]
fn building_from_a_filled_table_gives_the_graph_row_by_row_inserts_give() {
    // CREATE INDEX and REINDEX build the graph in memory and write it out at the end; inserts
    // into an indexed table go through the shadow table one row at a time. Below 400 rows a
    // build's batches are single rows, which are inserts: same algorithm, same order, so the
    // blocks must be identical, also when the build runs out of memory half-way and continues
    // row by row (larger builds: `vector_index_build.rs`).
    let mut rng = Lcg(11);
    let rows: Vec<String> = (0..300)
        .map(|i| if i % 37 == 5 { "NULL".to_owned() } else { format!("vector32('{}')", rng.vector(16)) })
        .collect();
    let options = "'compress_neighbors=float8', 'max_neighbors=8'";
    let incremental = db();
    incremental
        .execute_batch(&format!(
            "CREATE TABLE t(id INTEGER PRIMARY KEY, v F32_BLOB(16)); CREATE INDEX t_idx ON t(libsql_vector_idx(v, {options}));"
        ))
        .expect("schema");
    for (i, v) in rows.iter().enumerate() {
        incremental.execute(&format!("INSERT INTO t(id, v) VALUES ({}, {v})", i + 1), []).expect("insert");
    }
    let expected = blocks(&incremental, "t_idx");
    assert_eq!(expected.len(), 300 - 8);
    for limit in [256 << 20, 40_000, 0] {
        let built = db();
        let _: i64 = built.query_row("SELECT edgelite_vector_cache_limit(?1)", [limit], |r| r.get(0)).expect("limit");
        built.execute_batch("CREATE TABLE t(id INTEGER PRIMARY KEY, v F32_BLOB(16));").expect("table");
        for (i, v) in rows.iter().enumerate() {
            built.execute(&format!("INSERT INTO t(id, v) VALUES ({}, {v})", i + 1), []).expect("insert");
        }
        built.execute_batch(&format!("CREATE INDEX t_idx ON t(libsql_vector_idx(v, {options}));")).expect("create");
        assert!(blocks(&built, "t_idx") == expected, "CREATE INDEX, memory limit {limit}");
        built.execute_batch("REINDEX t_idx;").expect("reindex");
        assert!(blocks(&built, "t_idx") == expected, "REINDEX, memory limit {limit}");
        ok(&built);
    }
    ok(&incremental);
}

#[test]
fn a_failed_build_leaves_nothing_behind() {
    let conn = db();
    conn.execute_batch(
        "CREATE TABLE t(id INTEGER PRIMARY KEY, v F32_BLOB(3));
         INSERT INTO t VALUES (1, vector('[1,0,0]')), (2, vector('[0,1,0]')), (3, vector('[0,0,1,0]'));",
    )
    .expect("rows");
    let e = err(&conn, "CREATE INDEX t_idx ON t(libsql_vector_idx(v))");
    assert_eq!(e, "vector index(insert): dimensions are different: 4 != 3");
    let objects: i64 = conn
        .query_row("SELECT count(*) FROM sqlite_schema WHERE name LIKE 't_idx%'", [], |r| r.get(0))
        .expect("schema");
    assert_eq!(objects, 0);
    conn.execute_batch(
        "UPDATE t SET v = vector('[0,0,1]') WHERE id = 3; CREATE INDEX t_idx ON t(libsql_vector_idx(v));",
    )
    .expect("second build");
    assert_eq!(top_k(&conn, "t_idx", "[0,0,1]", 3), vec![3, 1, 2]);
    ok(&conn);
}

#[test]
fn integrity_check_reports_a_damaged_index() {
    let conn = db();
    conn.execute_batch(
        "CREATE TABLE t(id INTEGER PRIMARY KEY, v F32_BLOB(3));
         CREATE INDEX t_idx ON t(libsql_vector_idx(v));
         INSERT INTO t VALUES (1, vector('[1,0,0]')), (2, vector('[0,1,0]')), (3, vector('[0,0,1]'));",
    )
    .expect("rows");
    ok(&conn);
    // quick_check does not read the graph
    let quick: String = conn.query_row("PRAGMA quick_check", [], |r| r.get(0)).expect("quick_check");
    assert_eq!(quick, "ok");
    let verdict = |conn: &Connection| -> String {
        conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).expect("integrity_check")
    };
    // a node whose row is gone
    conn.execute_batch("INSERT INTO t_idx_shadow SELECT 9, data FROM t_idx_shadow WHERE index_key = 2").expect("copy");
    assert_eq!(verdict(&conn), "vector index t_idx: vector index(check): node block 9 holds node 2");
    conn.execute_batch("DELETE FROM t_idx_shadow WHERE index_key = 9").expect("undo");
    ok(&conn);
    // a block overwritten with garbage
    conn.execute_batch("UPDATE t_idx_shadow SET data = zeroblob(10) WHERE index_key = 3").expect("damage");
    let v = verdict(&conn);
    assert!(v.starts_with("vector index t_idx: vector index(check): corrupt node block 3"), "{v}");
}

/// The query plan of `sql`, one detail per line.
fn plan(conn: &Connection, sql: &str) -> String {
    let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).expect("explain");
    // parameters stay unbound (NULL): the plan does not depend on them
    let nulls = vec![None::<i64>; stmt.parameter_count()];
    let rows: Vec<String> = stmt
        .query_map(edgelite::params_from_iter(nulls), |r| r.get(3))
        .expect("plan")
        .collect::<Result<_>>()
        .expect("rows");
    rows.join("\n")
}

#[test]
fn order_by_distance_limit_uses_the_index_and_reranks_exactly() {
    let conn = db();
    conn.execute_batch(
        "CREATE TABLE t(id INTEGER PRIMARY KEY, lang TEXT, v F32_BLOB(8), w F32_BLOB(8));
         CREATE INDEX t_v ON t(libsql_vector_idx(v));
         CREATE INDEX t_w ON t(libsql_vector_idx(w, 'metric=l2'));",
    )
    .expect("schema");
    let mut rng = Lcg(5);
    for i in 0..400 {
        let lang = ["en", "fr", "de"][i % 3];
        conn.execute(
            "INSERT INTO t(lang, v, w) VALUES (?1, vector(?2), vector(?3))",
            params![lang, rng.vector(8), rng.vector(8)],
        )
        .expect("insert");
    }
    let ids = |sql: &str, q: &str| -> Vec<i64> {
        let mut stmt = conn.prepare(sql).expect(sql);
        stmt.query_map([q], |r| r.get(0)).expect("query").collect::<Result<_>>().expect("rows")
    };
    // (query through the index, the same query forced to scan): the index named, as 400 8-d
    // rows are scanned once the connection has read their table's size (SQLite's scan ranks rows
    // of few dimensions for less than the walk costs: tests/vector_filtered.rs); the query
    // without INDEXED BY answers the same
    let pairs = [
        (
            "SELECT id FROM t INDEXED BY t_v ORDER BY vector_distance_cos(v, ?1) LIMIT 10",
            "SELECT id FROM t NOT INDEXED ORDER BY vector_distance_cos(v, ?1) LIMIT 10",
        ),
        (
            "SELECT x.id FROM t AS x INDEXED BY t_v ORDER BY vector_distance_cos(?1, x.v) LIMIT 5 OFFSET 3",
            "SELECT x.id FROM t AS x ORDER BY vector_distance_cos(?1, +x.v) LIMIT 5 OFFSET 3",
        ),
        (
            "SELECT id FROM t INDEXED BY t_v WHERE lang = 'fr' ORDER BY vector_distance_cos(v, vector32(?1)) LIMIT 7",
            "SELECT id FROM t NOT INDEXED WHERE lang = 'fr' ORDER BY vector_distance_cos(v, vector32(?1)) LIMIT 7",
        ),
        (
            "SELECT id FROM t INDEXED BY t_w ORDER BY vector_distance_l2(w, ?1) LIMIT 10",
            "SELECT id FROM t NOT INDEXED ORDER BY vector_distance_l2(w, ?1) LIMIT 10",
        ),
    ];
    for (indexed, scan) in pairs {
        assert!(plan(&conn, indexed).contains("edgelite_vector_scan"), "{indexed}:\n{}", plan(&conn, indexed));
        assert!(!plan(&conn, scan).contains("edgelite_vector_scan"), "{scan}");
        let own = indexed.replace(" INDEXED BY t_v", "").replace(" INDEXED BY t_w", "");
        let (mut hits, mut total) = (0, 0);
        for _ in 0..20 {
            let q = rng.vector(8);
            let (got, want) = (ids(indexed, &q), ids(scan, &q));
            assert_eq!(got.len(), want.len(), "{indexed}");
            assert_eq!(ids(&own, &q).len(), want.len(), "{own}");
            hits += got.iter().filter(|id| want.contains(id)).count();
            total += want.len();
        }
        assert!(hits * 100 >= total * 95, "{indexed}: recall {hits}/{total}");
    }
    // exact re-ranking: the rows come back in exact distance order
    let q = rng.vector(8);
    let mut stmt = conn
        .prepare("SELECT vector_distance_cos(v, ?1) FROM t ORDER BY vector_distance_cos(v, ?1) LIMIT 20")
        .expect("prepare");
    let d: Vec<f64> = stmt.query_map([&q], |r| r.get(0)).expect("query").collect::<Result<_>>().expect("rows");
    assert_eq!(d.len(), 20);
    assert!(d.windows(2).all(|w| w[0] <= w[1]), "{d:?}");
    // left alone: other metric, descending, no or non-literal limit, aggregates, grouping,
    // distinct, compound (joins are rewritten: tests/vector_filtered.rs)
    for sql in [
        "SELECT id FROM t ORDER BY vector_distance_l2(v, '[1,0,0,0,0,0,0,0]') LIMIT 3",
        "SELECT id FROM t ORDER BY vector_distance_cos(v, '[1,0,0,0,0,0,0,0]') DESC LIMIT 3",
        "SELECT id FROM t ORDER BY vector_distance_cos(v, '[1,0,0,0,0,0,0,0]')",
        "SELECT id FROM t ORDER BY vector_distance_cos(v, '[1,0,0,0,0,0,0,0]') LIMIT (SELECT 3)",
        "SELECT id FROM t ORDER BY vector_distance_cos(v, w) LIMIT 3",
        "SELECT count(*) FROM t ORDER BY vector_distance_cos(v, '[1,0,0,0,0,0,0,0]') LIMIT 3",
        "SELECT lang FROM t GROUP BY lang ORDER BY vector_distance_cos(max(v), '[1,0,0,0,0,0,0,0]') LIMIT 3",
        "SELECT DISTINCT lang FROM t ORDER BY vector_distance_cos(v, '[1,0,0,0,0,0,0,0]') LIMIT 3",
        "SELECT id FROM t UNION ALL SELECT id FROM t ORDER BY 1 LIMIT 3",
        "SELECT id FROM t ORDER BY vector_distance_cos(v, '[1,0,0,0,0,0,0,0]') LIMIT 100000",
    ] {
        assert!(!plan(&conn, sql).contains("edgelite_vector_scan"), "{sql}");
    }
    ok(&conn);
}

#[test]
fn without_rowid_tables_with_an_integer_key_are_indexed_by_that_key() {
    // libSQL's first shadow table shape serves any table whose key is one INTEGER column: the
    // node ids are the key values, and every write that moves or removes a row by its key
    // reaches the index as it does for rowids
    let conn = db();
    conn.execute_batch(
        "CREATE TABLE w (k INTEGER PRIMARY KEY, tag TEXT UNIQUE, v F32_BLOB(6)) WITHOUT ROWID;
         CREATE TABLE f (k INTEGER PRIMARY KEY, v F32_BLOB(6)) WITHOUT ROWID;",
    )
    .expect("tables");
    let mut rng = Lcg(77);
    for i in 0..120_i64 {
        let (k, v) = (i * 7 + 1000, rng.vector(6));
        conn.execute("INSERT INTO f VALUES (?1, vector(?2))", params![k, v]).expect("fill f");
    }
    // both ways of building: an index on a filled table, and rows into an indexed one
    conn.execute_batch(
        "CREATE INDEX f_idx ON f (libsql_vector_idx(v, 'max_neighbors=8'));
         CREATE INDEX w_idx ON w (libsql_vector_idx(v, 'max_neighbors=8'));",
    )
    .expect("indexes");
    for i in 0..120_i64 {
        let (k, v) = (i * 7 + 1000, rng.vector(6));
        conn.execute("INSERT INTO w VALUES (?1, ?2, vector(?3))", params![k, format!("t{i}"), v]).expect("fill w");
    }
    ok(&conn);
    // writes by key: a key moved, a vector changed, deletes, a REPLACE, an UPSERT, a rollback
    conn.execute_batch(
        "UPDATE w SET k = 5 WHERE k = 1007;
         UPDATE w SET v = vector('[1,0,0,0,0,0]') WHERE k = 1042;
         DELETE FROM w WHERE k % 3 = 0;
         REPLACE INTO w VALUES (1021, 't3', vector('[0,1,0,0,0,0]'));
         INSERT INTO w VALUES (1028, 'u', vector('[0,0,1,0,0,0]'))
           ON CONFLICT (k) DO UPDATE SET v = excluded.v;
         BEGIN; DELETE FROM w WHERE k < 1100; UPDATE w SET k = k + 1; ROLLBACK;",
    )
    .expect("writes");
    ok(&conn);
    let ints = |sql: &str| -> Vec<i64> {
        let mut stmt = conn.prepare(sql).expect(sql);
        stmt.query_map([], |r| r.get(0)).expect(sql).collect::<Result<_>>().expect(sql)
    };
    let keys = ints("SELECT k FROM w ORDER BY 1");
    assert_eq!(ints("SELECT index_key FROM w_idx_shadow ORDER BY 1"), keys, "one node per row, under its key");
    assert!(keys.contains(&5) && !keys.contains(&1007), "{keys:?}");
    // searches answer with key values, as the exact scan does
    for (table, index) in [("w", "w_idx"), ("f", "f_idx")] {
        let mut hits = 0;
        for _ in 0..10 {
            let q = rng.vector(6);
            let got = top_k(&conn, index, &q, 5);
            let mut stmt = conn
                .prepare(&format!("SELECT k FROM {table} ORDER BY vector_distance_cos(v, vector(?1)), k LIMIT 5"))
                .expect("exact");
            let want: Vec<i64> =
                stmt.query_map([&q], |r| r.get(0)).expect("exact").collect::<Result<_>>().expect("rows");
            hits += got.iter().filter(|id| want.contains(id)).count();
        }
        assert!(hits >= 48, "{index}: recall@5 {hits}/50");
    }
    assert_eq!(top_k(&conn, "w_idx", "[1,0,0,0,0,0]", 1), [1042]);
    assert_eq!(top_k(&conn, "w_idx", "[0,1,0,0,0,0]", 1), [1021]);
    // a key that is not an integer is refused, and the row with it
    let e = err(&conn, "INSERT INTO w VALUES ('x', 'bad', vector('[1,1,1,1,1,1]'))");
    assert!(e.contains("vector index"), "{e}");
    let n: i64 = conn.query_row("SELECT count(*) FROM w WHERE tag = 'bad'", [], |r| r.get(0)).expect("count");
    assert_eq!(n, 0);
    // REINDEX and the truncating DELETE
    conn.execute_batch("REINDEX w_idx; DELETE FROM f;").expect("reindex, truncate");
    let nodes: i64 = conn.query_row("SELECT count(*) FROM f_idx_shadow", [], |r| r.get(0)).expect("nodes");
    assert_eq!(nodes, 0);
    assert_eq!(top_k(&conn, "w_idx", "[1,0,0,0,0,0]", 1), [1042]);
    ok(&conn);
}

#[test]
fn bound_limits_and_offsets_use_the_index_too() {
    // ORMs bind LIMIT and OFFSET: the rewrite then computes the index's K when the statement
    // runs, from the same parameters, and a negative limit (no limit) or an empty one still
    // answers as the scan does
    let conn = db();
    conn.execute_batch(
        "CREATE TABLE t(id INTEGER PRIMARY KEY, lang TEXT, v F32_BLOB(8));
         CREATE INDEX t_v ON t(libsql_vector_idx(v));",
    )
    .expect("schema");
    let mut rng = Lcg(41);
    for i in 0..300 {
        let lang = ["en", "fr", "de"][i % 3];
        conn.execute("INSERT INTO t(lang, v) VALUES (?1, vector(?2))", params![lang, rng.vector(8)]).expect("insert");
    }
    let ids = |sql: &str, q: &str, limit: i64, offset: i64| -> Vec<i64> {
        let mut stmt = conn.prepare(sql).expect(sql);
        let values = [edgelite::types::Value::from(q.to_owned()), limit.into(), offset.into()];
        let bound = values.into_iter().take(stmt.parameter_count());
        stmt.query_map(edgelite::params_from_iter(bound), |r| r.get(0))
            .expect("query")
            .collect::<Result<_>>()
            .expect("rows")
    };
    let pairs = [
        (
            "SELECT id FROM t ORDER BY vector_distance_cos(v, ?1) LIMIT ?2",
            "SELECT id FROM t NOT INDEXED ORDER BY vector_distance_cos(v, ?1) LIMIT ?2",
        ),
        (
            "SELECT id FROM t ORDER BY vector_distance_cos(v, :q) LIMIT :n OFFSET :m",
            "SELECT id FROM t NOT INDEXED ORDER BY vector_distance_cos(v, :q) LIMIT :n OFFSET :m",
        ),
        // `LIMIT a, b` is `LIMIT b OFFSET a`: the same values in the other roles
        (
            "SELECT id FROM t WHERE lang <> 'de' ORDER BY vector_distance_cos(v, ?1) LIMIT ?2, ?3",
            "SELECT id FROM t NOT INDEXED WHERE lang <> 'de' ORDER BY vector_distance_cos(v, ?1) LIMIT ?2, ?3",
        ),
    ];
    for (indexed, scan) in pairs {
        assert!(plan(&conn, indexed).contains("edgelite_vector_scan"), "{indexed}:\n{}", plan(&conn, indexed));
        let (mut hits, mut total) = (0, 0);
        for (limit, offset) in [(10, 0), (3, 4), (25, 10), (1, 0)] {
            for _ in 0..5 {
                let q = rng.vector(8);
                let (got, want) = (ids(indexed, &q, limit, offset), ids(scan, &q, limit, offset));
                assert_eq!(got.len(), want.len(), "{indexed} limit {limit} offset {offset}");
                hits += got.iter().filter(|id| want.contains(id)).count();
                total += want.len();
            }
        }
        assert!(hits * 100 >= total * 95, "{indexed}: recall {hits}/{total}");
        // no limit, an offset past the end, a zero limit, a negative offset: as the scan
        let q = rng.vector(8);
        for (limit, offset) in [(-1, 0), (-1, 290), (5, 1000), (0, 0), (4, -3)] {
            let (mut got, mut want) = (ids(indexed, &q, limit, offset), ids(scan, &q, limit, offset));
            assert_eq!(got.len(), want.len(), "{indexed} limit {limit} offset {offset}");
            got.sort_unstable();
            want.sort_unstable();
            if limit < 0 && offset == 0 {
                // every row, so the same set whatever the index's recall
                assert_eq!(got, want, "{indexed}");
            }
        }
    }
    ok(&conn);
}

#[test]
fn the_node_cache_changes_nothing_through_rollbacks_of_every_kind() {
    // Inside write transactions the index hooks read and write through the connection's node
    // cache, tagged with the index's write counter that every rollback takes back. The same
    // statements on a connection with the cache off must leave byte-identical node blocks and
    // give the same answers: a stale cached block would make the graph writes differ.
    let cached = db();
    let plain = db();
    let _: i64 = plain.query_row("SELECT edgelite_vector_cache_limit(0)", [], |r| r.get(0)).expect("off");
    let mut rng = Lcg(23);
    let mut script = vec![
        "CREATE TABLE t(id INTEGER PRIMARY KEY, tag TEXT UNIQUE, v F32_BLOB(6))".to_owned(),
        "CREATE INDEX t_idx ON t(libsql_vector_idx(v, 'max_neighbors=5'))".to_owned(),
    ];
    let mut insert = |script: &mut Vec<String>, id: i64| {
        script.push(format!("INSERT INTO t VALUES ({id}, 'tag{id}', vector('{}'))", rng.vector(6)));
    };
    for id in 1..=40 {
        insert(&mut script, id);
    }
    script.push("BEGIN".into());
    for id in 41..=60 {
        insert(&mut script, id);
    }
    script.push("SAVEPOINT a".into());
    for id in 61..=70 {
        insert(&mut script, id);
    }
    script.push("DELETE FROM t WHERE id % 4 = 0".into());
    script.push("UPDATE t SET v = vector('[1,0,0,0,0,0]') WHERE id % 7 = 0".into());
    script.push("ROLLBACK TO a".into());
    // a statement that fails half-way: its first rows were indexed, then the UNIQUE tag fails
    script.push("INSERT INTO t SELECT id + 100, CASE WHEN id = 30 THEN 'tag1' ELSE 'new' || id END, v FROM t".into());
    for id in 71..=80 {
        insert(&mut script, id);
    }
    script.push("SAVEPOINT b".into());
    script.push("DELETE FROM t".into());
    insert(&mut script, 500);
    script.push("ROLLBACK TO b".into());
    script.push("REINDEX t_idx".into());
    script.push("DELETE FROM t WHERE id BETWEEN 20 AND 35".into());
    script.push("COMMIT".into());
    script.push("BEGIN".into());
    for id in 81..=90 {
        insert(&mut script, id);
    }
    script.push("ROLLBACK".into());
    for id in 91..=95 {
        insert(&mut script, id);
    }
    for (i, sql) in script.iter().enumerate() {
        let a = cached.execute_batch(sql).map_err(|e| e.to_string());
        let b = plain.execute_batch(sql).map_err(|e| e.to_string());
        assert_eq!(a, b, "{sql}");
        if i >= 2 {
            assert!(blocks(&cached, "t_idx") == blocks(&plain, "t_idx"), "blocks differ after {sql}");
            let q = rng.vector(6);
            assert_eq!(top_k(&cached, "t_idx", &q, 8), top_k(&plain, "t_idx", &q, 8), "after {sql}");
        }
    }
    let live: i64 = cached.query_row("SELECT count(*) FROM t", [], |r| r.get(0)).expect("count");
    assert_eq!(live, 40 + 20 + 10 - 16 + 5);
    ok(&cached);
    ok(&plain);
}

/// `vector_scan` reads the walk in batches and keeps its storage from one batch to the next
/// while nothing can have changed the index. Writes of its own connection between two steps
/// (a delete, an insert that fails half-way and rolls back its own nodes, a committed insert)
/// are seen by the batches after them, as SQLite's cursors see them: every row left comes
/// once, and no deleted or rolled-back row comes at all. On a file, so that commits move the
/// pager's data version and the node cache is tagged as a server's connections use it.
#[test]
fn a_scan_sees_the_writes_of_its_connection_between_batches() {
    let path = fresh_file("scan-writes");
    let conn = Connection::open(&path).expect("open");
    conn.execute_batch(
        "CREATE TABLE t(id INTEGER PRIMARY KEY, v F32_BLOB(8));
         CREATE INDEX t_v ON t(libsql_vector_idx(v, 'metric=l2'));",
    )
    .expect("schema");
    let mut rng = Lcg(35);
    {
        let mut insert = conn.prepare("INSERT INTO t(id, v) VALUES (?1, vector(?2))").expect("prepare");
        for id in 1..=600i64 {
            insert.execute(params![id, rng.vector(8)]).expect("insert");
        }
    }
    let query = "[0,0,0,0,0,0,0,0]";
    // the 200 rows farthest from the query: a walk from the nearest reaches them last
    let mut far = conn
        .prepare("SELECT id FROM t ORDER BY vector_distance_l2(v, vector(?1)) DESC LIMIT 200")
        .expect("far")
        .query_map([query], |r| r.get::<_, i64>(0))
        .expect("far rows")
        .collect::<Result<Vec<i64>>>()
        .expect("far ids");
    far.sort_unstable();
    let mut scan = conn.prepare("SELECT id FROM vector_scan('t_v', vector(?1), 10)").expect("scan");
    let mut rows = scan.query([query]).expect("scan rows");
    let mut got = Vec::new();
    let step = |rows: &mut edgelite::Rows<'_>, n: usize, got: &mut Vec<i64>| {
        for _ in 0..n {
            match rows.next().expect("step") {
                Some(row) => got.push(row.get::<_, i64>(0).expect("id")),
                None => break,
            }
        }
    };
    step(&mut rows, 50, &mut got);
    assert_eq!(got.len(), 50);
    assert!(got.iter().all(|id| far.binary_search(id).is_err()), "the far rows come last: {got:?}");
    let list = far.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
    assert_eq!(conn.execute(&format!("DELETE FROM t WHERE id IN ({list})"), []).expect("delete"), 200);
    step(&mut rows, 50, &mut got);
    // rows next to the query whose insert fails on its last row: the statement's nodes and
    // the back edges they added are rolled back
    let last: i64 = conn.query_row("SELECT max(id) FROM t", [], |r| r.get(0)).expect("max");
    let e = conn
        .execute(
            &format!(
                "INSERT INTO t SELECT id + 10000, CASE WHEN id = {last} THEN vector('[1,2]')
                 ELSE vector('[0,0,0,0,0,0,0,0.001]') END FROM t WHERE id > {last} - 100 ORDER BY id"
            ),
            [],
        )
        .expect_err("a vector of the wrong size fails the statement");
    assert!(e.to_string().contains("dimensions are different"), "{e}");
    step(&mut rows, 50, &mut got);
    // a row that commits: the scan may or may not reach it (rows nearer than it came already),
    // and comes once if it does
    conn.execute("INSERT INTO t VALUES (20000, vector('[0,0,0,0,0,0,0.001,0]'))", []).expect("insert");
    step(&mut rows, usize::MAX, &mut got);
    drop(rows);
    let mut sorted = got.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), got.len(), "a row came twice");
    sorted.retain(|&id| id != 20000);
    let left: Vec<i64> = (1..=600).filter(|id| far.binary_search(id).is_err()).collect();
    assert_eq!(sorted, left, "every row left, once, and no deleted or rolled-back one");
    ok(&conn);
    drop(scan);
    drop(conn);
    let _ = std::fs::remove_dir_all(path.parent().expect("dir"));
}
