#!/usr/bin/env node
// The npm @libsql/client embedded replica's side of edgelite-server's replica benchmark
// (crates/edgelite-server/examples/replica_bench.rs runs it; not a test). Driven over stdin:
// each command line runs one step and answers one JSON line on stdout.
//
//   node tests/server/replica_bench.js URL DIR
//   "open"          create a replica at DIR/npm.db and sync it      -> {"ms"}
//   "sync"          sync now                                          -> {"ms", "frames"}
//   "reads N MAX"   N point reads of random ids in [1, MAX]           -> {"p50_us", "p99_us"}
//   "fresh NAME"    a new replica at DIR/NAME, its first sync         -> {"ms"}

import path from "node:path";
import readline from "node:readline";
import { performance } from "node:perf_hooks";
import { createClient } from "@libsql/client";

const [url, dir] = process.argv.slice(2);
let client;

async function timedOpen(name) {
  const t = performance.now();
  const c = createClient({ url: "file:" + path.join(dir, name), syncUrl: url });
  await c.sync();
  return { c, ms: performance.now() - t };
}

const lines = readline.createInterface({ input: process.stdin });
for await (const line of lines) {
  const [cmd, a, b] = line.trim().split(/\s+/);
  let out;
  if (cmd === "open") {
    const r = await timedOpen("npm.db");
    client = r.c;
    out = { ms: r.ms };
  } else if (cmd === "sync") {
    const t = performance.now();
    const r = await client.sync();
    out = { ms: performance.now() - t, frames: r?.frames_synced ?? null };
  } else if (cmd === "reads") {
    const n = Number(a);
    const max = Number(b);
    const times = [];
    for (let i = 0; i < n; i++) {
      const id = 1 + Math.floor(Math.random() * max);
      const t = performance.now();
      const rs = await client.execute({ sql: "SELECT v FROM t WHERE id = ?", args: [id] });
      times.push(performance.now() - t);
      if (rs.rows.length !== 1) throw new Error(`row ${id} missing`);
    }
    times.sort((x, y) => x - y);
    out = { p50_us: times[Math.floor(n * 0.5)] * 1000, p99_us: times[Math.floor(n * 0.99)] * 1000 };
  } else if (cmd === "fresh") {
    const r = await timedOpen(a);
    r.c.close();
    out = { ms: r.ms };
  } else {
    out = { error: `unknown command ${cmd}` };
  }
  process.stdout.write(JSON.stringify(out) + "\n");
}
client?.close();
