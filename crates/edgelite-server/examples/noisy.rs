//! The noisy-neighbour benchmark (issue 12): the victim tenant's p50/p99 latency and error
//! count with and without an attack by another tenant (findings 3-6 of the issue at the
//! issue's scale, and statements with long steps). Loopback only; the server runs in-process
//! on its own two threads.
//!
//! ```sh
//! cargo run --release -p edgelite-server --example noisy -- [seconds per phase, default 10] [victim clients, default 4] \
//!     [sockets 78] [streams per socket 128] [stream flooders 16] [wide readers 2] [slow bodies 60] [heavy steps 2]
//! ```
//!
//! The two phases alternate for `NOISY_ROUNDS` rounds (3); each round's p99 ratio is printed
//! and their median. `NOISY_MAX_RUNNING`, `NOISY_TIME_SLICE_MS` and `NOISY_RATE` set the
//! server's `--max-running-requests`, `--time-slice-ms` and
//! `--max-requests-per-second-per-namespace` (0: no pace), to compare schedules on one build. CPU
//! time is given per runtime (server, victim clients, attacker clients: all in this process).
#![allow(clippy::unwrap_used)]

#[path = "../tests/noisy/harness.rs"]
mod harness;

use std::time::Duration;

fn main() {
    let mut args = std::env::args().skip(1);
    let secs: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(10);
    let workers: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(4);
    // Optionally a smaller attack: sockets, streams per socket, stream flooders, wide readers,
    // slow bodies, heavy steps (each defaults to the issue's scale).
    let mut n = |d: usize| args.next().and_then(|a| a.parse().ok()).unwrap_or(d);
    let full = harness::Attack::FULL;
    let attack = harness::Attack {
        sockets: n(full.sockets),
        streams_per_socket: n(full.streams_per_socket),
        stream_flooders: n(full.stream_flooders),
        wide_readers: n(full.wide_readers),
        slow_bodies: n(full.slow_bodies),
        heavy_steps: n(full.heavy_steps),
    };
    // The server, the victim's clients and the attacker each on a runtime of their own (named, so
    // that `perf` and `top -H` tell their threads apart).
    // Blocking threads are kept for the whole run, so that the CPU time they used is still
    // counted when a phase ends.
    let rt = |name: &str| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name(name)
            .thread_keep_alive(Duration::from_secs(3600))
            .enable_all()
            .build()
            .unwrap()
    };
    let server_rt = rt("server");
    // NOISY_MAX_RUNNING and NOISY_TIME_SLICE_MS set --max-running-requests and
    // --time-slice-ms (to compare schedules on one build).
    let env = |k: &str| std::env::var(k).ok().and_then(|v| v.parse::<u64>().ok());
    let (running, slice, rate) = (env("NOISY_MAX_RUNNING"), env("NOISY_TIME_SLICE_MS"), env("NOISY_RATE"));
    let target = server_rt.block_on(harness::start_with(|c| {
        if let Some(n) = running {
            c.limits.max_running_requests = usize::try_from(n).unwrap();
        }
        if let Some(ms) = slice {
            c.limits.time_slice = Duration::from_millis(ms);
        }
        if let Some(r) = rate {
            c.limits.max_requests_per_second_per_namespace = u32::try_from(r).unwrap();
        }
    }));
    println!(
        "max running requests {}, time slice {:?}, requests per second per namespace {}",
        target.running.state.limits.max_running_requests,
        target.running.state.limits.time_slice,
        target.running.state.limits.max_requests_per_second_per_namespace
    );
    let client_rt = rt("victim");
    let attacker_rt = rt("attacker");
    let d = Duration::from_secs(secs);
    // Alone and under attack alternate, round after round, so that both phases of a round see
    // about the same load from the rest of the machine.
    let rounds: usize = env("NOISY_ROUNDS").map_or(3, |n| usize::try_from(n).unwrap().max(1));
    println!("victim: {workers} clients, {secs} s per phase, {rounds} rounds; attack: {attack:?}");
    println!(
        "| round | phase | requests | errors | p50 ms | p99 ms | max ms | attack requests | refused by a limit | CPU s: server | victim clients | attacker clients |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    let mut ratios = Vec::new();
    let mut first_error = None;
    for round in 1..=rounds {
        let mut p99 = [0.0; 2];
        for (i, phase) in ["alone", "under attack"].into_iter().enumerate() {
            let with = (i == 1).then(|| (attack, attacker_rt.handle().clone()));
            let before = cpu_by_thread_name();
            let r = client_rt.block_on(harness::measure(&target, workers, d, with));
            let after = cpu_by_thread_name();
            let used = |k: &str| after.get(k).copied().unwrap_or(0.0) - before.get(k).copied().unwrap_or(0.0);
            println!(
                "| {round} | {phase} | {} | {} | {:.2} | {:.2} | {:.1} | {} | {} | {:.2} | {:.2} | {:.2} |",
                r.requests,
                r.errors,
                r.p50.as_secs_f64() * 1e3,
                r.p99.as_secs_f64() * 1e3,
                r.max.as_secs_f64() * 1e3,
                r.attack_sent,
                r.attack_refused,
                used("server"),
                used("victim"),
                used("attacker"),
            );
            p99[i] = r.p99.as_secs_f64();
            if first_error.is_none() {
                first_error = r.first_error;
            }
        }
        ratios.push(p99[1] / p99[0].max(1e-9));
    }
    if let Some(e) = &first_error {
        println!("first victim error: {e}");
    }
    let shown: Vec<String> = ratios.iter().map(|r| format!("{r:.2}")).collect();
    ratios.sort_by(f64::total_cmp);
    println!("p99 ratio (under attack / alone) by round: {}; median {:.2}", shown.join(", "), ratios[ratios.len() / 2]);
    drop(target);
    attacker_rt.shutdown_timeout(Duration::from_secs(1));
    server_rt.shutdown_timeout(Duration::from_secs(1));
}

/// CPU time (user + system, seconds) of this process's live threads, summed by thread name;
/// empty where `/proc` is not there.
fn cpu_by_thread_name() -> std::collections::HashMap<String, f64> {
    let mut by_name = std::collections::HashMap::new();
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else { return by_name };
    for task in tasks.flatten() {
        let (Ok(comm), Ok(stat)) =
            (std::fs::read_to_string(task.path().join("comm")), std::fs::read_to_string(task.path().join("stat")))
        else {
            continue;
        };
        // Fields after the parenthesized name: state is field 3, utime 14, stime 15.
        let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else { continue };
        let f: Vec<&str> = rest.split_whitespace().collect();
        let ticks: f64 = f.get(11).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0)
            + f.get(12).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
        // Clock ticks are 1/100 s on Linux (USER_HZ).
        *by_name.entry(comm.trim().to_owned()).or_insert(0.0) += ticks / 100.0;
    }
    by_name
}
