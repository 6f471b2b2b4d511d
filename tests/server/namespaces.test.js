// Namespaces (`--enable-namespaces`) and the admin API: create, fork, delete, checkpoint; a request's
// namespace from `x-namespace` or the first label of `Host`. Raw HTTP: the clients under test cannot
// choose a namespace on 127.0.0.1 (they would need a subdomain that resolves).

import assert from "node:assert/strict";
import http from "node:http";
import { after, before, test } from "node:test";
import { admin, signJwt, startServer } from "./lib.js";

let server;
before(async () => { server = await startServer({ extraArgs: ["--enable-namespaces"] }); });
after(async () => { await server?.stop(); });

/** One request with explicit headers (fetch will not send a Host of our choosing). */
function request(method, p, { headers = {}, body } = {}) {
  const u = new URL(p, server.url);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: u.hostname, port: u.port, path: u.pathname, method, agent: false,
      headers: { authorization: `Bearer ${server.tokens.rw}`, "content-type": "application/json", ...headers } },
    (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => {
        const buf = Buffer.concat(chunks);
        let json;
        try { json = JSON.parse(buf); } catch {}
        resolve({ status: res.statusCode, body: buf, text: buf.toString(), json });
      });
    });
    req.on("error", reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

const exec = (sql) => ({ type: "execute", stmt: { sql } });
async function sql(ns, ...stmts) {
  return sqlAs(server.tokens.rw, ns, ...stmts);
}
async function sqlAs(token, ns, ...stmts) {
  const headers = { authorization: `Bearer ${token}`, ...(ns === null ? {} : { "x-namespace": ns }) };
  return request("POST", "/v2/pipeline", { headers, body: { requests: [...stmts.map(exec), { type: "close" }] } });
}
function rows(r) {
  assert.equal(r.status, 200, r.text);
  const res = r.json.results.at(-2);
  assert.equal(res.type, "ok", JSON.stringify(res));
  return res.response.result.rows.map((row) => row.map((v) => v.value ?? null));
}

test("namespaces are separate databases; the admin API creates, forks and deletes them", async () => {
  await admin(server, "POST", "/v1/namespaces/alpha/create");
  await admin(server, "POST", "/v1/namespaces/beta/create", {});
  rows(await sql("alpha", "CREATE TABLE t (v TEXT)", "INSERT INTO t VALUES ('in alpha')", "SELECT v FROM t"));
  rows(await sql("beta", "CREATE TABLE t (v TEXT)", "INSERT INTO t VALUES ('in beta')", "SELECT v FROM t"));
  assert.deepEqual(rows(await sql("alpha", "SELECT v FROM t")), [["in alpha"]]);
  assert.deepEqual(rows(await sql("beta", "SELECT v FROM t")), [["in beta"]]);
  assert.deepEqual(rows(await sql(null, "SELECT count(*) FROM sqlite_schema WHERE name = 't'")), [["0"]],
    "no x-namespace means the default namespace");

  // The first label of Host names the namespace too.
  const viaHost = await request("POST", "/v2/pipeline", {
    headers: { host: `alpha.edgelite.test:${new URL(server.url).port}` },
    body: { requests: [exec("SELECT v FROM t"), { type: "close" }] },
  });
  assert.deepEqual(rows(viaHost), [["in alpha"]]);

  // Fork: a copy that then goes its own way.
  await admin(server, "POST", "/v1/namespaces/alpha/fork/gamma");
  assert.deepEqual(rows(await sql("gamma", "SELECT v FROM t")), [["in alpha"]]);
  rows(await sql("gamma", "INSERT INTO t VALUES ('in gamma')", "SELECT 1"));
  assert.deepEqual(rows(await sql("gamma", "SELECT v FROM t ORDER BY v")), [["in alpha"], ["in gamma"]]);
  assert.deepEqual(rows(await sql("alpha", "SELECT v FROM t")), [["in alpha"]]);

  // Delete: its requests fail, and a namespace created again under the name starts empty.
  await admin(server, "DELETE", "/v1/namespaces/beta");
  const gone = await sql("beta", "SELECT v FROM t");
  assert.ok(gone.status >= 400 && gone.status < 500, `deleted namespace: HTTP ${gone.status} ${gone.text}`);
  await admin(server, "POST", "/v1/namespaces/beta/create");
  assert.deepEqual(rows(await sql("beta", "SELECT count(*) FROM sqlite_schema")), [["0"]]);

  const missing = await sql("nosuchns", "SELECT 1");
  assert.ok(missing.status >= 400 && missing.status < 500, `unknown namespace: HTTP ${missing.status}`);
  await assert.rejects(admin(server, "POST", "/v1/namespaces/alpha/create"), /HTTP 4\d\d/, "creating twice");
  await assert.rejects(admin(server, "POST", "/v1/namespaces/nosuchns/fork/delta"), /HTTP 4\d\d/, "forking nothing");
});

test("sync endpoints follow the namespace; a checkpoint moves only its own namespace's generation", async () => {
  await admin(server, "POST", "/v1/namespaces/sync1/create");
  await admin(server, "POST", "/v1/namespaces/sync2/create");
  rows(await sql("sync1", "CREATE TABLE s (x)", "INSERT INTO s VALUES (1)", "SELECT 1"));
  const gen = async (ns) => {
    const r = await request("GET", "/info", { headers: { "x-namespace": ns } });
    assert.equal(r.status, 200, r.text);
    return r.json.current_generation;
  };
  const g1 = await gen("sync1");
  const g2 = await gen("sync2");
  const f1 = await request("GET", `/sync/${g1}/1/129`, { headers: { "x-namespace": "sync1" } });
  assert.equal(f1.status, 200);
  assert.ok(f1.body.length >= 4120 && f1.body.length % 4120 === 0);
  const f2 = await request("GET", `/sync/${g2}/1/129`, { headers: { "x-namespace": "sync2" } });
  assert.equal(f2.status, 400, "sync2 has no frames yet");
  assert.deepEqual(f2.json, { generation: g2 });

  await admin(server, "POST", "/v1/namespaces/sync1/checkpoint");
  assert.ok(await gen("sync1") > g1);
  assert.equal(await gen("sync2"), g2);
  // The new generation's export holds the checkpointed rows.
  const exp = await request("GET", `/export/${await gen("sync1")}`, { headers: { "x-namespace": "sync1" } });
  assert.equal(exp.status, 200);
  assert.equal(exp.body.subarray(0, 15).toString(), "SQLite format 3");
  assert.ok(exp.body.length >= 2 * 4096, "the export holds the table's page");
  assert.deepEqual(rows(await sql("sync1", "SELECT x FROM s")), [["1"]]);
});

test("tokens scoped to namespaces: legacy `id`, and `p` permissions", async () => {
  for (const ns of ["auth_a", "auth_b", "auth_c"]) {
    await admin(server, "POST", `/v1/namespaces/${ns}/create`);
    rows(await sql(ns, "CREATE TABLE t (v TEXT)", `INSERT INTO t VALUES ('${ns}')`, "SELECT 1"));
  }
  const idTok = signJwt({ id: "auth_a" });
  assert.deepEqual(rows(await sqlAs(idTok, "auth_a", "INSERT INTO t VALUES ('by id')", "SELECT count(*) FROM t")), [["2"]]);
  const other = await sqlAs(idTok, "auth_b", "SELECT v FROM t");
  assert.ok(other.status === 403 || other.status === 401, `id-scoped token on another namespace: HTTP ${other.status} ${other.text}`);

  const pTok = signJwt({ p: { ro: { ns: ["auth_a"] }, rw: { ns: ["auth_c"] } } });
  assert.deepEqual(rows(await sqlAs(pTok, "auth_a", "SELECT count(*) FROM t")), [["2"]]);
  const roWrite = await sqlAs(pTok, "auth_a", "INSERT INTO t VALUES ('p ro')", "SELECT 1");
  assert.ok(roWrite.status !== 200 || roWrite.json.results[0].type === "error", `p.ro write: ${roWrite.text}`);
  assert.deepEqual(rows(await sqlAs(pTok, "auth_c", "INSERT INTO t VALUES ('p rw')", "SELECT count(*) FROM t")), [["2"]]);
  const none = await sqlAs(pTok, "auth_b", "SELECT v FROM t");
  assert.ok(none.status === 403 || none.status === 401, `p without the namespace: HTTP ${none.status} ${none.text}`);
  assert.deepEqual(rows(await sql("auth_a", "SELECT v FROM t ORDER BY v")), [["auth_a"], ["by id"]]);
  assert.deepEqual(rows(await sql("auth_b", "SELECT v FROM t")), [["auth_b"]]);
});
