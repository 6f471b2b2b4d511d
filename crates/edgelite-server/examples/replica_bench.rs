//! Embedded replicas, side by side: `edgelite::replica` and the npm `@libsql/client` replica
//! (tests/server/node_modules, run through tests/server/replica_bench.js) against one
//! edgelite-server (in process, on loopback, a temporary directory). Reports catch-up frames/s,
//! local read latency p50/p99 and bootstrap time. Figures only; nothing is asserted.
//!
//! ```sh
//! cargo run --release -p edgelite-server --example replica_bench -- \
//!     [--frames 20000] [--reads 10000] [--bootstrap-mb 256] [--no-npm]
//! ```
#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::io::{BufRead as _, BufReader, Write as _};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use edgelite::replica::Builder;
use serde_json::{Value, json};

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn series(n: u64) -> String {
    format!(
        "(WITH RECURSIVE s(value) AS (SELECT 1 UNION ALL SELECT value + 1 FROM s WHERE value < {n}) SELECT value FROM s)"
    )
}

/// Statements on the primary, each its own commit, in pipelines of at most 500.
fn exec(url: &str, sqls: &[String]) {
    for chunk in sqls.chunks(500) {
        let mut reqs: Vec<Value> = chunk.iter().map(|s| json!({"type": "execute", "stmt": {"sql": s}})).collect();
        reqs.push(json!({"type": "close"}));
        let body = json!({"baton": null, "requests": reqs}).to_string();
        let mut r = ureq::post(format!("{url}/v2/pipeline")).content_type("application/json").send(&body).unwrap();
        let v: Value =
            serde_json::from_str(&r.body_mut().with_config().limit(64 << 20).read_to_string().unwrap()).unwrap();
        for r in v["results"].as_array().unwrap() {
            assert_eq!(r["type"], "ok", "{r}");
        }
    }
}

/// The npm client's process, one JSON answer per command.
struct Npm {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Npm {
    fn start(url: &str, dir: &Path) -> Npm {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/server");
        let mut child = Command::new("node")
            .arg(root.join("replica_bench.js"))
            .arg(url)
            .arg(dir)
            .current_dir(&root)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("node (tests/server: npm ci --prefix tests/server)");
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        Npm { child, stdin, stdout }
    }

    fn ask(&mut self, cmd: &str) -> Value {
        writeln!(self.stdin, "{cmd}").unwrap();
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("npm answered {line:?}: {e}"))
    }
}

impl Drop for Npm {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)].as_secs_f64() * 1e6
}

fn main() {
    let frames_target = arg("--frames", 20_000);
    let reads = arg("--reads", 10_000);
    let bootstrap_mb = arg("--bootstrap-mb", 256);
    let with_npm = !std::env::args().any(|a| a == "--no-npm");

    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut config = edgelite_server::Config::new(dir.path().join("srv"), "127.0.0.1:0".into());
    config.admin_listen_addr = Some("127.0.0.1:0".into());
    // One generation for the catch-up; the bootstrap step checkpoints by hand.
    config.checkpoint_frames = u32::MAX;
    let running = rt.block_on(edgelite_server::start(config)).unwrap();
    let url = format!("http://{}", running.http_addr);
    let admin = format!("http://{}", running.admin_addr.unwrap());
    println!("primary {url}, replicas in {}", dir.path().display());

    // The read set: 1,000 small rows.
    exec(&url, &["CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB)".into()]);
    exec(&url, &[format!("INSERT INTO t(v) SELECT randomblob(200) FROM {}", series(1000))]);
    let ours = Builder::new_remote_replica(dir.path().join("rust.db"), &url, "").build().unwrap();
    ours.sync().unwrap();
    let mut npm = with_npm.then(|| Npm::start(&url, dir.path()));
    if let Some(n) = npm.as_mut() {
        n.ask("open");
    }

    // Catch-up: commits of 3 rows of 3,000 bytes (4-5 frames each) until the target.
    let commits = frames_target / 4;
    let sqls: Vec<String> =
        (0..commits).map(|_| format!("INSERT INTO t(v) SELECT randomblob(3000) FROM {}", series(3))).collect();
    exec(&url, &sqls);
    let t = Instant::now();
    let r = ours.sync().unwrap();
    let ours_catchup = t.elapsed();
    let frames = r.frames_synced;
    let ours_fps = frames as f64 / ours_catchup.as_secs_f64();
    let npm_catchup = npm.as_mut().map(|n| n.ask("sync")["ms"].as_f64().unwrap() / 1000.0);

    // Local reads: point queries on random ids.
    let conn = ours.connect().unwrap();
    let max_id: i64 = conn.query_row("SELECT max(id) FROM t", [], |r| r.get(0)).unwrap();
    let mut stmt = conn.prepare("SELECT v FROM t WHERE id = ?1").unwrap();
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut times = Vec::with_capacity(reads as usize);
    for _ in 0..reads {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let id = 1 + (x % max_id as u64) as i64;
        let t = Instant::now();
        let v: Vec<u8> = stmt.query_row([id], |r| r.get(0)).unwrap();
        times.push(t.elapsed());
        assert!(!v.is_empty());
    }
    times.sort();
    let (ours_p50, ours_p99) = (percentile(&times, 0.5), percentile(&times, 0.99));
    drop(stmt);
    let npm_reads = npm.as_mut().map(|n| n.ask(&format!("reads {reads} {max_id}")));

    // Bootstrap: a primary of `bootstrap_mb` MiB, checkpointed so that the export holds it all.
    let rows_per_stmt = 10_000;
    let stmts = (bootstrap_mb * 1024 * 1024 / 4000).div_ceil(rows_per_stmt);
    exec(&url, &["CREATE TABLE big(v BLOB)".into()]);
    for _ in 0..stmts {
        exec(&url, &[format!("INSERT INTO big(v) SELECT randomblob(4000) FROM {}", series(rows_per_stmt))]);
    }
    let mut r = ureq::post(format!("{admin}/v1/namespaces/default/checkpoint")).send_empty().unwrap();
    assert_eq!(r.status().as_u16(), 200, "{}", r.body_mut().read_to_string().unwrap_or_default());
    let g: Value =
        serde_json::from_str(&ureq::get(format!("{url}/info")).call().unwrap().body_mut().read_to_string().unwrap())
            .unwrap();
    let g = g["current_generation"].as_u64().unwrap();
    let export = dir.path().join(format!("srv/dbs/default/gens/{g}/export.db"));
    let size = std::fs::metadata(&export).unwrap().len();
    // The disk's speed for the same bytes: a plain copy of the export file, synced. The shared
    // disk's speed varies by 2x from minute to minute, so copy and bootstrap alternate, three
    // times each, and the medians are reported.
    let (mut copies, mut boots) = (Vec::new(), Vec::new());
    for i in 0..3 {
        let copy = dir.path().join(format!("copy{i}.db"));
        let t = Instant::now();
        std::fs::copy(&export, &copy).unwrap();
        std::fs::File::open(&copy).unwrap().sync_all().unwrap();
        copies.push(t.elapsed());
        std::fs::remove_file(&copy).unwrap();
        let path = dir.path().join(format!("rust-fresh{i}.db"));
        let t = Instant::now();
        let fresh = Builder::new_remote_replica(&path, &url, "").build().unwrap();
        fresh.sync().unwrap();
        boots.push(t.elapsed());
        drop(fresh);
        std::fs::remove_file(&path).unwrap();
    }
    copies.sort();
    boots.sort();
    let (copy, ours_boot) = (copies[1], boots[1]);
    let npm_boot = npm.as_mut().map(|n| n.ask("fresh npm-fresh.db")["ms"].as_f64().unwrap() / 1000.0);

    let mb = size as f64 / (1 << 20) as f64;
    println!();
    println!("| | edgelite::replica | npm @libsql/client 0.18.0 |");
    println!("|---|---|---|");
    let npm_fps = npm_catchup.map_or("-".into(), |s| format!("{:.0} frames/s ({s:.2} s)", frames as f64 / s));
    println!(
        "| catch-up, {frames} frames | {ours_fps:.0} frames/s ({:.2} s) | {npm_fps} |",
        ours_catchup.as_secs_f64()
    );
    let npm_lat = npm_reads.map_or("-".into(), |v| {
        format!("{:.1} / {:.1} µs", v["p50_us"].as_f64().unwrap(), v["p99_us"].as_f64().unwrap())
    });
    println!("| local point read p50 / p99, {reads} reads | {ours_p50:.1} / {ours_p99:.1} µs | {npm_lat} |");
    let npm_b = npm_boot.map_or("-".into(), |s| format!("{s:.2} s ({:.0} MiB/s)", mb / s));
    println!(
        "| bootstrap, {mb:.0} MiB (median of 3) | {:.2} s ({:.0} MiB/s) | {npm_b} |",
        ours_boot.as_secs_f64(),
        mb / ours_boot.as_secs_f64()
    );
    println!(
        "| (a synced file copy of the export, median of 3) | {:.2} s ({:.0} MiB/s) | |",
        copy.as_secs_f64(),
        mb / copy.as_secs_f64()
    );
}
