//! The same database file through this crate and through crates.io rusqlite (which runs on the
//! same edgelite core via the workspace's libsqlite3-sys patch): each sees what the other wrote.

use edgelite::Result;

#[test]
fn one_file_two_apis() -> Result<()> {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("shared.db");

    let ours = edgelite::Connection::open(&path)?;
    ours.execute_batch("CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, score REAL, data BLOB)")?;
    ours.execute("INSERT INTO t(name, score, data) VALUES (?1, ?2, ?3)", ("from edgelite", 1.5, vec![1_u8, 2]))?;

    let theirs = rusqlite::Connection::open(&path).expect("rusqlite open");
    let (name, score, data): (String, f64, Vec<u8>) = theirs
        .query_row("SELECT name, score, data FROM t WHERE id = 1", [], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .expect("rusqlite reads edgelite's row");
    assert_eq!((name.as_str(), score, data.as_slice()), ("from edgelite", 1.5, &[1_u8, 2][..]));
    theirs
        .execute(
            "INSERT INTO t(name, score, data) VALUES (?1, ?2, ?3)",
            rusqlite::params!["from rusqlite", 2.5, vec![3_u8]],
        )
        .expect("rusqlite insert");

    let rows: Vec<(i64, String)> = ours
        .prepare("SELECT id, name FROM t ORDER BY id")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_>>()?;
    assert_eq!(rows, [(1, "from edgelite".to_owned()), (2, "from rusqlite".to_owned())]);

    // Both run on the same core.
    let their_version: String = theirs.query_row("SELECT sqlite_version()", [], |r| r.get(0)).expect("version");
    assert_eq!(their_version, edgelite::version());
    let integrity: String = ours.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
    assert_eq!(integrity, "ok");
    Ok(())
}
