//! Recall after UPDATEs that move most rows of a table to one vector, on minilm-20k's real
//! vectors, against the exact answer (the same SQL with `NOT INDEXED`).
//!
//! An UPDATE of a vector is a delete and an insert at the same rowid; the edges to the old node
//! that the delete's search missed keep the old vector's copy (see `DiskAnn::expand`, moved
//! nodes). The benchmark fills a table with the first `--rows` vectors (default 10,000) under
//! the default index, then changes every row whose `id % --keep` is not 0 (default: 9 in 10)
//! into a copy of row 0's vector, two ways in two databases:
//!
//! - `UPDATE`: in place, the rowid kept (what users write);
//! - `DELETE + INSERT`: each row deleted and the copy inserted under a new rowid (the control:
//!   no edge keeps a stale copy).
//!
//! For each: the time the change took, then over `--queries` queries (default 100) recall@10 of
//! `vector_top_k` and of the planner's rewrite (`ORDER BY vector_distance_cos(v, q) LIMIT 10`),
//! counted by distance (the moved rows all tie: a returned row counts if it is no farther than
//! the exact 10th), and queries/s of each.
//!
//! ```text
//! cargo run --release -p edgelite-benches --bin moved -- [--rows 10000] [--keep 10] [--queries 100]
//! ```

use std::time::Instant;

use edgelite::{Connection, params};
use edgelite_benches::dataset::Dataset;
use edgelite_benches::measure::BoxResult;

struct Args {
    rows: usize,
    keep: i64,
    queries: usize,
}

fn parse_args() -> BoxResult<Args> {
    let mut args = Args { rows: 10_000, keep: 10, queries: 100 };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{a} needs a value"));
        match a.as_str() {
            "--rows" => args.rows = value()?.parse()?,
            "--keep" => args.keep = value()?.parse::<i64>()?.max(1),
            "--queries" => args.queries = value()?.parse()?,
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    Ok(args)
}

/// A table of the first `rows` vectors with the default index, in a new file at `path`.
fn fill(ds: &Dataset, rows: usize, path: &std::path::Path) -> BoxResult<Connection> {
    let mut conn = Connection::open(path)?;
    conn.execute_batch(&format!(
        "CREATE TABLE t(id INTEGER PRIMARY KEY, v F32_BLOB({})); CREATE INDEX t_v ON t(libsql_vector_idx(v));",
        ds.dims
    ))?;
    let tx = conn.transaction()?;
    {
        let mut insert = tx.prepare("INSERT INTO t VALUES (?1, ?2)")?;
        for i in 0..rows {
            insert.execute(params![i64::try_from(i)?, ds.base_vector(i)])?;
        }
    }
    tx.commit()?;
    Ok(conn)
}

/// The distances of the rows `sql` returns for query `q`.
fn distances(conn: &Connection, sql: &str, q: &[f32]) -> BoxResult<Vec<f64>> {
    let mut stmt = conn.prepare_cached(sql)?;
    Ok(stmt.query_map([q], |r| r.get(0))?.collect::<Result<Vec<f64>, _>>()?)
}

/// Recall@10 by distance and queries/s of `sql` over the queries.
fn score(conn: &Connection, ds: &Dataset, nq: usize, exact: &[Vec<f64>], sql: &str) -> BoxResult<(f64, f64)> {
    let (mut good, mut wanted) = (0, 0);
    let t = Instant::now();
    let got = (0..nq).map(|q| distances(conn, sql, ds.query(q))).collect::<BoxResult<Vec<_>>>()?;
    let qps = nq as f64 / t.elapsed().as_secs_f64();
    for (g, e) in got.iter().zip(exact) {
        let kth = e.last().copied().unwrap_or(f64::INFINITY) + 1e-6;
        good += g.iter().filter(|&&d| d <= kth).count();
        wanted += e.len();
    }
    Ok((good as f64 / wanted.max(1) as f64, qps))
}

fn main() -> BoxResult<()> {
    let args = parse_args()?;
    let ds = Dataset::load(&Dataset::locate("minilm-20k")?)?;
    let rows = args.rows.min(ds.len());
    let nq = args.queries.min(ds.num_queries());
    let argv: Vec<String> = std::env::args().collect();
    println!("# cargo run --release -p edgelite-benches --bin moved -- {}", argv[1..].join(" "));
    println!(
        "minilm-20k: {rows} rows x {} f32, every row with id % {} <> 0 made a copy of row 0, {nq} queries, top-10, \
         default vector index",
        ds.dims, args.keep
    );
    println!();
    println!("| change | time | vector_top_k recall@10 | q/s | rewrite recall@10 | q/s | exact scan q/s |");
    println!("|---|---|---|---|---|---|---|");
    let tmp = tempfile::tempdir()?;
    let far = ds.base_vector(0);
    let top = "SELECT vector_distance_cos(t.v, ?1) FROM vector_top_k('t_v', ?1, 10) k JOIN t ON t.rowid = k.id";
    let rewrite = "SELECT vector_distance_cos(v, ?1) d FROM t ORDER BY d LIMIT 10";
    let scan = "SELECT vector_distance_cos(v, ?1) d FROM t NOT INDEXED ORDER BY d LIMIT 10";
    for (label, in_place) in [("UPDATE", true), ("DELETE + INSERT", false)] {
        let conn = fill(&ds, rows, &tmp.path().join(format!("{in_place}.db")))?;
        let t = Instant::now();
        conn.execute_batch("BEGIN")?;
        if in_place {
            conn.execute("UPDATE t SET v = ?1 WHERE id % ?2 <> 0", params![far, args.keep])?;
        } else {
            let moved: Vec<i64> = {
                let mut stmt = conn.prepare("SELECT id FROM t WHERE id % ?1 <> 0")?;
                stmt.query_map([args.keep], |r| r.get(0))?.collect::<Result<_, _>>()?
            };
            let next = i64::try_from(rows)?;
            for id in moved {
                conn.execute("DELETE FROM t WHERE id = ?1", [id])?;
                conn.execute("INSERT INTO t VALUES (?1, ?2)", params![next + id, far])?;
            }
        }
        conn.execute_batch("COMMIT")?;
        let changed = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let exact = (0..nq).map(|q| distances(&conn, scan, ds.query(q))).collect::<BoxResult<Vec<_>>>()?;
        let scan_qps = nq as f64 / t.elapsed().as_secs_f64();
        let (top_recall, top_qps) = score(&conn, &ds, nq, &exact, top)?;
        let (rewrite_recall, rewrite_qps) = score(&conn, &ds, nq, &exact, rewrite)?;
        println!(
            "| {label} | {changed:.1} s | {top_recall:.3} | {top_qps:.0} | {rewrite_recall:.3} | {rewrite_qps:.0} | \
             {scan_qps:.1} |"
        );
    }
    Ok(())
}
