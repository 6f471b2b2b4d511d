//! Values come back exactly as sent, over HTTP and WebSocket (issue 12, finding 9: `-1.25e-300`
//! was stored as `-1.2499999999999998e-300`).
//!
//! The requests are written as text, the way a client writes them, so that the server's own
//! parsing of each number is what is tested.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

/// Doubles as clients write them (JavaScript's and Python's shortest forms, and a few longer
/// ones); the expected value is Rust's correctly rounded parse of the same text.
const FLOATS: [&str; 16] = [
    "-1.25e-300",
    "5e-324",                  // the smallest subnormal
    "4.9406564584124654e-324", // the same, written long
    "2.225073858507201e-308",  // the largest subnormal
    "2.2250738585072014e-308", // f64::MIN_POSITIVE
    "1.7976931348623157e+308", // f64::MAX, as JavaScript writes it
    "-1.7976931348623157e308", // f64::MIN
    "-0.0",
    "0.1",
    "1e23",
    "9007199254740993.0", // halfway between two doubles: rounds to even
    "8.98846567431158e307",
    "2.4703282292062328e-324", // just over half the smallest subnormal: rounds up to it
    "123456789012345680000",
    "-3.141592653589793",
    "1.0000000000000002",
];

/// Integers as Hrana sends them (strings), past 2^53 and at the ends of i64.
const INTEGERS: [&str; 5] =
    ["9007199254740993", "18014398509481985", "-9223372036854775808", "9223372036854775807", "-9007199254740993"];

fn expected(text: &str) -> u64 {
    text.parse::<f64>().unwrap().to_bits()
}

/// `{"type":"float","value":<text>}` with the number's text as given.
fn float_arg(text: &str) -> String {
    format!(r#"{{"type":"float","value":{text}}}"#)
}

/// Checks one returned row of `SELECT ?1, x, y` against the float sent.
fn check_float_row(text: &str, row: &Value) {
    for (i, v) in row.as_array().unwrap().iter().enumerate() {
        assert_eq!(v["type"], "float", "{text} column {i}: {v}");
        let got = v["value"].as_f64().unwrap();
        assert_eq!(got.to_bits(), expected(text), "{text} column {i} came back as {got:e}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn floats_and_big_integers_round_trip_over_http() {
    let s = start().await;
    // x: a REAL column, y: no type (REAL affinity turns -0.0 into an integer, see below)
    s.exec(&["CREATE TABLE f(id INTEGER PRIMARY KEY, x REAL, y)", "CREATE TABLE i(id INTEGER PRIMARY KEY, n)"]).await;
    for (id, text) in FLOATS.iter().enumerate() {
        let a = float_arg(text);
        let body = format!(
            r#"{{"requests":[
                {{"type":"execute","stmt":{{"sql":"INSERT INTO f VALUES (?, ?, ?)","args":[{{"type":"integer","value":"{id}"}},{a},{a}]}}}},
                {{"type":"execute","stmt":{{"sql":"SELECT ?1, y FROM f WHERE id = ?2","args":[{a},{{"type":"integer","value":"{id}"}}]}}}},
                {{"type":"close"}}]}}"#
        );
        let r = s.http.post(format!("{}/v2/pipeline", s.base)).body(body).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 200);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["results"][0]["type"], "ok", "{text}: {v}");
        check_float_row(text, &v["results"][1]["response"]["result"]["rows"][0]);
    }
    // The REAL column keeps every value but -0.0, which SQLite itself stores as the integer 0
    // in a column of REAL affinity and reads back as 0.0 (the same in stock SQLite).
    let rows = s.exec(&["SELECT id, x FROM f ORDER BY id"]).await;
    for (id, text) in FLOATS.iter().enumerate() {
        let v = &rows[0]["rows"][id][1];
        let want = if *text == "-0.0" { 0.0_f64.to_bits() } else { expected(text) };
        assert_eq!(v["value"].as_f64().unwrap().to_bits(), want, "{text} in a REAL column: {v}");
    }
    // The core compares the stored value with its own parse of the literal.
    let same = s.exec(&["SELECT x = -1.25e-300, y = -1.25e-300 FROM f WHERE id = 0"]).await;
    assert_eq!(same[0]["rows"], json!([[{"type": "integer", "value": "1"}, {"type": "integer", "value": "1"}]]));

    for (id, text) in INTEGERS.iter().enumerate() {
        let body = format!(
            r#"{{"requests":[
                {{"type":"execute","stmt":{{"sql":"INSERT INTO i VALUES (?, ?)","args":[{{"type":"integer","value":"{id}"}},{{"type":"integer","value":"{text}"}}]}}}},
                {{"type":"execute","stmt":{{"sql":"SELECT n, ?1, n = {text} FROM i WHERE id = {id}","args":[{{"type":"integer","value":"{text}"}}]}}}},
                {{"type":"close"}}]}}"#
        );
        let r = s.http.post(format!("{}/v2/pipeline", s.base)).body(body).send().await.unwrap();
        let v: Value = r.json().await.unwrap();
        let row = &v["results"][1]["response"]["result"]["rows"][0];
        assert_eq!(row[0], json!({"type": "integer", "value": text}), "{v}");
        assert_eq!(row[1], json!({"type": "integer", "value": text}), "{v}");
        assert_eq!(row[2], json!({"type": "integer", "value": "1"}), "{v}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn floats_round_trip_over_websocket() {
    let s = start().await;
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/", s.running.http_addr)).await.unwrap();
    let mut msgs = vec![
        json!({"type": "hello", "jwt": null}).to_string(),
        json!({"type": "request", "request_id": 0, "request": {"type": "open_stream", "stream_id": 0}}).to_string(),
    ];
    for (i, text) in FLOATS.iter().enumerate() {
        msgs.push(format!(
            r#"{{"type":"request","request_id":{},"request":{{"type":"execute","stream_id":0,"stmt":{{"sql":"SELECT ?1, ?2","args":[{},{}]}}}}}}"#,
            i + 1,
            float_arg(text),
            float_arg(text)
        ));
    }
    let n = msgs.len();
    for m in msgs {
        ws.send(Message::Text(m.into())).await.unwrap();
    }
    let mut replies = Vec::new();
    while replies.len() < n {
        let Some(Ok(Message::Text(t))) = ws.next().await else { panic!("socket ended") };
        replies.push(serde_json::from_str::<Value>(t.as_str()).unwrap());
    }
    for (i, text) in FLOATS.iter().enumerate() {
        let r = &replies[i + 2];
        assert_eq!(r["type"], "response_ok", "{text}: {r}");
        check_float_row(text, &r["response"]["result"]["rows"][0]);
    }
}

/// What the server writes is the shortest text that parses back to the same double, so a
/// client's parser (JavaScript's, Python's) gets the exact value.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn floats_are_written_in_their_shortest_exact_form() {
    let s = start().await;
    let body = format!(
        r#"{{"requests":[{{"type":"execute","stmt":{{"sql":"SELECT ?, ?, ?, ?","args":[{},{},{},{}]}}}}]}}"#,
        float_arg("-1.25e-300"),
        float_arg("5e-324"),
        float_arg("-0.0"),
        float_arg("1.7976931348623157e308")
    );
    let r = s.http.post(format!("{}/v2/pipeline", s.base)).body(body).send().await.unwrap();
    let text = r.text().await.unwrap();
    for want in [
        r#"{"type":"float","value":-1.25e-300}"#,
        r#"{"type":"float","value":5e-324}"#,
        r#"{"type":"float","value":-0.0}"#,
        r#"{"type":"float","value":1.7976931348623157e+308}"#,
    ] {
        assert!(text.contains(want), "{want} in {text}");
    }
}
