//! Compiles upstream's shell.c against the core's header, with its `main` renamed so that the
//! Rust binary can call it.

use std::path::PathBuf;

fn main() {
    // Published by edgelite-sys's build script (links = "sqlite3").
    let include = PathBuf::from(std::env::var("DEP_SQLITE3_INCLUDE").expect("edgelite-sys publishes its include dir"));
    let shell_c = include.join("shell.c");

    let mut build = cc::Build::new();
    build
        .file(&shell_c)
        .include(&include)
        .define("main", "edgelite_shell_main")
        // The shell's optional parts that depend on the core being built with them.
        .define("SQLITE_ENABLE_DBPAGE_VTAB", None)
        .define("SQLITE_ENABLE_DBSTAT_VTAB", None)
        .define("SQLITE_ENABLE_STMT_SCANSTATUS", None)
        .define("SQLITE_ENABLE_BYTECODE_VTAB", None)
        .define("SQLITE_HAVE_ZLIB", None) // .archive and the zipfile table
        .warnings(false);

    // Line editing when the host has GNU readline, as Debian's sqlite3 has it.
    let readline = std::path::Path::new("/usr/include/readline/readline.h").exists();
    if readline {
        build.define("HAVE_READLINE", "1");
    }
    build.compile("edgelite_shell");
    println!("cargo:rustc-link-lib=z");
    if readline {
        println!("cargo:rustc-link-lib=readline");
    }
    println!("cargo:rerun-if-changed={}", shell_c.display());
    println!("cargo:rerun-if-env-changed=DEP_SQLITE3_INCLUDE");
}
