//! The C core's inputs are what we say they are: upstream byte for byte, and the committed
//! patched amalgamation reproducible from it.

use sha2::{Digest, Sha256};
use std::fs;

#[test]
fn upstream_files_match_their_recorded_checksums() {
    let upstream = xtask::sqlite_src().join("upstream");
    let sums = fs::read_to_string(upstream.join("SHA256SUMS")).expect("SHA256SUMS");
    let mut checked = Vec::new();
    for line in sums.lines().filter(|l| !l.trim().is_empty()) {
        let (want, name) = line.split_once("  ").expect("sha256sum format: HASH  NAME");
        let bytes = fs::read(upstream.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        let got: String = Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(got, want, "{name} differs from the released file recorded in SHA256SUMS");
        checked.push(name.to_owned());
    }
    checked.sort();
    assert_eq!(checked, ["shell.c", "sqlite3.c", "sqlite3.h", "sqlite3ext.h"]);
}

#[test]
fn version_file_names_the_header_version() {
    let upstream = xtask::sqlite_src().join("upstream");
    let header = fs::read_to_string(upstream.join("sqlite3.h")).expect("sqlite3.h");
    let version = header
        .lines()
        .find_map(|l| l.strip_prefix("#define SQLITE_VERSION "))
        .map(|v| v.trim().trim_matches('"').to_owned())
        .expect("SQLITE_VERSION in sqlite3.h");
    let recorded = fs::read_to_string(upstream.join("VERSION")).expect("VERSION");
    assert_eq!(recorded.lines().next(), Some(format!("sqlite {version}").as_str()));
}

#[test]
fn committed_patched_amalgamation_is_upstream_plus_the_series() {
    let expected = xtask::patched_amalgamation().expect("the patch series applies to upstream");
    let committed = fs::read_to_string(xtask::sqlite_src().join("patched/sqlite3.c")).expect("patched/sqlite3.c");
    // Compare lengths first so that a failure does not print 9 MB.
    assert_eq!(committed.len(), expected.len(), "patched/sqlite3.c is stale: run `cargo xtask patch`");
    assert!(committed == expected, "patched/sqlite3.c is stale: run `cargo xtask patch`");
}

#[test]
fn every_series_patch_is_guarded_and_numbered() {
    let series = xtask::read_series(&xtask::sqlite_src().join("patches")).expect("read patches");
    for patch in &series {
        let number = patch.name.split('-').next().unwrap_or("");
        assert!(
            number.len() == 4 && number.bytes().all(|b| b.is_ascii_digit()),
            "{}: name it NNNN-what.patch",
            patch.name
        );
        let parsed = diffy::Patch::from_str(&patch.diff).expect("a unified diff");
        if let Err(why) = xtask::check_guards(&parsed) {
            panic!("{}: {why}", patch.name);
        }
    }
}

#[test]
fn the_applier_applies_a_guarded_patch_and_refuses_bad_ones() {
    let upstream = "int a;\nint b;\nint c;\n";
    let good = xtask::CorePatch {
        name: "0001-demo.patch".into(),
        diff: "--- a/sqlite3.c\n+++ b/sqlite3.c\n@@ -1,3 +1,6 @@\n int a;\n+#ifndef EDGELITE_OMIT_DEMO\n+int edgelite;\n+#endif\n int b;\n int c;\n".into(),
    };
    let out = xtask::apply_series(upstream, std::slice::from_ref(&good)).expect("applies");
    assert_eq!(out, "int a;\n#ifndef EDGELITE_OMIT_DEMO\nint edgelite;\n#endif\nint b;\nint c;\n");

    let stale = xtask::apply_series("int x;\nint y;\n", &[good]);
    assert!(matches!(stale, Err(xtask::PatchError::Apply(..))), "{stale:?}");

    let unguarded = xtask::CorePatch {
        name: "0002-bad.patch".into(),
        diff: "--- a/sqlite3.c\n+++ b/sqlite3.c\n@@ -1,1 +1,2 @@\n int a;\n+int b2;\n".into(),
    };
    assert!(matches!(xtask::apply_series(upstream, &[unguarded]), Err(xtask::PatchError::Unguarded(..))));

    // every hunk, not every patch: a guarded hunk does not cover an unguarded one, a guard must
    // close, and upstream lines are never removed
    let bad = |diff: &str| {
        let patch = xtask::CorePatch { name: "0003-bad.patch".into(), diff: diff.into() };
        let got = xtask::apply_series(upstream, &[patch]);
        assert!(matches!(got, Err(xtask::PatchError::Unguarded(..))), "{diff}: {got:?}");
    };
    bad(
        "--- a/sqlite3.c\n+++ b/sqlite3.c\n@@ -1,1 +1,4 @@\n int a;\n+#ifndef EDGELITE_OMIT_DEMO\n+int e;\n+#endif\n@@ -3,1 +6,2 @@\n int c;\n+int d;\n",
    );
    bad("--- a/sqlite3.c\n+++ b/sqlite3.c\n@@ -1,1 +1,3 @@\n int a;\n+#ifndef EDGELITE_OMIT_DEMO\n+int e;\n");
    bad("--- a/sqlite3.c\n+++ b/sqlite3.c\n@@ -1,2 +1,1 @@\n int a;\n-int b;\n");
    bad("--- a/sqlite3.c\n+++ b/sqlite3.c\n@@ -1,1 +1,4 @@\n int a;\n+#ifdef SOMETHING_ELSE\n+int e;\n+#endif\n");
    bad(
        "--- a/sqlite3.c\n+++ b/sqlite3.c\n@@ -1,1 +1,5 @@\n int a;\n+#ifndef EDGELITE_OMIT_DEMO\n+int e;\n+#endif\n+int f;\n",
    );
}
