//! [`Connection`] and [`OpenFlags`].

use std::ffi::{CString, c_int};
use std::fmt;
use std::ops::{BitAnd, BitOr, BitOrAssign};
use std::path::Path;
use std::time::Duration;

use crate::Result;
use crate::cache::{CachedStatement, StatementCache};
use crate::error::Error;
use crate::ffi;
use crate::ffi::VectorCacheBudget;
use crate::inner_connection::InnerConnection;
use crate::params::Params;
use crate::row::Row;
use crate::statement::Statement;

/// Flags for [`Connection::open_with_flags`] (`SQLITE_OPEN_*`).
///
/// The default is `READ_WRITE | CREATE | URI | NO_MUTEX`: create the file if needed, accept
/// `file:` URIs, and no per-connection mutex (a [`Connection`] is never shared between threads).
///
/// ```
/// use edgelite::OpenFlags;
///
/// let flags = OpenFlags::READ_ONLY | OpenFlags::URI;
/// assert!(flags.contains(OpenFlags::URI));
/// assert!(!flags.contains(OpenFlags::CREATE));
/// assert!(OpenFlags::default().contains(OpenFlags::READ_WRITE | OpenFlags::CREATE));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct OpenFlags(c_int);

impl OpenFlags {
    /// Open read-only.
    pub const READ_ONLY: OpenFlags = OpenFlags(ffi::SQLITE_OPEN_READONLY);
    /// Open for reading and writing.
    pub const READ_WRITE: OpenFlags = OpenFlags(ffi::SQLITE_OPEN_READWRITE);
    /// Create the database if it does not exist (with `READ_WRITE`).
    pub const CREATE: OpenFlags = OpenFlags(ffi::SQLITE_OPEN_CREATE);
    /// Interpret the file name as a URI (`file:data.db?mode=ro`).
    pub const URI: OpenFlags = OpenFlags(ffi::SQLITE_OPEN_URI);
    /// Open an in-memory database (the name then only matters with a shared cache).
    pub const MEMORY: OpenFlags = OpenFlags(ffi::SQLITE_OPEN_MEMORY);
    /// Multi-thread mode: no mutex on the connection.
    pub const NO_MUTEX: OpenFlags = OpenFlags(ffi::SQLITE_OPEN_NOMUTEX);
    /// Serialized mode: a mutex on the connection.
    pub const FULL_MUTEX: OpenFlags = OpenFlags(ffi::SQLITE_OPEN_FULLMUTEX);
    /// Use the shared cache.
    pub const SHARED_CACHE: OpenFlags = OpenFlags(ffi::SQLITE_OPEN_SHAREDCACHE);
    /// Do not use the shared cache.
    pub const PRIVATE_CACHE: OpenFlags = OpenFlags(ffi::SQLITE_OPEN_PRIVATECACHE);
    /// Refuse to open a database whose name is a symbolic link.
    pub const NO_FOLLOW: OpenFlags = OpenFlags(ffi::SQLITE_OPEN_NOFOLLOW);

    /// No flag at all (not a valid way to open by itself).
    #[must_use]
    pub const fn empty() -> OpenFlags {
        OpenFlags(0)
    }

    /// The raw `SQLITE_OPEN_*` bits.
    #[must_use]
    pub const fn bits(self) -> c_int {
        self.0
    }

    /// Whether every flag of `other` is set in `self`.
    #[must_use]
    pub const fn contains(self, other: OpenFlags) -> bool {
        self.0 & other.0 == other.0
    }
}

impl Default for OpenFlags {
    fn default() -> OpenFlags {
        OpenFlags::READ_WRITE | OpenFlags::CREATE | OpenFlags::URI | OpenFlags::NO_MUTEX
    }
}

impl BitOr for OpenFlags {
    type Output = OpenFlags;
    fn bitor(self, rhs: OpenFlags) -> OpenFlags {
        OpenFlags(self.0 | rhs.0)
    }
}

impl BitOrAssign for OpenFlags {
    fn bitor_assign(&mut self, rhs: OpenFlags) {
        self.0 |= rhs.0;
    }
}

impl BitAnd for OpenFlags {
    type Output = OpenFlags;
    fn bitand(self, rhs: OpenFlags) -> OpenFlags {
        OpenFlags(self.0 & rhs.0)
    }
}

impl fmt::Debug for OpenFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OpenFlags({:#x})", self.0)
    }
}

/// A connection to an SQLite database.
///
/// A `Connection` can move to another thread (`Send`) but not be shared between threads (it is
/// not `Sync`); open one connection per thread. Dropping it closes the database; use
/// [`Connection::close`] to see a failure.
///
/// ```compile_fail
/// fn shared_between_threads<T: Sync>() {}
/// shared_between_threads::<edgelite::Connection>(); // a Connection is not Sync
/// ```
///
/// ```
/// use edgelite::{params, Connection};
///
/// let conn = Connection::open_in_memory()?;
/// conn.execute_batch("CREATE TABLE person(id INTEGER PRIMARY KEY, name TEXT NOT NULL)")?;
/// conn.execute("INSERT INTO person(name) VALUES (?1)", params!["Ada"])?;
/// assert_eq!(conn.last_insert_rowid(), 1);
/// let name: String = conn.query_row("SELECT name FROM person WHERE id = ?1", [1], |r| r.get(0))?;
/// assert_eq!(name, "Ada");
/// # Ok::<(), edgelite::Error>(())
/// ```
pub struct Connection {
    // Declared before `db` so that cached statements are finalized before the connection closes.
    pub(crate) cache: StatementCache,
    db: InnerConnection,
}

impl Connection {
    /// Opens (creating if needed) the database file at `path`, with the default [`OpenFlags`].
    /// `file:` URIs are accepted; `":memory:"` opens a private in-memory database.
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// let conn = edgelite::Connection::open(dir.path().join("app.db"))?;
    /// assert!(conn.path().unwrap().ends_with("app.db"));
    /// # Ok::<(), edgelite::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::InvalidPath`] if the path holds a NUL byte (or, outside Unix, is not UTF-8);
    /// an SQLite failure (e.g. `CannotOpen`) if the file cannot be opened.
    pub fn open<P: AsRef<Path>>(path: P) -> Result<Connection> {
        Connection::open_with_flags(path, OpenFlags::default())
    }

    /// Opens a private in-memory database.
    ///
    /// # Errors
    ///
    /// An SQLite failure, e.g. out of memory.
    pub fn open_in_memory() -> Result<Connection> {
        Connection::open_in_memory_with_flags(OpenFlags::default())
    }

    /// Opens the database at `path` with explicit flags.
    ///
    /// ```
    /// use edgelite::{Connection, ErrorCode, OpenFlags};
    ///
    /// let dir = tempfile::tempdir().unwrap();
    /// let path = dir.path().join("missing.db");
    /// let err = Connection::open_with_flags(&path, OpenFlags::READ_WRITE).unwrap_err();
    /// assert_eq!(err.sqlite_error_code(), Some(ErrorCode::CannotOpen));
    /// ```
    ///
    /// # Errors
    ///
    /// As for [`Connection::open`].
    pub fn open_with_flags<P: AsRef<Path>>(path: P, flags: OpenFlags) -> Result<Connection> {
        let c_path = path_to_cstring(path.as_ref())?;
        Connection::from_inner(InnerConnection::open(&c_path, flags.bits(), None)?)
    }

    /// Opens the database at `path` with explicit flags through the named VFS.
    ///
    /// # Errors
    ///
    /// As for [`Connection::open`]; also an SQLite failure if no VFS has that name.
    pub fn open_with_flags_and_vfs<P: AsRef<Path>>(path: P, flags: OpenFlags, vfs: &str) -> Result<Connection> {
        let c_path = path_to_cstring(path.as_ref())?;
        let c_vfs = CString::new(vfs)?;
        Connection::from_inner(InnerConnection::open(&c_path, flags.bits(), Some(&c_vfs))?)
    }

    /// Opens a private in-memory database with explicit flags.
    ///
    /// # Errors
    ///
    /// An SQLite failure, e.g. out of memory.
    pub fn open_in_memory_with_flags(flags: OpenFlags) -> Result<Connection> {
        Connection::open_with_flags(":memory:", flags)
    }

    fn from_inner(db: InnerConnection) -> Result<Connection> {
        Ok(Connection { cache: StatementCache::new(), db })
    }

    /// Runs one SQL statement with parameters and returns the number of rows it changed.
    ///
    /// ```
    /// use edgelite::{named_params, Connection};
    ///
    /// let conn = Connection::open_in_memory()?;
    /// conn.execute("CREATE TABLE t(a, b)", [])?;
    /// assert_eq!(conn.execute("INSERT INTO t VALUES (?1, ?2)", (1, "one"))?, 1);
    /// conn.execute("INSERT INTO t VALUES (:a, :b)", named_params! {":a": 2, ":b": "two"})?;
    /// assert_eq!(conn.execute("UPDATE t SET b = upper(b)", [])?, 2);
    /// # Ok::<(), edgelite::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::MultipleStatement`] if `sql` holds more than one statement,
    /// [`Error::ExecuteReturnedResults`] if the statement returns rows, parameter errors, or
    /// the SQLite failure.
    pub fn execute<P: Params>(&self, sql: &str, params: P) -> Result<usize> {
        self.prepare(sql)?.execute(params)
    }

    /// Runs zero or more `;`-separated SQL statements without parameters. Rows that they
    /// return are ignored.
    ///
    /// ```
    /// let conn = edgelite::Connection::open_in_memory()?;
    /// conn.execute_batch("CREATE TABLE a(x); INSERT INTO a VALUES (1); -- done")?;
    /// # Ok::<(), edgelite::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// The first failure; the statements before it have run.
    pub fn execute_batch(&self, sql: &str) -> Result<()> {
        let mut rest = sql;
        while !rest.is_empty() {
            let (stmt, consumed) = self.db.prepare(rest, false)?;
            if let Some(stmt) = stmt {
                loop {
                    match stmt.step() {
                        ffi::SQLITE_ROW => {}
                        ffi::SQLITE_DONE => break,
                        rc => return Err(self.db.error(rc)),
                    }
                }
            }
            if consumed == 0 {
                break;
            }
            rest = &rest[consumed..];
        }
        Ok(())
    }

    /// Compiles one SQL statement.
    ///
    /// # Errors
    ///
    /// The SQLite failure (syntax error, unknown table...), with its offset in `sql`;
    /// [`Error::MultipleStatement`] if more than one statement follows; [`Error::InvalidQuery`]
    /// if there is none.
    pub fn prepare(&self, sql: &str) -> Result<Statement<'_>> {
        Ok(Statement::new(self, self.prepare_raw(sql, false)?))
    }

    pub(crate) fn prepare_raw(&self, sql: &str, persistent: bool) -> Result<crate::raw_statement::RawStatement> {
        let (stmt, consumed) = self.db.prepare(sql, persistent)?;
        let stmt = stmt.ok_or(Error::InvalidQuery)?;
        let tail = sql.get(consumed..).unwrap_or("");
        if !tail.trim_start_matches(|c: char| c.is_whitespace() || c == ';').is_empty() {
            // Only comments may follow: SQLite compiles those to nothing.
            let (next, _) = self.db.prepare(tail, false)?;
            if next.is_some() {
                return Err(Error::MultipleStatement);
            }
        }
        Ok(stmt)
    }

    /// Compiles one SQL statement, or takes it from the connection's statement cache.
    ///
    /// The cache holds the most recently used statements (16 by default, see
    /// [`set_prepared_statement_cache_capacity`](Connection::set_prepared_statement_cache_capacity));
    /// the returned statement goes back to it when dropped.
    ///
    /// ```
    /// let conn = edgelite::Connection::open_in_memory()?;
    /// conn.execute_batch("CREATE TABLE t(x)")?;
    /// for i in 0..3 {
    ///     conn.prepare_cached("INSERT INTO t VALUES (?1)")?.execute([i])?;
    /// }
    /// # Ok::<(), edgelite::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As for [`Connection::prepare`].
    pub fn prepare_cached(&self, sql: &str) -> Result<CachedStatement<'_>> {
        self.cache.get(self, sql)
    }

    /// Sets how many statements [`prepare_cached`](Connection::prepare_cached) keeps (0 turns
    /// the cache off); extra ones are finalized.
    pub fn set_prepared_statement_cache_capacity(&self, capacity: usize) {
        self.cache.set_capacity(capacity);
    }

    /// Finalizes every cached statement.
    pub fn flush_prepared_statement_cache(&self) {
        self.cache.flush();
    }

    /// Runs a query and maps its first row with `f`; other rows are ignored.
    ///
    /// # Errors
    ///
    /// [`Error::QueryReturnedNoRows`] if there is no row (see
    /// [`OptionalExtension`](crate::OptionalExtension)), or any error of preparing, running or
    /// of `f`.
    pub fn query_row<T, P, F>(&self, sql: &str, params: P, f: F) -> Result<T>
    where
        P: Params,
        F: FnOnce(&Row<'_>) -> Result<T>,
    {
        self.prepare(sql)?.query_row(params, f)
    }

    /// Runs a query that must return exactly one row and maps it with `f`.
    ///
    /// ```
    /// use edgelite::{Connection, Error};
    ///
    /// let conn = Connection::open_in_memory()?;
    /// assert_eq!(conn.query_one("SELECT 42", [], |r| r.get::<_, i64>(0))?, 42);
    /// let none = conn.query_one("SELECT 1 WHERE 0", [], |r| r.get::<_, i64>(0));
    /// assert!(matches!(none, Err(Error::QueryReturnedNoRows)));
    /// let two = conn.query_one("VALUES (1), (2)", [], |r| r.get::<_, i64>(0));
    /// assert!(matches!(two, Err(Error::QueryReturnedMoreThanOneRow)));
    /// # Ok::<(), Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::QueryReturnedNoRows`], [`Error::QueryReturnedMoreThanOneRow`], or any error of
    /// preparing, running or of `f`.
    pub fn query_one<T, P, F>(&self, sql: &str, params: P, f: F) -> Result<T>
    where
        P: Params,
        F: FnOnce(&Row<'_>) -> Result<T>,
    {
        self.prepare(sql)?.query_one(params, f)
    }

    /// The rowid of the most recent successful `INSERT` on this connection (0 if none).
    #[must_use]
    pub fn last_insert_rowid(&self) -> i64 {
        self.db.last_insert_rowid()
    }

    /// The number of rows changed by the most recent `INSERT`, `UPDATE` or `DELETE`.
    #[must_use]
    pub fn changes(&self) -> u64 {
        self.db.changes()
    }

    /// The number of rows changed since the connection opened.
    #[must_use]
    pub fn total_changes(&self) -> u64 {
        self.db.total_changes()
    }

    /// Makes SQLite retry for up to `timeout` when the database is locked by another
    /// connection, instead of failing at once with `DatabaseBusy`.
    ///
    /// # Errors
    ///
    /// An SQLite failure (none is expected).
    pub fn busy_timeout(&self, timeout: Duration) -> Result<()> {
        let ms = c_int::try_from(timeout.as_millis()).unwrap_or(c_int::MAX);
        self.db.busy_timeout(ms)
    }

    /// Whether the connection is outside any explicit transaction.
    #[must_use]
    pub fn is_autocommit(&self) -> bool {
        self.db.is_autocommit()
    }

    /// The path of the main database file; `None` for in-memory and temporary databases.
    #[must_use]
    pub fn path(&self) -> Option<&str> {
        self.db.path()
    }

    /// Asks any running query on this connection to stop as soon as possible (it fails with
    /// `OperationInterrupted`).
    pub fn interrupt(&self) {
        self.db.interrupt();
    }

    /// Makes this connection's vector node cache count against `budget`, a memory budget that
    /// it shares with the other connections given the same one, besides the process's
    /// ([`VectorCacheBudget::process`]); `None` leaves only the process's. The cache is emptied
    /// first. A block is cached only while every budget it counts against has room (and the
    /// connection's own limit, `SELECT edgelite_vector_cache_limit(bytes)`), so a group of
    /// connections, say one tenant's, holds at most its budget's limit however many there are.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use edgelite::VectorCacheBudget;
    ///
    /// let tenant = Arc::new(VectorCacheBudget::new(64 << 20));
    /// let conn = edgelite::Connection::open_in_memory()?;
    /// conn.set_vector_cache_budget(Some(Arc::clone(&tenant)))?;
    /// conn.execute_batch(
    ///     "CREATE TABLE t(v F32_BLOB(2)); CREATE INDEX t_v ON t(libsql_vector_idx(v));
    ///      INSERT INTO t VALUES (vector('[1,0]')), (vector('[0,1]'));",
    /// )?;
    /// let n: i64 = conn.query_row("SELECT count(*) FROM vector_top_k('t_v', vector('[1,0]'), 2)", [], |r| r.get(0))?;
    /// assert_eq!(n, 2);
    /// assert!(tenant.used() > 0, "the search cached the blocks it read");
    /// drop(conn);
    /// assert_eq!(tenant.used(), 0, "closing gives them back");
    /// # Ok::<(), edgelite::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`ErrorCode::OutOfMemory`](crate::ErrorCode) if SQLite could not hold the connection's
    /// vector state.
    pub fn set_vector_cache_budget(&self, budget: Option<std::sync::Arc<VectorCacheBudget>>) -> Result<()> {
        if self.db.set_vector_cache_budget(budget) { Ok(()) } else { Err(self.db.error(ffi::SQLITE_NOMEM)) }
    }

    /// Empties this connection's vector node cache (its limit and budget stay) and returns the
    /// bytes given back to its budgets. An idle pooled connection keeps its cache until it
    /// closes; this lets its owner take the memory back sooner.
    pub fn release_vector_cache(&self) -> usize {
        self.db.release_vector_cache()
    }

    /// Drops the vector index builds that this connection holds although none of its
    /// statements runs, and returns how many. A build lives inside its CREATE INDEX or REINDEX
    /// and holds up to `edgelite_vector_build_limit` bytes (1 GiB by default); one that failed
    /// for a reason of the core's own (an error in a partial index's WHERE clause, an
    /// interrupt) is dropped when its statement halts, unless SQLite could not tie it to the
    /// statement (out of memory): then it is kept until the next build, the connection's close
    /// or this call. Cheap when there are none; a no-op while a statement of the connection
    /// runs.
    pub fn drop_stale_vector_builds(&self) -> usize {
        self.db.drop_stale_vector_builds()
    }

    /// Closes the connection, reporting failure. On failure the connection is handed back,
    /// still open.
    ///
    /// ```
    /// let conn = edgelite::Connection::open_in_memory()?;
    /// conn.close().map_err(|(_conn, err)| err)?;
    /// # Ok::<(), edgelite::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// The connection and the SQLite failure, e.g. `DatabaseBusy` while a statement leaked
    /// with `mem::forget` is still open.
    // The connection must come back by value on failure (it is still open); boxing it would
    // cost every successful close an allocation for the rare failure.
    #[allow(clippy::result_large_err)]
    pub fn close(self) -> Result<(), (Connection, Error)> {
        let mut this = self;
        this.cache.flush();
        match this.db.close() {
            Ok(()) => Ok(()),
            Err(e) => Err((this, e)),
        }
    }

    pub(crate) fn inner(&self) -> &InnerConnection {
        &self.db
    }

    pub(crate) fn error(&self, rc: c_int) -> Error {
        self.db.error(rc)
    }
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection").field("path", &self.path()).finish_non_exhaustive()
    }
}

#[cfg(unix)]
fn path_to_cstring(p: &Path) -> Result<CString> {
    use std::os::unix::ffi::OsStrExt;
    CString::new(p.as_os_str().as_bytes()).map_err(|_| Error::InvalidPath(p.to_owned()))
}

#[cfg(not(unix))]
fn path_to_cstring(p: &Path) -> Result<CString> {
    let s = p.to_str().ok_or_else(|| Error::InvalidPath(p.to_owned()))?;
    CString::new(s).map_err(|_| Error::InvalidPath(p.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send<T: Send>() {}

    #[test]
    fn connection_is_send() {
        assert_send::<Connection>();
    }

    #[test]
    fn flags_combine() {
        let f = OpenFlags::READ_ONLY | OpenFlags::URI;
        assert_eq!(f.bits(), ffi::SQLITE_OPEN_READONLY | ffi::SQLITE_OPEN_URI);
        assert_eq!((f & OpenFlags::URI), OpenFlags::URI);
        let mut g = OpenFlags::empty();
        g |= OpenFlags::MEMORY;
        assert!(g.contains(OpenFlags::MEMORY));
    }

    #[test]
    fn nul_in_path_is_an_invalid_path() {
        assert!(matches!(Connection::open("a\0b"), Err(Error::InvalidPath(_))));
    }
}
