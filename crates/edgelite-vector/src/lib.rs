//! Vector values for edgelite: libSQL's element types, blob formats and text syntax, and
//! distance kernels. Pure Rust, no SQLite; `unsafe` only in the SIMD kernels.
//!
//! ```
//! use edgelite_vector::{distance, parse_text, Metric, Vector, VectorRef, VectorType};
//!
//! // vector('[1,2,3]') and the blob libSQL stores for it
//! let v = Vector::parse("[1, 2, 3]")?;
//! let blob = v.to_blob();
//! assert_eq!(blob, [0, 0, 0x80, 0x3f, 0, 0, 0, 0x40, 0, 0, 0x40, 0x40]);
//!
//! // read a blob in place (the type is inferred from length and trailing byte)
//! let w = VectorRef::from_blob(&blob)?;
//! assert_eq!(w.to_text(), "[1,2,3]");
//!
//! // vector8('[...]'), then vector_distance_cos with libSQL's arithmetic
//! let q = parse_text(b"[0,1,2,3]", VectorType::F8)?;
//! let d = distance(Metric::Cosine, w, v.as_ref())?;
//! assert_eq!(d, 0.0);
//! assert_eq!(q.as_ref().to_text(), "[0,1,2,3]");
//!
//! // errors carry libSQL's exact messages
//! let e = distance(Metric::Cosine, w, q.as_ref()).unwrap_err();
//! assert_eq!(e.to_string(), "vector_distance: vectors must have the same type: 1 != 4");
//! # Ok::<(), edgelite_vector::Error>(())
//! ```
//!
//! Layout: [`VectorType`] and [`parse_column_type`] (declared column types); [`Vector`] /
//! [`VectorRef`] (owned / borrowed values, [`VectorRef::convert`] between types); blob decoding
//! and encoding ([`VectorRef::from_blob`], [`VectorRef::to_blob`], index data parts); text
//! ([`parse_text`], [`VectorRef::to_text`], [`format_g`]); libSQL-exact distances
//! ([`distance()`], [`concat()`], [`slice()`]); fast SIMD [`kernels`] for the index; and [`sql`],
//! the argument handling of the SQL functions with libSQL's error order.
#![warn(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod blob;
pub mod distance;
mod error;
pub mod kernels;
pub mod sql;
mod text;
mod types;
mod vector;

pub use distance::{Metric, concat, distance, hamming, slice};
pub use error::{Error, Result};
pub use kernels::{PreparedQuery, fast_distance};
pub use text::{MAX_ELEMENT_CHARS, format_g, parse_sqlite_float, parse_text, text_dims_hint};
pub use types::{VectorType, parse_column_type};
pub use vector::{F8Params, Vector, VectorRef};

/// Largest number of dimensions (text, blob and declared column type).
pub const MAX_DIMS: u32 = 65536;

pub use half::{bf16, f16};
