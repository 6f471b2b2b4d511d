// edgelite-server restarted on the same data directory: the primary's rows, its sync generations and
// frame numbers survive, so that replicas synced before the restart carry on without a gap or a
// silent divergence.

import assert from "node:assert/strict";
import path from "node:path";
import { after, test } from "node:test";
import { createClient } from "@libsql/client";
import { checkpoint, info, plain, replicaInfo, startServer, tempDir } from "./lib.js";

const dir = tempDir("restart");
const dataDir = tempDir("restart-server");
let server;
const open = [];
after(async () => {
  for (const c of open) { try { c.close(); } catch {} }
  await server?.stop();
});

function client(opts) {
  const c = createClient(opts);
  open.push(c);
  return c;
}
const replicaAt = (file, srv) => client({ url: `file:${path.join(dir, file)}`, syncUrl: srv.url, authToken: srv.tokens.rw });
const Q = "SELECT id, v FROM r_t ORDER BY id";

test("replicas carry on across a server restart, before and after a new generation", async () => {
  server = await startServer({ dataDir });
  let primary = client({ url: server.url, authToken: server.tokens.rw });
  await primary.batch(["CREATE TABLE r_t (id INTEGER PRIMARY KEY, v TEXT)", "INSERT INTO r_t VALUES (1, 'before')"], "write");
  let a = replicaAt("a.db", server);
  await a.sync();
  await checkpoint(server);
  await primary.execute("INSERT INTO r_t VALUES (2, 'gen 2')");
  let b = replicaAt("b.db", server);
  await b.sync();
  const genBefore = (await info(server)).current_generation;
  assert.deepEqual(replicaInfo(path.join(dir, "b.db")).generation, genBefore);

  await server.stop();
  server = await startServer({ dataDir });
  primary = client({ url: server.url, authToken: server.tokens.rw });
  assert.deepEqual(plain(await primary.execute(Q)), [{ id: 1, v: "before" }, { id: 2, v: "gen 2" }], "the primary kept its rows");
  assert.ok((await info(server)).current_generation >= genBefore, "generations never go back");

  await primary.execute("INSERT INTO r_t VALUES (3, 'after restart')");
  const want = plain(await primary.execute(Q));

  // The same replica files, reopened against the restarted server.
  a.close(); b.close();
  a = replicaAt("a.db", server);
  b = replicaAt("b.db", server);
  await a.sync();
  await b.sync();
  assert.deepEqual(plain(await a.execute(Q)), want, "replica a (one generation behind) after the restart");
  assert.deepEqual(plain(await b.execute(Q)), want, "replica b (current generation) after the restart");

  // And both keep working: a forwarded write, a checkpoint, more writes.
  await b.execute("INSERT INTO r_t VALUES (4, 'from b')");
  await checkpoint(server);
  await primary.execute("INSERT INTO r_t VALUES (5, 'gen after restart')");
  await a.sync();
  await b.sync();
  const want2 = plain(await primary.execute(Q));
  assert.equal(want2.length, 5);
  assert.deepEqual(plain(await a.execute(Q)), want2);
  assert.deepEqual(plain(await b.execute(Q)), want2);
  for (const db of [a, b]) {
    assert.deepEqual((await db.execute("PRAGMA integrity_check")).rows.map((r) => r[0]), ["ok"]);
  }
});

test("a crash (SIGKILL) loses no acknowledged write, and a replica synced before it stays consistent", async () => {
  await server?.stop();
  const data = tempDir("crash-server");
  server = await startServer({ dataDir: data });
  let primary = client({ url: server.url, authToken: server.tokens.rw });
  await primary.execute("CREATE TABLE c_t (id INTEGER PRIMARY KEY, v TEXT)");
  for (let i = 1; i <= 50; i++) await primary.execute({ sql: "INSERT INTO c_t VALUES (?, ?)", args: [i, `row ${i}`] });
  let r = replicaAt("crash.db", server);
  await r.sync();
  for (let i = 51; i <= 60; i++) await primary.execute({ sql: "INSERT INTO c_t VALUES (?, ?)", args: [i, `row ${i}`] });

  await server.stop("SIGKILL");
  server = await startServer({ dataDir: data });
  primary = client({ url: server.url, authToken: server.tokens.rw });
  const q = "SELECT count(*) AS n, sum(id) AS s FROM c_t";
  assert.deepEqual(plain(await primary.execute(q)), [{ n: 60, s: 1830 }], "every acknowledged insert survived the crash");

  await primary.execute("INSERT INTO c_t VALUES (61, 'after crash')");
  r.close();
  r = replicaAt("crash.db", server);
  await r.sync();
  assert.deepEqual(plain(await r.execute(q)), [{ n: 61, s: 1891 }]);
  assert.deepEqual(plain(await r.execute("SELECT v FROM c_t WHERE id IN (50, 60, 61) ORDER BY id")).map((x) => x.v),
    ["row 50", "row 60", "after crash"]);
  assert.deepEqual((await r.execute("PRAGMA integrity_check")).rows.map((x) => x[0]), ["ok"]);
});
