//! Shared helpers: an in-process server on 127.0.0.1:0, the server binary as a process, Ed25519
//! tokens, and small HTTP helpers.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::Path;

use edgelite_server::{Config, Running};
use serde_json::{Value, json};
use tempfile::TempDir;

pub const FRAME: usize = 4120;

/// Starts the `edgelite-server` binary on 127.0.0.1:0 with the arguments and environment that
/// `configure` adds; returns the process (killed on drop) and its address, once it has printed
/// its one line.
pub async fn spawn_binary(configure: impl FnOnce(&mut tokio::process::Command)) -> (tokio::process::Child, String) {
    use tokio::io::AsyncBufReadExt as _;
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_edgelite-server"));
    cmd.args(["--http-listen-addr", "127.0.0.1:0"]).stdout(std::process::Stdio::piped()).kill_on_drop(true);
    configure(&mut cmd);
    let mut child = cmd.spawn().unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let wait = std::time::Duration::from_secs(60);
    let line = tokio::time::timeout(wait, lines.next_line()).await.unwrap().unwrap().unwrap();
    let addr = line.strip_prefix("edgelite-server listening on http://").unwrap().to_owned();
    (child, addr)
}

/// An Ed25519 key pair: the private key (PKCS#8) signs tokens, the public one (raw, base64url)
/// is what the server is given.
pub struct Keys {
    pub pkcs8: Vec<u8>,
    pub public_b64: String,
}

pub fn keys() -> Keys {
    use base64::Engine as _;
    use ring::signature::{Ed25519KeyPair, KeyPair as _};
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
    let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
    let public_b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(pair.public_key().as_ref());
    Keys { pkcs8: pkcs8.as_ref().to_vec(), public_b64 }
}

/// A JWT with `claims`, signed with `k`.
pub fn token(k: &Keys, claims: &Value) -> String {
    use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
    encode(&Header::new(Algorithm::EdDSA), claims, &EncodingKey::from_ed_der(&k.pkcs8)).unwrap()
}

pub struct Srv {
    pub running: Running,
    pub dir: TempDir,
    pub base: String,
    pub http: reqwest::Client,
}

pub async fn start_with(f: impl FnOnce(&mut Config)) -> Srv {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::new(dir.path().to_owned(), "127.0.0.1:0".into());
    f(&mut config);
    let running = edgelite_server::start(config).await.unwrap();
    let base = format!("http://{}", running.http_addr);
    Srv { running, dir, base, http: reqwest::Client::new() }
}

pub async fn start() -> Srv {
    start_with(|_| {}).await
}

impl Srv {
    pub async fn post_json(&self, path: &str, body: &Value) -> (u16, Value) {
        let r = self.http.post(format!("{}{path}", self.base)).json(body).send().await.unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    /// One pipeline request; returns (status, body).
    pub async fn pipeline(&self, baton: Option<&str>, requests: Value) -> (u16, Value) {
        self.post_json("/v2/pipeline", &json!({"baton": baton, "requests": requests})).await
    }

    /// Executes SQL statements on a fresh stream, asserting success; returns each result.
    pub async fn exec(&self, sqls: &[&str]) -> Vec<Value> {
        let mut reqs: Vec<Value> = sqls.iter().map(|s| json!({"type": "execute", "stmt": {"sql": s}})).collect();
        reqs.push(json!({"type": "close"}));
        let (status, body) = self.pipeline(None, Value::Array(reqs)).await;
        assert_eq!(status, 200, "{body}");
        let results = body["results"].as_array().unwrap();
        for r in results {
            assert_eq!(r["type"], "ok", "{r}");
        }
        results[..sqls.len()].iter().map(|r| r["response"]["result"].clone()).collect()
    }

    pub async fn get(&self, path: &str) -> (u16, Vec<u8>) {
        let r = self.http.get(format!("{}{path}", self.base)).send().await.unwrap();
        (r.status().as_u16(), r.bytes().await.unwrap().to_vec())
    }

    pub fn ns_dir(&self, ns: &str) -> std::path::PathBuf {
        self.dir.path().join("dbs").join(ns)
    }
}

pub fn int(v: &Value) -> i64 {
    assert_eq!(v["type"], "integer", "{v}");
    v["value"].as_str().unwrap().parse().unwrap()
}

/// Applies WAL frames (4120 bytes each) to a database image, as a replica would.
pub fn apply_frames(db: &mut Vec<u8>, frames: &[u8]) {
    assert_eq!(frames.len() % FRAME, 0);
    for f in frames.chunks_exact(FRAME) {
        let pgno = u32::from_be_bytes(f[0..4].try_into().unwrap()) as usize;
        let commit = u32::from_be_bytes(f[4..8].try_into().unwrap()) as usize;
        let at = (pgno - 1) * 4096;
        if db.len() < at + 4096 {
            db.resize(at + 4096, 0);
        }
        db[at..at + 4096].copy_from_slice(&f[24..]);
        if commit != 0 {
            db.truncate(commit * 4096);
        }
    }
}

/// Writes a database image and counts rows of a query on it.
pub fn query_image(dir: &Path, name: &str, image: &[u8], sql: &str) -> i64 {
    let path = dir.join(name);
    // The image says WAL mode; with no WAL file next to it, it opens as the image's content.
    std::fs::write(&path, image).unwrap();
    let conn = edgelite::Connection::open(&path).unwrap();
    conn.query_row(sql, [], |r| r.get(0)).unwrap()
}

/// A server reached over HTTP only (a spawned binary, or [`Srv::remote`]).
pub struct Remote {
    pub http: reqwest::Client,
    pub base: String,
}

impl Remote {
    pub fn new(base: String) -> Remote {
        Remote { http: reqwest::Client::new(), base }
    }

    /// Runs SQL statements on namespace `ns` (`/dev/<ns>/v2/pipeline`, one stream, closed);
    /// returns the HTTP status and the pipeline's results (or the error body alone).
    pub async fn run_in(&self, ns: &str, sqls: &[&str]) -> (u16, Vec<Value>) {
        let mut reqs: Vec<Value> = sqls.iter().map(|q| json!({"type": "execute", "stmt": {"sql": q}})).collect();
        reqs.push(json!({"type": "close"}));
        let r = self.http.post(format!("{}/dev/{ns}/v2/pipeline", self.base)).json(&json!({"requests": reqs}));
        let r = r.send().await.unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, body["results"].as_array().cloned().unwrap_or_else(|| vec![body]))
    }

    /// [`Remote::run_in`], asserting success; returns each statement's result.
    pub async fn exec_in(&self, ns: &str, sqls: &[&str]) -> Vec<Value> {
        let (status, results) = self.run_in(ns, sqls).await;
        assert_eq!(status, 200, "{results:?}");
        for r in &results {
            assert_eq!(r["type"], "ok", "{r}");
        }
        results[..sqls.len()].iter().map(|r| r["response"]["result"].clone()).collect()
    }
}

impl Srv {
    pub fn remote(&self) -> Remote {
        Remote { http: self.http.clone(), base: self.base.clone() }
    }

    /// See [`Remote::run_in`].
    pub async fn run_in(&self, ns: &str, sqls: &[&str]) -> (u16, Vec<Value>) {
        self.remote().run_in(ns, sqls).await
    }

    /// See [`Remote::exec_in`].
    pub async fn exec_in(&self, ns: &str, sqls: &[&str]) -> Vec<Value> {
        self.remote().exec_in(ns, sqls).await
    }

    /// Stops the server and starts it again on the same data directory, configured by `f`.
    pub async fn restart_with(self, f: impl FnOnce(&mut Config)) -> Srv {
        let Srv { running, dir, http, .. } = self;
        running.shutdown().await;
        drop(running);
        let mut config = Config::new(dir.path().to_owned(), "127.0.0.1:0".into());
        f(&mut config);
        let running = edgelite_server::start(config).await.unwrap();
        let base = format!("http://{}", running.http_addr);
        Srv { running, dir, base, http }
    }

    /// Posts raw bytes (a sync push); returns the status and the JSON answer.
    pub async fn push(&self, path: &str, body: Vec<u8>) -> (u16, Value) {
        let r = self.http.post(format!("{}{path}", self.base)).body(body).send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap())
    }

    /// Pulls every frame of every generation from `g`/`next` on, as the native client does
    /// (128 at a time; a 400 ends a generation), from `<prefix>/sync/...` (`prefix` is `""` for
    /// the default namespace, `/dev/<ns>` for another). Returns the new (generation, next frame).
    pub async fn pull_all(&self, prefix: &str, image: &mut Vec<u8>, mut g: u32, mut next: u32) -> (u32, u32) {
        loop {
            let (status, body) = self.get(&format!("{prefix}/sync/{g}/{next}/{}", next + 128)).await;
            match status {
                200 => {
                    assert!(!body.is_empty() && body.len() % FRAME == 0, "{} bytes", body.len());
                    apply_frames(image, &body);
                    next += (body.len() / FRAME) as u32;
                }
                400 => {
                    let v: Value = serde_json::from_slice(&body).unwrap();
                    let cur = v["generation"].as_u64().unwrap() as u32;
                    if cur <= g {
                        return (g, next);
                    }
                    g += 1;
                    next = 1;
                }
                other => panic!("status {other}"),
            }
        }
    }
}

/// A local copy of a namespace's database and WAL, as an embedded replica that has pulled
/// everything holds it; its own writes then continue the same WAL.
pub struct Replica {
    pub dir: TempDir,
    pub conn: edgelite::Connection,
}

impl Replica {
    /// A copy of namespace `ns`'s files (take it while nothing writes).
    pub fn clone_from(s: &Srv, ns: &str) -> Replica {
        let dir = tempfile::tempdir().unwrap();
        let src = s.ns_dir(ns);
        std::fs::copy(src.join("data"), dir.path().join("local.db")).unwrap();
        std::fs::copy(src.join("data-wal"), dir.path().join("local.db-wal")).unwrap();
        let conn = edgelite::Connection::open(dir.path().join("local.db")).unwrap();
        conn.execute_batch("PRAGMA wal_autocheckpoint=0").unwrap();
        Replica { dir, conn }
    }

    /// Frames [start, end) of the local WAL.
    pub fn frames(&self, start: usize, end: usize) -> Vec<u8> {
        let wal = std::fs::read(self.dir.path().join("local.db-wal")).unwrap();
        wal[32 + (start - 1) * FRAME..32 + (end - 1) * FRAME].to_vec()
    }

    /// One transaction writing many pages (20 rows of 3,500 random bytes into `t(v)`).
    pub fn write_many_pages(&self) {
        let sql = "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 20) \
                   INSERT INTO t(v) SELECT randomblob(3500) FROM c";
        self.conn.execute(sql, []).unwrap();
    }

    pub fn frame_count(&self) -> usize {
        let len = std::fs::metadata(self.dir.path().join("local.db-wal")).unwrap().len() as usize;
        (len - 32) / FRAME
    }
}

/// A WebSocket client connection to the server.
pub type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Sends every message of `msgs` on `ws`, then reads one text reply per message.
pub async fn ws_exchange(ws: &mut Ws, msgs: &[Value]) -> Vec<Value> {
    use futures_util::{SinkExt as _, StreamExt as _};
    use tokio_tungstenite::tungstenite::Message;
    for m in msgs {
        ws.send(Message::Text(m.to_string().into())).await.unwrap();
    }
    let mut replies = Vec::new();
    while replies.len() < msgs.len() {
        let Some(Ok(Message::Text(t))) = ws.next().await else { panic!("socket ended") };
        replies.push(serde_json::from_str::<Value>(t.as_str()).unwrap());
    }
    replies
}

/// A port free now on 127.0.0.1 (for a listener whose address must be known before it starts).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Polls `f` every 20 ms until it is true, for at most `secs` seconds.
pub async fn eventually<F: Future<Output = bool>>(secs: u64, mut f: impl FnMut() -> F) -> bool {
    let until = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while std::time::Instant::now() < until {
        if f().await {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    false
}
