use std::error::Error;
use std::fmt;

use super::{Value, ValueRef};

/// Why a [`ValueRef`] could not become the Rust type asked for.
///
/// The variants are deliberately general so that types defined outside this crate (vectors of a
/// given element type and dimension, for instance) report their failures structurally: a blob of
/// the wrong length is [`InvalidBlobSize`](FromSqlError::InvalidBlobSize), anything else
/// specific is [`Other`](FromSqlError::Other).
#[derive(Debug)]
#[non_exhaustive]
pub enum FromSqlError {
    /// The value's storage class cannot be converted to the requested type.
    InvalidType,
    /// The integer does not fit the requested type.
    OutOfRange(i64),
    /// The blob has the wrong length for a fixed-size type.
    InvalidBlobSize {
        /// The length the type needs, in bytes.
        expected_size: usize,
        /// The length of the blob, in bytes.
        blob_size: usize,
    },
    /// Any other failure, e.g. text that is not UTF-8 or a malformed encoded value.
    Other(Box<dyn Error + Send + Sync + 'static>),
}

impl fmt::Display for FromSqlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FromSqlError::InvalidType => f.write_str("invalid type"),
            FromSqlError::OutOfRange(i) => write!(f, "value {i} out of range"),
            FromSqlError::InvalidBlobSize { expected_size, blob_size } => {
                write!(f, "cannot read a {blob_size}-byte blob into a {expected_size}-byte value")
            }
            FromSqlError::Other(e) => e.fmt(f),
        }
    }
}

impl Error for FromSqlError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            FromSqlError::Other(e) => Some(&**e),
            _ => None,
        }
    }
}

/// The result of a [`FromSql`] conversion.
pub type FromSqlResult<T> = Result<T, FromSqlError>;

/// A type that can be read from an SQLite value.
///
/// Integers are range checked, never truncated; `f64` accepts integers too; `String` requires
/// valid UTF-8; `Option<T>` maps `NULL` to `None`.
///
/// Implementing it for your own type:
///
/// ```
/// use edgelite::types::{FromSql, FromSqlError, FromSqlResult, ValueRef};
///
/// struct Celsius(f64);
///
/// impl FromSql for Celsius {
///     fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
///         f64::column_result(value).map(Celsius)
///     }
/// }
///
/// let conn = edgelite::Connection::open_in_memory()?;
/// let t: Celsius = conn.query_row("SELECT 21.5", [], |row| row.get(0))?;
/// assert_eq!(t.0, 21.5);
/// # let _ = FromSqlError::InvalidType;
/// # Ok::<(), edgelite::Error>(())
/// ```
pub trait FromSql: Sized {
    /// Converts an SQLite value.
    ///
    /// # Errors
    ///
    /// A [`FromSqlError`] saying why the value does not fit.
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self>;
}

macro_rules! from_sql_int {
    ($($t:ty)*) => {$(
        impl FromSql for $t {
            fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
                let i = value.as_i64()?;
                <$t>::try_from(i).map_err(|_| FromSqlError::OutOfRange(i))
            }
        }
    )*};
}
from_sql_int!(i8 i16 i32 isize u8 u16 u32 u64 usize);

impl FromSql for i64 {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        value.as_i64()
    }
}

impl FromSql for f64 {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        match value {
            // SQLite itself converts integers to reals this way (nearest representable).
            #[allow(clippy::cast_precision_loss)]
            ValueRef::Integer(i) => Ok(i as f64),
            ValueRef::Real(f) => Ok(f),
            _ => Err(FromSqlError::InvalidType),
        }
    }
}

impl FromSql for f32 {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        // Narrowing to f32 rounds, as a float column of a smaller type is expected to.
        #[allow(clippy::cast_possible_truncation)]
        f64::column_result(value).map(|f| f as f32)
    }
}

impl FromSql for bool {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        value.as_i64().map(|i| i != 0)
    }
}

impl FromSql for String {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        value.as_str().map(ToOwned::to_owned)
    }
}

impl FromSql for Box<str> {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        value.as_str().map(Into::into)
    }
}

impl FromSql for Vec<u8> {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        value.as_blob().map(<[u8]>::to_vec)
    }
}

impl<const N: usize> FromSql for [u8; N] {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        let blob = value.as_blob()?;
        blob.try_into().map_err(|_| FromSqlError::InvalidBlobSize { expected_size: N, blob_size: blob.len() })
    }
}

impl<T: FromSql> FromSql for Option<T> {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        match value {
            ValueRef::Null => Ok(None),
            v => T::column_result(v).map(Some),
        }
    }
}

impl FromSql for Value {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        // Unlike `From<ValueRef>`, reading through FromSql refuses text that is not UTF-8.
        match value {
            ValueRef::Text(_) => value.as_str().map(|s| Value::Text(s.to_owned())),
            v => Ok(v.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_are_range_checked() {
        assert_eq!(u8::column_result(ValueRef::Integer(255)).ok(), Some(255));
        assert!(matches!(u8::column_result(ValueRef::Integer(256)), Err(FromSqlError::OutOfRange(256))));
        assert!(matches!(u64::column_result(ValueRef::Integer(-1)), Err(FromSqlError::OutOfRange(-1))));
        assert!(matches!(i32::column_result(ValueRef::Integer(i64::MIN)), Err(FromSqlError::OutOfRange(_))));
        assert!(matches!(i64::column_result(ValueRef::Real(1.0)), Err(FromSqlError::InvalidType)));
    }

    #[test]
    fn fixed_size_blobs_report_both_sizes() {
        let got = <[u8; 4]>::column_result(ValueRef::Blob(&[1, 2, 3]));
        assert!(matches!(got, Err(FromSqlError::InvalidBlobSize { expected_size: 4, blob_size: 3 })));
        assert_eq!(<[u8; 2]>::column_result(ValueRef::Blob(&[1, 2])).ok(), Some([1, 2]));
    }

    #[test]
    fn options_and_values() {
        assert_eq!(Option::<i32>::column_result(ValueRef::Null).ok(), Some(None));
        assert_eq!(Option::<i32>::column_result(ValueRef::Integer(4)).ok(), Some(Some(4)));
        assert!(Value::column_result(ValueRef::Text(b"\xfe")).is_err());
        assert_eq!(f64::column_result(ValueRef::Integer(2)).ok(), Some(2.0));
        assert_eq!(bool::column_result(ValueRef::Integer(-5)).ok(), Some(true));
    }
}
