//! The owner of a `sqlite3_stmt*` handle.
//!
//! With `inner_connection.rs`, the only place that holds SQLite's statement pointers. Values
//! read from a column borrow the statement: SQLite keeps them valid until the next step, reset
//! or finalize, each of which needs `&mut` access to the statement above this layer.

use std::ffi::{CStr, c_int};
use std::ptr::NonNull;
use std::slice;

use crate::ffi;
use crate::types::ValueRef;

pub(crate) struct RawStatement {
    ptr: NonNull<ffi::sqlite3_stmt>,
}

// SAFETY: a prepared statement belongs to one connection; the core is thread-safe
// (SQLITE_THREADSAFE=1), and the safe layer never lets two threads use one statement at once
// (Statement borrows the !Sync Connection). Cached statements move with their connection.
unsafe impl Send for RawStatement {}

impl RawStatement {
    /// Takes ownership of a freshly prepared statement; `None` for a null handle (blank SQL).
    ///
    /// # Safety
    ///
    /// `ptr` is null or a statement handle returned by `sqlite3_prepare*` that nobody else will
    /// finalize.
    pub(crate) unsafe fn from_handle(ptr: *mut ffi::sqlite3_stmt) -> Option<RawStatement> {
        NonNull::new(ptr).map(|ptr| RawStatement { ptr })
    }

    fn as_ptr(&self) -> *mut ffi::sqlite3_stmt {
        self.ptr.as_ptr()
    }

    pub(crate) fn step(&self) -> c_int {
        // SAFETY: the statement is valid until Drop.
        unsafe { ffi::sqlite3_step(self.as_ptr()) }
    }

    pub(crate) fn reset(&self) -> c_int {
        // SAFETY: the statement is valid until Drop.
        unsafe { ffi::sqlite3_reset(self.as_ptr()) }
    }

    pub(crate) fn clear_bindings(&self) {
        // SAFETY: the statement is valid until Drop; this only returns SQLITE_OK.
        unsafe { ffi::sqlite3_clear_bindings(self.as_ptr()) };
    }

    pub(crate) fn column_count(&self) -> usize {
        // SAFETY: the statement is valid until Drop.
        let n = unsafe { ffi::sqlite3_column_count(self.as_ptr()) };
        usize::try_from(n).unwrap_or(0)
    }

    /// The name of a column; `None` if the index is out of range or SQLite is out of memory.
    pub(crate) fn column_name(&self, col: usize) -> Option<&CStr> {
        let col = c_int::try_from(col).ok()?;
        // SAFETY: the statement is valid; an out-of-range index returns null.
        let p = unsafe { ffi::sqlite3_column_name(self.as_ptr(), col) };
        if p.is_null() {
            return None;
        }
        // SAFETY: SQLite keeps the name until the statement is finalized or re-prepared; the
        // result borrows self, so it cannot outlive the statement.
        Some(unsafe { CStr::from_ptr(p) })
    }

    /// The declared type of a result column; `None` for an expression or an out-of-range index.
    pub(crate) fn column_decltype(&self, col: usize) -> Option<&CStr> {
        let col = c_int::try_from(col).ok()?;
        // SAFETY: the statement is valid; an out-of-range index or an expression column returns null.
        let p = unsafe { ffi::sqlite3_column_decltype(self.as_ptr(), col) };
        if p.is_null() {
            return None;
        }
        // SAFETY: SQLite keeps the text until the statement is finalized or re-prepared; the
        // result borrows self, so it cannot outlive the statement.
        Some(unsafe { CStr::from_ptr(p) })
    }

    /// 1 for `EXPLAIN`, 2 for `EXPLAIN QUERY PLAN`, 0 otherwise.
    pub(crate) fn explain_mode(&self) -> c_int {
        // SAFETY: the statement is valid until Drop.
        unsafe { ffi::sqlite3_stmt_isexplain(self.as_ptr()) }
    }

    /// The value of a column of the current row. `col` must be below `column_count()`.
    pub(crate) fn value_ref(&self, col: usize) -> ValueRef<'_> {
        let Ok(i) = c_int::try_from(col) else { return ValueRef::Null };
        let stmt = self.as_ptr();
        // SAFETY: the statement is valid; SQLite returns SQLITE_NULL for a bad index.
        let kind = unsafe { ffi::sqlite3_column_type(stmt, i) };
        match kind {
            ffi::SQLITE_INTEGER => {
                // SAFETY: the statement is valid and positioned on a row.
                ValueRef::Integer(unsafe { ffi::sqlite3_column_int64(stmt, i) })
            }
            ffi::SQLITE_FLOAT => {
                // SAFETY: the statement is valid and positioned on a row.
                ValueRef::Real(unsafe { ffi::sqlite3_column_double(stmt, i) })
            }
            ffi::SQLITE_TEXT => {
                // SAFETY: the statement is valid; text is fetched before its length, as the
                // SQLite documentation requires.
                let p = unsafe { ffi::sqlite3_column_text(stmt, i) };
                // SAFETY: as above; this is the length of the text just fetched.
                let n = unsafe { ffi::sqlite3_column_bytes(stmt, i) };
                // SAFETY: p points at n bytes that stay valid until the next step/reset/finalize,
                // which all need the statement mutably, so not while this borrow lives.
                ValueRef::Text(unsafe { bytes(p.cast(), n) })
            }
            ffi::SQLITE_BLOB => {
                // SAFETY: as for text.
                let p = unsafe { ffi::sqlite3_column_blob(stmt, i) };
                // SAFETY: as for text.
                let n = unsafe { ffi::sqlite3_column_bytes(stmt, i) };
                // SAFETY: as for text.
                ValueRef::Blob(unsafe { bytes(p.cast(), n) })
            }
            _ => ValueRef::Null,
        }
    }

    pub(crate) fn bind_parameter_count(&self) -> usize {
        // SAFETY: the statement is valid until Drop.
        let n = unsafe { ffi::sqlite3_bind_parameter_count(self.as_ptr()) };
        usize::try_from(n).unwrap_or(0)
    }

    /// The 1-based index of a named parameter (including its `:`, `@` or `$` prefix).
    pub(crate) fn bind_parameter_index(&self, name: &CStr) -> Option<usize> {
        // SAFETY: the statement is valid and name is NUL-terminated.
        let i = unsafe { ffi::sqlite3_bind_parameter_index(self.as_ptr(), name.as_ptr()) };
        usize::try_from(i).ok().filter(|&i| i > 0)
    }

    /// The name of the parameter at a 1-based index; `None` for nameless (`?`) parameters.
    pub(crate) fn bind_parameter_name(&self, index: usize) -> Option<&CStr> {
        let i = c_int::try_from(index).ok()?;
        // SAFETY: the statement is valid; a bad index returns null.
        let p = unsafe { ffi::sqlite3_bind_parameter_name(self.as_ptr(), i) };
        if p.is_null() {
            return None;
        }
        // SAFETY: the name lives as long as the statement, which the result borrows.
        Some(unsafe { CStr::from_ptr(p) })
    }

    /// Binds a value to a 1-based parameter; SQLite copies text and blobs.
    pub(crate) fn bind_value(&self, index: usize, value: ValueRef<'_>) -> c_int {
        let Ok(i) = c_int::try_from(index) else { return ffi::SQLITE_RANGE };
        let stmt = self.as_ptr();
        match value {
            // SAFETY: the statement is valid; SQLite range-checks the index.
            ValueRef::Null => unsafe { ffi::sqlite3_bind_null(stmt, i) },
            // SAFETY: as above.
            ValueRef::Integer(v) => unsafe { ffi::sqlite3_bind_int64(stmt, i, v) },
            // SAFETY: as above.
            ValueRef::Real(v) => unsafe { ffi::sqlite3_bind_double(stmt, i, v) },
            // SAFETY: t is valid for t.len() bytes (a dangling but non-null pointer when empty,
            // which SQLite reads nothing from); SQLITE_TRANSIENT makes SQLite copy them before
            // returning.
            ValueRef::Text(t) => unsafe {
                ffi::sqlite3_bind_text64(
                    stmt,
                    i,
                    t.as_ptr().cast(),
                    t.len() as u64,
                    ffi::SQLITE_TRANSIENT(),
                    ffi::SQLITE_UTF8 as u8,
                )
            },
            // SAFETY: as for text. A non-null pointer with length 0 binds an empty blob (a null
            // pointer would bind NULL).
            ValueRef::Blob(b) => unsafe {
                ffi::sqlite3_bind_blob64(stmt, i, b.as_ptr().cast(), b.len() as u64, ffi::SQLITE_TRANSIENT())
            },
        }
    }

    pub(crate) fn bind_zeroblob(&self, index: usize, len: i32) -> c_int {
        let Ok(i) = c_int::try_from(index) else { return ffi::SQLITE_RANGE };
        // SAFETY: the statement is valid; SQLite range-checks the index.
        unsafe { ffi::sqlite3_bind_zeroblob(self.as_ptr(), i, len) }
    }

    pub(crate) fn readonly(&self) -> bool {
        // SAFETY: the statement is valid until Drop.
        unsafe { ffi::sqlite3_stmt_readonly(self.as_ptr()) != 0 }
    }

    pub(crate) fn sql(&self) -> Option<&str> {
        // SAFETY: the statement is valid until Drop.
        let p = unsafe { ffi::sqlite3_sql(self.as_ptr()) };
        if p.is_null() {
            return None;
        }
        // SAFETY: the text lives as long as the statement, which the result borrows.
        unsafe { CStr::from_ptr(p) }.to_str().ok()
    }

    pub(crate) fn expanded_sql(&self) -> Option<String> {
        // SAFETY: the statement is valid until Drop.
        let p = unsafe { ffi::sqlite3_expanded_sql(self.as_ptr()) };
        if p.is_null() {
            return None;
        }
        // SAFETY: p is a NUL-terminated string that we own until sqlite3_free; copied at once.
        let s = unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned();
        // SAFETY: p came from sqlite3_expanded_sql, which allocates with sqlite3_malloc.
        unsafe { ffi::sqlite3_free(p.cast()) };
        Some(s)
    }
}

impl Drop for RawStatement {
    fn drop(&mut self) {
        // SAFETY: we own the statement and drop it exactly once. The result code repeats the
        // last step's error, already reported, so it is ignored.
        unsafe { ffi::sqlite3_finalize(self.as_ptr()) };
    }
}

/// A byte slice from a pointer and length that SQLite returned; empty for null/non-positive.
///
/// # Safety
///
/// When `p` is non-null and `n > 0`, `p` must point at `n` readable bytes that stay valid and
/// unchanged for `'a`.
pub(crate) unsafe fn bytes<'a>(p: *const u8, n: c_int) -> &'a [u8] {
    match usize::try_from(n) {
        Ok(n) if n > 0 && !p.is_null() => {
            // SAFETY: the caller guarantees p is valid for n bytes during 'a.
            unsafe { slice::from_raw_parts(p, n) }
        }
        _ => &[],
    }
}
