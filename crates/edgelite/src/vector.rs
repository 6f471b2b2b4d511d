//! Vectors as first-class SQL values, in libSQL's formats.
//!
//! A vector column is declared with its element type and dimension (`F32_BLOB(384)`,
//! `F64_BLOB(3)`, `F16_BLOB`, `FB16_BLOB`, `F8_BLOB`, `F1BIT_BLOB`, or the `FLOAT32(384)`
//! spellings) and holds blobs in libSQL's encoding: an f32 vector is its raw little-endian floats
//! with no type byte, every other type ends with its type byte.
//!
//! | Element type | owned | borrowed (zero-copy) |
//! |---|---|---|
//! | f32 (`F32_BLOB`) | `Vec<f32>`, `[f32; N]` | [`F32VectorRef`] |
//! | f64 (`F64_BLOB`) | `Vec<f64>`, `[f64; N]` | [`F64VectorRef`] |
//! | f16 (`F16_BLOB`) | `Vec<f16>`, `[f16; N]` | [`F16VectorRef`] |
//! | bf16 (`FB16_BLOB`) | `Vec<bf16>`, `[bf16; N]` | [`Bf16VectorRef`] |
//! | f8 (`F8_BLOB`) | [`F8Vector`] | [`VectorRef`] |
//! | 1-bit (`F1BIT_BLOB`) | [`Bit1Vector`] | [`VectorRef`] |
//! | any of them | [`Vector`] | [`VectorRef`] |
//!
//! All of them bind as parameters ([`ToSql`]); the owned ones are read with
//! [`Row::get`](crate::Row::get) ([`FromSql`]) and the borrowed ones, which point into the row,
//! with [`Row::get_view`] ([`FromSqlView`]). A `Vec<u8>` is still a plain blob.
//!
//! Reading is strict about the element type: an f64 blob read as `Vec<f32>` is an error, not a
//! silent conversion (read it as a [`Vector`] and call [`Vector::to_f32_vec`] to convert).
//! Vector *text* (`'[1, 2, 3]'`, what `vector_extract()` returns) is parsed into the requested
//! element type, as `vector32()`, `vector64()` etc. would; a dynamic [`Vector`] parses it as f32,
//! like `vector()`. The failures are [`FromSqlError::InvalidType`] for a value that is neither
//! blob nor text, and otherwise [`FromSqlError::Other`] holding a [`VectorConversionError`]
//! (wrong element type, wrong dimension, malformed blob or text), which
//! [`FromSqlError::vector_error`] and [`Error::vector_error`] give back without downcasting.
//!
//! # Nearest neighbours with a relational filter
//!
//! The common pattern: a table with an `F32_BLOB(N)` column, rows inserted with `&[f32]`s, and
//! the top k rows closest to a query vector among those that pass a `WHERE` clause.
//!
//! ```
//! use edgelite::{params, Connection, Result};
//!
//! fn main() -> Result<()> {
//!     let mut conn = Connection::open_in_memory()?;
//!     conn.execute_batch("CREATE TABLE docs(id INTEGER PRIMARY KEY, lang TEXT, emb F32_BLOB(3))")?;
//!
//!     let docs: [(&str, [f32; 3]); 4] = [
//!         ("en", [1.0, 0.0, 0.0]),
//!         ("en", [0.0, 1.0, 0.0]),
//!         ("fr", [0.9, 0.1, 0.0]),
//!         ("en", [0.7, 0.7, 0.0]),
//!     ];
//!     let tx = conn.transaction()?;
//!     {
//!         let mut insert = tx.prepare("INSERT INTO docs(lang, emb) VALUES (?1, ?2)")?;
//!         for (lang, emb) in &docs {
//!             insert.execute(params![lang, &emb[..]])?; // a &[f32] binds as an F32_BLOB
//!         }
//!     }
//!     tx.commit()?;
//!
//!     // Exact search: the distance is computed for every row that passes the filter.
//!     let query = [1.0_f32, 0.1, 0.0];
//!     let mut top_k = conn.prepare(
//!         "SELECT id, vector_distance_cos(emb, ?1) AS distance FROM docs
//!          WHERE lang = ?2 ORDER BY distance LIMIT ?3",
//!     )?;
//!     let hits: Vec<(i64, f64)> = top_k
//!         .query_map(params![query, "en", 2], |row| Ok((row.get(0)?, row.get(1)?)))?
//!         .collect::<Result<_>>()?;
//!     assert_eq!(hits.iter().map(|h| h.0).collect::<Vec<_>>(), [1, 4]);
//!     assert!(hits[0].1 < 0.01);
//!
//!     // With libSQL's vector index, the index proposes candidates (nearest first, with their
//!     // distance) and the filter applies to them; for large tables this is the fast way.
//!     conn.execute_batch("CREATE INDEX docs_idx ON docs (libsql_vector_idx(emb))")?;
//!     let mut ann = conn.prepare(
//!         "SELECT d.id, top.distance FROM vector_top_k('docs_idx', ?1, 10) AS top
//!          JOIN docs d ON d.rowid = top.id WHERE d.lang = ?2 ORDER BY top.distance LIMIT ?3",
//!     )?;
//!     let ann_hits: Vec<i64> = ann.query_map(params![query, "en", 2], |row| row.get(0))?.collect::<Result<_>>()?;
//!     assert_eq!(ann_hits, [1, 4]);
//!
//!     // Vectors come back as Rust values too.
//!     let emb: Vec<f32> = conn.query_row("SELECT emb FROM docs WHERE id = 3", [], |r| r.get(0))?;
//!     assert_eq!(emb, [0.9, 0.1, 0.0]);
//!     Ok(())
//! }
//! ```
//!
//! `vector_top_k` finds the `k` nearest rows first and the `WHERE` clause filters them after,
//! so a selective filter needs a larger `k` (or a partial index: `CREATE INDEX ... WHERE`).
//!
//! # Borrowed views
//!
//! ```
//! use edgelite::vector::{F32VectorRef, VectorRef, VectorType};
//! use edgelite::Connection;
//!
//! let conn = Connection::open_in_memory()?;
//! conn.query_row("SELECT vector('[1, 2, 3]'), vector64('[4, 5]')", [], |row| {
//!     let a: F32VectorRef<'_> = row.get_view(0)?; // no copy: points into the row
//!     assert_eq!(a.iter().sum::<f32>(), 6.0);
//!     let b: VectorRef<'_> = row.get_view(1)?; // any element type
//!     assert_eq!((b.vector_type(), b.dims()), (VectorType::F64, 2));
//!     Ok(())
//! })?;
//! # Ok::<(), edgelite::Error>(())
//! ```

use std::fmt;
use std::marker::PhantomData;

pub use edgelite_vector::{Error as VectorError, F8Params, Metric, Vector, VectorRef, VectorType, bf16, f16};

use crate::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, Value, ValueRef};
use crate::{Error, Result, Row, RowIndex};

/// Why a SQL value could not become the vector type asked for (inside
/// [`FromSqlError::Other`]; see [`FromSqlError::vector_error`]).
///
/// ```
/// use edgelite::vector::{VectorConversionError, VectorType};
/// use edgelite::Connection;
///
/// let conn = Connection::open_in_memory()?;
/// let err = conn.query_row("SELECT vector64('[1, 2]')", [], |r| r.get::<_, Vec<f32>>(0)).unwrap_err();
/// assert_eq!(
///     err.vector_error(),
///     Some(&VectorConversionError::ElementType { expected: VectorType::F32, found: VectorType::F64 })
/// );
/// # Ok::<(), edgelite::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum VectorConversionError {
    /// The blob holds a vector of another element type.
    ElementType {
        /// The element type of the Rust type.
        expected: VectorType,
        /// The element type of the value.
        found: VectorType,
    },
    /// The vector has another number of dimensions than the fixed-size Rust type.
    Dimensions {
        /// The dimension of the Rust type.
        expected: u32,
        /// The dimension of the value.
        found: u32,
    },
    /// The blob is not a vector in libSQL's format, or the text is not vector text (the
    /// `edgelite-vector` error carries libSQL's message).
    Malformed(VectorError),
}

impl fmt::Display for VectorConversionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VectorConversionError::ElementType { expected, found } => {
                write!(f, "vector of element type {found} where {expected} was expected")
            }
            VectorConversionError::Dimensions { expected, found } => {
                write!(f, "vector of {found} dimensions where {expected} were expected")
            }
            VectorConversionError::Malformed(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for VectorConversionError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            VectorConversionError::Malformed(e) => Some(e),
            _ => None,
        }
    }
}

impl From<VectorConversionError> for FromSqlError {
    fn from(e: VectorConversionError) -> FromSqlError {
        FromSqlError::Other(Box::new(e))
    }
}

impl From<VectorError> for VectorConversionError {
    fn from(e: VectorError) -> VectorConversionError {
        VectorConversionError::Malformed(e)
    }
}

impl FromSqlError {
    /// The [`VectorConversionError`] inside [`FromSqlError::Other`], if that is what it holds.
    ///
    /// ```
    /// use edgelite::types::{FromSql, ValueRef};
    /// use edgelite::vector::VectorConversionError;
    ///
    /// let err = <[f32; 2]>::column_result(ValueRef::Text(b"[1, 2, 3]")).unwrap_err();
    /// assert_eq!(err.vector_error(), Some(&VectorConversionError::Dimensions { expected: 2, found: 3 }));
    /// ```
    #[must_use]
    pub fn vector_error(&self) -> Option<&VectorConversionError> {
        match self {
            FromSqlError::Other(e) => e.downcast_ref(),
            _ => None,
        }
    }
}

impl Error {
    /// The [`VectorConversionError`] of a failed read ([`Error::FromSqlConversionFailure`]), if a
    /// vector conversion is what failed.
    ///
    /// ```
    /// use edgelite::vector::VectorConversionError;
    /// use edgelite::Connection;
    ///
    /// let conn = Connection::open_in_memory()?;
    /// let err = conn.query_row("SELECT '[1, x]'", [], |r| r.get::<_, Vec<f32>>(0)).unwrap_err();
    /// assert!(matches!(err.vector_error(), Some(VectorConversionError::Malformed(_))));
    /// assert_eq!(err.to_string(), "column 0 (\"'[1, x]'\"): cannot convert TEXT value: vector: invalid float at position 1: 'x'");
    /// # Ok::<(), edgelite::Error>(())
    /// ```
    #[must_use]
    pub fn vector_error(&self) -> Option<&VectorConversionError> {
        match self {
            Error::FromSqlConversionFailure { source, .. } => source.vector_error(),
            _ => None,
        }
    }
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
    impl Sealed for super::f16 {}
    impl Sealed for super::bf16 {}
}

/// A vector element type with a Rust counterpart: `f32`, `f64`, [`f16`](struct@f16), [`bf16`] (sealed).
///
/// `Vec<E>`, `[E]` and `[E; N]` bind as vectors of this element type and read from them;
/// [`VectorView<E>`] is the borrowed form.
///
/// ```
/// use edgelite::vector::{Element, VectorType, f16};
/// assert_eq!(<f32 as Element>::TYPE, VectorType::F32);
/// assert_eq!(<f16 as Element>::TYPE, VectorType::F16);
/// ```
pub trait Element: sealed::Sealed + Copy + fmt::Debug + PartialEq + 'static {
    /// The libSQL element type.
    const TYPE: VectorType;
    /// Bytes per element in the blob.
    const SIZE: usize;

    /// Decodes one little-endian element; `bytes` is exactly [`Self::SIZE`] long.
    #[doc(hidden)]
    fn read_le(bytes: &[u8]) -> Self;

    /// The vector of these elements (edgelite-vector's encoder).
    #[doc(hidden)]
    fn to_vector(values: &[Self]) -> edgelite_vector::Result<Vector>;
}

macro_rules! element {
    ($t:ty, $ty:ident, $size:literal, $ctor:ident) => {
        impl Element for $t {
            const TYPE: VectorType = VectorType::$ty;
            const SIZE: usize = $size;

            #[inline]
            fn read_le(bytes: &[u8]) -> Self {
                let mut b = [0u8; $size];
                b.copy_from_slice(bytes);
                <$t>::from_le_bytes(b)
            }

            fn to_vector(values: &[Self]) -> edgelite_vector::Result<Vector> {
                Vector::$ctor(values)
            }
        }
    };
}
element!(f32, F32, 4, from_f32);
element!(f64, F64, 8, from_f64);
element!(f16, F16, 2, from_f16);
element!(bf16, Bf16, 2, from_bf16);

/// Checks that `v` has element type `ty`.
fn expect_type(v: &VectorRef<'_>, ty: VectorType) -> Result<(), VectorConversionError> {
    if v.vector_type() == ty {
        Ok(())
    } else {
        Err(VectorConversionError::ElementType { expected: ty, found: v.vector_type() })
    }
}

/// Checks the dimension of `v` against a fixed one.
fn expect_dims(v: &VectorRef<'_>, dims: usize) -> Result<(), VectorConversionError> {
    if v.dims() as usize == dims {
        Ok(())
    } else {
        let expected = u32::try_from(dims).unwrap_or(u32::MAX);
        Err(VectorConversionError::Dimensions { expected, found: v.dims() })
    }
}

/// Decodes a blob or parses a text into a vector of type `ty` and hands it to `f`
/// (borrowing the blob, owning the parsed text).
fn with_vector<T>(
    value: ValueRef<'_>,
    ty: VectorType,
    f: impl FnOnce(VectorRef<'_>) -> Result<T, VectorConversionError>,
) -> FromSqlResult<T> {
    match value {
        ValueRef::Blob(b) => {
            let v = VectorRef::from_blob(b).map_err(VectorConversionError::from)?;
            expect_type(&v, ty)?;
            Ok(f(v)?)
        }
        ValueRef::Text(t) => {
            let v = edgelite_vector::parse_text(t, ty).map_err(VectorConversionError::from)?;
            Ok(f(v.as_ref())?)
        }
        _ => Err(FromSqlError::InvalidType),
    }
}

fn elements<E: Element>(v: VectorRef<'_>) -> impl ExactSizeIterator<Item = E> + '_ {
    v.data().chunks_exact(E::SIZE).map(E::read_le)
}

fn vector_to_sql<E: Element>(values: &[E]) -> Result<ToSqlOutput<'static>> {
    let v = E::to_vector(values).map_err(|e| Error::ToSqlConversionFailure(Box::new(e)))?;
    Ok(ToSqlOutput::Owned(Value::Blob(v.to_blob())))
}

/// Binds a vector: f32 borrows its payload (which is the whole blob), the rest build theirs.
fn vector_ref_to_sql<'a>(v: VectorRef<'a>) -> ToSqlOutput<'a> {
    if v.vector_type() == VectorType::F32 {
        ToSqlOutput::Borrowed(ValueRef::Blob(v.data()))
    } else {
        ToSqlOutput::Owned(Value::Blob(v.to_blob()))
    }
}

/// A slice of [`Element`]s binds as a vector blob of that element type (`&[f32]` as an
/// `F32_BLOB`, the raw little-endian floats).
///
/// ```
/// let conn = edgelite::Connection::open_in_memory()?;
/// let v: &[f32] = &[1.0, 2.5];
/// let text: String = conn.query_row("SELECT vector_extract(?1)", [v], |r| r.get(0))?;
/// assert_eq!(text, "[1,2.5]");
/// # Ok::<(), edgelite::Error>(())
/// ```
impl<E: Element> ToSql for [E] {
    fn to_sql(&self) -> Result<ToSqlOutput<'_>> {
        vector_to_sql(self)
    }
}

/// As for `[E]`.
///
/// ```
/// let conn = edgelite::Connection::open_in_memory()?;
/// let n: i64 = conn.query_row("SELECT length(?1)", [vec![1.0_f64, 2.0]], |r| r.get(0))?;
/// assert_eq!(n, 17); // 2 × 8 bytes + the f64 type byte
/// # Ok::<(), edgelite::Error>(())
/// ```
impl<E: Element> ToSql for Vec<E> {
    fn to_sql(&self) -> Result<ToSqlOutput<'_>> {
        vector_to_sql(self)
    }
}

/// As for `[E]`.
///
/// ```
/// let conn = edgelite::Connection::open_in_memory()?;
/// let d: f64 = conn.query_row("SELECT vector_distance_l2(?1, ?2)", [[0.0_f32, 0.0], [3.0, 4.0]], |r| r.get(0))?;
/// assert_eq!(d, 5.0);
/// # Ok::<(), edgelite::Error>(())
/// ```
impl<E: Element, const N: usize> ToSql for [E; N] {
    fn to_sql(&self) -> Result<ToSqlOutput<'_>> {
        vector_to_sql(self)
    }
}

/// Reads a vector blob of element type `E`, or vector text parsed as `E`.
///
/// ```
/// let conn = edgelite::Connection::open_in_memory()?;
/// let v: Vec<f32> = conn.query_row("SELECT vector('[1, 2, 3]')", [], |r| r.get(0))?;
/// assert_eq!(v, [1.0, 2.0, 3.0]);
/// let t: Vec<f64> = conn.query_row("SELECT '[0.1, 2]'", [], |r| r.get(0))?;
/// assert_eq!(t, [0.1, 2.0]);
/// # Ok::<(), edgelite::Error>(())
/// ```
impl<E: Element> FromSql for Vec<E> {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        with_vector(value, E::TYPE, |v| Ok(elements(v).collect()))
    }
}

/// Reads a vector of element type `E` and exactly `N` dimensions.
///
/// ```
/// let conn = edgelite::Connection::open_in_memory()?;
/// let v: [f32; 2] = conn.query_row("SELECT vector('[1, 2]')", [], |r| r.get(0))?;
/// assert_eq!(v, [1.0, 2.0]);
/// assert!(conn.query_row("SELECT vector('[1, 2]')", [], |r| r.get::<_, [f32; 3]>(0)).is_err());
/// # Ok::<(), edgelite::Error>(())
/// ```
impl<E: Element, const N: usize> FromSql for [E; N] {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        with_vector(value, E::TYPE, |v| {
            expect_dims(&v, N)?;
            let values: Vec<E> = elements(v).collect();
            <[E; N]>::try_from(values).map_err(|_| VectorConversionError::Dimensions {
                expected: u32::try_from(N).unwrap_or(u32::MAX),
                found: v.dims(),
            })
        })
    }
}

/// Binds any vector in libSQL's blob format.
///
/// ```
/// use edgelite::vector::Vector;
/// let conn = edgelite::Connection::open_in_memory()?;
/// let v = Vector::parse("[1, -1, 2]")?.convert(edgelite::vector::VectorType::F16);
/// let text: String = conn.query_row("SELECT vector_extract(?1)", [&v], |r| r.get(0))?;
/// assert_eq!(text, "[1,-1,2]");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
impl ToSql for Vector {
    fn to_sql(&self) -> Result<ToSqlOutput<'_>> {
        Ok(vector_ref_to_sql(self.as_ref()))
    }
}

/// Binds any vector in libSQL's blob format (an f32 vector without copying).
///
/// ```
/// use edgelite::vector::VectorRef;
/// let blob = [0, 0, 0x80, 0x3f]; // [1.0] as f32
/// let conn = edgelite::Connection::open_in_memory()?;
/// let v = VectorRef::from_blob(&blob).expect("a vector");
/// let text: String = conn.query_row("SELECT vector_extract(?1)", [v], |r| r.get(0))?;
/// assert_eq!(text, "[1]");
/// # Ok::<(), edgelite::Error>(())
/// ```
impl ToSql for VectorRef<'_> {
    fn to_sql(&self) -> Result<ToSqlOutput<'_>> {
        Ok(vector_ref_to_sql(*self))
    }
}

/// Reads a vector blob of any element type, or vector text as an f32 vector (like `vector()`).
///
/// ```
/// use edgelite::vector::{Vector, VectorType};
/// let conn = edgelite::Connection::open_in_memory()?;
/// let v: Vector = conn.query_row("SELECT vector8('[0, 1, 2]')", [], |r| r.get(0))?;
/// assert_eq!((v.vector_type(), v.dims()), (VectorType::F8, 3));
/// let t: Vector = conn.query_row("SELECT '[0.5]'", [], |r| r.get(0))?;
/// assert_eq!(t.vector_type(), VectorType::F32);
/// # Ok::<(), edgelite::Error>(())
/// ```
impl FromSql for Vector {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        match value {
            ValueRef::Blob(b) => Ok(Vector::from_blob(b).map_err(VectorConversionError::from)?),
            ValueRef::Text(_) => with_vector(value, VectorType::F32, |v| Ok(v.to_vector())),
            _ => Err(FromSqlError::InvalidType),
        }
    }
}

/// A type that can be read from an SQLite value *borrowing* it: the vector views, which point
/// into the row (or function argument) instead of copying. Read with [`Row::get_view`].
///
/// Only blobs can be viewed; vector text must be parsed into an owned type (`Vec<f32>`, ...).
///
/// ```
/// use edgelite::types::ValueRef;
/// use edgelite::vector::{F32VectorRef, FromSqlView};
///
/// let blob = [0, 0, 0x80, 0x3f, 0, 0, 0, 0x40]; // [1.0, 2.0]
/// let v = F32VectorRef::column_view(ValueRef::Blob(&blob))?;
/// assert_eq!(v.to_vec(), [1.0, 2.0]);
/// # Ok::<(), edgelite::types::FromSqlError>(())
/// ```
pub trait FromSqlView<'a>: Sized {
    /// Converts an SQLite value, borrowing it.
    ///
    /// # Errors
    ///
    /// [`FromSqlError::InvalidType`] for anything but a blob, [`FromSqlError::Other`] with a
    /// [`VectorConversionError`] for a blob that is not the vector asked for.
    fn column_view(value: ValueRef<'a>) -> FromSqlResult<Self>;
}

impl<'a> FromSqlView<'a> for VectorRef<'a> {
    fn column_view(value: ValueRef<'a>) -> FromSqlResult<Self> {
        Ok(VectorRef::from_blob(value.as_blob()?).map_err(VectorConversionError::from)?)
    }
}

impl<'a, E: Element> FromSqlView<'a> for VectorView<'a, E> {
    fn column_view(value: ValueRef<'a>) -> FromSqlResult<Self> {
        Ok(VectorView::from_blob(value.as_blob()?)?)
    }
}

impl<'stmt> Row<'stmt> {
    /// Reads a column as a borrowed vector ([`FromSqlView`]): valid until the next row, no copy.
    ///
    /// ```
    /// use edgelite::vector::F32VectorRef;
    /// let conn = edgelite::Connection::open_in_memory()?;
    /// let sum = conn.query_row("SELECT vector('[1, 2, 3]') AS v", [], |row| {
    ///     let v: F32VectorRef<'_> = row.get_view("v")?;
    ///     Ok(v.iter().sum::<f32>())
    /// })?;
    /// assert_eq!(sum, 6.0);
    /// # Ok::<(), edgelite::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::InvalidColumnIndex`] / [`Error::InvalidColumnName`], or
    /// [`Error::FromSqlConversionFailure`] naming the column and why.
    pub fn get_view<'r, I: RowIndex, T: FromSqlView<'r>>(&'r self, idx: I) -> Result<T> {
        let stmt = self.as_ref();
        let index = idx.idx(stmt)?;
        let value = self.get_ref(index)?;
        T::column_view(value).map_err(|source| Error::FromSqlConversionFailure {
            index,
            name: stmt.column_name(index).ok().map(str::to_owned),
            value_type: value.data_type(),
            source,
        })
    }
}

/// A borrowed vector of [`Element`]s: the little-endian elements in place (in a row, a
/// function argument or any blob), read one by one without copying the whole vector.
///
/// ```
/// use edgelite::vector::F16VectorRef;
/// let blob = [0x00, 0x3c, 0x00, 0x40, 0x05]; // f16 [1, 2] and its type byte
/// let v = F16VectorRef::from_blob(&blob)?;
/// assert_eq!(v.len(), 2);
/// assert_eq!(v.get(1).map(f32::from), Some(2.0));
/// # Ok::<(), edgelite::vector::VectorConversionError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct VectorView<'a, E> {
    v: VectorRef<'a>,
    element: PhantomData<E>,
}

/// A borrowed f32 vector.
pub type F32VectorRef<'a> = VectorView<'a, f32>;
/// A borrowed f64 vector.
pub type F64VectorRef<'a> = VectorView<'a, f64>;
/// A borrowed f16 vector.
pub type F16VectorRef<'a> = VectorView<'a, f16>;
/// A borrowed bf16 vector.
pub type Bf16VectorRef<'a> = VectorView<'a, bf16>;

impl<'a, E: Element> VectorView<'a, E> {
    /// Views a vector blob of element type `E`.
    ///
    /// ```
    /// use edgelite::vector::{F32VectorRef, VectorConversionError, VectorType};
    /// let f64_blob = [0, 0, 0, 0, 0, 0, 0xf0, 0x3f, 0x02]; // [1.0] as f64
    /// assert_eq!(
    ///     F32VectorRef::from_blob(&f64_blob),
    ///     Err(VectorConversionError::ElementType { expected: VectorType::F32, found: VectorType::F64 })
    /// );
    /// ```
    ///
    /// # Errors
    ///
    /// [`VectorConversionError::Malformed`] if the blob is not a vector,
    /// [`VectorConversionError::ElementType`] if it is one of another element type.
    pub fn from_blob(blob: &'a [u8]) -> Result<Self, VectorConversionError> {
        let v = VectorRef::from_blob(blob)?;
        expect_type(&v, E::TYPE)?;
        Ok(VectorView { v, element: PhantomData })
    }

    /// Number of elements (dimensions).
    ///
    /// ```
    /// # use edgelite::vector::F32VectorRef;
    /// assert_eq!(F32VectorRef::from_blob(&[0; 8])?.len(), 2);
    /// # Ok::<(), edgelite::vector::VectorConversionError>(())
    /// ```
    #[must_use]
    pub fn len(&self) -> usize {
        self.v.dims() as usize
    }

    /// `true` for a vector of no elements.
    ///
    /// ```
    /// # use edgelite::vector::F32VectorRef;
    /// assert!(F32VectorRef::from_blob(&[])?.is_empty());
    /// # Ok::<(), edgelite::vector::VectorConversionError>(())
    /// ```
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Element `i`, if `i < len`.
    ///
    /// ```
    /// # use edgelite::vector::F32VectorRef;
    /// let v = F32VectorRef::from_blob(&[0, 0, 0x80, 0x3f])?;
    /// assert_eq!((v.get(0), v.get(1)), (Some(1.0), None));
    /// # Ok::<(), edgelite::vector::VectorConversionError>(())
    /// ```
    #[must_use]
    pub fn get(&self, i: usize) -> Option<E> {
        let start = i.checked_mul(E::SIZE)?;
        self.v.data().get(start..start + E::SIZE).map(E::read_le)
    }

    /// The elements in order.
    ///
    /// ```
    /// # use edgelite::vector::F32VectorRef;
    /// let v = F32VectorRef::from_blob(&[0, 0, 0x80, 0x3f, 0, 0, 0, 0x40])?;
    /// assert_eq!(v.iter().collect::<Vec<_>>(), [1.0, 2.0]);
    /// # Ok::<(), edgelite::vector::VectorConversionError>(())
    /// ```
    pub fn iter(&self) -> impl ExactSizeIterator<Item = E> + 'a {
        elements(self.v)
    }

    /// Copies the elements into a `Vec`.
    ///
    /// ```
    /// # use edgelite::vector::F32VectorRef;
    /// assert_eq!(F32VectorRef::from_blob(&[0, 0, 0x80, 0x3f])?.to_vec(), [1.0]);
    /// # Ok::<(), edgelite::vector::VectorConversionError>(())
    /// ```
    #[must_use]
    pub fn to_vec(&self) -> Vec<E> {
        self.iter().collect()
    }

    /// The untyped view, for `edgelite-vector`'s distances and conversions.
    ///
    /// ```
    /// use edgelite::vector::{F32VectorRef, Metric};
    /// let v = F32VectorRef::from_blob(&[0, 0, 0x80, 0x3f])?;
    /// let d = edgelite_vector::distance(Metric::Cosine, v.as_vector_ref(), v.as_vector_ref());
    /// assert_eq!(d, Ok(0.0));
    /// # Ok::<(), edgelite::vector::VectorConversionError>(())
    /// ```
    #[must_use]
    pub fn as_vector_ref(&self) -> VectorRef<'a> {
        self.v
    }
}

impl<'a, E: Element> From<VectorView<'a, E>> for VectorRef<'a> {
    fn from(v: VectorView<'a, E>) -> VectorRef<'a> {
        v.v
    }
}

/// Binds the viewed vector (an f32 one without copying).
///
/// ```
/// use edgelite::vector::F32VectorRef;
/// let conn = edgelite::Connection::open_in_memory()?;
/// let blob = [0, 0, 0x80, 0x3f];
/// let v = F32VectorRef::from_blob(&blob).expect("f32");
/// let back: Vec<u8> = conn.query_row("SELECT ?1", [v], |r| r.get(0))?;
/// assert_eq!(back, blob);
/// # Ok::<(), edgelite::Error>(())
/// ```
impl<E: Element> ToSql for VectorView<'_, E> {
    fn to_sql(&self) -> Result<ToSqlOutput<'_>> {
        Ok(vector_ref_to_sql(self.v))
    }
}

/// Implements the parts shared by the two owned wrappers of a [`Vector`] of a fixed type.
macro_rules! typed_vector {
    ($name:ident, $ty:ident) => {
        impl $name {
            /// Number of elements (dimensions).
            #[must_use]
            pub fn len(&self) -> usize {
                self.0.dims() as usize
            }

            /// `true` for a vector of no elements.
            #[must_use]
            pub fn is_empty(&self) -> bool {
                self.len() == 0
            }

            /// The elements as f32, as libSQL converts them (`vector_extract`'s values).
            #[must_use]
            pub fn to_f32_vec(&self) -> Vec<f32> {
                self.0.to_f32_vec()
            }

            /// The borrowed, untyped view.
            #[must_use]
            pub fn as_vector_ref(&self) -> VectorRef<'_> {
                self.0.as_ref()
            }

            /// The untyped vector.
            #[must_use]
            pub fn into_vector(self) -> Vector {
                self.0
            }
        }

        impl From<$name> for Vector {
            fn from(v: $name) -> Vector {
                v.0
            }
        }

        impl TryFrom<Vector> for $name {
            type Error = VectorConversionError;

            fn try_from(v: Vector) -> Result<Self, VectorConversionError> {
                expect_type(&v.as_ref(), VectorType::$ty)?;
                Ok($name(v))
            }
        }

        impl ToSql for $name {
            fn to_sql(&self) -> Result<ToSqlOutput<'_>> {
                Ok(ToSqlOutput::Owned(Value::Blob(self.0.to_blob())))
            }
        }

        impl FromSql for $name {
            fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
                with_vector(value, VectorType::$ty, |v| Ok($name(v.to_vector())))
            }
        }
    };
}

/// An owned f8 vector (`F8_BLOB`): one byte per element, element `i` = `alpha · codeᵢ + shift`.
///
/// ```
/// use edgelite::vector::F8Vector;
/// let conn = edgelite::Connection::open_in_memory()?;
/// let v = F8Vector::quantize(&[0.0, 100.0, 255.0])?; // alpha = 1: the codes are the values
/// assert_eq!(v.codes(), [0, 100, 255]);
/// let back: F8Vector = conn.query_row("SELECT ?1", [&v], |r| r.get(0))?;
/// assert_eq!(back, v);
/// let text: F8Vector = conn.query_row("SELECT '[0, 100, 255]'", [], |r| r.get(0))?; // like vector8()
/// assert_eq!(text, v);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct F8Vector(Vector);

typed_vector!(F8Vector, F8);

impl F8Vector {
    /// Quantises f32 values with libSQL's affine scheme (`vector8()`): the codes span the
    /// values' minimum to maximum in 255 steps.
    ///
    /// ```
    /// use edgelite::vector::F8Vector;
    /// let v = F8Vector::quantize(&[-1.0, 1.0])?;
    /// assert_eq!(v.to_f32_vec(), [-1.0, 1.0]);
    /// # Ok::<(), edgelite::vector::VectorError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// More than 65536 elements.
    pub fn quantize(values: &[f32]) -> Result<F8Vector, VectorError> {
        Ok(F8Vector(Vector::from_f32(values)?.convert(VectorType::F8)))
    }

    /// An f8 vector from its codes and parameters.
    ///
    /// ```
    /// use edgelite::vector::{F8Params, F8Vector};
    /// let v = F8Vector::from_codes(vec![0, 2], F8Params { alpha: 0.5, shift: 1.0 })?;
    /// assert_eq!(v.to_f32_vec(), [1.0, 2.0]);
    /// # Ok::<(), edgelite::vector::VectorError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// More than 65536 elements.
    pub fn from_codes(codes: Vec<u8>, params: F8Params) -> Result<F8Vector, VectorError> {
        Ok(F8Vector(Vector::from_f8_codes(codes, params)?))
    }

    /// The codes, one per element.
    ///
    /// ```
    /// # use edgelite::vector::F8Vector;
    /// assert_eq!(F8Vector::quantize(&[2.0, 4.0])?.codes(), [0, 255]);
    /// # Ok::<(), edgelite::vector::VectorError>(())
    /// ```
    #[must_use]
    pub fn codes(&self) -> &[u8] {
        self.0.data()
    }

    /// The scale and offset.
    ///
    /// ```
    /// # use edgelite::vector::{F8Params, F8Vector};
    /// assert_eq!(F8Vector::quantize(&[2.0, 2.0 + 255.0])?.params(), F8Params { alpha: 1.0, shift: 2.0 });
    /// # Ok::<(), edgelite::vector::VectorError>(())
    /// ```
    #[must_use]
    pub fn params(&self) -> F8Params {
        self.0.f8_params()
    }
}

/// An owned 1-bit vector (`F1BIT_BLOB`): one sign bit per element (`true` = positive, +1).
///
/// ```
/// use edgelite::vector::Bit1Vector;
/// let conn = edgelite::Connection::open_in_memory()?;
/// let v = Bit1Vector::from_signs(&[0.5, -2.0, 3.0])?;
/// assert_eq!(v.to_bools(), [true, false, true]);
/// let back: Bit1Vector = conn.query_row("SELECT ?1", [&v], |r| r.get(0))?;
/// assert_eq!(back, v);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Bit1Vector(Vector);

typed_vector!(Bit1Vector, Bit1);

impl Bit1Vector {
    /// One element per `bool`.
    ///
    /// ```
    /// # use edgelite::vector::Bit1Vector;
    /// assert_eq!(Bit1Vector::from_bools(&[true, false])?.to_f32_vec(), [1.0, -1.0]);
    /// # Ok::<(), edgelite::vector::VectorError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// More than 65536 elements.
    pub fn from_bools(bits: &[bool]) -> Result<Bit1Vector, VectorError> {
        Ok(Bit1Vector(Vector::from_bits(bits)?))
    }

    /// The signs of f32 values (`x > 0`), as `vector1bit()` converts.
    ///
    /// ```
    /// # use edgelite::vector::Bit1Vector;
    /// assert_eq!(Bit1Vector::from_signs(&[0.0, 1.0])?.to_bools(), [false, true]);
    /// # Ok::<(), edgelite::vector::VectorError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// More than 65536 elements.
    pub fn from_signs(values: &[f32]) -> Result<Bit1Vector, VectorError> {
        Ok(Bit1Vector(Vector::from_f32(values)?.convert(VectorType::Bit1)))
    }

    /// Bit `i`, if `i < len`.
    ///
    /// ```
    /// # use edgelite::vector::Bit1Vector;
    /// let v = Bit1Vector::from_bools(&[false, true])?;
    /// assert_eq!((v.get(1), v.get(2)), (Some(true), None));
    /// # Ok::<(), edgelite::vector::VectorError>(())
    /// ```
    #[must_use]
    pub fn get(&self, i: usize) -> Option<bool> {
        (i < self.len()).then(|| (self.0.data()[i / 8] >> (i % 8)) & 1 == 1)
    }

    /// The bits as `bool`s.
    ///
    /// ```
    /// # use edgelite::vector::Bit1Vector;
    /// assert_eq!(Bit1Vector::from_bools(&[true; 9])?.to_bools(), [true; 9]);
    /// # Ok::<(), edgelite::vector::VectorError>(())
    /// ```
    #[must_use]
    pub fn to_bools(&self) -> Vec<bool> {
        (0..self.len()).filter_map(|i| self.get(i)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vec_err(r: FromSqlResult<impl fmt::Debug>) -> VectorConversionError {
        match r {
            Err(e) => e.vector_error().cloned().unwrap_or_else(|| panic!("not a vector error: {e:?}")),
            Ok(v) => panic!("unexpected success: {v:?}"),
        }
    }

    fn blob<T: ToSql + ?Sized>(v: &T) -> Vec<u8> {
        match v.to_sql().ok().as_ref().and_then(ToSqlOutput::value_ref) {
            Some(ValueRef::Blob(b)) => b.to_vec(),
            other => panic!("not a blob: {other:?}"),
        }
    }

    #[test]
    fn f32_slices_are_raw_little_endian_floats() {
        let b = blob(&[1.0_f32, -2.0][..]);
        assert_eq!(b, [0, 0, 0x80, 0x3f, 0, 0, 0, 0xc0]);
        assert_eq!(blob(&vec![1.0_f32, -2.0]), b);
        assert_eq!(blob(&[1.0_f32, -2.0]), b);
        assert_eq!(Vec::<f32>::column_result(ValueRef::Blob(&b)).ok(), Some(vec![1.0, -2.0]));
    }

    #[test]
    fn every_element_type_round_trips_through_its_blob() {
        let f64s = [0.1_f64, -3.0];
        assert_eq!(blob(&f64s[..]).last(), Some(&VectorType::F64.id()));
        assert_eq!(Vec::<f64>::column_result(ValueRef::Blob(&blob(&f64s))).ok(), Some(f64s.to_vec()));
        let f16s = [f16::from_f32(1.5), f16::from_f32(-0.25)];
        assert_eq!(<[f16; 2]>::column_result(ValueRef::Blob(&blob(&f16s))).ok(), Some(f16s));
        let bf16s = [bf16::from_f32(1.5), bf16::from_f32(-8.0)];
        assert_eq!(<[bf16; 2]>::column_result(ValueRef::Blob(&blob(&bf16s))).ok(), Some(bf16s));
        let f8 = F8Vector::quantize(&[1.0, 2.0, 3.0]).ok();
        let back = f8.as_ref().map(|v| F8Vector::column_result(ValueRef::Blob(&blob(v))).ok());
        assert_eq!(back, Some(f8.clone()));
        let bits = Bit1Vector::from_bools(&[true, false, true, true, false, false, false, false, true]).ok();
        let back = bits.as_ref().map(|v| Bit1Vector::column_result(ValueRef::Blob(&blob(v))).ok());
        assert_eq!(back, Some(bits.clone()));
    }

    #[test]
    fn text_is_parsed_into_the_requested_type() {
        assert_eq!(Vec::<f32>::column_result(ValueRef::Text(b" [1, 2.5]")).ok(), Some(vec![1.0, 2.5]));
        assert_eq!(<[f64; 1]>::column_result(ValueRef::Text(b"[0.1]")).ok(), Some([0.1]));
        assert_eq!(Vec::<f16>::column_result(ValueRef::Text(b"[2]")).ok(), Some(vec![f16::from_f32(2.0)]));
        let v = Vector::column_result(ValueRef::Text(b"[3]")).ok();
        assert_eq!(v.map(|v| (v.vector_type(), v.to_f32_vec())), Some((VectorType::F32, vec![3.0])));
        let b = Bit1Vector::column_result(ValueRef::Text(b"[1, -1]")).ok();
        assert_eq!(b.map(|b| b.to_bools()), Some(vec![true, false]));
    }

    #[test]
    fn wrong_sql_types_are_invalid_type() {
        for v in [ValueRef::Null, ValueRef::Integer(1), ValueRef::Real(1.0)] {
            assert!(matches!(Vec::<f32>::column_result(v), Err(FromSqlError::InvalidType)));
            assert!(matches!(<[f32; 1]>::column_result(v), Err(FromSqlError::InvalidType)));
            assert!(matches!(Vector::column_result(v), Err(FromSqlError::InvalidType)));
            assert!(matches!(F8Vector::column_result(v), Err(FromSqlError::InvalidType)));
            assert!(matches!(VectorRef::column_view(v), Err(FromSqlError::InvalidType)));
            assert!(matches!(F32VectorRef::column_view(v), Err(FromSqlError::InvalidType)));
        }
        // a view cannot borrow parsed text
        assert!(matches!(F32VectorRef::column_view(ValueRef::Text(b"[1]")), Err(FromSqlError::InvalidType)));
        // and Vec<u8> stays a plain blob, refusing text
        assert!(matches!(Vec::<u8>::column_result(ValueRef::Text(b"[1]")), Err(FromSqlError::InvalidType)));
    }

    #[test]
    fn wrong_element_types_are_reported() {
        let f64_blob = blob(&[1.0_f64]);
        let expected = VectorConversionError::ElementType { expected: VectorType::F32, found: VectorType::F64 };
        assert_eq!(vec_err(Vec::<f32>::column_result(ValueRef::Blob(&f64_blob))), expected);
        assert_eq!(vec_err(<[f32; 1]>::column_result(ValueRef::Blob(&f64_blob))), expected);
        assert_eq!(vec_err(F32VectorRef::column_view(ValueRef::Blob(&f64_blob))), expected);
        let f32_blob = blob(&[1.0_f32]);
        assert_eq!(
            vec_err(Bit1Vector::column_result(ValueRef::Blob(&f32_blob))),
            VectorConversionError::ElementType { expected: VectorType::Bit1, found: VectorType::F32 }
        );
        assert_eq!(
            F8Vector::try_from(Vector::from_f32(&[1.0]).unwrap_or_else(|e| panic!("{e}"))),
            Err(VectorConversionError::ElementType { expected: VectorType::F8, found: VectorType::F32 })
        );
    }

    #[test]
    fn wrong_dimensions_are_reported() {
        let b = blob(&[1.0_f32, 2.0, 3.0]);
        assert_eq!(
            vec_err(<[f32; 4]>::column_result(ValueRef::Blob(&b))),
            VectorConversionError::Dimensions { expected: 4, found: 3 }
        );
        assert_eq!(
            vec_err(<[f64; 2]>::column_result(ValueRef::Text(b"[1]"))),
            VectorConversionError::Dimensions { expected: 2, found: 1 }
        );
        assert_eq!(<[f32; 0]>::column_result(ValueRef::Blob(&[])).ok(), Some([]));
    }

    #[test]
    fn malformed_values_carry_libsql_messages() {
        let e = vec_err(Vec::<f32>::column_result(ValueRef::Blob(&[1, 2, 3, 4, 5, 6])));
        assert!(matches!(e, VectorConversionError::Malformed(VectorError::DataPartSize { .. })), "{e:?}");
        let e = vec_err(Vector::column_result(ValueRef::Blob(&[1, 2, 9])));
        assert_eq!(e, VectorConversionError::Malformed(VectorError::UnknownBinaryType(9)));
        assert_eq!(e.to_string(), "vector: unexpected binary type: 9");
        assert!(std::error::Error::source(&e).is_some());
        let e = vec_err(Vec::<f32>::column_result(ValueRef::Text(b"1, 2")));
        assert_eq!(e, VectorConversionError::Malformed(VectorError::MissingOpenBracket));
        let e = vec_err(VectorRef::column_view(ValueRef::Blob(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 2])));
        assert!(matches!(e, VectorConversionError::Malformed(VectorError::F64BlobLength(10))), "{e:?}");
    }

    #[test]
    fn conversion_errors_display() {
        let e = VectorConversionError::ElementType { expected: VectorType::F32, found: VectorType::F16 };
        assert_eq!(e.to_string(), "vector of element type FLOAT16 where FLOAT32 was expected");
        let e = VectorConversionError::Dimensions { expected: 4, found: 3 };
        assert_eq!(e.to_string(), "vector of 3 dimensions where 4 were expected");
        assert_eq!(FromSqlError::from(e.clone()).to_string(), e.to_string());
        assert_eq!(FromSqlError::InvalidType.vector_error(), None);
        assert_eq!(Error::QueryReturnedNoRows.vector_error(), None);
    }

    #[test]
    fn f32_views_bind_without_copying() {
        let b = blob(&[1.0_f32, 2.0]);
        let v = F32VectorRef::from_blob(&b).unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(v.to_sql(), Ok(ToSqlOutput::Borrowed(ValueRef::Blob(p))) if p.as_ptr() == b.as_ptr()));
        let r = VectorRef::from(v);
        assert!(matches!(r.to_sql(), Ok(ToSqlOutput::Borrowed(ValueRef::Blob(_)))));
        let owned = r.to_vector();
        assert!(matches!(owned.to_sql(), Ok(ToSqlOutput::Borrowed(ValueRef::Blob(_)))));
        // other types need their type byte
        let b16 = blob(&[f16::ONE]);
        let v16 = F16VectorRef::from_blob(&b16).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(blob(&v16), b16);
        assert_eq!(v16.get(0), Some(f16::ONE));
        assert_eq!(v16.get(usize::MAX), None);
    }

    #[test]
    fn too_many_dimensions_fail_to_bind() {
        let big = vec![0.0_f32; edgelite_vector::MAX_DIMS as usize + 1];
        assert!(matches!(big.to_sql(), Err(Error::ToSqlConversionFailure(_))));
        assert!(F8Vector::quantize(&big).is_err());
        assert!(Bit1Vector::from_signs(&big).is_err());
    }
}
