//! edgelite-server: a libSQL-compatible server over edgelite.
//!
//! It speaks Hrana over HTTP (`/v2/pipeline`, `/v3/pipeline`, `/v3/cursor`, `/v1/execute`,
//! `/v1/batch`) and WebSocket (`hrana1`–`hrana3`), and serves embedded replicas with sync
//! protocol v2 (`/info`, `/export/{g}`, `/sync/{g}/{start}/{end}`, push with `POST /sync/…`),
//! so the published libSQL clients work unchanged. See `README.md` in this crate.
//!
//! ```no_run
//! # async fn demo() -> Result<(), edgelite_server::ServerError> {
//! let config = edgelite_server::Config::new("data.edgelite".into(), "127.0.0.1:0".into());
//! let running = edgelite_server::start(config).await?;
//! println!("edgelite-server listening on http://{}", running.http_addr);
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]

pub mod admin;
pub mod auth;
pub mod backup;
pub mod cluster;
pub mod exec;
pub mod fuzzing;
pub mod http;
pub mod limits;
pub mod namespace;
pub mod proto;
pub mod pull_updates;
pub mod replica_server;
// The WAL reader is `edgelite::wal` (embedded replicas read their own WAL with it too).
pub use edgelite::wal;
pub mod ws;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::auth::Auth;
use crate::namespace::{Namespaces, NsError};

/// Errors starting the server.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// A namespace could not be opened.
    #[error("opening databases: {0}")]
    Namespace(#[from] NsError),
    /// The key file is unusable.
    #[error(transparent)]
    Key(#[from] auth::KeyError),
    /// A listener could not bind.
    #[error("binding {addr}: {source}")]
    Bind {
        /// The address.
        addr: String,
        /// The cause.
        source: std::io::Error,
    },
    /// A blocking task failed.
    #[error("startup task failed: {0}")]
    Join(String),
    /// Replica mode cannot start, or is combined with an option it excludes.
    #[error("replica mode: {0}")]
    Replica(String),
    /// The backup target is unusable, or the restore of an empty data directory failed.
    #[error("backup: {0}")]
    Backup(#[from] backup::BackupError),
}

/// Server settings (the CLI flags).
#[derive(Clone, Debug)]
pub struct Config {
    /// The data directory.
    pub db_path: PathBuf,
    /// The user listener.
    pub http_listen_addr: String,
    /// The admin listener, if any.
    pub admin_listen_addr: Option<String>,
    /// An Ed25519 public key file (PEM or raw base64url); none means no auth.
    pub auth_jwt_key_file: Option<PathBuf>,
    /// The key itself (as the file's text), e.g. from `SQLD_AUTH_JWT_KEY`.
    pub auth_jwt_key: Option<String>,
    /// Namespaces from headers, subdomain or path; otherwise everything is `default`.
    pub enable_namespaces: bool,
    /// A checkpoint (new generation) runs once the WAL holds this many committed frames.
    pub checkpoint_frames: u32,
    /// Past generations kept per namespace for replicas that are behind (0: all).
    pub max_archived_generations: u32,
    /// Streams idle longer than this are closed.
    pub stream_expiry: Duration,
    /// Request bodies larger than this get 413.
    pub max_body_bytes: usize,
    /// Resource caps (see `SECURITY.md`).
    pub limits: Limits,
    /// Continuous backup to object storage, if any (`--backup-url`).
    pub backup: Option<backup::BackupConfig>,
    /// Replica mode (`--primary-url`): copy a primary's namespaces, forward writes to it.
    pub replica: Option<replica_server::ReplicaConfig>,
    /// `--durability replica`: a write is answered once a replica server holds its frames, or
    /// fails with `REPLICA_UNAVAILABLE` after this long (`--replica-ack-timeout-ms`).
    pub replica_ack_timeout: Option<Duration>,
    /// A cluster primary's lease (`--etcd-endpoints`): requests are refused once it ran out.
    pub fence: Option<Arc<cluster::Fence>>,
}

/// The default of `--max-requests-per-second-per-namespace`.
pub const DEFAULT_REQUESTS_PER_SECOND_PER_NAMESPACE: u32 = 1000;

/// Caps that keep one tenant from starving the others; each has a flag (see `SECURITY.md`).
#[derive(Clone, Debug)]
pub struct Limits {
    /// Accepted TCP connections on the user listener; more wait in the kernel's backlog.
    pub max_http_connections: usize,
    /// Accepted TCP connections from one client address; more from it are closed at once.
    pub max_http_connections_per_address: usize,
    /// A connection that has not sent a request's headers within this is closed.
    pub header_read_timeout: Duration,
    /// A request whose body has not arrived within this gets 408.
    pub body_read_timeout: Duration,
    /// HTTP requests in progress, server-wide (sqld's `--max-concurrent-requests`).
    pub max_concurrent_requests: usize,
    /// HTTP requests in progress per namespace.
    pub max_concurrent_requests_per_namespace: usize,
    /// Open HTTP streams, server-wide.
    pub max_http_streams: usize,
    /// Open HTTP streams per namespace.
    pub max_http_streams_per_namespace: usize,
    /// WebSocket connections, server-wide.
    pub max_ws_connections: usize,
    /// WebSocket connections per namespace.
    pub max_ws_connections_per_namespace: usize,
    /// Streams one WebSocket may hold open.
    pub max_ws_streams: usize,
    /// SQLite connections held by streams per namespace (sqld's `--max-concurrent-connections`).
    pub max_concurrent_connections: usize,
    /// SQLite connections held by streams, server-wide.
    pub max_total_connections: usize,
    /// Serialized bytes of one Hrana response (one request of a pipeline, one WebSocket reply).
    pub max_response_size: usize,
    /// Serialized bytes of one HTTP response body (a whole pipeline or cursor).
    pub max_total_response_size: usize,
    /// A transaction open longer than this is rolled back (sqld's `txn_timeout_s`).
    pub txn_timeout: Duration,
    /// Clock skew allowed on `exp` and `nbf`.
    pub jwt_leeway: Duration,
    /// Requests executing SQL at once, server-wide; more wait for a turn, shared fairly
    /// between namespaces (see [`limits::Scheduler`]).
    pub max_running_requests: usize,
    /// How long a request runs before it gives its turn to a waiting one.
    pub time_slice: Duration,
    /// Requests (HTTP requests and WebSocket messages) a namespace may start per second while
    /// other namespaces are busy; more wait for their turn in time (0: no pace). See
    /// [`limits::Pacer`].
    pub max_requests_per_second_per_namespace: u32,
    /// Databases open at once; the least recently used idle ones are closed beyond it.
    pub max_open_databases: usize,
    /// The largest a namespace's database may grow, in bytes (0: no limit); a namespace's own
    /// `max_db_size` (admin API) replaces it. Its temporary files are held to the same size,
    /// together.
    pub max_db_size: u64,
    /// Bytes of SQLite memory above which the least recently used idle databases are closed
    /// (0: no limit).
    pub max_open_databases_memory: u64,
    /// Bytes of vector index blocks that the node caches of all connections may hold together
    /// (the process's [`edgelite::VectorCacheBudget`]; 0: none cached).
    pub max_vector_cache_memory: u64,
    /// Bytes of vector index blocks that one namespace's connections may hold together in
    /// their node caches (0: none cached).
    pub max_vector_cache_memory_per_namespace: u64,
    /// Bytes of SQLite's memory that one namespace's requests may hold at once (0: no limit);
    /// needs `edgelite::ffi::install_memory_budgets` before SQLite initializes (the binary's
    /// `main` does it), or it is not enforced.
    pub max_memory_per_namespace: u64,
    /// An open database unused for this long is closed (`None`: never for its idle time).
    pub database_idle_timeout: Option<Duration>,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_http_connections: 4096,
            max_http_connections_per_address: 512,
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(30),
            max_concurrent_requests: 512,
            max_concurrent_requests_per_namespace: 32,
            max_http_streams: 4096,
            max_http_streams_per_namespace: 256,
            max_ws_connections: 2048,
            max_ws_connections_per_namespace: 64,
            max_ws_streams: 32,
            max_concurrent_connections: 64,
            max_total_connections: 1024,
            max_response_size: 32 << 20,
            max_total_response_size: 32 << 20,
            txn_timeout: Duration::from_secs(5),
            jwt_leeway: Duration::from_secs(5),
            max_running_requests: std::thread::available_parallelism().map_or(2, std::num::NonZero::get),
            time_slice: Duration::from_millis(10),
            max_requests_per_second_per_namespace: DEFAULT_REQUESTS_PER_SECOND_PER_NAMESPACE,
            max_open_databases: 128,
            max_db_size: 0,
            max_open_databases_memory: 512 << 20,
            max_vector_cache_memory: 1 << 30,
            max_vector_cache_memory_per_namespace: 256 << 20,
            max_memory_per_namespace: 512 << 20,
            database_idle_timeout: Some(Duration::from_secs(60)),
        }
    }
}

impl Config {
    /// Defaults for everything but the data directory and the listen address.
    #[must_use]
    pub fn new(db_path: PathBuf, http_listen_addr: String) -> Config {
        Config {
            db_path,
            http_listen_addr,
            admin_listen_addr: None,
            auth_jwt_key_file: None,
            auth_jwt_key: None,
            enable_namespaces: false,
            checkpoint_frames: 10_000,
            max_archived_generations: 0,
            stream_expiry: Duration::from_secs(10),
            max_body_bytes: 10 << 20,
            limits: Limits::default(),
            backup: None,
            replica: None,
            replica_ack_timeout: None,
            fence: None,
        }
    }
}

/// Shared state of the handlers.
pub struct AppState {
    /// The databases.
    pub namespaces: Namespaces,
    /// Token checking.
    pub auth: Auth,
    /// Whether namespaces are resolved from requests.
    pub enable_namespaces: bool,
    /// Open HTTP streams.
    pub streams: http::HttpStreams,
    /// The largest request: an HTTP body or a WebSocket message.
    pub max_body_bytes: usize,
    /// The caps.
    pub limits: Limits,
    /// HTTP requests in progress, per namespace and in all.
    pub requests: Arc<limits::Gauge>,
    /// WebSocket connections past hello, per namespace and in all.
    pub ws_connections: Arc<limits::Gauge>,
    /// WebSocket connections waiting for their first valid hello, in all.
    pub ws_pending: Arc<limits::Gauge>,
    /// Streams idle longer than this are closed (HTTP and WebSocket).
    pub stream_expiry: Duration,
    /// Turns to run SQL, shared fairly between namespaces.
    pub turns: Arc<limits::Scheduler>,
    /// The request rate per namespace under contention (`--max-requests-per-second-per-namespace`).
    pub pacer: Arc<limits::Pacer>,
    /// The backup, if the server has one.
    pub backup: Option<Arc<backup::Backup>>,
    /// The replication, on a replica server.
    pub replica: Option<Arc<replica_server::Replication>>,
    /// On a primary, the replica servers that acknowledge what they hold.
    pub replicas_seen: replica_server::ReplicasSeen,
    /// This node's membership of a cluster (`--etcd-endpoints`), set once it serves.
    pub cluster: std::sync::OnceLock<Arc<cluster::Member>>,
}

/// A started server.
pub struct Running {
    /// Where the user API listens.
    pub http_addr: SocketAddr,
    /// Where the admin API listens.
    pub admin_addr: Option<SocketAddr>,
    /// The shared state (for shutdown).
    pub state: Arc<AppState>,
}

impl Running {
    /// Ends the current generation of every open namespace. (Closed ones, and those of a
    /// server that was killed, keep their WAL: the next open goes on with it.)
    pub async fn shutdown(&self) {
        if let Some(r) = &self.state.replica {
            r.stop().await;
        }
        for ns in self.state.namespaces.all_open() {
            let _ = ns.checkpoint(true).await;
        }
        // What those checkpoints archived goes to the bucket before the process ends.
        if let Some(b) = &self.state.backup {
            b.flush(Duration::from_secs(10)).await;
        }
    }
}

/// Opens the databases, binds the listeners and serves in background tasks.
///
/// # Errors
///
/// Unusable key, databases that cannot open, addresses that cannot be bound.
pub async fn start(config: Config) -> Result<Running, ServerError> {
    let auth = match (&config.auth_jwt_key_file, &config.auth_jwt_key) {
        (Some(path), _) => Auth::from_key_text(&std::fs::read_to_string(path).map_err(auth::KeyError::Io)?)?,
        (None, Some(text)) => Auth::from_key_text(text)?,
        (None, None) => Auth::disabled(),
    };
    let auth = auth.with_leeway(config.limits.jwt_leeway);
    let db_path = config.db_path.clone();
    let frames = config.checkpoint_frames.max(1);
    let l = &config.limits;
    let conns = limits::Gauge::new(l.max_concurrent_connections, l.max_total_connections);
    if config.replica.is_some() && config.backup.is_some() {
        // The primary's backup is the group's; a replica's copy is the primary's pages.
        return Err(ServerError::Replica("--backup-url is for the primary, not a replica (--primary-url)".into()));
    }
    let target = match &config.backup {
        Some(b) => {
            let target = backup::Target::open_with(&b.url, &b.s3_options)?;
            // A new machine: every namespace comes back from the bucket before anything is served.
            if backup::is_empty_data_dir(&config.db_path) {
                for (ns, r) in backup::restore_all(&target, &config.db_path, None, None).await? {
                    eprintln!(
                        "edgelite-server: restored namespace {ns:?} from the backup (generation {}, frame {}, as of {})",
                        r.generation,
                        r.frames,
                        backup::format_time(r.as_of)
                    );
                }
            }
            Some(target)
        }
        None => None,
    };
    let mut settings = namespace::Settings::new(frames, l.max_open_databases, conns);
    if l.max_db_size > 0 {
        let pages = (l.max_db_size / wal::PAGE_SIZE as u64).clamp(1, u64::from(u32::MAX));
        settings.max_db_pages = u32::try_from(pages).unwrap_or(u32::MAX);
    }
    settings.max_archived_generations = config.max_archived_generations;
    settings.replica = config.replica.is_some();
    if config.replica.is_some() && config.replica_ack_timeout.is_some() {
        return Err(ServerError::Replica(
            "--durability replica is for a primary: a replica server forwards writes to its primary".into(),
        ));
    }
    settings.replica_ack_timeout = config.replica_ack_timeout;
    settings.fence = config.fence.clone();
    settings.max_open_memory = l.max_open_databases_memory;
    // The process's budget: the server is the process (one per process, as SQLite's own
    // soft_heap_limit is).
    edgelite::VectorCacheBudget::process().set_limit(usize::try_from(l.max_vector_cache_memory).unwrap_or(usize::MAX));
    settings.vector_cache_per_namespace =
        usize::try_from(l.max_vector_cache_memory_per_namespace).unwrap_or(usize::MAX);
    settings.memory_per_namespace = if l.max_memory_per_namespace == 0 { u64::MAX } else { l.max_memory_per_namespace };
    if !edgelite::ffi::memory_budgets_installed() {
        eprintln!(
            "edgelite-server: --max-memory-per-namespace is not enforced: SQLite initialized before the server \
             could install its allocator (call edgelite::ffi::install_memory_budgets first)"
        );
    }
    settings.idle_close = l.database_idle_timeout;
    let namespaces = tokio::task::spawn_blocking(move || Namespaces::open(&db_path, settings))
        .await
        .map_err(|e| ServerError::Join(e.to_string()))??;
    let backup = match (&config.backup, target) {
        (Some(b), Some(target)) => Some(backup::Backup::start(b.clone(), target, &namespaces)?),
        _ => None,
    };
    let replica = match &config.replica {
        Some(r) => Some(
            replica_server::Replication::start(r.clone(), namespaces.clone()).await.map_err(ServerError::Replica)?,
        ),
        None => None,
    };
    let state = Arc::new(AppState {
        namespaces,
        auth,
        enable_namespaces: config.enable_namespaces,
        streams: http::HttpStreams::new(
            config.stream_expiry,
            config.limits.txn_timeout,
            limits::Gauge::new(l.max_http_streams_per_namespace, l.max_http_streams),
        ),
        max_body_bytes: config.max_body_bytes,
        requests: limits::Gauge::new(l.max_concurrent_requests_per_namespace, l.max_concurrent_requests),
        ws_connections: limits::Gauge::new(l.max_ws_connections_per_namespace, l.max_ws_connections),
        ws_pending: limits::Gauge::new(l.max_ws_connections, l.max_ws_connections),
        stream_expiry: config.stream_expiry,
        turns: limits::Scheduler::new(l.max_running_requests, l.time_slice),
        pacer: limits::Pacer::new(l.max_requests_per_second_per_namespace),
        limits: config.limits.clone(),
        backup,
        replica,
        replicas_seen: replica_server::ReplicasSeen::default(),
        cluster: std::sync::OnceLock::new(),
    });
    http::spawn_expiry(Arc::clone(&state));
    limits::spawn_lender(&state.turns);
    namespace::spawn_sweep(&state.namespaces);

    let listener = tokio::net::TcpListener::bind(&config.http_listen_addr)
        .await
        .map_err(|source| ServerError::Bind { addr: config.http_listen_addr.clone(), source })?;
    let http_addr =
        listener.local_addr().map_err(|source| ServerError::Bind { addr: config.http_listen_addr.clone(), source })?;
    let app = http::router(Arc::clone(&state), config.max_body_bytes);
    tokio::spawn(http::serve(listener, app, config.limits.clone()));

    let admin_addr = match &config.admin_listen_addr {
        Some(addr) => {
            let l = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|source| ServerError::Bind { addr: addr.clone(), source })?;
            let a = l.local_addr().map_err(|source| ServerError::Bind { addr: addr.clone(), source })?;
            let app = admin::router(Arc::clone(&state));
            tokio::spawn(async move {
                let _ = axum::serve(l, app).await;
            });
            Some(a)
        }
        None => None,
    };
    Ok(Running { http_addr, admin_addr, state })
}

/// 128 random bits as 32 hex digits (batons, push tokens); `None` if the system has no random
/// numbers, rather than a guessable token.
pub(crate) fn random_token() -> Option<String> {
    use std::fmt::Write as _;
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).ok()?;
    let mut hex = String::with_capacity(32);
    for x in b {
        let _ = write!(hex, "{x:02x}");
    }
    Some(hex)
}
