// Shared by the node suites and the load test: start an edgelite-server on free loopback ports
// with a temporary data directory, and sign the Ed25519 JWTs it checks.
//
// The binary comes from EDGELITE_SERVER (run.js sets it). Keys come from the files run.js writes
// (EDGELITE_JWT_PRIVATE_KEY_FILE, EDGELITE_JWT_KEY_FILE); a suite run on its own makes a fresh pair.

import { spawn } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";

const READY = /edgelite-server listening on (http:\/\/\S+)/;

let keys;
/** The server's key pair: `{ privateKey, publicPemFile }`. */
export function jwtKeys() {
  if (keys) return keys;
  const privFile = process.env.EDGELITE_JWT_PRIVATE_KEY_FILE;
  const pubFile = process.env.EDGELITE_JWT_KEY_FILE;
  if (privFile && pubFile) {
    keys = { privateKey: crypto.createPrivateKey(fs.readFileSync(privFile)), publicPemFile: pubFile };
  } else {
    const pair = crypto.generateKeyPairSync("ed25519");
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "edgelite-keys-"));
    const publicPemFile = path.join(dir, "jwt-key.pem");
    fs.writeFileSync(publicPemFile, pair.publicKey.export({ type: "spki", format: "pem" }));
    keys = { privateKey: pair.privateKey, publicPemFile };
  }
  return keys;
}

const b64url = (buf) => Buffer.from(buf).toString("base64url");

/** An EdDSA JWT over `claims`, signed with `privateKey` (the server's own key by default). */
export function signJwt(claims, privateKey = jwtKeys().privateKey) {
  const head = b64url(JSON.stringify({ alg: "EdDSA", typ: "JWT" }));
  const body = b64url(JSON.stringify(claims));
  const sig = crypto.sign(null, Buffer.from(`${head}.${body}`), privateKey);
  return `${head}.${body}.${b64url(sig)}`;
}

/** Tokens for the usual cases: read-write, read-only, expired, and signed by a stranger's key. */
export function tokens() {
  const now = Math.floor(Date.now() / 1000);
  const stranger = crypto.generateKeyPairSync("ed25519").privateKey;
  return {
    rw: signJwt({ a: "rw", exp: now + 3600 }),
    ro: signJwt({ a: "ro", exp: now + 3600 }),
    noExp: signJwt({}),
    expired: signJwt({ a: "rw", exp: now - 3600 }),
    forged: signJwt({ a: "rw", exp: now + 3600 }, stranger),
  };
}

/** A TCP port that was free a moment ago (for the admin listener, whose address is not printed). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

export function tempDir(prefix) {
  return fs.mkdtempSync(path.join(os.tmpdir(), `edgelite-${prefix}-`));
}

/**
 * Starts the server and resolves once it prints its ready line; `dataDir` again restarts a server
 * on the same databases. Returns `{ url, wsUrl, adminUrl, dataDir, tokens, stop() }`.
 */
export async function startServer({ auth = true, extraArgs = [], timeoutMs = 60_000, dataDir = tempDir("server"), httpPort = 0 } = {}) {
  const bin = process.env.EDGELITE_SERVER;
  if (!bin) throw new Error("EDGELITE_SERVER must name the edgelite-server binary (see tests/server/run.js)");
  const adminPort = await freePort();
  const args = [
    "--db-path", path.join(dataDir, "data"),
    "--http-listen-addr", `127.0.0.1:${httpPort}`,
    "--admin-listen-addr", `127.0.0.1:${adminPort}`,
    ...(auth ? ["--auth-jwt-key-file", jwtKeys().publicPemFile] : []),
    ...extraArgs,
    // Extra flags for every server of a run, e.g. "--checkpoint-frames 16" to cross many generations.
    ...(process.env.EDGELITE_SERVER_ARGS ?? "").split(/\s+/).filter(Boolean),
  ];
  const logFile = path.join(dataDir, "server.log");
  const log = fs.openSync(logFile, "a");
  const child = spawn(bin, args, { stdio: ["ignore", "pipe", log] });
  const killOnExit = () => child.kill("SIGKILL");
  process.once("exit", killOnExit);

  const url = await new Promise((resolve, reject) => {
    let buf = "";
    const timer = setTimeout(() => fail(new Error(`no ready line within ${timeoutMs} ms`)), timeoutMs);
    const fail = (err) => {
      clearTimeout(timer);
      child.kill("SIGKILL");
      let tail = "";
      try { tail = fs.readFileSync(logFile, "utf8").slice(-4000); } catch {}
      reject(new Error(`${err.message}\nargs: ${args.join(" ")}\nstdout: ${buf}\nstderr tail:\n${tail}`));
    };
    child.once("error", fail);
    child.once("exit", (code, sig) => fail(new Error(`server exited early (code ${code}, signal ${sig})`)));
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (chunk) => {
      buf += chunk;
      const m = READY.exec(buf);
      if (m) {
        clearTimeout(timer);
        child.removeAllListeners("exit");
        resolve(m[1].replace(/\/$/, ""));
      }
    });
  });
  child.stdout.resume();
  const adminUrl = `http://127.0.0.1:${adminPort}`;
  await waitForTcp(adminPort);

  return {
    url,
    wsUrl: url.replace(/^http/, "ws"),
    adminUrl,
    dataDir,
    logFile,
    pid: child.pid,
    tokens: tokens(),
    /** SIGTERM (or `signal`, e.g. SIGKILL for a crash), SIGKILL after 5 s; resolves on exit. */
    async stop(signal = "SIGTERM") {
      process.removeListener("exit", killOnExit);
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once("exit", r));
      child.kill(signal);
      const t = setTimeout(() => child.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(t);
    },
  };
}

async function waitForTcp(port, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise((resolve) => {
      const s = net.connect(port, "127.0.0.1");
      s.once("connect", () => { s.destroy(); resolve(true); });
      s.once("error", () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`admin listener on port ${port} never accepted a connection`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** POST/DELETE on the admin API; throws unless 2xx. */
export async function admin(server, method, p, body) {
  const res = await fetch(`${server.adminUrl}${p}`, {
    method,
    headers: body ? { "content-type": "application/json" } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`admin ${method} ${p}: HTTP ${res.status} ${text}`);
  return text;
}

/** Forces a new sync generation on namespace `ns` and returns the new `/info` generation. */
export async function checkpoint(server, ns = "default") {
  await admin(server, "POST", `/v1/namespaces/${ns}/checkpoint`);
  return (await info(server)).current_generation;
}

/** `GET /info` as the replicas send it. */
export async function info(server, token = server.tokens.rw) {
  const res = await fetch(`${server.url}/info`, { headers: { authorization: `Bearer ${token}` } });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`GET /info: HTTP ${res.status} ${text}`);
  return JSON.parse(text);
}

/** The replica's sync metadata file (`<db>-info`), as the native client writes it. */
export function replicaInfo(dbPath) {
  return JSON.parse(fs.readFileSync(`${dbPath}-info`, "utf8"));
}

/** Blob column values as Buffers, whichever form the client returned. */
export function bytes(v) {
  if (v instanceof ArrayBuffer) return Buffer.from(new Uint8Array(v));
  if (ArrayBuffer.isView(v)) return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  throw new Error(`not a blob: ${typeof v} ${v}`);
}

export function f32le(values) {
  const b = Buffer.alloc(values.length * 4);
  values.forEach((x, i) => b.writeFloatLE(x, i * 4));
  return b;
}

/** Plain objects from a ResultSet's rows, keyed by column name. */
export function plain(rs) {
  return rs.rows.map((row) => Object.fromEntries(rs.columns.map((c, i) => [c, row[i]])));
}

/**
 * A bare WebSocket client (RFC 6455, text and binary frames, client masking), enough to send the
 * server what no well-behaved client would. `protocols` go in Sec-WebSocket-Protocol.
 * Resolves to `{ protocol, send(data, opcode), next(ms), closed }` once the upgrade is answered.
 */
export function rawWebSocket(url, protocols) {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const sock = net.connect(Number(u.port), u.hostname);
    const key = crypto.randomBytes(16).toString("base64");
    let buf = Buffer.alloc(0);
    let upgraded = false;
    const messages = [];
    const waiters = [];
    let closeResolve;
    const closed = new Promise((r) => { closeResolve = r; });
    const deliver = (m) => (waiters.length ? waiters.shift()(m) : messages.push(m));
    sock.on("error", (e) => (upgraded ? closeResolve({ error: e.message }) : reject(e)));
    sock.on("close", () => { closeResolve({ closed: true }); while (waiters.length) waiters.shift()(null); });
    sock.on("data", (d) => {
      buf = Buffer.concat([buf, d]);
      if (!upgraded) {
        const end = buf.indexOf("\r\n\r\n");
        if (end < 0) return;
        const head = buf.subarray(0, end).toString();
        buf = buf.subarray(end + 4);
        const status = Number(head.split(" ")[1]);
        if (status !== 101) { sock.destroy(); reject(new Error(`upgrade refused: ${head.split("\r\n")[0]}`)); return; }
        upgraded = true;
        const protocol = /^sec-websocket-protocol:\s*(.+)$/im.exec(head)?.[1].trim() ?? null;
        resolve({
          protocol,
          closed,
          send(data, opcode = typeof data === "string" ? 1 : 2) {
            const payload = Buffer.from(data);
            const mask = crypto.randomBytes(4);
            const len = payload.length;
            const head = len < 126 ? Buffer.from([0x80 | opcode, 0x80 | len])
              : len < 65536 ? Buffer.from([0x80 | opcode, 0x80 | 126, len >> 8, len & 255])
              : Buffer.concat([Buffer.from([0x80 | opcode, 0x80 | 127]), (() => { const b = Buffer.alloc(8); b.writeBigUInt64BE(BigInt(len)); return b; })()]);
            const masked = Buffer.from(payload.map((b, i) => b ^ mask[i % 4]));
            sock.write(Buffer.concat([head, mask, masked]));
          },
          /** The next text message parsed as JSON, or null once the socket closes or `ms` pass. */
          next(ms = 10_000) {
            if (messages.length) return Promise.resolve(messages.shift());
            if (sock.destroyed) return Promise.resolve(null);
            return new Promise((r) => {
              const t = setTimeout(() => { waiters.splice(waiters.indexOf(done), 1); r(null); }, ms);
              const done = (m) => { clearTimeout(t); r(m); };
              waiters.push(done);
            });
          },
          end() { sock.destroy(); },
        });
      }
      // Frames from the server (unmasked).
      while (buf.length >= 2) {
        const op = buf[0] & 15;
        let len = buf[1] & 127, off = 2;
        if (len === 126) { if (buf.length < 4) return; len = buf.readUInt16BE(2); off = 4; }
        else if (len === 127) { if (buf.length < 10) return; len = Number(buf.readBigUInt64BE(2)); off = 10; }
        if (buf.length < off + len) return;
        const payload = buf.subarray(off, off + len);
        buf = buf.subarray(off + len);
        if (op === 1) deliver(JSON.parse(payload.toString()));
        else if (op === 8) { deliver({ close: payload.length >= 2 ? payload.readUInt16BE(0) : null }); sock.end(); }
        else if (op === 9) { /* ping: the server's keepalive; no pong needed for a short test */ }
      }
    });
    sock.write([
      `GET / HTTP/1.1`, `Host: ${u.host}`, "Upgrade: websocket", "Connection: Upgrade",
      `Sec-WebSocket-Key: ${key}`, "Sec-WebSocket-Version: 13",
      ...(protocols ? [`Sec-WebSocket-Protocol: ${protocols}`] : []), "", "",
    ].join("\r\n"));
  });
}
