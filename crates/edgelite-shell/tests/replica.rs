//! The shell as an embedded replica, as the drop-in library is: `file:...?sync_url=...` and
//! `EDGELITE_SYNC_URL`, against a real edgelite-server primary (in process, on loopback).
#![allow(clippy::unwrap_used)]

use std::process::{Command, Output};

use edgelite::params;
use edgelite::replica::Builder;

fn shell(args: &[&str], envs: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_edgelite")).args(args).envs(envs.iter().copied()).output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn the_shell_opens_a_replica_by_uri_and_by_environment() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = edgelite_server::Config::new(dir.path().join("srv"), "127.0.0.1:0".into());
    let _running = rt.block_on(edgelite_server::start(config)).unwrap();
    let url = format!("http://{}", _running.http_addr);
    let writer = Builder::new_remote_replica(dir.path().join("writer.db"), &url, "").build().unwrap();
    writer.execute("CREATE TABLE t(x)", params![]).unwrap();
    writer.execute("INSERT INTO t VALUES (1), (2), (3)", params![]).unwrap();

    let encoded = url.replace(':', "%3A").replace('/', "%2F");
    let db = dir.path().join("sh.db");
    let uri = format!("file:{}?sync_url={encoded}&sync_interval=0", db.display());
    let o = shell(&[&uri, "SELECT count(*) FROM t; SELECT edgelite_sync();"], &[]);
    assert!(o.status.success(), "{o:?}");
    assert_eq!(stdout(&o), "3\n0\n");

    writer.execute("INSERT INTO t VALUES (4)", params![]).unwrap();
    let o = shell(&[&uri, "SELECT sum(x) FROM t;"], &[]);
    assert_eq!(stdout(&o), "10\n", "{o:?}");
    // Writes run on the primary, and the shell's next statement reads them; the primary's
    // error comes back with its message.
    let o =
        shell(&[&uri, "INSERT INTO t VALUES (5); BEGIN; INSERT INTO t VALUES (6); COMMIT; SELECT sum(x) FROM t;"], &[]);
    assert!(o.status.success(), "{o:?}");
    assert_eq!(stdout(&o), "21\n", "{o:?}");
    let o = shell(&[&uri, "INSERT INTO nosuch VALUES (1);"], &[]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("no such table: nosuch"), "{o:?}");
    writer.sync().unwrap();
    let sum: i64 = writer.connect().unwrap().query_row("SELECT sum(x) FROM t", [], |r| r.get(0)).unwrap();
    assert_eq!(sum, 21);

    let plain = dir.path().join("env.db");
    let o = shell(&[plain.to_str().unwrap(), "SELECT group_concat(x) FROM t;"], &[("EDGELITE_SYNC_URL", &url)]);
    assert_eq!(stdout(&o), "1,2,3,4,5,6\n", "{o:?}");
    // Without the variable, the same file opens as the ordinary database it is.
    let o = shell(&[plain.to_str().unwrap(), "SELECT count(*) FROM t;"], &[]);
    assert_eq!(stdout(&o), "6\n", "{o:?}");
}
