//! The statement hook of core patch 0003 (`sqlite3-src/ext/edgelite.h`, PATCHES.md): a
//! per-connection callback at the start and the end of each statement's run, with which the
//! drop-in library's embedded replicas run writes on their primary.

use core::ffi::{c_char, c_int, c_void};

use crate::bindings::{sqlite3, sqlite3_stmt, sqlite3_value};

/// `eEvent` of a [`StepHook`] call before a statement's run starts.
pub const EDGELITE_STEP_BEGIN: c_int = 1;
/// `eEvent` of a [`StepHook`] call when `sqlite3_step()` is about to return (`SQLITE_ROW` only
/// for a statement that writes).
pub const EDGELITE_STEP_END: c_int = 2;

/// `edgelite_step_fn`: `(arg, stmt, event, rc, *n_change, *err) -> rc`. See `edgelite.h`.
pub type StepHook = unsafe extern "C" fn(
    arg: *mut c_void,
    stmt: *mut sqlite3_stmt,
    event: c_int,
    rc: c_int,
    n_change: *mut i64,
    err: *mut *mut c_char,
) -> c_int;

unsafe extern "C" {
    /// Installs (or, with `None`, removes) the statement hook of `db`.
    ///
    /// # Safety
    /// `db` is an open connection; `arg` stays valid for as long as the hook is installed.
    pub fn edgelite_set_step_hook(db: *mut sqlite3, hook: Option<StepHook>, arg: *mut c_void);

    /// The value bound to parameter `i` (1-based) of `stmt`, or null if there is none; valid
    /// until the binding changes.
    ///
    /// # Safety
    /// `stmt` is a valid prepared statement.
    pub fn edgelite_stmt_bound_value(stmt: *mut sqlite3_stmt, i: c_int) -> *mut sqlite3_value;

    /// Nonzero if `stmt` writes a database other than `main` (TEMP or an attached one).
    ///
    /// # Safety
    /// `stmt` is a valid prepared statement.
    pub fn edgelite_stmt_writes_other_schemas(stmt: *mut sqlite3_stmt) -> c_int;

    /// Turns `PRAGMA query_only` on or off without expiring the connection's statements.
    ///
    /// # Safety
    /// `db` is an open connection.
    pub fn edgelite_set_query_only(db: *mut sqlite3, on: c_int);
}
