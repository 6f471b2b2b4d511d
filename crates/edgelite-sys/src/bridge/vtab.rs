//! What edgelite's eponymous table-valued functions (`vector_top_k`, `vector_scan`) share: the
//! table object, connecting with the schema given as the module's client data, the panic guard
//! and the error message.

use core::ffi::{c_char, c_int, c_void};
use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::bindings::*;

/// The table object; `base` first, as SQLite's `sqlite3_vtab` subclasses must.
#[repr(C)]
pub(crate) struct Table {
    pub(crate) base: sqlite3_vtab,
    pub(crate) db: *mut sqlite3,
}

/// Runs a callback body, turning a panic into SQLITE_INTERNAL.
pub(crate) fn guarded(body: impl FnOnce() -> c_int) -> c_int {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or(SQLITE_INTERNAL)
}

/// Sets the table's error message (replacing any earlier one).
///
/// # Safety
/// `vtab` is a live [`Table`].
pub(crate) unsafe fn set_error(vtab: *mut sqlite3_vtab, message: &str) {
    let len = c_int::try_from(message.len()).unwrap_or(c_int::MAX);
    // SAFETY: "%.*s" with an explicit length reads exactly `len` bytes of `message`.
    let copy = unsafe { sqlite3_mprintf(c"%.*s".as_ptr(), len, message.as_ptr().cast::<c_char>()) };
    // SAFETY: `vtab` is a live table (caller), not otherwise borrowed now.
    let table = unsafe { &mut *vtab };
    // SAFETY: zErrMsg is null or an earlier sqlite3_mprintf result, which we own.
    unsafe { sqlite3_free(table.zErrMsg.cast::<c_void>()) };
    table.zErrMsg = copy;
}

/// Fails the running callback with `error`: sets the table's message and returns the code that
/// the callback returns to SQLite (so a busy shadow table reaches the caller as `SQLITE_BUSY`).
///
/// # Safety
/// `vtab` is a live [`Table`].
pub(crate) unsafe fn fail(vtab: *mut sqlite3_vtab, error: &super::sql::SqlError) -> c_int {
    // SAFETY: `vtab` is live (caller).
    unsafe { set_error(vtab, &error.message) };
    if error.code == SQLITE_OK { SQLITE_ERROR } else { error.code }
}

/// `xConnect`: declares the schema that the module was registered with as its client data (a
/// static C string) and makes a [`Table`].
pub(crate) unsafe extern "C" fn x_connect(
    db: *mut sqlite3,
    aux: *mut c_void,
    _argc: c_int,
    _argv: *const *const c_char,
    pp_vtab: *mut *mut sqlite3_vtab,
    _err: *mut *mut c_char,
) -> c_int {
    guarded(|| {
        // SAFETY: the client data is a static schema string (every register() passes one).
        let rc = unsafe { sqlite3_declare_vtab(db, aux.cast::<c_char>()) };
        if rc != SQLITE_OK {
            return rc;
        }
        // SAFETY: a zeroed sqlite3_vtab is what SQLite expects before it fills the fields.
        let table = Box::new(Table { base: unsafe { core::mem::zeroed() }, db });
        // SAFETY: SQLite's out-pointer; ownership passes to SQLite until x_disconnect, which
        // rebuilds the Box.
        unsafe { *pp_vtab = Box::into_raw(table).cast::<sqlite3_vtab>() };
        SQLITE_OK
    })
}

/// `xDisconnect` / `xDestroy` of a [`Table`].
pub(crate) unsafe extern "C" fn x_disconnect(vtab: *mut sqlite3_vtab) -> c_int {
    guarded(|| {
        // SAFETY: `vtab` came from Box::into_raw in x_connect and SQLite disconnects it once.
        let table = unsafe { Box::from_raw(vtab.cast::<Table>()) };
        // SAFETY: zErrMsg is null or from sqlite3_mprintf.
        unsafe { sqlite3_free(table.base.zErrMsg.cast::<c_void>()) };
        SQLITE_OK
    })
}

/// The cursor methods of a read-only eponymous table (see [`eponymous_read_only`]).
pub(crate) struct ReadOnlyMethods {
    pub best_index: unsafe extern "C" fn(*mut sqlite3_vtab, *mut sqlite3_index_info) -> c_int,
    pub open: unsafe extern "C" fn(*mut sqlite3_vtab, *mut *mut sqlite3_vtab_cursor) -> c_int,
    pub close: unsafe extern "C" fn(*mut sqlite3_vtab_cursor) -> c_int,
    pub filter:
        unsafe extern "C" fn(*mut sqlite3_vtab_cursor, c_int, *const c_char, c_int, *mut *mut sqlite3_value) -> c_int,
    pub next: unsafe extern "C" fn(*mut sqlite3_vtab_cursor) -> c_int,
    pub eof: unsafe extern "C" fn(*mut sqlite3_vtab_cursor) -> c_int,
    pub column: unsafe extern "C" fn(*mut sqlite3_vtab_cursor, *mut sqlite3_context, c_int) -> c_int,
    pub rowid: unsafe extern "C" fn(*mut sqlite3_vtab_cursor, *mut sqlite3_int64) -> c_int,
}

/// A read-only, eponymous-only table module (no xCreate: it exists in every schema without
/// CREATE VIRTUAL TABLE, as the table-valued functions do), connected through [`x_connect`].
pub(crate) const fn eponymous_read_only(m: ReadOnlyMethods) -> sqlite3_module {
    sqlite3_module {
        iVersion: 2,
        xCreate: None,
        xConnect: Some(x_connect),
        xBestIndex: Some(m.best_index),
        xDisconnect: Some(x_disconnect),
        xDestroy: Some(x_disconnect),
        xOpen: Some(m.open),
        xClose: Some(m.close),
        xFilter: Some(m.filter),
        xNext: Some(m.next),
        xEof: Some(m.eof),
        xColumn: Some(m.column),
        xRowid: Some(m.rowid),
        xUpdate: None,
        xBegin: None,
        xSync: None,
        xCommit: None,
        xRollback: None,
        xFindFunction: None,
        xRename: None,
        xSavepoint: None,
        xRelease: None,
        xRollbackTo: None,
        xShadowName: None,
        xIntegrity: None,
    }
}

/// Registers `module` on `db` under `name`, with `schema` (its CREATE TABLE statement) as the
/// client data that [`x_connect`] declares.
///
/// # Safety
/// `db` is a valid open connection.
pub(crate) unsafe fn register(
    db: *mut sqlite3,
    name: &'static core::ffi::CStr,
    module: &'static sqlite3_module,
    schema: &'static core::ffi::CStr,
) -> c_int {
    // SAFETY: `db` is valid (caller); the module, name and schema are statics that outlive
    // every connection, and x_connect only reads the client data back as a `&'static CStr`.
    unsafe { sqlite3_create_module_v2(db, name.as_ptr(), module, schema.as_ptr().cast_mut().cast::<c_void>(), None) }
}
