//! Replica server lag (`--primary-url`, src/replica_server.rs): a primary and a replica server
//! (both in this process, on loopback, temporary directories). A writer commits single-row
//! inserts on the primary at a fixed rate; an observer reads `max(id)` on the replica in a
//! tight loop. Lag of a write = when the replica first answered with it − when the primary
//! acknowledged it (the observer's own round trip, ~1 request, is included). Also the latency
//! of a write sent to the replica (forwarded, answered once applied there: read-your-writes)
//! against the same write sent to the primary. With `--durability-replica` the primary runs
//! with `--durability replica` (a write is answered once the replica holds it), and the lag
//! is then how long after that answer the replica's reads see it. Figures only; nothing is
//! asserted.
//!
//! ```sh
//! cargo run --release -p edgelite-server --example replica_lag -- [--rate 500] [--secs 10] [--writes 500] [--durability-replica]
//! ```
#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::cast_precision_loss)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// One statement on a new stream; the first row's first value as an integer, if any.
fn exec(agent: &ureq::Agent, url: &str, sql: &str) -> Option<i64> {
    let body = json!({"baton": null, "requests": [{"type": "execute", "stmt": {"sql": sql}}, {"type": "close"}]});
    let mut r =
        agent.post(format!("{url}/v2/pipeline")).content_type("application/json").send(body.to_string()).unwrap();
    let v: Value = serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
    assert_eq!(v["results"][0]["type"], "ok", "{v}");
    v["results"][0]["response"]["result"]["rows"][0][0]["value"].as_str().and_then(|s| s.parse().ok())
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn report(name: &str, mut v: Vec<f64>) {
    v.sort_by(f64::total_cmp);
    println!(
        "{name}: n={} p50={:.2} ms p99={:.2} ms max={:.2} ms",
        v.len(),
        pct(&v, 0.5),
        pct(&v, 0.99),
        v.last().copied().unwrap_or(f64::NAN)
    );
}

fn main() {
    let rate = arg("--rate", 500).max(1);
    let secs = arg("--secs", 10).max(1);
    let rtt_writes = arg("--writes", 500);
    let durability_replica = std::env::args().any(|a| a == "--durability-replica");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let pdir = tempfile::tempdir().unwrap();
    let rdir = tempfile::tempdir().unwrap();
    let (p, r) = rt.block_on(async {
        let mut pc = edgelite_server::Config::new(pdir.path().to_owned(), "127.0.0.1:0".into());
        pc.admin_listen_addr = Some("127.0.0.1:0".into());
        if durability_replica {
            pc.replica_ack_timeout = Some(Duration::from_secs(10));
        }
        let p = edgelite_server::start(pc).await.unwrap();
        let primary = format!("http://{}", p.http_addr);
        let mut rc = edgelite_server::Config::new(rdir.path().to_owned(), "127.0.0.1:0".into());
        let mut rep = edgelite_server::replica_server::ReplicaConfig::new(primary);
        rep.primary_admin_url = p.admin_addr.map(|a| format!("http://{a}"));
        rc.replica = Some(rep);
        // Created before the replica starts, so that it bootstraps with the table; with
        // `--durability replica` after (the write waits for the replica to hold it).
        let create = || {
            let agent = ureq::Agent::new_with_defaults();
            let url = format!("http://{}", p.http_addr);
            tokio::task::spawn_blocking(move || {
                exec(&agent, &url, "CREATE TABLE t(id INTEGER PRIMARY KEY, pad BLOB)");
            })
        };
        if !durability_replica {
            create().await.unwrap();
        }
        let r = edgelite_server::start(rc).await.unwrap();
        if durability_replica {
            create().await.unwrap();
        }
        (p, r)
    });
    let primary = format!("http://{}", p.http_addr);
    let replica = format!("http://{}", r.http_addr);
    let total = rate * secs;
    println!(
        "primary {primary} (--durability {}), replica {replica}: {total} single-row commits at {rate}/s; 2 shared cores, noisy",
        if durability_replica { "replica" } else { "local" }
    );

    // The writer records when each id was acknowledged; the observer when it was first seen.
    let acked: Arc<Vec<std::sync::OnceLock<Instant>>> =
        Arc::new((0..=total).map(|_| std::sync::OnceLock::new()).collect());
    let seen: Arc<Vec<std::sync::OnceLock<Instant>>> =
        Arc::new((0..=total).map(|_| std::sync::OnceLock::new()).collect());
    let done = Arc::new(AtomicBool::new(false));
    let observer = {
        let (seen, done, replica) = (Arc::clone(&seen), Arc::clone(&done), replica.clone());
        std::thread::spawn(move || {
            let agent = ureq::Agent::new_with_defaults();
            let mut have = 0usize;
            let deadline_after_done = Duration::from_secs(10);
            let mut done_at = None;
            while have < total as usize {
                let m = exec(&agent, &replica, "SELECT coalesce(max(id), 0) FROM t").unwrap_or(0) as usize;
                let now = Instant::now();
                for i in have + 1..=m.min(total as usize) {
                    let _ = seen[i].set(now);
                }
                have = have.max(m);
                if done.load(Ordering::Acquire) {
                    let at = *done_at.get_or_insert(now);
                    if now.duration_since(at) > deadline_after_done {
                        break;
                    }
                }
            }
        })
    };
    let agent = ureq::Agent::new_with_defaults();
    let start = Instant::now();
    for i in 1..=total {
        let due = start + Duration::from_secs_f64((i - 1) as f64 / rate as f64);
        if let Some(d) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(d);
        }
        exec(&agent, &primary, &format!("INSERT INTO t VALUES ({i}, randomblob(100))"));
        let _ = acked[i as usize].set(Instant::now());
    }
    let wrote = start.elapsed();
    done.store(true, Ordering::Release);
    observer.join().unwrap();
    let mut lags = Vec::new();
    let mut missing = 0;
    for i in 1..=total as usize {
        match (acked[i].get(), seen[i].get()) {
            (Some(a), Some(s)) => lags.push(s.saturating_duration_since(*a).as_secs_f64() * 1e3),
            _ => missing += 1,
        }
    }
    println!(
        "wrote {total} in {:.2} s ({:.0}/s achieved); never seen on the replica: {missing}",
        wrote.as_secs_f64(),
        total as f64 / wrote.as_secs_f64()
    );
    report("replica lag (ack on primary -> visible on replica)", lags);

    // Write latency: straight to the primary, and through the replica (forward + wait until applied).
    let mut direct = Vec::new();
    let mut forwarded = Vec::new();
    for i in 0..rtt_writes {
        let t = Instant::now();
        exec(&agent, &primary, &format!("INSERT INTO t VALUES ({}, NULL)", total + 1 + 2 * i));
        direct.push(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        exec(&agent, &replica, &format!("INSERT INTO t VALUES ({}, NULL)", total + 2 + 2 * i));
        forwarded.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let med = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        pct(v, 0.5)
    };
    let (dm, fm) = (med(&mut direct), med(&mut forwarded));
    report("write to the primary", direct);
    report("write through the replica (read-your-writes)", forwarded);
    println!("median ratio through-replica / direct: {:.2}", fm / dm);
    rt.block_on(async {
        if let Some(rep) = &r.state.replica {
            rep.stop().await;
        }
    });
}
