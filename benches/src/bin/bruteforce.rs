//! Exact (brute-force) top-k search on minilm-20k, side by side in one run:
//!
//! 1. edgelite SQL: `SELECT id FROM items ORDER BY vector_distance_cos(emb, ?1) LIMIT k`;
//! 2. the same with a relational filter (`WHERE src LIKE 'debian:%'`);
//! 3. plain Rust over an in-memory array with edgelite-vector's SIMD kernels (both forms);
//! 4. libSQL's own engine running the same SQL (node + npm `libsql`, `benches/libsql/bruteforce.js`).
//!
//! Reports load time, queries/s (median of the repeats) and recall@k, with ratios against
//! edgelite SQL. Unfiltered recall is against the dataset's `gt.i32`; filtered recall against an
//! exact top-k among the filtered rows computed here in f64.
//!
//! ```text
//! cargo run --release -p edgelite-benches --bin bruteforce -- [--queries 100] [--repeats 3] [--k 10] [--no-libsql]
//! ```

use std::error::Error;
use std::path::Path;
use std::time::{Duration, Instant};

use edgelite::{Connection, params};
use edgelite_benches::dataset::{Dataset, Record};
use edgelite_benches::measure::{Search, measure, run_libsql, search_from_json, top_k};
use edgelite_vector::{Metric, Vector, VectorRef, VectorType, kernels};

type BoxResult<T> = Result<T, Box<dyn Error>>;

const PLAIN_SQL: &str = "SELECT id FROM items ORDER BY vector_distance_cos(emb, ?1) LIMIT ?2";
const FILTERED_SQL: &str =
    "SELECT id FROM items WHERE src LIKE 'debian:%' ORDER BY vector_distance_cos(emb, ?1) LIMIT ?2";

struct Args {
    queries: usize,
    repeats: usize,
    k: usize,
    libsql: bool,
}

fn parse_args() -> BoxResult<Args> {
    let mut args = Args { queries: 100, repeats: 3, k: 10, libsql: true };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut num = || -> BoxResult<usize> { Ok(it.next().ok_or(format!("{a} needs a value"))?.parse()?) };
        match a.as_str() {
            "--queries" => args.queries = num()?,
            "--repeats" => args.repeats = num()?.max(1),
            "--k" => args.k = num()?.max(1),
            "--no-libsql" => args.libsql = false,
            _ => return Err(format!("unknown argument {a}; see the doc comment of {}", file!()).into()),
        }
    }
    Ok(args)
}

/// One engine: its load time and its two searches.
struct Engine {
    name: String,
    load: Duration,
    plain: Search,
    filtered: Search,
}

fn edgelite_sql(ds: &Dataset, records: &[Record], db: &Path, args: &Args, nq: usize) -> BoxResult<Engine> {
    let mut conn = Connection::open(db)?;
    let t = Instant::now();
    conn.execute_batch(&format!(
        "CREATE TABLE items(id INTEGER PRIMARY KEY, text TEXT, src TEXT, emb F32_BLOB({}))",
        ds.dims
    ))?;
    let tx = conn.transaction()?;
    {
        let mut insert = tx.prepare("INSERT INTO items(id, text, src, emb) VALUES (?1, ?2, ?3, ?4)")?;
        for r in records {
            insert.execute(params![r.id, r.text, r.src, ds.base_vector(usize::try_from(r.id)?)])?;
        }
    }
    tx.commit()?;
    let load = t.elapsed();
    let k = i64::try_from(args.k)?;
    let run = |sql: &str| -> BoxResult<Search> {
        let mut stmt = conn.prepare(sql)?;
        measure(nq, args.repeats, |q| {
            Ok(stmt.query_map(params![ds.query(q), k], |r| r.get(0))?.collect::<Result<_, _>>()?)
        })
    };
    let plain = run(PLAIN_SQL)?;
    let filtered = run(FILTERED_SQL)?;
    let version: String = conn.query_row("SELECT sqlite_version()", [], |r| r.get(0))?;
    Ok(Engine { name: format!("edgelite SQL (SQLite {version})"), load, plain, filtered })
}

fn rust_simd(ds: &Dataset, debian: &[bool], args: &Args, nq: usize) -> BoxResult<Engine> {
    let kernels = kernels::active();
    let t = Instant::now();
    // the same bytes the SQL engines store: f32 blobs, little-endian
    let blobs: Vec<u8> = ds.base.iter().flat_map(|x| x.to_le_bytes()).collect();
    let dims = u32::try_from(ds.dims)?;
    let rows: Vec<VectorRef<'_>> = blobs
        .chunks_exact(4 * ds.dims)
        .map(|b| VectorRef::from_data_part(VectorType::F32, dims, b))
        .collect::<Result<_, _>>()?;
    let load = t.elapsed();
    let filtered_ids: Vec<u32> = (0..rows.len()).filter(|&i| debian[i]).map(u32::try_from).collect::<Result<_, _>>()?;
    let all_ids: Vec<u32> = (0..rows.len()).map(u32::try_from).collect::<Result<_, _>>()?;
    let run = |ids: &[u32]| {
        measure(nq, args.repeats, |q| {
            let query = Vector::from_f32(ds.query(q))?;
            let d = ids
                .iter()
                .map(|&i| Ok((kernels::fast_distance(kernels, Metric::Cosine, rows[i as usize], query.as_ref())?, i)))
                .collect::<Result<Vec<_>, edgelite_vector::Error>>()?;
            Ok(top_k(d, args.k))
        })
    };
    let plain = run(&all_ids)?;
    let filtered = run(&filtered_ids)?;
    Ok(Engine { name: format!("Rust in memory, {} kernels", kernels.name), load, plain, filtered })
}

/// libSQL through node; `Ok(None)` (with the reason printed) when node or the package is missing.
fn libsql(dir: &Path, db: &Path, args: &Args, nq: usize) -> BoxResult<Option<Engine>> {
    let script_args = [
        dir.display().to_string(),
        db.display().to_string(),
        nq.to_string(),
        args.repeats.to_string(),
        args.k.to_string(),
    ];
    let Some(v) = run_libsql("bruteforce.js", &script_args)? else { return Ok(None) };
    let search = |key: &str| search_from_json(&v[key]);
    Ok(Some(Engine {
        name: v["engine"].as_str().unwrap_or("libSQL").to_owned(),
        load: Duration::from_secs_f64(v["load_ms"].as_f64().ok_or("load_ms")? / 1e3),
        plain: search("plain")?,
        filtered: search("filtered")?,
    }))
}

/// Exact top-k among the filtered rows, in f64 (the oracle for the filtered recall).
fn filtered_truth(ds: &Dataset, debian: &[bool], nq: usize, k: usize) -> Vec<Vec<i32>> {
    let norm = |v: &[f32]| v.iter().map(|&x| f64::from(x) * f64::from(x)).sum::<f64>().sqrt();
    let base_norms: Vec<f64> = (0..ds.len()).map(|i| norm(ds.base_vector(i))).collect();
    (0..nq)
        .map(|q| {
            let qv = ds.query(q);
            let qn = norm(qv);
            let mut d: Vec<(f64, i32)> = (0..ds.len())
                .filter(|&i| debian[i])
                .map(|i| {
                    let dot: f64 = ds.base_vector(i).iter().zip(qv).map(|(&a, &b)| f64::from(a) * f64::from(b)).sum();
                    (1.0 - dot / (base_norms[i] * qn), i32::try_from(i).unwrap_or(i32::MAX))
                })
                .collect();
            d.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            d.into_iter().take(k).map(|(_, id)| id).collect()
        })
        .collect()
}

fn main() -> BoxResult<()> {
    let args = parse_args()?;
    let ds = Dataset::load(&Dataset::locate("minilm-20k")?)?;
    // libSQL's node script and hnswlib's Python read the raw layout (f32 files, plain .jsonl)
    let raw = ds.raw_files()?;
    let dir = raw.path();
    let records = ds.base_records()?;
    let nq = args.queries.min(ds.num_queries());
    let debian: Vec<bool> = records.iter().map(|r| r.src.starts_with("debian:")).collect();
    let truth: Vec<Vec<i32>> = (0..nq).map(|q| ds.ground_truth(q).to_vec()).collect();
    let truth_filtered = filtered_truth(&ds, &debian, nq, args.k);
    let tmp = tempfile::tempdir()?;

    println!(
        "minilm-20k: {} x {} f32 base vectors, {nq} queries x {} repeats, exact cosine top-{}; filter \
         src LIKE 'debian:%' keeps {} rows",
        ds.len(),
        ds.dims,
        args.repeats,
        args.k,
        debian.iter().filter(|&&d| d).count()
    );
    let mut engines = vec![edgelite_sql(&ds, &records, &tmp.path().join("edgelite.db"), &args, nq)?];
    if args.libsql {
        engines.extend(libsql(dir, &tmp.path().join("libsql.db"), &args, nq)?);
    } else {
        println!("libSQL column skipped: --no-libsql");
    }
    engines.push(rust_simd(&ds, &debian, &args, nq)?);

    let base = (engines[0].load.as_secs_f64(), engines[0].plain.qps(), engines[0].filtered.qps());
    let k = args.k;
    println!();
    println!(
        "{:<44} {:>9} {:>6} | {:>9} {:>7} {:>9} | {:>9} {:>7} {:>9}",
        "engine",
        "load s",
        "x",
        "QPS",
        "x",
        format!("recall@{k}"),
        "QPS filt",
        "x",
        format!("recall@{k}")
    );
    println!("{}", "-".repeat(44 + 17 + 3 + 27 + 3 + 27));
    for e in &engines {
        let load = e.load.as_secs_f64();
        let (qp, qf) = (e.plain.qps(), e.filtered.qps());
        println!(
            "{:<44} {:>9.3} {:>6.2} | {:>9.1} {:>7.2} {:>9.4} | {:>9.1} {:>7.2} {:>9.4}",
            e.name,
            load,
            load / base.0,
            qp,
            qp / base.1,
            e.plain.recall(&truth, k),
            qf,
            qf / base.2,
            e.filtered.recall(&truth_filtered, k),
        );
    }
    println!(
        "\nx = ratio to edgelite SQL (load: time, QPS: throughput). QPS = queries / median repeat time. \
         Unfiltered recall vs gt.i32; filtered recall vs exact f64 top-{k} among the filtered rows."
    );
    Ok(())
}
