//! Benchmarks of edgelite against libSQL and plain Rust, on named datasets.
//!
//! - [`dataset`]: the `minilm-20k` loader and [`dataset::recall_at_k`];
//! - [`measure`]: timing (median of repeats after a warm-up pass), recall and exact top-k;
//! - `src/bin/bruteforce.rs`: exact (brute-force) top-10 search, edgelite SQL vs libSQL's own
//!   engine (through node and the npm `libsql` package, `libsql/bruteforce.js`) vs Rust SIMD
//!   kernels, with recall@10 against the dataset's ground truth:
//!   `cargo run --release -p edgelite-benches --bin bruteforce`;
//! - `src/bin/ann.rs`: the vector index (`libsql_vector_idx`, `vector_top_k`), edgelite vs
//!   libSQL (`libsql/ann.js`) vs brute force: build time two ways, file size, queries/s and
//!   recall@10 at the defaults and over `search_l`; `--rows N` takes a prefix (libSQL builds
//!   slowly): `cargo run --release -p edgelite-benches --bin ann -- --rows 5000`.
//!
//! This crate is a workspace member but not a default member: a plain `cargo build` or
//! `cargo test` at the root skips it, `-p edgelite-benches` or `--workspace` includes it (its
//! tests skip, with a message, when the dataset is not there).
#![warn(missing_docs)]

pub mod dataset;
pub mod measure;
