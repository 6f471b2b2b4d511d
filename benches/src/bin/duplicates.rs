//! Inserts of vectors that the index sees as equal, the hard case of a graph index (issue 14:
//! every row reachable, duplicates included): for each workload and row count, one `INSERT ...
//! SELECT` of all rows into a table with the default vector index (cosine), timed, then `PRAGMA
//! integrity_check`, which reports the nodes no search can reach.
//!
//! - `one vector`: every row `[1,2,3]`;
//! - `150 directions`: `[x % 17, x % 13 + 1]`, 221 distinct vectors but about 150 directions, so
//!   groups of up to a twelfth of the rows at cosine distance 0 without being equal (`[0,1]`,
//!   `[0,2]`, ...);
//! - `random 2-d`: `[random() % 1000, random() % 1000]`, for comparison.
//!
//! ```text
//! cargo run --release -p edgelite-benches --bin duplicates -- [--rows 5000,10000,20000] [--only TEXT]
//! ```

use std::error::Error;
use std::time::Instant;

use edgelite::Connection;

type BoxResult<T> = Result<T, Box<dyn Error>>;

const WORKLOADS: &[(&str, &str, usize)] = &[
    ("one vector", "'[1,2,3]'", 3),
    ("150 directions", "'[' || (x % 17) || ',' || (x % 13 + 1) || ']'", 2),
    ("random 2-d", "'[' || (random() % 1000) || ',' || (random() % 1000) || ']'", 2),
];

fn main() -> BoxResult<()> {
    let mut rows = vec![5000, 10000, 20000];
    let mut only: Option<String> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--rows" => rows = value()?.split(',').map(str::parse).collect::<Result<_, _>>()?,
            "--only" => only = Some(value()?),
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    let argv: Vec<String> = std::env::args().skip(1).collect();
    println!("# cargo run --release -p edgelite-benches --bin duplicates -- {}", argv.join(" "));
    println!("| workload | rows | INSERT s | rows/s | integrity_check |");
    println!("|---|---|---|---|---|");
    let tmp = tempfile::tempdir()?;
    for (label, vector, dims) in WORKLOADS {
        if only.as_ref().is_some_and(|o| !label.contains(o.as_str())) {
            continue;
        }
        for &n in &rows {
            let path = tmp.path().join(format!("{}-{n}.db", label.replace(' ', "-")));
            let conn = Connection::open(&path)?;
            conn.execute_batch(&format!(
                "CREATE TABLE t(id INTEGER PRIMARY KEY, v F32_BLOB({dims}));
                 CREATE INDEX t_v ON t(libsql_vector_idx(v));"
            ))?;
            let t = Instant::now();
            conn.execute_batch(&format!(
                "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < {n})
                 INSERT INTO t(v) SELECT vector({vector}) FROM n;"
            ))?;
            let secs = t.elapsed().as_secs_f64();
            let verdict: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
            println!("| {label} | {n} | {secs:.2} | {:.0} | {verdict} |", n as f64 / secs);
            drop(conn);
            std::fs::remove_file(&path)?;
        }
    }
    Ok(())
}
