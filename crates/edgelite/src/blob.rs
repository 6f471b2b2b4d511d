//! Incremental I/O on a single blob value, without loading it whole.
//!
//! [`Connection::blob_open`] gives a [`Blob`] that implements [`Read`], [`Write`] and [`Seek`].
//! A blob's size is fixed: make room first (e.g. with [`ZeroBlob`](crate::types::ZeroBlob)),
//! then write into it; writes past the end are cut short.
//!
//! ```
//! use std::io::{Read, Seek, SeekFrom, Write};
//! use edgelite::types::ZeroBlob;
//! use edgelite::Connection;
//!
//! let conn = Connection::open_in_memory()?;
//! conn.execute_batch("CREATE TABLE files(data BLOB)")?;
//! conn.execute("INSERT INTO files(data) VALUES (?1)", [ZeroBlob(10)])?;
//! let rowid = conn.last_insert_rowid();
//!
//! let mut blob = conn.blob_open("main", "files", "data", rowid, false)?;
//! blob.write_all(b"hello").unwrap();
//! blob.seek(SeekFrom::Start(0)).unwrap();
//! let mut start = [0_u8; 5];
//! blob.read_exact(&mut start).unwrap();
//! assert_eq!(&start, b"hello");
//! assert_eq!(blob.len(), 10);
//! # Ok::<(), edgelite::Error>(())
//! ```

use std::ffi::{CString, c_int};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::ptr::NonNull;

use crate::error::Error;
use crate::ffi;
use crate::{Connection, Result};

/// Owns a `sqlite3_blob*` and closes it in Drop.
struct RawBlob(NonNull<ffi::sqlite3_blob>);

impl RawBlob {
    fn as_ptr(&self) -> *mut ffi::sqlite3_blob {
        self.0.as_ptr()
    }
}

impl Drop for RawBlob {
    fn drop(&mut self) {
        // SAFETY: we own the open handle and close it exactly once. The result reports an
        // earlier failure, already returned by the call that hit it.
        unsafe { ffi::sqlite3_blob_close(self.as_ptr()) };
    }
}

/// An open handle on one blob value; see the [module docs](self).
pub struct Blob<'conn> {
    conn: &'conn Connection,
    raw: RawBlob,
    pos: c_int,
}

impl Connection {
    /// Opens the blob in `table.column` of the row with this rowid, in database `db`
    /// (`"main"`, `"temp"` or an attached name). With `read_only: false` it can be written.
    ///
    /// # Errors
    ///
    /// [`Error::NulError`] for names with NUL bytes; the SQLite failure if the row, table or
    /// column does not exist, or the value is not a blob or text.
    pub fn blob_open(&self, db: &str, table: &str, column: &str, rowid: i64, read_only: bool) -> Result<Blob<'_>> {
        let (db, table, column) = (CString::new(db)?, CString::new(table)?, CString::new(column)?);
        let p = self.inner().blob_open(&db, &table, &column, rowid, read_only)?;
        let raw = NonNull::new(p).map(RawBlob).ok_or_else(|| Error::from_code(ffi::SQLITE_NOMEM, None))?;
        Ok(Blob { conn: self, raw, pos: 0 })
    }
}

impl Blob<'_> {
    /// Moves the handle to the same column of another row (position back to 0).
    ///
    /// # Errors
    ///
    /// The SQLite failure; the handle is then unusable except to drop.
    pub fn reopen(&mut self, rowid: i64) -> Result<()> {
        // SAFETY: the handle is open.
        let rc = unsafe { ffi::sqlite3_blob_reopen(self.raw.as_ptr(), rowid) };
        self.conn.inner().check(rc)?;
        self.pos = 0;
        Ok(())
    }

    /// The blob's size in bytes.
    #[must_use]
    pub fn len(&self) -> usize {
        // SAFETY: the handle is open.
        let n = unsafe { ffi::sqlite3_blob_bytes(self.raw.as_ptr()) };
        usize::try_from(n).unwrap_or(0)
    }

    /// Whether the blob is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Closes the handle, reporting failure.
    ///
    /// # Errors
    ///
    /// The SQLite failure (e.g. of an earlier write that was not reported).
    pub fn close(self) -> Result<()> {
        let Blob { conn, raw, .. } = self;
        let p = raw.as_ptr();
        std::mem::forget(raw);
        // SAFETY: we own the handle (its owner was forgotten, so it is closed exactly once).
        let rc = unsafe { ffi::sqlite3_blob_close(p) };
        conn.inner().check(rc)
    }

    fn remaining(&self) -> usize {
        self.len().saturating_sub(usize::try_from(self.pos).unwrap_or(0))
    }

    fn io_error(&self, rc: c_int) -> io::Error {
        io::Error::other(self.conn.error(rc))
    }
}

impl Read for Blob<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf.len().min(self.remaining());
        if n == 0 {
            return Ok(0);
        }
        let len = c_int::try_from(n).unwrap_or(c_int::MAX);
        // SAFETY: the handle is open; buf has room for len bytes; pos + len is within the blob.
        let rc = unsafe { ffi::sqlite3_blob_read(self.raw.as_ptr(), buf.as_mut_ptr().cast(), len, self.pos) };
        if rc != ffi::SQLITE_OK {
            return Err(self.io_error(rc));
        }
        self.pos += len;
        Ok(usize::try_from(len).unwrap_or(0))
    }
}

impl Write for Blob<'_> {
    /// Writes as much as fits before the end of the blob; `Ok(0)` at the end (so `write_all`
    /// past the end fails with `WriteZero`).
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = buf.len().min(self.remaining());
        if n == 0 {
            return Ok(0);
        }
        let len = c_int::try_from(n).unwrap_or(c_int::MAX);
        // SAFETY: the handle is open; buf holds len bytes; pos + len is within the blob.
        let rc = unsafe { ffi::sqlite3_blob_write(self.raw.as_ptr(), buf.as_ptr().cast(), len, self.pos) };
        if rc != ffi::SQLITE_OK {
            return Err(self.io_error(rc));
        }
        self.pos += len;
        Ok(usize::try_from(len).unwrap_or(0))
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Seek for Blob<'_> {
    /// Seeks within the blob; positions before 0 or past the end are refused.
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        let len = i64::try_from(self.len()).unwrap_or(i64::MAX);
        let target = match pos {
            SeekFrom::Start(p) => i64::try_from(p).unwrap_or(i64::MAX),
            SeekFrom::Current(d) => i64::from(self.pos).saturating_add(d),
            SeekFrom::End(d) => len.saturating_add(d),
        };
        if !(0..=len).contains(&target) {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "seek outside the blob"));
        }
        self.pos =
            c_int::try_from(target).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "offset too large"))?;
        Ok(target.unsigned_abs())
    }
}

impl std::fmt::Debug for Blob<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Blob").field("len", &self.len()).field("pos", &self.pos).finish()
    }
}
