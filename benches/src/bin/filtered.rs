//! Filtered nearest-neighbour queries at every selectivity: the query as users write it,
//! `SELECT id FROM items WHERE <filter> ORDER BY vector_distance_cos(emb, ?1) LIMIT k`, through
//! edgelite's planner (the vector index), against the same SQL forced to scan (`NOT INDEXED`,
//! exact: the ground truth) and, with node and `npm ci --prefix tests/libsql`, against libSQL's
//! own engine running the same SQL (it always scans).
//!
//! For each filter: rows returned against the exact query's, recall@k against it, queries/s
//! (median of the repeats; the exact and the indexed plan take their repeats in turns) of each
//! plan, and the ratios. Filters on `bucket = id % 1000` are
//! uncorrelated with the vectors; `src LIKE 'debian:%'` (the text's origin) is correlated. The
//! rows labelled `JOIN grp` filter through a joined table instead (`items JOIN grp ON grp.id =
//! items.bucket`, `grp` 1,000 rows with `ok = id % 10 = 1`, made in each engine's copy of the
//! file), the README's pattern of a vector table filtered by another.
//! `--filter-index` adds an ordinary index on `bucket` and `src` (the planner may then answer
//! selective filters exactly from it).
//!
//! `--synthetic N` measures a larger table: the scaling benchmark's generated rows (`ann
//! --synthetic`, the same generators and seed: the real vectors, then noisy copies of them up to
//! N rows, or with `--generator between` points between real neighbours), each with the source
//! of the real vector it was drawn around, so `src` stays correlated with the vectors. The
//! exact scan grows with the table and the walk much less, so the ratios grow with N.
//! `--dims D` keeps the first D dimensions of each vector: a table of few dimensions, whose
//! rows SQLite's scan ranks cheaply (with `--rows`, the small tables that the planner scans).
//! `--one-shot` prepares, runs and finalizes each query anew instead of running one prepared
//! statement (a client without a statement cache, as the server's Hrana requests are): the
//! planner's rewrite is a larger statement than the scan's, and costs more to prepare.
//! `--prepare` adds a table of what each filter's two statements cost to prepare alone
//! (microseconds, the median of rounds of prepares, the plans alternating).
//! `--bind-limit N` writes `LIMIT ?2` and binds N to it (-1: every row) in both of edgelite's
//! statements, whose K the planner then cannot see when it prepares (libSQL runs `LIMIT N`):
//! with `--only 'no WHERE'`, the run-time choice between the walk and the scan for a K too
//! large for the walk (`edgelite_scan_cheaper`, PATCHES.md 0002).
//! `--sparse-rowids` gives row `i` the rowid `i * 0x9E3779B97F4A7C15 mod 2^63` instead of `i`
//! (`bucket` stays `i % 1000`): rowids spread over all of 0..2^63 as random or hashed ids are,
//! whose span says nothing of the table's size (the planner then estimates its rows).
//!
//! ```text
//! cargo run --release -p edgelite-benches --bin filtered -- [--rows 20000] [--queries 100]
//!     [--repeats 3] [--k 10] [--filter-index] [--no-libsql] [--db PATH (kept, built if missing)]
//!     [--only TEXT (the filters whose label contains TEXT)] [--synthetic ROWS [--generator noise[:S] | between[:M]] [--spread S]]
//!     [--dims D] [--one-shot] [--prepare] [--sparse-rowids] [--bind-limit N]
//! ```

use std::path::Path;
use std::time::Instant;

use edgelite::{Connection, params};
use edgelite_benches::dataset::{Dataset, Generator};
use edgelite_benches::measure::{BoxResult, Search, run_libsql, search_from_json};

struct Args {
    rows: usize,
    queries: usize,
    repeats: usize,
    k: usize,
    filter_index: bool,
    libsql: bool,
    /// Keep the database here (built if missing) instead of a temporary file.
    db: Option<std::path::PathBuf>,
    /// Only the filters whose label contains this text (e.g. to profile one).
    only: Option<String>,
    /// Generated rows up to this many ([`Dataset::synthetic_with_origins`]).
    synthetic: Option<usize>,
    /// How the generated rows are drawn, as in `ann`.
    generator: Generator,
    /// Only the first this many dimensions of each vector (0: all).
    dims: usize,
    /// Each query prepared, run and finalized anew.
    one_shot: bool,
    /// A table of what each statement costs to prepare.
    prepare: bool,
    /// Rowids spread over 0..2^63 ([`rowid`]).
    sparse: bool,
    /// `LIMIT ?2` bound to this instead of `LIMIT k`.
    bind_limit: Option<i64>,
}

fn parse_args() -> BoxResult<Args> {
    let mut args = Args {
        rows: 20_000,
        queries: 100,
        repeats: 3,
        k: 10,
        filter_index: false,
        libsql: true,
        db: None,
        only: None,
        synthetic: None,
        generator: Generator::Noise { spread: 0.5 },
        dims: 0,
        one_shot: false,
        prepare: false,
        sparse: false,
        bind_limit: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{a} needs a value"));
        match a.as_str() {
            "--rows" => args.rows = value()?.parse()?,
            "--queries" => args.queries = value()?.parse()?,
            "--repeats" => args.repeats = value()?.parse::<usize>()?.max(1),
            "--k" => args.k = value()?.parse()?,
            "--filter-index" => args.filter_index = true,
            "--one-shot" => args.one_shot = true,
            "--prepare" => args.prepare = true,
            "--sparse-rowids" => args.sparse = true,
            "--bind-limit" => args.bind_limit = Some(value()?.parse()?),
            "--no-libsql" => args.libsql = false,
            "--db" => args.db = Some(value()?.into()),
            "--only" => args.only = Some(value()?),
            "--synthetic" => args.synthetic = Some(value()?.parse()?),
            "--spread" => args.generator = Generator::Noise { spread: value()?.parse()? },
            "--generator" => args.generator = Generator::parse(&value()?)?,
            "--dims" => args.dims = value()?.parse()?,
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    Ok(args)
}

/// What the join rows join `items` to.
const JOIN: &str = " JOIN grp ON grp.id = items.bucket";

/// The table the join rows filter through (see the module docs).
const GRP: &str = "CREATE TABLE IF NOT EXISTS grp(id INTEGER PRIMARY KEY, ok INT);
     INSERT OR IGNORE INTO grp WITH RECURSIVE s(x) AS (SELECT 0 UNION ALL SELECT x + 1 FROM s WHERE x < 999)
     SELECT x, x % 10 = 1 FROM s;";

/// (label, WHERE clause) for a table of `rows` rows. Selectivity is measured, not assumed. The
/// first has no WHERE clause at all: the plain nearest-neighbour query, which the planner sends
/// to the walk without drawing a sample (`WHERE 1`, the second, goes through the sample as any
/// filter does). A label that starts with `JOIN grp` joins `grp` ([`JOIN`]).
fn filters(rows: usize, sparse: bool) -> Vec<(String, String)> {
    // a rowid range a tenth of the table, of which 0.01% of the rows pass
    let range = format!("bucket = 7 AND id < {}", if sparse { i64::MAX / 10 } else { (rows / 10) as i64 });
    let fixed = |label: &str, filter: &str| (label.to_owned(), filter.to_owned());
    vec![
        fixed("no WHERE clause (100%)", ""),
        fixed("none (100%)", "1"),
        fixed("bucket < 500 (50%)", "bucket < 500"),
        fixed("bucket < 100 (10%)", "bucket < 100"),
        fixed("bucket < 10 (1%)", "bucket < 10"),
        fixed("bucket = 7 (0.1%)", "bucket = 7"),
        (format!("{range} (0.01%)"), range),
        fixed("src LIKE 'debian:%' (correlated)", "src LIKE 'debian:%'"),
        fixed("src LIKE 'debian:%' AND bucket < 20 (correlated, 2%)", "src LIKE 'debian:%' AND bucket < 20"),
        fixed("JOIN grp, grp.ok = 1 (10%)", "grp.ok = 1"),
        fixed("JOIN grp, grp.id < 500 (50%)", "grp.id < 500"),
        fixed("JOIN grp, grp.id = 7 (0.1%)", "grp.id = 7"),
        // SQLite's own plan reads `items` once for each value of the list
        fixed("JOIN grp, grp.id IN (7, 9) (0.2%)", "grp.id IN (7, 9)"),
    ]
}

/// `items` and, for a join row (its label), the join.
fn from(label: &str, hint: &str) -> String {
    let join = if label.starts_with("JOIN grp") { JOIN } else { "" };
    format!("items{hint}{join}")
}

/// ` WHERE <filter>`, or nothing for an empty filter.
fn where_clause(filter: &str) -> String {
    if filter.is_empty() { String::new() } else { format!(" WHERE {filter}") }
}

/// The query; `limit` is the LIMIT's text (a number, or `?2`).
fn sql(label: &str, filter: &str, limit: &str, not_indexed: bool) -> String {
    let from = from(label, if not_indexed { " NOT INDEXED" } else { "" });
    let filter = where_clause(filter);
    format!("SELECT items.id FROM {from}{filter} ORDER BY vector_distance_cos(items.emb, ?1) LIMIT {limit}")
}

/// The exact scan and the indexed plan over the same queries, each warmed once, then their
/// repeats in turns (exact, indexed, exact, ...), so that a slow spell of this shared machine
/// falls on both rather than on whichever ran in it. `one_shot`: each query is prepared, run
/// and finalized anew instead of running one prepared statement. `bind`: the value of `?2`.
fn run_pair(
    conn: &Connection,
    ds: &Dataset,
    sqls: [&str; 2],
    nq: usize,
    repeats: usize,
    one_shot: bool,
    bind: Option<i64>,
) -> BoxResult<(Search, Search)> {
    let mut stmts = [conn.prepare(sqls[0])?, conn.prepare(sqls[1])?];
    let mut out =
        [Search { repeat_secs: Vec::new(), ids: Vec::new() }, Search { repeat_secs: Vec::new(), ids: Vec::new() }];
    for pass in 0..=repeats {
        for ((stmt, out), sql) in stmts.iter_mut().zip(out.iter_mut()).zip(sqls) {
            let t = Instant::now();
            let ids = (0..nq)
                .map(|q| {
                    let run = |stmt: &mut edgelite::Statement<'_>| match bind {
                        Some(n) => {
                            stmt.query_map(params![ds.query(q), n], |r| r.get(0))?.collect::<Result<Vec<i64>, _>>()
                        }
                        None => stmt.query_map([ds.query(q)], |r| r.get(0))?.collect::<Result<Vec<i64>, _>>(),
                    };
                    if one_shot { run(&mut conn.prepare(sql)?) } else { run(stmt) }
                })
                .collect::<Result<Vec<_>, _>>()?;
            if pass > 0 {
                // pass 0 warms the caches
                out.repeat_secs.push(t.elapsed().as_secs_f64());
            }
            out.ids = ids;
        }
    }
    let [exact, indexed] = out;
    Ok((exact, indexed))
}

/// Microseconds to prepare (and finalize) each of `sqls`: the median of 9 rounds of 200
/// prepares each, the statements in turns. Run after the statements have run once on `conn`,
/// so that the planner knows the table's size, as a connection that has queried it does.
fn prepare_micros(conn: &Connection, sqls: [&str; 2]) -> BoxResult<[f64; 2]> {
    let mut rounds: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
    for _ in 0..9 {
        for (sql, times) in sqls.iter().zip(rounds.iter_mut()) {
            let t = Instant::now();
            for _ in 0..200 {
                drop(conn.prepare(sql)?);
            }
            times.push(t.elapsed().as_secs_f64() * 1e6 / 200.0);
        }
    }
    Ok(rounds.map(|mut r| {
        r.sort_by(f64::total_cmp);
        r[r.len() / 2]
    }))
}

/// Rows returned over all queries, and mean recall against `exact` (1 where both are empty).
fn score(got: &Search, exact: &Search) -> (usize, usize, f64) {
    let (mut rows, mut want, mut recall) = (0, 0, 0.0);
    for (g, e) in got.ids.iter().zip(&exact.ids) {
        rows += g.len();
        want += e.len();
        recall += if e.is_empty() { 1.0 } else { g.iter().filter(|id| e.contains(id)).count() as f64 / e.len() as f64 };
    }
    (rows, want, recall / got.ids.len().max(1) as f64)
}

/// Row `i`'s rowid: `i`, or with `sparse` `i` times an odd constant modulo 2^63 (a one-to-one
/// map of 0..2^63, so no two rows meet), spread over the whole range.
fn rowid(i: i64, sparse: bool) -> i64 {
    if sparse { ((i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) & i64::MAX as u64) as i64 } else { i }
}

/// The table: row `i` has vector `i` of `ds`, rowid [`rowid`], `bucket = i % 1000` and the
/// source of the real vector it was drawn around (`origins`).
fn build(ds: &Dataset, origins: &[usize], rows: usize, db: &Path, filter_index: bool, sparse: bool) -> BoxResult<()> {
    let records = ds.base_records()?;
    let mut conn = Connection::open(db)?;
    conn.execute_batch(&format!(
        "CREATE TABLE items(id INTEGER PRIMARY KEY, bucket INT, src TEXT, emb F32_BLOB({}))",
        ds.dims
    ))?;
    let tx = conn.transaction()?;
    {
        let mut insert = tx.prepare("INSERT INTO items VALUES (?1, ?2, ?3, ?4)")?;
        for (id, &origin) in origins.iter().enumerate().take(rows) {
            let src = &records.get(origin).ok_or("a row without a text")?.src;
            let id = i64::try_from(id)?;
            insert.execute(params![rowid(id, sparse), id % 1000, src, ds.base_vector(usize::try_from(id)?)])?;
        }
    }
    tx.commit()?;
    let t = Instant::now();
    conn.execute_batch("CREATE INDEX items_emb ON items(libsql_vector_idx(emb))")?;
    eprintln!("CREATE INDEX: {:.1} s", t.elapsed().as_secs_f64());
    if filter_index {
        conn.execute_batch(
            "CREATE INDEX items_bucket ON items(bucket); CREATE INDEX items_src ON items(src); ANALYZE;",
        )?;
    }
    Ok(())
}

/// A speed ratio: two decimals below 10x, where "never slower" is read.
fn ratio(r: f64) -> String {
    if r < 10.0 { format!("{r:.2}x") } else { format!("{r:.1}x") }
}

fn main() -> BoxResult<()> {
    let args = parse_args()?;
    let real = Dataset::load(&Dataset::locate("minilm-20k")?)?.truncated(args.dims);
    let (ds, origins) = match args.synthetic {
        // the seed `ann --synthetic` uses: the same rows
        Some(n) => real.synthetic_with_origins(n, args.generator, 42),
        None => {
            let n = real.len();
            (real, (0..n).collect())
        }
    };
    let rows = if args.synthetic.is_some() { ds.len() } else { args.rows.min(ds.len()) };
    let nq = args.queries.min(ds.num_queries());
    let tmp = tempfile::tempdir()?;
    let db = args.db.clone().unwrap_or_else(|| tmp.path().join("filtered.db"));
    let argv: Vec<String> = std::env::args().collect();
    println!("# cargo run --release -p edgelite-benches --bin filtered -- {}", argv[1..].join(" "));
    let data = match args.synthetic {
        Some(_) => format!("minilm-20k and generated rows ({})", args.generator),
        None => "minilm-20k".to_owned(),
    };
    println!(
        "{data}: {rows} rows x {} f32, {nq} queries x {} repeats, top-{}, one thread, default vector index{}",
        ds.dims,
        args.repeats,
        args.k,
        if args.filter_index { ", plus ordinary indexes on bucket and src (ANALYZEd)" } else { "" }
    );
    if args.one_shot {
        println!("one-shot: each query prepared, run and finalized anew (libSQL's figures are not)");
    }
    if args.sparse {
        println!("sparse rowids: row i's rowid is i * 0x9E3779B97F4A7C15 mod 2^63");
    }
    if let Some(n) = args.bind_limit {
        println!(
            "LIMIT ?2 bound to {n} in edgelite's statements (libSQL runs LIMIT {n}); recall is over every row returned"
        );
    }
    if !db.exists() {
        build(&ds, &origins, rows, &db, args.filter_index, args.sparse)?;
    }
    // each engine reads a fresh copy of the file: a file that SQLite wrote page by page reads
    // back through the kernel's page cache about 1.5x slower than a copy written in one go
    // (small folios), which would favour whichever engine read the copy
    let own = tmp.path().join("edgelite.db");
    std::fs::copy(&db, &own)?;
    let conn = Connection::open(&own)?;
    conn.execute_batch(GRP)?;
    let libsql_version = |v: &serde_json::Value| v["version"].as_str().map(str::to_owned);

    let libsql = if args.libsql {
        let limit = args.bind_limit.map_or(args.k.to_string(), |n| n.to_string());
        let sqls: Vec<String> = filters(rows, args.sparse).iter().map(|(l, f)| sql(l, f, &limit, false)).collect();
        // libSQL reads edgelite's file (its own format): a copy, so neither engine sees the
        // other's page cache or journal; the query vectors as raw f32 for node
        let copy = tmp.path().join("libsql.db");
        std::fs::copy(&db, &copy)?;
        Connection::open(&copy)?.execute_batch(GRP)?;
        let qpath = tmp.path().join("queries.f32");
        let raw: Vec<u8> = (0..nq).flat_map(|q| ds.query(q).iter().flat_map(|x| x.to_le_bytes())).collect();
        std::fs::write(&qpath, raw)?;
        let script_args = vec![
            copy.display().to_string(),
            qpath.display().to_string(),
            nq.to_string(),
            args.repeats.to_string(),
            serde_json::to_string(&sqls)?,
        ];
        run_libsql("filtered.js", &script_args)?
    } else {
        println!("libSQL skipped: --no-libsql");
        None
    };

    if let Some(v) = libsql.as_ref().and_then(libsql_version) {
        println!("libSQL: npm libsql, SQLite {v}, the same SQL on a copy of the file");
    }
    println!();
    println!(
        "| filter | matching rows | rows returned / expected | recall@{} | index plan QPS | exact scan QPS | x scan | libSQL QPS (scan) | x libSQL |",
        args.k
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    let mut prepared = Vec::new();
    for (i, (label, filter)) in filters(rows, args.sparse).iter().enumerate() {
        if args.only.as_ref().is_some_and(|only| !label.contains(only.as_str())) {
            continue;
        }
        let matching: i64 =
            conn.query_row(&format!("SELECT count(*) FROM {}{}", from(label, ""), where_clause(filter)), [], |r| {
                r.get(0)
            })?;
        let limit = if args.bind_limit.is_some() { "?2".to_owned() } else { args.k.to_string() };
        let (exact_sql, indexed_sql) = (sql(label, filter, &limit, true), sql(label, filter, &limit, false));
        let (exact, indexed) =
            run_pair(&conn, &ds, [&exact_sql, &indexed_sql], nq, args.repeats, args.one_shot, args.bind_limit)?;
        if args.prepare {
            prepared.push((label.to_string(), prepare_micros(&conn, [&exact_sql, &indexed_sql])?));
        }
        let (got, want, recall) = score(&indexed, &exact);
        let lib = libsql.as_ref().and_then(|v| search_from_json(&v["filters"][i]).ok());
        let (lib_qps, lib_ratio) = match &lib {
            Some(l) => (format!("{:.1}", l.qps()), ratio(indexed.qps() / l.qps())),
            None => ("-".to_owned(), "-".to_owned()),
        };
        println!(
            "| {label} | {matching} ({:.2}%) | {got} / {want} | {recall:.3} | {:.1} | {:.1} | {} | {lib_qps} | {lib_ratio} |",
            100.0 * matching as f64 / rows as f64,
            indexed.qps(),
            exact.qps(),
            ratio(indexed.qps() / exact.qps()),
        );
    }
    if !prepared.is_empty() {
        println!();
        println!("| filter | prepare, index plan (us) | prepare, exact scan (us) | x scan |");
        println!("|---|---|---|---|");
        for (label, [exact, indexed]) in prepared {
            println!("| {label} | {indexed:.1} | {exact:.1} | {} |", ratio(indexed / exact));
        }
    }
    Ok(())
}
