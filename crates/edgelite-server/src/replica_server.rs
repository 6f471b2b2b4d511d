//! Replica mode (`--primary-url`): this server keeps a copy of every namespace of a primary
//! `edgelite-server`, answers reads from it, and forwards writes to the primary.
//!
//! **Copies.** Each namespace of the primary (listed by its admin API, `GET /v1/namespaces`,
//! every `--replica-discovery-ms`) is an embedded replica ([`edgelite::replica`]) at the usual
//! place, `<db-path>/dbs/<ns>/data`: bootstrapped from the primary's export, then following its
//! WAL frames with one long-polling pull at a time (`x-edgelite-wait-ms`, see the primary's
//! `/sync` handler), each batch applied in one local transaction that ends on a primary commit.
//! A namespace the primary no longer lists is deleted here. The server's own namespace code
//! never writes these files ([`crate::namespace::Settings::replica`]). The primary's frames are
//! also kept as applied, in its archive format (`gens/<g>/frames`), so that a replica promoted
//! by a cluster (`crate::cluster`) serves the same history.
//!
//! **Routing.** A Hrana request over HTTP runs locally when everything in it only reads.
//! It goes to the primary when it holds a statement that writes (as SQLite prepares it on the
//! local copy), transaction control (`BEGIN`, `COMMIT`, `SAVEPOINT`, ...), a `sequence`, or a
//! statement that does not prepare here (a table created earlier in the same request): the
//! stream then stays on the primary until it closes, so an interactive transaction runs
//! entirely there. The replica hands out its own batons and maps them to the primary's.
//! Sync endpoints (`/info`, `/export`, `/sync`, `/pull-updates`) are passed to the primary, so
//! embedded replicas may use a replica server's URL.
//!
//! **Read-your-writes.** The primary answers a request that committed with
//! `x-edgelite-position: G/N` (its generation and committed frames just after). The replica
//! waits until its copy has applied that position before it answers the forwarded write (at
//! most `--replica-read-your-writes-timeout-ms`), so any read that follows on this replica sees
//! the write. A client may also send the header on a read, which then waits the same way.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{OriginalUri, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use edgelite::replica::{Builder, Replica};
use serde_json::{Value, json};

use crate::AppState;
use crate::exec::{Perm, SqlStore};
use crate::http::{ApiError, Caller};
use crate::namespace::{Namespace, Namespaces, NsError, Session};

/// The sync headers of `edgelite::replica` that this server reads: `x-edgelite-wait-ms` (hold a
/// pull with nothing new), `x-edgelite-strict` (its frame numbers are the primary's own, so a
/// pull past the end of a generation is answered 409 `REPLICA_AHEAD`), and a replica server's
/// acknowledgement, `x-edgelite-replica-ack` (its name, `--advertise-url`: the waiting pull of
/// `/sync/{g}/{start}/..` says it holds generation g's frames before `start`) with
/// `x-edgelite-replica-salts` (`S1-S2`, the salts of the frames held).
pub use edgelite::replica::{ACK_HEADER, ACK_SALTS_HEADER, STRICT_HEADER, WAIT_HEADER};
/// The response header with the primary's position after a commit, `G/N`.
pub const POSITION_HEADER: &str = "x-edgelite-position";

/// How long one pull may wait on the primary for a commit.
const PULL_WAIT: Duration = Duration::from_secs(5);
/// Forwarded streams unused this long are forgotten (the primary expires them sooner).
const FORWARDED_TTL: Duration = Duration::from_secs(300);

/// Settings of replica mode (the `--primary-*` and `--replica-*` flags).
#[derive(Clone, Debug)]
pub struct ReplicaConfig {
    /// The primary's user API, `http://host:port`.
    pub primary_url: String,
    /// The primary's admin API, to list its namespaces; without it only `default` is copied.
    pub primary_admin_url: Option<String>,
    /// The token the replication presents to the primary (read access to every namespace).
    pub auth_token: Option<String>,
    /// How often the primary's namespace list is read.
    pub discovery_interval: Duration,
    /// The longest a forwarded write waits for its commit to be applied here.
    pub read_your_writes_timeout: Duration,
    /// This node's name for the primary (`--advertise-url`): what the primary's
    /// `GET /v1/replication` lists, and what its `--durability replica` counts.
    pub node: String,
}

impl ReplicaConfig {
    /// Defaults for everything but the primary's URL.
    #[must_use]
    pub fn new(primary_url: String) -> ReplicaConfig {
        ReplicaConfig {
            primary_url: primary_url.trim_end_matches('/').to_owned(),
            primary_admin_url: None,
            auth_token: None,
            discovery_interval: Duration::from_secs(1),
            read_your_writes_timeout: Duration::from_secs(5),
            node: "replica".to_owned(),
        }
    }
}

/// One namespace being followed.
struct Follower {
    /// The position applied: (generation, frame) in the primary's numbering.
    applied: tokio::sync::watch::Receiver<(u32, u32)>,
    last_error: Arc<Mutex<Option<String>>>,
    stop: Arc<AtomicBool>,
    /// Set by the thread, which then ends, when the primary's database is no longer the one
    /// copied (deleted and made again): the next discovery round copies it anew.
    diverged: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Follower {
    fn stop(mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A stream that lives on the primary: the replica's baton names it.
struct Forwarded {
    primary_baton: String,
    ns: String,
    last: Instant,
}

/// The replication of a replica server: the followers and the forwarded streams.
pub struct Replication {
    config: ReplicaConfig,
    client: reqwest13::Client,
    namespaces: Namespaces,
    followers: Mutex<HashMap<String, Follower>>,
    forwarded: Mutex<HashMap<String, Forwarded>>,
    stopped: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Whether a replication error means the copy is of another database than the primary's now.
fn is_diverged(e: &edgelite::Error) -> bool {
    matches!(e, edgelite::Error::Replication(r) if r.kind() == edgelite::replica::ErrorKind::Diverged)
}

fn bad_gateway(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_GATEWAY, "PROXY_ERROR", message)
}

/// `G/N` → (G, N).
fn parse_position(v: &str) -> Option<(u32, u32)> {
    let (g, n) = v.trim().split_once('/')?;
    Some((g.parse().ok()?, n.parse().ok()?))
}

impl Replication {
    /// Follows the namespaces already copied under the data directory, reads the primary's list
    /// once (so that a server starting next to a live primary serves at once), and keeps
    /// following it in a background task.
    ///
    /// # Errors
    ///
    /// The HTTP client cannot be built.
    pub async fn start(config: ReplicaConfig, namespaces: Namespaces) -> Result<Arc<Replication>, String> {
        // The HTTP client's TLS (an https:// primary) uses ring, as the backup's does.
        let _ = rustls::crypto::ring::default_provider().install_default();
        if !(config.primary_url.starts_with("http://") || config.primary_url.starts_with("https://")) {
            return Err(format!("--primary-url {:?} must be an http:// or https:// URL", config.primary_url));
        }
        let client = reqwest13::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| format!("building the HTTP client: {e}"))?;
        let me = Arc::new(Replication {
            config,
            client,
            namespaces,
            followers: Mutex::new(HashMap::new()),
            forwarded: Mutex::new(HashMap::new()),
            stopped: AtomicBool::new(false),
        });
        if let Err(e) = Arc::clone(&me).reconcile().await {
            eprintln!("edgelite-server: replica: {e}");
        }
        let weak = Arc::downgrade(&me);
        let every = me.config.discovery_interval;
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let Some(me) = weak.upgrade() else { return };
                if me.stopped.load(Ordering::Acquire) {
                    return;
                }
                if let Err(e) = me.reconcile().await {
                    eprintln!("edgelite-server: replica: {e}");
                }
            }
        });
        Ok(me)
    }

    /// Stops following (the copies stay as they are).
    pub async fn stop(self: &Arc<Self>) {
        self.stopped.store(true, Ordering::Release);
        let all: Vec<Follower> = lock(&self.followers).drain().map(|(_, f)| f).collect();
        let _ = tokio::task::spawn_blocking(move || all.into_iter().for_each(Follower::stop)).await;
    }

    /// The primary's user API.
    #[must_use]
    pub fn primary_url(&self) -> &str {
        &self.config.primary_url
    }

    /// The primary's namespaces.
    async fn primary_names(&self) -> Result<Vec<String>, String> {
        let Some(admin) = &self.config.primary_admin_url else { return Ok(vec!["default".to_owned()]) };
        let url = format!("{}/v1/namespaces", admin.trim_end_matches('/'));
        let r =
            self.client.get(&url).timeout(Duration::from_secs(10)).send().await.map_err(|e| format!("{url}: {e}"))?;
        let status = r.status();
        let body = r.bytes().await.map_err(|e| format!("{url}: {e}"))?;
        if !status.is_success() {
            return Err(format!("{url} answered {status}: {}", String::from_utf8_lossy(&body)));
        }
        let v: Value = serde_json::from_slice(&body).map_err(|e| format!("{url}: {e}"))?;
        let names = v["namespaces"].as_array().ok_or_else(|| format!("{url}: no namespaces in {v}"))?;
        Ok(names
            .iter()
            .filter_map(|n| n.as_str())
            .filter(|n| crate::namespace::valid_name(n))
            .map(str::to_owned)
            .collect())
    }

    /// Follows every namespace the primary has, and drops those it no longer has.
    async fn reconcile(self: Arc<Self>) -> Result<(), String> {
        let names = self.primary_names().await?;
        let diverged: Vec<(String, Follower)> = {
            let mut f = lock(&self.followers);
            let keys: Vec<String> =
                f.iter().filter(|(_, x)| x.diverged.load(Ordering::Acquire)).map(|(k, _)| k.clone()).collect();
            keys.into_iter().filter_map(|k| f.remove(&k).map(|x| (k, x))).collect()
        };
        for (name, f) in diverged {
            let me = Arc::clone(&self);
            let n = name.clone();
            let r = tokio::task::spawn_blocking(move || {
                f.stop();
                me.namespaces.delete(&n)
            })
            .await;
            eprintln!(
                "edgelite-server: replica: namespace {name:?} was made again on the primary: copying it anew ({r:?})"
            );
        }
        let followed: Vec<String> = lock(&self.followers).keys().cloned().collect();
        for gone in followed.iter().filter(|n| !names.contains(n)) {
            let f = lock(&self.followers).remove(gone);
            let me = Arc::clone(&self);
            let name = gone.clone();
            let r = tokio::task::spawn_blocking(move || {
                if let Some(f) = f {
                    f.stop();
                }
                me.namespaces.delete(&name)
            })
            .await;
            eprintln!("edgelite-server: replica: namespace {gone:?} is gone from the primary: deleted here ({r:?})");
        }
        for name in names.iter().filter(|n| !followed.contains(n)) {
            let me = Arc::clone(&self);
            let n = name.clone();
            let r = tokio::task::spawn_blocking(move || me.follow(&n)).await.map_err(|e| e.to_string())?;
            if let Err(e) = r {
                // Tried again at the next round.
                eprintln!("edgelite-server: replica: cannot copy namespace {name:?}: {e}");
            }
        }
        let mut fwd = lock(&self.forwarded);
        fwd.retain(|_, f| f.last.elapsed() < FORWARDED_TTL);
        Ok(())
    }

    /// Opens (bootstrapping if new) the copy of `name` and starts its follower thread. Blocking.
    fn follow(self: &Arc<Self>, name: &str) -> Result<(), NsError> {
        let builder = |dir: &Path| {
            let token = self.config.auth_token.as_deref().unwrap_or("");
            Builder::new_remote_replica(dir.join("data"), &self.config.primary_url, token)
                .namespace(name)
                .acknowledge(self.config.node.as_str())
                .on_frames(keep_frames(dir.to_owned(), name.to_owned(), self.namespaces.max_archived_generations()))
        };
        let existing = if self.namespaces.contains(name) {
            let r = builder(&self.namespaces.dir_of(name)).build()?;
            match r.sync() {
                Err(e) if is_diverged(&e) => {
                    eprintln!("edgelite-server: replica: namespace {name:?}: {e}; copying it anew");
                    drop(r);
                    self.namespaces.delete(name)?;
                    None
                }
                _ => Some(r),
            }
        } else {
            None
        };
        let replica = if let Some(r) = existing {
            r
        } else {
            let mut made = None;
            self.namespaces.create_with(name, |dir| {
                std::fs::create_dir_all(dir)?;
                let r = builder(dir).build()?;
                // Published caught up (the export alone is the generation's start).
                r.sync()?;
                made = Some(r);
                Ok(())
            })?;
            made.ok_or_else(|| NsError::Io(std::io::Error::other("the replica was not built")))?
        };
        // Caught up once before it is served: the export is the generation's start, and the
        // frames after it are the primary's recent commits.
        if let Err(e) = replica.sync() {
            eprintln!("edgelite-server: replica: namespace {name:?}: first sync: {e}");
        }
        let (tx, rx) = tokio::sync::watch::channel(replica.position());
        let stop = Arc::new(AtomicBool::new(false));
        let diverged = Arc::new(AtomicBool::new(false));
        let last_error = Arc::new(Mutex::new(None));
        let thread = {
            let (stop, diverged, last_error) = (Arc::clone(&stop), Arc::clone(&diverged), Arc::clone(&last_error));
            let ns = name.to_owned();
            thread::Builder::new()
                .name(format!("replica-{name}"))
                .spawn(move || follow_loop(&replica, &ns, &tx, &stop, &diverged, &last_error))
                .map_err(NsError::Io)?
        };
        lock(&self.followers)
            .insert(name.to_owned(), Follower { applied: rx, last_error, stop, diverged, thread: Some(thread) });
        eprintln!("edgelite-server: replica: following namespace {name:?}");
        Ok(())
    }

    /// Waits until namespace `ns` has applied `target` here; false on timeout.
    async fn wait_applied(&self, ns: &str, target: (u32, u32), timeout: Duration) -> bool {
        let Some(mut rx) = lock(&self.followers).get(ns).map(|f| f.applied.clone()) else { return false };
        matches!(tokio::time::timeout(timeout, rx.wait_for(|p| *p >= target)).await, Ok(Ok(_)))
    }

    /// Each followed namespace's position and last error (the admin API's `GET /v1/replication`).
    #[must_use]
    pub fn status(&self) -> Value {
        let f = lock(&self.followers);
        let mut names: Vec<&String> = f.keys().collect();
        names.sort();
        let ns: serde_json::Map<String, Value> = names
            .into_iter()
            .map(|n| {
                let x = &f[n];
                let (g, frame) = *x.applied.borrow();
                (n.clone(), json!({"generation": g, "frame": frame, "error": lock(&x.last_error).clone()}))
            })
            .collect();
        json!({"role": "replica", "primary": self.config.primary_url, "namespaces": ns})
    }
}

/// A follower thread: long-polling syncs until told to stop.
fn follow_loop(
    replica: &Replica,
    name: &str,
    applied: &tokio::sync::watch::Sender<(u32, u32)>,
    stop: &AtomicBool,
    diverged: &AtomicBool,
    last_error: &Mutex<Option<String>>,
) {
    let mut backoff = Duration::from_millis(50);
    while !stop.load(Ordering::Acquire) {
        let t = Instant::now();
        match replica.sync_wait(PULL_WAIT) {
            Ok(r) => {
                let pos = (r.generation, r.frame_no);
                applied.send_if_modified(|p| std::mem::replace(p, pos) != pos);
                if lock(last_error).take().is_some() {
                    eprintln!("edgelite-server: replica: namespace {name:?} is following the primary again");
                }
                backoff = Duration::from_millis(50);
                // A primary that does not hold pulls (or a wait cut short) must not make this spin.
                if r.frames_synced == 0 && t.elapsed() < Duration::from_millis(20) {
                    thread::sleep(Duration::from_millis(50));
                }
            }
            Err(e) => {
                let msg = e.to_string();
                if is_diverged(&e) {
                    eprintln!("edgelite-server: replica: namespace {name:?}: {msg}");
                    *lock(last_error) = Some(msg);
                    diverged.store(true, Ordering::Release);
                    return;
                }
                let mut last = lock(last_error);
                if last.as_deref() != Some(msg.as_str()) {
                    eprintln!("edgelite-server: replica: namespace {name:?}: {msg}");
                }
                *last = Some(msg);
                drop(last);
                thread::sleep(backoff);
                backoff = (backoff * 2).min(Duration::from_secs(2));
            }
        }
    }
}

/// Skips spaces and comments at the start of `sql`.
fn skip_comments(mut sql: &str) -> &str {
    loop {
        sql = sql.trim_start();
        if let Some(rest) = sql.strip_prefix("--") {
            sql = rest.split_once('\n').map_or("", |(_, r)| r);
        } else if let Some(rest) = sql.strip_prefix("/*") {
            sql = rest.split_once("*/").map_or("", |(_, r)| r);
        } else {
            return sql;
        }
    }
}

/// Whether a statement must run on the primary: it writes (as prepared on the copy), controls a
/// transaction, or does not prepare here.
fn needs_primary(conn: &edgelite::Connection, sql: &str) -> bool {
    let body = skip_comments(sql);
    let word: String = body.chars().take_while(char::is_ascii_alphabetic).collect::<String>().to_ascii_uppercase();
    if matches!(word.as_str(), "BEGIN" | "COMMIT" | "END" | "ROLLBACK" | "SAVEPOINT" | "RELEASE") {
        return true;
    }
    match conn.prepare(sql) {
        Ok(stmt) => !stmt.readonly(),
        Err(_) => true,
    }
}

/// The SQL texts a Hrana request runs (`None`: a request kind that always goes to the primary),
/// with `store_sql` applied to `sqls` as the stream would.
fn request_sqls(req: &Value, sqls: &mut SqlStore, out: &mut Vec<String>) -> Option<()> {
    let stmt_sql = |stmt: &Value, sqls: &SqlStore| -> Option<String> {
        if let Some(s) = stmt["sql"].as_str() {
            return Some(s.to_owned());
        }
        let id = i32::try_from(stmt["sql_id"].as_i64()?).ok()?;
        sqls.get(&id).cloned()
    };
    match req["type"].as_str()? {
        "execute" => out.push(stmt_sql(&req["stmt"], sqls)?),
        "batch" => {
            for step in req["batch"]["steps"].as_array()? {
                out.push(stmt_sql(&step["stmt"], sqls)?);
            }
        }
        "store_sql" => {
            let id = i32::try_from(req["sql_id"].as_i64()?).ok()?;
            sqls.insert(id, req["sql"].as_str()?.to_owned());
        }
        "close_sql" => {
            let id = i32::try_from(req["sql_id"].as_i64()?).ok()?;
            sqls.remove(&id);
        }
        // A statement that writes does not even prepare on the copy (its sessions are read-only):
        // describing one is the primary's to answer (the Rust client describes every statement).
        "describe" => out.push(stmt_sql(req, sqls)?),
        "get_autocommit" | "close" => {}
        // `sequence` (several statements, mostly schema changes) and anything unknown.
        _ => return None,
    }
    Some(())
}

/// Whether the statements can all run on the local copy. Blocking.
fn all_local(ns: &Arc<Namespace>, sqls: &[String]) -> bool {
    if sqls.is_empty() {
        return true;
    }
    let mut session = Session::new(Arc::clone(ns));
    session.with_conn(Perm::ReadOnly, |conn, _| !sqls.iter().any(|s| needs_primary(conn, s))).unwrap_or(false)
}

/// How a Hrana request over HTTP is to be served on a replica.
pub enum Route {
    /// Locally (the caller's own handler runs).
    Local,
    /// Already answered (by the primary).
    Done(Response),
}

/// The body kinds that can be forwarded.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `/v2/pipeline`, `/v3/pipeline`: `{"baton","requests"}`.
    Pipeline,
    /// `/v3/cursor`: `{"baton","batch"}`, answered by lines.
    Cursor,
    /// `/v1/execute`, `/v1/batch`: stateless.
    V1,
}

impl Replication {
    /// Decides where a Hrana HTTP request runs and, for the primary, forwards it. `path` is the
    /// request's path (`/v3/pipeline`, `/dev/{ns}/v2/pipeline`, ...).
    ///
    /// # Errors
    ///
    /// A malformed body, a primary out of reach.
    pub async fn route(
        &self,
        state: &Arc<AppState>,
        caller: &Caller,
        headers: &HeaderMap,
        path: &str,
        kind: Kind,
        body: &Bytes,
    ) -> Result<Route, ApiError> {
        let Ok(v) = serde_json::from_slice::<Value>(body) else {
            // The local handler answers the malformed body with its own error.
            return Ok(Route::Local);
        };
        let ns = &caller.ns;
        let baton = v["baton"].as_str().map(str::to_owned);
        if let Some(b) = &baton {
            let fwd = lock(&self.forwarded).remove(b);
            if let Some(f) = fwd {
                if f.ns != ns.name {
                    lock(&self.forwarded).insert(b.clone(), f);
                    return Err(ApiError::new(
                        StatusCode::BAD_REQUEST,
                        "STREAM_INVALID",
                        "the baton belongs to another namespace",
                    ));
                }
                return self.forward(caller, headers, path, kind, v, Some(f.primary_baton), 0).await.map(Route::Done);
            }
        }
        // What would run, with the SQL the stream has stored.
        let mut sqls = baton.as_deref().and_then(|b| state.streams.stored_sqls(b)).unwrap_or_default();
        let mut texts = Vec::new();
        let parsed = match kind {
            Kind::Pipeline => v["requests"]
                .as_array()
                .map(|reqs| reqs.iter().try_for_each(|r| request_sqls(r, &mut sqls, &mut texts)))
                .unwrap_or(Some(())),
            Kind::Cursor => request_sqls(&json!({"type": "batch", "batch": v["batch"]}), &mut sqls, &mut texts),
            Kind::V1 => {
                let r = if v.get("stmt").is_some() {
                    json!({"type": "execute", "stmt": v["stmt"]})
                } else {
                    json!({"type": "batch", "batch": v["batch"]})
                };
                request_sqls(&r, &mut sqls, &mut texts)
            }
        };
        let local = match parsed {
            Some(()) => {
                let ns2 = Arc::clone(ns);
                tokio::task::spawn_blocking(move || all_local(&ns2, &texts))
                    .await
                    .map_err(|e| ApiError::internal(e.to_string()))?
            }
            None => false,
        };
        if local {
            // A client that wrote through another replica (or directly) may ask to see it.
            if let Some(target) = headers.get(POSITION_HEADER).and_then(|v| v.to_str().ok()).and_then(parse_position) {
                self.wait_applied(&ns.name, target, self.config.read_your_writes_timeout).await;
            }
            return Ok(Route::Local);
        }
        // The stream moves to the primary: a local one's stored SQL goes with it.
        let stored = match &baton {
            Some(b) => state.streams.detach(b, ns)?,
            None => SqlStore::new(),
        };
        let mut primary_baton = None;
        let mut skip = 0;
        let mut v = v;
        if !stored.is_empty() {
            let mut stores: Vec<Value> =
                stored.iter().map(|(id, sql)| json!({"type": "store_sql", "sql_id": id, "sql": sql})).collect();
            match kind {
                Kind::Pipeline => {
                    // Prepended, their results cut from the answer.
                    skip = stores.len();
                    if let Some(reqs) = v["requests"].as_array() {
                        stores.extend(reqs.iter().cloned());
                    }
                    v["requests"] = Value::Array(stores);
                }
                _ => {
                    // A stream of its own on the primary first, to hold the SQL.
                    primary_baton = self.open_primary_stream(caller, headers, stores).await?;
                }
            }
        }
        self.forward(caller, headers, path, kind, v, primary_baton, skip).await.map(Route::Done)
    }

    /// Opens a stream on the primary that runs `requests` (`store_sql`s); its baton.
    async fn open_primary_stream(
        &self,
        caller: &Caller,
        headers: &HeaderMap,
        requests: Vec<Value>,
    ) -> Result<Option<String>, ApiError> {
        let url = format!("{}/v3/pipeline", self.config.primary_url);
        let mut req = self.client.post(&url).header("x-namespace", caller.ns.name.as_str());
        if let Some(a) = headers.get(header::AUTHORIZATION) {
            req = req.header("authorization", a.as_bytes());
        }
        let body = serde_json::to_vec(&json!({"baton": null, "requests": requests}))
            .map_err(|e| ApiError::internal(e.to_string()))?;
        let r = req
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| bad_gateway(format!("the primary at {url}: {e}")))?;
        let text = r.bytes().await.map_err(|e| bad_gateway(format!("the primary at {url}: {e}")))?;
        let a: Value = serde_json::from_slice(&text).map_err(|e| bad_gateway(format!("the primary at {url}: {e}")))?;
        Ok(a["baton"].as_str().map(str::to_owned))
    }

    /// Sends a Hrana request to the primary with `primary_baton`, and answers with its response,
    /// its baton replaced by one of ours; waits for the commit it reports to be applied here.
    /// `skip` results of a pipeline are cut (store_sql prepended by [`Replication::route`]).
    #[allow(clippy::too_many_arguments)]
    async fn forward(
        &self,
        caller: &Caller,
        headers: &HeaderMap,
        path: &str,
        kind: Kind,
        mut v: Value,
        primary_baton: Option<String>,
        skip: usize,
    ) -> Result<Response, ApiError> {
        let ns = caller.ns.name.clone();
        // `/dev/{ns}/v2/pipeline` → `/v2/pipeline`: the namespace travels in a header.
        let path = match path.strip_prefix("/dev/") {
            Some(rest) => rest.split_once('/').map_or(path.to_owned(), |(_, p)| format!("/{p}")),
            None => path.to_owned(),
        };
        if kind != Kind::V1 {
            v["baton"] = primary_baton.map_or(Value::Null, Value::String);
        }
        let url = format!("{}{path}", self.config.primary_url);
        let mut req =
            self.client.post(&url).header("x-namespace", ns.as_str()).header("content-type", "application/json");
        if let Some(a) = headers.get(header::AUTHORIZATION) {
            req = req.header("authorization", a.as_bytes());
        }
        let body = serde_json::to_vec(&v).map_err(|e| ApiError::internal(e.to_string()))?;
        let r = req.body(body).send().await.map_err(|e| bad_gateway(format!("the primary at {url}: {e}")))?;
        let status = r.status().as_u16();
        let position = r.headers().get(POSITION_HEADER).and_then(|v| v.to_str().ok()).and_then(parse_position);
        let content_type = r.headers().get("content-type").cloned();
        let text = r.bytes().await.map_err(|e| bad_gateway(format!("the primary at {url}: {e}")))?;
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
        let mut out_headers = HeaderMap::new();
        if let Some(ct) = content_type {
            out_headers.insert(header::CONTENT_TYPE, ct);
        }
        if let Some((g, n)) = position {
            if let Ok(h) = HeaderValue::from_str(&format!("{g}/{n}")) {
                out_headers.insert(POSITION_HEADER, h);
            }
            // Read-your-writes: the answer goes out once this copy has the commit.
            if !self.wait_applied(&ns, (g, n), self.config.read_your_writes_timeout).await {
                eprintln!(
                    "edgelite-server: replica: namespace {ns:?} did not apply {g}/{n} within the read-your-writes timeout"
                );
            }
        }
        if status != StatusCode::OK {
            return Ok((status, out_headers, Body::from(text)).into_response());
        }
        let mine = |pb: Option<&str>| -> Option<String> {
            let pb = pb?;
            let ours = crate::random_token()?;
            lock(&self.forwarded)
                .insert(ours.clone(), Forwarded { primary_baton: pb.to_owned(), ns: ns.clone(), last: Instant::now() });
            Some(ours)
        };
        let body = match kind {
            Kind::V1 => text.to_vec(),
            Kind::Pipeline => {
                let mut a: Value = serde_json::from_slice(&text)
                    .map_err(|e| bad_gateway(format!("the primary answered no JSON: {e}")))?;
                let ours = mine(a["baton"].as_str());
                a["baton"] = ours.map_or(Value::Null, Value::String);
                a["base_url"] = Value::Null;
                if skip > 0
                    && let Some(results) = a["results"].as_array_mut()
                {
                    results.drain(..skip.min(results.len()));
                }
                serde_json::to_vec(&a).map_err(|e| ApiError::internal(e.to_string()))?
            }
            Kind::Cursor => {
                let text = String::from_utf8_lossy(&text);
                let (first, rest) = text.split_once('\n').unwrap_or((&text, ""));
                let mut head: Value = serde_json::from_str(first)
                    .map_err(|e| bad_gateway(format!("the primary's cursor began with no JSON: {e}")))?;
                let ours = mine(head["baton"].as_str());
                head["baton"] = ours.map_or(Value::Null, Value::String);
                head["base_url"] = Value::Null;
                let mut out = head.to_string();
                out.push('\n');
                out.push_str(rest);
                out.into_bytes()
            }
        };
        Ok((status, out_headers, Body::from(body)).into_response())
    }
}

/// The sync endpoints on a replica server (`/info`, `/export`, `/sync`, `/pull-updates`): passed
/// to the primary as they are, with the namespace in `x-namespace`.
pub async fn proxy(
    State(state): State<Arc<AppState>>,
    axum::Extension(caller): axum::Extension<Caller>,
    req: Request,
) -> Response {
    let Some(rep) = state.replica.as_ref() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let uri = req.extensions().get::<OriginalUri>().map_or_else(|| req.uri().clone(), |u| u.0.clone());
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let url = format!("{}{path}", rep.config.primary_url);
    let method = req.method().clone();
    let headers = req.headers().clone();
    let body = match axum::body::to_bytes(req.into_body(), state.max_body_bytes).await {
        Ok(b) => b,
        Err(e) => return ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "BAD_REQUEST", e.to_string()).into_response(),
    };
    let mut r = rep.client.request(method, &url).header("x-namespace", caller.ns.name.as_str());
    for h in [header::AUTHORIZATION.as_str(), header::CONTENT_TYPE.as_str(), WAIT_HEADER, STRICT_HEADER] {
        if let Some(v) = headers.get(h) {
            r = r.header(h, v.as_bytes());
        }
    }
    let resp = match r.body(body.to_vec()).send().await {
        Ok(r) => r,
        Err(e) => return bad_gateway(format!("the primary at {url}: {e}")).into_response(),
    };
    let status = StatusCode::from_u16(resp.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut out = HeaderMap::new();
    for h in [header::CONTENT_TYPE.as_str(), header::CONTENT_LENGTH.as_str()] {
        if let Some(v) = resp.headers().get(h).and_then(|v| HeaderValue::from_bytes(v.as_bytes()).ok()) {
            out.insert(h, v);
        }
    }
    // Streamed: an export may be large.
    let chunks = futures_util::stream::unfold(resp, |mut resp| async move {
        match resp.chunk().await {
            Ok(Some(c)) => Some((Ok::<_, std::io::Error>(c), resp)),
            Ok(None) => None,
            Err(e) => Some((Err(std::io::Error::other(e.to_string())), resp)),
        }
    });
    (status, out, Body::from_stream(chunks)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_are_routed_by_what_they_do() {
        let conn = edgelite::Connection::open_in_memory().expect("open");
        conn.execute_batch("CREATE TABLE t(x)").expect("schema");
        for sql in ["SELECT * FROM t", "  -- c\n SELECT 1", "/* x */ select count(*) from t", "PRAGMA user_version"] {
            assert!(!needs_primary(&conn, sql), "{sql}");
        }
        for sql in [
            "INSERT INTO t VALUES (1)",
            "begin",
            " /* x */ BEGIN IMMEDIATE",
            "COMMIT",
            "savepoint a",
            "CREATE TABLE u(y)",
            "SELECT * FROM missing",
            "DELETE FROM t",
            "PRAGMA user_version = 3",
            "WITH a AS (SELECT 1) INSERT INTO t SELECT * FROM a",
        ] {
            assert!(needs_primary(&conn, sql), "{sql}");
        }
    }

    #[test]
    fn stored_sql_is_followed_through_a_pipeline() {
        let mut sqls = SqlStore::new();
        let mut out = Vec::new();
        let reqs = json!([
            {"type": "store_sql", "sql_id": 1, "sql": "INSERT INTO t VALUES (1)"},
            {"type": "execute", "stmt": {"sql_id": 1}},
            {"type": "batch", "batch": {"steps": [{"stmt": {"sql": "SELECT 1"}}]}},
            {"type": "close"}
        ]);
        for r in reqs.as_array().expect("array") {
            assert!(request_sqls(r, &mut sqls, &mut out).is_some());
        }
        assert_eq!(out, ["INSERT INTO t VALUES (1)", "SELECT 1"]);
        assert!(request_sqls(&json!({"type": "describe", "sql": "DELETE FROM t"}), &mut sqls, &mut out).is_some());
        assert_eq!(out.last().map(String::as_str), Some("DELETE FROM t"));
        assert!(request_sqls(&json!({"type": "sequence", "sql": "SELECT 1"}), &mut sqls, &mut out).is_none());
        assert!(request_sqls(&json!({"type": "execute", "stmt": {"sql_id": 9}}), &mut sqls, &mut out).is_none());
        assert_eq!(parse_position("3/17"), Some((3, 17)));
        assert_eq!(parse_position("x"), None);
    }
}

/// Most replica servers a primary lists: names come from a request header, so a tenant could
/// make up any number of them.
const MAX_REPLICAS_SEEN: usize = 64;

/// On a primary: the replica servers whose acknowledgements were taken, and when last (the
/// admin API's `GET /v1/replication`).
#[derive(Default)]
pub struct ReplicasSeen {
    seen: Mutex<HashMap<String, Instant>>,
}

impl ReplicasSeen {
    /// Replica `node` acknowledged a position now.
    pub fn seen(&self, node: &str) {
        let mut m = lock(&self.seen);
        if !m.contains_key(node) && m.len() >= MAX_REPLICAS_SEEN {
            let oldest = m.iter().min_by_key(|(_, t)| **t).map(|(n, _)| n.clone());
            if let Some(o) = oldest {
                m.remove(&o);
            }
        }
        m.insert(node.to_owned(), Instant::now());
    }

    /// Each replica's name and how long ago it last acknowledged, in milliseconds, newest first.
    #[must_use]
    pub fn status(&self) -> Value {
        let m = lock(&self.seen);
        let mut v: Vec<(&String, &Instant)> = m.iter().collect();
        v.sort_by_key(|(_, t)| std::cmp::Reverse(**t));
        Value::Array(
            v.into_iter()
                .map(|(n, t)| json!({"node": n, "last_ack_ms_ago": u64::try_from(t.elapsed().as_millis()).unwrap_or(u64::MAX)}))
                .collect(),
        )
    }
}

/// Keeps the primary's frames of each generation as they are applied, in the primary's own
/// archive format (`gens/<g>/frames`, see `crate::namespace`): promoted (`crate::cluster`), a
/// replica serves the very history it followed, so the other replicas and embedded replicas go
/// on from where they were. A gap (a file that lost frames) removes the file: that history is
/// then not kept, and a promotion starts a new one. With `--max-archived-generations n`, the
/// first frames of a generation remove those before the n most recent past ones, as the
/// primary's checkpoints do.
fn keep_frames(dir: std::path::PathBuf, ns: String, keep: u32) -> impl Fn(u32, u32, &[u8]) + Send + Sync + 'static {
    use std::io::{Seek as _, SeekFrom, Write as _};
    move |g, first, frames| {
        if keep > 0 && first == 1 {
            crate::namespace::remove_generations_before(&dir.join("gens"), g.saturating_sub(keep), &ns);
        }
        let path = dir.join("gens").join(g.to_string()).join("frames");
        let kept = (|| -> std::io::Result<()> {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            let mut f = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(&path)?;
            let at = u64::from(first.saturating_sub(1)) * crate::wal::FRAME_SIZE as u64;
            if f.metadata()?.len() < at {
                drop(f);
                return std::fs::remove_file(&path);
            }
            f.set_len(at)?;
            f.seek(SeekFrom::Start(at))?;
            f.write_all(frames)
        })();
        if let Err(e) = kept {
            eprintln!("edgelite-server: replica: keeping frames of generation {g} in {}: {e}", path.display());
        }
    }
}
