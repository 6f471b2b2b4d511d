#!/usr/bin/env node
// The one entry point for CI: the published libSQL clients against edgelite-server.
//
//   EDGELITE_SERVER=target/debug/edgelite-server node tests/server/run.js [--suite node,python,smoke]
//
// Builds nothing: it takes the server binary from EDGELITE_SERVER. Each suite file starts its own
// servers on free loopback ports with temporary data directories (lib.js, py/server.py). Needs
// `npm ci --prefix tests/server` and a Python with tests/server/requirements.txt installed: PYTHON,
// else tests/server/.venv/bin/python, else python3. Ends with the line `N passed, N failed` and
// exits non-zero if anything failed or a suite could not run.

import { spawn } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const SUITE_TIMEOUT_MS = 10 * 60 * 1000;

const arg = (name) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
};
const suites = (arg("--suite") ?? "node,python,smoke").split(",");

function die(msg) {
  console.error(`run.js: ${msg}`);
  console.log("0 passed, 1 failed");
  process.exit(1);
}

const server = process.env.EDGELITE_SERVER && path.resolve(process.env.EDGELITE_SERVER);
if (!server) die("set EDGELITE_SERVER to the edgelite-server binary (cargo build -p edgelite-server)");
try { fs.accessSync(server, fs.constants.X_OK); } catch { die(`${server} is not an executable file`); }
if (!fs.existsSync(path.join(here, "node_modules", "@libsql", "client"))) {
  die("run `npm ci --prefix tests/server` first");
}
const venvPython = path.join(here, ".venv", "bin", "python");
const python = process.env.PYTHON ?? (fs.existsSync(venvPython) ? venvPython : "python3");

// One key pair for the run: the servers get the public key, the suites the private key (node signs
// its own tokens) or ready-made tokens (Python's standard library cannot sign Ed25519).
const work = fs.mkdtempSync(path.join(os.tmpdir(), "edgelite-run-"));
const pair = crypto.generateKeyPairSync("ed25519");
const pubFile = path.join(work, "jwt-key.pem");
const privFile = path.join(work, "jwt-private.pem");
fs.writeFileSync(pubFile, pair.publicKey.export({ type: "spki", format: "pem" }));
fs.writeFileSync(privFile, pair.privateKey.export({ type: "pkcs8", format: "pem" }), { mode: 0o600 });
process.env.EDGELITE_JWT_KEY_FILE = pubFile;
process.env.EDGELITE_JWT_PRIVATE_KEY_FILE = privFile;
const { tokens } = await import("./lib.js");
for (const [k, v] of Object.entries(tokens())) process.env[`EDGELITE_TOKEN_${k.toUpperCase()}`] = v;
process.env.EDGELITE_SERVER = server;
// Every suite's temporary files (data directories, server logs, replica files) go under `work`:
// removed after a clean run, kept for a look after a failure.
process.env.TMPDIR = work;

// Stopped from outside: take the running suite's process group (and its servers) down too.
let current;
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.on(sig, () => {
    if (current) { try { process.kill(-current, "SIGKILL"); } catch {} }
    console.log("0 passed, 1 failed");
    process.exit(1);
  });
}

/** Runs a command in its own process group, echoing its output; kills the whole group afterwards. */
function run(cmd, args, { cwd = here, timeoutMs = SUITE_TIMEOUT_MS } = {}) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd, detached: true, stdio: ["ignore", "pipe", "pipe"] });
    current = child.pid;
    let out = "";
    child.stdout.on("data", (d) => { out += d; process.stdout.write(d); });
    child.stderr.on("data", (d) => process.stderr.write(d));
    let timedOut = false;
    const killGroup = (sig) => { try { process.kill(-child.pid, sig); } catch {} };
    const timer = setTimeout(() => { timedOut = true; killGroup("SIGKILL"); }, timeoutMs);
    child.on("error", (e) => { clearTimeout(timer); resolve({ code: -1, out, error: e }); });
    child.on("close", (code) => {
      clearTimeout(timer);
      killGroup("SIGKILL"); // servers a crashed suite left behind
      current = undefined;
      resolve({ code, out, timedOut });
    });
  });
}

const totals = { passed: 0, failed: 0, skipped: 0 };
const lines = [];
function record(name, counts, r) {
  let { passed = 0, failed = 0, skipped = 0 } = counts ?? {};
  let note = "";
  if (r.timedOut) note = " (timed out)";
  else if (r.error) note = ` (${r.error.message})`;
  // A suite that died, or exited non-zero with nothing failed, counts one failure.
  if (!counts || (r.code !== 0 && failed === 0)) { failed += 1; note ||= ` (exit ${r.code})`; }
  totals.passed += passed; totals.failed += failed; totals.skipped += skipped;
  lines.push(`${name}: ${passed} passed / ${failed} failed / ${skipped} skipped${note}`);
}

if (suites.includes("node")) {
  const tap = path.join(work, "node.tap");
  const files = fs.readdirSync(here).filter((f) => f.endsWith(".test.js")).sort();
  const r = await run(process.execPath, ["--test", "--test-concurrency=1",
    "--test-reporter=spec", "--test-reporter-destination=stdout",
    "--test-reporter=tap", `--test-reporter-destination=${tap}`, ...files]);
  let counts;
  try {
    const t = fs.readFileSync(tap, "utf8");
    const n = (k) => Number((new RegExp(`^# ${k} (\\d+)$`, "m").exec(t) ?? [])[1] ?? NaN);
    if (!Number.isNaN(n("pass"))) {
      counts = { passed: n("pass"), failed: n("fail") + (n("cancelled") || 0), skipped: (n("skipped") || 0) + (n("todo") || 0) };
    }
  } catch {}
  record("node suite", counts, r);
}

if (suites.includes("python")) {
  const r = await run(python, [path.join(here, "py", "run.py")]);
  const m = /^edgelite-python-counts (\{.*\})$/m.exec(r.out);
  record("python suite", m ? JSON.parse(m[1]) : undefined, r);
}

if (suites.includes("smoke")) {
  // The load test, small and short: it checks only that nothing is lost and replicas converge.
  const r = await run(process.execPath, [path.join(here, "load.js"), "--smoke"], { timeoutMs: 5 * 60 * 1000 });
  record("load smoke", r.code === 0 ? { passed: 1 } : { failed: 1 }, r);
}

console.log("");
if (totals.failed) console.log(`run.js: server logs and data kept in ${work}`);
else fs.rmSync(work, { recursive: true, force: true });
for (const l of lines) console.log(l);
console.log(`${totals.passed} passed, ${totals.failed} failed${totals.skipped ? `, ${totals.skipped} skipped` : ""}`);
process.exit(totals.failed ? 1 : 0);
