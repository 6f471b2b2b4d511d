//! The `edgelite` binary is upstream's sqlite3 shell: dot-commands, modes, import/export,
//! archives and recovery all work, over the edgelite core.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn work_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("create work dir");
    dir
}

/// Runs the shell in `dir` on `db` with `script` on standard input; returns (status, stdout, stderr).
fn shell(dir: &Path, args: &[&str], script: &str) -> (bool, String, String) {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_edgelite"))
        .current_dir(dir)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the shell");
    child.stdin.take().expect("stdin").write_all(script.as_bytes()).expect("write script");
    let out = child.wait_with_output().expect("shell exits");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn runs_a_script_of_dot_commands_over_the_edgelite_core() {
    let dir = work_dir("script");
    fs::write(dir.join("people.csv"), "id,name\n1,alpha\n2,beta\n3,gamma\n").expect("csv");
    let script = "\
.bail on
.import --csv people.csv people
.tables
.mode list
.headers off
SELECT edgelite_version(), sqlite_version();
SELECT group_concat(name, '+') FROM (SELECT name FROM people ORDER BY id);
.mode csv
.headers on
.once out.csv
SELECT id, upper(name) AS name FROM people WHERE id >= 2 ORDER BY id;
.mode box
SELECT count(*) AS n FROM people;
.dump people
";
    let (ok, out, err) = shell(&dir, &["people.db"], script);
    assert!(ok, "shell failed: {err}");
    assert!(err.is_empty(), "unexpected stderr: {err}");
    assert!(out.contains("people\n"), ".tables lists the imported table: {out}");
    assert!(out.contains("0.1.0|3.54.1\n"), "edgelite's functions in the shell: {out}");
    assert!(out.contains("alpha+beta+gamma\n"), "{out}");
    assert!(out.contains("│ 3 │"), "box mode: {out}");
    assert!(out.contains("INSERT INTO people VALUES(2,'beta');"), ".dump: {out}");
    assert_eq!(
        fs::read_to_string(dir.join("out.csv")).expect(".once wrote out.csv"),
        "id,name\r\n2,BETA\r\n3,GAMMA\r\n"
    ); // RFC 4180 line ends, as sqlite3 writes them
}

#[test]
fn archive_recover_and_dbinfo_work() {
    let dir = work_dir("archive");
    fs::write(dir.join("note.txt"), "edge").expect("file");
    let (ok, out, err) = shell(&dir, &["-A", "-c", "-f", "notes.sqlar", "note.txt"], "");
    assert!(ok, "archive create: {out}{err}");
    let (ok, out, err) = shell(&dir, &["notes.sqlar"], ".bail on\n.archive -t\n.dbinfo\n");
    assert!(ok, "archive list / dbinfo: {err}");
    assert!(out.contains("note.txt"), "{out}");
    assert!(out.contains("database page size:"), "{out}");

    let (ok, _, err) = shell(&dir, &["lost.db"], "CREATE TABLE t(x); INSERT INTO t VALUES ('kept');\n");
    assert!(ok, "{err}");
    let (ok, out, err) = shell(&dir, &["lost.db"], ".recover\n");
    assert!(ok, "recover: {err}");
    assert!(out.contains("'kept'"), "{out}");
}

#[test]
fn errors_are_reported_with_the_shells_wording() {
    let dir = work_dir("errors");
    let (ok, _, err) = shell(&dir, &[":memory:"], ".bail on\nSELECT * FROM nowhere;\n");
    assert!(!ok);
    assert!(err.contains("no such table: nowhere"), "{err}");
}
