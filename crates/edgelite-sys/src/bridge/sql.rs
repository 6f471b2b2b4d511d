//! A minimal safe layer over the connection for the bridge's own SQL (the vector index's
//! shadow tables): statements that finalize on drop, typed binds and columns, errors that keep
//! SQLite's result code (a busy or locked shadow table, a full disk, an interrupt must reach the
//! caller as `SQLITE_BUSY`, `SQLITE_LOCKED`, `SQLITE_FULL`, `SQLITE_INTERRUPT`, so that clients
//! retry what can be retried).
//!
//! It runs on the connection of the statement that called into the bridge, inside that
//! statement's transaction, exactly as a virtual table's shadow-table SQL does.

use core::ffi::{c_char, c_int};

use crate::bindings::*;

/// `sqlite3_file_control` opcode of core patch 0004: the pager's serial, a `u64` no other pager
/// of the process has had (the patch's hunk names the same number).
const EDGELITE_FCNTL_PAGER_SERIAL: c_int = 0x6564_6c01;

/// A schema's pager serial and data version ([`Db::data_version`]).
pub(crate) type DataVersion = (u64, u32);

/// A failure: the result code and the message the calling statement will fail with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SqlError {
    /// An SQLite result code, extended codes included (`SQLITE_ERROR` for the bridge's own
    /// failures: bad arguments, bad options).
    pub(crate) code: c_int,
    pub(crate) message: String,
}

impl SqlError {
    /// A failure with its own code.
    pub(crate) fn new(code: c_int, message: impl Into<String>) -> SqlError {
        SqlError { code, message: message.into() }
    }
}

impl From<String> for SqlError {
    fn from(message: String) -> Self {
        SqlError { code: SQLITE_ERROR, message }
    }
}

impl From<&str> for SqlError {
    fn from(message: &str) -> Self {
        SqlError { code: SQLITE_ERROR, message: message.to_owned() }
    }
}

impl core::fmt::Display for SqlError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for SqlError {}

impl From<edgelite_diskann::MemError> for SqlError {
    /// A build's in-memory store refusing a write: a bug of the graph, not of the database.
    fn from(e: edgelite_diskann::MemError) -> Self {
        SqlError { code: SQLITE_INTERNAL, message: format!("vector index: {e}") }
    }
}

/// A bridge result.
pub(crate) type SqlResult<T> = Result<T, SqlError>;

/// A borrowed connection handle, valid for the duration of one call from SQLite.
#[derive(Clone, Copy)]
pub(crate) struct Db(*mut sqlite3);

impl Db {
    /// # Safety
    /// `db` is a valid open connection that outlives every use of the returned value.
    pub(crate) unsafe fn new(db: *mut sqlite3) -> Db {
        Db(db)
    }

    /// The raw handle, for the few calls this layer does not wrap.
    pub(crate) fn raw(self) -> *mut sqlite3 {
        self.0
    }

    /// `sqlite3_txn_state` of `schema` (a name with a NUL in it counts as written to, so that
    /// callers take their most careful path).
    pub(crate) fn txn_state(self, schema: &str) -> i32 {
        let Ok(name) = std::ffi::CString::new(schema) else { return SQLITE_TXN_WRITE };
        // SAFETY: a live connection; `name` is NUL-terminated.
        unsafe { sqlite3_txn_state(self.0, name.as_ptr()) }
    }

    /// Whether the connection holds a write transaction on any of its schemas: one call, where
    /// [`Self::txn_state`] of each schema copies each name.
    pub(crate) fn in_write_txn(self) -> bool {
        // SAFETY: a live connection; a null schema asks for the highest state of all schemas.
        unsafe { sqlite3_txn_state(self.0, core::ptr::null()) == SQLITE_TXN_WRITE }
    }

    /// Whether the connection has a database named `schema` ("main", "temp", an attached name;
    /// case-insensitive, as SQL names are).
    pub(crate) fn has_schema(self, schema: &str) -> bool {
        self.schemas().any(|name| name.to_bytes().eq_ignore_ascii_case(schema.as_bytes()))
    }

    /// The names of the connection's databases ("main", "temp", the attached ones), each valid
    /// until the schema list changes, which the caller must not do while it holds one.
    pub(crate) fn schemas<'a>(self) -> impl Iterator<Item = &'a core::ffi::CStr> {
        (0..).map_while(move |i| {
            // SAFETY: a live connection; NULL past the last database, else a NUL-terminated name
            // valid until the schema list changes (the caller's promise).
            let p = unsafe { sqlite3_db_name(self.0, i) };
            // SAFETY: non-null, NUL-terminated (above).
            (!p.is_null()).then(|| unsafe { core::ffi::CStr::from_ptr(p) })
        })
    }

    /// The data version of `schema`: its pager's serial (core patch 0004, unique in the
    /// process) and the pager's data version (changes with every commit by any connection).
    /// The data version alone restarts with every pager: a schema detached and attached again,
    /// to another file or to the same one changed meanwhile, or replaced by
    /// `sqlite3_deserialize`, showed the same one (a.db and b.db both at 1), and the node cache
    /// served the first file's blocks. `None` if either cannot be had (a core built without
    /// patch 0004): the caller then keeps nothing.
    pub(crate) fn data_version(self, schema: &str) -> Option<DataVersion> {
        let name = std::ffi::CString::new(schema).ok()?;
        let mut serial: u64 = 0;
        // SAFETY: a live connection; patch 0004's file control writes one u64 through the
        // pointer, and a core without it passes the opcode to the VFS, which answers NOTFOUND
        // without writing.
        let rc = unsafe {
            sqlite3_file_control(self.0, name.as_ptr(), EDGELITE_FCNTL_PAGER_SERIAL, (&raw mut serial).cast())
        };
        if rc != SQLITE_OK {
            return None;
        }
        let mut version: u32 = 0;
        // SAFETY: a live connection; DATA_VERSION writes one u32 through the pointer.
        let rc = unsafe {
            sqlite3_file_control(self.0, name.as_ptr(), SQLITE_FCNTL_DATA_VERSION, (&raw mut version).cast())
        };
        (rc == SQLITE_OK).then_some((serial, version))
    }

    /// The connection's latest error: its extended result code and message (`rc`, the code
    /// the failing call returned, when the connection holds none: a misuse, say).
    fn error(self, rc: c_int) -> SqlError {
        // SAFETY: a live connection (type invariant).
        let held = unsafe { sqlite3_extended_errcode(self.0) };
        let code = if held & 0xff == rc & 0xff { held } else { rc };
        // SAFETY: a live connection (type invariant); the message is a NUL-terminated string.
        let msg = unsafe { sqlite3_errmsg(self.0) };
        let message = if msg.is_null() {
            "unknown error".to_owned()
        } else {
            // SAFETY: non-null, NUL-terminated, valid until the next call on the connection.
            unsafe { core::ffi::CStr::from_ptr(msg) }.to_string_lossy().into_owned()
        };
        SqlError { code, message }
    }

    /// Prepares one statement.
    pub(crate) fn prepare(self, sql: &str) -> SqlResult<Stmt> {
        let mut stmt = core::ptr::null_mut();
        let len = c_int::try_from(sql.len()).map_err(|_| SqlError::new(SQLITE_TOOBIG, "statement too long"))?;
        // SAFETY: live connection; `sql` is `len` bytes; `stmt` receives a statement we own.
        let rc =
            unsafe { sqlite3_prepare_v2(self.0, sql.as_ptr().cast::<c_char>(), len, &mut stmt, core::ptr::null_mut()) };
        if rc != SQLITE_OK {
            return Err(self.error(rc));
        }
        Ok(Stmt { db: self, stmt })
    }

    /// Whether `column` of `schema.table` is part of the table's PRIMARY KEY (as
    /// `sqlite3_table_column_metadata` reports it, from the schema in memory: no SQL runs).
    pub(crate) fn in_primary_key(self, schema: &str, table: &str, column: &str) -> SqlResult<bool> {
        let c = |s: &str| std::ffi::CString::new(s).map_err(|_| SqlError::from("vector index: NUL in a name"));
        let (schema, table, column) = (c(schema)?, c(table)?, c(column)?);
        let mut primary_key: c_int = 0;
        // SAFETY: a live connection; NUL-terminated names; the out-pointers we do not want are
        // NULL (allowed), `primary_key` receives one int.
        let rc = unsafe {
            sqlite3_table_column_metadata(
                self.0,
                schema.as_ptr(),
                table.as_ptr(),
                column.as_ptr(),
                core::ptr::null_mut(),
                core::ptr::null_mut(),
                core::ptr::null_mut(),
                &mut primary_key,
                core::ptr::null_mut(),
            )
        };
        if rc != SQLITE_OK {
            return Err(self.error(rc));
        }
        Ok(primary_key != 0)
    }

    /// Runs statements that return no rows.
    pub(crate) fn exec(self, sql: &str) -> SqlResult<()> {
        let mut stmt = self.prepare(sql)?;
        while stmt.step()? {}
        Ok(())
    }
}

/// An open `sqlite3_blob` handle on one column of a rowid table, for reading or writing parts
/// of a value in place; closed on drop.
pub(crate) struct Blob {
    blob: *mut sqlite3_blob,
}

impl Blob {
    /// Opens column `column` of row `row` of `schema.table`, for writing if `write`.
    pub(crate) fn open(db: Db, schema: &str, table: &str, column: &str, row: i64, write: bool) -> SqlResult<Blob> {
        let c = |s: &str| std::ffi::CString::new(s).map_err(|_| SqlError::from("vector index: NUL in a name"));
        let (schema, table, column) = (c(schema)?, c(table)?, c(column)?);
        let mut blob = core::ptr::null_mut();
        let flags = c_int::from(write);
        // SAFETY: a live connection; NUL-terminated names; `blob` receives the handle (or NULL).
        let rc =
            unsafe { sqlite3_blob_open(db.0, schema.as_ptr(), table.as_ptr(), column.as_ptr(), row, flags, &mut blob) };
        let opened = Blob { blob };
        if rc != SQLITE_OK {
            return Err(db.error(rc));
        }
        Ok(opened)
    }

    /// Moves the handle to row `row` of the same table.
    pub(crate) fn reopen(&mut self, db: Db, row: i64) -> SqlResult<()> {
        // SAFETY: an open handle (type invariant).
        let rc = unsafe { sqlite3_blob_reopen(self.blob, row) };
        if rc == SQLITE_OK { Ok(()) } else { Err(db.error(rc)) }
    }

    /// Reads the first `len` bytes of the value (all of it if it is shorter) into `buf`.
    pub(crate) fn read_start(&mut self, db: Db, len: usize, buf: &mut Vec<u8>) -> SqlResult<()> {
        // SAFETY: an open handle (type invariant).
        let size = unsafe { sqlite3_blob_bytes(self.blob) };
        let n = usize::try_from(size).unwrap_or(0).min(len);
        buf.clear();
        buf.resize(n, 0);
        let Ok(count) = c_int::try_from(n) else {
            return Err(SqlError::new(SQLITE_TOOBIG, "vector index: block too large"));
        };
        // SAFETY: an open handle; `buf` has `count` writable bytes.
        let rc = unsafe { sqlite3_blob_read(self.blob, buf.as_mut_ptr().cast(), count, 0) };
        if rc == SQLITE_OK { Ok(()) } else { Err(db.error(rc)) }
    }

    /// Writes `bytes` at `offset` of the value (which it cannot grow).
    pub(crate) fn write(&mut self, db: Db, offset: usize, bytes: &[u8]) -> SqlResult<()> {
        let (Ok(n), Ok(at)) = (c_int::try_from(bytes.len()), c_int::try_from(offset)) else {
            return Err(SqlError::new(SQLITE_TOOBIG, "vector index: block too large"));
        };
        // SAFETY: an open handle; `n` readable bytes at `bytes`.
        let rc = unsafe { sqlite3_blob_write(self.blob, bytes.as_ptr().cast(), n, at) };
        if rc == SQLITE_OK { Ok(()) } else { Err(db.error(rc)) }
    }
}

impl Drop for Blob {
    fn drop(&mut self) {
        // SAFETY: we own the handle (NULL after a failed open, which close accepts) and close it once.
        unsafe { sqlite3_blob_close(self.blob) };
    }
}

/// A prepared statement, finalized on drop.
pub(crate) struct Stmt {
    db: Db,
    stmt: *mut sqlite3_stmt,
}

impl Stmt {
    fn check(&self, rc: c_int) -> SqlResult<()> {
        if rc == SQLITE_OK { Ok(()) } else { Err(self.db.error(rc)) }
    }

    /// Binds an integer to parameter `i` (1-based).
    pub(crate) fn bind_int(&mut self, i: c_int, v: i64) -> SqlResult<()> {
        // SAFETY: a live statement (owned).
        let rc = unsafe { sqlite3_bind_int64(self.stmt, i, v) };
        self.check(rc)
    }

    /// Binds a blob (copied) to parameter `i`.
    pub(crate) fn bind_blob(&mut self, i: c_int, v: &[u8]) -> SqlResult<()> {
        // SAFETY: a live statement; SQLITE_TRANSIENT copies `v.len()` bytes before returning.
        let rc =
            unsafe { sqlite3_bind_blob64(self.stmt, i, v.as_ptr().cast(), v.len() as u64, crate::SQLITE_TRANSIENT()) };
        self.check(rc)
    }

    /// Binds a text (copied) to parameter `i`.
    pub(crate) fn bind_text(&mut self, i: c_int, v: &str) -> SqlResult<()> {
        // SAFETY: as bind_blob.
        let rc = unsafe {
            sqlite3_bind_text64(
                self.stmt,
                i,
                v.as_ptr().cast::<c_char>(),
                v.len() as u64,
                crate::SQLITE_TRANSIENT(),
                SQLITE_UTF8 as u8,
            )
        };
        self.check(rc)
    }

    /// Binds a REAL to parameter `i`.
    pub(crate) fn bind_double(&mut self, i: c_int, v: f64) -> SqlResult<()> {
        // SAFETY: a live statement (owned).
        let rc = unsafe { sqlite3_bind_double(self.stmt, i, v) };
        self.check(rc)
    }

    /// Binds NULL to parameter `i`.
    pub(crate) fn bind_null(&mut self, i: c_int) -> SqlResult<()> {
        // SAFETY: a live statement (owned).
        let rc = unsafe { sqlite3_bind_null(self.stmt, i) };
        self.check(rc)
    }

    /// Binds text of any bytes (copied, as SQLite stores them: not checked for UTF-8).
    pub(crate) fn bind_text_bytes(&mut self, i: c_int, v: &[u8]) -> SqlResult<()> {
        // SAFETY: as bind_blob.
        let rc = unsafe {
            sqlite3_bind_text64(
                self.stmt,
                i,
                v.as_ptr().cast::<c_char>(),
                v.len() as u64,
                crate::SQLITE_TRANSIENT(),
                SQLITE_UTF8 as u8,
            )
        };
        self.check(rc)
    }

    /// Steps once: `true` on a row, `false` when done.
    pub(crate) fn step(&mut self) -> SqlResult<bool> {
        // SAFETY: a live statement.
        match unsafe { sqlite3_step(self.stmt) } {
            SQLITE_ROW => Ok(true),
            SQLITE_DONE => Ok(false),
            rc => Err(self.db.error(rc)),
        }
    }

    /// Resets for another run with new bindings.
    pub(crate) fn reset(&mut self) {
        // SAFETY: a live statement; the step error, if any, was reported already.
        unsafe { sqlite3_reset(self.stmt) };
    }

    /// Column `i` of the current row as an integer.
    pub(crate) fn int(&self, i: c_int) -> i64 {
        // SAFETY: a live statement on a row.
        unsafe { sqlite3_column_int64(self.stmt, i) }
    }

    /// The fundamental type of column `i` of the current row (`SQLITE_INTEGER`...).
    pub(crate) fn column_type(&self, i: c_int) -> c_int {
        // SAFETY: a live statement on a row.
        unsafe { sqlite3_column_type(self.stmt, i) }
    }

    /// Column `i` of the current row as a REAL.
    pub(crate) fn double(&self, i: c_int) -> f64 {
        // SAFETY: a live statement on a row.
        unsafe { sqlite3_column_double(self.stmt, i) }
    }

    /// Column `i` of the current row as text bytes (a blob or number converted as SQLite does),
    /// copied.
    pub(crate) fn text_bytes(&self, i: c_int) -> Vec<u8> {
        // SAFETY: a live statement on a row; column_text then column_bytes, as documented.
        let p = unsafe { sqlite3_column_text(self.stmt, i) };
        // SAFETY: as above.
        let n = usize::try_from(unsafe { sqlite3_column_bytes(self.stmt, i) }).unwrap_or(0);
        if p.is_null() || n == 0 {
            return Vec::new();
        }
        // SAFETY: `n` readable bytes at `p` until the next step/reset/finalize; copied at once.
        unsafe { core::slice::from_raw_parts(p, n) }.to_vec()
    }

    /// Column `i` of the current row as bytes (blob or text), copied.
    pub(crate) fn bytes(&self, i: c_int) -> Vec<u8> {
        self.blob(i).to_vec()
    }

    /// Column `i` of the current row as bytes (blob or text), borrowed: the borrow of the
    /// statement keeps it from stepping, resetting or finalizing while the bytes are in use.
    pub(crate) fn blob(&self, i: c_int) -> &[u8] {
        // SAFETY: a live statement on a row; column_blob then column_bytes, as documented.
        let p = unsafe { sqlite3_column_blob(self.stmt, i) }.cast::<u8>();
        // SAFETY: as above.
        let n = usize::try_from(unsafe { sqlite3_column_bytes(self.stmt, i) }).unwrap_or(0);
        if p.is_null() || n == 0 {
            return &[];
        }
        // SAFETY: `n` readable bytes at `p` until the next step/reset/finalize, which all take
        // `&mut self` and so cannot happen while the returned borrow lives.
        unsafe { core::slice::from_raw_parts(p, n) }
    }
}

impl Drop for Stmt {
    fn drop(&mut self) {
        // SAFETY: we own the statement and finalize it exactly once.
        unsafe { sqlite3_finalize(self.stmt) };
    }
}

/// `name` as an SQL identifier: bare when it is a plain one (so that the SQL stored in
/// sqlite_schema reads exactly as libSQL writes it), else quoted with embedded quotes doubled.
pub(crate) fn ident(name: &str) -> String {
    let plain = name.bytes().next().is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if plain && !is_keyword(name) { name.to_owned() } else { format!("\"{}\"", name.replace('"', "\"\"")) }
}

/// Whether SQLite treats `word` as a keyword (which must be quoted to be a name).
fn is_keyword(word: &str) -> bool {
    let Ok(len) = c_int::try_from(word.len()) else { return true };
    // SAFETY: reads `len` bytes of `word`; needs no connection.
    unsafe { sqlite3_keyword_check(word.as_ptr().cast::<c_char>(), len) != 0 }
}
