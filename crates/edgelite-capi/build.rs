//! Link arguments that make the cdylib a drop-in libsqlite3.so.0: its soname, and a version
//! script that exports SQLite's C API (rustc's own script exports only Rust items).

fn main() {
    let manifest = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libsqlite3.so.0");
        println!("cargo:rustc-cdylib-link-arg=-Wl,--version-script={manifest}/exports.map");
    }
    println!("cargo:rerun-if-changed=exports.map");
}
