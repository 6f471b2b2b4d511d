//! Raw bindings to edgelite's SQLite core, and the core itself.
//!
//! This crate compiles SQLite 3.54 (pristine upstream plus edgelite's listed core patches, see
//! `PATCHES.md`) with the options in `sqlite3-src/compile-options.txt`, and exposes the C API
//! under the same item names as [`libsqlite3-sys`](https://docs.rs/libsqlite3-sys): code written
//! against libsqlite3-sys compiles unchanged. Every connection opened in a process that links
//! this crate has edgelite's SQL functions, with no extra call.
//!
//! ```
//! use edgelite_sys as ffi;
//! use std::ffi::CStr;
//!
//! // SAFETY: sqlite3_libversion returns a static NUL-terminated string.
//! let version = unsafe { CStr::from_ptr(ffi::sqlite3_libversion()) };
//! assert_eq!(version, ffi::SQLITE_VERSION);
//! ```
//!
//! Most programs want the safe `edgelite` crate, or rusqlite pointed at this crate through the
//! `libsqlite3-sys` shim (one `[patch.crates-io]` line, see the README).
#![allow(non_camel_case_types, non_snake_case, non_upper_case_globals)]

mod bridge;
pub use bridge::step_hook::{
    EDGELITE_STEP_BEGIN, EDGELITE_STEP_END, StepHook, edgelite_set_query_only, edgelite_set_step_hook,
    edgelite_stmt_bound_value, edgelite_stmt_writes_other_schemas,
};
pub use bridge::temp_quota::{TEMP_QUOTA_VFS, TempFileBudget, register_temp_quota_vfs, with_temp_file_budget};
pub use bridge::{ByteBudget, MemoryBudget, install_memory_budgets, memory_budgets_installed, with_memory_budget};
pub use bridge::{
    OpenHook, VectorCacheBudget, drop_stale_vector_builds, release_vector_cache, set_open_hook, set_vector_cache_budget,
};
mod error;

pub use error::*;

#[allow(
    dead_code,
    missing_docs,
    unused_qualifications,
    clippy::all,
    clippy::missing_safety_doc,
    clippy::undocumented_unsafe_blocks
)]
mod bindings {
    #[cfg(not(feature = "buildtime_bindgen"))]
    include!("../bindings/bindgen.rs");
    #[cfg(feature = "buildtime_bindgen")]
    include!(concat!(env!("OUT_DIR"), "/bindgen.rs"));
}
pub use bindings::*;

/// The destructor argument that tells SQLite a value is constant and need not be copied.
#[must_use]
pub fn SQLITE_STATIC() -> sqlite3_destructor_type {
    None
}

/// The destructor argument that tells SQLite to copy a value before the call returns.
#[must_use]
pub fn SQLITE_TRANSIENT() -> sqlite3_destructor_type {
    // SAFETY: SQLite compares this pointer against the sentinel ((sqlite3_destructor_type)-1)
    // and never calls it; the transmute only produces that sentinel value.
    Some(unsafe { core::mem::transmute::<isize, unsafe extern "C" fn(*mut core::ffi::c_void)>(-1_isize) })
}

impl Default for sqlite3_vtab {
    fn default() -> Self {
        // SAFETY: sqlite3_vtab is a C struct of a pointer, an int and a pointer; all-zero is
        // the state SQLite expects before xCreate fills it.
        unsafe { core::mem::zeroed() }
    }
}

impl Default for sqlite3_vtab_cursor {
    fn default() -> Self {
        // SAFETY: sqlite3_vtab_cursor holds one pointer, which SQLite sets; zero is valid.
        unsafe { core::mem::zeroed() }
    }
}
