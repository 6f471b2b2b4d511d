//! The backup benchmark (issue 16): write throughput and latency with backup off, with
//! `--durability local` and with `--durability backup` (against moto's S3 server from
//! `tests/backup/.venv`, and against `file://`); the data at risk in `local` mode under that
//! load (seconds and frames not yet in the bucket); upload bytes per committed byte; and the
//! restore time of a database of `restore MB` (default 64; the issue's figure is the 1 GB case,
//! `... -- 5 8 1024`, which needs about 6 GB of free disk and 3 GB of memory, so it is asked
//! for, never the default). Loopback only; the server runs in-process.
//!
//! ```sh
//! cargo run --release -p edgelite-server --example backup_bench -- [seconds per mode, default 5] \
//!     [writers, default 8] [restore MB, default 64]
//! ```
#![allow(clippy::unwrap_used, clippy::cast_precision_loss)]

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use edgelite_server::backup::{BackupConfig, Durability, Target};
use edgelite_server::{Config, Running};
use serde_json::json;

struct Moto {
    child: std::process::Child,
    endpoint: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn moto() -> Moto {
    let bin = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/backup/.venv/bin/moto_server");
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = std::process::Command::new(&bin)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{}: {e} (install it as .ci/run does)", bin.display()));
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        std::thread::sleep(Duration::from_millis(50));
    }
    Moto { child, endpoint: format!("http://127.0.0.1:{port}") }
}

fn s3_options(m: &Moto) -> Vec<(String, String)> {
    [
        ("aws_endpoint", m.endpoint.as_str()),
        ("aws_access_key_id", "x"),
        ("aws_secret_access_key", "x"),
        ("aws_region", "us-east-1"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect()
}

async fn start(dir: &Path, backup: Option<BackupConfig>, checkpoint_frames: u32) -> Running {
    let mut config = Config::new(dir.to_owned(), "127.0.0.1:0".into());
    config.backup = backup;
    config.checkpoint_frames = checkpoint_frames;
    edgelite_server::start(config).await.unwrap()
}

async fn exec(http: &reqwest::Client, base: &str, sql: &str) -> bool {
    let body = json!({"requests": [{"type": "execute", "stmt": {"sql": sql}}, {"type": "close"}]});
    match http.post(format!("{base}/v2/pipeline")).json(&body).send().await {
        Ok(r) if r.status() == 200 => {
            let v: serde_json::Value = r.json().await.unwrap_or_default();
            v["results"][0]["type"] == "ok"
        }
        _ => false,
    }
}

struct Load {
    ops: usize,
    errors: usize,
    lat: Vec<f64>,
    at_risk_s: Vec<f64>,
    at_risk_frames: Vec<u32>,
    committed_frames: u32,
}

/// `writers` clients inserting one 100-byte row per request for `secs`; with `sample`, the
/// data at risk is read every 20 ms.
async fn load(running: &Running, writers: usize, secs: u64, sample: bool) -> Load {
    let base = format!("http://{}", running.http_addr);
    let http = reqwest::Client::new();
    assert!(exec(&http, &base, "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)").await);
    let lat = Arc::new(Mutex::new(Vec::new()));
    let errors = Arc::new(Mutex::new(0usize));
    let end = Instant::now() + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    for _ in 0..writers {
        let (http, base, lat, errors) = (http.clone(), base.clone(), Arc::clone(&lat), Arc::clone(&errors));
        tasks.push(tokio::spawn(async move {
            while Instant::now() < end {
                let t = Instant::now();
                let ok = exec(&http, &base, "INSERT INTO t(v) VALUES (hex(randomblob(50)))").await;
                if ok {
                    lat.lock().unwrap().push(t.elapsed().as_secs_f64() * 1000.0);
                } else {
                    *errors.lock().unwrap() += 1;
                }
            }
        }));
    }
    let ns = running.state.namespaces.get("default").unwrap();
    let (mut at_risk_s, mut at_risk_frames) = (Vec::new(), Vec::new());
    while sample && Instant::now() < end {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let (g, n) = ns.position().unwrap();
        if let Some(st) = running.state.backup.as_ref().and_then(|b| b.status("default")) {
            let (sg, sn) =
                (st["shipped_generation"].as_u64().unwrap() as u32, st["shipped_frames"].as_u64().unwrap() as u32);
            at_risk_frames.push(if sg == g { n.saturating_sub(sn) } else { n });
            let oldest = st["oldest_unshipped_commit_us"].as_i64();
            at_risk_s.push(oldest.map_or(0.0, |t| (edgelite_server::backup::now_micros() - t) as f64 / 1e6));
        }
    }
    for t in tasks {
        t.await.unwrap();
    }
    let lat = std::mem::take(&mut *lat.lock().unwrap());
    let errors = *errors.lock().unwrap();
    Load { ops: lat.len(), errors, lat, at_risk_s, at_risk_frames, committed_frames: ns.position().unwrap().1 }
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * p).round() as usize]
}

fn dir_bytes(p: &Path, prefix: &str) -> u64 {
    let mut total = 0;
    for e in walk(p) {
        if e.file_name().unwrap().to_str().unwrap().starts_with(prefix) {
            total += std::fs::metadata(&e).unwrap().len();
        }
    }
    total
}

fn walk(p: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(p) {
        for e in rd.flatten() {
            let path = e.path();
            if path.is_dir() {
                out.extend(walk(&path));
            } else {
                out.push(path);
            }
        }
    }
    out
}

fn main() {
    let mut args = std::env::args().skip(1);
    let secs: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(5);
    let writers: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(8);
    let restore_mb: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(64);
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let m = moto();
    rt.block_on(async {
        reqwest::Client::new().put(format!("{}/bench", m.endpoint)).send().await.unwrap();
    });
    println!("{writers} writers, {secs} s per mode, one 100-byte row per request (autocommit), interval 1000 ms");
    println!(
        "| mode | target | writes/s | errors | p50 ms | p99 ms | at risk: max s | max frames | upload B per committed B |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    let modes: [(&str, Option<(Durability, bool)>); 5] = [
        ("off", None),
        ("local", Some((Durability::Local, true))),
        ("backup", Some((Durability::Backup, true))),
        ("local", Some((Durability::Local, false))),
        ("backup", Some((Durability::Backup, false))),
    ];
    for (i, (name, mode)) in modes.iter().enumerate() {
        let dir = tempfile::tempdir().unwrap();
        let bucket = dir.path().join("bucket");
        let backup = mode.map(|(d, s3)| {
            let mut b = if s3 {
                BackupConfig::new(format!("s3://bench/run{i}"))
            } else {
                BackupConfig::new(format!("file://{}", bucket.display()))
            };
            b.durability = d;
            if s3 {
                b.s3_options = s3_options(&m);
            }
            b
        });
        let target = match mode {
            None => "-",
            Some((_, true)) => "moto S3",
            Some((_, false)) => "file://",
        };
        let (mut l, ratio) = rt.block_on(async {
            let running = start(&dir.path().join("db"), backup, 10_000).await;
            let l = load(&running, writers, secs, mode.is_some_and(|(d, _)| d == Durability::Local)).await;
            running.shutdown().await;
            let ratio = (mode.is_some_and(|(_, s3)| !s3)).then(|| {
                let frames = dir_bytes(&bucket, "frames-") as f64;
                let all = dir_bytes(&bucket, "") as f64;
                let committed = f64::from(l.committed_frames) * 4120.0;
                (frames / committed, all / committed)
            });
            (l, ratio)
        });
        let max_s = l.at_risk_s.iter().copied().fold(f64::NAN, f64::max);
        let max_f = l.at_risk_frames.iter().max().copied();
        println!(
            "| {name} | {target} | {:.0} | {} | {:.2} | {:.2} | {} | {} | {} |",
            l.ops as f64 / secs as f64,
            l.errors,
            pct(&mut l.lat, 0.5),
            pct(&mut l.lat, 0.99),
            if max_s.is_nan() { "-".into() } else { format!("{max_s:.2}") },
            max_f.map_or("-".into(), |f| f.to_string()),
            ratio.map_or("-".into(), |(f, a)| format!("{f:.3} frames, {a:.3} with snapshots")),
        );
    }

    // Restore time of a database of `restore_mb` MiB (rows of 64 KiB, half random, half zeros).
    let dir = tempfile::tempdir().unwrap();
    let bucket = dir.path().join("bucket");
    let url = format!("file://{}", bucket.display());
    rt.block_on(async {
        let running = start(&dir.path().join("db"), Some(BackupConfig::new(url.clone())), u32::MAX).await;
        let base = format!("http://{}", running.http_addr);
        let http = reqwest::Client::builder().timeout(Duration::from_secs(600)).build().unwrap();
        assert!(exec(&http, &base, "CREATE TABLE big(b BLOB)").await);
        let built = Instant::now();
        for _ in 0..restore_mb.div_ceil(64) {
            let sql = "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 1024) \
                       INSERT INTO big SELECT randomblob(32768) || zeroblob(32768) FROM c";
            assert!(exec(&http, &base, sql).await);
        }
        let build_s = built.elapsed().as_secs_f64();
        let mid = edgelite_server::backup::now_micros();
        // A new generation: its snapshot holds everything.
        running.state.namespaces.get("default").unwrap().checkpoint(true).await.unwrap();
        let shipped = Instant::now();
        running.state.backup.as_ref().unwrap().flush(Duration::from_secs(600)).await;
        let ship_s = shipped.elapsed().as_secs_f64();
        running.shutdown().await;
        let size = std::fs::metadata(dir.path().join("db/dbs/default/data")).unwrap().len();
        let target = Target::open(&url).unwrap();
        let out = tempfile::tempdir().unwrap();
        let t = Instant::now();
        let r = edgelite_server::backup::restore_namespace(&target, out.path(), "default", None).await.unwrap();
        let snap_s = t.elapsed().as_secs_f64();
        let out2 = tempfile::tempdir().unwrap();
        let t = Instant::now();
        let r2 = edgelite_server::backup::restore_namespace(&target, out2.path(), "default", Some(mid)).await.unwrap();
        let frames_s = t.elapsed().as_secs_f64();
        println!();
        println!("database of {:.0} MiB (built in {build_s:.1} s; its frames and then its snapshot shipped, the snapshot in {ship_s:.1} s):", size as f64 / 1048576.0);
        println!("| restore | from | seconds |");
        println!("|---|---|---|");
        println!("| latest | snapshot of generation {} | {snap_s:.1} |", r.generation);
        println!("| point before the checkpoint | generation {} snapshot + {} frames replayed | {frames_s:.1} |", r2.generation, r2.frames);
    });
}
