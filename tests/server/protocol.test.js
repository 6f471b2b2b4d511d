// Raw HTTP against edgelite-server: the exact shapes the clients rely on (spec §1, §2, §5.2), and bad
// input answered with the protocol's errors, never a crash or a lost write.

import assert from "node:assert/strict";
import http from "node:http";
import { after, before, test } from "node:test";
import { info, startServer } from "./lib.js";

let server;
before(async () => { server = await startServer(); });
after(async () => { await server?.stop(); });

async function post(p, body, { token = server.tokens.rw, raw = false } = {}) {
  const res = await fetch(`${server.url}${p}`, {
    method: "POST",
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), "content-type": "application/json" },
    body: raw ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let json;
  try { json = JSON.parse(text); } catch {}
  return { status: res.status, text, json };
}

async function get(p, token = server.tokens.rw) {
  const res = await fetch(`${server.url}${p}`, { headers: { authorization: `Bearer ${token}` } });
  return { status: res.status, headers: res.headers, body: Buffer.from(await res.arrayBuffer()) };
}

const int = (v) => ({ type: "integer", value: String(v) });
const exec = (sql, args = []) => ({ type: "execute", stmt: { sql, args, want_rows: true } });

async function alive() {
  const r = await post("/v2/pipeline", { baton: null, requests: [exec("SELECT 1"), { type: "close" }] });
  assert.equal(r.status, 200, `server must still answer after bad input: ${r.text}`);
  assert.equal(r.json.results[0].response.result.rows[0][0].value, "1");
}

test("health, version and the version probes", async () => {
  assert.equal((await get("/health")).status, 200);
  for (const p of ["/v2", "/v3"]) assert.equal((await get(p)).status, 200, `GET ${p}`);
  const v = await get("/version");
  assert.equal(v.status, 200);
  assert.ok(v.body.length > 0);
});

test("v2/v3 pipeline: result shapes, batons, store_sql, describe, sequence, get_autocommit", async () => {
  let r = await post("/v3/pipeline", {
    baton: null,
    requests: [
      { type: "sequence", sql: "CREATE TABLE p (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO p VALUES (1, 'a')" },
      { type: "store_sql", sql_id: 7, sql: "INSERT INTO p (v) VALUES (?)" },
      { type: "execute", stmt: { sql_id: 7, args: [{ type: "text", value: "b" }] } },
      { type: "describe", sql: "SELECT id, v FROM p WHERE id = ? AND v = :name" },
      { type: "get_autocommit" },
      { type: "store_sql", sql_id: 7, sql: "SELECT 1" },
    ],
  });
  assert.equal(r.status, 200, r.text);
  const [seq, stored, ins, desc, auto, dup] = r.json.results;
  assert.equal(seq.type, "ok");
  assert.equal(seq.response.type, "sequence");
  assert.equal(stored.type, "ok");
  assert.equal(ins.response.result.affected_row_count, 1);
  assert.equal(ins.response.result.last_insert_rowid, "2", "last_insert_rowid is a string");
  assert.deepEqual(ins.response.result.cols, []);
  assert.deepEqual(ins.response.result.rows, []);
  assert.deepEqual(desc.response.result.params.map((p) => p.name), [null, ":name"]);
  assert.deepEqual(desc.response.result.cols.map((c) => c.name), ["id", "v"]);
  assert.equal(desc.response.result.is_readonly, true);
  assert.equal(desc.response.result.is_explain, false);
  assert.equal(auto.response.is_autocommit, true);
  assert.equal(dup.type, "error", "storing a sql_id twice is an error");
  assert.equal(typeof dup.error.code, "string");
  const baton = r.json.baton;
  assert.equal(typeof baton, "string");

  // Same stream: an open transaction is kept across requests, and a new baton comes each time.
  r = await post("/v3/pipeline", { baton, requests: [exec("BEGIN"), exec("INSERT INTO p VALUES (10, 'tx')"), { type: "get_autocommit" }] });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.results[2].response.is_autocommit, false);
  const baton2 = r.json.baton;
  assert.notEqual(baton2, baton);

  // The old baton is stale now.
  const stale = await post("/v3/pipeline", { baton, requests: [exec("COMMIT")] });
  assert.ok(stale.status >= 400 && stale.status < 500, `stale baton: HTTP ${stale.status} ${stale.text}`);
  // A forged one too.
  const forged = await post("/v3/pipeline", { baton: baton2.slice(0, -4) + "AAAA", requests: [exec("COMMIT")] });
  assert.ok(forged.status >= 400 && forged.status < 500, `forged baton: HTTP ${forged.status} ${forged.text}`);
  // Whether or not the bad batons ended the stream, its transaction must not hold the write lock now
  // that the stream is rolled back or closed, and row 10 was never committed.
  const fin = await post("/v3/pipeline", { baton: baton2, requests: [exec("ROLLBACK"), { type: "close" }] });
  if (fin.status === 200) assert.equal(fin.json.results[0].type, "ok", fin.text);
  const t0 = Date.now();
  const w = await post("/v2/pipeline", { requests: [exec("INSERT INTO p VALUES (11, 'after')"), exec("SELECT group_concat(id) FROM p"), { type: "close" }] });
  assert.equal(w.json?.results?.[0]?.type, "ok", `a write after the abandoned transaction: ${w.text}`);
  assert.ok(Date.now() - t0 < 2000, `the write waited ${Date.now() - t0} ms for the abandoned transaction's lock`);
  assert.equal(w.json.results[1].response.result.rows[0][0].value, "1,2,11");

  // Values: every type, blob base64 padded and unpadded.
  r = await post("/v2/pipeline", {
    requests: [exec("SELECT ?, ?, ?, ?, ?, ?", [int("-9223372036854775808"), { type: "float", value: 0.5 },
      { type: "text", value: "t" }, { type: "blob", base64: "AQI" }, { type: "blob", base64: "AQI=" }, { type: "null" }]),
    { type: "close" }],
  });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.baton, null, "close ends the stream");
  const row = r.json.results[0].response.result.rows[0];
  assert.deepEqual(row[0], int("-9223372036854775808"));
  assert.deepEqual(row[1], { type: "float", value: 0.5 });
  assert.deepEqual(row[2], { type: "text", value: "t" });
  assert.equal(row[3].type, "blob");
  assert.deepEqual(Buffer.from(row[3].base64, "base64"), Buffer.from([1, 2]));
  assert.deepEqual(Buffer.from(row[4].base64, "base64"), Buffer.from([1, 2]));
  assert.deepEqual(row[5], { type: "null" });
});

test("batch conditions: ok, error, not, and skipped steps", async () => {
  const r = await post("/v2/pipeline", {
    requests: [{
      type: "batch",
      batch: {
        steps: [
          { stmt: { sql: "SELECT 1" } },
          { stmt: { sql: "SELECT no_such_column" } },
          { condition: { type: "ok", step: 1 }, stmt: { sql: "SELECT 'skipped'" } },
          { condition: { type: "error", step: 1 }, stmt: { sql: "SELECT 'ran on error'" } },
          { condition: { type: "not", cond: { type: "ok", step: 2 } }, stmt: { sql: "SELECT 'ran on not ok'" } },
          { condition: { type: "and", conds: [{ type: "ok", step: 0 }, { type: "ok", step: 3 }] }, stmt: { sql: "SELECT 'and'" } },
        ],
      },
    }, { type: "close" }],
  });
  assert.equal(r.status, 200, r.text);
  const res = r.json.results[0].response.result;
  assert.equal(res.step_results.length, 6);
  assert.equal(res.step_errors.length, 6);
  assert.equal(res.step_results[0].rows[0][0].value, "1");
  assert.equal(res.step_results[1], null);
  assert.equal(typeof res.step_errors[1].message, "string");
  assert.equal(res.step_results[2], null);
  assert.equal(res.step_errors[2], null);
  assert.equal(res.step_results[3].rows[0][0].value, "ran on error");
  assert.equal(res.step_results[4].rows[0][0].value, "ran on not ok");
  assert.equal(res.step_results[5].rows[0][0].value, "and");
});

test("v3 cursor streams newline-delimited entries", async () => {
  const res = await fetch(`${server.url}/v3/cursor`, {
    method: "POST",
    headers: { authorization: `Bearer ${server.tokens.rw}` },
    body: JSON.stringify({ baton: null, batch: { steps: [
      { stmt: { sql: "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 3) SELECT i FROM s" } },
      { stmt: { sql: "SELECT * FROM no_such_table" } },
    ] } }),
  });
  assert.equal(res.status, 200);
  const lines = (await res.text()).split("\n").filter(Boolean).map((l) => JSON.parse(l));
  assert.ok("baton" in lines[0], "first line carries the baton");
  const entries = lines.slice(1).filter((e) => e.type !== "replication_index");
  assert.deepEqual(entries.map((e) => e.type), ["step_begin", "row", "row", "row", "step_end", "step_error"]);
  assert.deepEqual(entries.slice(1, 4).map((e) => e.row[0].value), ["1", "2", "3"]);
  assert.equal(entries[0].cols[0].name, "i");
  assert.equal(entries[5].step, 1);
});

test("HTTP API v1: execute and batch", async () => {
  let r = await post("/v1/execute", { stmt: { sql: "SELECT ? + 1 AS x", args: [int(41)] } });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json.result.rows, [[int(42)]]);
  r = await post("/v1/batch", { batch: { steps: [{ stmt: { sql: "SELECT 'a'" } }, { stmt: { sql: "SELECT 'b'" } }] } });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json.result.step_results.map((s) => s.rows[0][0].value), ["a", "b"]);
});

test("auth: 401 with a JSON error for missing, forged and expired tokens; read-only cannot write", async () => {
  for (const [name, token] of [["missing", null], ["forged", server.tokens.forged], ["expired", server.tokens.expired],
    ["garbage", "not.a.jwt"]]) {
    const r = await post("/v2/pipeline", { requests: [exec("CREATE TABLE auth_leak (x)")] }, { token });
    assert.equal(r.status, 401, `${name} token: HTTP ${r.status} ${r.text}`);
    assert.equal(typeof r.json?.error, "string", `${name} token: JSON {"error"} body, got ${r.text}`);
    for (const p of ["/info", "/export/1", "/sync/1/1/129"]) {
      const s = await get(p, token ?? "");
      assert.equal(s.status, 401, `${name} token on ${p}: HTTP ${s.status}`);
    }
    const push = await fetch(`${server.url}/sync/1/1/2`, { method: "POST", body: Buffer.alloc(4120),
      headers: token ? { authorization: `Bearer ${token}` } : {} });
    assert.equal(push.status, 401, `${name} token on POST /sync: HTTP ${push.status}`);
    const v1 = await post("/v1/execute", { stmt: { sql: "SELECT 1" } }, { token });
    assert.equal(v1.status, 401, `${name} token on /v1/execute: HTTP ${v1.status}`);
  }
  const ro = await post("/v2/pipeline", { requests: [exec("CREATE TABLE auth_leak (x)"), exec("SELECT 1"), { type: "close" }] },
    { token: server.tokens.ro });
  if (ro.status === 200) {
    assert.equal(ro.json.results[0].type, "error", "read-only token must not write");
    assert.equal(ro.json.results[1].type, "ok", "read-only token may read");
  } else {
    assert.ok(ro.status === 403 || ro.status === 401, `read-only write: HTTP ${ro.status}`);
  }
  const chk = await post("/v2/pipeline", { requests: [exec("SELECT count(*) FROM sqlite_schema WHERE name = 'auth_leak'"), { type: "close" }] });
  assert.equal(chk.json.results[0].response.result.rows[0][0].value, "0");
});

test("bad input: malformed JSON, unknown request, bad step reference, oversized body", async () => {
  for (const body of ["{not json", "[]", '{"requests": 5}', ""]) {
    const r = await post("/v2/pipeline", body, { raw: true });
    assert.ok(r.status >= 400 && r.status < 500, `body ${JSON.stringify(body)}: HTTP ${r.status} ${r.text}`);
  }
  const fwd = await post("/v2/pipeline", { requests: [{ type: "batch", batch: { steps: [
    { condition: { type: "ok", step: 5 }, stmt: { sql: "SELECT 1" } }] } }, { type: "close" }] });
  assert.ok(fwd.status >= 400 || fwd.json.results[0].type === "error", `forward step reference: ${fwd.text}`);
  // 64 MiB on a connection of its own (fetch's pool would keep the half-written socket).
  const status = await new Promise((resolve) => {
    const req = http.request(`${server.url}/v2/pipeline`, {
      method: "POST", agent: false,
      headers: { authorization: `Bearer ${server.tokens.rw}`, "content-type": "application/json" },
    }, (res) => { res.resume(); resolve(res.statusCode); });
    req.on("error", () => resolve("connection closed"));
    req.write(`{"requests":[{"type":"execute","stmt":{"sql":"SELECT '`);
    const chunk = Buffer.alloc(1 << 20, "x");
    for (let i = 0; i < 64; i++) req.write(chunk);
    req.end(`'"}}]}`);
  });
  assert.ok(status === "connection closed" || status === 413 || (status >= 400 && status < 500), `64 MiB body: HTTP ${status}`);
  await alive();
});

test("sync v2: /info, /export, /sync frames, end-of-generation answer, out-of-range frames", async () => {
  const w = await post("/v2/pipeline", { requests: [exec("CREATE TABLE sync_t (x)"), exec("INSERT INTO sync_t VALUES (1)"), { type: "close" }] });
  assert.deepEqual(w.json.results.map((r) => r.type), ["ok", "ok", "ok"], w.text);
  const { current_generation: g } = await info(server);
  assert.ok(Number.isInteger(g) && g >= 1);

  const exp = await get(`/export/${g}`);
  assert.equal(exp.status, 200);
  assert.equal(exp.body.subarray(0, 16).toString("latin1"), "SQLite format 3\0");
  assert.equal(exp.body.readUInt16BE(16), 4096, "page size 4096");
  assert.equal(exp.body[18], 2, "WAL mode write version");
  assert.equal(exp.body[19], 2, "WAL mode read version");
  assert.equal(exp.body.length % 4096, 0);

  const s = await get(`/sync/${g}/1/129`);
  assert.equal(s.status, 200);
  assert.ok(s.body.length > 0 && s.body.length % 4120 === 0, `frames body of ${s.body.length} bytes`);
  const n = s.body.length / 4120;
  const last = s.body.subarray((n - 1) * 4120, (n - 1) * 4120 + 24);
  if (n < 128) assert.ok(last.readUInt32BE(4) > 0, "the newest frame served is a commit frame: nothing uncommitted is served");
  // Every frame of the generation, one by one, carries a page number.
  for (let i = 0; i < n; i++) assert.ok(s.body.readUInt32BE(i * 4120) >= 1);

  const end = await get(`/sync/${g}/${n + 1}/${n + 129}`);
  assert.ok(end.status === 400 || end.status === 500, `past the end: HTTP ${end.status}`);
  assert.deepEqual(JSON.parse(end.body.toString()), { generation: g });
  const far = await get(`/sync/${g}/4294967295/4294967296`);
  assert.ok(far.status >= 400 && far.status < 500, `out of range: HTTP ${far.status}`);
  for (const p of [`/sync/${g}/0/10`, `/sync/${g}/5/3`, `/sync/${g}/x/y`, `/export/${g + 1000}`, `/sync/${g + 1000}/1/129`]) {
    const r = await get(p);
    assert.ok(r.status >= 400 && r.status < 500, `${p}: HTTP ${r.status}`);
  }
  await alive();
});

test("an idle stream expires: its baton then gets STREAM_EXPIRED and its transaction is rolled back", async () => {
  let r = await post("/v3/pipeline", { baton: null, requests: [exec("CREATE TABLE exp_t (x)"), exec("BEGIN"), exec("INSERT INTO exp_t VALUES (1)")] });
  assert.deepEqual(r.json.results.map((x) => x.type), ["ok", "ok", "ok"], r.text);
  const baton = r.json.baton;
  await new Promise((res) => setTimeout(res, 11_500)); // sqld's expiry is 10 s
  r = await post("/v3/pipeline", { baton, requests: [exec("COMMIT")] });
  assert.equal(r.status, 400, `expired baton: HTTP ${r.status} ${r.text}`);
  assert.equal(r.json?.code, "STREAM_EXPIRED", r.text);
  const c = await post("/v2/pipeline", { requests: [exec("SELECT count(*) FROM exp_t"), exec("INSERT INTO exp_t VALUES (2)"), { type: "close" }] });
  assert.equal(c.json.results[0].response.result.rows[0][0].value, "0", "the expired stream's insert was never committed");
  assert.equal(c.json.results[1].type, "ok", "and its write lock is gone");
});

test("push (POST /sync): malformed frames are refused and never applied", async () => {
  const w = await post("/v2/pipeline", { requests: [exec("CREATE TABLE push_t (id INTEGER PRIMARY KEY, v TEXT)"),
    exec("INSERT INTO push_t VALUES (1, 'kept')"), { type: "close" }] });
  assert.deepEqual(w.json.results.map((r) => r.type), ["ok", "ok", "ok"], w.text);
  const { current_generation: g } = await info(server);
  let next = 1;
  for (;;) {
    const r = await get(`/sync/${g}/${next}/${next + 128}`);
    if (r.status !== 200) break;
    next += r.body.length / 4120;
  }
  // The page number of push_t's root, so that the garbage lands on a page that holds rows.
  const root = Number((await post("/v2/pipeline", { requests: [exec("SELECT rootpage FROM sqlite_schema WHERE name = 'push_t'"),
    { type: "close" }] })).json.results[0].response.result.rows[0][0].value);
  const frame = (pgno, commit, fill, len = 4120) => {
    const f = Buffer.alloc(len, fill);
    if (len >= 8) { f.writeUInt32BE(pgno, 0); f.writeUInt32BE(commit, 4); }
    return f;
  };
  const pages = Number((await post("/v2/pipeline", { requests: [exec("PRAGMA page_count"), { type: "close" }] }))
    .json.results[0].response.result.rows[0][0].value);
  const cases = [
    ["a short body", frame(root, pages, 0, 100)],
    ["page number 0", frame(0, pages, 0)],
    ["garbage on the table's root page", frame(root, pages, 0xab)],
    ["garbage on page 1", frame(1, pages, 0x5a)],
    ["a commit that truncates the database to one page", frame(1, 1, 0)],
  ];
  for (const [name, body] of cases) {
    const res = await fetch(`${server.url}/sync/${g}/${next}/${next + 1}`, {
      method: "POST", headers: { authorization: `Bearer ${server.tokens.rw}` }, body });
    const text = await res.text();
    let answer;
    try { answer = JSON.parse(text); } catch {}
    assert.ok(!(res.status === 200 && answer?.status === "ok"), `${name}: accepted (${res.status} ${text})`);
    const after = await post("/v2/pipeline", { requests: [exec("SELECT id, v FROM push_t"), exec("PRAGMA integrity_check"),
      { type: "close" }] });
    assert.deepEqual(after.json.results.map((r) => r.type), ["ok", "ok", "ok"], `${name}: database unreadable after the push: ${after.text}`);
    assert.deepEqual(after.json.results[0].response.result.rows, [[{ type: "integer", value: "1" }, { type: "text", value: "kept" }]], name);
    assert.deepEqual(after.json.results[1].response.result.rows, [[{ type: "text", value: "ok" }]], `${name}: integrity`);
  }
  await alive();
});

test("without --auth-jwt-key-file no token is needed, and any token is ignored", async () => {
  const open = await startServer({ auth: false });
  try {
    for (const token of [null, "anything"]) {
      const headers = { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) };
      const r = await fetch(`${open.url}/v2/pipeline`, { method: "POST", headers,
        body: JSON.stringify({ requests: [exec("SELECT 'open'"), { type: "close" }] }) });
      assert.equal(r.status, 200);
      assert.equal((await r.json()).results[0].response.result.rows[0][0].value, "open");
      const i = await fetch(`${open.url}/info`, { headers });
      assert.equal(i.status, 200);
    }
  } finally {
    await open.stop();
  }
});
