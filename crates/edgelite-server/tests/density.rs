//! Many tenants on one server (issue 20): databases open on demand and close when idle, with no
//! gap for replicas across a close; the per-namespace size quota; the open-database cap really
//! bounds the server's file descriptors.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;
use serde_json::{Value, json};

/// A client of the user API.
struct Api {
    http: reqwest::Client,
    base: String,
}

impl Api {
    fn of(s: &Srv) -> Api {
        Api { http: s.http.clone(), base: s.base.clone() }
    }

    async fn post_json(&self, path: &str, body: &Value) -> (u16, Value) {
        let r = self.http.post(format!("{}{path}", self.base)).json(body).send().await.unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    async fn get(&self, path: &str) -> (u16, Vec<u8>) {
        let r = self.http.get(format!("{}{path}", self.base)).send().await.unwrap();
        (r.status().as_u16(), r.bytes().await.unwrap().to_vec())
    }
}

/// Runs SQL on namespace `ns` (one stream, closed); returns the pipeline's results.
async fn run(s: &Api, ns: &str, sqls: &[&str]) -> (u16, Vec<Value>) {
    let mut reqs: Vec<Value> = sqls.iter().map(|q| json!({"type": "execute", "stmt": {"sql": q}})).collect();
    reqs.push(json!({"type": "close"}));
    let (status, body) = s.post_json(&format!("/dev/{ns}/v2/pipeline"), &json!({"requests": reqs})).await;
    (status, body["results"].as_array().cloned().unwrap_or_else(|| vec![body]))
}

async fn exec_ok(s: &Api, ns: &str, sqls: &[&str]) -> Vec<Value> {
    let (status, results) = run(s, ns, sqls).await;
    assert_eq!(status, 200, "{results:?}");
    for r in &results {
        assert_eq!(r["type"], "ok", "{r}");
    }
    results[..sqls.len()].iter().map(|r| r["response"]["result"].clone()).collect()
}

/// Pulls every frame of namespace `ns` from `g`/`next` on, as the native client does; returns
/// the new (generation, next frame).
async fn pull_all(s: &Api, ns: &str, image: &mut Vec<u8>, mut g: u32, mut next: u32) -> (u32, u32) {
    loop {
        let (status, body) = s.get(&format!("/dev/{ns}/sync/{g}/{next}/{}", next + 128)).await;
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

/// An embedded replica of namespace `ns` that has pulled everything: a copy of its database and
/// WAL, whose own writes continue the same WAL.
struct Replica {
    dir: tempfile::TempDir,
    conn: edgelite::Connection,
}

impl Replica {
    fn clone_from(s: &Srv, ns: &str) -> Replica {
        let dir = tempfile::tempdir().unwrap();
        let src = s.ns_dir(ns);
        std::fs::copy(src.join("data"), dir.path().join("local.db")).unwrap();
        std::fs::copy(src.join("data-wal"), dir.path().join("local.db-wal")).unwrap();
        let conn = edgelite::Connection::open(dir.path().join("local.db")).unwrap();
        conn.execute_batch("PRAGMA wal_autocheckpoint=0").unwrap();
        Replica { dir, conn }
    }

    fn frames(&self, start: usize, end: usize) -> Vec<u8> {
        let wal = std::fs::read(self.dir.path().join("local.db-wal")).unwrap();
        wal[32 + (start - 1) * FRAME..32 + (end - 1) * FRAME].to_vec()
    }

    fn frame_count(&self) -> usize {
        let len = std::fs::metadata(self.dir.path().join("local.db-wal")).unwrap().len() as usize;
        (len - 32) / FRAME
    }
}

async fn push(s: &Api, path: &str, body: Vec<u8>) -> (u16, Value) {
    let r = s.http.post(format!("{}{path}", s.base)).body(body).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap())
}

/// Closes `ns` by using another namespace (one database may be open at a time) and checks that
/// closing kept its WAL as it was: nothing checkpointed, the shared-memory index gone.
async fn close_by_using(s: &Srv, ns: &str, other: &str) {
    let wal = std::fs::metadata(s.ns_dir(ns).join("data-wal")).map(|m| m.len()).unwrap_or(0);
    exec_ok(&Api::of(s), other, &["SELECT 1"]).await;
    let namespaces = &s.running.state.namespaces;
    assert!(!namespaces.is_open(ns), "{ns} is closed once {other} is used");
    assert!(namespaces.is_open(other));
    assert_eq!(std::fs::metadata(s.ns_dir(ns).join("data-wal")).unwrap().len(), wal, "closing never checkpoints");
    assert!(!s.ns_dir(ns).join("data-shm").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_closed_between_syncs_and_pushes_serves_them_with_no_gap() {
    let s = start_with(|c| {
        c.enable_namespaces = true;
        c.limits.max_open_databases = 1;
    })
    .await;
    let namespaces = s.running.state.namespaces.clone();
    let api = Api::of(&s);
    for n in ["a", "b"] {
        namespaces.create(n, None).unwrap();
    }
    assert!(!namespaces.is_open("a") && !namespaces.is_open("b"), "creating opens nothing");

    exec_ok(&api, "a", &["CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)", "INSERT INTO t(v) VALUES ('one')"]).await;
    let (status, export) = api.get("/dev/a/export/1").await;
    assert_eq!(status, 200);
    let mut image = export;
    let (g, next) = pull_all(&api, "a", &mut image, 1, 1).await;
    assert_eq!(g, 1);

    // Closed between two pulls: the next pull goes on at the next frame of the same generation.
    close_by_using(&s, "a", "b").await;
    exec_ok(&api, "a", &["INSERT INTO t(v) VALUES ('two')"]).await;
    close_by_using(&s, "a", "b").await;
    let (g, next) = pull_all(&api, "a", &mut image, g, next).await;
    assert_eq!(g, 1, "no new generation");
    assert_eq!(query_image(s.dir.path(), "r1.db", &image, "SELECT count(*) FROM t"), 2);

    // An offline replica's push arrives while the tenant is closed.
    let local = Replica::clone_from(&s, "a");
    let n = local.frame_count();
    assert_eq!(n as u32, next - 1);
    local.conn.execute("INSERT INTO t(v) VALUES ('offline')", []).unwrap();
    let m = local.frame_count();
    close_by_using(&s, "a", "b").await;
    let (status, v) = push(&api, &format!("/dev/a/sync/1/{}/{}", n + 1, m + 1), local.frames(n + 1, m + 1)).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v, json!({"status": "ok", "generation": 1, "max_frame_no": m, "baton": null}));

    // A push split mid-commit holds the tenant open until its commit arrives: the other tenant
    // has to wait (the server may open one database), and the baton still works.
    let sql = "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 20) \
               INSERT INTO t(v) SELECT hex(randomblob(1500)) FROM c";
    local.conn.execute(sql, []).unwrap();
    let k = local.frame_count();
    assert!(k - m > 4);
    let split = m + 3;
    let (_, v) = push(&api, &format!("/dev/a/sync/1/{}/{split}", m + 1), local.frames(m + 1, split)).await;
    assert_eq!(v["status"], "ok", "{v}");
    let baton = v["baton"].as_str().unwrap().to_owned();
    let (status, r) = run(&api, "b", &["SELECT 1"]).await;
    assert_eq!(status, 503, "{r:?}");
    assert_eq!(r[0]["code"], "TOO_MANY_OPEN_DATABASES", "{r:?}");
    assert!(namespaces.is_open("a"), "an unfinished push keeps its tenant open");
    let (_, v) = push(&api, &format!("/dev/a/sync/1/{split}/{}/{baton}", k + 1), local.frames(split, k + 1)).await;
    assert_eq!(v, json!({"status": "ok", "generation": 1, "max_frame_no": k, "baton": null}));
    close_by_using(&s, "a", "b").await;

    // The server serves the pushed frames as the replica wrote them, after the ones it had.
    let (g, next) = pull_all(&api, "a", &mut image, g, next).await;
    assert_eq!((g, next as usize), (1, k + 1));
    let (_, served) = api.get(&format!("/dev/a/sync/1/{}/{}", n + 1, k + 1)).await;
    for (a, b) in served.chunks_exact(FRAME).zip(local.frames(n + 1, k + 1).chunks_exact(FRAME)) {
        assert_eq!(a[..8], b[..8]);
        assert_eq!(a[24..], b[24..]);
    }
    assert_eq!(query_image(s.dir.path(), "r2.db", &image, "SELECT count(*) FROM t"), 23);

    // Generations go on across closes too: a checkpoint, a close, a write, a pull.
    let ns = namespaces.get("a").unwrap();
    assert!(ns.checkpoint(true).await.unwrap());
    drop(ns);
    close_by_using(&s, "a", "b").await;
    exec_ok(&api, "a", &["INSERT INTO t(v) VALUES ('g2')"]).await;
    close_by_using(&s, "a", "b").await;
    let (g, _) = pull_all(&api, "a", &mut image, g, next).await;
    assert_eq!(g, 2);
    assert_eq!(query_image(s.dir.path(), "r3.db", &image, "SELECT count(*) FROM t"), 24);
    let rows = exec_ok(&api, "a", &["SELECT count(*) FROM t"]).await;
    assert_eq!(int(&rows[0]["rows"][0][0]), 24);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reached_quota_gives_sqlite_full_and_keeps_what_was_committed() {
    let dir = tempfile::tempdir().unwrap();
    let configure = |c: &mut edgelite_server::Config| {
        c.enable_namespaces = true;
        c.limits.max_db_size = 64 << 10;
    };
    let mut config = edgelite_server::Config::new(dir.path().to_owned(), "127.0.0.1:0".into());
    configure(&mut config);
    let running = edgelite_server::start(config).await.unwrap();
    let base = format!("http://{}", running.http_addr);
    let s = Api { http: reqwest::Client::new(), base };
    exec_ok(&s, "default", &["CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB)"]).await;
    let mut committed = 0;
    let error = loop {
        let (status, r) = run(&s, "default", &["INSERT INTO t(v) VALUES (randomblob(1000))"]).await;
        assert_eq!(status, 200);
        if r[0]["type"] == "error" {
            break r[0]["error"].clone();
        }
        committed += 1;
        assert!(committed < 200, "the quota of 64 KiB stops a 1000-byte row well before 200");
    };
    assert_eq!(error["code"], "SQLITE_FULL", "{error}");
    assert!(error["message"].as_str().unwrap().contains("--max-db-size"), "{error}");
    assert!(committed > 20, "{committed} rows fit");
    // The client cannot lift its own quota.
    let (_, r) = run(&s, "default", &["PRAGMA max_page_count = 1000000"]).await;
    assert_eq!(r[0]["error"]["code"], "SQLITE_AUTH", "{r:?}");
    // A failed transaction leaves everything committed before it.
    let (_, r) = run(&s, "default", &["BEGIN", "INSERT INTO t(v) VALUES (randomblob(30000))", "COMMIT"]).await;
    assert_eq!(r[1]["error"]["code"], "SQLITE_FULL", "{r:?}");
    async fn count(s: &Api) -> i64 {
        int(&exec_ok(s, "default", &["SELECT count(*) FROM t"]).await[0]["rows"][0][0])
    }
    assert_eq!(count(&s).await, committed);
    // Deleting makes room again.
    exec_ok(&s, "default", &["DELETE FROM t WHERE id <= 10", "INSERT INTO t(v) VALUES (randomblob(1000))"]).await;
    assert_eq!(count(&s).await, committed - 9);
    // And it is all still there after a restart.
    running.shutdown().await;
    drop(running);
    let mut config = edgelite_server::Config::new(dir.path().to_owned(), "127.0.0.1:0".into());
    configure(&mut config);
    let running = edgelite_server::start(config).await.unwrap();
    let base = format!("http://{}", running.http_addr);
    let s2 = Api { http: reqwest::Client::new(), base };
    let _running = running;
    assert_eq!(count(&s2).await, committed - 9);
    let check = exec_ok(&s2, "default", &["PRAGMA integrity_check"]).await;
    assert_eq!(check[0]["rows"][0][0]["value"], "ok");
}

fn fd_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).unwrap().count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_open_database_cap_bounds_the_servers_descriptors() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, addr) = spawn_binary(|cmd| {
        cmd.args(["--enable-namespaces", "--admin-listen-addr", "127.0.0.1:0", "--max-open-databases", "4"])
            .arg("--db-path")
            .arg(dir.path())
            .stderr(std::process::Stdio::piped());
    })
    .await;
    let pid = child.id().unwrap();
    let admin = {
        use tokio::io::AsyncBufReadExt as _;
        let mut err = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
        let l = tokio::time::timeout(Duration::from_secs(20), err.next_line()).await.unwrap().unwrap().unwrap();
        format!("http://{}", l.strip_prefix("edgelite-server admin API on http://").unwrap())
    };
    let s = Api { http: reqwest::Client::new(), base: format!("http://{addr}") };
    exec_ok(&s, "default", &["SELECT 1"]).await;
    let before = fd_count(pid);
    const N: usize = 24;
    for i in 0..N {
        let r = s.http.post(format!("{admin}/v1/namespaces/t{i}/create")).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 200);
        exec_ok(&s, &format!("t{i}"), &["CREATE TABLE t(x)", &format!("INSERT INTO t VALUES ({i})")]).await;
    }
    let after = fd_count(pid);
    // Each open database holds its file, WAL and index (3), and 2 per pooled connection: without
    // the cap the 24 tenants would hold about 120 more than before.
    assert!(after <= before + 4 * 5 + 4, "{before} descriptors before, {after} after {N} tenants");
    let list: Value = s.http.get(format!("{admin}/v1/namespaces")).send().await.unwrap().json().await.unwrap();
    assert_eq!(list["namespaces"].as_array().unwrap().len(), N + 1);
    assert!(list["open"].as_u64().unwrap() <= 4, "{list}");
    // Every tenant's row, reopened one after the other.
    for i in 0..N {
        let rows = exec_ok(&s, &format!("t{i}"), &["SELECT x FROM t"]).await;
        assert_eq!(int(&rows[0]["rows"][0][0]), i as i64);
    }
    assert!(fd_count(pid) <= before + 4 * 5 + 4);
}
