//! The binary across restarts: generations and frames survive a crash; a clean stop ends the
//! generation with its frames archived.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::time::Duration;

use common::*;
use serde_json::{Value, json};

struct Proc {
    child: tokio::process::Child,
    base: String,
    http: reqwest::Client,
}

async fn spawn(dir: &Path) -> Proc {
    let (child, addr) = spawn_binary(|c| {
        c.arg("--db-path").arg(dir);
    })
    .await;
    Proc { child, base: format!("http://{addr}"), http: reqwest::Client::new() }
}

impl Proc {
    async fn exec(&self, sql: &str) -> Value {
        let r = self
            .http
            .post(format!("{}/v2/pipeline", self.base))
            .json(&json!({"requests": [{"type": "execute", "stmt": {"sql": sql}}, {"type": "close"}]}))
            .send()
            .await
            .unwrap();
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["results"][0]["type"], "ok", "{v}");
        v["results"][0]["response"]["result"].clone()
    }

    async fn get(&self, path: &str) -> (u16, Vec<u8>) {
        let r = self.http.get(format!("{}{path}", self.base)).send().await.unwrap();
        (r.status().as_u16(), r.bytes().await.unwrap().to_vec())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_keeps_frames_and_clean_stop_archives_them() {
    let dir = tempfile::tempdir().unwrap();
    let p = spawn(dir.path()).await;
    p.exec("CREATE TABLE t(x)").await;
    p.exec("INSERT INTO t VALUES (1)").await;
    let (_, before) = p.get("/sync/1/1/129").await;
    let n = before.len() / FRAME;
    let mut p = p;
    p.child.kill().await.unwrap(); // SIGKILL: no shutdown code runs

    let p = spawn(dir.path()).await;
    let (_, info) = p.get("/info").await;
    assert_eq!(serde_json::from_slice::<Value>(&info).unwrap(), json!({"current_generation": 1}));
    let (status, again) = p.get("/sync/1/1/129").await;
    assert_eq!(status, 200);
    assert_eq!(again, before, "the same frames after a crash");
    p.exec("INSERT INTO t VALUES (2)").await;
    let (status, more) = p.get(&format!("/sync/1/{}/{}", n + 1, n + 129)).await;
    assert_eq!(status, 200, "new writes continue the generation's WAL");
    let m = n + more.len() / FRAME;

    // SIGTERM: the server ends generation 1 before exiting.
    let pid = p.child.id().unwrap();
    let status = std::process::Command::new("kill").args(["-TERM", &pid.to_string()]).status().unwrap();
    assert!(status.success());
    let mut p = p;
    let exit = tokio::time::timeout(Duration::from_secs(20), p.child.wait()).await.unwrap().unwrap();
    assert!(exit.success(), "{exit:?}");

    let p = spawn(dir.path()).await;
    let (_, info) = p.get("/info").await;
    assert_eq!(serde_json::from_slice::<Value>(&info).unwrap(), json!({"current_generation": 2}));
    let (status, archived) = p.get("/sync/1/1/129").await;
    assert_eq!(status, 200);
    assert_eq!(archived.len(), m * FRAME);
    assert_eq!(&archived[..before.len()], &before[..]);
    let (status, end) = p.get(&format!("/sync/1/{}/{}", m + 1, m + 129)).await;
    assert_eq!((status, serde_json::from_slice::<Value>(&end).unwrap()), (400, json!({"generation": 2})));
    let (_, export) = p.get("/export/2").await;
    assert_eq!(query_image(dir.path(), "check.db", &export, "SELECT sum(x) FROM t"), 3);
    let (_, export1) = p.get("/export/1").await;
    let mut image = export1;
    apply_frames(&mut image, &archived);
    assert_eq!(query_image(dir.path(), "check1.db", &image, "SELECT sum(x) FROM t"), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_existing_database_file_is_adopted_as_generation_one() {
    let dir = tempfile::tempdir().unwrap();
    let ns = dir.path().join("dbs/default");
    std::fs::create_dir_all(&ns).unwrap();
    {
        let conn = edgelite::Connection::open(ns.join("data")).unwrap();
        conn.execute_batch(
            "PRAGMA page_size=4096; CREATE TABLE t(x); INSERT INTO t VALUES (7); PRAGMA user_version=5;",
        )
        .unwrap();
    }
    let p = spawn(dir.path()).await;
    let r = p.exec("SELECT x, (SELECT user_version FROM pragma_user_version) FROM t").await;
    assert_eq!(r["rows"], json!([[{"type": "integer", "value": "7"}, {"type": "integer", "value": "5"}]]));
    let (_, export) = p.get("/export/1").await;
    assert_eq!((export[18], export[19]), (2, 2));
    assert_eq!(query_image(dir.path(), "e.db", &export, "SELECT x FROM t"), 7);
}
