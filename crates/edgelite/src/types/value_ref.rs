use std::str;

use super::{FromSqlError, FromSqlResult, Type, Value};

/// A value borrowed from SQLite: a column of the current row or an argument of a function.
///
/// Text is kept as bytes because SQLite does not check that stored text is valid UTF-8;
/// [`ValueRef::as_str`] checks it.
///
/// ```
/// use edgelite::types::{Type, ValueRef};
///
/// let v = ValueRef::Text(b"hello");
/// assert_eq!(v.data_type(), Type::Text);
/// assert_eq!(v.as_str()?, "hello");
/// assert!(ValueRef::Integer(1).as_str().is_err());
/// # Ok::<(), edgelite::types::FromSqlError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ValueRef<'a> {
    /// `NULL`.
    Null,
    /// An integer.
    Integer(i64),
    /// A floating point number.
    Real(f64),
    /// Text, as the bytes SQLite stores (normally UTF-8).
    Text(&'a [u8]),
    /// A blob.
    Blob(&'a [u8]),
}

impl<'a> ValueRef<'a> {
    /// The storage class of this value.
    #[must_use]
    pub fn data_type(&self) -> Type {
        match self {
            ValueRef::Null => Type::Null,
            ValueRef::Integer(_) => Type::Integer,
            ValueRef::Real(_) => Type::Real,
            ValueRef::Text(_) => Type::Text,
            ValueRef::Blob(_) => Type::Blob,
        }
    }

    /// The integer, if this is an integer.
    ///
    /// # Errors
    ///
    /// [`FromSqlError::InvalidType`] for any other kind of value.
    pub fn as_i64(&self) -> FromSqlResult<i64> {
        match *self {
            ValueRef::Integer(i) => Ok(i),
            _ => Err(FromSqlError::InvalidType),
        }
    }

    /// The number, if this is a real (integers are not converted).
    ///
    /// # Errors
    ///
    /// [`FromSqlError::InvalidType`] for any other kind of value.
    pub fn as_f64(&self) -> FromSqlResult<f64> {
        match *self {
            ValueRef::Real(f) => Ok(f),
            _ => Err(FromSqlError::InvalidType),
        }
    }

    /// The text as a `&str`, if this is text and valid UTF-8.
    ///
    /// # Errors
    ///
    /// [`FromSqlError::InvalidType`] if this is not text, [`FromSqlError::Other`] holding the
    /// [`std::str::Utf8Error`] if the bytes are not UTF-8.
    pub fn as_str(&self) -> FromSqlResult<&'a str> {
        match *self {
            ValueRef::Text(t) => str::from_utf8(t).map_err(|e| FromSqlError::Other(Box::new(e))),
            _ => Err(FromSqlError::InvalidType),
        }
    }

    /// The bytes, if this is a blob.
    ///
    /// # Errors
    ///
    /// [`FromSqlError::InvalidType`] for any other kind of value.
    pub fn as_blob(&self) -> FromSqlResult<&'a [u8]> {
        match *self {
            ValueRef::Blob(b) => Ok(b),
            _ => Err(FromSqlError::InvalidType),
        }
    }

    /// The bytes of a text or a blob (what a vector decoder wants).
    ///
    /// # Errors
    ///
    /// [`FromSqlError::InvalidType`] for `NULL`, integers and reals.
    pub fn as_bytes(&self) -> FromSqlResult<&'a [u8]> {
        match *self {
            ValueRef::Text(b) | ValueRef::Blob(b) => Ok(b),
            _ => Err(FromSqlError::InvalidType),
        }
    }
}

impl From<ValueRef<'_>> for Value {
    /// Copies the value; text that is not UTF-8 is converted lossily.
    fn from(v: ValueRef<'_>) -> Value {
        match v {
            ValueRef::Null => Value::Null,
            ValueRef::Integer(i) => Value::Integer(i),
            ValueRef::Real(f) => Value::Real(f),
            ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
            ValueRef::Blob(b) => Value::Blob(b.to_vec()),
        }
    }
}

impl<'a> From<&'a Value> for ValueRef<'a> {
    fn from(v: &'a Value) -> ValueRef<'a> {
        match v {
            Value::Null => ValueRef::Null,
            Value::Integer(i) => ValueRef::Integer(*i),
            Value::Real(f) => ValueRef::Real(*f),
            Value::Text(t) => ValueRef::Text(t.as_bytes()),
            Value::Blob(b) => ValueRef::Blob(b),
        }
    }
}

impl<'a> From<&'a str> for ValueRef<'a> {
    fn from(s: &'a str) -> ValueRef<'a> {
        ValueRef::Text(s.as_bytes())
    }
}

impl<'a> From<&'a [u8]> for ValueRef<'a> {
    fn from(b: &'a [u8]) -> ValueRef<'a> {
        ValueRef::Blob(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accessors_check_the_kind() {
        assert_eq!(ValueRef::Integer(7).as_i64().ok(), Some(7));
        assert!(ValueRef::Real(1.0).as_i64().is_err());
        assert_eq!(ValueRef::Real(1.5).as_f64().ok(), Some(1.5));
        assert_eq!(ValueRef::Blob(b"ab").as_blob().ok(), Some(&b"ab"[..]));
        assert_eq!(ValueRef::Text(b"ab").as_bytes().ok(), Some(&b"ab"[..]));
        assert!(matches!(ValueRef::Text(b"\xff").as_str(), Err(FromSqlError::Other(_))));
        assert!(matches!(ValueRef::Null.as_bytes(), Err(FromSqlError::InvalidType)));
    }

    #[test]
    fn owned_and_borrowed_convert_both_ways() {
        for v in [Value::Null, Value::Integer(-3), Value::Real(0.25), Value::Text("é".into()), Value::Blob(vec![0, 1])]
        {
            assert_eq!(Value::from(ValueRef::from(&v)), v);
        }
        assert_eq!(Value::from(ValueRef::Text(b"a\xffb")), Value::Text("a\u{fffd}b".into()));
    }
}
