#!/usr/bin/env node
// Load test of edgelite-server on loopback, with the real clients: N remote clients (npm
// @libsql/client, alternately http and ws) writing and reading, and M embedded replicas (native
// libsql, one worker thread each, since its sync() blocks) syncing, reading locally and forwarding a
// write now and then (each read back at once: read-your-writes) meanwhile.
// Bounded in time and count; stops by itself. At the end it checks that nothing was lost and that
// every replica converged (exit 1 if not) and prints a table. The timings are reported, never asserted.
//
//   EDGELITE_SERVER=target/release/edgelite-server node tests/server/load.js
//     [--duration 20] [--clients 8] [--replicas 3] [--max-writes 200000] [--url http://… --token …]
//   node tests/server/load.js --smoke      (3 s, 2 clients, 1 replica: the correctness check only)

import assert from "node:assert/strict";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { Worker, isMainThread, parentPort, workerData } from "node:worker_threads";
import { createClient } from "@libsql/client";
import { replicaInfo, startServer, tempDir } from "./lib.js";

function sleep(t) { return new Promise((r) => setTimeout(r, t)); }
const CHECK = "SELECT count(*) AS n, coalesce(sum(seq), 0) AS s, coalesce(sum(length(payload)), 0) AS l FROM load_t";

if (!isMainThread) await replicaWorker(workerData);
else await main();

async function main() {
  const argv = process.argv.slice(2);
  const opt = (name, dflt) => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : dflt;
  };
  const smoke = argv.includes("--smoke");
  const cfg = {
    duration: Number(opt("duration", smoke ? 3 : 20)),
    clients: Number(opt("clients", smoke ? 2 : 8)),
    replicas: Number(opt("replicas", smoke ? 1 : 3)),
    maxWrites: Number(opt("max-writes", 200_000)),
  };
  // A hard stop well past the planned end, whatever happens.
  const hardStop = setTimeout(() => {
    console.error(`load: still running ${cfg.duration + 120} s after start, giving up`);
    process.exit(2);
  }, (cfg.duration + 120) * 1000);
  hardStop.unref();

  let server;
  let url = opt("url");
  let token = opt("token") ?? process.env.EDGELITE_TOKEN;
  if (!url) {
    server = await startServer();
    url = server.url;
    token = server.tokens.rw;
  }
  const dir = tempDir("load");
  try {
    const ok = await run(cfg, url, token, dir);
    process.exitCode = ok ? 0 : 1;
  } finally {
    await server?.stop();
    clearTimeout(hardStop);
  }
}

async function run(cfg, url, token, dir) {
  const admin = createClient({ url, authToken: token });
  await admin.execute("DROP TABLE IF EXISTS load_t");
  await admin.execute(`CREATE TABLE load_t (id INTEGER PRIMARY KEY, client INTEGER NOT NULL, seq INTEGER NOT NULL,
                       payload TEXT NOT NULL, UNIQUE (client, seq))`);

  // Replicas first, bootstrapped and idle-synced, so that what they pull under load is the load.
  const workers = [];
  for (let r = 0; r < cfg.replicas; r++) {
    const w = new Worker(new URL(import.meta.url), {
      workerData: { url, token, file: path.join(dir, `replica-${r}.db`), writer: 1000 + r },
    });
    // One promise per message type the worker sends: ready, stopped, result.
    const got = {};
    const waiting = Object.fromEntries(["ready", "stopped", "result"].map((t) => [t, new Promise((res, rej) => {
      got[t] = res;
      w.once("error", rej);
    })]));
    w.on("message", (m) => got[m.type]?.(m));
    workers.push({ w, ...waiting });
  }
  await Promise.all(workers.map((x) => x.ready));

  const lat = { write: [], read: [] };
  const acked = new Array(cfg.clients).fill(0);
  const errors = [];
  let writes = 0;
  const t0 = performance.now();
  const deadline = t0 + cfg.duration * 1000;
  for (const x of workers) x.w.postMessage({ type: "go" });

  await Promise.all(Array.from({ length: cfg.clients }, async (_, c) => {
    const db = createClient({ url: c % 2 === 0 ? url : url.replace(/^http/, "ws"), authToken: token });
    try {
      let seq = 0;
      while (performance.now() < deadline && writes < cfg.maxWrites) {
        seq++;
        writes++;
        let t = performance.now();
        try {
          await db.execute({ sql: "INSERT INTO load_t (client, seq, payload) VALUES (?, ?, ?)",
                             args: [BigInt(c), BigInt(seq), payload(c, seq)] });
          acked[c] = seq;
        } catch (e) {
          // An unacknowledged write may or may not have landed: stop this client, count it as an error.
          errors.push(`client ${c} insert ${seq}: ${e.message}`);
          break;
        }
        lat.write.push(performance.now() - t);
        const back = 1 + Math.floor(Math.random() * seq);
        t = performance.now();
        const rs = await db.execute({ sql: "SELECT payload FROM load_t WHERE client = ? AND seq = ?",
                                      args: [BigInt(c), BigInt(back)] });
        lat.read.push(performance.now() - t);
        if (rs.rows[0]?.payload !== payload(c, back)) errors.push(`client ${c}: its acknowledged row ${back} reads back wrong`);
      }
    } finally {
      db.close();
    }
  }));
  const elapsed = (performance.now() - t0) / 1000;
  // Every writer, forwarded ones included, has stopped before any replica takes its final sync.
  for (const x of workers) x.w.postMessage({ type: "stop" });
  const stopped = await Promise.all(workers.map((x) => x.stopped));
  for (const x of workers) x.w.postMessage({ type: "final" });
  const finals = await Promise.all(workers.map((x) => x.result));
  const results = stopped.map((st, i) => ({ ...st, ...finals[i], error: st.error ?? finals[i].error }));
  await Promise.all(workers.map((x) => x.w.terminate()));

  // Nothing lost: the primary holds exactly the acknowledged rows.
  const want = (await admin.execute(CHECK)).rows[0];
  const ackedBy = new Map(acked.map((n, c) => [c, n]));
  for (const [i, r] of results.entries()) ackedBy.set(1000 + i, r.acked);
  const ackedRows = [...ackedBy.values()].reduce((a, b) => a + b, 0);
  const ackedSeqSum = [...ackedBy.values()].reduce((a, n) => a + (n * (n + 1)) / 2, 0);
  const perClient = (await admin.execute("SELECT client, count(*) AS n, max(seq) AS m FROM load_t GROUP BY client ORDER BY client")).rows;
  let ok = errors.length === 0;
  const check = (cond, msg) => { if (!cond) { ok = false; errors.push(msg); } };
  check(Number(want.n) === ackedRows, `primary holds ${want.n} rows, ${ackedRows} were acknowledged`);
  check(Number(want.s) === ackedSeqSum, `primary's seq sum ${want.s} != acknowledged ${ackedSeqSum}`);
  for (const row of perClient) {
    const n = ackedBy.get(Number(row.client));
    check(Number(row.n) === n && Number(row.m) === n, `writer ${row.client}: ${row.n} rows up to seq ${row.m}, ${n} acknowledged`);
  }
  // Replicas converge: each one's final state equals the primary's.
  for (const [i, r] of results.entries()) {
    check(r.final.n === Number(want.n) && r.final.s === Number(want.s) && r.final.l === Number(want.l),
      `replica ${i} converged to ${JSON.stringify(r.final)}, primary has ${JSON.stringify({ n: want.n, s: want.s, l: want.l })}`);
    if (r.error) check(false, `replica ${i}: ${r.error}`);
  }

  // Catch-up: a new replica pulls the whole generation from scratch.
  const fresh = path.join(dir, "fresh.db");
  const fdb = createClient({ url: `file:${fresh}`, syncUrl: url, authToken: token });
  let t = performance.now();
  await fdb.sync();
  const catchUpS = (performance.now() - t) / 1000;
  const freshInfo = replicaInfo(fresh);
  const fcount = (await fdb.execute(CHECK)).rows[0];
  check(Number(fcount.n) === Number(want.n), `fresh replica has ${fcount.n} rows, primary ${want.n}`);
  fdb.close();
  admin.close();

  // The server alone: every generation's frames pulled raw, 128 at a time, as a replica asks. Their
  // lengths also give the frames each replica applied during the load, across generation changes.
  const current = (await (await fetch(`${url}/info`, { headers: { authorization: `Bearer ${token}` } })).json()).current_generation;
  const gens = new Map();
  for (let g = 1; g <= current; g++) gens.set(g, await rawPull(url, token, g));
  const framesBetween = (a, b) => {
    if (a.generation === b.generation) return b.durable_frame_num - a.durable_frame_num;
    let n = gens.get(a.generation).frames - a.durable_frame_num;
    for (let g = a.generation + 1; g < b.generation; g++) n += gens.get(g).frames;
    return n + b.durable_frame_num;
  };
  for (const r of results) r.frames = framesBetween(r.start, r.end);
  const allGens = [...gens.values()].reduce((a, g) => ({ frames: a.frames + g.frames, bytes: a.bytes + g.bytes, seconds: a.seconds + g.seconds }),
    { frames: 0, bytes: 0, seconds: 0 });

  const all = [...lat.write, ...lat.read];
  const syncs = results.flatMap((r) => r.syncMs);
  const localReads = results.flatMap((r) => r.readUs);
  const replicaWrites = results.flatMap((r) => r.writeMs);
  const frames = results.reduce((a, r) => a + r.frames, 0);

  const table = [
    ["setup", `${cfg.clients} remote clients (http+ws), ${cfg.replicas} replicas, ${elapsed.toFixed(1)} s`, ""],
    ["remote requests", `${all.length} in ${elapsed.toFixed(1)} s`, `${fmt(all.length / elapsed)} req/s`],
    ["  all", `p50 ${ms(pct(all, 50))}`, `p99 ${ms(pct(all, 99))}`],
    ["  writes (INSERT)", `${lat.write.length}, p50 ${ms(pct(lat.write, 50))}`, `p99 ${ms(pct(lat.write, 99))}`],
    ["  reads (point SELECT)", `${lat.read.length}, p50 ${ms(pct(lat.read, 50))}`, `p99 ${ms(pct(lat.read, 99))}`],
    ["replica sync under load", `${syncs.length} syncs, ${frames} frames applied by ${results.length} replicas`,
      `${fmt(frames / elapsed)} frames/s (${fmt(frames / elapsed / Math.max(1, results.length))} per replica)`],
    ["  primary's frames", `${allGens.frames} in ${current} generation(s)`, `${fmt(allGens.frames / elapsed)} frames/s written`],
    ["  sync() call", `p50 ${ms(pct(syncs, 50))}`, `p99 ${ms(pct(syncs, 99))}`],
    ["catch-up of a new replica", `export of gen ${freshInfo.generation} + ${freshInfo.durable_frame_num} frames in ${catchUpS.toFixed(2)} s`,
      `${fmt(freshInfo.durable_frame_num / catchUpS)} frames/s`],
    ["raw GET /sync (no client)", `all ${current} generation(s): ${allGens.frames} frames, ${(allGens.bytes / 2 ** 20).toFixed(1)} MiB in ${allGens.seconds.toFixed(2)} s`,
      `${fmt(allGens.frames / allGens.seconds)} frames/s`],
    ["replica forwarded write", `${replicaWrites.length} writes (+ read-your-writes pull), p50 ${ms(pct(replicaWrites, 50))}`,
      `p99 ${ms(pct(replicaWrites, 99))}`],
    ["replica local read", `${localReads.length} reads, p50 ${us(pct(localReads, 50))}`, `p99 ${us(pct(localReads, 99))}`],
    ["rows", `acknowledged ${ackedRows}, primary ${want.n}`,
      `replicas ${results.map((r) => r.final.n).join(", ")}, fresh ${fcount.n}`],
  ];
  const w0 = Math.max(...table.map((r) => r[0].length));
  const w1 = Math.max(...table.map((r) => r[1].length));
  console.log("\nedgelite-server load test (loopback)");
  for (const [a, b, c] of table) console.log(`${a.padEnd(w0)}  ${b.padEnd(w1)}  ${c}`);
  for (const e of errors.slice(0, 20)) console.log(`ERROR ${e}`);
  console.log(ok ? "load: nothing lost, replicas converged" : `load: FAILED (${errors.length} problems)`);
  return ok;
}

async function replicaWorker({ url, token, file, writer }) {
  const db = createClient({ url: `file:${file}`, syncUrl: url, authToken: token });
  await db.sync();
  let stop = false, go, final;
  const started = new Promise((r) => { go = r; });
  const finalNow = new Promise((r) => { final = r; });
  parentPort.on("message", (m) => {
    if (m.type === "go") go();
    if (m.type === "stop") stop = true;
    if (m.type === "final") final();
  });
  parentPort.postMessage({ type: "ready" });
  await started;

  const syncMs = [], readUs = [], writeMs = [];
  let error, acked = 0;
  const start = replicaInfo(file);
  let last = start;
  const t0 = performance.now();
  try {
    while (!stop) {
      const t = performance.now();
      await db.sync();
      syncMs.push(performance.now() - t);
      const now = replicaInfo(file);
      if (process.env.LOAD_DEBUG) {
        console.error(`replica ${writer - 1000}: sync ${(performance.now() - t).toFixed(0)} ms, ` +
          `gen ${last.generation} frame ${last.durable_frame_num} -> gen ${now.generation} frame ${now.durable_frame_num}`);
      }
      last = now;
      const n = Number((await db.execute("SELECT count(*) AS n FROM load_t")).rows[0].n);
      for (let i = 0; i < 20 && n > 0; i++) {
        const r0 = process.hrtime.bigint();
        const rs = await db.execute({ sql: "SELECT payload FROM load_t WHERE id = ?", args: [BigInt(1 + ((i * 104729) % n))] });
        readUs.push(Number(process.hrtime.bigint() - r0) / 1000);
        assert.equal(rs.rows.length, 1);
      }
      // A write forwarded to the primary, then read back locally at once (read-your-writes).
      const t1 = performance.now();
      await db.execute({ sql: "INSERT INTO load_t (client, seq, payload) VALUES (?, ?, ?)",
                         args: [BigInt(writer), BigInt(acked + 1), payload(writer, acked + 1)] });
      acked++;
      writeMs.push(performance.now() - t1);
      const own = await db.execute({ sql: "SELECT payload FROM load_t WHERE client = ? AND seq = ?", args: [BigInt(writer), BigInt(acked)] });
      assert.equal(own.rows[0]?.payload, payload(writer, acked), "read-your-writes on the replica");
      await sleep(20);
    }
  } catch (e) {
    error = String(e?.message ?? e);
  }
  const seconds = (performance.now() - t0) / 1000;
  const end = replicaInfo(file);
  parentPort.postMessage({ type: "stopped", syncMs, readUs, writeMs, acked, start, end, seconds, error });
  await finalNow;
  let state = { n: -1, s: -1, l: -1 };
  let finalError;
  try {
    await db.sync();
    const r = (await db.execute(CHECK)).rows[0];
    state = { n: Number(r.n), s: Number(r.s), l: Number(r.l) };
  } catch (e) {
    finalError = String(e?.message ?? e);
  }
  db.close();
  parentPort.postMessage({ type: "result", final: state, error: finalError });
}

async function rawPull(url, token, generation) {
  const headers = { authorization: `Bearer ${token}` };
  let start = 1, frames = 0, bytes = 0;
  const t0 = performance.now();
  for (;;) {
    const res = await fetch(`${url}/sync/${generation}/${start}/${start + 128}`, { headers });
    const body = Buffer.from(await res.arrayBuffer());
    if (res.status !== 200) break;
    assert.ok(body.length > 0 && body.length % 4120 === 0, `GET /sync body of ${body.length} bytes`);
    frames += body.length / 4120;
    bytes += body.length;
    start += body.length / 4120;
  }
  return { generation, frames, bytes, seconds: (performance.now() - t0) / 1000 };
}

function payload(c, s) { return `${c}:${s}:`.padEnd(200 + ((c * 31 + s) % 300), "abcdefghij"); }

function pct(xs, p) {
  if (!xs.length) return NaN;
  const s = Float64Array.from(xs).sort();
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}
function fmt(x) { return Number.isFinite(x) ? Math.round(x).toLocaleString("en-US") : "n/a"; }
function ms(x) { return Number.isFinite(x) ? `${x.toFixed(2)} ms` : "n/a"; }
function us(x) { return Number.isFinite(x) ? `${x.toFixed(1)} µs` : "n/a"; }
