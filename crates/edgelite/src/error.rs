//! The crate's one error type.

use std::error;
use std::ffi::{NulError, c_int};
use std::fmt;
use std::path::PathBuf;
use std::str::Utf8Error;

use crate::ffi;
use crate::types::{FromSqlError, Type};

/// Everything that can go wrong in this crate.
///
/// SQLite's own failures are [`Error::SqliteFailure`], with the primary and extended result
/// codes, SQLite's message and, for SQL that did not compile, the byte offset of the error in
/// the SQL text. The other variants are failures detected on the Rust side.
///
/// ```
/// use edgelite::{Connection, Error};
///
/// let conn = Connection::open_in_memory()?;
/// let err = conn.execute("SELECT x FROM (SELECT 1 AS y)", []).unwrap_err();
/// assert_eq!(err.extended_code(), Some(edgelite::ffi::SQLITE_ERROR));
/// assert_eq!(err.sql_offset(), Some(7)); // where `x` is
/// assert_eq!(err.to_string(), "no such column: x (at offset 7)");
/// # Ok::<(), Error>(())
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// An SQLite call failed.
    SqliteFailure {
        /// The primary and extended result codes.
        error: ffi::Error,
        /// SQLite's message (`sqlite3_errmsg`), when one was available.
        message: Option<String>,
        /// Where in the SQL text the error was found (`sqlite3_error_offset`), in bytes.
        offset: Option<usize>,
    },
    /// A value read from a row (or a function argument) could not be converted.
    FromSqlConversionFailure {
        /// The column (or argument) index.
        index: usize,
        /// The column name; `None` for function arguments.
        name: Option<String>,
        /// The storage class of the value found.
        value_type: Type,
        /// Why the conversion failed.
        source: FromSqlError,
    },
    /// A Rust value could not be converted for SQLite.
    ToSqlConversionFailure(Box<dyn error::Error + Send + Sync + 'static>),
    /// A query expected to return a row returned none.
    QueryReturnedNoRows,
    /// A query expected to return exactly one row returned more.
    QueryReturnedMoreThanOneRow,
    /// `execute` ran a statement that returns rows; use `query` for those.
    ExecuteReturnedResults,
    /// A column index is out of range.
    InvalidColumnIndex(usize),
    /// No column has this name.
    InvalidColumnName(String),
    /// The statement has no parameter with this name.
    InvalidParameterName(String),
    /// The number of positional parameters given differs from the statement's.
    InvalidParameterCount {
        /// How many the statement has.
        expected: usize,
        /// How many were given.
        given: usize,
    },
    /// The SQL text passed to a single-statement method holds more than one statement.
    MultipleStatement,
    /// The SQL text holds no statement at all (only whitespace or comments).
    InvalidQuery,
    /// A string passed to SQLite contained a NUL byte.
    NulError(NulError),
    /// SQLite returned text that is not UTF-8 where a `&str` was needed.
    Utf8Error(Utf8Error),
    /// A path could not be passed to SQLite (not representable as a C string).
    InvalidPath(PathBuf),
    /// An error returned by a user-defined function or aggregate, for SQLite to report.
    UserFunctionError(Box<dyn error::Error + Send + Sync + 'static>),
    /// An embedded replica could not sync or forward a write (feature `replication`).
    #[cfg(feature = "replication")]
    Replication(crate::replica::ReplicationError),
}

impl Error {
    /// The primary result code by meaning, for an SQLite failure.
    #[must_use]
    pub fn sqlite_error_code(&self) -> Option<ffi::ErrorCode> {
        match self {
            Error::SqliteFailure { error, .. } => Some(error.code),
            _ => None,
        }
    }

    /// The extended result code (e.g. `SQLITE_CONSTRAINT_UNIQUE`), for an SQLite failure.
    #[must_use]
    pub fn extended_code(&self) -> Option<c_int> {
        match self {
            Error::SqliteFailure { error, .. } => Some(error.extended_code),
            _ => None,
        }
    }

    /// The byte offset in the SQL text where SQLite located the error, when it did.
    #[must_use]
    pub fn sql_offset(&self) -> Option<usize> {
        match self {
            Error::SqliteFailure { offset, .. } => *offset,
            _ => None,
        }
    }

    /// An SQLite failure with a code and a message of our own (no connection involved).
    pub(crate) fn from_code(code: c_int, message: Option<String>) -> Error {
        Error::SqliteFailure { error: ffi::Error::new(code), message, offset: None }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::SqliteFailure { error, message, offset } => {
                match message {
                    Some(m) => f.write_str(m)?,
                    None => write!(f, "{error}")?,
                }
                if let Some(o) = offset {
                    write!(f, " (at offset {o})")?;
                }
                Ok(())
            }
            Error::FromSqlConversionFailure { index, name, value_type, source } => {
                match name {
                    Some(n) => write!(f, "column {index} ({n:?})")?,
                    None => write!(f, "argument {index}")?,
                }
                write!(f, ": cannot convert {value_type} value: {source}")
            }
            Error::ToSqlConversionFailure(e) => write!(f, "cannot convert value for SQLite: {e}"),
            Error::QueryReturnedNoRows => f.write_str("query returned no rows"),
            Error::QueryReturnedMoreThanOneRow => f.write_str("query returned more than one row"),
            Error::ExecuteReturnedResults => f.write_str("execute returned results; use query"),
            Error::InvalidColumnIndex(i) => write!(f, "invalid column index: {i}"),
            Error::InvalidColumnName(n) => write!(f, "invalid column name: {n}"),
            Error::InvalidParameterName(n) => write!(f, "invalid parameter name: {n}"),
            Error::InvalidParameterCount { expected, given } => {
                write!(f, "wrong number of parameters: the statement has {expected}, {given} given")
            }
            Error::MultipleStatement => f.write_str("multiple statements given where one was expected"),
            Error::InvalidQuery => f.write_str("the SQL holds no statement"),
            Error::NulError(e) => e.fmt(f),
            Error::Utf8Error(e) => e.fmt(f),
            Error::InvalidPath(p) => write!(f, "invalid path: {}", p.display()),
            Error::UserFunctionError(e) => e.fmt(f),
            #[cfg(feature = "replication")]
            Error::Replication(e) => e.fmt(f),
        }
    }
}

impl error::Error for Error {
    fn source(&self) -> Option<&(dyn error::Error + 'static)> {
        match self {
            Error::SqliteFailure { error, .. } => Some(error),
            Error::FromSqlConversionFailure { source, .. } => Some(source),
            Error::ToSqlConversionFailure(e) | Error::UserFunctionError(e) => Some(&**e),
            Error::NulError(e) => Some(e),
            Error::Utf8Error(e) => Some(e),
            #[cfg(feature = "replication")]
            Error::Replication(e) => Some(e),
            _ => None,
        }
    }
}

impl From<NulError> for Error {
    fn from(e: NulError) -> Error {
        Error::NulError(e)
    }
}

impl From<Utf8Error> for Error {
    fn from(e: Utf8Error) -> Error {
        Error::Utf8Error(e)
    }
}

/// Turns [`Error::QueryReturnedNoRows`] into `Ok(None)`, for queries whose row is optional.
///
/// ```
/// use edgelite::{Connection, OptionalExtension};
///
/// let conn = Connection::open_in_memory()?;
/// let none: Option<i64> = conn.query_row("SELECT 1 WHERE 0", [], |r| r.get(0)).optional()?;
/// assert_eq!(none, None);
/// let some: Option<i64> = conn.query_row("SELECT 1", [], |r| r.get(0)).optional()?;
/// assert_eq!(some, Some(1));
/// # Ok::<(), edgelite::Error>(())
/// ```
pub trait OptionalExtension<T> {
    /// `Ok(v)` becomes `Ok(Some(v))`, `QueryReturnedNoRows` becomes `Ok(None)`.
    ///
    /// # Errors
    ///
    /// Every other error, unchanged.
    fn optional(self) -> Result<Option<T>, Error>;
}

impl<T> OptionalExtension<T> for Result<T, Error> {
    fn optional(self) -> Result<Option<T>, Error> {
        match self {
            Ok(v) => Ok(Some(v)),
            Err(Error::QueryReturnedNoRows) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn sqlite_failures_expose_codes_and_source() {
        let e = Error::from_code(ffi::SQLITE_CONSTRAINT_UNIQUE, Some("UNIQUE constraint failed".into()));
        assert_eq!(e.sqlite_error_code(), Some(ffi::ErrorCode::ConstraintViolation));
        assert_eq!(e.extended_code(), Some(ffi::SQLITE_CONSTRAINT_UNIQUE));
        assert_eq!(e.to_string(), "UNIQUE constraint failed");
        assert!(e.source().is_some());
        assert_eq!(Error::QueryReturnedNoRows.sqlite_error_code(), None);
    }

    #[test]
    fn conversion_failures_name_the_column() {
        let e = Error::FromSqlConversionFailure {
            index: 2,
            name: Some("age".into()),
            value_type: Type::Text,
            source: FromSqlError::InvalidType,
        };
        assert_eq!(e.to_string(), "column 2 (\"age\"): cannot convert TEXT value: invalid type");
        assert!(e.source().is_some());
    }

    #[test]
    fn optional_passes_other_errors_through() {
        assert!(matches!(Err::<i32, _>(Error::QueryReturnedNoRows).optional(), Ok(None)));
        assert!(matches!(Err::<i32, _>(Error::InvalidQuery).optional(), Err(Error::InvalidQuery)));
    }
}
