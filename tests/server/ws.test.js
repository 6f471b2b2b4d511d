// Hrana over WebSocket at the frame level (spec §3): subprotocol choice, hello and its errors,
// stream errors that leave the connection open, and bad frames that close only that connection.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { createClient } from "@libsql/client";
import { rawWebSocket, startServer } from "./lib.js";

let server;
before(async () => { server = await startServer(); });
after(async () => { await server?.stop(); });

const req = (id, request) => JSON.stringify({ type: "request", request_id: id, request });
const execute = (stream, sql, args = []) => ({ type: "execute", stream_id: stream, stmt: { sql, args, want_rows: true } });

async function serverStillServes() {
  const db = createClient({ url: server.url, authToken: server.tokens.rw });
  try {
    assert.equal((await db.execute("SELECT 7 AS x")).rows[0].x, 7);
  } finally {
    db.close();
  }
}

test("subprotocols: hrana3 when offered, hrana2 for npm's offer, hrana1 without a header", async () => {
  for (const [offer, want] of [["hrana3, hrana2, hrana1", "hrana3"], ["hrana2,hrana1", "hrana2"], [undefined, null]]) {
    const ws = await rawWebSocket(server.wsUrl, offer);
    assert.equal(ws.protocol, want, `offered ${offer}`);
    ws.send(JSON.stringify({ type: "hello", jwt: server.tokens.rw }));
    assert.deepEqual(await ws.next(), { type: "hello_ok" });
    ws.send(req(1, { type: "open_stream", stream_id: 1 }));
    ws.send(req(2, execute(1, "SELECT ? + 1", [{ type: "integer", value: "41" }])));
    const opened = await ws.next();
    assert.equal(opened.type, "response_ok");
    const res = await ws.next();
    assert.equal(res.request_id, 2);
    assert.deepEqual(res.response.result.rows, [[{ type: "integer", value: "42" }]]);
    ws.end();
  }
});

test("hello with a bad token: hello_error, then the server closes", async () => {
  for (const jwt of [server.tokens.forged, server.tokens.expired, null, "garbage"]) {
    const ws = await rawWebSocket(server.wsUrl, "hrana2");
    ws.send(JSON.stringify({ type: "hello", jwt }));
    const m = await ws.next();
    assert.equal(m?.type, "hello_error", `jwt ${String(jwt).slice(0, 12)}: ${JSON.stringify(m)}`);
    assert.equal(typeof m.error.message, "string");
    // Nothing runs on it, whatever is sent after.
    ws.send(req(1, { type: "open_stream", stream_id: 1 }));
    ws.send(req(2, execute(1, "CREATE TABLE ws_leak (x)")));
    const after = await ws.next(3000);
    assert.ok(after === null || after.close !== undefined || after.type === "response_error", JSON.stringify(after));
    ws.end();
  }
  const db = createClient({ url: server.url, authToken: server.tokens.rw });
  try {
    assert.equal((await db.execute("SELECT count(*) AS c FROM sqlite_schema WHERE name = 'ws_leak'")).rows[0].c, 0);
  } finally {
    db.close();
  }
});

test("a statement error or an unknown stream is a response_error; the connection goes on", async () => {
  const ws = await rawWebSocket(server.wsUrl, "hrana2");
  ws.send(JSON.stringify({ type: "hello", jwt: server.tokens.rw }));
  assert.equal((await ws.next()).type, "hello_ok");
  ws.send(req(1, { type: "open_stream", stream_id: 5 }));
  ws.send(req(2, execute(5, "SELEC 1")));
  ws.send(req(3, execute(99, "SELECT 1")));
  ws.send(req(4, execute(5, "SELECT 'still here'")));
  const got = new Map();
  for (let i = 0; i < 4; i++) {
    const m = await ws.next();
    assert.ok(m, "no answer");
    got.set(m.request_id, m);
  }
  assert.equal(got.get(1).type, "response_ok");
  assert.equal(got.get(2).type, "response_error");
  assert.match(got.get(2).error.message, /syntax error/i);
  assert.equal(typeof got.get(2).error.code, "string");
  assert.ok(got.get(3).type === "response_error" || got.get(3) === undefined, JSON.stringify(got.get(3)));
  assert.deepEqual(got.get(4).response.result.rows, [[{ type: "text", value: "still here" }]]);
  ws.end();
});

test("bad frames (malformed JSON, binary on a JSON subprotocol) close that connection only", async () => {
  for (const [name, send] of [
    ["malformed JSON", (ws) => ws.send("{this is not json")],
    ["binary frame on hrana2", (ws) => ws.send(Buffer.from([1, 2, 3]))],
    ["unknown message type", (ws) => ws.send(JSON.stringify({ type: "nonsense" }))],
  ]) {
    const ws = await rawWebSocket(server.wsUrl, "hrana2");
    ws.send(JSON.stringify({ type: "hello", jwt: server.tokens.rw }));
    assert.equal((await ws.next()).type, "hello_ok");
    send(ws);
    const m = await ws.next(5000);
    assert.ok(m === null || m.close !== undefined, `${name}: the server should close, got ${JSON.stringify(m)}`);
    await ws.closed;
  }
  await serverStillServes();
});
