//! The shared library is a drop-in `libsqlite3.so.0`: same soname and SQLite symbols as an
//! upstream build with the same options, loadable by an unmodified program (CPython's sqlite3
//! module), with edgelite's functions on every connection, and answering non-vector SQL exactly
//! as upstream SQLite does.
#![cfg(target_os = "linux")]

mod common;

use common::{edgelite_lib_dir, guards_off_lib_dir, python, upstream_lib_dir};
use std::collections::BTreeSet;
use std::fs;
use std::path::Path;
use std::process::Command;

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

/// The differential corpus run through CPython on the library in `dir`, one JSON line per
/// statement after the version line.
fn corpus_answers(dir: &Path) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/run_sql.py");
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/differential.sql");
    python(dir, &[script.to_str().expect("utf-8 path"), corpus.to_str().expect("utf-8 path")])
}

/// `ours` answers the corpus line for line as upstream does (`who` names ours in a failure).
fn assert_same_answers(ours: &str, who: &str) {
    let theirs = corpus_answers(upstream_lib_dir());
    let (ours, theirs): (Vec<&str>, Vec<&str>) = (ours.lines().collect(), theirs.lines().collect());
    assert!(ours.len() > 300, "the corpus should hold a few hundred statements, ran {}", ours.len() - 1);
    for (i, (a, b)) in ours.iter().zip(&theirs).enumerate() {
        assert_eq!(a, b, "statement {i} differs (left: {who}, right: upstream)");
    }
    assert_eq!(ours.len(), theirs.len());
}

#[test]
fn non_vector_sql_answers_exactly_as_upstream() {
    let ours = corpus_answers(edgelite_lib_dir());
    assert_eq!(ours.lines().next(), Some(r#"{"sqlite_version":"3.54.1"}"#));
    let errors = ours.lines().filter(|l| l.contains(r#""error":"#)).count();
    assert!(errors >= 30, "the corpus should exercise errors too, saw {errors}");
    assert_same_answers(&ours, "edgelite");
}

#[test]
fn the_core_with_every_patch_guard_defined_is_upstream() {
    // PATCHES.md: defining a patch's EDGELITE_OMIT_* guard gives back stock SQLite. The patched
    // amalgamation with all of them answers the differential corpus exactly as upstream does.
    assert_same_answers(&corpus_answers(guards_off_lib_dir()), "patched with every guard");
    // and it is not edgelite: no vector functions
    let probe = python(
        guards_off_lib_dir(),
        &[
            "-c",
            "import sqlite3\ntry:\n sqlite3.connect(':memory:').execute('select vector32(1)')\nexcept sqlite3.OperationalError as e: print(e)",
        ],
    );
    assert!(probe.contains("no such function"), "{probe}");
}
