"""PyPI `libsql` (native, Rust `libsql` inside) and `libsql-client` (pure Python) against edgelite-server.

Run through tests/server/run.js, which sets EDGELITE_SERVER, the key file and the tokens.
"""

import asyncio
import os
import shutil
import struct
import tempfile
import time
import unittest
import uuid

import libsql
import libsql_client

from server import Server

_server = None

# Doubles that must come back bit for bit (issue 12, finding 9): subnormals, the extremes, -0.0.
REALS = [-1.25e-300, 5e-324, 2.225073858507201e-308, 2.2250738585072014e-308, 1.7976931348623157e308,
         -1.7976931348623157e308, 0.1, 1e23, -0.0, -3.141592653589793]


def bits(x):
    return struct.pack("<d", x)


def setUpModule():
    global _server
    _server = Server()


def tearDownModule():
    if _server:
        _server.cleanup()


def f32le(values):
    return struct.pack(f"<{len(values)}f", *values)


class LegacyClientBase:
    """`libsql-client` 0.3: HTTP API v1 (`/v1/execute`, `/v1/batch`) over http://, hrana2 over ws://.

    The async client: the sync wrapper's event-loop thread can die with "cannot reuse already awaited
    coroutine" after a statement error, and every later call then hangs.
    """

    scheme = None

    async def asyncSetUp(self):
        self.t = f"lc_{self.scheme}_{uuid.uuid4().hex[:8]}"
        self.url = _server.url if self.scheme == "http" else _server.ws_url
        self.client = libsql_client.create_client(self.url, auth_token=_server.tokens["rw"])

    async def asyncTearDown(self):
        await self.client.close()

    async def test_values_round_trip(self):
        c, t = self.client, self.t
        await c.execute(f"CREATE TABLE {t} (id INTEGER PRIMARY KEY, i INTEGER, r REAL, s TEXT, b BLOB, n)")
        rs = await c.execute(f"INSERT INTO {t} (i, r, s, b, n) VALUES (?, ?, ?, ?, ?)",
                             [2**62 + 1, 2.5, "héllo ☃", b"\x00\x01\xff", None])
        self.assertEqual(rs.rows_affected, 1)
        self.assertEqual(rs.last_insert_rowid, 1)
        rs = await c.execute(f"SELECT i, r, s, b, n, typeof(i) FROM {t}")
        self.assertEqual(rs.columns, ("i", "r", "s", "b", "n", "typeof(i)"))
        self.assertEqual(rs.rows[0].astuple(), (2**62 + 1, 2.5, "héllo ☃", b"\x00\x01\xff", None, "integer"))
        self.assertEqual(rs.rows[0]["s"], "héllo ☃")

    async def test_reals_bit_for_bit(self):
        # issue 12, finding 9; -0.0 in the untyped column only (REAL affinity stores it as 0)
        c, t = self.client, self.t
        await c.execute(f"CREATE TABLE {t} (id INTEGER PRIMARY KEY, r REAL, u)")
        for i, x in enumerate(REALS):
            await c.execute(f"INSERT INTO {t} VALUES (?, ?, ?)", [i, 0.0 if x == 0 else x, x])
        rs = await c.execute(f"SELECT r, u FROM {t} ORDER BY id")
        for x, row in zip(REALS, rs.rows):
            self.assertEqual(bits(row[1]), bits(x), f"{x!r} came back as {row[1]!r}")
            if x != 0:
                self.assertEqual(bits(row[0]), bits(x), f"{x!r} in a REAL column came back as {row[0]!r}")

    async def test_batch_is_a_transaction(self):
        c, t = self.client, self.t
        await c.batch([f"CREATE TABLE {t} (k TEXT PRIMARY KEY, v INTEGER)",
                       libsql_client.Statement(f"INSERT INTO {t} VALUES (?, ?)", ["a", 1]),
                       libsql_client.Statement(f"INSERT INTO {t} VALUES (?, ?)", ["b", 2])])
        with self.assertRaises(libsql_client.LibsqlError) as cm:
            await c.batch([libsql_client.Statement(f"INSERT INTO {t} VALUES (?, ?)", ["c", 3]),
                           libsql_client.Statement(f"INSERT INTO {t} VALUES (?, ?)", ["a", 4])])
        self.assertRegex(cm.exception.code, r"^SQLITE_CONSTRAINT")
        rs = await c.execute(f"SELECT k, v FROM {t} ORDER BY k")
        self.assertEqual([r.astuple() for r in rs.rows], [("a", 1), ("b", 2)], "the failed batch must roll back")

    async def test_vectors(self):
        c, t = self.client, self.t
        await c.execute(f"CREATE TABLE {t} (id INTEGER PRIMARY KEY, e F32_BLOB(3))")
        await c.execute(f"INSERT INTO {t} VALUES (1, vector32('[1,2,3]'))")
        await c.execute(f"INSERT INTO {t} VALUES (2, ?)", [f32le([4, 5, 6])])
        rs = await c.execute(f"SELECT id, vector_extract(e), e FROM {t} ORDER BY id")
        self.assertEqual([(r[0], r[1]) for r in rs.rows], [(1, "[1,2,3]"), (2, "[4,5,6]")])
        self.assertEqual(rs.rows[0][2], f32le([1, 2, 3]))

    async def test_errors(self):
        with self.assertRaises(libsql_client.LibsqlError) as cm:
            await self.client.execute("SELECT * FROM no_such_table_py")
        self.assertIn("no such table", str(cm.exception))
        self.assertEqual((await self.client.execute("SELECT 40 + 2")).rows[0][0], 42)

    async def test_bad_token_is_refused(self):
        for name in ("forged", "expired"):
            with self.subTest(token=name):
                bad = libsql_client.create_client(self.url, auth_token=_server.tokens[name])
                try:
                    with self.assertRaises(Exception) as cm:
                        await asyncio.wait_for(bad.execute(f"CREATE TABLE {self.t}_leak (x)"), 20)
                    self.assertNotIsInstance(cm.exception, asyncio.TimeoutError, f"{name} token: no answer")
                finally:
                    await bad.close()
        rs = await self.client.execute("SELECT count(*) FROM sqlite_schema WHERE name = ?", [f"{self.t}_leak"])
        self.assertEqual(rs.rows[0][0], 0)


class LegacyClientHttp(LegacyClientBase, unittest.IsolatedAsyncioTestCase):
    scheme = "http"


class LegacyClientWs(LegacyClientBase, unittest.IsolatedAsyncioTestCase):
    scheme = "ws"

    async def test_interactive_transaction(self):
        c, t = self.client, self.t
        await c.execute(f"CREATE TABLE {t} (x INTEGER)")
        tx = c.transaction()
        await tx.execute(f"INSERT INTO {t} VALUES (1)")
        self.assertEqual((await tx.execute(f"SELECT count(*) FROM {t}")).rows[0][0], 1)
        await tx.rollback()
        self.assertEqual((await c.execute(f"SELECT count(*) FROM {t}")).rows[0][0], 0)
        tx = c.transaction()
        await tx.execute(f"INSERT INTO {t} VALUES (2)")
        await tx.commit()
        self.assertEqual([r[0] for r in (await c.execute(f"SELECT x FROM {t}")).rows], [2])


class NativeRemote(unittest.TestCase):
    """`libsql` 0.1.11 in remote mode: Hrana 3 JSON on /v3/pipeline, a describe before each statement."""

    def setUp(self):
        self.conn = libsql.connect(_server.url, auth_token=_server.tokens["rw"])

    def tearDown(self):
        self.conn.close()

    def test_execute_commit_and_read(self):
        c = self.conn
        c.execute("CREATE TABLE nr (id INTEGER PRIMARY KEY, s TEXT, b BLOB, e F32_BLOB(2))")
        c.execute("INSERT INTO nr (s, b, e) VALUES (?, ?, vector32(?))", ("one", b"\x01\x02", "[0.5,-1]"))
        c.executemany("INSERT INTO nr (s) VALUES (?)", [("two",), ("three",)])
        c.commit()
        rows = c.execute("SELECT id, s, b, e IS NULL FROM nr ORDER BY id").fetchall()
        self.assertEqual(rows, [(1, "one", b"\x01\x02", 0), (2, "two", None, 1), (3, "three", None, 1)])
        self.assertEqual(c.execute("SELECT vector_extract(e), e FROM nr WHERE id = 1").fetchall(),
                         [("[0.5,-1]", f32le([0.5, -1]))])
        other = libsql.connect(_server.url, auth_token=_server.tokens["rw"])
        self.assertEqual(other.execute("SELECT count(*) FROM nr").fetchone(), (3,))
        other.close()

    def test_reals_bit_for_bit(self):
        row = self.conn.execute("SELECT " + ", ".join("?" * len(REALS)), REALS).fetchone()
        for x, y in zip(REALS, row):
            self.assertEqual(bits(y), bits(x), f"{x!r} came back as {y!r}")

    def test_many_rows_stream_through_the_cursor(self):
        rows = self.conn.execute(
            "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 20000) "
            "SELECT i, printf('row %d', i) FROM s").fetchall()
        self.assertEqual(len(rows), 20000)
        self.assertEqual(sum(r[0] for r in rows), 20000 * 20001 // 2)
        self.assertEqual(rows[-1], (20000, "row 20000"))

    def test_rollback(self):
        c = self.conn
        c.execute("CREATE TABLE nr_rb (x)")
        c.commit()
        c.execute("INSERT INTO nr_rb VALUES (1)")
        c.rollback()
        self.assertEqual(c.execute("SELECT count(*) FROM nr_rb").fetchone(), (0,))

    def test_error(self):
        with self.assertRaises(Exception) as cm:
            self.conn.execute("SELEC 1")
        self.assertIn("syntax error", str(cm.exception).lower())


class NativeReplica(unittest.TestCase):
    """`libsql` 0.1.11 embedded replica: sync v2 only (no fallback), forwarded writes, offline push."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="edgelite-pyrep-")
        self.primary = libsql_client.create_client_sync(_server.url, auth_token=_server.tokens["rw"])
        self.t = f"pr_{uuid.uuid4().hex[:8]}"

    def tearDown(self):
        self.primary.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def replica(self, name, **kw):
        return libsql.connect(os.path.join(self.dir, name), sync_url=_server.url,
                              auth_token=_server.tokens["rw"], **kw)

    def primary_rows(self, sql):
        return [r.astuple() for r in self.primary.execute(sql).rows]

    def test_sync_local_reads_forwarded_write(self):
        t = self.t
        self.primary.batch([f"CREATE TABLE {t} (id INTEGER PRIMARY KEY, name TEXT, region TEXT)",
                            f"INSERT INTO {t} VALUES (1, 'Amal', 'mena'), (2, 'Bert', 'eu'), (3, 'Chadi', 'mena')"])
        conn = self.replica("r.db")
        conn.sync()
        q = f"SELECT id, name FROM {t} WHERE region = ? ORDER BY id"
        self.assertEqual(conn.execute(q, ("mena",)).fetchall(), [(1, "Amal"), (3, "Chadi")])

        self.primary.execute(f"INSERT INTO {t} VALUES (4, 'Dana', 'mena')")
        self.assertEqual(conn.execute(q, ("mena",)).fetchall(), [(1, "Amal"), (3, "Chadi")], "reads are local")
        conn.sync()
        self.assertEqual(conn.execute(q, ("mena",)).fetchall(), [(1, "Amal"), (3, "Chadi"), (4, "Dana")])

        conn.execute(f"INSERT INTO {t} VALUES (?, ?, ?)", (5, "Eman", "mena"))
        conn.commit()
        self.assertEqual(conn.execute(f"SELECT name FROM {t} WHERE id = 5").fetchall(), [("Eman",)],
                         "read-your-writes")
        self.assertEqual(self.primary_rows(f"SELECT name, region FROM {t} WHERE id = 5"), [("Eman", "mena")])

    def test_replica_rollback_is_not_applied(self):
        t = self.t
        self.primary.execute(f"CREATE TABLE {t} (id INTEGER PRIMARY KEY, v TEXT)")
        conn = self.replica("rb.db")
        conn.sync()
        conn.execute(f"INSERT INTO {t} VALUES (1, 'kept')")
        conn.commit()
        conn.execute(f"INSERT INTO {t} VALUES (2, 'dropped')")
        conn.execute(f"UPDATE {t} SET v = 'changed' WHERE id = 1")
        conn.rollback()
        conn.sync()
        self.assertEqual(self.primary_rows(f"SELECT id, v FROM {t} ORDER BY id"), [(1, "kept")])
        self.assertEqual(conn.execute(f"SELECT id, v FROM {t} ORDER BY id").fetchall(), [(1, "kept")])

    def test_sync_interval_pulls_in_the_background(self):
        t = self.t
        self.primary.execute(f"CREATE TABLE {t} (x INTEGER)")
        conn = self.replica("interval.db", sync_interval=1)
        conn.sync()
        self.primary.execute(f"INSERT INTO {t} VALUES (42)")
        deadline = time.time() + 15
        while conn.execute(f"SELECT count(*) FROM {t}").fetchone() == (0,) and time.time() < deadline:
            time.sleep(0.1)
        self.assertEqual(conn.execute(f"SELECT x FROM {t}").fetchall(), [(42,)], "no sync() call: the interval pulled it")

    def test_behind_several_generations(self):
        t = self.t
        self.primary.batch([f"CREATE TABLE {t} (id INTEGER PRIMARY KEY, v TEXT)",
                            f"INSERT INTO {t} VALUES (1, 'g0')"])
        conn = self.replica("behind.db")
        conn.sync()
        gen = _server.info()["current_generation"]
        for k in range(1, 4):
            self.primary.batch([f"INSERT INTO {t} VALUES ({k + 1}, 'g{k}')",
                                f"UPDATE {t} SET v = v || '+' WHERE id = 1"])
            nxt = _server.checkpoint()
            self.assertGreater(nxt, gen)
            gen = nxt
        self.primary.execute(f"INSERT INTO {t} VALUES (10, 'last')")
        self.assertEqual(conn.execute(f"SELECT count(*) FROM {t}").fetchone(), (1,))
        conn.sync()
        want = self.primary_rows(f"SELECT id, v FROM {t} ORDER BY id")
        self.assertEqual(want, [(1, "g0+++"), (2, "g1"), (3, "g2"), (4, "g3"), (10, "last")])
        self.assertEqual(conn.execute(f"SELECT id, v FROM {t} ORDER BY id").fetchall(), want)
        self.assertEqual(conn.execute("PRAGMA integrity_check").fetchall(), [("ok",)])

    def test_offline_push_and_conflict(self):
        t = self.t
        self.primary.batch([f"CREATE TABLE {t} (id INTEGER PRIMARY KEY, who TEXT)",
                            f"INSERT INTO {t} VALUES (1, 'primary-1')"])
        conn = self.replica("off.db", offline=True)
        conn.sync()
        self.assertEqual(conn.execute(f"SELECT who FROM {t}").fetchall(), [("primary-1",)])

        conn.execute(f"INSERT INTO {t} VALUES (2, 'offline-1')")
        conn.commit()
        self.assertEqual(self.primary_rows(f"SELECT count(*) FROM {t}"), [(1,)], "offline writes stay local")
        conn.sync()
        self.assertEqual(self.primary_rows(f"SELECT id, who FROM {t} ORDER BY id"),
                         [(1, "primary-1"), (2, "offline-1")])

        self.primary.execute(f"INSERT INTO {t} VALUES (3, 'primary-2')")
        conn.execute(f"INSERT INTO {t} VALUES (4, 'offline-2')")
        conn.commit()
        with self.assertRaises(Exception) as cm:
            conn.sync()
        self.assertIn("conflict", str(cm.exception).lower())
        self.assertEqual(self.primary_rows(f"SELECT id, who FROM {t} ORDER BY id"),
                         [(1, "primary-1"), (2, "offline-1"), (3, "primary-2")])


if __name__ == "__main__":
    unittest.main()
