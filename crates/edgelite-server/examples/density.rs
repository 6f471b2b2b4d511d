//! Tenant density (issue 20): `cargo run --release -p edgelite-server --example density -- N [MAX_OPEN]`
//!
//! Starts the server as a child process (this same executable, under `ulimit -n 1024`) with N
//! namespaces: creates them through the admin API, writes one row into each, then runs a
//! Zipf-distributed point-query load over all of them from one client, so that most queries
//! find their tenant closed. Prints the server's RSS and open descriptors at each step, disk per
//! tenant, the creation rate, cold and warm query latencies (a query is cold when its tenant was
//! not among the last MAX_OPEN used, i.e. the server had closed it), the same query on one hot
//! namespace as the baseline, and the time a restart takes with N namespaces on disk.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout, clippy::print_stderr)]

use std::collections::{HashMap, VecDeque};
use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::StreamExt as _;
use serde_json::{Value, json};

const QUERIES: usize = 20_000;
const CONCURRENCY: usize = 8;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("serve") {
        serve(&args[2], args[3].parse().expect("max open"));
        return;
    }
    let n: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(1000);
    let max_open: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(128);
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    rt.block_on(bench(n, max_open));
}

/// The child: the server on loopback, printing its two addresses.
fn serve(dir: &str, max_open: usize) {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    rt.block_on(async {
        let mut config = edgelite_server::Config::new(dir.into(), "127.0.0.1:0".into());
        config.admin_listen_addr = Some("127.0.0.1:0".into());
        config.enable_namespaces = true;
        config.limits.max_open_databases = max_open;
        let running = edgelite_server::start(config).await.expect("start");
        println!("{} {}", running.http_addr, running.admin_addr.expect("admin"));
        std::future::pending::<()>().await;
    });
}

struct Server {
    child: Child,
    http: String,
    admin: String,
    started_in: Duration,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(dir: &Path, max_open: usize) -> Server {
    let exe = std::env::current_exe().expect("exe");
    let t = Instant::now();
    let mut child = Command::new("sh")
        .arg("-c")
        .arg("ulimit -n 1024 && exec \"$0\" \"$@\"")
        .arg(exe)
        .arg("serve")
        .arg(dir)
        .arg(max_open.to_string())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn the server");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("read");
    let started_in = t.elapsed();
    let mut parts = line.split_whitespace();
    let http = format!("http://{}", parts.next().expect("http address"));
    let admin = format!("http://{}", parts.next().expect("admin address"));
    Server { child, http, admin, started_in }
}

/// (RSS in KiB, open descriptors) of a process.
fn usage(pid: u32) -> (u64, usize) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).map(|d| d.count()).unwrap_or(0);
    (rss, fds)
}

/// Bytes of disk (allocated blocks) under `dir`.
fn disk(dir: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt as _;
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for e in entries.flatten() {
            let Ok(m) = e.metadata() else { continue };
            total += m.blocks() * 512;
            if m.is_dir() {
                stack.push(e.path());
            }
        }
    }
    total
}

async fn pipeline(http: &reqwest::Client, base: &str, ns: &str, sqls: &[&str]) -> Value {
    let mut reqs: Vec<Value> = sqls.iter().map(|q| json!({"type": "execute", "stmt": {"sql": q}})).collect();
    reqs.push(json!({"type": "close"}));
    let r = http.post(format!("{base}/dev/{ns}/v2/pipeline")).json(&json!({"requests": reqs})).send().await;
    let v: Value = r.expect("request").json().await.expect("json");
    for r in v["results"].as_array().expect("results") {
        assert_eq!(r["type"], "ok", "{ns}: {r}");
    }
    v
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

/// xorshift64*: a fixed seed, so every run draws the same sequence.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn name(i: usize) -> String {
    format!("t{i}")
}

async fn bench(n: usize, max_open: usize) {
    let dir: PathBuf = tempfile::Builder::new().prefix("density").tempdir_in(".").expect("dir").keep();
    println!(
        "N = {n} namespaces, --max-open-databases {max_open}, server under ulimit -n 1024, data in {}",
        dir.display()
    );
    let http = reqwest::Client::builder().pool_max_idle_per_host(CONCURRENCY).build().expect("client");

    let server = spawn(&dir, max_open);
    let pid = server.child.id();
    let (rss0, fds0) = usage(pid);
    println!("empty server: started in {}, RSS {rss0} KiB, {fds0} descriptors", ms(server.started_in));

    let t = Instant::now();
    let admin = server.admin.clone();
    futures_util::stream::iter(0..n)
        .map(|i| {
            let (http, admin) = (http.clone(), admin.clone());
            async move {
                let r = http.post(format!("{admin}/v1/namespaces/{}/create", name(i))).send().await.expect("create");
                assert_eq!(r.status().as_u16(), 200, "{:?}", r.text().await);
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect::<Vec<()>>()
        .await;
    let created = t.elapsed();
    let (rss1, fds1) = usage(pid);
    println!(
        "created {n} in {:.2} s ({:.0}/s): RSS {rss1} KiB, {fds1} descriptors",
        created.as_secs_f64(),
        n as f64 / created.as_secs_f64()
    );

    let t = Instant::now();
    let base = server.http.clone();
    futures_util::stream::iter(0..n)
        .map(|i| {
            let (http, base) = (http.clone(), base.clone());
            async move {
                pipeline(
                    &http,
                    &base,
                    &name(i),
                    &["CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)", "INSERT INTO t(v) VALUES ('hello')"],
                )
                .await;
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect::<Vec<()>>()
        .await;
    let written = t.elapsed();
    let (rss2, fds2) = usage(pid);
    let bytes = disk(&dir.join("dbs"));
    println!(
        "wrote one row into each in {:.2} s ({:.0}/s): RSS {rss2} KiB, {fds2} descriptors, disk {:.1} KiB per tenant",
        written.as_secs_f64(),
        n as f64 / written.as_secs_f64(),
        bytes as f64 / 1024.0 / (n + 1) as f64
    );

    // Zipf (s = 1) over ranks, ranks mapped to namespaces by a fixed shuffle.
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut order: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        order.swap(i, (rng.next() % (i as u64 + 1)) as usize);
    }
    let mut cdf = Vec::with_capacity(n);
    let mut acc = 0.0;
    for k in 1..=n {
        acc += 1.0 / k as f64;
        cdf.push(acc);
    }
    // The server's LRU under one sequential client: open iff among the last max_open used.
    let mut recent: VecDeque<usize> = VecDeque::new();
    let mut last_use: HashMap<usize, usize> = HashMap::new();
    let (mut cold, mut warm) = (Vec::new(), Vec::new());
    let mut peak = (0, 0);
    for q in 0..QUERIES {
        let u = rng.unit() * acc;
        let rank = cdf.partition_point(|&c| c < u).min(n - 1);
        let ns = order[rank];
        let distinct_since = last_use.get(&ns).map(|&at| recent.iter().skip(at).count());
        let is_warm = distinct_since.is_some_and(|d| d <= max_open);
        let t = Instant::now();
        pipeline(&http, &base, &name(ns), &["SELECT v FROM t WHERE id = 1"]).await;
        let d = t.elapsed();
        if is_warm {
            warm.push(d)
        } else {
            cold.push(d)
        }
        // Distinct-use order: move ns to the back.
        if let Some(&at) = last_use.get(&ns) {
            recent.remove(at);
            for (_, v) in last_use.iter_mut() {
                if *v > at {
                    *v -= 1;
                }
            }
        }
        recent.push_back(ns);
        last_use.insert(ns, recent.len() - 1);
        if recent.len() > max_open * 4 {
            let old = recent.pop_front().expect("non-empty");
            last_use.remove(&old);
            for (_, v) in last_use.iter_mut() {
                *v -= 1;
            }
        }
        if q % 1000 == 0 {
            let u = usage(pid);
            peak = (peak.0.max(u.0), peak.1.max(u.1));
        }
    }
    let (rss3, fds3) = usage(pid);
    cold.sort();
    warm.sort();
    println!(
        "Zipf load, {QUERIES} point queries: cold {} (p50 {}, p99 {}), warm {} (p50 {}, p99 {}); RSS {rss3} KiB \
         (peak {} KiB), {fds3} descriptors (peak {})",
        cold.len(),
        ms(percentile(&cold, 0.5)),
        ms(percentile(&cold, 0.99)),
        warm.len(),
        ms(percentile(&warm, 0.5)),
        ms(percentile(&warm, 0.99)),
        peak.0,
        peak.1
    );
    let mut hot = Vec::with_capacity(2000);
    for _ in 0..2000 {
        let t = Instant::now();
        pipeline(&http, &base, "default", &["SELECT 1"]).await;
        hot.push(t.elapsed());
    }
    hot.sort();
    println!("baseline, one hot namespace: p50 {}, p99 {}", ms(percentile(&hot, 0.5)), ms(percentile(&hot, 0.99)));

    drop(server);
    let server = spawn(&dir, max_open);
    let pid = server.child.id();
    let (rss4, fds4) = usage(pid);
    println!(
        "restart with {n} namespaces on disk: started in {}, RSS {rss4} KiB ({:.2} KiB per idle tenant over the empty \
         server), {fds4} descriptors",
        ms(server.started_in),
        rss4.saturating_sub(rss0) as f64 / n as f64,
    );
    let t = Instant::now();
    pipeline(&http, &server.http, &name(order[n - 1]), &["SELECT v FROM t WHERE id = 1"]).await;
    println!("first query after the restart: {}", ms(t.elapsed()));
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
