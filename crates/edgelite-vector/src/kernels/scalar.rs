//! Scalar reference kernels: sequential, in element order, always compiled.
//!
//! Every SIMD kernel is tested against these. The f32-family kernels here accumulate exactly
//! like libSQL (one f32 accumulator, element order), so they double as the libSQL-exact path.

use half::{bf16, f16};

use super::{CosParts, F8Sums};
use crate::vector::F8Params;

// `as_chunks` gives slices of arrays, whose zipped iterators the optimiser turns into one
// tight loop; `chunks_exact` zips did not inline and ran 4x slower than libSQL's C loop.
#[inline]
fn f32s(b: &[u8]) -> impl Iterator<Item = f32> + '_ {
    b.as_chunks::<4>().0.iter().map(|c| f32::from_le_bytes(*c))
}

#[inline]
fn f16s(b: &[u8]) -> impl Iterator<Item = f32> + '_ {
    b.as_chunks::<2>().0.iter().map(|c| f16::from_le_bytes(*c).to_f32())
}

#[inline]
fn bf16s(b: &[u8]) -> impl Iterator<Item = f32> + '_ {
    b.as_chunks::<2>().0.iter().map(|c| bf16::from_le_bytes(*c).to_f32())
}

#[inline]
fn dot(a: impl Iterator<Item = f32>, b: impl Iterator<Item = f32>) -> f32 {
    a.zip(b).fold(0.0, |acc, (x, y)| acc + x * y)
}

#[inline]
fn cos(a: impl Iterator<Item = f32>, b: impl Iterator<Item = f32>) -> CosParts {
    a.zip(b).fold(CosParts::default(), |p, (x, y)| CosParts {
        dot: p.dot + x * y,
        norm_a: p.norm_a + x * x,
        norm_b: p.norm_b + y * y,
    })
}

#[inline]
fn l2sq(a: impl Iterator<Item = f32>, b: impl Iterator<Item = f32>) -> f32 {
    a.zip(b).fold(0.0, |acc, (x, y)| {
        let d = x - y;
        acc + d * d
    })
}

/// Σ aᵢbᵢ over little-endian f32 elements.
pub fn dot_f32(a: &[u8], b: &[u8]) -> f32 {
    dot(f32s(a), f32s(b))
}

/// (Σ aᵢbᵢ, Σ aᵢ², Σ bᵢ²) over little-endian f32 elements.
pub fn cos_f32(a: &[u8], b: &[u8]) -> CosParts {
    cos(f32s(a), f32s(b))
}

/// Σ (aᵢ-bᵢ)² over little-endian f32 elements.
pub fn l2sq_f32(a: &[u8], b: &[u8]) -> f32 {
    l2sq(f32s(a), f32s(b))
}

/// Σ aᵢbᵢ over little-endian f16 elements (widened to f32).
pub fn dot_f16(a: &[u8], b: &[u8]) -> f32 {
    dot(f16s(a), f16s(b))
}

/// Cosine parts over little-endian f16 elements.
pub fn cos_f16(a: &[u8], b: &[u8]) -> CosParts {
    cos(f16s(a), f16s(b))
}

/// Σ (aᵢ-bᵢ)² over little-endian f16 elements.
pub fn l2sq_f16(a: &[u8], b: &[u8]) -> f32 {
    l2sq(f16s(a), f16s(b))
}

/// Σ aᵢbᵢ over little-endian bf16 elements (widened to f32).
pub fn dot_bf16(a: &[u8], b: &[u8]) -> f32 {
    dot(bf16s(a), bf16s(b))
}

/// Cosine parts over little-endian bf16 elements.
pub fn cos_bf16(a: &[u8], b: &[u8]) -> CosParts {
    cos(bf16s(a), bf16s(b))
}

/// Σ (aᵢ-bᵢ)² over little-endian bf16 elements.
pub fn l2sq_bf16(a: &[u8], b: &[u8]) -> f32 {
    l2sq(bf16s(a), bf16s(b))
}

/// Integer sums of two f8 code arrays (wrapping u32, like libSQL's `u32` counters; they cannot
/// wrap for 65536 dimensions or fewer).
pub fn f8_sums(a: &[u8], b: &[u8]) -> F8Sums {
    a.iter().zip(b).fold(F8Sums::default(), |s, (&x, &y)| {
        let (x, y) = (u32::from(x), u32::from(y));
        F8Sums {
            sum1: s.sum1.wrapping_add(x),
            sum2: s.sum2.wrapping_add(y),
            sumsq1: s.sumsq1.wrapping_add(x * x),
            sumsq2: s.sumsq2.wrapping_add(y * y),
            dot: s.dot.wrapping_add(x * y),
        }
    })
}

/// [`f8_sums`] without the sums of `a` alone (`sum1` and `sumsq1` are 0): for a query whose
/// own sums are computed once.
pub fn f8_dot(a: &[u8], b: &[u8]) -> F8Sums {
    F8Sums { sum1: 0, sumsq1: 0, ..f8_sums(a, b) }
}

/// Σ (deq(aᵢ) - deq(bᵢ))² over f8 codes, dequantising per element in f32 (libSQL's f8 L2).
pub fn l2sq_f8(a: &[u8], pa: F8Params, b: &[u8], pb: F8Params) -> f32 {
    a.iter().zip(b).fold(0.0, |acc, (&x, &y)| {
        let d = pa.value(x) - pb.value(y);
        acc + d * d
    })
}

/// Number of differing bits.
pub fn hamming(a: &[u8], b: &[u8]) -> u32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut ca = a.chunks_exact(8);
    let mut cb = b.chunks_exact(8);
    let mut h = 0u32;
    for (x, y) in (&mut ca).zip(&mut cb) {
        let x = u64::from_le_bytes([x[0], x[1], x[2], x[3], x[4], x[5], x[6], x[7]]);
        let y = u64::from_le_bytes([y[0], y[1], y[2], y[3], y[4], y[5], y[6], y[7]]);
        h += (x ^ y).count_ones();
    }
    for (x, y) in ca.remainder().iter().zip(cb.remainder()) {
        h += (x ^ y).count_ones();
    }
    h
}
