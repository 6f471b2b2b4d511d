// npm @libsql/client in remote mode against edgelite-server: Hrana 2 over HTTP (`POST /v2/pipeline`)
// and Hrana over WebSocket (`hrana2,hrana1`), one server for the file, one table set per transport.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { createClient, LibsqlError } from "@libsql/client";
import { bytes, f32le, plain, startServer } from "./lib.js";

let server;
before(async () => { server = await startServer(); });
after(async () => { await server?.stop(); });

for (const transport of ["http", "ws"]) {
  describe(`remote over ${transport}`, () => {
    const t = `${transport}_`;
    let db;
    const url = () => (transport === "http" ? server.url : server.wsUrl);
    before(() => { db = createClient({ url: url(), authToken: server.tokens.rw }); });
    after(() => db?.close());

    test("execute: every value type goes in and comes back", async () => {
      await db.execute(`CREATE TABLE ${t}vals (id INTEGER PRIMARY KEY, i INTEGER, r REAL, s TEXT, b BLOB, n)`);
      const ins = await db.execute({
        sql: `INSERT INTO ${t}vals (i, r, s, b, n) VALUES (?, ?, ?, ?, ?)`,
        args: [9007199254740993n, 2.5, "héllo ☃", new Uint8Array([0, 1, 2, 255]), null],
      });
      assert.equal(ins.rowsAffected, 1);
      assert.equal(ins.lastInsertRowid, 1n);
      const named = await db.execute({
        sql: `INSERT INTO ${t}vals (i, s) VALUES (:i, $s)`,
        args: { i: -42, s: "named" },
      });
      assert.equal(named.lastInsertRowid, 2n);

      const big = createClient({ url: url(), authToken: server.tokens.rw, intMode: "bigint" });
      const rs = await big.execute(`SELECT id, i, r, s, b, n, typeof(i) AS ti FROM ${t}vals ORDER BY id`);
      big.close();
      assert.deepEqual(rs.columns, ["id", "i", "r", "s", "b", "n", "ti"]);
      assert.equal(rs.columnTypes[1], "INTEGER");
      assert.equal(rs.rows.length, 2);
      const [a, b] = rs.rows;
      assert.equal(a.i, 9007199254740993n, "i64 beyond 2^53 must survive the JSON string encoding");
      assert.equal(a.r, 2.5);
      assert.equal(a.s, "héllo ☃");
      assert.deepEqual([...bytes(a.b)], [0, 1, 2, 255]);
      assert.equal(a.n, null);
      assert.equal(a.ti, "integer");
      // npm sends a JS number as a float: the column affinity makes it an integer again.
      assert.equal(b.i, -42n);
      assert.equal(b.s, "named");
    });

    test("batch 'write' is one transaction: all steps or none", async () => {
      await db.batch([
        `CREATE TABLE ${t}acct (name TEXT PRIMARY KEY, balance INTEGER NOT NULL)`,
        { sql: `INSERT INTO ${t}acct VALUES (?, ?)`, args: ["ann", 100] },
        { sql: `INSERT INTO ${t}acct VALUES (?, ?)`, args: ["bob", 50] },
      ], "write");
      const results = await db.batch([
        { sql: `UPDATE ${t}acct SET balance = balance - 30 WHERE name = ?`, args: ["ann"] },
        { sql: `UPDATE ${t}acct SET balance = balance + 30 WHERE name = ?`, args: ["bob"] },
        `SELECT name, balance FROM ${t}acct ORDER BY name`,
      ], "write");
      assert.equal(results.length, 3);
      assert.equal(results[0].rowsAffected, 1);
      assert.deepEqual(plain(results[2]), [{ name: "ann", balance: 70 }, { name: "bob", balance: 80 }]);

      // The second insert violates the primary key: the first must be rolled back with it.
      await assert.rejects(
        db.batch([
          { sql: `INSERT INTO ${t}acct VALUES (?, ?)`, args: ["cy", 1] },
          { sql: `INSERT INTO ${t}acct VALUES (?, ?)`, args: ["ann", 1] },
        ], "write"),
        (e) => e instanceof LibsqlError && /^SQLITE_CONSTRAINT/.test(e.code) && /UNIQUE|PRIMARY/i.test(e.message),
      );
      const rs = await db.execute(`SELECT name, balance FROM ${t}acct ORDER BY name`);
      assert.deepEqual(plain(rs), [{ name: "ann", balance: 70 }, { name: "bob", balance: 80 }]);
    });

    test("interactive transaction: isolated until commit, rollback discards", async () => {
      await db.execute(`CREATE TABLE ${t}tx (x INTEGER)`);
      const other = createClient({ url: url(), authToken: server.tokens.rw });
      try {
        const tx = await db.transaction("write");
        await tx.execute({ sql: `INSERT INTO ${t}tx VALUES (?)`, args: [1] });
        assert.equal((await tx.execute(`SELECT count(*) AS c FROM ${t}tx`)).rows[0].c, 1);
        assert.equal((await other.execute(`SELECT count(*) AS c FROM ${t}tx`)).rows[0].c, 0,
          "another stream must not see an uncommitted write");
        await tx.rollback();
        assert.equal((await db.execute(`SELECT count(*) AS c FROM ${t}tx`)).rows[0].c, 0);

        const tx2 = await db.transaction("write");
        await tx2.execute({ sql: `INSERT INTO ${t}tx VALUES (?)`, args: [2] });
        await tx2.execute({ sql: `INSERT INTO ${t}tx VALUES (?)`, args: [3] });
        await tx2.commit();
        const rs = await other.execute(`SELECT x FROM ${t}tx ORDER BY x`);
        assert.deepEqual(rs.rows.map((r) => r.x), [2, 3]);
      } finally {
        other.close();
      }
    });

    test("executeMultiple runs a script (Hrana sequence)", async () => {
      await db.executeMultiple(`
        CREATE TABLE ${t}seq (a INTEGER, b TEXT);
        INSERT INTO ${t}seq VALUES (1, 'one');
        INSERT INTO ${t}seq VALUES (2, 'two; with a semicolon');
        UPDATE ${t}seq SET a = a * 10;
      `);
      assert.deepEqual(plain(await db.execute(`SELECT a, b FROM ${t}seq ORDER BY a`)),
        [{ a: 10, b: "one" }, { a: 20, b: "two; with a semicolon" }]);
      await assert.rejects(db.executeMultiple(`INSERT INTO ${t}seq VALUES (3, 'x'); SELEC oops;`), LibsqlError);
    });

    test("concurrent write transactions serialize: no lost update", async () => {
      await db.execute(`CREATE TABLE ${t}ctr (k INTEGER PRIMARY KEY, n INTEGER NOT NULL)`);
      await db.execute(`INSERT INTO ${t}ctr VALUES (1, 0)`);
      const N = 8;
      const clients = Array.from({ length: N }, () => createClient({ url: url(), authToken: server.tokens.rw }));
      try {
        await Promise.all(clients.map(async (c) => {
          const tx = await c.transaction("write");
          const n = (await tx.execute(`SELECT n FROM ${t}ctr WHERE k = 1`)).rows[0].n;
          await new Promise((r) => setTimeout(r, 50)); // hold the lock a while: the others must wait
          await tx.execute({ sql: `UPDATE ${t}ctr SET n = ? WHERE k = 1`, args: [n + 1] });
          await tx.commit();
        }));
      } finally {
        for (const c of clients) c.close();
      }
      assert.equal((await db.execute(`SELECT n FROM ${t}ctr`)).rows[0].n, N);
    });

    test("vectors in and out: vector32, F32_BLOB, vector_extract, distance, index top-k", async () => {
      await db.execute(`CREATE TABLE ${t}vec (id INTEGER PRIMARY KEY, label TEXT, e F32_BLOB(3))`);
      await db.execute(`CREATE INDEX ${t}vec_idx ON ${t}vec (libsql_vector_idx(e))`);
      await db.batch([
        { sql: `INSERT INTO ${t}vec VALUES (1, 'x', vector32('[1,2,3]'))` },
        { sql: `INSERT INTO ${t}vec VALUES (2, 'y', vector32(?))`, args: ["[3,2,1]"] },
        // A raw little-endian f32 blob is a vector too.
        { sql: `INSERT INTO ${t}vec VALUES (3, 'z', ?)`, args: [f32le([0, 0, 1])] },
      ], "write");

      const rs = await db.execute(`SELECT id, vector_extract(e) AS v, e FROM ${t}vec ORDER BY id`);
      assert.deepEqual(rs.rows.map((r) => JSON.parse(r.v)), [[1, 2, 3], [3, 2, 1], [0, 0, 1]]);
      assert.equal(rs.rows[0].v, "[1,2,3]");
      assert.deepEqual(bytes(rs.rows[0].e), f32le([1, 2, 3]));
      assert.deepEqual(bytes(rs.rows[2].e), f32le([0, 0, 1]));

      const d = await db.execute({
        sql: `SELECT id, vector_distance_cos(e, vector32(?)) AS d FROM ${t}vec ORDER BY d, id`,
        args: ["[1,2,3]"],
      });
      assert.equal(d.rows[0].id, 1);
      assert.ok(Math.abs(d.rows[0].d) < 1e-6, `cosine distance to itself is ${d.rows[0].d}`);

      const top = await db.execute({
        sql: `SELECT v.id, v.label FROM vector_top_k('${t}vec_idx', vector32(?), 2) AS k
              JOIN ${t}vec v ON v.rowid = k.id`,
        args: ["[0,0.1,1]"],
      });
      assert.deepEqual(top.rows.map((r) => r.id).sort(), [1, 3]);
    });

    test("a 1 MiB blob and a long text round-trip byte for byte", async () => {
      await db.execute(`CREATE TABLE ${t}big (id INTEGER PRIMARY KEY, b BLOB, s TEXT)`);
      const blob = Buffer.alloc(1 << 20);
      for (let i = 0; i < blob.length; i++) blob[i] = (i * 2654435761) >>> 24;
      const text = "é☃𝄞".repeat(50_000);
      await db.execute({ sql: `INSERT INTO ${t}big VALUES (1, ?, ?)`, args: [blob, text] });
      const rs = await db.execute(`SELECT b, s, length(b) AS n, length(s) AS m FROM ${t}big`);
      assert.equal(rs.rows[0].n, 1 << 20);
      assert.equal(rs.rows[0].m, 150_000);
      assert.ok(bytes(rs.rows[0].b).equals(blob));
      assert.equal(rs.rows[0].s, text);
    });

    test("REALs and big integers come back bit for bit (issue 12, finding 9)", async () => {
      // -0 is left out: JSON.stringify(-0) is "0", so the client itself sends a zero.
      const reals = [-1.25e-300, 5e-324, 2.225073858507201e-308, 2.2250738585072014e-308, Number.MAX_VALUE,
        -Number.MAX_VALUE, 0.1, 1e23, 8.98846567431158e307, -3.141592653589793, 1.0000000000000002];
      await db.execute(`CREATE TABLE ${t}reals (id INTEGER PRIMARY KEY, r REAL, u)`);
      for (const [id, x] of reals.entries()) {
        await db.execute({ sql: `INSERT INTO ${t}reals VALUES (?, ?, ?)`, args: [id, x, x] });
      }
      const rs = await db.execute(`SELECT id, r, u FROM ${t}reals ORDER BY id`);
      for (const [id, x] of reals.entries()) {
        assert.ok(Object.is(rs.rows[id].r, x), `${x} in a REAL column came back as ${rs.rows[id].r}`);
        assert.ok(Object.is(rs.rows[id].u, x), `${x} came back as ${rs.rows[id].u}`);
      }
      const echo = await db.execute({ sql: "SELECT " + reals.map(() => "?").join(", "), args: reals });
      reals.forEach((x, i) => assert.ok(Object.is(echo.rows[0][i], x), `${x} echoed as ${echo.rows[0][i]}`));
      const big = createClient({ url: url(), authToken: server.tokens.rw, intMode: "bigint" });
      const ints = [2n ** 53n + 1n, 2n ** 62n + 1n, -(2n ** 63n), 2n ** 63n - 1n];
      const r = await big.execute({ sql: "SELECT ?, ?, ?, ?", args: ints });
      big.close();
      ints.forEach((n, i) => assert.equal(r.rows[0][i], n));
    });

    test("errors: SQL errors come back as LibsqlError and the client keeps working", async () => {
      await assert.rejects(db.execute("SELEC 1"),
        (e) => e instanceof LibsqlError && /syntax error/i.test(e.message) && /^(SQL_PARSE_ERROR|SQLITE_ERROR)$/.test(e.code));
      await assert.rejects(db.execute(`SELECT * FROM ${t}no_such_table`),
        (e) => e instanceof LibsqlError && /no such table/i.test(e.message));
      await db.execute(`CREATE TABLE ${t}uniq (k TEXT UNIQUE)`);
      await db.execute(`INSERT INTO ${t}uniq VALUES ('a')`);
      await assert.rejects(db.execute(`INSERT INTO ${t}uniq VALUES ('a')`),
        (e) => e instanceof LibsqlError && /^SQLITE_CONSTRAINT/.test(e.code));
      const rs = await db.execute(`SELECT count(*) AS c FROM ${t}uniq`);
      assert.equal(rs.rows[0].c, 1);
    });

    test("auth: read-only token reads but cannot write; bad tokens are refused", async () => {
      await db.execute(`CREATE TABLE ${t}auth (x)`);
      await db.execute(`INSERT INTO ${t}auth VALUES ('seen')`);
      const ro = createClient({ url: url(), authToken: server.tokens.ro });
      try {
        assert.equal((await ro.execute(`SELECT x FROM ${t}auth`)).rows[0].x, "seen");
        await assert.rejects(ro.execute(`INSERT INTO ${t}auth VALUES ('ro')`), LibsqlError);
      } finally {
        ro.close();
      }
      for (const name of ["expired", "forged"]) {
        const bad = createClient({ url: url(), authToken: server.tokens[name] });
        try {
          await assert.rejects(bad.execute(`INSERT INTO ${t}auth VALUES (?)`, [name]), LibsqlError, `${name} token`);
        } finally {
          bad.close();
        }
      }
      const none = createClient({ url: url() });
      try {
        await assert.rejects(none.execute(`SELECT 1`), LibsqlError, "no token");
      } finally {
        none.close();
      }
      const noExp = createClient({ url: url(), authToken: server.tokens.noExp });
      try {
        assert.equal((await noExp.execute(`SELECT count(*) AS c FROM ${t}auth`)).rows[0].c, 1);
      } finally {
        noExp.close();
      }
      const rs = await db.execute(`SELECT x FROM ${t}auth`);
      assert.deepEqual(rs.rows.map((r) => r.x), ["seen"], "no refused write may land");
    });
  });
}

test("libsql://…?tls=0 URLs work as http does", async () => {
  const db = createClient({ url: `${server.url.replace(/^http/, "libsql")}?tls=0`, authToken: server.tokens.rw });
  try {
    assert.deepEqual(plain(await db.execute({ sql: "SELECT ? * 2 AS x", args: [21n] })), [{ x: 42 }]);
  } finally {
    db.close();
  }
});

test("http and ws clients see one database", async () => {
  const h = createClient({ url: server.url, authToken: server.tokens.rw });
  const w = createClient({ url: server.wsUrl, authToken: server.tokens.rw });
  try {
    await h.execute("CREATE TABLE shared_t (v TEXT)");
    await w.execute("INSERT INTO shared_t VALUES ('from ws')");
    await h.execute("INSERT INTO shared_t VALUES ('from http')");
    assert.deepEqual((await w.execute("SELECT v FROM shared_t ORDER BY v")).rows.map((r) => r.v),
      ["from http", "from ws"]);
  } finally {
    h.close();
    w.close();
  }
});
