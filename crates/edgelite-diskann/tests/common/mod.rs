//! Shared helpers: a seeded generator (no dependency) and brute-force ground truth.
#![allow(dead_code)]

use edgelite_diskann::{DiskAnn, MemStorage};
use edgelite_vector::kernels::{active, fast_distance};
use edgelite_vector::{Vector, VectorRef};

/// SplitMix64.
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
    /// Standard normal (Box-Muller).
    pub fn gauss(&mut self) -> f32 {
        let u = self.unit().max(1e-300);
        let v = self.unit();
        ((-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()) as f32
    }
    pub fn vector(&mut self, dims: usize) -> Vector {
        let v: Vec<f32> = (0..dims).map(|_| self.gauss()).collect();
        Vector::from_f32(&v).unwrap()
    }
}

/// The seed for a test: `EDGELITE_SEED` if set, else `default`; printed so a failure names it.
pub fn seed(default: u64) -> u64 {
    let s = std::env::var("EDGELITE_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(default);
    eprintln!("seed = {s} (rerun with EDGELITE_SEED={s})");
    s
}

/// Exact top-k ids by (distance, id), with the index's own kernels and metric.
pub fn brute_force(index: &DiskAnn, data: &[(i64, Vector)], q: VectorRef<'_>, k: usize) -> Vec<i64> {
    let mut d: Vec<(f32, i64)> = data
        .iter()
        .map(|(id, v)| {
            let x = fast_distance(active(), index.config().metric, q, v.as_ref()).unwrap();
            (if x.is_nan() { f32::INFINITY } else { x + 0.0 }, *id)
        })
        .collect();
    d.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    d.into_iter().take(k).map(|(_, id)| id).collect()
}

/// Mean recall@k of `queries` against brute force.
pub fn recall(index: &DiskAnn, store: &mut MemStorage, data: &[(i64, Vector)], queries: &[Vector], k: usize) -> f64 {
    let mut hit = 0usize;
    for q in queries {
        let truth = brute_force(index, data, q.as_ref(), k);
        let got: Vec<i64> = index.search(store, q.as_ref(), k).unwrap().iter().map(|n| n.id).collect();
        hit += truth.iter().filter(|t| got.contains(t)).count();
    }
    hit as f64 / (queries.len() * k) as f64
}
