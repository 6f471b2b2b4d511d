//! edgelite as a C library: `libsqlite3.so.0` and `libsqlite3.a`.
//!
//! This crate has no API of its own. It links edgelite's core (`edgelite-sys`, which brings
//! the Rust side of edgelite's SQL functions) and exports SQLite's C API with upstream's symbol
//! names and soname, so that any program built against the system libsqlite3 runs on edgelite:
//!
//! ```sh
//! cargo build --release -p edgelite-capi
//! ln -sf libsqlite3.so target/release/libsqlite3.so.0
//! LD_LIBRARY_PATH=target/release python3 -c 'import sqlite3; print(sqlite3.sqlite_version)'
//! ```

use edgelite_sys as ffi;

// The linker only pulls objects out of an archive when something refers to them. Referring to
// the core's entry point from this kept static brings in the whole amalgamation (one object),
// and with it edgelite's C glue and Rust bridge, which the core refers to.
#[used]
static KEEP_CORE: unsafe extern "C" fn() -> core::ffi::c_int = ffi::sqlite3_initialize;

// Makes the link depend on the version script, so that editing it relinks the library.
const _: &str = include_str!("../exports.map");
