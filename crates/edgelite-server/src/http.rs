//! The user HTTP API: Hrana over HTTP, HTTP API v1, sync v2, health and version.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{DefaultBodyLimit, OriginalUri, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use serde::Deserialize;
use serde_json::json;

use crate::AppState;
use crate::auth::{AuthError, bearer};
use crate::exec::{self, Perm};
use crate::namespace::{Namespace, NsError, Pull, Session};
use crate::proto::{Batch, Error as HranaError, Stmt, StreamRequest};

/// Frames returned by one pull at most (the clients ask for 128).
const MAX_PULL_FRAMES: u32 = 1024;

/// Open HTTP streams at most (each holds a connection until closed or expired).
const MAX_STREAMS: usize = 4096;

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

    fn internal(message: impl Into<String>) -> ApiError {
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
            _ => ApiError::internal(e.to_string()),
        }
    }
}

fn body_error(r: &BytesRejection) -> ApiError {
    let status = r.status();
    let code = if status == StatusCode::PAYLOAD_TOO_LARGE { "BODY_TOO_LARGE" } else { "BAD_REQUEST" };
    ApiError::new(status, code, r.body_text())
}

fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("malformed request body: {e}")))
}

/// A Hrana request's JSON body, with the namespace it is for and the caller's permission.
async fn read_request<T: serde::de::DeserializeOwned>(
    state: &AppState,
    headers: &HeaderMap,
    uri: &OriginalUri,
    body: Result<Bytes, BytesRejection>,
) -> Result<(T, Arc<Namespace>, Perm), ApiError> {
    let body = body.map_err(|e| body_error(&e))?;
    let (ns, perm) = resolve(state, headers, &uri.0).await?;
    Ok((parse_json(&body)?, ns, perm))
}

/// Which namespace a request is for (spec §6) and what its token allows.
pub async fn resolve(
    state: &AppState,
    headers: &HeaderMap,
    uri: &axum::http::Uri,
) -> Result<(Arc<Namespace>, Perm), ApiError> {
    let name = namespace_name(state.enable_namespaces, headers, uri.path())?;
    let ns = state.namespaces.get(&name).ok_or_else(|| {
        ApiError::new(StatusCode::NOT_FOUND, "NAMESPACE_DOESNT_EXIST", format!("namespace {name:?} does not exist"))
    })?;
    let token = bearer(headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()));
    let perm = ns.auth().unwrap_or(&state.auth).check(token, &name)?;
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
}

struct Entry {
    session: Session,
    last: Instant,
}

impl HttpStreams {
    /// An empty map with an idle timeout.
    #[must_use]
    pub fn new(timeout: Duration) -> HttpStreams {
        HttpStreams { live: Mutex::new(HashMap::new()), expired: Mutex::new(HashMap::new()), timeout }
    }

    /// The session a baton names, or a new one without a baton.
    fn resume(&self, baton: Option<&str>, ns: Arc<Namespace>) -> Result<Session, ApiError> {
        match baton {
            Some(b) => self.take(b, &ns),
            None => self.open(ns),
        }
    }

    fn take(&self, baton: &str, ns: &Namespace) -> Result<Session, ApiError> {
        let mut live = self.live.lock().map_err(|_| ApiError::internal("lock poisoned"))?;
        let entry = live.remove(baton);
        match entry {
            Some(e) if e.session.ns.name == ns.name => Ok(e.session),
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

    /// A new session, unless too many streams are open (each holds a database connection).
    fn open(&self, ns: Arc<Namespace>) -> Result<Session, ApiError> {
        let open = self.live.lock().map(|l| l.len()).unwrap_or(0);
        if open >= MAX_STREAMS {
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "TOO_MANY_STREAMS",
                "too many open streams; retry later",
            ));
        }
        Ok(Session::new(ns))
    }

    /// Keeps `session` under a new baton; `None` (the session is dropped, its transaction
    /// rolled back) if the system has no random numbers: a guessable baton would hand one
    /// client's stream to another.
    fn put(&self, session: Session) -> Option<String> {
        let baton = crate::random_token()?;
        let mut live = self.live.lock().ok()?;
        match live.entry(baton.clone()) {
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(Entry { session, last: Instant::now() });
                Some(baton)
            }
            std::collections::hash_map::Entry::Occupied(_) => None,
        }
    }

    fn expire(&self) {
        let now = Instant::now();
        let mut gone = Vec::new();
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
        }
        if let Ok(mut expired) = self.expired.lock() {
            expired.retain(|_, t| now.duration_since(*t) < Duration::from_secs(600));
            for (k, _) in &gone {
                expired.insert(k.clone(), now);
            }
        }
        // Dropping the sessions rolls back their transactions and returns their connections.
        drop(gone);
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
        .route("/v3/cursor", post(cursor))
        .route("/info", get(info))
        .route("/export/{g}", get(export))
        .route("/sync/{g}/{start}/{end}", get(pull).post(push))
        .route("/sync/{g}/{start}/{end}/{baton}", post(push));
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

fn result_json(r: Result<crate::proto::StreamResponse, HranaError>) -> serde_json::Value {
    match r {
        Ok(resp) => json!({"type": "ok", "response": resp}),
        Err(error) => json!({"type": "error", "error": error}),
    }
}

/// Runs `f` on a session off the async workers, with the namespace's gate held.
async fn on_session<T: Send + 'static>(
    session: Session,
    f: impl FnOnce(&mut Session) -> T + Send + 'static,
) -> Result<(Session, T), ApiError> {
    let ns = Arc::clone(&session.ns);
    let guard = ns.enter().await;
    let out = tokio::task::spawn_blocking(move || {
        let mut session = session;
        let out = f(&mut session);
        // Keeps the committed-frame count fresh for the checkpoint threshold.
        if session.take_committed() {
            let _ = session.ns.position();
        }
        drop(guard);
        (session, out)
    })
    .await
    .map_err(|e| ApiError::internal(format!("request failed: {e}")))?;
    ns.maybe_checkpoint();
    Ok(out)
}

async fn pipeline(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    uri: OriginalUri,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let (req, ns, perm) = read_request::<PipelineBody>(&state, &headers, &uri, body).await?;
    let session = state.streams.resume(req.baton.as_deref(), ns)?;
    let requests = req.requests;
    let (session, (results, closed)) = on_session(session, move |s| {
        let mut closed = false;
        let mut budget = exec::Budget::default();
        let mut results = Vec::with_capacity(requests.len());
        for r in requests {
            if closed {
                results.push(result_json(Err(HranaError::new("STREAM_CLOSED", "the stream was closed"))));
                continue;
            }
            if matches!(r, StreamRequest::Close {}) {
                closed = true;
            }
            results.push(result_json(s.run(perm, r, &mut budget)));
        }
        (results, closed)
    })
    .await?;
    let baton = if closed { None } else { state.streams.put(session) };
    Ok(Json(json!({"baton": baton, "base_url": null, "results": results})).into_response())
}

#[derive(Deserialize)]
struct CursorBody {
    #[serde(default)]
    baton: Option<String>,
    batch: Batch,
}

async fn cursor(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    uri: OriginalUri,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let (req, ns, perm) = read_request::<CursorBody>(&state, &headers, &uri, body).await?;
    let session = state.streams.resume(req.baton.as_deref(), ns)?;
    let batch = req.batch;
    let (session, entries) =
        on_session(session, move |s| s.with_conn(perm, |conn, sqls| exec::batch_cursor(conn, sqls, perm, &batch)))
            .await?;
    let entries = entries.unwrap_or_else(|error| vec![crate::proto::CursorEntry::Error { error }]);
    let baton = state.streams.put(session);
    let mut out = serde_json::to_string(&json!({"baton": baton, "base_url": null}))
        .map_err(|e| ApiError::internal(e.to_string()))?;
    out.push('\n');
    for e in entries {
        out.push_str(&serde_json::to_string(&e).map_err(|e| ApiError::internal(e.to_string()))?);
        out.push('\n');
    }
    Ok(([(header::CONTENT_TYPE, "text/plain")], out).into_response())
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
    headers: HeaderMap,
    uri: OriginalUri,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let (req, ns, perm) = read_request::<V1Execute>(&state, &headers, &uri, body).await?;
    v1(ns, perm, StreamRequest::Execute { stmt: req.stmt }).await
}

async fn v1_batch(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    uri: OriginalUri,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let (req, ns, perm) = read_request::<V1Batch>(&state, &headers, &uri, body).await?;
    v1(ns, perm, StreamRequest::Batch { batch: req.batch }).await
}

/// HTTP API v1: one request on a session of its own; `{"result": ...}`, or 400 with the error.
async fn v1(ns: Arc<Namespace>, perm: Perm, request: StreamRequest) -> Result<Response, ApiError> {
    let (_, r) = on_session(Session::new(ns), move |s| s.run(perm, request, &mut exec::Budget::default())).await?;
    match r {
        Ok(crate::proto::StreamResponse::Execute { result }) => Ok(Json(json!({"result": result})).into_response()),
        Ok(crate::proto::StreamResponse::Batch { result }) => Ok(Json(json!({"result": result})).into_response()),
        Ok(_) => Err(ApiError::internal("unexpected response")),
        Err(e) => Ok((StatusCode::BAD_REQUEST, Json(json!({"message": e.message, "code": e.code}))).into_response()),
    }
}

async fn info(State(state): State<Arc<AppState>>, headers: HeaderMap, uri: OriginalUri) -> Result<Response, ApiError> {
    let (ns, _) = resolve(&state, &headers, &uri.0).await?;
    Ok(Json(json!({"current_generation": ns.generation()?})).into_response())
}

fn param(params: &HashMap<String, String>, name: &str) -> Result<u32, ApiError> {
    params
        .get(name)
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| ApiError::bad_request(format!("path parameter {name} must be a 32-bit unsigned integer")))
}

async fn export(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    uri: OriginalUri,
    Path(params): Path<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let (ns, _) = resolve(&state, &headers, &uri.0).await?;
    let g = param(&params, "g")?;
    let path = ns.export_path(g).ok_or_else(|| {
        ApiError::new(StatusCode::NOT_FOUND, "GENERATION_NOT_FOUND", format!("no export for generation {g}"))
    })?;
    let bytes = tokio::fs::read(path).await.map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response())
}

async fn pull(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    uri: OriginalUri,
    Path(params): Path<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let (ns, _) = resolve(&state, &headers, &uri.0).await?;
    // The clients read every 400 and 500 of a pull as {"generation": G} and retry only other
    // 5xx: a bad path is answered with the current generation, a failure with 503.
    let unavailable = |e: String| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "UNAVAILABLE", e);
    let (Ok(g), Ok(start), Ok(end)) = (param(&params, "g"), param(&params, "start"), param(&params, "end")) else {
        let current = ns.generation().map_err(|e| unavailable(e.to_string()))?;
        return Ok((StatusCode::BAD_REQUEST, Json(json!({"generation": current}))).into_response());
    };
    let guard = ns.enter().await;
    let me = Arc::clone(&ns);
    let r = tokio::task::spawn_blocking(move || {
        let r = me.pull(g, start, end, MAX_PULL_FRAMES);
        drop(guard);
        r
    })
    .await
    .map_err(|e| unavailable(e.to_string()))?
    .map_err(|e| unavailable(e.to_string()))?;
    Ok(match r {
        Pull::Frames(bytes) => ([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response(),
        // The clients read any 400 as "end of this generation; the current one is G".
        Pull::EndOfGeneration(cur) => (StatusCode::BAD_REQUEST, Json(json!({"generation": cur}))).into_response(),
    })
}

async fn push(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    uri: OriginalUri,
    Path(params): Path<HashMap<String, String>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body.map_err(|e| body_error(&e))?;
    let (ns, perm) = resolve(&state, &headers, &uri.0).await?;
    if perm != Perm::ReadWrite {
        return Err(ApiError::new(StatusCode::FORBIDDEN, "AUTH_READ_ONLY", "a read-only token cannot push frames"));
    }
    let (g, start, end) = (param(&params, "g")?, param(&params, "start")?, param(&params, "end")?);
    let baton = params.get("baton").cloned();
    let guard = ns.enter().await;
    let me = Arc::clone(&ns);
    let r = tokio::task::spawn_blocking(move || {
        let r = me.push(g, start, end, baton.as_deref(), &body);
        drop(guard);
        r
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))??;
    ns.maybe_checkpoint();
    Ok(Json(r).into_response())
}
