//! The Rust side of `sqlite3-src/ext/edgelite.h`: what the C core calls into.
//!
//! `edgelite_register` runs for every new connection (called by `edgelite_builtin_init`, which
//! the core runs as a built-in extension, like FTS5's) and registers edgelite's SQL functions:
//! libSQL's vector functions (`vector_functions`) and `edgelite_version()`.
//! Every `extern "C"` entry catches unwinding: a panic must never cross into C.

use core::ffi::{c_char, c_int};
use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::bindings::*;

mod build;
mod cache;
pub use cache::{VectorCacheBudget, drop_stale_vector_builds, release_vector_cache, set_vector_cache_budget};
mod keys;
mod memory;
mod slab;
pub use memory::{MemoryBudget, install_memory_budgets, memory_budgets_installed, with_memory_budget};
mod sql;
pub mod step_hook;
mod tally;
pub use tally::ByteBudget;
pub mod temp_quota;
mod txn;
mod values;
mod vector_functions;
mod vector_index;
mod vector_sample;
mod vector_scan;
mod vector_top_k;
mod vtab;
mod zeros;

/// A function that runs on every new connection, after edgelite's SQL functions are registered
/// and before `sqlite3_open*()` returns; an error it returns fails the open with that code.
/// A higher tier sets it (the drop-in library: embedded replicas opened by URI parameters), so
/// that this crate needs no knowledge of it.
///
/// # Safety
/// Implementations get a valid connection that SQLite is still opening (its mutex held).
pub type OpenHook = unsafe fn(*mut sqlite3) -> c_int;

static OPEN_HOOK: std::sync::OnceLock<OpenHook> = std::sync::OnceLock::new();

/// Installs the [`OpenHook`] (once per process); `false` if one was already installed.
pub fn set_open_hook(hook: OpenHook) -> bool {
    OPEN_HOOK.set(hook).is_ok()
}

/// edgelite's version, as `SELECT edgelite_version()` reports it.
const EDGELITE_VERSION: &core::ffi::CStr = c"0.1.0";

/// Entry point named in `edgelite.h`; see the module docs.
///
/// # Safety
/// SQLite calls this with a valid open connection and a valid `pz_err_msg` out-pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn edgelite_register(
    db: *mut sqlite3,
    pz_err_msg: *mut *mut c_char,
    _api: *const sqlite3_api_routines,
) -> c_int {
    let registered = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: `db` is the open connection SQLite passed to this entry point.
        let rc = unsafe { register_functions(db) };
        match OPEN_HOOK.get() {
            // SAFETY: `db` is the open connection SQLite passed to this entry point.
            Some(hook) if rc == SQLITE_OK => unsafe { hook(db) },
            _ => rc,
        }
    }));
    match registered {
        Ok(SQLITE_OK) => SQLITE_OK,
        Ok(rc) => rc,
        Err(_) => {
            if !pz_err_msg.is_null() {
                // SAFETY: a plain literal format; sqlite3_mprintf returns an sqlite3_malloc'd
                // copy (or null on OOM, which SQLite accepts as "no message").
                let message = unsafe { sqlite3_mprintf(c"edgelite: registering SQL functions panicked".as_ptr()) };
                // SAFETY: `pz_err_msg` is SQLite's non-null out-pointer for such a message.
                unsafe { *pz_err_msg = message };
            }
            SQLITE_INTERNAL
        }
    }
}

/// `edgelite_version()`.
const VERSION_FUNCTION: vector_functions::ScalarFunction = vector_functions::ScalarFunction {
    name: c"edgelite_version",
    n_args: 0,
    flags: vector_functions::PURE,
    user_data: 0,
    x_func: edgelite_version,
};

/// Registers every edgelite SQL function, `vector_top_k` and `vector_scan` on `db`.
///
/// # Safety
/// `db` must be a valid open connection.
unsafe fn register_functions(db: *mut sqlite3) -> c_int {
    // SAFETY: `db` is valid (caller).
    let rc = unsafe { vector_top_k::register(db) };
    if rc != SQLITE_OK {
        return rc;
    }
    // SAFETY: `db` is valid (caller).
    let rc = unsafe { vector_scan::register(db) };
    if rc != SQLITE_OK {
        return rc;
    }
    // SAFETY: `db` is valid (caller).
    let rc = unsafe { vector_sample::register(db) };
    if rc != SQLITE_OK {
        return rc;
    }
    // SAFETY: `db` is valid (caller).
    let rc = unsafe { txn::register(db) };
    if rc != SQLITE_OK {
        return rc;
    }
    for f in core::iter::once(&VERSION_FUNCTION).chain(vector_functions::FUNCTIONS) {
        // SAFETY: `db` is valid (caller); the name is a static C string, the callback has the
        // signature SQLite calls scalar functions with, and the user-data pointer is a small
        // integer that SQLite only hands back.
        let rc = unsafe {
            sqlite3_create_function_v2(
                db,
                f.name.as_ptr(),
                f.n_args,
                f.flags,
                f.user_data as *mut core::ffi::c_void,
                Some(f.x_func),
                None,
                None,
                None,
            )
        };
        if rc != SQLITE_OK {
            return rc;
        }
    }
    SQLITE_OK
}

unsafe extern "C" fn edgelite_version(ctx: *mut sqlite3_context, _argc: c_int, _argv: *mut *mut sqlite3_value) {
    // SAFETY: `ctx` is the live function context SQLite passed; the text is static, so
    // SQLITE_STATIC (no destructor) is correct. Nothing here can panic.
    unsafe { sqlite3_result_text(ctx, EDGELITE_VERSION.as_ptr(), -1, None) };
}
