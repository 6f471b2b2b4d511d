use std::borrow::Cow;
use std::rc::Rc;
use std::sync::Arc;

use super::{Value, ValueRef};
use crate::{Error, Result};

/// What [`ToSql`] produces: a borrowed value, an owned one, or a zero-filled blob.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum ToSqlOutput<'a> {
    /// A value borrowed from the Rust side (bound without an extra Rust copy).
    Borrowed(ValueRef<'a>),
    /// A value built for the occasion.
    Owned(Value),
    /// A blob of this many zero bytes, for [incremental I/O](crate::blob).
    ZeroBlob(i32),
}

impl ToSqlOutput<'_> {
    /// The value to bind, or `None` for a zero blob.
    #[must_use]
    pub fn value_ref(&self) -> Option<ValueRef<'_>> {
        match self {
            ToSqlOutput::Borrowed(v) => Some(*v),
            ToSqlOutput::Owned(v) => Some(v.into()),
            ToSqlOutput::ZeroBlob(_) => None,
        }
    }
}

impl<'a, T: Into<Value>> From<T> for ToSqlOutput<'a> {
    fn from(t: T) -> Self {
        ToSqlOutput::Owned(t.into())
    }
}

/// A type that can be bound to a statement parameter or returned from a SQL function.
///
/// ```
/// use edgelite::types::{ToSql, ToSqlOutput};
/// use edgelite::{params, Connection, Result};
///
/// struct Point(i32, i32);
///
/// impl ToSql for Point {
///     fn to_sql(&self) -> Result<ToSqlOutput<'_>> {
///         Ok(ToSqlOutput::from(format!("({}, {})", self.0, self.1)))
///     }
/// }
///
/// let conn = Connection::open_in_memory()?;
/// let s: String = conn.query_row("SELECT ?1", params![Point(1, 2)], |r| r.get(0))?;
/// assert_eq!(s, "(1, 2)");
/// # Ok::<(), edgelite::Error>(())
/// ```
pub trait ToSql {
    /// Converts the value.
    ///
    /// # Errors
    ///
    /// [`Error::ToSqlConversionFailure`] (or any other error) if the value cannot be stored,
    /// e.g. a `u64` above `i64::MAX`.
    fn to_sql(&self) -> Result<ToSqlOutput<'_>>;
}

impl<T: ToSql + ?Sized> ToSql for &T {
    fn to_sql(&self) -> Result<ToSqlOutput<'_>> {
        (**self).to_sql()
    }
}

impl<T: ToSql + ?Sized> ToSql for Box<T> {
    fn to_sql(&self) -> Result<ToSqlOutput<'_>> {
        (**self).to_sql()
    }
}

impl<T: ToSql + ?Sized> ToSql for Rc<T> {
    fn to_sql(&self) -> Result<ToSqlOutput<'_>> {
        (**self).to_sql()
    }
}

impl<T: ToSql + ?Sized> ToSql for Arc<T> {
    fn to_sql(&self) -> Result<ToSqlOutput<'_>> {
        (**self).to_sql()
    }
}

impl<T: ToSql + ToOwned + ?Sized> ToSql for Cow<'_, T> {
    fn to_sql(&self) -> Result<ToSqlOutput<'_>> {
        (**self).to_sql()
    }
}

impl ToSql for ToSqlOutput<'_> {
    fn to_sql(&self) -> Result<ToSqlOutput<'_>> {
        Ok(match self {
            ToSqlOutput::Borrowed(v) => ToSqlOutput::Borrowed(*v),
            ToSqlOutput::Owned(v) => ToSqlOutput::Borrowed(v.into()),
            ToSqlOutput::ZeroBlob(n) => ToSqlOutput::ZeroBlob(*n),
        })
    }
}

macro_rules! to_sql_lossless {
    ($($t:ty)*) => {$(
        impl ToSql for $t {
            fn to_sql(&self) -> Result<ToSqlOutput<'_>> {
                Ok(ToSqlOutput::from(*self))
            }
        }
    )*};
}
to_sql_lossless!(i8 i16 i32 i64 u8 u16 u32 bool f32 f64);

macro_rules! to_sql_checked {
    ($($t:ty)*) => {$(
        impl ToSql for $t {
            fn to_sql(&self) -> Result<ToSqlOutput<'_>> {
                i64::try_from(*self)
                    .map(|i| ToSqlOutput::Owned(Value::Integer(i)))
                    .map_err(|e| Error::ToSqlConversionFailure(Box::new(e)))
            }
        }
    )*};
}
to_sql_checked!(isize u64 usize);

impl ToSql for str {
    fn to_sql(&self) -> Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(ValueRef::Text(self.as_bytes())))
    }
}

impl ToSql for String {
    fn to_sql(&self) -> Result<ToSqlOutput<'_>> {
        self.as_str().to_sql()
    }
}

impl ToSql for [u8] {
    fn to_sql(&self) -> Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(ValueRef::Blob(self)))
    }
}

impl<const N: usize> ToSql for [u8; N] {
    fn to_sql(&self) -> Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(ValueRef::Blob(self)))
    }
}

impl ToSql for Vec<u8> {
    fn to_sql(&self) -> Result<ToSqlOutput<'_>> {
        self.as_slice().to_sql()
    }
}

impl ToSql for Value {
    fn to_sql(&self) -> Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(self.into()))
    }
}

impl ToSql for ValueRef<'_> {
    fn to_sql(&self) -> Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(*self))
    }
}

impl<T: ToSql> ToSql for Option<T> {
    fn to_sql(&self) -> Result<ToSqlOutput<'_>> {
        match self {
            None => Ok(ToSqlOutput::Borrowed(ValueRef::Null)),
            Some(t) => t.to_sql(),
        }
    }
}

/// Binds SQL `NULL` (handy where `None` would need a type annotation).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Null;

impl ToSql for Null {
    fn to_sql(&self) -> Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(ValueRef::Null))
    }
}

/// Binds a blob of this many zero bytes, to be filled later through [`crate::blob::Blob`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ZeroBlob(pub i32);

impl ToSql for ZeroBlob {
    fn to_sql(&self) -> Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::ZeroBlob(self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsigned_values_beyond_i64_are_refused() {
        assert!(matches!(u64::MAX.to_sql(), Err(Error::ToSqlConversionFailure(_))));
        assert_eq!(
            (i64::MAX as u64).to_sql().ok().and_then(|o| o.value_ref().map(Value::from)),
            Some(Value::Integer(i64::MAX))
        );
    }

    #[test]
    fn borrowed_forms_do_not_copy() {
        let s = String::from("abc");
        assert!(matches!(s.to_sql(), Ok(ToSqlOutput::Borrowed(ValueRef::Text(b"abc")))));
        assert!(matches!(None::<i32>.to_sql(), Ok(ToSqlOutput::Borrowed(ValueRef::Null))));
        assert_eq!(ZeroBlob(3).to_sql().ok(), Some(ToSqlOutput::ZeroBlob(3)));
    }
}
