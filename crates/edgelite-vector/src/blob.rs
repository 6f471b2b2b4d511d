//! libSQL's blob layouts (spec section 2): type inference on read, byte-exact writers.

use crate::MAX_DIMS;
use crate::error::{Error, Result};
use crate::types::{VectorType, align4};
use crate::vector::{F8Params, Vector, VectorRef, payload_len};

fn f32_le(b: &[u8], at: usize) -> f32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    f32::from_le_bytes(a)
}

fn check_dims(dims: u64) -> Result<u32> {
    if dims > u64::from(MAX_DIMS) {
        return Err(Error::BlobTooLarge(dims));
    }
    // MAX_DIMS fits in u32
    Ok(dims as u32)
}

impl<'a> VectorRef<'a> {
    /// Decodes a blob, inferring the type from its length and trailing byte (docs/libsql-vector.md §2.1), without
    /// copying the elements.
    ///
    /// Even length: untagged f32. Odd length: the last byte is the type id. Stricter than libSQL
    /// where libSQL reads garbage (docs/libsql-vector.md §4.2): an even length that is not a multiple of 4 is
    /// [`Error::DataPartSize`], a float8 or float1bit blob whose trailing count does not fit its
    /// length is [`Error::MalformedF8`] / [`Error::MalformedBit1`] / [`Error::DataPartSize`].
    ///
    /// ```
    /// use edgelite_vector::{VectorRef, VectorType};
    /// let v = VectorRef::from_blob(&[0x00, 0x3c, 0x00, 0x40, 0x05]).unwrap();
    /// assert_eq!((v.vector_type(), v.dims()), (VectorType::F16, 2));
    /// assert_eq!(v.to_f32_vec(), [1.0, 2.0]);
    /// ```
    ///
    /// # Errors
    /// The blob errors of docs/libsql-vector.md §1.4 (`vector: ...` messages).
    pub fn from_blob(blob: &'a [u8]) -> Result<VectorRef<'a>> {
        let len = blob.len();
        if len.is_multiple_of(2) {
            let dims = check_dims((len / 4) as u64)?;
            if !len.is_multiple_of(4) {
                return Err(Error::DataPartSize {
                    type_id: VectorType::F32.id(),
                    dims: u64::from(dims),
                    actual: len,
                    expected: 4 * dims as usize,
                });
            }
            return Ok(VectorRef { ty: VectorType::F32, dims, data: blob, f8: F8Params::default() });
        }
        let type_byte = blob[len - 1];
        let body = &blob[..len - 1];
        let l = body.len();
        let ty = VectorType::from_id(type_byte).ok_or(Error::UnknownBinaryType(type_byte))?;
        match ty {
            VectorType::F32 | VectorType::F64 | VectorType::F16 | VectorType::Bf16 => {
                let (width, err): (usize, fn(usize) -> Error) = match ty {
                    VectorType::F32 => (4, Error::F32BlobLength),
                    VectorType::F64 => (8, Error::F64BlobLength),
                    VectorType::F16 => (2, Error::F16BlobLength),
                    _ => (2, Error::Bf16BlobLength),
                };
                if !l.is_multiple_of(width) {
                    return Err(err(l));
                }
                let dims = check_dims((l / width) as u64)?;
                Ok(VectorRef { ty, dims, data: body, f8: F8Params::default() })
            }
            VectorType::Bit1 => {
                if l == 0 || !l.is_multiple_of(2) {
                    return Err(Error::Bit1BlobLength(l));
                }
                let trailing = body[l - 1];
                let malformed = Error::MalformedBit1 { length: l, trailing };
                let dims = (8 * l as u64).checked_sub(u64::from(trailing)).ok_or(malformed.clone())?;
                let dims = check_dims(dims)?;
                let n = payload_len(ty, dims);
                // the data must not run into the trailing-bits byte itself
                if n > l - 1 {
                    return Err(malformed);
                }
                Ok(VectorRef { ty, dims, data: &body[..n], f8: F8Params::default() })
            }
            VectorType::F8 => {
                if l < 2 || !l.is_multiple_of(2) {
                    return Err(Error::F8BlobLength(l));
                }
                let trailing = body[l - 1];
                let dims = (l as u64)
                    .checked_sub(10 + u64::from(trailing))
                    .ok_or(Error::MalformedF8 { length: l, trailing })?;
                let dims = check_dims(dims)?;
                let expected = ty.data_size(dims);
                if expected != l - 2 {
                    return Err(Error::DataPartSize {
                        type_id: ty.id(),
                        dims: u64::from(dims),
                        actual: l - 2,
                        expected,
                    });
                }
                Ok(VectorRef::f8_from_data_part(dims, &body[..l - 2]))
            }
        }
    }

    /// An f8 view over a data part of exactly `align4(dims) + 8` bytes.
    #[inline]
    pub(crate) fn f8_from_data_part(dims: u32, part: &'a [u8]) -> VectorRef<'a> {
        let at = align4(dims as usize);
        let f8 = F8Params { alpha: f32_le(part, at), shift: f32_le(part, at + 4) };
        VectorRef { ty: VectorType::F8, dims, data: &part[..dims as usize], f8 }
    }

    /// Views a *data part* (libSQL's in-memory layout, what index nodes store: no type byte, no
    /// trailing metadata; f8 = codes, zero padding to a multiple of 4, alpha, shift) of a vector
    /// whose type and dimensions are known from elsewhere.
    ///
    /// # Errors
    /// [`Error::BlobTooLarge`] above 65536 dims; [`Error::DataPartSize`] unless
    /// `part.len() == ty.data_size(dims)`.
    pub fn from_data_part(ty: VectorType, dims: u32, part: &'a [u8]) -> Result<VectorRef<'a>> {
        let dims = check_dims(u64::from(dims))?;
        let expected = ty.data_size(dims);
        if part.len() != expected {
            return Err(Error::DataPartSize { type_id: ty.id(), dims: u64::from(dims), actual: part.len(), expected });
        }
        if ty == VectorType::F8 {
            return Ok(VectorRef::f8_from_data_part(dims, part));
        }
        Ok(VectorRef { ty, dims, data: part, f8: F8Params::default() })
    }

    /// Appends the data part (see [`Self::from_data_part`]) to `out`; f8 padding is zero and the
    /// unused bits of the last float1bit byte are cleared.
    pub fn write_data_part(&self, out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(self.data);
        match self.ty {
            VectorType::F8 => {
                out.resize(start + align4(self.dims as usize), 0);
                out.extend_from_slice(&self.f8.alpha.to_le_bytes());
                out.extend_from_slice(&self.f8.shift.to_le_bytes());
            }
            VectorType::Bit1 => {
                let used = self.dims % 8;
                if used != 0
                    && let Some(last) = out.last_mut()
                {
                    *last &= (1u8 << used) - 1;
                }
            }
            _ => {}
        }
    }

    /// Appends the blob libSQL's writers produce for this vector (docs/libsql-vector.md §2.2), byte for byte,
    /// except that f8 alignment padding is always zero (libSQL leaves it uninitialised).
    pub fn write_blob(&self, out: &mut Vec<u8>) {
        let start = out.len();
        self.write_data_part(out);
        match self.ty {
            VectorType::F32 => {}
            VectorType::F64 | VectorType::F16 | VectorType::Bf16 => out.push(self.ty.id()),
            VectorType::Bit1 => {
                if (out.len() - start).is_multiple_of(2) {
                    out.push(0);
                }
                // total length is odd: data (+ pad) is odd, + trailing-bits byte + type byte
                let blob_len = out.len() - start + 2;
                let trailing = 8 * (blob_len - 1) - self.dims as usize;
                out.push(trailing as u8);
                out.push(self.ty.id());
            }
            VectorType::F8 => {
                out.push(0);
                out.push((align4(self.dims as usize) - self.dims as usize) as u8);
                out.push(self.ty.id());
            }
        }
    }

    /// The blob of [`Self::write_blob`].
    pub fn to_blob(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.ty.blob_size(self.dims));
        self.write_blob(&mut out);
        out
    }
}

impl Vector {
    /// Decodes a blob into an owned vector; see [`VectorRef::from_blob`].
    ///
    /// # Errors
    /// As [`VectorRef::from_blob`].
    pub fn from_blob(blob: &[u8]) -> Result<Vector> {
        VectorRef::from_blob(blob).map(|v| v.to_vector())
    }

    /// See [`VectorRef::to_blob`].
    pub fn to_blob(&self) -> Vec<u8> {
        self.as_ref().to_blob()
    }

    /// See [`VectorRef::write_blob`].
    pub fn write_blob(&self, out: &mut Vec<u8>) {
        self.as_ref().write_blob(out);
    }

    /// See [`VectorRef::write_data_part`].
    pub fn write_data_part(&self, out: &mut Vec<u8>) {
        self.as_ref().write_data_part(out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::parse_text;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02X}")).collect()
    }

    fn unhex(s: &str) -> Vec<u8> {
        let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    fn blob(text: &str, ty: VectorType) -> String {
        hex(&parse_text(text.as_bytes(), ty).unwrap().to_blob())
    }

    #[test]
    fn spec_hex_examples() {
        assert_eq!(blob("[1,2,3]", VectorType::F32), "0000803F0000004000004040");
        assert_eq!(blob("[]", VectorType::F32), "");
        assert_eq!(blob("[1]", VectorType::F64), "000000000000F03F02");
        assert_eq!(blob("[1,2]", VectorType::F16), "003C004005");
        assert_eq!(blob("[1,2]", VectorType::Bf16), "803F004006");
        assert_eq!(blob("[1,-1,1]", VectorType::Bit1), "050D03");
        assert_eq!(blob("[1,1,1,1,1,1,1,1]", VectorType::Bit1), "FF0803");
        assert_eq!(blob("[1,1,1,1,1,1,1,1,1]", VectorType::Bit1), "FF01001703");
        assert_eq!(blob("[]", VectorType::Bit1), "001003");
        assert_eq!(blob("[0,1,2,3]", VectorType::F8), "0055AAFFC1C0403C00000000000004");
        assert_eq!(blob("[]", VectorType::F8), "0000000000000000000004");
        assert_eq!(blob("[]", VectorType::F64), "02");
        assert_eq!(blob("[]", VectorType::F16), "05");
    }

    #[test]
    fn f8_padding_is_zero() {
        // 5 elements: 3 padding bytes, which libSQL leaves uninitialised
        let b = parse_text(b"[1,2,3,4,5]", VectorType::F8).unwrap().to_blob();
        assert_eq!(b.len(), VectorType::F8.blob_size(5));
        assert_eq!(&b[5..8], &[0, 0, 0]);
        assert_eq!(b[b.len() - 2], 3);
        let v = VectorRef::from_blob(&b).unwrap();
        assert_eq!(v.dims(), 5);
        let back = v.to_f32_vec();
        for (x, y) in back.iter().zip([1.0f32, 2.0, 3.0, 4.0, 5.0]) {
            assert!((x - y).abs() < 0.01, "{x} vs {y}");
        }
    }

    #[test]
    fn decode_every_type() {
        for ty in VectorType::ALL {
            for text in ["[]", "[1]", "[1,-2,3.5]", "[0.5,-0.25,8,9,10,11,12,-13,14]"] {
                let v = parse_text(text.as_bytes(), ty).unwrap();
                let b = v.to_blob();
                assert_eq!(b.len(), ty.blob_size(v.dims()), "{ty} {text}");
                let r = VectorRef::from_blob(&b).unwrap();
                assert_eq!(r.vector_type(), if ty == VectorType::F32 { VectorType::F32 } else { ty });
                assert_eq!(r, v.as_ref(), "{ty} {text}");
                // data part round trip
                let mut part = Vec::new();
                r.write_data_part(&mut part);
                assert_eq!(part.len(), ty.data_size(v.dims()));
                assert_eq!(VectorRef::from_data_part(ty, v.dims(), &part).unwrap(), r);
            }
        }
    }

    #[test]
    fn tagged_f32_and_footgun() {
        let b = unhex("0000803F 01");
        let v = VectorRef::from_blob(&b).unwrap();
        assert_eq!((v.vector_type(), v.to_f32_vec()), (VectorType::F32, vec![1.0]));
        // f64 payload without its type byte reads as f32 garbage (docs/libsql-vector.md §2.1)
        let b = unhex("000000000000F03F0000000000000040");
        let v = VectorRef::from_blob(&b).unwrap();
        assert_eq!(v.to_f32_vec(), [0.0, 1.875, 0.0, 2.0]);
    }

    #[test]
    fn blob_errors() {
        let cases: &[(&str, &str)] = &[
            ("0000 07", "vector: unexpected binary type: 7"),
            ("0000 00", "vector: unexpected binary type: 0"),
            ("0000", "vector: unexpected data part size: type=1, dims=0, 2 != 0"),
            (
                "000000000000 01",
                "vector: float32 vector blob length must be divisible by 4 (excluding optional 'type'-byte): length=6",
            ),
            (
                "0000000000000000 0000 02",
                "vector: float64 vector blob length must be divisible by 8 (excluding 'type'-byte): length=10",
            ),
            (
                "03",
                "vector: float1bit vector blob length must be divisible by 2 and not be empty (excluding 'type'-byte): length=0",
            ),
            (
                "04",
                "vector: float8 vector blob length must be divisible by 2 and has at least 2 bytes (excluding 'type'-byte): length=0",
            ),
            ("000000000000", "vector: unexpected data part size: type=1, dims=1, 6 != 4"),
            ("0000 04", "vector: malformed float8 vector blob: length=2, trailing bytes=0"),
            ("FF11 03", "vector: malformed float1bit vector blob: length=2, trailing bits=17"),
            ("FF00 03", "vector: malformed float1bit vector blob: length=2, trailing bits=0"),
            // f8 whose trailing-bytes count disagrees with its length
            (
                "00000000 00000000 0000803F 00000000 00 04 04",
                "vector: unexpected data part size: type=4, dims=4, 16 != 12",
            ),
            ("000000000000 0000803F 00000000 00 00 04", "vector: unexpected data part size: type=4, dims=6, 14 != 16"),
        ];
        for (h, msg) in cases {
            let got = VectorRef::from_blob(&unhex(h)).unwrap_err().to_string();
            assert_eq!(&got, msg, "{h}");
        }
    }

    #[test]
    fn unreachable_length_messages() {
        // an odd blob always has an even body, so these only matter for data parts of callers
        let cases = [
            (
                Error::F16BlobLength(3),
                "vector: float16 vector blob length must be divisible by 2 (excluding 'type'-byte): length=3",
            ),
            (
                Error::Bf16BlobLength(3),
                "vector: floatb16 vector blob length must be divisible by 2 (excluding 'type'-byte): length=3",
            ),
            (
                Error::F8BlobLength(1),
                "vector: float8 vector blob length must be divisible by 2 and has at least 2 bytes (excluding 'type'-byte): length=1",
            ),
            (
                Error::Bit1BlobLength(3),
                "vector: float1bit vector blob length must be divisible by 2 and not be empty (excluding 'type'-byte): length=3",
            ),
        ];
        for (e, msg) in cases {
            assert_eq!(e.to_string(), msg);
        }
    }

    #[test]
    fn too_many_dims() {
        let b = vec![0u8; 4 * 65537];
        assert_eq!(VectorRef::from_blob(&b).unwrap_err().to_string(), "vector: max size exceeded: 65537 > 65536");
        let mut b = vec![0u8; 2 * 65537];
        b.push(5);
        assert_eq!(VectorRef::from_blob(&b).unwrap_err().to_string(), "vector: max size exceeded: 65537 > 65536");
        assert!(VectorRef::from_blob(&vec![0u8; 4 * 65536]).is_ok());
    }

    #[test]
    fn bit1_ignores_unused_bits_on_write() {
        let v = Vector::from_parts(VectorType::Bit1, 3, vec![0xFF], F8Params::default());
        assert_eq!(hex(&v.to_blob()), "070D03");
    }
}
