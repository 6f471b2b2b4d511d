//! Distance kernels with run-time SIMD dispatch, for the index's hot loops.
//!
//! Kernels work on little-endian element bytes (a vector's payload, see [`crate::VectorRef`]),
//! so they read blobs and index nodes in place whatever their alignment. [`active`] picks the
//! best [`KernelSet`] for the running CPU once: AVX-512F (+BW), else AVX2+FMA(+F16C), else SSE2 on
//! x86-64; NEON on little-endian aarch64; the [`scalar`] reference everywhere else.
//!
//! # Exactness
//! - Integer kernels ([`KernelSet::f8_sums`], [`KernelSet::hamming`]) are exact: every set gives
//!   the same result, so f8 cosine and float1bit Hamming through [`fast_distance`] equal libSQL's.
//! - Floating-point kernels sum in several lanes and (AVX2, AVX-512, NEON) use fused
//!   multiply-add, so their results differ from libSQL's sequential f32 accumulation by
//!   rounding: the relative difference is bounded by about `dims · 2⁻²⁴` of the sum of absolute
//!   terms, and is usually far smaller. Tests require agreement within `1e-5 · Σ|terms|`.
//! - The SQL functions (`vector_distance_*`) must stay bit-compatible with libSQL and so use
//!   [`crate::distance()`], which is sequential. The index uses [`fast_distance`]; the order it
//!   returns can therefore differ from an `ORDER BY vector_distance_*` only between candidates
//!   whose distances are within that tolerance, and re-ranking with [`crate::distance()`] makes
//!   them agree.

#[macro_use]
mod macros;
pub mod scalar;

#[cfg(target_arch = "x86_64")]
mod x86;

#[cfg(all(target_arch = "aarch64", target_endian = "little"))]
mod neon;

use std::sync::OnceLock;

use crate::distance::{Metric, cos_from_parts, f8_parts};
use crate::error::Result;
use crate::types::VectorType;
use crate::vector::{F8Params, VectorRef};

/// The three sums of a cosine distance.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct CosParts {
    /// Σ aᵢbᵢ
    pub dot: f32,
    /// Σ aᵢ²
    pub norm_a: f32,
    /// Σ bᵢ²
    pub norm_b: f32,
}

/// Integer sums of two f8 code arrays, from which libSQL computes f8 cosine algebraically.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct F8Sums {
    /// Σ aᵢ
    pub sum1: u32,
    /// Σ bᵢ
    pub sum2: u32,
    /// Σ aᵢ²
    pub sumsq1: u32,
    /// Σ bᵢ²
    pub sumsq2: u32,
    /// Σ aᵢbᵢ
    pub dot: u32,
}

/// Binary f32-valued kernel over two element byte slices.
pub type F32Kernel = fn(&[u8], &[u8]) -> f32;
/// Cosine-parts kernel.
pub type CosKernel = fn(&[u8], &[u8]) -> CosParts;

/// One implementation of every kernel. Inputs are element bytes of equal length (a longer input
/// is truncated to the shorter one); a partial trailing element is ignored.
#[derive(Debug, Clone, Copy)]
pub struct KernelSet {
    /// Name of the instruction set (`scalar`, `sse2`, `avx2`, `avx512f`, `avx512bw`, `avx512vnni`,
    /// `neon`).
    pub name: &'static str,
    /// Σ aᵢbᵢ, f32 elements.
    pub dot_f32: F32Kernel,
    /// Cosine parts, f32 elements.
    pub cos_f32: CosKernel,
    /// Σ (aᵢ-bᵢ)², f32 elements.
    pub l2sq_f32: F32Kernel,
    /// Σ aᵢbᵢ, f16 elements.
    pub dot_f16: F32Kernel,
    /// Cosine parts, f16 elements.
    pub cos_f16: CosKernel,
    /// Σ (aᵢ-bᵢ)², f16 elements.
    pub l2sq_f16: F32Kernel,
    /// Σ aᵢbᵢ, bf16 elements.
    pub dot_bf16: F32Kernel,
    /// Cosine parts, bf16 elements.
    pub cos_bf16: CosKernel,
    /// Σ (aᵢ-bᵢ)², bf16 elements.
    pub l2sq_bf16: F32Kernel,
    /// Integer code sums of two f8 vectors (exact).
    pub f8_sums: fn(&[u8], &[u8]) -> F8Sums,
    /// [`Self::f8_sums`] without the sums of the first vector alone (`sum1` and `sumsq1` are
    /// 0), for [`PreparedQuery`] (exact).
    pub f8_dot: fn(&[u8], &[u8]) -> F8Sums,
    /// Σ (deq(aᵢ)-deq(bᵢ))² of two f8 vectors.
    pub l2sq_f8: fn(&[u8], F8Params, &[u8], F8Params) -> f32,
    /// Number of differing bits (exact).
    pub hamming: fn(&[u8], &[u8]) -> u32,
}

/// The scalar reference set.
pub const SCALAR: KernelSet = KernelSet {
    name: "scalar",
    dot_f32: scalar::dot_f32,
    cos_f32: scalar::cos_f32,
    l2sq_f32: scalar::l2sq_f32,
    dot_f16: scalar::dot_f16,
    cos_f16: scalar::cos_f16,
    l2sq_f16: scalar::l2sq_f16,
    dot_bf16: scalar::dot_bf16,
    cos_bf16: scalar::cos_bf16,
    l2sq_bf16: scalar::l2sq_bf16,
    f8_sums: scalar::f8_sums,
    f8_dot: scalar::f8_dot,
    l2sq_f8: scalar::l2sq_f8,
    hamming: scalar::hamming,
};

/// Every kernel set the running CPU supports, scalar first, best last.
pub fn available() -> Vec<KernelSet> {
    let mut sets = vec![SCALAR];
    #[cfg(target_arch = "x86_64")]
    sets.extend(x86::available());
    #[cfg(all(target_arch = "aarch64", target_endian = "little"))]
    sets.extend(neon::available());
    sets
}

/// The best kernel set for the running CPU (detected once).
pub fn active() -> &'static KernelSet {
    static ACTIVE: OnceLock<KernelSet> = OnceLock::new();
    ACTIVE.get_or_init(|| available().pop().unwrap_or(SCALAR))
}

/// Distance for the index: like [`crate::distance()`] (same checks, errors, NaN cases and f8 /
/// float1bit results) but computed with `kernels` (normally [`active`]), so f32/f16/bf16/f8-L2
/// results may differ from libSQL's in the last bits (see the module docs). f64 vectors use the
/// exact path.
///
/// # Errors
/// As [`crate::distance()`].
pub fn fast_distance(kernels: &KernelSet, metric: Metric, a: VectorRef<'_>, b: VectorRef<'_>) -> Result<f32> {
    crate::distance::check_pair(&a, &b)?;
    let (da, db) = (a.data(), b.data());
    let (dot, cos, l2sq): (F32Kernel, CosKernel, F32Kernel) = match a.vector_type() {
        VectorType::F32 => (kernels.dot_f32, kernels.cos_f32, kernels.l2sq_f32),
        VectorType::F16 => (kernels.dot_f16, kernels.cos_f16, kernels.l2sq_f16),
        VectorType::Bf16 => (kernels.dot_bf16, kernels.cos_bf16, kernels.l2sq_bf16),
        VectorType::F64 | VectorType::Bit1 => {
            if a.vector_type() == VectorType::Bit1 && metric == Metric::Cosine && a.dims().is_multiple_of(8) {
                return Ok((kernels.hamming)(da, db) as f32);
            }
            return crate::distance(metric, a, b).map(|d| d as f32);
        }
        VectorType::F8 => {
            return Ok(match metric {
                Metric::L2 => (kernels.l2sq_f8)(da, a.f8_params(), db, b.f8_params()).sqrt(),
                _ => {
                    let sums = (kernels.f8_sums)(da, db);
                    let (dot, n1, n2) = f8_parts(sums, a.f8_params(), b.f8_params(), a.dims());
                    if metric == Metric::Cosine { cos_from_parts(dot, n1, n2) } else { -dot }
                }
            });
        }
    };
    Ok(match metric {
        Metric::Cosine => {
            let p = cos(da, db);
            cos_from_parts(p.dot, p.norm_a, p.norm_b)
        }
        Metric::L2 => l2sq(da, db).sqrt(),
        Metric::Dot => -dot(da, db),
    })
}

/// Asks the CPU to start loading `bytes` into its caches (a hint: no effect on results, no
/// fault on any address). For a loop that will read several scattered buffers, such as the
/// neighbour copies in an index node: issuing their loads first overlaps the memory latency
/// instead of paying it once per buffer.
#[inline]
pub fn prefetch(bytes: &[u8]) {
    #[cfg(target_arch = "x86_64")]
    for line in bytes.chunks(64) {
        // SAFETY: a prefetch reads nothing architecturally and cannot fault; the pointer is
        // in bounds of `line` anyway. SSE is part of the x86-64 baseline.
        unsafe { std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(line.as_ptr().cast()) }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = bytes;
}

/// A query prepared for many [`fast_distance`]s to vectors of its own type and dimensions (an
/// index search's hot loop). Every result is bit-identical to
/// `fast_distance(kernels, metric, query, other)`; the query's own share of the work is done
/// once (for f8 cosine and dot: its code sums, so each distance runs [`KernelSet::f8_dot`]).
#[derive(Debug, Clone, Copy)]
pub struct PreparedQuery<'a> {
    kernels: &'a KernelSet,
    metric: Metric,
    query: VectorRef<'a>,
    /// f8 cosine / dot: `(Σ codes, Σ codes²)` of the query.
    f8: Option<(u32, u32)>,
}

impl<'a> PreparedQuery<'a> {
    /// Prepares `query` for distances in `metric` computed with `kernels`.
    pub fn new(kernels: &'a KernelSet, metric: Metric, query: VectorRef<'a>) -> PreparedQuery<'a> {
        let f8 = (query.vector_type() == VectorType::F8 && metric != Metric::L2).then(|| {
            let s = (kernels.f8_sums)(query.data(), query.data());
            (s.sum1, s.sumsq1)
        });
        PreparedQuery { kernels, metric, query, f8 }
    }

    /// The query.
    pub fn query(&self) -> VectorRef<'a> {
        self.query
    }

    /// `fast_distance(kernels, metric, query, other)`.
    ///
    /// # Errors
    /// As [`fast_distance`].
    #[inline]
    pub fn distance(&self, other: VectorRef<'_>) -> Result<f32> {
        match self.f8 {
            Some(own) => {
                crate::distance::check_pair(&self.query, &other)?;
                Ok(self.f8_distance(own, other.data(), other.f8_params()))
            }
            None => fast_distance(self.kernels, self.metric, self.query, other),
        }
    }

    /// The distance to a vector of the query's type and dimensions given by its data part (see
    /// [`VectorRef::from_data_part`]), such as an index node's neighbour copy.
    ///
    /// # Errors
    /// [`crate::Error::DataPartSize`] if `part` is not the size of one; as [`fast_distance`].
    #[inline]
    pub fn distance_to_part(&self, part: &[u8]) -> Result<f32> {
        match self.f8 {
            // the query's dimensions are valid, so only the size needs checking
            Some(own) if part.len() == VectorType::F8.data_size(self.query.dims()) => {
                let other = VectorRef::f8_from_data_part(self.query.dims(), part);
                Ok(self.f8_distance(own, other.data(), other.f8_params()))
            }
            _ => self.distance(VectorRef::from_data_part(self.query.vector_type(), self.query.dims(), part)?),
        }
    }

    /// [`fast_distance`]'s f8 cosine / dot with the query's sums filled in: the same sums, the
    /// same float expressions, so the same bits.
    #[inline]
    fn f8_distance(&self, (sum1, sumsq1): (u32, u32), codes: &[u8], params: F8Params) -> f32 {
        let sums = F8Sums { sum1, sumsq1, ..(self.kernels.f8_dot)(self.query.data(), codes) };
        let (dot, n1, n2) = f8_parts(sums, self.query.f8_params(), params, self.query.dims());
        if self.metric == Metric::Cosine { cos_from_parts(dot, n1, n2) } else { -dot }
    }
}

#[cfg(test)]
mod tests;
