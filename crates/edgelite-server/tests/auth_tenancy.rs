//! JWT authentication and namespaces with the admin API.
#![allow(clippy::unwrap_used)]

mod common;

use base64::Engine as _;
use common::*;
use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

async fn with_token(s: &Srv, path: &str, tok: Option<&str>, body: &Value) -> (u16, Value) {
    let mut req = s.http.post(format!("{}{path}", s.base)).json(body);
    if let Some(t) = tok {
        req = req.bearer_auth(t);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn exec_body(sql: &str) -> Value {
    json!({"requests": [{"type": "execute", "stmt": {"sql": sql}}, {"type": "close"}]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwt_tokens_are_checked_like_sqld() {
    let k = keys();
    let other = keys();
    let key_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(key_file.path(), &k.public_b64).unwrap();
    let path = key_file.path().to_owned();
    let s = start_with(move |c| c.auth_jwt_key_file = Some(path)).await;

    let rw = token(&k, &json!({}));
    let ro = token(&k, &json!({"a": "ro"}));
    let expired = token(&k, &json!({"exp": 1_000_000}));
    let foreign = token(&other, &json!({}));
    let other_ns = token(&k, &json!({"id": "elsewhere"}));
    let perms_ro = token(&k, &json!({"p": {"ro": {"ns": ["default"]}}}));

    let (status, v) = with_token(&s, "/v2/pipeline", None, &exec_body("SELECT 1")).await;
    assert_eq!(status, 401);
    assert!(v["error"].is_string());
    for bad in [&expired, &foreign, &"not.a.jwt".to_owned()] {
        let (status, v) = with_token(&s, "/v2/pipeline", Some(bad), &exec_body("SELECT 1")).await;
        assert_eq!(status, 401, "{v}");
    }
    let (status, _) = with_token(&s, "/v2/pipeline", Some(&other_ns), &exec_body("SELECT 1")).await;
    assert_eq!(status, 403);

    let (status, v) = with_token(&s, "/v2/pipeline", Some(&rw), &exec_body("CREATE TABLE t(x)")).await;
    assert_eq!((status, v["results"][0]["type"].as_str()), (200, Some("ok")));
    for t in [&ro, &perms_ro] {
        let (status, v) = with_token(&s, "/v3/pipeline", Some(t), &exec_body("INSERT INTO t VALUES (1)")).await;
        assert_eq!(status, 200);
        assert_eq!(v["results"][0]["error"]["code"], "SQLITE_AUTH", "{v}");
        let (_, v) = with_token(&s, "/v3/pipeline", Some(t), &exec_body("SELECT count(*) FROM t")).await;
        assert_eq!(int(&v["results"][0]["response"]["result"]["rows"][0][0]), 0);
    }
    // Sync endpoints: 401 without a token (the client treats that as fatal), push needs rw.
    let r = s.http.get(format!("{}/info", s.base)).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let r = s.http.get(format!("{}/info", s.base)).bearer_auth(&ro).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let r = s.http.post(format!("{}/sync/1/1/2", s.base)).bearer_auth(&ro).body(vec![0u8; FRAME]).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 403);

    // WebSocket: the token is in hello.
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/", s.running.http_addr)).await.unwrap();
    ws.send(Message::Text(json!({"type": "hello", "jwt": foreign}).to_string().into())).await.unwrap();
    let Some(Ok(Message::Text(t))) = ws.next().await else { panic!("no reply") };
    let v: Value = serde_json::from_str(t.as_str()).unwrap();
    assert_eq!(v["type"], "hello_error");
    assert_eq!(v["error"]["code"], "AUTH_JWT_INVALID");
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/", s.running.http_addr)).await.unwrap();
    ws.send(Message::Text(json!({"type": "hello", "jwt": rw}).to_string().into())).await.unwrap();
    let Some(Ok(Message::Text(t))) = ws.next().await else { panic!("no reply") };
    assert_eq!(serde_json::from_str::<Value>(t.as_str()).unwrap()["type"], "hello_ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pem_keys_are_accepted() {
    let k = keys();
    // SPKI DER for Ed25519 is a fixed 12-byte prefix plus the raw key.
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(&k.public_b64).unwrap();
    let mut der = vec![0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00];
    der.extend_from_slice(&raw);
    let pem = format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
        base64::engine::general_purpose::STANDARD.encode(&der)
    );
    let s = start_with(move |c| c.auth_jwt_key = Some(pem)).await;
    let (status, _) =
        with_token(&s, "/v2/pipeline", Some(&token(&k, &json!({"a": "rw"}))), &exec_body("SELECT 1")).await;
    assert_eq!(status, 200);
    let (status, _) = with_token(&s, "/v2/pipeline", Some(&token(&keys(), &json!({}))), &exec_body("SELECT 1")).await;
    assert_eq!(status, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespaces_by_header_host_and_path_with_admin_api() {
    let s = start_with(|c| {
        c.enable_namespaces = true;
        c.admin_listen_addr = Some("127.0.0.1:0".into());
    })
    .await;
    let admin = format!("http://{}", s.running.admin_addr.unwrap());
    let post = |url: String| {
        let http = s.http.clone();
        async move { http.post(url).send().await.unwrap().status().as_u16() }
    };
    assert_eq!(post(format!("{admin}/v1/namespaces/alpha/create")).await, 200);
    assert_eq!(post(format!("{admin}/v1/namespaces/alpha/create")).await, 409);
    assert_eq!(post(format!("{admin}/v1/namespaces/bad.name/create")).await, 400);

    let r = s
        .http
        .post(format!("{}/v2/pipeline", s.base))
        .header("x-namespace", "alpha")
        .json(&exec_body("CREATE TABLE a(x)"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let r = s
        .http
        .post(format!("{}/v2/pipeline", s.base))
        .header("host", "alpha.db.example.com")
        .json(&exec_body("INSERT INTO a VALUES (42)"))
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["results"][0]["type"], "ok", "{v}");
    let (_, v) = s.post_json("/dev/alpha/v2/pipeline", &exec_body("SELECT x FROM a")).await;
    assert_eq!(int(&v["results"][0]["response"]["result"]["rows"][0][0]), 42);
    // The default namespace is another database.
    let (_, v) = s.post_json("/v2/pipeline", &exec_body("SELECT x FROM a")).await;
    assert_eq!(v["results"][0]["error"]["code"], "SQLITE_ERROR");
    // Sync endpoints are per namespace too.
    // (alpha's WAL holds its two commits; the default namespace has written nothing)
    let r = s.http.get(format!("{}/dev/alpha/sync/1/1/129", s.base)).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let frames = r.bytes().await.unwrap();
    assert!(!frames.is_empty() && frames.len() % 4120 == 0, "{} bytes", frames.len());
    let r = s.http.get(format!("{}/sync/1/1/129", s.base)).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 400);
    // Unknown namespace.
    let (status, v) = s.post_json("/dev/nope/v2/pipeline", &exec_body("SELECT 1")).await;
    assert_eq!(status, 404);
    assert_eq!(v["code"], "NAMESPACE_DOESNT_EXIST");

    assert_eq!(post(format!("{admin}/v1/namespaces/alpha/fork/beta")).await, 200);
    let (_, v) = s.post_json("/dev/beta/v2/pipeline", &exec_body("SELECT x FROM a")).await;
    assert_eq!(int(&v["results"][0]["response"]["result"]["rows"][0][0]), 42);
    let (_, info) = s.get("/dev/beta/info").await;
    assert_eq!(serde_json::from_slice::<Value>(&info).unwrap(), json!({"current_generation": 1}));

    let r = s.http.delete(format!("{admin}/v1/namespaces/alpha")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let (status, _) = s.post_json("/dev/alpha/v2/pipeline", &exec_body("SELECT 1")).await;
    assert_eq!(status, 404);
    assert!(!s.ns_dir("alpha").exists());
    let r = s.http.delete(format!("{admin}/v1/namespaces/alpha")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_namespace_key_replaces_the_server_key() {
    let server_key = keys();
    let ns_key = keys();
    let text = server_key.public_b64.clone();
    let s = start_with(move |c| {
        c.auth_jwt_key = Some(text);
        c.enable_namespaces = true;
        c.admin_listen_addr = Some("127.0.0.1:0".into());
    })
    .await;
    let admin = format!("http://{}", s.running.admin_addr.unwrap());
    let r = s
        .http
        .post(format!("{admin}/v1/namespaces/own/create"))
        .json(&json!({"jwt_key": ns_key.public_b64}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let r = s
        .http
        .post(format!("{admin}/v1/namespaces/bad/create"))
        .json(&json!({"jwt_key": "short"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let r = s.http.post(format!("{admin}/v1/namespaces/bad/create")).body("{").send().await.unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let (status, _) =
        with_token(&s, "/dev/own/v2/pipeline", Some(&token(&ns_key, &json!({}))), &exec_body("SELECT 1")).await;
    assert_eq!(status, 200);
    let (status, _) =
        with_token(&s, "/dev/own/v2/pipeline", Some(&token(&server_key, &json!({}))), &exec_body("SELECT 1")).await;
    assert_eq!(status, 401);
    let (status, _) =
        with_token(&s, "/v2/pipeline", Some(&token(&server_key, &json!({}))), &exec_body("SELECT 1")).await;
    assert_eq!(status, 200);
}

/// `PRAGMA optimize` is "read-only" to SQLite's `sqlite3_stmt_readonly`, yet it runs `ANALYZE`,
/// which creates and fills `sqlite_stat1`: a read-only token must not get that write through,
/// on any path (pipeline, cursor, WebSocket), and its reads must keep working.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_tokens_cannot_write_through_pragma_optimize() {
    let k = keys();
    let key = k.public_b64.clone();
    let s = start_with(move |c| c.auth_jwt_key = Some(key)).await;
    let rw = token(&k, &json!({}));
    let ro = token(&k, &json!({"a": "ro"}));
    let setup = json!({"requests": [
        {"type": "execute", "stmt": {"sql": "CREATE TABLE t(x)"}},
        {"type": "execute", "stmt": {"sql": "CREATE INDEX tx ON t(x)"}},
        {"type": "execute", "stmt": {"sql": "INSERT INTO t VALUES (1), (2), (3)"}},
        {"type": "execute", "stmt": {"sql": "CREATE TABLE docs(id INTEGER PRIMARY KEY, emb F32_BLOB(2))"}},
        {"type": "execute", "stmt": {"sql": "CREATE INDEX docs_idx ON docs(libsql_vector_idx(emb))"}},
        {"type": "execute", "stmt": {"sql": "INSERT INTO docs VALUES (1, vector32('[1,0]')), (2, vector32('[0,1]'))"}},
        {"type": "close"}]});
    let (status, v) = with_token(&s, "/v2/pipeline", Some(&rw), &setup).await;
    assert_eq!(status, 200);
    assert!(v["results"].as_array().unwrap().iter().all(|r| r["type"] == "ok"), "{v}");
    let stat1 = "SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'";

    let (_, v) = with_token(&s, "/v3/pipeline", Some(&ro), &exec_body("PRAGMA optimize=0x10002")).await;
    assert_eq!(v["results"][0]["type"], "error", "{v}");
    let cursor = json!({"baton": null, "batch": {"steps": [{"stmt": {"sql": "PRAGMA optimize=0x10002"}}]}});
    let r = s.http.post(format!("{}/v3/cursor", s.base)).bearer_auth(&ro).json(&cursor).send().await.unwrap();
    let text = r.text().await.unwrap();
    assert!(text.contains("step_error"), "{text}");
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/", s.running.http_addr)).await.unwrap();
    for m in [
        json!({"type": "hello", "jwt": ro}),
        json!({"type": "request", "request_id": 1, "request": {"type": "open_stream", "stream_id": 1}}),
        json!({"type": "request", "request_id": 2, "request": {"type": "execute", "stream_id": 1, "stmt": {"sql": "PRAGMA optimize=0x10002"}}}),
        json!({"type": "request", "request_id": 3, "request": {"type": "execute", "stream_id": 1, "stmt": {"sql": "SELECT sum(x) FROM t"}}}),
    ] {
        ws.send(Message::Text(m.to_string().into())).await.unwrap();
    }
    let mut replies = Vec::new();
    while replies.len() < 4 {
        let Some(Ok(Message::Text(t))) = ws.next().await else { panic!("socket ended") };
        replies.push(serde_json::from_str::<Value>(t.as_str()).unwrap());
    }
    assert_eq!(replies[2]["type"], "response_error", "{}", replies[2]);
    assert_eq!(int(&replies[3]["response"]["result"]["rows"][0][0]), 6, "reads still work");

    // Vector search is a read: the stricter authorizer lets it through.
    for sql in [
        "SELECT id FROM vector_top_k('docs_idx', vector32('[0.1,0.9]'), 1)",
        "SELECT id FROM docs ORDER BY vector_distance_cos(emb, vector32('[0.1,0.9]')) LIMIT 1",
    ] {
        let (_, v) = with_token(&s, "/v3/pipeline", Some(&ro), &exec_body(sql)).await;
        assert_eq!(int(&v["results"][0]["response"]["result"]["rows"][0][0]), 2, "{sql}: {v}");
    }
    // Nothing was written: no statistics table.
    let (_, v) = with_token(&s, "/v2/pipeline", Some(&rw), &exec_body(stat1)).await;
    assert_eq!(int(&v["results"][0]["response"]["result"]["rows"][0][0]), 0, "{v}");
    // The same connections, back in the pool, still write for a read-write token.
    let (_, v) = with_token(&s, "/v2/pipeline", Some(&rw), &exec_body("PRAGMA optimize=0x10002")).await;
    assert_eq!(v["results"][0]["type"], "ok", "{v}");
    let (_, v) = with_token(&s, "/v2/pipeline", Some(&rw), &exec_body(stat1)).await;
    assert_eq!(int(&v["results"][0]["response"]["result"]["rows"][0][0]), 1, "{v}");
}
