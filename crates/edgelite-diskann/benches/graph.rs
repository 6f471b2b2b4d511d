//! Insert and search on in-memory storage, 10,000 random 128-dim f32 vectors (unit Gaussian,
//! cosine, default options), with recall@10 against brute force printed alongside and a
//! brute-force scan in the same group as the baseline.
//!
//! `cargo bench -p edgelite-diskann --bench graph`

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use edgelite_diskann::{DiskAnn, MemStorage, Metadata};
use edgelite_vector::Vector;
use edgelite_vector::kernels::{active, fast_distance};

const N: i64 = 10_000;
const DIMS: usize = 128;
const SEED: u64 = 0x00ED_6E11_7E00;

/// SplitMix64 + Box-Muller.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn vector(&mut self) -> Vector {
        let v: Vec<f32> = (0..DIMS)
            .map(|_| {
                let (u, w) = (self.unit().max(1e-300), self.unit());
                ((-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * w).cos()) as f32
            })
            .collect();
        Vector::from_f32(&v).expect("128 dims")
    }
}

fn brute_force(index: &DiskAnn, data: &[Vector], q: &Vector, k: usize) -> Vec<i64> {
    let mut d: Vec<(f32, i64)> = data
        .iter()
        .enumerate()
        .map(|(i, v)| {
            (fast_distance(active(), index.config().metric, q.as_ref(), v.as_ref()).unwrap_or(f32::INFINITY), i as i64)
        })
        .collect();
    d.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    d.into_iter().take(k).map(|(_, id)| id).collect()
}

fn graph(c: &mut Criterion) {
    let mut rng = Rng(SEED);
    let (_, config) = Metadata::create(&format!("F32_BLOB({DIMS})"), &[]).expect("options");
    let index = DiskAnn::new(config).expect("config");
    let data: Vec<Vector> = (0..N).map(|_| rng.vector()).collect();
    let mut store = MemStorage::new();
    let start = Instant::now();
    for (id, v) in data.iter().enumerate() {
        index.insert(&mut store, id as i64, v.as_ref()).expect("insert");
    }
    let build = start.elapsed();
    eprintln!(
        "build: {N} x {DIMS} in {:.2} s = {:.0} inserts/s, {} bytes/row, {} block reads",
        build.as_secs_f64(),
        N as f64 / build.as_secs_f64(),
        store.bytes() / store.len(),
        store.reads()
    );
    let queries: Vec<Vector> = (0..200).map(|_| rng.vector()).collect();
    let truth: Vec<Vec<i64>> = queries.iter().map(|q| brute_force(&index, &data, q, 10)).collect();
    for l in [50, 100, 200] {
        let start = Instant::now();
        let mut hit = 0;
        for (q, t) in queries.iter().zip(&truth) {
            let got = index.search_with(&mut store, q.as_ref(), 10, l).expect("search");
            hit += got.iter().filter(|h| t.contains(&h.id)).count();
        }
        let per = start.elapsed() / queries.len() as u32;
        eprintln!("search_l={l}: recall@10 = {:.4}, {per:?}/query", hit as f64 / (10 * queries.len()) as f64);
    }

    let mut g = c.benchmark_group("search_10k_128");
    g.sample_size(20).measurement_time(Duration::from_secs(5));
    let mut qi = 0;
    for l in [50, 200] {
        g.bench_function(BenchmarkId::new("diskann_l", l), |b| {
            b.iter(|| {
                qi = (qi + 1) % queries.len();
                black_box(index.search_with(&mut store, queries[qi].as_ref(), 10, l).expect("search"))
            })
        });
    }
    g.bench_function("brute_force", |b| {
        b.iter(|| {
            qi = (qi + 1) % queries.len();
            black_box(brute_force(&index, &data, &queries[qi], 10))
        })
    });
    g.finish();

    let mut g = c.benchmark_group("insert_10k_128");
    g.sample_size(10).measurement_time(Duration::from_secs(5));
    let mut next = N;
    g.bench_function("insert", |b| {
        b.iter_custom(|iters| {
            let fresh: Vec<Vector> = (0..iters).map(|_| rng.vector()).collect();
            let start = Instant::now();
            for v in &fresh {
                index.insert(&mut store, next, v.as_ref()).expect("insert");
                next += 1;
            }
            start.elapsed()
        })
    });
    g.finish();
}

criterion_group!(benches, graph);
criterion_main!(benches);
