//! libSQL's vector SQL on edgelite: the same answers as libSQL's own engine (blobs, values and
//! error texts) for everything libSQL gets right, and the documented answers where libSQL has a
//! defect (`docs/libsql-vector.md` §4.2).
#![cfg(target_os = "linux")]

mod common;

use common::{edgelite_lib_dir, python};
use std::path::{Path, PathBuf};
use std::process::Command;

fn manifest() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn run_sql_py() -> PathBuf {
    manifest().join("tests/run_sql.py")
}

/// Runs a corpus through libSQL 0.5.29 (npm `libsql`, pinned in tests/libsql/package.json).
fn libsql(corpus: &Path) -> String {
    let oracle = manifest().join("../../tests/libsql");
    assert!(
        oracle.join("node_modules/libsql").exists(),
        "libSQL's engine is not installed: run `npm ci --prefix tests/libsql` (as .ci/run does)"
    );
    let out = Command::new("node").arg(oracle.join("run.js")).arg(corpus).output().expect("run node");
    assert!(out.status.success(), "node failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf-8")
}

/// Runs SQL statements (one per line) through edgelite and returns one JSON line per statement.
fn edgelite(corpus: &Path) -> Vec<String> {
    let out = python(edgelite_lib_dir(), &[run_sql_py().to_str().expect("utf-8"), corpus.to_str().expect("utf-8")]);
    // The first line names the SQLite version; libSQL's runner does not print one.
    out.lines().skip(1).map(str::to_owned).collect()
}

#[test]
fn vector_sql_answers_exactly_as_libsql() {
    let corpus = manifest().join("tests/vector_differential.sql");
    let ours = edgelite(&corpus);
    let theirs: Vec<String> = libsql(&corpus).lines().map(str::to_owned).collect();
    assert!(ours.len() > 150, "ran {} statements", ours.len());
    let errors = ours.iter().filter(|l| l.contains(r#""error":"#)).count();
    assert!(errors > 40, "the corpus checks error texts too; saw {errors}");
    for (ours, theirs) in ours.iter().zip(&theirs) {
        assert_eq!(ours, theirs, "edgelite (left) and libSQL (right) differ");
    }
    assert_eq!(ours.len(), theirs.len());
}

/// Runs `statements` (one per line) through edgelite and returns each one's JSON line.
fn edgelite_lines(name: &str, statements: &[&str]) -> Vec<String> {
    let path = common::tmp_dir("vector-sql").join(format!("{name}.sql"));
    std::fs::write(&path, statements.join("\n") + "\n").expect("write corpus");
    edgelite(&path)
}

fn error_of(line: &str) -> Option<String> {
    let start = line.find(r#""error":""#)? + r#""error":""#.len();
    Some(line[start..line.len() - 2].to_owned())
}

fn text_of(line: &str) -> Option<String> {
    let start = line.find(r#"{"text":""#)? + r#"{"text":""#.len();
    let end = line[start..].find('"')?;
    Some(line[start..start + end].to_owned())
}

#[test]
fn libsql_defects_are_not_copied() {
    let long_element = "substr(replace(hex(zeroblob(550)), '0', '1'), 1, 1100)";
    let out = edgelite_lines(
        "defects",
        &[
            // libSQL leaves the alignment padding uninitialised; edgelite writes zeros.
            "SELECT hex(vector8('[-1, 0.5, 3.25, 10, -7]'));",
            // A 6-byte blob: libSQL's vector_extract and distances read past the data.
            "SELECT vector_extract(x'000000000000');",
            "SELECT vector_distance_cos(x'000000000000', '[1]');",
            // A malformed float8 blob: libSQL answers 'out of memory'.
            "SELECT vector(x'000004');",
            // An over-long element: libSQL's message prints an unterminated buffer.
            &format!("SELECT vector('[' || {long_element} || ']');"),
            // Blobs libSQL cannot have written, whose metadata libSQL reads as data.
            "SELECT vector_extract(x'FF0103');",
            "SELECT vector_extract(x'0055AAFFC1C0403C000000000000000004');",
        ],
    );
    assert_eq!(text_of(&out[0]).as_deref(), Some("5A709AFF000000008988883D0000E0C0000304"), "{}", out[0]);
    let part_size = "vector: unexpected data part size: type=1, dims=1, 6 != 4";
    assert_eq!(error_of(&out[1]).as_deref(), Some(part_size), "{}", out[1]);
    assert_eq!(error_of(&out[2]).as_deref(), Some(part_size), "{}", out[2]);
    let f8 = error_of(&out[3]).expect("a malformed float8 blob is an error");
    assert!(f8.starts_with("vector: malformed float8 vector blob"), "{f8}");
    let long = error_of(&out[4]).expect("an over-long element is an error");
    assert_eq!(long, format!("vector: float string length exceeded 1024 characters: '{}'", "1".repeat(1024)));
    for line in &out[5..] {
        let e = error_of(line).unwrap_or_else(|| panic!("malformed blob accepted: {line}"));
        assert!(e.starts_with("vector: "), "{e}");
    }
}

#[test]
fn turso_extensions_concat_slice_and_dot() {
    let out = edgelite_lines(
        "extensions",
        &[
            "SELECT vector_extract(vector_concat(vector('[1,2]'), vector('[3]')));",
            "SELECT vector_extract(vector_concat('[1,2]', '[]'));",
            "SELECT hex(vector_concat(vector16('[1]'), vector16('[2]')));",
            "SELECT vector_extract(vector_slice(vector('[1,2,3,4]'), 1, 3));",
            "SELECT vector_extract(vector_slice(vector1bit('[1,-1,1,1,-1]'), 1, 4));",
            "SELECT vector_distance_dot('[1,2,3]', '[4,5,6]');",
            "SELECT vector_concat(vector('[1]'), vector16('[1]'));",
            "SELECT vector_slice(vector('[1,2]'), 1, 3);",
            "SELECT vector_slice(vector('[1,2]'), -1, 1);",
            "SELECT vector_slice(vector('[1,2]'), 'a', 1);",
        ],
    );
    assert_eq!(text_of(&out[0]).as_deref(), Some("[1,2,3]"), "{}", out[0]);
    assert_eq!(text_of(&out[1]).as_deref(), Some("[1,2]"), "{}", out[1]);
    assert_eq!(text_of(&out[2]).as_deref(), Some("003C004005"), "{}", out[2]);
    assert_eq!(text_of(&out[3]).as_deref(), Some("[2,3]"), "{}", out[3]);
    assert_eq!(text_of(&out[4]).as_deref(), Some("[-1,1,1]"), "{}", out[4]);
    assert!(out[5].contains(r#""real":"#), "{}", out[5]);
    assert_eq!(
        out[5],
        r#"{"sql":"SELECT vector_distance_dot('[1,2,3]', '[4,5,6]');","rows":[[{"real":"00000000000040c0"}]]}"#
    );
    for line in &out[6..] {
        assert!(error_of(line).is_some(), "must fail: {line}");
    }
}

/// A table whose name is not UTF-8 (SQLite takes any bytes in a quoted name): the rewrite's
/// functions read the table through SQL as UTF-8, where such a name became another one ("no
/// such table: main.t\u{fffd}" where the scan answers), so the rewrite leaves such a query to the
/// scan, and the index and its upkeep still work (ctypes: Python's `sqlite3` takes only UTF-8
/// SQL).
#[test]
fn a_table_whose_name_is_not_utf8_is_scanned() {
    let script = r#"
import ctypes, sys
lib = ctypes.CDLL("libsqlite3.so.0")
lib.sqlite3_errmsg.restype = ctypes.c_char_p
lib.sqlite3_column_int64.restype = ctypes.c_int64
lib.sqlite3_step.argtypes = [ctypes.c_void_p]
lib.sqlite3_column_int64.argtypes = [ctypes.c_void_p, ctypes.c_int]
lib.sqlite3_finalize.argtypes = [ctypes.c_void_p]
db = ctypes.c_void_p()
assert lib.sqlite3_open(b":memory:", ctypes.byref(db)) == 0
def ex(sql):
    assert lib.sqlite3_exec(db, sql, None, None, None) == 0, lib.sqlite3_errmsg(db)
def ids(sql):
    st = ctypes.c_void_p()
    assert lib.sqlite3_prepare_v2(db, sql, -1, ctypes.byref(st), None) == 0, lib.sqlite3_errmsg(db)
    out = []
    while (rc := lib.sqlite3_step(st)) == 100:
        out.append(lib.sqlite3_column_int64(st, 0))
    assert rc == 101, lib.sqlite3_errmsg(db)
    lib.sqlite3_finalize(st)
    return out
ex(b'CREATE TABLE "t\xff"(id INTEGER PRIMARY KEY, b INT, v F32_BLOB(2))')
ex(b'CREATE INDEX "i\xfe" ON "t\xff"(libsql_vector_idx(v))')
ex(b'WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 2000) '
   b'INSERT INTO "t\xff" SELECT x, x % 7, vector(\'[\' || (x % 97) || \',\' || (x % 89 + 1) || \']\') FROM n')
for where in [b"", b"WHERE b = 3", b"WHERE b < 5 AND id > 10"]:
    q = b'SELECT id FROM "t\xff" %s ORDER BY vector_distance_cos(v, vector(\'[3,4]\')) LIMIT 5' % where
    print(ids(q) == ids(q.replace(b'"t\xff"', b'"t\xff" NOT INDEXED')))
print(ids(b'SELECT count(*) FROM vector_top_k(\'i\xfe\', vector(\'[3,4]\'), 5)'))
"#;
    let out = python(edgelite_lib_dir(), &["-c", script]);
    assert_eq!(out.lines().collect::<Vec<_>>(), ["True", "True", "True", "[5]"], "{out}");
}
