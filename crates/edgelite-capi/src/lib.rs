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
//!
//! It adds one thing a program can use without changing its code: a database opened with a
//! `sync_url` URI parameter (or while `EDGELITE_SYNC_URL` is set) is an embedded replica of an
//! `edgelite-server` primary (see `replica.rs`).

use edgelite_sys as ffi;

mod forward;
mod replica;

// Installs the replica open hook when the library is loaded: a plain store into a Rust static
// (no SQLite call), so `sqlite3_config()` before the first open keeps working.
// SAFETY: `.init_array` entries are `extern "C" fn()` run once by the loader before `main` (or
// at dlopen); `install` only sets a `OnceLock`.
#[used]
#[unsafe(link_section = ".init_array")]
static INSTALL_REPLICA_HOOK: extern "C" fn() = install_replica_hook;

extern "C" fn install_replica_hook() {
    install_replication();
}

/// Makes databases opened with a `sync_url` URI parameter (or while `EDGELITE_SYNC_URL` is
/// set) embedded replicas, in a program that links this crate as a Rust library (the shell
/// does); the shared library does it when it is loaded. Calling it again does nothing.
pub fn install_replication() {
    edgelite_sys::set_open_hook(replica::on_open);
}

// The linker only pulls objects out of an archive when something refers to them. Referring to
// the core's entry point from this kept static brings in the whole amalgamation (one object),
// and with it edgelite's C glue and Rust bridge, which the core refers to.
#[used]
static KEEP_CORE: unsafe extern "C" fn() -> core::ffi::c_int = ffi::sqlite3_initialize;

// Makes the link depend on the version script, so that editing it relinks the library.
const _: &str = include_str!("../exports.map");
