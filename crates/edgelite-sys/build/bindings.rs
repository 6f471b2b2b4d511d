// The bindgen configuration, shared by build.rs (feature `buildtime_bindgen`) and by
// tests/bindings.rs, which proves that the committed bindings are what this produces.
//
// The options reproduce libsqlite3-sys's bindings item for item, so that rusqlite and other
// crates written against libsqlite3-sys compile unchanged against ours: signed `i32` constants,
// `&CStr` string constants, `core` paths, and the three-argument `sqlite3_auto_extension` entry
// point type that SQLite really calls (sqlite3.h declares it as `void(*)(void)`).

use std::path::Path;

#[derive(Debug)]
struct TypeChooser;

impl bindgen::callbacks::ParseCallbacks for TypeChooser {
    fn int_macro(&self, name: &str, _value: i64) -> Option<bindgen::callbacks::IntKind> {
        // These are flags passed as `unsigned int` by the C API.
        let unsigned = name == "SQLITE_SERIALIZE_NOCOPY"
            || name.starts_with("SQLITE_DESERIALIZE_")
            || name.starts_with("SQLITE_PREPARE_")
            || name.starts_with("SQLITE_TRACE_");
        unsigned.then_some(bindgen::callbacks::IntKind::UInt)
    }
}

const AUTO_EXTENSION_FNS: &str = r#"unsafe extern "C" {
    pub fn sqlite3_auto_extension(
        xEntryPoint: ::core::option::Option<
            unsafe extern "C" fn(
                db: *mut sqlite3,
                pzErrMsg: *mut *mut ::core::ffi::c_char,
                _: *const sqlite3_api_routines,
            ) -> ::core::ffi::c_int,
        >,
    ) -> ::core::ffi::c_int;
    pub fn sqlite3_cancel_auto_extension(
        xEntryPoint: ::core::option::Option<
            unsafe extern "C" fn(
                db: *mut sqlite3,
                pzErrMsg: *mut *mut ::core::ffi::c_char,
                _: *const sqlite3_api_routines,
            ) -> ::core::ffi::c_int,
        >,
    ) -> ::core::ffi::c_int;
}"#;

/// Runs bindgen over `wrapper.h` (which includes upstream's `sqlite3.h` from `include_dir`) and
/// returns the generated Rust source, formatted with the workspace's `rustfmt.toml` (named
/// explicitly: rustfmt would otherwise pick a configuration by the working directory).
pub fn generate(wrapper: &Path, include_dir: &Path) -> String {
    let rustfmt_toml = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rustfmt.toml");
    let bindings = bindgen::builder()
        .rustfmt_configuration_file(Some(rustfmt_toml))
        .header(wrapper.to_string_lossy())
        .clang_arg(format!("-I{}", include_dir.display()))
        // The optional APIs our core is compiled with (sqlite3-src/compile-options.txt).
        .clang_arg("-DSQLITE_ENABLE_UNLOCK_NOTIFY")
        .clang_arg("-DSQLITE_ENABLE_PREUPDATE_HOOK")
        .clang_arg("-DSQLITE_ENABLE_SESSION")
        .clang_arg("-DSQLITE_ENABLE_COLUMN_METADATA")
        .default_macro_constant_type(bindgen::MacroTypeVariation::Signed)
        .disable_nested_struct_naming()
        .generate_comments(false)
        .generate_cstr(true)
        .use_core()
        .trust_clang_mangling(false)
        .parse_callbacks(Box::new(TypeChooser))
        .blocklist_function("sqlite3_auto_extension")
        .blocklist_function("sqlite3_cancel_auto_extension")
        .raw_line(AUTO_EXTENSION_FNS)
        // va_list differs per platform and no Rust caller can make one: leave those out so the
        // committed file is the same on every host.
        .blocklist_function("sqlite3_vmprintf")
        .blocklist_function("sqlite3_vsnprintf")
        .blocklist_function("sqlite3_str_vappendf")
        .blocklist_type("va_list")
        .blocklist_item("__.*")
        .layout_tests(false)
        .generate()
        .expect("bindgen failed on sqlite3.h");
    bindings.to_string()
}
