//! A VFS that bounds the temporary files of a group of connections (the server's namespaces):
//! `edgelite-tempquota`, a shim over the default VFS.
//!
//! A statement's sorts, ephemeral tables (DISTINCT, `IN (SELECT ...)`, materialized views and
//! CTEs), statement journals and the connection's TEMP database spill to temporary files that
//! nothing bounded: `PRAGMA max_page_count` limits the TEMP database alone, and a tenant's
//! `ORDER BY randomblob(1000)` over 2 million rows wrote 2.08 GB in 13.5 s under a 200 MB quota
//! (a server reviewer's finding), on the disk every tenant shares.
//!
//! Files that the core opens as temporary (`SQLITE_OPEN_TEMP_DB`, `TEMP_JOURNAL`,
//! `TRANSIENT_DB`, `SUBJOURNAL`) while a thread runs inside [`with_temp_file_budget`] count
//! against that [`TempFileBudget`] for as long as they exist: a write that would take the
//! budget past its limit fails with `SQLITE_FULL` (the statement fails with "database or disk
//! is full"), a truncation or the file's close gives the bytes back. Every other file (the
//! database, its WAL and journal), and temporary files opened outside such a scope, are the
//! default VFS's own, opened in place, untouched. A budget is per group, not per file: a
//! statement with many sorts cannot multiply it.

use core::ffi::{c_char, c_int, c_void};
use std::cell::RefCell;
use std::sync::{Arc, OnceLock};

use crate::bindings::*;

/// The name the VFS is registered under.
pub const TEMP_QUOTA_VFS: &core::ffi::CStr = c"edgelite-tempquota";

/// Bytes of temporary files that a group of connections may hold together.
pub type TempFileBudget = super::tally::ByteBudget;

thread_local! {
    /// The budget that temporary files opened by this thread count against.
    static CURRENT: RefCell<Option<Arc<TempFileBudget>>> = const { RefCell::new(None) };
}

/// Runs `f` with `budget` as the one that temporary files opened by this thread (through
/// connections opened with [`TEMP_QUOTA_VFS`]) count against; the previous one is restored
/// after, even if `f` panics.
pub fn with_temp_file_budget<T>(budget: Option<&Arc<TempFileBudget>>, f: impl FnOnce() -> T) -> T {
    struct Restore(Option<Arc<TempFileBudget>>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let previous = self.0.take();
            CURRENT.with(|c| *c.borrow_mut() = previous);
        }
    }
    let _restore = Restore(CURRENT.with(|c| std::mem::replace(&mut *c.borrow_mut(), budget.cloned())));
    f()
}

/// A temporary file under a budget: its methods are ours, the file itself the default VFS's,
/// right after this header in the same allocation.
#[repr(C)]
struct QuotaFile {
    base: sqlite3_file,
    real: *mut sqlite3_file,
    /// Bytes counted against the budget: the furthest end written (or truncated to).
    size: u64,
    /// From `Arc::into_raw`; given back at close.
    budget: *const TempFileBudget,
}

/// The header's size, rounded up so that the default VFS's file after it is aligned.
const HEADER: usize = size_of::<QuotaFile>().next_multiple_of(16);

const TEMP_KINDS: c_int =
    SQLITE_OPEN_TEMP_DB | SQLITE_OPEN_TEMP_JOURNAL | SQLITE_OPEN_TRANSIENT_DB | SQLITE_OPEN_SUBJOURNAL;

/// The default VFS this one wraps (its `pAppData`).
///
/// # Safety
/// `vfs` is the registered [`TEMP_QUOTA_VFS`].
unsafe fn real_vfs(vfs: *mut sqlite3_vfs) -> *mut sqlite3_vfs {
    // SAFETY: set once at registration to the default VFS, which SQLite never frees.
    unsafe { (*vfs).pAppData.cast() }
}

/// Registers [`TEMP_QUOTA_VFS`] over the default VFS (not as the default), once per process;
/// returns SQLite's result code.
pub fn register_temp_quota_vfs() -> c_int {
    static RC: OnceLock<c_int> = OnceLock::new();
    *RC.get_or_init(|| {
        // SAFETY: sqlite3_initialize is idempotent and thread-safe.
        let rc = unsafe { sqlite3_initialize() };
        if rc != SQLITE_OK {
            return rc;
        }
        // SAFETY: null asks for the default VFS, a static of the core.
        let real = unsafe { sqlite3_vfs_find(core::ptr::null()) };
        if real.is_null() {
            return SQLITE_ERROR;
        }
        // SAFETY: `real` is a registered VFS, live for the process.
        let r = unsafe { &*real };
        let Ok(size) = c_int::try_from(HEADER + usize::try_from(r.szOsFile).unwrap_or(0)) else {
            return SQLITE_ERROR;
        };
        let vfs = Box::leak(Box::new(sqlite3_vfs {
            iVersion: 2,
            szOsFile: size,
            mxPathname: r.mxPathname,
            pNext: core::ptr::null_mut(),
            zName: TEMP_QUOTA_VFS.as_ptr(),
            pAppData: real.cast(),
            xOpen: Some(x_open),
            xDelete: Some(x_delete),
            xAccess: Some(x_access),
            xFullPathname: Some(x_full_pathname),
            xDlOpen: Some(x_dl_open),
            xDlError: Some(x_dl_error),
            xDlSym: Some(x_dl_sym),
            xDlClose: Some(x_dl_close),
            xRandomness: Some(x_randomness),
            xSleep: Some(x_sleep),
            xCurrentTime: Some(x_current_time),
            xGetLastError: Some(x_get_last_error),
            xCurrentTimeInt64: Some(x_current_time_int64),
            xSetSystemCall: None,
            xGetSystemCall: None,
            xNextSystemCall: None,
        }));
        // SAFETY: a leaked, fully initialised VFS that lives for the process.
        unsafe { sqlite3_vfs_register(vfs, 0) }
    })
}

static METHODS: sqlite3_io_methods = sqlite3_io_methods {
    iVersion: 1,
    xClose: Some(f_close),
    xRead: Some(f_read),
    xWrite: Some(f_write),
    xTruncate: Some(f_truncate),
    xSync: Some(f_sync),
    xFileSize: Some(f_file_size),
    xLock: Some(f_lock),
    xUnlock: Some(f_unlock),
    xCheckReservedLock: Some(f_check_reserved_lock),
    xFileControl: Some(f_file_control),
    xSectorSize: Some(f_sector_size),
    xDeviceCharacteristics: Some(f_device_characteristics),
    xShmMap: None,
    xShmLock: None,
    xShmBarrier: None,
    xShmUnmap: None,
    xFetch: None,
    xUnfetch: None,
};

unsafe extern "C" fn x_open(
    vfs: *mut sqlite3_vfs,
    name: sqlite3_filename,
    file: *mut sqlite3_file,
    flags: c_int,
    out_flags: *mut c_int,
) -> c_int {
    // SAFETY: SQLite passes this VFS.
    let real = unsafe { real_vfs(vfs) };
    // SAFETY: the default VFS's xOpen, always set.
    let Some(open) = (unsafe { (*real).xOpen }) else { return SQLITE_ERROR };
    // `try_with`: a file opened while the thread's locals are being destroyed (a connection
    // dropped by another local's destructor) is simply not counted; `with` would panic, here
    // inside a call from C
    let budget = if flags & TEMP_KINDS != 0 { CURRENT.try_with(|c| c.borrow().clone()).ok().flatten() } else { None };
    let Some(budget) = budget else {
        // not ours to count: the default VFS's file, in place (its methods are SQLite's then)
        // SAFETY: `file` has room for szOsFile bytes, more than the default VFS's.
        return unsafe { open(real, name, file, flags, out_flags) };
    };
    // SAFETY: `file` has room for HEADER bytes and then the default VFS's file.
    let inner = unsafe { file.cast::<u8>().add(HEADER) }.cast::<sqlite3_file>();
    // SAFETY: as above; the arguments are SQLite's.
    let rc = unsafe { open(real, name, inner, flags, out_flags) };
    let q = file.cast::<QuotaFile>();
    if rc != SQLITE_OK {
        // SAFETY: `file` is ours to fill; a failed open leaves no methods, so no close.
        unsafe { (*q).base.pMethods = core::ptr::null() };
        return rc;
    }
    // SAFETY: as above; the header is plain data written once here.
    unsafe {
        q.write(QuotaFile {
            base: sqlite3_file { pMethods: &raw const METHODS },
            real: inner,
            size: 0,
            budget: Arc::into_raw(budget),
        });
    }
    SQLITE_OK
}

/// The header and the default VFS's file of a file opened by [`x_open`] with a budget.
///
/// # Safety
/// `f` is such a file, open.
unsafe fn parts<'a>(f: *mut sqlite3_file) -> (&'a mut QuotaFile, *mut sqlite3_file, *const sqlite3_io_methods) {
    // SAFETY: the caller's promise: `f` starts with a QuotaFile whose `real` is open.
    let q = unsafe { &mut *f.cast::<QuotaFile>() };
    let real = q.real;
    // SAFETY: an open file has its methods.
    let methods = unsafe { (*real).pMethods };
    (q, real, methods)
}

/// Calls method `$m` of the default VFS's file under `$f` with the remaining arguments.
macro_rules! forward {
    ($f:expr, $m:ident $(, $arg:expr)*) => {{
        // SAFETY: SQLite calls these methods only on files that `x_open` opened with a budget.
        let (_q, real, methods) = unsafe { parts($f) };
        // SAFETY: `methods` are the open file's own (checked in `parts`).
        match unsafe { (*methods).$m } {
            // SAFETY: the default VFS's method on its own open file, with SQLite's arguments.
            Some(m) => unsafe { m(real $(, $arg)*) },
            None => SQLITE_IOERR,
        }
    }};
}

unsafe extern "C" fn f_close(f: *mut sqlite3_file) -> c_int {
    let rc = forward!(f, xClose);
    // SAFETY: as in `forward`; the budget pointer came from Arc::into_raw in `x_open` and is
    // taken back once, here.
    let q = unsafe { &mut *f.cast::<QuotaFile>() };
    if !q.budget.is_null() {
        // SAFETY: see above.
        let budget = unsafe { Arc::from_raw(q.budget) };
        budget.give_back(q.size);
        q.budget = core::ptr::null();
        q.size = 0;
    }
    rc
}

unsafe extern "C" fn f_read(f: *mut sqlite3_file, buf: *mut c_void, amt: c_int, off: sqlite3_int64) -> c_int {
    forward!(f, xRead, buf, amt, off)
}

unsafe extern "C" fn f_write(f: *mut sqlite3_file, buf: *const c_void, amt: c_int, off: sqlite3_int64) -> c_int {
    // SAFETY: as in `forward`.
    let (q, _, _) = unsafe { parts(f) };
    let end = u64::try_from(off).unwrap_or(0).saturating_add(u64::try_from(amt).unwrap_or(0));
    let grow = end.saturating_sub(q.size);
    if grow > 0 {
        // SAFETY: the budget outlives the file (its Arc is held until close).
        let budget = unsafe { &*q.budget };
        if !budget.reserve(grow) {
            return SQLITE_FULL;
        }
        q.size = end;
    }
    let rc = forward!(f, xWrite, buf, amt, off);
    if rc != SQLITE_OK && grow > 0 {
        // SAFETY: as above.
        let (q, _, _) = unsafe { parts(f) };
        // SAFETY: as above.
        unsafe { &*q.budget }.give_back(grow);
        q.size -= grow;
    }
    rc
}

unsafe extern "C" fn f_truncate(f: *mut sqlite3_file, size: sqlite3_int64) -> c_int {
    let rc = forward!(f, xTruncate, size);
    if rc == SQLITE_OK {
        // SAFETY: as in `forward`.
        let (q, _, _) = unsafe { parts(f) };
        let size = u64::try_from(size).unwrap_or(0);
        if size < q.size {
            // SAFETY: the budget outlives the file.
            unsafe { &*q.budget }.give_back(q.size - size);
            q.size = size;
        }
    }
    rc
}

unsafe extern "C" fn f_sync(f: *mut sqlite3_file, flags: c_int) -> c_int {
    forward!(f, xSync, flags)
}

unsafe extern "C" fn f_file_size(f: *mut sqlite3_file, size: *mut sqlite3_int64) -> c_int {
    forward!(f, xFileSize, size)
}

unsafe extern "C" fn f_lock(f: *mut sqlite3_file, lock: c_int) -> c_int {
    forward!(f, xLock, lock)
}

unsafe extern "C" fn f_unlock(f: *mut sqlite3_file, lock: c_int) -> c_int {
    forward!(f, xUnlock, lock)
}

unsafe extern "C" fn f_check_reserved_lock(f: *mut sqlite3_file, out: *mut c_int) -> c_int {
    forward!(f, xCheckReservedLock, out)
}

unsafe extern "C" fn f_file_control(f: *mut sqlite3_file, op: c_int, arg: *mut c_void) -> c_int {
    if op == SQLITE_FCNTL_SIZE_HINT {
        // a hint may grow the file without a write (the sorter's, for memory-mapped reads):
        // not taken, as a VFS may ignore it
        return SQLITE_OK;
    }
    forward!(f, xFileControl, op, arg)
}

unsafe extern "C" fn f_sector_size(f: *mut sqlite3_file) -> c_int {
    forward!(f, xSectorSize)
}

unsafe extern "C" fn f_device_characteristics(f: *mut sqlite3_file) -> c_int {
    forward!(f, xDeviceCharacteristics)
}

/// Calls method `$m` of the default VFS with the remaining arguments, or answers `$none`.
macro_rules! vfs_forward {
    ($vfs:expr, $m:ident, $none:expr $(, $arg:expr)*) => {{
        // SAFETY: SQLite passes this VFS.
        let real = unsafe { real_vfs($vfs) };
        // SAFETY: `real` is the default VFS, live for the process.
        match unsafe { (*real).$m } {
            // SAFETY: the default VFS's own method, with SQLite's arguments.
            Some(m) => unsafe { m(real $(, $arg)*) },
            None => $none,
        }
    }};
}

unsafe extern "C" fn x_delete(vfs: *mut sqlite3_vfs, name: *const c_char, sync_dir: c_int) -> c_int {
    vfs_forward!(vfs, xDelete, SQLITE_IOERR_DELETE, name, sync_dir)
}

unsafe extern "C" fn x_access(vfs: *mut sqlite3_vfs, name: *const c_char, flags: c_int, out: *mut c_int) -> c_int {
    vfs_forward!(vfs, xAccess, SQLITE_IOERR_ACCESS, name, flags, out)
}

unsafe extern "C" fn x_full_pathname(vfs: *mut sqlite3_vfs, name: *const c_char, n: c_int, out: *mut c_char) -> c_int {
    vfs_forward!(vfs, xFullPathname, SQLITE_CANTOPEN, name, n, out)
}

unsafe extern "C" fn x_dl_open(vfs: *mut sqlite3_vfs, name: *const c_char) -> *mut c_void {
    vfs_forward!(vfs, xDlOpen, core::ptr::null_mut(), name)
}

unsafe extern "C" fn x_dl_error(vfs: *mut sqlite3_vfs, n: c_int, out: *mut c_char) {
    vfs_forward!(vfs, xDlError, (), n, out);
}

type DlSym = Option<unsafe extern "C" fn(*mut sqlite3_vfs, *mut c_void, *const c_char)>;

unsafe extern "C" fn x_dl_sym(vfs: *mut sqlite3_vfs, handle: *mut c_void, symbol: *const c_char) -> DlSym {
    vfs_forward!(vfs, xDlSym, None, handle, symbol)
}

unsafe extern "C" fn x_dl_close(vfs: *mut sqlite3_vfs, handle: *mut c_void) {
    vfs_forward!(vfs, xDlClose, (), handle);
}

unsafe extern "C" fn x_randomness(vfs: *mut sqlite3_vfs, n: c_int, out: *mut c_char) -> c_int {
    vfs_forward!(vfs, xRandomness, 0, n, out)
}

unsafe extern "C" fn x_sleep(vfs: *mut sqlite3_vfs, micros: c_int) -> c_int {
    vfs_forward!(vfs, xSleep, 0, micros)
}

unsafe extern "C" fn x_current_time(vfs: *mut sqlite3_vfs, out: *mut f64) -> c_int {
    vfs_forward!(vfs, xCurrentTime, SQLITE_ERROR, out)
}

unsafe extern "C" fn x_get_last_error(vfs: *mut sqlite3_vfs, n: c_int, out: *mut c_char) -> c_int {
    vfs_forward!(vfs, xGetLastError, 0, n, out)
}

unsafe extern "C" fn x_current_time_int64(vfs: *mut sqlite3_vfs, out: *mut sqlite3_int64) -> c_int {
    // SAFETY: SQLite passes this VFS.
    let real = unsafe { real_vfs(vfs) };
    // SAFETY: `real` is the default VFS, live for the process.
    let r = unsafe { &*real };
    // xCurrentTimeInt64 exists from version 2 on
    match r.xCurrentTimeInt64 {
        // SAFETY: the default VFS's own method, with SQLite's arguments.
        Some(m) if r.iVersion >= 2 => unsafe { m(real, out) },
        _ => SQLITE_ERROR,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bridge::sql::Db;

    /// A file database, opened through the VFS, in a directory removed on drop.
    struct Conn(*mut sqlite3, #[allow(dead_code, reason = "held for its drop")] tempfile::TempDir);

    impl Drop for Conn {
        fn drop(&mut self) {
            // SAFETY: opened by `open`, every statement already finalized.
            unsafe { sqlite3_close(self.0) };
        }
    }

    fn open() -> Conn {
        assert_eq!(register_temp_quota_vfs(), SQLITE_OK);
        let dir = tempfile::tempdir().expect("dir");
        let path = std::ffi::CString::new(dir.path().join("t.db").to_str().expect("utf-8")).expect("no NUL");
        let mut db = core::ptr::null_mut();
        let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
        // SAFETY: NUL-terminated names and a valid out-pointer.
        let rc = unsafe { sqlite3_open_v2(path.as_ptr(), &raw mut db, flags, TEMP_QUOTA_VFS.as_ptr()) };
        assert_eq!(rc, SQLITE_OK);
        Conn(db, dir)
    }

    fn sort(rows: usize) -> String {
        format!(
            "SELECT count(*) FROM (WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < {rows}) \
             SELECT x, randomblob(1000) AS b FROM c ORDER BY b)"
        )
    }

    fn count(db: Db, sql: &str) -> Result<i64, c_int> {
        let mut stmt = db.prepare(sql).map_err(|e| e.code)?;
        stmt.step().map_err(|e| e.code)?;
        Ok(stmt.int(0))
    }

    /// A sort that spills counts against the budget of the thread's scope and fails past it;
    /// its bytes come back when it ends; outside any scope nothing is counted; the database's
    /// own files (WAL mode) are untouched.
    #[test]
    fn temporary_files_count_against_the_scopes_budget() {
        let conn = open();
        // SAFETY: open until `conn` drops, after the last use of `db`.
        let db = unsafe { Db::new(conn.0) };
        for sql in ["PRAGMA journal_mode = WAL", "CREATE TABLE t(x)", "INSERT INTO t VALUES (1)"] {
            db.exec(sql).expect(sql);
        }
        let budget = Arc::new(TempFileBudget::new(4 << 20));
        // 20 MB to sort, past the 2 MiB page cache: it spills
        let failed = with_temp_file_budget(Some(&budget), || count(db, &sort(20_000)));
        assert_eq!(failed, Err(SQLITE_FULL));
        assert_eq!(budget.used(), 0, "the failed sort's file gave its bytes back");
        let fits = with_temp_file_budget(Some(&budget), || count(db, &sort(3_000)));
        assert_eq!(fits, Ok(3_000));
        assert_eq!(budget.used(), 0);
        // outside a scope, the default VFS's files as they are
        assert_eq!(count(db, &sort(20_000)), Ok(20_000));
        assert_eq!(budget.used(), 0);
        assert_eq!(count(db, "SELECT count(*) FROM t"), Ok(1));
        // a TEMP table's file, opened in a scope, keeps counting after it
        with_temp_file_budget(Some(&budget), || {
            db.exec("CREATE TEMP TABLE s(b)")?;
            // 3 MB: past the 2 MiB page cache, so pages go to the file
            db.exec("INSERT INTO s VALUES (randomblob(3000000))")
        })
        .expect("temp table");
        assert!(budget.used() >= 1_000_000, "{}", budget.used());
        let grown = db.exec("INSERT INTO s SELECT randomblob(5000000)");
        assert_eq!(grown.map_err(|e| e.code), Err(SQLITE_FULL), "held to the budget of the scope that opened it");
        db.exec("DROP TABLE s").expect("drop");
        drop(conn);
        assert_eq!(budget.used(), 0, "closing gives everything back");
    }
}
