//! The safe Rust API to edgelite, shaped like [rusqlite](https://docs.rs/rusqlite).
//!
//! ```
//! use edgelite::{params, Connection, OptionalExtension, Result};
//!
//! #[derive(Debug, PartialEq)]
//! struct Person {
//!     id: i64,
//!     name: String,
//!     photo: Option<Vec<u8>>,
//! }
//!
//! fn main() -> Result<()> {
//!     let mut conn = Connection::open_in_memory()?;
//!     conn.execute_batch("CREATE TABLE person(id INTEGER PRIMARY KEY, name TEXT NOT NULL, photo BLOB)")?;
//!
//!     let tx = conn.transaction()?;
//!     tx.execute("INSERT INTO person(name, photo) VALUES (?1, ?2)", params!["Ada", None::<Vec<u8>>])?;
//!     tx.execute("INSERT INTO person(name, photo) VALUES (?1, ?2)", ("Grace", vec![1_u8, 2, 3]))?;
//!     tx.commit()?;
//!
//!     let mut stmt = conn.prepare("SELECT id, name, photo FROM person ORDER BY id")?;
//!     let people: Vec<Person> = stmt
//!         .query_map([], |row| Ok(Person { id: row.get(0)?, name: row.get("name")?, photo: row.get(2)? }))?
//!         .collect::<Result<_>>()?;
//!     assert_eq!(people[1], Person { id: 2, name: "Grace".into(), photo: Some(vec![1, 2, 3]) });
//!
//!     let nobody: Option<String> =
//!         conn.query_row("SELECT name FROM person WHERE id = ?1", [99], |r| r.get(0)).optional()?;
//!     assert_eq!(nobody, None);
//!     Ok(())
//! }
//! ```
//!
//! The main types: [`Connection`], [`Statement`], [`Rows`] and [`Row`], parameters through the
//! sealed [`Params`] trait ([`params!`], [`named_params!`], [`params_from_iter`]), conversions
//! through [`ToSql`] and [`types::FromSql`], [`Transaction`] and [`Savepoint`], and one
//! [`Error`]. Beyond those: user-defined [`functions`], [`hooks`], [`backup`], incremental
//! [`blob`] I/O, and per-connection options and limits ([`config`]).
//!
//! Vectors are first-class values ([`vector`]): `&[f32]` and `Vec<f32>` bind as libSQL's
//! `F32_BLOB` vectors, columns read back into `Vec<f32>`, `[f32; N]` or a borrowed
//! [`vector::F32VectorRef`], and every element type of libSQL has its types, so that
//! `ORDER BY vector_distance_cos(emb, ?1) LIMIT k` is a two-line query.
//!
//! The raw C API is re-exported as [`ffi`] (the `edgelite-sys` crate).
#![warn(missing_docs)]

pub use edgelite_sys as ffi;

pub mod backup;
pub mod blob;
mod cache;
pub mod config;
mod connection;
mod error;
pub mod functions;
pub mod hooks;
mod inner_connection;
mod params;
mod raw_statement;
#[cfg(feature = "replication")]
pub mod replica;
mod row;
mod statement;
pub mod transaction;
pub mod types;
pub mod vector;
#[cfg(feature = "replication")]
pub mod wal;

pub use cache::CachedStatement;
pub use connection::{Connection, OpenFlags};
pub use error::{Error, OptionalExtension};
pub use ffi::ErrorCode;
pub use ffi::VectorCacheBudget;
pub use params::{Params, ParamsFromIter, params_from_iter};
pub use row::{MappedRows, Row, RowIndex, Rows};
pub use statement::Statement;
pub use transaction::{DropBehavior, Savepoint, Transaction, TransactionBehavior};
pub use types::ToSql;

/// This crate's result type, with [`Error`] as the default error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The version of the SQLite core, e.g. `"3.54.1"`.
#[must_use]
pub fn version() -> &'static str {
    // SAFETY: sqlite3_libversion takes no argument and needs no initialisation.
    let p = unsafe { ffi::sqlite3_libversion() };
    // SAFETY: it returns a static NUL-terminated string.
    let v = unsafe { std::ffi::CStr::from_ptr(p) };
    v.to_str().unwrap_or("")
}

/// Bytes of memory SQLite has allocated and not freed, in this whole process (page caches,
/// schemas, statements of every connection): `sqlite3_memory_used()`.
#[must_use]
pub fn memory_used() -> i64 {
    // SAFETY: sqlite3_memory_used takes no argument, is thread-safe, and works before and
    // after sqlite3_initialize.
    unsafe { ffi::sqlite3_memory_used() }
}
