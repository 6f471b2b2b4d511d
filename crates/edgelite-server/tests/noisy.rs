//! The noisy-neighbour test (issue 12), bounded: one tenant runs findings 3-6 as an attack
//! while another runs a steady load; the victim must see no errors. Latency is measured by
//! `cargo run --release -p edgelite-server --example noisy`, not asserted here.
#![allow(clippy::unwrap_used)]

#[path = "noisy/harness.rs"]
mod harness;

use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_tenant_does_not_break_its_neighbour() {
    let t = harness::start().await;
    let quiet = harness::measure(&t, 2, Duration::from_secs(2), None).await;
    assert_eq!(quiet.errors, 0, "{quiet:?}");
    let loud = harness::measure(
        &t,
        2,
        Duration::from_secs(4),
        Some((harness::Attack::SMALL, tokio::runtime::Handle::current())),
    )
    .await;
    eprintln!("victim alone: {quiet:?}\nvictim under attack: {loud:?}");
    assert!(loud.requests > 0);
    assert_eq!(loud.errors, 0, "the victim saw errors under attack: {loud:?}");
    assert!(loud.attack_refused > 0, "the attack reached the limits: {loud:?}");
}
