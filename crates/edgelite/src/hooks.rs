//! Commit, rollback and update hooks, the authorizer and the progress handler.
//!
//! A hook is a closure the connection calls on an event. Only one hook of each kind is set at
//! a time; setting another (or `None`) replaces it. Panics inside a hook never reach SQLite:
//! a panicking commit hook turns the commit into a rollback; a panic in a rollback or update
//! hook is swallowed (SQLite has no way to receive an error from them); a panicking progress
//! handler interrupts the statement.
//!
//! ```
//! use std::sync::{Arc, Mutex};
//! use edgelite::hooks::Action;
//! use edgelite::Connection;
//!
//! let conn = Connection::open_in_memory()?;
//! let seen = Arc::new(Mutex::new(Vec::new()));
//! let log = Arc::clone(&seen);
//! conn.update_hook(Some(move |action: Action, _db: &str, table: &str, rowid: i64| {
//!     log.lock().unwrap().push((action, table.to_owned(), rowid));
//! }));
//! conn.execute_batch("CREATE TABLE t(x); INSERT INTO t VALUES (1); DELETE FROM t WHERE x = 1")?;
//! assert_eq!(*seen.lock().unwrap(), [(Action::Insert, "t".to_owned(), 1), (Action::Delete, "t".to_owned(), 1)]);
//! # Ok::<(), edgelite::Error>(())
//! ```

use std::borrow::Cow;
use std::cell::RefCell;
use std::ffi::{CStr, c_char, c_int, c_void};
use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::Connection;
use crate::ffi;

pub(crate) type CommitHook = Box<dyn FnMut() -> bool + Send>;
pub(crate) type ProgressHandler = Box<dyn FnMut() -> bool + Send>;
pub(crate) type RollbackHook = Box<dyn FnMut() + Send>;
pub(crate) type UpdateHook = Box<dyn FnMut(Action, &str, &str, i64) + Send>;
pub(crate) type UpdateThunk = unsafe extern "C" fn(*mut c_void, c_int, *const c_char, *const c_char, i64);
pub(crate) type Authorizer = Box<dyn FnMut(AuthContext<'_>) -> Authorization + Send>;
pub(crate) type AuthorizerThunk =
    unsafe extern "C" fn(*mut c_void, c_int, *const c_char, *const c_char, *const c_char, *const c_char) -> c_int;

/// What an authorizer asks SQLite to do with an action.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Authorization {
    /// Allow it.
    Allow,
    /// Fail the statement's preparation with `SQLITE_AUTH` ("not authorized").
    Deny,
    /// Carry on but treat it as a no-op (a column read gives NULL).
    Ignore,
}

/// An action SQLite asks an authorizer about while it compiles a statement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AuthContext<'a> {
    /// The action code (`ffi::SQLITE_PRAGMA`, `ffi::SQLITE_ATTACH`, `ffi::SQLITE_INSERT`, …).
    pub action: i32,
    /// The action's first detail (a table, pragma or file name; see SQLite's authorizer codes).
    pub arg1: Option<&'a str>,
    /// The action's second detail (a column name, a pragma's argument, …).
    pub arg2: Option<&'a str>,
    /// The database (`"main"`, `"temp"`, an attached name), when there is one.
    pub database: Option<&'a str>,
    /// The innermost trigger or view responsible, if any.
    pub accessor: Option<&'a str>,
}

/// The kind of change an update hook reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Action {
    /// A row was inserted.
    Insert,
    /// A row was updated.
    Update,
    /// A row was deleted.
    Delete,
    /// A code this crate does not know.
    Unknown(i32),
}

impl From<c_int> for Action {
    fn from(code: c_int) -> Action {
        match code {
            ffi::SQLITE_INSERT => Action::Insert,
            ffi::SQLITE_UPDATE => Action::Update,
            ffi::SQLITE_DELETE => Action::Delete,
            other => Action::Unknown(other),
        }
    }
}

impl Connection {
    /// Sets (or with `None` removes) the hook called when a transaction is about to commit.
    /// If it returns `true`, the commit becomes a rollback (the statement fails with
    /// `SQLITE_CONSTRAINT_COMMITHOOK`).
    ///
    /// The hook must not use this connection (it cannot: it is `'static`).
    pub fn commit_hook<F>(&self, hook: Option<F>)
    where
        F: FnMut() -> bool + Send + 'static,
    {
        self.inner().set_commit_hook(hook.map(|f| Box::new(f) as CommitHook));
    }

    /// Sets (or with `None` removes) the hook called when a transaction rolls back (explicitly
    /// or after an error; not when the connection closes).
    pub fn rollback_hook<F>(&self, hook: Option<F>)
    where
        F: FnMut() + Send + 'static,
    {
        self.inner().set_rollback_hook(hook.map(|f| Box::new(f) as RollbackHook));
    }

    /// Sets (or with `None` removes) the authorizer: called while statements are prepared, once
    /// per action they would take, to allow, deny or ignore it. A panicking authorizer denies.
    ///
    /// ```
    /// use edgelite::hooks::{AuthContext, Authorization};
    /// let conn = edgelite::Connection::open_in_memory()?;
    /// conn.authorizer(Some(|ctx: AuthContext<'_>| {
    ///     if ctx.action == edgelite::ffi::SQLITE_ATTACH { Authorization::Deny } else { Authorization::Allow }
    /// }));
    /// assert!(conn.execute_batch("ATTACH ':memory:' AS other").is_err());
    /// conn.execute_batch("CREATE TABLE t(x)")?;
    /// # Ok::<(), edgelite::Error>(())
    /// ```
    pub fn authorizer<F>(&self, hook: Option<F>)
    where
        F: FnMut(AuthContext<'_>) -> Authorization + Send + 'static,
    {
        self.inner().set_authorizer(hook.map(|f| Box::new(f) as Authorizer));
    }

    /// Sets (or with `None` removes) the progress handler: called about every `num_ops` virtual
    /// machine instructions of a running statement (`sqlite3_progress_handler`), for instance to
    /// report that long work goes on. If it returns `true` the statement stops with
    /// [`ErrorCode::OperationInterrupted`](crate::ErrorCode::OperationInterrupted), as after
    /// [`Connection::interrupt`]; so does a panic in it. `num_ops` < 1 removes the handler.
    ///
    /// Work that runs inside one instruction calls it only between instructions: a
    /// `CREATE INDEX` with `libsql_vector_idx` adds one row to the graph per instruction of its
    /// table scan, so the handler runs throughout the build, and returning `true` stops it
    /// (the build leaves nothing behind).
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    ///
    /// let conn = edgelite::Connection::open_in_memory()?;
    /// let calls = Arc::new(AtomicUsize::new(0));
    /// let seen = Arc::clone(&calls);
    /// conn.progress_handler(100, Some(move || { seen.fetch_add(1, Ordering::Relaxed); false }));
    /// conn.query_row("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 10000)
    ///                 SELECT count(*) FROM c", [], |r| r.get::<_, i64>(0))?;
    /// assert!(calls.load(Ordering::Relaxed) > 10);
    ///
    /// conn.progress_handler(100, Some(|| true)); // stop everything
    /// assert!(conn.execute_batch("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c)
    ///                             SELECT count(*) FROM c").is_err());
    /// conn.progress_handler(0, None::<fn() -> bool>);
    /// # Ok::<(), edgelite::Error>(())
    /// ```
    pub fn progress_handler<F>(&self, num_ops: i32, handler: Option<F>)
    where
        F: FnMut() -> bool + Send + 'static,
    {
        self.inner().set_progress_handler(num_ops, handler.map(|f| Box::new(f) as ProgressHandler));
    }

    /// Sets (or with `None` removes) the busy handler (`sqlite3_busy_handler`): called with the
    /// number of earlier calls for the same lock when the database is locked by another
    /// connection; `true` tries again, `false` fails with `DatabaseBusy`. It replaces
    /// [`Connection::busy_timeout`], and `busy_timeout` replaces it. A function, not a closure,
    /// as in rusqlite: what it needs beyond the count comes from its thread (it runs on the
    /// thread stepping the statement).
    ///
    /// ```
    /// fn wait_a_little(count: i32) -> bool {
    ///     std::thread::sleep(std::time::Duration::from_millis(1));
    ///     count < 3
    /// }
    /// let conn = edgelite::Connection::open_in_memory()?;
    /// conn.busy_handler(Some(wait_a_little))?;
    /// conn.busy_handler(None)?;
    /// # Ok::<(), edgelite::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// An SQLite failure (none is expected).
    pub fn busy_handler(&self, handler: Option<fn(i32) -> bool>) -> crate::Result<()> {
        self.inner().busy_handler(handler)
    }

    /// Sets (or with `None` removes) the hook called for each row inserted, updated or deleted
    /// in a rowid table, with the action, database name, table name and rowid.
    pub fn update_hook<F>(&self, hook: Option<F>)
    where
        F: FnMut(Action, &str, &str, i64) + Send + 'static,
    {
        self.inner().set_update_hook(hook.map(|f| Box::new(f) as UpdateHook));
    }
}

/// Runs `f` for a callback from C: `default` if it panics. The panic's payload is dropped under
/// a guard of its own too, since its Drop may panic as well, and nothing may unwind into C.
pub(crate) fn ffi_guard<T>(default: T, f: impl FnOnce() -> T) -> T {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(v) => v,
        Err(payload) => {
            let _ = catch_unwind(AssertUnwindSafe(move || drop(payload)));
            default
        }
    }
}

/// The registered commit hook; nonzero asks SQLite to roll back.
pub(crate) unsafe extern "C" fn commit_thunk(data: *mut c_void) -> c_int {
    // A panic vetoes the commit: the transaction's outcome is unknown to the hook's author.
    let veto = ffi_guard(true, || {
        // SAFETY: data is the RefCell<CommitHook> that InnerConnection registered and keeps
        // alive while registered (and while running, see `retire`).
        let cell = unsafe { &*data.cast::<RefCell<CommitHook>>() };
        // A hook re-entered from inside itself is not run again (that would alias it).
        cell.try_borrow_mut().is_ok_and(|mut hook| hook())
    });
    c_int::from(veto)
}

/// The registered progress handler; nonzero interrupts the running statement.
pub(crate) unsafe extern "C" fn progress_thunk(data: *mut c_void) -> c_int {
    let stop = ffi_guard(true, || {
        // SAFETY: as for commit_thunk, with a RefCell<ProgressHandler>.
        let cell = unsafe { &*data.cast::<RefCell<ProgressHandler>>() };
        // Re-entered (the handler ran a statement on its own connection): carry on.
        cell.try_borrow_mut().is_ok_and(|mut hook| hook())
    });
    c_int::from(stop)
}

/// The registered busy handler: `data` is the `fn(c_int) -> bool` given to
/// [`Connection::busy_handler`]; nonzero asks SQLite to try again.
pub(crate) unsafe extern "C" fn busy_thunk(data: *mut c_void, count: c_int) -> c_int {
    // SAFETY: data was made from a `fn(c_int) -> bool` by `InnerConnection::busy_handler`, and
    // function pointers and data pointers have the same size on every target SQLite supports.
    let handler = unsafe { std::mem::transmute::<*mut c_void, fn(c_int) -> bool>(data) };
    // A panic gives up waiting: the statement fails with SQLITE_BUSY.
    c_int::from(ffi_guard(false, || handler(count)))
}

/// The registered rollback hook.
pub(crate) unsafe extern "C" fn rollback_thunk(data: *mut c_void) {
    ffi_guard((), || {
        // SAFETY: as for commit_thunk, with a RefCell<RollbackHook>.
        let cell = unsafe { &*data.cast::<RefCell<RollbackHook>>() };
        if let Ok(mut hook) = cell.try_borrow_mut() {
            hook();
        }
    });
}

/// The registered update hook.
pub(crate) unsafe extern "C" fn update_thunk(
    data: *mut c_void,
    op: c_int,
    db_name: *const c_char,
    table: *const c_char,
    rowid: i64,
) {
    ffi_guard((), || {
        // SAFETY: SQLite passes NUL-terminated names valid for the call.
        let db_name = unsafe { opt_str(db_name) }.unwrap_or_default();
        // SAFETY: as above.
        let table = unsafe { opt_str(table) }.unwrap_or_default();
        // SAFETY: as for commit_thunk, with a RefCell<UpdateHook>.
        let cell = unsafe { &*data.cast::<RefCell<UpdateHook>>() };
        if let Ok(mut hook) = cell.try_borrow_mut() {
            hook(Action::from(op), &db_name, &table, rowid);
        }
    });
}

/// The registered authorizer.
pub(crate) unsafe extern "C" fn authorizer_thunk(
    data: *mut c_void,
    action: c_int,
    arg1: *const c_char,
    arg2: *const c_char,
    database: *const c_char,
    accessor: *const c_char,
) -> c_int {
    let outcome = ffi_guard(Authorization::Deny, || {
        // SAFETY: SQLite passes null or NUL-terminated strings valid for the call.
        let a1 = unsafe { opt_str(arg1) };
        // SAFETY: as above.
        let a2 = unsafe { opt_str(arg2) };
        // SAFETY: as above.
        let db = unsafe { opt_str(database) };
        // SAFETY: as above.
        let acc = unsafe { opt_str(accessor) };
        // SAFETY: as for commit_thunk, with a RefCell<Authorizer>.
        let cell = unsafe { &*data.cast::<RefCell<Authorizer>>() };
        // Re-entered (the authorizer prepared a statement on its own connection): deny.
        cell.try_borrow_mut().map_or(Authorization::Deny, |mut hook| {
            hook(AuthContext {
                action,
                arg1: a1.as_deref(),
                arg2: a2.as_deref(),
                database: db.as_deref(),
                accessor: acc.as_deref(),
            })
        })
    });
    match outcome {
        Authorization::Allow => ffi::SQLITE_OK,
        Authorization::Deny => ffi::SQLITE_DENY,
        Authorization::Ignore => ffi::SQLITE_IGNORE,
    }
}

/// A nullable name from SQLite (invalid UTF-8 replaced).
///
/// # Safety
///
/// `p` is null or NUL-terminated and valid for `'a`.
unsafe fn opt_str<'a>(p: *const c_char) -> Option<Cow<'a, str>> {
    if p.is_null() {
        return None;
    }
    // SAFETY: the caller's contract.
    Some(unsafe { CStr::from_ptr(p) }.to_string_lossy())
}
