//! Owned [`Vector`] and borrowed [`VectorRef`], element access and type conversion.

use half::{bf16, f16};

use crate::MAX_DIMS;
use crate::error::{Error, Result};
use crate::types::VectorType;

/// The affine parameters of an f8 vector: element `i` is `alpha * q[i] + shift` (in f32).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct F8Params {
    /// Scale: `(max - min) / 255` of the quantised source.
    pub alpha: f32,
    /// Offset: the minimum of the quantised source.
    pub shift: f32,
}

impl F8Params {
    /// Dequantises one code exactly as libSQL does (`alpha * q + shift`, f32, no fused multiply-add).
    #[inline]
    pub fn value(self, q: u8) -> f32 {
        self.alpha * f32::from(q) + self.shift
    }
}

/// A borrowed vector: element type, dimensions and the little-endian element bytes, typically
/// pointing straight into a SQLite blob or an index node (zero-copy).
///
/// The element bytes ("payload") are: f32 `4·D`, f64 `8·D`, f16/bf16 `2·D`, f8 `D` codes (the f8
/// parameters are kept in [`F8Params`]), float1bit `ceil(D/8)` bytes with element `i` in bit
/// `i % 8` of byte `i / 8`. Bits of the last 1-bit byte past `D` are ignored by every operation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VectorRef<'a> {
    pub(crate) ty: VectorType,
    pub(crate) dims: u32,
    pub(crate) data: &'a [u8],
    pub(crate) f8: F8Params,
}

/// An owned vector; same layout as [`VectorRef`], see there.
#[derive(Debug, Clone, PartialEq)]
pub struct Vector {
    pub(crate) ty: VectorType,
    pub(crate) dims: u32,
    pub(crate) data: Vec<u8>,
    pub(crate) f8: F8Params,
}

fn check_len(len: usize) -> Result<u32> {
    match u32::try_from(len) {
        Ok(d) if d <= MAX_DIMS => Ok(d),
        _ => Err(Error::BlobTooLarge(len as u64)),
    }
}

impl Vector {
    /// Builds a vector without checking; `data` must be the payload of `dims` elements of `ty`.
    pub(crate) fn from_parts(ty: VectorType, dims: u32, data: Vec<u8>, f8: F8Params) -> Vector {
        debug_assert_eq!(data.len(), payload_len(ty, dims));
        Vector { ty, dims, data, f8 }
    }

    /// An f32 vector.
    ///
    /// # Errors
    /// [`Error::BlobTooLarge`] if there are more than 65536 elements (the same for every constructor).
    pub fn from_f32(values: &[f32]) -> Result<Vector> {
        let dims = check_len(values.len())?;
        let data = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        Ok(Vector::from_parts(VectorType::F32, dims, data, F8Params::default()))
    }

    /// An f64 vector.
    ///
    /// # Errors
    /// More than 65536 elements.
    pub fn from_f64(values: &[f64]) -> Result<Vector> {
        let dims = check_len(values.len())?;
        let data = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        Ok(Vector::from_parts(VectorType::F64, dims, data, F8Params::default()))
    }

    /// An f16 vector.
    ///
    /// # Errors
    /// More than 65536 elements.
    pub fn from_f16(values: &[f16]) -> Result<Vector> {
        let dims = check_len(values.len())?;
        let data = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        Ok(Vector::from_parts(VectorType::F16, dims, data, F8Params::default()))
    }

    /// A bf16 vector.
    ///
    /// # Errors
    /// More than 65536 elements.
    pub fn from_bf16(values: &[bf16]) -> Result<Vector> {
        let dims = check_len(values.len())?;
        let data = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        Ok(Vector::from_parts(VectorType::Bf16, dims, data, F8Params::default()))
    }

    /// An f8 vector from raw codes and parameters (element `i` = `alpha * codes[i] + shift`).
    ///
    /// # Errors
    /// More than 65536 elements.
    pub fn from_f8_codes(codes: Vec<u8>, params: F8Params) -> Result<Vector> {
        let dims = check_len(codes.len())?;
        Ok(Vector::from_parts(VectorType::F8, dims, codes, params))
    }

    /// A float1bit vector with one element per `bool` (`true` = positive, read back as +1).
    ///
    /// # Errors
    /// More than 65536 elements.
    pub fn from_bits(bits: &[bool]) -> Result<Vector> {
        let dims = check_len(bits.len())?;
        let mut data = vec![0u8; bits.len().div_ceil(8)];
        for (i, _) in bits.iter().enumerate().filter(|(_, b)| **b) {
            data[i / 8] |= 1 << (i % 8);
        }
        Ok(Vector::from_parts(VectorType::Bit1, dims, data, F8Params::default()))
    }

    /// The borrowed view of this vector.
    pub fn as_ref(&self) -> VectorRef<'_> {
        VectorRef { ty: self.ty, dims: self.dims, data: &self.data, f8: self.f8 }
    }

    /// Element type.
    pub fn vector_type(&self) -> VectorType {
        self.ty
    }

    /// Number of elements.
    #[inline]
    pub fn dims(&self) -> u32 {
        self.dims
    }

    /// The payload bytes (see [`VectorRef`]).
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// The f8 parameters (zero for other types).
    #[inline]
    pub fn f8_params(&self) -> F8Params {
        self.f8
    }
}

/// Payload bytes of `dims` elements of `ty` (see [`VectorRef`]).
pub(crate) const fn payload_len(ty: VectorType, dims: u32) -> usize {
    match ty {
        VectorType::F8 => dims as usize,
        _ => ty.data_size(dims),
    }
}

#[inline]
pub(crate) fn f32_at(data: &[u8], i: usize) -> f32 {
    let mut b = [0u8; 4];
    b.copy_from_slice(&data[4 * i..4 * i + 4]);
    f32::from_le_bytes(b)
}

#[inline]
pub(crate) fn f64_at(data: &[u8], i: usize) -> f64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&data[8 * i..8 * i + 8]);
    f64::from_le_bytes(b)
}

#[inline]
pub(crate) fn u16_at(data: &[u8], i: usize) -> u16 {
    u16::from_le_bytes([data[2 * i], data[2 * i + 1]])
}

#[inline]
pub(crate) fn bit_at(data: &[u8], i: usize) -> bool {
    (data[i / 8] >> (i % 8)) & 1 == 1
}

/// bf16 from f32 the libSQL way: keep the high 16 bits (truncation, no rounding).
#[inline]
pub(crate) fn bf16_truncate(x: f32) -> u16 {
    (x.to_bits() >> 16) as u16
}

impl<'a> VectorRef<'a> {
    /// Element type.
    pub fn vector_type(&self) -> VectorType {
        self.ty
    }

    /// Number of elements.
    #[inline]
    pub fn dims(&self) -> u32 {
        self.dims
    }

    /// The payload bytes (see the type docs).
    #[inline]
    pub fn data(&self) -> &'a [u8] {
        self.data
    }

    /// The f8 parameters (zero for other types).
    #[inline]
    pub fn f8_params(&self) -> F8Params {
        self.f8
    }

    /// Copies into an owned [`Vector`].
    pub fn to_vector(&self) -> Vector {
        Vector::from_parts(self.ty, self.dims, self.data.to_vec(), self.f8)
    }

    /// Element `i` as libSQL converts it to f32: f64 narrowed (round to nearest, overflow to ±Inf),
    /// f16/bf16 widened exactly, f8 dequantised in f32, float1bit as ±1.
    ///
    /// # Panics
    /// If `i >= dims`.
    #[inline]
    pub fn get_f32(&self, i: usize) -> f32 {
        match self.ty {
            VectorType::F32 => f32_at(self.data, i),
            VectorType::F64 => f64_at(self.data, i) as f32,
            VectorType::F16 => f16::from_bits(u16_at(self.data, i)).to_f32(),
            VectorType::Bf16 => bf16::from_bits(u16_at(self.data, i)).to_f32(),
            VectorType::F8 => self.f8.value(self.data[i]),
            VectorType::Bit1 => {
                if bit_at(self.data, i) {
                    1.0
                } else {
                    -1.0
                }
            }
        }
    }

    /// Element `i` as libSQL converts it to f64: f64 as is, every other type via [`Self::get_f32`].
    ///
    /// # Panics
    /// If `i >= dims`.
    #[inline]
    pub fn get_f64(&self, i: usize) -> f64 {
        match self.ty {
            VectorType::F64 => f64_at(self.data, i),
            _ => f64::from(self.get_f32(i)),
        }
    }

    /// The elements converted to f32 (see [`Self::get_f32`]).
    pub fn to_f32_vec(&self) -> Vec<f32> {
        (0..self.dims as usize).map(|i| self.get_f32(i)).collect()
    }

    /// The elements converted to f64 (see [`Self::get_f64`]).
    pub fn to_f64_vec(&self) -> Vec<f64> {
        (0..self.dims as usize).map(|i| self.get_f64(i)).collect()
    }

    /// Converts to another element type with libSQL's semantics (docs/libsql-vector.md §2.2):
    /// to float1bit `x > 0`; from float1bit ±1; to f16 round-to-nearest-even via f32; to bf16
    /// by truncating the f32; to f8 affine quantisation over the source's min/max (computed in
    /// f64 for an f64 source, else f32); f64 to f32 narrows. Same type: a copy.
    ///
    /// Known differences from libSQL, both deliberate: f16 conversion is correctly rounded
    /// (libSQL's converter shifts subnormal results before rounding and loses the sticky bits,
    /// so it can round a value just above a tie down, one unit in the last place), and NaN
    /// payloads are preserved rather than canonicalised. f8 codes for NaN quotients (all
    /// elements equal, alpha = 0) are 0, as libSQL's x86 builds produce.
    pub fn convert(&self, to: VectorType) -> Vector {
        if to == self.ty {
            return self.to_vector();
        }
        let n = self.dims as usize;
        let mut data = Vec::with_capacity(payload_len(to, self.dims));
        let mut f8 = F8Params::default();
        match to {
            VectorType::F32 => {
                for i in 0..n {
                    data.extend_from_slice(&self.get_f32(i).to_le_bytes());
                }
            }
            VectorType::F64 => {
                for i in 0..n {
                    data.extend_from_slice(&self.get_f64(i).to_le_bytes());
                }
            }
            VectorType::F16 => {
                for i in 0..n {
                    data.extend_from_slice(&f16::from_f32(self.get_f32(i)).to_le_bytes());
                }
            }
            VectorType::Bf16 => {
                for i in 0..n {
                    data.extend_from_slice(&bf16_truncate(self.get_f32(i)).to_le_bytes());
                }
            }
            VectorType::Bit1 => {
                data.resize(n.div_ceil(8), 0);
                for i in 0..n {
                    // an f64 source is compared in double precision, like libSQL
                    let positive = match self.ty {
                        VectorType::F64 => f64_at(self.data, i) > 0.0,
                        _ => self.get_f32(i) > 0.0,
                    };
                    if positive {
                        data[i / 8] |= 1 << (i % 8);
                    }
                }
            }
            VectorType::F8 => {
                if self.ty == VectorType::F64 {
                    f8 = quantize_f64(n, |i| f64_at(self.data, i), &mut data);
                } else if self.ty == VectorType::F32 {
                    // the index converts every node it visits: decode once, then two loops
                    // over a slice that the compiler vectorises
                    let values: Vec<f32> = self.data[..4 * n]
                        .chunks_exact(4)
                        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                        .collect();
                    f8 = quantize_f32_slice(&values, &mut data);
                } else {
                    f8 = quantize_f32(n, |i| self.get_f32(i), &mut data);
                }
            }
        }
        Vector::from_parts(to, self.dims, data, f8)
    }
}

/// libSQL's `clip`: below 0 → 0, above 255 → 255, else `(int)(f + 0.5)`; NaN (all elements
/// equal, so alpha = 0) gives 0, which is what libSQL's x86 build produces.
///
/// One saturating cast does all of it: `as u8` maps NaN and anything below 0 to 0 (and
/// `f + 0.5` is below 1 for every `f` below 0.5) and anything from 255 up to 255, and it has no
/// branch, so the quantising loop vectorises.
#[inline]
fn clip(f: f32) -> u8 {
    (f64::from(f) + 0.5) as u8
}

/// Running min/max with the C macros' comparison semantics (`a < b ? a : b`).
fn min_max<T: PartialOrd + Copy>(n: usize, get: impl Fn(usize) -> T, zero: T) -> (T, T) {
    let (mut lo, mut hi) = (zero, zero);
    for i in 0..n {
        let v = get(i);
        if i == 0 {
            (lo, hi) = (v, v);
        } else {
            lo = if lo < v { lo } else { v };
            hi = if hi > v { hi } else { v };
        }
    }
    (lo, hi)
}

/// Quantises f32 values into `out` (codes only), returning the parameters.
pub(crate) fn quantize_f32(n: usize, get: impl Fn(usize) -> f32, out: &mut Vec<u8>) -> F8Params {
    let (lo, hi) = min_max(n, &get, 0.0f32);
    let shift = lo;
    let alpha = (hi - lo) / 255.0;
    out.extend((0..n).map(|i| clip((get(i) - shift) / alpha)));
    F8Params { alpha, shift }
}

/// [`quantize_f32`] over a slice, with the same arithmetic (and so the same codes).
fn quantize_f32_slice(values: &[f32], out: &mut Vec<u8>) -> F8Params {
    let (lo, hi) = min_max_f32(values);
    let shift = lo;
    let alpha = (hi - lo) / 255.0;
    out.extend(values.iter().map(|&v| clip((v - shift) / alpha)));
    F8Params { alpha, shift }
}

/// [`min_max`] over f32 values, with eight independent lanes where that gives the same bits:
/// the sequential scan is one long dependency chain. Lanes agree with it unless there is a NaN
/// (the C comparison lets a NaN in and out again, in order) or the result is a zero (the scan
/// keeps the last of +0 and -0); those inputs take the sequential scan.
fn min_max_f32(values: &[f32]) -> (f32, f32) {
    const LANES: usize = 8;
    let sequential = || min_max(values.len(), |i| values[i], 0.0f32);
    if values.len() < 2 * LANES || values.iter().any(|v| v.is_nan()) {
        return sequential();
    }
    let (mut lo, mut hi) = ([f32::INFINITY; LANES], [f32::NEG_INFINITY; LANES]);
    let chunks = values.chunks_exact(LANES);
    let rest = chunks.remainder();
    for c in chunks {
        for j in 0..LANES {
            lo[j] = lo[j].min(c[j]);
            hi[j] = hi[j].max(c[j]);
        }
    }
    let lo = rest.iter().chain(&lo).fold(f32::INFINITY, |a, &b| a.min(b));
    let hi = rest.iter().chain(&hi).fold(f32::NEG_INFINITY, |a, &b| a.max(b));
    if lo == 0.0 || hi == 0.0 { sequential() } else { (lo, hi) }
}

/// Quantises f64 values: min/max compared in f64 and stored in f32, codes computed in f64.
fn quantize_f64(n: usize, get: impl Fn(usize) -> f64, out: &mut Vec<u8>) -> F8Params {
    let (mut lo, mut hi) = (0.0f32, 0.0f32);
    for i in 0..n {
        let v = get(i);
        if i == 0 {
            (lo, hi) = (v as f32, v as f32);
        } else {
            lo = if f64::from(lo) < v { lo } else { v as f32 };
            hi = if f64::from(hi) > v { hi } else { v as f32 };
        }
    }
    let shift = lo;
    let alpha = (hi - lo) / 255.0;
    out.extend((0..n).map(|i| clip(((get(i) - f64::from(shift)) / f64::from(alpha)) as f32)));
    F8Params { alpha, shift }
}

impl Vector {
    /// See [`VectorRef::convert`].
    pub fn convert(&self, to: VectorType) -> Vector {
        self.as_ref().convert(to)
    }

    /// See [`VectorRef::to_f32_vec`].
    pub fn to_f32_vec(&self) -> Vec<f32> {
        self.as_ref().to_f32_vec()
    }

    /// See [`VectorRef::to_f64_vec`].
    pub fn to_f64_vec(&self) -> Vec<f64> {
        self.as_ref().to_f64_vec()
    }
}

impl<'a> From<&'a Vector> for VectorRef<'a> {
    fn from(v: &'a Vector) -> Self {
        v.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::parse_text;

    fn v32(values: &[f32]) -> Vector {
        Vector::from_f32(values).unwrap()
    }

    /// Largest error a conversion to `ty` may introduce for `x` (from an f32 source).
    fn tolerance(ty: VectorType, x: f32, alpha: f32) -> f32 {
        match ty {
            VectorType::F32 | VectorType::F64 => 0.0,
            VectorType::F16 => x.abs() * 2f32.powi(-11) + 2f32.powi(-25),
            VectorType::Bf16 => x.abs() * 2f32.powi(-7),
            VectorType::F8 => alpha * 0.5001 + 1e-6,
            VectorType::Bit1 => f32::INFINITY,
        }
    }

    #[test]
    fn all_pairs_convert() {
        let src = [1.5f32, -2.0, 0.0, 3.25, -0.125, 0.7, 100.0, -7.3, 1e-3];
        let base = v32(&src);
        for from in VectorType::ALL {
            let a = base.convert(from);
            assert_eq!((a.vector_type(), a.dims()), (from, src.len() as u32));
            let a_vals = a.to_f32_vec();
            for to in VectorType::ALL {
                let b = a.convert(to);
                assert_eq!((b.vector_type(), b.dims()), (to, src.len() as u32), "{from}->{to}");
                let b_vals = b.to_f32_vec();
                for (i, (&x, &y)) in a_vals.iter().zip(&b_vals).enumerate() {
                    if to == VectorType::Bit1 {
                        assert_eq!(y, if x > 0.0 { 1.0 } else { -1.0 }, "{from}->{to} [{i}]");
                    } else {
                        let tol = tolerance(to, x, b.f8_params().alpha);
                        assert!((x - y).abs() <= tol, "{from}->{to} [{i}]: {x} vs {y}");
                    }
                }
                // the blob of the converted vector decodes to the same vector
                let blob = b.to_blob();
                assert_eq!(Vector::from_blob(&blob).unwrap(), b, "{from}->{to}");
            }
        }
    }

    #[test]
    fn f16_rounds_to_nearest_even() {
        let bits = |x: f32| v32(&[x]).convert(VectorType::F16).data().to_vec();
        let h = |b: u16| b.to_le_bytes().to_vec();
        assert_eq!(bits(1.0 + 2f32.powi(-10)), h(0x3C01));
        assert_eq!(bits(1.0 + 2f32.powi(-11)), h(0x3C00), "tie to even (down)");
        assert_eq!(bits(1.0 + 3.0 * 2f32.powi(-11)), h(0x3C02), "tie to even (up)");
        assert_eq!(bits(65504.0), h(0x7BFF));
        assert_eq!(bits(65519.0), h(0x7BFF));
        assert_eq!(bits(65520.0), h(0x7C00), "overflow to Inf");
        assert_eq!(bits(-1e10), h(0xFC00));
        assert_eq!(bits(2f32.powi(-24)), h(0x0001), "smallest subnormal kept");
        assert_eq!(bits(2f32.powi(-25)), h(0x0000), "tie to even zero");
        assert_eq!(bits(1.5 * 2f32.powi(-25)), h(0x0001));
        assert_eq!(bits(-1e-10), h(0x8000), "underflow to signed zero");
    }

    #[test]
    fn bf16_truncates() {
        let bits = |x: f32| v32(&[x]).convert(VectorType::Bf16).data().to_vec();
        assert_eq!(bits(1.0), 0x3F80u16.to_le_bytes());
        assert_eq!(bits(f32::from_bits(0x3F81_8000)), 0x3F81u16.to_le_bytes(), "no rounding up");
        assert_eq!(bits(f32::from_bits(0xBF81_FFFF)), 0xBF81u16.to_le_bytes());
        assert_eq!(bits(2.0), 0x4000u16.to_le_bytes());
    }

    #[test]
    fn f64_sources_follow_libsql() {
        // to f16 via f32: double rounding as libSQL (1 + 2^-11 + 2^-40 -> f32 tie -> even)
        let x = 1.0 + 2f64.powi(-11) + 2f64.powi(-40);
        let v = Vector::from_f64(&[x, 1e-300, -1e-300, 1e-100, 1e100]).unwrap();
        assert_eq!(&v.convert(VectorType::F16).data()[..2], &0x3C00u16.to_le_bytes());
        // to float1bit compares the double
        assert_eq!(v.convert(VectorType::Bit1).to_f32_vec(), [1.0, 1.0, -1.0, 1.0, 1.0]);
        // to f32 narrows
        assert_eq!(v.convert(VectorType::F32).to_f32_vec(), [x as f32, 0.0, -0.0, 0.0, f32::INFINITY]);
        // to f8: same codes as the f32 path for exactly representable values
        let a = Vector::from_f64(&[0.0, 1.0, 2.0, 3.0]).unwrap().convert(VectorType::F8);
        assert_eq!(a.data(), [0x00, 0x55, 0xAA, 0xFF]);
        assert_eq!(a.f8_params(), F8Params { alpha: 3.0 / 255.0, shift: 0.0 });
    }

    #[test]
    fn f8_quantisation() {
        let v = parse_text(b"[0,1,2,3]", VectorType::F8).unwrap();
        assert_eq!(v.data(), [0x00, 0x55, 0xAA, 0xFF]);
        assert_eq!(v.f8_params().alpha.to_bits(), 0x3C40_C0C1);
        // all equal: alpha 0, codes 0, values kept by the shift
        let v = parse_text(b"[5,5,5]", VectorType::F8).unwrap();
        assert_eq!((v.data(), v.f8_params()), (&[0u8, 0, 0][..], F8Params { alpha: 0.0, shift: 5.0 }));
        assert_eq!(v.to_f32_vec(), [5.0; 3]);
        // float1bit -> f8 spans -1..1
        let b = parse_text(b"[1,-1,1]", VectorType::Bit1).unwrap().convert(VectorType::F8);
        assert_eq!(b.data(), [255, 0, 255]);
        assert_eq!(b.f8_params().shift, -1.0);
        // half-up rounding of codes: 0.5 / (1/255) * ... lands exactly on .5 for 255 steps of 2
        let r = parse_text(b"[0,1,510]", VectorType::F8).unwrap();
        assert_eq!(r.data(), [0, 1, 255], "0.5 rounds up");
    }

    #[test]
    fn constructors() {
        assert_eq!(Vector::from_bits(&[true, false, true]).unwrap().data(), [0b101]);
        assert_eq!(Vector::from_f16(&[f16::ONE]).unwrap().to_blob(), [0x00, 0x3C, 0x05]);
        assert_eq!(Vector::from_bf16(&[bf16::ONE]).unwrap().to_blob(), [0x80, 0x3F, 0x06]);
        let f8 = Vector::from_f8_codes(vec![0, 255], F8Params { alpha: 1.0, shift: -1.0 }).unwrap();
        assert_eq!(f8.to_f32_vec(), [-1.0, 254.0]);
        assert_eq!(
            Vector::from_f32(&vec![0.0; 65537]).unwrap_err().to_string(),
            "vector: max size exceeded: 65537 > 65536"
        );
        assert_eq!(Vector::from_f32(&vec![0.0; 65536]).unwrap().dims(), 65536);
    }

    #[test]
    fn slice_quantiser_gives_the_reference_codes() {
        let long: Vec<f32> = (0..389).map(|i| ((i * 7919) % 1000) as f32 / 500.0 - 1.0).collect();
        let mut zeros = long.clone();
        zeros[5] = -1.0;
        zeros[100] = 0.0;
        let mut nan = long.clone();
        nan[200] = f32::NAN;
        let signed_zeros: Vec<f32> = (0..40).map(|i| if i % 3 == 0 { -0.0 } else { i as f32 }).collect();
        let cases: [&[f32]; 10] = [
            &long,
            &zeros,
            &nan,
            &signed_zeros,
            &[1.0, 2.0, 3.0],
            &[0.5; 7],
            &[-1e30, 3.0, 1e30, 0.0],
            &[f32::NAN, 1.0, 2.0],
            &[1.0, f32::NAN, -2.0, f32::INFINITY],
            &[0.1, -0.25, 0.33, 0.999, -0.75, 0.0, 0.125, -0.5, 0.4],
        ];
        for values in cases {
            let (mut a, mut b) = (Vec::new(), Vec::new());
            let pa = quantize_f32(values.len(), |i| values[i], &mut a);
            let pb = quantize_f32_slice(values, &mut b);
            assert_eq!(a, b, "{values:?}");
            assert_eq!(
                (pa.alpha.to_bits(), pa.shift.to_bits()),
                (pb.alpha.to_bits(), pb.shift.to_bits()),
                "{values:?}"
            );
        }
    }
}
