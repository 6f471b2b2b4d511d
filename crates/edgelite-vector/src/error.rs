//! The error type: one variant per failure, `Display` byte-exact with libSQL's messages.

use crate::MAX_DIMS;

/// `Result` with this crate's [`Error`] as the default error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong while parsing, decoding, converting or comparing vectors.
///
/// The `Display` text of each variant is exactly the message libSQL passes to
/// `sqlite3_result_error` for the same condition (spec sections 1.3 and 1.4), so the SQL layer
/// can forward `to_string()` unchanged. Variants marked *edgelite* have no libSQL counterpart
/// (libSQL reads garbage or reports "out of memory" there, docs/libsql-vector.md §4.2); their texts follow
/// libSQL's style.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A SQL argument that is neither TEXT nor BLOB; the payload is `NULL`, `INTEGER` or `FLOAT`.
    #[error("vector: unexpected value type: got {0}, expected TEXT or BLOB")]
    UnexpectedValueType(&'static str),

    /// Text whose first non-space character is not `[`.
    #[error("vector: must start with '['")]
    MissingOpenBracket,
    /// Text that ends before the closing `]`.
    #[error("vector: must end with ']'")]
    MissingCloseBracket,
    /// Text with something other than whitespace after the closing `]`.
    #[error("vector: non-space symbols after closing ']' are forbidden")]
    TrailingCharacters,
    /// An element of more than 1024 non-space characters; the payload is its first 1024.
    #[error("vector: float string length exceeded 1024 characters: '{0}'")]
    ElementTooLong(String),
    /// An element that is not a valid SQLite float literal.
    #[error("vector: invalid float at position {position}: '{text}'")]
    InvalidFloat {
        /// 0-based element index.
        position: usize,
        /// The element with whitespace removed.
        text: String,
    },
    /// Text with more than 65536 elements.
    #[error("vector: max size exceeded {MAX_DIMS}")]
    TextTooLong,

    /// An odd-length blob whose trailing type byte is unknown.
    #[error("vector: unexpected binary type: {0}")]
    UnknownBinaryType(u8),
    /// A tagged float32 blob whose data part is not a multiple of 4 bytes.
    #[error("vector: float32 vector blob length must be divisible by 4 (excluding optional 'type'-byte): length={0}")]
    F32BlobLength(usize),
    /// A float64 blob whose data part is not a multiple of 8 bytes.
    #[error("vector: float64 vector blob length must be divisible by 8 (excluding 'type'-byte): length={0}")]
    F64BlobLength(usize),
    /// A float1bit blob whose length (without type byte) is odd or zero.
    #[error(
        "vector: float1bit vector blob length must be divisible by 2 and not be empty (excluding 'type'-byte): length={0}"
    )]
    Bit1BlobLength(usize),
    /// A float8 blob whose length (without type byte) is odd or below 2.
    #[error(
        "vector: float8 vector blob length must be divisible by 2 and has at least 2 bytes (excluding 'type'-byte): length={0}"
    )]
    F8BlobLength(usize),
    /// A float16 blob whose length (without type byte) is odd.
    #[error("vector: float16 vector blob length must be divisible by 2 (excluding 'type'-byte): length={0}")]
    F16BlobLength(usize),
    /// A bfloat16 blob whose length (without type byte) is odd.
    #[error("vector: floatb16 vector blob length must be divisible by 2 (excluding 'type'-byte): length={0}")]
    Bf16BlobLength(usize),
    /// A blob that decodes to more than 65536 dimensions.
    #[error("vector: max size exceeded: {0} > {MAX_DIMS}")]
    BlobTooLarge(u64),
    /// The data part length disagrees with the dimensions (e.g. a 6-byte untagged blob:
    /// `type=1, dims=1, 6 != 4`). libSQL reports this only in `vector*()`; edgelite everywhere.
    #[error("vector: unexpected data part size: type={type_id}, dims={dims}, {actual} != {expected}")]
    DataPartSize {
        /// Numeric type id.
        type_id: u8,
        /// Dimensions implied by the blob.
        dims: u64,
        /// Data part bytes present.
        actual: usize,
        /// Data part bytes those dimensions need.
        expected: usize,
    },
    /// *edgelite*: a float8 blob whose trailing-bytes count is inconsistent with its length
    /// (libSQL: "out of memory" or garbage).
    #[error("vector: malformed float8 vector blob: length={length}, trailing bytes={trailing}")]
    MalformedF8 {
        /// Blob length without the type byte.
        length: usize,
        /// The trailing-bytes byte.
        trailing: u8,
    },
    /// *edgelite*: a float1bit blob whose trailing-bits count is inconsistent with its length.
    #[error("vector: malformed float1bit vector blob: length={length}, trailing bits={trailing}")]
    MalformedBit1 {
        /// Blob length without the type byte.
        length: usize,
        /// The trailing-bits byte.
        trailing: u8,
    },

    /// Two vectors of different element types given to a distance (numeric type ids).
    #[error("vector_distance: vectors must have the same type: {0} != {1}")]
    TypeMismatch(u8, u8),
    /// Two vectors of different dimensions given to a distance.
    #[error("vector_distance: vectors must have the same length: {0} != {1}")]
    LengthMismatch(u32, u32),
    /// `vector_distance_l2` on float1bit vectors.
    #[error("vector_distance: l2 distance is not supported for float1bit vectors")]
    L2OnBit1,

    /// *edgelite* (`vector_concat`): the two vectors have different element types.
    #[error("vector_concat: vectors must have the same type: {0} != {1}")]
    ConcatTypeMismatch(u8, u8),
    /// *edgelite* (`vector_concat`): the result would exceed 65536 dimensions.
    #[error("vector_concat: max size exceeded: {0} > {MAX_DIMS}")]
    ConcatTooLarge(u64),
    /// *edgelite* (`vector_slice`): `start > end` or `end > dims`.
    #[error("vector_slice: invalid range [{start}, {end}) for a vector of {dims} dimensions")]
    SliceOutOfRange {
        /// First index (inclusive).
        start: i64,
        /// Last index (exclusive).
        end: i64,
        /// Dimensions of the sliced vector.
        dims: u32,
    },

    /// A declared column type that is not a vector type (`FLOAT32` without `(N)`, `FLOAT320(4)`, ...).
    #[error("vector index: unexpected vector column type: {0}")]
    UnexpectedColumnType(String),
    /// A declared dimension containing something other than digits (`FLOAT32(+3)`).
    #[error("vector index: non digit symbol in vector column parameter: {0}")]
    NonDigitDimension(String),
    /// A declared dimension not followed by `)` (`FLOAT32(3 4)`).
    #[error("vector index: missed closing brace for vector column type: {0}")]
    MissingClosingBrace(String),
    /// Characters after the `)` of a declared type.
    #[error("vector index: extra data after dimension parameter for vector column type: {0}")]
    ExtraAfterDimension(String),
    /// A declared dimension of 0 (or none: `FLOAT32()`).
    #[error("vector index: vector column must have non-zero dimension for index: {0}")]
    ZeroDimension(String),
    /// A declared dimension above 65536.
    #[error("vector index: max vector dimension exceeded: {0}")]
    DimensionTooLarge(String),
}
