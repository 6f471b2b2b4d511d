//! `edgelite`: the sqlite3 command-line shell, running on edgelite's core.
//!
//! This is upstream SQLite's own shell (`shell.c`, compiled unmodified), so every dot-command,
//! option and output mode behaves as in `sqlite3`; the difference is the core underneath, which
//! has edgelite's SQL functions on every connection, and opens embedded replicas of an
//! edgelite-server as the drop-in library does (`file:app.db?sync_url=...`).

use std::ffi::{CString, c_char, c_int};
use std::os::unix::ffi::OsStringExt;

// Keep the core linked in (the shell's C calls it, but the linker sees the Rust crate first).
use edgelite_sys as _;

unsafe extern "C" {
    /// Upstream shell.c's `main`, renamed at compile time (see build.rs).
    fn edgelite_shell_main(argc: c_int, argv: *mut *mut c_char) -> c_int;
}

fn main() {
    // As the drop-in libsqlite3.so.0 does when loaded: `file:...?sync_url=...` (or
    // EDGELITE_SYNC_URL) opens an embedded replica.
    sqlite3::install_replication();
    // Arguments are bytes on Unix; a NUL inside one cannot be passed through C's argv.
    let args: Vec<CString> = match std::env::args_os().map(|a| CString::new(a.into_vec())).collect() {
        Ok(args) => args,
        Err(_) => {
            eprintln!("edgelite: an argument contains a NUL byte");
            std::process::exit(1);
        }
    };
    let mut argv: Vec<*mut c_char> = args.iter().map(|a| a.as_ptr().cast_mut()).collect();
    argv.push(std::ptr::null_mut());
    let argc = c_int::try_from(args.len()).unwrap_or(c_int::MAX);
    // SAFETY: argv holds argc pointers to NUL-terminated strings that outlive the call, then a
    // null pointer, as C's main expects. The shell may modify the strings in place (C allows
    // it); they are owned CStrings of exactly that length.
    let rc = unsafe { edgelite_shell_main(argc, argv.as_mut_ptr()) };
    std::process::exit(rc);
}
