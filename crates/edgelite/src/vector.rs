//! Vector values as first-class SQL types — **reserved, not implemented yet**.
//!
//! The vector types will come from the `edgelite-vector` crate (its `Vector` / `VectorRef`,
//! owned and borrowed, per element type of libSQL: f64, f32, f16, bf16, f8, 1-bit), each
//! implementing [`ToSql`](crate::ToSql) and [`FromSql`](crate::types::FromSql) over libSQL's blob
//! formats. Decoding failures will use the existing
//! [`FromSqlError`](crate::types::FromSqlError) variants: `InvalidBlobSize` when a blob's length
//! does not match the expected dimension and element type, and `Other` (boxing the
//! `edgelite-vector` error) for a wrong element type or a malformed encoding.
