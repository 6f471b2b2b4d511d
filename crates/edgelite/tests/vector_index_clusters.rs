//! Wrong answers from the index on clustered data (the fuzzer's R3): tight clusters and queries
//! far from all of them. A search from the entry point alone settled in a cluster whose linked
//! clusters were all farther than itself, and `ORDER BY vector_distance_cos(...) LIMIT 1`
//! returned a row at 0.779 where the nearest is at 0.448. The index's seeds (edgelite-diskann's
//! `Seeds`) take a settled search on from the cluster it missed; these tests hold
//! `vector_top_k`, the planner's rewrite and its filtered walk to the exact answer, also after
//! rows (seeds among them) are deleted by another connection.

use edgelite::{Connection, Result, params};

mod common;
use common::{Lcg, text};

const DIMS: usize = 8;
const CLUSTERS: usize = 10;

/// 3,000 rows of 8 dimensions in 10 clusters of spread 0.05 (row `id` in cluster `id % 10`),
/// inserted into an indexed table one by one, as R3 did; `a = id % 4` for filters.
fn clustered(conn: &Connection, rows: usize) {
    conn.execute_batch(
        "CREATE TABLE t(id INTEGER PRIMARY KEY, a INT, v F32_BLOB(8));
         CREATE INDEX i ON t(libsql_vector_idx(v));",
    )
    .expect("schema");
    let mut g = Lcg(7);
    let centers: Vec<Vec<f64>> = (0..CLUSTERS).map(|_| g.point(DIMS)).collect();
    conn.execute_batch("BEGIN").expect("begin");
    for id in 1..=rows {
        let c = &centers[id % CLUSTERS];
        let v: Vec<f64> = c.iter().map(|x| x + 0.05 * g.unit()).collect();
        conn.execute(
            "INSERT INTO t(id, a, v) VALUES (?1, ?2, vector32(?3))",
            params![id as i64, (id % 4) as i64, text(&v)],
        )
        .expect("row");
    }
    conn.execute_batch("COMMIT").expect("commit");
}

fn ids(conn: &Connection, sql: &str, query: &str) -> Vec<i64> {
    let mut stmt = conn.prepare(sql).expect("prepare");
    stmt.query_map(params![query], |r| r.get(0)).expect("query").collect::<Result<_>>().expect("rows")
}

/// Recall@10 over `queries` of `sql` against `exact` (both bind the query as ?1), and the
/// queries whose nearest row `sql` missed.
fn recall(conn: &Connection, queries: &[String], sql: &str, exact: &str) -> (f64, usize) {
    let (mut found, mut wanted, mut missed_first) = (0, 0, 0);
    for q in queries {
        let want = ids(conn, exact, q);
        let got = ids(conn, sql, q);
        assert_eq!(got.len(), want.len(), "{sql} for {q}: row count");
        found += got.iter().filter(|id| want.contains(id)).count();
        wanted += want.len();
        missed_first += usize::from(got.first() != want.first());
    }
    (found as f64 / wanted as f64, missed_first)
}

fn queries(seed: u64, n: usize) -> Vec<String> {
    let mut g = Lcg(seed);
    (0..n).map(|_| text(&g.point(DIMS))).collect()
}

const TOP_K: &str = "SELECT id FROM vector_top_k('i', vector32(?1), 10)";
const PLANNED: &str = "SELECT id FROM t ORDER BY vector_distance_cos(v, vector32(?1)) LIMIT 10";
const EXACT: &str = "SELECT id FROM t NOT INDEXED ORDER BY vector_distance_cos(v, vector32(?1)) LIMIT 10";
const PLANNED_FILTERED: &str = "SELECT id FROM t WHERE a <> 1 ORDER BY vector_distance_cos(v, vector32(?1)) LIMIT 10";
const EXACT_FILTERED: &str =
    "SELECT id FROM t NOT INDEXED WHERE a <> 1 ORDER BY vector_distance_cos(v, vector32(?1)) LIMIT 10";

/// Queries far from every cluster: the search, the rewrite and the filtered walk find the
/// cluster that holds the nearest rows: recall@10 0.994-0.995 for all three, the nearest row
/// missed for 2 queries of 200. Without the seeds `vector_top_k` had 0.908 and missed it for 18.
#[test]
fn searches_find_the_nearest_cluster_for_queries_far_from_all() {
    let conn = Connection::open_in_memory().expect("open");
    clustered(&conn, 3000);
    let qs = queries(11, 200);
    for (sql, exact) in [(TOP_K, EXACT), (PLANNED, EXACT), (PLANNED_FILTERED, EXACT_FILTERED)] {
        let (r, missed) = recall(&conn, &qs, sql, exact);
        assert!(r >= 0.97 && missed <= 4, "{sql}: recall@10 {r:.3}, nearest row missed for {missed} of 200 queries");
    }
    // queries near the data were found before and still are, exactly
    let near: Vec<String> = (1..=50)
        .map(|id: i64| {
            conn.query_row("SELECT vector_extract(v) FROM t WHERE id = ?1", [id * 37], |r| r.get(0)).expect("v")
        })
        .collect();
    let (r, missed) = recall(&conn, &near, TOP_K, EXACT);
    assert!(r >= 0.99 && missed == 0, "near queries: recall@10 {r:.3}, {missed} missed");
}

/// 4,000 rows of 8 dimensions around 60 vectors: 60% exact copies of them, in groups of skewed
/// size (the first vector takes about a quarter of the rows, as Pareto's law draws them), the
/// rest within 0.01 of a vector chosen evenly (a review's `dups` family).
fn skewed_groups(conn: &Connection, metric: &str) {
    conn.execute_batch(&format!(
        "CREATE TABLE t(id INTEGER PRIMARY KEY, a INT, v F32_BLOB(8));
         CREATE INDEX i ON t(libsql_vector_idx(v, 'metric={metric}'));"
    ))
    .expect("schema");
    let mut g = Lcg(24);
    let pool: Vec<Vec<f64>> = (0..60).map(|_| g.point(DIMS)).collect();
    conn.execute_batch("BEGIN").expect("begin");
    for id in 1..=4000i64 {
        let v: Vec<f64> = if g.unit() < 0.2 {
            // (0, 1]: 1/u - 1 is Pareto-distributed with shape 1
            let u = (g.unit() + 1.0) / 2.0;
            pool[((1.0 / u.max(1e-9)) as usize).saturating_sub(1).min(59)].clone()
        } else {
            let p = &pool[((g.unit() + 1.0) * 30.0) as usize % 60];
            p.iter().map(|x| x + 0.01 * g.unit()).collect()
        };
        conn.execute("INSERT INTO t(id, a, v) VALUES (?1, ?2, vector32(?3))", params![id, id % 4, text(&v)])
            .expect("row");
    }
    conn.execute_batch("COMMIT").expect("commit");
}

/// Queries far from the groups of [`skewed_groups`]: the seeds are spread by their vectors, so
/// small groups have seeds too. Drawn at evenly spaced rowids, they followed the rows' density:
/// the largest group took most of them, and a query whose nearest group had none settled
/// elsewhere (a review's query: rows at 1.418 where the nearest 28 are at 1.129, for every k up
/// to 200).
#[test]
fn searches_find_small_groups_beside_large_ones() {
    for metric in ["cosine", "l2"] {
        let conn = Connection::open_in_memory().expect("open");
        skewed_groups(&conn, metric);
        let name = if metric == "l2" { "l2" } else { "cos" };
        let exact = format!("SELECT id FROM t NOT INDEXED ORDER BY vector_distance_{name}(v, vector32(?1)) LIMIT 10");
        let (r, missed) = recall(&conn, &queries(22, 300), TOP_K, &exact);
        assert!(r >= 0.99 && missed <= 3, "{metric}: recall@10 {r:.4}, nearest row missed for {missed} of 300 queries");
    }
}

/// 4,000 rows of 32 dimensions under l2: 70% in 40 tight clusters (spread 0.03), 30% scattered
/// over a box three times as wide, and queries far from the clusters. Seeds chosen farthest
/// apart (greedy k-center) were all scattered rows, no cluster had one, and recall@10 was 0.816
/// (0.955 with the seeds at evenly spaced rowids); chosen to shorten the candidates' summed
/// lengths, a cluster's candidates outweigh one scattered row: 0.988.
#[test]
fn searches_find_clusters_among_scattered_rows() {
    let conn = Connection::open_in_memory().expect("open");
    conn.execute_batch(
        "CREATE TABLE t(id INTEGER PRIMARY KEY, v F32_BLOB(32));
         CREATE INDEX i ON t(libsql_vector_idx(v, 'metric=l2'));",
    )
    .expect("schema");
    let mut g = Lcg(31);
    let centers: Vec<Vec<f64>> = (0..40).map(|_| g.point(32)).collect();
    conn.execute_batch("BEGIN").expect("begin");
    for id in 1..=4000i64 {
        let v: Vec<f64> = if g.unit() < 0.4 {
            let c = &centers[((g.unit() + 1.0) * 20.0) as usize % 40];
            c.iter().map(|x| x + 0.03 * g.unit()).collect()
        } else {
            g.point(32).iter().map(|x| 3.0 * x).collect()
        };
        conn.execute("INSERT INTO t(id, v) VALUES (?1, vector32(?2))", params![id, text(&v)]).expect("row");
    }
    conn.execute_batch("COMMIT").expect("commit");
    let mut g = Lcg(32);
    let qs: Vec<String> = (0..300).map(|_| text(&g.point(32))).collect();
    let exact = "SELECT id FROM t NOT INDEXED ORDER BY vector_distance_l2(v, vector32(?1)) LIMIT 10";
    let (r, missed) = recall(&conn, &qs, TOP_K, exact);
    assert!(r >= 0.97, "recall@10 {r:.4}, nearest row missed for {missed} of 300 queries");
}

/// Rows in two runs of rowids far apart (1 to 1,500, then from 2^62 on): the seeds, drawn at
/// evenly spaced rowids, were nearly all the first row past the gap (an index of 10 clusters
/// had 3 candidates); the runs are now probed and sampled each. Then rowids from i64::MIN,
/// where the draw's first point is the entry point itself.
#[test]
fn searches_find_the_nearest_cluster_when_rowids_have_a_gap() {
    let conn = Connection::open_in_memory().expect("open");
    clustered(&conn, 1500);
    conn.execute_batch(
        "INSERT INTO t(id, a, v) SELECT id + 4611686018427387904, a, v FROM t;
         DELETE FROM t WHERE id <= 1500 AND id % 2 = 0;",
    )
    .expect("append past the gap");
    let (r, missed) = recall(&conn, &queries(13, 200), TOP_K, EXACT);
    assert!(r >= 0.97 && missed <= 4, "recall@10 {r:.3}, nearest row missed for {missed} of 200 queries");
    // the least rowid there is: the first point of the draw is the entry point itself
    let conn = Connection::open_in_memory().expect("open");
    clustered(&conn, 1500);
    conn.execute_batch("UPDATE t SET id = id - 9223372036854775807 - 2").expect("move to i64::MIN");
    let least: i64 = conn.query_row("SELECT min(id) FROM t", [], |r| r.get(0)).expect("min");
    assert_eq!(least, i64::MIN);
    let (r, missed) = recall(&conn, &queries(13, 200), TOP_K, EXACT);
    assert!(r >= 0.97 && missed <= 4, "from i64::MIN: recall@10 {r:.3}, nearest row missed for {missed} of 200");
}

/// The seeds are hints that outlive commits: after another connection deletes a third of the
/// rows (many seeds among them) and adds rows past the old span, searches on the first
/// connection still return k rows that exist, with the same recall.
#[test]
fn searches_stay_right_after_other_connections_delete_seeds() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("clusters.db");
    let conn = Connection::open(&path).expect("open");
    clustered(&conn, 3000);
    let qs = queries(12, 100);
    let (before, _) = recall(&conn, &qs, TOP_K, EXACT);
    assert!(before >= 0.97, "before: recall@10 {before:.3}");
    let other = Connection::open(&path).expect("open other");
    other.execute("DELETE FROM t WHERE id % 3 = 0", []).expect("delete");
    other
        .execute_batch("INSERT INTO t(id, a, v) SELECT id + 3000, a, v FROM t WHERE id % 3 = 1 AND id <= 300;")
        .expect("append");
    let live: i64 = conn.query_row("SELECT count(*) FROM t", [], |r| r.get(0)).expect("count");
    assert_eq!(live, 2100);
    let (after, _) = recall(&conn, &qs, TOP_K, EXACT);
    assert!(after >= 0.97, "after: recall@10 {after:.3}");
    for q in &qs[..20] {
        for id in ids(&conn, TOP_K, q) {
            let n: i64 = conn.query_row("SELECT count(*) FROM t WHERE id = ?1", [id], |r| r.get(0)).expect("row");
            assert_eq!(n, 1, "vector_top_k returned row {id}, which does not exist");
        }
    }
    let verdict: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).expect("check");
    assert_eq!(verdict, "ok");
}

/// A connection keeps its seeds by the index's name: an index dropped and created again under
/// it with other neighbour copies (or a table dropped and created with more dimensions) must
/// not be searched from the old copies. A review found that every search of the connection then
/// failed ("unknown error": a slice out of range) until the rowid span moved.
#[test]
fn seeds_of_a_dropped_index_never_serve_the_next_one() {
    let conn = Connection::open_in_memory().expect("open");
    let fill = |dims: usize| {
        let parts: Vec<String> = (2..dims).map(|d| d.to_string()).collect();
        conn.execute_batch(&format!(
            "CREATE TABLE t(id INTEGER PRIMARY KEY, v F32_BLOB({dims}));
             WITH RECURSIVE g(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM g WHERE x < 300)
             INSERT INTO t SELECT x, vector32('[' || (x % 7) || ',{},' || (x % 5) || ']') FROM g;",
            parts.join(",")
        ))
        .expect("fill");
    };
    let count = |dims: usize| -> i64 {
        let q = format!("[{}]", vec!["1"; dims].join(","));
        conn.query_row("SELECT count(*) FROM vector_top_k('i', vector32(?1), 5)", [q], |r| r.get(0)).expect("search")
    };
    fill(16);
    conn.execute_batch("CREATE INDEX i ON t(libsql_vector_idx(v, 'compress_neighbors=float1bit'))").expect("index");
    assert_eq!(count(16), 5);
    for options in ["", ", 'compress_neighbors=float8'"] {
        conn.execute_batch(&format!("DROP INDEX i; CREATE INDEX i ON t(libsql_vector_idx(v{options}));"))
            .expect("again");
        assert_eq!(count(16), 5, "after recreating the index with {options:?}");
    }
    conn.execute_batch("DROP TABLE t").expect("drop");
    fill(64);
    conn.execute_batch("CREATE INDEX i ON t(libsql_vector_idx(v))").expect("index");
    assert_eq!(count(64), 5);
}
