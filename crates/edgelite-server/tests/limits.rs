//! Issue 12's resource findings, each replayed against a server with small limits: one tenant
//! cannot take the HTTP streams, WebSockets or database connections of the others; responses
//! count every byte; the token is checked before the body is read; transactions end; tokens
//! expire everywhere; a fork does not stall other namespaces.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio_tungstenite::tungstenite::Message;

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn with_namespaces(names: &[&str], f: impl FnOnce(&mut edgelite_server::Config)) -> Srv {
    let s = start_with(|c| {
        c.enable_namespaces = true;
        f(c);
    })
    .await;
    for n in names {
        s.running.state.namespaces.create(n, None).unwrap();
    }
    s
}

async fn pipeline_ns(s: &Srv, ns: &str, body: &Value) -> (u16, Value) {
    let r = s.http.post(format!("{}/v2/pipeline", s.base)).header("x-namespace", ns).json(body).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn exec(sql: &str) -> Value {
    json!({"type": "execute", "stmt": {"sql": sql}})
}

/// A socket past hello; the refusal's HTTP status or hello error code otherwise.
async fn ws_connect(s: &Srv, ns: &str, jwt: Option<&str>) -> Result<Ws, String> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
    let mut req = format!("ws://{}/", s.running.http_addr).into_client_request().unwrap();
    req.headers_mut().insert("x-namespace", ns.parse().unwrap());
    req.headers_mut().insert("sec-websocket-protocol", "hrana3".parse().unwrap());
    match tokio_tungstenite::connect_async(req).await {
        Ok((mut ws, _)) => {
            ws.send(Message::Text(json!({"type": "hello", "jwt": jwt}).to_string().into())).await.unwrap();
            let hello = ws_next(&mut ws).await;
            if hello["type"] == "hello_ok" {
                Ok(ws)
            } else {
                Err(hello["error"]["code"].as_str().unwrap_or("").to_owned())
            }
        }
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => Err(r.status().as_u16().to_string()),
        Err(e) => panic!("{e}"),
    }
}

async fn ws_next(ws: &mut Ws) -> Value {
    loop {
        let m = tokio::time::timeout(Duration::from_secs(20), ws.next()).await.unwrap().unwrap().unwrap();
        if let Message::Text(t) = m {
            return serde_json::from_str(t.as_str()).unwrap();
        }
    }
}

/// Sends one request and returns its answer (`response_ok` or `response_error`).
async fn ws_req(ws: &mut Ws, id: i64, request: Value) -> Value {
    ws.send(Message::Text(json!({"type": "request", "request_id": id, "request": request}).to_string().into()))
        .await
        .unwrap();
    let v = ws_next(ws).await;
    assert_eq!(v["request_id"], id, "{v}");
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finding_4_one_tenant_cannot_take_every_http_stream() {
    let s = with_namespaces(&["attacker", "victim"], |c| {
        c.limits.max_http_streams = 64;
        c.limits.max_http_streams_per_namespace = 16;
    })
    .await;
    // The attack: streams opened and never closed. Past its share, each new stream ends the
    // attacker's own least recently used idle one (as Turso's sync client needs: it never
    // closes its push streams), so the attacker never holds more than 16.
    let mut batons = Vec::new();
    for _ in 0..40 {
        let (status, v) = pipeline_ns(&s, "attacker", &json!({"requests": []})).await;
        assert_eq!(status, 200, "{v}");
        batons.push(v["baton"].as_str().unwrap().to_owned());
    }
    for (i, b) in batons.iter().enumerate() {
        let (status, v) = pipeline_ns(&s, "attacker", &json!({"baton": b, "requests": [exec("SELECT 1")]})).await;
        if i < 24 {
            assert_eq!((status, v["code"].as_str()), (400, Some("STREAM_EXPIRED")), "stream {i}: {v}");
        } else {
            assert_eq!(status, 200, "stream {i}: {v}");
        }
    }
    // Streams inside a transaction are never ended early: 16 of them fill the share.
    for _ in 0..16 {
        let (status, v) = pipeline_ns(&s, "attacker", &json!({"requests": [exec("BEGIN")]})).await;
        assert_eq!(status, 200, "{v}");
    }
    let (status, v) = pipeline_ns(&s, "attacker", &json!({"requests": []})).await;
    assert_eq!((status, v["code"].as_str()), (503, Some("TOO_MANY_STREAMS")), "{v}");
    // The victim still opens streams.
    for _ in 0..16 {
        let (status, v) = pipeline_ns(&s, "victim", &json!({"requests": [exec("SELECT 1")]})).await;
        assert_eq!(status, 200, "{v}");
        assert_eq!(v["results"][0]["type"], "ok", "{v}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finding_3_websocket_caps_per_namespace_and_idle_expiry() {
    let s = with_namespaces(&["attacker", "victim"], |c| {
        c.limits.max_ws_connections_per_namespace = 3;
        c.limits.max_ws_streams = 4;
        c.limits.max_concurrent_connections = 6;
        c.stream_expiry = Duration::from_secs(1);
    })
    .await;
    // Sockets that never say hello do not count against the namespace they name.
    let mut silent = Vec::new();
    for _ in 0..5 {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
        let mut req = format!("ws://{}/", s.running.http_addr).into_client_request().unwrap();
        req.headers_mut().insert("x-namespace", "attacker".parse().unwrap());
        silent.push(tokio_tungstenite::connect_async(req).await.unwrap().0);
    }
    let mut sockets = Vec::new();
    for _ in 0..3 {
        sockets.push(ws_connect(&s, "attacker", None).await.unwrap());
    }
    assert_eq!(
        ws_connect(&s, "attacker", None).await.err().as_deref(),
        Some("TOO_MANY_CONNECTIONS"),
        "a fourth socket is refused"
    );
    drop(silent);
    // Streams per socket, and database connections per namespace (3 x 4 streams > 6).
    let mut opened = 0;
    let mut no_conn = 0;
    for ws in &mut sockets {
        for id in 0..5 {
            let v = ws_req(ws, id, json!({"type": "open_stream", "stream_id": id})).await;
            if id == 4 {
                assert_eq!(v["error"]["code"], "TOO_MANY_STREAMS", "{v}");
                continue;
            }
            assert_eq!(v["type"], "response_ok", "{v}");
            opened += 1;
            let v = ws_req(
                ws,
                100 + id,
                json!({"type": "batch", "stream_id": id, "batch": {"steps": [
                {"stmt": {"sql": "BEGIN"}}, {"stmt": {"sql": "SELECT 1"}}]}}),
            )
            .await;
            if v["type"] == "response_error" {
                assert_eq!(v["error"]["code"], "TOO_MANY_CONNECTIONS", "{v}");
                no_conn += 1;
            }
        }
    }
    assert_eq!((opened, no_conn), (12, 6), "6 streams got a connection, 6 were refused one");
    // Another tenant is unaffected.
    let mut victim = ws_connect(&s, "victim", None).await.unwrap();
    ws_req(&mut victim, 1, json!({"type": "open_stream", "stream_id": 1})).await;
    let v = ws_req(&mut victim, 2, json!({"type": "execute", "stream_id": 1, "stmt": {"sql": "SELECT 41 + 1"}})).await;
    assert_eq!(int(&v["response"]["result"]["rows"][0][0]), 42, "{v}");
    // Idle streams expire on a WebSocket too, and their connections come back.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let v = ws_req(&mut sockets[0], 200, json!({"type": "execute", "stream_id": 0, "stmt": {"sql": "SELECT 1"}})).await;
    assert_eq!(v["error"]["code"], "STREAM_EXPIRED", "{v}");
    let v = ws_req(&mut sockets[0], 201, json!({"type": "open_stream", "stream_id": 9})).await;
    assert_eq!(v["type"], "response_ok", "{v}");
    let v = ws_req(&mut sockets[0], 202, json!({"type": "execute", "stream_id": 9, "stmt": {"sql": "SELECT 1"}})).await;
    assert_eq!(v["type"], "response_ok", "connections came back after expiry: {v}");
}

/// Descriptors held by a process, from /proc.
fn fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map(Iterator::count).unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finding_3_descriptors_stay_bounded_and_come_back_when_sockets_close() {
    let dir = tempfile::tempdir().unwrap();
    let (child, addr) = spawn_binary(|c| {
        c.args(["--max-concurrent-connections", "16", "--max-ws-streams", "64", "--db-path"]).arg(dir.path());
    })
    .await;
    let pid = child.id().unwrap();
    let http = reqwest::Client::new();
    let r = http.get(format!("http://{addr}/health")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let before = fds(pid);

    // The attack of the issue, scaled down: sockets full of streams, each in a transaction.
    let mut sockets = Vec::new();
    let mut refused = 0;
    for _ in 0..4 {
        let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/")).await.unwrap();
        ws.send(Message::Text(json!({"type": "hello", "jwt": null}).to_string().into())).await.unwrap();
        ws_next(&mut ws).await;
        for id in 0..64 {
            ws_req(&mut ws, id, json!({"type": "open_stream", "stream_id": id})).await;
            let v = ws_req(
                &mut ws,
                1000 + id,
                json!({"type": "batch", "stream_id": id, "batch": {"steps": [
                {"stmt": {"sql": "BEGIN"}}, {"stmt": {"sql": "SELECT 1"}}]}}),
            )
            .await;
            if v["type"] == "response_error" {
                refused += 1;
            }
        }
        sockets.push(ws);
    }
    let during = fds(pid);
    for mut ws in sockets {
        ws.close(None).await.unwrap();
    }
    // Give the server a moment to see the closes and roll back.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut after = fds(pid);
    while after > before + 40 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        after = fds(pid);
    }
    // At most the cap's connections (a database descriptor each; SQLite keeps a closed
    // connection's descriptor while the file is locked, for reuse) and the pool's WAL handles.
    assert!(during <= before + 2 * 16 + 8, "descriptors during the attack: {before} -> {during}");
    assert!(after <= before + 16 + 16 + 8, "descriptors after the sockets closed: {before} -> {after}");
    assert_eq!(refused, 4 * 64 - 16, "connections beyond the cap are refused");
    let r = http.get(format!("http://{addr}/health")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finding_5_the_response_limit_counts_column_names_and_describe() {
    let s = start_with(|c| {
        c.limits.max_response_size = 1 << 20;
        c.limits.max_total_response_size = 2 << 20;
    })
    .await;
    // 1000 columns with 300-byte names: about 300 KB of names in each result, no rows.
    let cols: Vec<String> = (0..1000).map(|i| format!("\"{}{i:04}\"", "c".repeat(296))).collect();
    s.exec(&[&format!("CREATE TABLE wide({})", cols.join(", "))]).await;
    let mut requests: Vec<Value> = (0..10).map(|_| exec("SELECT * FROM wide WHERE 0")).collect();
    requests.extend((0..10).map(|_| json!({"type": "describe", "sql": "SELECT * FROM wide"})));
    let r = s.http.post(format!("{}/v2/pipeline", s.base)).json(&json!({"requests": requests})).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let body = r.bytes().await.unwrap();
    assert!(body.len() < (2 << 20) + 4096, "the whole response stays within the total limit: {}", body.len());
    let v: Value = serde_json::from_slice(&body).unwrap();
    let results = v["results"].as_array().unwrap();
    assert_eq!(results[0]["type"], "ok");
    let first_error = results.iter().position(|r| r["type"] == "error").expect("the pipeline crosses the limit");
    assert!(first_error >= 2, "the first results fit");
    for r in &results[first_error..] {
        assert_eq!(r["error"]["code"], "RESPONSE_TOO_LARGE", "{r}");
    }
    // One request larger than the per-request limit: a single statement with 4000 columns.
    let sql = format!(
        "SELECT {}",
        (0..1999).map(|i| format!("1 AS \"{}{i}\"", "n".repeat(600))).collect::<Vec<_>>().join(", ")
    );
    let (_, v) = s.pipeline(None, json!([{"type": "describe", "sql": sql}, {"type": "close"}])).await;
    assert_eq!(v["results"][0]["error"]["code"], "RESPONSE_TOO_LARGE", "{}", &v.to_string()[..200]);
    // The same over a WebSocket.
    let mut ws = ws_connect(&s, "default", None).await.unwrap();
    ws_req(&mut ws, 1, json!({"type": "open_stream", "stream_id": 1})).await;
    let v = ws_req(&mut ws, 2, json!({"type": "describe", "stream_id": 1, "sql": sql})).await;
    assert_eq!(v["error"]["code"], "RESPONSE_TOO_LARGE");
}

fn now() -> i64 {
    i64::try_from(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()).unwrap()
}

/// Sends raw bytes on a new connection and returns what comes back before the server closes
/// or `wait` passes.
async fn raw(addr: std::net::SocketAddr, bytes: &[u8], wait: Duration) -> String {
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tcp.write_all(bytes).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(wait, async {
        let mut buf = [0u8; 4096];
        loop {
            match tcp.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    out.extend_from_slice(&buf[..n]);
                    if out.windows(4).any(|w| w == b"\r\n\r\n") {
                        break;
                    }
                }
            }
        }
    })
    .await;
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finding_6_token_before_body_slow_bodies_and_a_connection_cap() {
    let k = keys();
    let key = k.public_b64.clone();
    let s = start_with(move |c| {
        c.auth_jwt_key = Some(key);
        c.limits.body_read_timeout = Duration::from_secs(1);
        c.limits.header_read_timeout = Duration::from_secs(1);
        c.limits.max_http_connections = 4;
    })
    .await;
    let addr = s.running.http_addr;
    // No token, a 9.5 MB body announced and held back: refused at once, from the headers.
    let head = "POST /v2/pipeline HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 9500000\r\n\r\n{\"requests\":[";
    let answer = raw(addr, head.as_bytes(), Duration::from_secs(8)).await;
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer:?}");
    // With a token, a body that does not arrive in time ends the request.
    let tok = token(&k, &json!({}));
    let head = format!(
        "POST /v2/pipeline HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {tok}\r\ncontent-length: 1000\r\n\r\n{{\"requests\":["
    );
    let answer = raw(addr, head.as_bytes(), Duration::from_secs(8)).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer:?}");
    // Headers that never end: the connection is closed.
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tcp.write_all(b"POST /v2/pipeline HTTP/1.1\r\nhost: x\r\n").await.unwrap();
    let mut buf = [0u8; 1024];
    let closed = tokio::time::timeout(Duration::from_secs(8), async {
        loop {
            match tcp.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the server closed a connection whose headers never ended");
    // Connections beyond the cap wait until one closes (a server whose timeouts do not end
    // them meanwhile).
    let k2 = keys();
    let key = k2.public_b64.clone();
    let s = start_with(move |c| {
        c.auth_jwt_key = Some(key);
        c.limits.max_http_connections = 4;
    })
    .await;
    let addr = s.running.http_addr;
    let tok = token(&k2, &json!({}));
    let mut idle = Vec::new();
    for _ in 0..4 {
        let mut c = tokio::net::TcpStream::connect(addr).await.unwrap();
        // A request in progress keeps its connection: headers sent, body held back.
        c.write_all(
            format!(
                "POST /v2/pipeline HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {tok}\r\ncontent-length: 100\r\n\r\n"
            )
            .as_bytes(),
        )
        .await
        .unwrap();
        idle.push(c);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let client = reqwest::Client::builder().timeout(Duration::from_millis(500)).build().unwrap();
    assert!(client.get(format!("{}/health", s.base)).send().await.is_err(), "a fifth connection waits");
    drop(idle);
    let r = reqwest::Client::new().get(format!("{}/health", s.base)).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
}

/// One client address cannot hold every connection: past its share, its new connections are
/// closed at once, while another address is still served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_cannot_take_every_connection() {
    let s = start_with(|c| {
        c.limits.max_http_connections = 8;
        c.limits.max_http_connections_per_address = 3;
    })
    .await;
    let addr = s.running.http_addr;
    let from = |ip: [u8; 4]| async move {
        let sock = tokio::net::TcpSocket::new_v4().unwrap();
        sock.bind(std::net::SocketAddr::from((ip, 0))).unwrap();
        sock.connect(addr).await.unwrap()
    };
    // Three idle connections from 127.0.0.1: its share.
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(from([127, 0, 0, 1]).await);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    // A fourth from the same address is closed without an answer.
    let mut fourth = from([127, 0, 0, 1]).await;
    let _ = fourth.write_all(b"GET /health HTTP/1.1\r\nhost: x\r\n\r\n").await;
    let mut buf = [0u8; 256];
    let n = tokio::time::timeout(Duration::from_secs(5), fourth.read(&mut buf)).await.expect("closed at once");
    assert!(matches!(n, Ok(0) | Err(_)), "answered: {:?}", n.map(|n| String::from_utf8_lossy(&buf[..n]).into_owned()));
    // Another address (127.0.0.2 is loopback too) is served meanwhile.
    let mut other = from([127, 0, 0, 2]).await;
    other.write_all(b"GET /health HTTP/1.1\r\nhost: x\r\n\r\n").await.unwrap();
    let n = tokio::time::timeout(Duration::from_secs(5), other.read(&mut buf)).await.unwrap().unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"), "{:?}", &buf[..n]);
    // Once one of the first address's connections closes, it may open another.
    drop(held.pop());
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut again = from([127, 0, 0, 1]).await;
    again.write_all(b"GET /health HTTP/1.1\r\nhost: x\r\n\r\n").await.unwrap();
    let n = tokio::time::timeout(Duration::from_secs(5), again.read(&mut buf)).await.unwrap().unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"), "{:?}", &buf[..n]);
}

async fn generation(s: &Srv) -> u64 {
    let (_, body) = s.get("/info").await;
    serde_json::from_slice::<Value>(&body).unwrap()["current_generation"].as_u64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finding_7_an_open_transaction_cannot_block_new_generations() {
    let s = start_with(|c| {
        c.checkpoint_frames = 10;
        c.limits.txn_timeout = Duration::from_secs(1);
        c.stream_expiry = Duration::from_secs(120);
    })
    .await;
    s.exec(&["CREATE TABLE t(x)"]).await;
    // An HTTP stream and a WebSocket stream, each idle in a transaction.
    let (_, v) = s.pipeline(None, json!([exec("BEGIN"), exec("SELECT count(*) FROM t")])).await;
    let baton = v["baton"].as_str().unwrap().to_owned();
    let mut ws = ws_connect(&s, "default", None).await.unwrap();
    ws_req(&mut ws, 1, json!({"type": "open_stream", "stream_id": 1})).await;
    let v =
        ws_req(&mut ws, 2, json!({"type": "sequence", "stream_id": 1, "sql": "BEGIN; SELECT count(*) FROM t;"})).await;
    assert_eq!(v["type"], "response_ok", "{v}");
    for i in 0..30 {
        s.exec(&[&format!("INSERT INTO t VALUES ({i})")]).await;
    }
    // Within the timeout and a bit, both transactions end and the checkpoint runs.
    let deadline = Instant::now() + Duration::from_secs(20);
    while generation(&s).await == 1 && Instant::now() < deadline {
        s.exec(&["INSERT INTO t VALUES (0)"]).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(generation(&s).await > 1, "a new generation started");
    let (_, v) = s.pipeline(Some(&baton), json!([exec("SELECT 1")])).await;
    assert_eq!(v["results"][0]["error"]["code"], "TRANSACTION_TIMEOUT", "{v}");
    let v = ws_req(&mut ws, 3, json!({"type": "execute", "stream_id": 1, "stmt": {"sql": "COMMIT"}})).await;
    assert_eq!(v["error"]["code"], "TRANSACTION_TIMEOUT", "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finding_7_steady_writes_do_not_starve_the_checkpoint() {
    let s = start_with(|c| c.checkpoint_frames = 40).await;
    s.exec(&["CREATE TABLE t(x)"]).await;
    let s = std::sync::Arc::new(s);
    let mut writers = Vec::new();
    for w in 0..4 {
        let s = std::sync::Arc::clone(&s);
        writers.push(tokio::spawn(async move {
            for i in 0..150 {
                s.exec(&[&format!("INSERT INTO t VALUES ({w}{i})"), "SELECT count(*) FROM t"]).await;
            }
        }));
    }
    for w in writers {
        w.await.unwrap();
    }
    // 600 commits of a frame or more: with a threshold of 40 frames, many generations.
    let g = generation(&s).await;
    assert!(g >= 4, "only {g} generations for 600 commits with a threshold of 40 frames");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finding_8_token_claims_leeway_and_websocket_expiry() {
    let k = keys();
    let key = k.public_b64.clone();
    let s = start_with(move |c| {
        c.auth_jwt_key = Some(key);
        c.limits.jwt_leeway = Duration::from_secs(0);
    })
    .await;
    let post = |tok: String| {
        let s = &s;
        async move {
            s.http
                .post(format!("{}/v2/pipeline", s.base))
                .bearer_auth(tok)
                .json(&json!({"requests": [exec("SELECT 1")]}))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    for bad in [
        json!({"exp": "1"}),
        json!({"exp": -1}),
        json!({"exp": true}),
        json!({"nbf": "x"}),
        json!({"exp": now() - 30}),
        json!({"nbf": now() + 3600}),
    ] {
        assert_eq!(post(token(&k, &bad)).await, 401, "{bad}");
    }
    for good in [json!({"exp": now() + 3600}), json!({"exp": (now() + 3600) as f64 + 0.5}), json!({"nbf": now() - 10})]
    {
        assert_eq!(post(token(&k, &good)).await, 200, "{good}");
    }
    // A WebSocket stops serving when its token expires; a new hello continues.
    let short = token(&k, &json!({"exp": now() + 2}));
    // Over HTTP too, though its verified signature is remembered (the expiry is not).
    assert_eq!(post(short.clone()).await, 200);
    let mut ws = ws_connect(&s, "default", Some(&short)).await.unwrap();
    ws_req(&mut ws, 1, json!({"type": "open_stream", "stream_id": 1})).await;
    let v = ws_req(&mut ws, 2, json!({"type": "execute", "stream_id": 1, "stmt": {"sql": "SELECT 1"}})).await;
    assert_eq!(v["type"], "response_ok");
    tokio::time::sleep(Duration::from_millis(3500)).await;
    assert_eq!(post(short.clone()).await, 401, "a remembered token expires too");
    let v = ws_req(&mut ws, 3, json!({"type": "execute", "stream_id": 1, "stmt": {"sql": "SELECT 1"}})).await;
    assert_eq!(v["error"]["code"], "AUTH_JWT_EXPIRED", "{v}");
    let fresh = token(&k, &json!({"exp": now() + 3600}));
    ws.send(Message::Text(json!({"type": "hello", "jwt": fresh}).to_string().into())).await.unwrap();
    assert_eq!(ws_next(&mut ws).await["type"], "hello_ok");
    let v = ws_req(&mut ws, 4, json!({"type": "execute", "stream_id": 1, "stmt": {"sql": "SELECT 1"}})).await;
    assert_eq!(v["type"], "response_ok", "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finding_10_a_fork_does_not_stall_other_namespaces() {
    let s = with_namespaces(&["big", "other"], |_| {}).await;
    // About 40 MB to copy.
    let (_, v) = pipeline_ns(&s, "big", &json!({"requests": [
        exec("CREATE TABLE b(x)"),
        exec("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10000) INSERT INTO b SELECT randomblob(4000) FROM n"),
        {"type": "close"}]}))
    .await;
    assert_eq!(v["results"][1]["type"], "ok", "{v}");
    let state = std::sync::Arc::clone(&s.running.state);
    let fork = tokio::task::spawn_blocking(move || {
        let src = state.namespaces.get("big").unwrap();
        let start = Instant::now();
        state.namespaces.fork(&src, "copy").unwrap();
        (start, Instant::now())
    });
    // Requests to another namespace go on while the copy runs.
    let mut answered = Vec::new();
    while !fork.is_finished() {
        let (status, _) = pipeline_ns(&s, "other", &json!({"requests": [exec("SELECT 1"), {"type": "close"}]})).await;
        assert_eq!(status, 200);
        answered.push(Instant::now());
    }
    let (start, done) = fork.await.unwrap();
    // Requests that got in before the fork took a lock finish early: look at the second half.
    let half = start + (done - start) / 2;
    assert!(
        answered.iter().any(|t| *t > half && *t < done),
        "requests to other namespaces were answered during the second half of the fork ({:?})",
        done - start
    );
    let (_, v) =
        pipeline_ns(&s, "copy", &json!({"requests": [exec("SELECT count(*) FROM b"), {"type": "close"}]})).await;
    assert_eq!(int(&v["results"][0]["response"]["result"]["rows"][0][0]), 10_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finding_7_overlapping_transactions_do_not_starve_the_checkpoint() {
    let s = std::sync::Arc::new(start_with(|c| c.checkpoint_frames = 20).await);
    s.exec(&["CREATE TABLE t(x)"]).await;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    // Readers whose transactions overlap: there is almost never a moment without one open.
    let mut readers = Vec::new();
    for _ in 0..8 {
        let (s, stop) = (std::sync::Arc::clone(&s), std::sync::Arc::clone(&stop));
        readers.push(tokio::spawn(async move {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let (_, v) = s.pipeline(None, json!([exec("BEGIN"), exec("SELECT count(*) FROM t")])).await;
                let baton = v["baton"].as_str().unwrap().to_owned();
                tokio::time::sleep(Duration::from_millis(150)).await;
                let (_, v) = s.pipeline(Some(&baton), json!([exec("COMMIT"), {"type": "close"}])).await;
                assert_eq!(v["results"][0]["type"], "ok", "{v}");
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut writes = 0;
    while (writes < 200 || generation(&s).await < 3) && Instant::now() < deadline {
        s.exec(&[&format!("INSERT INTO t VALUES ({writes})")]).await;
        writes += 1;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for r in readers {
        r.await.unwrap();
    }
    let g = generation(&s).await;
    assert!(g >= 3, "{g} generations after {writes} commits with a threshold of 20 frames");
}

/// The pace (`--max-requests-per-second-per-namespace`): while another namespace is active, a
/// namespace's HTTP requests and WebSocket messages past one second's burst wait for their
/// place in time; they are delayed, never refused. (Only a lower bound on the time is checked:
/// without the pace these 60 requests take well under a second.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_namespace_flooding_requests_is_paced_while_another_is_active() {
    let s = with_namespaces(&["attacker", "victim"], |c| c.limits.max_requests_per_second_per_namespace = 10).await;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    // The victim: a request every 100 ms keeps it active (and within its own rate).
    let victim = {
        let (http, base, stop) = (s.http.clone(), s.base.clone(), std::sync::Arc::clone(&stop));
        tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let r = http
                    .post(format!("{base}/v2/pipeline"))
                    .header("x-namespace", "victim")
                    .json(&json!({"requests": [exec("SELECT 1"), {"type": "close"}]}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status().as_u16(), 200);
                n += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            n
        })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    let t0 = Instant::now();
    for _ in 0..30 {
        let (status, v) =
            pipeline_ns(&s, "attacker", &json!({"requests": [exec("SELECT 1"), {"type": "close"}]})).await;
        assert_eq!(status, 200, "{v}");
        assert_eq!(v["results"][0]["type"], "ok", "{v}");
    }
    let mut ws = ws_connect(&s, "attacker", None).await.unwrap();
    assert_eq!(ws_req(&mut ws, 0, json!({"type": "open_stream", "stream_id": 1})).await["type"], "response_ok");
    for id in 1..30 {
        let sql = json!({"type": "execute", "stream_id": 1, "stmt": {"sql": "SELECT 1"}});
        assert_eq!(ws_req(&mut ws, id, sql).await["type"], "response_ok");
    }
    let took = t0.elapsed();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let victim_requests = victim.await.unwrap();
    // 60 requests at 10 per second, 10 of them in the burst: at least 5 s.
    assert!(took >= Duration::from_millis(4500), "60 requests took {took:?}");
    assert!(victim_requests > 0);
}
