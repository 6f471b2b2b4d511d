//! Conversions between Rust values and SQLite values.
//!
//! SQLite stores five kinds of value ([`Type`]). A value read from a row or a function argument
//! is a borrowed [`ValueRef`]; [`Value`] is its owned form. [`FromSql`] turns a `ValueRef` into a
//! Rust type and [`ToSql`] turns a Rust value into something SQLite can bind.
//!
//! ```
//! use edgelite::Connection;
//! use edgelite::types::{Value, ValueRef};
//!
//! let conn = Connection::open_in_memory()?;
//! let v: Value = conn.query_row("SELECT x'0102'", [], |row| row.get(0))?;
//! assert_eq!(v, Value::Blob(vec![1, 2]));
//! let kinds: Vec<String> = conn
//!     .prepare("SELECT 1, 2.5, 'x', NULL")?
//!     .query_row([], |row| (0..4).map(|i| Ok(row.get_ref(i)?.data_type().to_string())).collect())?;
//! assert_eq!(kinds, ["INTEGER", "REAL", "TEXT", "NULL"]);
//! # let _ = ValueRef::Null;
//! # Ok::<(), edgelite::Error>(())
//! ```

mod from_sql;
mod to_sql;
mod value;
mod value_ref;

use std::fmt;

pub use from_sql::{FromSql, FromSqlError, FromSqlResult};
pub use to_sql::{Null, ToSql, ToSqlOutput, ZeroBlob};
pub use value::Value;
pub use value_ref::ValueRef;

/// The storage class of an SQLite value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Type {
    /// `NULL`.
    Null,
    /// A 64-bit signed integer.
    Integer,
    /// A 64-bit IEEE floating point number.
    Real,
    /// A text string (UTF-8 as SQLite hands it to this crate).
    Text,
    /// A blob of bytes.
    Blob,
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Type::Null => "NULL",
            Type::Integer => "INTEGER",
            Type::Real => "REAL",
            Type::Text => "TEXT",
            Type::Blob => "BLOB",
        })
    }
}
