//! Online backup: copying a database, page by page, while it stays in use.
//!
//! ```
//! use edgelite::backup::{Backup, StepResult};
//! use edgelite::Connection;
//!
//! let src = Connection::open_in_memory()?;
//! src.execute_batch("CREATE TABLE t(x); INSERT INTO t VALUES (42)")?;
//! let mut dst = Connection::open_in_memory()?;
//! {
//!     let backup = Backup::new(&src, &mut dst)?;
//!     while backup.step(1)? != StepResult::Done {}
//!     assert_eq!(backup.progress().remaining, 0);
//! }
//! assert_eq!(dst.query_row("SELECT x FROM t", [], |r| r.get::<_, i64>(0))?, 42);
//! # Ok::<(), edgelite::Error>(())
//! ```

use std::ffi::{CString, c_int};
use std::path::Path;
use std::ptr::NonNull;
use std::thread;
use std::time::Duration;

use crate::error::Error;
use crate::ffi;
use crate::{Connection, Result};

/// Owns a `sqlite3_backup*` and finishes it in Drop.
struct RawBackup(NonNull<ffi::sqlite3_backup>);

impl RawBackup {
    fn as_ptr(&self) -> *mut ffi::sqlite3_backup {
        self.0.as_ptr()
    }
}

impl Drop for RawBackup {
    fn drop(&mut self) {
        // SAFETY: we own the handle and finish it exactly once; errors were reported by step.
        unsafe { ffi::sqlite3_backup_finish(self.as_ptr()) };
    }
}

/// What one [`Backup::step`] achieved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StepResult {
    /// The copy is complete.
    Done,
    /// Pages remain; step again.
    More,
    /// The source or destination was busy (locked by another connection); retry later.
    Busy,
    /// The source was locked by a connection sharing its cache; retry later.
    Locked,
}

/// How far a backup has got.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    /// Pages still to copy.
    pub remaining: i32,
    /// Pages in the source database.
    pub pagecount: i32,
}

/// A backup in progress from one connection's database to another's.
///
/// The destination is borrowed mutably: it must not be used while the backup runs.
pub struct Backup<'a, 'b> {
    raw: RawBackup,
    _from: &'a Connection,
    to: &'b Connection,
}

impl<'a, 'b> Backup<'a, 'b> {
    /// Prepares to copy `from`'s main database over `to`'s.
    ///
    /// # Errors
    ///
    /// The SQLite failure, e.g. when the destination has a read transaction open.
    pub fn new(from: &'a Connection, to: &'b mut Connection) -> Result<Backup<'a, 'b>> {
        Backup::new_with_names(from, "main", to, "main")
    }

    /// Prepares to copy database `from_name` of `from` over database `to_name` of `to`
    /// (`"main"`, `"temp"` or an attached name).
    ///
    /// # Errors
    ///
    /// As for [`Backup::new`]; also [`Error::NulError`].
    pub fn new_with_names(
        from: &'a Connection,
        from_name: &str,
        to: &'b mut Connection,
        to_name: &str,
    ) -> Result<Backup<'a, 'b>> {
        let (from_name, to_name) = (CString::new(from_name)?, CString::new(to_name)?);
        let p = to.inner().backup_init(&to_name, from.inner(), &from_name)?;
        let raw = NonNull::new(p).map(RawBackup).ok_or_else(|| Error::from_code(ffi::SQLITE_NOMEM, None))?;
        Ok(Backup { raw, _from: from, to })
    }

    /// Copies up to `pages` pages (all remaining ones if negative).
    ///
    /// # Errors
    ///
    /// The SQLite failure (I/O, out of memory, read-only destination...).
    pub fn step(&self, pages: c_int) -> Result<StepResult> {
        // SAFETY: the handle is live; both connections outlive it (the borrows in Self).
        let rc = unsafe { ffi::sqlite3_backup_step(self.raw.as_ptr(), pages) };
        match rc & 0xff {
            ffi::SQLITE_DONE => Ok(StepResult::Done),
            ffi::SQLITE_OK => Ok(StepResult::More),
            ffi::SQLITE_BUSY => Ok(StepResult::Busy),
            ffi::SQLITE_LOCKED => Ok(StepResult::Locked),
            _ => Err(self.to.error(rc)),
        }
    }

    /// Pages remaining and total, as of the last step.
    #[must_use]
    pub fn progress(&self) -> Progress {
        // SAFETY: the handle is live.
        let remaining = unsafe { ffi::sqlite3_backup_remaining(self.raw.as_ptr()) };
        // SAFETY: the handle is live.
        let pagecount = unsafe { ffi::sqlite3_backup_pagecount(self.raw.as_ptr()) };
        Progress { remaining, pagecount }
    }

    /// Steps `pages_per_step` pages at a time until done, sleeping `pause` between steps (and
    /// when busy or locked) so that other connections can use the source; reports progress
    /// after each step.
    ///
    /// # Errors
    ///
    /// The first failing step's error.
    pub fn run_to_completion(
        &self,
        pages_per_step: c_int,
        pause: Duration,
        mut progress: Option<&mut dyn FnMut(Progress)>,
    ) -> Result<()> {
        loop {
            let r = self.step(pages_per_step)?;
            if let Some(p) = progress.as_mut() {
                p(self.progress());
            }
            match r {
                StepResult::Done => return Ok(()),
                StepResult::More | StepResult::Busy | StepResult::Locked => thread::sleep(pause),
            }
        }
    }
}

impl std::fmt::Debug for Backup<'_, '_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Backup").field("progress", &self.progress()).finish()
    }
}

impl Connection {
    /// Copies database `name` (usually `"main"`) of this connection into the file at `path`,
    /// replacing its content.
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// let src = edgelite::Connection::open_in_memory()?;
    /// src.execute_batch("CREATE TABLE t(x); INSERT INTO t VALUES ('saved')")?;
    /// src.backup("main", dir.path().join("copy.db"))?;
    /// let copy = edgelite::Connection::open(dir.path().join("copy.db"))?;
    /// assert_eq!(copy.query_row("SELECT x FROM t", [], |r| r.get::<_, String>(0))?, "saved");
    /// # Ok::<(), edgelite::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// Failures opening the file or copying.
    pub fn backup<P: AsRef<Path>>(&self, name: &str, path: P) -> Result<()> {
        let mut dst = Connection::open(path)?;
        let backup = Backup::new_with_names(self, name, &mut dst, "main")?;
        backup.run_to_completion(-1, Duration::from_millis(10), None)
    }

    /// Replaces database `name` of this connection with the content of the file at `path`.
    ///
    /// # Errors
    ///
    /// Failures opening the file or copying.
    pub fn restore<P: AsRef<Path>>(&mut self, name: &str, path: P) -> Result<()> {
        let src = Connection::open(path)?;
        let backup = Backup::new_with_names(&src, "main", self, name)?;
        backup.run_to_completion(100, Duration::from_millis(10), None)
    }
}
