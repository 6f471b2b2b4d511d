// npm @libsql/client across a failover of an edgelite-server cluster (`--etcd-endpoints`, a real
// etcd from PATH, as .ci/run installs Debian's etcd-server): given the URL of the replica, the
// remote client keeps writing and reading (a few requests fail while roles change), and an
// embedded replica whose syncUrl is that replica goes on syncing in the new primary's history.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import path from "node:path";
import { after, before, test } from "node:test";
import { createClient } from "@libsql/client";
import { freePort, startServer, tempDir, tokens } from "./lib.js";

let etcd, etcdUrl, a, b;
const open = [];

async function until(what, f, ms = 30_000) {
  const end = Date.now() + ms;
  let last;
  while (Date.now() < end) {
    try {
      const v = await f();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out: ${what}${last ? ` (last error: ${last.message ?? last})` : ""}`);
}

async function role(server) {
  const r = await fetch(`${server.adminUrl}/v1/cluster`);
  return (await r.json()).self?.role;
}

async function member(port) {
  const url = `http://127.0.0.1:${port}`;
  const s = await startServer({
    httpPort: port,
    extraArgs: ["--etcd-endpoints", etcdUrl, "--cluster", "npm", "--cluster-lease-ttl-secs", "2",
                "--advertise-url", url, "--primary-auth-token", tokens().ro],
  });
  return s;
}

before(async () => {
  const dir = tempDir("etcd");
  const [client, peer] = [await freePort(), await freePort()];
  etcdUrl = `http://127.0.0.1:${client}`;
  const peerUrl = `http://127.0.0.1:${peer}`;
  etcd = spawn("etcd", ["--name", "t", "--data-dir", path.join(dir, "etcd"),
    "--listen-client-urls", etcdUrl, "--advertise-client-urls", etcdUrl,
    "--listen-peer-urls", peerUrl, "--initial-advertise-peer-urls", peerUrl,
    "--initial-cluster", `t=${peerUrl}`], { stdio: "ignore" });
  process.once("exit", () => etcd.kill("SIGKILL"));
  await until("etcd healthy", async () => (await (await fetch(`${etcdUrl}/health`)).text()).includes("true"));
});
after(async () => {
  for (const c of open) { try { c.close(); } catch {} }
  await b?.stop();
  await a?.stop("SIGKILL");
  etcd?.kill("SIGKILL");
});

test("the remote client and an embedded replica, given the replica's URL, go on across a failover", async () => {
  a = await member(await freePort());
  await until("a primary", async () => (await role(a)) === "primary");
  b = await member(await freePort());
  await until("b a replica", async () => (await role(b)) === "replica");

  const remote = createClient({ url: b.url, authToken: b.tokens.rw });
  open.push(remote);
  await remote.execute("CREATE TABLE f (id INTEGER PRIMARY KEY, v TEXT)");
  const answered = [];
  for (let i = 0; i < 20; i++) {
    const w = await remote.execute({ sql: "INSERT INTO f (v) VALUES (?) RETURNING id", args: [`before ${i}`] });
    answered.push(Number(w.rows[0].id));
  }
  // Read-your-writes through the replica.
  assert.equal(Number((await remote.execute("SELECT count(*) AS n FROM f")).rows[0].n), 20);

  const file = path.join(tempDir("emb"), "app.db");
  const emb = createClient({ url: `file:${file}`, syncUrl: b.url, authToken: b.tokens.ro });
  open.push(emb);
  await emb.sync();
  assert.equal(Number((await emb.execute("SELECT count(*) AS n FROM f")).rows[0].n), 20);

  await a.stop("SIGKILL");
  await until("b elected", async () => (await role(b)) === "primary");
  // The same client object, the same URL: writes go on once the new primary serves.
  const after = await until("a write after the failover", async () => {
    const w = await remote.execute({ sql: "INSERT INTO f (v) VALUES (?) RETURNING id", args: ["after"] });
    return Number(w.rows[0].id);
  });
  answered.push(after);
  const ids = (await remote.execute("SELECT id FROM f ORDER BY id")).rows.map((r) => Number(r.id));
  for (const id of answered) assert.ok(ids.includes(id), `answered write ${id} is missing after the failover`);

  // The embedded replica goes on in the new primary's history: no bootstrap, the new row arrives.
  await until("the embedded replica syncs the new primary's row", async () => {
    await emb.sync();
    return Number((await emb.execute("SELECT count(*) AS n FROM f WHERE v = 'after'")).rows[0].n) === 1;
  });
  assert.equal(Number((await emb.execute("SELECT count(*) AS n FROM f")).rows[0].n), ids.length);
});
