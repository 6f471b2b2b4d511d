//! `libsqlite3-sys`, served by edgelite: every item of [`edgelite_sys`] under the crate name
//! that rusqlite and other SQLite crates depend on. See the workspace README for the
//! `[patch.crates-io]` line.
pub use edgelite_sys::*;
