//! Embedded replicas: a local database file kept in sync with an `edgelite-server` primary
//! (feature `replication`).
//!
//! Reads run on the local file; writes are forwarded to the primary over Hrana and, with
//! read-your-writes (the default), the replica syncs before the write returns, so the next local
//! read sees it. `sync()` pulls now; [`Builder::sync_interval`] also pulls in a background
//! thread. The shape is the libSQL crate's (`Builder::new_remote_replica`).
//!
//! ```no_run
//! use std::time::Duration;
//! use edgelite::replica::Builder;
//!
//! let db = Builder::new_remote_replica("local.db", "http://127.0.0.1:8080", "")
//!     .sync_interval(Duration::from_secs(5))
//!     .build()?;
//! let applied = db.sync()?;
//! println!("{} frames applied, now at {}/{}", applied.frames_synced, applied.generation, applied.frame_no);
//! let conn = db.connect()?;
//! conn.execute("INSERT INTO t VALUES (?1)", edgelite::params![42])?; // on the primary
//! let n: i64 = conn.query_row("SELECT count(*) FROM t", [], |r| r.get(0))?; // local, sees 42
//! # Ok::<(), edgelite::Error>(())
//! ```
//!
//! # How frames are applied
//!
//! The primary serves its WAL frames (sync protocol v2, `docs/sync-protocol.md` §5.2). The
//! replica pulls them in large batches and writes the newest image of every page they carry
//! through the `sqlite_dbpage` virtual table, in one local transaction per batch that always
//! ends on a primary commit, page 1 last, and truncates with `INSERT INTO sqlite_dbpage(pgno,
//! data) VALUES (n+1, NULL)` when the primary's database shrank. SQLite journals those writes
//! as any other, so a reader on another connection sees the state before or after a batch,
//! each a state the primary committed, and a crash rolls an unfinished batch back.
//!
//! The position (generation, frame, and the salts of the primary's WAL frames applied, which tell
//! a primary's database made again from the one followed) is kept in `<db>-replica`, a small JSON file beside the
//! database. It cannot commit in the same transaction, so before each commit the replica
//! writes (and syncs) the range being applied, `applying_to`, and after it the new position: a
//! replica stopped between the two re-applies that whole range in one transaction on its next
//! sync, which gives the same pages whether or not the commit had happened.
//!
//! # Offline writes
//!
//! With [`Builder::offline`], connections write to the local file, and each sync first pushes
//! the local commits' WAL frames (`POST /sync/{g}/{start}/{end}`, as libSQL's offline clients
//! push), then pulls; a primary that has moved on answers `conflict`, which is
//! [`ErrorKind::Conflict`] (`SQLITE_BUSY_SNAPSHOT`). `offline.rs` says how the unpushed frames
//! are told from the primary's.
//!
//! # Transactions on the primary
//!
//! [`Replica::begin_on_primary`] opens a write transaction on the primary that takes one
//! statement at a time (a Hrana stream); the drop-in library runs its replicas' write
//! transactions there.

mod remote;

pub use remote::{ACK_HEADER, ACK_SALTS_HEADER, STRICT_HEADER, WAIT_HEADER};

use std::collections::BTreeMap;
use std::ffi::c_int;
use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};

use crate::types::{ToSql, ToSqlOutput, ValueRef};
use crate::{Connection, Error, OpenFlags, Result, ffi};
use remote::{Pull, Pushed, Remote};

mod offline;

/// A WAL frame: 24-byte header and a 4096-byte page.
use crate::wal::FRAME_SIZE;

/// Frames asked for in one pull (the server sends at most 1024 per answer).
const PULL_FRAMES: u32 = 4096;

/// Frames gathered before a local transaction: big transactions make catch-up fast (pages
/// written by several primary commits are written once), and bound memory (64 MiB).
const BATCH_FRAMES: usize = 16384;

/// What went wrong talking to the primary or keeping the replica.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The sync URL or another option is unusable.
    Config,
    /// The primary could not be reached, or the connection broke.
    Unreachable,
    /// The primary refused the auth token (HTTP 401 or 403).
    Auth,
    /// The primary answered something the sync protocol does not allow.
    Protocol,
    /// A database file exists at the path but is not a replica (no `<db>-replica` file).
    NotAReplica,
    /// The replica's file was changed by something other than the replica itself.
    Diverged,
    /// Reading or writing the replica's files failed.
    Io,
    /// Offline writes cannot be pushed: the primary has commits this replica has not pulled
    /// (or local writes were committed while a sync applied the primary's).
    Conflict,
}

/// A replication failure: what kind, and a message saying what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicationError {
    kind: ErrorKind,
    message: String,
}

impl ReplicationError {
    fn new(kind: ErrorKind, message: impl Into<String>) -> ReplicationError {
        ReplicationError { kind, message: message.into() }
    }

    /// What went wrong.
    #[must_use]
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The SQLite result code that means the same (for the C API): `SQLITE_AUTH` for a refused
    /// token, `SQLITE_CANTOPEN` for a primary out of reach, `SQLITE_IOERR` for local I/O,
    /// `SQLITE_CORRUPT` for a diverged file, `SQLITE_NOTADB` for a file that is no replica,
    /// `SQLITE_PROTOCOL` for a bad answer, `SQLITE_MISUSE` for bad options.
    #[must_use]
    pub fn sqlite_code(&self) -> c_int {
        match self.kind {
            ErrorKind::Config => ffi::SQLITE_MISUSE,
            ErrorKind::Unreachable => ffi::SQLITE_CANTOPEN,
            ErrorKind::Auth => ffi::SQLITE_AUTH,
            ErrorKind::Protocol => ffi::SQLITE_PROTOCOL,
            ErrorKind::NotAReplica => ffi::SQLITE_NOTADB,
            ErrorKind::Diverged => ffi::SQLITE_CORRUPT,
            ErrorKind::Io => ffi::SQLITE_IOERR,
            // SQLite's own code for a write based on a snapshot that is no longer the latest.
            ErrorKind::Conflict => ffi::SQLITE_BUSY_SNAPSHOT,
        }
    }
}

impl fmt::Display for ReplicationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ReplicationError {}

impl From<ReplicationError> for Error {
    fn from(e: ReplicationError) -> Error {
        Error::Replication(e)
    }
}

fn io_error(path: &Path, e: &io::Error) -> ReplicationError {
    ReplicationError::new(ErrorKind::Io, format!("{}: {e}", path.display()))
}

/// What one sync applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Replicated {
    /// The primary's frames applied by this sync.
    pub frames_synced: u64,
    /// The local transactions that applied them.
    pub transactions: u64,
    /// The generation the replica is in now.
    pub generation: u32,
    /// The last frame of that generation the replica has applied (0: none yet).
    pub frame_no: u32,
    /// Offline mode: the frames of local writes this sync pushed to the primary.
    pub frames_pushed: u64,
}

/// The replica's position, in `<db>-replica`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Position {
    generation: u32,
    frame: u32,
    /// Set while a transaction that ends at this frame may have committed.
    applying_to: Option<u32>,
    /// The salts of the primary's WAL frames applied in this generation: frames with others
    /// come from another WAL (the primary's database was deleted and made again).
    salts: Option<(u32, u32)>,
    /// Offline mode: the local WAL's salts and how many of its committed frames are the
    /// primary's (applied or pushed); the frames after them are unpushed local writes. `None`:
    /// every frame of the WAL is local (see `offline.rs`).
    local_wal: Option<(u32, u32, u32)>,
}

impl Position {
    fn read(path: &Path) -> Result<Position, ReplicationError> {
        let text = fs::read_to_string(path).map_err(|e| io_error(path, &e))?;
        let v: Value = serde_json::from_str(&text).map_err(|e| {
            ReplicationError::new(ErrorKind::Io, format!("{}: not a replica position file: {e}", path.display()))
        })?;
        let num = |k: &str| v[k].as_u64().and_then(|n| u32::try_from(n).ok());
        match (num("generation"), num("frame")) {
            (Some(generation), Some(frame)) if generation >= 1 => {
                let salts = match (v["salts"][0].as_u64(), v["salts"][1].as_u64()) {
                    (Some(a), Some(b)) => u32::try_from(a).ok().zip(u32::try_from(b).ok()),
                    _ => None,
                };
                let local_wal = match (num("wal_salt1"), num("wal_salt2"), num("wal_mark")) {
                    (Some(a), Some(b), Some(n)) => Some((a, b, n)),
                    _ => None,
                };
                Ok(Position { generation, frame, applying_to: num("applying_to"), salts, local_wal })
            }
            _ => Err(ReplicationError::new(ErrorKind::Io, format!("{}: bad replica position {text}", path.display()))),
        }
    }

    fn write(&self, path: &Path) -> Result<(), ReplicationError> {
        let v = json!({
            "version": 1,
            "generation": self.generation,
            "frame": self.frame,
            "applying_to": self.applying_to,
            "salts": self.salts.map(|(a, b)| [a, b]),
            "wal_salt1": self.local_wal.map(|w| w.0),
            "wal_salt2": self.local_wal.map(|w| w.1),
            "wal_mark": self.local_wal.map(|w| w.2),
        });
        remote::write_atomic(path, v.to_string().as_bytes()).map_err(|e| io_error(path, &e))
    }
}

/// Configures and opens an embedded replica.
#[derive(Clone)]
pub struct Builder {
    path: PathBuf,
    url: String,
    token: String,
    sync_interval: Option<Duration>,
    read_your_writes: bool,
    namespace: Option<String>,
    acknowledge: Option<String>,
    on_frames: Option<FramesHook>,
    offline: bool,
}

/// Called with each batch of the primary's frames once applied: the generation, the number of
/// the first frame, and the frames as the primary sent them (whole transactions).
pub type FramesHook = Arc<dyn Fn(u32, u32, &[u8]) + Send + Sync>;

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The token is left out: debug output ends up in logs.
        f.debug_struct("Builder")
            .field("path", &self.path)
            .field("url", &self.url)
            .field("sync_interval", &self.sync_interval)
            .field("read_your_writes", &self.read_your_writes)
            .field("namespace", &self.namespace)
            .field("acknowledge", &self.acknowledge)
            .field("on_frames", &self.on_frames.is_some())
            .field("offline", &self.offline)
            .finish_non_exhaustive()
    }
}

impl Builder {
    /// A replica at `path` of the primary at `url` (`http://host:port`), authenticating with
    /// `auth_token` (a JWT; empty for none).
    pub fn new_remote_replica(
        path: impl AsRef<Path>,
        url: impl Into<String>,
        auth_token: impl Into<String>,
    ) -> Builder {
        Builder {
            path: path.as_ref().to_owned(),
            url: url.into(),
            token: auth_token.into(),
            sync_interval: None,
            read_your_writes: true,
            namespace: None,
            acknowledge: None,
            on_frames: None,
            offline: false,
        }
    }

    /// Offline writes, as libSQL's offline clients make them: [`Replica::connect`]'s
    /// connections write to the local file (reads see those writes at once), and each sync
    /// first pushes the local commits to the primary, in order, then pulls. If the primary
    /// has commits this replica has not pulled, the push fails with [`ErrorKind::Conflict`]
    /// and nothing more is pushed or pulled: the writes not pushed stay local and the replica no longer
    /// follows the primary; remove the file and its `-replica` file to start again. Every
    /// connection to the file must come from [`Replica::connect`] (they never checkpoint: the
    /// WAL keeps every unpushed commit).
    #[must_use]
    pub fn offline(mut self, on: bool) -> Builder {
        self.offline = on;
        self
    }

    /// Replicates namespace `name` of the primary (sent as `x-namespace` on every request);
    /// without it the primary picks the namespace from the URL's host, as for any client.
    #[must_use]
    pub fn namespace(mut self, name: impl Into<String>) -> Builder {
        self.namespace = Some(name.into());
        self
    }

    /// Also sync every `interval`, in a background thread that lives as long as the [`Replica`].
    #[must_use]
    pub fn sync_interval(mut self, interval: Duration) -> Builder {
        self.sync_interval = Some(interval);
        self
    }

    /// Tells the primary what this replica holds, under the name `node`, on each waiting pull
    /// ([`Replica::sync_wait`]): an `edgelite-server` started with `--durability replica`
    /// answers a write only once every replica in sync that acknowledges holds its frames. For replica
    /// servers, which can stand in for the primary; an application's embedded replica should
    /// not (a write it acknowledged would be safe only as long as that application's disk).
    /// `node` is trimmed to 64 visible ASCII characters.
    #[must_use]
    pub fn acknowledge(mut self, node: impl Into<String>) -> Builder {
        let node: String = node.into().chars().filter(char::is_ascii_graphic).take(64).collect();
        self.acknowledge = (!node.is_empty()).then_some(node);
        self
    }

    /// Calls `hook` with each batch of the primary's frames once it is applied (generation,
    /// first frame number, the frames as sent): an `edgelite-server` replica keeps them so that,
    /// promoted, it serves the same history.
    #[must_use]
    pub fn on_frames(mut self, hook: impl Fn(u32, u32, &[u8]) + Send + Sync + 'static) -> Builder {
        self.on_frames = Some(Arc::new(hook));
        self
    }

    /// Whether a forwarded write syncs the replica before it returns (default: yes).
    #[must_use]
    pub fn read_your_writes(mut self, on: bool) -> Builder {
        self.read_your_writes = on;
        self
    }

    /// Opens the replica. A new one (no file at the path) is bootstrapped from the primary's
    /// export of its current generation; an existing one opens as it is, without a sync.
    ///
    /// # Errors
    ///
    /// [`Error::Replication`] if the primary cannot be reached or refuses the token while
    /// bootstrapping, or if a file at the path is not a replica; SQLite failures opening it.
    pub fn build(self) -> Result<Replica> {
        let mut remote = Remote::new(&self.url, Some(self.token), self.namespace)?;
        remote.ack = self.acknowledge;
        let meta = position_path(&self.path);
        // An empty file is an empty database to SQLite (one that a C program just opened, say):
        // it is bootstrapped in place.
        let exists = fs::metadata(&self.path).is_ok_and(|m| m.len() > 0);
        if exists && !meta.exists() {
            return Err(ReplicationError::new(
                ErrorKind::NotAReplica,
                format!(
                    "{} exists but is not an embedded replica (no {}): remove it, or choose another path",
                    self.path.display(),
                    meta.display()
                ),
            )
            .into());
        }
        if !exists {
            bootstrap(&remote, &self.path, &meta)?;
        }
        let position = Position::read(&meta)?;
        let conn = Connection::open_with_flags(&self.path, OpenFlags::READ_WRITE | OpenFlags::NO_MUTEX)?;
        let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(ReplicationError::new(
                ErrorKind::Protocol,
                format!("{}: a replica runs in WAL mode, this file is in {mode} mode", self.path.display()),
            )
            .into());
        }
        // The commit must be on disk before the position file says it happened.
        conn.execute_batch("PRAGMA synchronous=FULL")?;
        conn.busy_timeout(Duration::from_secs(10))?;
        if self.offline {
            keep_wal(&conn)?;
        }
        let data_version = data_version(&conn)?;
        let wal = wal_path(&self.path);
        let path = self.path.clone();
        let inner = Arc::new(Inner {
            path,
            remote,
            read_your_writes: self.read_your_writes,
            offline: self.offline,
            applier: Mutex::new(Applier {
                conn,
                meta,
                path: self.path.clone(),
                wal,
                wal_scanner: crate::wal::WalScanner::default(),
                position,
                data_version,
                on_frames: self.on_frames,
                offline: self.offline,
            }),
            last_error: Mutex::new(None),
        });
        let background = self.sync_interval.map(|every| Background::start(Arc::clone(&inner), every));
        Ok(Replica { inner, _background: background })
    }
}

/// The position a replica at `db` has applied, as its position file (`<db>-replica`) records
/// it: (generation, frame) in the primary's numbering. `None` if `db` is not a replica.
#[must_use]
pub fn stored_position(db: &Path) -> Option<(u32, u32)> {
    let meta = position_path(db);
    meta.exists().then(|| Position::read(&meta).ok()).flatten().map(|p| (p.generation, p.frame))
}

/// An offline replica's connection never checkpoints on its own (see `offline.rs`).
fn keep_wal(conn: &Connection) -> Result<()> {
    conn.execute_batch("PRAGMA wal_autocheckpoint=0")?;
    conn.set_db_config(crate::config::DbConfig::NoCkptOnClose, true)?;
    Ok(())
}

/// The WAL file of the database at `db`.
fn wal_path(db: &Path) -> PathBuf {
    let mut p = db.as_os_str().to_owned();
    p.push("-wal");
    PathBuf::from(p)
}

/// The position file of a replica at `db` (`<db>-replica`).
#[must_use]
pub fn position_path(db: &Path) -> PathBuf {
    let mut p = db.as_os_str().to_owned();
    p.push("-replica");
    PathBuf::from(p)
}

/// A new replica: the primary's current export, written beside the path and renamed into place
/// once whole and synced. The position file comes first, so that a file at the path always has
/// one.
fn bootstrap(remote: &Remote, path: &Path, meta: &Path) -> Result<(), ReplicationError> {
    let g = remote.info()?;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".bootstrap");
    let tmp = PathBuf::from(tmp);
    let fetched = remote.export(g, &tmp);
    if let Err(e) = fetched {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    // Leftovers of an earlier database at this path would be taken for this one's WAL.
    for suffix in ["-wal", "-shm", "-journal"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        match fs::remove_file(PathBuf::from(&p)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_error(Path::new(&p), &e)),
        }
    }
    let position = Position { generation: g, frame: 0, applying_to: None, salts: None, local_wal: None };
    if path.exists() {
        // Opened but empty: another connection may hold it open, so the bytes go into this
        // very file, not a new one renamed over it; the position file comes after them (a
        // file cut short by a crash then has none, and is refused, not taken for a replica).
        let copied = (|| -> io::Result<()> {
            let mut to = fs::OpenOptions::new().write(true).open(path)?;
            io::copy(&mut fs::File::open(&tmp)?, &mut to)?;
            to.sync_all()?;
            fs::remove_file(&tmp)
        })();
        copied.map_err(|e| io_error(path, &e))?;
        return position.write(meta);
    }
    position.write(meta)?;
    fs::rename(&tmp, path).map_err(|e| io_error(path, &e))?;
    remote::sync_dir(path).map_err(|e| io_error(path, &e))
}

fn data_version(conn: &Connection) -> Result<i64> {
    conn.query_row("PRAGMA data_version", [], |r| r.get(0))
}

/// The connection that writes pulled pages, and the position it has reached.
struct Applier {
    conn: Connection,
    meta: PathBuf,
    /// The database file and its WAL (read in offline mode, with `wal_scanner`, which
    /// remembers how far it has checked the WAL).
    path: PathBuf,
    wal: PathBuf,
    wal_scanner: crate::wal::WalScanner,
    /// Offline writes: local commits are pushed before each pull.
    offline: bool,
    position: Position,
    /// `PRAGMA data_version` after our last commit: any other change means a local write.
    data_version: i64,
    on_frames: Option<FramesHook>,
}

fn frame_pgno(f: &[u8]) -> u32 {
    u32::from_be_bytes([f[0], f[1], f[2], f[3]])
}

fn frame_salts(f: &[u8]) -> (u32, u32) {
    (u32::from_be_bytes([f[8], f[9], f[10], f[11]]), u32::from_be_bytes([f[12], f[13], f[14], f[15]]))
}

fn frame_commit(f: &[u8]) -> u32 {
    u32::from_be_bytes([f[4], f[5], f[6], f[7]])
}

/// How many of `frames` end on a commit (the frames after the last commit frame are cut off).
fn committed_len(frames: &[u8]) -> usize {
    frames.chunks_exact(FRAME_SIZE).rposition(|f| frame_commit(f) != 0).map_or(0, |i| i + 1)
}

impl Applier {
    /// Applies whole commit groups (`frames`, the frames after the current position) in one
    /// transaction.
    fn apply(&mut self, frames: &[u8]) -> Result<()> {
        let count = u32::try_from(frames.len() / FRAME_SIZE).expect("invariant: a batch is bounded");
        let commit_size = frames.chunks_exact(FRAME_SIZE).last().map_or(0, frame_commit);
        debug_assert!(commit_size != 0);
        // The newest image of each page, none past the database's size at the last commit.
        let mut pages: BTreeMap<u32, &[u8]> = BTreeMap::new();
        for f in frames.chunks_exact(FRAME_SIZE) {
            let pgno = frame_pgno(f);
            if pgno == 0 {
                return Err(ReplicationError::new(ErrorKind::Protocol, "the primary sent a frame for page 0").into());
            }
            pages.insert(pgno, &f[24..]);
        }
        pages.retain(|&p, _| p <= commit_size);
        if !self.offline && data_version(&self.conn)? != self.data_version {
            return Err(ReplicationError::new(
                ErrorKind::Diverged,
                "the replica's database was written by another connection: it no longer matches the primary; \
                 remove the file and its -replica file to bootstrap again",
            )
            .into());
        }
        let conn = &self.conn;
        conn.execute_batch("BEGIN IMMEDIATE")?;
        // Offline: with the write lock held no local commit can come in; one committed since
        // the last push (the WAL has frames past the mark) must be pushed before the
        // primary's pages go on top of it.
        let before = if self.offline { offline::wal_end(&mut self.wal_scanner, &self.wal)? } else { None };
        if before.is_some_and(|b| b.committed > self.mark_in(b)) {
            let _ = conn.execute_batch("ROLLBACK");
            return Err(ReplicationError::new(
                ErrorKind::Conflict,
                "local writes were committed while the replica synced: sync again to push them",
            )
            .into());
        }
        let written = (|| -> Result<()> {
            let before: i64 = conn.query_row("PRAGMA page_count", [], |r| r.get(0))?;
            // The b-tree layer reads the database size when a transaction or savepoint starts
            // or ends, not when sqlite_dbpage writes pages: ending the savepoint makes it take
            // the new size for the check below.
            conn.execute_batch("SAVEPOINT edgelite_replica")?;
            {
                let mut stmt = conn.prepare("INSERT INTO sqlite_dbpage(pgno, data) VALUES (?1, ?2)")?;
                // Page 1 last: once it is written the schema cookie changes, and the next
                // statement reloads the schema.
                let page1 = pages.get(&1).copied();
                for (&pgno, &page) in pages.range(2..) {
                    stmt.execute(crate::params![i64::from(pgno), page])?;
                }
                if let Some(page) = page1 {
                    stmt.execute(crate::params![1_i64, page])?;
                }
            }
            if i64::from(commit_size) < before {
                conn.execute("INSERT INTO sqlite_dbpage(pgno, data) VALUES (?1, NULL)", [i64::from(commit_size) + 1])?;
            }
            conn.execute_batch("RELEASE edgelite_replica")?;
            let after: i64 = conn.query_row("PRAGMA page_count", [], |r| r.get(0))?;
            if after != i64::from(commit_size) {
                return Err(ReplicationError::new(
                    ErrorKind::Protocol,
                    format!("after applying frames the replica has {after} pages, the primary's commit {commit_size}"),
                )
                .into());
            }
            Ok(())
        })();
        if let Err(e) = written {
            let _ = conn.execute_batch("ROLLBACK");
            return Err(e);
        }
        let target = self.position.frame + count;
        let salts = frames.chunks_exact(FRAME_SIZE).last().map(frame_salts);
        let pending = Position { applying_to: Some(target), salts, ..self.position };
        if let Err(e) = pending.write(&self.meta) {
            let _ = conn.execute_batch("ROLLBACK");
            return Err(e.into());
        }
        self.position = pending;
        conn.execute_batch("COMMIT")?;
        self.position = Position { frame: target, applying_to: None, ..self.position };
        if self.offline {
            // The mark moves past this commit (local commits after it are not ours).
            self.position.local_wal = match offline::wal_end(&mut self.wal_scanner, &self.wal)? {
                Some(after) => {
                    let from = before.filter(|b| b.salts == after.salts).map_or(0, |b| b.committed);
                    offline::first_commit_after(&self.wal, from, after.committed)?
                        .map(|m| (after.salts.0, after.salts.1, m))
                }
                None => None,
            };
        }
        self.position.write(&self.meta)?;
        self.data_version = data_version(conn)?;
        Ok(())
    }

    /// Pulls and applies everything the primary has. With `wait`, the first pull asks the
    /// primary to hold its answer up to that long while it has nothing new (a long poll).
    fn sync(&mut self, remote: &Remote, mut wait: Option<Duration>) -> Result<Replicated> {
        let mut report = Replicated::default();
        if self.offline {
            report.frames_pushed = self.push(remote)?;
        }
        loop {
            let Position { generation: g, frame: base, applying_to, .. } = self.position;
            let mut buf: Vec<u8> = Vec::new();
            let mut ended = None;
            loop {
                let have = u32::try_from(buf.len() / FRAME_SIZE).expect("invariant: a batch is bounded");
                let next = base + have + 1;
                // Only the first pull starts where the applied frames end: it alone may say
                // that this replica holds what comes before it.
                let held = (have == 0).then_some(self.position.salts);
                match remote.pull(g, next, next.saturating_add(PULL_FRAMES), wait.take(), held)? {
                    Pull::Frames(f) => buf.extend_from_slice(&f),
                    Pull::End(current) => {
                        ended = Some(current);
                        break;
                    }
                }
                let committed = committed_len(&buf);
                if committed >= BATCH_FRAMES && base + committed as u32 >= applying_to.unwrap_or(0) {
                    break;
                }
            }
            let committed = committed_len(&buf);
            let expected = self.position.salts.or_else(|| buf.chunks_exact(FRAME_SIZE).next().map(frame_salts));
            if buf.chunks_exact(FRAME_SIZE).any(|f| Some(frame_salts(f)) != expected) {
                return Err(ReplicationError::new(
                    ErrorKind::Diverged,
                    format!(
                        "the primary's frames of generation {g} are not from the WAL this replica followed (its \
                         database was deleted and made again): remove the file and its -replica file to bootstrap again"
                    ),
                )
                .into());
            }
            if committed > 0 {
                if base + (committed as u32) < applying_to.unwrap_or(0) {
                    return Err(ReplicationError::new(
                        ErrorKind::Protocol,
                        format!(
                            "the primary no longer has frames up to {} of generation {g}",
                            applying_to.unwrap_or(0)
                        ),
                    )
                    .into());
                }
                self.apply(&buf[..committed * FRAME_SIZE])?;
                if let Some(hook) = &self.on_frames {
                    hook(g, base + 1, &buf[..committed * FRAME_SIZE]);
                }
                report.frames_synced += committed as u64;
                report.transactions += 1;
            }
            match ended {
                None => {}
                Some(current) if current > g => {
                    if committed * FRAME_SIZE != buf.len() {
                        return Err(ReplicationError::new(
                            ErrorKind::Protocol,
                            format!("generation {g} ended inside a transaction"),
                        )
                        .into());
                    }
                    // The next generation starts from this very database (a checkpoint changes no page).
                    self.position =
                        Position { generation: g + 1, frame: 0, applying_to: None, salts: None, ..self.position };
                    self.position.write(&self.meta)?;
                }
                Some(current) if current < g => {
                    return Err(ReplicationError::new(
                        ErrorKind::Diverged,
                        format!(
                            "the primary is at generation {current}, before this replica's {g} (its database was \
                             deleted and made again, or restored): remove the file and its -replica file to bootstrap again"
                        ),
                    )
                    .into());
                }
                Some(_) => break,
            }
        }
        report.generation = self.position.generation;
        report.frame_no = self.position.frame;
        if self.offline {
            self.checkpoint()?;
        }
        Ok(report)
    }

    /// Offline: the number of `scan`'s committed frames that are the primary's (the mark); the
    /// ones after it are unpushed local commits. A WAL with other salts restarted after the
    /// mark was set: all its frames are local.
    fn mark_in(&self, end: offline::WalEnd) -> u32 {
        match self.position.local_wal {
            Some((s1, s2, n)) if (s1, s2) == end.salts => n,
            _ => 0,
        }
    }

    /// Offline: pushes the local commits after the mark, in order; the number of frames sent.
    fn push(&mut self, remote: &Remote) -> Result<u64> {
        let Some(end) = offline::wal_end(&mut self.wal_scanner, &self.wal)? else { return Ok(0) };
        let mark = self.mark_in(end);
        if end.committed <= mark {
            return Ok(0);
        }
        if self.position.applying_to.is_some() {
            return Err(ReplicationError::new(
                ErrorKind::Conflict,
                "a sync was interrupted while applying the primary's frames: local writes cannot be told from them",
            )
            .into());
        }
        // The primary may have started a generation since the last pull (a checkpoint): with
        // nothing new in it the replica moves there first, so that the frames are numbered as
        // the primary will number them.
        let current = remote.info()?;
        if current > self.position.generation {
            let (g, next) = (self.position.generation, self.position.frame + 1);
            match remote.pull(g, next, next.saturating_add(1), None, None)? {
                Pull::End(now) if now > g => {
                    self.position =
                        Position { generation: g + 1, frame: 0, applying_to: None, salts: None, ..self.position };
                    self.position.write(&self.meta)?;
                }
                _ => {
                    return Err(ReplicationError::new(
                        ErrorKind::Conflict,
                        "the primary has commits this replica has not pulled: its offline writes cannot be pushed \
                         (remove the file and its -replica file to start again from the primary)",
                    )
                    .into());
                }
            }
        }
        // Each commit's pages in page order, the newest image of each once: as the primary
        // writes them, so that a push sent again matches what it already has.
        let body = offline::commit_groups(&offline::frames(&self.wal, mark, end.committed)?);
        let local = &body[..];
        let count = u32::try_from(local.len() / FRAME_SIZE).expect("invariant: a WAL's frames fit a u32");
        let g = self.position.generation;
        let first = self.position.frame + 1;
        let (mut next, mut baton) = (first, None::<String>);
        let mut rounds = 0;
        while next < first + count {
            rounds += 1;
            if rounds > 4 * (count as usize / offline::PUSH_FRAMES + 2) {
                return Err(
                    ReplicationError::new(ErrorKind::Protocol, "the primary keeps asking for the same frames").into()
                );
            }
            let from = (next - first) as usize;
            let to = (from + offline::PUSH_FRAMES).min(count as usize);
            match remote.push(g, next, baton.as_deref(), &local[from * FRAME_SIZE..to * FRAME_SIZE])? {
                Pushed::Conflict => {
                    return Err(ReplicationError::new(
                        ErrorKind::Conflict,
                        format!(
                            "the primary has commits this replica has not pulled: its {count} frames of offline writes \
                             cannot be pushed (remove the file and its -replica file to start again from the primary)"
                        ),
                    )
                    .into());
                }
                Pushed::Ok { generation, max_frame_no, baton: b } => {
                    if generation != g || max_frame_no >= first + count || max_frame_no + 1 < first {
                        return Err(ReplicationError::new(
                            ErrorKind::Protocol,
                            format!(
                                "a push of frames {next}.. of generation {g} was answered {generation}/{max_frame_no}"
                            ),
                        )
                        .into());
                    }
                    next = max_frame_no + 1;
                    baton = b;
                }
            }
        }
        self.position.frame += count;
        self.position.local_wal = Some((end.salts.0, end.salts.1, end.committed));
        // The push itself may have made the primary start a generation: then the frames are
        // pulled again from its start (the same pages; the replica's numbering of them would
        // be the old generation's).
        if remote.info()? > g {
            self.position = Position { generation: g + 1, frame: 0, applying_to: None, salts: None, ..self.position };
        }
        self.position.write(&self.meta)?;
        self.data_version = data_version(&self.conn)?;
        Ok(u64::from(count))
    }

    /// Offline: checkpoints a WAL of more than 1,000 frames when none is unpushed, holding the
    /// write lock meanwhile so that no local commit can slip in (see `offline.rs`).
    fn checkpoint(&mut self) -> Result<()> {
        self.conn.execute_batch("BEGIN IMMEDIATE")?;
        let done = self.checkpoint_locked();
        self.conn.execute_batch("ROLLBACK")?;
        done
    }

    /// [`Applier::checkpoint`], with the write lock held.
    fn checkpoint_locked(&mut self) -> Result<()> {
        let Some(end) = offline::wal_end(&mut self.wal_scanner, &self.wal)? else { return Ok(()) };
        let mark = self.mark_in(end);
        if end.committed != mark || mark <= 1000 {
            return Ok(());
        }
        let other = Connection::open_with_flags(&self.path, OpenFlags::READ_WRITE)?;
        keep_wal(&other)?;
        other.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))?;
        Ok(())
    }
}

struct Inner {
    path: PathBuf,
    remote: Remote,
    read_your_writes: bool,
    offline: bool,
    applier: Mutex<Applier>,
    last_error: Mutex<Option<String>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while syncing leaves the applier as SQLite left it (a rollback at worst).
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Inner {
    fn sync(&self, wait: Option<Duration>) -> Result<Replicated> {
        let r = lock(&self.applier).sync(&self.remote, wait);
        *lock(&self.last_error) = r.as_ref().err().map(ToString::to_string);
        r
    }
}

/// The background sync thread; stops (and is joined) on drop.
struct Background {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Background {
    fn start(inner: Arc<Inner>, every: Duration) -> Background {
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = thread::Builder::new()
            .name("edgelite-replica-sync".into())
            .spawn(move || {
                while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(every) {
                    // Failures are kept for `Replica::last_sync_error`; the next round retries.
                    let _ = inner.sync(None);
                }
            })
            .ok();
        Background { stop: Some(stop), thread }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// An embedded replica: a local file kept in sync with the primary.
pub struct Replica {
    inner: Arc<Inner>,
    _background: Option<Background>,
}

impl fmt::Debug for Replica {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Replica").field("path", &self.inner.path).finish_non_exhaustive()
    }
}

/// What a forwarded write did on the primary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    /// Rows inserted, updated or deleted.
    pub rows_affected: u64,
    /// The primary's last insert rowid after the statement, if it reported one.
    pub last_insert_rowid: Option<i64>,
}

impl Replica {
    /// Pulls and applies every frame the primary has committed since the last sync.
    ///
    /// # Errors
    ///
    /// [`Error::Replication`] if the primary is out of reach or answers badly (what was applied
    /// before stays applied); SQLite failures writing the local file.
    pub fn sync(&self) -> Result<Replicated> {
        self.inner.sync(None)
    }

    /// [`Replica::sync`], but when the primary has nothing new it holds the pull open for up to
    /// `wait` and answers as soon as a commit arrives (an `edgelite-server` extension; another
    /// server answers at once). For a loop that follows the primary closely without polling.
    ///
    /// # Errors
    ///
    /// As [`Replica::sync`].
    pub fn sync_wait(&self, wait: Duration) -> Result<Replicated> {
        self.inner.sync(Some(wait))
    }

    /// The last background sync's failure, if the last one failed.
    #[must_use]
    pub fn last_sync_error(&self) -> Option<String> {
        lock(&self.inner.last_error).clone()
    }

    /// The position reached: (generation, last frame applied).
    #[must_use]
    pub fn position(&self) -> (u32, u32) {
        let a = lock(&self.inner.applier);
        (a.position.generation, a.position.frame)
    }

    /// The local database file.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// A connection that reads the local file and forwards writes to the primary.
    ///
    /// # Errors
    ///
    /// SQLite failures opening the file.
    pub fn connect(&self) -> Result<ReplicaConnection> {
        let conn = Connection::open(&self.inner.path)?;
        if self.inner.offline {
            keep_wal(&conn)?;
        } else {
            // Local writes would make the file differ from the primary's pages.
            conn.execute_batch("PRAGMA query_only=ON")?;
        }
        conn.busy_timeout(Duration::from_secs(10))?;
        Ok(ReplicaConnection { conn, inner: Arc::clone(&self.inner), last_insert_rowid: std::cell::Cell::new(0) })
    }

    /// Runs one statement on the primary (an autocommit write), then, with read-your-writes,
    /// syncs.
    ///
    /// # Errors
    ///
    /// The primary's SQLite failure with its result code (e.g. `SQLITE_CONSTRAINT_UNIQUE`),
    /// or [`Error::Replication`].
    pub fn execute(&self, sql: &str, params: &[&dyn ToSql]) -> Result<Written> {
        let mut w = self.batch_inner(&[(sql, params)], false)?;
        Ok(w.remove(0))
    }

    /// Runs statements on the primary in one transaction (all or none), then, with
    /// read-your-writes, syncs.
    ///
    /// # Errors
    ///
    /// As [`Replica::execute`]; the first failing statement's error, after which nothing of
    /// the batch is committed.
    pub fn batch(&self, statements: &[(&str, &[&dyn ToSql])]) -> Result<Vec<Written>> {
        self.batch_inner(statements, true)
    }

    /// An offline replica writes locally only: a write on the primary would make its next
    /// push conflict.
    fn online(&self) -> Result<()> {
        if self.inner.offline {
            return Err(ReplicationError::new(
                ErrorKind::Config,
                "an offline replica writes through its own connections (Replica::connect) and pushes on sync",
            )
            .into());
        }
        Ok(())
    }

    fn batch_inner(&self, statements: &[(&str, &[&dyn ToSql])], atomic: bool) -> Result<Vec<Written>> {
        self.online()?;
        let mut stmts = Vec::with_capacity(statements.len());
        for (sql, params) in statements {
            let args = params.iter().map(|p| hrana_value(&p.to_sql()?)).collect::<Result<Vec<_>>>()?;
            stmts.push(json!({"sql": sql, "args": args, "want_rows": false}));
        }
        let n = stmts.len();
        let request = if atomic {
            let mut steps = vec![json!({"stmt": {"sql": "BEGIN IMMEDIATE"}})];
            for (i, s) in stmts.into_iter().enumerate() {
                steps.push(json!({"condition": {"type": "ok", "step": i}, "stmt": s}));
            }
            steps.push(json!({"condition": {"type": "ok", "step": n}, "stmt": {"sql": "COMMIT"}}));
            steps.push(json!({"condition": {"type": "not", "cond": {"type": "ok", "step": n + 1}}, "stmt": {"sql": "ROLLBACK"}}));
            vec![json!({"type": "batch", "batch": {"steps": steps}}), json!({"type": "close"})]
        } else {
            let mut r: Vec<Value> = stmts.into_iter().map(|s| json!({"type": "execute", "stmt": s})).collect();
            r.push(json!({"type": "close"}));
            r
        };
        let results = self.inner.remote.pipeline(request)?;
        let written = if atomic {
            let r = ok_response(results.first())?;
            let result = &r["result"];
            let errors = result["step_errors"].as_array().cloned().unwrap_or_default();
            if let Some(e) = errors.iter().find(|e| !e.is_null()) {
                return Err(hrana_error(e));
            }
            let steps = result["step_results"].as_array().cloned().unwrap_or_default();
            (1..=n).map(|i| written(steps.get(i).unwrap_or(&Value::Null))).collect::<Result<Vec<_>>>()?
        } else {
            (0..n)
                .map(|i| ok_response(results.get(i)).and_then(|r| written(&r["result"])))
                .collect::<Result<Vec<_>>>()?
        };
        if self.inner.read_your_writes {
            self.sync()?;
        }
        Ok(written)
    }
}

/// A write transaction on the primary, statement by statement (one Hrana stream), for a
/// caller that must see each statement's result before it sends the next: the drop-in
/// library's embedded replicas run a local transaction's writes here. Opened by
/// [`Replica::begin_on_primary`]; the primary rolls it back if it is dropped (or left idle
/// long enough for the stream to expire) without [`PrimaryTransaction::commit`].
pub struct PrimaryTransaction {
    inner: Arc<Inner>,
    baton: Option<String>,
}

impl fmt::Debug for PrimaryTransaction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrimaryTransaction").field("replica", &self.inner.path).finish_non_exhaustive()
    }
}

impl Replica {
    /// Opens a write transaction on the primary: `BEGIN IMMEDIATE`, then `prelude` (statements
    /// without parameters, such as the `SAVEPOINT`s a local transaction opened before its first
    /// write), each only if the one before succeeded.
    ///
    /// # Errors
    ///
    /// The primary's SQLite failure (e.g. `SQLITE_BUSY`), or [`Error::Replication`].
    pub fn begin_on_primary(&self, prelude: &[&str]) -> Result<PrimaryTransaction> {
        self.online()?;
        let mut t = PrimaryTransaction { inner: Arc::clone(&self.inner), baton: None };
        let mut requests = vec![json!({"type": "execute", "stmt": {"sql": "BEGIN IMMEDIATE", "want_rows": false}})];
        requests.extend(prelude.iter().map(|sql| json!({"type": "execute", "stmt": {"sql": sql, "want_rows": false}})));
        let (results, baton) = self.inner.remote.pipeline_on(None, requests)?;
        t.baton = baton;
        for i in 0..=prelude.len() {
            ok_response(results.get(i))?;
        }
        if t.baton.is_none() {
            return Err(
                ReplicationError::new(ErrorKind::Protocol, "the primary closed the transaction's stream").into()
            );
        }
        Ok(t)
    }
}

impl PrimaryTransaction {
    /// Runs one statement in the transaction.
    ///
    /// # Errors
    ///
    /// The primary's SQLite failure with its result code; the transaction stays open (as a
    /// failed statement leaves an SQLite transaction open), unless the stream is lost
    /// ([`Error::Replication`]).
    pub fn execute(&mut self, sql: &str, params: &[&dyn ToSql]) -> Result<Written> {
        let args = params.iter().map(|p| hrana_value(&p.to_sql()?)).collect::<Result<Vec<_>>>()?;
        let r = self.send(vec![json!({"type": "execute", "stmt": {"sql": sql, "args": args, "want_rows": false}})])?;
        written(&ok_response(r.first())?["result"])
    }

    /// Commits on the primary and closes the stream. It does not sync the replica: the caller
    /// syncs (with [`Replica::sync`]) once it has let go of the local file's write lock.
    ///
    /// # Errors
    ///
    /// The primary's failure to commit (the transaction is then rolled back there).
    pub fn commit(mut self) -> Result<()> {
        let r = self.send(vec![
            json!({"type": "execute", "stmt": {"sql": "COMMIT", "want_rows": false}}),
            json!({"type": "close"}),
        ])?;
        self.baton = None;
        ok_response(r.first()).map(|_| ())
    }

    /// Rolls back on the primary and closes the stream.
    ///
    /// # Errors
    ///
    /// [`Error::Replication`] if the primary is out of reach (it rolls back when the stream
    /// expires).
    pub fn rollback(mut self) -> Result<()> {
        let r = self.send(vec![json!({"type": "close"})]);
        self.baton = None;
        r.map(|_| ())
    }

    fn send(&mut self, requests: Vec<Value>) -> Result<Vec<Value>> {
        let Some(baton) = self.baton.take() else {
            return Err(ReplicationError::new(ErrorKind::Protocol, "the transaction on the primary is over").into());
        };
        let (results, next) = self.inner.remote.pipeline_on(Some(&baton), requests)?;
        self.baton = next;
        Ok(results)
    }
}

impl Drop for PrimaryTransaction {
    fn drop(&mut self) {
        if let Some(baton) = self.baton.take() {
            // Best effort: closing the stream rolls the transaction back at once, instead of
            // when the primary expires it.
            let _ = self.inner.remote.pipeline_on(Some(&baton), vec![json!({"type": "close"})]);
        }
    }
}

/// A pipeline result that must be `ok`; its `response`.
fn ok_response(r: Option<&Value>) -> Result<&Value> {
    let r =
        r.ok_or_else(|| ReplicationError::new(ErrorKind::Protocol, "the primary answered fewer results than asked"))?;
    match r["type"].as_str() {
        Some("ok") => Ok(&r["response"]),
        Some("error") => Err(hrana_error(&r["error"])),
        _ => Err(ReplicationError::new(ErrorKind::Protocol, format!("bad pipeline result {r}")).into()),
    }
}

fn written(result: &Value) -> Result<Written> {
    let rows_affected = result["affected_row_count"]
        .as_u64()
        .ok_or_else(|| ReplicationError::new(ErrorKind::Protocol, format!("no affected_row_count in {result}")))?;
    let last_insert_rowid = result["last_insert_rowid"].as_str().and_then(|s| s.parse().ok());
    Ok(Written { rows_affected, last_insert_rowid })
}

/// A Hrana error (`{"message", "code"}`) as the SQLite failure it reports: `SQLITE_<NAME>`
/// codes keep their result code, Hrana's own codes (`SQL_PARSE_ERROR`, ...) are `SQLITE_ERROR`.
fn hrana_error(e: &Value) -> Error {
    let message = e["message"].as_str().unwrap_or("the primary reported an error without a message");
    let code = e["code"].as_str().unwrap_or("");
    let rc = code_from_name(code).unwrap_or(ffi::SQLITE_ERROR);
    Error::from_code(rc, Some(format!("{message} (on the primary: {code})")))
}

/// The result code named `SQLITE_<NAME>`, as edgelite-server names them.
fn code_from_name(name: &str) -> Option<c_int> {
    let name = name.strip_prefix("SQLITE_")?;
    let extended = [
        ("CONSTRAINT_CHECK", ffi::SQLITE_CONSTRAINT_CHECK),
        ("CONSTRAINT_COMMITHOOK", ffi::SQLITE_CONSTRAINT_COMMITHOOK),
        ("CONSTRAINT_FOREIGNKEY", ffi::SQLITE_CONSTRAINT_FOREIGNKEY),
        ("CONSTRAINT_FUNCTION", ffi::SQLITE_CONSTRAINT_FUNCTION),
        ("CONSTRAINT_NOTNULL", ffi::SQLITE_CONSTRAINT_NOTNULL),
        ("CONSTRAINT_PRIMARYKEY", ffi::SQLITE_CONSTRAINT_PRIMARYKEY),
        ("CONSTRAINT_TRIGGER", ffi::SQLITE_CONSTRAINT_TRIGGER),
        ("CONSTRAINT_UNIQUE", ffi::SQLITE_CONSTRAINT_UNIQUE),
        ("CONSTRAINT_VTAB", ffi::SQLITE_CONSTRAINT_VTAB),
        ("CONSTRAINT_ROWID", ffi::SQLITE_CONSTRAINT_ROWID),
        ("CONSTRAINT_PINNED", ffi::SQLITE_CONSTRAINT_PINNED),
        ("CONSTRAINT_DATATYPE", ffi::SQLITE_CONSTRAINT_DATATYPE),
        ("BUSY_RECOVERY", ffi::SQLITE_BUSY_RECOVERY),
        ("BUSY_SNAPSHOT", ffi::SQLITE_BUSY_SNAPSHOT),
        ("BUSY_TIMEOUT", ffi::SQLITE_BUSY_TIMEOUT),
    ];
    if let Some((_, c)) = extended.iter().find(|(n, _)| *n == name) {
        return Some(*c);
    }
    let primary = [
        "",
        "ERROR",
        "INTERNAL",
        "PERM",
        "ABORT",
        "BUSY",
        "LOCKED",
        "NOMEM",
        "READONLY",
        "INTERRUPT",
        "IOERR",
        "CORRUPT",
        "NOTFOUND",
        "FULL",
        "CANTOPEN",
        "PROTOCOL",
        "EMPTY",
        "SCHEMA",
        "TOOBIG",
        "CONSTRAINT",
        "MISMATCH",
        "MISUSE",
        "NOLFS",
        "AUTH",
        "FORMAT",
        "RANGE",
        "NOTADB",
    ];
    primary.iter().position(|n| *n == name && !n.is_empty()).and_then(|i| c_int::try_from(i).ok())
}

/// A bound value as a Hrana value (`docs/sync-protocol.md` §1).
fn hrana_value(v: &ToSqlOutput<'_>) -> Result<Value> {
    let Some(v) = v.value_ref() else {
        return Err(Error::ToSqlConversionFailure("a zero blob cannot be sent to the primary; bind a Vec<u8>".into()));
    };
    Ok(match v {
        ValueRef::Null => json!({"type": "null"}),
        ValueRef::Integer(i) => json!({"type": "integer", "value": i.to_string()}),
        ValueRef::Real(f) if f.is_finite() => json!({"type": "float", "value": f}),
        ValueRef::Real(f) => {
            return Err(Error::ToSqlConversionFailure(format!("{f} has no JSON form for the primary").into()));
        }
        ValueRef::Text(t) => json!({"type": "text", "value": String::from_utf8_lossy(t)}),
        ValueRef::Blob(b) => json!({"type": "blob", "base64": base64::engine::general_purpose::STANDARD.encode(b)}),
    })
}

/// A connection to a replica: reads run on the local file, [`ReplicaConnection::execute`] of a
/// statement that writes runs it on the primary. Every other method of [`Connection`] (through
/// `Deref`) is local, on a connection with `PRAGMA query_only` on.
pub struct ReplicaConnection {
    conn: Connection,
    inner: Arc<Inner>,
    last_insert_rowid: std::cell::Cell<i64>,
}

impl std::ops::Deref for ReplicaConnection {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        &self.conn
    }
}

impl ReplicaConnection {
    /// Runs a statement: locally if it only reads, on the primary otherwise (then, with
    /// read-your-writes, the replica syncs before this returns). Returns the rows changed.
    ///
    /// Forwarded statements run as autocommit statements on the primary; for several writes
    /// that must commit together use [`Replica::batch`].
    ///
    /// # Errors
    ///
    /// As [`Connection::execute`] for local statements, [`Replica::execute`] for forwarded ones.
    pub fn execute(&self, sql: &str, params: &[&dyn ToSql]) -> Result<usize> {
        // A statement that does not compile here (e.g. a table the replica has not seen yet)
        // goes to the primary, which has the final word.
        let local = self.inner.offline || self.conn.prepare(sql).map(|s| s.readonly()).unwrap_or(false);
        if local {
            return self.conn.execute(sql, params);
        }
        let w = Replica { inner: Arc::clone(&self.inner), _background: None }.execute(sql, params)?;
        if let Some(id) = w.last_insert_rowid {
            self.last_insert_rowid.set(id);
        }
        Ok(usize::try_from(w.rows_affected).unwrap_or(usize::MAX))
    }

    /// The rowid of the last row the primary inserted for a write forwarded by this connection.
    #[must_use]
    pub fn last_insert_rowid(&self) -> i64 {
        self.last_insert_rowid.get()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn result_codes_keep_their_meaning() {
        assert_eq!(code_from_name("SQLITE_CONSTRAINT_UNIQUE"), Some(ffi::SQLITE_CONSTRAINT_UNIQUE));
        assert_eq!(code_from_name("SQLITE_BUSY"), Some(ffi::SQLITE_BUSY));
        assert_eq!(code_from_name("SQLITE_NOTADB"), Some(ffi::SQLITE_NOTADB));
        assert_eq!(code_from_name("SQL_PARSE_ERROR"), None);
        assert_eq!(code_from_name("SQLITE_"), None);
    }

    #[test]
    fn only_whole_commit_groups_are_applied() {
        let frame = |pgno: u32, commit: u32| {
            let mut f = vec![0_u8; FRAME_SIZE];
            f[0..4].copy_from_slice(&pgno.to_be_bytes());
            f[4..8].copy_from_slice(&commit.to_be_bytes());
            f
        };
        let frames = [frame(2, 0), frame(1, 3), frame(3, 0)].concat();
        assert_eq!(committed_len(&frames), 2);
        assert_eq!(committed_len(&frame(2, 0)), 0);
    }
}
