//! Replica mode (`--primary-url`, src/replica_server.rs): a primary and a replica server, both
//! the real binary on loopback with temporary directories. Reads served by the replica's copy,
//! writes and transactions forwarded with read-your-writes, namespaces that follow the
//! primary's, and a replica that catches up after a write load.
#![allow(clippy::unwrap_used)]

mod common;

use common::{eventually, free_port};

use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// A server process, its user URL, its admin URL and its data directory.
struct Node {
    child: tokio::process::Child,
    url: String,
    admin: String,
    dir: tempfile::TempDir,
}

async fn node(extra: &[String]) -> Node {
    node_in(tempfile::tempdir().unwrap(), extra).await
}

async fn node_in(dir: tempfile::TempDir, extra: &[String]) -> Node {
    let admin = format!("127.0.0.1:{}", free_port());
    let (child, addr) = common::spawn_binary(|c| {
        c.arg("--db-path").arg(dir.path()).args(["--admin-listen-addr", &admin, "--enable-namespaces"]).args(extra);
    })
    .await;
    Node { child, url: format!("http://{addr}"), admin: format!("http://{admin}"), dir }
}

async fn primary() -> Node {
    node(&[]).await
}

/// The flags of a replica server of `p`, then `extra`.
fn replica_args(p: &Node, extra: &[&str]) -> Vec<String> {
    let mut v = vec!["--primary-url".to_owned(), p.url.clone(), "--primary-admin-url".to_owned(), p.admin.clone()];
    v.extend(extra.iter().map(|s| (*s).to_owned()));
    v
}

async fn replica_of(p: &Node) -> Node {
    node(&replica_args(p, &[])).await
}

/// A pipeline on `url` for namespace `ns`: (status, body).
async fn pipeline(url: &str, ns: &str, baton: Option<&str>, requests: Value) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(format!("{url}/v3/pipeline"))
        .header("x-namespace", ns)
        .json(&json!({"baton": baton, "requests": requests}))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

fn execute(sql: &str) -> Value {
    json!({"type": "execute", "stmt": {"sql": sql}})
}

/// Runs statements on one new stream, closed after them; asserts each succeeded; the results.
async fn exec(url: &str, ns: &str, sqls: &[&str]) -> Vec<Value> {
    let mut reqs: Vec<Value> = sqls.iter().map(|s| execute(s)).collect();
    reqs.push(json!({"type": "close"}));
    let (status, body) = pipeline(url, ns, None, Value::Array(reqs)).await;
    assert_eq!(status, 200, "{body}");
    let results = body["results"].as_array().unwrap();
    for r in results {
        assert_eq!(r["type"], "ok", "{r}");
    }
    results[..sqls.len()].iter().map(|r| r["response"]["result"].clone()).collect()
}

/// The one integer a query returns.
async fn scalar(url: &str, ns: &str, sql: &str) -> i64 {
    let r = exec(url, ns, &[sql]).await;
    common::int(&r[0]["rows"][0][0])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replica_reads_locally_and_forwards_writes_with_read_your_writes() {
    let p = primary().await;
    exec(&p.url, "default", &["CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)", "INSERT INTO t VALUES (1, 'one')"])
        .await;
    let r = replica_of(&p).await;
    // Bootstrapped at start: the first read already sees the primary's rows.
    assert_eq!(scalar(&r.url, "default", "SELECT count(*) FROM t").await, 1);

    // Every forwarded write is visible to the very next read on the replica, with no retry.
    for i in 2..=30 {
        let w = exec(&r.url, "default", &[&format!("INSERT INTO t VALUES ({i}, 'v{i}')")]).await;
        assert_eq!(w[0]["affected_row_count"], 1, "{w:?}");
        assert_eq!(scalar(&r.url, "default", "SELECT max(id) FROM t").await, i, "write {i} not read back");
    }
    assert_eq!(scalar(&p.url, "default", "SELECT count(*) FROM t").await, 30);

    // An interactive transaction over several requests runs on the primary: it sees its own
    // uncommitted row, which the replica's copy does not have until COMMIT.
    let (s, b) =
        pipeline(&r.url, "default", None, json!([execute("BEGIN"), execute("INSERT INTO t VALUES (100, 'tx')")])).await;
    assert_eq!(s, 200, "{b}");
    let baton = b["baton"].as_str().unwrap().to_owned();
    let (s, b) =
        pipeline(&r.url, "default", Some(&baton), json!([execute("SELECT count(*) FROM t WHERE id = 100")])).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(common::int(&b["results"][0]["response"]["result"]["rows"][0][0]), 1, "{b}");
    assert_eq!(scalar(&r.url, "default", "SELECT count(*) FROM t WHERE id = 100").await, 0);
    let baton = b["baton"].as_str().unwrap().to_owned();
    let (s, b) = pipeline(&r.url, "default", Some(&baton), json!([execute("COMMIT"), {"type": "close"}])).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["results"][0]["type"], "ok", "{b}");
    assert_eq!(scalar(&r.url, "default", "SELECT count(*) FROM t WHERE id = 100").await, 1);

    // npm's write batch (store_sql, BEGIN IMMEDIATE ... COMMIT in one batch) goes through whole.
    let (s, b) = pipeline(
        &r.url,
        "default",
        None,
        json!([
            {"type": "store_sql", "sql_id": 0, "sql": "INSERT INTO t VALUES (200, 'b')"},
            {"type": "batch", "batch": {"steps": [
                {"stmt": {"sql": "BEGIN IMMEDIATE"}},
                {"condition": {"type": "ok", "step": 0}, "stmt": {"sql_id": 0}},
                {"condition": {"type": "ok", "step": 1}, "stmt": {"sql": "COMMIT"}},
                {"condition": {"type": "not", "cond": {"type": "ok", "step": 2}}, "stmt": {"sql": "ROLLBACK"}}
            ]}},
            {"type": "close"}
        ]),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert!(b["results"][1]["response"]["result"]["step_errors"].as_array().unwrap().iter().all(Value::is_null), "{b}");
    assert_eq!(scalar(&r.url, "default", "SELECT count(*) FROM t WHERE id = 200").await, 1);

    // A stream that began with reads here and then writes moves to the primary with its stored SQL.
    let (s, b) = pipeline(
        &r.url,
        "default",
        None,
        json!([{"type": "store_sql", "sql_id": 7, "sql": "INSERT INTO t VALUES (300, 'moved')"}, execute("SELECT 1")]),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let baton = b["baton"].as_str().unwrap().to_owned();
    let (s, b) = pipeline(
        &r.url,
        "default",
        Some(&baton),
        json!([{"type": "execute", "stmt": {"sql_id": 7}}, {"type": "close"}]),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["results"].as_array().unwrap().len(), 2, "{b}");
    assert_eq!(b["results"][0]["response"]["result"]["affected_row_count"], 1, "{b}");
    assert_eq!(scalar(&r.url, "default", "SELECT count(*) FROM t WHERE id = 300").await, 1);

    // A failing write keeps its SQLite error code across the forwarding.
    let (s, b) = pipeline(&r.url, "default", None, json!([execute("INSERT INTO t VALUES (1, 'dup')")])).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["results"][0]["type"], "error", "{b}");
    assert!(b["results"][0]["error"]["code"].as_str().unwrap().starts_with("SQLITE_CONSTRAINT"), "{b}");

    // An embedded replica can sync from the replica server (its sync requests go to the primary).
    let local = tempfile::tempdir().unwrap();
    let path = local.path().join("e.db");
    let url = r.url.clone();
    let n = tokio::task::spawn_blocking(move || {
        let db = edgelite::replica::Builder::new_remote_replica(&path, url, "").build().unwrap();
        db.sync().unwrap();
        let conn = db.connect().unwrap();
        conn.query_row("SELECT count(*) FROM t", [], |row| row.get::<_, i64>(0)).unwrap()
    })
    .await
    .unwrap();
    assert_eq!(n, 33);

    // Reads are the replica's own: with the primary gone they still answer; writes fail clearly.
    let mut p = p;
    p.child.kill().await.unwrap();
    assert_eq!(scalar(&r.url, "default", "SELECT count(*) FROM t").await, 33);
    let (s, b) = pipeline(&r.url, "default", None, json!([execute("INSERT INTO t VALUES (400, 'x')")])).await;
    assert_eq!(s, 502, "{b}");
    assert_eq!(b["code"], "PROXY_ERROR", "{b}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespaces_created_and_deleted_on_the_primary_follow_on_the_replica() {
    let p = primary().await;
    let r = replica_of(&p).await;
    let http = reqwest::Client::new();
    let s = http.post(format!("{}/v1/namespaces/tenant1/create", p.admin)).send().await.unwrap().status();
    assert_eq!(s.as_u16(), 200);
    exec(&p.url, "tenant1", &["CREATE TABLE a(x)", "INSERT INTO a VALUES (42)"]).await;
    let appeared = eventually(20, || async {
        let (s, b) = pipeline(&r.url, "tenant1", None, json!([execute("SELECT x FROM a")])).await;
        s == 200 && b["results"][0]["type"] == "ok"
    })
    .await;
    assert!(appeared, "tenant1 never appeared on the replica");
    assert_eq!(scalar(&r.url, "tenant1", "SELECT x FROM a").await, 42);
    // Writes through the replica land in that namespace on the primary.
    exec(&r.url, "tenant1", &["INSERT INTO a VALUES (43)"]).await;
    assert_eq!(scalar(&p.url, "tenant1", "SELECT count(*) FROM a").await, 2);
    assert_eq!(scalar(&r.url, "tenant1", "SELECT count(*) FROM a").await, 2);
    // The replica's admin API shows it followed, and refuses to make namespaces of its own.
    let st: Value = http.get(format!("{}/v1/replication", r.admin)).send().await.unwrap().json().await.unwrap();
    assert_eq!(st["role"], "replica", "{st}");
    assert!(st["namespaces"]["tenant1"]["frame"].as_u64().unwrap() > 0, "{st}");
    let s = http.post(format!("{}/v1/namespaces/other/create", r.admin)).send().await.unwrap().status();
    assert_eq!(s.as_u16(), 409);

    let s = http.delete(format!("{}/v1/namespaces/tenant1", p.admin)).send().await.unwrap().status();
    assert_eq!(s.as_u16(), 200);
    let gone = eventually(20, || async {
        let (s, _) = pipeline(&r.url, "tenant1", None, json!([execute("SELECT 1")])).await;
        s == 404
    })
    .await;
    assert!(gone, "tenant1 stayed on the replica after its deletion on the primary");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replica_keeps_up_with_a_write_load_and_converges() {
    // A small generation size: the load crosses several checkpoints (new generations).
    let p = node(&["--checkpoint-frames".into(), "100".into()]).await;
    exec(&p.url, "default", &["CREATE TABLE t(id INTEGER PRIMARY KEY, pad BLOB)"]).await;
    let r = node(&[
        "--primary-url".into(),
        p.url.clone(),
        "--primary-admin-url".into(),
        p.admin.clone(),
        "--replica-discovery-ms".into(),
        "200".into(),
    ])
    .await;
    let writes = 400;
    let url = p.url.clone();
    let writer = tokio::spawn(async move {
        for i in 1..=writes {
            exec(&url, "default", &[&format!("INSERT INTO t VALUES ({i}, randomblob(300))")]).await;
        }
    });
    // While the load runs the replica moves with it, not only at the end.
    let mut seen = Vec::new();
    while !writer.is_finished() {
        seen.push(scalar(&r.url, "default", "SELECT count(*) FROM t").await);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    writer.await.unwrap();
    let moving = seen.iter().filter(|&&n| n > 0 && n < writes).count();
    assert!(moving >= 2, "the replica did not follow the load: {seen:?}");
    let caught_up =
        eventually(20, || async { scalar(&r.url, "default", "SELECT count(*) FROM t").await == writes }).await;
    assert!(caught_up, "the replica did not catch up");
    // Same rows, same bytes.
    let digest = "SELECT id, hex(pad) FROM t ORDER BY id";
    let a = exec(&p.url, "default", &[digest]).await;
    let b = exec(&r.url, "default", &[digest]).await;
    assert_eq!(a[0]["rows"], b[0]["rows"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_killed_and_restarted_resumes_its_copies() {
    let p = primary().await;
    let http = reqwest::Client::new();
    http.post(format!("{}/v1/namespaces/t2/create", p.admin)).send().await.unwrap();
    exec(&p.url, "default", &["CREATE TABLE t(x)", "INSERT INTO t VALUES (1)"]).await;
    exec(&p.url, "t2", &["CREATE TABLE u(y)", "INSERT INTO u VALUES (1)"]).await;
    // Few open databases: namespaces close and reopen while their copies are followed.
    let args = |p: &Node| replica_args(p, &["--max-open-databases", "1"]);
    let mut r = node(&args(&p)).await;
    for i in 0..10 {
        exec(&r.url, "default", &[&format!("INSERT INTO t VALUES ({i})")]).await;
        exec(&r.url, "t2", &[&format!("INSERT INTO u VALUES ({i})")]).await;
    }
    assert_eq!(scalar(&r.url, "default", "SELECT count(*) FROM t").await, 11);
    assert_eq!(scalar(&r.url, "t2", "SELECT count(*) FROM u").await, 11);
    r.child.kill().await.unwrap();
    let dir = r.dir;
    // Written while the replica is down.
    exec(&p.url, "default", &["INSERT INTO t VALUES (100)"]).await;
    exec(&p.url, "t2", &["INSERT INTO u VALUES (100)"]).await;
    let r = node_in(dir, &args(&p)).await;
    let caught_up = eventually(20, || async {
        scalar(&r.url, "default", "SELECT count(*) FROM t").await == 12
            && scalar(&r.url, "t2", "SELECT count(*) FROM u").await == 12
    })
    .await;
    assert!(caught_up, "the restarted replica did not resume");
    for ns in ["default", "t2"] {
        let r = exec(&r.url, ns, &["PRAGMA integrity_check"]).await;
        assert_eq!(r[0]["rows"][0][0]["value"], "ok", "{ns}: {r:?}");
    }
}

/// Over WebSocket a replica serves reads from its copy and refuses writes with a clear error
/// (only HTTP requests are forwarded), and the copy stays the primary's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_websocket_a_replica_reads_and_refuses_writes_clearly() {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
    let p = primary().await;
    exec(&p.url, "default", &["CREATE TABLE t(x)", "INSERT INTO t VALUES (7)"]).await;
    let r = replica_of(&p).await;
    let mut req = r.url.replace("http://", "ws://").into_client_request().unwrap();
    req.headers_mut().insert("Sec-WebSocket-Protocol", "hrana2".parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    let msgs = [
        json!({"type": "hello", "jwt": null}),
        json!({"type": "request", "request_id": 0, "request": {"type": "open_stream", "stream_id": 0}}),
        json!({"type": "request", "request_id": 1, "request": {"type": "execute", "stream_id": 0, "stmt": {"sql": "SELECT x FROM t"}}}),
        json!({"type": "request", "request_id": 2, "request": {"type": "execute", "stream_id": 0, "stmt": {"sql": "INSERT INTO t VALUES (8)"}}}),
    ];
    let replies = common::ws_exchange(&mut ws, &msgs).await;
    assert_eq!(replies[2]["type"], "response_ok", "{replies:?}");
    assert_eq!(common::int(&replies[2]["response"]["result"]["rows"][0][0]), 7);
    assert_eq!(replies[3]["type"], "response_error", "{replies:?}");
    assert_eq!(replies[3]["error"]["code"], "SQLITE_AUTH", "{replies:?}");
    assert!(replies[3]["error"]["message"].as_str().unwrap().contains("replica"), "{replies:?}");
    assert_eq!(scalar(&p.url, "default", "SELECT count(*) FROM t").await, 1);
    assert_eq!(scalar(&r.url, "default", "SELECT count(*) FROM t").await, 1);
}

/// A namespace deleted and made again on the primary under the same name is copied anew, never
/// patched with the new database's frames: while the replica was down (its copy's position then
/// names frames of the old WAL, told apart by their salts) and while it runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_namespace_made_again_on_the_primary_is_copied_anew() {
    let p = primary().await;
    let http = reqwest::Client::new();
    let remake = |rows: i64| {
        let (http, p_admin, p_url) = (http.clone(), p.admin.clone(), p.url.clone());
        async move {
            let _ = http.delete(format!("{p_admin}/v1/namespaces/n")).send().await.unwrap();
            let s = http.post(format!("{p_admin}/v1/namespaces/n/create")).send().await.unwrap().status();
            assert_eq!(s.as_u16(), 200);
            exec(&p_url, "n", &["CREATE TABLE b(x)"]).await;
            for i in 0..rows {
                exec(&p_url, "n", &[&format!("INSERT INTO b VALUES ({i})")]).await;
            }
        }
    };
    http.post(format!("{}/v1/namespaces/n/create", p.admin)).send().await.unwrap();
    exec(&p.url, "n", &["CREATE TABLE a(x)", "INSERT INTO a VALUES (1)", "INSERT INTO a VALUES (2)"]).await;
    let args = |p: &Node| replica_args(p, &["--replica-discovery-ms", "2000"]);
    let mut r = node(&args(&p)).await;
    assert_eq!(scalar(&r.url, "n", "SELECT count(*) FROM a").await, 2);
    r.child.kill().await.unwrap();
    // Made again with more commits than the copy had applied of the old one.
    remake(20).await;
    let r = node_in(r.dir, &args(&p)).await;
    let copied = eventually(20, || async {
        let (s, b) = pipeline(&r.url, "n", None, json!([execute("SELECT count(*) FROM b")])).await;
        s == 200
            && b["results"][0]["type"] == "ok"
            && b["results"][0]["response"]["result"]["rows"][0][0]["value"] == "20"
    })
    .await;
    assert!(copied, "the restarted replica did not copy the new namespace");
    assert_eq!(scalar(&r.url, "n", "SELECT count(*) FROM sqlite_schema WHERE name = 'a'").await, 0);
    // And again while the replica runs: its copy (its own position, not a read that a stale copy
    // could pass to the primary) reaches the new database's 31 commits.
    remake(30).await;
    let copied = eventually(30, || async {
        let st: Value = http.get(format!("{}/v1/replication", r.admin)).send().await.unwrap().json().await.unwrap();
        st["namespaces"]["n"]["frame"].as_u64().is_some_and(|f| f >= 31)
    })
    .await;
    assert!(copied, "the running replica did not copy the new namespace");
    assert_eq!(scalar(&r.url, "n", "SELECT count(*) FROM b").await, 30);
    let ic = exec(&r.url, "n", &["PRAGMA integrity_check"]).await;
    assert_eq!(ic[0]["rows"][0][0]["value"], "ok", "{ic:?}");
}

/// `--durability replica`: a write is answered only once a replica server holds its frames.
/// Without a replica a write fails with REPLICA_UNAVAILABLE (committed on the primary all the
/// same); with one, every write that four writers were told succeeded is in the replica's file
/// when the primary is SIGKILLed at once after the last answer (and the replica right after it,
/// so that it cannot catch up in between).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_durability_replica_an_answered_write_is_on_a_replica() {
    let mut p = node(&["--durability".into(), "replica".into(), "--replica-ack-timeout-ms".into(), "700".into()]).await;
    let (s, b) =
        pipeline(&p.url, "default", None, json!([execute("CREATE TABLE t(id INTEGER PRIMARY KEY, w INT)")])).await;
    assert_eq!(s, 503, "{b}");
    assert_eq!(b["code"], "REPLICA_UNAVAILABLE", "{b}");
    assert!(b["message"].as_str().unwrap().contains("--replica-ack-timeout-ms"), "{b}");
    // Committed here all the same.
    assert_eq!(scalar(&p.url, "default", "SELECT count(*) FROM sqlite_schema WHERE name = 't'").await, 1);

    let mut r = node(&replica_args(&p, &["--advertise-url", "http://replica-one.test:1"])).await;
    let acked = eventually(20, || async {
        pipeline(&p.url, "default", None, json!([execute("INSERT INTO t(w) VALUES (-1)"), {"type": "close"}])).await.0
            == 200
    })
    .await;
    assert!(acked, "the replica never acknowledged");
    let status: Value = reqwest::get(format!("{}/v1/replication", p.admin)).await.unwrap().json().await.unwrap();
    assert_eq!(status["role"], "primary", "{status}");
    assert_eq!(status["durability_replica"], true, "{status}");
    assert_eq!(status["replicas"][0]["node"], "http://replica-one.test:1", "{status}");

    // Four writers; each answered write's id is recorded.
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut writers = Vec::new();
    for w in 0..4 {
        let url = p.url.clone();
        writers.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            while Instant::now() < deadline {
                let sql = format!("INSERT INTO t(w) VALUES ({w}) RETURNING id");
                let (s, b) = pipeline(&url, "default", None, json!([execute(&sql), {"type": "close"}])).await;
                if s == 200 && b["results"][0]["type"] == "ok" {
                    ids.push(common::int(&b["results"][0]["response"]["result"]["rows"][0][0]));
                }
            }
            ids
        }));
    }
    let mut answered = Vec::new();
    for w in writers {
        answered.extend(w.await.unwrap());
    }
    p.child.start_kill().unwrap();
    r.child.start_kill().unwrap();
    p.child.wait().await.unwrap();
    r.child.wait().await.unwrap();
    assert!(answered.len() > 20, "only {} writes were answered", answered.len());
    let copy = edgelite::Connection::open(r.dir.path().join("dbs/default/data")).unwrap();
    let mut held = std::collections::HashSet::new();
    let mut st = copy.prepare("SELECT id FROM t").unwrap();
    let mut rows = st.query([]).unwrap();
    while let Some(row) = rows.next().unwrap() {
        held.insert(row.get::<_, i64>(0).unwrap());
    }
    let lost: Vec<&i64> = answered.iter().filter(|id| !held.contains(id)).collect();
    assert!(lost.is_empty(), "{} of {} answered writes are not on the replica: {lost:?}", lost.len(), answered.len());
}
