//! Writes through an embedded replica's connection run on the primary (core patch 0003's
//! statement hook, PATCHES.md).
//!
//! The primary decides what a write does; the local file only ever holds the primary's
//! commits. So a write is sent to the primary, and the local copy of its effect is never
//! committed:
//!
//! - **A write outside a transaction** (autocommit) runs on the primary as one statement; the
//!   replica then syncs, so the program's next read sees it; `sqlite3_changes()` and
//!   `sqlite3_last_insert_rowid()` are the primary's. It does not run locally, unless it returns
//!   rows (`RETURNING`): then it runs on the primary inside a transaction, and locally inside
//!   one of ours that produces the rows, and when the statement ends the primary commits, the
//!   local transaction is rolled back and the replica syncs.
//! - **A transaction** (`BEGIN`, `SAVEPOINT`; what Python's `sqlite3` issues before an
//!   `INSERT`) starts locally. At its first write a transaction opens on the primary (`BEGIN
//!   IMMEDIATE`, then the savepoints already open); from then on every write and savepoint
//!   statement runs on the primary first and then locally (`PRAGMA query_only` is lifted while
//!   such a transaction is open), so reads in the transaction see its writes. `COMMIT` (or the
//!   `RELEASE` that ends it) commits on the primary, rolls the local transaction back and
//!   syncs; `ROLLBACK` rolls back both.
//! - Reads and `PRAGMA`s run locally. Reads before a transaction's first write see the
//!   replica's last sync, not the primary's latest state (as on sqld's replicas).
//!
//! If a statement succeeds on the primary but fails locally (the replica was behind), the
//! transaction can no longer commit: `COMMIT` rolls both back and fails with `SQLITE_ABORT`.
//! A write to a `TEMP` table is a write too: it runs on the primary's stream, and is rolled back
//! locally at the end of the transaction.

use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use edgelite::replica::{PrimaryTransaction, Replica, Written};
use edgelite::types::Value;
use edgelite_sys as ffi;

/// One replica connection: its replica and what it has open on the primary. Owned by the
/// connection (the user data of its `edgelite_sync()` function, dropped when it closes).
pub(crate) struct Conn {
    pub(crate) replica: Arc<Replica>,
    /// Set while the hook itself runs SQL on the connection: those statements are ours.
    in_hook: AtomicBool,
    /// Set while `query_only` is lifted for the local mirror of a transaction on the primary:
    /// the commit hook then refuses any local commit (see [`commit_hook`]).
    mirroring: AtomicBool,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// The transaction open on the primary, if a write has been sent in this one.
    remote: Option<PrimaryTransaction>,
    /// The local savepoints open, oldest first (names as written, compared like SQLite's).
    savepoints: Vec<String>,
    /// The local transaction began with a `SAVEPOINT` (its outermost `RELEASE` commits).
    by_savepoint: bool,
    /// `PRAGMA query_only` is off: a transaction on the primary is mirrored locally.
    speculative: bool,
    /// A statement succeeded on the primary and failed here: the transaction cannot commit,
    /// unless a `ROLLBACK TO` a savepoint opened before it undoes it on both sides (the number
    /// of savepoints open when it failed).
    poisoned: Option<String>,
    poisoned_depth: usize,
    /// The `RETURNING` write (statement address) whose local transaction is ours to end.
    auto: Option<usize>,
    /// What each statement that [`Cx::begin`] let run is, from its start to its end (a
    /// program may step several at once), with what the primary did.
    running: Vec<(usize, Kind, Option<Written>)>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Kind {
    Read,
    Pragma,
    Write,
    Begin,
    Commit,
    Rollback,
    Savepoint(String),
    Release(String),
    RollbackTo(String),
}

impl Conn {
    pub(crate) fn new(replica: Arc<Replica>) -> Conn {
        Conn { replica, in_hook: AtomicBool::new(false), mirroring: AtomicBool::new(false), state: Mutex::default() }
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        let state = self.state.get_mut().unwrap_or_else(PoisonError::into_inner);
        if let Some(t) = state.remote.take() {
            // A RETURNING write whose rows the program read: it was told it happened.
            if state.auto.is_some() {
                let _ = t.commit();
            }
        }
    }
}

/// The first keywords of a statement, upper-cased, and the name after them (for savepoints).
fn words(sql: &str, n: usize) -> Vec<String> {
    let b = sql.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while out.len() < n && i < b.len() {
        match b[i] {
            c if c.is_ascii_whitespace() || c == b';' => i += 1,
            b'-' if b.get(i + 1) == Some(&b'-') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i < b.len() && !(b[i] == b'*' && b.get(i + 1) == Some(&b'/')) {
                    i += 1;
                }
                i += 2;
            }
            q @ (b'"' | b'\'' | b'`' | b'[') => {
                let close = if q == b'[' { b']' } else { q };
                let start = i + 1;
                i = start;
                while i < b.len() && b[i] != close {
                    i += 1;
                }
                out.push(String::from_utf8_lossy(&b[start..i.min(b.len())]).into_owned());
                i += 1;
            }
            _ => {
                let start = i;
                while i < b.len() && !b[i].is_ascii_whitespace() && b[i] != b';' {
                    i += 1;
                }
                out.push(String::from_utf8_lossy(&b[start..i]).to_ascii_uppercase());
            }
        }
    }
    out
}

/// What `sql` is, with the statement's own view of whether it writes.
fn classify(sql: &str, readonly: bool, explain: bool) -> Kind {
    if explain {
        return Kind::Read;
    }
    let w = words(sql, 6);
    let at = |i: usize| w.get(i).map_or("", String::as_str);
    match at(0) {
        "BEGIN" => Kind::Begin,
        "COMMIT" | "END" => Kind::Commit,
        "ROLLBACK" => {
            let to = if at(1) == "TRANSACTION" { 2 } else { 1 };
            if at(to) == "TO" {
                let name = if at(to + 1) == "SAVEPOINT" { w.get(to + 2) } else { w.get(to + 1) };
                Kind::RollbackTo(name.cloned().unwrap_or_default())
            } else {
                Kind::Rollback
            }
        }
        "SAVEPOINT" => Kind::Savepoint(at(1).to_owned()),
        "RELEASE" => Kind::Release(if at(1) == "SAVEPOINT" { at(2) } else { at(1) }.to_owned()),
        // PRAGMAs set up the connection; one that writes is refused (see `Cx::begin`).
        "PRAGMA" => Kind::Pragma,
        _ if readonly => Kind::Read,
        _ => Kind::Write,
    }
}

/// An error for the hook to report: its result code and message.
struct Failure(c_int, String);

impl From<edgelite::Error> for Failure {
    fn from(e: edgelite::Error) -> Failure {
        let code = match &e {
            edgelite::Error::Replication(r) => r.sqlite_code(),
            other => other.extended_code().unwrap_or(ffi::SQLITE_ERROR),
        };
        Failure(code, e.to_string())
    }
}

/// Runs `sql` on the connection (the hook's own statements), as a [`Failure`] if it fails.
///
/// # Safety
/// `db` is a valid connection whose mutex this thread holds.
unsafe fn exec(db: *mut ffi::sqlite3, sql: &CStr) -> Result<(), Failure> {
    let mut err: *mut c_char = std::ptr::null_mut();
    // SAFETY: `db` is valid (caller); `sql` is NUL-terminated; no callback; `err` receives a
    // sqlite3_malloc'd message or stays null.
    let rc = unsafe { ffi::sqlite3_exec(db, sql.as_ptr(), None, std::ptr::null_mut(), &raw mut err) };
    if rc == ffi::SQLITE_OK {
        return Ok(());
    }
    let message = if err.is_null() {
        format!("{} failed ({rc})", sql.to_string_lossy())
    } else {
        // SAFETY: a non-null message is NUL-terminated; it is freed right after.
        let m = unsafe { CStr::from_ptr(err) }.to_string_lossy().into_owned();
        // SAFETY: `err` came from sqlite3_malloc (sqlite3_exec's contract).
        unsafe { ffi::sqlite3_free(err.cast()) };
        m
    };
    // SAFETY: `db` is valid.
    Err(Failure(unsafe { ffi::sqlite3_extended_errcode(db) }, message))
}

/// # Safety
/// `v` is null or a valid `sqlite3_value`.
unsafe fn value(v: *mut ffi::sqlite3_value) -> Value {
    if v.is_null() {
        return Value::Null;
    }
    // SAFETY: `v` is a valid value (caller).
    match unsafe { ffi::sqlite3_value_type(v) } {
        // SAFETY: as above.
        ffi::SQLITE_INTEGER => Value::Integer(unsafe { ffi::sqlite3_value_int64(v) }),
        // SAFETY: as above.
        ffi::SQLITE_FLOAT => Value::Real(unsafe { ffi::sqlite3_value_double(v) }),
        ffi::SQLITE_TEXT => {
            // SAFETY: as above; the text is read (and its length taken after it) at once.
            let p = unsafe { ffi::sqlite3_value_text(v) };
            // SAFETY: as above.
            let n = usize::try_from(unsafe { ffi::sqlite3_value_bytes(v) }).unwrap_or(0);
            if p.is_null() {
                return Value::Text(String::new());
            }
            // SAFETY: `p` points at `n` bytes of the value's text, valid until the value changes.
            Value::Text(String::from_utf8_lossy(unsafe { std::slice::from_raw_parts(p, n) }).into_owned())
        }
        ffi::SQLITE_BLOB => {
            // SAFETY: as above.
            let p = unsafe { ffi::sqlite3_value_blob(v) }.cast::<u8>();
            // SAFETY: as above.
            let n = usize::try_from(unsafe { ffi::sqlite3_value_bytes(v) }).unwrap_or(0);
            if p.is_null() {
                return Value::Blob(Vec::new());
            }
            // SAFETY: `p` points at the blob's `n` bytes, valid until the value changes.
            Value::Blob(unsafe { std::slice::from_raw_parts(p, n) }.to_vec())
        }
        _ => Value::Null,
    }
}

/// The commit hook of a replica connection (`arg` is its [`Conn`]): the last guard of the rule
/// that the local file only ever commits the primary's pages. While a transaction is mirrored
/// locally, a local commit that the statement hook did not turn into the primary's (it never
/// should) becomes a rollback, and the statement fails with `SQLITE_CONSTRAINT_COMMITHOOK`.
///
/// # Safety
/// Called by SQLite with the `Conn` the hook was installed with, alive as long as the
/// connection.
pub(crate) unsafe extern "C" fn commit_hook(arg: *mut c_void) -> c_int {
    // SAFETY: `arg` is the installed Conn (caller).
    let conn = unsafe { &*arg.cast::<Conn>() };
    c_int::from(conn.mirroring.load(Ordering::Relaxed))
}

/// The statement hook ([`ffi::StepHook`]) of a replica connection; `arg` is its [`Conn`].
///
/// # Safety
/// Called by the core (patch 0003) with the connection's mutex held, `arg` the `Conn` the
/// hook was installed with (alive as long as the connection) and `stmt` a statement of it.
pub(crate) unsafe extern "C" fn step_hook(
    arg: *mut c_void,
    stmt: *mut ffi::sqlite3_stmt,
    event: c_int,
    rc: c_int,
    n_change: *mut i64,
    err: *mut *mut c_char,
) -> c_int {
    // SAFETY: `arg` is the installed Conn, alive while the connection is (caller).
    let conn = unsafe { &*arg.cast::<Conn>() };
    if conn.in_hook.load(Ordering::Relaxed) {
        return rc;
    }
    conn.in_hook.store(true, Ordering::Relaxed);
    let r = catch_unwind(AssertUnwindSafe(|| {
        let mut state = conn.state.lock().unwrap_or_else(PoisonError::into_inner);
        // SAFETY: `stmt` is a statement of the connection, whose mutex this thread holds.
        let db = unsafe { ffi::sqlite3_db_handle(stmt) };
        // Cx's invariant holds: `db` and `stmt` are valid for this call, the mutex is held.
        let mut cx =
            Cx { replica: &conn.replica, mirroring: &conn.mirroring, db, stmt, state: &mut state, changes: None };
        let out = if event == ffi::EDGELITE_STEP_BEGIN { cx.begin() } else { cx.end(rc).map(|()| rc) };
        (out, cx.changes)
    }));
    conn.in_hook.store(false, Ordering::Relaxed);
    let (out, changes) = match r {
        Ok(r) => r,
        Err(_) => (Err(Failure(ffi::SQLITE_INTERNAL, "edgelite: the replica's statement hook panicked".into())), None),
    };
    if let Some(n) = changes {
        // SAFETY: `n_change` is the core's out-pointer for this call.
        unsafe { *n_change = n };
    }
    match out {
        Ok(code) => code,
        Err(Failure(code, message)) => {
            let m = CString::new(message.replace('\0', " ")).unwrap_or_default();
            // SAFETY: a "%s" format with one NUL-terminated argument; the result is a
            // sqlite3_malloc'd string (or null on OOM).
            let copy = unsafe { ffi::sqlite3_mprintf(c"%s".as_ptr(), m.as_ptr()) };
            // SAFETY: `err` is the core's out-pointer for such a string (caller).
            unsafe { *err = copy };
            code
        }
    }
}

/// One call of the hook. Invariant: `db` is a valid connection whose mutex this thread holds
/// (recursive: the hook may run SQL on it), and `stmt` one of its statements; so its methods
/// may call SQLite with them.
struct Cx<'a> {
    replica: &'a Replica,
    mirroring: &'a AtomicBool,
    db: *mut ffi::sqlite3,
    stmt: *mut ffi::sqlite3_stmt,
    state: &'a mut State,
    /// What `sqlite3_changes()` must report, if not the core's count.
    changes: Option<i64>,
}

impl Cx<'_> {
    /// Runs the hook's own `sql` on the connection.
    fn exec(&self, sql: &CStr) -> Result<(), Failure> {
        // SAFETY: `db` is valid and its mutex held (Cx).
        unsafe { exec(self.db, sql) }
    }

    fn autocommit(&self) -> bool {
        // SAFETY: `db` is valid (Cx).
        unsafe { ffi::sqlite3_get_autocommit(self.db) != 0 }
    }

    /// The statement's SQL text.
    fn sql(&self) -> String {
        // SAFETY: `stmt` is valid (Cx).
        let p = unsafe { ffi::sqlite3_sql(self.stmt) };
        if p.is_null() {
            return String::new();
        }
        // SAFETY: a non-null result is the statement's NUL-terminated text.
        unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
    }

    /// A read that is no transaction statement or PRAGMA: it runs locally as it is. Every read
    /// of a replica connection passes here, so this looks at the first keyword in place,
    /// without copying the SQL.
    fn plain_read(&self) -> bool {
        if !self.readonly() {
            return false;
        }
        // SAFETY: `stmt` is valid (Cx).
        let p = unsafe { ffi::sqlite3_sql(self.stmt) };
        if p.is_null() {
            return true;
        }
        // SAFETY: a non-null result is the statement's NUL-terminated text, alive while it is.
        let sql = unsafe { CStr::from_ptr(p) }.to_bytes();
        let start = sql.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(sql.len());
        let rest = &sql[start..];
        let word = &rest[..rest.iter().position(|b| !b.is_ascii_alphabetic()).unwrap_or(rest.len())];
        // Comments first, or anything unusual: the full classification decides.
        !word.is_empty()
            && !["BEGIN", "COMMIT", "END", "ROLLBACK", "SAVEPOINT", "RELEASE", "PRAGMA"]
                .iter()
                .any(|k| k.as_bytes().eq_ignore_ascii_case(word))
    }

    /// What the statement, whose text is `sql`, is.
    fn kind(&self, sql: &str) -> Kind {
        // SAFETY: `stmt` is valid (Cx).
        let explain = unsafe { ffi::sqlite3_stmt_isexplain(self.stmt) } != 0;
        classify(sql, self.readonly(), explain)
    }

    /// Whether the statement writes TEMP or an attached database, which the primary has not.
    fn other_schemas(&self) -> bool {
        // SAFETY: `stmt` is valid (Cx).
        unsafe { ffi::edgelite_stmt_writes_other_schemas(self.stmt) != 0 }
    }

    fn readonly(&self) -> bool {
        // SAFETY: `stmt` is valid (Cx).
        unsafe { ffi::sqlite3_stmt_readonly(self.stmt) != 0 }
    }

    fn returns_rows(&self) -> bool {
        // SAFETY: `stmt` is valid (Cx).
        unsafe { ffi::sqlite3_column_count(self.stmt) > 0 }
    }

    fn errmsg(&self) -> String {
        // SAFETY: `db` is valid (Cx); the message is NUL-terminated.
        let p = unsafe { ffi::sqlite3_errmsg(self.db) };
        if p.is_null() {
            return String::new();
        }
        // SAFETY: as above; copied at once.
        unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
    }

    /// The statement's bound values, in parameter order.
    fn bindings(&self) -> Vec<Value> {
        // SAFETY: `stmt` is valid (Cx).
        let n = unsafe { ffi::sqlite3_bind_parameter_count(self.stmt) };
        (1..=n)
            .map(|i| {
                // SAFETY: `stmt` is valid and `i` one of its parameters.
                let v = unsafe { ffi::edgelite_stmt_bound_value(self.stmt, i) };
                // SAFETY: `v` is null or the statement's bound value, read at once.
                unsafe { value(v) }
            })
            .collect()
    }

    /// Whether the statement at `key` is still one of the connection's, and running.
    fn running(&self, key: usize) -> bool {
        // SAFETY: `db` is valid (Cx); null asks for its first statement.
        let mut s = unsafe { ffi::sqlite3_next_stmt(self.db, std::ptr::null_mut()) };
        while !s.is_null() && s as usize != key {
            // SAFETY: `s` is a live statement of `db`.
            s = unsafe { ffi::sqlite3_next_stmt(self.db, s) };
        }
        // SAFETY: a non-null `s` is a live statement of `db`.
        !s.is_null() && unsafe { ffi::sqlite3_stmt_busy(s) } != 0
    }

    /// Before a run: `SQLITE_OK` to run the statement locally, `SQLITE_DONE` if it was done here.
    fn begin(&mut self) -> Result<c_int, Failure> {
        self.end_auto_if_over()?;
        if self.plain_read() {
            return Ok(ffi::SQLITE_OK);
        }
        let sql = self.sql();
        let kind = self.kind(&sql);
        let autocommit = self.autocommit();
        let key = self.stmt as usize;
        let mut written = None;
        if kind == Kind::Write && self.other_schemas() {
            return Err(Failure(
                ffi::SQLITE_READONLY,
                "a write to a TEMP or attached database cannot run through an embedded replica: the primary has \
                 neither; open a separate connection for local scratch tables"
                    .into(),
            ));
        }
        match &kind {
            Kind::Read => return Ok(ffi::SQLITE_OK),
            Kind::Pragma => {
                // Outside a mirrored transaction query_only refuses a pragma that writes; inside
                // one it would change only the local copy, which is rolled back.
                if self.state.speculative && !self.readonly() {
                    return Err(Failure(
                        ffi::SQLITE_READONLY,
                        "attempt to write a readonly database (a PRAGMA that writes would change only this replica)"
                            .into(),
                    ));
                }
                return Ok(ffi::SQLITE_OK);
            }
            Kind::Begin => {
                // BEGIN IMMEDIATE would take the local write lock, which query_only refuses;
                // the primary's transaction is IMMEDIATE from its first write.
                if autocommit && words(&sql, 2).get(1).is_some_and(|w| w == "IMMEDIATE" || w == "EXCLUSIVE") {
                    self.exec(c"BEGIN DEFERRED")?;
                    return Ok(ffi::SQLITE_DONE);
                }
                return Ok(ffi::SQLITE_OK);
            }
            Kind::Write if autocommit => {
                let args = self.bindings();
                let params: Vec<&dyn edgelite::ToSql> = args.iter().map(|v| v as &dyn edgelite::ToSql).collect();
                if !self.returns_rows() {
                    let w = self.replica.execute(&sql, &params)?;
                    self.report(w);
                    return Ok(ffi::SQLITE_DONE);
                }
                // RETURNING: the rows come from a local run that is rolled back, on a replica
                // brought up to date first (so that rowids and defaults match the primary's).
                self.sync();
                let mut t = self.replica.begin_on_primary(&[])?;
                written = Some(t.execute(&sql, &params)?);
                self.exec(c"BEGIN DEFERRED")?;
                self.state.remote = Some(t);
                self.state.auto = Some(key);
                self.speculate()?;
            }
            Kind::Write => {
                let args = self.bindings();
                let params: Vec<&dyn edgelite::ToSql> = args.iter().map(|v| v as &dyn edgelite::ToSql).collect();
                let r = self.open_remote()?.execute(&sql, &params);
                written = Some(r.map_err(|e| self.lost(e))?);
                self.speculate()?;
            }
            Kind::Commit => {
                if self.state.remote.is_some() || self.state.speculative {
                    self.commit()?;
                    return Ok(ffi::SQLITE_DONE);
                }
            }
            Kind::Release(name) => {
                let at = self.savepoint(name);
                if (self.state.remote.is_some() || self.state.speculative) && self.state.by_savepoint && at == Some(0) {
                    self.commit()?;
                    return Ok(ffi::SQLITE_DONE);
                }
                self.forward(&sql)?;
            }
            Kind::Savepoint(_) | Kind::RollbackTo(_) => self.forward(&sql)?,
            Kind::Rollback => {
                if let Some(t) = self.state.remote.take() {
                    let _ = t.rollback();
                }
            }
        }
        if autocommit && matches!(kind, Kind::Savepoint(_)) {
            self.state.by_savepoint = true;
        }
        self.state.running.retain(|(k, ..)| *k != key);
        self.state.running.push((key, kind, written));
        Ok(ffi::SQLITE_OK)
    }

    /// After a run that [`Cx::begin`] let run locally, which ended with `rc`.
    fn end(&mut self, rc: c_int) -> Result<(), Failure> {
        let key = self.stmt as usize;
        if rc == ffi::SQLITE_ROW {
            // A RETURNING write outside a transaction has done all its work at its first row:
            // commit on the primary now, so that a program that reads the rows slowly (or
            // never to the end) does not hold the primary's write lock.
            if self.state.auto == Some(key)
                && let Some(t) = self.state.remote.take()
                && let Err(e) = t.commit()
            {
                let _ = self.take_running(key);
                let _ = self.end_auto(None);
                return Err(e.into());
            }
            return Ok(());
        }
        let Some((_, kind, written)) = self.take_running(key) else {
            return Ok(());
        };
        let done = rc == ffi::SQLITE_DONE;
        match kind {
            Kind::Write if self.state.auto == Some(key) => {
                return self.end_auto(if done { written } else { None });
            }
            Kind::Write => match (done, written) {
                (true, Some(w)) => self.report(w),
                (false, _) => {
                    self.state.poisoned = Some(self.errmsg());
                    self.state.poisoned_depth = self.state.savepoints.len();
                }
                (true, None) => {}
            },
            Kind::Savepoint(name) if done => self.state.savepoints.push(name),
            Kind::Release(name) if done => {
                if let Some(at) = self.savepoint(&name) {
                    self.state.savepoints.truncate(at);
                }
            }
            Kind::RollbackTo(name) if done => {
                if let Some(at) = self.savepoint(&name) {
                    self.state.savepoints.truncate(at + 1);
                    // The failed statement came after this savepoint: undone on both sides
                    // (the ROLLBACK TO ran on the primary's stream too), unless the stream
                    // itself was lost.
                    if self.state.poisoned_depth > at && self.state.remote.is_some() {
                        self.state.poisoned = None;
                    }
                }
            }
            _ => {}
        }
        if self.autocommit() {
            // The local transaction is over (ROLLBACK, or an error that rolled it back).
            if let Some(t) = self.state.remote.take() {
                let _ = t.rollback();
            }
            self.reset()?;
        }
        Ok(())
    }

    fn take_running(&mut self, key: usize) -> Option<(usize, Kind, Option<Written>)> {
        let i = self.state.running.iter().position(|(k, ..)| *k == key)?;
        Some(self.state.running.swap_remove(i))
    }

    /// Sets `sqlite3_changes()` and `sqlite3_last_insert_rowid()` to the primary's.
    fn report(&mut self, w: Written) {
        self.changes = Some(i64::try_from(w.rows_affected).unwrap_or(i64::MAX));
        if let Some(id) = w.last_insert_rowid {
            // SAFETY: `db` is valid and its mutex held (Cx).
            unsafe { ffi::sqlite3_set_last_insert_rowid(self.db, id) };
        }
    }

    /// The index of the newest open savepoint called `name` (SQLite compares names without
    /// regard to ASCII case).
    fn savepoint(&self, name: &str) -> Option<usize> {
        self.state.savepoints.iter().rposition(|s| s.eq_ignore_ascii_case(name))
    }

    /// The transaction on the primary, opened now if this is the transaction's first write
    /// (with the savepoints the local transaction has open).
    fn open_remote(&mut self) -> Result<&mut PrimaryTransaction, Failure> {
        let t = match self.state.remote.take() {
            Some(t) => t,
            None => {
                let prelude: Vec<String> =
                    self.state.savepoints.iter().map(|s| format!("SAVEPOINT \"{}\"", s.replace('"', "\"\""))).collect();
                let prelude: Vec<&str> = prelude.iter().map(String::as_str).collect();
                self.replica.begin_on_primary(&prelude)?
            }
        };
        Ok(self.state.remote.insert(t))
    }

    /// Runs the statement (a savepoint statement, no parameters) on the primary too, if a
    /// transaction is open there.
    fn forward(&mut self, sql: &str) -> Result<(), Failure> {
        let r = match self.state.remote.as_mut() {
            Some(t) => t.execute(sql, &[]),
            None => return Ok(()),
        };
        r.map(|_| ()).map_err(|e| self.lost(e))
    }

    /// A failure on the primary's transaction; if the stream itself was lost, the transaction
    /// is gone there and cannot commit.
    fn lost(&mut self, e: edgelite::Error) -> Failure {
        if matches!(e, edgelite::Error::Replication(_)) {
            self.state.remote = None;
            self.state.poisoned = Some(format!("the transaction on the primary was lost: {e}"));
        }
        e.into()
    }

    /// Lifts `query_only` for the local mirror of a transaction on the primary.
    fn speculate(&mut self) -> Result<(), Failure> {
        if !self.state.speculative {
            self.mirroring.store(true, Ordering::Relaxed);
            // SAFETY: `db` is valid (Cx).
            unsafe { ffi::edgelite_set_query_only(self.db, 0) };
            self.state.speculative = true;
        }
        Ok(())
    }

    /// Back to no transaction: `query_only` on, savepoints forgotten.
    fn reset(&mut self) -> Result<(), Failure> {
        self.state.savepoints.clear();
        self.state.by_savepoint = false;
        self.state.poisoned = None;
        self.state.auto = None;
        if self.state.speculative {
            self.state.speculative = false;
            // SAFETY: `db` is valid (Cx).
            unsafe { ffi::edgelite_set_query_only(self.db, 1) };
            self.mirroring.store(false, Ordering::Relaxed);
        }
        Ok(())
    }

    /// `COMMIT` with a transaction open on the primary: commit there, roll back here, sync.
    fn commit(&mut self) -> Result<(), Failure> {
        let outcome = match (self.state.remote.take(), self.state.poisoned.take()) {
            (Some(t), Some(why)) => {
                let _ = t.rollback();
                Err(Failure(
                    ffi::SQLITE_ABORT,
                    format!(
                        "a statement of this transaction ran on the primary but not on this replica ({why}); \
                         the transaction was rolled back"
                    ),
                ))
            }
            (Some(t), None) => t.commit().map_err(Failure::from),
            (None, why) => Err(Failure(
                ffi::SQLITE_ABORT,
                format!(
                    "the transaction on the primary was lost ({}); the transaction was rolled back",
                    why.as_deref().unwrap_or("the primary could not be reached")
                ),
            )),
        };
        self.exec(c"ROLLBACK")?;
        self.reset()?;
        outcome?;
        self.sync();
        Ok(())
    }

    /// A `RETURNING` write outside a transaction ended (with `written`, if it succeeded).
    /// Its transaction on the primary is committed here, unless its first row did it.
    fn end_auto(&mut self, written: Option<Written>) -> Result<(), Failure> {
        let outcome = match (self.state.remote.take(), written) {
            (Some(t), Some(w)) => t.commit().map(|()| self.report(w)).map_err(Failure::from),
            (Some(t), None) => {
                let _ = t.rollback();
                Ok(())
            }
            (None, Some(w)) => {
                self.report(w);
                Ok(())
            }
            (None, None) => Ok(()),
        };
        self.exec(c"ROLLBACK")?;
        self.reset()?;
        outcome?;
        self.sync();
        Ok(())
    }

    /// A `RETURNING` write outside a transaction that the program stopped reading before its
    /// end (reset, or another statement started): end it now.
    fn end_auto_if_over(&mut self) -> Result<(), Failure> {
        let Some(key) = self.state.auto else { return Ok(()) };
        if self.running(key) {
            return Ok(());
        }
        let written = self.take_running(key).and_then(|(_, _, w)| w);
        self.end_auto(written)
    }

    /// Read-your-writes: the primary's commit is applied before the statement returns. A
    /// failure here does not undo the commit; the background sync catches up.
    fn sync(&self) {
        if let Err(e) = self.replica.sync() {
            eprintln!("edgelite: embedded replica {}: sync after a write: {e}", self.replica.path().display());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_are_classified_by_their_leading_keywords() {
        assert_eq!(classify("  -- c\n/* x */ begin immediate", true, false), Kind::Begin);
        assert_eq!(classify("END TRANSACTION", true, false), Kind::Commit);
        assert_eq!(classify("rollback", true, false), Kind::Rollback);
        assert_eq!(classify("ROLLBACK TRANSACTION TO SAVEPOINT a", true, false), Kind::RollbackTo("A".into()));
        assert_eq!(classify("rollback to \"Mixed Name\"", true, false), Kind::RollbackTo("Mixed Name".into()));
        assert_eq!(classify("savepoint s1", true, false), Kind::Savepoint("S1".into()));
        assert_eq!(classify("RELEASE SAVEPOINT s1", true, false), Kind::Release("S1".into()));
        assert_eq!(classify("release s1;", true, false), Kind::Release("S1".into()));
        assert_eq!(classify("PRAGMA user_version=3", false, false), Kind::Pragma);
        assert_eq!(classify("INSERT INTO t VALUES (1)", false, true), Kind::Read);
        assert_eq!(classify("WITH x AS (SELECT 1) INSERT INTO t SELECT * FROM x", false, false), Kind::Write);
        assert_eq!(classify("SELECT 1", true, false), Kind::Read);
    }
}
