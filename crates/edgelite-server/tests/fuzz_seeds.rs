//! The fuzz targets' bodies over their seed corpus and deterministic mutations of it, with
//! stable Rust (`cargo +nightly fuzz run hrana_request` / `sync_push` explore further; see
//! fuzz/README.md).
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use edgelite_server::fuzzing;

fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/seeds").join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files.into_iter().map(|p| (p.clone(), std::fs::read(&p).unwrap())).collect()
}

/// Truncations, byte flips and deletions of `seed`, the same on every run.
fn mutations(seed: &[u8], step: usize) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for i in (0..seed.len()).step_by(step.max(1)) {
        out.push(seed[..i].to_vec());
        let mut flipped = seed.to_vec();
        flipped[i] ^= 0x5a;
        out.push(flipped);
        let mut deleted = seed.to_vec();
        deleted.remove(i);
        out.push(deleted);
    }
    out
}

#[test]
fn hrana_request_seeds_and_mutations() {
    let seeds = corpus("hrana_request");
    assert!(seeds.len() >= 5);
    for (path, seed) in &seeds {
        fuzzing::hrana_request(seed);
        for m in mutations(seed, 3) {
            fuzzing::hrana_request(&m);
        }
        eprintln!("{}: ok", path.display());
    }
}

#[test]
fn sync_push_seeds_and_mutations() {
    // A fresh valid push is applied: the target reaches the path that writes pages.
    let seed = fuzzing::push_seed();
    assert!(seed.len() > 4120 && (seed.len() - 1).is_multiple_of(4120), "{}", seed.len());
    assert!(fuzzing::sync_push(&seed), "a valid push is applied");
    // EDGELITE_WRITE_PUSH_SEED=<file> writes it out (how fuzz/seeds/sync_push/valid was made).
    if let Some(path) = std::env::var_os("EDGELITE_WRITE_PUSH_SEED") {
        std::fs::write(path, &seed).unwrap();
    }
    // The committed seed (another WAL, other salts, the same pages) is applied too.
    let committed = corpus("sync_push");
    assert!(!committed.is_empty());
    assert!(fuzzing::sync_push(&committed[0].1), "{}", committed[0].0.display());
    // Every addressing variant, and damaged pages: refused or applied, never a corrupt database.
    for control in 0..16u8 {
        let mut v = seed.clone();
        v[0] = control;
        fuzzing::sync_push(&v);
    }
    let body = 1..seed.len();
    let mut damaged = Vec::new();
    for at in body.clone().step_by(613) {
        let mut v = seed.clone();
        v[at] ^= 0xff;
        damaged.push(v);
    }
    for frame in 0..(seed.len() - 1) / 4120 {
        let page = 1 + frame * 4120 + 24;
        let mut v = seed.clone();
        v[page..page + 4096].fill(0);
        damaged.push(v);
        let mut v = seed.clone();
        v[page + 100..page + 200].fill(0xff);
        damaged.push(v);
    }
    damaged.push(seed[..seed.len() - 1].to_vec());
    damaged.push(seed[..1 + 4120].to_vec());
    let mut applied = 0;
    for v in &damaged {
        applied += usize::from(fuzzing::sync_push(v));
    }
    eprintln!("{} damaged pushes, {applied} applied (each left a database that passes quick_check)", damaged.len());
    fuzzing::remove_push_fixture_files();
}
