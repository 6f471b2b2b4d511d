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
pub mod exec;
pub mod http;
pub mod namespace;
pub mod proto;
pub mod wal;
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
    /// Streams idle longer than this are closed.
    pub stream_expiry: Duration,
    /// Request bodies larger than this get 413.
    pub max_body_bytes: usize,
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
            stream_expiry: Duration::from_secs(10),
            max_body_bytes: 10 << 20,
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
    /// Ends the current generation of every namespace (so that a restart, or closing the last
    /// connection, never folds frames into the database that were not archived).
    pub async fn shutdown(&self) {
        for ns in self.state.namespaces.all() {
            let _ = ns.checkpoint(true).await;
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
    let db_path = config.db_path.clone();
    let frames = config.checkpoint_frames.max(1);
    let namespaces = tokio::task::spawn_blocking(move || Namespaces::open(&db_path, frames))
        .await
        .map_err(|e| ServerError::Join(e.to_string()))??;
    let state = Arc::new(AppState {
        namespaces,
        auth,
        enable_namespaces: config.enable_namespaces,
        streams: http::HttpStreams::new(config.stream_expiry),
        max_body_bytes: config.max_body_bytes,
    });
    http::spawn_expiry(Arc::clone(&state));

    let listener = tokio::net::TcpListener::bind(&config.http_listen_addr)
        .await
        .map_err(|source| ServerError::Bind { addr: config.http_listen_addr.clone(), source })?;
    let http_addr =
        listener.local_addr().map_err(|source| ServerError::Bind { addr: config.http_listen_addr.clone(), source })?;
    let app = http::router(Arc::clone(&state), config.max_body_bytes);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });

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
