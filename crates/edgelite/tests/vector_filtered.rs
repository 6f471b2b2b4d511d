//! Filtered nearest-neighbour queries through the planner's rewrite (issue 13): `SELECT ...
//! WHERE <filter> ORDER BY vector_distance_*(col, q) LIMIT n [OFFSET m]` must return exactly as
//! many rows as the same query forced to scan (`NOT INDEXED`), at every selectivity, for every
//! filter form, and nearly the same rows.

mod common;

use common::Lcg;
use edgelite::types::Value;
use edgelite::{Connection, OpenFlags, Result, Statement, params, params_from_iter};

const DIMS: usize = 12;

/// `rows` rows in `clusters` clusters: `cluster` is correlated with the vector, `bucket = id %
/// 1000` is not; `tag` is text, `v` the indexed vector.
fn table(rows: usize, clusters: usize, seed: u64) -> (Connection, Queries) {
    let conn = Connection::open_in_memory().expect("open");
    conn.execute_batch(
        "CREATE TABLE t(id INTEGER PRIMARY KEY, cluster INT, bucket INT, tag TEXT, v F32_BLOB(12));
         CREATE INDEX t_v ON t(libsql_vector_idx(v));",
    )
    .expect("schema");
    let mut rng = Lcg(seed);
    let centres: Vec<Vec<f32>> = (0..clusters).map(|_| (0..DIMS).map(|_| rng.next()).collect()).collect();
    let tx = conn.unchecked_transaction().expect("tx");
    for id in 1..=rows as i64 {
        let c = (rng.next_u64() % clusters as u64) as usize;
        let v: Vec<String> = centres[c].iter().map(|x| format!("{}", x + 0.15 * rng.next())).collect();
        let tag = format!("{}-{}", ["red", "green", "blue"][(id % 3) as usize], id % 7);
        conn.execute(
            "INSERT INTO t VALUES (?1, ?2, ?3, ?4, vector(?5))",
            params![id, c as i64, id % 1000, tag, format!("[{}]", v.join(","))],
        )
        .expect("insert");
    }
    tx.commit().expect("commit");
    (conn, Queries { rng, centres })
}

/// Query vectors drawn as the rows are (near a cluster centre), as users' queries are near
/// their data; uniformly random queries sit among near-ties where no index ranks well.
struct Queries {
    rng: Lcg,
    centres: Vec<Vec<f32>>,
}

impl Queries {
    fn vector(&mut self) -> String {
        let c = (self.rng.next_u64() % self.centres.len() as u64) as usize;
        let v: Vec<String> = self.centres[c].iter().map(|x| format!("{}", x + 0.2 * self.rng.next())).collect();
        format!("[{}]", v.join(","))
    }
    fn next_u64(&mut self) -> u64 {
        self.rng.next_u64()
    }
}

fn ids(conn: &Connection, sql: &str, args: &[Value]) -> Vec<i64> {
    let mut stmt = conn.prepare(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    stmt.query_map(params_from_iter(args.iter().take(stmt.parameter_count())), |r| r.get(0))
        .expect("query")
        .collect::<Result<_>>()
        .expect("rows")
}

/// `t(id INTEGER PRIMARY KEY, <column> INT, v F32_BLOB(dims))` with a vector index (`options`:
/// more of its arguments, each after a comma), rows 1 to `rows` inserted in one transaction,
/// `<column> = id % modulus` and random vectors drawn by `Lcg(seed)`, returned to draw queries.
fn random_table(column: &str, dims: usize, options: &str, rows: i64, modulus: i64, seed: u64) -> (Connection, Lcg) {
    let conn = Connection::open_in_memory().expect("open");
    conn.execute_batch(&format!(
        "CREATE TABLE t(id INTEGER PRIMARY KEY, {column} INT, v F32_BLOB({dims}));
         CREATE INDEX t_v ON t(libsql_vector_idx(v{options}));"
    ))
    .expect("schema");
    let mut rng = Lcg(seed);
    let tx = conn.unchecked_transaction().expect("tx");
    for id in 1..=rows {
        conn.execute("INSERT INTO t VALUES (?1, ?2, vector(?3))", params![id, id % modulus, rng.vector(dims)])
            .expect("insert");
    }
    tx.commit().expect("commit");
    (conn, rng)
}

/// Runs prepared `stmt` for a query vector drawn by `rng` and checks that it answers as `scan`.
fn answers_as(conn: &Connection, stmt: &mut Statement<'_>, scan: &str, rng: &mut Queries) {
    let q = Value::from(rng.vector());
    let got: Vec<i64> =
        stmt.query_map([&q], |r| r.get(0)).expect("query").collect::<Result<_>>().expect("the prepared one");
    assert_eq!(got, ids(conn, scan, &[q]));
}

fn plan(conn: &Connection, sql: &str) -> String {
    let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).expect("explain");
    let nulls = vec![None::<i64>; stmt.parameter_count()];
    let rows: Vec<String> =
        stmt.query_map(params_from_iter(nulls), |r| r.get(3)).expect("plan").collect::<Result<_>>().expect("rows");
    rows.join("\n")
}

/// The indexed and the forced-scan form of a query with `FILTER` in place of the WHERE clause.
fn pair(filter: &str, tail: &str) -> (String, String) {
    let q = |from: &str| format!("SELECT id FROM {from} WHERE {filter} ORDER BY vector_distance_cos(v, ?1) {tail}");
    (q("t"), q("t NOT INDEXED"))
}

/// Whether `shown`, a filtered query's plan, may be the plain scan that the planner prepares once
/// this connection has read that `t`'s size (its rows as the planner reckons them: the rowid
/// span, or SQLite's estimate where the rowids are sparse; the sample's `edgelite_rows`) is
/// under the size for the walk (S = k + ceil(k/10), k the literal LIMIT plus OFFSET of `tail`):
/// the larger of 32 S and, for vectors of d < 128 dimensions (`t.v`'s declared type), 2 (100 +
/// S) (128 - d) / 16. It is then the scan and nothing of the rewrite, and the size, read now,
/// under twice that (the plan is kept until the size reaches that). A test that runs such a
/// query has let the connection read the size.
fn small_scan(conn: &Connection, shown: &str, tail: &str) -> bool {
    let words: Vec<&str> = tail.split_whitespace().collect();
    let number = |key: &str| words.windows(2).find(|w| w[0] == key).map(|w| w[1].parse::<i64>().ok());
    let (Some(Some(limit)), offset) = (number("LIMIT"), number("OFFSET")) else { return false };
    let Some(offset) = offset.unwrap_or(Some(0)) else { return false };
    let k = limit + offset.max(0);
    let s = k + (k + 9) / 10;
    let declared: String =
        conn.query_row("SELECT type FROM pragma_table_info('t') WHERE name = 'v'", [], |r| r.get(0)).expect("type");
    let dims: i64 = declared.trim_end_matches(')').rsplit('(').next().and_then(|d| d.trim().parse().ok()).unwrap_or(0);
    let few = if dims > 0 && dims < 128 { 2 * (100 + s) * (128 - dims) / 16 } else { 0 };
    let size: i64 = conn
        .query_row("SELECT coalesce(max(edgelite_rows), 0) FROM edgelite_vector_sample('main', 't', 1)", [], |r| {
            r.get(0)
        })
        .expect("size");
    small_plan(shown) && size < 2 * (32 * s).max(few)
}

/// Whether `shown` is the plan of a statement the planner left to SQLite's scan because the
/// table is small: nothing of the rewrite, and EXPLAIN QUERY PLAN's row that says why.
fn small_plan(shown: &str) -> bool {
    !shown.contains("edgelite")
        && shown
            .lines()
            .any(|l| l.starts_with("VECTOR INDEX ") && l.contains(" NOT USED: ") && l.contains(" rows under "))
}

/// Runs `filter` for `queries` random vectors, through the table's own plan (the scan, where
/// the table is small for the walk) and, where `t` has the vector index `t_v`, through the
/// rewrite whatever the size (INDEXED BY); asserts the scan's row counts for both and no row
/// twice, and returns (hits, total) of the rewrite's rows (of the table's own plan without
/// `t_v`), so that a caller's recall bar measures the index even on a small table.
fn compare(
    conn: &Connection,
    rng: &mut Queries,
    filter: &str,
    tail: &str,
    extra: &[Value],
    queries: usize,
) -> (usize, usize) {
    let (indexed, scan) = pair(filter, tail);
    let shown = plan(conn, &indexed);
    assert!(shown.contains("edgelite_vector_scan") || small_scan(conn, &shown, tail), "{indexed}:\n{shown}");
    let has_t_v = conn
        .query_row("SELECT count(*) FROM sqlite_master WHERE name = 't_v' AND tbl_name = 't'", [], |r| {
            r.get::<_, i64>(0)
        })
        .expect("t_v")
        == 1;
    let forced = has_t_v.then(|| indexed.replacen("FROM t ", "FROM t INDEXED BY t_v ", 1));
    if let Some(forced) = &forced {
        let shown = plan(conn, forced);
        assert!(shown.contains("edgelite_vector_scan"), "{forced}:\n{shown}");
    }
    let (mut hits, mut total) = (0, 0);
    for _ in 0..queries {
        let mut args = vec![Value::from(rng.vector())];
        args.extend_from_slice(extra);
        let want = ids(conn, &scan, &args);
        let own = ids(conn, &indexed, &args);
        assert_eq!(own.len(), want.len(), "{indexed} with {extra:?}");
        let (got, sql) = match &forced {
            Some(forced) => (ids(conn, forced, &args), forced),
            None => (own, &indexed),
        };
        assert_eq!(got.len(), want.len(), "{sql} with {extra:?}");
        let mut unique = got.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), got.len(), "no row twice: {sql}");
        hits += got.iter().filter(|id| want.contains(id)).count();
        total += want.len();
    }
    (hits, total)
}

#[test]
fn every_selectivity_returns_as_many_rows_as_the_scan() {
    let (conn, mut rng) = table(4000, 20, 13);
    for with_index in [false, true] {
        if with_index {
            conn.execute_batch("CREATE INDEX t_bucket ON t(bucket); CREATE INDEX t_cluster ON t(cluster);")
                .expect("index");
        }
        // (filter, fraction of rows): uncorrelated, then correlated with the vectors
        let filters = [
            ("bucket < 1000", 1.0),
            ("bucket < 500", 0.5),
            ("bucket < 100", 0.1),
            ("bucket < 10", 0.01),
            ("bucket = 7", 0.001),
            ("id = 1234", 0.00025),
            ("bucket = 5000", 0.0),
            ("cluster < 10", 0.5),
            ("cluster = 3", 0.05),
            ("cluster IN (1, 2) AND bucket < 300", 0.03),
        ];
        for (filter, fraction) in filters {
            let (hits, total) = compare(&conn, &mut rng, filter, "LIMIT 10", &[], 10);
            let recall = if total == 0 { 1.0 } else { hits as f64 / total as f64 };
            eprintln!("index on filter: {with_index}, {filter} ({fraction}): recall {recall:.3} over {total} rows");
            assert!(recall >= 0.95, "{filter}: recall {recall}");
            if !with_index && !filter.starts_with("id ") {
                // no ordinary index serves the filter: a sample of the table chooses between the
                // walk and an exact scan of the rows that pass, and EXPLAIN QUERY PLAN says so
                let (indexed, _) = pair(filter, "LIMIT 10");
                let shown = plan(&conn, &indexed);
                assert!(shown.contains("filter sample") && shown.contains("graph walk"), "{indexed}:\n{shown}");
                if fraction <= 0.01 {
                    // 40 rows or fewer pass (a sample finds about 1 in 64): the walk would read
                    // a large share of the table, so the rows that pass are ranked exactly
                    assert_eq!(hits, total, "{filter}: exact through the sampled choice");
                }
            }
            if with_index && fraction * 4000.0 <= 1000.0 {
                // at most 1,000 rows pass, through an ordinary index: read and ranked exactly
                assert_eq!(hits, total, "{filter}: exact through the filter's index");
            }
        }
    }
}

/// A filter that every row passes ranks at least as well as no filter: the filtered walk's
/// first rows are those a search of the index's own width ranks, as the unfiltered one's, and
/// it takes more of them. At half that width (as it once was) a filtered query lost recall as
/// the table grew (`filtered -- --synthetic 100000`: 0.951 against 0.983); here, on a graph
/// made sparse on purpose, it found 567 of the 1,000 true neighbours where no filter found 668
/// (705 now).
#[test]
fn a_filter_every_row_passes_ranks_as_well_as_none() {
    let (conn, mut rng) = random_table("bucket", 32, ", 'max_neighbors=6', 'search_l=60'", 3000, 1000, 7);
    let q = |filter: &str, from: &str| {
        format!("SELECT id FROM {from} {filter} ORDER BY vector_distance_cos(v, vector(?1)) LIMIT 10")
    };
    let (mut filtered, mut unfiltered) = (0, 0);
    for _ in 0..100 {
        let args = [Value::from(rng.vector(32))];
        let exact = ids(&conn, &q("", "t NOT INDEXED"), &args);
        let hits = |sql: &str| ids(&conn, sql, &args).iter().filter(|id| exact.contains(id)).count();
        filtered += hits(&q("WHERE bucket >= 0", "t"));
        unfiltered += hits(&q("", "t"));
    }
    assert!(plan(&conn, &q("WHERE bucket >= 0", "t")).contains("edgelite_vector_scan"));
    assert!(unfiltered > 0, "the unfiltered query uses the index and finds neighbours");
    assert!(filtered >= unfiltered, "true neighbours found: {filtered} with the filter, {unfiltered} without");
}

#[test]
fn every_filter_form_and_offset() {
    let (conn, mut rng) = table(1500, 10, 17);
    let forms: [(&str, &[Value]); 9] = [
        ("bucket % 50 = 0 OR tag LIKE 'red-1'", &[]),
        ("id IN (3, 7, 11, 900, 1400)", &[]),
        ("tag LIKE 'blue-%' AND bucket BETWEEN 100 AND 140", &[]),
        ("cluster IN (SELECT cluster FROM t WHERE id < 4)", &[]),
        ("bucket < ?2", &[Value::Integer(30)]),
        ("t.bucket >= :lo AND t.bucket < :lo + 20", &[Value::Integer(500)]),
        ("EXISTS (SELECT 1 FROM t AS u WHERE u.id = t.id + 1 AND u.bucket % 3 = 0) AND bucket < 200", &[]),
        ("rowid % 97 = 5", &[]),
        ("NOT (bucket > 2)", &[]),
    ];
    for (filter, extra) in forms {
        for tail in ["LIMIT 5", "LIMIT 3 OFFSET 2", "LIMIT 40", "LIMIT 1000"] {
            let (hits, total) = compare(&conn, &mut rng, filter, tail, extra, 4);
            assert!(hits * 100 >= total * 95, "{filter} {tail}: recall {hits}/{total}");
        }
    }
    // an alias, and a bound limit and offset
    let sql =
        "SELECT x.id FROM t AS x WHERE x.tag = 'green-2' ORDER BY vector_distance_cos(x.v, ?1) LIMIT ?2 OFFSET ?3";
    let scan = sql.replace("FROM t AS x", "FROM t AS x NOT INDEXED");
    assert!(plan(&conn, sql).contains("edgelite_vector_scan"));
    for (n, m) in [(5, 0), (2, 3), (-1, 0), (-1, 60), (0, 0), (4, -3), (10, 5000)] {
        let args = [Value::from(rng.vector()), Value::Integer(n), Value::Integer(m)];
        assert_eq!(ids(&conn, sql, &args).len(), ids(&conn, &scan, &args).len(), "limit {n} offset {m}");
    }
}

/// The planner reads an index's metric as CREATE INDEX does (libSQL's rule): any
/// case-insensitive prefix of `cosine` or `l2`. It read only `cosine` and `l2` (any case), so an
/// index made with `'metric=cos'` was never used: the query scanned (and failed on a row
/// without a vector), and `INDEXED BY` failed with "no query solution" (a helper's fuzzer).
#[test]
fn an_index_metric_written_short_is_used() {
    for (option, function, other) in [
        ("metric=cos", "vector_distance_cos", "vector_distance_l2"),
        ("metric=COS", "vector_distance_cos", "vector_distance_l2"),
        ("metric=", "vector_distance_cos", "vector_distance_l2"),
        ("METRIC=Cosine", "vector_distance_cos", "vector_distance_l2"),
        ("metric=L", "vector_distance_l2", "vector_distance_cos"),
        ("metric=L2", "vector_distance_l2", "vector_distance_cos"),
    ] {
        let conn = Connection::open_in_memory().expect("open");
        conn.execute_batch(&format!(
            "CREATE TABLE t(id INTEGER PRIMARY KEY, a INT, v F32_BLOB(4));
             CREATE INDEX t_v ON t(libsql_vector_idx(v, '{option}'));
             WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 2000)
             INSERT INTO t SELECT x, x % 10, CASE WHEN x % 50 = 0 THEN NULL ELSE vector('[' || (x % 7) || ',' ||
                 (x % 11 + 1) || ',' || (x % 13) || ',' || (x % 17 + 1) || ']') END FROM n;"
        ))
        .expect("fill");
        let sql = format!("SELECT id FROM t WHERE a < 5 ORDER BY {function}(v, vector('[1,2,3,4]')) LIMIT 10");
        let shown = plan(&conn, &sql.replace("FROM t", "FROM t INDEXED BY t_v"));
        assert!(shown.contains("edgelite_vector_scan"), "{option}: {shown}");
        let scan = sql.replace("FROM t WHERE", "FROM t NOT INDEXED WHERE v IS NOT NULL AND");
        assert_eq!(ids(&conn, &sql, &[]).len(), ids(&conn, &scan, &[]).len(), "{option}");
        // the other metric's function is left to SQLite's scan, whatever the option says
        let other = sql.replace(function, other);
        assert!(!plan(&conn, &other).contains("edgelite_vector_scan"), "{option}: {other}");
    }
}

/// A bound LIMIT and OFFSET are read as SQLite's LIMIT reads them: numeric text and whole doubles
/// are numbers (`'5'` walked for every row before, as the rewrite compared the text with
/// numbers), and a value that SQLite refuses fails the statement with SQLite's own error, where
/// the rewrite's K never fails. The rewrite and the scan agree on every value.
#[test]
fn a_bound_limit_is_read_as_sqlite_reads_it() {
    let (conn, mut rng) = table(1500, 6, 71);
    let k = |args: &[Value]| -> Option<i64> {
        let sql = if args.len() == 1 { "SELECT edgelite_limit_k(?1)" } else { "SELECT edgelite_limit_k(?1, ?2)" };
        conn.query_row(sql, params_from_iter(args.iter()), |r| r.get(0)).expect("k")
    };
    let every = Some(i64::MAX);
    assert_eq!(k(&[Value::Integer(5)]), Some(5));
    assert_eq!(k(&[Value::from("5".to_owned())]), Some(5));
    assert_eq!(k(&[Value::from(" 5".to_owned())]), Some(5));
    assert_eq!(k(&[Value::Real(5.0)]), Some(5));
    assert_eq!(k(&[Value::Integer(-1)]), every);
    assert_eq!(k(&[Value::from("-1".to_owned())]), every);
    assert_eq!(k(&[Value::Integer(100_000_001)]), every);
    assert_eq!(k(&[Value::Null]), None);
    assert_eq!(k(&[Value::Real(5.5)]), None);
    assert_eq!(k(&[Value::from("x".to_owned())]), None);
    assert_eq!(k(&[Value::Blob(b"5".to_vec())]), None);
    assert_eq!(k(&[Value::Integer(5), Value::Integer(2)]), Some(7));
    assert_eq!(k(&[Value::Integer(5), Value::from("2".to_owned())]), Some(7));
    assert_eq!(k(&[Value::Integer(5), Value::Integer(-3)]), Some(5));
    assert_eq!(k(&[Value::Integer(5), Value::Null]), Some(5));
    assert_eq!(k(&[Value::Integer(5), Value::Integer(100_000_001)]), every);
    let sql = "SELECT id FROM t WHERE bucket < 500 ORDER BY vector_distance_cos(v, ?1) LIMIT ?2 OFFSET ?3";
    let scan = sql.replace("FROM t", "FROM t NOT INDEXED");
    let forced = sql.replace("FROM t", "FROM t INDEXED BY t_v");
    let values = [
        Value::Integer(7),
        Value::from("7".to_owned()),
        Value::Real(7.0),
        Value::Integer(-1),
        Value::Integer(0),
        Value::Null,
        Value::Real(7.5),
        Value::from("seven".to_owned()),
        Value::Blob(vec![7]),
    ];
    let run = |sql: &str, args: &[Value]| -> std::result::Result<usize, Option<i32>> {
        let mut stmt = conn.prepare(sql).expect("prepare");
        let rows = stmt.query_map(params_from_iter(args.iter()), |r| r.get::<_, i64>(0));
        match rows.and_then(|rows| rows.collect::<Result<Vec<i64>>>()) {
            Ok(rows) => Ok(rows.len()),
            Err(e) => Err(e.extended_code()),
        }
    };
    for limit in &values {
        for offset in [Value::Integer(0), Value::Integer(3), Value::from("3".to_owned()), Value::Null] {
            let args = [Value::from(rng.vector()), limit.clone(), offset.clone()];
            let want = run(&scan, &args);
            assert_eq!(run(sql, &args), want, "limit {limit:?} offset {offset:?}");
            assert_eq!(run(&forced, &args), want, "INDEXED BY: limit {limit:?} offset {offset:?}");
        }
    }
}

#[test]
fn the_issues_small_cases() {
    // WHERE owner = 7 ... LIMIT 3 on 1,000 2-d rows; id IN (3, 7, 11); LIMIT 2000 on 2,000 rows
    let conn = Connection::open_in_memory().expect("open");
    conn.execute_batch(
        "CREATE TABLE t(id INTEGER PRIMARY KEY, owner INT, v F32_BLOB(2));
         CREATE INDEX t_v ON t(libsql_vector_idx(v));",
    )
    .expect("schema");
    let mut rng = Lcg(3);
    for id in 1..=2000 {
        conn.execute("INSERT INTO t VALUES (?1, ?2, vector(?3))", params![id, id % 100, rng.vector(2)])
            .expect("insert");
    }
    let q = Value::from("[0.3, -0.2]".to_owned());
    let n = |sql: &str, args: &[Value]| ids(&conn, sql, args).len();
    assert_eq!(
        n("SELECT id FROM t WHERE owner = 7 ORDER BY vector_distance_cos(v, ?1) LIMIT 3", std::slice::from_ref(&q)),
        3
    );
    assert_eq!(
        n(
            "SELECT id FROM t WHERE id IN (3, 7, 11) ORDER BY vector_distance_cos(v, ?1) LIMIT 3",
            std::slice::from_ref(&q)
        ),
        3
    );
    assert_eq!(n("SELECT id FROM t ORDER BY vector_distance_cos(v, ?1) LIMIT 2000", std::slice::from_ref(&q)), 2000);
    assert_eq!(
        n("SELECT id FROM t ORDER BY vector_distance_cos(v, ?1) LIMIT ?2", &[q.clone(), Value::Integer(-1)]),
        2000
    );
    let mut all = ids(&conn, "SELECT id FROM t ORDER BY vector_distance_cos(v, ?1) LIMIT ?2", &[q, Value::Integer(-1)]);
    all.sort_unstable();
    assert_eq!(all, (1..=2000).collect::<Vec<i64>>());
}

/// A cosine distance is -inf where the product of the two squared lengths underflows (libSQL's
/// formula: `1 - dot / 0`), and the walk took such a node for a visited one: `vector_scan` and
/// the rewrite left it out (a differential fuzzer's find: 2 rows of 3).
#[test]
fn rows_at_distance_minus_infinity_are_returned() {
    let conn = Connection::open_in_memory().expect("open");
    conn.execute_batch(
        "CREATE TABLE t(id INTEGER PRIMARY KEY, bucket INT, v F32_BLOB(2));
         CREATE INDEX t_v ON t(libsql_vector_idx(v));
         INSERT INTO t VALUES (1, 1, vector('[1,2]')), (2, 0, vector('[3,-1]')), (3, 1, vector('[-7e-13,-3.5e-13]'));",
    )
    .expect("schema");
    let mut rng = Lcg(41);
    for id in 4..=400_i64 {
        // a tenth of the rows as small as the fuzzer's, the rest of ordinary length
        let scale = if id % 10 == 0 { 1e-12 } else { 1.0 };
        let v = format!("[{},{}]", scale * f64::from(rng.next()), scale * f64::from(rng.next()));
        conn.execute("INSERT INTO t VALUES (?1, ?2, vector(?3))", params![id, id % 3, v]).expect("insert");
    }
    let rows: i64 = conn.query_row("SELECT count(*) FROM t", [], |r| r.get(0)).expect("count");
    for q in ["[-1.36e-11,5.5e-12]", "[3e-12,1e-12]", "[1,0.5]"] {
        let args = [Value::from(q.to_string())];
        let infinite: i64 = conn
            .query_row("SELECT count(*) FROM t WHERE vector_distance_cos(v, vector(?1)) = -9e999", params![q], |r| {
                r.get(0)
            })
            .expect("count");
        let mut scanned = ids(&conn, "SELECT id FROM vector_scan('t_v', vector(?1))", &args);
        scanned.sort_unstable();
        assert_eq!(scanned, (1..=rows).collect::<Vec<i64>>(), "{q}: vector_scan ({infinite} rows at -inf)");
        for filter in ["1", "bucket = 1"] {
            let (indexed, exact) = pair(filter, "LIMIT 500");
            let mut got = ids(&conn, &indexed, &args);
            let mut want = ids(&conn, &exact, &args);
            assert_eq!(got.len(), want.len(), "{q} {filter}: {infinite} rows at -inf");
            got.sort_unstable();
            want.sort_unstable();
            assert_eq!(got, want, "{q} {filter}");
        }
    }
}

#[test]
fn vector_scan_returns_every_row_nearest_first() {
    let (conn, mut rng) = table(600, 6, 23);
    let q = rng.vector();
    let all = ids(&conn, "SELECT id FROM vector_scan('t_v', ?1)", &[Value::from(q.clone())]);
    let mut sorted = all.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (1..=600).collect::<Vec<i64>>());
    // the user's form of a filtered top-k: join, filter, stop at k, sort by distance
    let sql = "SELECT id FROM (SELECT s.id, s.distance FROM vector_scan('t_v', ?1, 10) AS s JOIN t ON t.id = s.id
               WHERE t.bucket % 10 = 3 LIMIT 10) ORDER BY distance";
    let got = ids(&conn, sql, &[Value::from(q.clone())]);
    let want = ids(
        &conn,
        "SELECT id FROM t NOT INDEXED WHERE bucket % 10 = 3 ORDER BY vector_distance_cos(v, ?1) LIMIT 10",
        &[Value::from(q)],
    );
    assert_eq!(got.len(), 10);
    assert!(got.iter().filter(|id| want.contains(id)).count() >= 9, "{got:?} vs {want:?}");
    // errors: a missing index, a wrong vector, no arguments
    for (sql, text) in [
        ("SELECT * FROM vector_scan('nope', '[1]')", "vector index"),
        ("SELECT * FROM vector_scan('t_v', '[1,2]')", "dimensions"),
        ("SELECT * FROM vector_scan", "expected an index name"),
    ] {
        let e =
            conn.prepare(sql).and_then(|mut s| s.query_map([], |r| r.get::<_, i64>(0))?.collect::<Result<Vec<_>>>());
        let e = e.expect_err(sql).to_string();
        assert!(e.contains(text), "{sql}: {e}");
    }
}

/// Past its walk a scan lists the index's rowids a few hundred at a time (`Storage::next_ids`)
/// and ranks the nodes by brute force; a scan that asks for more rows than a walk would make
/// cheaply starts there. Both must return every row once, nearest first, whatever the rowids:
/// the extremes, negative ones, gaps, and more rows than one listing holds.
#[test]
fn a_scan_past_its_walk_returns_every_row_once_nearest_first() {
    let (conn, mut rng) = table(1_200, 6, 31);
    let extra = [i64::MIN, i64::MIN + 1, -7, -6, 0, 5_000, 1 << 40, i64::MAX - 1, i64::MAX];
    for (i, id) in extra.into_iter().enumerate() {
        conn.execute("INSERT INTO t VALUES (?1, 0, ?2, 'red-0', vector(?3))", params![id, i as i64, rng.vector()])
            .expect("insert");
    }
    conn.execute("DELETE FROM t WHERE id BETWEEN 300 AND 340 OR id % 97 = 0", []).expect("gaps");
    let want = ids(&conn, "SELECT id FROM t ORDER BY id", &[]);
    let q = Value::from(rng.vector());
    // no hint: a walk, then brute force past a sixteenth of the index (at least 1,024 visits,
    // more than this table has once the rows come out one visit each); a hint of 2,000 rows:
    // brute force from the start
    for sql in
        ["SELECT id, distance FROM vector_scan('t_v', ?1)", "SELECT id, distance FROM vector_scan('t_v', ?1, 2000)"]
    {
        let mut stmt = conn.prepare(sql).expect(sql);
        let rows: Vec<(i64, f64)> =
            stmt.query_map([&q], |r| Ok((r.get(0)?, r.get(1)?))).expect(sql).collect::<Result<_>>().expect(sql);
        let mut got: Vec<i64> = rows.iter().map(|r| r.0).collect();
        got.sort_unstable();
        assert_eq!(got, want, "{sql}: every row once");
        if sql.contains("2000") {
            assert!(rows.windows(2).all(|w| w[0].1 <= w[1].1), "{sql}: exact order");
        }
    }
}

#[test]
fn random_filters_dml_and_rollbacks() {
    // a model-based run: after each random write (some rolled back), a random filtered query
    // returns as many rows as the scan, and the same rows with a NULL distance (all-zero
    // vectors, which some writes store)
    let (conn, mut rng) = table(800, 8, 29);
    let zero = format!("[{}]", ["0"; DIMS].join(","));
    let mut next_id = 801;
    for step in 0..120 {
        let r = rng.next_u64() % 10;
        let rollback = rng.next_u64() % 4 == 0;
        conn.execute_batch("BEGIN").expect("begin");
        match r {
            0..=3 => {
                for _ in 0..(rng.next_u64() % 20) {
                    let v = if (rng.next_u64() >> 40) % 8 == 0 { zero.clone() } else { rng.vector() };
                    conn.execute(
                        "INSERT INTO t VALUES (?1, ?2, ?3, 'red-0', vector(?4))",
                        params![next_id, (next_id % 8) as i64, next_id % 1000, v],
                    )
                    .expect("insert");
                    next_id += 1;
                }
            }
            4..=6 => {
                let lo = (rng.next_u64() % 1000) as i64;
                conn.execute("DELETE FROM t WHERE bucket BETWEEN ?1 AND ?1 + 15", [lo]).expect("delete");
            }
            _ => {
                let lo = (rng.next_u64() % 1000) as i64;
                let v = if (rng.next_u64() >> 40) % 4 == 0 { zero.clone() } else { rng.vector() };
                conn.execute("UPDATE t SET v = vector(?2), bucket = bucket + 1 WHERE bucket = ?1", params![lo, v])
                    .expect("update");
            }
        }
        conn.execute_batch(if rollback { "ROLLBACK" } else { "COMMIT" }).expect("end");
        let lo = (rng.next_u64() % 1000) as i64;
        let width = [1, 5, 50, 400, 1000][(rng.next_u64() % 5) as usize];
        let filter = format!("bucket >= {lo} AND bucket < {}", lo + width);
        let limit = 1 + rng.next_u64() % 30;
        compare(&conn, &mut rng, &filter, &format!("LIMIT {limit}"), &[], 1);
        let q = |from: &str| {
            format!(
                "SELECT id, vector_distance_cos(v, vector(?1)) FROM {from} WHERE {filter} \
                 ORDER BY vector_distance_cos(v, vector(?1)) LIMIT {limit}"
            )
        };
        let query = rng.vector();
        let (got_nulls, got) = split_nulls(&conn, &q("t"), &query);
        let (want_nulls, want) = split_nulls(&conn, &q("t NOT INDEXED"), &query);
        assert_eq!((got_nulls, got.len()), (want_nulls, want.len()), "step {step}: {filter} LIMIT {limit}");
        if step % 30 == 0 {
            let verdict: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).expect("check");
            assert_eq!(verdict, "ok");
        }
    }
}

/// A partial vector index (`CREATE INDEX ... WHERE`) serves the queries whose WHERE has each of
/// its terms: every row they can return is in it. Other queries scan; all answer as the scan.
#[test]
fn partial_vector_indexes_serve_the_queries_they_cover() {
    let (conn, mut rng) = table(3000, 12, 29);
    conn.execute_batch(
        "DROP INDEX t_v;
         CREATE INDEX t_v_red ON t(libsql_vector_idx(v)) WHERE tag LIKE 'red-%' AND bucket < 800;",
    )
    .expect("partial index");
    let nodes: i64 = conn.query_row("SELECT count(*) FROM t_v_red_shadow", [], |r| r.get(0)).expect("nodes");
    let rows: i64 =
        conn.query_row("SELECT count(*) FROM t WHERE tag LIKE 'red-%' AND bucket < 800", [], |r| r.get(0)).expect("n");
    assert_eq!(nodes, rows, "the index holds exactly the rows its WHERE passes");
    // covered: the index's terms, in any order, with more terms, an alias or a qualified name
    for filter in [
        "tag LIKE 'red-%' AND bucket < 800",
        "bucket < 800 AND tag LIKE 'red-%'",
        "tag LIKE 'red-%' AND bucket < 800 AND cluster < 6",
        "cluster = 2 AND (t.bucket < 800 AND t.tag LIKE 'red-%')",
    ] {
        let (hits, total) = compare(&conn, &mut rng, filter, "LIMIT 10", &[], 10);
        assert!(hits as f64 >= 0.95 * total as f64, "{filter}: {hits}/{total}");
    }
    // not covered (a term missing, changed or OR-ed, a CAST to another type): scanned, exactly
    for filter in [
        "tag LIKE 'red-%'",
        "tag LIKE 'red-%' AND bucket < 801",
        "tag LIKE 'red-%' OR bucket < 800",
        "tag LIKE 'blue-%' AND bucket < 800",
        "tag LIKE 'red-%' AND CAST(bucket AS TEXT) < 800",
        "bucket < 800 AND +tag LIKE 'red-%'",
    ] {
        let (indexed, scan) = pair(filter, "LIMIT 10");
        let shown = plan(&conn, &indexed);
        assert!(!shown.contains("edgelite_vector_scan"), "{filter}: must not use the partial index:\n{shown}");
        let q = Value::from(rng.vector());
        assert_eq!(ids(&conn, &indexed, std::slice::from_ref(&q)), ids(&conn, &scan, &[q]), "{filter}");
    }
    // an operator's name counts: CAST to another type, another function, another collation
    conn.execute_batch("CREATE INDEX t_v_cast ON t(libsql_vector_idx(v)) WHERE CAST(bucket AS INTEGER) < 500")
        .expect("second partial index");
    compare(&conn, &mut rng, "CAST(bucket AS INTEGER) < 500", "LIMIT 10", &[], 3);
    for filter in [
        "CAST(bucket AS TEXT) < 500",
        "abs(bucket) < 500 AND tag LIKE 'red-%'",
        "tag LIKE 'red-%' COLLATE NOCASE AND bucket < 800",
    ] {
        let (indexed, scan) = pair(filter, "LIMIT 10");
        let shown = plan(&conn, &indexed);
        assert!(!shown.contains("edgelite_vector_scan"), "{filter}: must not use a partial index:\n{shown}");
        let q = Value::from(rng.vector());
        assert_eq!(ids(&conn, &indexed, std::slice::from_ref(&q)), ids(&conn, &scan, &[q]), "{filter}");
    }
    conn.execute_batch("DROP INDEX t_v_cast").expect("drop");
    // and its rows stay in step with DML
    conn.execute_batch(
        "UPDATE t SET bucket = bucket + 500 WHERE id % 4 = 0;
         UPDATE t SET tag = 'red-9' WHERE id % 5 = 0;
         DELETE FROM t WHERE id % 11 = 0;",
    )
    .expect("dml");
    let (hits, total) = compare(&conn, &mut rng, "tag LIKE 'red-%' AND bucket < 800", "LIMIT 10", &[], 10);
    assert!(hits as f64 >= 0.95 * total as f64, "after DML: {hits}/{total}");
    let verdict: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).expect("check");
    assert_eq!(verdict, "ok");
}

/// The vector table joined to tables that filter it (inner joins, ON or WHERE terms, in either
/// order, one-to-many too): the rewrite filters each candidate through the whole join, so the
/// query returns as many rows as the scan; an outer join is left to scan.
#[test]
fn joins_that_filter_the_vector_table() {
    let (conn, mut rng) = table(3000, 12, 31);
    conn.execute_batch(
        "CREATE TABLE owner(id INTEGER PRIMARY KEY, region TEXT, active INT);
         WITH RECURSIVE n(x) AS (SELECT 0 UNION ALL SELECT x + 1 FROM n WHERE x < 49)
         INSERT INTO owner SELECT x, CASE WHEN x < 25 THEN 'eu' WHEN x < 30 THEN 'us' ELSE 'ap' END, x % 7 = 0 FROM n;
         CREATE TABLE label(cluster INT, name TEXT);
         INSERT INTO label VALUES (1, 'one'), (1, 'uno'), (1, 'eins'), (2, 'two'), (5, 'five'), (5, 'cinq');",
    )
    .expect("tables");
    // {T} is the vector table: `t` (rewritten) or `t NOT INDEXED` (the exact scan)
    let queries = [
        "SELECT t.id FROM {T} JOIN owner o ON o.id = t.bucket % 50 WHERE o.region = 'eu' ORDER BY vector_distance_cos(t.v, ?1) LIMIT 10",
        "SELECT t.id FROM {T} JOIN owner o ON o.id = t.bucket % 50 WHERE o.region = 'us' ORDER BY vector_distance_cos(v, ?1) LIMIT 10",
        "SELECT t.id FROM {T}, owner WHERE owner.id = t.bucket % 50 AND owner.active AND t.cluster < 6 ORDER BY vector_distance_cos(t.v, ?1) LIMIT 7",
        "SELECT t.id, o.region FROM owner o JOIN {T} ON o.id = t.bucket % 50 AND o.region <> 'ap' ORDER BY vector_distance_cos(t.v, ?1) LIMIT 12 OFFSET 3",
        "SELECT t.id FROM {T} JOIN owner o ON o.id = t.bucket % 50 ORDER BY vector_distance_cos(t.v, ?1) LIMIT 10",
        "SELECT t.id, l.name FROM {T} JOIN label l ON l.cluster = t.cluster ORDER BY vector_distance_cos(t.v, ?1) LIMIT 15",
        "SELECT t.id FROM {T} JOIN owner o ON o.id = t.bucket % 50 JOIN label l ON l.cluster = t.cluster WHERE o.region = 'eu' ORDER BY vector_distance_cos(t.v, ?1) LIMIT 10",
        "SELECT t.id FROM {T} JOIN owner o ON o.id = t.bucket WHERE o.region = 'us' ORDER BY vector_distance_cos(t.v, ?1) LIMIT 10",
    ];
    for sql in queries {
        let (indexed, scan) = (sql.replace("{T}", "t"), sql.replace("{T}", "t NOT INDEXED"));
        let shown = plan(&conn, &indexed);
        assert!(shown.contains("edgelite_vector_scan"), "{indexed}:\n{shown}");
        let (mut hits, mut total) = (0, 0);
        for _ in 0..8 {
            let q = Value::from(rng.vector());
            let (got, want) = (ids(&conn, &indexed, std::slice::from_ref(&q)), ids(&conn, &scan, &[q]));
            assert_eq!(got.len(), want.len(), "{indexed}");
            let mut left = want.clone();
            for id in &got {
                if let Some(at) = left.iter().position(|w| w == id) {
                    left.swap_remove(at);
                    hits += 1;
                }
            }
            total += want.len();
        }
        assert!(hits as f64 >= 0.95 * total as f64, "{indexed}: {hits}/{total}");
    }
    // outer joins keep their NULL-extended rows: left to scan, and the same answer
    let sql = "SELECT o.id, t.id FROM owner o LEFT JOIN {T} ON t.bucket = o.id ORDER BY vector_distance_cos(t.v, ?1) LIMIT 10";
    let (indexed, scan) = (sql.replace("{T}", "t"), sql.replace("{T}", "t NOT INDEXED"));
    assert!(!plan(&conn, &indexed).contains("edgelite_vector_scan"), "{indexed}");
    let q = Value::from(rng.vector());
    let rows = |sql: &str| -> Vec<(i64, Option<i64>)> {
        let mut s = conn.prepare(sql).expect("prepare");
        s.query_map([&q], |r| Ok((r.get(0)?, r.get(1)?))).expect("query").collect::<Result<_>>().expect("rows")
    };
    assert_eq!(rows(&indexed), rows(&scan));
}

/// [`table`] of 3,000 rows in 12 clusters, and `label(cluster, name)`: names `a<cluster>` and
/// `b<cluster>` for each cluster, and the rows `more` adds (`UNION ALL SELECT ... FROM n`, n the
/// cluster numbers), so that a join repeats each vector row.
fn labelled(seed: u64, more: &str) -> (Connection, Queries) {
    let (conn, rng) = table(3000, 12, seed);
    conn.execute_batch(&format!(
        "CREATE TABLE label(cluster INT, name TEXT);
         WITH RECURSIVE n(x) AS (SELECT 0 UNION ALL SELECT x + 1 FROM n WHERE x < 11)
         INSERT INTO label SELECT x, 'a' || x FROM n UNION ALL SELECT x, 'b' || x FROM n {more};"
    ))
    .expect("labels");
    (conn, rng)
}

/// When a sample says that few rows pass, the rewritten query over one table reads every row of
/// it itself (the scan's side of its MULTI-INDEX OR, a loop by rowid) and its own ORDER BY ranks
/// the rows that pass, so the table is ranked once (a branch that ranked it in a subquery of its
/// own, whose nearest K + ceil(K/10) rows the query read back and ranked again, made a large
/// LIMIT slower than the scan). So does a join whose vector table comes first, whose filter
/// calls no function and whose vector table has no other index (the OR on that table, which
/// the join reads first, is not tested again on each row: core patch 0009). Other joins keep
/// that branch, whose LIMIT must hold (the members of the rewrite's UNION ALL are marked as a
/// compound's, so that SQLite does not flatten it). All exact, also when a join repeats a
/// vector row (each repeat counts towards the kept rows) and with OFFSET. The walk's CTE keeps
/// its LIMIT: it is materialized, not flattened.
#[test]
fn a_filter_few_rows_pass_is_ranked_by_one_scan_of_the_table_or_join() {
    let (conn, mut rng) = labelled(37, "UNION ALL SELECT x, 'c' || x FROM n WHERE x % 2 = 0");
    for from in ["{T} JOIN label l ON l.cluster = t.cluster", "{T}", "label l JOIN {T} ON l.cluster = t.cluster"] {
        for tail in
            ["LIMIT 1", "LIMIT 5", "LIMIT 10", "LIMIT 30", "LIMIT 10 OFFSET 7", "LIMIT 40 OFFSET 25", "LIMIT 2000"]
        {
            let sql =
                format!("SELECT t.id FROM {from} WHERE t.bucket % 97 = 3 ORDER BY vector_distance_cos(t.v, ?1) {tail}");
            let (indexed, scan) = (sql.replace("{T}", "t"), sql.replace("{T}", "t NOT INDEXED"));
            let shown = plan(&conn, &indexed);
            // LIMIT 2000 of 3000 rows is the scan once the connection has read the size
            let small = small_scan(&conn, &shown, tail);
            if !small && from.starts_with("{T}") {
                assert!(shown.contains("filter sample"), "{indexed}:\n{shown}");
                assert!(kept_apart(&conn, &indexed, "edgelite_vector_scan"), "walk flattened: {indexed}:\n{shown}");
                assert!(shown.contains("MULTI-INDEX OR"), "{indexed}:\n{shown}");
                assert!(shown.contains("SEARCH t USING INTEGER PRIMARY KEY (rowid>?)"), "{indexed}:\n{shown}");
                assert_eq!(shown.matches("USE TEMP B-TREE FOR ORDER BY").count(), 1, "{indexed}:\n{shown}");
                assert!(!shown.contains("REUSE LIST SUBQUERY"), "the OR tested again: {indexed}:\n{shown}");
            } else if !small {
                assert!(shown.contains("filter sample"), "{indexed}:\n{shown}");
                assert!(kept_apart(&conn, &indexed, "edgelite_vector_scan"), "walk flattened: {indexed}:\n{shown}");
                assert!(kept_apart(&conn, &indexed, "SCAN t"), "ranked branch flattened: {indexed}:\n{shown}");
            }
            for _ in 0..6 {
                let q = Value::from(rng.vector());
                assert_eq!(ids(&conn, &indexed, std::slice::from_ref(&q)), ids(&conn, &scan, &[q]), "{indexed}");
            }
        }
    }
}

/// The joins whose rows the query's own loop does not rank when the scan answers, as the scan's
/// own plan may read the vector table otherwise than whole and first: a filter that calls a
/// function (SQLite copies the WHERE's comparisons into each side of the OR, where one that
/// fails could run before the terms that the scan tests first), an ON clause that names the
/// vector table's rowid (the scan may seek its rows from the other table's), another table
/// filtered to one row by its rowid or a UNIQUE index (the scan reads that row first, and the
/// vector table once for it), and a vector table with another index. Each keeps the ranked
/// branch, and answers as the scan does.
#[test]
fn a_join_the_own_loop_cannot_rank_keeps_the_ranked_branch() {
    let (conn, mut rng) = labelled(43, "");
    conn.execute_batch("CREATE UNIQUE INDEX label_name ON label(name)").expect("unique");
    let mut check = |from: &str, filter: &str, own: bool| {
        for tail in ["LIMIT 5", "LIMIT 10 OFFSET 7", "LIMIT 2000"] {
            let sql = format!("SELECT t.id FROM {from} WHERE {filter} ORDER BY vector_distance_cos(t.v, ?1) {tail}");
            let (indexed, scan) = (sql.replace("{T}", "t"), sql.replace("{T}", "t NOT INDEXED"));
            let shown = plan(&conn, &indexed);
            if !small_scan(&conn, &shown, tail) {
                assert!(shown.contains("filter sample"), "{indexed}:\n{shown}");
                assert_eq!(shown.contains("SEARCH t USING INTEGER PRIMARY KEY (rowid>?)"), own, "{indexed}:\n{shown}");
                assert_eq!(!shown.contains("COMPOUND QUERY"), own, "{indexed}:\n{shown}");
            }
            let args = [Value::from(rng.vector()), Value::from("a3".to_string())];
            assert_eq!(ids(&conn, &indexed, &args), ids(&conn, &scan, &args), "{indexed}");
        }
    };
    let join = "{T} JOIN label l ON l.cluster = t.cluster";
    check(join, "t.bucket % 97 = 3 AND l.name < 'b'", true);
    check(join, "t.bucket % 97 = 3 AND l.name LIKE 'a%'", false);
    check(join, "abs(t.bucket) % 97 = 3", false);
    check("{T} JOIN label l ON l.cluster = t.cluster AND l.rowid <= t.id", "t.bucket % 97 = 3", false);
    check("{T} JOIN label l ON l.cluster = t.cluster AND l.rowid <= t.rowid", "t.bucket % 97 = 3", false);
    check(join, "t.bucket % 97 = 3", true);
    check(join, "l.name = 'a3'", false);
    check(join, "l.name IS ?2", false);
    check(join, "l.rowid = 4", false);
    check("{T} JOIN label l ON l.cluster = t.cluster AND 'b5' = l.name", "t.bucket < 900", false);
    check(join, "l.name IN ('a3', 'b4')", true);
    check(join, "l.name = t.tag", true);
    check(join, "l.cluster = 3", true);
    conn.execute_batch("CREATE INDEX t_tag ON t(tag)").expect("index");
    check(join, "t.bucket % 97 = 3", false);
}

/// `PRAGMA read_uncommitted` (shared cache) reads another connection's uncommitted rows, which
/// the vector index, as this connection's caches hold it and without the rows the other holds
/// back until it commits, does not show: such a statement is the scan, with the rewrite's test
/// that a row has a vector, and INDEXED BY the vector index still prepares. A reader that had
/// queried the table, after the writer deleted most rows without committing, got none of the 10
/// rows the scan returns (a review's find). Without a shared cache the pragma changes nothing,
/// and neither does the plan: a first fix that left every such statement to SQLite failed on
/// rows without a vector ("vector: unexpected value type") and with INDEXED BY ("no query
/// solution").
#[test]
fn a_reader_of_uncommitted_rows_is_answered_by_the_scan() {
    let flags = OpenFlags::READ_WRITE | OpenFlags::CREATE | OpenFlags::URI;
    let uri = "file:edgelite_read_uncommitted?mode=memory&cache=shared";
    let writer = Connection::open_with_flags(uri, flags | OpenFlags::SHARED_CACHE).expect("writer");
    let reader = Connection::open_with_flags(uri, flags | OpenFlags::SHARED_CACHE).expect("reader");
    let table = "CREATE TABLE t(id INTEGER PRIMARY KEY, a INT, v F32_BLOB(4));
         CREATE INDEX t_v ON t(libsql_vector_idx(v));
         WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 2000)
         INSERT INTO t SELECT x, x % 100, CASE WHEN x % 50 = 0 THEN NULL ELSE \
         vector('[' || sin(x) || ',' || cos(x) || ',' || sin(2 * x) || ',' || (x % 7) || ']') END FROM n;";
    writer.execute_batch(table).expect("table");
    let sql = "SELECT id FROM t ORDER BY vector_distance_cos(v, vector('[0.5, 0.5, 0.5, 0.5]')) LIMIT 10";
    let forced = sql.replace("FROM t", "FROM t INDEXED BY t_v");
    let scan = sql.replace("FROM t", "FROM t NOT INDEXED WHERE v IS NOT NULL");
    assert_eq!(ids(&reader, sql, &[]).len(), 10);
    writer.execute_batch("BEGIN; DELETE FROM t WHERE a < 90;").expect("uncommitted delete");
    reader.execute_batch("PRAGMA read_uncommitted = 1").expect("read uncommitted");
    let want = ids(&reader, &scan, &[]);
    assert_eq!(want.len(), 10);
    assert_eq!(ids(&reader, sql, &[]), want);
    assert_eq!(ids(&reader, &forced, &[]), want);
    assert!(plan(&reader, sql).contains("VECTOR INDEX t_v NOT USED: this connection reads uncommitted rows"));
    writer.execute_batch("ROLLBACK").expect("rollback");
    reader.execute_batch("PRAGMA read_uncommitted = 0").expect("read committed");
    assert_eq!(ids(&reader, sql, &[]).len(), 10);
    // a private cache: the pragma changes neither what is read nor the plan
    let own = Connection::open_in_memory().expect("private");
    own.execute_batch(table).expect("table");
    own.execute_batch("PRAGMA read_uncommitted = 1").expect("read uncommitted");
    let want = ids(&own, &scan, &[]);
    assert_eq!(ids(&own, sql, &[]), want);
    assert_eq!(ids(&own, &forced, &[]), want);
    assert!(plan(&own, sql).contains("graph walk"), "{}", plan(&own, sql));
}

/// A table of fewer rows than 32 S (S = k + ceil(k/10)) can never have the sample send a
/// filter to the walk, and the rewrite's CTEs and OR only cost time there; nor, for vectors of
/// d < 128 dimensions, whose rows SQLite's scan ranks cheaply, under 2 (100 + S) (128 - d) / 16
/// (1,608 rows for this table's 12-d ones at LIMIT 10). Once the connection has read the size
/// (the guard in the LIMIT of each such statement does, at each run), the statement's own SELECT
/// is prepared as the scan, with the rewrite's test that a row has a vector, and prepared again
/// by `sqlite3_step()` itself when the table reaches twice that size (or, for a rewritten
/// statement, falls under it). A statement prepared before a change of plan runs on without an
/// error. Subqueries, a LIMIT bound at run time and INDEXED BY the vector index keep the rewrite.
#[test]
fn a_table_too_small_for_the_walk_is_scanned() {
    let (conn, mut rng) = table(200, 4, 47);
    conn.execute_batch("UPDATE t SET v = NULL WHERE id % 50 = 0").expect("nulls");
    let sql = "SELECT id FROM t WHERE bucket % 3 = 1 ORDER BY vector_distance_cos(v, ?1) LIMIT 10";
    let scan = sql.replace("FROM t", "FROM t NOT INDEXED").replace("WHERE", "WHERE v IS NOT NULL AND");
    assert!(plan(&conn, sql).contains("filter sample"), "before any run: {}", plan(&conn, sql));
    let mut stmt = conn.prepare(sql).expect("prepare");
    let mut run = |rng: &mut Queries| answers_as(&conn, &mut stmt, &scan, rng);
    run(&mut rng);
    let shown = plan(&conn, sql);
    assert!(small_plan(&shown) && shown.contains("SCAN t"), "200 rows: {shown}");
    assert!(shown.contains("VECTOR INDEX t_v NOT USED: 200 rows under 1608,"), "{shown}");
    let nested = format!("SELECT count(*) FROM ({sql})");
    assert!(plan(&conn, &nested).contains("filter sample"), "a subquery: {}", plan(&conn, &nested));
    let bound = sql.replace("LIMIT 10", "LIMIT ?2");
    assert!(plan(&conn, &bound).contains("filter sample"), "a bound LIMIT: {}", plan(&conn, &bound));
    let forced = sql.replace("FROM t", "FROM t INDEXED BY t_v");
    assert!(plan(&conn, &forced).contains("filter sample"), "INDEXED BY: {}", plan(&conn, &forced));
    let q = Value::from(rng.vector());
    assert_eq!(ids(&conn, &forced, std::slice::from_ref(&q)), ids(&conn, &scan, &[q]));
    run(&mut rng);
    // rows up to id `to`, copies of the first ones
    let grow = |to: i64| {
        let from: i64 = conn.query_row("SELECT max(id) FROM t", [], |r| r.get(0)).expect("max");
        conn.execute_batch(&format!(
            "WITH RECURSIVE n(x) AS (SELECT {} UNION ALL SELECT x + 1 FROM n WHERE x < {to})
             INSERT INTO t SELECT x, 0, x % 1000, 'red-0', v FROM t JOIN n ON t.id = (x - 1) % {from} + 1",
            from + 1
        ))
        .expect("grow");
    };
    // 2,400 rows: between the size and twice it, the prepared statement keeps its plan, and a
    // new one is rewritten
    grow(2400);
    run(&mut rng);
    assert!(plan(&conn, sql).contains("filter sample"), "2400 rows: {}", plan(&conn, sql));
    // 3,400 rows: the prepared statement is prepared again, and so is a new one
    grow(3400);
    assert_eq!(conn.query_row("SELECT count(*) FROM t", [], |r| r.get::<_, i64>(0)).expect("count"), 3400);
    run(&mut rng);
    assert!(plan(&conn, sql).contains("filter sample"), "3400 rows: {}", plan(&conn, sql));
    run(&mut rng);
    // back to 300 rows: the scan again
    conn.execute_batch("DELETE FROM t WHERE id > 300").expect("shrink");
    run(&mut rng);
    assert!(small_plan(&plan(&conn, sql)), "300 rows: {}", plan(&conn, sql));
    run(&mut rng);
    // the guard called by hand: a clear error for a bad argument, and for a size out of its
    // range once sqlite3_step() has stopped preparing the statement again
    let guard = |args: &str| {
        conn.query_row(&format!("SELECT edgelite_plan_guard({args})"), [], |r| r.get::<_, Option<i64>>(0))
            .map_err(|e| e.to_string())
    };
    assert_eq!(guard("7, 'main', 't', 300, 301"), Ok(Some(7)));
    for (args, error) in [
        ("'x', 'main', 't', NULL, NULL", "the limit must be an integer"),
        ("7, 'main', 't', 2.5, NULL", "a bound must be an integer or NULL"),
        ("7, NULL, 't', NULL, NULL", "edgelite_plan_guard: the schema must be a string"),
        ("7, 'main', 'nosuch', NULL, NULL", "no such table"),
        ("7, 'main', 't', 301, NULL", "the size of t is 300 rows, out of this plan's range"),
        ("7, 'main', 't', NULL, 300", "out of this plan's range"),
    ] {
        let got = guard(args).expect_err(args);
        assert!(got.contains(error), "{args}: {got}");
    }
}

/// The planner measures a table by its rows, not by its rowid span: a table of sparse rowids
/// (random 64-bit ids, ids from a hash) spans up to 2^63 whatever its rows, and was rewritten
/// as a large one where SQLite's scan costs less (300 rows of minilm-20k with `abs(random())`
/// rowids and a 10% filter: 0.54x the scan's speed, by hand). Where the rowids are sparse the
/// size is SQLite's estimate of the rows (from the pages on the paths to the first and last rows): 1,000
/// rows spread over 8e18 rowids are under the 1,608 where 12-d vectors with a filter are
/// scanned, and the statement follows the table once it grows past twice that. The estimate
/// needs the transaction of a statement that reads the table; a call of the planner's guard by
/// hand, outside one, measures by the span, but only for itself.
#[test]
fn a_table_of_sparse_rowids_is_measured_by_its_rows() {
    let (conn, mut rng) = table(4000, 4, 53);
    let sparse = |which: &str| {
        conn.execute_batch(&format!("INSERT INTO u SELECT id * 2000000000000003, bucket, v FROM t WHERE {which}"))
            .expect("sparse rows");
    };
    conn.execute_batch(
        "CREATE TABLE u(id INTEGER PRIMARY KEY, bucket INT, v F32_BLOB(12));
         CREATE INDEX u_v ON u(libsql_vector_idx(v));",
    )
    .expect("schema");
    sparse("id <= 1000");
    // the guard called by hand holds no transaction on the table, where the estimate is read:
    // the span it falls back to is not the size that later runs take
    let guarded: i64 = conn
        .query_row("SELECT edgelite_plan_guard(10, 'main', 'u', NULL, NULL)", [], |r| r.get(0))
        .expect("the guard by hand");
    assert_eq!(guarded, 10);
    let sql = "SELECT id FROM u WHERE bucket % 3 = 1 ORDER BY vector_distance_cos(v, ?1) LIMIT 10";
    let scan = sql.replace("FROM u", "FROM u NOT INDEXED");
    let mut stmt = conn.prepare(sql).expect("prepare");
    let mut run = |rng: &mut Queries| answers_as(&conn, &mut stmt, &scan, rng);
    run(&mut rng);
    let size = || -> i64 {
        conn.query_row("SELECT max(edgelite_rows) FROM edgelite_vector_sample('main', 'u', 1)", [], |r| r.get(0))
            .expect("size")
    };
    let rows = size();
    assert!((500..1608).contains(&rows), "1,000 rows over 8e18 rowids measured as {rows}");
    let shown = plan(&conn, sql);
    assert!(shown.contains(&format!("VECTOR INDEX u_v NOT USED: {rows} rows under 1608,")), "{shown}");
    run(&mut rng);
    // 4,000 rows: past twice the size, the prepared statement is prepared again as the rewrite
    sparse("id > 1000");
    run(&mut rng);
    assert!(size() >= 2 * 1608, "4,000 rows measured as {}", size());
    assert!(plan(&conn, sql).contains("filter sample"), "4,000 rows: {}", plan(&conn, sql));
    run(&mut rng);
}

/// The sample's verdict (`edgelite_many`) is read once in a rewritten statement, by the walk
/// (its outer loop), and the walk's rows (`edgelite_walk`) twice, by the `rowid IN` and by the
/// scan's gate. SQLite prepares a copy of a CTE's SELECT at every reference, the sample's filter
/// included: when each gate read the verdict in a subquery of its own (four reads), the rewrite
/// cost about 1.9 million instructions to prepare, 1.35 million with one (callgrind, minilm-20k,
/// `WHERE bucket < 100 ... LIMIT 10`; 1.0 million with S written as a number, 0.68 million with
/// the verdict one call; PATCHES.md), where SQLite's scan costs about 33,000. Answers as the scan
/// does either way.
#[test]
fn the_rewrite_reads_the_sample_once() {
    let (conn, mut rng) = table(2000, 8, 61);
    conn.execute_batch(
        "CREATE TABLE g(id INTEGER PRIMARY KEY, ok INT);
         WITH RECURSIVE n(x) AS (SELECT 0 UNION ALL SELECT x + 1 FROM n WHERE x < 7) INSERT INTO g SELECT x, x % 2 FROM n;",
    )
    .expect("g");
    for (filter, from) in [("bucket < 300", "t"), ("t.bucket < 300 AND g.ok = 1", "t JOIN g ON g.id = t.cluster")] {
        let sql = format!("SELECT t.id FROM {from} WHERE {filter} ORDER BY vector_distance_cos(t.v, ?1) LIMIT 10");
        let shown = plan(&conn, &sql.replace("FROM t", "FROM t INDEXED BY t_v"));
        let reads = |cte: &str| shown.lines().filter(|l| l.contains(cte)).count();
        // MATERIALIZE edgelite_many, then SCAN edgelite_many in the walk
        assert_eq!(reads("edgelite_many"), 2, "{sql}:\n{shown}");
        assert!(reads("edgelite_walk") <= 3, "{sql}:\n{shown}");
        let scan = format!(
            "SELECT t.id FROM {} WHERE {filter} ORDER BY vector_distance_cos(t.v, ?1) LIMIT 10",
            from.replacen("t", "t NOT INDEXED", 1)
        );
        for _ in 0..5 {
            let q = [Value::from(rng.vector())];
            assert_eq!(ids(&conn, &sql, &q).len(), ids(&conn, &scan, &q).len(), "{sql}");
        }
    }
}

/// A connection's first statement on a table, before it has read the table's size, is
/// prepared as SQLite's scan, whose guard reads the size at the first run and has the statement
/// prepared again as the rewrite if it is at the size where the planner rewrites (1,608
/// rows for 12-d vectors at LIMIT 10 with a filter). The rewrite was the guess: a small
/// table's first query prepared the rewrite, then the scan (a fresh connection's first query on
/// 300 rows, by hand: 0.78 ms where the scan took 0.61; 0.63 with the scan as the guess).
/// EXPLAIN, which never runs, shows the rewrite; a connection that remembers no size (its vector
/// cache off) always rewrites. Seen through the authorizer, which SQLite asks about each function
/// a statement calls when it prepares it.
#[test]
fn a_connections_first_query_guesses_the_scan() {
    use edgelite::ffi;
    use edgelite::hooks::{AuthContext, Authorization};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    let sql = "SELECT id FROM t WHERE bucket < 500 ORDER BY vector_distance_cos(v, ?1) LIMIT 10";
    let scan = "SELECT id FROM t NOT INDEXED WHERE bucket < 500 ORDER BY vector_distance_cos(v, ?1) LIMIT 10";
    for (rows, cache_off, rewritten) in [(300, false, false), (3000, false, true), (300, true, true)] {
        let (conn, mut rng) = table(rows, 4, 83);
        if cache_off {
            conn.query_row("SELECT edgelite_vector_cache_limit(0)", [], |_| Ok(())).expect("cache off");
        }
        // prepares of the rewrite: those that call the sample's verdict
        let seen = Arc::new(AtomicUsize::new(0));
        let count = Arc::clone(&seen);
        conn.authorizer(Some(move |ctx: AuthContext<'_>| {
            if ctx.action == ffi::SQLITE_FUNCTION && ctx.arg2 == Some("edgelite_walk_budget") {
                count.fetch_add(1, Ordering::Relaxed);
            }
            Authorization::Allow
        }));
        let what = format!("{rows} rows{}", if cache_off { ", cache off" } else { "" });
        assert!(plan(&conn, sql).contains("edgelite_vector_scan"), "{what}: EXPLAIN before any run");
        seen.store(0, Ordering::Relaxed);
        let q = [Value::from(rng.vector())];
        let got = ids(&conn, sql, &q);
        assert_eq!(seen.load(Ordering::Relaxed) > 0, rewritten, "{what}: the first run's prepares");
        assert_eq!(got.len(), ids(&conn, scan, &q).len(), "{what}");
        assert_eq!(got.len(), 10, "{what}");
    }
}

/// Without a WHERE clause the walk costs its window of visits and one a row, where SQLite's
/// scan of vectors of few dimensions costs little a row: under (100 + S) (128 - d) / 16 rows
/// (804 for 12-d vectors at LIMIT 10) the query is scanned, with the rewrite's test that a row
/// has a vector, once the connection has read the table's size; from 128 dimensions on, the
/// walk at any size (the index read by brute force under twice its first visits).
#[test]
fn a_table_of_few_dimensions_without_a_filter_is_scanned() {
    let (conn, mut rng) = table(300, 4, 53);
    conn.execute_batch("UPDATE t SET v = NULL WHERE id % 40 = 0").expect("nulls");
    let sql = "SELECT id FROM t ORDER BY vector_distance_cos(v, ?1) LIMIT 10";
    let scan = "SELECT id FROM t NOT INDEXED WHERE v IS NOT NULL ORDER BY vector_distance_cos(v, ?1) LIMIT 10";
    let forced = sql.replace("FROM t", "FROM t INDEXED BY t_v");
    assert!(plan(&conn, sql).contains("edgelite_vector_scan"), "before any run: {}", plan(&conn, sql));
    for _ in 0..3 {
        let q = [Value::from(rng.vector())];
        let want = ids(&conn, scan, &q);
        assert_eq!(want.len(), 10);
        assert_eq!(ids(&conn, sql, &q), want);
        let got = ids(&conn, &forced, &q);
        assert_eq!(got.len(), 10);
        assert!(got.iter().filter(|id| want.contains(id)).count() >= 9, "{got:?} against {want:?}");
    }
    let shown = plan(&conn, sql);
    assert!(small_plan(&shown) && shown.contains("SCAN t"), "300 rows: {shown}");
    assert!(shown.contains("VECTOR INDEX t_v NOT USED: 300 rows under 804,"), "{shown}");
    assert!(plan(&conn, &forced).contains("edgelite_vector_scan"), "INDEXED BY: {}", plan(&conn, &forced));
    // a larger LIMIT makes the walk longer, and the size larger
    let more = sql.replace("LIMIT 10", "LIMIT 100");
    assert!(small_plan(&plan(&conn, &more)), "LIMIT 100: {}", plan(&conn, &more));
    // 900 rows: past the size, the walk
    conn.execute_batch(
        "WITH RECURSIVE n(x) AS (SELECT 301 UNION ALL SELECT x + 1 FROM n WHERE x < 900)
         INSERT INTO t SELECT x, 0, x % 1000, 'red-0', v FROM t JOIN n ON t.id = (x - 1) % 300 + 1",
    )
    .expect("grow");
    assert_eq!(conn.query_row("SELECT count(*) FROM t", [], |r| r.get::<_, i64>(0)).expect("count"), 900);
    let q = [Value::from(rng.vector())];
    assert_eq!(ids(&conn, sql, &q).len(), 10);
    assert!(plan(&conn, sql).contains("edgelite_vector_scan"), "900 rows: {}", plan(&conn, sql));
    // 128 dimensions: the walk at 300 rows
    let wide = Connection::open_in_memory().expect("open");
    wide.execute_batch(
        "CREATE TABLE t(id INTEGER PRIMARY KEY, v F32_BLOB(128));
         CREATE INDEX t_v ON t(libsql_vector_idx(v));
         WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 300)
         INSERT INTO t SELECT x, vector('[' || (SELECT group_concat((x * 7 + d * 13) % 17 - 8, ',')
             FROM (WITH RECURSIVE e(d) AS (SELECT 1 UNION ALL SELECT d + 1 FROM e WHERE d < 128) SELECT d FROM e))
             || ']') FROM n;",
    )
    .expect("wide");
    let wide_q = format!("[{}]", vec!["1"; 128].join(","));
    let sql = format!("SELECT id FROM t ORDER BY vector_distance_cos(v, vector('{wide_q}')) LIMIT 10");
    let want = ids(&wide, &sql.replace("FROM t", "FROM t NOT INDEXED"), &[]);
    assert_eq!(ids(&wide, &sql, &[]).len(), want.len());
    assert!(plan(&wide, &sql).contains("edgelite_vector_scan"), "128-d: {}", plan(&wide, &sql));
}

/// Whether every EXPLAIN QUERY PLAN row whose detail starts with (or, for a virtual table,
/// contains) `what` has a `CO-ROUTINE` or a `MATERIALIZE` among its ancestors.
fn kept_apart(conn: &Connection, sql: &str, what: &str) -> bool {
    let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).expect("explain");
    let nulls = vec![None::<i64>; stmt.parameter_count()];
    let rows: Vec<(i64, i64, String)> = stmt
        .query_map(params_from_iter(nulls), |r| Ok((r.get(0)?, r.get(1)?, r.get(3)?)))
        .expect("plan")
        .collect::<Result<_>>()
        .expect("rows");
    let found: Vec<_> = rows
        .iter()
        .filter(|(_, _, d)| d == what || d.starts_with(&format!("{what} ")) || d.contains(&format!(" {what} ")))
        .collect();
    assert!(!found.is_empty(), "{what} not in the plan of {sql}");
    found.into_iter().all(|mut at| {
        while let Some(parent) = rows.iter().find(|(id, _, _)| *id == at.1) {
            if parent.2.starts_with("CO-ROUTINE") || parent.2.starts_with("MATERIALIZE") {
                return true;
            }
            at = parent;
        }
        false
    })
}

/// A filter that the rows near the query fail, although many rows pass: the walk may spend its
/// budget (four times the rows that the sample says it needs, at most a 32nd of the table or
/// twice the need), and the query then reads every row itself. What this checks: the budget
/// itself (`edgelite_vector_scan`'s fourth argument, which the planner alone passes, ends the
/// scan after that many rows), that the plan has the walk's CTE and its fallback (the scan's
/// side of the query's MULTI-INDEX OR), and that the answers have the scan's row count and
/// nearly its rows. Which branch answered is not
/// observable from SQL (the walk's brute-force tail is exact too), so it is not asserted.
#[test]
fn a_walk_that_spends_its_budget_gives_way_to_the_scan() {
    let (conn, mut rng) = table(3000, 2, 41);
    let q = Value::from(rng.vector());
    let scanned = |budget: &str| -> i64 {
        conn.query_row(&format!("SELECT count(*) FROM edgelite_vector_scan('main.t_v', ?1, 10, {budget})"), [&q], |r| {
            r.get(0)
        })
        .expect("scan")
    };
    assert_eq!(scanned("37"), 37);
    assert_eq!(scanned("NULL"), 3000);
    assert_eq!(scanned("1000000"), 3000);
    let e = conn
        .query_row("SELECT count(*) FROM vector_scan('t_v', ?1, 10, 37)", [&q], |r| r.get::<_, i64>(0))
        .expect_err("the user's vector_scan has no budget");
    assert!(e.to_string().contains("too many arguments"), "{e}");
    // a filter that reads a table named like the rewrite's own CTEs is left to scan: the copies
    // of the filter inside the CTEs' scope would read the CTE instead
    conn.execute_batch("CREATE TABLE edgelite_walk(edgelite_id INT); INSERT INTO edgelite_walk VALUES (1);")
        .expect("table");
    let sql = "SELECT id FROM {T} WHERE cluster IN (SELECT edgelite_id FROM edgelite_walk) \
               ORDER BY vector_distance_cos(v, vector('[1,1,1,1,1,1,1,1,1,1,1,1]')) LIMIT 20";
    assert!(!plan(&conn, &sql.replace("{T}", "t")).contains("edgelite_vector_scan"));
    same_count(&conn, sql);
    for filter in ["cluster = 0", "cluster = 1", "cluster = 1 AND bucket % 3 > 0"] {
        for tail in ["LIMIT 10", "LIMIT 25 OFFSET 5"] {
            let (indexed, scan) = pair(filter, tail);
            let shown = plan(&conn, &indexed);
            assert!(shown.contains("edgelite_walk") && shown.contains("graph walk"), "{indexed}:\n{shown}");
            assert!(shown.contains("MULTI-INDEX OR") && shown.contains("(rowid>?)"), "{indexed}:\n{shown}");
            for _ in 0..8 {
                let q = Value::from(rng.vector());
                let (got, want) = (ids(&conn, &indexed, std::slice::from_ref(&q)), ids(&conn, &scan, &[q]));
                assert_eq!(got.len(), want.len(), "{indexed}");
                let hits = got.iter().filter(|id| want.contains(id)).count();
                assert!(hits * 100 >= want.len() * 95, "{indexed}: {got:?} vs {want:?}");
            }
        }
    }
}

/// Row counts of `sql` with `{T}` as `t` (rewritten) and as `t NOT INDEXED` (the scan), or
/// their errors (without the offset, which `NOT INDEXED` moves).
fn same_count(conn: &Connection, sql: &str) {
    let count = |from: &str| -> std::result::Result<usize, String> {
        let sql = sql.replace("{T}", from);
        let error = |e: edgelite::Error| e.to_string().split(" (at offset").next().unwrap_or_default().to_string();
        let mut stmt = conn.prepare(&sql).map_err(error)?;
        let n = stmt.query_map([], |_| Ok(())).map_err(error)?.count();
        Ok(n)
    };
    assert_eq!(count("t"), count("t NOT INDEXED"), "{sql}");
}

/// What a review found in the rewrite (each failed before its fix): a view or virtual table in
/// FROM crashed the prepare; `oid` that is a real column passed for the rowid; a user column
/// named `edgelite_id` captured the rewrite's own; a result alias or a second item exposed
/// under the vector table's name in the filter failed to prepare; random() in a filter chose
/// rows twice.
#[test]
fn names_the_rewrite_must_not_capture() {
    let conn = Connection::open_in_memory().expect("open");
    conn.execute_batch(
        "CREATE TABLE t(id INTEGER PRIMARY KEY, v F32_BLOB(2), oid INT, edgelite_id INT, flag INT);
         WITH RECURSIVE s(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM s WHERE x < 3000)
         INSERT INTO t SELECT x, vector32('[' || (x % 13) || ',' || (x % 7 + 1) || ']'), 3001 - x, 1,
                              x % 10 = 0 OR x = 1 FROM s;
         CREATE INDEX t_v ON t(libsql_vector_idx(v));
         CREATE INDEX t_part ON t(libsql_vector_idx(v)) WHERE id > 1500;
         CREATE VIEW vw AS SELECT * FROM t;
         CREATE VIRTUAL TABLE ft USING fts5(body);
         INSERT INTO ft(rowid, body) VALUES (10, 'ten'), (20, 'twenty');
         CREATE TABLE u(tid INT);
         INSERT INTO u VALUES (10), (20), (30);
         CREATE TABLE e(edgelite_id INT, tid INT);
         INSERT INTO e SELECT 1, id FROM t WHERE id % 3 = 0;",
    )
    .expect("schema");
    let q = "vector32('[1,2]')";
    // a view or a virtual table whose columns are not loaded yet (a fresh connection's first use)
    for sql in [
        format!("SELECT id FROM vw ORDER BY vector_distance_cos(v, {q}) LIMIT 3"),
        format!("SELECT id FROM vw ORDER BY vector_distance_cos(x, {q}) LIMIT 3"),
        format!("SELECT t.id FROM t JOIN ft ON ft.rowid = t.id ORDER BY vector_distance_cos(v, {q}) LIMIT 3"),
        format!("SELECT t.id FROM t JOIN vw ON vw.id = t.id ORDER BY vector_distance_cos(t.v, {q}) LIMIT 3"),
    ] {
        let _ = conn.prepare(&sql).map(|mut s| s.query_map([], |_| Ok(())).map(|rows| rows.count()));
    }
    for sql in [
        // oid is a column here, not the rowid: the partial index (id > 1500) does not cover it
        format!("SELECT id FROM {{T}} WHERE oid > 1500 ORDER BY vector_distance_cos(v, {q}) LIMIT 20"),
        format!("SELECT id FROM {{T}} WHERE flag = 1 ORDER BY vector_distance_cos(v, {q}) LIMIT 5"),
        format!(
            "SELECT t.id FROM {{T}} JOIN e ON e.tid = t.id WHERE t.flag = 1 ORDER BY vector_distance_cos(t.v, {q}) LIMIT 20"
        ),
        format!(
            "SELECT id, vector_distance_cos(v, {q}) AS d FROM {{T}} WHERE d < 0.5 ORDER BY vector_distance_cos(v, {q}) LIMIT 2"
        ),
        format!("SELECT id FROM main.{{T}} JOIN u AS t ON tid = id ORDER BY vector_distance_cos(v, {q}) LIMIT 1"),
    ] {
        same_count(&conn, &sql);
    }
    // a filter that calls random() is left to scan (evaluated twice, it would choose twice)
    let sql = format!("SELECT id FROM t WHERE abs(random()) % 20 = 0 ORDER BY vector_distance_cos(v, {q}) LIMIT 50");
    let shown = plan(&conn, &sql);
    assert!(!shown.contains("edgelite_vector_scan"), "{shown}");
    let n = conn.prepare(&sql).expect("prepare").query_map([], |_| Ok(())).expect("query").count();
    assert_eq!(n, 50);
    // a second review: ON clauses are copied with the FROM items and checked as the WHERE is
    // (an alias, random(), a table named like the rewrite's CTEs); bound limits and offsets that
    // drivers send as doubles; a table named like the rewrite's table-valued functions
    conn.execute_batch(
        "CREATE TABLE c(cid INTEGER PRIMARY KEY); INSERT INTO c VALUES (0), (1), (2), (3);
         CREATE TABLE edgelite_many(x INT); INSERT INTO edgelite_many VALUES (1);",
    )
    .expect("tables");
    for sql in [
        format!(
            "SELECT t.id, t.id % 4 AS k FROM {{T}} JOIN c ON c.cid = k ORDER BY vector_distance_cos(v, {q}) LIMIT 5"
        ),
        format!(
            "SELECT t.id FROM {{T}} JOIN c ON c.cid = t.id % 4 AND abs(random()) % 4 < 5 ORDER BY vector_distance_cos(v, {q}) LIMIT 100"
        ),
        format!(
            "SELECT t.id FROM {{T}} JOIN c ON c.cid IN (SELECT x FROM edgelite_many) AND c.cid = t.id % 4 \
             ORDER BY vector_distance_cos(v, {q}) LIMIT 10"
        ),
    ] {
        same_count(&conn, &sql);
    }
    for (limit, offset) in [(Value::Real(1.0), Value::Integer(0)), (Value::Real(21.0), Value::Real(20.0))] {
        for filter in ["1", "id % 2 = 1"] {
            let (indexed, scan) = (
                format!("SELECT id FROM t WHERE {filter} ORDER BY vector_distance_cos(v, {q}) LIMIT ?1 OFFSET ?2"),
                format!(
                    "SELECT id FROM t NOT INDEXED WHERE {filter} ORDER BY vector_distance_cos(v, {q}) LIMIT ?1 OFFSET ?2"
                ),
            );
            assert!(plan(&conn, &indexed).contains("edgelite_vector_scan"), "{indexed}");
            let args = [limit.clone(), offset.clone()];
            assert_eq!(ids(&conn, &indexed, &args).len(), ids(&conn, &scan, &args).len(), "{indexed} {args:?}");
        }
    }
    // a third review (a differential fuzzer): a column named as the rewrite's own columns are,
    // in the filter or as the vector column, was ambiguous in the copies ("ambiguous column
    // name: edgelite_gate" where the scan answers); a bare name the table does not have must
    // fail as the scan fails, not name one of the rewrite's columns
    conn.execute_batch(
        "ALTER TABLE t ADD COLUMN edgelite_gate INT;
         ALTER TABLE t ADD COLUMN edgelite_v F32_BLOB(2);
         UPDATE t SET edgelite_gate = id % 7, edgelite_v = v;
         CREATE INDEX t_gate_v ON t(libsql_vector_idx(edgelite_v));",
    )
    .expect("columns");
    for sql in [
        format!("SELECT id FROM {{T}} WHERE edgelite_gate > 2 ORDER BY vector_distance_cos(v, {q}) LIMIT 5"),
        format!("SELECT id FROM {{T}} WHERE flag = 1 ORDER BY vector_distance_cos(edgelite_v, {q}) LIMIT 5"),
        format!("SELECT id FROM {{T}} WHERE edgelite_distance < 1 ORDER BY vector_distance_cos(v, {q}) LIMIT 5"),
        format!("SELECT id FROM {{T}} WHERE edgelite_k > 0 ORDER BY vector_distance_cos(v, {q}) LIMIT 5"),
    ] {
        same_count(&conn, &sql);
    }
    conn.execute_batch("CREATE TEMP VIEW edgelite_vector_scan AS SELECT 1 AS x").expect("view");
    same_count(&conn, &format!("SELECT id FROM {{T}} ORDER BY vector_distance_cos(v, {q}) LIMIT 5"));
}

/// Ids of the rows a query returns with a NULL distance (first, as SQL sorts NULL), and the rest.
fn split_nulls(conn: &Connection, sql: &str, query: &str) -> (Vec<i64>, Vec<i64>) {
    let mut stmt = conn.prepare(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    let rows: Vec<(i64, Option<f64>)> =
        stmt.query_map([query], |r| Ok((r.get(0)?, r.get(1)?))).expect("query").collect::<Result<_>>().expect("rows");
    let nulls = rows.iter().take_while(|(_, d)| d.is_none()).count();
    assert!(rows[nulls..].iter().all(|(_, d)| d.is_some()), "NULL distances first: {sql}");
    let mut first: Vec<i64> = rows[..nulls].iter().map(|(id, _)| *id).collect();
    first.sort_unstable();
    (first, rows[nulls..].iter().map(|(id, _)| *id).collect())
}

#[test]
fn vectors_without_a_direction_come_first_as_sql_sorts_them() {
    // An all-zero vector's cosine distance is NULL, which ORDER BY puts before every distance:
    // the indexed plan must return those rows first too, through writes, rollbacks, REINDEX and
    // a new index of the same name.
    let (conn, mut rng) = table(3000, 10, 41);
    let zero = format!("[{}]", ["0"; DIMS].join(","));
    let check = |conn: &Connection, rng: &mut Queries, what: &str| {
        for (filter, limit) in
            [("", 5), ("", 40), ("WHERE 1", 8), ("WHERE bucket < 500", 12), ("WHERE bucket % 10 = 3", 6)]
        {
            let q = |from: &str| {
                format!(
                    "SELECT id, vector_distance_cos(v, vector(?1)) AS d FROM {from} {filter} \
                     ORDER BY vector_distance_cos(v, vector(?1)) LIMIT {limit}"
                )
            };
            let indexed = q("t");
            assert!(plan(conn, &indexed).contains("edgelite_vector_scan"), "{indexed}");
            for _ in 0..3 {
                let query = rng.vector();
                let (got_nulls, got) = split_nulls(conn, &indexed, &query);
                let (want_nulls, want) = split_nulls(conn, &q("t NOT INDEXED"), &query);
                assert_eq!(got_nulls, want_nulls, "{what}: {indexed}");
                assert_eq!(got.len(), want.len(), "{what}: {indexed}");
            }
        }
    };
    // some with a NULL distance in the answer, more than a LIMIT in one case
    conn.execute("UPDATE t SET v = vector(?1) WHERE id IN (7, 1500, 2999)", [&zero]).expect("zero");
    check(&conn, &mut rng, "three zero rows");
    conn.execute("UPDATE t SET v = vector(?1) WHERE id % 300 = 1", [&zero]).expect("zero");
    check(&conn, &mut rng, "thirteen zero rows");
    // given a direction again, deleted, or zeroed in a transaction rolled back
    conn.execute("UPDATE t SET v = vector(?1) WHERE id % 600 = 1", [rng.vector()]).expect("unzero");
    conn.execute("DELETE FROM t WHERE id = 1500", []).expect("delete");
    conn.execute_batch("BEGIN").expect("begin");
    conn.execute("UPDATE t SET v = vector(?1) WHERE id BETWEEN 100 AND 140", [&zero]).expect("zero");
    conn.execute_batch("ROLLBACK").expect("rollback");
    check(&conn, &mut rng, "after writes");
    let records = |conn: &Connection| -> i64 {
        conn.query_row("SELECT count(*) FROM libsql_vector_meta_shadow WHERE name <> 't_v'", [], |r| r.get(0))
            .expect("records")
    };
    let zeros: i64 = conn
        .query_row("SELECT count(*) FROM t WHERE vector_distance_cos(v, v) IS NULL", [], |r| r.get(0))
        .expect("zeros");
    assert_eq!(records(&conn), zeros, "one record per row without a direction");
    conn.execute_batch("REINDEX t_v").expect("reindex");
    assert_eq!(records(&conn), zeros, "REINDEX records them again");
    check(&conn, &mut rng, "after REINDEX");
    conn.execute_batch("DROP INDEX t_v").expect("drop");
    assert_eq!(records(&conn), 0, "DROP INDEX takes them away");
    conn.execute_batch("CREATE INDEX t_v ON t(libsql_vector_idx(v))").expect("create");
    assert_eq!(records(&conn), zeros);
    check(&conn, &mut rng, "a new index");
    // a row libSQL zeroed (its records are edgelite's) is reported until REINDEX
    conn.execute_batch("DELETE FROM libsql_vector_meta_shadow WHERE name <> 't_v' AND metadata = 7").expect("forget");
    let verdict: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).expect("check");
    assert_eq!(verdict, "vector index t_v: 1 zero or NaN vectors not recorded (first: 7)");
    conn.execute_batch("REINDEX t_v").expect("reindex");
    let verdict: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).expect("check");
    assert_eq!(verdict, "ok");
    // l2 distances of zero vectors are numbers: nothing to keep aside
    conn.execute_batch("DROP INDEX t_v; CREATE INDEX t_v ON t(libsql_vector_idx(v, 'metric=l2'))").expect("l2");
    assert_eq!(records(&conn), 0);
    let verdict: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).expect("check");
    assert_eq!(verdict, "ok");
}

#[test]
fn an_order_by_alias_or_column_number_uses_the_index_too() {
    // `SELECT ..., vector_distance_cos(v, ?) AS d ... ORDER BY d` and `ORDER BY 2` are how most
    // users write it; SQLite resolves both to the result column's expression
    let (conn, mut rng) = table(3000, 10, 53);
    for (select, order) in [("id, vector_distance_cos(v, ?1) AS d", "d"), ("id, vector_distance_cos(v, ?1)", "2")] {
        for filter in ["", "WHERE bucket < 500", "WHERE bucket % 100 = 7"] {
            for tail in ["LIMIT 10", "LIMIT 5 OFFSET 3"] {
                let q = |from: &str| format!("SELECT {select} FROM {from} {filter} ORDER BY {order} {tail}");
                let indexed = q("t");
                assert!(
                    plan(&conn, &indexed).contains("edgelite_vector_scan"),
                    "{indexed}:\n{}",
                    plan(&conn, &indexed)
                );
                let (mut hits, mut total) = (0, 0);
                for _ in 0..5 {
                    let args = [Value::from(rng.vector())];
                    let (got, want) = (ids(&conn, &indexed, &args), ids(&conn, &q("t NOT INDEXED"), &args));
                    assert_eq!(got.len(), want.len(), "{indexed}");
                    hits += got.iter().filter(|id| want.contains(id)).count();
                    total += want.len();
                }
                assert!(hits * 10 >= total * 9, "{indexed}: {hits} of {total}");
            }
        }
    }
    // with * in the result list, its columns come first: ORDER BY 2 is the table's second
    // column, and ORDER BY bucket the table's bucket even where the distance is named so; the
    // answer must be the scan's, rows and order (found in review: the rewrite took 2 for the
    // distance and returned the nearest rows ordered by cluster)
    for (select, order) in
        [("*, vector_distance_cos(v, ?1)", "2"), ("*, vector_distance_cos(v, ?1) AS bucket", "bucket")]
    {
        let q = |from: &str| format!("SELECT {select} FROM {from} ORDER BY {order} LIMIT 20");
        assert!(!plan(&conn, &q("t")).contains("edgelite_vector_scan"), "{}", q("t"));
        let args = [Value::from(rng.vector())];
        assert_eq!(ids(&conn, &q("t"), &args), ids(&conn, &q("t NOT INDEXED"), &args), "{}", q("t"));
    }
    // an alias that two columns have is SQLite's to resolve (it says which is meant): no rewrite
    let twice = "SELECT vector_distance_cos(v, ?1) AS d, id AS d FROM t ORDER BY d LIMIT 3";
    assert!(!plan(&conn, twice).contains("edgelite_vector_scan"), "{}", plan(&conn, twice));
}

#[test]
fn subqueries_that_cannot_see_the_outer_query_use_the_index() {
    let (conn, mut rng) = table(3000, 10, 59);
    let nested = [
        // (indexed form with {from} for the inner FROM, rewritten?)
        ("SELECT id FROM (SELECT id FROM {from} ORDER BY vector_distance_cos(v, ?1) LIMIT 10)", true),
        (
            "SELECT id FROM (SELECT id FROM {from} WHERE bucket < 500 ORDER BY vector_distance_cos(v, ?1) LIMIT 10)",
            true,
        ),
        (
            "SELECT id FROM t WHERE id IN (SELECT id FROM {from} WHERE bucket % 10 = 3 ORDER BY vector_distance_cos(v, ?1) LIMIT 10)",
            true,
        ),
        (
            "SELECT count(*) FROM t WHERE EXISTS (SELECT 1 FROM (SELECT id FROM {from} ORDER BY vector_distance_cos(v, ?1) LIMIT 7))",
            true,
        ),
        // correlated: the inner filter names the outer row, so the inner query is left to scan
        (
            "SELECT o.id FROM t AS o WHERE o.bucket < 3 AND o.id IN (SELECT id FROM {from} WHERE t.bucket = o.bucket ORDER BY vector_distance_cos(v, ?1) LIMIT 2)",
            false,
        ),
        // a WITH clause may name a table: nothing inside is rewritten
        (
            "WITH w AS (SELECT 1) SELECT id FROM (SELECT id FROM {from} ORDER BY vector_distance_cos(v, ?1) LIMIT 10)",
            false,
        ),
    ];
    for (sql, rewritten) in nested {
        let (indexed, scan) = (sql.replace("{from}", "t"), sql.replace("{from}", "t NOT INDEXED"));
        assert_eq!(
            plan(&conn, &indexed).contains("edgelite_vector_scan"),
            rewritten,
            "{indexed}:\n{}",
            plan(&conn, &indexed)
        );
        let (mut hits, mut total) = (0, 0);
        for _ in 0..5 {
            let args = [Value::from(rng.vector())];
            let (mut got, mut want) = (ids(&conn, &indexed, &args), ids(&conn, &scan, &args));
            assert_eq!(got.len(), want.len(), "{indexed}");
            got.sort_unstable();
            want.sort_unstable();
            hits += got.iter().filter(|id| want.contains(id)).count();
            total += want.len();
        }
        assert!(hits * 10 >= total * 9, "{indexed}: {hits} of {total}");
    }
}

/// A database file `name` in a new temporary directory (kept while the first value lives), its
/// path, and a connection to it.
fn file_db(name: &str) -> (tempfile::TempDir, std::path::PathBuf, Connection) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join(name);
    let conn = Connection::open(&path).expect("open");
    (dir, path, conn)
}

#[test]
fn a_zero_vector_another_connection_writes_comes_first_here_too() {
    // the records of rows without a direction are remembered per data version: another
    // connection's commit changes it
    let (_dir, path, a) = file_db("z.db");
    a.execute_batch(
        "CREATE TABLE t(id INTEGER PRIMARY KEY, v F32_BLOB(3));
         CREATE INDEX t_v ON t(libsql_vector_idx(v));
         WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 300)
         INSERT INTO t(v) SELECT vector('[' || (x % 7 + 1) || ',' || (x % 11) || ',' || (x % 5) || ']') FROM n;",
    )
    .expect("fill");
    let sql = "SELECT id FROM t ORDER BY vector_distance_cos(v, vector('[1,2,3]')) LIMIT 3";
    assert!(plan(&a, sql).contains("edgelite_vector_scan"));
    let first = |c: &Connection| -> i64 { c.query_row(sql, [], |r| r.get(0)).expect("first") };
    assert_ne!(first(&a), 77);
    let b = Connection::open(&path).expect("b");
    b.execute("UPDATE t SET v = vector('[0,0,0]') WHERE id = 77", []).expect("zero");
    assert_eq!(first(&a), 77, "a NULL distance sorts first");
    b.execute("UPDATE t SET v = vector('[1,2,3]') WHERE id = 77", []).expect("unzero");
    b.execute("UPDATE t SET v = vector('[0,0,0]') WHERE id = 78", []).expect("zero");
    assert_eq!(first(&a), 78);
}

#[test]
fn only_all_zero_vectors_are_recorded_and_only_rows_the_index_took() {
    // The review's cases: a vector whose squared length overflows or underflows has a NULL
    // cosine distance to itself but a number to most queries, and must not come first; an
    // INSERT refused for its dimensions (no statement journal for one row) leaves no record;
    // index names with char(1) in them do not share records.
    let conn = Connection::open_in_memory().expect("open");
    conn.execute_batch(
        "CREATE TABLE t(id INTEGER PRIMARY KEY, v F32_BLOB(2));
         CREATE INDEX t_v ON t(libsql_vector_idx(v));
         INSERT INTO t VALUES (1, vector('[1e20,0]')), (2, vector('[0,0]')), (3, vector('[1,0]')),
                              (4, vector('[-1e-30,0]')), (5, vector('[0,1]'));",
    )
    .expect("fill");
    let first = |sql: &str| -> Vec<i64> { ids(&conn, sql, &[]) };
    for limit in [1, 2, 3] {
        let q = |from: &str| {
            format!("SELECT id FROM {from} ORDER BY vector_distance_cos(v, vector('[1,0]')) LIMIT {limit}")
        };
        assert_eq!(first(&q("t")), first(&q("t NOT INDEXED")), "LIMIT {limit}");
    }
    let records = |conn: &Connection| -> Vec<i64> {
        let mut s = conn
            .prepare(
                "SELECT metadata FROM libsql_vector_meta_shadow WHERE name LIKE 'sqlite_edgelite_zero%' ORDER BY 1",
            )
            .expect("records");
        s.query_map([], |r| r.get(0)).expect("q").collect::<Result<_>>().expect("rows")
    };
    assert_eq!(records(&conn), vec![2]);
    conn.execute_batch("BEGIN").expect("begin");
    conn.execute("INSERT INTO t VALUES (6, vector('[0,0,0]'))", []).expect_err("three dimensions");
    conn.execute_batch("COMMIT").expect("commit");
    assert_eq!(records(&conn), vec![2], "a refused row leaves no record");
    let verdict: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).expect("check");
    assert_eq!(verdict, "ok");
    // a record whose row is no zero vector is reported
    conn.execute("INSERT INTO libsql_vector_meta_shadow VALUES ('sqlite_edgelite_zero' || char(1) || '3' || char(1) || 't_v' || char(1) || '5', 5)", []).expect("stale");
    let verdict: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).expect("check");
    assert_eq!(verdict, "vector index t_v: 1 records of rows that are not zero or NaN vectors (first: 5)");
    conn.execute_batch("REINDEX t_v").expect("reindex");
    assert_eq!(records(&conn), vec![2]);
    // other indexes whose names start as this one's and hold char(1)
    conn.execute_batch(
        "CREATE TABLE u(id INTEGER PRIMARY KEY, v F32_BLOB(2));
         INSERT INTO u VALUES (9, vector('[0,0]'));",
    )
    .expect("u");
    conn.execute_batch("CREATE INDEX \"t_v\x01zero\x01x\" ON u(libsql_vector_idx(v))").expect("odd name");
    conn.execute(&format!("CREATE INDEX \"t_v{}3{}x\" ON u(libsql_vector_idx(v))", '\u{1}', '\u{1}'), [])
        .expect("odd name");
    assert_eq!(records(&conn), vec![2, 9, 9]);
    conn.execute_batch("DROP INDEX t_v").expect("drop");
    assert_eq!(records(&conn), vec![9, 9], "the other indexes keep their records");
    let verdict: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).expect("check");
    assert_eq!(verdict, "ok");
}

#[test]
fn an_attached_schema_with_a_dot_in_its_name() {
    let dir = tempfile::tempdir().expect("dir");
    let conn = Connection::open_in_memory().expect("open");
    conn.execute("ATTACH ?1 AS \"a.b\"", [dir.path().join("ab.db").to_str().expect("path")]).expect("attach");
    conn.execute_batch(
        "CREATE TABLE \"a.b\".t(id INTEGER PRIMARY KEY, v F32_BLOB(2));
         CREATE INDEX \"a.b\".t_v ON t(libsql_vector_idx(v));
         WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 100)
         INSERT INTO \"a.b\".t(v) SELECT vector('[' || x || ',' || (x % 7) || ']') FROM n;",
    )
    .expect("fill");
    let sql = "SELECT id FROM \"a.b\".t ORDER BY vector_distance_cos(v, vector('[3,1]')) LIMIT 5";
    assert!(plan(&conn, sql).contains("edgelite_vector_scan"), "{}", plan(&conn, sql));
    let scan = "SELECT id FROM \"a.b\".t NOT INDEXED ORDER BY vector_distance_cos(v, vector('[3,1]')) LIMIT 5";
    assert_eq!(ids(&conn, sql, &[]).len(), ids(&conn, scan, &[]).len());
}

/// An index `x.i` in main beside an index `i` of an attached schema named `main.x`: the rewrite
/// names each so that the other cannot be read for it (unquoted, `main.x.i` named both).
#[test]
fn a_schema_and_an_index_whose_dotted_names_meet() {
    let conn = Connection::open_in_memory().expect("open");
    conn.execute_batch(
        "ATTACH ':memory:' AS \"main.x\";
         CREATE TABLE s(id INTEGER PRIMARY KEY, v F32_BLOB(2));
         CREATE INDEX \"x.i\" ON s(libsql_vector_idx(v));
         INSERT INTO s VALUES (1, vector('[1,0]'));
         CREATE TABLE \"main.x\".s2(id INTEGER PRIMARY KEY, v F32_BLOB(2));
         CREATE INDEX \"main.x\".i ON s2(libsql_vector_idx(v));
         INSERT INTO s2 VALUES (1, vector('[0,1]')), (2, vector('[1,0]'));",
    )
    .expect("fill");
    for (table, want) in [("\"main.x\".s2", vec![2, 1]), ("s", vec![1])] {
        let sql = format!("SELECT id FROM {table} ORDER BY vector_distance_cos(v, vector('[1,0]')) LIMIT 2");
        assert!(plan(&conn, &sql).contains("edgelite_vector_scan"), "{}", plan(&conn, &sql));
        assert_eq!(ids(&conn, &sql, &[]), want, "{sql}");
    }
}

/// The rewrite's own subqueries name their columns: an unnamed one is `column1` to SQLite, and
/// a user's column of that name became ambiguous.
#[test]
fn a_column_named_column1() {
    let conn = Connection::open_in_memory().expect("open");
    conn.execute_batch(
        "CREATE TABLE t(id INTEGER PRIMARY KEY, column1 INT, v F32_BLOB(2));
         CREATE INDEX i ON t(libsql_vector_idx(v));
         WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 1200)
         INSERT INTO t(column1, v) SELECT x % 3, vector('[' || x || ',' || (x % 11) || ']') FROM n;",
    )
    .expect("fill");
    // the rewrite at any size (INDEXED BY: 1,200 2-d rows are scanned once the connection has
    // read their size, a_table_too_small_for_the_walk_is_scanned)
    for filter in ["column1 = 1", "column1 = 1 AND id > 5"] {
        let q = |from: &str| {
            format!("SELECT id FROM {from} WHERE {filter} ORDER BY vector_distance_cos(v, vector('[40,3]')) LIMIT 5")
        };
        let forced = q("t INDEXED BY i");
        assert!(plan(&conn, &forced).contains("edgelite_vector_scan"), "{}", plan(&conn, &forced));
        assert_eq!(ids(&conn, &forced, &[]), ids(&conn, &q("t NOT INDEXED"), &[]), "{filter}");
        assert_eq!(ids(&conn, &q("t"), &[]), ids(&conn, &q("t NOT INDEXED"), &[]), "{filter}");
    }
}

/// A join whose filter calls `vector_distance_*`, over a table with a row whose vector is NULL
/// and which the join never reaches: the query's own plan (the other table first) never calls
/// the function on that row, and the rewrite's sample must not either (it failed with
/// "unexpected value type: got NULL" where the scan returned rows).
#[test]
fn a_join_that_never_reaches_a_row_without_a_vector() {
    let conn = Connection::open_in_memory().expect("open");
    conn.execute_batch(
        "CREATE TABLE t(id INTEGER PRIMARY KEY, v F32_BLOB(2));
         CREATE INDEX i ON t(libsql_vector_idx(v));
         CREATE TABLE j(id INTEGER PRIMARY KEY, tid INT);
         INSERT INTO t VALUES (1, NULL), (2, vector('[1,0]')), (3, vector('[0,1]')), (4, vector('[1,1]'));
         INSERT INTO j(tid) VALUES (2), (4);",
    )
    .expect("fill");
    let q = |from: &str| {
        format!(
            "SELECT t.id FROM {from} JOIN j ON j.tid = t.id WHERE vector_distance_cos(t.v, vector('[1,0]')) < 0.5 \
             ORDER BY vector_distance_cos(t.v, vector('[1,0]')) LIMIT 2"
        )
    };
    assert!(plan(&conn, &q("t")).contains("edgelite_vector_sample"), "{}", plan(&conn, &q("t")));
    assert_eq!(ids(&conn, &q("t NOT INDEXED"), &[]), vec![2, 4]);
    assert_eq!(ids(&conn, &q("t"), &[]), vec![2, 4]);
}

/// A vector with a NaN element has a NaN distance to every query under either metric (one with
/// an infinite element under cosine), which SQL gives as NULL and sorts first: the index
/// returns such rows first too, as it does all-zero vectors under cosine (an l2 index returned
/// them last, or not at all).
#[test]
fn nan_vectors_come_first_under_either_metric() {
    let conn = Connection::open_in_memory().expect("open");
    for (metric, function) in [("l2", "vector_distance_l2"), ("cosine", "vector_distance_cos")] {
        conn.execute_batch(&format!(
            "DROP TABLE IF EXISTS t;
             CREATE TABLE t(id INTEGER PRIMARY KEY, v F32_BLOB(2));
             CREATE INDEX t_v ON t(libsql_vector_idx(v, 'metric={metric}'));
             WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 200)
             INSERT INTO t(v) SELECT vector('[' || x || ',' || (x % 9) || ']') FROM n;
             INSERT INTO t VALUES (300, x'0000c07f0000803f'), (301, x'0000803f0000c07f');
             -- [+inf, 1]: NULL to every query under cosine only
             INSERT INTO t VALUES (302, x'0000807f0000803f');
             UPDATE t SET v = x'0000c07f0000c07f' WHERE id = 50;"
        ))
        .expect("fill");
        let check = |what: &str| {
            let q = |from: &str| format!("SELECT id FROM {from} ORDER BY {function}(v, vector('[3,1]')) LIMIT 4");
            // the rewrite at any size (INDEXED BY; 200 2-d rows are scanned once the
            // connection has read their size)
            let forced = q("t INDEXED BY t_v");
            assert!(plan(&conn, &forced).contains("edgelite_vector_scan"), "{}", plan(&conn, &forced));
            // the NULL-distance rows tie: compared as sets
            let sorted = |sql: &str| {
                let mut got = ids(&conn, sql, &[]);
                got.sort_unstable();
                got
            };
            assert_eq!(sorted(&forced), sorted(&q("t NOT INDEXED")), "{metric}, {what}");
            assert_eq!(sorted(&q("t")), sorted(&q("t NOT INDEXED")), "{metric}, {what}");
            let verdict: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).expect("check");
            assert_eq!(verdict, "ok", "{metric}, {what}");
        };
        check("inserted and updated");
        conn.execute_batch("DELETE FROM t WHERE id = 300; UPDATE t SET v = vector('[1,1]') WHERE id = 301;")
            .expect("change");
        check("deleted and mended");
        conn.execute_batch("REINDEX t_v").expect("reindex");
        check("reindexed");
    }
}

/// On an empty table the scan never computes a distance, so a query vector it could not use
/// fails nothing: the rewrite answers no rows too, where it failed on the vector.
#[test]
fn an_empty_table_answers_no_rows_whatever_the_query_vector() {
    let conn = Connection::open_in_memory().expect("open");
    conn.execute_batch(
        "CREATE TABLE t(id INTEGER PRIMARY KEY, v F32_BLOB(3)); CREATE INDEX i ON t(libsql_vector_idx(v));",
    )
    .expect("schema");
    // vector('abc') fails where it is evaluated: the scan of an empty table never evaluates
    // it, nor must the walk's arguments (a fuzzer found the rewrite failing here), also once
    // the table has been emptied
    let queries =
        ["NULL", "vector('[1,2]')", "x'00'", "'garbage'", "vector('[1,2,3]')", "vector('abc')", "vector('[1,')"];
    for round in 0..2 {
        for q in queries {
            // the rewrite (INDEXED BY), and the table's own plan: a table this small is scanned
            // once the connection has read its size
            let sql = format!("SELECT id FROM t INDEXED BY i ORDER BY vector_distance_cos(v, {q}) LIMIT 3");
            assert!(plan(&conn, &sql).contains("edgelite_vector_scan"), "{}", plan(&conn, &sql));
            assert!(ids(&conn, &sql, &[]).is_empty(), "round {round}: {sql}");
            let own = sql.replace(" INDEXED BY i", "");
            assert!(ids(&conn, &own, &[]).is_empty(), "round {round}: {own}");
        }
        conn.execute_batch("INSERT INTO t(v) VALUES (vector('[1,2,3]')); DELETE FROM t;").expect("emptied");
    }
    // a table with rows evaluates it either way, and fails the same
    conn.execute_batch("INSERT INTO t(v) VALUES (vector('[1,2,3]'))").expect("row");
    for table in ["t", "t INDEXED BY i", "t NOT INDEXED"] {
        let sql = format!("SELECT id FROM {table} ORDER BY vector_distance_cos(v, vector('abc')) LIMIT 3");
        assert!(
            conn.prepare(&sql)
                .and_then(|mut s| s.query_map([], |r| r.get::<_, i64>(0))?.collect::<Result<Vec<_>>>())
                .is_err(),
            "{sql}"
        );
    }
}

/// Without a WHERE clause, a LIMIT or OFFSET bound to a parameter leaves K unknown until the
/// statement runs, so the planner cannot choose the scan for a K too large for the walk as it
/// does for a literal one: `edgelite_scan_cheaper` says at each run whether the scan costs
/// less (the table's size under `max((100 + S)(128 - dims)/16 below 128 dimensions, 3 S)`),
/// the walk starts only when it does not, and the query reads every row itself (its MULTI-INDEX
/// OR's second side) when the walk returned fewer than K rows. `LIMIT -1 OFFSET ?` walked
/// every row of minilm-20k at 0.68x the scan's speed. Either way the answers are the scan's.
#[test]
fn a_bound_limit_too_large_for_the_walk_reads_every_row() {
    let (conn, mut rng) = random_table("a", 8, "", 3000, 7, 57);
    let cheaper = |k: i64, dims: i64| -> i64 {
        conn.query_row("SELECT edgelite_scan_cheaper(?1, 'main', 't', ?2)", params![k, dims], |r| r.get(0))
            .expect("verdict")
    };
    // 8 dimensions: (100 + 11) * 120 / 16 = 832 rows under the scan at K = 10, 8,250 at 1,000
    assert_eq!(cheaper(10, 8), 0);
    assert_eq!(cheaper(1000, 8), 1);
    assert_eq!(cheaper(-1, 8), 1, "every row");
    // 384 dimensions: 3 S, 2,970 rows at K = 900, 3,003 at 910
    assert_eq!(cheaper(900, 384), 0);
    assert_eq!(cheaper(910, 384), 1);
    let sql = "SELECT id FROM t ORDER BY vector_distance_cos(v, ?1) LIMIT ?2 OFFSET ?3";
    let scan = sql.replace("FROM t", "FROM t NOT INDEXED");
    let shown = plan(&conn, sql);
    assert!(shown.contains("MULTI-INDEX OR") && shown.contains("edgelite_walk"), "{shown}");
    let mut stmt = conn.prepare(sql).expect("prepare");
    for (limit, offset) in [(10, 0), (-1, 0), (1000, 0), (10, 2990), (5, 0), (-1, 2000), (100, 2950)] {
        let q = Value::from(rng.vector(8));
        let args = [q.clone(), Value::from(limit), Value::from(offset)];
        let got: Vec<i64> = stmt
            .query_map(params_from_iter(args.iter()), |r| r.get(0))
            .expect("query")
            .collect::<Result<_>>()
            .expect("rows");
        let want = ids(&conn, &scan, &args);
        assert_eq!(got.len(), want.len(), "LIMIT {limit} OFFSET {offset}");
        if limit == -1 || limit >= 1000 || offset > 0 {
            // the scan's side: every row, ranked as the scan ranks them
            assert_eq!(got, want, "LIMIT {limit} OFFSET {offset}");
        }
    }
}

/// A query vector that the walk cannot use fails with the error that the scan's own call gives
/// on its first row, not with the index's (a review's find: `dimensions are different: 4 != 8`
/// where the scan says `vectors must have the same length: 8 != 4`, and `invalid float` for a
/// text whose trailing comma the scan counts as a ninth number first), the column first in
/// the call or second, with a filter or without.
#[test]
fn a_query_vector_the_walk_cannot_use_fails_as_the_scan_does() {
    let (conn, _) = random_table("a", 8, "", 40, 5, 31);
    let failure = |sql: &str| -> String {
        let run =
            conn.prepare(sql).and_then(|mut s| s.query_map([], |r| r.get::<_, i64>(0))?.collect::<Result<Vec<_>>>());
        run.expect_err(sql).to_string()
    };
    let queries = [
        "vector64('[1,2,3,4,5,6,7,8]')",
        "vector('[1,2,3,4]')",
        "'[1,2,3,4,5,6,7,8,]'",
        "x''",
        "vector8('[1,2,3,4,5,6,7,8]')",
        "'[1,2,3,4,5,6,7,x]'",
        "7",
    ];
    for q in queries {
        for call in [format!("vector_distance_cos(v, {q})"), format!("vector_distance_cos({q}, t.v)")] {
            for filter in ["", "WHERE a >= 0"] {
                let sql = format!("SELECT id FROM t INDEXED BY t_v {filter} ORDER BY {call} LIMIT 3");
                assert!(plan(&conn, &sql).contains("edgelite_vector_scan"), "{}", plan(&conn, &sql));
                let scan = sql.replace("INDEXED BY t_v", "NOT INDEXED");
                assert_eq!(failure(&sql), failure(&scan), "{sql}");
            }
        }
    }
}

/// A differential fuzzer's join (session 23): the rows that pass a filter an ordinary index
/// serves are read into a CTE without the query's ORDER BY, so SQLite may join in another
/// order than the scan's plan. With `x.a` indexed, the CTE read `x` first and evaluated the
/// filter's `vector_distance_cos` on a row without a vector, which the scan (reading `u` first)
/// never reaches: the rewritten query failed where the scan answers. The CTE now skips rows
/// without a vector first, as the walk's filter does, when the filter calls a function (as
/// this one does; nothing else fails on a NULL vector).
#[test]
fn an_indexed_filter_in_a_join_that_never_reaches_a_row_without_a_vector() {
    let conn = Connection::open_in_memory().expect("open");
    conn.execute_batch(
        "CREATE TABLE t(id INTEGER PRIMARY KEY, a INT, v F32_BLOB(2));
         CREATE INDEX tv ON t(libsql_vector_idx(v, 'metric=cosine'));
         CREATE INDEX ta ON t(a);
         CREATE TABLE u(id INTEGER PRIMARY KEY, tid INT);
         INSERT INTO t VALUES (1, 0, vector32('[1,0]')), (2, 0, NULL), (3, 5, vector32('[0,1]')),
                              (4, 0, vector32('[1,1]'));
         INSERT INTO u VALUES (1, 1), (2, 4);",
    )
    .expect("schema");
    let sql = "SELECT x.rowid, vector_distance_cos(x.v, vector32('[0,1]')) FROM {T}, u
               WHERE x.a < 2 AND vector_distance_cos(x.v, vector32('[1,0]')) < 1.5 AND u.tid = x.rowid
               ORDER BY 2 LIMIT 10";
    let rows = |from: &str| -> Vec<(i64, f64)> {
        let mut stmt = conn.prepare(&sql.replace("{T}", from)).expect("prepare");
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).expect("query").collect::<Result<_>>().expect("rows")
    };
    assert!(plan(&conn, &sql.replace("{T}", "t AS x")).contains("edgelite_few"), "the indexed filter's CTE is used");
    let scan = rows("t AS x NOT INDEXED");
    assert_eq!(scan.iter().map(|r| r.0).collect::<Vec<_>>(), [4, 1]);
    assert_eq!(rows("t AS x"), scan);
}

/// Rows whose vector is NULL: SQLite's own plan fails on them (`vector_distance_*` of NULL is an
/// error, as in libSQL), and the rewrite's walk never meets them (they have no node). Every
/// branch of the rewrite leaves them out the same way: the branches that ranked the table used
/// to rank them and fail, so one query answered or failed by the plan that the table's
/// statistics chose (`WHERE c % 2 = 1 ... LIMIT 3` answered and `LIMIT 100` failed). The
/// answer is the scan's answer over the rows that have a vector.
#[test]
fn every_plan_leaves_out_rows_without_a_vector() {
    let conn = Connection::open_in_memory().expect("open");
    conn.execute_batch(
        "CREATE TABLE t(id INTEGER PRIMARY KEY, b INT, c INT, v F32_BLOB(3));
         CREATE INDEX t_v ON t(libsql_vector_idx(v));
         CREATE INDEX t_b ON t(b);
         WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 2000)
         INSERT INTO t SELECT x, x % 97, x * 7 % 1000, CASE WHEN x % 10 = 3 THEN NULL
             ELSE vector('[' || (x * 37 % 101) || ',' || (x * 53 % 103) || ',' || (x * 71 % 107 + 1) || ']') END
         FROM n;",
    )
    .expect("fill");
    let query = "vector('[50,50,50]')";
    // the filters: none (the walk alone), one an ordinary index serves with few rows (its CTE),
    // few rows without an index (the sample sends the query to its own scan), many rows (the
    // sample's walk)
    for (filter, branch) in [
        ("1", "edgelite_vector_scan"),
        ("b = 5", "edgelite_few"),
        ("b < 9", "edgelite_few"),
        ("c < 10", "edgelite_vector_sample"),
        ("c % 2 = 1", "edgelite_vector_sample"),
        ("id > 1990", "edgelite_few"),
        // a function of another column, and one of the vector (vector_distance_l2 of NULL
        // fails): the vector is tested first for both, as a function may fail on a row without one
        ("abs(c) < 10", "edgelite_vector_sample"),
        ("c < 10 AND vector_distance_l2(v, vector('[1,1,1]')) >= 0", "edgelite_vector_sample"),
        ("b = 5 AND vector_distance_l2(v, vector('[1,1,1]')) >= 0", "edgelite_few"),
    ] {
        let where_ = if filter == "1" { String::new() } else { format!("WHERE {filter}") };
        for limit in [3, 40, 100, 3000] {
            let q = |from: &str, more: &str| {
                format!("SELECT id FROM {from} {where_} {more} ORDER BY vector_distance_cos(v, {query}) LIMIT {limit}")
            };
            // the table's plan (the scan, without the rewrite, where the table is small for
            // the walk: 2,000 3-d rows) and the rewrite's (INDEXED BY)
            let (sql, forced) = (q("t", ""), q("t INDEXED BY t_v", ""));
            let shown = plan(&conn, &sql);
            assert!(shown.contains(branch) || small_plan(&shown), "{sql}: {shown}");
            assert!(plan(&conn, &forced).contains(branch), "{forced}: {}", plan(&conn, &forced));
            let scan = q("t NOT INDEXED", "");
            assert!(
                conn.prepare(&scan)
                    .and_then(|mut s| s.query_map([], |r| r.get::<_, i64>(0))?.collect::<Result<Vec<_>>>())
                    .is_err(),
                "{scan} fails on a NULL vector"
            );
            let want = ids(
                &conn,
                &format!(
                    "SELECT id FROM t NOT INDEXED WHERE v IS NOT NULL AND ({filter}) \
                     ORDER BY vector_distance_cos(v, {query}) LIMIT {limit}"
                ),
                &[],
            );
            for sql in [&sql, &forced] {
                let got = ids(&conn, sql, &[]);
                assert_eq!(got.len(), want.len(), "{sql}");
                let hits = got.iter().filter(|id| want.contains(id)).count();
                assert!(hits * 100 >= want.len() * 95, "{sql}: {hits} of {} rows", want.len());
            }
        }
    }
}

/// A differential fuzzer's case (session 31): after ANALYZE, the rewritten query scanned the
/// table for `rowid IN (<candidates>)` and evaluated the filter's own `vector_distance_l2` on a
/// row without a vector, which no candidate is, and failed where a search by rowid answers. The
/// query tests the vector before the filter.
#[test]
fn the_rewritten_query_tests_the_vector_before_the_filter() {
    let conn = Connection::open_in_memory().expect("open");
    conn.execute_batch(
        "CREATE TABLE t(id INTEGER PRIMARY KEY, a INT, v F32_BLOB(2));
         INSERT INTO t VALUES (1, 3, NULL);
         CREATE INDEX i ON t(libsql_vector_idx(v)) WHERE a IS NOT NULL;
         ANALYZE;",
    )
    .expect("fill");
    let sql = "SELECT id FROM t WHERE a IS NOT NULL AND (a = 0 OR vector_distance_l2(v, vector('[1,1]')) > 1.5)
               ORDER BY vector_distance_cos(v, vector('[1,1]')) LIMIT 5";
    assert!(plan(&conn, sql).contains("edgelite_vector_scan"), "{}", plan(&conn, sql));
    assert!(ids(&conn, sql, &[]).is_empty());
    conn.execute_batch(
        "INSERT INTO t VALUES (2, 4, vector('[3,1]')), (3, 0, vector('[1,2]')), (4, NULL, vector('[1,1]'))",
    )
    .expect("more");
    assert_eq!(ids(&conn, sql, &[]), vec![3, 2]);
}

/// A review's cases: a filter that reaches the vector through a generated column, or fails on
/// another column of a row without a vector (`abs()` of the least integer), must be evaluated
/// only on rows with one, as `v IS NOT NULL AND (<filter>)` evaluates it. When the branch that
/// ranked the table tested the vector after every filter that calls no function on the vector
/// column by name, these failed ("got NULL", "integer overflow") where that scan answers.
#[test]
fn a_filter_that_may_fail_on_a_row_without_a_vector_never_sees_one() {
    let conn = Connection::open_in_memory().expect("open");
    conn.execute_batch(
        "CREATE TABLE t(id INTEGER PRIMARY KEY, a INT, b INT, v F32_BLOB(3));
         WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 3100)
         INSERT INTO t SELECT x, x % 1000, x % 50, CASE WHEN x > 3000 THEN NULL
             ELSE vector('[' || (x * 37 % 101) || ',' || (x * 53 % 103) || ',' || (x * 71 % 107 + 1) || ']') END
         FROM n;
         UPDATE t SET b = -9223372036854775808 WHERE id = 3050;
         CREATE TABLE u(id INTEGER PRIMARY KEY, a INT, b INT, v F32_BLOB(3));
         INSERT INTO u SELECT * FROM t;
         ALTER TABLE t ADD COLUMN g REAL AS (vector_distance_cos(v, vector('[1,0,0]')));
         CREATE INDEX i ON t(libsql_vector_idx(v));
         CREATE INDEX j ON u(libsql_vector_idx(v));",
    )
    .expect("fill");
    for (table, filter) in [
        ("t", "g < 0.05"),
        ("t", "a < 20 AND g < 2"),
        ("u", "abs(b) = 3"),
        ("u", "abs(b) = 3 AND a < 100"),
        ("u", "a < 100 AND abs(b) = 3 AND id > 5"),
        ("u", "(a < 100 OR a > 990) AND abs(b) < 4 AND b <> 2"),
    ] {
        let sql = |scan: &str, more: &str| {
            format!(
                "SELECT id FROM {table} {scan} WHERE {more}({filter}) \
                 ORDER BY vector_distance_cos(v, vector('[50,50,50]')) LIMIT 10"
            )
        };
        let want = ids(&conn, &sql("NOT INDEXED", "v IS NOT NULL AND "), &[]);
        let got = ids(&conn, &sql("", ""), &[]);
        assert!(!want.is_empty(), "{filter}: no rows");
        assert_eq!(got, want, "{filter}");
    }
}

/// The scan's loop of the rewritten query (one table: its MULTI-INDEX OR) evaluates the filter
/// where the scan would: SQLite evaluates its own copies of the query's column comparisons
/// inside each side's loop, so a comparison of a generated column that fails on rows an earlier
/// term leaves out failed there ("malformed JSON", "integer overflow") where the scan answers;
/// a join keeps its ranked branch (there the same OR failed on `abs()` of another table's least
/// integer); and a result column's subquery that reads a table named like the rewrite's CTEs,
/// which are the query's own, is left to the scan (it counted the walk's rows). A review's
/// finds, each failing before its fix.
#[test]
fn the_scans_loop_evaluates_the_filter_where_the_scan_does() {
    let conn = Connection::open_in_memory().expect("open");
    conn.execute_batch(
        "CREATE TABLE docs(id INTEGER PRIMARY KEY, meta TEXT, b INT, v F32_BLOB(2));
         CREATE INDEX docs_v ON docs(libsql_vector_idx(v));
         WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 300)
         INSERT INTO docs SELECT x, CASE WHEN x % 50 = 0 THEN 'not json' ELSE json_object('price', x % 100) END,
             CASE WHEN x = 77 THEN -9223372036854775808 ELSE x % 7 END,
             vector('[' || (x % 17 + 1) || ',' || (x % 13 + 1) || ']') FROM n;
         ALTER TABLE docs ADD COLUMN price REAL AS (json_extract(meta, '$.price')) VIRTUAL;
         ALTER TABLE docs ADD COLUMN g INT AS (abs(b)) VIRTUAL;
         CREATE TABLE t(id INTEGER PRIMARY KEY, a INT, b INT, v F32_BLOB(2));
         CREATE INDEX t_v ON t(libsql_vector_idx(v));
         INSERT INTO t SELECT id, id % 10, id % 7, v FROM docs;
         CREATE TABLE l(x INT);
         INSERT INTO l VALUES (3), (-9223372036854775808);
         CREATE TABLE edgelite_walk(edgelite_id INT, x INT);
         INSERT INTO edgelite_walk VALUES (1, 42);",
    )
    .expect("fill");
    let answer = |sql: &str| -> std::result::Result<Vec<Vec<i64>>, String> {
        let mut stmt = conn.prepare(sql).map_err(|e| e.to_string())?;
        let n = stmt.column_count();
        stmt.query_map([], |r| (0..n).map(|i| r.get::<_, i64>(i)).collect::<Result<Vec<i64>>>())
            .map_err(|e| e.to_string())?
            .collect::<Result<Vec<_>>>()
            .map_err(|e| e.to_string())
    };
    let q = "vector('[3,4]')";
    for sql in [
        format!(
            "SELECT id FROM {{docs}} WHERE json_valid(meta) AND price < 5 ORDER BY vector_distance_cos(v, {q}) LIMIT 5"
        ),
        format!(
            "SELECT id FROM {{docs}} WHERE b <> -9223372036854775808 AND g < 5 ORDER BY vector_distance_cos(v, {q}) LIMIT 5"
        ),
        format!(
            "SELECT t.id FROM l CROSS JOIN {{t}} WHERE t.b + 0 = l.x + 0 AND t.a < abs(l.x) \
             ORDER BY vector_distance_cos(t.v, {q}) LIMIT 5"
        ),
        format!(
            "SELECT id, (SELECT count(*) FROM edgelite_walk) FROM {{t}} WHERE a = 3 \
             ORDER BY vector_distance_cos(v, {q}) LIMIT 3"
        ),
    ] {
        let scan = sql.replace("{docs}", "docs NOT INDEXED").replace("{t}", "t NOT INDEXED");
        let want = answer(&scan);
        assert!(want.as_ref().is_ok_and(|rows| !rows.is_empty()), "{scan}: {want:?}");
        // the tables' own plan (300 2-d rows are scanned once the connection has read their
        // size), and the rewrite (INDEXED BY), which the last query is left out of
        let indexed = sql.replace("{docs}", "docs").replace("{t}", "t");
        assert_eq!(answer(&indexed), want, "{indexed}");
        if !sql.contains("edgelite_walk") {
            let forced = sql.replace("{docs}", "docs INDEXED BY docs_v").replace("{t}", "t INDEXED BY t_v");
            assert_eq!(answer(&forced), want, "{forced}");
        }
    }
    // the single-table forms take the index
    assert!(
        plan(
            &conn,
            &format!(
                "SELECT id FROM docs INDEXED BY docs_v WHERE json_valid(meta) AND price < 5 \
                 ORDER BY vector_distance_cos(v, {q}) LIMIT 5"
            )
        )
        .contains("graph walk")
    );
    // a query the rewrite leaves to SQLite fails as SQLite fails it with an INDEXED BY that
    // its planner cannot use
    let left = format!(
        "SELECT id, (SELECT count(*) FROM edgelite_walk) FROM t INDEXED BY t_v WHERE a = 3 \
         ORDER BY vector_distance_cos(v, {q}) LIMIT 3"
    );
    assert_eq!(answer(&left).map_err(|e| e.contains("no query solution")), Err(true), "{left}");
}

/// The rewrite remembers what its filter counted over the table's sample for the values of the
/// filter's parameters, until the data changes (`edgelite_sample_memo`): a statement run again
/// with the same filter values skips the 64 seeks. The memo's key holds every parameter value
/// exactly (type and bytes), this connection's count of changed rows and every schema's data
/// version; a filter with more than 64 parameters is counted every run. A stale count could
/// only choose the slower of two exact plans: rows stay exact whatever it says, which the
/// second half checks on one prepared statement run again across parameters and writes.
#[test]
fn the_samples_count_is_remembered_per_filter_values_and_data() {
    let (conn, mut rng) = table(3000, 4, 53);
    let memo = |args: &str| -> Option<i64> {
        conn.query_row(&format!("SELECT edgelite_sample_memo({args})"), [], |r| r.get(0)).expect("memo")
    };
    let remembered: i64 = conn
        .query_row("SELECT edgelite_sample_remember(5, 7, 1, 'x', x'00', 2.5, NULL)", [], |r| r.get(0))
        .expect("remember");
    assert_eq!(remembered, 7);
    assert_eq!(memo("5, 1, 'x', x'00', 2.5, NULL"), Some(7));
    for other in [
        "5, 1, 'x', x'01', 2.5, NULL",
        "5, 2, 'x', x'00', 2.5, NULL",
        "5, 1, 'x', x'00', 2.5",
        "6, 1, 'x', x'00', 2.5, NULL",
    ] {
        assert_eq!(memo(other), None, "{other}");
    }
    // parameters are kept whole: a blob of another content but the same length is another key,
    // and parameters too large to keep are not remembered at all (they once kept only their
    // length, so two different 5,000-byte blobs shared a count)
    for size in [4000, 5000] {
        let n: i64 = conn
            .query_row(&format!("SELECT edgelite_sample_remember(9, 3, zeroblob({size}))"), [], |r| r.get(0))
            .expect("remember a blob");
        assert_eq!(n, 3);
        let other = format!("9, CAST(replace(hex(zeroblob({size})), '00', 'A') AS BLOB)");
        assert_eq!(memo(&other), None, "another blob of {size} bytes");
        let same = memo(&format!("9, zeroblob({size})"));
        assert_eq!(same, (size == 4000).then_some(3), "the same blob of {size} bytes");
    }
    // any row this connection changes, in any table, moves the stamp
    conn.execute_batch("CREATE TABLE other(x); INSERT INTO other VALUES (1);").expect("write");
    assert_eq!(memo("5, 1, 'x', x'00', 2.5, NULL"), None);
    let none: Option<i64> =
        conn.query_row("SELECT edgelite_sample_remember(5, NULL, 1)", [], |r| r.get(0)).expect("remember NULL");
    assert_eq!(none, None);
    assert_eq!(memo("5, 1"), None, "a NULL count is not remembered");

    // one prepared statement, run again with filters that pass 25%, 0.1% and 0% of the rows,
    // across writes that move rows in and out of them
    let sql = |from: &str| {
        format!("SELECT id FROM {from} WHERE cluster = ?2 AND bucket < ?3 ORDER BY vector_distance_cos(v, ?1) LIMIT 10")
    };
    let mut indexed = conn.prepare(&sql("t")).expect("indexed");
    let mut scan = conn.prepare(&sql("t NOT INDEXED")).expect("scan");
    let (mut hits, mut total) = (0, 0);
    for round in 0..6 {
        for (cluster, below) in [(1, 1000), (1, 4), (2, 1000), (1, 1000), (9, 1000), (1, 4)] {
            for _ in 0..3 {
                let args = params![rng.vector(), cluster, below];
                let got: Vec<i64> =
                    indexed.query_map(args, |r| r.get(0)).expect("q").collect::<Result<_>>().expect("rows");
                let want: Vec<i64> =
                    scan.query_map(args, |r| r.get(0)).expect("q").collect::<Result<_>>().expect("rows");
                assert_eq!(got.len(), want.len(), "round {round}, cluster {cluster}, bucket < {below}");
                hits += got.iter().filter(|id| want.contains(id)).count();
                total += want.len();
            }
        }
        // most of cluster 1 leaves it, then comes back
        let moved = if round % 2 == 0 {
            "UPDATE t SET cluster = 9 WHERE cluster = 1 AND id % 10 > 0"
        } else {
            "UPDATE t SET cluster = 1 WHERE cluster = 9"
        };
        conn.execute(moved, []).expect("move");
    }
    assert!(hits * 100 >= total * 95, "recall {hits}/{total}");

    // more parameters than the memo takes: counted every run, as exact
    let list: Vec<String> = (2..=71).map(|i| format!("?{i}")).collect();
    let filter = format!("bucket IN ({})", list.join(","));
    let mut args = vec![Value::from(rng.vector())];
    args.extend((0..70).map(|i| Value::from(i * 7)));
    let (got, want) = pair(&filter, "LIMIT 10");
    assert!(plan(&conn, &got).contains("edgelite_vector_scan"));
    assert_eq!(ids(&conn, &got, &args).len(), ids(&conn, &want, &args).len());
}

/// Registers `counted(x)`, a deterministic function that returns `x` and counts its calls: how
/// many rows a plan evaluated the filter on.
fn counted(conn: &Connection) -> std::sync::Arc<std::sync::atomic::AtomicUsize> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let calls = std::sync::Arc::new(AtomicUsize::new(0));
    let counter = std::sync::Arc::clone(&calls);
    conn.create_scalar_function(
        "counted",
        1,
        edgelite::functions::FunctionFlags::UTF8 | edgelite::functions::FunctionFlags::DETERMINISTIC,
        move |ctx| {
            counter.fetch_add(1, Ordering::Relaxed);
            ctx.get::<i64>(0)
        },
    )
    .expect("function");
    calls
}

/// The sample's count, remembered by the filter's parameters over unchanged data, is neither
/// read nor remembered inside a write transaction: a count read there and then rolled back held
/// for the data as it was, as the count of changed rows and the data versions it is stamped
/// with stand through a rollback, and every later run chose its plan by it until the next
/// write (a reviewer's case: after `BEGIN; UPDATE t SET p = p + 1000`, the query and `ROLLBACK`,
/// a filter that half the rows pass scanned the table at every run). Counted with a filter that
/// counts its calls: the walk evaluates it on a few dozen rows, the scan on every row.
#[test]
fn a_count_read_in_a_rolled_back_transaction_is_forgotten() {
    use std::sync::atomic::Ordering;

    let (conn, mut rng) = random_table("p", 8, "", 6000, 400, 29);
    let calls = counted(&conn);
    let sql = "SELECT id FROM t WHERE counted(p) < 200 ORDER BY vector_distance_cos(v, ?1) LIMIT 10";
    let q = [Value::from(rng.vector(8))];
    let mut stmt = conn.prepare(sql).expect("prepare");
    let mut run = |what: &str| -> usize {
        calls.store(0, Ordering::Relaxed);
        let got: Vec<i64> = stmt
            .query_map(params_from_iter(q.iter()), |r| r.get(0))
            .expect("query")
            .collect::<Result<_>>()
            .expect("rows");
        assert_eq!(got.len(), 10, "{what}");
        calls.load(Ordering::Relaxed)
    };
    run("first");
    let walked = run("again");
    assert!(walked < 600, "half the rows pass: the walk, {walked} calls");
    conn.execute_batch("BEGIN; UPDATE t SET p = p + 1000 WHERE id > 10;").expect("update");
    let scanned = run("in the transaction");
    assert!(scanned >= 6000, "almost no row passes: the scan, {scanned} calls");
    conn.execute_batch("ROLLBACK").expect("rollback");
    run("after the rollback");
    let after = run("after the rollback, again");
    assert!(after < 600, "half the rows pass again: the walk, {after} calls");
}

/// Once K rows have passed the filter, the walk's rows farther than the K-th are not sought:
/// the planner's slack (K + ceil(K/10) rows that pass) once sought every row of the walk up to
/// the one after the K-th that passed, each a seek of the filter's row, though no row farther
/// than the K-th can be among the K the query keeps. Counted with a filter that counts its
/// calls, over 3,000 random points where every tenth row by distance passes (l2, the order
/// exact): `LIMIT 1` evaluated the filter on 20 rows and now on 10, `LIMIT 3` on 40 and now
/// on 30, with the same answer as the scan.
#[test]
fn rows_farther_than_the_kth_that_passed_are_not_sought() {
    use std::sync::atomic::Ordering;

    let conn = Connection::open_in_memory().expect("open");
    conn.execute_batch(
        "CREATE TABLE t(id INTEGER PRIMARY KEY, a INT, v F32_BLOB(2));
         CREATE INDEX t_v ON t(libsql_vector_idx(v, 'metric=l2'));",
    )
    .expect("schema");
    let mut rng = Lcg(97);
    let points: Vec<[f32; 2]> = (0..3000).map(|_| [rng.next(), rng.next()]).collect();
    let query = [0.1f32, -0.2];
    let mut by_distance: Vec<usize> = (0..points.len()).collect();
    let l2 = |p: &[f32; 2]| (p[0] - query[0]).powi(2) + (p[1] - query[1]).powi(2);
    by_distance.sort_by(|&i, &j| l2(&points[i]).total_cmp(&l2(&points[j])));
    let mut rank = vec![0; points.len()];
    for (r, &i) in by_distance.iter().enumerate() {
        rank[i] = r;
    }
    let tx = conn.unchecked_transaction().expect("tx");
    for (i, p) in points.iter().enumerate() {
        // every tenth row by distance passes: ranks 9, 19, 29, ...
        let a = i64::from(rank[i] % 10 != 9);
        conn.execute(
            "INSERT INTO t VALUES (?1, ?2, vector(?3))",
            params![i as i64 + 1, a, format!("[{},{}]", p[0], p[1])],
        )
        .expect("insert");
    }
    tx.commit().expect("commit");
    let calls = counted(&conn);
    let q = Value::from(format!("[{},{}]", query[0], query[1]));
    for (k, most) in [(1, 13), (3, 34)] {
        let sql = |from: &str| {
            format!("SELECT id FROM {from} WHERE counted(a) = 0 ORDER BY vector_distance_l2(v, ?1) LIMIT {k}")
        };
        assert!(plan(&conn, &sql("t")).contains("graph walk"), "{}", plan(&conn, &sql("t")));
        let want = ids(&conn, &sql("t NOT INDEXED"), std::slice::from_ref(&q));
        let expected: Vec<i64> = (0..k).map(|n| by_distance[10 * n + 9] as i64 + 1).collect();
        assert_eq!(want, expected, "the scan");
        // the first run also counts the sample's rows, which later runs of the statement
        // remember
        let mut stmt = conn.prepare(&sql("t")).expect("prepare");
        let mut run =
            || -> Vec<i64> { stmt.query_map([&q], |r| r.get(0)).expect("query").collect::<Result<_>>().expect("rows") };
        assert_eq!(run(), expected, "LIMIT {k}");
        calls.store(0, Ordering::Relaxed);
        assert_eq!(run(), expected, "LIMIT {k}");
        let n = calls.load(Ordering::Relaxed);
        assert!((10 * k..=most).contains(&n), "LIMIT {k}: the filter ran on {n} rows");
    }
}

/// `edgelite_pass`, the planner's column that says a row passed: once the hint's K rows have,
/// the scan returns only rows nearer than the K-th of them, and ends after the slack's share of
/// rows (ceil(K/10) more rows that pass, at the rate seen so far: here every row passes, so
/// one more row). `edgelite_id` alone says nothing passed: every row comes.
#[test]
fn the_planners_scan_ends_once_k_rows_passed() {
    let (conn, mut rng) = table(1000, 3, 61);
    let q = Value::from(rng.vector());
    let count = |column: &str, k: i64| -> i64 {
        conn.query_row(&format!("SELECT count({column}) FROM edgelite_vector_scan('main.t_v', ?1, {k})"), [&q], |r| {
            r.get(0)
        })
        .expect("scan")
    };
    assert_eq!(count("edgelite_id", 1), 1000);
    assert_eq!(count("edgelite_id", 10), 1000);
    // the row after the K-th is returned only if it is nearer (the walk's order is nearly exact)
    assert!((1..=2).contains(&count("edgelite_pass", 1)));
    assert!((10..=11).contains(&count("edgelite_pass", 10)));
    // "every row" is no K
    assert_eq!(count("edgelite_pass", 1 << 40), 1000);
    // the rows it returns are the nearest, as the walk ranks them
    let passed: Vec<i64> =
        ids(&conn, "SELECT edgelite_pass FROM edgelite_vector_scan('main.t_v', ?1, 10)", std::slice::from_ref(&q));
    let walked: Vec<i64> = ids(
        &conn,
        "SELECT edgelite_id FROM edgelite_vector_scan('main.t_v', ?1, 10) LIMIT 11",
        std::slice::from_ref(&q),
    );
    assert_eq!(passed[..10], walked[..10]);
}

/// A join of plain tables whose filter few rows pass is ranked by one scan of the join, whose ON
/// clauses then become WHERE terms ahead of the test that a row has a vector (SQLite evaluates
/// ON clauses after the WHERE, so the test ran on every row the join scanned). The test must
/// still leave out the rows without a vector that pass: every row of bucket 7 has none (the
/// scan fails on them, `vector_distance_cos` of NULL), and bucket 8 has some of each. An ON
/// clause that calls a function keeps the test first.
#[test]
fn a_plain_joins_scan_tests_the_vector_after_the_join() {
    let conn = Connection::open_in_memory().expect("open");
    conn.execute_batch(
        "CREATE TABLE t(id INTEGER PRIMARY KEY, b INT, v F32_BLOB(4));
         CREATE TABLE g(id INTEGER PRIMARY KEY, ok INT);
         WITH RECURSIVE s(x) AS (SELECT 0 UNION ALL SELECT x + 1 FROM s WHERE x < 99) INSERT INTO g SELECT x, x % 10 FROM s;
         WITH RECURSIVE s(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM s WHERE x < 5000)
         INSERT INTO t SELECT x, x % 100, CASE WHEN x % 50 = 7 OR x % 100 = 58 THEN NULL
           ELSE vector32('[' || (x % 13) || ',' || (x % 7 - 3) || ',' || (x % 5) || ',1]') END FROM s;
         CREATE INDEX t_v ON t(libsql_vector_idx(v));",
    )
    .expect("schema");
    let q = [Value::from("[1,0,0.5,0]".to_string())];
    let sql = |on: &str, filter: &str| {
        format!("SELECT t.id FROM {{T}} JOIN g ON {on} WHERE {filter} ORDER BY vector_distance_cos(t.v, ?1) LIMIT 5")
    };
    for on in ["g.id = t.b", "g.id = abs(t.b)"] {
        let none = sql(on, "g.id = 7").replace("{T}", "t");
        assert!(plan(&conn, &none).contains("edgelite_vector_sample"), "{}", plan(&conn, &none));
        assert_eq!(ids(&conn, &none, &q), Vec::<i64>::new(), "{on}: bucket 7 has no vector");
        for filter in ["g.id = 8", "g.id = 8 AND t.id > 1000", "g.ok = 8 AND t.id % 3 = 1"] {
            let s = sql(on, filter);
            let got = ids(&conn, &s.replace("{T}", "t"), &q);
            let want =
                ids(&conn, &s.replace("{T}", "t NOT INDEXED").replace("WHERE ", "WHERE t.v IS NOT NULL AND "), &q);
            assert_eq!(got.len(), 5, "{s}");
            assert_eq!(got.len(), want.len(), "{s}");
        }
    }
}

/// `edgelite_walk_budget(passed, schema, table, n, s)`, the sample's verdict that the rewrite
/// reads once a run: the rule (PATCHES.md, 0002) computed in SQL over the sample's own rows
/// (`count(*)` and `max(edgelite_rows)` of `edgelite_vector_sample`), across writes that change
/// both the sample's size and the table's (`edgelite_rows`: its rowid span, or SQLite's
/// estimate of its rows where the rowids are sparse): 0 (the query scans) when the walk would
/// read more than a 32nd of the table to find S rows that pass, else min(4 x the need, max(2 x
/// the need, size / 32)) with the need S x rows / max(passed, 1) + 100; NULL for an empty table.
#[test]
fn the_walks_budget_is_the_samples_rule() {
    let (conn, _) = table(500, 3, 71);
    let check = |what: &str| {
        let (rows, size): (i64, Option<i64>) = conn
            .query_row("SELECT count(*), max(edgelite_rows) FROM edgelite_vector_sample('main', 't', 64)", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .expect("aggregate");
        for passed in [0, 1, 2, 5, 20, 64] {
            for s in [1, 11, 55, 1100, i64::MAX] {
                let got: Option<i64> = conn
                    .query_row("SELECT edgelite_walk_budget(?1, 'main', 't', 64, ?2)", params![passed, s], |r| r.get(0))
                    .expect("budget");
                let want = size.map(|size| {
                    let (p, sp, n, s) = (passed as i128, size as i128, rows as i128, s as i128);
                    if p * sp < 32 * s * n {
                        0
                    } else {
                        let need = |t: i128| t * s * n / p.max(1) + 100;
                        need(4).min(need(2).max(sp / 32)) as i64
                    }
                });
                assert_eq!(got, want, "{what}: passed {passed}, S {s}");
            }
        }
        (rows, size)
    };
    assert_eq!(check("500 rows"), (64, Some(500)));
    conn.execute("DELETE FROM t WHERE id > 40", []).expect("delete");
    let (n, size) = check("40 rows");
    assert!(n <= 40 && size == Some(40), "{n} {size:?}");
    conn.execute("INSERT INTO t(id, v) VALUES (1000000, vector('[1,2,3,4,5,6,7,8,9,10,11,12]'))", [])
        .expect("far rowid");
    // 41 rows spanning a million rowids: the table's size is SQLite's estimate of its rows
    // (exact here: one page holds them all), not the span
    let (_, size) = check("a rowid far away");
    assert_eq!(size, Some(41));
    conn.execute("DELETE FROM t", []).expect("delete all");
    assert_eq!(check("no rows"), (0, None));
    let null: Option<i64> =
        conn.query_row("SELECT edgelite_walk_budget(NULL, 'main', 't', 64, 11)", [], |r| r.get(0)).expect("null");
    assert_eq!(null, None);
    let e = conn
        .query_row("SELECT edgelite_walk_budget(3, 'main', 'nosuch', 64, 11)", [], |r| r.get::<_, i64>(0))
        .expect_err("no such table");
    assert!(e.to_string().contains("no such table"), "{e}");
}

/// A small index is read by brute force over every node, whose rowids the connection remembers
/// for the data version it listed them at: the list must follow every change, another
/// connection's commit, this connection's own writes, a write transaction (where it is not
/// used) and its rollback. `vector_scan` of every row must give the table's rowids each time.
#[test]
fn a_small_indexs_remembered_rowids_follow_every_change() {
    let (_dir, path, a) = file_db("small.db");
    a.execute_batch(
        "CREATE TABLE t(id INTEGER PRIMARY KEY, v F32_BLOB(3));
         WITH RECURSIVE s(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM s WHERE x < 150)
         INSERT INTO t SELECT x, vector32('[' || (x % 11) || ',' || (x % 7 + 1) || ',' || (x % 3) || ']') FROM s;
         CREATE INDEX t_v ON t(libsql_vector_idx(v));",
    )
    .expect("schema");
    let b = Connection::open(&path).expect("open b");
    let same = |conn: &Connection, what: &str| {
        let mut scanned = ids(conn, "SELECT id FROM vector_scan('t_v', vector('[1,2,1]'))", &[]);
        scanned.sort_unstable();
        let rows = ids(conn, "SELECT id FROM t ORDER BY id", &[]);
        assert_eq!(scanned, rows, "{what}");
        let near = ids(
            conn,
            "SELECT id FROM t WHERE id % 2 = 0 ORDER BY vector_distance_cos(v, vector('[1,2,1]')) LIMIT 200",
            &[],
        );
        assert_eq!(near.len(), rows.iter().filter(|id| *id % 2 == 0).count(), "{what}: the planner's query");
        rows.len()
    };
    assert_eq!(same(&a, "as built"), 150);
    same(&a, "again, from the remembered list");
    b.execute_batch(
        "INSERT INTO t VALUES (1000, vector32('[1,2,1]')), (1001, vector32('[3,1,0]'));
         DELETE FROM t WHERE id IN (1, 2, 3);",
    )
    .expect("b writes");
    assert_eq!(same(&a, "after another connection's commit"), 149);
    a.execute("DELETE FROM t WHERE id > 140 AND id < 1000", []).expect("a deletes");
    assert_eq!(same(&a, "after this connection's delete"), 139);
    a.execute_batch("BEGIN; INSERT INTO t VALUES (2000, vector32('[0,1,0]'));").expect("begin");
    assert_eq!(same(&a, "inside a write transaction"), 140);
    a.execute_batch("ROLLBACK").expect("rollback");
    assert_eq!(same(&a, "after the rollback"), 139);
    assert_eq!(same(&b, "the other connection"), 139);
}
