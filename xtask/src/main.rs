//! `cargo xtask <task>`: the routine maintenance tasks of edgelite.
//!
//! - `patch`: regenerate `sqlite3-src/patched/sqlite3.c` from upstream and `sqlite3-src/patches/`.
//! - `bindings`: regenerate `crates/edgelite-sys/bindings/bindgen.rs` (needs libclang).
//! - `upgrade [LIBSQLITE3_SYS_VERSION] [NPM_SQLITE3_VERSION]`: bump upstream SQLite.
//! - `demo`: build the shell and run it on a demo database.
//! - `dataset RAW_DIR [OUT_DIR]`: make the shipped `datasets/minilm-20k/` from the raw set (see
//!   that folder's README); run it with `--release`, the ground truth is 3.8 G multiply-adds.

use std::process::{Command, ExitCode};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("patch") => patch(),
        Some("bindings") => run(Command::new("cargo")
            .args(["test", "--quiet", "-p", "edgelite-sys", "--test", "bindings"])
            .env("EDGELITE_BLESS", "1")),
        Some("upgrade") => run(Command::new(xtask::sqlite_src().join("upgrade.sh")).args(&args[1..])),
        Some("demo") => demo(),
        Some("dataset") if args.len() >= 2 => dataset(&args[1], args.get(2)),
        _ => {
            eprintln!(
                "usage: cargo xtask patch | bindings | upgrade [SYS_VERSION] [NPM_VERSION] | demo | dataset RAW_DIR [OUT_DIR]"
            );
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

type Result<T = (), E = Box<dyn std::error::Error>> = std::result::Result<T, E>;

fn patch() -> Result {
    let text = xtask::patched_amalgamation()?;
    let out = xtask::sqlite_src().join("patched/sqlite3.c");
    std::fs::write(&out, text)?;
    println!("wrote {}", out.display());
    Ok(())
}

fn demo() -> Result {
    let root = xtask::workspace_root();
    let db = root.join("target/demo.db");
    let _ = std::fs::remove_file(&db);
    let script = std::fs::File::open(root.join("examples/demo.sql"))?;
    run(Command::new("cargo")
        .current_dir(&root)
        .args(["run", "--quiet", "--release", "-p", "edgelite-shell", "--"])
        .args(["-box", "-echo"])
        .arg(&db)
        .stdin(script))
}

fn dataset(raw: &str, out: Option<&String>) -> Result {
    let out = out.map_or_else(|| xtask::workspace_root().join("datasets/minilm-20k"), std::path::PathBuf::from);
    let done = xtask::dataset::convert(std::path::Path::new(raw), &out)?;
    for (path, bytes) in &done.files {
        println!("wrote {} ({bytes} bytes)", path.display());
    }
    println!(
        "the raw ground truth's recall@10 against the recomputed one: {:.4} ({} of the queries' top-10 changed)",
        done.raw_gt_recall_at_10, done.queries_changed_at_10
    );
    Ok(())
}

fn run(cmd: &mut Command) -> Result {
    let status = cmd.status()?;
    if status.success() { Ok(()) } else { Err(format!("{cmd:?} failed: {status}").into()) }
}
