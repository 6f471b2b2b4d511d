//! Long SQL work in the shell: a `CREATE INDEX ... libsql_vector_idx` reports its progress
//! through upstream's `.progress N` (SQLite's progress handler, which the index build calls
//! between rows), and both `.progress --limit` and Ctrl-C (SIGINT, `sqlite3_interrupt`) stop
//! it cleanly: no index, a database that passes `integrity_check`, and a later build works.

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn work_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("create work dir");
    dir
}

/// SQL making table `t` of `rows` random 32-d vectors.
fn fill(rows: u32) -> String {
    format!(
        "CREATE TABLE t(id INTEGER PRIMARY KEY, v F32_BLOB(32));
WITH RECURSIVE g(i, k, s) AS (
  SELECT 1, 1, '[' || ((abs(random()) % 2000 - 1000) / 1000.0)
  UNION ALL
  SELECT iif(k = 32, i + 1, i), iif(k = 32, 1, k + 1),
         iif(k = 32, '[', s || ',') || ((abs(random()) % 2000 - 1000) / 1000.0)
    FROM g WHERE i < {rows} OR k < 32)
INSERT INTO t SELECT i, vector(s || ']') FROM g WHERE k = 32;
"
    )
}

const CREATE: &str = "CREATE INDEX t_v ON t (libsql_vector_idx(v));\n";

/// Starts the shell on `t.db` in `dir`, `script` written to its standard input.
fn start_shell(dir: &Path, script: &str) -> std::process::Child {
    let mut child = Command::new(env!("CARGO_BIN_EXE_edgelite"))
        .current_dir(dir)
        .arg("t.db")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the shell");
    child.stdin.take().expect("stdin").write_all(script.as_bytes()).expect("write script");
    child
}

/// Runs the shell on `t.db` in `dir` with `script`; returns (stdout, stderr).
fn shell(dir: &Path, script: &str) -> (String, String) {
    let child = start_shell(dir, script);
    let out = child.wait_with_output().expect("shell exits");
    (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// After a stopped build: no index, a sound file, and the build then succeeds.
fn check_clean_then_build(dir: &Path) {
    let (out, err) = shell(
        dir,
        &format!(
            "SELECT count(*) FROM sqlite_schema WHERE name = 't_v';\nPRAGMA integrity_check;\n{CREATE}\
             SELECT count(*) FROM vector_top_k('t_v', (SELECT v FROM t WHERE id = 5), 3);\n"
        ),
    );
    assert!(err.is_empty(), "{err}");
    assert_eq!(out, "0\nok\n3\n");
}

#[test]
fn progress_lines_during_a_vector_index_build_and_a_limit_stops_it() {
    let dir = work_dir("progress-limit");
    let (out, err) = shell(&dir, &format!("{}.progress 10\n{CREATE}.progress 0\nDROP INDEX t_v;\n", fill(600)));
    assert!(err.is_empty(), "{err}");
    // The handler runs between the build's rows: many reports, not one at the end.
    let reports = out.lines().filter(|l| l.starts_with("Progress ")).count();
    assert!(reports >= 50, "{reports} progress lines: {out}");

    let (out, err) = shell(&dir, &format!(".progress 10 --limit 20\n{CREATE}"));
    assert!(out.contains("Progress limit reached (20)"), "{out}");
    assert!(err.contains("interrupted"), "{err}");
    check_clean_then_build(&dir);
}

#[test]
fn ctrl_c_stops_a_vector_index_build() {
    let dir = work_dir("progress-sigint");
    let (_, err) = shell(&dir, &fill(3000));
    assert!(err.is_empty(), "{err}");

    let mut child = start_shell(&dir, &format!(".progress 10\n{CREATE}SELECT 'after';\n"));
    // The build has started once progress lines arrive (stdout is a pipe, so they come in
    // buffer-sized bursts): then Ctrl-C, as a terminal would send it.
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let first = lines.next().and_then(Result::ok).unwrap_or_default();
    assert!(first.starts_with("Progress "), "{first}");
    let kill = Command::new("kill").args(["-INT", &child.id().to_string()]).status().expect("kill");
    assert!(kill.success());
    let rest: Vec<String> = lines.map_while(Result::ok).collect();

    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        assert!(start.elapsed() < Duration::from_secs(120), "the shell did not stop");
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut err).expect("stderr");
    assert!(err.contains("interrupted"), "status {status}, stderr: {err}");
    // A piped script stops at the interrupt, as upstream's shell does.
    assert!(!rest.iter().any(|l| l == "after"), "{rest:?}");
    check_clean_then_build(&dir);
}
