//! Hrana over HTTP and WebSocket, HTTP API v1, bad input.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;
use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipeline_round_trips_every_value_type() {
    let s = start().await;
    s.exec(&["CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, score REAL, data BLOB, n)"]).await;
    let (status, body) = s
        .pipeline(
            None,
            json!([
                {"type": "execute", "stmt": {"sql": "INSERT INTO t VALUES (?, ?, ?, ?, ?)", "args": [
                    {"type": "integer", "value": "9007199254740993"},
                    {"type": "text", "value": "héllo"},
                    {"type": "float", "value": 1.5},
                    {"type": "blob", "base64": "AQI"},
                    {"type": "null"}]}},
                {"type": "execute", "stmt": {"sql": "INSERT INTO t(id, name, data) VALUES (:id, @name, $d)", "named_args": [
                    {"name": "id", "value": {"type": "integer", "value": "2"}},
                    {"name": "@name", "value": {"type": "text", "value": "two"}},
                    {"name": "d", "value": {"type": "blob", "base64": "AAEC/w=="}}]}},
                {"type": "execute", "stmt": {"sql": "SELECT id, name, score, data, n, 1e999 FROM t ORDER BY id"}},
                {"type": "execute", "stmt": {"sql": "SELECT 1", "want_rows": false}},
                {"type": "get_autocommit"},
                {"type": "close"}
            ]),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body["baton"].is_null(), "closed stream has no baton");
    let r = &body["results"];
    let ins = &r[0]["response"]["result"];
    assert_eq!(ins["affected_row_count"], 1);
    assert_eq!(ins["last_insert_rowid"], "9007199254740993");
    let sel = &r[2]["response"]["result"];
    assert_eq!(sel["cols"][0], json!({"name": "id", "decltype": "INTEGER"}));
    assert_eq!(sel["cols"][5]["decltype"], Value::Null);
    let rows = sel["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(int(&rows[0][0]), 2);
    assert_eq!(rows[0][3], json!({"type": "blob", "base64": "AAEC/w=="}));
    assert_eq!(int(&rows[1][0]), 9_007_199_254_740_993);
    assert_eq!(rows[1][1], json!({"type": "text", "value": "héllo"}));
    assert_eq!(rows[1][2], json!({"type": "float", "value": 1.5}));
    assert_eq!(rows[1][3], json!({"type": "blob", "base64": "AQI="}));
    assert_eq!(rows[1][4], json!({"type": "null"}));
    assert_eq!(rows[1][5], json!({"type": "null"}), "an infinite double is not valid JSON");
    assert_eq!(r[3]["response"]["result"]["rows"], json!([]));
    assert_eq!(r[4]["response"], json!({"type": "get_autocommit", "is_autocommit": true}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statement_errors_are_results_not_http_errors() {
    let s = start().await;
    let (status, body) = s
        .pipeline(
            None,
            json!([
                {"type": "execute", "stmt": {"sql": "CREATE TABLE t(x PRIMARY KEY)"}},
                {"type": "execute", "stmt": {"sql": "INSERT INTO t VALUES (1)"}},
                {"type": "execute", "stmt": {"sql": "INSERT INTO t VALUES (1)"}},
                {"type": "execute", "stmt": {"sql": "SELEC 1"}},
                {"type": "execute", "stmt": {"sql": "SELECT 1; SELECT 2"}},
                {"type": "execute", "stmt": {"sql": "SELECT ?", "args": [{"type": "null"}, {"type": "null"}]}},
                {"type": "execute", "stmt": {"sql_id": 7}},
                {"type": "execute", "stmt": {"sql": "SELECT vector_extract(vector32('[1,2,3]'))"}},
                {"type": "close"}
            ]),
        )
        .await;
    assert_eq!(status, 200);
    let r = body["results"].as_array().unwrap();
    assert_eq!(r[2]["error"]["code"], "SQLITE_CONSTRAINT_PRIMARYKEY", "{}", r[2]);
    assert_eq!(r[3]["error"]["code"], "SQLITE_ERROR");
    assert!(r[3]["error"]["message"].as_str().unwrap().contains("syntax error"));
    assert_eq!(r[4]["error"]["code"], "SQL_MANY_STATEMENTS");
    assert_eq!(r[5]["error"]["code"], "ARGS_INVALID");
    assert_eq!(r[6]["error"]["code"], "SQL_NOT_FOUND");
    assert_eq!(r[7]["type"], "ok", "vector functions are available: {}", r[7]);
    assert_eq!(r[7]["response"]["result"]["rows"][0][0]["value"], "[1,2,3]");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn npm_write_batch_shape_commits_or_rolls_back() {
    let s = start().await;
    s.exec(&["CREATE TABLE t(x UNIQUE)"]).await;
    // Exactly what @libsql/client 0.18 sends for batch([...], "write") (spec §7.2).
    let batch = |v: &str| {
        json!([
            {"type": "store_sql", "sql_id": 0, "sql": "INSERT INTO t VALUES (?)"},
            {"type": "batch", "batch": {"steps": [
                {"stmt": {"sql": "BEGIN IMMEDIATE"}},
                {"condition": {"type": "ok", "step": 0}, "stmt": {"sql_id": 0, "args": [{"type": "integer", "value": "1"}]}},
                {"condition": {"type": "ok", "step": 1}, "stmt": {"sql_id": 0, "args": [{"type": "integer", "value": v}]}},
                {"condition": {"type": "ok", "step": 2}, "stmt": {"sql": "COMMIT"}},
                {"condition": {"type": "not", "cond": {"type": "ok", "step": 3}}, "stmt": {"sql": "ROLLBACK"}},
                {"condition": {"type": "is_autocommit"}, "stmt": {"sql": "SELECT count(*) FROM t"}}
            ]}},
            {"type": "close"}
        ])
    };
    let (_, body) = s.pipeline(None, batch("1")).await;
    let res = &body["results"][1]["response"]["result"];
    assert_eq!(res["step_errors"][2]["code"], "SQLITE_CONSTRAINT_UNIQUE");
    assert!(res["step_results"][3].is_null() && res["step_errors"][3].is_null(), "COMMIT skipped");
    assert!(res["step_results"][4].is_object(), "ROLLBACK ran");
    assert_eq!(int(&res["step_results"][5]["rows"][0][0]), 0);
    let (_, body) = s.pipeline(None, batch("2")).await;
    let res = &body["results"][1]["response"]["result"];
    assert!(res["step_results"][4].is_null(), "no rollback after a commit");
    assert_eq!(int(&res["step_results"][5]["rows"][0][0]), 2);
    // A condition pointing at a later step is a protocol error for the whole batch.
    let (_, body) = s
        .pipeline(None, json!([{"type": "batch", "batch": {"steps": [{"condition": {"type": "ok", "step": 3}, "stmt": {"sql": "SELECT 1"}}]}}]))
        .await;
    assert_eq!(body["results"][0]["type"], "error");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batons_are_single_use_and_carry_transactions() {
    let s = start_with(|c| c.stream_expiry = Duration::from_millis(1200)).await;
    s.exec(&["CREATE TABLE t(x)"]).await;
    let (_, b1) = s.pipeline(None, json!([{"type": "execute", "stmt": {"sql": "BEGIN"}}, {"type": "execute", "stmt": {"sql": "INSERT INTO t VALUES (1)"}}])).await;
    let baton1 = b1["baton"].as_str().unwrap().to_owned();
    assert_eq!(baton1.len(), 32);
    // Another stream does not see the uncommitted row.
    let other = s.exec(&["SELECT count(*) FROM t"]).await;
    assert_eq!(int(&other[0]["rows"][0][0]), 0);
    let (status, b2) = s.pipeline(Some(&baton1), json!([{"type": "get_autocommit"}])).await;
    assert_eq!(status, 200);
    assert_eq!(b2["results"][0]["response"]["is_autocommit"], false);
    let baton2 = b2["baton"].as_str().unwrap().to_owned();
    assert_ne!(baton1, baton2);
    // The old baton is spent; a forged one was never valid.
    let (status, err) = s.pipeline(Some(&baton1), json!([{"type": "get_autocommit"}])).await;
    assert_eq!(status, 400);
    assert_eq!(err["code"], "STREAM_INVALID");
    let (status, _) = s.pipeline(Some("00000000000000000000000000000000"), json!([])).await;
    assert_eq!(status, 400);
    let (_, b3) =
        s.pipeline(Some(&baton2), json!([{"type": "execute", "stmt": {"sql": "COMMIT"}}, {"type": "close"}])).await;
    assert_eq!(b3["results"][0]["type"], "ok");
    assert_eq!(int(&s.exec(&["SELECT count(*) FROM t"]).await[0]["rows"][0][0]), 1);

    // An idle stream expires, rolling back its transaction.
    let (_, b4) = s.pipeline(None, json!([{"type": "execute", "stmt": {"sql": "BEGIN"}}, {"type": "execute", "stmt": {"sql": "INSERT INTO t VALUES (2)"}}])).await;
    let baton4 = b4["baton"].as_str().unwrap().to_owned();
    tokio::time::sleep(Duration::from_millis(2200)).await;
    let (status, err) = s.pipeline(Some(&baton4), json!([{"type": "execute", "stmt": {"sql": "COMMIT"}}])).await;
    assert_eq!(status, 400);
    assert_eq!(err["code"], "STREAM_EXPIRED");
    assert_eq!(int(&s.exec(&["SELECT count(*) FROM t"]).await[0]["rows"][0][0]), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_bodies_get_json_errors() {
    let s = start_with(|c| c.max_body_bytes = 64 * 1024).await;
    for body in [
        "{",
        "[]",
        r#"{"requests":[{"type":"nope"}]}"#,
        r#"{"requests":[{"type":"execute","stmt":{"sql":"SELECT ?","args":[{"type":"integer","value":"x"}]}}]}"#,
    ] {
        let r = s.http.post(format!("{}/v2/pipeline", s.base)).body(body).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 400, "{body}");
        let v: Value = r.json().await.unwrap();
        assert!(v["error"].as_str().unwrap().contains("malformed"), "{v}");
    }
    let big = "x".repeat(100 * 1024);
    let r = s.http.post(format!("{}/v2/pipeline", s.base)).body(big).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 413);
    // The server still works.
    assert_eq!(s.exec(&["SELECT 1"]).await.len(), 1);
    for p in ["/health", "/v2", "/v3", "/version"] {
        assert_eq!(s.get(p).await.0, 200, "{p}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v3_cursor_describe_and_v1() {
    let s = start().await;
    s.exec(&["CREATE TABLE t(a INTEGER, b TEXT)", "INSERT INTO t VALUES (1, 'x'), (2, 'y')"]).await;
    let (_, d) = s
        .post_json("/v3/pipeline", &json!({"baton": null, "requests": [{"type": "describe", "sql": "SELECT a, b FROM t WHERE a > :min AND b = ?", "sql_id": null, "replication_index": null}, {"type": "close"}]}))
        .await;
    let desc = &d["results"][0]["response"]["result"];
    assert_eq!(desc["params"], json!([{"name": ":min"}, {"name": null}]));
    assert_eq!(desc["is_readonly"], true);
    assert_eq!(desc["is_explain"], false);
    assert_eq!(desc["cols"][1], json!({"name": "b", "decltype": "TEXT"}));

    let r = s
        .http
        .post(format!("{}/v3/cursor", s.base))
        .json(&json!({"baton": null, "batch": {"steps": [
            {"stmt": {"sql": "SELECT a FROM t ORDER BY a"}},
            {"stmt": {"sql": "SELECT nope"}},
            {"condition": {"type": "error", "step": 1}, "stmt": {"sql": "INSERT INTO t VALUES (3, 'z')"}}]}}))
        .send()
        .await
        .unwrap();
    let text = r.text().await.unwrap();
    let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(lines[0]["baton"].is_string());
    let types: Vec<&str> = lines[1..].iter().map(|l| l["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["step_begin", "row", "row", "step_end", "step_error", "step_begin", "step_end"]);
    assert_eq!(int(&lines[3]["row"][0]), 2);
    assert_eq!(lines[7]["affected_row_count"], 1);

    let (status, v1) =
        s.post_json("/v1/execute", &json!({"stmt": {"sql": "SELECT count(*) FROM t", "args": []}})).await;
    assert_eq!(status, 200);
    assert_eq!(int(&v1["result"]["rows"][0][0]), 3);
    let (status, v1) =
        s.post_json("/v1/batch", &json!({"batch": {"steps": [{"stmt": {"sql": "DELETE FROM t WHERE a = 3"}}]}})).await;
    assert_eq!(status, 200);
    assert_eq!(v1["result"]["step_results"][0]["affected_row_count"], 1);
    let (status, v1) = s.post_json("/v1/execute", &json!({"stmt": {"sql": "SELECT * FROM missing"}})).await;
    assert_eq!(status, 400);
    assert_eq!(v1["code"], "SQLITE_ERROR");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_hrana2_and_hrana3() {
    let s = start().await;
    let url = format!("ws://{}/", s.running.http_addr);
    let mut req = url.clone().into_client_request().unwrap();
    req.headers_mut().insert("Sec-WebSocket-Protocol", "hrana2, hrana1".parse().unwrap());
    let (mut ws, resp) = tokio_tungstenite::connect_async(req).await.unwrap();
    assert_eq!(resp.headers()["sec-websocket-protocol"], "hrana2");
    let msgs = [
        json!({"type": "hello", "jwt": null}),
        json!({"type": "request", "request_id": 0, "request": {"type": "open_stream", "stream_id": 0}}),
        json!({"type": "request", "request_id": 1, "request": {"type": "store_sql", "sql_id": 0, "sql": "SELECT ? AS a, ? AS b"}}),
        json!({"type": "request", "request_id": 2, "request": {"type": "execute", "stream_id": 0, "stmt": {"sql_id": 0, "args": [{"type": "float", "value": 1}, {"type": "text", "value": "x"}], "named_args": [], "want_rows": true}}}),
        json!({"type": "request", "request_id": 3, "request": {"type": "execute", "stream_id": 9, "stmt": {"sql": "SELECT 1"}}}),
        json!({"type": "request", "request_id": 4, "request": {"type": "execute", "stream_id": 0, "stmt": {"sql": "SELECT x FROM nowhere"}}}),
        json!({"type": "request", "request_id": 5, "request": {"type": "close_stream", "stream_id": 0}}),
    ];
    let replies = ws_exchange(&mut ws, &msgs).await;
    assert_eq!(replies[0]["type"], "hello_ok");
    assert_eq!(replies[3]["type"], "response_ok");
    let row = &replies[3]["response"]["result"]["rows"][0];
    assert_eq!(row[0], json!({"type": "float", "value": 1.0}));
    assert_eq!(row[1], json!({"type": "text", "value": "x"}));
    assert_eq!(replies[4]["type"], "response_error");
    assert_eq!(replies[5]["error"]["code"], "SQLITE_ERROR");
    assert_eq!(replies[6]["type"], "response_ok", "an error does not close the socket");

    // hrana3: cursors.
    let mut req = url.into_client_request().unwrap();
    req.headers_mut().insert("Sec-WebSocket-Protocol", "hrana3".parse().unwrap());
    let (mut ws, resp) = tokio_tungstenite::connect_async(req).await.unwrap();
    assert_eq!(resp.headers()["sec-websocket-protocol"], "hrana3");
    for m in [
        json!({"type": "hello", "jwt": ""}),
        json!({"type": "request", "request_id": 1, "request": {"type": "open_stream", "stream_id": 1}}),
        json!({"type": "request", "request_id": 2, "request": {"type": "open_cursor", "stream_id": 1, "cursor_id": 4, "batch": {"steps": [{"stmt": {"sql": "SELECT 10 UNION ALL SELECT 20"}}]}}}),
        json!({"type": "request", "request_id": 3, "request": {"type": "fetch_cursor", "cursor_id": 4, "max_count": 2}}),
        json!({"type": "request", "request_id": 4, "request": {"type": "fetch_cursor", "cursor_id": 4, "max_count": 10}}),
    ] {
        ws.send(Message::Text(m.to_string().into())).await.unwrap();
    }
    let mut replies = Vec::new();
    while replies.len() < 5 {
        let Some(Ok(Message::Text(t))) = ws.next().await else { panic!("socket ended") };
        replies.push(serde_json::from_str::<Value>(t.as_str()).unwrap());
    }
    assert_eq!(replies[3]["response"]["done"], false);
    assert_eq!(replies[3]["response"]["entries"][1]["type"], "row");
    assert_eq!(int(&replies[3]["response"]["entries"][1]["row"][0]), 10);
    assert_eq!(replies[4]["response"]["done"], true);
    assert_eq!(replies[4]["response"]["entries"].as_array().unwrap().len(), 2);

    // A request before hello is a protocol error: the server closes.
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/", s.running.http_addr)).await.unwrap();
    ws.send(Message::Text(
        json!({"type": "request", "request_id": 1, "request": {"type": "open_stream", "stream_id": 1}})
            .to_string()
            .into(),
    ))
    .await
    .unwrap();
    let next = tokio::time::timeout(Duration::from_secs(5), ws.next()).await.unwrap();
    assert!(matches!(next, None | Some(Ok(Message::Close(_))) | Some(Err(_))), "{next:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_cannot_touch_files_or_checkpoints() {
    let s = start().await;
    s.exec(&["CREATE TABLE t(x)", "INSERT INTO t VALUES (1)"]).await;
    let outside = s.dir.path().join("stolen.db");
    let outside = outside.to_str().unwrap();
    let (_, body) = s
        .pipeline(
            None,
            json!([
                {"type": "execute", "stmt": {"sql": format!("ATTACH '{outside}' AS x")}},
                {"type": "execute", "stmt": {"sql": format!("VACUUM INTO '{outside}'")}},
                {"type": "execute", "stmt": {"sql": "PRAGMA wal_checkpoint(TRUNCATE)"}},
                {"type": "execute", "stmt": {"sql": "PRAGMA /* sneaky */ wal_autocheckpoint = 1"}},
                {"type": "execute", "stmt": {"sql": "PRAGMA journal_mode = DELETE"}},
                {"type": "execute", "stmt": {"sql": "UPDATE sqlite_dbpage SET data = zeroblob(4096) WHERE pgno = 1"}},
                {"type": "execute", "stmt": {"sql": "PRAGMA journal_mode"}},
                {"type": "execute", "stmt": {"sql": "SELECT count(*) FROM t"}},
                {"type": "sequence", "sql": "PRAGMA wal_checkpoint(TRUNCATE); SELECT 1"},
                {"type": "close"}
            ]),
        )
        .await;
    let r = body["results"].as_array().unwrap();
    for (i, res) in r[..6].iter().enumerate() {
        assert_eq!(res["type"], "error", "statement {i}: {res}");
        assert_eq!(res["error"]["code"], "SQLITE_AUTH", "statement {i}: {res}");
    }
    assert_eq!(r[6]["response"]["result"]["rows"][0][0]["value"], "wal");
    assert_eq!(int(&r[7]["response"]["result"]["rows"][0][0]), 1);
    assert_eq!(r[8]["type"], "error");
    assert!(!std::path::Path::new(outside).exists());
    // The WAL still holds the generation's frames.
    let (status, _) = s.get("/sync/1/1/129").await;
    assert_eq!(status, 200);
}

/// Connections are pooled per namespace: what one client sets on its connection (a pragma, a
/// temp table) must not reach the next client, and nobody may set process-wide heap limits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_settings_do_not_leak_through_the_connection_pool() {
    let s = start().await;
    s.exec(&["CREATE TABLE t(x)"]).await;
    // One stream makes its connection read-only and leaves a temp table on it.
    s.exec(&["CREATE TEMP TABLE mine(secret)", "INSERT INTO temp.mine VALUES ('s3cret')", "PRAGMA query_only=1"]).await;
    // Later streams (which reuse pooled connections) see neither.
    for i in 0..3 {
        s.exec(&[&format!("INSERT INTO t VALUES ({i})")]).await;
        let r = s.exec(&["SELECT count(*) FROM temp.sqlite_master"]).await;
        assert_eq!(int(&r[0]["rows"][0][0]), 0);
    }
    assert_eq!(int(&s.exec(&["SELECT count(*) FROM t"]).await[0]["rows"][0][0]), 3);

    // A heap limit is the whole process's: refused, so every namespace keeps working.
    let (_, v) = s.pipeline(None, json!([{"type": "execute", "stmt": {"sql": "PRAGMA hard_heap_limit=100000"}}, {"type": "execute", "stmt": {"sql": "PRAGMA soft_heap_limit=100000"}}, {"type": "close"}])).await;
    assert_eq!(v["results"][0]["type"], "error", "{v}");
    assert_eq!(v["results"][1]["type"], "error", "{v}");
    let r = s.exec(&["PRAGMA hard_heap_limit", "PRAGMA soft_heap_limit", "SELECT length(randomblob(1000000))"]).await;
    assert_eq!(int(&r[0]["rows"][0][0]), 0);
    assert_eq!(int(&r[1]["rows"][0][0]), 0);
    assert_eq!(int(&r[2]["rows"][0][0]), 1_000_000);
}

/// The response limit (32 MiB) holds for a whole batch and a whole pipeline, not per statement:
/// many small requests that each return a large result cannot add up to an unbounded response.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_response_limit_covers_whole_batches_and_pipelines() {
    let s = start().await;
    let big = "SELECT zeroblob(12000000)";
    let steps: Vec<Value> = (0..3).map(|_| json!({"stmt": {"sql": big}})).collect();
    let (status, v) = s.pipeline(None, json!([{"type": "batch", "batch": {"steps": steps}}, {"type": "close"}])).await;
    assert_eq!(status, 200);
    let result = &v["results"][0]["response"]["result"];
    for i in 0..2 {
        let b64 = result["step_results"][i]["rows"][0][0]["base64"].as_str().unwrap();
        assert_eq!(b64.trim_end_matches('=').len(), 16_000_000, "step {i} is whole");
    }
    assert_eq!(result["step_errors"][2]["code"], "RESPONSE_TOO_LARGE", "{}", result["step_errors"]);
    assert!(result["step_results"][2].is_null());

    let reqs: Vec<Value> = (0..3).map(|_| json!({"type": "execute", "stmt": {"sql": big}})).collect();
    let (status, v) = s.pipeline(None, Value::Array(reqs)).await;
    assert_eq!(status, 200);
    assert_eq!(v["results"][1]["type"], "ok");
    assert_eq!(v["results"][2]["error"]["code"], "RESPONSE_TOO_LARGE");
    // The stream itself is fine: a small request on it still answers.
    let (_, v) = s
        .pipeline(v["baton"].as_str(), json!([{"type": "execute", "stmt": {"sql": "SELECT 7"}}, {"type": "close"}]))
        .await;
    assert_eq!(int(&v["results"][0]["response"]["result"]["rows"][0][0]), 7);
}

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn ws_round(ws: &mut Ws, msgs: &[Value]) -> Vec<Value> {
    for m in msgs {
        assert!(ws.send(Message::Text(m.to_string().into())).await.is_ok());
    }
    let mut replies = Vec::new();
    while replies.len() < msgs.len() {
        let Some(Ok(Message::Text(t))) = ws.next().await else { panic!("socket ended") };
        replies.push(serde_json::from_str::<Value>(t.as_str()).unwrap());
    }
    replies
}

/// Per-socket state is bounded: stored SQL texts, open cursors, and message size (the HTTP body
/// limit applies); going over is an error answer (or, for a message, a closed socket), and the
/// server goes on serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_state_and_messages_are_bounded() {
    let s = start_with(|c| c.max_body_bytes = 256 << 10).await;
    s.exec(&["CREATE TABLE t(x)", "INSERT INTO t VALUES (1), (2)"]).await;
    let url = format!("ws://{}/", s.running.http_addr);
    let mut req = url.clone().into_client_request().unwrap();
    req.headers_mut().insert("Sec-WebSocket-Protocol", "hrana3".parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    let r = ws_round(
        &mut ws,
        &[
            json!({"type": "hello", "jwt": null}),
            json!({"type": "request", "request_id": 0, "request": {"type": "open_stream", "stream_id": 0}}),
        ],
    )
    .await;
    assert_eq!(r[1]["type"], "response_ok");

    let stores: Vec<Value> = (0..1025)
        .map(|i| json!({"type": "request", "request_id": i + 1, "request": {"type": "store_sql", "sql_id": i, "sql": "SELECT count(*) FROM t"}}))
        .collect();
    let r = ws_round(&mut ws, &stores).await;
    assert!(r[..1024].iter().all(|v| v["type"] == "response_ok"));
    assert_eq!(r[1024]["type"], "response_error");
    assert_eq!(r[1024]["error"]["code"], "SQL_STORE_ERROR");

    let cursors: Vec<Value> = (0..9)
        .map(|i| json!({"type": "request", "request_id": 2000 + i, "request": {"type": "open_cursor", "stream_id": 0, "cursor_id": i, "batch": {"steps": [{"stmt": {"sql_id": 0}}]}}}))
        .collect();
    let r = ws_round(&mut ws, &cursors).await;
    assert!(r[..8].iter().all(|v| v["type"] == "response_ok"), "{r:?}");
    assert_eq!(r[8]["error"]["code"], "TOO_MANY_CURSORS");
    // Closing one makes room; the stored SQL still runs.
    let r = ws_round(&mut ws, &[
        json!({"type": "request", "request_id": 3000, "request": {"type": "close_cursor", "cursor_id": 0}}),
        json!({"type": "request", "request_id": 3001, "request": {"type": "open_cursor", "stream_id": 0, "cursor_id": 99, "batch": {"steps": [{"stmt": {"sql_id": 5}}]}}}),
        json!({"type": "request", "request_id": 3002, "request": {"type": "fetch_cursor", "cursor_id": 99, "max_count": 10}}),
    ]).await;
    assert_eq!(r[1]["type"], "response_ok", "{}", r[1]);
    assert_eq!(int(&r[2]["response"]["entries"][1]["row"][0]), 2);

    // A message over the limit ends the socket instead of being buffered.
    let huge = json!({"type": "request", "request_id": 1, "request": {"type": "execute", "stream_id": 0, "stmt": {"sql": format!("SELECT '{}'", "x".repeat(300 << 10))}}});
    let _ = ws.send(Message::Text(huge.to_string().into())).await;
    let next = tokio::time::timeout(Duration::from_secs(5), ws.next()).await.unwrap();
    assert!(matches!(next, None | Some(Ok(Message::Close(_))) | Some(Err(_))), "{next:?}");
    assert_eq!(int(&s.exec(&["SELECT count(*) FROM t"]).await[0]["rows"][0][0]), 2);
}
