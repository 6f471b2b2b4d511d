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
    let config = edgelite_server::Config::new(dir.path().join("srv"), "127.0.0.1:0".into());
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
try:
    c.execute("INSERT INTO t(v) VALUES ('local')")
    c.commit()
    print("written locally")
except sqlite3.OperationalError as e:
    print("refused:", e)
print(c.execute("PRAGMA quick_check").fetchone()[0])
"#
    );
    assert_eq!(
        python(&p, &[], &script),
        "2\nTrue 3\n0\nbackground\nrefused: attempt to write a readonly database\nok\n"
    );

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
    assert_eq!(python(&p, &[("EDGELITE_SYNC_URL", &p.url)], &script), "one,two,three,four\ntwo,three,four\n");

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
