//! Databases: one per namespace, their connections, generations, checkpoints and pushes.
//!
//! Layout under `<db-path>/dbs/<namespace>/`:
//! - `data`, `data-wal`, `data-shm`: the live database (page size 4096, WAL mode, automatic
//!   checkpoints off);
//! - `generation`: the current generation number (text);
//! - `jwt_key` (optional): the namespace's own token key, replacing the server's;
//! - `max_db_size` (optional): the namespace's own size quota in bytes (0: none), replacing
//!   the server's `--max-db-size`;
//! - `gens/<g>/export.db`: the database file as of the start of generation `g`;
//! - `gens/<g>/frames`: the frames of generation `g`'s WAL (stock 4120-byte frames), written
//!   when the generation ended.
//!
//! A generation is the span between two checkpoints that this server runs itself. The server
//! never lets SQLite checkpoint on its own (`wal_autocheckpoint=0`, and every connection has
//! `SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE`, so that closing the last one never checkpoints and
//! deletes the WAL), so the WAL of the current generation only grows, frame `k` stays frame
//! `k`, and replicas can be served the primary's own frames. Before a checkpoint truncates the
//! WAL, its committed frames are archived, so a replica many generations behind still catches
//! up with no gap; `--max-archived-generations` bounds how many past generations are kept, and
//! a replica behind them is told to bootstrap again ([`Pull::Gone`]).
//!
//! A namespace is open (pooled session connections, a "keeper" connection opened when a
//! checkpoint or push first needs it, the WAL scan state) only while it is used: [`Namespaces`]
//! opens it on first use and closes the least recently used idle ones beyond
//! `--max-open-databases` (and `--max-open-databases-memory`), and those unused for
//! `--database-idle-timeout-secs`, keeping the generation and scan position ([`Kept`]) so the
//! next open resumes where it stopped. Closing changes no file but the shared-memory index
//! (`data-shm`, rebuilt from the WAL at the next open).

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::{self, Read as _, Seek as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use edgelite::config::DbConfig;
use edgelite::hooks::{AuthContext, Authorization};
use edgelite::{Connection, ffi};

use crate::auth::Auth;
use crate::exec::{Budget, Perm, SqlStore, run_request};
use crate::limits::{Full, Gauge, Slot};
use crate::proto::{Error as HranaError, StreamRequest, StreamResponse};
use crate::wal::{
    FRAME_SIZE, PAGE_SIZE, WAL_HEADER, WalScanner, frame_header, frame_salts, read_frames, read_frames_from,
};

/// Errors of namespace management and sync.
#[derive(Debug, thiserror::Error)]
pub enum NsError {
    /// A database call failed.
    #[error("database error: {0}")]
    Sql(#[from] edgelite::Error),
    /// A file operation failed.
    #[error("i/o error: {0}")]
    Io(#[from] io::Error),
    /// The namespace does not exist.
    #[error("namespace {0:?} does not exist")]
    NotFound(String),
    /// The namespace already exists.
    #[error("namespace {0:?} already exists")]
    Exists(String),
    /// The name is not a valid namespace name.
    #[error("invalid namespace name {0:?}")]
    InvalidName(String),
    /// The database's page size is not 4096.
    #[error("page size {0} is not supported (replication needs 4096)")]
    PageSize(i64),
    /// A checkpoint could not run now (transactions are open); it is retried later.
    #[error("checkpoint postponed: {0}")]
    Busy(String),
    /// A request was malformed.
    #[error("{0}")]
    BadRequest(String),
    /// A cap on a resource is reached (see `SECURITY.md`, "Limits").
    #[error("{0}")]
    Limit(String),
    /// A push holds too many frames without a commit.
    #[error("{0}")]
    TooLarge(String),
    /// The server has its maximum of open databases and every one of them is in use.
    #[error("{0}")]
    TooManyOpen(String),
    /// The namespace's size quota (`--max-db-size`) is reached.
    #[error("{0}")]
    Quota(String),
    /// A lock was poisoned by a panic in another thread.
    #[error("internal lock poisoned")]
    Poisoned,
}

fn lock<T>(m: &Mutex<T>) -> Result<MutexGuard<'_, T>, NsError> {
    m.lock().map_err(|_| NsError::Poisoned)
}

/// The salts of a WAL header, if there is one.
pub type Salts = Option<(u32, u32)>;

/// The generation and what is known of its WAL.
#[derive(Debug)]
struct SyncState {
    generation: u32,
    scanner: WalScanner,
}

/// Frames pushed by a client that do not end with a commit yet, held until the rest arrives.
#[derive(Debug)]
struct PendingPush {
    /// The server's generation when the frames arrived (not necessarily the client's).
    generation: u32,
    /// The frame number of `frames[0]` in `generation`.
    start: u32,
    frames: Vec<Vec<u8>>,
    at: Instant,
}

/// The answer to a pull.
#[derive(Debug, PartialEq, Eq)]
pub enum Pull {
    /// One or more frames.
    Frames(Vec<u8>),
    /// No frame at `start` in that generation; the current generation is given.
    EndOfGeneration(u32),
    /// `start` lies past the end of that generation plus one: the asker has frames this
    /// history never had (it followed a primary whose last commits were lost in a failover, or
    /// an earlier database of the same name), and must bootstrap again. The current generation
    /// is given.
    Ahead(u32),
    /// That generation ended and its frames are no longer kept (`--max-archived-generations`,
    /// or removed by hand): the asker cannot catch up from it and must bootstrap again. Answering
    /// it as the generation's end would have the asker apply the next generation over a state
    /// that lacks this one's frames. The current generation is given.
    Gone(u32),
}

/// The answer to a push (`{"status","generation","max_frame_no","baton"}`).
#[derive(Debug, serde::Serialize, PartialEq, Eq)]
pub struct PushAnswer {
    /// `"ok"` or `"conflict"`.
    pub status: &'static str,
    /// The server's current generation.
    pub generation: u32,
    /// The last frame the server holds for the client.
    pub max_frame_no: u32,
    /// Pass this back on the next push to continue an unfinished commit.
    pub baton: Option<String>,
}

/// What the backup (`src/backup.rs`) learns of a namespace's commits, and what it asks of the
/// requests that write: the whole of the backup's hold on a namespace.
pub trait CommitWatch: Send + Sync {
    /// Generation `generation`'s WAL holds `frames` committed frames. Called whenever the count
    /// is read (with the namespace's sync state locked, so quick), and always by a request that
    /// committed before its answer is sent.
    fn committed(&self, generation: u32, frames: u32);
    /// Whether a request may run now (with `--durability backup`, not while the bucket fails).
    ///
    /// # Errors
    ///
    /// Why it may not.
    fn admit(&self) -> Result<(), String>;
    /// Resolves once the frames up to `frames` of `generation` are as durable as configured.
    fn durable(&self, generation: u32, frames: u32) -> futures_util::future::BoxFuture<'static, Result<(), String>>;
    /// Whether every commit seen so far is shipped: the namespace may then close (a closed
    /// namespace ships nothing until it is opened again).
    fn caught_up(&self) -> bool {
        true
    }
    /// The oldest generation whose files the backup still has to ship, if any: the namespace
    /// keeps it and every later one, whatever `--max-archived-generations` says.
    fn unshipped_from(&self) -> Option<u32> {
        None
    }
}

/// One database.
pub struct Namespace {
    /// The namespace's name.
    pub name: String,
    dir: PathBuf,
    db_path: PathBuf,
    wal_path: PathBuf,
    /// Held shared by everything that reads or writes the database or its WAL, exclusively by
    /// a checkpoint (which truncates the WAL and switches generation).
    gate: Arc<tokio::sync::RwLock<()>>,
    sync: Mutex<SyncState>,
    /// Runs checkpoints and pushes; opened when first needed (a namespace that is only read
    /// never opens it: one SQLite open less per cold start, two descriptors less while open).
    keeper: Mutex<Option<Connection>>,
    pool: Mutex<Vec<SessionConn>>,
    /// What the node caches of its session connections hold together, and their limit.
    vector_cache: Arc<edgelite::VectorCacheBudget>,
    /// The temporary files (sorts, ephemeral tables, statement journals, TEMP databases) of
    /// its sessions' statements, together: up to the size quota (none without one).
    temp_files: Arc<ffi::TempFileBudget>,
    /// SQLite's memory held by its sessions' requests (see `Session::with_conn`).
    memory: &'static ffi::MemoryBudget,
    /// Sessions whose connection is inside a transaction (a checkpoint must wait for zero).
    open_txns: AtomicUsize,
    pending: Mutex<HashMap<String, PendingPush>>,
    settings: Arc<Settings>,
    /// The size quota in pages (`PRAGMA max_page_count`; 0: none): the namespace's own
    /// (`max_db_size` file) or the server's.
    max_pages: AtomicU32,
    checkpointing: AtomicBool,
    /// New transactions wait (see [`Namespace::admit`]) so that the open ones can end and a
    /// checkpoint overdue because transactions kept overlapping can run.
    draining: AtomicBool,
    /// The last position (generation, committed frames) a WAL scan saw: long-polling pulls wait
    /// for it to move.
    moved: tokio::sync::watch::Sender<(u32, u32)>,
    /// The backup's watch, when there is a backup (set once, see [`Namespace::set_watch`]).
    watch: OnceLock<Arc<dyn CommitWatch>>,
    /// Each replica server's position (generation, frames) that it has said it holds, and
    /// when (see [`Namespace::replica_holds`]); writes wait on them with `--durability replica`.
    replicated: tokio::sync::watch::Sender<ReplicaAcks>,
}

/// A namespace's replica servers: name -> (position held, when it said so).
pub type ReplicaAcks = HashMap<String, ((u32, u32), Instant)>;

/// A replica server that has acknowledged a namespace within this long is in sync: with
/// `--durability replica` a write waits for every replica in sync (at least one). A following
/// replica acknowledges at least every 5 s even with no commit (its long poll's length); one
/// that stops (dead, cut off) holds writes up for at most this long, then drops out.
pub const IN_SYNC_WINDOW: Duration = Duration::from_secs(6);

/// Whether `pos` is held by every replica in sync, and there is one.
fn held_by_replicas(acks: &ReplicaAcks, pos: (u32, u32), now: Instant) -> bool {
    let mut in_sync = acks.values().filter(|(_, at)| now.saturating_duration_since(*at) <= IN_SYNC_WINDOW).peekable();
    in_sync.peek().is_some() && in_sync.all(|(p, _)| *p >= pos)
}

/// Why a request is refused, or a committed write's answer is an error: it is not as durable
/// as configured (`--durability backup` or `replica`; the write stays committed here), or this
/// node is no longer the cluster's primary.
#[derive(Debug)]
pub struct Unavailable {
    /// `BACKUP_UNAVAILABLE`, `REPLICA_UNAVAILABLE` or `NOT_PRIMARY`.
    pub code: &'static str,
    /// What happened, and what becomes of the write.
    pub message: String,
}

/// Settings every namespace of a server shares.
#[derive(Debug)]
pub struct Settings {
    /// A checkpoint (new generation) runs once the WAL holds this many committed frames.
    pub checkpoint_frames: u32,
    /// Past generations whose files (export and frames) are kept after a checkpoint; older ones
    /// are removed (0: all are kept).
    pub max_archived_generations: u32,
    /// The largest database, in 4096-byte pages (`PRAGMA max_page_count`); 0: no limit.
    pub max_db_pages: u32,
    /// Databases kept open at once; the least recently used idle ones are closed beyond it.
    pub max_open: usize,
    /// Bytes of SQLite memory (every connection's page cache, schema and statements, see
    /// [`edgelite::memory_used`]) above which the least recently used idle databases are
    /// closed, at the next open and by [`Namespaces::sweep`]; 0: no limit.
    pub max_open_memory: u64,
    /// Bytes of vector index blocks that one namespace's connections may cache together (each
    /// open namespace's [`edgelite::VectorCacheBudget`]).
    pub vector_cache_per_namespace: usize,
    /// Bytes of SQLite's memory one namespace's requests may hold at once.
    pub memory_per_namespace: u64,
    /// Each namespace's memory budget, by name, made at its first open and kept for the
    /// process's life (allocations charged to it may outlive the namespace's open).
    memory_budgets: Mutex<HashMap<String, &'static ffi::MemoryBudget>>,
    /// An open database unused for this long is closed by [`Namespaces::sweep`]; `None`: only
    /// the limits close databases.
    pub idle_close: Option<Duration>,
    /// SQLite connections held by sessions, counted per namespace and server-wide: each holds
    /// file descriptors and a page cache.
    pub conns: Arc<Gauge>,
    /// A replica server (`--primary-url`, see `crate::replica_server`): every database is a
    /// copy that only the replication writes. Nothing here writes it: no generation files, no
    /// checkpoint, no `default` made at start, and sessions are read-only.
    pub replica: bool,
    /// `--durability replica`: a write is answered once a replica server holds its frames, or
    /// fails after this long (see [`Namespace::durable`]); `None`: not waited for.
    pub replica_ack_timeout: Option<Duration>,
    /// A cluster primary's lease (see [`crate::cluster::Fence`]): once it has run out, every
    /// request is refused and no committed write is answered as a success.
    pub fence: Option<Arc<crate::cluster::Fence>>,
}

impl Settings {
    /// Refused once a cluster primary's lease has run out.
    ///
    /// # Errors
    ///
    /// `NOT_PRIMARY`.
    pub fn fenced(&self) -> Result<(), Unavailable> {
        match &self.fence {
            Some(f) if !f.holds() => Err(Unavailable {
                code: "NOT_PRIMARY",
                message: "this node's primary lease (etcd) has run out: it is no longer the primary and answers no \
                          request; send it to the primary named in etcd (any write it committed and did not answer is \
                          discarded)"
                    .into(),
            }),
            _ => Ok(()),
        }
    }

    /// Namespace `name`'s memory budget, with the current limit.
    fn memory_budget(&self, name: &str) -> &'static ffi::MemoryBudget {
        let mut budgets = self.memory_budgets.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let budget =
            *budgets.entry(name.to_owned()).or_insert_with(|| ffi::MemoryBudget::leak(self.memory_per_namespace));
        budget.set_limit(self.memory_per_namespace);
        budget
    }

    /// How many of `open` open databases to close to bring SQLite's memory under
    /// `max_open_memory`, taking each to use an equal share of it (0: none).
    fn memory_excess(&self, open: usize) -> usize {
        if self.max_open_memory == 0 || open == 0 {
            return 0;
        }
        let used = u64::try_from(edgelite::memory_used()).unwrap_or(0);
        if used <= self.max_open_memory {
            return 0;
        }
        let share = (used / open as u64).max(1);
        usize::try_from((used - self.max_open_memory).div_ceil(share)).unwrap_or(usize::MAX).min(open)
    }

    /// Settings with no size quota and `max_open` open databases at most.
    #[must_use]
    pub fn new(checkpoint_frames: u32, max_open: usize, conns: Arc<Gauge>) -> Settings {
        Settings {
            checkpoint_frames: checkpoint_frames.max(1),
            max_archived_generations: 0,
            max_db_pages: 0,
            max_open: max_open.max(1),
            max_open_memory: 0,
            vector_cache_per_namespace: 256 << 20,
            memory_per_namespace: u64::MAX,
            memory_budgets: Mutex::new(HashMap::new()),
            idle_close: None,
            conns,
            replica: false,
            replica_ack_timeout: None,
            fence: None,
        }
    }
}

/// What a closed namespace keeps in memory, so that its next open resumes where it stopped:
/// the generation and how far its WAL was scanned (the scan then only reads what is new).
#[derive(Clone, Debug, Default)]
pub struct Kept {
    /// 0: unknown (read from the files at open).
    generation: u32,
    scanner: WalScanner,
}

const POOL_MAX: usize = 16;
/// The longest a drain (see [`Namespace::admit`]) holds new transactions back.
const DRAIN_MAX: Duration = Duration::from_secs(10);
/// Unfinished multi-request pushes kept per namespace.
const MAX_PENDING_PUSHES: usize = 64;
/// Bytes of frames that unfinished pushes may hold in memory, per namespace, all together.
const MAX_PENDING_BYTES: usize = 64 << 20;
/// How long an unfinished push waits for its next request.
const PENDING_TTL: Duration = Duration::from_secs(60);

/// A pushed page 1 must keep the database readable by this server and its replicas: an SQLite
/// header, page size 4096, WAL mode (file format versions 2). Anything else would make the
/// namespace unreadable for every client once written.
fn check_header_page(page: &[u8]) -> Result<(), NsError> {
    let ok = page.len() == PAGE_SIZE
        && &page[..16] == b"SQLite format 3\0"
        && page[16..18] == [0x10, 0x00]
        && page[18..20] == [2, 2];
    if ok {
        Ok(())
    } else {
        Err(NsError::BadRequest("pushed page 1 is not a WAL-mode header with 4096-byte pages".into()))
    }
}

/// Whether a commit group can be written so that the server's WAL gets exactly the client's
/// frames: one frame per page, so each page once; no page past the database size the commit
/// records (SQLite leaves such pages out of a commit); and a size no larger than the pages
/// it has and writes (the server cannot make pages it is not given).
fn group_is_reproducible(group: &[Vec<u8>], pages_before: u32) -> Result<bool, NsError> {
    let Some(last) = group.last() else { return Ok(true) };
    let commit_size = frame_header(last).commit_size;
    let mut seen = std::collections::HashSet::with_capacity(group.len());
    let mut max_pgno = 0;
    for f in group {
        let pgno = frame_header(f).pgno;
        if pgno == 0 {
            return Err(NsError::BadRequest("frame with page number 0".into()));
        }
        if pgno == 1 {
            check_header_page(&f[FRAME_SIZE - PAGE_SIZE..])?;
        }
        if !seen.insert(pgno) || pgno > commit_size {
            return Ok(false);
        }
        max_pgno = max_pgno.max(pgno);
    }
    Ok(commit_size <= pages_before.max(max_pgno))
}

/// Checks, inside the push's transaction, that the database its pages make is well formed:
/// the frame checks above see only headers, and a page of garbage would otherwise be committed
/// and make every statement on its table fail with `SQLITE_CORRUPT`, for this server and for
/// every replica that pulls it.
fn check_pushed_database(conn: &Connection) -> Result<(), NsError> {
    let problems = (|| -> Result<Vec<String>, edgelite::Error> {
        let mut stmt = conn.prepare("PRAGMA quick_check")?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
        rows.collect()
    })();
    match problems {
        Ok(p) if p.len() == 1 && p[0] == "ok" => Ok(()),
        Ok(p) => Err(NsError::BadRequest(format!(
            "the pushed pages do not make a well-formed database: {}",
            p.into_iter().take(3).collect::<Vec<_>>().join("; ")
        ))),
        Err(e) => Err(malformed(e)),
    }
}

/// A database error caused by pushed pages: the push is refused (400), not a server failure;
/// pages past the namespace's size quota are refused as such.
fn malformed(e: edgelite::Error) -> NsError {
    if e.sqlite_error_code() == Some(edgelite::ErrorCode::DiskFull) {
        return NsError::Quota(format!(
            "the pushed pages would make the database larger than its quota (max_db_size or --max-db-size): {e}"
        ));
    }
    NsError::BadRequest(format!("the pushed pages do not make a well-formed database: {e}"))
}

/// Checks a namespace name: 1 to 64 of `[A-Za-z0-9_-]`.
#[must_use]
pub fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 64 && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn open_conn(path: &Path, max_pages: u32) -> Result<Connection, NsError> {
    let conn = Connection::open(path)?;
    configure_conn(&conn, max_pages)?;
    Ok(conn)
}

/// What every connection of the server gets: see [`open_conn`].
fn configure_conn(conn: &Connection, max_pages: u32) -> Result<(), NsError> {
    conn.busy_timeout(Duration::from_secs(5))?;
    // The server owns checkpoints: they define generations. Closing the last connection of a
    // database (a namespace closed when idle) must not checkpoint and delete the WAL either:
    // replicas are served its frames, and the next open goes on with them.
    conn.set_db_config(DbConfig::NoCkptOnClose, true)?;
    conn.execute_batch("PRAGMA wal_autocheckpoint=0;")?;
    if max_pages > 0 {
        set_max_pages(conn, max_pages)?;
    }
    Ok(())
}

/// Sets a connection's size quota: SQLITE_FULL for a write that would grow the database past
/// `max_pages` pages (0: no quota). SQLite never sets it below the database's current size, so
/// a quota lowered under it refuses every write that grows the file and keeps what is there.
/// The connection's temporary database gets the same quota: its tables are on a temporary
/// file of the server's (a tenant filled one with `randomblob` past its own quota).
fn set_max_pages(conn: &Connection, max_pages: u32) -> Result<(), NsError> {
    let pages = if max_pages == 0 { u32::MAX } else { max_pages };
    conn.execute_batch(&format!("PRAGMA max_page_count={pages}; PRAGMA temp.max_page_count={pages};"))?;
    Ok(())
}

/// The bytes of temporary files a namespace with a quota of `max_pages` pages may hold (0: no
/// quota, no limit). Its sorts and ephemeral tables wrote 2.08 GB under a 200 MB quota.
fn temp_limit(max_pages: u32) -> u64 {
    if max_pages == 0 { u64::MAX } else { u64::from(max_pages) * PAGE_SIZE as u64 }
}

/// A size quota in bytes as 4096-byte pages (0: none).
#[must_use]
pub fn bytes_to_pages(bytes: u64) -> u32 {
    if bytes == 0 {
        return 0;
    }
    u32::try_from((bytes / PAGE_SIZE as u64).max(1)).unwrap_or(u32::MAX)
}

/// The namespace's own size quota in bytes (its `max_db_size` file), if it has one.
fn read_quota(dir: &Path) -> Result<Option<u64>, NsError> {
    match fs::read_to_string(dir.join("max_db_size")) {
        Ok(text) => text.trim().parse().map(Some).map_err(|_| {
            NsError::Io(io::Error::other(format!("{}: not a number of bytes", dir.join("max_db_size").display())))
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The keeper connection, locked (see [`Namespace::keeper`]).
struct Keeper<'a>(MutexGuard<'a, Option<Connection>>);

impl std::ops::Deref for Keeper<'_> {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        self.0.as_ref().expect("invariant: Namespace::keeper opens it before handing it out")
    }
}

/// Whether a database file's header says what this server serves: an SQLite database in WAL
/// mode (file format versions 2) with 4096-byte pages.
fn header_is_servable(path: &Path) -> Result<bool, NsError> {
    use std::io::Read as _;
    let mut header = [0u8; 20];
    let mut f = match fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e.into()),
    };
    if f.read_exact(&mut header).is_err() {
        return Ok(false);
    }
    Ok(&header[..16] == b"SQLite format 3\0" && header[16..18] == [0x10, 0x00] && header[18..20] == [2, 2])
}

/// Per-connection flags shared with the connection's authorizer.
#[derive(Debug, Default)]
struct ConnFlags {
    /// The current request's token is read-only: every action that writes is denied, including
    /// those of statements SQLite calls read-only but that write through a nested statement
    /// (`PRAGMA optimize` runs `ANALYZE`, which creates and fills `sqlite_stat1`).
    read_only: AtomicBool,
    /// The connection's state was changed (a pragma set, a temp object created): it must not go
    /// back to the pool, where another client would inherit it.
    dirty: AtomicBool,
    /// A write transaction committed (set by the commit hook; DDL alone counts too).
    committed: AtomicBool,
}

/// A session connection and its authorizer's flags.
struct SessionConn {
    conn: Connection,
    flags: Arc<ConnFlags>,
    /// The size quota (in pages) set on `conn`.
    max_pages: u32,
}

/// What clients may not do through SQL: reach other files (ATTACH; VACUUM INTO attaches its
/// target), write raw pages, change how the WAL is checkpointed or journaled — generations
/// rest on the server being the only one to checkpoint — or change process-wide settings.
fn client_authorizer(ctx: &AuthContext<'_>, flags: &ConnFlags) -> Authorization {
    const FIXED_PRAGMAS: [&str; 8] = [
        "wal_checkpoint",
        "wal_autocheckpoint",
        "journal_mode",
        "locking_mode",
        "writable_schema",
        "temp_store_directory",
        "data_store_directory",
        // the namespace's size quota (--max-db-size)
        "max_page_count",
    ];
    // These set limits for the whole process (every namespace), not just this connection.
    const GLOBAL_PRAGMAS: [&str; 2] = ["hard_heap_limit", "soft_heap_limit"];
    let read_only = flags.read_only.load(Ordering::Relaxed);
    if crate::exec::sandbox_refuses(ctx) {
        return Authorization::Deny;
    }
    match ctx.action {
        ffi::SQLITE_ATTACH | ffi::SQLITE_DETACH => Authorization::Deny,
        ffi::SQLITE_PRAGMA => {
            let name = ctx.arg1.unwrap_or("").to_ascii_lowercase();
            // Reading journal_mode or max_page_count is harmless (clients ask); setting it is not.
            let read_only_query = (name == "journal_mode" || name == "max_page_count") && ctx.arg2.is_none();
            if (FIXED_PRAGMAS.contains(&name.as_str()) && !read_only_query)
                || (GLOBAL_PRAGMAS.contains(&name.as_str()) && ctx.arg2.is_some())
                || ctx.arg2.is_some_and(|value| crate::exec::pragma_value_refused(&name, value))
                || (read_only && name == "optimize")
            {
                Authorization::Deny
            } else {
                if ctx.arg2.is_some() {
                    flags.dirty.store(true, Ordering::Relaxed);
                }
                Authorization::Allow
            }
        }
        ffi::SQLITE_CREATE_INDEX..=ffi::SQLITE_DROP_VIEW
        | ffi::SQLITE_INSERT
        | ffi::SQLITE_UPDATE
        | ffi::SQLITE_ALTER_TABLE
        | ffi::SQLITE_REINDEX
        | ffi::SQLITE_ANALYZE
        | ffi::SQLITE_CREATE_VTABLE
        | ffi::SQLITE_DROP_VTABLE
            if read_only =>
        {
            Authorization::Deny
        }
        ffi::SQLITE_CREATE_TEMP_INDEX..=ffi::SQLITE_CREATE_TEMP_VIEW => {
            flags.dirty.store(true, Ordering::Relaxed);
            Authorization::Allow
        }
        _ => Authorization::Allow,
    }
}

fn open_session_conn(
    path: &Path,
    max_pages: u32,
    vector_cache: &Arc<edgelite::VectorCacheBudget>,
) -> Result<SessionConn, NsError> {
    // Through the VFS that counts temporary files against the namespace's budget (see
    // `Session::with_conn`); the database's own files are the default VFS's.
    let flags = edgelite::OpenFlags::default();
    // once per process; a failure shows as the open's "no such vfs"
    let _rc = ffi::register_temp_quota_vfs();
    let vfs = ffi::TEMP_QUOTA_VFS.to_str().unwrap_or_default();
    let conn = Connection::open_with_flags_and_vfs(path, flags, vfs)?;
    configure_conn(&conn, max_pages)?;
    crate::exec::harden(&conn)?;
    // One budget for all of the namespace's connections: each may cache up to 256 MiB, and
    // with 16 pooled (64 open) one tenant's index could hold 4 GB (16 GB) of the server.
    conn.set_vector_cache_budget(Some(Arc::clone(vector_cache)))?;
    let flags = Arc::new(ConnFlags::default());
    let f = Arc::clone(&flags);
    conn.authorizer(Some(move |ctx: AuthContext<'_>| client_authorizer(&ctx, &f)));
    let f = Arc::clone(&flags);
    conn.commit_hook(Some(move || {
        f.committed.store(true, Ordering::Relaxed);
        false
    }));
    Ok(SessionConn { conn, flags, max_pages })
}

/// Removes `gens/<g>` for every g before `oldest_kept`. Under the namespace's gate only
/// renames happen (to `.removed-<g>`, a name nothing reads as a generation): the first
/// checkpoint after the flag is set may have hundreds to remove, and requests wait on the
/// gate. The files go on another thread, with any left by an earlier crash.
pub fn remove_generations_before(gens: &Path, oldest_kept: u32, ns: &str) {
    let Ok(entries) = fs::read_dir(gens) else { return };
    let mut doomed = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.starts_with(".removed-") {
            doomed.push(entry.path());
            continue;
        }
        let Ok(g) = name.parse::<u32>() else { continue };
        if g < oldest_kept {
            let aside = gens.join(format!(".removed-{g}"));
            match fs::rename(entry.path(), &aside) {
                Ok(()) => doomed.push(aside),
                Err(e) => eprintln!("edgelite-server: namespace {ns:?}: cannot remove generation {g}: {e}"),
            }
        }
    }
    if doomed.is_empty() {
        return;
    }
    let ns = ns.to_owned();
    std::thread::spawn(move || {
        for dir in doomed {
            // NotFound: an earlier checkpoint's thread, still at it, took it first
            match fs::remove_dir_all(&dir) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => {
                    eprintln!("edgelite-server: namespace {ns:?}: cannot remove {}: {e}", dir.display());
                }
                _ => {}
            }
        }
    });
}

fn write_atomic(path: &Path, data: &[u8]) -> io::Result<()> {
    let tmp = path.with_extension("tmp");
    {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path)
}

/// Writes frames 1..=`n` of the WAL at `wal` into `to`, as [`write_atomic`] does, streamed
/// through a small buffer (or copied by the kernel). Read whole, they took the WAL's size in
/// memory at every checkpoint, which no limit bounds: a tenant's 660 MB transaction made its
/// checkpoint allocate 673 MB (heaptrack, a review of session 45).
fn archive_frames(wal: &Path, n: u32, to: &Path) -> io::Result<()> {
    let len = u64::from(n) * FRAME_SIZE as u64;
    let mut from = fs::File::open(wal)?;
    from.seek(io::SeekFrom::Start(WAL_HEADER as u64))?;
    let tmp = to.with_extension("tmp");
    {
        let mut f = fs::File::create(&tmp)?;
        if io::copy(&mut from.take(len), &mut f)? != len {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the WAL is shorter than its committed frames"));
        }
        f.sync_all()?;
    }
    fs::rename(&tmp, to)
}

fn copy_atomic(from: &Path, to: &Path) -> io::Result<()> {
    let tmp = to.with_extension("tmp");
    fs::copy(from, &tmp)?;
    fs::File::open(&tmp)?.sync_all()?;
    fs::rename(&tmp, to)
}

impl Namespace {
    /// Opens (creating if needed) the namespace in `dir`, resuming from what it kept when it
    /// was last closed, if anything. Blocking.
    ///
    /// # Errors
    ///
    /// Database and file errors; a page size other than 4096.
    pub fn open(name: &str, dir: &Path, settings: Arc<Settings>, kept: Kept) -> Result<Arc<Namespace>, NsError> {
        if !settings.replica {
            fs::create_dir_all(dir.join("gens"))?;
        }
        let db_path = dir.join("data");
        let wal_path = dir.join("data-wal");
        let max_pages = read_quota(dir)?.map_or(settings.max_db_pages, bytes_to_pages);
        // A namespace with sync history whose file says WAL mode and 4096-byte pages (it always
        // does once this server has opened it) needs no SQLite connection to open: sessions
        // open theirs, and the keeper waits until a checkpoint or push needs it. Anything else
        // (a new or adopted file, a damaged header) is checked by SQLite itself now, so that a
        // file that is not a database is found (and quarantined) here.
        let keeper = if dir.join("generation").exists() && header_is_servable(&db_path)? {
            // The WAL file exists from then on, as SQLite's first open would leave it (empty
            // for a new namespace): readers of its frames expect it.
            fs::OpenOptions::new().create(true).append(true).open(&wal_path)?;
            None
        } else {
            let keeper = open_conn(&db_path, max_pages)?;
            // page_size only takes effect before the file has content; a replica's file is
            // the primary's copy and keeps its header as served.
            if !settings.replica {
                keeper.execute_batch("PRAGMA page_size=4096;")?;
            }
            let mode: String = keeper.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
            if !mode.eq_ignore_ascii_case("wal") {
                return Err(NsError::Io(io::Error::other(format!("could not switch to WAL mode ({mode})"))));
            }
            let page_size: i64 = keeper.query_row("PRAGMA page_size", [], |r| r.get(0))?;
            if page_size != PAGE_SIZE as i64 {
                return Err(NsError::PageSize(page_size));
            }
            Some(keeper)
        };
        let ns = Namespace {
            name: name.to_owned(),
            dir: dir.to_owned(),
            db_path,
            wal_path,
            gate: Arc::new(tokio::sync::RwLock::new(())),
            sync: Mutex::new(SyncState { generation: 0, scanner: WalScanner::default() }),
            keeper: Mutex::new(keeper),
            pool: Mutex::new(Vec::new()),
            vector_cache: Arc::new(edgelite::VectorCacheBudget::new(settings.vector_cache_per_namespace)),
            temp_files: Arc::new(ffi::TempFileBudget::new(temp_limit(max_pages))),
            memory: settings.memory_budget(name),
            open_txns: AtomicUsize::new(0),
            pending: Mutex::new(HashMap::new()),
            settings,
            max_pages: AtomicU32::new(max_pages),
            checkpointing: AtomicBool::new(false),
            draining: AtomicBool::new(false),
            moved: tokio::sync::watch::Sender::new((0, 0)),
            watch: OnceLock::new(),
            replicated: tokio::sync::watch::Sender::new(HashMap::new()),
        };
        if !ns.settings.replica {
            ns.recover(kept)?;
        }
        Ok(Arc::new(ns))
    }

    /// The keeper connection, opened if it is not yet.
    fn keeper(&self) -> Result<Keeper<'_>, NsError> {
        let mut k = lock(&self.keeper)?;
        if k.is_none() {
            *k = Some(open_conn(&self.db_path, self.max_pages.load(Ordering::Acquire))?);
        }
        Ok(Keeper(k))
    }

    /// What to keep in memory when the namespace is closed (see [`Kept`]).
    fn kept(&self) -> Kept {
        match self.sync.lock() {
            Ok(s) => Kept { generation: s.generation, scanner: s.scanner.clone() },
            Err(_) => Kept::default(),
        }
    }

    /// Whether nothing but its handles would be lost by closing the namespace now: no
    /// transaction, checkpoint or drain under way, no unfinished push waiting for its commit.
    /// (Sessions, streams, pulls and pushes in progress hold the namespace's `Arc`.)
    fn idle(&self) -> bool {
        let pending_empty = self.pending.lock().is_ok_and(|mut p| {
            p.retain(|_, p| p.at.elapsed() < PENDING_TTL);
            p.is_empty()
        });
        pending_empty
            && self.open_txns.load(Ordering::Acquire) == 0
            && !self.checkpointing.load(Ordering::Acquire)
            && !self.draining.load(Ordering::Acquire)
            // a namespace closes only once its backup has every commit: a closed one ships nothing
            && self.watch.get().is_none_or(|w| w.caught_up())
    }

    fn gen_dir(&self, g: u32) -> PathBuf {
        self.dir.join("gens").join(g.to_string())
    }

    /// Brings the generation files to a consistent state at open.
    fn recover(&self, kept: Kept) -> Result<(), NsError> {
        let meta = self.dir.join("generation");
        let recorded = fs::read_to_string(&meta).ok().and_then(|s| s.trim().parse::<u32>().ok());
        match recorded {
            None => {
                // A new database (or a file without sync history): its current content becomes
                // generation 1's export. Anything in its WAL is folded in first.
                let keeper = self.keeper()?;
                // Rewriting user_version (with its own value) writes page 1, so that even an
                // empty database has a valid file to export; an existing one keeps its value.
                let uv: i64 = keeper.query_row("PRAGMA user_version", [], |r| r.get(0))?;
                keeper.execute_batch(&format!("PRAGMA user_version = {uv};"))?;
                self.truncate_wal(&keeper)?;
                drop(keeper);
                self.start_generation(1)?;
            }
            Some(g) => {
                let archive = self.gen_dir(g).join("frames");
                if archive.exists() {
                    // The server stopped between archiving generation g and starting g+1, or
                    // after a checkpoint that archived but could not truncate the WAL.
                    let keeper = self.keeper()?;
                    let mut wal = WalScanner::default();
                    let n = wal.scan(&self.wal_path)?;
                    let archived_salts = fs::read(&archive)
                        .ok()
                        .filter(|a| a.len() >= FRAME_SIZE)
                        .map(|a| frame_salts(&a[..FRAME_SIZE]));
                    if n > 0 && archived_salts.is_some() && wal.salts() != archived_salts {
                        // SQLite restarted the WAL after that checkpoint had copied every frame
                        // into the database: the file is generation g+1's start, and the WAL's
                        // frames are g+1's own. Folding them in would hide them from replicas.
                        drop(keeper);
                        self.start_generation(g + 1)?;
                        return Ok(());
                    }
                    // Otherwise the WAL's committed frames are all generation g's, and may go past
                    // the archive (commits after a failed truncation): archive them all before
                    // they are folded in, or replicas of generation g would never see them.
                    if n > 0 {
                        archive_frames(&self.wal_path, n, &archive)?;
                    }
                    self.truncate_wal(&keeper)?;
                    drop(keeper);
                    self.start_generation(g + 1)?;
                } else {
                    let mut s = lock(&self.sync)?;
                    s.generation = g;
                    // Reopened after a close: the scan resumes after the frames already known
                    // (it starts over by itself if the WAL's header changed).
                    s.scanner = if kept.generation == g { kept.scanner } else { WalScanner::default() };
                    s.scanner.scan(&self.wal_path)?;
                }
            }
        }
        Ok(())
    }

    fn truncate_wal(&self, keeper: &Connection) -> Result<(), NsError> {
        let (busy, _, _): (i64, i64, i64) =
            keeper.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        if busy != 0 {
            return Err(NsError::Busy("the WAL is in use".into()));
        }
        Ok(())
    }

    /// Snapshots the (checkpointed) database file as generation `g`'s export and records `g`.
    fn start_generation(&self, g: u32) -> Result<(), NsError> {
        let mut s = lock(&self.sync)?;
        self.start_generation_locked(&mut s, g)
    }

    fn start_generation_locked(&self, s: &mut SyncState, g: u32) -> Result<(), NsError> {
        let gd = self.gen_dir(g);
        fs::create_dir_all(&gd)?;
        copy_atomic(&self.db_path, &gd.join("export.db"))?;
        write_atomic(&self.dir.join("generation"), g.to_string().as_bytes())?;
        s.generation = g;
        s.scanner.reset();
        Ok(())
    }

    /// Gives the namespace its backup watch (once; later calls change nothing).
    pub fn set_watch(&self, watch: Arc<dyn CommitWatch>) {
        let _ = self.watch.set(watch);
    }

    /// Whether a request may run now: not on a primary whose cluster lease ran out, nor (see
    /// [`CommitWatch::admit`]) while the backup refuses; always otherwise.
    ///
    /// # Errors
    ///
    /// Why it may not.
    pub fn admit_request(&self) -> Result<(), Unavailable> {
        self.settings.fenced()?;
        self.watch
            .get()
            .map_or(Ok(()), |w| w.admit())
            .map_err(|message| Unavailable { code: "BACKUP_UNAVAILABLE", message })
    }

    /// Waits until the committed frames up to `(generation, frames)` are as durable as
    /// `--durability` asks before a write is answered: stored by the backup (`backup`), or held
    /// by every replica server in sync, at least one (`replica`, see [`IN_SYNC_WINDOW`]); at
    /// once with `local`.
    ///
    /// # Errors
    ///
    /// The backup or the replicas did not take them in time.
    pub async fn durable(&self, (generation, frames): (u32, u32)) -> Result<(), Unavailable> {
        if let Some(w) = self.watch.get() {
            w.durable(generation, frames)
                .await
                .map_err(|message| Unavailable { code: "BACKUP_UNAVAILABLE", message })?;
        }
        let Some(timeout) = self.settings.replica_ack_timeout else { return self.settings.fenced() };
        let mut rx = self.replicated.subscribe();
        let deadline = Instant::now() + timeout;
        loop {
            if held_by_replicas(&rx.borrow_and_update(), (generation, frames), Instant::now()) {
                return self.settings.fenced();
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            // Looked at again on every acknowledgement, and at least every 250 ms, since a
            // replica that stopped drops out of the ones in sync by time alone.
            let _ = tokio::time::timeout(left.min(Duration::from_millis(250)), rx.changed()).await;
        }
        Err(Unavailable {
            code: "REPLICA_UNAVAILABLE",
            message: format!(
                "the write was committed on this server but not every replica server in sync acknowledged it within \
                 {} ms (--durability replica, --replica-ack-timeout-ms); it stays here, and replicas receive it when \
                 they follow again",
                timeout.as_millis()
            ),
        })
    }

    /// A replica server's waiting pull of `/sync/{generation}/{frames + 1}/..` says that it
    /// holds generation `generation`'s first `frames` frames, with `salts` (see
    /// `edgelite::replica::Builder::acknowledge`). Taken only for the current generation and
    /// only when the salts are this WAL's (`frames` 0 needs none: it is the generation's export,
    /// which holds every frame of the ones before), so a replica of an earlier database of the
    /// same name never acknowledges this one's writes. Whether it was taken. Blocking (reads the
    /// WAL).
    ///
    /// # Errors
    ///
    /// I/O errors reading the WAL.
    pub fn replica_holds(&self, node: &str, generation: u32, frames: u32, salts: Salts) -> Result<bool, NsError> {
        let (g, n, current) = self.position_and_salts()?;
        let taken = generation == g && (frames == 0 || (frames <= n && salts.is_some() && salts == current));
        if taken {
            self.replicated.send_modify(|acks| {
                let now = Instant::now();
                // Names come from a request header: those long out of sync are forgotten.
                acks.retain(|_, (_, at)| now.saturating_duration_since(*at) <= IN_SYNC_WINDOW * 10);
                if acks.len() < 64 || acks.contains_key(node) {
                    let e = acks.entry(node.to_owned()).or_insert(((generation, frames), now));
                    e.0 = e.0.max((generation, frames));
                    e.1 = now;
                }
            });
        }
        Ok(taken)
    }

    /// Each replica server's acknowledged position here and how long ago, in ms (see
    /// [`Namespace::replica_holds`]).
    #[must_use]
    pub fn replicated(&self) -> Vec<(String, (u32, u32), u128)> {
        self.replicated.borrow().iter().map(|(n, (p, at))| (n.clone(), *p, at.elapsed().as_millis())).collect()
    }

    /// The gate: hold it shared while using the database.
    pub async fn enter(&self) -> tokio::sync::OwnedRwLockReadGuard<()> {
        Arc::clone(&self.gate).read_owned().await
    }

    /// The current generation and its committed frame count. Blocking (reads the WAL).
    ///
    /// # Errors
    ///
    /// I/O errors reading the WAL.
    pub fn position(&self) -> Result<(u32, u32), NsError> {
        let (g, n, _) = self.position_and_salts()?;
        Ok((g, n))
    }

    /// [`Namespace::position`], with the salts of the WAL header the frames belong to: a reader
    /// of the live WAL's frames checks that they carry these salts (a WAL restart rewrites frames).
    ///
    /// # Errors
    ///
    /// I/O errors reading the WAL.
    pub fn position_and_salts(&self) -> Result<(u32, u32, Salts), NsError> {
        self.position_and_salts_in(None)
    }

    /// Tells of every move of [`Namespace::position`] that a WAL scan sees (the scans that follow
    /// commits, or any caller of `position`).
    #[must_use]
    pub fn watch_position(&self) -> tokio::sync::watch::Receiver<(u32, u32)> {
        self.moved.subscribe()
    }

    /// SQLite connections held by sessions: this namespace's, and the server's in all.
    #[must_use]
    pub fn conns_held(&self) -> (usize, usize) {
        self.settings.conns.held(&self.name)
    }

    /// The namespace's directory (see the module doc for its layout).
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The live WAL file.
    #[must_use]
    pub fn wal_path(&self) -> &Path {
        &self.wal_path
    }

    /// The directory of generation `g` (its `export.db`, and `frames` once it has ended).
    #[must_use]
    pub fn generation_dir(&self, g: u32) -> PathBuf {
        self.gen_dir(g)
    }

    /// [`Namespace::position_and_salts`], scanning `wal` (the WAL, already open) if given.
    fn position_and_salts_in(&self, wal: Option<&mut fs::File>) -> Result<(u32, u32, Salts), NsError> {
        let mut s = lock(&self.sync)?;
        let mut n = match wal {
            Some(f) => s.scanner.scan_file(f)?,
            None => s.scanner.scan(&self.wal_path)?,
        };
        if s.scanner.take_restarted() {
            // Only a checkpoint that copied every frame into the database lets SQLite restart
            // the WAL, and only this server checkpoints: one that archived generation g and then
            // could not truncate (a reader held the WAL). The database file is therefore
            // generation g+1's start, the archive holds all of g, and the frames now in the WAL
            // are g+1's: finish that generation switch now.
            let g = s.generation;
            if self.gen_dir(g).join("frames").exists() {
                self.start_generation_locked(&mut s, g + 1)?;
                n = s.scanner.scan(&self.wal_path)?;
            }
        }
        let now = (s.generation, n);
        self.moved.send_if_modified(|seen| std::mem::replace(seen, now) != now);
        if let Some(w) = self.watch.get() {
            w.committed(s.generation, n);
        }
        Ok((s.generation, n, s.scanner.salts()))
    }

    /// The current generation.
    ///
    /// # Errors
    ///
    /// A poisoned lock.
    pub fn generation(&self) -> Result<u32, NsError> {
        Ok(lock(&self.sync)?.generation)
    }

    /// The export file of generation `g`, if it exists.
    #[must_use]
    pub fn export_path(&self, g: u32) -> Option<PathBuf> {
        let p = self.gen_dir(g).join("export.db");
        p.exists().then_some(p)
    }

    /// Frames `[start, end)` of generation `g` (at most `max` of them). Blocking; hold the gate.
    ///
    /// # Errors
    ///
    /// I/O errors.
    pub fn pull(&self, g: u32, start: u32, end: u32, max: u32) -> Result<Pull, NsError> {
        let first = self.pull_once(g, start, end, max)?;
        match first {
            Some(p) => Ok(p),
            // The WAL was restarted while it was read; position() has moved the generation on.
            None => Ok(self.pull_once(g, start, end, max)?.unwrap_or(Pull::EndOfGeneration(self.generation()?))),
        }
    }

    /// A pull, or `None` if the WAL's frames changed under it.
    fn pull_once(&self, g: u32, start: u32, end: u32, max: u32) -> Result<Option<Pull>, NsError> {
        // One open of the WAL serves both the count and the frames.
        let mut wal = match fs::File::open(&self.wal_path) {
            Ok(f) => Some(f),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(e.into()),
        };
        let (current, committed, salts) = self.position_and_salts_in(wal.as_mut())?;
        let (path, base, available) = if g == current {
            (self.wal_path.clone(), WAL_HEADER as u64, committed)
        } else if g < current && g >= 1 {
            // every generation that ended has its frames file (a checkpoint with no frames is
            // skipped): without one, the generation was removed
            let p = self.gen_dir(g).join("frames");
            let len = match fs::metadata(&p) {
                Ok(m) => m.len(),
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Some(Pull::Gone(current))),
                Err(e) => return Err(e.into()),
            };
            (p, 0, u32::try_from(len / FRAME_SIZE as u64).unwrap_or(u32::MAX))
        } else {
            return Ok(Some(Pull::EndOfGeneration(current)));
        };
        if start > available.saturating_add(1) && end > start {
            return Ok(Some(Pull::Ahead(current)));
        }
        if start == 0 || start > available || end <= start {
            return Ok(Some(Pull::EndOfGeneration(current)));
        }
        let last = end.min(available.saturating_add(1)).min(start.saturating_add(max));
        let frames = match (g == current, wal.as_mut()) {
            (true, Some(f)) => read_frames_from(f, base, start, last)?,
            _ => read_frames(&path, base, start, last)?,
        };
        // Frames of the live WAL must still be the ones counted: a WAL restart rewrites them.
        if g == current && frames.chunks_exact(FRAME_SIZE).any(|f| Some(frame_salts(f)) != salts) {
            return Ok(None);
        }
        Ok(Some(Pull::Frames(frames)))
    }

    /// A connection for a session (from the pool or new), within the connection caps.
    ///
    /// The caps also bound file descriptors: while any connection of a database is open (a
    /// pooled one, or the keeper) it holds a lock on the file, so SQLite's unix VFS defers closing the
    /// descriptor of every other connection to that file and only reuses it for a later open
    /// (`unixInodeInfo.pUnused`). A database's descriptors therefore stay at the peak count of
    /// its connections; the caps are what bound that peak.
    fn take_conn(&self) -> Result<(SessionConn, Slot), NsError> {
        let slot = self.settings.conns.take(&self.name).map_err(|full| {
            NsError::Limit(match full {
                Full::Namespace => format!(
                    "namespace {:?} has its maximum of database connections open (--max-concurrent-connections); \
                     close streams or retry later",
                    self.name
                ),
                Full::Server => {
                    "the server has its maximum of database connections open (--max-total-connections); retry later"
                        .to_owned()
                }
            })
        })?;
        let max_pages = self.max_pages.load(Ordering::Acquire);
        {
            let mut pool = lock(&self.pool)?;
            // A connection pooled before the quota changed is closed (its authorizer refuses
            // the pragma that would change it).
            pool.retain(|c| c.max_pages == max_pages);
            if let Some(c) = pool.pop() {
                return Ok((c, slot));
            }
        }
        Ok((open_session_conn(&self.db_path, max_pages, &self.vector_cache)?, slot))
    }

    fn give_back(&self, conn: SessionConn) {
        // A connection whose settings or temp schema a client changed is closed, not reused.
        if conn.flags.dirty.load(Ordering::Relaxed) {
            return;
        }
        if !conn.conn.is_autocommit() && conn.conn.execute_batch("ROLLBACK").is_err() {
            return; // dropping closes it
        }
        if let Ok(mut pool) = self.pool.lock()
            && pool.len() < POOL_MAX
        {
            pool.push(conn);
        }
    }

    /// Bytes of SQLite's memory charged to its requests now.
    #[must_use]
    pub fn memory_bytes(&self) -> u64 {
        self.memory.used()
    }

    /// Bytes of vector index blocks its connections' node caches hold.
    #[must_use]
    pub fn vector_cache_bytes(&self) -> usize {
        self.vector_cache.used()
    }

    /// Empties the node caches of its pooled connections (those no session uses); returns the
    /// bytes given back.
    pub fn release_vector_caches(&self) -> usize {
        self.pool.lock().map_or(0, |pool| pool.iter().map(|c| c.conn.release_vector_cache()).sum())
    }

    /// Runs the server's checkpoint if the WAL passed the frame threshold (or `force`).
    /// Returns whether a new generation started. Takes the gate exclusively.
    ///
    /// # Errors
    ///
    /// Database and file errors; [`NsError::Busy`] when transactions are open.
    pub async fn checkpoint(self: &Arc<Self>, force: bool) -> Result<bool, NsError> {
        // A replica's generations are the primary's; its file is the replication's alone.
        if self.settings.replica || self.checkpointing.swap(true, Ordering::AcqRel) {
            return Ok(false);
        }
        // Polling alone starves under steady load: some request always holds the gate. Queueing
        // for it (tokio's lock is fair, so new requests then wait behind the checkpoint) lets the
        // running requests finish and the checkpoint in. It is safe while no transaction is
        // open, since then no running request waits on another one; if a transaction opens
        // meanwhile, the request that would end it may be queued behind us while another one
        // waits on it in SQLite's busy handler, so every queueing is bounded and then retried.
        let deadline = Instant::now() + if force { Duration::from_secs(10) } else { Duration::from_secs(5) };
        let guard = loop {
            if let Ok(g) = Arc::clone(&self.gate).try_write_owned() {
                break g;
            }
            if Instant::now() >= deadline {
                self.checkpointing.store(false, Ordering::Release);
                return Err(NsError::Busy("the database stayed busy".into()));
            }
            if self.open_txns.load(Ordering::Acquire) == 0 {
                let queued = Arc::clone(&self.gate).write_owned();
                if let Ok(g) = tokio::time::timeout(Duration::from_millis(200), queued).await {
                    break g;
                }
            } else {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        };
        let me = Arc::clone(self);
        let result = tokio::task::spawn_blocking(move || {
            let r = me.checkpoint_locked(force);
            drop(guard);
            r
        })
        .await
        .unwrap_or_else(|e| Err(NsError::Io(io::Error::other(e.to_string()))));
        self.checkpointing.store(false, Ordering::Release);
        result
    }

    /// Checks the threshold without the gate; spawns a checkpoint when it is passed.
    pub fn maybe_checkpoint(self: &Arc<Self>) {
        if self.settings.replica {
            return;
        }
        let committed = self.sync.lock().map(|s| s.scanner.committed()).unwrap_or(0);
        let checkpoint_frames = self.settings.checkpoint_frames;
        let over = committed >= checkpoint_frames;
        // With a transaction open the checkpoint would only take the gate and give up.
        let idle = self.open_txns.load(Ordering::Acquire) == 0;
        if over && idle && !self.checkpointing.load(Ordering::Acquire) {
            let me = Arc::clone(self);
            tokio::spawn(async move {
                // Busy means a transaction is open; the next write tries again.
                let _ = me.checkpoint(false).await;
            });
        } else if committed >= checkpoint_frames.saturating_mul(2)
            && !idle
            && !self.draining.swap(true, Ordering::AcqRel)
        {
            // Transactions keep overlapping, so there is never a moment without one: stop new
            // ones for as long as the open ones take to end (each within the transaction
            // timeout), then checkpoint.
            let me = Arc::clone(self);
            tokio::spawn(async move {
                let deadline = Instant::now() + DRAIN_MAX;
                while me.open_txns.load(Ordering::Acquire) > 0 && Instant::now() < deadline {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                let _ = me.checkpoint(false).await;
                me.draining.store(false, Ordering::Release);
            });
        }
    }

    /// Waits while the namespace is draining transactions for a checkpoint, unless the caller's
    /// session is inside a transaction (it must be able to end it). Bounded by the drain's own
    /// limit.
    pub async fn admit(&self, in_txn: bool) {
        if in_txn {
            return;
        }
        let deadline = Instant::now() + DRAIN_MAX;
        while self.draining.load(Ordering::Acquire) && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    fn checkpoint_locked(&self, force: bool) -> Result<bool, NsError> {
        let (g, n) = self.position()?;
        if n == 0 || (!force && n < self.settings.checkpoint_frames) {
            return Ok(false);
        }
        let open = self.open_txns.load(Ordering::Acquire);
        if open > 0 {
            return Err(NsError::Busy(format!("{open} transactions are open")));
        }
        let keeper = self.keeper()?;
        // With the gate held exclusively and no transaction open, nothing can append to the WAL
        // between this copy and the truncation below: the archive is exactly what is folded in.
        let gd = self.gen_dir(g);
        fs::create_dir_all(&gd)?;
        archive_frames(&self.wal_path, n, &gd.join("frames"))?;
        // On failure the archive stays: if this checkpoint copied every frame into the database,
        // SQLite restarts the WAL at the next write, and `position` then finishes the switch to
        // g+1 with it. Otherwise the generation goes on, and a later checkpoint (or `recover`
        // after a restart) archives all of its frames again.
        self.truncate_wal(&keeper)?;
        let wal_len = fs::metadata(&self.wal_path).map(|m| m.len()).unwrap_or(0);
        if wal_len != 0 {
            return Err(NsError::Busy(format!("WAL not truncated ({wal_len} bytes left)")));
        }
        drop(keeper);
        self.start_generation(g + 1)?;
        self.remove_old_generations(g + 1);
        Ok(true)
    }

    /// Removes the files of the generations before the `--max-archived-generations` most
    /// recent past ones (none if it is 0), except those the backup has yet to ship. The
    /// checkpoint holds the gate exclusively, so no pull of sync v2 is reading them;
    /// `/pull-updates` and `/export` read through files they opened, which outlive their
    /// removal. A failure is reported, not returned: the checkpoint is done.
    fn remove_old_generations(&self, current: u32) {
        let keep = self.settings.max_archived_generations;
        if keep == 0 {
            return;
        }
        let mut oldest_kept = current.saturating_sub(keep);
        if let Some(g) = self.watch.get().and_then(|w| w.unshipped_from()) {
            oldest_kept = oldest_kept.min(g);
        }
        remove_generations_before(&self.dir.join("gens"), oldest_kept, &self.name);
    }

    /// Copies the database into a new file (for fork). Blocking; hold the gate.
    ///
    /// # Errors
    ///
    /// Database errors.
    pub fn vacuum_into(&self, path: &Path) -> Result<(), NsError> {
        let keeper = self.keeper()?;
        let target = path.to_str().ok_or_else(|| NsError::BadRequest("path is not UTF-8".into()))?;
        keeper.execute("VACUUM INTO ?1", [target])?;
        Ok(())
    }

    /// Moves frame number `start` of generation `g`, as a client numbers it, into the current
    /// generation: `Some((offset, start - offset))`, or `None` if it has no place there.
    ///
    /// A checkpoint changes no page content, so the frames after the end of generation `g` are
    /// generation `g+1`'s first frames: a client that last synced in `g = current - 1` and
    /// pushes from past `g`'s last frame (an offline replica across a server checkpoint) pushes
    /// frames `start - len(g)` on of the current generation. Its answers then use the client's
    /// numbering (`len(g)` added back); its next pull of `g` finds the end of `g`, and it moves to
    /// `g+1` and pulls exactly the frames it pushed.
    ///
    /// Only `current - 1`: an older `g` would need every generation between to be empty, and
    /// the server never ends an empty generation (a checkpoint with no frames is skipped), so
    /// such a client has missed frames and gets a conflict.
    fn translate(&self, current: u32, g: u32, start: u32) -> Result<Option<(u32, u32)>, NsError> {
        if g == current {
            return Ok(Some((0, start)));
        }
        if g == 0 || g.checked_add(1) != Some(current) {
            return Ok(None);
        }
        let len = match fs::metadata(self.gen_dir(g).join("frames")) {
            Ok(m) => u32::try_from(m.len() / FRAME_SIZE as u64).unwrap_or(u32::MAX),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        Ok((start > len).then(|| (len, start - len)))
    }

    /// Applies frames pushed by an offline client. Blocking; hold the gate.
    ///
    /// The frames' pages are written with the `sqlite_dbpage` virtual table, one transaction
    /// per commit group, so SQLite itself appends them to this WAL (with this WAL's salts and
    /// checksums) and a group of k distinct pages becomes exactly k frames: the server's frame
    /// numbers then match the client's. That is checked after every commit. Before each commit,
    /// `PRAGMA quick_check` must pass, or the group is rolled back and the push refused.
    ///
    /// A push to the generation before the current one, from past its end, continues in the
    /// current one (see [`Namespace::translate`]).
    ///
    /// # Errors
    ///
    /// [`NsError::BadRequest`] for a malformed body or pages that do not make a well-formed
    /// database; database errors.
    pub fn push(&self, g: u32, start: u32, end: u32, baton: Option<&str>, body: &[u8]) -> Result<PushAnswer, NsError> {
        if start == 0 || end <= start {
            return Err(NsError::BadRequest(format!("bad frame range [{start}, {end})")));
        }
        if body.is_empty()
            || !body.len().is_multiple_of(FRAME_SIZE)
            || body.len() / FRAME_SIZE != (end - start) as usize
        {
            return Err(NsError::BadRequest(format!(
                "body of {} bytes does not hold {} frames of {FRAME_SIZE} bytes",
                body.len(),
                end - start
            )));
        }
        let keeper = self.keeper()?;
        // Every page of a group must reach the WAL in the commit, never earlier in a spill (a
        // spill, then a commit with nothing left dirty, writes an extra frame).
        keeper.execute_batch("PRAGMA cache_spill=OFF")?;
        let (current, mut n) = self.position()?;
        let conflict = |n: u32| PushAnswer { status: "conflict", generation: current, max_frame_no: n, baton: None };
        // The client's frame numbers, moved into the current generation (see `translate`); the
        // answers below give frame numbers back in the client's numbering: `offset` + ours.
        let Some((offset, start)) = self.translate(current, g, start)? else {
            return Ok(conflict(n));
        };
        let ok = |max_frame_no: u32, baton: Option<String>| PushAnswer {
            status: "ok",
            generation: g,
            max_frame_no: offset.saturating_add(max_frame_no),
            baton,
        };
        let end = end - offset;
        // Frames of an unfinished commit from earlier requests come first.
        let mut frames: Vec<Vec<u8>> = Vec::new();
        let mut first = start;
        if let Some(b) = baton {
            let pending = lock(&self.pending)?.remove(b);
            let resumed = match pending {
                Some(p) => self.translate(current, p.generation, p.start)?.map(|(_, s)| (s, p.frames)),
                None => None,
            };
            match resumed {
                Some((p_start, p_frames))
                    if u32::try_from(p_frames.len()).ok().and_then(|l| p_start.checked_add(l)) == Some(start) =>
                {
                    first = p_start;
                    frames = p_frames;
                }
                _ => return Ok(conflict(n)),
            }
        }
        frames.extend(body.chunks_exact(FRAME_SIZE).map(<[u8]>::to_vec));
        if first > n.saturating_add(1) {
            // The client believes the server has frames it does not: it retries from n+1.
            return Ok(ok(n, None));
        }
        if first <= n {
            // A re-sent prefix is fine if it is byte-for-byte what the server has and ends on a
            // commit; anything else means another writer got there first.
            let overlap = (n - first + 1).min(frames.len() as u32);
            let ours = read_frames(&self.wal_path, WAL_HEADER as u64, first, first + overlap)?;
            for (i, theirs) in frames.iter().take(overlap as usize).enumerate() {
                let mine = &ours[i * FRAME_SIZE..(i + 1) * FRAME_SIZE];
                if mine[..8] != theirs[..8] || mine[24..] != theirs[24..] {
                    return Ok(conflict(n));
                }
            }
            let last_overlap = &frames[overlap as usize - 1];
            if frame_header(last_overlap).commit_size == 0 && first + overlap - 1 == n {
                return Ok(conflict(n));
            }
            frames.drain(..overlap as usize);
            if frames.is_empty() {
                return Ok(ok(end - 1, None));
            }
        }
        // Split into commit groups; a tail without a commit waits for the next request.
        let mut groups: Vec<Vec<Vec<u8>>> = Vec::new();
        let mut cur = Vec::new();
        for f in frames {
            let commit = frame_header(&f).commit_size != 0;
            cur.push(f);
            if commit {
                groups.push(std::mem::take(&mut cur));
            }
        }
        for group in groups {
            let expected = n + group.len() as u32;
            keeper.execute_batch("BEGIN IMMEDIATE")?;
            let applied = (|| -> Result<(), NsError> {
                let (_, now) = self.position()?;
                if now != n {
                    return Err(NsError::Busy("another write arrived".into()));
                }
                let pages: i64 = keeper.query_row("PRAGMA page_count", [], |r| r.get(0))?;
                if !group_is_reproducible(&group, u32::try_from(pages).unwrap_or(u32::MAX))? {
                    // Writing it would commit frames that do not line up with the client's.
                    return Err(NsError::Busy("the frames cannot be reproduced".into()));
                }
                // The b-tree layer reads the database size only when a transaction or savepoint
                // starts or ends, not when sqlite_dbpage writes pages; ending a savepoint makes
                // it take the new size (page 1's header) for the check below.
                keeper.execute_batch("SAVEPOINT push_pages")?;
                let mut stmt = keeper.prepare("INSERT INTO sqlite_dbpage(pgno, data) VALUES (?1, ?2)")?;
                let commit_size = group.last().map_or(0, |f| frame_header(f).commit_size);
                // Page 1 last: once it is written, the next statement sees a new schema cookie
                // and reloads the schema while the b-tree still has the old size (the WAL gets
                // the pages in page order whatever the order of these writes).
                let mut ordered: Vec<&Vec<u8>> = group.iter().collect();
                ordered.sort_by_key(|f| frame_header(f).pgno == 1);
                for f in ordered {
                    let h = frame_header(f);
                    if h.pgno == 0 {
                        return Err(NsError::BadRequest("frame with page number 0".into()));
                    }
                    stmt.execute(edgelite::params![i64::from(h.pgno), &f[24..]]).map_err(malformed)?;
                }
                // After page 1 this may reload the schema with the old size, which is no smaller
                // than the commit's here. Errors from now on come from the pushed content.
                if i64::from(commit_size) < pages {
                    keeper
                        .execute(
                            "INSERT INTO sqlite_dbpage(pgno, data) VALUES (?1, NULL)",
                            [i64::from(commit_size) + 1],
                        )
                        .map_err(malformed)?;
                }
                drop(stmt);
                keeper.execute_batch("RELEASE push_pages").map_err(malformed)?;
                let pages: i64 = keeper.query_row("PRAGMA page_count", [], |r| r.get(0)).map_err(malformed)?;
                if pages != i64::from(commit_size) {
                    // SQLite keeps page 1's size field current on every commit that changes it.
                    return Err(NsError::BadRequest(format!(
                        "page 1 records a database of {pages} pages, the commit {commit_size}"
                    )));
                }
                check_pushed_database(&keeper)
            })();
            match applied {
                Ok(()) => keeper.execute_batch("COMMIT")?,
                Err(e) => {
                    let _ = keeper.execute_batch("ROLLBACK");
                    return match e {
                        NsError::Busy(_) => Ok(conflict(n)),
                        other => Err(other),
                    };
                }
            }
            let (_, after) = self.position()?;
            if after != expected {
                // The server's WAL no longer lines up with the client's; it must re-bootstrap.
                return Ok(conflict(after));
            }
            n = after;
        }
        if cur.is_empty() {
            return Ok(ok(n, None));
        }
        let token =
            crate::random_token().ok_or_else(|| NsError::Io(io::Error::other("no random source for a baton")))?;
        let mut pending = lock(&self.pending)?;
        pending.retain(|_, p| p.at.elapsed() < PENDING_TTL);
        // A chain of requests that never commits would otherwise grow without bound.
        let held: usize = pending.values().map(|p| p.frames.len() * FRAME_SIZE).sum();
        if held.saturating_add(cur.len() * FRAME_SIZE) > MAX_PENDING_BYTES {
            return Err(NsError::TooLarge(format!(
                "an unfinished push may hold at most {MAX_PENDING_BYTES} bytes of frames before its commit"
            )));
        }
        // Unfinished pushes hold their frames in memory: keep a bounded number, oldest out.
        while pending.len() >= MAX_PENDING_PUSHES {
            let oldest = pending.iter().min_by_key(|(_, p)| p.at).map(|(k, _)| k.clone());
            match oldest {
                Some(k) => pending.remove(&k),
                None => break,
            };
        }
        pending
            .insert(token.clone(), PendingPush { generation: current, start: n + 1, frames: cur, at: Instant::now() });
        Ok(ok(end - 1, Some(token)))
    }
}

/// A stream's state: a connection (taken lazily) and its stored SQL.
pub struct Session {
    /// The database.
    pub ns: Arc<Namespace>,
    conn: Option<SessionConn>,
    /// The connection's place under the connection caps, held as long as `conn`.
    slot: Option<Slot>,
    in_txn: bool,
    /// When the open transaction started (seen at the end of a request).
    txn_since: Option<Instant>,
    /// The transaction was rolled back by the timeout: every later request fails, so that the
    /// rest of a transaction never runs as autocommit statements.
    timed_out: bool,
    /// A request may have committed since [`Session::take_committed`] was last asked.
    committed: bool,
    /// `store_sql` texts (per stream over HTTP).
    pub sqls: SqlStore,
}

impl Session {
    /// A new session on `ns`.
    #[must_use]
    pub fn new(ns: Arc<Namespace>) -> Session {
        Session {
            ns,
            conn: None,
            slot: None,
            in_txn: false,
            txn_since: None,
            timed_out: false,
            committed: false,
            sqls: SqlStore::new(),
        }
    }

    /// Runs `f` with the session's connection, keeping the open-transaction count right; with
    /// [`Perm::ReadOnly`] the connection's authorizer refuses every write.
    /// Blocking: call on a blocking thread while holding the namespace's gate.
    pub fn with_conn<T>(
        &mut self,
        perm: Perm,
        f: impl FnOnce(&Connection, &mut SqlStore) -> T,
    ) -> Result<T, HranaError> {
        if self.timed_out {
            return Err(HranaError::new(
                "TRANSACTION_TIMEOUT",
                "the stream's transaction was open longer than the server's limit (--txn-timeout-secs) and was \
                 rolled back; close the stream",
            ));
        }
        if self.conn.is_none() {
            let (conn, slot) = self.ns.take_conn().map_err(|e| match e {
                NsError::Limit(m) => HranaError::new("TOO_MANY_CONNECTIONS", m),
                other => HranaError::new("SQLITE_CANTOPEN", other.to_string()),
            })?;
            self.conn = Some(conn);
            self.slot = Some(slot);
        }
        let Some(sc) = self.conn.as_ref() else {
            return Err(HranaError::new("SQLITE_CANTOPEN", "no connection"));
        };
        // On a replica server writes go to the primary; one that reaches a local session anyway
        // (over WebSocket) is refused rather than making the copy differ from the primary.
        sc.flags.read_only.store(perm == Perm::ReadOnly || self.ns.settings.replica, Ordering::Relaxed);
        let conn = &sc.conn;
        let changes = conn.total_changes();
        // the temporary files the statements open count against the namespace's budget, and
        // the SQLite memory they take against its memory budget
        let (temp, memory) = (&self.ns.temp_files, self.ns.memory);
        let out = ffi::with_memory_budget(Some(memory), || {
            ffi::with_temp_file_budget(Some(temp), || f(conn, &mut self.sqls))
        });
        // a CREATE INDEX on a vector column that failed kept its build's memory (up to 256 MiB)
        // on the connection, which the stream may hold for as long as it likes
        conn.drop_stale_vector_builds();
        let now = !conn.is_autocommit();
        // in autocommit mode after rows changed, or at the end of a transaction, or whenever the
        // commit hook saw a commit (DDL alone too: the backup stamps every commit's time)
        self.committed |= sc.flags.committed.swap(false, Ordering::Relaxed)
            || (!now && (self.in_txn || conn.total_changes() != changes));
        if now != self.in_txn {
            if now {
                self.ns.open_txns.fetch_add(1, Ordering::AcqRel);
                self.txn_since = Some(Instant::now());
            } else {
                self.ns.open_txns.fetch_sub(1, Ordering::AcqRel);
                self.txn_since = None;
            }
            self.in_txn = now;
        }
        Ok(out)
    }

    /// Rolls back a transaction open for longer than `max` (it would postpone the namespace's
    /// checkpoint, and so its new generation, for as long as the client likes). Returns whether
    /// it did; the session's later requests then fail with `TRANSACTION_TIMEOUT`. Blocking.
    pub fn end_stale_txn(&mut self, max: Duration) -> bool {
        if !self.txn_open_longer_than(max) {
            return false;
        }
        // The connection goes back (rolled back in give_back, or closed) rather than staying
        // with a session that can no longer use it.
        if let Some(conn) = self.conn.take() {
            self.ns.give_back(conn);
        }
        self.slot = None;
        self.ns.open_txns.fetch_sub(1, Ordering::AcqRel);
        self.in_txn = false;
        self.txn_since = None;
        self.timed_out = true;
        true
    }

    /// Whether the session is inside a transaction.
    #[must_use]
    pub fn in_txn(&self) -> bool {
        self.in_txn
    }

    /// Whether a transaction has been open for longer than `max` (not blocking).
    #[must_use]
    pub fn txn_open_longer_than(&self, max: Duration) -> bool {
        self.in_txn && self.txn_since.is_some_and(|t| t.elapsed() >= max)
    }

    /// Whether the session holds a database connection.
    #[must_use]
    pub fn holds_conn(&self) -> bool {
        self.conn.is_some()
    }

    /// Whether a request may have committed since the last call: only then can the WAL's
    /// committed frame count have moved, and rescanning the WAL after every read is waste.
    pub fn take_committed(&mut self) -> bool {
        std::mem::take(&mut self.committed)
    }

    /// Runs one request with this session's own SQL store, its rows charged to `budget`.
    pub fn run(&mut self, perm: Perm, req: StreamRequest, budget: &mut Budget) -> Result<StreamResponse, HranaError> {
        self.with_conn(perm, |conn, sqls| run_request(conn, sqls, perm, req, budget))?
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // Roll back (or close) first: until then the transaction still counts as open, so a
        // checkpoint cannot start while it holds the WAL.
        if let Some(conn) = self.conn.take() {
            self.ns.give_back(conn);
        }
        if self.in_txn {
            self.ns.open_txns.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

/// Opens a namespace on first use. A file SQLite finds corrupt or not a database (or with a
/// page size replication cannot serve) is moved to `<db_path>/quarantine/<name>-<unix seconds>`,
/// so that no later open or admin `create` of the same name touches it, and the error says
/// `quarantined: true`; other failures (permissions, descriptors) may pass, so those files stay
/// where they are for the next try. Either way a line on stderr says why.
fn open_or_isolate(
    name: &str,
    dir: &Path,
    db_path: &Path,
    open: impl FnOnce() -> Result<Arc<Namespace>, NsError>,
) -> Result<Arc<Namespace>, (NsError, bool)> {
    let e = match open() {
        Ok(ns) => return Ok(ns),
        Err(e) => e,
    };
    let corrupt = match &e {
        NsError::Sql(e) => matches!(
            e.sqlite_error_code(),
            Some(edgelite::ErrorCode::DatabaseCorrupt | edgelite::ErrorCode::NotADatabase)
        ),
        NsError::PageSize(_) => true,
        _ => false,
    };
    if !corrupt {
        eprintln!("edgelite-server: namespace {name:?} cannot be opened and is not served: {e}");
        return Err((e, false));
    }
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let quarantine = db_path.join("quarantine");
    let mut to = quarantine.join(format!("{name}-{secs}"));
    for i in 1.. {
        if !to.exists() {
            break;
        }
        to = quarantine.join(format!("{name}-{secs}-{i}"));
    }
    match fs::create_dir_all(&quarantine).and_then(|()| fs::rename(dir, &to)) {
        Ok(()) => {
            eprintln!(
                "edgelite-server: namespace {name:?} is quarantined and not served: {e}; its files were moved to {}",
                to.display()
            );
            Err((e, true))
        }
        Err(move_err) => {
            eprintln!(
                "edgelite-server: namespace {name:?} is not served: {e}; moving it to {} failed ({move_err}), \
                 its files stay in {}",
                to.display(),
                dir.display()
            );
            Err((e, false))
        }
    }
}

/// One namespace in the registry: open (its handle), or closed (a few bytes of [`Kept`]).
struct Entry {
    ns: Option<Arc<Namespace>>,
    kept: Kept,
    /// The namespace's own token key once read (`None` inside: it has none).
    key: Option<Option<Arc<Auth>>>,
    /// When it was last handed out (its key in [`Table::lru`] while open).
    used: u64,
    /// The same, as a time (for [`Settings::idle_close`]).
    used_at: Instant,
    /// Being created, opened or closed by a thread that does the file work without the
    /// registry's lock; others wait on [`Registry::changed`].
    busy: bool,
}

impl Entry {
    fn closed(kept: Kept) -> Entry {
        Entry { ns: None, kept, key: None, used: 0, used_at: Instant::now(), busy: false }
    }
}

#[derive(Default)]
struct Table {
    entries: HashMap<String, Entry>,
    /// Open namespaces by last use, oldest first.
    lru: BTreeMap<u64, String>,
    /// Namespaces being opened now (they count against the cap).
    opening: usize,
    tick: u64,
}

impl Table {
    /// Marks `name` (open) as just used and hands out its handle.
    fn touch(&mut self, name: &str) -> Option<Arc<Namespace>> {
        self.tick += 1;
        let tick = self.tick;
        let e = self.entries.get_mut(name)?;
        let ns = Arc::clone(e.ns.as_ref()?);
        let old = std::mem::replace(&mut e.used, tick);
        e.used_at = Instant::now();
        let key = self.lru.remove(&old).unwrap_or_else(|| name.to_owned());
        self.lru.insert(tick, key);
        Some(ns)
    }

    /// Takes out of the table up to `max` of the least recently used open namespaces that
    /// nothing holds (no session, stream, pull or push) and that are idle, marking them busy.
    fn take_idle(&mut self, max: usize) -> Vec<(String, Arc<Namespace>)> {
        self.take_idle_before(max, None)
    }

    /// [`Table::take_idle`], of the namespaces last used before `cutoff` if given.
    fn take_idle_before(&mut self, max: usize, cutoff: Option<Instant>) -> Vec<(String, Arc<Namespace>)> {
        let mut picked = Vec::new();
        for (&tick, name) in &self.lru {
            if picked.len() == max {
                break;
            }
            let Some(e) = self.entries.get(name) else { continue };
            if cutoff.is_some_and(|c| e.used_at >= c) {
                // The LRU is in order of use: every one after this was used later still.
                break;
            }
            let Some(ns) = e.ns.as_ref() else { continue };
            if Arc::strong_count(ns) == 1 && ns.idle() {
                picked.push(tick);
            }
        }
        let mut out = Vec::with_capacity(picked.len());
        for tick in picked {
            let Some(name) = self.lru.remove(&tick) else { continue };
            if let Some(e) = self.entries.get_mut(&name)
                && let Some(ns) = e.ns.take()
            {
                e.busy = true;
                out.push((name, ns));
            }
        }
        out
    }

    /// How many open namespaces must close for one more to open within `max_open`.
    fn room_for_one(&self, max_open: usize) -> usize {
        (self.lru.len() + self.opening + 1).saturating_sub(max_open)
    }

    /// Whether at least `n` open ones are idle and held by nothing (it stops counting there:
    /// every open of a closed namespace asks, and usually the least recently used one is).
    fn has_idle(&self, n: usize) -> bool {
        n == 0
            || self
                .lru
                .values()
                .filter_map(|n| self.entries.get(n).and_then(|e| e.ns.as_ref()))
                .filter(|ns| Arc::strong_count(ns) == 1 && ns.idle())
                .nth(n - 1)
                .is_some()
    }
}

struct Registry {
    db_path: PathBuf,
    root: PathBuf,
    settings: Arc<Settings>,
    table: Mutex<Table>,
    /// Signalled when an entry stops being busy.
    changed: Condvar,
    /// The files of an empty database (see [`Namespaces::create`]), made once.
    template: Mutex<Option<Arc<[u8]>>>,
    /// Called with every namespace opened (at its first use, and again after each close),
    /// before it is handed out: the backup gives it its watch there.
    on_open: OnceLock<OnOpen>,
}

/// All namespaces of a server: a registry of names that opens a database on first use and
/// closes the least recently used idle ones beyond `--max-open-databases`. A closed namespace
/// costs its files and a few bytes here; closing it never checkpoints (the WAL and the
/// generation stay as they are), so replicas see no difference. Cloning gives another handle
/// to the same registry.
#[derive(Clone)]
pub struct Namespaces {
    reg: Arc<Registry>,
}

/// See `Namespaces::on_open`.
type OnOpen = Box<dyn Fn(&Arc<Namespace>) + Send + Sync>;

impl Namespaces {
    /// Lists the namespaces under `<db_path>/dbs` (a directory read: nothing is opened until
    /// used), creating `default` if there is none. A namespace that cannot be opened is found
    /// out at its first use, see `open_or_isolate`. Blocking.
    ///
    /// # Errors
    ///
    /// The data directory cannot be read, or a new `default` cannot be created.
    pub fn open(db_path: &Path, settings: Settings) -> Result<Namespaces, NsError> {
        let root = db_path.join("dbs");
        fs::create_dir_all(&root)?;
        let mut table = Table::default();
        for entry in fs::read_dir(&root)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if entry.file_type()?.is_dir() && valid_name(&name) && entry.path().join("data").exists() {
                table.entries.insert(name, Entry::closed(Kept::default()));
            }
        }
        let has_default = table.entries.contains_key("default");
        let namespaces = Namespaces {
            reg: Arc::new(Registry {
                db_path: db_path.to_owned(),
                root,
                settings: Arc::new(settings),
                table: Mutex::new(table),
                changed: Condvar::new(),
                template: Mutex::new(None),
                on_open: OnceLock::new(),
            }),
        };
        // A default that is there but cannot be opened is quarantined at its first use and
        // then stays out: an empty database in its place would take the writes meant for it.
        if !has_default && !namespaces.reg.settings.replica {
            namespaces.create("default", None)?;
        }
        Ok(namespaces)
    }

    /// The namespace called `name`, opened if it is closed. Blocking (an open reads files).
    ///
    /// # Errors
    ///
    /// [`NsError::NotFound`] (also for a namespace quarantined now); [`NsError::TooManyOpen`]
    /// when every open database is in use; errors opening it.
    pub fn fetch_blocking(&self, name: &str) -> Result<Arc<Namespace>, NsError> {
        let reg = &self.reg;
        let mut t = lock(&reg.table)?;
        let kept = loop {
            let Some(e) = t.entries.get(name) else { return Err(NsError::NotFound(name.into())) };
            if e.ns.is_some() {
                return t.touch(name).ok_or(NsError::Poisoned);
            }
            if !e.busy {
                break e.kept.clone();
            }
            t = reg.changed.wait(t).map_err(|_| NsError::Poisoned)?;
        };
        let need = t.room_for_one(reg.settings.max_open);
        if !t.has_idle(need) {
            return Err(NsError::TooManyOpen(format!(
                "the server has its maximum of open databases (--max-open-databases {}) and all of them are in \
                 use; retry later",
                reg.settings.max_open
            )));
        }
        let mut victims = t.take_idle(need);
        let over_memory = reg.settings.memory_excess(t.lru.len() + victims.len()).saturating_sub(victims.len());
        if over_memory > 0 {
            victims.extend(t.take_idle(over_memory));
        }
        if let Some(e) = t.entries.get_mut(name) {
            e.busy = true;
        }
        t.opening += 1;
        drop(t);
        self.close_all(victims);
        let dir = reg.root.join(name);
        let settings = Arc::clone(&reg.settings);
        let opened = open_or_isolate(name, &dir, &reg.db_path, || {
            let ns = Namespace::open(name, &dir, settings, kept)?;
            if let Some(f) = reg.on_open.get() {
                f(&ns);
            }
            Ok(ns)
        });
        let mut t = lock(&reg.table)?;
        t.opening -= 1;
        let out = match opened {
            Ok(ns) => {
                if let Some(e) = t.entries.get_mut(name) {
                    e.ns = Some(Arc::clone(&ns));
                    e.busy = false;
                }
                t.touch(name);
                Ok(ns)
            }
            Err((_, true)) => {
                t.entries.remove(name);
                Err(NsError::NotFound(name.into()))
            }
            Err((e, false)) => {
                if let Some(e) = t.entries.get_mut(name) {
                    e.busy = false;
                }
                Err(e)
            }
        };
        drop(t);
        reg.changed.notify_all();
        out
    }

    /// [`Namespaces::fetch_blocking`] for async callers: a namespace already open is handed out
    /// at once, a closed one is opened on a blocking thread.
    ///
    /// # Errors
    ///
    /// As [`Namespaces::fetch_blocking`].
    pub async fn fetch(&self, name: &str) -> Result<Arc<Namespace>, NsError> {
        {
            let mut t = lock(&self.reg.table)?;
            match t.entries.get(name) {
                None => return Err(NsError::NotFound(name.into())),
                Some(e) if e.ns.is_some() => return t.touch(name).ok_or(NsError::Poisoned),
                Some(_) => {}
            }
        }
        let me = self.clone();
        let name = name.to_owned();
        tokio::task::spawn_blocking(move || me.fetch_blocking(&name))
            .await
            .map_err(|e| NsError::Io(io::Error::other(e.to_string())))?
    }

    /// The namespace called `name`, opened if needed; `None` if it does not exist or cannot be
    /// opened. Blocking.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<Arc<Namespace>> {
        self.fetch_blocking(name).ok()
    }

    /// Whether namespace `name` exists (open or not).
    #[must_use]
    pub fn contains(&self, name: &str) -> bool {
        self.reg.table.lock().is_ok_and(|t| t.entries.contains_key(name))
    }

    /// Whether namespace `name` is open now.
    #[must_use]
    pub fn is_open(&self, name: &str) -> bool {
        self.reg.table.lock().is_ok_and(|t| t.entries.get(name).is_some_and(|e| e.ns.is_some()))
    }

    /// The names of every namespace, sorted (nothing is opened).
    #[must_use]
    pub fn names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.reg.table.lock().map(|t| t.entries.keys().cloned().collect()).unwrap_or_default();
        v.sort_unstable();
        v
    }

    /// Every namespace open now.
    #[must_use]
    pub fn all_open(&self) -> Vec<Arc<Namespace>> {
        self.reg.table.lock().map(|t| t.entries.values().filter_map(|e| e.ns.clone()).collect()).unwrap_or_default()
    }

    /// The number of namespaces open now, and in all.
    #[must_use]
    pub fn counts(&self) -> (usize, usize) {
        self.reg.table.lock().map(|t| (t.lru.len(), t.entries.len())).unwrap_or_default()
    }

    /// Closes the open namespaces that [`Settings::idle_close`] and
    /// [`Settings::max_open_memory`] say should close, if nothing holds them, and empties
    /// pooled connections' vector node caches when the process's budget is nearly full
    /// ([`Namespaces::release_vector_caches`]). Blocking; the server runs it every second.
    pub fn sweep(&self) {
        self.release_vector_caches();
        let victims = match self.reg.table.lock() {
            Ok(mut t) => {
                let s = &self.reg.settings;
                let mut v = match s.idle_close.and_then(|d| Instant::now().checked_sub(d)) {
                    Some(cutoff) => t.take_idle_before(usize::MAX, Some(cutoff)),
                    None => Vec::new(),
                };
                // Those closed for their idle time count towards the memory to free.
                let over = s.memory_excess(t.lru.len() + v.len()).saturating_sub(v.len());
                if over > 0 {
                    v.extend(t.take_idle(over));
                }
                v
            }
            Err(_) => return,
        };
        self.close_all(victims);
    }

    /// When the node caches of all connections hold more than 90% of the process's budget
    /// (`--max-vector-cache-memory`), empties the caches of pooled connections of the
    /// namespaces that hold more than an equal share of it (the budget over one more than the
    /// namespaces that cache anything, leaving a share for a newcomer), those holding the most
    /// first, until the caches hold 75% at most.
    /// A full budget caches no more blocks for anyone; without this, tenants that searched
    /// once and went quiet would keep the budget from the ones searching now until their
    /// databases closed. A namespace within its share keeps its cache: emptying the least
    /// recently used first emptied a victim's while an attacker's streams, which hold their
    /// connections, kept theirs (a reviewer's finding: the victim's searches 2.2-2.4x slower).
    /// Returns the bytes given back.
    pub fn release_vector_caches(&self) -> usize {
        let budget = edgelite::VectorCacheBudget::process();
        let limit = budget.limit();
        if budget.used() <= limit / 10 * 9 {
            return 0;
        }
        let mut caching: Vec<(usize, Arc<Namespace>)> = match self.reg.table.lock() {
            Ok(t) => t
                .entries
                .values()
                .filter_map(|e| e.ns.clone())
                .map(|ns| (ns.vector_cache_bytes(), ns))
                .filter(|(bytes, _)| *bytes > 0)
                .collect(),
            Err(_) => return 0,
        };
        let share = limit / (caching.len() + 1);
        caching.sort_by_key(|(bytes, _)| std::cmp::Reverse(*bytes));
        let mut freed = 0;
        for (bytes, ns) in caching {
            if budget.used() <= limit / 4 * 3 || bytes <= share {
                break;
            }
            freed += ns.release_vector_caches();
        }
        freed
    }

    /// Closes every open namespace that nothing holds and that is idle. Blocking.
    pub fn close_idle(&self) {
        let victims = match self.reg.table.lock() {
            Ok(mut t) => t.take_idle(usize::MAX),
            Err(_) => return,
        };
        self.close_all(victims);
    }

    /// Closes namespace `name` if it is open, nothing holds it and it is idle; returns whether it
    /// is closed now. Blocking. (The backup's catch-up at startup opens lagging namespaces one at
    /// a time and closes each behind it, so that it never takes the place of a tenant in use.)
    pub fn close_if_idle(&self, name: &str) -> bool {
        let victim = {
            let Ok(mut t) = self.reg.table.lock() else { return false };
            let Some(e) = t.entries.get(name) else { return true };
            let Some(ns) = e.ns.as_ref() else { return !e.busy };
            if Arc::strong_count(ns) != 1 || !ns.idle() {
                return false;
            }
            let used = e.used;
            t.lru.remove(&used);
            let Some(e) = t.entries.get_mut(name) else { return false };
            let Some(ns) = e.ns.take() else { return false };
            e.busy = true;
            (name.to_owned(), ns)
        };
        self.close_all(vec![victim]);
        true
    }

    /// Closes namespaces taken out of the table (their connections, then the shared-memory
    /// index, which SQLite rebuilds from the WAL at the next open) and records what they keep.
    fn close_all(&self, victims: Vec<(String, Arc<Namespace>)>) {
        if victims.is_empty() {
            return;
        }
        let mut closed = Vec::with_capacity(victims.len());
        for (name, ns) in victims {
            let kept = ns.kept();
            match Arc::try_unwrap(ns) {
                Ok(ns) => {
                    let shm = ns.dir.join("data-shm");
                    drop(ns);
                    // Every connection of this process to the file is closed now; the index
                    // is 32 KiB of disk per tenant that nothing needs until the next open. Not
                    // on a replica server: the replication's own connection still maps it, and
                    // a second index made by the next open would not be the one it writes.
                    if !self.reg.settings.replica {
                        let _ = fs::remove_file(shm);
                    }
                }
                Err(ns) => drop(ns),
            }
            closed.push((name, kept));
        }
        if let Ok(mut t) = self.reg.table.lock() {
            for (name, kept) in closed {
                if let Some(e) = t.entries.get_mut(&name) {
                    e.kept = kept;
                    e.busy = false;
                }
            }
        }
        self.reg.changed.notify_all();
    }

    /// The token key of namespace `name` (`None`: it has none, the server's applies), read from
    /// its directory once without opening the database.
    ///
    /// # Errors
    ///
    /// [`NsError::NotFound`]; an unreadable or invalid key file.
    pub fn key(&self, name: &str) -> Result<Option<Arc<Auth>>, NsError> {
        {
            let t = lock(&self.reg.table)?;
            match t.entries.get(name) {
                None => return Err(NsError::NotFound(name.into())),
                Some(e) => {
                    if let Some(k) = &e.key {
                        return Ok(k.clone());
                    }
                }
            }
        }
        let key = match fs::read_to_string(self.reg.root.join(name).join("jwt_key")) {
            Ok(text) => Some(Arc::new(Auth::from_key_text(&text).map_err(|e| NsError::BadRequest(e.to_string()))?)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(e.into()),
        };
        let mut t = lock(&self.reg.table)?;
        if let Some(e) = t.entries.get_mut(name) {
            e.key = Some(key.clone());
        }
        Ok(key)
    }

    /// The size quota of namespace `name` in bytes (0: none), and whether it is the namespace's
    /// own (else the server's `--max-db-size`). Opens nothing.
    ///
    /// # Errors
    ///
    /// [`NsError::NotFound`]; an unreadable quota file.
    pub fn max_db_size(&self, name: &str) -> Result<(u64, bool), NsError> {
        if !self.contains(name) {
            return Err(NsError::NotFound(name.into()));
        }
        Ok(match read_quota(&self.reg.root.join(name))? {
            Some(bytes) => (bytes, true),
            None => (u64::from(self.reg.settings.max_db_pages) * PAGE_SIZE as u64, false),
        })
    }

    /// Sets namespace `name`'s own size quota in bytes (`Some(0)`: none; `None`: the server's
    /// `--max-db-size` again). It applies at once to an open namespace's next statements (a
    /// stream holding a connection gets it with its next connection). A quota under the
    /// database's size refuses every write that grows it and keeps everything committed.
    /// Blocking.
    ///
    /// # Errors
    ///
    /// [`NsError::NotFound`]; file and database errors.
    pub fn set_max_db_size(&self, name: &str, max_db_size: Option<u64>) -> Result<(), NsError> {
        let t = self.lock_not_busy(name)?;
        // Under the registry's lock, so that no open reads the file half-changed (a quick
        // write of a few bytes).
        let file = self.reg.root.join(name).join("max_db_size");
        match max_db_size {
            Some(bytes) => write_atomic(&file, bytes.to_string().as_bytes())?,
            None => match fs::remove_file(&file) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e.into()),
                _ => {}
            },
        }
        let open = t.entries.get(name).and_then(|e| e.ns.clone());
        drop(t);
        if let Some(ns) = open {
            let pages = max_db_size.map_or(self.reg.settings.max_db_pages, bytes_to_pages);
            ns.max_pages.store(pages, Ordering::Release);
            ns.temp_files.set_limit(temp_limit(pages));
            if let Some(keeper) = lock(&ns.keeper)?.as_ref() {
                set_max_pages(keeper, pages)?;
            }
        }
        Ok(())
    }

    /// Sets what runs on every namespace opened from now on, before it is handed out (once).
    pub fn set_on_open(&self, f: impl Fn(&Arc<Namespace>) + Send + Sync + 'static) {
        let _ = self.reg.on_open.set(Box::new(f));
    }

    /// `--max-archived-generations` (0: every past generation is kept).
    #[must_use]
    pub fn max_archived_generations(&self) -> u32 {
        self.reg.settings.max_archived_generations
    }

    /// The directory of namespace `name` (which may not exist).
    #[must_use]
    pub fn dir_of(&self, name: &str) -> PathBuf {
        self.reg.root.join(name)
    }

    /// Creates `name` from a database file (a restored backup, for a fork from a point in time),
    /// which is moved into place, without opening it. Blocking.
    ///
    /// # Errors
    ///
    /// Invalid or existing name; file and database errors.
    pub fn create_from_file(&self, name: &str, file: &Path) -> Result<(), NsError> {
        if !valid_name(name) {
            return Err(NsError::InvalidName(name.into()));
        }
        let settings = Arc::clone(&self.reg.settings);
        self.build(name, |dir| {
            fs::create_dir_all(dir)?;
            fs::rename(file, dir.join("data")).or_else(|_| fs::copy(file, dir.join("data")).map(|_| ()))?;
            // Opened once to make generation 1 of the copy, then closed.
            let ns = Namespace::open(name, dir, settings, Kept::default())?;
            Ok(ns.kept())
        })
    }

    /// The files of an empty database in WAL mode with 4096-byte pages, made by SQLite once.
    fn template(&self) -> Result<Arc<[u8]>, NsError> {
        let mut slot = lock(&self.reg.template)?;
        if let Some(t) = slot.as_ref() {
            return Ok(Arc::clone(t));
        }
        // Not a valid namespace name: never listed, never served.
        let dir = self.reg.db_path.join(".template");
        if dir.exists() {
            fs::remove_dir_all(&dir)?;
        }
        fs::create_dir_all(&dir)?;
        let bytes = (|| -> Result<Vec<u8>, NsError> {
            let path = dir.join("data");
            let conn = open_conn(&path, 0)?;
            conn.execute_batch("PRAGMA page_size=4096; PRAGMA journal_mode=WAL; PRAGMA user_version=0;")?;
            conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")?;
            drop(conn);
            Ok(fs::read(&path)?)
        })();
        let _ = fs::remove_dir_all(&dir);
        let bytes: Arc<[u8]> = bytes?.into();
        if bytes.len() != PAGE_SIZE {
            return Err(NsError::Io(io::Error::other(format!("empty database template of {} bytes", bytes.len()))));
        }
        *slot = Some(Arc::clone(&bytes));
        Ok(bytes)
    }

    /// Publishes namespace `name` whose directory `fill` makes (a replica server's copy of a
    /// primary's namespace, see `crate::replica_server`), without opening it. Blocking.
    ///
    /// # Errors
    ///
    /// Invalid or existing name; what `fill` returns.
    pub fn create_with(&self, name: &str, fill: impl FnOnce(&Path) -> Result<(), NsError>) -> Result<(), NsError> {
        if !valid_name(name) {
            return Err(NsError::InvalidName(name.into()));
        }
        self.build(name, |dir| {
            fill(dir)?;
            Ok(Kept::default())
        })
    }

    /// `--durability replica`'s timeout, when writes wait for a replica server.
    #[must_use]
    pub fn replica_ack_timeout(&self) -> Option<Duration> {
        self.reg.settings.replica_ack_timeout
    }

    /// Whether the namespaces are a replica server's copies (see [`Settings::replica`]).
    #[must_use]
    pub fn is_replica(&self) -> bool {
        self.reg.settings.replica
    }

    /// Creates an empty namespace, without opening it: its files are an empty database made
    /// once per process, which is also generation 1's export. Blocking.
    ///
    /// # Errors
    ///
    /// Invalid or existing name; file errors.
    pub fn create(&self, name: &str, jwt_key: Option<&str>) -> Result<(), NsError> {
        self.create_with_quota(name, jwt_key, None)
    }

    /// [`Namespaces::create`], with the namespace's own size quota in bytes (`Some(0)`: none)
    /// instead of the server's `--max-db-size`.
    ///
    /// # Errors
    ///
    /// Invalid or existing name; file errors.
    pub fn create_with_quota(
        &self,
        name: &str,
        jwt_key: Option<&str>,
        max_db_size: Option<u64>,
    ) -> Result<(), NsError> {
        if !valid_name(name) {
            return Err(NsError::InvalidName(name.into()));
        }
        if let Some(key) = jwt_key {
            Auth::from_key_text(key).map_err(|e| NsError::BadRequest(e.to_string()))?;
        }
        let template = self.template()?;
        self.build(name, |dir| {
            let g1 = dir.join("gens").join("1");
            fs::create_dir_all(&g1)?;
            if let Some(key) = jwt_key {
                write_atomic(&dir.join("jwt_key"), key.as_bytes())?;
            }
            if let Some(bytes) = max_db_size {
                write_atomic(&dir.join("max_db_size"), bytes.to_string().as_bytes())?;
            }
            write_atomic(&g1.join("export.db"), &template)?;
            write_atomic(&dir.join("data"), &template)?;
            // Last: a directory without it is adopted as a new database at its first open.
            write_atomic(&dir.join("generation"), b"1")?;
            Ok(Kept { generation: 1, scanner: WalScanner::default() })
        })
    }

    /// Creates `to` as a copy of `from`'s current content (a fresh history). Blocking; the caller
    /// holds `from`'s gate.
    ///
    /// # Errors
    ///
    /// Missing source, invalid or existing target; database errors.
    pub fn fork(&self, from: &Namespace, to: &str) -> Result<(), NsError> {
        if !valid_name(to) {
            return Err(NsError::InvalidName(to.into()));
        }
        let settings = Arc::clone(&self.reg.settings);
        self.build(to, |dir| {
            fs::create_dir_all(dir)?;
            from.vacuum_into(&dir.join("data"))?;
            // Opened once to make generation 1 of the copy, then closed.
            let ns = Namespace::open(to, dir, settings, Kept::default())?;
            Ok(ns.kept())
        })
    }

    /// Makes namespace `name` in a fresh directory filled by `fill`, then publishes it, closed.
    /// The registry's lock is held only to check and insert: every request resolves its
    /// namespace through it, so file work under it would stall them all.
    fn build(&self, name: &str, fill: impl FnOnce(&Path) -> Result<Kept, NsError>) -> Result<(), NsError> {
        {
            let mut t = lock(&self.reg.table)?;
            if t.entries.contains_key(name) {
                return Err(NsError::Exists(name.into()));
            }
            let mut e = Entry::closed(Kept::default());
            e.busy = true;
            t.entries.insert(name.to_owned(), e);
        }
        let dir = self.reg.root.join(name);
        let made = (|| {
            if dir.exists() {
                fs::remove_dir_all(&dir)?;
            }
            fill(&dir)
        })();
        if made.is_err() {
            let _ = fs::remove_dir_all(&dir);
        }
        let mut t = lock(&self.reg.table)?;
        let out = match made {
            Ok(kept) => {
                if let Some(e) = t.entries.get_mut(name) {
                    e.kept = kept;
                    e.busy = false;
                }
                Ok(())
            }
            Err(e) => {
                t.entries.remove(name);
                Err(e)
            }
        };
        drop(t);
        self.reg.changed.notify_all();
        out
    }

    /// The registry's table, locked once namespace `name` is not busy (no open or close of it
    /// under way).
    fn lock_not_busy(&self, name: &str) -> Result<MutexGuard<'_, Table>, NsError> {
        let mut t = lock(&self.reg.table)?;
        loop {
            match t.entries.get(name) {
                None => return Err(NsError::NotFound(name.into())),
                Some(e) if !e.busy => return Ok(t),
                Some(_) => t = self.reg.changed.wait(t).map_err(|_| NsError::Poisoned)?,
            }
        }
    }

    /// Deletes a namespace and its files. Blocking.
    ///
    /// # Errors
    ///
    /// Missing namespace; file errors.
    pub fn delete(&self, name: &str) -> Result<(), NsError> {
        let mut t = self.lock_not_busy(name)?;
        let e = t.entries.remove(name);
        if let Some(e) = &e
            && e.ns.is_some()
        {
            t.lru.remove(&e.used);
        }
        drop(t);
        // Sessions still holding it go on with the unlinked files until they end.
        drop(e);
        fs::remove_dir_all(self.reg.root.join(name))?;
        Ok(())
    }
}

/// Runs [`Namespaces::sweep`] every second, for as long as the registry exists.
pub fn spawn_sweep(namespaces: &Namespaces) {
    let weak = Arc::downgrade(&namespaces.reg);
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let Some(reg) = weak.upgrade() else { return };
            let namespaces = Namespaces { reg };
            // Closing drops connections: keep it off the async workers.
            let _ = tokio::task::spawn_blocking(move || namespaces.sweep()).await;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archived_frames_are_the_wals_committed_frames() {
        let dir = tempfile::tempdir().expect("dir");
        let conn = Connection::open(dir.path().join("db")).expect("open");
        conn.execute_batch(
            "PRAGMA journal_mode=WAL; PRAGMA wal_autocheckpoint=0; CREATE TABLE t(x);
             INSERT INTO t WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 300)
               SELECT randomblob(3000) FROM c;",
        )
        .expect("write");
        let wal = dir.path().join("db-wal");
        let n = WalScanner::default().scan(&wal).expect("scan");
        assert!(n > 200, "{n} frames");
        let to = dir.path().join("frames");
        archive_frames(&wal, n, &to).expect("archive");
        let whole = read_frames(&wal, WAL_HEADER as u64, 1, n + 1).expect("read");
        assert_eq!(fs::read(&to).expect("archived"), whole);
        // frames the WAL does not hold: an error, and the archive as it was
        let err = archive_frames(&wal, n + 10, &to).expect_err("short");
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
        assert_eq!(fs::read(&to).expect("archived"), whole);
    }
}
