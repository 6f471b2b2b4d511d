//! Kernel throughput per element type and dimension, every instruction set the CPU supports
//! side by side with the scalar reference (criterion ratio = SIMD speed-up).
//!
//! `cargo bench -p edgelite-vector --bench kernels` (filter e.g. `-- f32_cos/768`).

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use edgelite_vector::F8Params;
use edgelite_vector::kernels::{KernelSet, available};

const DIMS: [usize; 4] = [128, 384, 768, 1536];

/// Deterministic pseudo-random bytes (SplitMix64).
fn bytes(n: usize, seed: u64) -> Vec<u8> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = s;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            (z ^ (z >> 31)) as u8
        })
        .collect()
}

fn f32_data(dims: usize, seed: u64) -> Vec<u8> {
    bytes(dims, seed).iter().flat_map(|&b| (f32::from(b) / 128.0 - 1.0).to_le_bytes()).collect()
}

fn f16_data(dims: usize, seed: u64) -> Vec<u8> {
    bytes(dims, seed).iter().flat_map(|&b| half::f16::from_f32(f32::from(b) / 128.0 - 1.0).to_le_bytes()).collect()
}

fn bf16_data(dims: usize, seed: u64) -> Vec<u8> {
    bytes(dims, seed).iter().flat_map(|&b| half::bf16::from_f32(f32::from(b) / 128.0 - 1.0).to_le_bytes()).collect()
}

/// One group per (kernel, dims): one benchmark per instruction set.
fn group<F>(c: &mut Criterion, name: &str, make: fn(usize, u64) -> Vec<u8>, run: F)
where
    F: Fn(&KernelSet, &[u8], &[u8]) -> f32,
{
    let sets = available();
    for dims in DIMS {
        let (a, b) = (make(dims, 1), make(dims, 2));
        let mut g = c.benchmark_group(format!("{name}/{dims}"));
        g.throughput(Throughput::Bytes((a.len() + b.len()) as u64));
        for set in &sets {
            g.bench_with_input(BenchmarkId::from_parameter(set.name), &(&a, &b), |bench, (a, b)| {
                bench.iter(|| run(set, black_box(a), black_box(b)));
            });
        }
        g.finish();
    }
}

fn kernels(c: &mut Criterion) {
    group(c, "f32_dot", f32_data, |k, a, b| (k.dot_f32)(a, b));
    group(c, "f32_cos", f32_data, |k, a, b| (k.cos_f32)(a, b).dot);
    group(c, "f32_l2sq", f32_data, |k, a, b| (k.l2sq_f32)(a, b));
    group(c, "f16_cos", f16_data, |k, a, b| (k.cos_f16)(a, b).dot);
    group(c, "f16_l2sq", f16_data, |k, a, b| (k.l2sq_f16)(a, b));
    group(c, "bf16_cos", bf16_data, |k, a, b| (k.cos_bf16)(a, b).dot);
    group(c, "f8_sums", bytes, |k, a, b| (k.f8_sums)(a, b).dot as f32);
    // an index search's inner loop: a query's codes against a neighbour copy's
    group(c, "f8_dot", bytes, |k, a, b| (k.f8_dot)(a, b).dot as f32);
    let p = F8Params { alpha: 0.01, shift: -1.0 };
    group(c, "f8_l2sq", bytes, move |k, a, b| (k.l2sq_f8)(a, p, b, p));
    // float1bit: dims bits = dims / 8 bytes
    group(c, "bit1_hamming", |dims, seed| bytes(dims / 8, seed), |k, a, b| (k.hamming)(a, b) as f32);
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1));
    targets = kernels
}
criterion_main!(benches);
