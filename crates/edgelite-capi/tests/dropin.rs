//! The shared library is a drop-in `libsqlite3.so.0`: same soname and SQLite symbols as an
//! upstream build with the same options, loadable by an unmodified program (CPython's sqlite3
//! module), with edgelite's functions on every connection, and answering non-vector SQL exactly
//! as upstream SQLite does.
#![cfg(target_os = "linux")]

#[path = "../../edgelite-sys/build/options.rs"]
mod options;

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

fn sqlite_src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sqlite3-src")
}

fn tmp_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    fs::create_dir_all(&dir).expect("create test dir");
    dir
}

/// A directory with edgelite's library under its soname, where a loader looks for it.
fn edgelite_lib_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        // Cargo builds this package's cdylib into the same deps/ directory as this test binary.
        let exe = std::env::current_exe().expect("current_exe");
        let deps = exe.parent().expect("test binary lives in deps/");
        let built = [deps.join("libsqlite3.so"), deps.join("../libsqlite3.so")]
            .into_iter()
            .find(|p| p.exists())
            .expect("libsqlite3.so built by cargo next to the test binary");
        let dir = tmp_dir("edgelite-lib");
        // A copy, not a link, so that /proc/self/maps names this directory.
        fs::copy(&built, dir.join("libsqlite3.so.0")).expect("copy libsqlite3.so");
        dir
    })
}

/// A directory with pristine upstream SQLite (upstream/sqlite3.c, no patches, none of our C)
/// built as a shared library with exactly our compile options.
fn upstream_lib_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tmp_dir("upstream-lib");
        let out = dir.join("libsqlite3.so.0");
        let src = sqlite_src();
        let mut cc = Command::new(std::env::var("CC").unwrap_or_else(|_| "cc".into()));
        cc.args(["-shared", "-fPIC", "-O1", "-w", "-Wl,-soname,libsqlite3.so.0", "-o"]).arg(&out);
        for (name, value) in options::compile_options(&src.join("compile-options.txt")) {
            cc.arg(match value {
                Some(v) => format!("-D{name}={v}"),
                None => format!("-D{name}"),
            });
        }
        cc.arg(src.join("upstream/sqlite3.c")).args(["-lm", "-lpthread", "-ldl"]);
        let status = cc.status().expect("run the C compiler");
        assert!(status.success(), "building upstream sqlite3.c failed: {cc:?}");
        dir
    })
}

fn dynamic_symbols(lib: &Path) -> BTreeSet<String> {
    let out = Command::new("nm").args(["-D", "--defined-only"]).arg(lib).output().expect("run nm");
    assert!(out.status.success(), "nm failed on {}", lib.display());
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| line.split_whitespace().nth(2))
        .map(|name| name.split('@').next().unwrap_or(name).to_owned())
        .collect()
}

fn soname(lib: &Path) -> String {
    let out = Command::new("readelf").arg("-d").arg(lib).output().expect("run readelf");
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().find(|l| l.contains("(SONAME)")).expect("a SONAME entry");
    line.rsplit('[').next().unwrap_or("").trim_end_matches(']').to_owned()
}

/// Runs `script` in the machine's CPython with `lib_dir` searched first for libsqlite3.so.0.
fn python(lib_dir: &Path, args: &[&str]) -> String {
    let out = Command::new("python3").args(args).env("LD_LIBRARY_PATH", lib_dir).output().expect("run python3");
    assert!(out.status.success(), "python3 failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf-8 output")
}

#[test]
fn soname_and_exported_sqlite_symbols_equal_upstream() {
    let ours = edgelite_lib_dir().join("libsqlite3.so.0");
    let theirs = upstream_lib_dir().join("libsqlite3.so.0");
    assert_eq!(soname(&ours), "libsqlite3.so.0");

    let ours = dynamic_symbols(&ours);
    let theirs = dynamic_symbols(&theirs);
    let sqlite = |set: &BTreeSet<String>| -> BTreeSet<String> {
        set.iter().filter(|s| s.starts_with("sqlite3")).cloned().collect()
    };
    let (ours_api, theirs_api) = (sqlite(&ours), sqlite(&theirs));
    assert!(theirs_api.len() > 250, "upstream exports {} sqlite3 symbols?", theirs_api.len());
    let missing: Vec<_> = theirs_api.difference(&ours_api).collect();
    let extra: Vec<_> = ours_api.difference(&theirs_api).collect();
    assert!(missing.is_empty() && extra.is_empty(), "missing {missing:?}, extra {extra:?}");
    // Upstream exports nothing else; we may add only our own, prefixed names.
    assert!(theirs.iter().all(|s| s.starts_with("sqlite3")), "upstream exports {theirs:?}");
    let foreign: Vec<_> = ours.iter().filter(|s| !s.starts_with("sqlite3") && !s.starts_with("edgelite_")).collect();
    assert!(foreign.is_empty(), "the library leaks symbols: {foreign:?}");
}

#[test]
fn cpython_loads_our_library_and_gets_edgelite_functions() {
    let dir = edgelite_lib_dir();
    let script = r#"
import sqlite3
con = sqlite3.connect(":memory:")
print(sqlite3.sqlite_version)
print(con.execute("select edgelite_version()").fetchone()[0])
con.execute("create table t(x)")
con.executemany("insert into t values (?)", [(i,) for i in range(100)])
print(con.execute("select sum(x) from t").fetchone()[0])
maps = open("/proc/self/maps").read().splitlines()
print(sorted({l.split()[-1] for l in maps if "libsqlite3" in l}))
"#;
    let out = python(dir, &["-c", script]);
    let lines: Vec<&str> = out.lines().collect();
    let ours = fs::canonicalize(dir.join("libsqlite3.so.0")).expect("canonical path");
    assert_eq!(lines, ["3.54.1", "0.1.0", "4950", &format!("['{}']", ours.display())]);
}

#[test]
fn non_vector_sql_answers_exactly_as_upstream() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/run_sql.py");
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/differential.sql");
    let args = [script.to_str().expect("utf-8 path"), corpus.to_str().expect("utf-8 path")];
    let ours = python(edgelite_lib_dir(), &args);
    let theirs = python(upstream_lib_dir(), &args);

    let ours: Vec<&str> = ours.lines().collect();
    let theirs: Vec<&str> = theirs.lines().collect();
    assert_eq!(ours[0], r#"{"sqlite_version": "3.54.1"}"#);
    assert_eq!(ours[0], theirs[0]);
    assert!(ours.len() > 300, "the corpus should hold a few hundred statements, ran {}", ours.len() - 1);
    let errors = ours.iter().filter(|l| l.contains(r#""error": "#)).count();
    assert!(errors >= 30, "the corpus should exercise errors too, saw {errors}");
    for (i, (a, b)) in ours.iter().zip(&theirs).enumerate() {
        assert_eq!(a, b, "statement {i} differs (left: edgelite, right: upstream)");
    }
    assert_eq!(ours.len(), theirs.len());
}
