// Turso's own sync client, npm `@tursodatabase/sync` 0.7.2 (with `@tursodatabase/database` 0.7.2),
// unchanged, against edgelite-server: it bootstraps and pulls pages with `POST /pull-updates`
// and pushes its local changes as Hrana batches over `/v2/pipeline` (docs/sync-protocol.md §10).
// Every pull-updates answer is decoded on the side (the client's `fetch` option) to count the
// pages it carried.

import { test, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { connect } from "@tursodatabase/sync";
import { createClient } from "@libsql/client";
import { startServer, tempDir, checkpoint, f32le, bytes } from "./lib.js";

const dir = tempDir("turso-sync");
const servers = [];
after(async () => {
  for (const s of servers) await s.stop();
});

async function server(opts = {}) {
  const s = await startServer(opts);
  servers.push(s);
  return s;
}

/** Reads one varint at `at`: `[value, next offset]`. */
function varint(buf, at) {
  let v = 0, mul = 1;
  for (;;) {
    const b = buf[at++];
    v += (b & 0x7f) * mul;
    if (b < 0x80) return [v, at];
    mul *= 128;
  }
}

/** The fields of one protobuf message: `{tag: value}` (varints as numbers, bytes as Buffers). */
function fields(msg) {
  const out = {};
  for (let at = 0; at < msg.length;) {
    let key;
    [key, at] = varint(msg, at);
    if ((key & 7) === 0) {
      [out[key >> 3], at] = varint(msg, at);
    } else if ((key & 7) === 2) {
      let len;
      [len, at] = varint(msg, at);
      out[key >> 3] = msg.subarray(at, at + len);
      at += len;
    } else {
      throw new Error(`unexpected wire type in ${key}`);
    }
  }
  return out;
}

/** A pull-updates answer: the header's revision and size, and the 0-based ids of its pages. */
function decodePull(buf) {
  const msgs = [];
  for (let at = 0; at < buf.length;) {
    let len;
    [len, at] = varint(buf, at);
    msgs.push(fields(buf.subarray(at, at + len)));
    at += len;
  }
  const [head, ...pages] = msgs;
  return { revision: String(head[1] ?? ""), dbSize: head[2] ?? 0, pages: pages.map((p) => p[1] ?? 0) };
}

/** A `fetch` for the client that keeps every decoded pull-updates answer in `pulls`. */
function recorder() {
  const pulls = [];
  const requests = [];
  const f = async (url, init) => {
    const res = await fetch(url, init);
    requests.push(`${init?.method ?? "GET"} ${new URL(url).pathname} ${res.status}`);
    if (String(url).endsWith("/pull-updates") && res.ok) {
      pulls.push(decodePull(Buffer.from(await res.clone().arrayBuffer())));
    }
    return res;
  };
  return { fetch: f, pulls, requests, last: () => pulls[pulls.length - 1] };
}

let n = 0;
async function replica(s, opts = {}) {
  const rec = recorder();
  const db = await connect({
    path: path.join(dir, `replica-${n++}.db`),
    url: s.url,
    authToken: s.tokens.rw,
    fetch: rec.fetch,
    ...opts,
  });
  return { db, rec };
}

async function all(db, sql) {
  return (await db.prepare(sql)).all();
}

test("bootstrap, incremental pulls that carry only the changed pages, and pushes", async () => {
  const s = await server();
  const primary = createClient({ url: s.url, authToken: s.tokens.rw });
  await primary.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)");
  // About 60 pages of rows.
  await primary.batch(
    Array.from({ length: 400 }, (_, i) => ({ sql: "INSERT INTO t VALUES (?, ?)", args: [i, "x".repeat(500)] })),
    "write",
  );
  const { db, rec } = await replica(s);
  const boot = rec.last();
  assert.equal(boot.pages.length, boot.dbSize, "bootstrap: every page");
  assert.ok(boot.dbSize > 50, `a database of ${boot.dbSize} pages`);
  assert.deepEqual(boot.pages, [...Array(boot.dbSize).keys()], "pages 0..db_size-1, each once");
  assert.deepEqual(await all(db, "SELECT count(*) AS c, sum(id) AS s FROM t"), [{ c: 400, s: 79800 }]);

  // Nothing new: no pages.
  assert.equal(await db.pull(), false);
  assert.equal(rec.last().pages.length, 0);

  // One row updated on the primary: one leaf page (and none of the other ~60).
  await primary.execute("UPDATE t SET v = 'changed' WHERE id = 200");
  assert.equal(await db.pull(), true);
  const inc = rec.last();
  assert.ok(inc.pages.length >= 1 && inc.pages.length <= 2, `pages pulled for one row: ${inc.pages}`);
  assert.notEqual(inc.revision, boot.revision);
  assert.deepEqual(await all(db, "SELECT v FROM t WHERE id = 200"), [{ v: "changed" }]);

  // Local writes pushed, then seen by the primary and by another replica.
  await db.exec("INSERT INTO t VALUES (1000, 'from the replica')");
  await db.exec("UPDATE t SET v = 'edited locally' WHERE id = 1");
  await db.push();
  const rows = await primary.execute("SELECT id, v FROM t WHERE id IN (1, 1000) ORDER BY id");
  assert.deepEqual(rows.rows.map((r) => [r.id, r.v]), [[1, "edited locally"], [1000, "from the replica"]]);
  const other = await replica(s);
  assert.deepEqual(await all(other.db, "SELECT v FROM t WHERE id = 1000"), [{ v: "from the replica" }]);
  await db.pull();
  assert.deepEqual(await all(db, "SELECT count(*) AS c FROM t"), [{ c: 401 }]);
  await db.close();
  await other.db.close();
});

test("conflicting pushes: the last push wins, and every copy converges", async () => {
  const s = await server();
  const primary = createClient({ url: s.url, authToken: s.tokens.rw });
  await primary.execute("CREATE TABLE c(id INTEGER PRIMARY KEY, v TEXT)");
  await primary.execute("INSERT INTO c VALUES (1, 'base'), (2, 'base')");
  const a = await replica(s);
  const b = await replica(s);
  // Both change row 1 and insert the same new key, without seeing each other.
  await a.db.exec("UPDATE c SET v = 'a' WHERE id = 1");
  await a.db.exec("INSERT INTO c VALUES (3, 'a')");
  await b.db.exec("UPDATE c SET v = 'b' WHERE id = 1");
  await b.db.exec("INSERT INTO c VALUES (3, 'b')");
  await a.db.push();
  // b pulls a's changes: its own unpushed ones are replayed on top, so it still sees its own.
  await b.db.pull();
  assert.deepEqual(await all(b.db, "SELECT v FROM c WHERE id IN (1, 3) ORDER BY id"), [{ v: "b" }, { v: "b" }]);
  await b.db.push();
  await a.db.pull();
  const want = [{ id: 1, v: "b" }, { id: 2, v: "base" }, { id: 3, v: "b" }];
  assert.deepEqual((await primary.execute("SELECT id, v FROM c ORDER BY id")).rows.map((r) => ({ ...r })), want);
  assert.deepEqual(await all(a.db, "SELECT id, v FROM c ORDER BY id"), want);
  assert.deepEqual(await all(b.db, "SELECT id, v FROM c ORDER BY id"), want);
  // A write on the primary meanwhile is kept alongside a later push of another row.
  await primary.execute("UPDATE c SET v = 'primary' WHERE id = 2");
  await a.db.exec("UPDATE c SET v = 'a again' WHERE id = 3");
  await a.db.push();
  await a.db.pull();
  assert.deepEqual(await all(a.db, "SELECT v FROM c ORDER BY id"), [{ v: "b" }, { v: "primary" }, { v: "a again" }]);
  await a.db.close();
  await b.db.close();
});

test("a replica behind across several checkpoints gets the changed pages; a deleted archive gets every page", async () => {
  const s = await server({ auth: true });
  const primary = createClient({ url: s.url, authToken: s.tokens.rw });
  await primary.execute("CREATE TABLE g(id INTEGER PRIMARY KEY, v TEXT)");
  await primary.batch(
    Array.from({ length: 300 }, (_, i) => ({ sql: "INSERT INTO g VALUES (?, ?)", args: [i, "y".repeat(400)] })),
    "write",
  );
  const behind = await replica(s);
  const dbSize = behind.rec.last().dbSize;
  const gens = [];
  for (let i = 0; i < 3; i++) {
    await primary.execute({ sql: "UPDATE g SET v = ? WHERE id = ?", args: [`gen ${i}`, i * 100] });
    gens.push(await checkpoint(s));
  }
  await primary.execute("INSERT INTO g VALUES (1000, 'last')");
  assert.ok(gens[2] >= gens[0] + 2, `generations ${gens}`);
  assert.equal(await behind.db.pull(), true);
  const pulled = behind.rec.last();
  assert.ok(pulled.pages.length < dbSize / 4, `${pulled.pages.length} pages of ${dbSize} pulled across 3 checkpoints`);
  const want = [{ id: 0, v: "gen 0" }, { id: 100, v: "gen 1" }, { id: 200, v: "gen 2" }, { id: 1000, v: "last" }];
  assert.deepEqual(await all(behind.db, "SELECT id, v FROM g WHERE id IN (0, 100, 200, 1000) ORDER BY id"), want);

  // Another replica behind; then an archived generation it needs is deleted by hand: it cannot
  // be told what changed, so it gets every page, never a gap.
  const lagging = await replica(s);
  const from = (await lagging.db.stats()).revision;
  await primary.execute("UPDATE g SET v = 'after' WHERE id = 5");
  const g = await checkpoint(s);
  await primary.execute("UPDATE g SET v = 'after' WHERE id = 6");
  fs.rmSync(path.join(s.dataDir, "data", "dbs", "default", "gens", String(g - 1), "frames"));
  assert.equal(await lagging.db.pull(), true);
  const full = lagging.rec.last();
  assert.notEqual(full.revision, from);
  assert.equal(full.pages.length, full.dbSize, "every page");
  assert.deepEqual(await all(lagging.db, "SELECT v FROM g WHERE id IN (5, 6)"), [{ v: "after" }, { v: "after" }]);
  assert.deepEqual(await all(lagging.db, "SELECT count(*) AS c FROM g"), [{ c: 301 }]);
  await behind.db.close();
  await lagging.db.close();
});

test("replicas carry on across a server restart and a SIGKILL", async () => {
  const dataDir = tempDir("turso-restart");
  let s = await startServer({ dataDir });
  const primaryAt = (srv) => createClient({ url: srv.url, authToken: srv.tokens.rw });
  await primaryAt(s).execute("CREATE TABLE r(id INTEGER PRIMARY KEY, v TEXT)");
  await primaryAt(s).execute("INSERT INTO r VALUES (1, 'before')");
  const file = path.join(dir, "restart.db");
  let db = await connect({ path: file, url: s.url, authToken: s.tokens.rw });
  assert.deepEqual(await all(db, "SELECT v FROM r"), [{ v: "before" }]);
  await db.close();
  for (const signal of ["SIGTERM", "SIGKILL"]) {
    await primaryAt(s).execute({ sql: "INSERT INTO r (v) VALUES (?)", args: [`before ${signal}`] });
    await s.stop(signal);
    s = await startServer({ dataDir });
    await primaryAt(s).execute({ sql: "INSERT INTO r (v) VALUES (?)", args: [`after ${signal}`] });
    // The same local files, reopened against the restarted server (on a new port).
    db = await connect({ path: file, url: s.url, authToken: s.tokens.rw });
    await db.pull();
    await db.exec(`INSERT INTO r (id, v) VALUES (${signal === "SIGTERM" ? 100 : 200}, 'pushed after ${signal}')`);
    await db.push();
    await db.close();
  }
  const want = (await primaryAt(s).execute("SELECT id, v FROM r ORDER BY id")).rows.map((r) => ({ ...r }));
  assert.equal(want.length, 7, JSON.stringify(want));
  db = await connect({ path: file, url: s.url, authToken: s.tokens.rw });
  await db.pull();
  assert.deepEqual(await all(db, "SELECT id, v FROM r ORDER BY id"), want);
  await db.close();
  await s.stop();
});

test("F32_BLOB vectors arrive through pull; a libsql_vector_idx index is refused by Turso's engine", async () => {
  const s = await server();
  const primary = createClient({ url: s.url, authToken: s.tokens.rw });
  await primary.execute("CREATE TABLE items(id INTEGER PRIMARY KEY, emb F32_BLOB(3))");
  await primary.execute("INSERT INTO items VALUES (1, vector32('[1,2,3]'))");
  const { db } = await replica(s);
  await primary.execute("INSERT INTO items VALUES (2, vector32('[0.5,-1.25,4]'))");
  await db.pull();
  const rows = await all(db, "SELECT id, emb, vector_extract(emb) AS e FROM items ORDER BY id");
  assert.deepEqual(bytes(rows[1].emb), f32le([0.5, -1.25, 4]));
  assert.deepEqual(rows.map((r) => r.e), ["[1,2,3]", "[0.5,-1.25,4]"]);

  // Turso's engine cannot parse libSQL's vector index (README: what a Turso client sees).
  // The replica keeps its last state, and pulls again once the index is gone.
  await primary.execute("CREATE INDEX items_idx ON items(libsql_vector_idx(emb))");
  await primary.execute("INSERT INTO items VALUES (3, vector32('[0,0,1]'))");
  await assert.rejects(db.pull(), /invalid expression in CREATE INDEX: libsql_vector_idx/);
  await assert.rejects(replica(s), /invalid expression in CREATE INDEX: libsql_vector_idx/);
  assert.deepEqual(await all(db, "SELECT id FROM items ORDER BY id"), [{ id: 1 }, { id: 2 }]);
  await primary.execute("DROP INDEX items_idx");
  assert.equal(await db.pull(), true);
  assert.deepEqual(await all(db, "SELECT id FROM items ORDER BY id"), [{ id: 1 }, { id: 2 }, { id: 3 }]);
  await db.close();
});

test("a read-only token pulls, and its push is refused and changes nothing", async () => {
  const s = await server();
  const primary = createClient({ url: s.url, authToken: s.tokens.rw });
  await primary.execute("CREATE TABLE ro(id INTEGER PRIMARY KEY, v TEXT)");
  await primary.execute("INSERT INTO ro VALUES (1, 'x')");
  const { db } = await replica(s, { authToken: s.tokens.ro });
  assert.deepEqual(await all(db, "SELECT v FROM ro"), [{ v: "x" }]);
  await db.exec("INSERT INTO ro VALUES (2, 'y')");
  await assert.rejects(db.push(), /read-only/);
  assert.deepEqual((await primary.execute("SELECT count(*) AS c FROM ro")).rows[0].c, 1);
  await assert.rejects(
    connect({ path: path.join(dir, "forged.db"), url: s.url, authToken: s.tokens.forged }),
    /status=401/,
  );
  await db.close();
});

test("a long-polling pull is woken by a commit, and many pushes never exhaust the stream caps", async () => {
  const s = await server({ extraArgs: ["--max-http-streams-per-namespace", "8", "--max-concurrent-connections", "8"] });
  const primary = createClient({ url: s.url, authToken: s.tokens.rw });
  await primary.execute("CREATE TABLE lp(id INTEGER PRIMARY KEY)");
  const { db } = await replica(s, { longPollTimeoutMs: 20_000 });
  const started = Date.now();
  const pulled = db.pull();
  setTimeout(() => primary.execute("INSERT INTO lp VALUES (1)"), 300);
  assert.equal(await pulled, true);
  assert.ok(Date.now() - started < 15_000, "woken by the commit, not by the 20 s timeout");
  assert.deepEqual(await all(db, "SELECT id FROM lp"), [{ id: 1 }]);
  // Each push leaves two streams open (the client never closes them): 20 pushes within the
  // stream expiry, with caps of 8, all go through.
  const { db: pusher } = await replica(s);
  for (let i = 2; i < 22; i++) {
    await pusher.exec(`INSERT INTO lp VALUES (${i})`);
    await pusher.push();
  }
  assert.equal((await primary.execute("SELECT count(*) AS c FROM lp")).rows[0].c, 21);
  await db.close();
  await pusher.close();
});

test("namespaces: /dev/<ns>/ reaches the namespace's own database", async () => {
  const s = await server({ extraArgs: ["--enable-namespaces"] });
  const r = await fetch(`${s.adminUrl}/v1/namespaces/shop/create`, { method: "POST" });
  assert.equal(r.status, 200);
  // The primary side over plain Hrana with x-namespace.
  const shop = async (sql) => {
    const res = await fetch(`${s.url}/v2/pipeline`, {
      method: "POST",
      headers: { "x-namespace": "shop", authorization: `Bearer ${s.tokens.rw}` },
      body: JSON.stringify({ requests: [{ type: "execute", stmt: { sql } }, { type: "close" }] }),
    });
    const body = await res.json();
    assert.equal(body.results[0].type, "ok", JSON.stringify(body));
    return body.results[0].response.result.rows;
  };
  await shop("CREATE TABLE s(x)");
  await shop("INSERT INTO s VALUES (42)");
  const { db } = await replica(s, { url: `${s.url}/dev/shop` });
  assert.deepEqual(await all(db, "SELECT x FROM s"), [{ x: 42 }]);
  await db.exec("INSERT INTO s VALUES (7)");
  await db.push();
  assert.deepEqual(await shop("SELECT count(*) FROM s"), [[{ type: "integer", value: "2" }]]);
  const other = await replica(s);
  await assert.rejects(all(other.db, "SELECT x FROM s"), /no such table/);
  await db.close();
  await other.db.close();
});
