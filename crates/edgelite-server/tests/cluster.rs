//! Cluster mode (`--etcd-endpoints`, src/cluster.rs): a real etcd (Debian's `etcd-server`,
//! installed by `.ci/run`; `EDGELITE_ETCD` names another binary) on loopback with a temporary
//! directory, and the real server binary as members. A primary SIGKILLed is replaced by its
//! replica with every answered write; the old primary rejoins as a replica, its databases moved
//! aside; a primary paused past its lease never answers another write.
#![allow(clippy::unwrap_used)]

mod common;

use common::{eventually, free_port};

use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::AsyncBufReadExt as _;

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

/// Three members, a steady write load sent to all three (the replicas forward it), the primary
/// SIGKILLed: a replica is elected and serves writes again within a bound (printed), every
/// write answered before, during and after the failover is on the new primary
/// (`--durability replica`), and the old primary, restarted on its old data, rejoins as a
/// replica (its databases kept aside) and converges to the same rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_takes_over_with_every_answered_write_and_the_old_primary_rejoins() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let etcd = Etcd::start().await;
    let durable = ["--durability", "replica", "--replica-ack-timeout-ms", "3000"];
    let mut a = Member::start(&etcd, &durable).await;
    assert!(eventually(10, || async { a.role().await == "primary" }).await, "{}", a.cluster().await);
    let b = Member::start(&etcd, &durable).await;
    let c = Member::start(&etcd, &durable).await;
    for m in [&b, &c] {
        assert!(eventually(10, || async { m.role().await == "replica" }).await, "{}", m.cluster().await);
        let st = m.cluster().await;
        assert_eq!(st["primary"]["url"], a.url, "{st}");
        assert!(st["primary"]["term"].as_i64().unwrap() > 0, "{st}");
    }
    let (s, body) = run(&a.url, "CREATE TABLE t(id INTEGER PRIMARY KEY, via TEXT)").await;
    assert!(s == 200 && ok(&body), "{body}");

    // One writer per member; each records the ids it was answered, and when.
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for m in [&a, &b, &c] {
        let (url, stop) = (m.url.clone(), Arc::clone(&stop));
        writers.push(tokio::spawn(async move {
            let mut answered = Vec::new();
            while !stop.load(Ordering::Acquire) {
                let (s, body) = run(&url, &format!("INSERT INTO t(via) VALUES ('{url}') RETURNING id")).await;
                if s == 200 && ok(&body) {
                    answered
                        .push((common::int(&body["results"][0]["response"]["result"]["rows"][0][0]), Instant::now()));
                } else {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
            answered
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let killed = Instant::now();
    a.child.start_kill().unwrap();
    a.child.wait().await.unwrap();
    let promoted = eventually(30, || async { b.role().await == "primary" || c.role().await == "primary" }).await;
    assert!(promoted, "{} {}", b.cluster().await, c.cluster().await);
    let elected_in = killed.elapsed();
    let (new, other) = if b.role().await == "primary" { (&b, &c) } else { (&c, &b) };
    // Served again: a write answered after the kill.
    let until = Instant::now() + Duration::from_secs(30);
    while Instant::now() < until && count(&new.url, "SELECT 1").await.is_none() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::Release);
    let mut answered = Vec::new();
    for w in writers {
        answered.extend(w.await.unwrap());
    }
    let first_after = answered.iter().filter(|(_, at)| *at > killed).map(|(_, at)| *at - killed).min();
    eprintln!(
        "failover (lease 2 s): a replica was elected {elected_in:?} after the primary's SIGKILL; the first write \
         answered after it came {first_after:?} after the kill; {} writes answered in all",
        answered.len()
    );
    assert!(first_after.is_some(), "no write was answered after the failover");
    assert!(answered.len() > 20, "only {} writes were answered", answered.len());
    let st = new.cluster().await;
    assert_eq!(st["primary"]["url"], new.url, "{st}");
    // Every answered write is on the new primary.
    // Every row, whole: `id:via`, in id order.
    let rows = |url: String| async move {
        let (_, b) = run(&url, "SELECT group_concat(id || ':' || via, ',') FROM (SELECT * FROM t ORDER BY id)").await;
        b["results"][0]["response"]["result"]["rows"][0][0]["value"].as_str().unwrap_or("").to_owned()
    };
    let on_new: std::collections::HashSet<i64> = rows(new.url.clone())
        .await
        .split(',')
        .filter_map(|x| x.split(':').next().and_then(|id| id.parse().ok()))
        .collect();
    let lost: Vec<i64> = answered.iter().map(|(id, _)| *id).filter(|id| !on_new.contains(id)).collect();
    assert!(lost.is_empty(), "answered writes missing on the new primary: {lost:?}");
    let (_, qc) = run(&new.url, "PRAGMA quick_check").await;
    assert_eq!(qc["results"][0]["response"]["result"]["rows"][0][0]["value"], "ok", "{qc}");

    // The old primary comes back on its old ports and data: a replica now, its old databases
    // kept aside; it and the other replica converge to the new primary's rows.
    let (port, admin_port) = a.port();
    let a2 = Member::start_in(&etcd, a.dir, port, admin_port, &durable).await;
    assert!(eventually(20, || async { a2.role().await == "replica" }).await, "{}", a2.cluster().await);
    assert!(a2.dir.path().join("deposed").read_dir().unwrap().next().is_some(), "nothing kept aside");
    let want = rows(new.url.clone()).await;
    for m in [&a2, other] {
        let same = eventually(30, || async { rows(m.url.clone()).await == want }).await;
        assert!(same, "{} did not converge to the new primary's rows", m.url);
    }
    let st = a2.cluster().await;
    assert_eq!(st["primary"]["url"], new.url, "{st}");
    assert_eq!(st["nodes"].as_array().unwrap().len(), 3, "{st}");
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
    for i in 0..10 {
        let (s, body) = run(&a.url, &format!("INSERT INTO t VALUES ({i})")).await;
        assert!(s == 200 && ok(&body), "{body}");
    }
    // `local` durability: answered before the replica has them; it catches up before the stop.
    assert!(eventually(10, || async { count(&b.url, "SELECT count(*) FROM t").await == Some(10) }).await);

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
    // No answered write is lost: the ten from before the stop are on the new primary.
    assert_eq!(count(&b.url, "SELECT count(*) FROM t WHERE typeof(x) = 'integer'").await, Some(10));
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

/// An embedded replica that syncs through a replica server's URL (which passes sync requests to
/// the primary) goes on across a failover: the elected replica serves the very history it
/// followed (the next generation, not generation 1 again), so the embedded replica applies the
/// new primary's commits on top of what it had, with no bootstrap. A pull past that history
/// (frames the new primary never had) is refused with 409, never taken for the end of a
/// generation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_embedded_replica_goes_on_across_a_failover() {
    use edgelite::replica::Builder;
    let etcd = Etcd::start().await;
    let mut a = Member::start(&etcd, &[]).await;
    assert!(eventually(10, || async { a.role().await == "primary" }).await);
    let b = Member::start(&etcd, &[]).await;
    assert!(eventually(10, || async { b.role().await == "replica" }).await);
    let (s, body) = run(&a.url, "CREATE TABLE t(x)").await;
    assert!(s == 200 && ok(&body), "{body}");
    for i in 0..20 {
        let (s, body) = run(&a.url, &format!("INSERT INTO t VALUES ({i})")).await;
        assert!(s == 200 && ok(&body), "{body}");
    }
    assert!(eventually(10, || async { count(&b.url, "SELECT count(*) FROM t").await == Some(20) }).await);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.db");
    let url = b.url.clone();
    let emb = tokio::task::spawn_blocking(move || {
        let emb = Builder::new_remote_replica(&path, &url, "").build().unwrap();
        emb.sync().unwrap();
        emb
    })
    .await
    .unwrap();
    let before = emb.position();
    let n = |emb: &edgelite::replica::Replica| -> i64 {
        emb.connect().unwrap().query_row("SELECT count(*) FROM t", [], |r| r.get(0)).unwrap()
    };
    assert_eq!(n(&emb), 20);

    a.child.start_kill().unwrap();
    a.child.wait().await.unwrap();
    assert!(eventually(30, || async { b.role().await == "primary" }).await, "{}", b.cluster().await);
    assert!(eventually(20, || async { run(&b.url, "INSERT INTO t VALUES (100)").await.0 == 200 }).await);
    let emb = tokio::task::spawn_blocking(move || {
        let until = Instant::now() + Duration::from_secs(20);
        loop {
            match emb.sync() {
                Ok(_) => break emb,
                Err(e) => {
                    assert!(!e.to_string().contains("bootstrap again"), "the embedded replica was cut off: {e}");
                    assert!(Instant::now() < until, "no sync after the failover: {e}");
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(n(&emb), 21, "the embedded replica does not have the new primary's commit");
    let after = emb.position();
    assert!(after.0 > before.0, "the history started again: {before:?} -> {after:?}");

    // A pull past the history from a replica that says its frame numbers are the primary's
    // (`x-edgelite-strict`, as edgelite::replica does): 409, which edgelite::replica reports as
    // Diverged. Without the header, 400 as before: libSQL's offline replicas number frames of
    // their own past a generation's end and read the 400 as its end.
    let (g, _) = after;
    let http = reqwest::Client::new();
    let pull = format!("{}/sync/{g}/1000/1100", b.url);
    let r = http.get(&pull).header("x-edgelite-strict", "1").send().await.unwrap();
    assert_eq!(r.status().as_u16(), 409);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["code"], "REPLICA_AHEAD", "{body}");
    assert_eq!(http.get(&pull).send().await.unwrap().status().as_u16(), 400);
}
