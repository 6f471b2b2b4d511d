#!/usr/bin/env node
// Pull throughput of Turso's page sync (`POST /pull-updates`) next to libSQL's sync v2
// (`/export` + `/sync`) on the same server and the same database: a bootstrap of the whole
// database, then an incremental pull after commits that each change rows all over it. Measured
// twice: on the wire (node's fetch reading each answer whole, as the clients ask: /sync 128 frames
// per request) and with the real clients (`@tursodatabase/sync` connect()/pull(), `@libsql/client`
// embedded replica sync()), pulls applied. Figures are printed, never asserted.
//
//   cargo build --release -p edgelite-server
//   EDGELITE_SERVER=target/release/edgelite-server node tests/server/pull-bench.js [--rows 60000] [--commits 40]

import fs from "node:fs";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { createClient } from "@libsql/client";
import { connect } from "@tursodatabase/sync";
import { startServer, tempDir } from "./lib.js";

const argv = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? Number(argv[i + 1]) : dflt;
};
const ROWS = opt("rows", 60_000);
const COMMITS = opt("commits", 40);
const PAGE = 4096;
const FRAME = 4120;

function varint(buf, at) {
  let v = 0, mul = 1;
  for (;;) {
    const b = buf[at++];
    v += (b & 0x7f) * mul;
    if (b < 0x80) return [v, at];
    mul *= 128;
  }
}

/** The messages of a pull-updates answer: the header's revision and the page count. */
function scan(buf) {
  let at = 0, messages = 0, revision = "";
  while (at < buf.length) {
    let len;
    [len, at] = varint(buf, at);
    if (messages === 0) {
      // Field 1 (tag 0x0a), a string: the revision.
      const [rlen, rat] = varint(buf, at + 1);
      revision = buf.subarray(rat, rat + rlen).toString();
    }
    at += len;
    messages++;
  }
  return { revision, pages: messages - 1 };
}

/** A protobuf PullUpdatesReqProtoBody with only client_revision (field 3) set. */
function since(revision) {
  const r = Buffer.from(revision);
  return Buffer.concat([Buffer.from([0x1a, r.length]), r]);
}

async function post(url, token, body) {
  const res = await fetch(`${url}/pull-updates`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/protobuf" },
    body,
  });
  if (!res.ok) throw new Error(`pull-updates: ${res.status} ${await res.text()}`);
  return Buffer.from(await res.arrayBuffer());
}

async function get(url, token, p) {
  const res = await fetch(`${url}${p}`, { headers: { authorization: `Bearer ${token}` } });
  return { status: res.status, body: Buffer.from(await res.arrayBuffer()) };
}

/** Pulls generation g's frames from `start` on, 128 per request as libsql asks; returns the count. */
async function syncFrames(url, token, g, start) {
  let frames = 0;
  for (;;) {
    const r = await get(url, token, `/sync/${g}/${start}/${start + 128}`);
    if (r.status !== 200) return { frames, next: start };
    const n = r.body.length / FRAME;
    frames += n;
    start += n;
  }
}

const rate = (n, ms) => `${Math.round((n * 1000) / ms).toLocaleString("en-US")}`;
const rows = [];
function report(what, items, unit, ms, bytes) {
  rows.push({ what, [unit === "pages" ? "pages" : "frames"]: items, ms: Math.round(ms), "per s": rate(items, ms), MiB: (bytes / 2 ** 20).toFixed(1) });
}

const server = await startServer({ extraArgs: ["--checkpoint-frames", "10000000"] });
const dir = tempDir("pull-bench");
try {
  const token = server.tokens.rw;
  const primary = createClient({ url: server.url, authToken: token });
  await primary.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB)");
  await primary.execute(
    `WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < ${ROWS}) INSERT INTO t(v) SELECT randomblob(1000) FROM c`,
  );
  // A new generation: the rows are in the export, as on a server that has been running a while.
  await fetch(`${server.adminUrl}/v1/namespaces/default/checkpoint`, { method: "POST" });
  const g = JSON.parse((await get(server.url, token, "/info")).body).current_generation;

  // Wire: bootstrap.
  let t = performance.now();
  const boot = await post(server.url, token, Buffer.alloc(0));
  const b = scan(boot);
  report("wire: bootstrap, POST /pull-updates", b.pages, "pages", performance.now() - t, boot.length);
  t = performance.now();
  const exp = await get(server.url, token, `/export/${g}`);
  const after = await syncFrames(server.url, token, g, 1);
  report("wire: bootstrap, GET /export + /sync", exp.body.length / PAGE + after.frames, "pages", performance.now() - t, exp.body.length + after.frames * FRAME);

  // Real clients: bootstrap.
  t = performance.now();
  const turso = await connect({ path: path.join(dir, "turso.db"), url: server.url, authToken: token });
  const tursoBoot = performance.now() - t;
  report("client: @tursodatabase/sync connect()", b.pages, "pages", tursoBoot, boot.length);
  t = performance.now();
  const libsql = createClient({ url: `file:${path.join(dir, "libsql.db")}`, syncUrl: server.url, authToken: token });
  await libsql.sync();
  report("client: @libsql/client replica sync()", exp.body.length / PAGE, "pages", performance.now() - t, exp.body.length);

  // Commits all over the table: each rewrites 100 rows picked at random.
  for (let k = 0; k < COMMITS; k++) {
    await primary.execute(
      `UPDATE t SET v = randomblob(1000) WHERE id IN (WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 100) SELECT abs(random()) % ${ROWS} + 1 FROM c)`,
    );
  }

  // Wire: incremental.
  t = performance.now();
  const inc = await post(server.url, token, since(b.revision));
  const i = scan(inc);
  report(`wire: ${COMMITS} commits, POST /pull-updates (changed pages)`, i.pages, "pages", performance.now() - t, inc.length);
  t = performance.now();
  const f = await syncFrames(server.url, token, g, after.next);
  report(`wire: ${COMMITS} commits, GET /sync (every frame)`, f.frames, "frames", performance.now() - t, f.frames * FRAME);

  // Real clients: incremental.
  t = performance.now();
  await turso.pull();
  report("client: @tursodatabase/sync pull()", i.pages, "pages", performance.now() - t, inc.length);
  t = performance.now();
  await libsql.sync();
  report("client: @libsql/client replica sync()", f.frames, "frames", performance.now() - t, f.frames * FRAME);

  const [a] = await (await turso.prepare("SELECT count(*) AS n, sum(length(v)) AS l FROM t")).all();
  const l = (await libsql.execute("SELECT count(*) AS n, sum(length(v)) AS l FROM t")).rows[0];
  if (a.n !== ROWS || Number(l.n) !== ROWS) throw new Error(`replicas did not converge: ${a.n}, ${l.n}`);
  console.log(`database: ${b.pages} pages (${ROWS} rows of 1000 bytes); ${COMMITS} commits changed ${i.pages} pages in ${f.frames} frames`);
  console.table(rows);
  await turso.close();
  libsql.close();
} finally {
  await server.stop();
  fs.rmSync(dir, { recursive: true, force: true });
}
