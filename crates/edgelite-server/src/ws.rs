//! Hrana over WebSocket (`hrana3`, `hrana2`, `hrana1`, JSON text frames; docs/sync-protocol.md §3).
//!
//! Requests on one socket are handled in arrival order, which keeps each stream's requests
//! serial as the spec requires. The token arrives in `hello`, not in the upgrade headers; the
//! namespace comes from the upgrade request.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::http::{HeaderMap, Uri};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value as Json, json};

use crate::AppState;
use crate::auth::now_secs;
use crate::exec::{self, Perm, SqlStore};
use crate::http::{ApiError, namespace_name};
use crate::limits::{Full, Slot, json_size};
use crate::namespace::{Namespace, NsError, Session};
use crate::proto::{Batch, CursorEntry, Error as HranaError, Stmt, StreamRequest};

/// Answers the upgrade, choosing the newest Hrana version the client offers.
pub async fn upgrade(state: Arc<AppState>, headers: HeaderMap, uri: Uri, ws: WebSocketUpgrade) -> Response {
    let name = match namespace_name(state.enable_namespaces, &headers, uri.path()) {
        Ok(n) => n,
        Err(e) => return e.into_response(),
    };
    // Opened at hello, once the token is checked.
    let ns = None::<Arc<Namespace>>;
    // The token only arrives in hello: until then a socket counts among the sockets waiting
    // for one (server-wide, each for --header-read-timeout-secs at most), and only a valid
    // hello charges it to its namespace, so sockets without a token cannot use up a
    // namespace's share.
    let slot = match state.ws_pending.take("") {
        Ok(s) => s,
        Err(_) => {
            return ApiError::new(
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                "TOO_MANY_CONNECTIONS",
                "the server has its maximum of WebSocket connections waiting for hello (--max-ws-connections); \
                 retry later",
            )
            .into_response();
        }
    };
    // The HTTP body limit applies to messages too (the library's default is 64 MiB).
    let limit = state.max_body_bytes;
    ws.protocols(["hrana3", "hrana2", "hrana1"])
        .max_message_size(limit)
        .max_frame_size(limit)
        .on_upgrade(move |socket| async move {
            let _ = serve(state, ns, name, socket, slot).await;
        })
        .into_response()
}

/// How often a socket's streams are checked for idleness and long transactions.
const HOUSEKEEPING: Duration = Duration::from_millis(500);
/// Ids of expired streams remembered per socket (to answer `STREAM_EXPIRED`).
const MAX_EXPIRED_IDS: usize = 1024;
/// Cursors one socket may hold open (each holds its result, up to the response limit).
const MAX_WS_CURSORS: usize = 8;

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ClientMsg {
    Hello {
        #[serde(default)]
        jwt: Option<String>,
    },
    Request {
        request_id: i64,
        request: Json,
    },
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum WsRequest {
    OpenStream {
        stream_id: i64,
    },
    CloseStream {
        stream_id: i64,
    },
    Execute {
        stream_id: i64,
        stmt: Stmt,
    },
    Batch {
        stream_id: i64,
        batch: Batch,
    },
    Sequence {
        stream_id: i64,
        #[serde(default)]
        sql: Option<String>,
        #[serde(default)]
        sql_id: Option<i32>,
    },
    Describe {
        stream_id: i64,
        #[serde(default)]
        sql: Option<String>,
        #[serde(default)]
        sql_id: Option<i32>,
    },
    StoreSql {
        sql_id: i32,
        sql: String,
    },
    CloseSql {
        sql_id: i32,
    },
    GetAutocommit {
        stream_id: i64,
    },
    OpenCursor {
        stream_id: i64,
        cursor_id: i64,
        batch: Batch,
    },
    FetchCursor {
        cursor_id: i64,
        max_count: u32,
    },
    CloseCursor {
        cursor_id: i64,
    },
}

struct Conn {
    ns: Option<Arc<Namespace>>,
    name: String,
    perm: Option<Perm>,
    /// The token's `exp`: requests after it are refused until a new `hello`.
    expires: Option<u64>,
    streams: HashMap<i64, WsStream>,
    expired: HashSet<i64>,
    sqls: SqlStore,
    cursors: HashMap<i64, VecDeque<CursorEntry>>,
    max_streams: usize,
    max_response: usize,
    /// Turns to run SQL (shared by the server).
    turns: Arc<crate::limits::Scheduler>,
}

struct WsStream {
    session: Session,
    last: Instant,
}

async fn send(socket: &mut WebSocket, v: Json) -> Result<(), axum::Error> {
    socket.send(Message::Text(v.to_string().into())).await
}

async fn serve(
    state: Arc<AppState>,
    ns: Option<Arc<Namespace>>,
    name: String,
    mut socket: WebSocket,
    pending: Slot,
) -> Result<(), axum::Error> {
    // Held until the first valid hello, then exchanged for a place in the namespace's share.
    let mut pending = Some(pending);
    let mut admitted: Option<Slot> = None;
    let mut c = Conn {
        ns,
        name,
        perm: None,
        expires: None,
        streams: HashMap::new(),
        expired: HashSet::new(),
        sqls: SqlStore::new(),
        cursors: HashMap::new(),
        max_streams: state.limits.max_ws_streams,
        turns: Arc::clone(&state.turns),
        max_response: state.limits.max_response_size,
    };
    let mut said_hello = false;
    let opened = Instant::now();
    let mut tick = tokio::time::interval(HOUSEKEEPING);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let result = loop {
        let msg = tokio::select! {
            msg = socket.recv() => msg,
            _ = tick.tick() => {
                // A socket holds a place under the WebSocket caps: without a valid hello in
                // time (as an HTTP request's headers), it gives it back.
                if pending.is_some() && opened.elapsed() > state.limits.header_read_timeout {
                    break Ok(());
                }
                housekeeping(&mut c, state.stream_expiry, state.limits.txn_timeout).await;
                continue;
            }
        };
        let Some(msg) = msg else { break Ok(()) };
        let text = match msg {
            Ok(Message::Text(t)) => t,
            Ok(Message::Close(_)) => break Ok(()),
            Ok(Message::Ping(_) | Message::Pong(_)) => continue,
            // A binary frame on a JSON subprotocol is a protocol error: close.
            Ok(Message::Binary(_)) => break Ok(()),
            Err(e) => break Err(e),
        };
        let Ok(msg) = serde_json::from_str::<ClientMsg>(text.as_str()) else {
            break Ok(());
        };
        match msg {
            ClientMsg::Hello { jwt } => {
                said_hello = true;
                let checked = match state.namespaces.key(&c.name) {
                    Err(NsError::NotFound(_)) => {
                        Err(HranaError::new("NAMESPACE_DOESNT_EXIST", format!("namespace {:?} does not exist", c.name)))
                    }
                    Err(e) => Err(HranaError::new("INTERNAL", e.to_string())),
                    Ok(key) => key
                        .as_deref()
                        .unwrap_or(&state.auth)
                        .grant(jwt.as_deref(), &c.name)
                        .map_err(|e| HranaError::new(e.code(), e.to_string())),
                };
                // The socket holds its namespace open from its first valid hello on.
                let checked = match checked {
                    Ok(g) if c.ns.is_none() => match state.namespaces.fetch(&c.name).await {
                        Ok(ns) => {
                            c.ns = Some(ns);
                            Ok(g)
                        }
                        Err(NsError::NotFound(_)) => Err(HranaError::new(
                            "NAMESPACE_DOESNT_EXIST",
                            format!("namespace {:?} does not exist", c.name),
                        )),
                        Err(NsError::TooManyOpen(m)) => Err(HranaError::new("TOO_MANY_OPEN_DATABASES", m)),
                        Err(e) => Err(HranaError::new("SQLITE_CANTOPEN", e.to_string())),
                    },
                    other => other,
                };
                let checked = checked.and_then(|g| {
                    if admitted.is_none() {
                        admitted = Some(state.ws_connections.take(&c.name).map_err(|full| {
                            let (what, flag) = match full {
                                Full::Namespace => ("this namespace has", "--max-ws-connections-per-namespace"),
                                Full::Server => ("the server has", "--max-ws-connections"),
                            };
                            HranaError::new(
                                "TOO_MANY_CONNECTIONS",
                                format!("{what} its maximum of WebSocket connections ({flag}); retry later"),
                            )
                        })?);
                        pending = None;
                    }
                    Ok(g)
                });
                match checked {
                    Ok(g) => {
                        c.perm = Some(g.perm);
                        c.expires = g.expires;
                        if let Err(e) = send(&mut socket, json!({"type": "hello_ok"})).await {
                            break Err(e);
                        }
                    }
                    Err(error) => {
                        let _ = send(&mut socket, json!({"type": "hello_error", "error": error})).await;
                        break Ok(());
                    }
                }
            }
            ClientMsg::Request { request_id, request } => {
                let (Some(perm), true) = (c.perm, said_hello) else { break Ok(()) };
                // The namespace's request rate under contention, as for HTTP requests: the
                // socket's next message is not read until this one's place comes.
                state.pacer.pace(&c.name).await;
                let reply = if c.expires.is_some_and(|exp| now_secs() > exp) {
                    // The token has expired since hello: nothing more runs under it (a new
                    // hello with a fresh token continues).
                    Err(HranaError::new("AUTH_JWT_EXPIRED", "the token has expired; send hello with a new one"))
                } else {
                    match serde_json::from_value::<WsRequest>(request) {
                        Ok(req) => handle(&mut c, perm, req).await,
                        Err(e) => Err(HranaError::new("PROTOCOL_ERROR", format!("bad request: {e}"))),
                    }
                };
                let reply = reply.and_then(|r| {
                    // Every byte of the reply counts against the response limit.
                    if json_size(&r) > c.max_response {
                        Err(HranaError::new(
                            "RESPONSE_TOO_LARGE",
                            format!(
                                "the response would be larger than the server's limit of {} bytes (--max-response-size)",
                                c.max_response
                            ),
                        ))
                    } else {
                        Ok(r)
                    }
                });
                let v = match reply {
                    Ok(response) => json!({"type": "response_ok", "request_id": request_id, "response": response}),
                    Err(mut error) => {
                        if state.replica.is_some() && error.code == "SQLITE_AUTH" {
                            // The copy's sessions refuse writes; only HTTP requests are forwarded.
                            error.message.push_str(
                                " (this server is a replica: over WebSocket it serves reads only; send writes \
                                 over HTTP, which forwards them, or to the primary)",
                            );
                        }
                        json!({"type": "response_error", "request_id": request_id, "error": error})
                    }
                };
                if let Err(e) = send(&mut socket, v).await {
                    break Err(e);
                }
            }
        }
    };
    // Dropping the sessions (in `c`) rolls back and returns their connections.
    tokio::task::spawn_blocking(move || drop(c)).await.ok();
    drop((pending, admitted));
    result
}

/// Closes streams idle longer than `expiry` and rolls back transactions open longer than
/// `txn_timeout`, as HTTP streams are: a socket's streams do not hold connections, and
/// transactions, for ever.
async fn housekeeping(c: &mut Conn, expiry: Duration, txn_timeout: Duration) {
    let now = Instant::now();
    let idle: Vec<i64> =
        c.streams.iter().filter(|(_, s)| now.duration_since(s.last) > expiry).map(|(k, _)| *k).collect();
    let mut gone = Vec::new();
    for id in idle {
        if let Some(s) = c.streams.remove(&id) {
            gone.push(s);
            if c.expired.len() < MAX_EXPIRED_IDS {
                c.expired.insert(id);
            }
        }
    }
    let stale: Vec<i64> =
        c.streams.iter().filter(|(_, s)| s.session.txn_open_longer_than(txn_timeout)).map(|(k, _)| *k).collect();
    let mut check: Vec<(i64, WsStream)> =
        stale.into_iter().filter_map(|id| c.streams.remove(&id).map(|s| (id, s))).collect();
    if gone.is_empty() && check.is_empty() {
        return;
    }
    let back = tokio::task::spawn_blocking(move || {
        let mut ended = Vec::new();
        for (_, s) in &mut check {
            if s.session.end_stale_txn(txn_timeout) {
                ended.push(Arc::clone(&s.session.ns));
            }
        }
        for s in gone {
            ended.push(Arc::clone(&s.session.ns));
            drop(s);
        }
        (check, ended)
    })
    .await;
    if let Ok((check, ended)) = back {
        c.streams.extend(check);
        for ns in ended {
            ns.maybe_checkpoint();
        }
    }
}

fn no_stream(c: &Conn, id: i64) -> HranaError {
    if c.expired.contains(&id) {
        HranaError::new("STREAM_EXPIRED", format!("stream {id} was closed after being idle (--stream-expiry-secs)"))
    } else {
        HranaError::new("STREAM_NOT_FOUND", format!("stream {id} is not open"))
    }
}

/// Runs `f` with a stream's session and the socket's SQL store on a blocking thread.
async fn on_stream<T: Send + 'static>(
    c: &mut Conn,
    stream_id: i64,
    f: impl FnOnce(&mut Session, &mut SqlStore) -> T + Send + 'static,
) -> Result<T, HranaError> {
    let mut session = match c.streams.remove(&stream_id) {
        Some(s) => s.session,
        None => return Err(no_stream(c, stream_id)),
    };
    let mut sqls = std::mem::take(&mut c.sqls);
    let ns = Arc::clone(&session.ns);
    if let Err(e) = ns.admit_request() {
        c.sqls = sqls;
        c.streams.insert(stream_id, WsStream { session, last: Instant::now() });
        return Err(HranaError::new(e.code, e.message));
    }
    ns.admit(session.in_txn()).await;
    let guard = ns.enter().await;
    let turn = c.turns.turn(&ns.name).await;
    let joined = tokio::task::spawn_blocking(move || {
        let out = turn.run(|| f(&mut session, &mut sqls));
        // Keeps the committed-frame count fresh for the checkpoint threshold, and stamps the
        // commit's time for the backup before it is answered.
        let committed = if session.take_committed() { session.ns.position().ok() } else { None };
        drop(guard);
        (session, sqls, out, committed)
    })
    .await;
    ns.maybe_checkpoint();
    let (session, sqls, out, committed) = joined.map_err(|e| HranaError::new("INTERNAL", e.to_string()))?;
    c.sqls = sqls;
    c.streams.insert(stream_id, WsStream { session, last: Instant::now() });
    if let Some(pos) = committed {
        ns.durable(pos).await.map_err(|e| HranaError::new(e.code, e.message))?;
    }
    Ok(out)
}

/// Runs one of the requests that HTTP pipelines carry too on stream `stream_id`, as the
/// response object of the WebSocket protocol.
async fn run(c: &mut Conn, perm: Perm, stream_id: i64, req: StreamRequest) -> Result<Json, HranaError> {
    let r = on_stream(c, stream_id, move |s, sqls| {
        s.with_conn(perm, |conn, _| exec::run_request(conn, sqls, perm, req, &mut exec::Budget::default()))
    })
    .await?;
    serde_json::to_value(r??).map_err(|e| HranaError::new("INTERNAL", e.to_string()))
}

async fn handle(c: &mut Conn, perm: Perm, req: WsRequest) -> Result<Json, HranaError> {
    match req {
        WsRequest::OpenStream { stream_id } => {
            let ns = c.ns.clone().ok_or_else(|| HranaError::new("NAMESPACE_DOESNT_EXIST", "no namespace"))?;
            if c.streams.len() >= c.max_streams {
                return Err(HranaError::new(
                    "TOO_MANY_STREAMS",
                    format!("at most {} streams may be open on one connection (--max-ws-streams)", c.max_streams),
                ));
            }
            if c.streams.contains_key(&stream_id) {
                return Err(HranaError::new("STREAM_EXISTS", format!("stream {stream_id} is already open")));
            }
            c.expired.remove(&stream_id);
            c.streams.insert(stream_id, WsStream { session: Session::new(ns), last: Instant::now() });
            Ok(json!({"type": "open_stream"}))
        }
        WsRequest::CloseStream { stream_id } => {
            if let Some(s) = c.streams.remove(&stream_id) {
                tokio::task::spawn_blocking(move || drop(s)).await.ok();
            }
            Ok(json!({"type": "close_stream"}))
        }
        WsRequest::StoreSql { sql_id, sql } => {
            exec::store_sql(&mut c.sqls, sql_id, sql)?;
            Ok(json!({"type": "store_sql"}))
        }
        WsRequest::CloseSql { sql_id } => {
            c.sqls.remove(&sql_id);
            Ok(json!({"type": "close_sql"}))
        }
        WsRequest::Execute { stream_id, stmt } => run(c, perm, stream_id, StreamRequest::Execute { stmt }).await,
        WsRequest::Batch { stream_id, batch } => run(c, perm, stream_id, StreamRequest::Batch { batch }).await,
        WsRequest::Sequence { stream_id, sql, sql_id } => {
            run(c, perm, stream_id, StreamRequest::Sequence { sql, sql_id }).await
        }
        WsRequest::Describe { stream_id, sql, sql_id } => {
            run(c, perm, stream_id, StreamRequest::Describe { sql, sql_id }).await
        }
        WsRequest::GetAutocommit { stream_id } => run(c, perm, stream_id, StreamRequest::GetAutocommit {}).await,
        WsRequest::OpenCursor { stream_id, cursor_id, batch } => {
            if c.cursors.contains_key(&cursor_id) {
                return Err(HranaError::new("CURSOR_EXISTS", format!("cursor {cursor_id} is already open")));
            }
            // Each cursor holds its whole result until fetched or closed.
            if c.cursors.len() >= MAX_WS_CURSORS {
                return Err(HranaError::new("TOO_MANY_CURSORS", "too many cursors open on this connection"));
            }
            let entries = on_stream(c, stream_id, move |s, sqls| {
                s.with_conn(perm, |conn, _| exec::batch_cursor(conn, sqls, perm, &batch))
            })
            .await??;
            c.cursors.insert(cursor_id, entries.into());
            Ok(json!({"type": "open_cursor"}))
        }
        WsRequest::FetchCursor { cursor_id, max_count } => {
            let q = c
                .cursors
                .get_mut(&cursor_id)
                .ok_or_else(|| HranaError::new("CURSOR_NOT_FOUND", format!("cursor {cursor_id} is not open")))?;
            let n = (max_count as usize).min(q.len());
            let entries: Vec<CursorEntry> = q.drain(..n).collect();
            Ok(json!({"type": "fetch_cursor", "entries": entries, "done": q.is_empty()}))
        }
        WsRequest::CloseCursor { cursor_id } => {
            c.cursors.remove(&cursor_id);
            Ok(json!({"type": "close_cursor"}))
        }
    }
}
