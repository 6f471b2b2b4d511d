//! The published libSQL clients against this binary: npm `@libsql/client` (with its native
//! `libsql`) and PyPI `libsql` and `libsql-client`, pinned in `tests/server`, run unchanged by
//! `tests/server/run.js`, which starts its own servers on loopback ports and ends with
//! "N passed, N failed" (see `tests/server/README.md`). `.ci/run` installs the clients; without
//! them this test fails and says how to install them.

use std::path::Path;
use std::process::Command;

#[test]
fn the_published_libsql_clients_work_unchanged() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/server");
    assert!(
        dir.join("node_modules/@libsql/client").is_dir(),
        "the npm client is missing: run `npm ci --prefix tests/server` (as .ci/run does)"
    );
    assert!(
        dir.join(".venv/bin/python").exists(),
        "the Python clients are missing: run `python3 -m venv tests/server/.venv && \
         tests/server/.venv/bin/pip install -r tests/server/requirements.txt` (as .ci/run does)"
    );
    let out = Command::new("node")
        .arg(dir.join("run.js"))
        .env("EDGELITE_SERVER", env!("CARGO_BIN_EXE_edgelite-server"))
        .output()
        .expect("run node (Node.js 20 or later)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let summary = stdout.lines().rev().find(|l| l.contains(" passed, ")).unwrap_or("no summary line");
    assert!(
        out.status.success(),
        "tests/server/run.js failed ({summary}):\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    println!("tests/server/run.js: {summary}");
}
