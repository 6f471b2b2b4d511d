// npm @libsql/client against a replica server (`edgelite-server --primary-url`): the remote client
// over HTTP (reads on the replica's copy, writes and transactions forwarded, read-your-writes) and
// an embedded replica whose syncUrl is the replica server.

import assert from "node:assert/strict";
import path from "node:path";
import { after, before, test } from "node:test";
import { createClient } from "@libsql/client";
import { plain, startServer, tempDir } from "./lib.js";

let primary, replica, direct;
const open = [];
before(async () => {
  primary = await startServer();
  replica = await startServer({
    extraArgs: ["--primary-url", primary.url, "--primary-admin-url", primary.adminUrl,
                "--primary-auth-token", primary.tokens.ro],
  });
  direct = createClient({ url: primary.url, authToken: primary.tokens.rw });
});
after(async () => {
  for (const c of open) { try { c.close(); } catch {} }
  direct?.close();
  await replica?.stop();
  await primary?.stop();
});

test("the remote client on a replica server: local reads, forwarded writes and transactions", async () => {
  await direct.batch(["CREATE TABLE r (id INTEGER PRIMARY KEY, v TEXT)", "INSERT INTO r VALUES (1, 'a')"], "write");
  const db = createClient({ url: replica.url, authToken: replica.tokens.rw });
  open.push(db);
  // Every forwarded write is read back at once through the replica.
  for (let i = 2; i <= 10; i++) {
    const w = await db.execute({ sql: "INSERT INTO r VALUES (?, ?)", args: [i, `v${i}`] });
    assert.equal(w.rowsAffected, 1);
    const rs = await db.execute("SELECT max(id) AS m FROM r");
    assert.equal(rs.rows[0].m, i, "read-your-writes through the replica");
  }
  await db.batch([
    { sql: "INSERT INTO r VALUES (?, ?)", args: [11, "batch"] },
    { sql: "UPDATE r SET v = 'changed' WHERE id = ?", args: [1] },
  ], "write");
  const tx = await db.transaction("write");
  await tx.execute({ sql: "INSERT INTO r VALUES (?, ?)", args: [12, "tx"] });
  assert.equal((await tx.execute("SELECT count(*) AS n FROM r WHERE id = 12")).rows[0].n, 1);
  await tx.rollback();
  assert.equal((await db.execute("SELECT count(*) AS n FROM r WHERE id = 12")).rows[0].n, 0);
  assert.deepEqual(plain(await db.execute("SELECT id, v FROM r ORDER BY id")),
                   plain(await direct.execute("SELECT id, v FROM r ORDER BY id")));
  // A read-only token cannot write through the replica either: the primary refuses it.
  const ro = createClient({ url: replica.url, authToken: replica.tokens.ro });
  open.push(ro);
  await assert.rejects(ro.execute("INSERT INTO r VALUES (99, 'no')"));
});

test("an embedded replica syncing from a replica server", async () => {
  await direct.execute("CREATE TABLE e (id INTEGER PRIMARY KEY)");
  await direct.execute("INSERT INTO e VALUES (1)");
  const file = path.join(tempDir("replica-of-replica"), "e.db");
  const db = createClient({ url: `file:${file}`, syncUrl: replica.url, authToken: replica.tokens.rw });
  open.push(db);
  await db.sync();
  assert.equal((await db.execute("SELECT count(*) AS n FROM e")).rows[0].n, 1);
  await db.execute("INSERT INTO e VALUES (2)");
  assert.equal((await db.execute("SELECT count(*) AS n FROM e")).rows[0].n, 2, "read-your-writes");
  assert.equal((await direct.execute("SELECT count(*) AS n FROM e")).rows[0].n, 2);
});
