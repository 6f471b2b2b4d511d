// npm @libsql/client embedded replicas (native `libsql` inside) against edgelite-server: sync v2
// (`/info`, `/export`, `GET /sync`), writes forwarded over Hrana 3 with read-your-writes, a replica
// that falls behind across several generations, and offline writes pushed with `POST /sync`.

import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, test } from "node:test";
import { createClient } from "@libsql/client";
import { checkpoint, info, plain, replicaInfo, startServer, tempDir } from "./lib.js";

let server, primary, dir;
const open = [];
before(async () => {
  server = await startServer();
  primary = createClient({ url: server.url, authToken: server.tokens.rw });
  dir = tempDir("replicas");
});
after(async () => {
  for (const c of open) { try { c.close(); } catch {} }
  primary?.close();
  await server?.stop();
});

function replica(name, opts = {}) {
  const file = path.join(dir, name);
  const db = createClient({ url: `file:${file}`, syncUrl: server.url, authToken: server.tokens.rw, ...opts });
  open.push(db);
  return { db, file };
}

const sortById = (rows) => [...rows].sort((a, b) => a.id - b.id);

async function integrityOk(db) {
  const rs = await db.execute("PRAGMA integrity_check");
  assert.deepEqual(rs.rows.map((r) => r[0]), ["ok"]);
}

test("the seed's embedded replica: sync, local reads, forwarded write, read-your-writes", async () => {
  await primary.batch([
    "CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL, region TEXT NOT NULL)",
    "INSERT INTO customers VALUES (1, 'Amal', 'mena'), (2, 'Bert', 'eu'), (3, 'Chadi', 'mena'), (4, 'Dana', 'us'), (5, 'Eman', 'mena')",
  ], "write");

  // The seed's code, unchanged but for the server's port (127.0.0.1:0 picked a free one).
  process.env.TOKEN = server.tokens.rw;
  process.chdir(dir);
  const syncUrl = server.url;
  const db = createClient({ url: "file:local.db", syncUrl,
                            authToken: process.env.TOKEN, syncInterval: 60 });
  open.push(db);
  await db.sync();
  const result = await db.execute("SELECT id, name FROM customers WHERE region = ?", ["mena"]);
  const file = path.join(dir, "local.db");

  assert.deepEqual(result.columns, ["id", "name"]);
  assert.deepEqual(sortById(plain(result)), [
    { id: 1, name: "Amal" }, { id: 3, name: "Chadi" }, { id: 5, name: "Eman" }]);
  assert.ok(fs.statSync(file).size >= 4096, "the replica is a real local file");
  assert.ok(replicaInfo(file).generation >= 1);

  // Reads are local: a write on the primary stays invisible until the next sync. Checked on a
  // replica without syncInterval: the client starts its interval's first sync in the background
  // when it opens, which may land after the write below on a loaded machine.
  const { db: still } = replica("local-reads.db");
  await still.sync();
  await primary.execute("INSERT INTO customers VALUES (6, 'Farid', 'mena')");
  const stale = await still.execute("SELECT id, name FROM customers WHERE region = ?", ["mena"]);
  assert.deepEqual(stale.rows.map((r) => r.id).sort(), [1, 3, 5]);
  await still.sync();
  assert.deepEqual((await still.execute("SELECT id FROM customers WHERE region = 'mena'")).rows.map((r) => r.id).sort(), [1, 3, 5, 6]);
  await db.sync();
  const fresh = await db.execute("SELECT id, name FROM customers WHERE region = ?", ["mena"]);
  assert.deepEqual(fresh.rows.map((r) => r.id).sort(), [1, 3, 5, 6]);

  // A write on the replica goes to the primary, and the replica reads it back at once.
  const w = await db.execute({ sql: "INSERT INTO customers (id, name, region) VALUES (?, ?, ?)", args: [7, "Ghada", "mena"] });
  assert.equal(w.rowsAffected, 1);
  const ryw = await db.execute("SELECT name FROM customers WHERE id = 7");
  assert.deepEqual(ryw.rows.map((r) => r.name), ["Ghada"], "read-your-writes on the replica");
  const onPrimary = await primary.execute("SELECT name, region FROM customers WHERE id = 7");
  assert.deepEqual(plain(onPrimary), [{ name: "Ghada", region: "mena" }]);

  // A transactional batch from the replica: both rows, on both sides.
  await db.batch([
    { sql: "INSERT INTO customers VALUES (?, ?, ?)", args: [8, "Hadi", "eu"] },
    { sql: "UPDATE customers SET region = 'eu' WHERE id = ?", args: [1] },
  ], "write");
  const after = await db.execute("SELECT id FROM customers WHERE region = 'eu' ORDER BY id");
  assert.deepEqual(after.rows.map((r) => r.id), [1, 2, 8]);
  const all = await primary.execute("SELECT id, name, region FROM customers ORDER BY id");
  const local = await db.execute("SELECT id, name, region FROM customers ORDER BY id");
  assert.deepEqual(plain(local), plain(all));
  assert.equal(all.rows.length, 8);

  // A second replica bootstraps and sees the same rows, vectors included.
  await primary.batch([
    "CREATE TABLE cvec (id INTEGER PRIMARY KEY, e F32_BLOB(3))",
    "INSERT INTO cvec VALUES (1, vector32('[1,2,3]'))",
  ], "write");
  const { db: second } = replica("second.db");
  await second.sync();
  assert.deepEqual(plain(await second.execute("SELECT id, name, region FROM customers ORDER BY id")), plain(all));
  assert.equal((await second.execute("SELECT vector_extract(e) AS v FROM cvec")).rows[0].v, "[1,2,3]");
  await integrityOk(db);
  await integrityOk(second);
});

test("an interactive write transaction on a replica runs on the primary: commit and rollback", async () => {
  await primary.execute("CREATE TABLE itx (id INTEGER PRIMARY KEY, v TEXT)");
  const { db } = replica("itx.db");
  await db.sync();

  const tx = await db.transaction("write");
  await tx.execute({ sql: "INSERT INTO itx VALUES (?, ?)", args: [1, "committed"] });
  // Inside the transaction, reads see its own uncommitted write.
  assert.deepEqual((await tx.execute("SELECT v FROM itx")).rows.map((r) => r.v), ["committed"]);
  assert.equal((await primary.execute("SELECT count(*) AS c FROM itx")).rows[0].c, 0, "not visible before commit");
  await tx.commit();
  assert.deepEqual((await db.execute("SELECT v FROM itx")).rows.map((r) => r.v), ["committed"], "read-your-writes");
  assert.deepEqual((await primary.execute("SELECT v FROM itx")).rows.map((r) => r.v), ["committed"]);

  const tx2 = await db.transaction("write");
  await tx2.execute({ sql: "INSERT INTO itx VALUES (?, ?)", args: [2, "rolled back"] });
  await tx2.execute({ sql: "UPDATE itx SET v = 'changed' WHERE id = ?", args: [1] });
  await tx2.rollback();
  await db.sync();
  const want = [{ id: 1, v: "committed" }];
  assert.deepEqual(plain(await primary.execute("SELECT id, v FROM itx ORDER BY id")), want);
  assert.deepEqual(plain(await db.execute("SELECT id, v FROM itx ORDER BY id")), want);

  // And the replica's connection is usable for plain writes afterwards.
  await db.execute({ sql: "INSERT INTO itx VALUES (?, ?)", args: [3, "after"] });
  assert.deepEqual((await db.execute("SELECT id FROM itx ORDER BY id")).rows.map((r) => r.id), [1, 3]);
});

test("a vector index built by the primary answers vector_top_k locally on the replica (libSQL's engine)", async () => {
  await primary.batch([
    "CREATE TABLE docs (id INTEGER PRIMARY KEY, title TEXT, emb F32_BLOB(4))",
    "CREATE INDEX docs_idx ON docs (libsql_vector_idx(emb, 'metric=cosine'))",
  ], "write");
  const stmts = [];
  for (let i = 1; i <= 200; i++) {
    const v = [Math.cos(i), Math.sin(i), Math.cos(i / 7), Math.sin(i / 13)].map((x) => x.toFixed(6));
    stmts.push({ sql: "INSERT INTO docs VALUES (?, ?, vector32(?))", args: [i, `doc ${i}`, `[${v.join(",")}]`] });
  }
  await primary.batch(stmts, "write");
  const q = { sql: `SELECT d.id, d.title FROM vector_top_k('docs_idx', vector32(?), 5) AS k JOIN docs d ON d.rowid = k.id`,
              args: ["[1,0,1,0]"] };
  const onPrimary = plain(await primary.execute(q));
  assert.equal(onPrimary.length, 5);
  const exact = plain(await primary.execute({
    sql: "SELECT id, title FROM docs ORDER BY vector_distance_cos(emb, vector32(?)), id LIMIT 5", args: ["[1,0,1,0]"] }));
  assert.ok(onPrimary.filter((r) => exact.some((e) => e.id === r.id)).length >= 4, "the index finds the true neighbours");

  const { db } = replica("vectors.db");
  await db.sync();
  assert.deepEqual(plain(await db.execute(q)), onPrimary, "same answer from the replica's local copy of the index");
  // A write forwarded from the replica goes into the primary's index, and back.
  await db.execute({ sql: "INSERT INTO docs VALUES (?, ?, vector32(?))", args: [1000, "exact match", "[1,0,1,0]"] });
  const top = plain(await db.execute(q));
  assert.deepEqual(top[0], { id: 1000, title: "exact match" });
  assert.deepEqual(plain(await primary.execute(q))[0], { id: 1000, title: "exact match" });
  await integrityOk(db);
});

test("a replica refuses to sync with a forged or missing token", async () => {
  for (const token of [server.tokens.forged, server.tokens.expired, undefined]) {
    const file = path.join(dir, `bad-${Math.random().toString(36).slice(2)}.db`);
    await assert.rejects((async () => {
      const db = createClient({ url: `file:${file}`, syncUrl: server.url, authToken: token });
      open.push(db);
      await db.sync();
      // Should it get this far, it must at least not have the primary's data.
      await db.execute("SELECT count(*) FROM customers");
    })());
  }
});

test("syncInterval pulls in the background, and a commit larger than one 128-frame pull arrives whole", async () => {
  await primary.execute("CREATE TABLE big_t (id INTEGER PRIMARY KEY, body BLOB NOT NULL)");
  const { db } = replica("interval.db", { syncInterval: 1 });
  await db.sync();
  assert.equal((await db.execute("SELECT count(*) AS c FROM big_t")).rows[0].c, 0);

  // About 3 MB in one transaction: some 750 frames in a single commit, so several pulls.
  await primary.execute(`WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 600)
                         INSERT INTO big_t SELECT i, CAST(replace(hex(zeroblob(2500)), '00', 'ab') || i AS BLOB) FROM s`);
  const want = plain(await primary.execute("SELECT count(*) AS c, sum(length(body)) AS l, max(id) AS m FROM big_t"));
  assert.deepEqual(want, [{ c: 600, l: 600 * 5000 + [...Array(600)].reduce((a, _, i) => a + String(i + 1).length, 0), m: 600 }]);

  // No sync() call: the interval task must bring it in.
  const deadline = Date.now() + 15_000;
  let got;
  const seen = new Set();
  do {
    await new Promise((r) => setTimeout(r, 100));
    got = plain(await db.execute("SELECT count(*) AS c, sum(length(body)) AS l, max(id) AS m FROM big_t"));
    seen.add(got[0].c);
  } while (got[0].c !== 600 && Date.now() < deadline);
  assert.deepEqual(got, want, "the background sync brought the whole transaction");
  assert.deepEqual([...seen].filter((c) => c !== 0 && c !== 600), [], "a local read never sees part of a commit");
  const tail = await db.execute("SELECT CAST(substr(body, 5001) AS TEXT) AS t FROM big_t WHERE id = 599");
  assert.equal(tail.rows[0].t, "599");
  await integrityOk(db);
});

test("a replica with a read-only token syncs and reads, but its writes are refused", async () => {
  await primary.batch(["CREATE TABLE ro_t (x TEXT)", "INSERT INTO ro_t VALUES ('primary')"], "write");
  const file = path.join(dir, "ro.db");
  const db = createClient({ url: `file:${file}`, syncUrl: server.url, authToken: server.tokens.ro });
  open.push(db);
  await db.sync();
  assert.deepEqual((await db.execute("SELECT x FROM ro_t")).rows.map((r) => r.x), ["primary"]);
  await assert.rejects(db.execute("INSERT INTO ro_t VALUES ('replica')"));
  assert.deepEqual((await primary.execute("SELECT x FROM ro_t")).rows.map((r) => r.x), ["primary"]);
  await db.sync();
  assert.deepEqual((await db.execute("SELECT x FROM ro_t")).rows.map((r) => r.x), ["primary"]);
});

test("a replica that falls behind across several generations catches up", async () => {
  await primary.execute("CREATE TABLE gen_t (id INTEGER PRIMARY KEY, gen INTEGER NOT NULL, payload TEXT NOT NULL)");
  const insert = (from, n, gen) => primary.execute({
    sql: `WITH RECURSIVE s(i) AS (SELECT ? UNION ALL SELECT i + 1 FROM s WHERE i < ?)
          INSERT INTO gen_t SELECT i, ?, replace(hex(zeroblob(300 + i % 700)), '00', 'x') FROM s`,
    args: [BigInt(from), BigInt(from + n - 1), BigInt(gen)],
  });
  await insert(1, 50, 0);
  const { db: behind, file } = replica("behind.db");
  await behind.sync();
  assert.equal((await behind.execute("SELECT count(*) AS c FROM gen_t")).rows[0].c, 50);
  const g0 = replicaInfo(file).generation;
  assert.equal(g0, (await info(server)).current_generation);

  // Three generations go by while the replica sleeps; each changes old pages as well as adding new ones.
  let gen = g0;
  for (let k = 1; k <= 3; k++) {
    await insert(50 * k + 1, 50, k);
    await primary.execute({ sql: "UPDATE gen_t SET payload = upper(payload) || ? WHERE id % 7 = ?", args: [String(k), k] });
    await primary.execute({ sql: "DELETE FROM gen_t WHERE id % 11 = ?", args: [k] });
    const next = await checkpoint(server);
    assert.ok(next > gen, `checkpoint must start a new generation (was ${gen}, now ${next})`);
    gen = next;
  }
  await insert(201, 20, 4); // frames in the newest generation's WAL too
  assert.ok(gen >= g0 + 3);

  // Still stale: local reads do not see any of it.
  assert.equal((await behind.execute("SELECT count(*) AS c FROM gen_t")).rows[0].c, 50);

  await behind.sync();
  const q = "SELECT id, gen, payload FROM gen_t ORDER BY id";
  const want = plain(await primary.execute(q));
  assert.ok(want.length > 150);
  assert.deepEqual(plain(await behind.execute(q)), want);
  assert.equal(replicaInfo(file).generation, (await info(server)).current_generation, "the replica is on the primary's generation");
  await integrityOk(behind);

  // A fresh replica starts from the newest generation's export and agrees.
  const { db: fresh } = replica("fresh.db");
  await fresh.sync();
  assert.deepEqual(plain(await fresh.execute(q)), want);
  await integrityOk(fresh);

  // And the caught-up replica keeps working: a forwarded write, then the other replica pulls it.
  await behind.execute("INSERT INTO gen_t VALUES (1000, 9, 'after')");
  assert.equal((await behind.execute("SELECT payload FROM gen_t WHERE id = 1000")).rows[0].payload, "after");
  await fresh.sync();
  assert.equal((await fresh.execute("SELECT payload FROM gen_t WHERE id = 1000")).rows[0].payload, "after");
});

test("offline writes are pushed with POST /sync; a conflicting push is refused and not applied", async () => {
  await primary.batch([
    "CREATE TABLE off_t (id INTEGER PRIMARY KEY, who TEXT NOT NULL)",
    "INSERT INTO off_t VALUES (1, 'primary-1')",
  ], "write");
  const { db: off } = replica("offline.db", { offline: true });
  await off.sync();
  assert.deepEqual(plain(await off.execute("SELECT id, who FROM off_t ORDER BY id")), [{ id: 1, who: "primary-1" }]);
  // A replica already in sync before the push must pull the pushed frames incrementally.
  const { db: reader } = replica("reader.db");
  await reader.sync();
  assert.equal((await reader.execute("SELECT count(*) AS c FROM off_t")).rows[0].c, 1);

  // The write stays local until sync() pushes it.
  await off.execute("INSERT INTO off_t VALUES (2, 'offline-1')");
  assert.equal((await off.execute("SELECT who FROM off_t WHERE id = 2")).rows[0].who, "offline-1");
  assert.equal((await primary.execute("SELECT count(*) AS c FROM off_t WHERE id = 2")).rows[0].c, 0);
  await off.sync();
  assert.deepEqual(plain(await primary.execute("SELECT id, who FROM off_t ORDER BY id")),
    [{ id: 1, who: "primary-1" }, { id: 2, who: "offline-1" }]);

  // The pushed frames are served to other replicas like any other write.
  await reader.sync();
  assert.deepEqual(plain(await reader.execute("SELECT id, who FROM off_t ORDER BY id")),
    [{ id: 1, who: "primary-1" }, { id: 2, who: "offline-1" }]);
  const { db: late } = replica("late.db");
  await late.sync();
  assert.equal((await late.execute("SELECT who FROM off_t WHERE id = 2")).rows[0].who, "offline-1");

  // A second push straight after the first: the frame numbers must still line up.
  await off.batch([
    { sql: "INSERT INTO off_t VALUES (?, ?)", args: [5, "offline-1b"] },
    { sql: "UPDATE off_t SET who = who || '!' WHERE id = ?", args: [1] },
  ], "write");
  await off.sync();
  assert.deepEqual(plain(await primary.execute("SELECT id, who FROM off_t ORDER BY id")),
    [{ id: 1, who: "primary-1!" }, { id: 2, who: "offline-1" }, { id: 5, who: "offline-1b" }]);
  await reader.sync();
  assert.deepEqual(plain(await reader.execute("SELECT id, who FROM off_t ORDER BY id")),
    [{ id: 1, who: "primary-1!" }, { id: 2, who: "offline-1" }, { id: 5, who: "offline-1b" }]);

  // Conflict: the primary moves on while the offline replica writes without pulling.
  await primary.execute("INSERT INTO off_t VALUES (3, 'primary-2')");
  await off.execute("INSERT INTO off_t VALUES (4, 'offline-2')");
  await assert.rejects(off.sync(), (e) => /conflict/i.test(String(e?.message ?? e)),
    "pushing frames on top of frames the primary does not have must be a conflict");
  const rows = plain(await primary.execute("SELECT id, who FROM off_t ORDER BY id"));
  assert.deepEqual(rows, [{ id: 1, who: "primary-1!" }, { id: 2, who: "offline-1" }, { id: 3, who: "primary-2" },
    { id: 5, who: "offline-1b" }], "the conflicting frames must not be applied");
  await integrityOk(primary);
  await reader.sync();
  assert.deepEqual(plain(await reader.execute("SELECT id, who FROM off_t ORDER BY id")), rows);
});

test("an offline transaction larger than one 128-frame push arrives whole", async () => {
  await primary.execute("CREATE TABLE off_big (id INTEGER PRIMARY KEY, body BLOB NOT NULL)");
  const { db: off } = replica("offline-big.db", { offline: true });
  await off.sync();
  await off.execute(`WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 600)
                     INSERT INTO off_big SELECT i, CAST(replace(hex(zeroblob(2500)), '00', 'cd') || i AS BLOB) FROM s`);
  await off.sync();
  const q = "SELECT count(*) AS c, sum(length(body)) AS l, max(id) AS m FROM off_big";
  const want = plain(await off.execute(q));
  assert.equal(want[0].c, 600);
  assert.deepEqual(plain(await primary.execute(q)), want);
  assert.equal((await primary.execute("SELECT CAST(substr(body, 5001) AS TEXT) AS t FROM off_big WHERE id = 321")).rows[0].t, "321");
  await integrityOk(primary);
  const { db: reader } = replica("offline-big-reader.db");
  await reader.sync();
  assert.deepEqual(plain(await reader.execute(q)), want);
  // The replica that pushed goes on: a small write, pushed after the big one.
  await off.execute("INSERT INTO off_big VALUES (601, x'00')");
  await off.sync();
  assert.equal((await primary.execute("SELECT count(*) AS c FROM off_big")).rows[0].c, 601);
});

test("two offline replicas push on the same base: the first wins, the second gets a conflict", async () => {
  await primary.batch(["CREATE TABLE off_two (id INTEGER PRIMARY KEY, who TEXT)", "INSERT INTO off_two VALUES (1, 'base')"], "write");
  const { db: a } = replica("offline-a.db", { offline: true });
  const { db: b } = replica("offline-b.db", { offline: true });
  await a.sync();
  await b.sync();
  await a.execute("INSERT INTO off_two VALUES (2, 'a')");
  await b.execute("INSERT INTO off_two VALUES (3, 'b')");
  await a.sync();
  await assert.rejects(b.sync(), (e) => /conflict/i.test(String(e?.message ?? e)));
  assert.deepEqual(plain(await primary.execute("SELECT id, who FROM off_two ORDER BY id")),
    [{ id: 1, who: "base" }, { id: 2, who: "a" }]);
  await integrityOk(primary);
});

test("an offline replica keeps pushing and pulling across a server checkpoint (nobody else wrote)", async () => {
  // A checkpoint changes no page: generation g+1 starts from g's last state, so frames a client
  // numbers after the end of g are g+1's first frames, not a conflict (spec §5.2, §9; libsql#2122).
  await primary.batch(["CREATE TABLE off_g (id INTEGER PRIMARY KEY, v TEXT)", "INSERT INTO off_g VALUES (1, 'primary')"], "write");
  const { db: off } = replica("offline-gen.db", { offline: true });
  await off.sync();
  await checkpoint(server);
  const q = "SELECT id, v FROM off_g ORDER BY id";
  await off.execute("INSERT INTO off_g VALUES (2, 'offline 1')");
  await off.sync();
  assert.deepEqual(plain(await primary.execute(q)), [{ id: 1, v: "primary" }, { id: 2, v: "offline 1" }]);
  await off.execute("INSERT INTO off_g VALUES (3, 'offline 2')");
  await off.sync();
  await primary.execute("INSERT INTO off_g VALUES (4, 'primary 2')");
  await off.sync(); // nothing local to push: a pull
  const want = [{ id: 1, v: "primary" }, { id: 2, v: "offline 1" }, { id: 3, v: "offline 2" }, { id: 4, v: "primary 2" }];
  assert.deepEqual(plain(await primary.execute(q)), want);
  assert.deepEqual(plain(await off.execute(q)), want);
  await integrityOk(primary);
  const { db: reader } = replica("offline-gen-reader.db");
  await reader.sync();
  assert.deepEqual(plain(await reader.execute(q)), want);
});
