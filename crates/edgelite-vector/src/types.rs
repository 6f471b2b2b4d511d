//! Element types, their libSQL type ids and sizes, and declared column types.

use crate::MAX_DIMS;
use crate::error::{Error, Result};

/// Element type of a vector, with libSQL's numeric type ids as discriminants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum VectorType {
    /// IEEE binary32 (`FLOAT32` / `F32_BLOB`).
    F32 = 1,
    /// IEEE binary64 (`FLOAT64` / `F64_BLOB`).
    F64 = 2,
    /// One sign bit per element, `1` meaning positive (`FLOAT1BIT` / `F1BIT_BLOB`).
    Bit1 = 3,
    /// Affine-quantised u8: `value = alpha * q + shift` (`FLOAT8` / `F8_BLOB`).
    F8 = 4,
    /// IEEE binary16 (`FLOAT16` / `F16_BLOB`).
    F16 = 5,
    /// bfloat16, the high half of an f32 (`FLOATB16` / `FB16_BLOB`).
    Bf16 = 6,
}

impl VectorType {
    /// All types, in type-id order.
    pub const ALL: [VectorType; 6] =
        [VectorType::F32, VectorType::F64, VectorType::Bit1, VectorType::F8, VectorType::F16, VectorType::Bf16];

    /// The libSQL type id (the trailing byte of tagged blobs).
    pub const fn id(self) -> u8 {
        self as u8
    }

    /// The type with libSQL type id `id`, if any.
    pub const fn from_id(id: u8) -> Option<VectorType> {
        match id {
            1 => Some(VectorType::F32),
            2 => Some(VectorType::F64),
            3 => Some(VectorType::Bit1),
            4 => Some(VectorType::F8),
            5 => Some(VectorType::F16),
            6 => Some(VectorType::Bf16),
            _ => None,
        }
    }

    /// The canonical column type name (`FLOAT32`, ...).
    pub const fn name(self) -> &'static str {
        match self {
            VectorType::F32 => "FLOAT32",
            VectorType::F64 => "FLOAT64",
            VectorType::Bit1 => "FLOAT1BIT",
            VectorType::F8 => "FLOAT8",
            VectorType::F16 => "FLOAT16",
            VectorType::Bf16 => "FLOATB16",
        }
    }

    /// Bytes of the *data part* of a `dims`-dimensional vector (libSQL's `vectorDataSize`):
    /// what the index stores per vector copy. f8 includes its alignment padding, alpha and shift.
    pub const fn data_size(self, dims: u32) -> usize {
        let d = dims as usize;
        match self {
            VectorType::F32 => 4 * d,
            VectorType::F64 => 8 * d,
            VectorType::Bit1 => d.div_ceil(8),
            VectorType::F8 => align4(d) + 8,
            VectorType::F16 | VectorType::Bf16 => 2 * d,
        }
    }

    /// Bytes of the full blob libSQL writes for a `dims`-dimensional vector (data part + metadata).
    pub const fn blob_size(self, dims: u32) -> usize {
        let data = self.data_size(dims);
        match self {
            VectorType::F32 => data,
            VectorType::F64 | VectorType::F16 | VectorType::Bf16 => data + 1,
            // optional padding byte so that the total stays odd, trailing-bits byte, type byte
            VectorType::Bit1 => data + if data.is_multiple_of(2) { 3 } else { 2 },
            // zero byte, trailing-bytes byte, type byte
            VectorType::F8 => data + 3,
        }
    }
}

impl std::fmt::Display for VectorType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// `n` rounded up to a multiple of 4.
pub(crate) const fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// SQLite's `sqlite3Isspace`: space, `\t`, `\n`, `\v`, `\f`, `\r`.
pub(crate) const fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// Declared type names in libSQL's matching order.
const COLUMN_TYPES: [(&str, VectorType); 12] = [
    ("FLOAT32", VectorType::F32),
    ("F32_BLOB", VectorType::F32),
    ("FLOAT64", VectorType::F64),
    ("F64_BLOB", VectorType::F64),
    ("FLOAT1BIT", VectorType::Bit1),
    ("F1BIT_BLOB", VectorType::Bit1),
    ("FLOAT8", VectorType::F8),
    ("F8_BLOB", VectorType::F8),
    ("FLOAT16", VectorType::F16),
    ("F16_BLOB", VectorType::F16),
    ("FLOATB16", VectorType::Bf16),
    ("FB16_BLOB", VectorType::Bf16),
];

/// Parses a declared column type such as `F32_BLOB(384)` into its element type and dimension,
/// exactly as libSQL does at `CREATE INDEX` (docs/libsql-vector.md §1.1).
///
/// Leading whitespace is skipped; the name is matched case-insensitively as a *prefix*, in the
/// order `FLOAT32, F32_BLOB, FLOAT64, F64_BLOB, FLOAT1BIT, F1BIT_BLOB, FLOAT8, F8_BLOB, FLOAT16,
/// F16_BLOB, FLOATB16, FB16_BLOB`; the first name that matches must be followed by optional
/// spaces and `(` (so `FLOAT320(4)` is an unexpected type, not a retry with the next name).
///
/// ```
/// use edgelite_vector::{parse_column_type, VectorType};
/// assert_eq!(parse_column_type("float32  (  3  )").unwrap(), (VectorType::F32, 3));
/// assert_eq!(
///     parse_column_type("FLOAT32(+3)").unwrap_err().to_string(),
///     "vector index: non digit symbol in vector column parameter: FLOAT32(+3)"
/// );
/// ```
///
/// # Errors
/// [`Error::UnexpectedColumnType`], [`Error::NonDigitDimension`], [`Error::MissingClosingBrace`],
/// [`Error::ExtraAfterDimension`], [`Error::ZeroDimension`], [`Error::DimensionTooLarge`]; each
/// carries `decl` unchanged.
pub fn parse_column_type(decl: &str) -> Result<(VectorType, u32)> {
    let s = decl.as_bytes();
    let skip = |mut i: usize| {
        while i < s.len() && is_space(s[i]) {
            i += 1;
        }
        i
    };
    let start = skip(0);
    let rest = &s[start..];
    let Some(&(name, ty)) = COLUMN_TYPES
        .iter()
        .find(|(name, _)| rest.len() >= name.len() && rest[..name.len()].eq_ignore_ascii_case(name.as_bytes()))
    else {
        return Err(Error::UnexpectedColumnType(decl.to_owned()));
    };
    let mut i = skip(start + name.len());
    if s.get(i) != Some(&b'(') {
        return Err(Error::UnexpectedColumnType(decl.to_owned()));
    }
    i = skip(i + 1);
    let mut dims: u32 = 0;
    while let Some(&c) = s.get(i) {
        if c == b')' || is_space(c) {
            break;
        }
        if !c.is_ascii_digit() {
            return Err(Error::NonDigitDimension(decl.to_owned()));
        }
        dims = dims * 10 + u32::from(c - b'0');
        if dims > MAX_DIMS {
            return Err(Error::DimensionTooLarge(decl.to_owned()));
        }
        i += 1;
    }
    i = skip(i);
    if s.get(i) != Some(&b')') {
        return Err(Error::MissingClosingBrace(decl.to_owned()));
    }
    i = skip(i + 1);
    if i != s.len() {
        return Err(Error::ExtraAfterDimension(decl.to_owned()));
    }
    if dims == 0 {
        return Err(Error::ZeroDimension(decl.to_owned()));
    }
    Ok((ty, dims))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip() {
        for ty in VectorType::ALL {
            assert_eq!(VectorType::from_id(ty.id()), Some(ty));
        }
        assert_eq!(VectorType::from_id(0), None);
        assert_eq!(VectorType::from_id(7), None);
        assert_eq!(VectorType::ALL.map(VectorType::id), [1, 2, 3, 4, 5, 6], "libSQL type ids");
    }

    #[test]
    fn sizes() {
        assert_eq!(VectorType::F32.blob_size(3), 12);
        assert_eq!(VectorType::F64.blob_size(1), 9);
        assert_eq!(VectorType::F16.blob_size(2), 5);
        assert_eq!(VectorType::Bf16.blob_size(2), 5);
        assert_eq!(VectorType::Bit1.blob_size(3), 3);
        assert_eq!(VectorType::Bit1.blob_size(8), 3);
        assert_eq!(VectorType::Bit1.blob_size(9), 5);
        assert_eq!(VectorType::Bit1.blob_size(0), 3);
        assert_eq!(VectorType::F8.blob_size(4), 15);
        assert_eq!(VectorType::F8.blob_size(0), 11);
        assert_eq!(VectorType::F8.data_size(5), 16);
    }

    #[test]
    fn column_types_accepted() {
        let cases = [
            ("FLOAT32(3)", VectorType::F32, 3),
            ("f32_blob(384)", VectorType::F32, 384),
            ("  float32  (  3  )  ", VectorType::F32, 3),
            ("F32_BLOB (1536)", VectorType::F32, 1536),
            ("FLOAT64(2)", VectorType::F64, 2),
            ("F64_BLOB(2)", VectorType::F64, 2),
            ("FLOAT1BIT(9)", VectorType::Bit1, 9),
            ("F1BIT_BLOB(9)", VectorType::Bit1, 9),
            ("FLOAT8(4)", VectorType::F8, 4),
            ("F8_BLOB(4)", VectorType::F8, 4),
            ("FLOAT16(5)", VectorType::F16, 5),
            ("F16_BLOB(5)", VectorType::F16, 5),
            ("FLOATB16(6)", VectorType::Bf16, 6),
            ("FB16_BLOB(6)", VectorType::Bf16, 6),
            ("FLOAT32(65536)", VectorType::F32, 65536),
            ("FLOAT32(\t3\x0b)", VectorType::F32, 3),
            ("FLOAT32(003)", VectorType::F32, 3),
        ];
        for (decl, ty, dims) in cases {
            assert_eq!(parse_column_type(decl), Ok((ty, dims)), "{decl}");
        }
    }

    #[test]
    fn column_type_errors() {
        let cases = [
            ("FLOAT32", "vector index: unexpected vector column type: FLOAT32"),
            ("FLOAT320(4)", "vector index: unexpected vector column type: FLOAT320(4)"),
            ("TEXT", "vector index: unexpected vector column type: TEXT"),
            ("", "vector index: unexpected vector column type: "),
            ("FLOAT32(+3)", "vector index: non digit symbol in vector column parameter: FLOAT32(+3)"),
            ("FLOAT32(3.5)", "vector index: non digit symbol in vector column parameter: FLOAT32(3.5)"),
            ("FLOAT32(3, 4)", "vector index: non digit symbol in vector column parameter: FLOAT32(3, 4)"),
            ("FLOAT32(3 4)", "vector index: missed closing brace for vector column type: FLOAT32(3 4)"),
            ("FLOAT32(3", "vector index: missed closing brace for vector column type: FLOAT32(3"),
            ("FLOAT32(3) x", "vector index: extra data after dimension parameter for vector column type: FLOAT32(3) x"),
            ("FLOAT32(0)", "vector index: vector column must have non-zero dimension for index: FLOAT32(0)"),
            ("FLOAT32()", "vector index: vector column must have non-zero dimension for index: FLOAT32()"),
            ("FLOAT32(65537)", "vector index: max vector dimension exceeded: FLOAT32(65537)"),
            ("FLOAT32(99999999999999)", "vector index: max vector dimension exceeded: FLOAT32(99999999999999)"),
        ];
        for (decl, msg) in cases {
            assert_eq!(parse_column_type(decl).unwrap_err().to_string(), msg, "{decl}");
        }
    }
}
