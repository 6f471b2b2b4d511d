//! Inserts of vectors that the index sees as equal, the hard case of a graph index (issue 14:
//! every row reachable, duplicates included): for each workload and row count, one `INSERT ...
//! SELECT` of all rows into a table with the default vector index (cosine), timed, then `PRAGMA
//! integrity_check`, which reports the nodes no search can reach. The index is cosine unless
//! a workload says otherwise.
//!
//! - `one vector`: every row `[1,2,3]`;
//! - `150 directions`: `[x % 17, x % 13 + 1]`, 221 distinct vectors but about 150 directions, so
//!   groups of up to a twelfth of the rows at cosine distance 0 without being equal (`[0,1]`,
//!   `[0,2]`, ...);
//! - `5x5 grid, l2`: 25 distinct 2-d vectors under `metric=l2`, groups of a twenty-fifth of the
//!   rows at distance 0;
//! - `random 2-d`: `[random() % 1000, random() % 1000]`, for comparison.
//!
//! Two more workloads are hostile in their rowids, not their vectors (8-d random vectors): the
//! index keeps its nodes in hash maps and sets keyed by rowid, and rowids are the user's to
//! choose.
//! - `colliding rowids`: the rowids that a fixed multiply-xorshift hash (the index's hasher
//!   until foldhash replaced it) sends to one bucket: `j << 32` run backwards through it;
//! - `random rowids`: as many random rowids, for comparison.
//!
//! After each INSERT, `recall@10` is the share of the rows that `ORDER BY vector_distance_cos(v,
//! q) LIMIT 10` (`_l2` for an l2 index; the planner's rewrite, through the index) returns
//! within the distance of the `NOT INDEXED` query's tenth row, over 50 queries (the vectors of
//! 50 rows spread over the table): distance ties make the rows themselves ambiguous.
//! `recall@100` is the same with `LIMIT 100`: whether a query returns its own group of
//! duplicates before farther rows. `--alpha A` gives the index `'alpha=A'` instead of
//! edgelite's default (1.2 for 2-d vectors under cosine, which lie on a
//! circle; `--alpha 1.0` shows what the default of higher dimensions does to them).
//!
//! ```text
//! cargo run --release -p edgelite-benches --bin duplicates -- [--rows 5000,10000,20000] [--only TEXT] [--alpha A]
//! ```

use std::error::Error;
use std::time::Instant;

use edgelite::Connection;

type BoxResult<T> = Result<T, Box<dyn Error>>;

/// Where a workload's rowids come from.
#[derive(Clone, Copy)]
enum Rowids {
    /// SQLite's own (1, 2, 3, ...).
    Auto,
    /// Chosen to collide under a fixed hash ([`colliding`]).
    Colliding,
    /// Random 63-bit rowids.
    Random,
}

const RANDOM_8D: &str = "'[' || (random() % 1000) || ',' || (random() % 1000) || ',' || (random() % 1000) || ',' || \
    (random() % 1000) || ',' || (random() % 1000) || ',' || (random() % 1000) || ',' || (random() % 1000) || ',' || \
    (random() % 1000) || ']'";

/// (label, vector expression over `x`, dimensions, rowids, metric).
const WORKLOADS: &[(&str, &str, usize, Rowids, &str)] = &[
    ("one vector", "'[1,2,3]'", 3, Rowids::Auto, "cos"),
    ("150 directions", "'[' || (x % 17) || ',' || (x % 13 + 1) || ']'", 2, Rowids::Auto, "cos"),
    ("5x5 grid, l2", GRID, 2, Rowids::Auto, "l2"),
    ("random 2-d", "'[' || (random() % 1000) || ',' || (random() % 1000) || ']'", 2, Rowids::Auto, "cos"),
    ("colliding rowids", RANDOM_8D, 8, Rowids::Colliding, "cos"),
    ("random rowids", RANDOM_8D, 8, Rowids::Random, "cos"),
];

/// 25 distinct vectors in scrambled order: groups of a twenty-fifth of the rows at distance 0.
const GRID: &str = "'[' || ((x * 2654435761 % 1000003) % 5 - 2) || ',' || ((x * 40503 % 65537) % 5 - 2) || ']'";

/// The `j`-th rowid that `x * K ^ (x * K >> 29)` (K the golden-ratio constant) maps to `j << 32`:
/// every one of them lands in the same bucket of any table smaller than 2^32 entries.
fn colliding(j: u64) -> i64 {
    const K: u64 = 0x9E37_79B9_7F4A_7C15;
    // K's inverse modulo 2^64, by Newton's iteration (each step doubles the correct bits)
    let mut inv: u64 = K;
    for _ in 0..6 {
        inv = inv.wrapping_mul(2u64.wrapping_sub(K.wrapping_mul(inv)));
    }
    let h = j << 32;
    let y = h ^ (h >> 29) ^ (h >> 58);
    y.wrapping_mul(inv) as i64
}

/// Recall@`limit` of the rewritten query against `NOT INDEXED`, by distance (see the module docs).
fn recall(conn: &Connection, rows: usize, limit: usize, metric: &str) -> BoxResult<f64> {
    const QUERIES: usize = 50;
    let (mut hits, mut total) = (0usize, 0usize);
    for i in 0..QUERIES {
        let q: Vec<u8> =
            conn.query_row("SELECT v FROM t ORDER BY rowid LIMIT 1 OFFSET ?1", [(i * rows / QUERIES) as i64], |r| {
                r.get(0)
            })?;
        let distances = |from: &str| -> BoxResult<Vec<f64>> {
            let mut stmt = conn.prepare(&format!(
                "SELECT vector_distance_{metric}(v, ?1) AS d FROM {from} ORDER BY d LIMIT {limit}"
            ))?;
            let rows = stmt.query_map([&q], |r| Ok(r.get::<_, Option<f64>>(0)?.unwrap_or(f64::NEG_INFINITY)))?;
            Ok(rows.collect::<Result<_, _>>()?)
        };
        let exact = distances("t NOT INDEXED")?;
        let bound = exact.last().copied().unwrap_or(f64::INFINITY);
        let tolerance = (bound.abs() * 1e-6).max(1e-12);
        hits += distances("t")?.iter().filter(|&&d| d <= bound + tolerance).count();
        total += exact.len();
    }
    Ok(if total == 0 { 1.0 } else { hits as f64 / total as f64 })
}

/// A SplitMix64 step: random rowids with no dependency.
fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn main() -> BoxResult<()> {
    let mut rows = vec![5000, 10000, 20000];
    let mut only: Option<String> = None;
    let mut alpha: Option<String> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--rows" => rows = value()?.split(',').map(str::parse).collect::<Result<_, _>>()?,
            "--only" => only = Some(value()?),
            "--alpha" => alpha = Some(value()?.parse::<f64>()?.to_string()),
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    let argv: Vec<String> = std::env::args().skip(1).collect();
    println!("# cargo run --release -p edgelite-benches --bin duplicates -- {}", argv.join(" "));
    println!("| workload | rows | INSERT s | rows/s | integrity_check | recall@10 | recall@100 |");
    println!("|---|---|---|---|---|---|---|");
    let options = alpha.map(|a| format!(", 'alpha={a}'")).unwrap_or_default();
    let tmp = tempfile::tempdir()?;
    for &(label, vector, dims, rowids, metric) in WORKLOADS {
        if only.as_ref().is_some_and(|o| !label.contains(o.as_str())) {
            continue;
        }
        for &n in &rows {
            let path = tmp.path().join(format!("{}-{n}.db", label.replace(' ', "-")));
            let conn = Connection::open(&path)?;
            conn.execute_batch(&format!(
                "CREATE TABLE t(id INTEGER PRIMARY KEY, v F32_BLOB({dims}));
                 CREATE INDEX t_v ON t(libsql_vector_idx(v, 'metric={}'{options}));",
                if metric == "cos" { "cosine" } else { metric }
            ))?;
            // the rowids first, in a table of their own, so that only the INSERT is timed
            conn.execute_batch("CREATE TEMP TABLE ids(x INTEGER PRIMARY KEY, id INTEGER UNIQUE); BEGIN")?;
            let mut state = 42;
            for x in 1..=n as u64 {
                let id = match rowids {
                    Rowids::Auto => x as i64,
                    Rowids::Colliding => colliding(x),
                    Rowids::Random => (splitmix(&mut state) >> 1) as i64,
                };
                conn.execute("INSERT INTO ids VALUES (?1, ?2)", edgelite::params![x as i64, id])?;
            }
            conn.execute_batch("COMMIT")?;
            let t = Instant::now();
            conn.execute_batch(&format!("INSERT INTO t(id, v) SELECT id, vector({vector}) FROM ids AS n ORDER BY x;"))?;
            let secs = t.elapsed().as_secs_f64();
            let verdict: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
            let (r10, r100) = (recall(&conn, n, 10, metric)?, recall(&conn, n, 100, metric)?);
            println!("| {label} | {n} | {secs:.2} | {:.0} | {verdict} | {r10:.3} | {r100:.3} |", n as f64 / secs);
            drop(conn);
            std::fs::remove_file(&path)?;
        }
    }
    Ok(())
}
