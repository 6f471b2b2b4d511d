//! Approximate (vector index) top-k search on minilm-20k, side by side in one run: edgelite's
//! `libsql_vector_idx` index vs libSQL's own (node + npm `libsql`, `benches/libsql/ann.js`) vs
//! brute force (edgelite's exact SQL with `NOT INDEXED`, libSQL's exact SQL, a Rust scan in
//! memory) and the same `ORDER BY vector_distance_cos(emb, ?) LIMIT k` that edgelite's planner
//! answers through the index, one thread:
//!
//! 1. build time, two ways: (a) `CREATE INDEX` on a filled table, (b) inserts into an indexed
//!    table in one transaction; libSQL runs (b) too with `--libsql-inserts` (another 3-5 minutes:
//!    libSQL's CREATE INDEX inserts row by row, so its two ways take about as long);
//! 2. queries/s (median of the repeats) and recall@k of `vector_top_k` at the index's defaults;
//! 3. the recall/speed curve over `search_l`, set on the built index by appending a `search_l`
//!    record (tag 9) to its row of `libsql_vector_meta_shadow` (the reader takes the last one);
//! 4. the database file size after the build (file DB in a temp dir, default rollback journal,
//!    the same for both engines) and its ratio to the raw vectors;
//! 5. a second edgelite configuration (`--alt`, default `max_neighbors=32`: more edges than
//!    edgelite's default 18, for recall at a larger file);
//! 6. with `--hnswlib PYTHON` (a Python that has PyPI's `hnswlib` and numpy), the in-memory
//!    HNSW library on the same vectors and queries (`benches/hnswlib/ann.py`: M=16,
//!    ef_construction=200, one thread, one call per query), and edgelite's best QPS at a recall
//!    at least as high as each of its points;
//! 7. the process's peak resident memory after each step (`VmHWM`: it includes the dataset
//!    and the Rust scan's copy of it); `--cache-limit BYTES` sets edgelite's per-connection
//!    node cache limit (`edgelite_vector_cache_limit`, 256 MiB by default) and `--build-limit
//!    BYTES` the memory budget of an index build (`edgelite_vector_build_limit`, 1 GiB by
//!    default; past it a build writes its blocks out and keeps a cache); `--cache-size KIB` sets SQLite's page
//!    cache of edgelite's connections (`PRAGMA cache_size = -KIB`; SQLite's default is 2000)
//!    and `--cache-spill PAGES` how many changed pages it may hold before spilling them to the
//!    file (`PRAGMA cache_spill = PAGES`), to see what a long indexed-insert transaction spends
//!    on SQLite's page I/O.
//!
//! With `--rows N` (a prefix of the base vectors) the ground truth is the exact top-k over the
//! prefix from the in-memory scan; over all 20,000 rows it is the dataset's `gt.i32`.
//!
//! Last, the first search of a fresh connection on the filled index: 100 connections (or
//! `--queries` if fewer), each opened, its schema read, then one `vector_top_k` timed: an empty
//! node cache, and the index's seeds drawn.
//!
//! ```text
//! cargo run --release -p edgelite-benches --bin ann -- [--rows 20000] [--queries 100] [--repeats 3]
//!     [--k 10] [--search-l 10,25,50,100,200] [--alt OPT,OPT | --no-alt] [--no-libsql] [--libsql-inserts] [--no-inserts] [--digest]
//!     [--cache-limit BYTES] [--cache-size KIB] [--cache-spill PAGES] [--hnswlib PYTHON]
//!     [--build-threads N] [--build-limit BYTES] [--synthetic ROWS [--generator noise[:S] | between[:M]] [--spread S]]
//! ```
//!
//! `--synthetic ROWS` measures at sizes the dataset does not have (the scaling benchmark): the
//! 20,000 real vectors, then generated ones up to ROWS, each a real vector plus Gaussian noise
//! of S (default 0.5) times the typical nearest-neighbour distance, renormalised
//! (`Dataset::synthetic`); the real queries; the ground truth by brute force. `--generator
//! between[:M]` draws each new vector instead at a uniform place between a real vector and one
//! of its M (default 10) nearest real ones (`Generator::Between`, SMOTE's interpolation): the
//! noise points in all 384 dimensions where the real data varies in few, and at a million
//! rows (50 draws around each real vector) the two generators make sets of very different
//! difficulty (see the README's scaling section). Every run prints two measures of how hard
//! the queries' neighbourhoods are (the k-th nearest distance over the nearest, and the local
//! intrinsic dimensionality).
//!
//! `--no-inserts` skips edgelite's build (b) (inserts into an indexed table), for quicker
//! measurements of CREATE INDEX alone; `--digest` prints a digest of the blocks that CREATE
//! INDEX wrote (equal digests: the same index, e.g. on 1 and 2 build threads).
//!
//! `--build-threads N` sets `edgelite_vector_build_threads(N)` on edgelite's connections (the
//! threads of build (a); 0, the default, is one per core).

use std::error::Error;
use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use edgelite::{Connection, params};
use edgelite_benches::dataset::{Dataset, Generator};
use edgelite_benches::measure::{Search, measure, run_libsql, search_from_json, top_k};
use edgelite_vector::{Metric, Vector, VectorRef, VectorType, kernels};

type BoxResult<T> = Result<T, Box<dyn Error>>;

const INDEX: &str = "items_idx";
/// Metadata record tags (docs/libsql-vector.md §3.4).
const TAG_BLOCK_SIZE: u8 = 6;
const TAG_SEARCH_L: u8 = 9;
const TAG_MAX_NEIGHBORS: u8 = 10;
/// edgelite's: the default search width grows with the index (`edgelite_diskann::tag`).
const TAG_SCALED_SEARCH_L: u8 = 0x81;

struct Args {
    rows: usize,
    queries: usize,
    repeats: usize,
    k: usize,
    curve: Vec<u64>,
    alt: Option<Vec<String>>,
    libsql: bool,
    libsql_inserts: bool,
    inserts: bool,
    digest: bool,
    cache_limit: Option<i64>,
    cache_size_kib: Option<u64>,
    cache_spill_pages: Option<u64>,
    hnswlib: Option<String>,
    build_threads: Option<i64>,
    build_limit: Option<i64>,
    synthetic: Option<usize>,
    generator: Generator,
}

fn parse_args() -> BoxResult<Args> {
    let mut args = Args {
        rows: usize::MAX,
        queries: 100,
        repeats: 3,
        k: 10,
        curve: vec![10, 25, 50, 100, 200],
        alt: Some(vec!["max_neighbors=32".into()]),
        libsql: true,
        libsql_inserts: false,
        inserts: true,
        digest: false,
        cache_limit: None,
        cache_size_kib: None,
        cache_spill_pages: None,
        hnswlib: None,
        build_threads: None,
        build_limit: None,
        synthetic: None,
        generator: Generator::Noise { spread: 0.5 },
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{a} needs a value"));
        match a.as_str() {
            "--rows" => args.rows = value()?.parse::<usize>()?.max(1),
            "--queries" => args.queries = value()?.parse::<usize>()?.max(1),
            "--repeats" => args.repeats = value()?.parse::<usize>()?.max(1),
            "--k" => args.k = value()?.parse::<usize>()?.max(1),
            "--search-l" => {
                args.curve = value()?.split(',').filter(|s| !s.is_empty()).map(str::parse).collect::<Result<_, _>>()?;
            }
            "--alt" => args.alt = Some(value()?.split(',').map(str::to_owned).collect()),
            "--no-alt" => args.alt = None,
            "--no-libsql" => args.libsql = false,
            "--libsql-inserts" => args.libsql_inserts = true,
            "--no-inserts" => args.inserts = false,
            "--digest" => args.digest = true,
            "--cache-limit" => args.cache_limit = Some(value()?.parse()?),
            "--cache-size" => args.cache_size_kib = Some(value()?.parse()?),
            "--cache-spill" => args.cache_spill_pages = Some(value()?.parse()?),
            "--hnswlib" => args.hnswlib = Some(value()?),
            "--build-threads" => args.build_threads = Some(value()?.parse()?),
            "--build-limit" => args.build_limit = Some(value()?.parse()?),
            "--synthetic" => args.synthetic = Some(value()?.parse::<usize>()?.max(1)),
            "--spread" => args.generator = Generator::Noise { spread: value()?.parse()? },
            "--generator" => args.generator = Generator::parse(&value()?)?,
            _ => return Err(format!("unknown argument {a}; see the doc comment of {}", file!()).into()),
        }
    }
    Ok(args)
}

/// How the index was built.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Method {
    /// Rows inserted (one transaction), then `CREATE INDEX`.
    IndexFilled,
    /// `CREATE INDEX` on the empty table, then rows inserted (one transaction).
    InsertIndexed,
}

impl Method {
    fn label(self) -> &'static str {
        match self {
            Method::IndexFilled => "(a) fill, then CREATE INDEX",
            Method::InsertIndexed => "(b) insert into indexed table",
        }
    }
}

/// One built index, measured.
struct IndexRun {
    engine: String,
    options: String,
    method: Method,
    /// Filling the table (a), or inserting into the indexed table (b).
    fill: Duration,
    /// `CREATE INDEX` (on the filled table for (a), on the empty one for (b)).
    index: Duration,
    /// File bytes after the fill, before CREATE INDEX (a only).
    table_bytes: Option<u64>,
    file_bytes: u64,
    metadata: Vec<u8>,
    default: Search,
    curve: Vec<(u64, Search)>,
}

impl IndexRun {
    fn total(&self) -> f64 {
        (self.fill + self.index).as_secs_f64()
    }

    fn label(&self) -> String {
        format!("{} {}", self.engine, self.options)
    }
}

/// The value of the last record with `tag` in a metadata blob (docs/libsql-vector.md §3.4).
fn meta_value(blob: &[u8], tag: u8) -> Option<u64> {
    blob.chunks_exact(9).rfind(|r| r[0] == tag).map(|r| {
        let mut v = [0; 8];
        v.copy_from_slice(&r[1..]);
        u64::from_le_bytes(v)
    })
}

fn sql_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn options_sql(options: &[String]) -> String {
    std::iter::once("'metric=cosine'".to_owned())
        .chain(options.iter().map(|o| sql_quote(o)))
        .collect::<Vec<_>>()
        .join(", ")
}

fn options_label(options: &[String]) -> String {
    if options.is_empty() { "default".to_owned() } else { options.join(",") }
}

fn file_size(path: &Path) -> BoxResult<u64> {
    Ok(fs::metadata(path)?.len())
}

/// Builds edgelite's index over the first `rows` vectors in `db` (a new file), by `method`,
/// then measures the searches on it.
fn edgelite_index(
    ds: &Dataset,
    rows: usize,
    db: &Path,
    options: &[String],
    method: Method,
    args: &Args,
    nq: usize,
) -> BoxResult<IndexRun> {
    let create_index = format!("CREATE INDEX {INDEX} ON items (libsql_vector_idx(emb, {}))", options_sql(options));
    let mut conn = open_edgelite(db, args)?;
    conn.execute_batch(&format!("CREATE TABLE items(id INTEGER PRIMARY KEY, emb F32_BLOB({}))", ds.dims))?;
    let mut index = Duration::ZERO;
    if method == Method::InsertIndexed {
        let t = Instant::now();
        conn.execute_batch(&create_index)?;
        index = t.elapsed();
    }
    let t = Instant::now();
    let cpu = cpu_seconds();
    let tx = conn.transaction()?;
    {
        let mut insert = tx.prepare("INSERT INTO items(id, emb) VALUES (?1, ?2)")?;
        for id in 0..rows {
            insert.execute(params![i64::try_from(id)?, ds.base_vector(id)])?;
        }
    }
    tx.commit()?;
    let fill = t.elapsed();
    if method == Method::InsertIndexed {
        print_cpu("inserts into the indexed table", fill, cpu);
    }
    let mut table_bytes = None;
    if method == Method::IndexFilled {
        table_bytes = Some(file_size(db)?);
        let t = Instant::now();
        let cpu = cpu_seconds();
        conn.execute_batch(&create_index)?;
        index = t.elapsed();
        print_cpu("CREATE INDEX", index, cpu);
        if args.digest {
            eprintln!("           CREATE INDEX: blocks digest {:016x}", blocks_digest(&conn)?);
        }
    }
    conn.close().map_err(|(_, e)| e)?;
    let file_bytes = file_size(db)?;

    let conn = open_edgelite(db, args)?;
    let meta_sql = format!("SELECT metadata FROM libsql_vector_meta_shadow WHERE name = '{INDEX}'");
    let metadata: Vec<u8> = conn.query_row(&meta_sql, [], |r| r.get(0))?;
    let mut stmt = conn.prepare(&format!("SELECT id FROM vector_top_k('{INDEX}', ?1, {})", args.k))?;
    let mut search =
        || measure(nq, args.repeats, |q| Ok(stmt.query_map([ds.query(q)], |r| r.get(0))?.collect::<Result<_, _>>()?));
    let default = search()?;
    let set_meta = format!("UPDATE libsql_vector_meta_shadow SET metadata = ?1 WHERE name = '{INDEX}'");
    let mut curve = Vec::new();
    // the curve is drawn on the indexes built by (a) only
    let curve_points = if method == Method::IndexFilled { &args.curve[..] } else { &[] };
    for &search_l in curve_points {
        // a fixed width: the search_l record, and edgelite's scaled default turned off
        let mut blob = metadata.clone();
        set_record(&mut blob, TAG_SEARCH_L, search_l);
        set_record(&mut blob, TAG_SCALED_SEARCH_L, 0);
        conn.execute(&set_meta, [&blob])?;
        curve.push((search_l, search()?));
    }
    conn.execute(&set_meta, [&metadata])?;
    Ok(IndexRun {
        engine: "edgelite".into(),
        options: options_label(options),
        method,
        fill,
        index,
        table_bytes,
        file_bytes,
        metadata,
        default,
        curve,
    })
}

/// An FNV-1a digest of the index's shadow table (rowids and blocks in rowid order): equal for
/// builds that wrote the same blocks.
fn blocks_digest(conn: &Connection) -> BoxResult<u64> {
    let mut stmt = conn.prepare(&format!("SELECT index_key, data FROM {INDEX}_shadow ORDER BY index_key"))?;
    let mut rows = stmt.query([])?;
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    while let Some(row) = rows.next()? {
        let id: i64 = row.get(0)?;
        let data: Vec<u8> = row.get(1)?;
        for b in id.to_le_bytes().iter().chain(&data) {
            h = (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    Ok(h)
}

/// Rewrites the last record of `tag` in the metadata `blob` to `value` in place (the blob is
/// full at edgelite's defaults), or appends one.
fn set_record(blob: &mut Vec<u8>, tag: u8, value: u64) {
    let record = 9;
    match blob.chunks_exact_mut(record).filter(|r| r[0] == tag).last() {
        Some(r) => r[1..].copy_from_slice(&value.to_le_bytes()),
        None if value != 0 => {
            blob.push(tag);
            blob.extend_from_slice(&value.to_le_bytes());
        }
        None => {}
    }
}

/// An edgelite connection with `--cache-size`, `--cache-spill`, `--cache-limit`, `--build-threads`
/// and `--build-limit` applied.
fn open_edgelite(db: &Path, args: &Args) -> BoxResult<Connection> {
    let conn = Connection::open(db)?;
    if let Some(kib) = args.cache_size_kib {
        conn.execute_batch(&format!("PRAGMA cache_size = -{kib}"))?;
    }
    if let Some(pages) = args.cache_spill_pages {
        conn.execute_batch(&format!("PRAGMA cache_spill = {pages}"))?;
    }
    if let Some(limit) = args.cache_limit {
        let _previous: i64 = conn.query_row("SELECT edgelite_vector_cache_limit(?1)", [limit], |r| r.get(0))?;
    }
    if let Some(threads) = args.build_threads {
        let _previous: i64 = conn.query_row("SELECT edgelite_vector_build_threads(?1)", [threads], |r| r.get(0))?;
    }
    if let Some(limit) = args.build_limit {
        let _previous: i64 = conn.query_row("SELECT edgelite_vector_build_limit(?1)", [limit], |r| r.get(0))?;
    }
    Ok(conn)
}

/// The CPU time of this process so far (user + system, every thread), from /proc/self/stat;
/// on a shared machine it says what a step cost where its wall-clock time says how long it
/// waited too. `None` off Linux.
fn cpu_seconds() -> Option<f64> {
    let stat = fs::read_to_string("/proc/self/stat").ok()?;
    // the fields after the command name (which may hold spaces) in parentheses
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

/// Prints a step's wall-clock and CPU time (since `cpu`) on stderr.
fn print_cpu(step: &str, wall: Duration, cpu: Option<f64>) {
    if let (Some(before), Some(now)) = (cpu, cpu_seconds()) {
        eprintln!("           {step}: {:.1} s wall-clock, {:.1} s CPU (all threads)", wall.as_secs_f64(), now - before);
    }
}

/// The process's peak resident set so far, in MB (`VmHWM` of /proc/self/status; Linux only).
fn peak_rss_mb() -> Option<f64> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// `SELECT id FROM items [NOT INDEXED] ORDER BY vector_distance_cos(emb, ?1) LIMIT k` on a built
/// database: with `NOT INDEXED` the exact scan; without, the query as a user writes it, which
/// edgelite's planner answers through the vector index (libSQL scans for it).
fn edgelite_exact(ds: &Dataset, db: &Path, args: &Args, nq: usize, not_indexed: bool) -> BoxResult<Search> {
    let conn = Connection::open(db)?;
    let hint = if not_indexed { " NOT INDEXED" } else { "" };
    let sql = format!("SELECT id FROM items{hint} ORDER BY vector_distance_cos(emb, ?1) LIMIT {}", args.k);
    let mut stmt = conn.prepare(&sql)?;
    measure(nq, args.repeats, |q| Ok(stmt.query_map([ds.query(q)], |r| r.get(0))?.collect::<Result<_, _>>()?))
}

/// The first search of a fresh connection (`vector_top_k` at the defaults), one connection per
/// query: its node cache is empty, and it draws the index's seeds (edgelite-diskann's `Seeds`)
/// before it can use them. The schema is read before the clock starts. Median and the
/// quartiles in milliseconds, over `nq` connections.
fn fresh_first_search(ds: &Dataset, db: &Path, args: &Args, nq: usize, rows: usize) -> BoxResult<(f64, f64, f64)> {
    let sql = format!("SELECT id FROM vector_top_k('{INDEX}', ?1, {})", args.k);
    let mut ms = Vec::with_capacity(nq);
    for q in 0..nq {
        let conn = open_edgelite(db, args)?;
        conn.query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get::<_, i64>(0))?;
        let start = Instant::now();
        let mut stmt = conn.prepare(&sql)?;
        let ids: Vec<i64> = stmt.query_map([ds.query(q)], |r| r.get(0))?.collect::<Result<_, _>>()?;
        ms.push(start.elapsed().as_secs_f64() * 1e3);
        if ids.len() != args.k.min(rows) {
            return Err(format!("a fresh connection's search gave {} rows", ids.len()).into());
        }
    }
    ms.sort_by(f64::total_cmp);
    let at = |f: f64| ms.get(((ms.len() as f64 - 1.0) * f).round() as usize).copied().unwrap_or(f64::NAN);
    Ok((at(0.5), at(0.25), at(0.75)))
}

/// Exact cosine top-k over the first `rows` base vectors, in memory with edgelite-vector's
/// kernels; also the ground truth of a prefix.
fn rust_scan(ds: &Dataset, rows: usize, args: &Args, nq: usize) -> BoxResult<(String, Search)> {
    let kernels = kernels::active();
    // the same bytes the SQL engines store: f32 blobs, little-endian
    let blobs: Vec<u8> = ds.base[..rows * ds.dims].iter().flat_map(|x| x.to_le_bytes()).collect();
    let dims = u32::try_from(ds.dims)?;
    let vectors: Vec<VectorRef<'_>> = blobs
        .chunks_exact(4 * ds.dims)
        .map(|b| VectorRef::from_data_part(VectorType::F32, dims, b))
        .collect::<Result<_, _>>()?;
    let search = measure(nq, args.repeats, |q| {
        let query = Vector::from_f32(ds.query(q))?;
        let d = vectors
            .iter()
            .zip(0u32..)
            .map(|(&v, i)| Ok((kernels::fast_distance(kernels, Metric::Cosine, v, query.as_ref())?, i)))
            .collect::<Result<Vec<_>, edgelite_vector::Error>>()?;
        Ok(top_k(d, args.k))
    })?;
    Ok((format!("Rust scan in memory ({} kernels)", kernels.name), search))
}

/// How hard the queries' neighbourhoods are, from their exact nearest rows (medians over the
/// queries): the distance of the k-th nearest over the nearest's (near 1: the nearest rows are
/// near-ties, and which k of them an approximate search returns is close to chance) and the
/// local intrinsic dimensionality, the maximum-likelihood estimate `-1 / mean(ln(d_i / d_k))`
/// over the k nearest (Levina and Bickel, 2004; Amsaleg et al., 2015). Both grow harder as a
/// set grows denser around the same queries; a run without `--synthetic` prints the real
/// data's (1.355 and 9.5 for the first 100 queries of minilm-20k).
fn neighbourhoods(ds: &Dataset, truth: &[Vec<i32>]) -> String {
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
    };
    let norm = |v: &[f32]| v.iter().map(|&x| f64::from(x) * f64::from(x)).sum::<f64>().sqrt();
    let (mut contrast, mut lid) = (Vec::new(), Vec::new());
    for (q, ids) in truth.iter().enumerate() {
        let query = ds.query(q);
        let query_norm = norm(query);
        let d: Vec<f64> = ids
            .iter()
            .filter_map(|&id| usize::try_from(id).ok())
            .map(|id| {
                let row = ds.base_vector(id);
                let dot: f64 = row.iter().zip(query).map(|(&a, &b)| f64::from(a) * f64::from(b)).sum();
                (1.0 - dot / (norm(row) * query_norm)).max(1e-12)
            })
            .collect();
        if let (Some(&first), Some(&last)) = (d.first(), d.last()) {
            contrast.push(last / first);
            let logs: Vec<f64> = d[..d.len() - 1].iter().map(|x| (x / last).ln()).collect();
            if !logs.is_empty() {
                lid.push(-(logs.len() as f64) / logs.iter().sum::<f64>().min(-1e-12));
            }
        }
    }
    format!(
        "queries' neighbourhoods (medians): k-th nearest distance / nearest {:.3}; local intrinsic dimensionality \
         (MLE over the k nearest) {:.1}",
        median(contrast),
        median(lid)
    )
}

/// What benches/hnswlib/ann.py measured.
struct Hnswlib {
    version: String,
    build: Duration,
    /// (ef, search)
    curve: Vec<(u64, Search)>,
}

/// hnswlib through `python`; `Ok(None)` (with the reason printed) when it cannot run.
fn hnswlib(python: &str, dir: &Path, rows: usize, args: &Args, nq: usize) -> BoxResult<Option<Hnswlib>> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("hnswlib").join("ann.py");
    let efs = args.curve.iter().map(u64::to_string).collect::<Vec<_>>().join(",");
    let out = std::process::Command::new(python)
        .arg(script)
        .arg(dir)
        .args([rows.to_string(), nq.to_string(), args.repeats.to_string(), args.k.to_string(), efs])
        .output();
    let out = match out {
        Ok(out) if out.status.success() => out,
        Ok(out) => {
            println!("hnswlib skipped: {python} failed:\n{}", String::from_utf8_lossy(&out.stderr));
            return Ok(None);
        }
        Err(e) => {
            println!("hnswlib skipped: cannot run {python} ({e})");
            return Ok(None);
        }
    };
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let curve = v["curve"]
        .as_array()
        .ok_or("curve")?
        .iter()
        .map(|p| Ok((p["ef"].as_u64().ok_or("ef")?, search_from_json(p)?)))
        .collect::<BoxResult<_>>()?;
    Ok(Some(Hnswlib {
        version: v["version"].as_str().unwrap_or("?").to_owned(),
        build: Duration::from_secs_f64(v["build_ms"].as_f64().ok_or("build_ms")? / 1e3),
        curve,
    }))
}

/// hnswlib's curve next to edgelite's best QPS at a recall at least as high.
fn report_hnswlib(h: &Hnswlib, runs: &[IndexRun], truth: &[Vec<i32>], k: usize) {
    let Some(ours) = runs.iter().find(|r| r.method == Method::IndexFilled) else { return };
    let points: Vec<(u64, f64, f64)> = std::iter::once((0, ours.default.recall(truth, k), ours.default.qps()))
        .chain(ours.curve.iter().map(|(l, s)| (*l, s.recall(truth, k), s.qps())))
        .collect();
    println!(
        "\n## hnswlib {} in memory (M=16, ef_construction=200, one thread; build {:.2} s) against {} \
         (build (a) {:.2} s, x = edgelite / hnswlib QPS)",
        h.version,
        h.build.as_secs_f64(),
        ours.label(),
        ours.total()
    );
    let head = format!(
        "{:>5} {:>10} {:>10} | {:>24} {:>10} {:>6}",
        "ef",
        "QPS",
        format!("recall@{k}"),
        "edgelite search_l (0=def)",
        "QPS",
        "x"
    );
    println!("{head}\n{}", "-".repeat(head.len()));
    for (ef, s) in &h.curve {
        let (qps, recall) = (s.qps(), s.recall(truth, k));
        // a recall is a mean of per-query shares: two runs that find the same rows in all can
        // differ in the last bits (summed in another order), and the equal one was skipped
        // (100,000 rows: hnswlib's 0.9815 at ef 70 met edgelite's 0.9815 at search_l 200, not
        // the default's 0.9815 at 1.24x the queries/s)
        let best = points.iter().filter(|p| p.1 >= recall - 1e-9).max_by(|a, b| a.2.total_cmp(&b.2));
        match best {
            Some(&(l, _, q)) => println!("{ef:>5} {qps:>10.1} {recall:>10.4} | {l:>24} {q:>10.1} {:>6.2}", q / qps),
            None => {
                println!("{ef:>5} {qps:>10.1} {recall:>10.4} | {:>24} {:>10} {:>6}", "(recall not reached)", "-", "-")
            }
        }
    }
}

/// What ann.js measured.
struct Libsql {
    run: IndexRun,
    /// Built the other way (b), with `--libsql-inserts`: build figures only.
    inserts: Option<IndexRun>,
    exact: Search,
    engine: String,
}

/// libSQL through node; `Ok(None)` (with the reason printed) when node or the package is missing.
fn libsql(dir: &Path, db: &Path, rows: usize, args: &Args, nq: usize) -> BoxResult<Option<Libsql>> {
    let curve = args.curve.iter().map(u64::to_string).collect::<Vec<_>>().join(",");
    let script_args = [
        dir.display().to_string(),
        db.display().to_string(),
        rows.to_string(),
        nq.to_string(),
        args.repeats.to_string(),
        args.k.to_string(),
        curve,
        if args.libsql_inserts { "1" } else { "0" }.to_owned(),
    ];
    let Some(v) = run_libsql("ann.js", &script_args)? else { return Ok(None) };
    let search = search_from_json;
    let hex = v["metadata"].as_str().ok_or("metadata")?;
    let metadata =
        (0..hex.len() / 2).map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16)).collect::<Result<_, _>>()?;
    let curve = v["curve"]
        .as_array()
        .ok_or("curve")?
        .iter()
        .map(|p| Ok((p["search_l"].as_u64().ok_or("search_l")?, search(p)?)))
        .collect::<BoxResult<_>>()?;
    let run = IndexRun {
        engine: "libSQL".into(),
        options: "default".into(),
        method: Method::IndexFilled,
        fill: ms_field(&v, "insert_ms")?,
        index: ms_field(&v, "index_ms")?,
        table_bytes: v["table_bytes"].as_u64(),
        file_bytes: v["file_bytes"].as_u64().ok_or("file_bytes")?,
        metadata,
        default: search(&v["default"])?,
        curve,
    };
    let indexed = &v["indexed"];
    let inserts = if indexed.is_null() {
        None
    } else {
        Some(IndexRun {
            method: Method::InsertIndexed,
            fill: ms_field(indexed, "insert_ms")?,
            index: ms_field(indexed, "index_ms")?,
            table_bytes: None,
            file_bytes: indexed["file_bytes"].as_u64().ok_or("indexed.file_bytes")?,
            // made by the same CREATE INDEX statement as (a)'s
            metadata: run.metadata.clone(),
            default: Search { repeat_secs: Vec::new(), ids: Vec::new() },
            curve: Vec::new(),
            engine: run.engine.clone(),
            options: run.options.clone(),
        })
    };
    let engine = v["engine"].as_str().unwrap_or("libSQL").to_owned();
    Ok(Some(Libsql { run, inserts, exact: search(&v["exact"])?, engine }))
}

/// The milliseconds field `key` of `v` as a duration.
fn ms_field(v: &serde_json::Value, key: &str) -> BoxResult<Duration> {
    Ok(Duration::from_secs_f64(v[key].as_f64().ok_or(key.to_owned())? / 1e3))
}

/// `a / b` formatted as a ratio, or `-` without a `b`.
fn ratio(a: f64, b: Option<f64>) -> String {
    b.map_or_else(|| "-".to_owned(), |b| format!("{:.2}", a / b))
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

fn main() -> BoxResult<()> {
    let args = parse_args()?;
    let ds = Dataset::load(&Dataset::locate("minilm-20k")?)?;
    let ds = match args.synthetic {
        Some(n) => ds.synthetic(n, args.generator, 42),
        None => ds,
    };
    // libSQL's node script and hnswlib's Python read the raw layout (f32 files, plain .jsonl)
    let raw = ds.raw_files()?;
    let dir = raw.path();
    let rows = args.rows.min(ds.len());
    let nq = args.queries.min(ds.num_queries());
    let k = args.k;
    let raw_bytes = (rows * ds.dims * 4) as u64;
    let tmp = tempfile::tempdir()?;

    let argv: Vec<String> = std::env::args().collect();
    println!("# {}", argv.join(" "));
    println!("# = cargo run --release -p edgelite-benches --bin ann -- {}", argv[1..].join(" "));
    println!(
        "minilm-20k: first {rows} of {} base vectors x {} f32 (raw {:.1} MB), {nq} queries x {} repeats, \
         cosine top-{k}, one thread; file DBs in {} (default rollback journal; one untimed warm-up pass before the timed repeats)",
        ds.len(),
        ds.dims,
        mb(raw_bytes),
        args.repeats,
        tmp.path().display(),
    );

    if ds.generated {
        println!("base vectors past the real 20,000 are generated (--synthetic: {})", args.generator);
    }
    let (scan_name, scan) = rust_scan(&ds, rows, &args, nq)?;
    let truth: Vec<Vec<i32>> = if rows == ds.len() && !ds.generated {
        println!("ground truth: gt.i32 (exact top-{k} of the dataset)");
        (0..nq).map(|q| ds.ground_truth(q)[..k].to_vec()).collect()
    } else {
        println!("ground truth: exact top-{k} over the {rows} rows, computed by the in-memory scan");
        scan.ids
            .iter()
            .map(|ids| ids.iter().map(|&id| i32::try_from(id)).collect::<Result<_, _>>())
            .collect::<Result<_, _>>()?
    };
    println!("{}", neighbourhoods(&ds, &truth));

    let start = Instant::now();
    let step = |what: &str| {
        let peak = peak_rss_mb().map_or_else(String::new, |mb| format!(" (peak RSS so far {mb:.0} MB)"));
        eprintln!("[{:>7.1} s] {what}{peak}", start.elapsed().as_secs_f64());
    };
    step("edgelite (a)");
    let db_a = tmp.path().join("edgelite-a.db");
    let mut runs = vec![edgelite_index(&ds, rows, &db_a, &[], Method::IndexFilled, &args, nq)?];
    if args.inserts {
        step("edgelite (b)");
        runs.push(edgelite_index(&ds, rows, &tmp.path().join("edgelite-b.db"), &[], Method::InsertIndexed, &args, nq)?);
    }
    if let Some(alt) = &args.alt {
        step("edgelite alt (a)");
        runs.push(edgelite_index(&ds, rows, &tmp.path().join("edgelite-alt.db"), alt, Method::IndexFilled, &args, nq)?);
    }
    step("edgelite exact SQL");
    let mut exact = vec![
        (
            format!("edgelite exact SQL (SQLite {}, NOT INDEXED)", edgelite::version()),
            edgelite_exact(&ds, &db_a, &args, nq, true)?,
        ),
        ("edgelite same SQL, planner uses the index".to_owned(), edgelite_exact(&ds, &db_a, &args, nq, false)?),
    ];
    let mut libsql_run = None;
    let mut libsql_inserts = None;
    if args.libsql {
        step("libSQL (node)");
        if let Some(l) = libsql(dir, &tmp.path().join("libsql.db"), rows, &args, nq)? {
            let ways = if l.inserts.is_some() { "both build methods" } else { "build method (a) only" };
            println!("libSQL: {} — {ways}", l.engine);
            exact.push((format!("{} exact SQL", l.engine), l.exact));
            libsql_run = Some(l.run);
            libsql_inserts = l.inserts;
        }
    } else {
        println!("libSQL skipped: --no-libsql");
    }
    exact.push((scan_name, scan));
    let hnsw = match &args.hnswlib {
        Some(python) => {
            step("hnswlib (python)");
            hnswlib(python, dir, rows, &args, nq)?
        }
        None => None,
    };
    step("done");

    step("edgelite fresh connections");
    let fresh = fresh_first_search(&ds, &db_a, &args, nq.min(100), rows)?;
    let lib_run = libsql_run.as_ref();
    report(&args, rows, raw_bytes, &truth, &runs, lib_run, libsql_inserts.as_ref(), &exact);
    println!(
        "\nfirst search of a fresh connection (empty node cache, seeds drawn; {} connections): median {:.2} ms \
         (quartiles {:.2}-{:.2})",
        nq.min(100),
        fresh.0,
        fresh.1,
        fresh.2
    );
    if let Some(h) = &hnsw {
        report_hnswlib(h, &runs, &truth, k);
    }
    if let Some(peak) = peak_rss_mb() {
        let limit = args.cache_limit.map_or_else(|| "default 256 MiB".to_owned(), |b| format!("{b} bytes"));
        println!(
            "\npeak RSS of this process (edgelite runs in it, libSQL in node): {peak:.0} MB, with the dataset \
             ({:.0} MB) and the scan's copy; edgelite vector memory limit per connection: {limit}",
            mb(raw_bytes)
        );
    }
    Ok(())
}

/// Prints the three tables.
#[expect(clippy::too_many_arguments, reason = "the report's inputs, each printed")]
fn report(
    args: &Args,
    rows: usize,
    raw_bytes: u64,
    truth: &[Vec<i32>],
    runs: &[IndexRun],
    lib: Option<&IndexRun>,
    lib_inserts: Option<&IndexRun>,
    exact: &[(String, Search)],
) {
    let k = args.k;
    let all = || runs.iter().chain(lib);

    // 1 and 4: build and size
    let w = all().map(|r| r.label().len()).max().unwrap_or(0).max(32);
    // a build is compared with libSQL's build of the same method if it ran, else with its (a)
    let lib_build = |m: Method| lib_inserts.filter(|l| l.method == m).or(lib);
    println!("\n## Build ({rows} rows, one transaction) and file size; x = this row / libSQL, same method if run");
    let head = format!(
        "{:<w$} {:<29} {:>8} {:>8} {:>8} {:>7} {:>6} | {:>8} {:>9} {:>6} {:>6} | {:>6} {:>6} {:>6}",
        "index",
        "method",
        "fill s",
        "index s",
        "total s",
        "rows/s",
        "x",
        "file MB",
        "bytes/row",
        "x raw",
        "x",
        "block",
        "max_nb",
        "srch_l"
    );
    println!("{head}\n{}", "-".repeat(head.len()));
    for r in all().chain(lib_inserts) {
        let total = r.total();
        let base = lib_build(r.method);
        let meta = |tag| meta_value(&r.metadata, tag).map_or_else(|| "-".to_owned(), |v| v.to_string());
        println!(
            "{:<w$} {:<29} {:>8.2} {:>8.2} {:>8.2} {:>7.0} {:>6} | {:>8.1} {:>9.0} {:>6.2} {:>6} | {:>6} {:>6} {:>6}",
            r.label(),
            r.method.label(),
            r.fill.as_secs_f64(),
            r.index.as_secs_f64(),
            total,
            rows as f64 / total,
            ratio(total, base.map(IndexRun::total)),
            mb(r.file_bytes),
            r.file_bytes as f64 / rows as f64,
            r.file_bytes as f64 / raw_bytes as f64,
            ratio(r.file_bytes as f64, base.map(|l| l.file_bytes as f64)),
            meta(TAG_BLOCK_SIZE),
            meta(TAG_MAX_NEIGHBORS),
            meta(TAG_SEARCH_L),
        );
    }
    for r in runs.first().into_iter().chain(lib) {
        let bytes = r.table_bytes.unwrap_or_default();
        let fill = r.fill.as_secs_f64();
        println!(
            "{:<w$} {:<29} {:>8.2} {:>8} {:>8.2} {:>7.0} {:>6} | {:>8.1} {:>9.0} {:>6.2}",
            format!("{}, table only (no index)", r.engine),
            "fill",
            fill,
            "-",
            fill,
            rows as f64 / fill,
            "",
            mb(bytes),
            bytes as f64 / rows as f64,
            bytes as f64 / raw_bytes as f64,
        );
    }
    println!(
        "fill = inserting the rows (into the plain table for (a), into the indexed table for (b)); index = CREATE \
         INDEX (on the empty table for (b)); x raw = file / raw f32 vectors ({:.1} MB); block, max_nb, srch_l from \
         the index metadata ('-' = not stored)",
        mb(raw_bytes)
    );

    // 2: search at defaults, and brute force
    let name = |r: &IndexRun| format!("{}, vector_top_k {}", r.label(), &r.method.label()[..3]);
    let w = all().map(|r| name(r).len()).chain(exact.iter().map(|(n, _)| n.len())).max().unwrap_or(0);
    println!("\n## Search at the index's own settings, and brute force; x = this row / libSQL (QPS)");
    let head = format!(
        "{:<w$} {:>8} {:>9} {:>6} {:>9} {:>10}",
        "method",
        "search_l",
        "QPS",
        "x",
        "ms/query",
        format!("recall@{k}")
    );
    println!("{head}\n{}", "-".repeat(head.len()));
    let line = |name: &str, search_l: &str, s: &Search, base: Option<f64>| {
        let qps = s.qps();
        println!(
            "{name:<w$} {search_l:>8} {qps:>9.1} {:>6} {:>9.3} {:>10.4}",
            ratio(qps, base),
            1e3 / qps,
            s.recall(truth, k)
        );
    };
    for r in all() {
        let search_l = meta_value(&r.metadata, TAG_SEARCH_L).map_or_else(|| "?".to_owned(), |v| v.to_string());
        line(&name(r), &search_l, &r.default, lib.map(|l| l.default.qps()));
    }
    let lib_exact = exact.iter().find(|(n, _)| n.starts_with("libSQL")).map(|(_, s)| s.qps());
    for (name, s) in exact {
        line(name, "exact", s, lib_exact);
    }
    println!(
        "index rows: x vs libSQL vector_top_k; exact rows: x vs libSQL exact SQL; QPS = queries / median repeat time"
    );

    // 3: the curve, on the indexes built by (a)
    let curve_runs: Vec<&IndexRun> = all().filter(|r| r.method == Method::IndexFilled).collect();
    let heads: Vec<String> = curve_runs.iter().map(|r| format!("{}: QPS, recall@{k}", r.label())).collect();
    println!(
        "\n## Recall/speed over search_l (rewritten in the built index's metadata, no rebuild); x = edgelite / libSQL QPS"
    );
    let mut head = format!("{:>8}", "search_l");
    for h in &heads {
        head += &format!(" | {h:>22}");
    }
    head += &format!(" | {:>6}", "x");
    println!("{head}\n{}", "-".repeat(head.len()));
    for (i, &search_l) in args.curve.iter().enumerate() {
        let mut line = format!("{search_l:>8}");
        for (r, h) in curve_runs.iter().zip(&heads) {
            let s = &r.curve[i].1;
            line += &format!(" | {:>w$.1} {:>10.4}", s.qps(), s.recall(truth, k), w = h.len().max(22) - 11);
        }
        line += &format!(" | {:>6}", ratio(curve_runs[0].curve[i].1.qps(), lib.map(|l| l.curve[i].1.qps())));
        println!("{line}");
    }
}
