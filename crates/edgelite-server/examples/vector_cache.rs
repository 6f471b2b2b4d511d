//! Vector node cache memory under a tenant's searches (session 28):
//! `cargo run --release -p edgelite-server --example vector_cache -- [rows 20000] [dims 256] [streams 16] [seconds 10]`
//!
//! One attacker namespace holds an index of `rows` random vectors; `streams` streams of it (each
//! holds a connection of its own for its life, as concurrent clients' streams do) run
//! searches for `seconds`, while a victim namespace (2,000 rows) runs searches one after
//! another. The server runs as a child process (this same executable), twice on the same data:
//! with the node caches bounded per connection only (the old behaviour: each connection's 256
//! MiB, emulated by budgets too large to matter) and with the server's defaults (one budget per
//! namespace, `--max-vector-cache-memory-per-namespace` 256 MiB, and the process's,
//! `--max-vector-cache-memory` 1 GiB). Prints the server's RSS before, at its peak during and
//! after the attack, the attacker's `vector_cache_bytes`, and the victim's search latency alone
//! and under attack.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout, clippy::print_stderr)]

use std::io::BufRead as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const VICTIM_ROWS: usize = 2000;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("serve") {
        serve(&args[2], args[3].parse().unwrap(), args[4].parse().unwrap());
        return;
    }
    let arg = |i: usize, d: usize| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(d);
    let (rows, dims, streams, secs) = (arg(1, 20_000), arg(2, 256), arg(3, 16), arg(4, 10));
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(bench(rows, dims, streams, Duration::from_secs(secs as u64)));
}

/// The child: the server on loopback with the two budgets, printing its two addresses.
fn serve(dir: &str, process: u64, per_namespace: u64) {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let mut config = edgelite_server::Config::new(dir.into(), "127.0.0.1:0".into());
        config.admin_listen_addr = Some("127.0.0.1:0".into());
        config.enable_namespaces = true;
        config.limits.max_vector_cache_memory = process;
        config.limits.max_vector_cache_memory_per_namespace = per_namespace;
        let running = edgelite_server::start(config).await.unwrap();
        println!("{} {}", running.http_addr, running.admin_addr.unwrap());
        std::future::pending::<()>().await;
    });
}

struct Server {
    child: Child,
    http: String,
    admin: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(dir: &Path, process: u64, per_namespace: u64) -> Server {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .arg("serve")
        .arg(dir)
        .arg(process.to_string())
        .arg(per_namespace.to_string())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let mut parts = line.split_whitespace();
    let http = format!("http://{}", parts.next().unwrap());
    let admin = format!("http://{}", parts.next().unwrap());
    Server { child, http, admin }
}

/// RSS of a process in MiB.
fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}

/// One pipeline request on stream `baton` (a new one if `None`); returns the body, asserting
/// that every result is ok.
async fn pipeline(http: &reqwest::Client, base: &str, ns: &str, baton: Option<&str>, reqs: Vec<Value>) -> Value {
    let url = format!("{base}/dev/{ns}/v2/pipeline");
    let body: Value =
        http.post(url).json(&json!({"baton": baton, "requests": reqs})).send().await.unwrap().json().await.unwrap();
    for r in body["results"].as_array().unwrap() {
        assert_eq!(r["type"], "ok", "{ns}: {r}");
    }
    body
}

fn exec(sql: &str) -> Value {
    json!({"type": "execute", "stmt": {"sql": sql}})
}

fn search(q: u64, rows: usize) -> String {
    let id = q % rows as u64 + 1;
    format!("SELECT id FROM vector_top_k('t_v', (SELECT v FROM t WHERE id = {id}), 10)")
}

/// xorshift64*: fixed seeds, so every run draws the same queries.
fn next(x: &mut u64) -> u64 {
    *x ^= *x >> 12;
    *x ^= *x << 25;
    *x ^= *x >> 27;
    x.wrapping_mul(0x2545_f491_4f6c_dd1d)
}

async fn fill(http: &reqwest::Client, base: &str, admin: &str, ns: &str, rows: usize, dims: usize) {
    let r = http.post(format!("{admin}/v1/namespaces/{ns}/create")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let create = format!("CREATE TABLE t(id INTEGER PRIMARY KEY, v F32_BLOB({dims}))");
    pipeline(http, base, ns, None, vec![exec(&create), json!({"type": "close"})]).await;
    // 1,000 rows a request: random vectors made by SQL, in [-1, 1)
    for start in (0..rows).step_by(1000) {
        let n = 1000.min(rows - start);
        let insert = format!(
            "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < {n}), \
             d(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM d WHERE i < {dims}) \
             INSERT INTO t(v) SELECT vector('[' || (SELECT group_concat((random() % 1000) / 1000.0, ',') FROM d \
             WHERE x > 0) || ']') FROM n"
        );
        pipeline(http, base, ns, None, vec![exec(&insert), json!({"type": "close"})]).await;
    }
    let index = "CREATE INDEX t_v ON t(libsql_vector_idx(v))";
    pipeline(http, base, ns, None, vec![exec(index), json!({"type": "close"})]).await;
}

async fn cached(http: &reqwest::Client, admin: &str, ns: &str) -> f64 {
    let body: Value = http.get(format!("{admin}/v1/namespaces/{ns}/stats")).send().await.unwrap().json().await.unwrap();
    body["vector_cache_bytes"].as_u64().unwrap_or(0) as f64 / f64::from(1 << 20)
}

/// The victim's search latencies for `d` (sequential), in ms, sorted.
async fn victim(http: &reqwest::Client, base: &str, d: Duration) -> Vec<f64> {
    let mut lat = Vec::new();
    let mut x = 0x9e37_79b9_7f4a_7c15_u64;
    let until = Instant::now() + d;
    while Instant::now() < until {
        let sql = search(next(&mut x), VICTIM_ROWS);
        let t = Instant::now();
        pipeline(http, base, "victim", None, vec![exec(&sql), json!({"type": "close"})]).await;
        lat.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    lat.sort_by(f64::total_cmp);
    lat
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    sorted.get(((sorted.len().max(1) - 1) as f64 * p).round() as usize).copied().unwrap_or(0.0)
}

async fn bench(rows: usize, dims: usize, streams: usize, d: Duration) {
    let dir = tempfile::Builder::new().prefix("vector-cache").tempdir_in(".").unwrap();
    println!("attacker: {rows} rows of {dims} dimensions, {streams} streams for {d:?}; victim: {VICTIM_ROWS} rows");
    let http = reqwest::Client::builder().pool_max_idle_per_host(streams + 4).build().unwrap();
    let configs = [
        ("per connection only (before)", u64::MAX / 2, u64::MAX / 2),
        ("server defaults (1 GiB, 256 MiB per namespace)", 1 << 30, 256 << 20),
    ];
    for (i, (label, process, per_namespace)) in configs.into_iter().enumerate() {
        let server = spawn(dir.path(), process, per_namespace);
        let pid = server.child.id();
        let (base, admin) = (server.http.clone(), server.admin.clone());
        if i == 0 {
            let t = Instant::now();
            fill(&http, &base, &admin, "attacker", rows, dims).await;
            fill(&http, &base, &admin, "victim", VICTIM_ROWS, dims).await;
            println!("filled and indexed in {:.1} s", t.elapsed().as_secs_f64());
        }
        let alone = victim(&http, &base, d / 2).await;
        let before = rss_mib(pid);

        let stop = Arc::new(AtomicBool::new(false));
        let searches = Arc::new(AtomicU64::new(0));
        let mut tasks = Vec::new();
        for s in 0..streams {
            let (http, base, stop, searches) = (http.clone(), base.clone(), Arc::clone(&stop), Arc::clone(&searches));
            tasks.push(tokio::spawn(async move {
                let mut baton: Option<String> = None;
                let mut x = 0x1234_5678_u64 + s as u64;
                while !stop.load(Ordering::Relaxed) {
                    let reqs = (0..4).map(|_| exec(&search(next(&mut x), rows))).collect();
                    let body = pipeline(&http, &base, "attacker", baton.as_deref(), reqs).await;
                    baton = Some(body["baton"].as_str().unwrap().to_owned());
                    searches.fetch_add(4, Ordering::Relaxed);
                }
                pipeline(&http, &base, "attacker", baton.as_deref(), vec![json!({"type": "close"})]).await;
            }));
        }
        let peak = Arc::new(AtomicU64::new(before.to_bits()));
        let sampler = {
            let (stop, peak) = (Arc::clone(&stop), Arc::clone(&peak));
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let now = rss_mib(pid);
                    if now > f64::from_bits(peak.load(Ordering::Relaxed)) {
                        peak.store(now.to_bits(), Ordering::Relaxed);
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            })
        };
        let attacked = victim(&http, &base, d).await;
        let attacker_cache = cached(&http, &admin, "attacker").await;
        stop.store(true, Ordering::Relaxed);
        for t in tasks {
            t.await.unwrap();
        }
        sampler.await.unwrap();
        let end = rss_mib(pid);
        tokio::time::sleep(Duration::from_secs(3)).await;
        let after = rss_mib(pid);
        println!("\n{label}:");
        println!(
            "  server RSS: {before:.0} MiB before, peak {:.0} MiB under attack, {end:.0} MiB at its end, {after:.0} MiB 3 s later",
            f64::from_bits(peak.load(Ordering::Relaxed))
        );
        println!(
            "  attacker: {} searches, node caches {attacker_cache:.0} MiB at the end of the attack, {:.0} MiB 3 s later",
            searches.load(Ordering::Relaxed),
            cached(&http, &admin, "attacker").await
        );
        println!(
            "  victim search p50/p99: alone {:.2}/{:.2} ms ({} searches), under attack {:.2}/{:.2} ms ({}); cache {:.1} MiB",
            pct(&alone, 0.5),
            pct(&alone, 0.99),
            alone.len(),
            pct(&attacked, 0.5),
            pct(&attacked, 0.99),
            attacked.len(),
            cached(&http, &admin, "victim").await
        );
        drop(server);
    }
}
