//! The noisy-neighbour benchmark (issue 12): the victim tenant's p50/p99 latency and error
//! count with and without an attack by another tenant (findings 3-6 of the issue at the
//! issue's scale). Loopback only; the server runs in-process on its own two threads.
//!
//! ```sh
//! cargo run --release -p edgelite-server --example noisy -- [seconds per phase, default 10] [victim clients, default 4] \
//!     [sockets 78] [streams per socket 128] [stream flooders 16] [wide readers 2] [slow bodies 60]
//! ```
#![allow(clippy::unwrap_used)]

#[path = "../tests/noisy/harness.rs"]
mod harness;

use std::time::Duration;

fn main() {
    let mut args = std::env::args().skip(1);
    let secs: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(10);
    let workers: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(4);
    // Optionally a smaller attack: sockets, streams per socket, stream flooders, wide readers,
    // slow bodies (each defaults to the issue's scale).
    let mut n = |d: usize| args.next().and_then(|a| a.parse().ok()).unwrap_or(d);
    let full = harness::Attack::FULL;
    let attack = harness::Attack {
        sockets: n(full.sockets),
        streams_per_socket: n(full.streams_per_socket),
        stream_flooders: n(full.stream_flooders),
        wide_readers: n(full.wide_readers),
        slow_bodies: n(full.slow_bodies),
    };
    // The server on a runtime of its own, the clients on another.
    let server_rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let target = server_rt.block_on(harness::start());
    let client_rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let d = Duration::from_secs(secs);
    let quiet = client_rt.block_on(harness::measure(&target, workers, d, None));
    let loud = client_rt.block_on(harness::measure(&target, workers, d, Some(attack)));
    println!("victim: {workers} clients, {secs} s per phase; attack: {attack:?}");
    println!("| phase | requests | errors | p50 ms | p99 ms | max ms | attack requests | refused by a limit |");
    println!("|---|---|---|---|---|---|---|---|");
    for (name, r) in [("alone", &quiet), ("under attack", &loud)] {
        println!(
            "| {name} | {} | {} | {:.2} | {:.2} | {:.1} | {} | {} |",
            r.requests,
            r.errors,
            r.p50.as_secs_f64() * 1e3,
            r.p99.as_secs_f64() * 1e3,
            r.max.as_secs_f64() * 1e3,
            r.attack_sent,
            r.attack_refused
        );
    }
    if let Some(e) = &loud.first_error {
        println!("first victim error under attack: {e}");
    }
    println!("p99 ratio (under attack / alone): {:.2}", loud.p99.as_secs_f64() / quiet.p99.as_secs_f64().max(1e-9));
    drop(target);
    server_rt.shutdown_timeout(Duration::from_secs(1));
}
