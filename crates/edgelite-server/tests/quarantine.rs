//! A namespace that cannot be opened is set aside with a log line at its first use; the server
//! starts and serves the others (issue 12: before, one corrupt file stopped every tenant).
//! Startup opens nothing (issue 20), so the corrupt files are found when first asked for.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::AsyncBufReadExt as _;

/// A database as the server keeps them (WAL, 4096-byte pages) with one row.
fn good_db(dir: &Path, x: i64) {
    std::fs::create_dir_all(dir).unwrap();
    let conn = edgelite::Connection::open(dir.join("data")).unwrap();
    conn.execute_batch("PRAGMA page_size=4096; PRAGMA journal_mode=WAL; CREATE TABLE t(x)").unwrap();
    conn.execute("INSERT INTO t VALUES (?1)", [x]).unwrap();
}

async fn exec(http: &reqwest::Client, base: &str, ns: &str, sql: &str) -> (u16, Value) {
    let body = json!({"requests": [{"type": "execute", "stmt": {"sql": sql}}, {"type": "close"}]});
    let r = http.post(format!("{base}/v2/pipeline")).header("x-namespace", ns).json(&body).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_namespace_is_quarantined_and_the_others_are_served() {
    let dir = tempfile::tempdir().unwrap();
    let dbs = dir.path().join("dbs");
    good_db(&dbs.join("good"), 7);
    good_db(&dbs.join("other"), 8);
    // Not a database at all.
    std::fs::create_dir_all(dbs.join("garbage")).unwrap();
    let garbage = b"this is not an SQLite database; ".repeat(256);
    std::fs::write(dbs.join("garbage/data"), &garbage).unwrap();
    // Finding 2's result: page 1 of a real database overwritten with zeros.
    good_db(&dbs.join("zeroed"), 9);
    {
        let conn = edgelite::Connection::open(dbs.join("zeroed/data")).unwrap();
        conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE); PRAGMA journal_mode=DELETE").unwrap();
    }
    let mut zeroed = std::fs::read(dbs.join("zeroed/data")).unwrap();
    zeroed[..4096].fill(0);
    std::fs::write(dbs.join("zeroed/data"), &zeroed).unwrap();

    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_edgelite-server"))
        .args(["--http-listen-addr", "127.0.0.1:0", "--admin-listen-addr", "127.0.0.1:0", "--enable-namespaces"])
        .arg("--db-path")
        .arg(dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut out = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let mut err = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let line = tokio::time::timeout(Duration::from_secs(20), out.next_line()).await.unwrap().unwrap();
    // Before the fix: no line on stdout, the process exits with "opening databases: ...".
    let line = line.expect("the server must start despite the corrupt namespaces");
    let base = format!("http://{}", line.strip_prefix("edgelite-server listening on http://").unwrap());
    let mut log = Vec::new();
    let admin = loop {
        let l = tokio::time::timeout(Duration::from_secs(20), err.next_line()).await.unwrap().unwrap().unwrap();
        if let Some(a) = l.strip_prefix("edgelite-server admin API on http://") {
            break format!("http://{a}");
        }
        log.push(l);
    };
    assert!(log.is_empty(), "startup opens no namespace: {log:?}");

    let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
    for (ns, x) in [("good", "7"), ("other", "8")] {
        let (status, v) = exec(&http, &base, ns, "SELECT x FROM t").await;
        assert_eq!(status, 200, "{v}");
        assert_eq!(v["results"][0]["response"]["result"]["rows"], json!([[{"type": "integer", "value": x}]]));
    }
    let (status, v) = exec(&http, &base, "default", "SELECT 1").await;
    assert_eq!(status, 200, "{v}");
    for ns in ["garbage", "zeroed"] {
        let (status, v) = exec(&http, &base, ns, "SELECT 1").await;
        assert_eq!(status, 404, "{v}");
        assert!(!dbs.join(ns).exists(), "{ns} moved out of dbs/");
        let l = tokio::time::timeout(Duration::from_secs(20), err.next_line()).await.unwrap().unwrap().unwrap();
        log.push(l);
        // Asked again: it is gone, and nothing more is logged.
        let (status, _) = exec(&http, &base, ns, "SELECT 1").await;
        assert_eq!(status, 404);
    }
    for ns in ["garbage", "zeroed"] {
        let said =
            log.iter().any(|l| l.contains(&format!("namespace {ns:?} is quarantined")) && l.contains("not a database"));
        assert!(said, "a clear log line for {ns}: {log:?}");
    }
    assert_eq!(log.len(), 2, "{log:?}");
    // The files were moved, byte for byte.
    let quarantined: Vec<_> =
        std::fs::read_dir(dir.path().join("quarantine")).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(quarantined.len(), 2, "{quarantined:?}");
    let g = quarantined.iter().find(|p| p.file_name().unwrap().to_str().unwrap().starts_with("garbage-")).unwrap();
    assert_eq!(std::fs::read(g.join("data")).unwrap(), garbage);
    let z = quarantined.iter().find(|p| p.file_name().unwrap().to_str().unwrap().starts_with("zeroed-")).unwrap();
    assert_eq!(std::fs::read(z.join("data")).unwrap(), zeroed);

    // The name is free again, and a new namespace of that name does not touch the old files.
    let r = http.post(format!("{admin}/v1/namespaces/garbage/create")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let (status, v) = exec(&http, &base, "garbage", "CREATE TABLE fresh(y)").await;
    assert_eq!((status, &v["results"][0]["type"]), (200, &json!("ok")), "{v}");
    assert_eq!(std::fs::read(g.join("data")).unwrap(), garbage);
    assert!(child.try_wait().unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_default_is_not_replaced_by_an_empty_database() {
    let dir = tempfile::tempdir().unwrap();
    let default = dir.path().join("dbs/default");
    std::fs::create_dir_all(&default).unwrap();
    std::fs::write(default.join("data"), vec![0x5a; 8192]).unwrap();
    let config = edgelite_server::Config::new(dir.path().to_owned(), "127.0.0.1:0".into());
    let running = edgelite_server::start(config).await.unwrap();
    assert!(running.state.namespaces.get("default").is_none(), "an empty default would take the old one's writes");
    let r = reqwest::Client::new()
        .post(format!("http://{}/v2/pipeline", running.http_addr))
        .json(&json!({"requests": [{"type": "execute", "stmt": {"sql": "SELECT 1"}}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
    assert!(!default.exists());
    assert_eq!(std::fs::read_dir(dir.path().join("quarantine")).unwrap().count(), 1);
}
