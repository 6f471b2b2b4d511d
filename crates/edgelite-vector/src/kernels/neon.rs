//! aarch64 NEON kernels (little-endian only): f32 and bf16 floats, f8 sums, Hamming.
//! f16 stays scalar (the f16 vector types are not stable in Rust yet).

use std::arch::aarch64::*;

use super::{CosParts, F8Sums, KernelSet, SCALAR, scalar};

/// Sets supported by this CPU.
pub(super) fn available() -> Vec<KernelSet> {
    if !std::arch::is_aarch64_feature_detected!("neon") {
        return Vec::new();
    }
    vec![KernelSet {
        name: "neon",
        dot_f32: checked!(dot_f32, (a: &[u8], b: &[u8]) -> f32, "neon"),
        cos_f32: checked!(cos_f32, (a: &[u8], b: &[u8]) -> CosParts, "neon"),
        l2sq_f32: checked!(l2sq_f32, (a: &[u8], b: &[u8]) -> f32, "neon"),
        dot_bf16: checked!(dot_bf16, (a: &[u8], b: &[u8]) -> f32, "neon"),
        cos_bf16: checked!(cos_bf16, (a: &[u8], b: &[u8]) -> CosParts, "neon"),
        l2sq_bf16: checked!(l2sq_bf16, (a: &[u8], b: &[u8]) -> f32, "neon"),
        f8_sums: checked!(f8_sums, (a: &[u8], b: &[u8]) -> F8Sums, "neon"),
        f8_dot: checked!(f8_dot, (a: &[u8], b: &[u8]) -> F8Sums, "neon"),
        hamming: checked!(hamming, (a: &[u8], b: &[u8]) -> u32, "neon"),
        ..SCALAR
    }]
}

#[inline]
#[target_feature(enable = "neon")]
fn ld_f32(c: &[u8; 16]) -> float32x4_t {
    // SAFETY: `c` is 16 readable bytes; `vld1q_u8` has no alignment requirement.
    vreinterpretq_f32_u8(unsafe { vld1q_u8(c.as_ptr()) })
}

#[inline]
#[target_feature(enable = "neon")]
fn ld_bf16(c: &[u8; 8]) -> float32x4_t {
    // SAFETY: `c` is 8 readable bytes; `vld1_u8` has no alignment requirement.
    let h = vreinterpret_u16_u8(unsafe { vld1_u8(c.as_ptr()) });
    vreinterpretq_f32_u32(vshll_n_u16::<16>(h))
}

#[inline]
#[target_feature(enable = "neon")]
fn fmadd(a: float32x4_t, b: float32x4_t, c: float32x4_t) -> float32x4_t {
    vfmaq_f32(c, a, b)
}

#[inline]
#[target_feature(enable = "neon")]
fn ld_u8(c: &[u8; 16]) -> uint8x16_t {
    // SAFETY: `c` is 16 readable bytes; `vld1q_u8` has no alignment requirement.
    unsafe { vld1q_u8(c.as_ptr()) }
}

float_kernels! {
    feature = "neon",
    vec = float32x4_t,
    zero = vdupq_n_f32(0.0),
    add = vaddq_f32,
    sub = vsubq_f32,
    fmadd = fmadd,
    hsum = vaddvq_f32,
    load = ld_f32,
    bytes = 16,
    tail = (scalar::dot_f32, scalar::cos_f32, scalar::l2sq_f32),
    names = (dot_f32, cos_f32, l2sq_f32),
}

float_kernels! {
    feature = "neon",
    vec = float32x4_t,
    zero = vdupq_n_f32(0.0),
    add = vaddq_f32,
    sub = vsubq_f32,
    fmadd = fmadd,
    hsum = vaddvq_f32,
    load = ld_bf16,
    bytes = 8,
    tail = (scalar::dot_bf16, scalar::cos_bf16, scalar::l2sq_bf16),
    names = (dot_bf16, cos_bf16, l2sq_bf16),
}

/// f8 code sums, 16 codes per step, in wrapping u32 lanes (exact, like the scalar version).
#[target_feature(enable = "neon")]
pub(super) fn f8_sums(a: &[u8], b: &[u8]) -> F8Sums {
    let n = a.len().min(b.len());
    let (ca, ta) = a[..n].as_chunks::<16>();
    let (cb, tb) = b[..n].as_chunks::<16>();
    let zero = vdupq_n_u32(0);
    let (mut s1, mut s2, mut q1, mut q2, mut d) = (zero, zero, zero, zero, zero);
    for (x, y) in ca.iter().zip(cb) {
        let (x, y) = (ld_u8(x), ld_u8(y));
        s1 = vpadalq_u16(s1, vpaddlq_u8(x));
        s2 = vpadalq_u16(s2, vpaddlq_u8(y));
        let (xl, xh) = (vget_low_u8(x), vget_high_u8(x));
        let (yl, yh) = (vget_low_u8(y), vget_high_u8(y));
        q1 = vpadalq_u16(q1, vmull_u8(xl, xl));
        q1 = vpadalq_u16(q1, vmull_u8(xh, xh));
        q2 = vpadalq_u16(q2, vmull_u8(yl, yl));
        q2 = vpadalq_u16(q2, vmull_u8(yh, yh));
        d = vpadalq_u16(d, vmull_u8(xl, yl));
        d = vpadalq_u16(d, vmull_u8(xh, yh));
    }
    let t = scalar::f8_sums(ta, tb);
    F8Sums {
        sum1: vaddvq_u32(s1).wrapping_add(t.sum1),
        sum2: vaddvq_u32(s2).wrapping_add(t.sum2),
        sumsq1: vaddvq_u32(q1).wrapping_add(t.sumsq1),
        sumsq2: vaddvq_u32(q2).wrapping_add(t.sumsq2),
        dot: vaddvq_u32(d).wrapping_add(t.dot),
    }
}

/// [`f8_sums`] without the sums of `a` alone (`sum1` and `sumsq1` are 0).
#[target_feature(enable = "neon")]
pub(super) fn f8_dot(a: &[u8], b: &[u8]) -> F8Sums {
    let n = a.len().min(b.len());
    let (ca, ta) = a[..n].as_chunks::<16>();
    let (cb, tb) = b[..n].as_chunks::<16>();
    let zero = vdupq_n_u32(0);
    let (mut s2, mut q2, mut d) = (zero, zero, zero);
    for (x, y) in ca.iter().zip(cb) {
        let (x, y) = (ld_u8(x), ld_u8(y));
        s2 = vpadalq_u16(s2, vpaddlq_u8(y));
        let (xl, xh) = (vget_low_u8(x), vget_high_u8(x));
        let (yl, yh) = (vget_low_u8(y), vget_high_u8(y));
        q2 = vpadalq_u16(q2, vmull_u8(yl, yl));
        q2 = vpadalq_u16(q2, vmull_u8(yh, yh));
        d = vpadalq_u16(d, vmull_u8(xl, yl));
        d = vpadalq_u16(d, vmull_u8(xh, yh));
    }
    let t = scalar::f8_dot(ta, tb);
    F8Sums {
        sum1: 0,
        sum2: vaddvq_u32(s2).wrapping_add(t.sum2),
        sumsq1: 0,
        sumsq2: vaddvq_u32(q2).wrapping_add(t.sumsq2),
        dot: vaddvq_u32(d).wrapping_add(t.dot),
    }
}

/// Hamming distance with `cnt`, 16 bytes per step.
#[target_feature(enable = "neon")]
pub(super) fn hamming(a: &[u8], b: &[u8]) -> u32 {
    let n = a.len().min(b.len());
    let (ca, ta) = a[..n].as_chunks::<16>();
    let (cb, tb) = b[..n].as_chunks::<16>();
    let mut acc = vdupq_n_u32(0);
    for (x, y) in ca.iter().zip(cb) {
        let c = vcntq_u8(veorq_u8(ld_u8(x), ld_u8(y)));
        acc = vpadalq_u16(acc, vpaddlq_u8(c));
    }
    vaddvq_u32(acc).wrapping_add(scalar::hamming(ta, tb))
}
