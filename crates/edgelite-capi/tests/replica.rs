//! Zero-change replication through the drop-in library: CPython's own `sqlite3` module, loading
//! our `libsqlite3.so.0`, opens `file:...?sync_url=...` (or a plain path with
//! `EDGELITE_SYNC_URL` set) and gets an embedded replica of a real edgelite-server primary.
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used)]

mod common;

use std::process::Command;

use common::edgelite_lib_dir;
use edgelite::params;
use edgelite::replica::Builder;

/// The primary (in process, on loopback) and a replica that forwards the test's writes to it.
struct Primary {
    _rt: tokio::runtime::Runtime,
    _running: edgelite_server::Running,
    url: String,
    dir: tempfile::TempDir,
}

fn primary() -> Primary {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut config = edgelite_server::Config::new(dir.path().join("srv"), "127.0.0.1:0".into());
    // Longer than a writer's 5 s busy timeout: a transaction a replica left open on the
    // primary makes another writer fail (SQLITE_BUSY), not wait for the timeout to end it.
    config.limits.txn_timeout = std::time::Duration::from_secs(60);
    let running = rt.block_on(edgelite_server::start(config)).unwrap();
    let url = format!("http://{}", running.http_addr);
    Primary { _rt: rt, _running: running, url, dir }
}

/// CPython's sqlite3, unchanged, on our library; `script` gets the primary's URL and a
/// directory as argv[1] and argv[2]. Returns stdout; a failing script fails the test.
fn python(p: &Primary, envs: &[(&str, &str)], script: &str) -> String {
    let out = Command::new("python3")
        .args(["-c", script, &p.url, p.dir.path().to_str().unwrap()])
        .env("LD_LIBRARY_PATH", edgelite_lib_dir())
        .envs(envs.iter().copied())
        .output()
        .unwrap();
    assert!(out.status.success(), "python3: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// Writes to the primary from inside the script (Hrana over HTTP, the standard library only).
const PRELUDE: &str = r#"
import json, os, sqlite3, sys, time, urllib.parse, urllib.request
url, dir = sys.argv[1], sys.argv[2]
def primary(sql):
    body = json.dumps({"baton": None, "requests": [{"type": "execute", "stmt": {"sql": sql}}, {"type": "close"}]})
    r = urllib.request.urlopen(urllib.request.Request(url + "/v2/pipeline", body.encode(), {"content-type": "application/json"}))
    assert json.load(r)["results"][0]["type"] == "ok"
"#;

#[test]
fn cpython_opens_a_replica_by_uri_and_by_environment() {
    let p = primary();
    let writer = Builder::new_remote_replica(p.dir.path().join("writer.db"), &p.url, "").build().unwrap();
    writer.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)", params![]).unwrap();
    writer.execute("INSERT INTO t(v) VALUES ('one'), ('two')", params![]).unwrap();

    let script = format!(
        "{PRELUDE}{}",
        r#"
uri = "file:" + os.path.join(dir, "py.db") + "?sync_url=" + urllib.parse.quote(url, safe="") + "&sync_interval=0.1"
c = sqlite3.connect(uri, uri=True)
# a new file: bootstrapped and synced before connect() returned
print(c.execute("SELECT count(*) FROM t").fetchone()[0])
primary("INSERT INTO t(v) VALUES ('three')")
print(c.execute("SELECT edgelite_sync()").fetchone()[0] > 0, c.execute("SELECT count(*) FROM t").fetchone()[0])
print(c.execute("SELECT edgelite_sync()").fetchone()[0])
# the background sync
primary("INSERT INTO t(v) VALUES ('four')")
deadline = time.time() + 20
while c.execute("SELECT count(*) FROM t").fetchone()[0] != 4:
    assert time.time() < deadline, "no background sync"
    time.sleep(0.02)
print("background")
# a write runs on the primary, and this connection reads it at once
c.execute("INSERT INTO t(v) VALUES ('five')")
c.commit()
print("forwarded", c.execute("SELECT count(*) FROM t").fetchone()[0])
print(c.execute("PRAGMA quick_check").fetchone()[0])
"#
    );
    assert_eq!(python(&p, &[], &script), "2\nTrue 3\n0\nbackground\nforwarded 5\nok\n");

    // A plain path, the primary named by the environment; a reopen resumes.
    let script = format!(
        "{PRELUDE}{}",
        r#"
c = sqlite3.connect(os.path.join(dir, "env.db"))
print(c.execute("SELECT group_concat(v) FROM t").fetchone()[0])
c.close()
primary("DELETE FROM t WHERE v = 'one'")
c = sqlite3.connect(os.path.join(dir, "env.db"))
print(c.execute("SELECT group_concat(v) FROM t").fetchone()[0])
"#
    );
    assert_eq!(python(&p, &[("EDGELITE_SYNC_URL", &p.url)], &script), "one,two,three,four,five\ntwo,three,four,five\n");

    // An unreachable primary fails the open with a clear reason, and nothing else opens.
    let out = Command::new("python3")
        .args(["-c", "import sqlite3, sys; sqlite3.connect(sys.argv[1]).execute('SELECT 1')"])
        .arg(p.dir.path().join("nowhere.db"))
        .env("LD_LIBRARY_PATH", edgelite_lib_dir())
        .env("EDGELITE_SYNC_URL", "http://127.0.0.1:9")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("cannot reach the primary at http://127.0.0.1:9"), "{stderr}");
    assert!(stderr.contains("unable to open database file"), "{stderr}");
}

/// Writes through the replica's connection, in every form CPython's `sqlite3` issues them, run
/// on the primary: the primary's own copy (read through another replica) is the proof.
#[test]
fn cpython_writes_through_a_replica_run_on_the_primary() {
    let p = primary();
    let writer = Builder::new_remote_replica(p.dir.path().join("writer.db"), &p.url, "").build().unwrap();
    writer.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)", params![]).unwrap();

    let script = format!(
        "{PRELUDE}{}",
        r#"
uri = "file:" + os.path.join(dir, "rw.db") + "?sync_url=" + urllib.parse.quote(url, safe="") + "&sync_interval=0"
c = sqlite3.connect(uri, uri=True)
# Python's default: an implicit BEGIN before the INSERT, then commit()
cur = c.execute("INSERT INTO t(v) VALUES (?)", ("py1",))
print("rowcount", cur.rowcount, c.in_transaction)
print("inside", c.execute("SELECT count(*) FROM t WHERE v = 'py1'").fetchone()[0])
c.commit()
print("after", c.execute("SELECT count(*) FROM t WHERE v = 'py1'").fetchone()[0], c.in_transaction)
c.execute("INSERT INTO t(v) VALUES ('gone')")
print("before rollback", c.execute("SELECT count(*) FROM t WHERE v = 'gone'").fetchone()[0])
c.rollback()
print("rolled back", c.execute("SELECT count(*) FROM t WHERE v = 'gone'").fetchone()[0])
# autocommit: each statement alone
c.isolation_level = None
cur = c.execute("INSERT INTO t(v) VALUES (:v)", {"v": "auto"})
print("lastrowid", cur.lastrowid == c.execute("SELECT id FROM t WHERE v = 'auto'").fetchone()[0], cur.rowcount)
cur = c.execute("UPDATE t SET v = v || '!' WHERE v IN ('py1', 'auto')")
print("updated", cur.rowcount)
# bound values of every type arrive exactly
c.execute("CREATE TABLE k(i, r, s, b, n)")
vals = (2**62 + 1, 0.1 + 0.2, "h\u00e9llo \u2603", b"\x00\xffz", None)
c.execute("INSERT INTO k VALUES (?, ?, ?, ?, ?)", vals)
print("exact", c.execute("SELECT i = ? AND r = ? AND s = ? AND b = ? AND n IS NULL FROM k", vals[:4]).fetchone()[0])
# the primary's error, with its code
c.execute("CREATE TABLE u(x UNIQUE)")
c.execute("INSERT INTO u VALUES (1)")
try:
    c.execute("INSERT INTO u VALUES (1)")
except sqlite3.IntegrityError as e:
    print("integrity", e.sqlite_errorname, e)
# RETURNING outside a transaction
row = c.execute("INSERT INTO t(v) VALUES ('ret') RETURNING id, v").fetchone()
print("returning", row[1], row[0] == c.execute("SELECT id FROM t WHERE v = 'ret'").fetchone()[0])
# savepoints, the outermost one being the transaction
c.execute("SAVEPOINT a")
c.execute("INSERT INTO t(v) VALUES ('sp1')")
c.execute("SAVEPOINT b")
c.execute("INSERT INTO t(v) VALUES ('sp2')")
c.execute("ROLLBACK TO b")
c.execute("RELEASE a")
print("savepoints", c.execute("SELECT group_concat(v) FROM t WHERE v LIKE 'sp%'").fetchone()[0], c.in_transaction)
# BEGIN IMMEDIATE, many statements, COMMIT
c.execute("BEGIN IMMEDIATE")
c.executemany("INSERT INTO t(v) VALUES (?)", [("m%d" % i,) for i in range(100)])
c.execute("COMMIT")
print("many", c.execute("SELECT count(*) FROM t WHERE v LIKE 'm%'").fetchone()[0])
# a write in a transaction that the primary refuses leaves the transaction usable
c.execute("BEGIN")
c.execute("INSERT INTO t(v) VALUES ('kept')")
try:
    c.execute("INSERT INTO u VALUES (1)")
except sqlite3.IntegrityError as e:
    print("refused in transaction", e.sqlite_errorname)
c.execute("COMMIT")
print(c.execute("PRAGMA quick_check").fetchone()[0])
"#
    );
    assert_eq!(
        python(&p, &[], &script),
        "rowcount 1 True\ninside 1\nafter 1 False\nbefore rollback 1\nrolled back 0\nlastrowid True 1\nupdated 2\n\
         exact 1\nintegrity SQLITE_CONSTRAINT_UNIQUE UNIQUE constraint failed: u.x (on the primary: SQLITE_CONSTRAINT_UNIQUE)\n\
         returning ret True\nsavepoints sp1 False\nmany 100\nrefused in transaction SQLITE_CONSTRAINT_UNIQUE\nok\n"
    );

    // The primary's copy, through another replica.
    writer.sync().unwrap();
    let conn = writer.connect().unwrap();
    let got: String = conn
        .query_row("SELECT group_concat(v, ',') FROM (SELECT v FROM t WHERE v NOT LIKE 'm%' ORDER BY id)", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(got, "py1!,auto!,ret,sp1,kept");
    let many: i64 = conn.query_row("SELECT count(*) FROM t WHERE v LIKE 'm%'", [], |r| r.get(0)).unwrap();
    assert_eq!(many, 100);
    let exact: i64 = conn
        .query_row(
            "SELECT i = 4611686018427387905 AND r = 0.1 + 0.2 AND s = 'h' || char(233) || 'llo ' || char(9731) \
             AND b = X'00FF7A' AND n IS NULL FROM k",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(exact, 1);
}

/// What a program can do to a replica connection that a write must survive: replace
/// `edgelite_sync`, use TEMP tables, write a PRAGMA in a transaction, read a RETURNING write's
/// rows slowly, and lose the primary in the middle of a transaction.
#[test]
fn a_replica_connection_keeps_to_the_primary_under_misuse() {
    use std::io::{BufRead as _, BufReader, Write as _};
    use std::process::Stdio;

    let p = primary();
    let writer = Builder::new_remote_replica(p.dir.path().join("writer.db"), &p.url, "").build().unwrap();
    writer.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)", params![]).unwrap();
    writer.execute("CREATE TABLE shadow(x)", params![]).unwrap();

    // The script prints a line at each step and waits for the test to answer it.
    let script = format!(
        "{PRELUDE}{}",
        r#"
uri = "file:" + os.path.join(dir, "misuse.db") + "?sync_url=" + urllib.parse.quote(url, safe="") + "&sync_interval=0"
c = sqlite3.connect(uri, uri=True, isolation_level=None)
def step(what):
    print(what, flush=True)
    sys.stdin.readline()
# a program's own edgelite_sync() replaces ours; writes go on
c.create_function("edgelite_sync", 0, lambda: -1)
c.execute("INSERT INTO t(v) VALUES ('after redefining')")
print("redefined", c.execute("SELECT edgelite_sync(), count(*) FROM t").fetchone())
# a TEMP table is the replica's own: refused, and the primary's table of that name untouched
try:
    c.execute("CREATE TEMP TABLE shadow(x)")
except sqlite3.OperationalError as e:
    print("temp:", e.sqlite_errorname)
# a PRAGMA that writes, inside a transaction, would change only this replica: refused
c.execute("BEGIN")
c.execute("INSERT INTO t(v) VALUES ('with pragma')")
try:
    c.execute("PRAGMA user_version = 7")
except sqlite3.OperationalError as e:
    print("pragma:", e.sqlite_errorname)
c.execute("COMMIT")
# a RETURNING write read slowly: the primary is not held while the program reads its rows
cur = c.execute("INSERT INTO t(v) VALUES ('r1'), ('r2') RETURNING v")
print("first row", cur.fetchone()[0], flush=True)
step("holding")
print("rest", [r[0] for r in cur.fetchall()])
# the primary goes away in the middle of a transaction: COMMIT fails, nothing is kept
c.execute("BEGIN")
c.execute("INSERT INTO t(v) VALUES ('lost 1')")
step("in transaction")
try:
    c.execute("INSERT INTO t(v) VALUES ('lost 2')")
except sqlite3.Error as e:
    print("second write:", e.sqlite_errorname)
try:
    c.execute("COMMIT")
    print("committed")
except sqlite3.Error as e:
    print("commit:", e.sqlite_errorname)
print("local", c.execute("SELECT count(*) FROM t WHERE v LIKE 'lost%'").fetchone()[0], c.in_transaction)
"#
    );
    let mut child = Command::new("python3")
        .args(["-c", &script, &p.url, p.dir.path().to_str().unwrap()])
        .env("LD_LIBRARY_PATH", edgelite_lib_dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut lines = Vec::new();
    let mut next = |lines: &mut Vec<String>| {
        let mut l = String::new();
        out.read_line(&mut l).unwrap();
        lines.push(l.trim_end().to_owned());
        l.trim_end().to_owned()
    };
    while next(&mut lines) != "holding" {}
    // Another writer gets the primary's write lock while the RETURNING statement is half
    // read (held, it would wait out its 5 s busy timeout and fail with SQLITE_BUSY: the
    // primary's transaction timeout is 60 s here).
    writer.execute("INSERT INTO t(v) VALUES ('other writer')", params![]).unwrap();
    writeln!(stdin, "go").unwrap();
    while next(&mut lines) != "in transaction" {}
    // The primary goes away.
    let Primary { _rt, _running, url: _, dir } = p;
    _rt.block_on(_running.shutdown());
    drop(_running);
    drop(_rt);
    writeln!(stdin, "go").unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
    assert!(child.wait().unwrap().success());
    lines.extend(rest.lines().map(str::to_owned));
    assert_eq!(
        lines,
        [
            "redefined (-1, 1)",
            "temp: SQLITE_READONLY",
            "pragma: SQLITE_READONLY",
            "first row r1",
            "holding",
            "rest ['r2']",
            "in transaction",
            "second write: SQLITE_CANTOPEN",
            "commit: SQLITE_ABORT",
            "local 0 False",
        ]
    );
    drop(dir);
}
