//! The committed bindings are exactly what bindgen makes of today's `sqlite3.h`.
//! `cargo xtask bindings` (this test with EDGELITE_BLESS=1) rewrites them.

#[path = "../build/bindings.rs"]
#[allow(dead_code)]
mod bindings;

use std::path::Path;

#[test]
fn committed_bindings_are_current() {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let generated = bindings::generate(&manifest.join("wrapper.h"), &manifest.join("../../sqlite3-src/upstream"));
    let committed_path = manifest.join("bindings/bindgen.rs");
    if std::env::var_os("EDGELITE_BLESS").is_some() {
        std::fs::write(&committed_path, &generated).expect("write bindings");
        return;
    }
    let committed = std::fs::read_to_string(&committed_path).expect("bindings/bindgen.rs");
    assert!(committed == generated, "bindings/bindgen.rs is stale: run `cargo xtask bindings`");
}
