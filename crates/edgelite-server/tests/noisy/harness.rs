//! The noisy-neighbour harness (issue 12): one tenant attacks with findings 3-6 while another
//! runs a steady query load; the victim's latencies and errors are measured. Used by the
//! bounded test `tests/noisy.rs` and by the benchmark `examples/noisy.rs`. Loopback only.
#![allow(dead_code, clippy::unwrap_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use base64::Engine as _;
use futures_util::{SinkExt as _, StreamExt as _};
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use ring::signature::{Ed25519KeyPair, KeyPair as _};
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt as _;
use tokio_tungstenite::tungstenite::Message;

/// A server with namespaces `victim` and `attacker`, Ed25519 auth, and one token for each.
pub struct Target {
    pub running: edgelite_server::Running,
    pub dir: tempfile::TempDir,
    pub victim_token: String,
    pub attacker_token: String,
}

/// Starts the server (default limits) and fills both namespaces.
pub async fn start() -> Target {
    start_with(|_| {}).await
}

/// As [`start`], with the configuration changed by `tweak` first.
pub async fn start_with(tweak: impl FnOnce(&mut edgelite_server::Config)) -> Target {
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
    let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
    let public = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(pair.public_key().as_ref());
    let dir = tempfile::tempdir().unwrap();
    let mut config = edgelite_server::Config::new(dir.path().to_owned(), "127.0.0.1:0".into());
    config.enable_namespaces = true;
    config.auth_jwt_key = Some(public);
    tweak(&mut config);
    let running = edgelite_server::start(config).await.unwrap();
    for ns in ["victim", "attacker"] {
        running.state.namespaces.create(ns, None).unwrap();
    }
    let key = EncodingKey::from_ed_der(pkcs8.as_ref());
    let tok = |ns: &str| encode(&Header::new(Algorithm::EdDSA), &json!({"id": ns}), &key).unwrap();
    let t = Target { running, dir, victim_token: tok("victim"), attacker_token: tok("attacker") };
    let http = reqwest::Client::new();
    let setup = |ns: &'static str, token: String, sqls: Vec<String>| {
        let http = http.clone();
        let base = format!("http://{}", t.running.http_addr);
        async move {
            let mut reqs: Vec<Value> = sqls.iter().map(|s| json!({"type": "execute", "stmt": {"sql": s}})).collect();
            reqs.push(json!({"type": "close"}));
            let v: Value = http
                .post(format!("{base}/v2/pipeline"))
                .header("x-namespace", ns)
                .bearer_auth(token)
                .json(&json!({"requests": reqs}))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            for r in v["results"].as_array().unwrap() {
                assert_eq!(r["type"], "ok", "{r}");
            }
        }
    };
    setup(
        "victim",
        t.victim_token.clone(),
        vec![
            "CREATE TABLE kv(k INTEGER PRIMARY KEY, v TEXT)".into(),
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000) INSERT INTO kv SELECT i, hex(randomblob(32)) FROM n".into(),
        ],
    )
    .await;
    let cols: Vec<String> = (0..2000).map(|i| format!("\"{}{i:04}\"", "c".repeat(60))).collect();
    let mut attacker =
        vec![format!("CREATE TABLE wide({})", cols.join(", ")), "CREATE VIEW nest0 AS SELECT 1 AS x".into()];
    // views that nest: each level reads the one below twice, 2^15 SELECTs to prepare
    attacker.extend(
        (1..=15)
            .map(|i| format!("CREATE VIEW nest{i} AS SELECT * FROM nest{0} UNION ALL SELECT * FROM nest{0}", i - 1)),
    );
    setup("attacker", t.attacker_token.clone(), attacker).await;
    t
}

/// What the victim saw.
#[derive(Debug, Clone)]
pub struct Report {
    pub requests: usize,
    pub errors: usize,
    pub p50: Duration,
    pub p99: Duration,
    pub max: Duration,
    /// Attack requests sent and refused by a limit (0 without an attack).
    pub attack_sent: usize,
    pub attack_refused: usize,
    pub first_error: Option<String>,
}

/// The victim's steady load: `workers` clients, each one request after the other (a point
/// read and a write per request), for `duration`.
async fn victim(
    addr: SocketAddr,
    token: String,
    workers: usize,
    duration: Duration,
) -> (Vec<Duration>, usize, Option<String>) {
    let stop = Instant::now() + duration;
    let mut tasks = Vec::new();
    for w in 0..workers {
        let token = token.clone();
        tasks.push(tokio::spawn(async move {
            let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
            let mut lat = Vec::new();
            let mut errors = 0;
            let mut first = None;
            let mut i: i64 = 0;
            while Instant::now() < stop {
                i += 1;
                let k = (i * 7919 + w as i64) % 1000 + 1;
                let body = json!({"requests": [
                    {"type": "execute", "stmt": {"sql": "SELECT v FROM kv WHERE k = ?", "args": [{"type": "integer", "value": k.to_string()}]}},
                    {"type": "execute", "stmt": {"sql": "UPDATE kv SET v = hex(randomblob(32)) WHERE k = ?", "args": [{"type": "integer", "value": k.to_string()}]}},
                    {"type": "close"}]});
                let t0 = Instant::now();
                let r = pipeline(&http, addr, "victim", &token, &body).await;
                let ok = match r {
                    Ok(r) if r.status().is_success() => match r.json::<Value>().await {
                        Ok(v) => {
                            let bad = v["results"].as_array().is_none_or(|rs| rs.iter().any(|r| r["type"] != "ok"));
                            if bad && first.is_none() {
                                first = Some(v.to_string().chars().take(300).collect());
                            }
                            !bad
                        }
                        Err(e) => {
                            first.get_or_insert_with(|| e.to_string());
                            false
                        }
                    },
                    Ok(r) => {
                        first.get_or_insert_with(|| format!("status {}", r.status()));
                        false
                    }
                    Err(e) => {
                        first.get_or_insert_with(|| e.to_string());
                        false
                    }
                };
                lat.push(t0.elapsed());
                if !ok {
                    errors += 1;
                }
            }
            (lat, errors, first)
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    let mut first = None;
    for t in tasks {
        let (l, e, f) = t.await.unwrap();
        all.extend(l);
        errors += e;
        if first.is_none() {
            first = f;
        }
    }
    (all, errors, first)
}

/// Counts of the attack.
#[derive(Default)]
struct Tally {
    sent: AtomicUsize,
    refused: AtomicUsize,
}

/// How hard the attacker pushes (scaled down from the figures for a test).
#[derive(Debug, Clone, Copy)]
pub struct Attack {
    /// Finding 3: WebSockets, each filling its streams with `BEGIN; SELECT`.
    pub sockets: usize,
    pub streams_per_socket: usize,
    /// Finding 4: clients opening streams and never closing them.
    pub stream_flooders: usize,
    /// Finding 5: clients asking for wide, empty results 40 at a time.
    pub wide_readers: usize,
    /// Finding 6: connections announcing 9.5 MB bodies and holding them back (half without a token).
    pub slow_bodies: usize,
    /// Session 26's review: clients whose statements take long per step (rows that each make a
    /// 50 MB `randomblob`), to prepare (views nesting 15 levels) or in one function call (a LIKE
    /// of a 1 KiB pattern over 512 KiB, most of a second in one instruction), in turn.
    pub heavy_steps: usize,
}

impl Attack {
    pub const FULL: Attack = Attack {
        sockets: 78,
        streams_per_socket: 128,
        stream_flooders: 16,
        wide_readers: 2,
        slow_bodies: 60,
        heavy_steps: 2,
    };
    pub const SMALL: Attack = Attack {
        sockets: 8,
        streams_per_socket: 32,
        stream_flooders: 4,
        wide_readers: 1,
        slow_bodies: 8,
        heavy_steps: 1,
    };
}

async fn attack(addr: SocketAddr, token: String, a: Attack, stop: Arc<AtomicBool>, tally: Arc<Tally>) {
    let mut tasks = Vec::new();
    for _ in 0..a.sockets {
        let (token, stop, tally) = (token.clone(), Arc::clone(&stop), Arc::clone(&tally));
        tasks.push(tokio::spawn(async move {
            use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
            while !stop.load(Ordering::Relaxed) {
                let mut req = format!("ws://{addr}/").into_client_request().unwrap();
                req.headers_mut().insert("x-namespace", "attacker".parse().unwrap());
                tally.sent.fetch_add(1, Ordering::Relaxed);
                let Ok((mut ws, _)) = tokio_tungstenite::connect_async(req).await else {
                    tally.refused.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                };
                let _ = ws.send(Message::Text(json!({"type": "hello", "jwt": token}).to_string().into())).await;
                // A hello refused by the namespace's share counts as a refused upgrade: the
                // attacker retries later, as after a 503.
                let hello = tokio::time::timeout(Duration::from_secs(10), ws.next()).await;
                if !matches!(&hello, Ok(Some(Ok(Message::Text(t)))) if t.as_str().contains("hello_ok")) {
                    tally.refused.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
                for id in 0..a.streams_per_socket as i64 {
                    let open = json!({"type": "request", "request_id": 2 * id, "request": {"type": "open_stream", "stream_id": id}});
                    let begin = json!({"type": "request", "request_id": 2 * id + 1, "request": {"type": "sequence", "stream_id": id, "sql": "BEGIN; SELECT count(*) FROM wide;"}});
                    let _ = ws.send(Message::Text(open.to_string().into())).await;
                    let _ = ws.send(Message::Text(begin.to_string().into())).await;
                    tally.sent.fetch_add(1, Ordering::Relaxed);
                }
                // Hold the socket, reading answers, until the server closes it or time is up.
                while !stop.load(Ordering::Relaxed) {
                    match tokio::time::timeout(Duration::from_millis(200), ws.next()).await {
                        Ok(Some(Ok(Message::Text(t)))) if t.as_str().contains("response_error") => {
                            tally.refused.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(None | Some(Err(_))) => break,
                        _ => {}
                    }
                }
            }
        }));
    }
    let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
    for _ in 0..a.stream_flooders {
        let (token, stop, tally, http) = (token.clone(), Arc::clone(&stop), Arc::clone(&tally), http.clone());
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                tally.sent.fetch_add(1, Ordering::Relaxed);
                let r = pipeline(&http, addr, "attacker", &token, &json!({"requests": []})).await;
                if r.is_ok_and(|r| r.status().as_u16() == 503) {
                    tally.refused.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
        }));
    }
    for _ in 0..a.wide_readers {
        let (token, stop, tally, http) = (token.clone(), Arc::clone(&stop), Arc::clone(&tally), http.clone());
        tasks.push(tokio::spawn(async move {
            let mut reqs: Vec<Value> =
                (0..40).map(|_| json!({"type": "execute", "stmt": {"sql": "SELECT * FROM wide WHERE 0"}})).collect();
            reqs.extend((0..40).map(|_| json!({"type": "describe", "sql": "SELECT * FROM wide, wide AS w2 LIMIT 0"})));
            reqs.push(json!({"type": "close"}));
            let body = json!({"requests": reqs});
            while !stop.load(Ordering::Relaxed) {
                tally.sent.fetch_add(1, Ordering::Relaxed);
                let r = pipeline(&http, addr, "attacker", &token, &body).await;
                if let Ok(r) = r
                    && let Ok(text) = r.text().await
                    && text.contains("RESPONSE_TOO_LARGE")
                {
                    tally.refused.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for _ in 0..a.heavy_steps {
        let (token, stop, tally, http) = (token.clone(), Arc::clone(&stop), Arc::clone(&tally), http.clone());
        tasks.push(tokio::spawn(async move {
            let heavy = [
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10) \
                 SELECT sum(length(randomblob(50000000))) FROM n",
                "SELECT count(*) FROM nest15 WHERE 0",
                "SELECT length(h) FROM (SELECT replace(hex(zeroblob(262144)), '0', 'a') AS h) \
                 WHERE h LIKE '%' || replace(hex(zeroblob(512)), '0', 'a') || 'b%'",
            ];
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                tally.sent.fetch_add(1, Ordering::Relaxed);
                let body = json!({"requests": [{"type": "execute", "stmt": {"sql": heavy[i % heavy.len()]}}, {"type": "close"}]});
                let _ = pipeline(&http, addr, "attacker", &token, &body).await;
                i += 1;
            }
        }));
    }
    for i in 0..a.slow_bodies {
        let (token, stop, tally) = (token.clone(), Arc::clone(&stop), Arc::clone(&tally));
        tasks.push(tokio::spawn(async move {
            let auth = if i % 2 == 0 { String::new() } else { format!("authorization: Bearer {token}\r\n") };
            let head = format!(
                "POST /v2/pipeline HTTP/1.1\r\nhost: attacker.local\r\nx-namespace: attacker\r\n{auth}content-type: application/json\r\ncontent-length: 9961472\r\n\r\n"
            );
            let chunk = vec![b' '; 64 << 10];
            while !stop.load(Ordering::Relaxed) {
                tally.sent.fetch_add(1, Ordering::Relaxed);
                let Ok(mut tcp) = tokio::net::TcpStream::connect(addr).await else {
                    tally.refused.fetch_add(1, Ordering::Relaxed);
                    continue;
                };
                if tcp.write_all(head.as_bytes()).await.is_err() {
                    tally.refused.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                // Most of the body, quickly, then hold back the rest.
                let mut sent = 0;
                while sent < 9_961_472 - (64 << 10) && !stop.load(Ordering::Relaxed) {
                    if tcp.write_all(&chunk).await.is_err() {
                        break;
                    }
                    sent += chunk.len();
                }
                if sent < 9_961_472 - (64 << 10) {
                    tally.refused.fetch_add(1, Ordering::Relaxed);
                }
                while !stop.load(Ordering::Relaxed) {
                    if tcp.write_all(b" ").await.is_err() {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                // Refused or timed out: try again a second later (the attack holds memory; a
                // reconnect flood as fast as the loopback goes would measure the machine's
                // copying, client side included, not the server).
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
}

/// `POST /v2/pipeline` with `body` to namespace `ns` as `token`.
async fn pipeline(
    http: &reqwest::Client,
    addr: SocketAddr,
    ns: &str,
    token: &str,
    body: &Value,
) -> reqwest::Result<reqwest::Response> {
    http.post(format!("http://{addr}/v2/pipeline")).header("x-namespace", ns).bearer_auth(token).json(body).send().await
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, clippy::cast_precision_loss)]
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

/// Runs the victim's load for `duration`, under `attack` if given (it starts a second earlier),
/// run on the runtime `on`: the attacker's client work (sending, reading and discarding tens of
/// megabytes) must not queue the victim's client tasks behind its own, as it could not if it were
/// another machine.
pub async fn measure(
    t: &Target,
    workers: usize,
    duration: Duration,
    attack_with: Option<(Attack, tokio::runtime::Handle)>,
) -> Report {
    let addr = t.running.http_addr;
    let stop = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(Tally::default());
    let attacker = attack_with.map(|(a, on)| {
        let (stop, tally, token) = (Arc::clone(&stop), Arc::clone(&tally), t.attacker_token.clone());
        on.spawn(attack(addr, token, a, stop, tally))
    });
    if attacker.is_some() {
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let (mut lat, errors, first_error) = victim(addr, t.victim_token.clone(), workers, duration).await;
    stop.store(true, Ordering::Relaxed);
    if let Some(a) = attacker {
        let _ = tokio::time::timeout(Duration::from_secs(30), a).await;
    }
    lat.sort();
    Report {
        requests: lat.len(),
        errors,
        p50: percentile(&lat, 0.5),
        p99: percentile(&lat, 0.99),
        max: lat.last().copied().unwrap_or_default(),
        attack_sent: tally.sent.load(Ordering::Relaxed),
        attack_refused: tally.refused.load(Ordering::Relaxed),
        first_error,
    }
}
