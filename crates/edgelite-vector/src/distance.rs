//! Distances with libSQL's exact arithmetic (what the SQL functions return), plus
//! `vector_concat` / `vector_slice`.
//!
//! These functions accumulate sequentially in the same precision and order as libSQL, so
//! `vector_distance_cos` / `vector_distance_l2` give the same bits as libSQL. The index uses the
//! faster SIMD [`crate::kernels`] instead (see the module docs there for how they differ).

use crate::MAX_DIMS;
use crate::error::{Error, Result};
use crate::kernels::{CosParts, scalar};
use crate::types::VectorType;
use crate::vector::{F8Params, Vector, VectorRef, f64_at};

/// A distance function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Metric {
    /// `1 - a·b / sqrt(|a|²·|b|²)`; for float1bit the Hamming distance (as libSQL).
    Cosine,
    /// Euclidean distance `sqrt(Σ(aᵢ-bᵢ)²)` (not squared); not defined for float1bit.
    L2,
    /// Negative dot product `-Σ aᵢ·bᵢ` (Turso's `vector_distance_dot`), so smaller is closer.
    /// float1bit elements count as ±1 (`2·hamming - D`).
    Dot,
}

/// The type, then the dimension check of a pair (libSQL's order of errors).
pub(crate) fn check_pair(a: &VectorRef<'_>, b: &VectorRef<'_>) -> Result<()> {
    if a.ty != b.ty {
        return Err(Error::TypeMismatch(a.ty.id(), b.ty.id()));
    }
    if a.dims != b.dims {
        return Err(Error::LengthMismatch(a.dims, b.dims));
    }
    Ok(())
}

/// `1.0 - dot / sqrt(n1 * n2)` with libSQL's C promotions: the f32 product of the norms, the
/// square root and the division in double, the result rounded to f32.
#[inline]
pub(crate) fn cos_from_parts(dot: f32, n1: f32, n2: f32) -> f32 {
    (1.0 - f64::from(dot) / f64::from(n1 * n2).sqrt()) as f32
}

/// libSQL's algebraic f8 cosine pieces: `(dot, norm1, norm2)` in f32 from integer code sums.
#[inline]
pub(crate) fn f8_parts(s: crate::kernels::F8Sums, p1: F8Params, p2: F8Params, dims: u32) -> (f32, f32, f32) {
    let d = dims as f32;
    let (a1, s1, a2, s2) = (p1.alpha, p1.shift, p2.alpha, p2.shift);
    let dot = a1 * a2 * s.dot as f32 + a1 * s2 * s.sum1 as f32 + a2 * s1 * s.sum2 as f32 + s1 * s2 * d;
    let n1 = a1 * a1 * s.sumsq1 as f32 + 2.0 * a1 * s1 * s.sum1 as f32 + s1 * s1 * d;
    let n2 = a2 * a2 * s.sumsq2 as f32 + 2.0 * a2 * s2 * s.sum2 as f32 + s2 * s2 * d;
    (dot, n1, n2)
}

fn seq_l2sq(n: usize, get_a: impl Fn(usize) -> f32, get_b: impl Fn(usize) -> f32) -> f32 {
    let mut sum = 0.0f32;
    for i in 0..n {
        let d = get_a(i) - get_b(i);
        sum += d * d;
    }
    sum
}

/// Distance between two vectors of the same type and dimension, with libSQL's arithmetic
/// (docs/libsql-vector.md §1.2): f32/f16/bf16/f8 accumulate in f32, f64 in f64 with the result narrowed to f32,
/// f8 cosine from integer code sums, f8 L2 dequantising per element, float1bit cosine = Hamming.
///
/// The result is an f64 holding an f32 value. It is NaN where libSQL's is (zero or empty
/// vectors in cosine, Inf - Inf, ...): the SQL layer must return NULL for NaN, as SQLite does.
///
/// ```
/// use edgelite_vector::{distance, Metric, Vector};
/// let a = Vector::parse("[1,2]").unwrap();
/// let b = Vector::parse("[2,1]").unwrap();
/// assert_eq!(distance(Metric::Cosine, a.as_ref(), b.as_ref()).unwrap(), 0.20000000298023224);
/// assert_eq!(distance(Metric::L2, a.as_ref(), b.as_ref()).unwrap(), 2f32.sqrt() as f64);
/// ```
///
/// # Errors
/// [`Error::TypeMismatch`], then [`Error::LengthMismatch`], then [`Error::L2OnBit1`].
pub fn distance(metric: Metric, a: VectorRef<'_>, b: VectorRef<'_>) -> Result<f64> {
    check_pair(&a, &b)?;
    if metric == Metric::L2 && a.ty == VectorType::Bit1 {
        return Err(Error::L2OnBit1);
    }
    let n = a.dims as usize;
    let (da, db) = (a.data, b.data);
    let r: f32 = match (a.ty, metric) {
        (VectorType::Bit1, Metric::Cosine) => hamming_exact(&a, &b) as f32,
        (VectorType::Bit1, _) => (2 * i64::from(hamming_exact(&a, &b)) - n as i64) as f32,
        (VectorType::F64, _) => {
            let (mut dot, mut n1, mut n2, mut l2) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
            for i in 0..n {
                let (x, y) = (f64_at(da, i), f64_at(db, i));
                match metric {
                    Metric::L2 => {
                        let d = x - y;
                        l2 += d * d;
                    }
                    _ => {
                        dot += x * y;
                        n1 += x * x;
                        n2 += y * y;
                    }
                }
            }
            match metric {
                Metric::Cosine => (1.0 - dot / (n1 * n2).sqrt()) as f32,
                Metric::L2 => l2.sqrt() as f32,
                Metric::Dot => -dot as f32,
            }
        }
        (VectorType::F8, Metric::L2) => {
            let (p1, p2) = (a.f8, b.f8);
            seq_l2sq(n, |i| p1.value(da[i]), |i| p2.value(db[i])).sqrt()
        }
        (VectorType::F8, _) => {
            let sums = scalar::f8_sums(da, db);
            let (dot, n1, n2) = f8_parts(sums, a.f8, b.f8, a.dims);
            if metric == Metric::Cosine { cos_from_parts(dot, n1, n2) } else { -dot }
        }
        (ty, metric) => {
            // f32, f16, bf16: the scalar kernels widen per element and accumulate sequentially
            // in f32, exactly like libSQL
            let (dot, cos, l2sq) = match ty {
                VectorType::F32 => (
                    scalar::dot_f32 as fn(&[u8], &[u8]) -> f32,
                    scalar::cos_f32 as fn(&[u8], &[u8]) -> CosParts,
                    scalar::l2sq_f32 as fn(&[u8], &[u8]) -> f32,
                ),
                VectorType::F16 => (scalar::dot_f16 as _, scalar::cos_f16 as _, scalar::l2sq_f16 as _),
                _ => (scalar::dot_bf16 as _, scalar::cos_bf16 as _, scalar::l2sq_bf16 as _),
            };
            match metric {
                Metric::L2 => l2sq(da, db).sqrt(),
                Metric::Cosine => {
                    let p = cos(da, db);
                    cos_from_parts(p.dot, p.norm_a, p.norm_b)
                }
                Metric::Dot => -dot(da, db),
            }
        }
    };
    Ok(f64::from(r))
}

/// Hamming distance of two float1bit payloads, ignoring the unused bits of the last byte.
fn hamming_exact(a: &VectorRef<'_>, b: &VectorRef<'_>) -> u32 {
    let n = a.dims as usize;
    let full = n / 8;
    let mut h = scalar::hamming(&a.data[..full], &b.data[..full]);
    if !n.is_multiple_of(8) {
        let mask = (1u8 << (n % 8)) - 1;
        h += ((a.data[full] ^ b.data[full]) & mask).count_ones();
    }
    h
}

/// Hamming distance between two float1bit vectors.
///
/// # Errors
/// [`Error::TypeMismatch`] (including when either is not float1bit), [`Error::LengthMismatch`].
pub fn hamming(a: VectorRef<'_>, b: VectorRef<'_>) -> Result<u32> {
    check_pair(&a, &b)?;
    if a.ty != VectorType::Bit1 {
        return Err(Error::TypeMismatch(a.ty.id(), VectorType::Bit1.id()));
    }
    Ok(hamming_exact(&a, &b))
}

/// `vector_concat(a, b)`: the elements of `a` then those of `b`, same type.
///
/// f8 vectors with different parameters are dequantised and quantised again over the joint
/// range (codes cannot be shared); with equal parameters the codes are kept.
///
/// # Errors
/// [`Error::ConcatTypeMismatch`], [`Error::ConcatTooLarge`] beyond 65536 dimensions.
pub fn concat(a: VectorRef<'_>, b: VectorRef<'_>) -> Result<Vector> {
    if a.ty != b.ty {
        return Err(Error::ConcatTypeMismatch(a.ty.id(), b.ty.id()));
    }
    let total = u64::from(a.dims) + u64::from(b.dims);
    if total > u64::from(MAX_DIMS) {
        return Err(Error::ConcatTooLarge(total));
    }
    let dims = total as u32;
    let ty = a.ty;
    Ok(match ty {
        VectorType::Bit1 => {
            let mut data = vec![0u8; (dims as usize).div_ceil(8)];
            let bits = (0..a.dims as usize)
                .map(|i| a.get_f32(i) > 0.0)
                .chain((0..b.dims as usize).map(|i| b.get_f32(i) > 0.0));
            for (i, bit) in bits.enumerate() {
                if bit {
                    data[i / 8] |= 1 << (i % 8);
                }
            }
            Vector::from_parts(ty, dims, data, F8Params::default())
        }
        VectorType::F8 if a.f8 != b.f8 && a.dims > 0 && b.dims > 0 => {
            let values: Vec<f32> = a.to_f32_vec().into_iter().chain(b.to_f32_vec()).collect();
            let mut codes = Vec::with_capacity(values.len());
            let params = crate::vector::quantize_f32(values.len(), |i| values[i], &mut codes);
            Vector::from_parts(ty, dims, codes, params)
        }
        _ => {
            let params = if a.dims > 0 { a.f8 } else { b.f8 };
            Vector::from_parts(ty, dims, [a.data, b.data].concat(), params)
        }
    })
}

/// `vector_slice(v, start, end)`: elements `start..end` (0-based, end exclusive), same type;
/// an f8 slice keeps the parameters, so its values are exactly those of the source.
///
/// # Errors
/// [`Error::SliceOutOfRange`] unless `start <= end <= dims`.
pub fn slice(v: VectorRef<'_>, start: u64, end: u64) -> Result<Vector> {
    if start > end || end > u64::from(v.dims) {
        let clamp = |x: u64| i64::try_from(x).unwrap_or(i64::MAX);
        return Err(Error::SliceOutOfRange { start: clamp(start), end: clamp(end), dims: v.dims });
    }
    let (s, e) = (start as usize, end as usize);
    let dims = (e - s) as u32;
    let data = match v.ty {
        VectorType::Bit1 => {
            let mut data = vec![0u8; (e - s).div_ceil(8)];
            for i in s..e {
                if v.get_f32(i) > 0.0 {
                    data[(i - s) / 8] |= 1 << ((i - s) % 8);
                }
            }
            data
        }
        VectorType::F8 => v.data[s..e].to_vec(),
        ty => {
            let w = ty.data_size(1);
            v.data[s * w..e * w].to_vec()
        }
    };
    Ok(Vector::from_parts(v.ty, dims, data, v.f8))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::parse_text;

    fn v(text: &str, ty: VectorType) -> Vector {
        parse_text(text.as_bytes(), ty).unwrap()
    }

    fn d(metric: Metric, a: &Vector, b: &Vector) -> f64 {
        distance(metric, a.as_ref(), b.as_ref()).unwrap()
    }

    /// f64 references of the three metrics.
    fn reference(a: &[f64], b: &[f64]) -> (f64, f64, f64) {
        let dot: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
        let na: f64 = a.iter().map(|x| x * x).sum();
        let nb: f64 = b.iter().map(|x| x * x).sum();
        let l2: f64 = a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum::<f64>().sqrt();
        (1.0 - dot / (na * nb).sqrt(), l2, -dot)
    }

    #[test]
    fn against_f64_reference() {
        let mut seed = 12345u64;
        let mut next = || {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((seed >> 40) as f64 / (1u64 << 24) as f64) * 2.0 - 1.0
        };
        for n in [1usize, 2, 7, 64, 300] {
            let a: Vec<f64> = (0..n).map(|_| next()).collect();
            let b: Vec<f64> = (0..n).map(|_| next()).collect();
            for ty in [VectorType::F32, VectorType::F64, VectorType::F16, VectorType::Bf16, VectorType::F8] {
                let va = Vector::from_f64(&a).unwrap().convert(ty);
                let vb = Vector::from_f64(&b).unwrap().convert(ty);
                // reference on the values actually stored (after quantisation)
                let (ra, rb) = (va.to_f64_vec(), vb.to_f64_vec());
                let (cos, l2, dot) = reference(&ra, &rb);
                let tol = 1e-5 * (1.0 + n as f64).sqrt() + if ty == VectorType::F8 { 1e-4 } else { 0.0 };
                let got = d(Metric::Cosine, &va, &vb);
                assert!((got - cos).abs() <= tol, "{ty} n={n} cos {got} vs {cos}");
                let got = d(Metric::L2, &va, &vb);
                assert!((got - l2).abs() <= tol * l2.max(1.0), "{ty} n={n} l2 {got} vs {l2}");
                let got = d(Metric::Dot, &va, &vb);
                assert!((got - dot).abs() <= tol * n as f64, "{ty} n={n} dot {got} vs {dot}");
            }
        }
    }

    #[test]
    fn libsql_values() {
        let (a, b) = (v("[1,2]", VectorType::F64), v("[2,1]", VectorType::F64));
        assert_eq!(d(Metric::Cosine, &a, &b), 0.20000000298023224);
        let a = v("[1000]", VectorType::F32);
        assert_eq!(d(Metric::Cosine, &a, &a), -2.047999991816596e-09);
        let z = v("[0,0]", VectorType::F32);
        assert!(d(Metric::Cosine, &z, &z).is_nan());
        let e = v("[]", VectorType::F32);
        assert!(d(Metric::Cosine, &e, &e).is_nan());
        assert_eq!(d(Metric::L2, &e, &e), 0.0);
        assert_eq!(d(Metric::Dot, &e, &e), 0.0);
        let (a, b) = (v("[1,2,3]", VectorType::F32), v("[4,5,6]", VectorType::F32));
        assert_eq!(d(Metric::Dot, &a, &b), -32.0);
        assert_eq!(d(Metric::L2, &a, &b), 27f32.sqrt() as f64);
        // the same through every float type that represents these integers exactly
        for ty in [VectorType::F64, VectorType::F16, VectorType::Bf16] {
            let (x, y) = (a.convert(ty), b.convert(ty));
            assert_eq!(d(Metric::Dot, &x, &y), -32.0, "{ty}");
            assert_eq!(d(Metric::L2, &x, &y), 27f32.sqrt() as f64, "{ty}");
            assert_eq!(d(Metric::Cosine, &x, &y), d(Metric::Cosine, &a, &b), "{ty}");
        }
    }

    #[test]
    fn float1bit_is_hamming() {
        let a = v("[1,1,1,1,1,1,1,1,1,-1]", VectorType::Bit1);
        let b = v("[-1,1,1,1,1,1,1,1,1,1]", VectorType::Bit1);
        assert_eq!(d(Metric::Cosine, &a, &b), 2.0);
        assert_eq!(d(Metric::Dot, &a, &b), -6.0);
        assert_eq!(hamming(a.as_ref(), b.as_ref()), Ok(2));
        assert_eq!(
            distance(Metric::L2, a.as_ref(), b.as_ref()).unwrap_err().to_string(),
            "vector_distance: l2 distance is not supported for float1bit vectors"
        );
        // garbage in the unused bits of the last byte is ignored
        let blob = [0xFF, 0xFF, 0x00, 0x16, 0x03];
        let c = VectorRef::from_blob(&blob).unwrap();
        assert_eq!(c.dims(), 10);
        assert_eq!(hamming(c, a.as_ref()), Ok(1));
        assert_eq!(
            hamming(v("[1]", VectorType::F32).as_ref(), v("[1]", VectorType::F32).as_ref()),
            Err(Error::TypeMismatch(1, 3))
        );
    }

    #[test]
    fn f8_distances() {
        let (a, b) = (v("[0,1,2,3]", VectorType::F8), v("[3,2,1,0]", VectorType::F8));
        let (fa, fb) = (v("[0,1,2,3]", VectorType::F32), v("[3,2,1,0]", VectorType::F32));
        assert!((d(Metric::Cosine, &a, &b) - d(Metric::Cosine, &fa, &fb)).abs() < 1e-5);
        assert!((d(Metric::L2, &a, &b) - d(Metric::L2, &fa, &fb)).abs() < 1e-5);
        assert!((d(Metric::Dot, &a, &b) - d(Metric::Dot, &fa, &fb)).abs() < 1e-4);
    }

    #[test]
    fn checks() {
        let (a, b) = (v("[1,2]", VectorType::F32), v("[1,2,3]", VectorType::F32));
        assert_eq!(
            distance(Metric::Cosine, a.as_ref(), b.as_ref()).unwrap_err().to_string(),
            "vector_distance: vectors must have the same length: 2 != 3"
        );
        let c = v("[1,2,3]", VectorType::F16);
        assert_eq!(
            distance(Metric::L2, b.as_ref(), c.as_ref()).unwrap_err().to_string(),
            "vector_distance: vectors must have the same type: 1 != 5"
        );
    }

    #[test]
    fn concat_and_slice() {
        for ty in VectorType::ALL {
            let a = v("[1,-2,3]", ty);
            let b = v("[4,5,-6,7,8,9,10,-11]", ty);
            let c = concat(a.as_ref(), b.as_ref()).unwrap();
            assert_eq!((c.vector_type(), c.dims()), (ty, 11));
            let whole = v("[1,-2,3,4,5,-6,7,8,9,10,-11]", ty);
            if ty == VectorType::F8 {
                let (x, y) = (c.to_f32_vec(), whole.to_f32_vec());
                assert!(x.iter().zip(&y).all(|(p, q)| (p - q).abs() < 0.05), "{x:?} {y:?}");
            } else {
                assert_eq!(c, whole, "{ty}");
            }
            let s = slice(c.as_ref(), 2, 9).unwrap();
            assert_eq!(s.dims(), 7);
            assert_eq!(s.to_f32_vec(), c.to_f32_vec()[2..9], "{ty}");
            assert_eq!(slice(c.as_ref(), 0, 0).unwrap().dims(), 0);
            assert_eq!(slice(c.as_ref(), 0, 11).unwrap().to_f32_vec(), c.to_f32_vec());
            assert_eq!(
                slice(c.as_ref(), 3, 12).unwrap_err().to_string(),
                "vector_slice: invalid range [3, 12) for a vector of 11 dimensions"
            );
            assert!(slice(c.as_ref(), 5, 4).is_err());
            // blobs of the results are valid
            assert_eq!(Vector::from_blob(&s.to_blob()).unwrap(), s);
        }
        let (a, b) = (v("[1]", VectorType::F32), v("[1]", VectorType::F64));
        assert_eq!(
            concat(a.as_ref(), b.as_ref()).unwrap_err().to_string(),
            "vector_concat: vectors must have the same type: 1 != 2"
        );
        let big = Vector::from_f32(&vec![0.0; 40000]).unwrap();
        assert_eq!(
            concat(big.as_ref(), big.as_ref()).unwrap_err().to_string(),
            "vector_concat: max size exceeded: 80000 > 65536"
        );
        // f8 with equal parameters keeps the codes
        let a = v("[0,1,2,3]", VectorType::F8);
        let c = concat(a.as_ref(), a.as_ref()).unwrap();
        assert_eq!(c.data(), [0, 0x55, 0xAA, 0xFF, 0, 0x55, 0xAA, 0xFF]);
    }
}
