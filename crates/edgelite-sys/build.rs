//! Compiles edgelite's SQLite core (the patched amalgamation plus our C glue) with the one list of
//! compile-time options in `sqlite3-src/compile-options.txt`.

use std::env;
use std::path::PathBuf;

#[cfg(feature = "buildtime_bindgen")]
#[path = "build/bindings.rs"]
mod bindings;
#[path = "build/options.rs"]
mod options;

fn main() {
    let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let src = manifest.join("../../sqlite3-src");
    let upstream = src.join("upstream");
    let ext = src.join("ext");
    let amalgamation = src.join("patched/sqlite3.c");
    let options_file = src.join("compile-options.txt");

    let mut build = cc::Build::new();
    build
        .file(&amalgamation)
        .file(ext.join("edgelite.c"))
        .include(&upstream)
        .include(&ext)
        // SQLite's own code is not ours to lint; its warnings are noise in every build.
        .warnings(false);
    for (name, value) in options::compile_options(&options_file) {
        build.define(&name, value.as_deref());
    }
    // Not in compile-options.txt because a pristine upstream build must not have it: upstream's
    // hook for one more built-in extension, which every new connection runs as it runs FTS5's
    // and R*Tree's registration (sqlite3-src/ext/edgelite.c).
    build.define("SQLITE_EXTRA_AUTOEXT", "edgelite_builtin_init");
    build.compile("edgelite_sqlite3");

    let target_os = env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if target_os != "windows" {
        println!("cargo:rustc-link-lib=m");
        println!("cargo:rustc-link-lib=pthread");
        if target_os == "linux" {
            println!("cargo:rustc-link-lib=dl");
        }
    }

    // For dependents (`DEP_SQLITE3_INCLUDE`, as libsqlite3-sys publishes it): the shell compiles
    // shell.c against the same header.
    println!("cargo:include={}", upstream.display());
    println!("cargo:options={}", options_file.display());
    let inputs = [
        &amalgamation,
        &options_file,
        &ext.join("edgelite.c"),
        &ext.join("edgelite.h"),
        // included into the amalgamation by patches 0001, 0002, 0003 and 0007
        &ext.join("edgelite_vector_index.c"),
        &ext.join("edgelite_vector_planner.c"),
        &ext.join("edgelite_step_hook.c"),
        &ext.join("edgelite_func_progress.c"),
        &manifest.join("build/options.rs"),
    ];
    for input in inputs {
        println!("cargo:rerun-if-changed={}", input.display());
    }
    println!("cargo:rerun-if-changed={}", upstream.join("sqlite3.h").display());

    #[cfg(feature = "buildtime_bindgen")]
    {
        let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
        let text = bindings::generate(&manifest.join("wrapper.h"), &upstream);
        std::fs::write(out.join("bindgen.rs"), text).expect("write OUT_DIR/bindgen.rs");
        println!("cargo:rerun-if-changed=build/bindings.rs");
        println!("cargo:rerun-if-changed=wrapper.h");
    }
}
