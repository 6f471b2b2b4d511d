//! Embedded replicas with no change to the program: a database opened as
//! `file:app.db?sync_url=http%3A%2F%2FHOST%3APORT[&auth_token=T][&sync_interval=S]`, or as any
//! path while `EDGELITE_SYNC_URL` (and `EDGELITE_AUTH_TOKEN`, `EDGELITE_SYNC_INTERVAL`) is set,
//! is an [`edgelite::replica`] of that primary:
//!
//! - the open bootstraps a new (or empty) file from the primary and syncs before it returns;
//! - reads are local; a background thread syncs every `sync_interval` seconds (5 by default,
//!   0 for never) for as long as the process runs;
//! - `SELECT edgelite_sync()` syncs now and returns the number of frames it applied;
//! - writes run on the primary, and the replica syncs before they return, so the program's
//!   next read sees them (`forward.rs`: core patch 0003's statement hook); the local file
//!   only ever holds the primary's commits (`PRAGMA query_only` is on outside the local mirror
//!   of a transaction open on the primary).
//!
//! A failed open (primary out of reach, refused token, a file that is no replica) fails
//! `sqlite3_open*()` with the matching result code (`SQLITE_CANTOPEN`, `SQLITE_AUTH`,
//! `SQLITE_NOTADB`, ...), and the reason is written to stderr and to SQLite's error log, since
//! a failed open cannot carry a message of its own.

use std::cell::Cell;
use std::collections::HashMap;
use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use edgelite::replica::{Builder, Replica};

use crate::forward::{Conn, commit_hook, step_hook};
use edgelite_sys as ffi;

/// The default background sync period, in seconds.
const DEFAULT_SYNC_INTERVAL: f64 = 5.0;

thread_local! {
    /// Set while this thread opens a replica: the replica's own connections are not replicas.
    static OPENING: Cell<bool> = const { Cell::new(false) };
}

/// One replica per file and process, shared by every connection to it.
fn replicas() -> &'static Mutex<HashMap<PathBuf, Arc<Replica>>> {
    static REPLICAS: OnceLock<Mutex<HashMap<PathBuf, Arc<Replica>>>> = OnceLock::new();
    REPLICAS.get_or_init(Mutex::default)
}

/// A URI parameter of the main database's file name, if present.
///
/// # Safety
/// `file` is a file name SQLite returned for an open database.
unsafe fn uri_parameter(file: *const c_char, name: &CStr) -> Option<String> {
    // SAFETY: `file` is SQLite's database file name (caller); `name` is NUL-terminated.
    let v = unsafe { ffi::sqlite3_uri_parameter(file, name.as_ptr()) };
    if v.is_null() {
        return None;
    }
    // SAFETY: a non-null result is a NUL-terminated string inside `file`.
    Some(unsafe { CStr::from_ptr(v) }.to_string_lossy().into_owned())
}

fn setting(uri: Option<String>, env: &str) -> Option<String> {
    uri.or_else(|| std::env::var(env).ok()).filter(|s| !s.is_empty())
}

fn report(path: &str, message: &str) {
    eprintln!("edgelite: embedded replica {path}: {message}");
    if let Ok(m) = CString::new(format!("embedded replica {path}: {message}")) {
        // SAFETY: a "%s" format with one NUL-terminated string argument.
        unsafe { ffi::sqlite3_log(ffi::SQLITE_CANTOPEN, c"%s".as_ptr(), m.as_ptr()) };
    }
}

/// The open hook ([`edgelite_sys::OpenHook`]).
///
/// # Safety
/// `db` is a connection SQLite is opening.
pub(crate) unsafe fn on_open(db: *mut ffi::sqlite3) -> c_int {
    if OPENING.get() {
        return ffi::SQLITE_OK;
    }
    // SAFETY: `db` is a valid connection (caller).
    let r = catch_unwind(AssertUnwindSafe(|| unsafe { open_replica(db) }));
    r.unwrap_or(ffi::SQLITE_INTERNAL)
}

/// # Safety
/// `db` is a connection SQLite is opening.
unsafe fn open_replica(db: *mut ffi::sqlite3) -> c_int {
    // SAFETY: `db` is valid (caller); "main" always exists.
    let file = unsafe { ffi::sqlite3_db_filename(db, c"main".as_ptr()) };
    // SAFETY: a non-null file name is NUL-terminated; "" is a temporary or in-memory database.
    if file.is_null() || unsafe { *file } == 0 {
        return ffi::SQLITE_OK;
    }
    // SAFETY: `file` is the main database's file name.
    let url = setting(unsafe { uri_parameter(file, c"sync_url") }, "EDGELITE_SYNC_URL");
    let Some(url) = url else {
        return ffi::SQLITE_OK;
    };
    // SAFETY: as above.
    let token = setting(unsafe { uri_parameter(file, c"auth_token") }, "EDGELITE_AUTH_TOKEN").unwrap_or_default();
    // SAFETY: as above.
    let interval = setting(unsafe { uri_parameter(file, c"sync_interval") }, "EDGELITE_SYNC_INTERVAL");
    // SAFETY: `file` is NUL-terminated.
    let path = unsafe { CStr::from_ptr(file) }.to_string_lossy().into_owned();
    let interval = match interval.map(|s| s.parse::<f64>()) {
        None => DEFAULT_SYNC_INTERVAL,
        Some(Ok(s)) if s.is_finite() && s >= 0.0 => s,
        Some(_) => {
            report(&path, "sync_interval must be a number of seconds (0: no background sync)");
            return ffi::SQLITE_MISUSE;
        }
    };
    OPENING.set(true);
    let opened = (|| -> edgelite::Result<Arc<Replica>> {
        let mut all = replicas().lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let replica = match all.get(&PathBuf::from(&path)) {
            Some(r) => Arc::clone(r),
            None => {
                let mut b = Builder::new_remote_replica(&path, &url, &token);
                if interval > 0.0 {
                    b = b.sync_interval(Duration::from_secs_f64(interval));
                }
                let r = Arc::new(b.build()?);
                all.insert(PathBuf::from(&path), Arc::clone(&r));
                r
            }
        };
        drop(all);
        replica.sync()?;
        Ok(replica)
    })();
    OPENING.set(false);
    let replica = match opened {
        Ok(r) => r,
        Err(e) => {
            report(&path, &e.to_string());
            return match &e {
                edgelite::Error::Replication(r) => r.sqlite_code(),
                other => other.extended_code().unwrap_or(ffi::SQLITE_CANTOPEN),
            };
        }
    };
    // SAFETY: `db` is valid; the SQL is a NUL-terminated literal; no callback.
    let rc = unsafe {
        ffi::sqlite3_exec(db, c"PRAGMA query_only=ON".as_ptr(), None, std::ptr::null_mut(), std::ptr::null_mut())
    };
    if rc != ffi::SQLITE_OK {
        return rc;
    }
    let data = Box::into_raw(Box::new(Conn::new(replica))).cast::<c_void>();
    // The Conn belongs to the connection (client data, freed when it closes), not to the
    // `edgelite_sync` function, which a program may replace or delete.
    // SAFETY: `db` is valid; the name is NUL-terminated; `data` is a leaked Box that `drop_conn`
    // frees exactly once (SQLite calls the destructor also when it cannot store the data).
    let rc = unsafe { ffi::sqlite3_set_clientdata(db, CLIENT_DATA.as_ptr(), data, Some(drop_conn)) };
    if rc != ffi::SQLITE_OK {
        return rc;
    }
    // SAFETY: `db` is valid; `data` lives until the connection closes (above), after its last
    // call of this function; no destructor: the client data owns it.
    let rc = unsafe {
        ffi::sqlite3_create_function_v2(
            db,
            c"edgelite_sync".as_ptr(),
            0,
            ffi::SQLITE_UTF8,
            data,
            Some(edgelite_sync),
            None,
            None,
            None,
        )
    };
    if rc == ffi::SQLITE_OK {
        // SAFETY: `db` is valid; `data` lives until the connection closes (above), after its
        // last statement has run and its last commit.
        unsafe { ffi::edgelite_set_step_hook(db, Some(step_hook), data) };
        // SAFETY: as above (the previous commit hook, none on a connection being opened, is
        // returned and not needed).
        unsafe { ffi::sqlite3_commit_hook(db, Some(commit_hook), data) };
    }
    rc
}

/// The name of a replica connection's client data (`sqlite3_set_clientdata`): its [`Conn`].
const CLIENT_DATA: &CStr = c"edgelite_replica";

unsafe extern "C" fn drop_conn(p: *mut c_void) {
    // SAFETY: `p` is the Box leaked in `open_replica`, freed only here (once, when the
    // connection closes).
    let _ = catch_unwind(AssertUnwindSafe(|| drop(unsafe { Box::from_raw(p.cast::<Conn>()) })));
}

/// `edgelite_sync()`: syncs now; the number of frames applied.
unsafe extern "C" fn edgelite_sync(ctx: *mut ffi::sqlite3_context, _argc: c_int, _argv: *mut *mut ffi::sqlite3_value) {
    let r = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: `ctx` is the call's context.
        let data = unsafe { ffi::sqlite3_user_data(ctx) }.cast::<Conn>();
        // SAFETY: the user data is the connection's `Conn`, alive until the connection closes
        // (after this call).
        let conn = unsafe { &*data };
        conn.replica.sync()
    }));
    match r {
        Ok(Ok(done)) => {
            // SAFETY: `ctx` is the call's context.
            unsafe { ffi::sqlite3_result_int64(ctx, i64::try_from(done.frames_synced).unwrap_or(i64::MAX)) };
        }
        Ok(Err(e)) => {
            let code = match &e {
                edgelite::Error::Replication(r) => r.sqlite_code(),
                other => other.extended_code().unwrap_or(ffi::SQLITE_ERROR),
            };
            let msg = CString::new(format!("edgelite_sync: {e}")).unwrap_or_default();
            // SAFETY: `ctx` is the call's context; SQLite copies the message (length -1: to NUL).
            unsafe { ffi::sqlite3_result_error(ctx, msg.as_ptr(), -1) };
            // SAFETY: as above.
            unsafe { ffi::sqlite3_result_error_code(ctx, code) };
        }
        Err(_) => {
            // SAFETY: `ctx` is the call's context.
            unsafe { ffi::sqlite3_result_error(ctx, c"edgelite_sync panicked".as_ptr(), -1) };
            // SAFETY: as above.
            unsafe { ffi::sqlite3_result_error_code(ctx, ffi::SQLITE_INTERNAL) };
        }
    }
}
