//! edgelite's DiskANN vector index, file-compatible with libSQL's and without SQLite: the
//! bridge in `edgelite-sys` stores node blocks in `<idx>_shadow` through the [`Storage`] trait
//! and calls [`DiskAnn`] from SQLite's insert, delete and `vector_top_k` hooks.
//!
//! ```
//! use edgelite_diskann::{DiskAnn, MemStorage, Metadata};
//! use edgelite_vector::Vector;
//!
//! // CREATE INDEX i ON t(libsql_vector_idx(v, 'metric=l2')) on a F32_BLOB(3) column
//! let (meta, config) = Metadata::create("F32_BLOB(3)", &["metric=l2"])?;
//! assert_eq!(meta.as_bytes().len(), 81); // what goes to libsql_vector_meta_shadow
//! let index = DiskAnn::new(config)?;
//! let mut shadow = MemStorage::new(); // the bridge's storage is the shadow table
//!
//! for (rowid, v) in [(1, [1.0, 2.0, 3.0]), (2, [3.0, 2.0, 1.0]), (3, [1.0, 2.0, 3.5])] {
//!     index.insert(&mut shadow, rowid, Vector::from_f32(&v)?.as_ref())?;
//! }
//! let q = Vector::from_f32(&[1.0, 2.0, 3.1])?;
//! let hits = index.search(&mut shadow, q.as_ref(), 2)?;
//! assert_eq!(hits.iter().map(|h| h.id).collect::<Vec<_>>(), [1, 3]);
//!
//! // delete repairs the graph: no edge to row 1 is left behind
//! assert!(index.delete(&mut shadow, 1)?);
//! assert!(index.check(&mut shadow)?.is_ok());
//! assert_eq!(index.search(&mut shadow, q.as_ref(), 5)?.len(), 2);
//!
//! // errors carry libSQL's texts
//! let bad = Vector::from_f32(&[1.0])?;
//! let e = index.insert(&mut shadow, 9, bad.as_ref()).unwrap_err();
//! assert_eq!(e.to_string(), "vector index(insert): dimensions are different: 1 != 3");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Layout: [`options`] (the `'key=value'` options, defaults and the metadata blob),
//! [`block`] (the node block codec, formats 1-3), [`Storage`] / [`MemStorage`], and the graph
//! algorithms in [`DiskAnn`] (see the [`graph`] module docs for where they differ from libSQL).
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod block;
pub mod graph;
pub mod options;
mod storage;

pub use block::{BlockError, Edge, Layout, Node, NodeMut, NodeRef};
pub use graph::{
    DiskAnn, GraphError, IntegrityReport, Neighbor, Op, OrdF32, RowidBuildHasher, SearchStream, Seeds, batch_size,
};
pub use options::{IndexConfig, Metadata, MetadataError, OptionsError, ParamError, tag};
pub use storage::{BuildCache, Cached, MemError, MemStorage, Storage};
