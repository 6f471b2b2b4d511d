//! The few SQLite value and result calls the SQL functions need, each wrapped once so that the
//! function bodies are safe Rust.

use core::ffi::{c_char, c_int};
use edgelite_vector::sql::Arg;

use crate::bindings::*;

/// Reads one argument of a scalar function.
///
/// # Safety
/// `value` is an argument SQLite passed to the running function, and the returned borrow must
/// not outlive that call (SQLite owns the bytes until the function returns).
pub(crate) unsafe fn arg<'a>(value: *mut sqlite3_value) -> Arg<'a> {
    // SAFETY: `value` is a live protected argument (caller).
    let kind = unsafe { sqlite3_value_type(value) };
    match kind {
        SQLITE_TEXT => {
            // SAFETY: as above; value_text before value_bytes, as SQLite documents, so the length
            // is that of the UTF-8 text returned.
            let text = unsafe { sqlite3_value_text(value) };
            // SAFETY: as above.
            let len = unsafe { sqlite3_value_bytes(value) };
            // SAFETY: SQLite guarantees `len` readable bytes at `text` until the call returns.
            Arg::Text(unsafe { bytes(text, len) })
        }
        SQLITE_BLOB => {
            // SAFETY: as above; value_blob before value_bytes.
            let blob = unsafe { sqlite3_value_blob(value) }.cast::<u8>();
            // SAFETY: as above.
            let len = unsafe { sqlite3_value_bytes(value) };
            // SAFETY: `len` readable bytes at `blob` (null only when len is 0).
            Arg::Blob(unsafe { bytes(blob, len) })
        }
        SQLITE_INTEGER => Arg::Integer,
        SQLITE_FLOAT => Arg::Float,
        _ => Arg::Null,
    }
}

/// An argument as a row key of a keyed vector index (`keys.rs`), copied with its type.
///
/// # Safety
/// As [`arg`].
pub(crate) unsafe fn key_value(value: *mut sqlite3_value) -> super::keys::Key {
    use super::keys::Key;
    // SAFETY: `value` is a live protected argument (caller).
    match unsafe { sqlite3_value_type(value) } {
        // SAFETY: as above.
        SQLITE_INTEGER => Key::Integer(unsafe { sqlite3_value_int64(value) }),
        // SAFETY: as above.
        SQLITE_FLOAT => Key::Real(unsafe { sqlite3_value_double(value) }),
        // SAFETY: as above; the bytes are copied before the call returns.
        _ => match unsafe { arg(value) } {
            Arg::Text(t) => Key::Text(t.to_vec()),
            Arg::Blob(b) => Key::Blob(b.to_vec()),
            _ => Key::Null,
        },
    }
}

/// The value of an INTEGER argument; `None` for any other type.
///
/// # Safety
/// As [`arg`].
pub(crate) unsafe fn int_value(value: *mut sqlite3_value) -> Option<i64> {
    // SAFETY: `value` is a live protected argument (caller).
    match unsafe { int_arg(value) } {
        (true, v) => Some(v),
        _ => None,
    }
}

/// Reads an INTEGER argument (SQLite's conversion rules apply to other types).
///
/// # Safety
/// As [`arg`].
pub(crate) unsafe fn int_arg(value: *mut sqlite3_value) -> (bool, i64) {
    // SAFETY: `value` is a live protected argument (caller).
    let is_int = unsafe { sqlite3_value_type(value) } == SQLITE_INTEGER;
    // SAFETY: as above.
    (is_int, unsafe { sqlite3_value_int64(value) })
}

/// # Safety
/// `ptr` points to `len` readable bytes that outlive `'a`, or `len` is 0.
unsafe fn bytes<'a>(ptr: *const u8, len: c_int) -> &'a [u8] {
    let len = usize::try_from(len).unwrap_or(0);
    if ptr.is_null() || len == 0 {
        return &[];
    }
    // SAFETY: non-null with `len` readable bytes for 'a (caller).
    unsafe { core::slice::from_raw_parts(ptr, len) }
}

/// The connection of the running SQL function call `ctx`.
///
/// # Safety
/// `ctx` is the context SQLite passed to the running callback.
pub(crate) unsafe fn context_db(ctx: *mut sqlite3_context) -> super::sql::Db {
    // SAFETY: the running call's context (caller).
    let handle = unsafe { sqlite3_context_db_handle(ctx) };
    // SAFETY: the calling statement's connection outlives the call.
    unsafe { super::sql::Db::new(handle) }
}

/// The context of a running SQL function call, through which it sets its result.
///
/// Built only by [`Context::new`] inside an `xFunc` callback, and never kept past it, so every
/// method may use the pointer.
pub(crate) struct Context(*mut sqlite3_context);

impl Context {
    /// # Safety
    /// `ctx` is the context SQLite passed to the running callback; the value is used only
    /// during that call.
    pub(crate) unsafe fn new(ctx: *mut sqlite3_context) -> Context {
        Context(ctx)
    }

    /// The user-data pointer the function was registered with, as an integer.
    pub(crate) fn user_data(&self) -> usize {
        // SAFETY: a live context (type invariant).
        unsafe { sqlite3_user_data(self.0) as usize }
    }

    /// A BLOB result (zero-length blobs stay blobs, not NULL).
    pub(crate) fn blob(&self, blob: &[u8]) {
        // A dangling but non-null pointer for an empty blob: SQLite reads no byte of it, and a
        // null pointer would make the result NULL.
        let ptr =
            if blob.is_empty() { core::ptr::NonNull::<u8>::dangling().as_ptr() } else { blob.as_ptr().cast_mut() };
        // SAFETY: a live context (type invariant); SQLITE_TRANSIENT makes SQLite copy the
        // bytes before returning.
        unsafe { sqlite3_result_blob64(self.0, ptr.cast(), blob.len() as u64, crate::SQLITE_TRANSIENT()) };
    }

    /// A UTF-8 TEXT result.
    pub(crate) fn text(&self, text: &str) {
        // SAFETY: a live context (type invariant); SQLITE_TRANSIENT copies, and the explicit
        // length means no NUL terminator is needed.
        unsafe {
            sqlite3_result_text64(
                self.0,
                text.as_ptr().cast::<c_char>(),
                text.len() as u64,
                crate::SQLITE_TRANSIENT(),
                SQLITE_UTF8 as u8,
            )
        };
    }

    /// An INTEGER result.
    pub(crate) fn int(&self, value: i64) {
        // SAFETY: a live context (type invariant).
        unsafe { sqlite3_result_int64(self.0, value) };
    }

    /// A row key of a keyed vector index as the result, with its own type.
    pub(crate) fn key(&self, key: &super::keys::Key) {
        use super::keys::Key;
        match key {
            // SAFETY: a live context (type invariant).
            Key::Null => unsafe { sqlite3_result_null(self.0) },
            Key::Integer(v) => self.int(*v),
            // SAFETY: a live context (type invariant).
            Key::Real(v) => unsafe { sqlite3_result_double(self.0, *v) },
            Key::Blob(b) => self.blob(b),
            Key::Text(t) => {
                // SAFETY: a live context; SQLITE_TRANSIENT copies the `t.len()` bytes.
                unsafe {
                    sqlite3_result_text64(
                        self.0,
                        t.as_ptr().cast::<c_char>(),
                        t.len() as u64,
                        crate::SQLITE_TRANSIENT(),
                        SQLITE_UTF8 as u8,
                    )
                };
            }
        }
    }

    /// A REAL result, or NULL for `None`.
    pub(crate) fn double(&self, value: Option<f64>) {
        match value {
            // SAFETY: a live context (type invariant).
            Some(v) => unsafe { sqlite3_result_double(self.0, v) },
            None => self.null(),
        }
    }

    /// A NULL result.
    pub(crate) fn null(&self) {
        // SAFETY: a live context (type invariant).
        unsafe { sqlite3_result_null(self.0) }
    }

    /// Fails the call with `message` (SQLITE_ERROR), as `sqlite3_result_error` does.
    pub(crate) fn error(&self, message: &str) {
        let len = c_int::try_from(message.len()).unwrap_or(c_int::MAX);
        // SAFETY: a live context (type invariant); SQLite copies `len` bytes of the message.
        unsafe { sqlite3_result_error(self.0, message.as_ptr().cast::<c_char>(), len) };
    }

    /// Fails the call with `error`'s message and result code: the calling statement then fails
    /// with that code (`SQLITE_BUSY`, `SQLITE_FULL`...), not a generic `SQLITE_ERROR`.
    pub(crate) fn fail(&self, error: &super::sql::SqlError) {
        if error.code == SQLITE_NOMEM {
            // SAFETY: a live context (type invariant).
            unsafe { sqlite3_result_error_nomem(self.0) };
            return;
        }
        self.error(&error.message);
        if error.code != SQLITE_ERROR && error.code != SQLITE_OK {
            // SAFETY: a live context; called after sqlite3_result_error, which set SQLITE_ERROR.
            unsafe { sqlite3_result_error_code(self.0, error.code) };
        }
    }
}
