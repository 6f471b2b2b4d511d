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

    /// A vector of `dims` such floats as libSQL's text form.
    pub fn vector(&mut self, dims: usize) -> String {
        let v: Vec<String> = (0..dims).map(|_| format!("{}", self.next())).collect();
        format!("[{}]", v.join(","))
    }
}
