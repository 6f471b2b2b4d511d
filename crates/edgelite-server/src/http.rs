//! The user HTTP API: Hrana over HTTP, HTTP API v1, sync v2, health and version.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::rejection::BytesRejection;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{DefaultBodyLimit, Extension, OriginalUri, Path, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use serde::Deserialize;
use serde_json::json;

use crate::AppState;
use crate::auth::{AuthError, bearer};
use crate::exec::{self, Perm};
use crate::limits::{Full, Gauge, Slot, json_size};
use crate::namespace::{Namespace, NsError, Pull, Session};
use crate::proto::{Batch, Error as HranaError, Stmt, StreamRequest};

/// Frames returned by one pull at most (the clients ask for 128).
const MAX_PULL_FRAMES: u32 = 1024;

/// An error answered with a status and a JSON body (`error`, plus Hrana's `message`/`code`).
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
    code: &'static str,
}

impl ApiError {
    /// An error with a status, a code and a message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError { status, message: message.into(), code }
    }

    fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "BAD_REQUEST", message)
    }

    pub(crate) fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL", message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({"error": self.message, "message": self.message, "code": self.code}))).into_response()
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> ApiError {
        let status = match e {
            AuthError::Forbidden(_) => StatusCode::FORBIDDEN,
            _ => StatusCode::UNAUTHORIZED,
        };
        ApiError::new(status, e.code(), e.to_string())
    }
}

impl From<NsError> for ApiError {
    fn from(e: NsError) -> ApiError {
        match e {
            NsError::NotFound(_) => ApiError::new(StatusCode::NOT_FOUND, "NAMESPACE_DOESNT_EXIST", e.to_string()),
            NsError::BadRequest(_) | NsError::InvalidName(_) => ApiError::bad_request(e.to_string()),
            NsError::Exists(_) => ApiError::new(StatusCode::CONFLICT, "NAMESPACE_EXISTS", e.to_string()),
            NsError::Busy(_) => ApiError::new(StatusCode::CONFLICT, "BUSY", e.to_string()),
            NsError::TooLarge(_) => ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "BODY_TOO_LARGE", e.to_string()),
            NsError::Limit(_) => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "TOO_MANY_CONNECTIONS", e.to_string()),
            NsError::TooManyOpen(_) => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "TOO_MANY_OPEN_DATABASES", e.to_string())
            }
            NsError::Quota(_) => ApiError::new(StatusCode::INSUFFICIENT_STORAGE, "SQLITE_FULL", e.to_string()),
            _ => ApiError::internal(e.to_string()),
        }
    }
}

pub(crate) fn body_error(r: &BytesRejection) -> ApiError {
    let status = r.status();
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        return ApiError::new(status, "BODY_TOO_LARGE", r.body_text());
    }
    // The body did not arrive within --body-read-timeout-secs (tower-http's timeout body).
    let timed_out = std::error::Error::source(r).is_some_and(|e| {
        let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
        while let Some(c) = cause {
            if c.is::<tower_http::timeout::TimeoutError>() {
                return true;
            }
            cause = c.source();
        }
        false
    });
    if timed_out {
        return ApiError::new(StatusCode::REQUEST_TIMEOUT, "BODY_TIMEOUT", "the request body did not arrive in time");
    }
    ApiError::new(status, "BAD_REQUEST", r.body_text())
}

fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("malformed request body: {e}")))
}

/// A Hrana request's JSON body, with the namespace it is for and the caller's permission
/// (found by [`authenticate`] before the body was read).
fn read_request<T: serde::de::DeserializeOwned>(
    caller: Caller,
    body: Result<Bytes, BytesRejection>,
) -> Result<(T, Arc<Namespace>, Perm), ApiError> {
    let body = body.map_err(|e| body_error(&e))?;
    Ok((parse_json(&body)?, caller.ns, caller.perm))
}

/// Who a request is from: its namespace and what its token allows there.
#[derive(Clone)]
pub struct Caller {
    /// The namespace.
    pub ns: Arc<Namespace>,
    /// The permission.
    pub perm: Perm,
}

/// Resolves the namespace and checks the token from the headers alone, before any handler
/// reads the body: a request without a valid token costs no more than its headers. Also
/// holds the request's place under the per-namespace and server-wide caps on requests in
/// progress while it runs (a body arriving slowly included).
pub async fn authenticate(State(state): State<Arc<AppState>>, mut req: Request, next: Next) -> Response {
    let uri = req.extensions().get::<OriginalUri>().map_or_else(|| req.uri().clone(), |u| u.0.clone());
    let (ns, perm) = match resolve(&state, req.headers(), &uri).await {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    let slot = match state.requests.take(&ns.name) {
        Ok(s) => s,
        Err(full) => {
            let (what, flag) = match full {
                Full::Namespace => ("this namespace has", "--max-concurrent-requests-per-namespace"),
                Full::Server => ("the server has", "--max-concurrent-requests"),
            };
            return ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "TOO_MANY_REQUESTS",
                format!("{what} its maximum of requests in progress ({flag}); retry later"),
            )
            .into_response();
        }
    };
    // Past its rate while others are busy, a namespace's request waits here, before its body
    // is read (holding its place under the caps above, which bound how many wait).
    state.pacer.pace(&ns.name).await;
    let slot = RequestSlot(Arc::new(Mutex::new(Some(slot))));
    req.extensions_mut().insert(Caller { ns, perm });
    req.extensions_mut().insert(slot.clone());
    let response = next.run(req).await;
    drop(slot);
    response
}

/// A request's place under the request caps, held by [`authenticate`] while the request runs; a
/// handler that waits without using the database (a long-polling pull) gives it back early.
#[derive(Clone)]
pub struct RequestSlot(Arc<Mutex<Option<Slot>>>);

impl RequestSlot {
    /// Gives the place back now.
    pub fn release(&self) {
        if let Ok(mut s) = self.0.lock() {
            s.take();
        }
    }
}

/// Serves the user API: each connection with its place under `--max-http-connections` (more
/// wait in the kernel's backlog until one closes) and `--max-http-connections-per-address`
/// (more from that address are closed at once, so that one client cannot hold every place),
/// its request headers within `--header-read-timeout-secs`. This is `axum::serve` with those
/// settings, which it does not expose (hyper's HTTP/1 builder, with upgrades for WebSockets).
pub async fn serve(listener: tokio::net::TcpListener, app: Router, limits: crate::Limits) {
    use hyper_util::rt::{TokioIo, TokioTimer};
    let header_timeout = limits.header_read_timeout;
    let permits = Arc::new(tokio::sync::Semaphore::new(limits.max_http_connections.max(1)));
    // Keyed by address: the per-namespace cap of a gauge is the per-address cap here.
    let per_address = Gauge::new(limits.max_http_connections_per_address.max(1), usize::MAX);
    loop {
        let Ok(permit) = Arc::clone(&permits).acquire_owned().await else { return };
        let stream = match listener.accept().await {
            Ok((stream, peer)) => match per_address.take(&peer.ip().to_string()) {
                Ok(slot) => (stream, slot),
                // Closed at once: dropping the socket (and the permit) ends it.
                Err(_) => continue,
            },
            // Out of descriptors or the like: the connections already open go on; try again soon.
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        let (stream, slot) = stream;
        let _ = stream.set_nodelay(true);
        let service = hyper_util::service::TowerToHyperService::new(app.clone());
        tokio::spawn(async move {
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder.timer(TokioTimer::new()).header_read_timeout(header_timeout);
            let _ = builder.serve_connection(TokioIo::new(stream), service).with_upgrades().await;
            drop((permit, slot));
        });
    }
}

/// Which namespace a request is for (docs/sync-protocol.md §6) and what its token allows.
pub async fn resolve(
    state: &AppState,
    headers: &HeaderMap,
    uri: &axum::http::Uri,
) -> Result<(Arc<Namespace>, Perm), ApiError> {
    let name = namespace_name(state.enable_namespaces, headers, uri.path())?;
    // The token is checked before the database is opened: a request without a valid one
    // costs no open (and closes no other tenant's idle database).
    let key = state.namespaces.key(&name)?;
    let token = bearer(headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()));
    let perm = key.as_deref().unwrap_or(&state.auth).check(token, &name)?;
    let ns = state.namespaces.fetch(&name).await?;
    Ok((ns, perm))
}

/// The namespace name of a request.
///
/// # Errors
///
/// A malformed `x-namespace-bin`.
pub fn namespace_name(enabled: bool, headers: &HeaderMap, path: &str) -> Result<String, ApiError> {
    if !enabled {
        return Ok("default".into());
    }
    if let Some(rest) = path.strip_prefix("/dev/")
        && let Some(ns) = rest.split('/').next()
        && !ns.is_empty()
    {
        return Ok(ns.to_owned());
    }
    if let Some(v) = headers.get("x-namespace-bin").and_then(|v| v.to_str().ok()) {
        let bytes = base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(v.trim().trim_end_matches('='))
            .map_err(|_| ApiError::bad_request("x-namespace-bin is not base64"))?;
        return String::from_utf8(bytes).map_err(|_| ApiError::bad_request("x-namespace-bin is not UTF-8"));
    }
    if let Some(v) = headers.get("x-namespace").and_then(|v| v.to_str().ok()) {
        return Ok(v.trim().to_owned());
    }
    if let Some(host) = headers.get(header::HOST).and_then(|v| v.to_str().ok()) {
        let host = host
            .rsplit_once(':')
            .map_or(host, |(h, port)| if port.bytes().all(|b| b.is_ascii_digit()) { h } else { host });
        let host = host.trim_start_matches('[').trim_end_matches(']');
        // An address or a bare name (localhost) names no namespace.
        if host.parse::<IpAddr>().is_err()
            && let Some((label, _)) = host.split_once('.')
        {
            return Ok(label.to_owned());
        }
    }
    Ok("default".into())
}

/// Open HTTP streams, by baton. A baton is a fresh random 128-bit token per response, so it
/// cannot be forged or replayed: a used baton is no longer in the map.
pub struct HttpStreams {
    live: Mutex<HashMap<String, Entry>>,
    expired: Mutex<HashMap<String, Instant>>,
    timeout: Duration,
    txn_timeout: Duration,
    /// Open streams per namespace and in all: one tenant cannot take them all.
    count: Arc<Gauge>,
}

struct Entry {
    stream: Stream,
    last: Instant,
}

/// A stream between requests, with its place under the stream caps.
pub struct Stream {
    session: Session,
    _slot: Option<Slot>,
    /// The namespace's position (generation, frames) after this stream's last request that
    /// committed, sent back in `x-edgelite-position` (read-your-writes through replicas).
    committed_at: Option<(u32, u32)>,
}

impl HttpStreams {
    /// An empty map with an idle timeout, a transaction timeout and the stream caps.
    #[must_use]
    pub fn new(timeout: Duration, txn_timeout: Duration, count: Arc<Gauge>) -> HttpStreams {
        HttpStreams {
            live: Mutex::new(HashMap::new()),
            expired: Mutex::new(HashMap::new()),
            timeout,
            txn_timeout,
            count,
        }
    }

    /// The SQL stored on the local stream a baton names (`None`: no such stream here). A replica
    /// server reads it to decide whether the stream's next request can run locally.
    pub(crate) fn stored_sqls(&self, baton: &str) -> Option<exec::SqlStore> {
        self.live.lock().ok()?.get(baton).map(|e| e.stream.session.sqls.clone())
    }

    /// Ends the local stream a baton names and hands back its stored SQL: a replica server moves
    /// the stream to the primary when it first writes (never inside a transaction: a local
    /// stream's `BEGIN` already went to the primary).
    pub(crate) fn detach(&self, baton: &str, ns: &Namespace) -> Result<exec::SqlStore, ApiError> {
        let stream = self.take(baton, ns)?;
        Ok(stream.session.sqls.clone())
    }

    /// The stream a baton names, or a new one without a baton.
    fn resume(&self, baton: Option<&str>, ns: Arc<Namespace>) -> Result<Stream, ApiError> {
        match baton {
            Some(b) => self.take(b, &ns),
            None => self.open(ns),
        }
    }

    fn take(&self, baton: &str, ns: &Namespace) -> Result<Stream, ApiError> {
        let mut live = self.live.lock().map_err(|_| ApiError::internal("lock poisoned"))?;
        let entry = live.remove(baton);
        match entry {
            Some(e) if e.stream.session.ns.name == ns.name => Ok(e.stream),
            Some(e) => {
                // Not its owner's request: the stream stays as it was.
                live.insert(baton.to_owned(), e);
                Err(ApiError::new(StatusCode::BAD_REQUEST, "STREAM_INVALID", "the baton belongs to another namespace"))
            }
            None => {
                let was_expired = self.expired.lock().map(|m| m.contains_key(baton)).unwrap_or(false);
                if was_expired {
                    Err(ApiError::new(StatusCode::BAD_REQUEST, "STREAM_EXPIRED", "the stream has expired"))
                } else {
                    Err(ApiError::new(StatusCode::BAD_REQUEST, "STREAM_INVALID", "invalid or already used baton"))
                }
            }
        }
    }

    /// A new stream, unless its namespace or the server has too many open. At the cap, the least
    /// recently used stream outside a transaction makes room (see [`HttpStreams::evict_idle`]).
    fn open(&self, ns: Arc<Namespace>) -> Result<Stream, ApiError> {
        let slot = self.count.take(&ns.name).or_else(|full| {
            // Only the namespace's own streams: another tenant's are never ended to make room.
            if full == Full::Namespace && self.evict_idle(&ns.name, false) {
                self.count.take(&ns.name)
            } else {
                Err(full)
            }
        });
        let slot = slot.map_err(|full| {
            let (what, flag) = match full {
                Full::Namespace => ("this namespace has", "--max-http-streams-per-namespace"),
                Full::Server => ("the server has", "--max-http-streams"),
            };
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "TOO_MANY_STREAMS",
                format!("{what} its maximum of open streams ({flag}); close streams or retry later"),
            )
        })?;
        Ok(Stream { session: Session::new(ns), _slot: Some(slot), committed_at: None })
    }

    /// Ends namespace `ns`'s least recently used stream outside a transaction (only one holding a
    /// database connection if `with_conn`): its baton then answers
    /// `STREAM_EXPIRED`, as after an expiry. Clients that never close their streams (Turso's sync
    /// client leaves every push stream open) would otherwise keep the stream and connection caps
    /// full for the expiry time. Streams inside a transaction are never ended early. Returns
    /// whether one was ended.
    fn evict_idle(&self, ns: &str, with_conn: bool) -> bool {
        let victim = {
            let Ok(mut live) = self.live.lock() else { return false };
            let key = live
                .iter()
                .filter(|(_, e)| {
                    let s = &e.stream.session;
                    !s.in_txn() && (!with_conn || s.holds_conn()) && s.ns.name == ns
                })
                .min_by_key(|(_, e)| e.last)
                .map(|(k, _)| k.clone());
            key.and_then(|k| live.remove(&k).map(|e| (k, e)))
        };
        let Some((k, e)) = victim else { return false };
        if let Ok(mut expired) = self.expired.lock() {
            expired.insert(k, Instant::now());
        }
        // Outside a transaction, dropping the session only gives its connection back.
        drop(e);
        true
    }

    /// Makes room under the namespace's connection cap for one of its requests by ending its idle
    /// streams that hold connections (a few at most per request).
    fn make_room_for_conn(&self, ns: &Namespace, limits: &crate::Limits) {
        for _ in 0..4 {
            if ns.conns_held().0 < limits.max_concurrent_connections || !self.evict_idle(&ns.name, true) {
                return;
            }
        }
    }

    /// Keeps `stream` under a new baton; `None` (the session is dropped, its transaction
    /// rolled back) if the system has no random numbers: a guessable baton would hand one
    /// client's stream to another.
    fn put(&self, stream: Stream) -> Option<String> {
        let baton = crate::random_token()?;
        let mut live = self.live.lock().ok()?;
        match live.entry(baton.clone()) {
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(Entry { stream, last: Instant::now() });
                Some(baton)
            }
            std::collections::hash_map::Entry::Occupied(_) => None,
        }
    }

    /// Closes idle streams and rolls back transactions open too long. Blocking.
    fn expire(&self) {
        let now = Instant::now();
        let mut gone = Vec::new();
        let mut timed_out = Vec::new();
        if let Ok(mut live) = self.live.lock() {
            let stale: Vec<String> = live
                .iter()
                .filter(|(_, e)| now.duration_since(e.last) > self.timeout)
                .map(|(k, _)| k.clone())
                .collect();
            for k in stale {
                if let Some(e) = live.remove(&k) {
                    gone.push((k, e));
                }
            }
            // A client can keep a stream from expiring with a request now and then; its
            // transaction must still end, or it postpones the namespace's checkpoint for ever.
            for e in live.values_mut() {
                if e.stream.session.end_stale_txn(self.txn_timeout) {
                    timed_out.push(Arc::clone(&e.stream.session.ns));
                }
            }
        }
        if let Ok(mut expired) = self.expired.lock() {
            expired.retain(|_, t| now.duration_since(*t) < Duration::from_secs(600));
            for (k, _) in &gone {
                expired.insert(k.clone(), now);
            }
        }
        // Dropping the sessions rolls back their transactions and returns their connections.
        for (_, e) in gone {
            timed_out.push(Arc::clone(&e.stream.session.ns));
            drop(e);
        }
        // The checkpoint those transactions held back can run now.
        for ns in timed_out {
            ns.maybe_checkpoint();
        }
    }
}

/// Expires idle streams once a second.
pub fn spawn_expiry(state: Arc<AppState>) {
    let weak = Arc::downgrade(&state);
    drop(state);
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let Some(state) = weak.upgrade() else { return };
            // Rolling back happens in Drop; keep it off the async workers.
            let _ = tokio::task::spawn_blocking(move || state.streams.expire()).await;
        }
    });
}

/// The user-facing router.
pub fn router(state: Arc<AppState>, max_body: usize) -> Router {
    let api = Router::new()
        .route("/v1/execute", post(v1_execute))
        .route("/v1/batch", post(v1_batch))
        .route("/v2/pipeline", post(pipeline))
        .route("/v3/pipeline", post(pipeline))
        .route("/v3/cursor", post(cursor));
    let api = if state.replica.is_some() {
        // A replica's copies are not the primary's WAL: sync clients are passed to the primary.
        let proxy = crate::replica_server::proxy;
        api.route("/info", get(proxy))
            .route("/export/{g}", get(proxy))
            .route("/sync/{g}/{start}/{end}", get(proxy).post(proxy))
            .route("/sync/{g}/{start}/{end}/{baton}", post(proxy))
            .route("/pull-updates", post(proxy))
    } else {
        api.route("/info", get(info))
            .route("/export/{g}", get(export))
            .route("/sync/{g}/{start}/{end}", get(pull).post(push))
            .route("/sync/{g}/{start}/{end}/{baton}", post(push))
            .route("/pull-updates", post(crate::pull_updates::pull_updates))
    };
    let api = api
        // Every API route: the token is checked from the headers before the body is read,
        // and a body that does not arrive in time ends the request.
        .route_layer(axum::middleware::from_fn_with_state(Arc::clone(&state), authenticate))
        .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(state.limits.body_read_timeout));
    Router::new()
        .route("/", get(root))
        .route("/health", get(|| async { StatusCode::OK }))
        .route("/version", get(|| async { concat!("edgelite-server ", env!("CARGO_PKG_VERSION")) }))
        .route("/v1", get(|| async { StatusCode::OK }))
        .route("/v2", get(|| async { StatusCode::OK }))
        .route("/v3", get(|| async { StatusCode::OK }))
        .merge(api.clone())
        .nest("/dev/{ns}", api)
        .layer(DefaultBodyLimit::max(max_body))
        .with_state(state)
}

async fn root(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    uri: OriginalUri,
    ws: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Response {
    match ws {
        Ok(ws) => crate::ws::upgrade(state, headers, uri.0, ws).await,
        Err(_) => (StatusCode::OK, "edgelite-server: use /v2/pipeline, /v3/pipeline or a WebSocket\n").into_response(),
    }
}

#[derive(Deserialize)]
struct PipelineBody {
    #[serde(default)]
    baton: Option<String>,
    requests: Vec<StreamRequest>,
}

/// One result of a pipeline, as it is sent.
#[derive(serde::Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum PipelineResult {
    Ok { response: crate::proto::StreamResponse },
    Error { error: HranaError },
}

/// A pipeline result serialized once: its size is measured on the very bytes that are sent,
/// and the work is done on the blocking thread that ran the request, not on an async worker.
fn result_text(r: Result<crate::proto::StreamResponse, HranaError>) -> String {
    let r = match r {
        Ok(response) => PipelineResult::Ok { response },
        Err(error) => PipelineResult::Error { error },
    };
    serde_json::to_string(&r).unwrap_or_else(|e| {
        let error = HranaError::new("INTERNAL", format!("the result could not be serialized: {e}"));
        serde_json::to_string(&PipelineResult::Error { error }).unwrap_or_default()
    })
}

/// Runs `f` on a stream's session off the async workers, with the namespace's gate held and a
/// turn to run SQL (`crate::limits::Scheduler`).
async fn on_session<T: Send + 'static>(
    state: &AppState,
    stream: Stream,
    f: impl FnOnce(&mut Session) -> T + Send + 'static,
) -> Result<(Stream, T), ApiError> {
    let ns = Arc::clone(&stream.session.ns);
    ns.admit_request().map_err(not_durable)?;
    ns.admit(stream.session.in_txn()).await;
    let guard = ns.enter().await;
    let turn = state.turns.turn(&ns.name).await;
    let (out, committed) = tokio::task::spawn_blocking(move || {
        let mut stream = stream;
        let out = turn.run(|| f(&mut stream.session));
        // Keeps the committed-frame count fresh for the checkpoint threshold, and stamps the
        // commit's time for the backup before it is answered.
        let committed = if stream.session.take_committed() { stream.session.ns.position().ok() } else { None };
        stream.committed_at = committed;
        drop(guard);
        ((stream, out), committed)
    })
    .await
    .map_err(|e| ApiError::internal(format!("request failed: {e}")))?;
    ns.maybe_checkpoint();
    if let Some(pos) = committed {
        ns.durable(pos).await.map_err(not_durable)?;
    }
    Ok(out)
}

/// A request refused, or a committed write that is not as durable as `--durability` asks
/// (`backup` or `replica`), or a cluster primary whose lease ran out.
fn not_durable(e: crate::namespace::Unavailable) -> ApiError {
    ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.code, e.message)
}

fn too_large(flag: &str, limit: usize) -> HranaError {
    HranaError::new(
        "RESPONSE_TOO_LARGE",
        format!("the response would be larger than the server's limit of {limit} bytes ({flag})"),
    )
}

/// The size limits of responses: each result, and each HTTP body in all.
#[derive(Clone, Copy)]
struct SizeLimits {
    one: usize,
    total: usize,
}

impl SizeLimits {
    fn of(state: &AppState) -> SizeLimits {
        SizeLimits { one: state.limits.max_response_size, total: state.limits.max_total_response_size }
    }
}

/// On a replica server, where a Hrana request runs (see `crate::replica_server`): `Some` when the
/// primary answered it.
async fn replica_route(
    state: &Arc<AppState>,
    caller: &Caller,
    headers: &HeaderMap,
    uri: &axum::http::Uri,
    kind: crate::replica_server::Kind,
    body: &Result<Bytes, BytesRejection>,
) -> Result<Option<Response>, ApiError> {
    let (Some(rep), Ok(bytes)) = (&state.replica, body) else { return Ok(None) };
    match rep.route(state, caller, headers, uri.path(), kind, bytes).await? {
        crate::replica_server::Route::Local => Ok(None),
        crate::replica_server::Route::Done(r) => Ok(Some(r)),
    }
}

async fn pipeline(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    if let Some(r) =
        replica_route(&state, &caller, &headers, &uri, crate::replica_server::Kind::Pipeline, &body).await?
    {
        return Ok(r);
    }
    let (req, ns, perm) = read_request::<PipelineBody>(caller, body)?;
    state.streams.make_room_for_conn(&ns, &state.limits);
    let stream = state.streams.resume(req.baton.as_deref(), ns)?;
    let requests = req.requests;
    let size = SizeLimits::of(&state);
    let (stream, (results, closed)) = on_session(&state, stream, move |s| {
        let mut closed = false;
        let mut budget = exec::Budget::default();
        // Every byte of the answer counts: rows, column names and types, describe results,
        // errors, the JSON around them.
        let mut results = String::from("[");
        let mut over = None;
        for r in requests {
            if results.len() > 1 {
                results.push(',');
            }
            if closed {
                results.push_str(&result_text(Err(HranaError::new("STREAM_CLOSED", "the stream was closed"))));
                continue;
            }
            if matches!(r, StreamRequest::Close {}) {
                closed = true;
            }
            if let Some(e) = &over {
                // Not run: its answer could not be sent.
                results.push_str(&result_text(Err(HranaError::clone(e))));
                continue;
            }
            let text = result_text(s.run(perm, r, &mut budget));
            let e = if text.len() > size.one {
                Some(too_large("--max-response-size", size.one))
            } else if results.len().saturating_add(text.len()) > size.total {
                Some(too_large("--max-total-response-size", size.total))
            } else {
                None
            };
            match e {
                Some(e) => {
                    results.push_str(&result_text(Err(e.clone())));
                    over = Some(e);
                }
                None => results.push_str(&text),
            }
        }
        results.push(']');
        (results, closed)
    })
    .await?;
    let position = position_header(&stream);
    let baton = if closed { None } else { state.streams.put(stream) };
    let head = format!(
        "{{\"baton\":{},\"base_url\":null,\"results\":",
        serde_json::to_string(&baton).map_err(|e| ApiError::internal(e.to_string()))?
    );
    // The results go out as they are, not copied into one more buffer.
    let len = head.len() + results.len() + 1;
    let parts = [Bytes::from(head), Bytes::from(results), Bytes::from_static(b"}")];
    let body = Body::from_stream(futures_util::stream::iter(parts.into_iter().map(Ok::<_, std::convert::Infallible>)));
    Ok((
        position,
        [(header::CONTENT_TYPE, "application/json".to_owned()), (header::CONTENT_LENGTH, len.to_string())],
        body,
    )
        .into_response())
}

/// `x-edgelite-position: G/N` when the stream's last request committed: the namespace's
/// generation and committed frames just after it. A replica server waits until it has applied
/// that position before it answers a write it forwarded (read-your-writes).
fn position_header(stream: &Stream) -> HeaderMap {
    let mut h = HeaderMap::new();
    if let Some((g, n)) = stream.committed_at
        && let Ok(v) = axum::http::HeaderValue::from_str(&format!("{g}/{n}"))
    {
        h.insert(crate::replica_server::POSITION_HEADER, v);
    }
    h
}

#[derive(Deserialize)]
struct CursorBody {
    #[serde(default)]
    baton: Option<String>,
    batch: Batch,
}

async fn cursor(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    if let Some(r) = replica_route(&state, &caller, &headers, &uri, crate::replica_server::Kind::Cursor, &body).await? {
        return Ok(r);
    }
    let (req, ns, perm) = read_request::<CursorBody>(caller, body)?;
    state.streams.make_room_for_conn(&ns, &state.limits);
    let stream = state.streams.resume(req.baton.as_deref(), ns)?;
    let batch = req.batch;
    let (stream, entries) = on_session(&state, stream, move |s| {
        s.with_conn(perm, |conn, sqls| exec::batch_cursor(conn, sqls, perm, &batch))
    })
    .await?;
    let entries = entries.unwrap_or_else(|error| vec![crate::proto::CursorEntry::Error { error }]);
    let position = position_header(&stream);
    let baton = state.streams.put(stream);
    let mut out = serde_json::to_string(&json!({"baton": baton, "base_url": null}))
        .map_err(|e| ApiError::internal(e.to_string()))?;
    out.push('\n');
    let size = SizeLimits::of(&state);
    for e in entries {
        let line = serde_json::to_string(&e).map_err(|e| ApiError::internal(e.to_string()))?;
        if out.len().saturating_add(line.len()) > size.total {
            // The cursor ends with an error entry in place of what would not fit.
            let error = too_large("--max-total-response-size", size.total);
            out.push_str(&serde_json::to_string(&crate::proto::CursorEntry::Error { error }).unwrap_or_default());
            out.push('\n');
            break;
        }
        out.push_str(&line);
        out.push('\n');
    }
    Ok((position, [(header::CONTENT_TYPE, "text/plain")], out).into_response())
}

#[derive(Deserialize)]
struct V1Execute {
    stmt: Stmt,
}

#[derive(Deserialize)]
struct V1Batch {
    batch: Batch,
}

async fn v1_execute(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    if let Some(r) = replica_route(&state, &caller, &headers, &uri, crate::replica_server::Kind::V1, &body).await? {
        return Ok(r);
    }
    let (req, ns, perm) = read_request::<V1Execute>(caller, body)?;
    v1(&state, ns, perm, StreamRequest::Execute { stmt: req.stmt }).await
}

async fn v1_batch(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    if let Some(r) = replica_route(&state, &caller, &headers, &uri, crate::replica_server::Kind::V1, &body).await? {
        return Ok(r);
    }
    let (req, ns, perm) = read_request::<V1Batch>(caller, body)?;
    v1(&state, ns, perm, StreamRequest::Batch { batch: req.batch }).await
}

/// HTTP API v1: one request on a session of its own; `{"result": ...}`, or 400 with the error.
async fn v1(state: &AppState, ns: Arc<Namespace>, perm: Perm, request: StreamRequest) -> Result<Response, ApiError> {
    let stream = Stream { session: Session::new(ns), _slot: None, committed_at: None };
    let (stream, r) = on_session(state, stream, move |s| s.run(perm, request, &mut exec::Budget::default())).await?;
    let position = position_header(&stream);
    drop(stream);
    let limit = SizeLimits::of(state).one;
    let r = match r {
        Ok(crate::proto::StreamResponse::Execute { result }) => json!({"result": result}),
        Ok(crate::proto::StreamResponse::Batch { result }) => json!({"result": result}),
        Ok(_) => return Err(ApiError::internal("unexpected response")),
        Err(e) => {
            return Ok((StatusCode::BAD_REQUEST, Json(json!({"message": e.message, "code": e.code}))).into_response());
        }
    };
    if json_size(&r) > limit {
        let e = too_large("--max-response-size", limit);
        return Ok((StatusCode::BAD_REQUEST, Json(json!({"message": e.message, "code": e.code}))).into_response());
    }
    Ok((position, Json(r)).into_response())
}

async fn info(Extension(caller): Extension<Caller>) -> Result<Response, ApiError> {
    Ok(Json(json!({"current_generation": caller.ns.generation()?})).into_response())
}

fn param(params: &HashMap<String, String>, name: &str) -> Result<u32, ApiError> {
    params
        .get(name)
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| ApiError::bad_request(format!("path parameter {name} must be a 32-bit unsigned integer")))
}

/// 409 with the current generation: a pull the replica cannot go on from, which it must answer
/// by bootstrapping again.
fn bootstrap_again(code: &str, error: &str, current: u32) -> Response {
    (StatusCode::CONFLICT, Json(json!({"error": error, "code": code, "generation": current}))).into_response()
}

/// The export file, streamed in chunks: a database of any size costs a chunk of memory.
async fn export(
    Extension(caller): Extension<Caller>,
    Path(params): Path<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let g = param(&params, "g")?;
    // An export never changes once written (a new generation writes a new file), so the
    // length read here is the length sent. One that does not exist (never made, or removed:
    // --max-archived-generations) is found so by the open itself, with no window between a
    // check and the open.
    let path = caller.ns.generation_dir(g).join("export.db");
    let file = tokio::fs::File::open(path).await.map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            ApiError::new(StatusCode::NOT_FOUND, "GENERATION_NOT_FOUND", format!("no export for generation {g}"))
        } else {
            ApiError::internal(e.to_string())
        }
    })?;
    let len = file.metadata().await.map_err(|e| ApiError::internal(e.to_string()))?.len();
    let chunks = futures_util::stream::try_unfold(file, |mut file| async move {
        use tokio::io::AsyncReadExt as _;
        let mut buf = Vec::with_capacity(64 << 10);
        let n = (&mut file).take(64 << 10).read_to_end(&mut buf).await?;
        Ok::<_, std::io::Error>((n > 0).then(|| (Bytes::from(buf), file)))
    });
    Ok((
        [(header::CONTENT_TYPE, "application/octet-stream".to_owned()), (header::CONTENT_LENGTH, len.to_string())],
        Body::from_stream(chunks),
    )
        .into_response())
}

/// A replica server's acknowledgement on a waiting pull: its name and the salts of the frames
/// it holds (`edgelite::replica::Builder::acknowledge`).
fn replica_ack(headers: &HeaderMap) -> Option<(String, crate::namespace::Salts)> {
    let node = headers.get(crate::replica_server::ACK_HEADER)?.to_str().ok()?;
    let node: String = node.chars().filter(char::is_ascii_graphic).take(64).collect();
    if node.is_empty() {
        return None;
    }
    let salts = match headers.get(crate::replica_server::ACK_SALTS_HEADER) {
        None => None,
        Some(v) => {
            let (a, b) = v.to_str().ok()?.split_once('-')?;
            Some((a.trim().parse().ok()?, b.trim().parse().ok()?))
        }
    };
    Some((node, salts))
}

/// The longest a pull may be held open by `x-edgelite-wait-ms` (see [`pull`]).
const MAX_PULL_WAIT: Duration = Duration::from_secs(30);

/// `GET /sync/{g}/{start}/{end}`. An `edgelite-server` extension for replica servers (and any
/// `edgelite::replica` that asks, see `Replica::sync_wait`): with `x-edgelite-wait-ms: N`, a
/// pull that finds no new frame in the current generation waits up to N ms (at most 30 s) for
/// a commit instead of answering the end of the generation at once, so that a replica follows
/// the primary within a round trip without polling.
async fn pull(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Extension(slot): Extension<RequestSlot>,
    headers: HeaderMap,
    Path(params): Path<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let ns = caller.ns;
    // The clients read every 400 and 500 of a pull as {"generation": G} and retry only other
    // 5xx: a bad path is answered with the current generation, a failure with 503.
    let unavailable = |e: String| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "UNAVAILABLE", e);
    let (Ok(g), Ok(start), Ok(end)) = (param(&params, "g"), param(&params, "start"), param(&params, "end")) else {
        let current = ns.generation().map_err(|e| unavailable(e.to_string()))?;
        return Ok((StatusCode::BAD_REQUEST, Json(json!({"generation": current}))).into_response());
    };
    let wait = headers
        .get(crate::replica_server::WAIT_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(|ms| Duration::from_millis(ms).min(MAX_PULL_WAIT));
    let deadline = wait.map(|w| Instant::now() + w);
    // A replica server's waiting pull acknowledges what it holds (`--durability replica`).
    let mut ack = wait.and_then(|_| replica_ack(&headers));
    // Subscribed before the first look: a commit between the look and the wait still wakes it.
    let mut moved = ns.watch_position();
    let mut released = false;
    loop {
        let guard = ns.enter().await;
        let turn = state.turns.turn(&ns.name).await;
        let me = Arc::clone(&ns);
        let acked = ack.take();
        let (r, taken) = tokio::task::spawn_blocking(move || {
            let taken = acked.map(|(node, salts)| {
                let held = me.replica_holds(&node, g, start.saturating_sub(1), salts);
                (node, held.unwrap_or(false))
            });
            let r = turn.run(|| me.pull(g, start, end, MAX_PULL_FRAMES));
            drop(guard);
            (r, taken)
        })
        .await
        .map_err(|e| unavailable(e.to_string()))?;
        if let Some((node, true)) = taken {
            state.replicas_seen.seen(&node);
        }
        let r = match r.map_err(|e| unavailable(e.to_string()))? {
            // libSQL's offline replicas number their own frames on after the end of a generation
            // (libsql#2122) and read the 400 as its end: only an asker that says its frame
            // numbers are the primary's own is told it is ahead.
            Pull::Ahead(cur) if !headers.contains_key(crate::replica_server::STRICT_HEADER) => {
                Pull::EndOfGeneration(cur)
            }
            r => r,
        };
        match r {
            Pull::Frames(bytes) => {
                return Ok(([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response());
            }
            // Not 400 for either: the clients would take it for the end of the generation and
            // apply the next one over frames this history never had, or without this one's.
            Pull::Ahead(cur) => {
                let error = format!(
                    "frame {start} of generation {g} is past this database's history (its generation {g} has fewer \
                     frames): the replica has commits that were lost (a failover) or belong to an earlier database of \
                     this name; bootstrap it again"
                );
                return Ok(bootstrap_again("REPLICA_AHEAD", &error, cur));
            }
            Pull::Gone(cur) => {
                let error = format!(
                    "generation {g}'s frames are no longer kept on this server (--max-archived-generations, or \
                     removed): the replica cannot catch up from it; bootstrap it again"
                );
                return Ok(bootstrap_again("GENERATION_GONE", &error, cur));
            }
            Pull::EndOfGeneration(cur) => {
                let left = deadline.map_or(Duration::ZERO, |d| d.saturating_duration_since(Instant::now()));
                if cur != g || left.is_zero() {
                    // The clients read any 400 as "end of this generation; the current one is G".
                    return Ok((StatusCode::BAD_REQUEST, Json(json!({"generation": cur}))).into_response());
                }
                if !released {
                    // A waiting pull holds no database resource: its place under the request caps
                    // goes back, so that waiting replicas cannot starve other requests.
                    slot.release();
                    released = true;
                }
                if tokio::time::timeout(left, moved.changed()).await.is_ok_and(|r| r.is_err()) {
                    // The namespace closed under us: answer what we have.
                    return Ok((StatusCode::BAD_REQUEST, Json(json!({"generation": cur}))).into_response());
                }
            }
        }
    }
}

async fn push(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(params): Path<HashMap<String, String>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let (ns, perm) = (caller.ns, caller.perm);
    if perm != Perm::ReadWrite {
        return Err(ApiError::new(StatusCode::FORBIDDEN, "AUTH_READ_ONLY", "a read-only token cannot push frames"));
    }
    let body = body.map_err(|e| body_error(&e))?;
    let (g, start, end) = (param(&params, "g")?, param(&params, "start")?, param(&params, "end")?);
    let baton = params.get("baton").cloned();
    ns.admit_request().map_err(not_durable)?;
    let guard = ns.enter().await;
    let turn = state.turns.turn(&ns.name).await;
    let me = Arc::clone(&ns);
    let (r, pos) = tokio::task::spawn_blocking(move || {
        let r = turn.run(|| me.push(g, start, end, baton.as_deref(), &body));
        let pos = me.position().ok();
        drop(guard);
        r.map(|r| (r, pos))
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))??;
    ns.maybe_checkpoint();
    if let Some(pos) = pos {
        ns.durable(pos).await.map_err(not_durable)?;
    }
    Ok(Json(r).into_response())
}
