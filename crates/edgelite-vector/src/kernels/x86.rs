//! x86-64 kernels: SSE2 (always present), AVX2 + FMA + F16C, AVX-512F, AVX-512BW and
//! AVX-512 VNNI (`f8_dot`).

use std::arch::x86_64::*;

use super::{CosParts, F8Sums, KernelSet, SCALAR, scalar};
use crate::vector::F8Params;

/// Sets supported by this CPU, worst first.
pub(super) fn available() -> Vec<KernelSet> {
    let mut sets = Vec::new();
    let popcnt = is_x86_feature_detected!("popcnt");
    let mut sse = KernelSet {
        name: "sse2",
        dot_f32: checked!(sse2::dot_f32, (a: &[u8], b: &[u8]) -> f32, "sse2"),
        cos_f32: checked!(sse2::cos_f32, (a: &[u8], b: &[u8]) -> CosParts, "sse2"),
        l2sq_f32: checked!(sse2::l2sq_f32, (a: &[u8], b: &[u8]) -> f32, "sse2"),
        ..SCALAR
    };
    if popcnt {
        sse.hamming = checked!(popcnt::hamming, (a: &[u8], b: &[u8]) -> u32, "popcnt");
    }
    sets.push(sse);
    let has_avx2 =
        is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") && is_x86_feature_detected!("f16c");
    if !has_avx2 {
        return sets;
    }
    let avx2 = KernelSet {
        name: "avx2",
        dot_f32: checked!(avx2::dot_f32, (a: &[u8], b: &[u8]) -> f32, "avx2,fma,f16c"),
        cos_f32: checked!(avx2::cos_f32, (a: &[u8], b: &[u8]) -> CosParts, "avx2,fma,f16c"),
        l2sq_f32: checked!(avx2::l2sq_f32, (a: &[u8], b: &[u8]) -> f32, "avx2,fma,f16c"),
        dot_f16: checked!(avx2::dot_f16, (a: &[u8], b: &[u8]) -> f32, "avx2,fma,f16c"),
        cos_f16: checked!(avx2::cos_f16, (a: &[u8], b: &[u8]) -> CosParts, "avx2,fma,f16c"),
        l2sq_f16: checked!(avx2::l2sq_f16, (a: &[u8], b: &[u8]) -> f32, "avx2,fma,f16c"),
        dot_bf16: checked!(avx2::dot_bf16, (a: &[u8], b: &[u8]) -> f32, "avx2,fma,f16c"),
        cos_bf16: checked!(avx2::cos_bf16, (a: &[u8], b: &[u8]) -> CosParts, "avx2,fma,f16c"),
        l2sq_bf16: checked!(avx2::l2sq_bf16, (a: &[u8], b: &[u8]) -> f32, "avx2,fma,f16c"),
        f8_sums: checked!(avx2::f8_sums, (a: &[u8], b: &[u8]) -> F8Sums, "avx2,fma,f16c"),
        f8_dot: checked!(avx2::f8_dot, (a: &[u8], b: &[u8]) -> F8Sums, "avx2,fma,f16c"),
        l2sq_f8: checked!(
            avx2::l2sq_f8,
            (a: &[u8], pa: F8Params, b: &[u8], pb: F8Params) -> f32,
            "avx2,fma,f16c"
        ),
        hamming: checked!(avx2::hamming, (a: &[u8], b: &[u8]) -> u32, "avx2,fma,f16c"),
    };
    sets.push(avx2);
    if is_x86_feature_detected!("avx512f") {
        sets.push(KernelSet {
            name: "avx512f",
            dot_f32: checked!(avx512::dot_f32, (a: &[u8], b: &[u8]) -> f32, "avx512f"),
            cos_f32: checked!(avx512::cos_f32, (a: &[u8], b: &[u8]) -> CosParts, "avx512f"),
            l2sq_f32: checked!(avx512::l2sq_f32, (a: &[u8], b: &[u8]) -> f32, "avx512f"),
            dot_f16: checked!(avx512::dot_f16, (a: &[u8], b: &[u8]) -> f32, "avx512f"),
            cos_f16: checked!(avx512::cos_f16, (a: &[u8], b: &[u8]) -> CosParts, "avx512f"),
            l2sq_f16: checked!(avx512::l2sq_f16, (a: &[u8], b: &[u8]) -> f32, "avx512f"),
            dot_bf16: checked!(avx512::dot_bf16, (a: &[u8], b: &[u8]) -> f32, "avx512f"),
            cos_bf16: checked!(avx512::cos_bf16, (a: &[u8], b: &[u8]) -> CosParts, "avx512f"),
            l2sq_bf16: checked!(avx512::l2sq_bf16, (a: &[u8], b: &[u8]) -> f32, "avx512f"),
            // integer kernels: the AVX2 versions (every AVX-512 CPU has AVX2), but for AVX-512BW's
            ..avx2
        });
        if is_x86_feature_detected!("avx512bw") {
            let avx512f = sets[sets.len() - 1];
            sets.push(KernelSet {
                name: "avx512bw",
                f8_dot: checked!(avx512bw::f8_dot, (a: &[u8], b: &[u8]) -> F8Sums, "avx512f,avx512bw"),
                ..avx512f
            });
            if is_x86_feature_detected!("avx512vnni") {
                let avx512bw = sets[sets.len() - 1];
                sets.push(KernelSet {
                    name: "avx512vnni",
                    f8_dot: checked!(
                        avx512bw::f8_dot_vnni,
                        (a: &[u8], b: &[u8]) -> F8Sums,
                        "avx512f,avx512bw,avx512vnni"
                    ),
                    ..avx512bw
                });
            }
        }
    }
    sets
}

mod popcnt {
    /// Hamming distance with the `popcnt` instruction, 8 bytes at a time.
    #[target_feature(enable = "popcnt")]
    pub(super) fn hamming(a: &[u8], b: &[u8]) -> u32 {
        let n = a.len().min(b.len());
        let (ca, ta) = a[..n].as_chunks::<8>();
        let (cb, tb) = b[..n].as_chunks::<8>();
        let mut h = 0u32;
        for (x, y) in ca.iter().zip(cb) {
            h += (u64::from_le_bytes(*x) ^ u64::from_le_bytes(*y)).count_ones();
        }
        for (x, y) in ta.iter().zip(tb) {
            h += (x ^ y).count_ones();
        }
        h
    }
}

mod sse2 {
    use super::*;

    #[inline]
    #[target_feature(enable = "sse2")]
    fn ld(c: &[u8; 16]) -> __m128 {
        // SAFETY: `c` is 16 readable bytes; `loadu` has no alignment requirement.
        unsafe { _mm_loadu_ps(c.as_ptr().cast()) }
    }

    #[inline]
    #[target_feature(enable = "sse2")]
    fn mul_add(a: __m128, b: __m128, c: __m128) -> __m128 {
        _mm_add_ps(_mm_mul_ps(a, b), c)
    }

    #[inline]
    #[target_feature(enable = "sse2")]
    fn hsum(v: __m128) -> f32 {
        let s = _mm_add_ps(v, _mm_movehl_ps(v, v));
        let s = _mm_add_ss(s, _mm_shuffle_ps::<0b01>(s, s));
        _mm_cvtss_f32(s)
    }

    float_kernels! {
        feature = "sse2",
        vec = __m128,
        zero = _mm_setzero_ps(),
        add = _mm_add_ps,
        sub = _mm_sub_ps,
        fmadd = mul_add,
        hsum = hsum,
        load = ld,
        bytes = 16,
        tail = (scalar::dot_f32, scalar::cos_f32, scalar::l2sq_f32),
        names = (dot_f32, cos_f32, l2sq_f32),
    }
}

mod avx2 {
    use super::*;

    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    fn hsum(v: __m256) -> f32 {
        let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        let s = _mm_add_ss(s, _mm_shuffle_ps::<0b01>(s, s));
        _mm_cvtss_f32(s)
    }

    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    fn ld_f32(c: &[u8; 32]) -> __m256 {
        // SAFETY: `c` is 32 readable bytes; `loadu` has no alignment requirement.
        unsafe { _mm256_loadu_ps(c.as_ptr().cast()) }
    }

    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    fn ld128(c: &[u8; 16]) -> __m128i {
        // SAFETY: `c` is 16 readable bytes; `loadu` has no alignment requirement.
        unsafe { _mm_loadu_si128(c.as_ptr().cast()) }
    }

    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    fn ld_f16(c: &[u8; 16]) -> __m256 {
        _mm256_cvtph_ps(ld128(c))
    }

    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    fn ld_bf16(c: &[u8; 16]) -> __m256 {
        // a bf16 is the high half of an f32
        _mm256_castsi256_ps(_mm256_slli_epi32::<16>(_mm256_cvtepu16_epi32(ld128(c))))
    }

    float_kernels! {
        feature = "avx2,fma,f16c",
        vec = __m256,
        zero = _mm256_setzero_ps(),
        add = _mm256_add_ps,
        sub = _mm256_sub_ps,
        fmadd = _mm256_fmadd_ps,
        hsum = hsum,
        load = ld_f32,
        bytes = 32,
        tail = (scalar::dot_f32, scalar::cos_f32, scalar::l2sq_f32),
        names = (dot_f32, cos_f32, l2sq_f32),
    }

    float_kernels! {
        feature = "avx2,fma,f16c",
        vec = __m256,
        zero = _mm256_setzero_ps(),
        add = _mm256_add_ps,
        sub = _mm256_sub_ps,
        fmadd = _mm256_fmadd_ps,
        hsum = hsum,
        load = ld_f16,
        bytes = 16,
        tail = (scalar::dot_f16, scalar::cos_f16, scalar::l2sq_f16),
        names = (dot_f16, cos_f16, l2sq_f16),
    }

    float_kernels! {
        feature = "avx2,fma,f16c",
        vec = __m256,
        zero = _mm256_setzero_ps(),
        add = _mm256_add_ps,
        sub = _mm256_sub_ps,
        fmadd = _mm256_fmadd_ps,
        hsum = hsum,
        load = ld_bf16,
        bytes = 16,
        tail = (scalar::dot_bf16, scalar::cos_bf16, scalar::l2sq_bf16),
        names = (dot_bf16, cos_bf16, l2sq_bf16),
    }

    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    fn ld256(c: &[u8; 32]) -> __m256i {
        // SAFETY: `c` is 32 readable bytes; `loadu` has no alignment requirement.
        unsafe { _mm256_loadu_si256(c.as_ptr().cast()) }
    }

    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    fn hsum_epi32(v: __m256i) -> u32 {
        let s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v));
        let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b01_00_11_10>(s));
        let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b10_11_00_01>(s));
        _mm_cvtsi128_si32(s) as u32
    }

    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    fn hsum_epi64(v: __m256i) -> u64 {
        let s = _mm_add_epi64(_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v));
        let s = _mm_add_epi64(s, _mm_unpackhi_epi64(s, s));
        _mm_cvtsi128_si64(s) as u64
    }

    /// f8 code sums, 32 codes per step. `madd` lanes are u8·u8 pairs (≤ 130050) summed in i32
    /// lanes with wrapping adds, so the total equals the scalar wrapping u32 sum exactly.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(super) fn f8_sums(a: &[u8], b: &[u8]) -> F8Sums {
        let n = a.len().min(b.len());
        let (ca, ta) = a[..n].as_chunks::<32>();
        let (cb, tb) = b[..n].as_chunks::<32>();
        let zero = _mm256_setzero_si256();
        let (mut s1, mut s2) = (zero, zero);
        let (mut q1, mut q2, mut d) = (zero, zero, zero);
        for (x, y) in ca.iter().zip(cb) {
            let (x, y) = (ld256(x), ld256(y));
            s1 = _mm256_add_epi64(s1, _mm256_sad_epu8(x, zero));
            s2 = _mm256_add_epi64(s2, _mm256_sad_epu8(y, zero));
            let xl = _mm256_cvtepu8_epi16(_mm256_castsi256_si128(x));
            let xh = _mm256_cvtepu8_epi16(_mm256_extracti128_si256::<1>(x));
            let yl = _mm256_cvtepu8_epi16(_mm256_castsi256_si128(y));
            let yh = _mm256_cvtepu8_epi16(_mm256_extracti128_si256::<1>(y));
            q1 = _mm256_add_epi32(q1, _mm256_add_epi32(_mm256_madd_epi16(xl, xl), _mm256_madd_epi16(xh, xh)));
            q2 = _mm256_add_epi32(q2, _mm256_add_epi32(_mm256_madd_epi16(yl, yl), _mm256_madd_epi16(yh, yh)));
            d = _mm256_add_epi32(d, _mm256_add_epi32(_mm256_madd_epi16(xl, yl), _mm256_madd_epi16(xh, yh)));
        }
        let t = scalar::f8_sums(ta, tb);
        F8Sums {
            sum1: (hsum_epi64(s1) as u32).wrapping_add(t.sum1),
            sum2: (hsum_epi64(s2) as u32).wrapping_add(t.sum2),
            sumsq1: hsum_epi32(q1).wrapping_add(t.sumsq1),
            sumsq2: hsum_epi32(q2).wrapping_add(t.sumsq2),
            dot: hsum_epi32(d).wrapping_add(t.dot),
        }
    }

    /// [`f8_sums`] without the sums of `a` alone (`sum1` and `sumsq1` are 0).
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(super) fn f8_dot(a: &[u8], b: &[u8]) -> F8Sums {
        let n = a.len().min(b.len());
        let (ca, ta) = a[..n].as_chunks::<32>();
        let (cb, tb) = b[..n].as_chunks::<32>();
        let zero = _mm256_setzero_si256();
        let (mut s2, mut q2, mut d) = (zero, zero, zero);
        for (x, y) in ca.iter().zip(cb) {
            let (x, y) = (ld256(x), ld256(y));
            s2 = _mm256_add_epi64(s2, _mm256_sad_epu8(y, zero));
            let xl = _mm256_cvtepu8_epi16(_mm256_castsi256_si128(x));
            let xh = _mm256_cvtepu8_epi16(_mm256_extracti128_si256::<1>(x));
            let yl = _mm256_cvtepu8_epi16(_mm256_castsi256_si128(y));
            let yh = _mm256_cvtepu8_epi16(_mm256_extracti128_si256::<1>(y));
            q2 = _mm256_add_epi32(q2, _mm256_add_epi32(_mm256_madd_epi16(yl, yl), _mm256_madd_epi16(yh, yh)));
            d = _mm256_add_epi32(d, _mm256_add_epi32(_mm256_madd_epi16(xl, yl), _mm256_madd_epi16(xh, yh)));
        }
        let t = scalar::f8_dot(ta, tb);
        F8Sums {
            sum1: 0,
            sum2: (hsum_epi64(s2) as u32).wrapping_add(t.sum2),
            sumsq1: 0,
            sumsq2: hsum_epi32(q2).wrapping_add(t.sumsq2),
            dot: hsum_epi32(d).wrapping_add(t.dot),
        }
    }

    /// f8 L2², dequantising 8 codes per step with FMA.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(super) fn l2sq_f8(a: &[u8], pa: F8Params, b: &[u8], pb: F8Params) -> f32 {
        let n = a.len().min(b.len());
        let (ca, ta) = a[..n].as_chunks::<8>();
        let (cb, tb) = b[..n].as_chunks::<8>();
        let (aa, sa) = (_mm256_set1_ps(pa.alpha), _mm256_set1_ps(pa.shift));
        let (ab, sb) = (_mm256_set1_ps(pb.alpha), _mm256_set1_ps(pb.shift));
        let codes = |c: &[u8; 8]| _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_set_epi64x(0, i64::from_le_bytes(*c))));
        let mut acc = _mm256_setzero_ps();
        for (x, y) in ca.iter().zip(cb) {
            let dx = _mm256_fmadd_ps(aa, codes(x), sa);
            let dy = _mm256_fmadd_ps(ab, codes(y), sb);
            let d = _mm256_sub_ps(dx, dy);
            acc = _mm256_fmadd_ps(d, d, acc);
        }
        hsum(acc) + scalar::l2sq_f8(ta, pa, tb, pb)
    }

    /// Hamming distance with a nibble lookup table (`vpshufb`) and `vpsadbw`, 32 bytes per step.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(super) fn hamming(a: &[u8], b: &[u8]) -> u32 {
        let n = a.len().min(b.len());
        let (ca, ta) = a[..n].as_chunks::<32>();
        let (cb, tb) = b[..n].as_chunks::<32>();
        let lut = _mm256_setr_epi8(
            0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4, 0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4,
        );
        let low = _mm256_set1_epi8(0x0f);
        let zero = _mm256_setzero_si256();
        let mut acc = zero;
        for (x, y) in ca.iter().zip(cb) {
            let v = _mm256_xor_si256(ld256(x), ld256(y));
            let lo = _mm256_shuffle_epi8(lut, _mm256_and_si256(v, low));
            let hi = _mm256_shuffle_epi8(lut, _mm256_and_si256(_mm256_srli_epi16::<4>(v), low));
            acc = _mm256_add_epi64(acc, _mm256_sad_epu8(_mm256_add_epi8(lo, hi), zero));
        }
        (hsum_epi64(acc) as u32).wrapping_add(scalar::hamming(ta, tb))
    }
}

mod avx512 {
    use super::*;

    #[inline]
    #[target_feature(enable = "avx512f")]
    fn hsum(v: __m512) -> f32 {
        _mm512_reduce_add_ps(v)
    }

    #[inline]
    #[target_feature(enable = "avx512f")]
    fn ld_f32(c: &[u8; 64]) -> __m512 {
        // SAFETY: `c` is 64 readable bytes; `loadu` has no alignment requirement.
        unsafe { _mm512_loadu_ps(c.as_ptr().cast()) }
    }

    #[inline]
    #[target_feature(enable = "avx512f")]
    fn ld256(c: &[u8; 32]) -> __m256i {
        // SAFETY: `c` is 32 readable bytes; `loadu` has no alignment requirement.
        unsafe { _mm256_loadu_si256(c.as_ptr().cast()) }
    }

    #[inline]
    #[target_feature(enable = "avx512f")]
    fn ld_f16(c: &[u8; 32]) -> __m512 {
        _mm512_cvtph_ps(ld256(c))
    }

    #[inline]
    #[target_feature(enable = "avx512f")]
    fn ld_bf16(c: &[u8; 32]) -> __m512 {
        _mm512_castsi512_ps(_mm512_slli_epi32::<16>(_mm512_cvtepu16_epi32(ld256(c))))
    }

    float_kernels! {
        feature = "avx512f",
        vec = __m512,
        zero = _mm512_setzero_ps(),
        add = _mm512_add_ps,
        sub = _mm512_sub_ps,
        fmadd = _mm512_fmadd_ps,
        hsum = hsum,
        load = ld_f32,
        bytes = 64,
        tail = (scalar::dot_f32, scalar::cos_f32, scalar::l2sq_f32),
        names = (dot_f32, cos_f32, l2sq_f32),
    }

    float_kernels! {
        feature = "avx512f",
        vec = __m512,
        zero = _mm512_setzero_ps(),
        add = _mm512_add_ps,
        sub = _mm512_sub_ps,
        fmadd = _mm512_fmadd_ps,
        hsum = hsum,
        load = ld_f16,
        bytes = 32,
        tail = (scalar::dot_f16, scalar::cos_f16, scalar::l2sq_f16),
        names = (dot_f16, cos_f16, l2sq_f16),
    }

    float_kernels! {
        feature = "avx512f",
        vec = __m512,
        zero = _mm512_setzero_ps(),
        add = _mm512_add_ps,
        sub = _mm512_sub_ps,
        fmadd = _mm512_fmadd_ps,
        hsum = hsum,
        load = ld_bf16,
        bytes = 32,
        tail = (scalar::dot_bf16, scalar::cos_bf16, scalar::l2sq_bf16),
        names = (dot_bf16, cos_bf16, l2sq_bf16),
    }
}

/// The f8 kernel of an index search's inner loop, 64 codes per step (the same arithmetic as the
/// AVX2 one: `madd` lanes of u8·u8 pairs summed with wrapping i32 adds, exact). The other f8
/// kernels run once per query or per pair and stay AVX2.
mod avx512bw {
    use super::*;

    #[inline]
    #[target_feature(enable = "avx512f,avx512bw")]
    fn ld512(c: &[u8; 64]) -> __m512i {
        // SAFETY: `c` is 64 readable bytes; `loadu` has no alignment requirement.
        unsafe { _mm512_loadu_si512(c.as_ptr().cast()) }
    }

    /// The two 32-code halves of `x`, widened to 16 bits.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw")]
    fn widen(x: __m512i) -> (__m512i, __m512i) {
        (_mm512_cvtepu8_epi16(_mm512_castsi512_si256(x)), _mm512_cvtepu8_epi16(_mm512_extracti64x4_epi64::<1>(x)))
    }

    #[inline]
    #[target_feature(enable = "avx512f,avx512bw")]
    fn madd2(a: (__m512i, __m512i), b: (__m512i, __m512i)) -> __m512i {
        _mm512_add_epi32(_mm512_madd_epi16(a.0, b.0), _mm512_madd_epi16(a.1, b.1))
    }

    #[inline]
    #[target_feature(enable = "avx512f,avx512bw")]
    fn hsum_epi32(v: __m512i) -> u32 {
        _mm512_reduce_add_epi32(v) as u32
    }

    #[inline]
    #[target_feature(enable = "avx512f,avx512bw")]
    fn hsum_epi64(v: __m512i) -> u32 {
        _mm512_reduce_add_epi64(v) as u32
    }

    #[target_feature(enable = "avx512f,avx512bw")]
    pub(super) fn f8_dot(a: &[u8], b: &[u8]) -> F8Sums {
        let n = a.len().min(b.len());
        let (ca, ta) = a[..n].as_chunks::<64>();
        let (cb, tb) = b[..n].as_chunks::<64>();
        let zero = _mm512_setzero_si512();
        let (mut s2, mut q2, mut d) = (zero, zero, zero);
        for (x, y) in ca.iter().zip(cb) {
            let (x, y) = (ld512(x), ld512(y));
            s2 = _mm512_add_epi64(s2, _mm512_sad_epu8(y, zero));
            let yw = widen(y);
            q2 = _mm512_add_epi32(q2, madd2(yw, yw));
            d = _mm512_add_epi32(d, madd2(widen(x), yw));
        }
        let t = scalar::f8_dot(ta, tb);
        F8Sums {
            sum1: 0,
            sum2: hsum_epi64(s2).wrapping_add(t.sum2),
            sumsq1: 0,
            sumsq2: hsum_epi32(q2).wrapping_add(t.sumsq2),
            dot: hsum_epi32(d).wrapping_add(t.dot),
        }
    }

    /// [`f8_dot`] with VNNI's `vpdpbusd`, which sums four u8·i8 products into each i32 lane in
    /// one instruction (the widening and `madd` steps of [`f8_dot`] are four): the codes of `a`
    /// flipped to `aᵢ - 128` make them signed, so the lanes sum `bᵢ(aᵢ - 128)` and
    /// `bᵢ(bᵢ - 128)`, and `128·Σbᵢ` (the `sad` sum, which `f8_dot` computes anyway) is added
    /// back. Exact: at most 255·128·4 per step and lane, which 65,536 codes (4,096 per lane)
    /// keep within i32; the sums then wrap in u32 as the other kernels' do.
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    pub(super) fn f8_dot_vnni(a: &[u8], b: &[u8]) -> F8Sums {
        let n = a.len().min(b.len());
        let (ca, ta) = a[..n].as_chunks::<64>();
        let (cb, tb) = b[..n].as_chunks::<64>();
        let zero = _mm512_setzero_si512();
        let flip = _mm512_set1_epi8(i8::MIN);
        let (mut s2, mut q2, mut d) = (zero, zero, zero);
        for (x, y) in ca.iter().zip(cb) {
            let (x, y) = (ld512(x), ld512(y));
            s2 = _mm512_add_epi64(s2, _mm512_sad_epu8(y, zero));
            d = _mm512_dpbusd_epi32(d, y, _mm512_xor_si512(x, flip));
            q2 = _mm512_dpbusd_epi32(q2, y, _mm512_xor_si512(y, flip));
        }
        let t = scalar::f8_dot(ta, tb);
        let sum2 = hsum_epi64(s2);
        let back = sum2.wrapping_mul(128);
        F8Sums {
            sum1: 0,
            sum2: sum2.wrapping_add(t.sum2),
            sumsq1: 0,
            sumsq2: hsum_epi32(q2).wrapping_add(back).wrapping_add(t.sumsq2),
            dot: hsum_epi32(d).wrapping_add(back).wrapping_add(t.dot),
        }
    }
}
