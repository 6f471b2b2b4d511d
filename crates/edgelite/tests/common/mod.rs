//! Support shared by the vector index tests.
#![allow(dead_code)]

/// Small deterministic pseudo-random numbers (no dependency, reproducible everywhere).
pub struct Lcg(pub u64);

impl Lcg {
    /// The next raw state.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.0
    }

    /// A float in [-1, 1).
    pub fn next(&mut self) -> f32 {
        ((self.next_u64() >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }

    /// A float in [-1, 1) with 53 bits of the state (the clustered-data tests' and
    /// `benches/src/bin/clusters.rs`'s draws).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
    }

    /// A point of `dims` [`Self::unit`] coordinates.
    pub fn point(&mut self, dims: usize) -> Vec<f64> {
        (0..dims).map(|_| self.unit()).collect()
    }

    /// A vector of `dims` such floats as libSQL's text form.
    pub fn vector(&mut self, dims: usize) -> String {
        let v: Vec<String> = (0..dims).map(|_| format!("{}", self.next())).collect();
        format!("[{}]", v.join(","))
    }
}

/// `v` as libSQL's text form, four decimals a coordinate.
pub fn text(v: &[f64]) -> String {
    let parts: Vec<String> = v.iter().map(|x| format!("{x:.4}")).collect();
    format!("[{}]", parts.join(","))
}
