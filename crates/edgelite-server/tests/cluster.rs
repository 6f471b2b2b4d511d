//! Cluster mode (`--etcd-endpoints`, src/cluster.rs): a real etcd (Debian's `etcd-server`,
//! installed by `.ci/run`; `EDGELITE_ETCD` names another binary) on loopback with a temporary
//! directory, and the real server binary as members. A primary SIGKILLed is replaced by its
//! replica with every answered write; the old primary rejoins as a replica, its databases moved
//! aside; a primary paused past its lease never answers another write.
#![allow(clippy::unwrap_used)]

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::AsyncBufReadExt as _;

/// A port free now on 127.0.0.1.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// An etcd server of one member on loopback, killed on drop.
struct Etcd {
    _child: tokio::process::Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Etcd {
    async fn start() -> Etcd {
        let bin = std::env::var("EDGELITE_ETCD").unwrap_or_else(|_| "etcd".into());
        let dir = tempfile::tempdir().unwrap();
        let (client, peer) = (free_port(), free_port());
        let url = format!("http://127.0.0.1:{client}");
        let peer_url = format!("http://127.0.0.1:{peer}");
        let child = tokio::process::Command::new(&bin)
            .args(["--name", "t", "--data-dir"])
            .arg(dir.path().join("etcd"))
            .args(["--listen-client-urls", &url, "--advertise-client-urls", &url])
            .args(["--listen-peer-urls", &peer_url, "--initial-advertise-peer-urls", &peer_url])
            .args(["--initial-cluster", &format!("t={peer_url}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {bin:?} ({e}): .ci/run installs Debian's etcd-server"));
        let http = reqwest::Client::new();
        let until = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = http.get(format!("{url}/health")).send().await
                && r.text().await.unwrap_or_default().contains("true")
            {
                break;
            }
            assert!(Instant::now() < until, "etcd did not become healthy");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Etcd { _child: child, url, _dir: dir }
    }
}

/// A cluster member: the server binary with fixed ports (its advertised URL must not change
/// when it restarts to take a new role).
struct Member {
    child: tokio::process::Child,
    url: String,
    admin: String,
    dir: tempfile::TempDir,
}

impl Member {
    async fn start(etcd: &Etcd, extra: &[&str]) -> Member {
        Member::start_in(etcd, tempfile::tempdir().unwrap(), free_port(), free_port(), extra).await
    }

    async fn start_in(etcd: &Etcd, dir: tempfile::TempDir, port: u16, admin_port: u16, extra: &[&str]) -> Member {
        let (url, admin) = (format!("http://127.0.0.1:{port}"), format!("http://127.0.0.1:{admin_port}"));
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_edgelite-server"))
            .arg("--db-path")
            .arg(dir.path())
            .args(["--http-listen-addr", &format!("127.0.0.1:{port}")])
            .args(["--admin-listen-addr", &format!("127.0.0.1:{admin_port}")])
            .args(["--etcd-endpoints", &etcd.url, "--cluster", "t", "--cluster-lease-ttl-secs", "2"])
            .args(extra)
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        // Read for the whole life of the process: it prints its line again after each restart.
        let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let (tx, rx) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            let mut tx = Some(tx);
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(tx) = tx.take() {
                    let _ = tx.send(line);
                }
            }
        });
        let line = tokio::time::timeout(Duration::from_secs(60), rx).await.unwrap().unwrap();
        assert!(line.starts_with("edgelite-server listening on"), "{line}");
        Member { child, url, admin, dir }
    }

    fn port(&self) -> (u16, u16) {
        let p = |u: &str| u.rsplit(':').next().unwrap().parse().unwrap();
        (p(&self.url), p(&self.admin))
    }

    /// `GET /v1/cluster`, or `Null` while the member does not answer (restarting).
    async fn cluster(&self) -> Value {
        match reqwest::get(format!("{}/v1/cluster", self.admin)).await {
            Ok(r) => r.json().await.unwrap_or(Value::Null),
            Err(_) => Value::Null,
        }
    }

    async fn role(&self) -> String {
        self.cluster().await["self"]["role"].as_str().unwrap_or("").to_owned()
    }
}

/// One statement on a new stream: (HTTP status, body).
async fn run(url: &str, sql: &str) -> (u16, Value) {
    let body = json!({"requests": [{"type": "execute", "stmt": {"sql": sql}}, {"type": "close"}]});
    match reqwest::Client::new().post(format!("{url}/v3/pipeline")).json(&body).send().await {
        Ok(r) => {
            let s = r.status().as_u16();
            (s, r.json().await.unwrap_or(Value::Null))
        }
        Err(e) => (0, Value::String(e.to_string())),
    }
}

fn ok(body: &Value) -> bool {
    body["results"][0]["type"] == "ok"
}

async fn count(url: &str, sql: &str) -> Option<i64> {
    let (s, b) = run(url, sql).await;
    (s == 200 && ok(&b)).then(|| common::int(&b["results"][0]["response"]["result"]["rows"][0][0]))
}

/// Polls `f` every 50 ms until it is true, for at most `secs` seconds.
async fn eventually<F: Future<Output = bool>>(secs: u64, mut f: impl FnMut() -> F) -> bool {
    let until = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < until {
        if f().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_takes_over_with_every_answered_write_and_the_old_primary_rejoins() {
    let etcd = Etcd::start().await;
    let durable = ["--durability", "replica", "--replica-ack-timeout-ms", "3000"];
    let mut a = Member::start(&etcd, &durable).await;
    assert!(eventually(10, || async { a.role().await == "primary" }).await, "{}", a.cluster().await);
    let b = Member::start(&etcd, &durable).await;
    assert!(eventually(10, || async { b.role().await == "replica" }).await, "{}", b.cluster().await);
    let c = b.cluster().await;
    assert_eq!(c["primary"]["url"], a.url, "{c}");
    assert!(c["primary"]["term"].as_i64().unwrap() > 0, "{c}");

    // Answered only once the replica holds them.
    let (s, body) = run(&a.url, "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)").await;
    assert!(s == 200 && ok(&body), "{body}");
    let mut answered = 0;
    for i in 0..40 {
        let (s, body) = run(&a.url, &format!("INSERT INTO t VALUES ({i}, 'a')")).await;
        assert!(s == 200 && ok(&body), "{body}");
        answered += 1;
    }
    // A write sent to the replica is forwarded to the primary.
    let (s, body) = run(&b.url, "INSERT INTO t VALUES (1000, 'via b')").await;
    assert!(s == 200 && ok(&body), "{body}");

    let killed = Instant::now();
    a.child.start_kill().unwrap();
    a.child.wait().await.unwrap();
    assert!(eventually(30, || async { b.role().await == "primary" }).await, "{}", b.cluster().await);
    let promoted = killed.elapsed();
    eprintln!("failover: the replica was the primary {promoted:?} after the primary's SIGKILL (lease 2 s)");
    let c = b.cluster().await;
    assert_eq!(c["primary"]["url"], b.url, "{c}");
    // Every answered write is on the new primary.
    assert_eq!(count(&b.url, "SELECT count(*) FROM t WHERE id < 40").await, Some(answered));
    assert_eq!(count(&b.url, "SELECT count(*) FROM t WHERE id = 1000").await, Some(1));
    let (_, qc) = run(&b.url, "PRAGMA quick_check").await;
    assert_eq!(qc["results"][0]["response"]["result"]["rows"][0][0]["value"], "ok", "{qc}");

    // The old primary comes back on its old ports and data: it is a replica now, its old
    // databases kept aside, and it acknowledges the new primary's writes.
    let (port, admin_port) = a.port();
    let a2 = Member::start_in(&etcd, a.dir, port, admin_port, &durable).await;
    assert!(eventually(20, || async { a2.role().await == "replica" }).await, "{}", a2.cluster().await);
    assert!(a2.dir.path().join("deposed").read_dir().unwrap().next().is_some(), "nothing kept aside");
    // Until the rejoined replica follows, the new primary's writes time out unacknowledged.
    let until = Instant::now() + Duration::from_secs(30);
    let mut acked = None;
    while acked.is_none() && Instant::now() < until {
        let (s, body) = run(&b.url, "INSERT INTO t(v) VALUES ('after') RETURNING id").await;
        if s == 200 && ok(&body) {
            acked = Some(common::int(&body["results"][0]["response"]["result"]["rows"][0][0]));
        }
    }
    let id = acked.expect("the new primary's write was never acknowledged by the rejoined replica");
    assert!(
        eventually(20, || async {
            count(&a2.url, &format!("SELECT count(*) FROM t WHERE id = {id}")).await == Some(1)
        })
        .await,
        "the rejoined replica does not have the new primary's write"
    );
    assert_eq!(count(&a2.url, "SELECT count(*) FROM t WHERE id < 40").await, Some(answered));
    let c = a2.cluster().await;
    assert_eq!(c["primary"]["url"], b.url, "{c}");
    let nodes = c["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 2, "{c}");
}

/// A primary stopped (SIGSTOP) for longer than its lease: a replica is elected meanwhile, and
/// once resumed the old primary answers no write (503 NOT_PRIMARY, or nothing while it
/// restarts), then rejoins as a replica of the new one. Durability `local`, so that only the
/// fence stands between the old primary and an acknowledged write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_primary_paused_past_its_lease_never_answers_another_write() {
    let etcd = Etcd::start().await;
    let a = Member::start(&etcd, &[]).await;
    assert!(eventually(10, || async { a.role().await == "primary" }).await);
    let b = Member::start(&etcd, &[]).await;
    assert!(eventually(10, || async { b.role().await == "replica" }).await);
    let (s, body) = run(&a.url, "CREATE TABLE t(x)").await;
    assert!(s == 200 && ok(&body), "{body}");
    assert!(eventually(10, || async { count(&b.url, "SELECT count(*) FROM t").await == Some(0) }).await);

    let pid = a.child.id().unwrap().to_string();
    let signal = |sig: &str| std::process::Command::new("kill").args([sig, &pid]).status().unwrap();
    assert!(signal("-STOP").success());
    assert!(eventually(30, || async { b.role().await == "primary" }).await, "{}", b.cluster().await);
    // Sent while it is still stopped: handled first thing when it resumes.
    let late = tokio::spawn({
        let url = a.url.clone();
        async move { run(&url, "INSERT INTO t VALUES ('late')").await }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(signal("-CONT").success());
    let (s, body) = late.await.unwrap();
    assert_ne!(s, 200, "the deposed primary answered a write: {body}");
    if s == 503 {
        assert_eq!(body["code"], "NOT_PRIMARY", "{body}");
    }
    // And later ones, while it changes roles, never succeed on it either.
    for _ in 0..20 {
        let (s, body) = run(&a.url, "INSERT INTO t VALUES ('later')").await;
        if a.role().await == "replica" {
            break;
        }
        assert_ne!(s, 200, "the deposed primary answered a write: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(eventually(30, || async { a.role().await == "replica" }).await, "{}", a.cluster().await);
    assert_eq!(count(&b.url, "SELECT count(*) FROM t WHERE x = 'late'").await, Some(0));
}

/// The fence itself, without etcd: a server whose primary lease has run out refuses every
/// request, over HTTP and WebSocket, with NOT_PRIMARY and runs nothing; one whose lease holds
/// serves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_primary_whose_lease_ran_out_refuses_every_request() {
    use edgelite_server::cluster::Fence;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
    let live =
        common::start_with(|c| c.fence = Some(Fence::new(Instant::now(), Duration::from_secs(3600)).into())).await;
    let (s, body) = live.pipeline(None, json!([{"type": "execute", "stmt": {"sql": "CREATE TABLE t(x)"}}])).await;
    assert!(s == 200 && ok(&body), "{body}");

    let ran_out = Fence::new(Instant::now().checked_sub(Duration::from_secs(10)).unwrap(), Duration::from_secs(2));
    let dead = common::start_with(|c| c.fence = Some(ran_out.into())).await;
    let (s, body) = dead.pipeline(None, json!([{"type": "execute", "stmt": {"sql": "CREATE TABLE t(x)"}}])).await;
    assert_eq!(s, 503, "{body}");
    assert_eq!(body["code"], "NOT_PRIMARY", "{body}");
    let (s, body) = dead.pipeline(None, json!([{"type": "execute", "stmt": {"sql": "SELECT 1"}}])).await;
    assert_eq!((s, body["code"].as_str()), (503, Some("NOT_PRIMARY")), "{body}");
    let mut req = format!("ws://{}/", dead.running.http_addr).into_client_request().unwrap();
    req.headers_mut().insert("Sec-WebSocket-Protocol", "hrana2".parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    let replies = common::ws_exchange(
        &mut ws,
        &[
            json!({"type": "hello", "jwt": null}),
            json!({"type": "request", "request_id": 0, "request": {"type": "open_stream", "stream_id": 0}}),
            json!({"type": "request", "request_id": 1, "request": {"type": "execute", "stream_id": 0, "stmt": {"sql": "CREATE TABLE u(x)"}}}),
        ],
    )
    .await;
    assert_eq!(replies[2]["error"]["code"], "NOT_PRIMARY", "{replies:?}");
    // Nothing ran: the table was never made.
    let conn = edgelite::Connection::open(dead.ns_dir("default").join("data")).unwrap();
    let n: i64 = conn.query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0)).unwrap();
    assert_eq!(n, 0);
}
