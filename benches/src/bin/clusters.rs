//! The vector index on data where a graph search goes wrong, against the exact answer (the same
//! SQL with `NOT INDEXED`), in one run:
//!
//! - `clusters, far queries`: `--rows` rows (default 3,000) of 8 dimensions in 10 clusters of
//!   spread 0.05 (row `id` in cluster `id % 10`, inserted one by one into the indexed table),
//!   cosine, and 200 uniform random queries, far from every cluster (the fuzzer's R3: a search
//!   from the entry point alone settled in a cluster whose linked clusters were all farther);
//! - `clusters, near queries`: the same rows, 200 queries drawn around rows (the control);
//! - `UPDATE-made group`: 2,000 rows of 8 dimensions under l2, then all but 30 UPDATEd to one
//!   vector (the fuzzer's R1: an UPDATE is a delete and an insert at the same rowid, and the
//!   in-edges a delete's search missed led the 30 rows into the group), 100 queries at `LIMIT`
//!   3, 5 and 10.
//!
//! - `skewed groups, cos` and `l2`: 4,000 rows of 8 dimensions around 60 vectors, 60% exact
//!   copies in groups of skewed size (Pareto), the rest within 0.01 of one, and 300 uniform
//!   queries at `LIMIT 10` (a review's trap: the index's seeds, drawn at evenly spaced rowids,
//!   followed the rows' density and left small groups without one);
//! - `scattered rows, l2`: 4,000 rows of 32 dimensions, 70% in 40 tight clusters and 30%
//!   scattered over a box three times as wide, 300 uniform queries (seeds chosen farthest apart
//!   were all scattered rows).
//!
//! These two are the data of `crates/edgelite/tests/vector_index_clusters.rs`, the same
//! generator and seeds.
//!
//! For each: recall@k of `vector_top_k` and of the planner's rewrite (`ORDER BY
//! vector_distance_*(v, q) LIMIT k`) against the exact query, the queries whose nearest row was
//! missed, and queries/s of the rewrite and of the exact scan. Deterministic data (a 64-bit LCG),
//! so two builds see the same rows and queries.
//!
//! ```text
//! cargo run --release -p edgelite-benches --bin clusters -- [--rows 3000]
//! ```

use std::error::Error;
use std::time::Instant;

use edgelite::{Connection, params};

type BoxResult<T> = Result<T, Box<dyn Error>>;

/// Uniform in [-1, 1) from a 64-bit LCG.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
    }

    fn vector(&mut self) -> Vec<f64> {
        self.point(DIMS)
    }

    fn point(&mut self, dims: usize) -> Vec<f64> {
        (0..dims).map(|_| self.next()).collect()
    }
}

const DIMS: usize = 8;

fn text(v: &[f64]) -> String {
    let parts: Vec<String> = v.iter().map(|x| format!("{x:.4}")).collect();
    format!("[{}]", parts.join(","))
}

fn ids(conn: &Connection, sql: &str, query: &str) -> BoxResult<Vec<i64>> {
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt.query_map([query], |r| r.get(0))?;
    Ok(rows.collect::<edgelite::Result<_>>()?)
}

/// One row of the table: recall@k and missed nearest rows of `vector_top_k` and of the
/// rewrite, and queries/s of the rewrite and of the exact scan.
fn measure(conn: &Connection, label: &str, metric: &str, queries: &[String], limits: &[usize]) -> BoxResult<()> {
    let order = format!("vector_distance_{metric}(v, vector32(?1))");
    let (mut top_found, mut found, mut wanted, mut top_missed, mut missed) = (0, 0, 0, 0, 0);
    let (mut indexed_s, mut exact_s) = (0.0, 0.0);
    for q in queries {
        for &k in limits {
            let t = Instant::now();
            let want = ids(conn, &format!("SELECT id FROM t NOT INDEXED ORDER BY {order} LIMIT {k}"), q)?;
            exact_s += t.elapsed().as_secs_f64();
            let t = Instant::now();
            let got = ids(conn, &format!("SELECT id FROM t ORDER BY {order} LIMIT {k}"), q)?;
            indexed_s += t.elapsed().as_secs_f64();
            let top = ids(conn, &format!("SELECT id FROM vector_top_k('i', vector32(?1), {k})"), q)?;
            found += got.iter().filter(|id| want.contains(id)).count();
            top_found += top.iter().filter(|id| want.contains(id)).count();
            wanted += want.len();
            missed += usize::from(got.first() != want.first());
            top_missed += usize::from(top.first() != want.first());
        }
    }
    let runs = (queries.len() * limits.len()) as f64;
    println!(
        "| {label} | {:.3} | {top_missed} | {:.3} | {missed} | {:.0} | {:.0} | {:.1}x |",
        top_found as f64 / wanted as f64,
        found as f64 / wanted as f64,
        runs / indexed_s,
        runs / exact_s,
        exact_s / indexed_s,
    );
    Ok(())
}

/// An in-memory table `t(id, v)` of `rows` (ids from 1) with a vector index of `metric`.
fn indexed(dims: usize, metric: &str, rows: &[Vec<f64>]) -> BoxResult<Connection> {
    let conn = Connection::open_in_memory()?;
    let metric = if metric == "l2" { ", 'metric=l2'" } else { "" };
    conn.execute_batch(&format!(
        "CREATE TABLE t(id INTEGER PRIMARY KEY, v F32_BLOB({dims})); CREATE INDEX i ON t(libsql_vector_idx(v{metric}));"
    ))?;
    conn.execute_batch("BEGIN")?;
    for (id, v) in (1i64..).zip(rows) {
        conn.execute("INSERT INTO t VALUES (?1, vector32(?2))", params![id, text(v)])?;
    }
    conn.execute_batch("COMMIT")?;
    Ok(conn)
}

fn main() -> BoxResult<()> {
    let mut rows = 3000;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--rows" => rows = args.next().ok_or("--rows needs a number")?.parse()?,
            other => {
                return Err(
                    format!("unknown argument {other}; see the doc comment of benches/src/bin/clusters.rs").into()
                );
            }
        }
    }
    println!("# cargo run --release -p edgelite-benches --bin clusters -- --rows {rows}");
    println!(
        "| data | vector_top_k recall | nearest missed | rewrite recall | nearest missed | rewrite QPS | exact QPS | x exact |"
    );
    println!("|---|---|---|---|---|---|---|---|");

    let conn = Connection::open_in_memory()?;
    conn.execute_batch(
        "CREATE TABLE t(id INTEGER PRIMARY KEY, v F32_BLOB(8)); CREATE INDEX i ON t(libsql_vector_idx(v));",
    )?;
    let mut g = Lcg(7);
    let centers: Vec<Vec<f64>> = (0..10).map(|_| g.vector()).collect();
    conn.execute_batch("BEGIN")?;
    for id in 1..=rows {
        let v: Vec<f64> = centers[id % 10].iter().map(|x| x + 0.05 * g.next()).collect();
        conn.execute("INSERT INTO t VALUES (?1, vector32(?2))", params![id as i64, text(&v)])?;
    }
    conn.execute_batch("COMMIT")?;
    let far: Vec<String> = (0..200).map(|_| text(&g.vector())).collect();
    measure(&conn, "clusters, far queries", "cos", &far, &[1, 10])?;
    let near: Vec<String> = (0..200)
        .map(|i| {
            let c = &centers[i % 10];
            text(&c.iter().map(|x| x + 0.1 * g.next()).collect::<Vec<_>>())
        })
        .collect();
    measure(&conn, "clusters, near queries", "cos", &near, &[1, 10])?;

    let conn = Connection::open_in_memory()?;
    conn.execute_batch(
        "CREATE TABLE t(id INTEGER PRIMARY KEY, v F32_BLOB(8)); CREATE INDEX i ON t(libsql_vector_idx(v, 'metric=l2'));",
    )?;
    let mut g = Lcg(3);
    conn.execute_batch("BEGIN")?;
    for id in 1..=2000i64 {
        conn.execute("INSERT INTO t VALUES (?1, vector32(?2))", params![id, text(&g.vector())])?;
    }
    conn.execute_batch("COMMIT")?;
    let t = Instant::now();
    conn.execute("UPDATE t SET v = vector32('[0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5]') WHERE id > 30", [])?;
    let update_s = t.elapsed().as_secs_f64();
    let queries: Vec<String> = (0..100).map(|_| text(&g.vector())).collect();
    measure(&conn, "UPDATE-made group", "l2", &queries, &[3, 5, 10])?;

    for metric in ["cos", "l2"] {
        let mut g = Lcg(24);
        let pool: Vec<Vec<f64>> = (0..60).map(|_| g.vector()).collect();
        let rows: Vec<Vec<f64>> = (0..4000)
            .map(|_| {
                if g.next() < 0.2 {
                    // (0, 1]: 1/u - 1 is Pareto-distributed with shape 1
                    let u = (g.next() + 1.0) / 2.0;
                    pool[((1.0 / u.max(1e-9)) as usize).saturating_sub(1).min(59)].clone()
                } else {
                    let p = &pool[((g.next() + 1.0) * 30.0) as usize % 60];
                    p.iter().map(|x| x + 0.01 * g.next()).collect()
                }
            })
            .collect();
        let conn = indexed(8, metric, &rows)?;
        let mut g = Lcg(22);
        let queries: Vec<String> = (0..300).map(|_| text(&g.vector())).collect();
        measure(&conn, &format!("skewed groups, {metric}"), metric, &queries, &[10])?;
    }

    let mut g = Lcg(31);
    let centers: Vec<Vec<f64>> = (0..40).map(|_| g.point(32)).collect();
    let rows: Vec<Vec<f64>> = (0..4000)
        .map(|_| {
            if g.next() < 0.4 {
                let c = &centers[((g.next() + 1.0) * 20.0) as usize % 40];
                c.iter().map(|x| x + 0.03 * g.next()).collect()
            } else {
                g.point(32).iter().map(|x| 3.0 * x).collect()
            }
        })
        .collect();
    let conn = indexed(32, "l2", &rows)?;
    let mut g = Lcg(32);
    let queries: Vec<String> = (0..300).map(|_| text(&g.point(32))).collect();
    measure(&conn, "scattered rows, l2", "l2", &queries, &[10])?;

    println!("\nThe UPDATE of 1,970 rows to one vector took {update_s:.2} s.");
    Ok(())
}
