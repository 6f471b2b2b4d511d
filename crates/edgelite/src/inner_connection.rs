//! The owner of the `sqlite3*` handle.
//!
//! This module and `raw_statement.rs` are the only places that hold SQLite's connection and
//! statement pointers; everything above them is safe code. The connection pointer never leaves
//! this file: every SQLite call that needs it (opening blobs, starting backups, registering
//! functions and hooks) is a method here.

use std::cell::RefCell;
use std::ffi::{CStr, c_char, c_int, c_void};
use std::ptr;

use crate::Result;
use crate::error::Error;
use crate::ffi;
use crate::hooks::{self, Authorizer, CommitHook, ProgressHandler, RollbackHook, UpdateHook};
use crate::raw_statement::RawStatement;

/// A scalar function or aggregate step callback, as SQLite declares it.
pub(crate) type XFunc = unsafe extern "C" fn(*mut ffi::sqlite3_context, c_int, *mut *mut ffi::sqlite3_value);
/// An aggregate finalizer callback.
pub(crate) type XFinal = unsafe extern "C" fn(*mut ffi::sqlite3_context);
/// A destructor for user data handed to SQLite.
pub(crate) type XDestroy = unsafe extern "C" fn(*mut c_void);

pub(crate) struct InnerConnection {
    /// Non-null from `open` until `close` succeeds; null afterwards.
    db: *mut ffi::sqlite3,
    // The hook closures SQLite currently points at, each in a heap cell whose address SQLite
    // holds (so it stays put while the connection moves). The inner RefCell is borrowed while the
    // hook runs: a hook re-entered, or replaced from inside itself, is detected instead of
    // aliased or freed while running (see `retire`).
    commit_hook: RefCell<Option<Box<RefCell<CommitHook>>>>,
    rollback_hook: RefCell<Option<Box<RefCell<RollbackHook>>>>,
    update_hook: RefCell<Option<Box<RefCell<UpdateHook>>>>,
    authorizer: RefCell<Option<Box<RefCell<Authorizer>>>>,
    progress_handler: RefCell<Option<Box<RefCell<ProgressHandler>>>>,
}

// SAFETY: the core is built with SQLITE_THREADSAFE=1 and connections are opened in multi-thread
// mode at least, so a connection may be used from any one thread at a time. InnerConnection is
// not Sync (the RefCells see to that), so it is never used from two threads at once. The hook
// closures it owns are all `Send`.
unsafe impl Send for InnerConnection {}

impl InnerConnection {
    pub(crate) fn open(path: &CStr, flags: c_int, vfs: Option<&CStr>) -> Result<InnerConnection> {
        let mut db: *mut ffi::sqlite3 = ptr::null_mut();
        let vfs_ptr = vfs.map_or(ptr::null(), CStr::as_ptr);
        // SAFETY: path (and vfs when given) are NUL-terminated strings that outlive the call;
        // db is a valid out-pointer.
        let rc = unsafe { ffi::sqlite3_open_v2(path.as_ptr(), &raw mut db, flags, vfs_ptr) };
        if rc != ffi::SQLITE_OK {
            if db.is_null() {
                return Err(Error::from_code(rc, None));
            }
            let failed = InnerConnection::from_handle(db);
            let err = failed.error(rc);
            drop(failed); // closes the half-opened handle, as sqlite3_open_v2 requires
            return Err(err);
        }
        let conn = InnerConnection::from_handle(db);
        // SAFETY: db is an open connection owned by `conn`.
        let rc = unsafe { ffi::sqlite3_extended_result_codes(db, 1) };
        conn.check(rc)?;
        Ok(conn)
    }

    fn from_handle(db: *mut ffi::sqlite3) -> InnerConnection {
        InnerConnection {
            db,
            commit_hook: RefCell::new(None),
            rollback_hook: RefCell::new(None),
            update_hook: RefCell::new(None),
            authorizer: RefCell::new(None),
            progress_handler: RefCell::new(None),
        }
    }

    /// The error SQLite reports for the failed call that returned `rc` on this connection.
    pub(crate) fn error(&self, rc: c_int) -> Error {
        if self.db.is_null() {
            return Error::from_code(rc, None);
        }
        // SAFETY: db is an open connection.
        let current = unsafe { ffi::sqlite3_extended_errcode(self.db) };
        if current & 0xff != rc & 0xff {
            // The connection's error state belongs to some other call (e.g. a blob or backup
            // failure that SQLite did not record on it): do not borrow its message.
            return Error::from_code(rc, None);
        }
        // SAFETY: db is an open connection.
        let msg = unsafe { ffi::sqlite3_errmsg(self.db) };
        let message = if msg.is_null() {
            None
        } else {
            // SAFETY: sqlite3_errmsg returns a NUL-terminated string valid until the next call
            // on this connection; it is copied at once.
            Some(unsafe { CStr::from_ptr(msg) }.to_string_lossy().into_owned())
        };
        // SAFETY: db is an open connection.
        let offset = unsafe { ffi::sqlite3_error_offset(self.db) };
        Error::SqliteFailure { error: ffi::Error::new(rc), message, offset: usize::try_from(offset).ok() }
    }

    pub(crate) fn check(&self, rc: c_int) -> Result<()> {
        if rc == ffi::SQLITE_OK { Ok(()) } else { Err(self.error(rc)) }
    }

    /// Closes the connection (`sqlite3_close`, which refuses while statements, blobs or backups
    /// are still open). On failure the connection stays open and usable.
    pub(crate) fn close(&mut self) -> Result<()> {
        if self.db.is_null() {
            return Ok(());
        }
        self.clear_hooks();
        // SAFETY: db is an open connection; on success it is freed and we null our copy.
        let rc = unsafe { ffi::sqlite3_close(self.db) };
        if rc != ffi::SQLITE_OK {
            return Err(self.error(rc));
        }
        self.db = ptr::null_mut();
        Ok(())
    }

    /// Prepares the first statement of `sql`; returns it (or `None` for a blank or comment-only
    /// text) and the byte length of `sql` that SQLite consumed.
    pub(crate) fn prepare(&self, sql: &str, persistent: bool) -> Result<(Option<RawStatement>, usize)> {
        let Ok(len) = c_int::try_from(sql.len()) else {
            return Err(Error::from_code(ffi::SQLITE_TOOBIG, Some("SQL text too long".to_owned())));
        };
        let flags = if persistent { ffi::SQLITE_PREPARE_PERSISTENT } else { 0 };
        let mut stmt: *mut ffi::sqlite3_stmt = ptr::null_mut();
        let mut tail: *const c_char = ptr::null();
        // SAFETY: db is open; sql is valid for `len` bytes (no NUL terminator needed when the
        // length is given); stmt and tail are valid out-pointers.
        let rc =
            unsafe { ffi::sqlite3_prepare_v3(self.db, sql.as_ptr().cast(), len, flags, &raw mut stmt, &raw mut tail) };
        if rc != ffi::SQLITE_OK {
            return Err(self.error(rc));
        }
        let consumed = if tail.is_null() {
            sql.len()
        } else {
            // SQLite's tail points into `sql`, at or after its start.
            (tail as usize).saturating_sub(sql.as_ptr() as usize).min(sql.len())
        };
        // SAFETY: stmt was just returned by a successful prepare and is owned by nobody else.
        let raw = unsafe { RawStatement::from_handle(stmt) };
        Ok((raw, consumed))
    }

    pub(crate) fn changes(&self) -> u64 {
        // SAFETY: db is an open connection.
        let n = unsafe { ffi::sqlite3_changes64(self.db) };
        u64::try_from(n).unwrap_or(0)
    }

    pub(crate) fn total_changes(&self) -> u64 {
        // SAFETY: db is an open connection.
        let n = unsafe { ffi::sqlite3_total_changes64(self.db) };
        u64::try_from(n).unwrap_or(0)
    }

    pub(crate) fn last_insert_rowid(&self) -> i64 {
        // SAFETY: db is an open connection.
        unsafe { ffi::sqlite3_last_insert_rowid(self.db) }
    }

    pub(crate) fn busy_timeout(&self, ms: c_int) -> Result<()> {
        // SAFETY: db is an open connection.
        let rc = unsafe { ffi::sqlite3_busy_timeout(self.db, ms) };
        self.check(rc)
    }

    pub(crate) fn busy_handler(&self, handler: Option<fn(c_int) -> bool>) -> Result<()> {
        // A plain function pointer: nothing to keep alive, so no cell as for the closures.
        let data = handler.map_or(ptr::null_mut(), |f| f as *mut c_void);
        let thunk = handler.map(|_| hooks::busy_thunk as unsafe extern "C" fn(*mut c_void, c_int) -> c_int);
        // SAFETY: db is an open connection; data is null or a `fn(c_int) -> bool`, which
        // busy_thunk reads back (a null callback unregisters).
        let rc = unsafe { ffi::sqlite3_busy_handler(self.db, thunk, data) };
        self.check(rc)
    }

    pub(crate) fn is_autocommit(&self) -> bool {
        // SAFETY: db is an open connection.
        unsafe { ffi::sqlite3_get_autocommit(self.db) != 0 }
    }

    pub(crate) fn interrupt(&self) {
        // SAFETY: db is an open connection.
        unsafe { ffi::sqlite3_interrupt(self.db) }
    }

    pub(crate) fn set_vector_cache_budget(&self, budget: Option<std::sync::Arc<ffi::VectorCacheBudget>>) -> bool {
        // SAFETY: db is an open connection, and a connection is used from one thread at a time
        // (not Sync), so none of its statements runs elsewhere meanwhile.
        unsafe { ffi::set_vector_cache_budget(self.db, budget) }
    }

    pub(crate) fn drop_stale_vector_builds(&self) -> usize {
        // SAFETY: as in set_vector_cache_budget.
        unsafe { ffi::drop_stale_vector_builds(self.db) }
    }

    pub(crate) fn release_vector_cache(&self) -> usize {
        // SAFETY: as in set_vector_cache_budget.
        unsafe { ffi::release_vector_cache(self.db) }
    }

    /// `sqlite3_limit`: sets limit `id` to `new` (a negative `new` only reads it); returns the
    /// value before the call.
    pub(crate) fn limit(&self, id: c_int, new: c_int) -> c_int {
        // SAFETY: db is an open connection; SQLite ignores ids it does not know (returning -1).
        unsafe { ffi::sqlite3_limit(self.db, id, new) }
    }

    /// Removes the virtual table module `name` from the connection (`sqlite3_create_module_v2`
    /// with no module, which drops one of that name if there is one).
    pub(crate) fn drop_module(&self, name: &CStr) -> Result<()> {
        // SAFETY: db is an open connection and `name` a NUL-terminated string that outlives the
        // call; a NULL module with no client data or destructor only removes the named module.
        let rc = unsafe { ffi::sqlite3_create_module_v2(self.db, name.as_ptr(), ptr::null(), ptr::null_mut(), None) };
        if rc == ffi::SQLITE_OK { Ok(()) } else { Err(self.error(rc)) }
    }

    /// Sets a boolean `SQLITE_DBCONFIG_*` option (`on`: 1 on, 0 off, -1 only query) and returns
    /// its value afterwards. `op` must be one of the boolean options, which all take an `int`
    /// and an `int*` (the caller, `Connection::set_db_config`, only passes those).
    pub(crate) fn db_config_bool(&self, op: c_int, on: c_int) -> Result<bool> {
        let mut now: c_int = 0;
        // SAFETY: db is an open connection; for the boolean options SQLite reads exactly an
        // int and an int* (the variadic arguments given here), and writes through the pointer
        // only during the call, while `now` is alive.
        let rc = unsafe { ffi::sqlite3_db_config(self.db, op, on, &raw mut now) };
        self.check(rc)?;
        Ok(now != 0)
    }

    /// The file name of the main database; `None` for in-memory and temporary databases.
    pub(crate) fn path(&self) -> Option<&str> {
        // SAFETY: db is open and the name is a static NUL-terminated string.
        let p = unsafe { ffi::sqlite3_db_filename(self.db, c"main".as_ptr()) };
        if p.is_null() {
            return None;
        }
        // SAFETY: SQLite returns a NUL-terminated name that lives as long as the connection, and
        // the returned &str borrows `self`, which cannot be closed while it is borrowed.
        let s = unsafe { CStr::from_ptr(p) }.to_str().ok()?;
        (!s.is_empty()).then_some(s)
    }

    /// Registers a function or aggregate (`sqlite3_create_function_v2`).
    ///
    /// # Safety
    ///
    /// `user_data` must be what `x_func`/`x_step`/`x_final` expect to find with
    /// `sqlite3_user_data`, and `x_destroy` must free it exactly once. SQLite calls `x_destroy`
    /// itself if registration fails, so the caller must not free `user_data` afterwards.
    #[allow(clippy::too_many_arguments)]
    pub(crate) unsafe fn create_function(
        &self,
        name: &CStr,
        n_arg: c_int,
        flags: c_int,
        user_data: *mut c_void,
        x_func: Option<XFunc>,
        x_step: Option<XFunc>,
        x_final: Option<XFinal>,
        x_destroy: XDestroy,
    ) -> Result<()> {
        // SAFETY: db is open, name is NUL-terminated; the callbacks and user data agree (the
        // caller's contract) and x_destroy owns user_data from here on.
        let rc = unsafe {
            ffi::sqlite3_create_function_v2(
                self.db,
                name.as_ptr(),
                n_arg,
                flags,
                user_data,
                x_func,
                x_step,
                x_final,
                Some(x_destroy),
            )
        };
        self.check(rc)
    }

    /// Unregisters a function or aggregate.
    pub(crate) fn remove_function(&self, name: &CStr, n_arg: c_int) -> Result<()> {
        // SAFETY: db is open, name is NUL-terminated; passing no callbacks deletes the function
        // (and SQLite runs the destructor of the old user data).
        let rc = unsafe {
            ffi::sqlite3_create_function_v2(
                self.db,
                name.as_ptr(),
                n_arg,
                ffi::SQLITE_UTF8,
                ptr::null_mut(),
                None,
                None,
                None,
                None,
            )
        };
        self.check(rc)
    }

    pub(crate) fn set_commit_hook(&self, hook: Option<CommitHook>) {
        let cell = hook.map(|h| Box::new(RefCell::new(h)));
        let data = cell.as_deref().map_or(ptr::null_mut(), |c| ptr::from_ref(c).cast_mut().cast::<c_void>());
        let thunk = cell.as_ref().map(|_| hooks::commit_thunk as unsafe extern "C" fn(*mut c_void) -> c_int);
        // SAFETY: db is open; `data` is null (unregister) or the cell that `thunk` expects,
        // which stays alive in `commit_hook` until SQLite no longer points at it.
        unsafe { ffi::sqlite3_commit_hook(self.db, thunk, data) };
        retire(self.commit_hook.replace(cell));
    }

    pub(crate) fn set_rollback_hook(&self, hook: Option<RollbackHook>) {
        let cell = hook.map(|h| Box::new(RefCell::new(h)));
        let data = cell.as_deref().map_or(ptr::null_mut(), |c| ptr::from_ref(c).cast_mut().cast::<c_void>());
        let thunk = cell.as_ref().map(|_| hooks::rollback_thunk as unsafe extern "C" fn(*mut c_void));
        // SAFETY: as for set_commit_hook.
        unsafe { ffi::sqlite3_rollback_hook(self.db, thunk, data) };
        retire(self.rollback_hook.replace(cell));
    }

    pub(crate) fn set_update_hook(&self, hook: Option<UpdateHook>) {
        let cell = hook.map(|h| Box::new(RefCell::new(h)));
        let data = cell.as_deref().map_or(ptr::null_mut(), |c| ptr::from_ref(c).cast_mut().cast::<c_void>());
        let thunk = cell.as_ref().map(|_| hooks::update_thunk as hooks::UpdateThunk);
        // SAFETY: as for set_commit_hook.
        unsafe { ffi::sqlite3_update_hook(self.db, thunk, data) };
        retire(self.update_hook.replace(cell));
    }

    pub(crate) fn set_authorizer(&self, hook: Option<Authorizer>) {
        let cell = hook.map(|h| Box::new(RefCell::new(h)));
        let data = cell.as_deref().map_or(ptr::null_mut(), |c| ptr::from_ref(c).cast_mut().cast::<c_void>());
        let thunk = cell.as_ref().map(|_| hooks::authorizer_thunk as hooks::AuthorizerThunk);
        // SAFETY: as for set_commit_hook.
        let rc = unsafe { ffi::sqlite3_set_authorizer(self.db, thunk, data) };
        // sqlite3_set_authorizer only fails for a misused handle, which `self` cannot be.
        debug_assert_eq!(rc, ffi::SQLITE_OK);
        retire(self.authorizer.replace(cell));
    }

    pub(crate) fn set_progress_handler(&self, num_ops: c_int, hook: Option<ProgressHandler>) {
        let cell = hook.map(|h| Box::new(RefCell::new(h)));
        let data = cell.as_deref().map_or(ptr::null_mut(), |c| ptr::from_ref(c).cast_mut().cast::<c_void>());
        let thunk = cell.as_ref().map(|_| hooks::progress_thunk as unsafe extern "C" fn(*mut c_void) -> c_int);
        // SAFETY: as for set_commit_hook (a null callback, or `num_ops` < 1, unregisters).
        unsafe { ffi::sqlite3_progress_handler(self.db, num_ops, thunk, data) };
        retire(self.progress_handler.replace(cell));
    }

    fn clear_hooks(&self) {
        if self.progress_handler.borrow().is_some() {
            self.set_progress_handler(0, None);
        }
        if self.authorizer.borrow().is_some() {
            self.set_authorizer(None);
        }
        if self.commit_hook.borrow().is_some() {
            self.set_commit_hook(None);
        }
        if self.rollback_hook.borrow().is_some() {
            self.set_rollback_hook(None);
        }
        if self.update_hook.borrow().is_some() {
            self.set_update_hook(None);
        }
    }

    /// Opens a blob handle (`sqlite3_blob_open`); the caller owns the returned non-null handle.
    pub(crate) fn blob_open(
        &self,
        db_name: &CStr,
        table: &CStr,
        column: &CStr,
        rowid: i64,
        read_only: bool,
    ) -> Result<*mut ffi::sqlite3_blob> {
        let mut blob: *mut ffi::sqlite3_blob = ptr::null_mut();
        // SAFETY: db is open, the names are NUL-terminated, blob is a valid out-pointer.
        let rc = unsafe {
            ffi::sqlite3_blob_open(
                self.db,
                db_name.as_ptr(),
                table.as_ptr(),
                column.as_ptr(),
                rowid,
                c_int::from(!read_only),
                &raw mut blob,
            )
        };
        self.check(rc)?;
        Ok(blob)
    }

    /// Starts a backup from `source` into this connection (`sqlite3_backup_init`); the caller
    /// owns the returned non-null handle.
    pub(crate) fn backup_init(
        &self,
        dest_name: &CStr,
        source: &InnerConnection,
        source_name: &CStr,
    ) -> Result<*mut ffi::sqlite3_backup> {
        // SAFETY: both connections are open and the names NUL-terminated.
        let b = unsafe { ffi::sqlite3_backup_init(self.db, dest_name.as_ptr(), source.db, source_name.as_ptr()) };
        if b.is_null() {
            // SAFETY: db is open; the failure is recorded on the destination connection.
            let rc = unsafe { ffi::sqlite3_extended_errcode(self.db) };
            return Err(self.error(rc));
        }
        Ok(b)
    }
}

/// Frees a hook SQLite no longer points at, unless it is running right now (it was replaced
/// from inside itself): freeing it then would pull the closure from under its own call, so it
/// is leaked instead. Only a hook that reaches its own connection (e.g. through a reentrant
/// lock) can get there.
fn retire<T>(old: Option<Box<RefCell<T>>>) {
    if let Some(old) = old
        && old.try_borrow_mut().is_err()
    {
        std::mem::forget(old);
    }
}

impl Drop for InnerConnection {
    fn drop(&mut self) {
        if self.db.is_null() {
            return;
        }
        self.clear_hooks();
        // SAFETY: db is open and owned by us. sqlite3_close_v2 never fails for a valid handle:
        // if statements are still open (only possible if one was leaked with mem::forget) it
        // defers the close until they are finalized.
        unsafe { ffi::sqlite3_close_v2(self.db) };
    }
}
