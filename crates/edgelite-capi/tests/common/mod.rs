//! Helpers shared by this crate's tests: where edgelite's built library is, a pristine upstream
//! build to compare with, and running SQL through CPython's sqlite3 module on either.
#![allow(dead_code)] // each test file uses a different subset

#[path = "../../../edgelite-sys/build/options.rs"]
mod options;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
pub fn sqlite_src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sqlite3-src")
}

pub fn tmp_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    fs::create_dir_all(&dir).expect("create test dir");
    dir
}

/// A directory with edgelite's library under its soname, where a loader looks for it.
pub fn edgelite_lib_dir() -> &'static Path {
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

/// Builds `source` (below `sqlite3-src/`) as `<tmp>/<name>/libsqlite3.so.0` with exactly our
/// compile options plus `extra` arguments, and returns the directory.
fn build_shared(name: &str, source: &str, extra: &[String]) -> PathBuf {
    let dir = tmp_dir(name);
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
    cc.args(extra);
    cc.arg(src.join(source)).args(["-lm", "-lpthread", "-ldl"]);
    let status = cc.status().expect("run the C compiler");
    assert!(status.success(), "building {source} failed: {cc:?}");
    dir
}

/// A directory with pristine upstream SQLite (upstream/sqlite3.c, no patches, none of our C)
/// built as a shared library with exactly our compile options.
pub fn upstream_lib_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| build_shared("upstream-lib", "upstream/sqlite3.c", &[]))
}

/// Every `EDGELITE_OMIT_*` guard the core patches use.
pub fn patch_guards() -> Vec<String> {
    let mut guards = std::collections::BTreeSet::new();
    for entry in fs::read_dir(sqlite_src().join("patches")).expect("patches/") {
        let text = fs::read_to_string(entry.expect("entry").path()).expect("read a patch");
        for (i, _) in text.match_indices("EDGELITE_OMIT_") {
            let name: String =
                text[i..].chars().take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_').collect();
            guards.insert(name);
        }
    }
    guards.into_iter().collect()
}

/// A directory with the *patched* amalgamation built as a shared library with every core
/// patch's guard defined (and none of our Rust): PATCHES.md promises that this is stock SQLite.
pub fn guards_off_lib_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let guards = patch_guards();
        assert!(guards.len() >= 2, "the series names its guards: {guards:?}");
        let mut extra: Vec<String> = guards.iter().map(|g| format!("-D{g}")).collect();
        extra.push(format!("-I{}", sqlite_src().join("ext").display()));
        build_shared("guards-off-lib", "patched/sqlite3.c", &extra)
    })
}

/// Runs `script` in the machine's CPython with `lib_dir` searched first for libsqlite3.so.0.
pub fn python(lib_dir: &Path, args: &[&str]) -> String {
    let out = Command::new("python3").args(args).env("LD_LIBRARY_PATH", lib_dir).output().expect("run python3");
    assert!(out.status.success(), "python3 failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf-8 output")
}
