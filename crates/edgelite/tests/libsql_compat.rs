//! File compatibility with libSQL, both ways: databases whose vector index libSQL built
//! (tests/fixtures, made by tests/libsql/make_fixtures.js) are read, searched and modified by
//! edgelite, and then libSQL's own engine reads and modifies them again; a database edgelite
//! writes is read and modified by libSQL.

use edgelite::{Connection, Result, params};
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("libsql-compat");
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let path = dir.join(name);
    let _ = std::fs::remove_file(&path);
    path
}

/// libSQL's view of `db` (tests/libsql/check.js): (top-k before, row count, top-k after
/// inserting `query` as row 100000, integrity_check).
fn libsql_check(db: &Path, conv: &str, query: &str, k: usize) -> String {
    let oracle = root().join("tests/libsql");
    assert!(
        oracle.join("node_modules/libsql").exists(),
        "libSQL's engine is not installed: run `npm ci --prefix tests/libsql` (as .ci/run does)"
    );
    let out = Command::new("node")
        .arg(oracle.join("check.js"))
        .arg(db)
        .args(["docs_idx", "docs", conv, query, &k.to_string()])
        .output()
        .expect("run node");
    assert!(out.status.success(), "libSQL failed on {}: {}", db.display(), String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf-8").trim().to_owned()
}

fn ids(conn: &Connection, sql: &str, query: &str, k: i64) -> Vec<i64> {
    let mut stmt = conn.prepare(sql).expect("prepare");
    stmt.query_map(params![query, k], |r| r.get(0)).expect("query").collect::<Result<_>>().expect("rows")
}

fn integrity(conn: &Connection) -> String {
    conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).expect("integrity_check")
}

#[test]
fn edgelite_reads_searches_and_modifies_indexes_libsql_built() {
    // (fixture, conversion function, metric's distance function, dims)
    let fixtures = [
        ("libsql-f32-cosine.db", "vector", "vector_distance_cos", 8),
        ("libsql-f32-l2-float8.db", "vector", "vector_distance_l2", 8),
        ("libsql-f16-1bit.db", "vector16", "vector_distance_cos", 16),
        // keyed by an INTEGER column of a WITHOUT ROWID table: the node ids are its values
        ("libsql-f32-without-rowid.db", "vector", "vector_distance_cos", 8),
    ];
    for (fixture, conv, distance, dims) in fixtures {
        let path = scratch(fixture);
        std::fs::copy(root().join("tests/fixtures").join(fixture), &path).expect("copy fixture");
        let conn = Connection::open(&path).expect("open");
        let n: i64 = conn.query_row("SELECT count(*) FROM docs", [], |r| r.get(0)).expect("count");
        assert_eq!(n, 135, "{fixture}");
        assert_eq!(integrity(&conn), "ok", "{fixture}");

        // Search: the index's answers are the exact answers (libSQL's graphs are small here and
        // the default search width covers them), deleted rows never come back.
        let mut found = 0;
        for id in [1_i64, 7, 33, 101] {
            let v: String =
                conn.query_row("SELECT vector_extract(emb) FROM docs WHERE id = ?1", [id], |r| r.get(0)).expect("v");
            let approx = ids(&conn, &format!("SELECT id FROM vector_top_k('docs_idx', {conv}(?1), ?2)"), &v, 5);
            let exact =
                ids(&conn, &format!("SELECT id FROM docs ORDER BY {distance}(emb, {conv}(?1)), id LIMIT ?2"), &v, 5);
            assert!(approx.iter().all(|id| id % 10 != 0), "{fixture}: a row libSQL deleted came back: {approx:?}");
            assert_eq!(approx.first(), Some(&id), "{fixture}: a row's own vector finds it first");
            found += approx.iter().filter(|id| exact.contains(id)).count();
        }
        assert!(found >= 18, "{fixture}: recall@5 {found}/20");

        // Modify through the index: insert, update, delete.
        let q = format!("[{}]", vec!["0.25"; dims].join(","));
        conn.execute(&format!("INSERT INTO docs VALUES (500, 'new', {conv}(?1))"), [&q]).expect("insert");
        conn.execute("DELETE FROM docs WHERE id IN (1, 2, 3)", []).expect("delete");
        conn.execute(&format!("UPDATE docs SET emb = {conv}(?1) WHERE id = 4"), [&q]).expect("update");
        let top = ids(&conn, &format!("SELECT id FROM vector_top_k('docs_idx', {conv}(?1), ?2)"), &q, 2);
        let mut top_sorted = top.clone();
        top_sorted.sort_unstable();
        assert_eq!(top_sorted, [4, 500], "{fixture}");
        assert_eq!(integrity(&conn), "ok");
        drop(conn);

        // And libSQL still reads and maintains what edgelite wrote.
        let check = libsql_check(&path, conv, &q, 3);
        assert!(check.contains("\"count\":133"), "{fixture}: {check}");
        assert!(check.contains("\"integrity\":\"ok\""), "{fixture}: {check}");
        assert!(check.contains("\"after\":[100000,") || check.contains(",100000"), "{fixture}: {check}");
    }
}

#[test]
fn edgelite_reads_searches_and_modifies_a_text_keyed_index_libsql_built() {
    // libSQL's second shadow-table shape: a WITHOUT ROWID table keyed by TEXT ('doc-1', ...)
    let path = scratch("libsql-f32-text-key.db");
    std::fs::copy(root().join("tests/fixtures/libsql-f32-text-key.db"), &path).expect("copy fixture");
    let conn = Connection::open(&path).expect("open");
    let n: i64 = conn.query_row("SELECT count(*) FROM docs", [], |r| r.get(0)).expect("count");
    assert_eq!(n, 135);
    assert_eq!(integrity(&conn), "ok");
    let keys = |sql: &str, query: &str, k: i64| -> Vec<String> {
        let mut stmt = conn.prepare(sql).expect("prepare");
        stmt.query_map(params![query, k], |r| r.get(0)).expect("query").collect::<Result<_>>().expect("rows")
    };
    let mut found = 0;
    for id in ["doc-1", "doc-7", "doc-33", "doc-101"] {
        let v: String =
            conn.query_row("SELECT vector_extract(emb) FROM docs WHERE id = ?1", [id], |r| r.get(0)).expect("v");
        let approx = keys("SELECT id FROM vector_top_k('docs_idx', vector(?1), ?2)", &v, 5);
        let exact = keys("SELECT id FROM docs ORDER BY vector_distance_cos(emb, vector(?1)), id LIMIT ?2", &v, 5);
        assert!(approx.iter().all(|k| !k.ends_with('0')), "a row libSQL deleted came back: {approx:?}");
        assert_eq!(approx.first().map(String::as_str), Some(id), "a row's own vector finds it first");
        found += approx.iter().filter(|k| exact.contains(k)).count();
    }
    assert!(found >= 18, "recall@5 {found}/20");

    let q = format!("[{}]", ["0.25"; 8].join(","));
    conn.execute("INSERT INTO docs VALUES ('new', 'new', vector(?1))", [&q]).expect("insert");
    conn.execute("DELETE FROM docs WHERE id IN ('doc-1', 'doc-2', 'doc-3')", []).expect("delete");
    conn.execute("UPDATE docs SET emb = vector(?1) WHERE id = 'doc-4'", [&q]).expect("update");
    let mut top = keys("SELECT id FROM vector_top_k('docs_idx', vector(?1), ?2)", &q, 2);
    top.sort_unstable();
    assert_eq!(top, ["doc-4", "new"]);
    // a joined search answers the table's own rows
    let titles: Vec<String> = {
        let mut stmt = conn
            .prepare("SELECT d.title FROM vector_top_k('docs_idx', vector(?1), 2) AS t JOIN docs AS d ON d.id = t.id ORDER BY 1")
            .expect("prepare");
        stmt.query_map([&q], |r| r.get(0)).expect("query").collect::<Result<_>>().expect("rows")
    };
    assert_eq!(titles, ["doc 4", "new"]);
    assert_eq!(integrity(&conn), "ok");
    drop(conn);

    let check = libsql_check(&path, "vector", &q, 3);
    assert!(check.contains("\"count\":133"), "{check}");
    assert!(check.contains("\"integrity\":\"ok\""), "{check}");
    // (check.js binds 100000 as a JavaScript number, a REAL: the TEXT key is its text)
    assert!(check.contains("\"100000.0\""), "libSQL's own insert is found: {check}");
}

#[test]
fn libsql_reads_and_modifies_an_index_edgelite_built() {
    for (file, key, table) in [
        ("edgelite-built.db", "INTEGER", ""),
        ("edgelite-built-without-rowid.db", "INTEGER", " WITHOUT ROWID"),
        // libSQL's second shadow-table shape
        ("edgelite-built-text-key.db", "TEXT", " WITHOUT ROWID"),
    ] {
        libsql_reads_and_modifies(file, key, table);
    }
}

fn libsql_reads_and_modifies(file: &str, key_type: &str, table_options: &str) {
    let path = scratch(file);
    let conn = Connection::open(&path).expect("open");
    conn.execute_batch(&format!(
        "CREATE TABLE docs (id {key_type} PRIMARY KEY, title TEXT, emb F32_BLOB(4)){table_options};
         CREATE INDEX docs_idx ON docs (libsql_vector_idx(emb, 'compress_neighbors=float8'));"
    ))
    .expect("create");
    let text = key_type == "TEXT";
    // a TEXT key is the number's text: libSQL's JSON then quotes it (check.js binds 100000 as a
    // JavaScript number, a REAL, whose text is "100000.0")
    let key = |id: i64| match (text, id) {
        (true, 100000) => "\"100000.0\"".to_owned(),
        (true, _) => format!("\"{id}\""),
        (false, _) => id.to_string(),
    };
    for id in 1..=200_i64 {
        let x = id as f32;
        let v = format!("[{},{},{},{}]", (x * 0.37).sin(), (x * 0.11).cos(), (x * 0.05).sin(), 1.0 / x);
        let sql = if text {
            "INSERT INTO docs VALUES (CAST(?1 AS TEXT), 'd', vector(?2))"
        } else {
            "INSERT INTO docs VALUES (?1, 'd', vector(?2))"
        };
        conn.execute(sql, params![id, v]).expect("insert");
    }
    conn.execute("DELETE FROM docs WHERE CAST(id AS INT) > 190", []).expect("delete");
    // (42 takes the column's affinity: the TEXT key '42' too)
    let v: String = conn.query_row("SELECT vector_extract(emb) FROM docs WHERE id = 42", [], |r| r.get(0)).expect("v");
    drop(conn);
    let check = libsql_check(&path, "vector", &v, 3);
    assert!(
        check.starts_with(&format!("{{\"before\":[{},", key(42))),
        "{file}: libSQL finds the row by its own vector: {check}"
    );
    assert!(check.contains("\"count\":190"), "{file}: {check}");
    assert!(check.contains("\"integrity\":\"ok\""), "{file}: {check}");
    // row 100000 has row 42's vector: it ties for first place
    let after = check.split("\"after\":").nth(1).unwrap_or_default();
    assert!(
        after.starts_with(&format!("[{},{},", key(42), key(100000))),
        "{file}: libSQL's own insert is found: {check}"
    );
}
