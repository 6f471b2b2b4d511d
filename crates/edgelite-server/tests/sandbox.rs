//! Client SQL cannot reach native code, raw pages or shadow tables (issue 12, findings 1 and 2).
//!
//! The server runs as a child process: before the fix the tokenizer requests kill it, and the
//! test must see that as a dead server, not as a crashed test binary.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::time::Duration;

use common::{keys, spawn_binary, token};
use serde_json::{Value, json};

struct Proc {
    child: tokio::process::Child,
    base: String,
    http: reqwest::Client,
    rw: String,
    ro: String,
}

/// Starts the binary with an Ed25519 key; returns it with a read-write and a read-only token.
async fn spawn(dir: &Path) -> Proc {
    let k = keys();
    let public = k.public_b64.clone();
    let token = |claims: &Value| token(&k, claims);
    let (child, addr) = spawn_binary(|c| {
        c.arg("--db-path").arg(dir).env("SQLD_AUTH_JWT_KEY", &public);
    })
    .await;
    Proc {
        child,
        base: format!("http://{addr}"),
        http: reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap(),
        rw: token(&json!({"a": "rw"})),
        ro: token(&json!({"a": "ro"})),
    }
}

/// A statement the authorizer refused, with SQLite's own codes and messages: `SQLITE_AUTH`
/// "not authorized" for actions, "access to t.c is prohibited" for column reads, and
/// `SQLITE_ERROR` "not authorized to use function" for functions.
fn assert_refused(r: &Value, sql: &str) {
    assert_eq!(r["type"], "error", "{sql} must fail: {r}");
    let message = r["error"]["message"].as_str().unwrap();
    let code = if message.contains("to use function") { "SQLITE_ERROR" } else { "SQLITE_AUTH" };
    assert_eq!(r["error"]["code"], code, "{sql}: {r}");
    assert!(message.contains("not authorized") || message.contains("prohibited"), "{sql}: {r}");
}

impl Proc {
    /// Runs each statement as one execute of a single pipeline; returns each result entry.
    /// Panics if the server does not answer (it died).
    async fn run(&self, token: &str, sqls: &[&str]) -> Vec<Value> {
        let mut reqs: Vec<Value> = sqls.iter().map(|s| json!({"type": "execute", "stmt": {"sql": s}})).collect();
        reqs.push(json!({"type": "close"}));
        let r = self
            .http
            .post(format!("{}/v2/pipeline", self.base))
            .bearer_auth(token)
            .json(&json!({"requests": reqs}))
            .send()
            .await
            .unwrap_or_else(|e| panic!("the server did not answer {sqls:?}: {e}"));
        assert_eq!(r.status().as_u16(), 200);
        let v: Value = r.json().await.unwrap();
        v["results"].as_array().unwrap()[..sqls.len()].to_vec()
    }

    async fn ok(&self, token: &str, sql: &str) -> Value {
        let r = self.run(token, &[sql]).await.remove(0);
        assert_eq!(r["type"], "ok", "{sql}: {r}");
        r["response"]["result"].clone()
    }

    /// The authorizer refuses the statement (a result, not an HTTP error).
    async fn refused(&self, token: &str, sql: &str) {
        let r = self.run(token, &[sql]).await.remove(0);
        assert_refused(&r, sql);
    }

    /// The process is still running and answers health checks and queries.
    async fn alive(&mut self) {
        assert!(self.child.try_wait().unwrap().is_none(), "the server exited");
        let r = self.http.get(format!("{}/health", self.base)).send().await.expect("health");
        assert_eq!(r.status().as_u16(), 200);
        let one = self.ok(&self.ro, "SELECT 1").await;
        assert_eq!(one["rows"], json!([[{"type": "integer", "value": "1"}]]));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fts3_tokenizer_cannot_install_a_pointer() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = spawn(dir.path()).await;
    // Finding 1 as filed: a blob installed as a tokenizer pointer, then a table that calls it.
    let r = p
        .run(
            &p.rw,
            &["SELECT fts3_tokenizer('x', X'4141414141414141')", "CREATE VIRTUAL TABLE f USING fts3(a, tokenize=x)"],
        )
        .await;
    p.alive().await;
    assert_refused(&r[0], "fts3_tokenizer('x', blob)");
    assert_eq!(r[1]["type"], "error", "{}", r[1]);
    assert!(r[1]["error"]["message"].as_str().unwrap().contains("unknown tokenizer"), "{}", r[1]);
    // The one-argument form is an address leak (a pointer into the executable).
    p.refused(&p.ro, "SELECT fts3_tokenizer('simple')").await;
    p.refused(&p.rw, "SELECT hex(fts3_tokenizer('porter'))").await;
    // Built-in tokenizers keep working.
    p.ok(&p.rw, "CREATE VIRTUAL TABLE g USING fts3(a, tokenize=porter)").await;
    p.ok(&p.rw, "INSERT INTO g VALUES ('running dogs')").await;
    let n = p.ok(&p.rw, "SELECT count(*) FROM g WHERE g MATCH 'run'").await;
    assert_eq!(n["rows"], json!([[{"type": "integer", "value": "1"}]]));
    p.alive().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_tokens_cannot_replace_a_tokenizer_under_match() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = spawn(dir.path()).await;
    p.ok(&p.rw, "CREATE VIRTUAL TABLE f USING fts4(body)").await;
    p.ok(&p.rw, "INSERT INTO f VALUES ('hello world')").await;
    // Finding 1's read-only route: a SELECT (read-only to SQLite) replaces the 'simple'
    // tokenizer of the connection it runs on, then an existing fts4 table is queried.
    let r = p
        .run(
            &p.ro,
            &["SELECT fts3_tokenizer('simple', X'4141414141414141')", "SELECT count(*) FROM f WHERE f MATCH 'hello'"],
        )
        .await;
    p.alive().await;
    assert_refused(&r[0], "fts3_tokenizer('simple', blob)");
    assert_eq!(r[1]["type"], "ok", "{}", r[1]);
    assert_eq!(r[1]["response"]["result"]["rows"], json!([[{"type": "integer", "value": "1"}]]));
    // On fresh connections too (each pipeline may get a pooled or a new connection).
    for _ in 0..3 {
        let n = p.ok(&p.ro, "SELECT count(*) FROM f WHERE f MATCH 'world'").await;
        assert_eq!(n["rows"], json!([[{"type": "integer", "value": "1"}]]));
    }
    p.alive().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_pages_are_out_of_reach_by_any_name() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = spawn(dir.path()).await;
    p.ok(&p.rw, "CREATE TABLE t(x)").await;
    p.ok(&p.rw, "INSERT INTO t VALUES (42)").await;
    // Finding 2 as filed: an alias of sqlite_dbpage, then page 1 overwritten.
    let r = p
        .run(
            &p.rw,
            &["CREATE VIRTUAL TABLE p USING sqlite_dbpage", "UPDATE p SET data = zeroblob(4096) WHERE pgno = 1"],
        )
        .await;
    assert_eq!(r[0]["error"]["code"], "SQLITE_AUTH", "{}", r[0]);
    assert_eq!(r[1]["type"], "error", "{}", r[1]);
    p.refused(&p.rw, "CREATE VIRTUAL TABLE IF NOT EXISTS q USING SQLITE_DBPAGE('main')").await;
    p.refused(&p.rw, "CREATE VIRTUAL TABLE temp.q USING sqlite_dbpage").await;
    // The eponymous table itself, read or written, with or without a column used.
    p.refused(&p.rw, "UPDATE sqlite_dbpage SET data = zeroblob(4096) WHERE pgno = 1").await;
    p.refused(&p.rw, "INSERT INTO sqlite_dbpage(pgno, data) VALUES (1, zeroblob(4096))").await;
    p.refused(&p.rw, "SELECT data FROM sqlite_dbpage WHERE pgno = 1").await;
    p.refused(&p.ro, "SELECT count(*) FROM sqlite_dbpage").await;
    p.refused(&p.ro, "SELECT count(*) FROM main.sqlite_dbpage('main')").await;
    // The connection's statements and bytecode (heap addresses), by alias or by name.
    p.refused(&p.rw, "CREATE VIRTUAL TABLE s USING sqlite_stmt").await;
    p.refused(&p.ro, "SELECT count(*) FROM sqlite_stmt").await;
    p.refused(&p.rw, "CREATE VIRTUAL TABLE b USING bytecode").await;
    p.refused(&p.rw, "CREATE VIRTUAL TABLE u USING tables_used").await;
    // and their eponymous tables are gone (a reviewer read a `vtab:7FF3...` address through
    // `SELECT p4 FROM bytecode(...)`), while a client's own table of that name works
    for sql in ["SELECT * FROM bytecode('SELECT 1')", "SELECT * FROM tables_used('SELECT * FROM sqlite_schema')"] {
        let r = p.run(&p.ro, &[sql]).await;
        assert!(r[0]["error"]["message"].as_str().is_some_and(|m| m.contains("no such table")), "{sql}: {}", r[0]);
    }
    let r =
        p.run(&p.rw, &["CREATE TABLE bytecode(x)", "INSERT INTO bytecode VALUES (1)", "SELECT x FROM bytecode"]).await;
    assert_eq!(r[2]["response"]["result"]["rows"][0][0]["value"], "1", "{}", r[2]);
    // The server's memory is not the tenant's to size.
    p.refused(&p.rw, "SELECT edgelite_vector_cache_limit(1 << 40)").await;
    p.refused(&p.ro, "SELECT edgelite_vector_cache_process_limit(NULL)").await;
    // nor its cores: vector index builds run on one thread (set by the server, not changeable)
    p.refused(&p.rw, "SELECT edgelite_vector_build_threads(64)").await;
    p.refused(&p.ro, "SELECT edgelite_vector_build_threads(NULL)").await;
    p.refused(&p.rw, "SELECT edgelite_vector_build_limit(1 << 40)").await;
    p.refused(&p.rw, "SELECT load_extension('/lib/x86_64-linux-gnu/libc.so.6')").await;
    // dbstat (this database's own page statistics) stays.
    let pages = p.ok(&p.ro, "SELECT count(*) > 0 FROM dbstat").await;
    assert_eq!(pages["rows"], json!([[{"type": "integer", "value": "1"}]]));
    let x = p.ok(&p.ro, "SELECT x FROM t").await;
    assert_eq!(x["rows"], json!([[{"type": "integer", "value": "42"}]]));
    p.alive().await;

    // The namespace still opens after a restart (before the fix the server refused to start).
    let pid = p.child.id().unwrap();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid.to_string()]).status().unwrap().success());
    let exit = tokio::time::timeout(Duration::from_secs(20), p.child.wait()).await.unwrap().unwrap();
    assert!(exit.success(), "{exit:?}");
    let mut p = spawn(dir.path()).await;
    p.alive().await;
    let x = p.ok(&p.ro, "SELECT x FROM t").await;
    assert_eq!(x["rows"], json!([[{"type": "integer", "value": "42"}]]));
}

/// Memory a client could take without bound through pragmas (a server review: one request
/// held 5.3 GB with `temp_store = MEMORY` and a temporary table, a sort 565 MB with a huge
/// `cache_size`) is refused; the values applications tune within bounds, and reading every
/// one of them, stay allowed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_pragmas_are_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = spawn(dir.path()).await;
    for sql in [
        "PRAGMA temp_store = MEMORY",
        "PRAGMA temp_store = 2",
        "PRAGMA temp.temp_store = 'memory'",
        "PRAGMA cache_size = -100000000",
        "PRAGMA cache_size = 1000000",
        "PRAGMA temp.cache_size = 0x7fffffff",
        "PRAGMA cache_spill = OFF",
        "PRAGMA cache_spill = 0",
        "PRAGMA cache_spill = 100000",
        "PRAGMA threads = 8",
        "PRAGMA threads = 0x10",
        // a reviewer's bypasses: SQLite reads numbers leniently
        "PRAGMA threads = ' 8'",
        "PRAGMA cache_spill = '0.5'",
        "PRAGMA cache_spill = '0x0'",
        "PRAGMA cache_spill = '100000abc'",
        "PRAGMA cache_size = ' -100000000'",
        "PRAGMA default_cache_size = 100000000",
        "PRAGMA page_size = 65536",
        "PRAGMA temp.page_size = 65536",
    ] {
        p.refused(&p.rw, sql).await;
    }
    // Within bounds, in one stream: the values stay set on its connection.
    let r = p
        .run(
            &p.rw,
            &[
                "PRAGMA temp_store = FILE",
                "PRAGMA cache_size = -64000",
                "PRAGMA cache_spill = ON",
                "PRAGMA cache_spill = 1000",
                "PRAGMA page_size = 4096",
                "PRAGMA threads = 0",
                "PRAGMA temp_store",
                "PRAGMA cache_size",
                "PRAGMA threads",
                "PRAGMA default_cache_size",
            ],
        )
        .await;
    for (i, x) in r.iter().enumerate() {
        assert_eq!(x["type"], "ok", "statement {i}: {x}");
    }
    let value = |x: &Value| x["response"]["result"]["rows"][0][0]["value"].as_str().unwrap().to_owned();
    assert_eq!(value(&r[6]), "1", "temp_store FILE");
    assert_eq!(value(&r[7]), "-64000");
    // sorts run on the request's thread
    assert_eq!(value(&r[8]), "0");
    p.alive().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shadow_tables_are_read_only_to_clients() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = spawn(dir.path()).await;
    p.ok(&p.rw, "CREATE VIRTUAL TABLE f5 USING fts5(a)").await;
    p.ok(&p.rw, "INSERT INTO f5 VALUES ('hello shadow')").await;
    p.ok(&p.rw, "CREATE VIRTUAL TABLE r USING rtree(id, x0, x1)").await;
    p.ok(&p.rw, "INSERT INTO r VALUES (1, 0, 1)").await;
    for sql in [
        "UPDATE f5_data SET block = X'00'",
        "DELETE FROM f5_idx",
        "INSERT INTO f5_content(id, c0) VALUES (99, 'forged')",
        "DROP TABLE f5_data",
        "UPDATE r_node SET data = zeroblob(16)",
        "DELETE FROM r_rowid",
    ] {
        let r = p.run(&p.rw, &[sql]).await.remove(0);
        assert_eq!(r["type"], "error", "{sql} must fail: {r}");
        assert!(r["error"]["message"].as_str().unwrap().contains("may not be"), "{sql}: {r}");
    }
    // Reading them is harmless, and the tables themselves still work and check.
    p.ok(&p.ro, "SELECT count(*) FROM f5_data").await;
    let n = p.ok(&p.ro, "SELECT count(*) FROM f5 WHERE f5 MATCH 'shadow'").await;
    assert_eq!(n["rows"], json!([[{"type": "integer", "value": "1"}]]));
    p.ok(&p.rw, "INSERT INTO f5(f5) VALUES ('integrity-check')").await;
    let ok = p.ok(&p.ro, "PRAGMA integrity_check").await;
    assert_eq!(ok["rows"], json!([[{"type": "text", "value": "ok"}]]));
    p.ok(&p.rw, "DROP TABLE f5").await;
    p.alive().await;
}
