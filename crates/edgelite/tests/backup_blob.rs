//! The backup API and incremental blob I/O.

use std::io::{ErrorKind, Read, Seek, SeekFrom, Write};

use edgelite::backup::{Backup, Progress, StepResult};
use edgelite::types::ZeroBlob;
use edgelite::{Connection, ErrorCode, Result};

fn filled(rows: i64) -> Result<Connection> {
    let conn = Connection::open_in_memory()?;
    conn.execute_batch("CREATE TABLE t(id INTEGER PRIMARY KEY, pad BLOB)")?;
    let mut insert = conn.prepare("INSERT INTO t(pad) VALUES (zeroblob(?1))")?;
    for _ in 0..rows {
        insert.execute([2000])?;
    }
    Ok(conn)
}

#[test]
fn backup_step_by_step_with_progress() -> Result<()> {
    let src = filled(50)?;
    let mut dst = Connection::open_in_memory()?;
    let mut seen = Vec::new();
    {
        let backup = Backup::new(&src, &mut dst)?;
        loop {
            let r = backup.step(5)?;
            seen.push(backup.progress());
            if r == StepResult::Done {
                break;
            }
            assert_eq!(r, StepResult::More);
        }
    }
    assert!(seen.len() > 2, "{seen:?}");
    let Progress { remaining, pagecount } = *seen.last().expect("steps");
    assert_eq!(remaining, 0);
    assert!(pagecount > 10);
    assert!(seen.windows(2).all(|w| w[0].remaining >= w[1].remaining));
    assert_eq!(dst.query_row("SELECT count(*) FROM t", [], |r| r.get::<_, i64>(0))?, 50);
    Ok(())
}

#[test]
fn run_to_completion_reports_progress() -> Result<()> {
    let src = filled(20)?;
    let mut dst = Connection::open_in_memory()?;
    let mut calls = 0;
    let mut on_progress = |_: Progress| calls += 1;
    Backup::new(&src, &mut dst)?.run_to_completion(3, std::time::Duration::ZERO, Some(&mut on_progress))?;
    assert!(calls > 1);
    assert_eq!(dst.query_row("SELECT count(*) FROM t", [], |r| r.get::<_, i64>(0))?, 20);
    Ok(())
}

#[test]
fn backup_to_and_restore_from_a_file() -> Result<()> {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("backup.db");
    let src = filled(3)?;
    src.backup("main", &path)?;
    let mut other = Connection::open_in_memory()?;
    other.restore("main", &path)?;
    assert_eq!(other.query_row("SELECT count(*) FROM t", [], |r| r.get::<_, i64>(0))?, 3);
    Ok(())
}

#[test]
fn backup_errors_come_from_the_destination() -> Result<()> {
    let src = filled(1)?;
    let mut dst = Connection::open_in_memory()?;
    let err = Backup::new_with_names(&src, "nosuchdb", &mut dst, "main").expect_err("unknown source db");
    assert!(err.to_string().contains("nosuchdb"), "{err}");
    Ok(())
}

#[test]
fn blob_read_write_seek() -> Result<()> {
    let conn = Connection::open_in_memory()?;
    conn.execute_batch("CREATE TABLE f(data BLOB)")?;
    conn.execute("INSERT INTO f VALUES (?1)", [ZeroBlob(8)])?;
    let row = conn.last_insert_rowid();
    {
        let mut blob = conn.blob_open("main", "f", "data", row, false)?;
        assert_eq!(blob.len(), 8);
        assert!(!blob.is_empty());
        blob.write_all(b"abcd").expect("write");
        assert_eq!(blob.seek(SeekFrom::End(-2)).expect("seek"), 6);
        blob.write_all(b"yz").expect("write at end");
        // Writing past the end is cut short: write returns 0, write_all fails.
        assert_eq!(blob.write(b"!").expect("write"), 0);
        assert_eq!(blob.write_all(b"!").expect_err("full").kind(), ErrorKind::WriteZero);
        assert_eq!(blob.seek(SeekFrom::Current(-8)).expect("seek"), 0);
        let mut all = Vec::new();
        blob.read_to_end(&mut all).expect("read");
        assert_eq!(all, b"abcd\0\0yz");
        assert!(blob.seek(SeekFrom::Current(1)).is_err(), "past the end");
        assert!(blob.seek(SeekFrom::Start(9)).is_err());
        assert_eq!(blob.seek(SeekFrom::Start(8)).expect("seek to end"), 8);
        blob.close()?;
    }
    let v: Vec<u8> = conn.query_row("SELECT data FROM f", [], |r| r.get(0))?;
    assert_eq!(v, b"abcd\0\0yz");
    Ok(())
}

#[test]
fn blob_reopen_and_read_only() -> Result<()> {
    let conn = Connection::open_in_memory()?;
    conn.execute_batch("CREATE TABLE f(data BLOB); INSERT INTO f VALUES (x'0102'), (x'030405')")?;
    let mut blob = conn.blob_open("main", "f", "data", 1, true)?;
    let mut buf = Vec::new();
    blob.read_to_end(&mut buf).expect("read");
    assert_eq!(buf, [1, 2]);
    blob.seek(SeekFrom::Start(0)).expect("seek");
    let err = blob.write(b"x").expect_err("read-only handle");
    assert!(err.to_string().contains("readonly") || err.to_string().contains("read-only"), "{err}");
    blob.reopen(2)?;
    let mut buf = Vec::new();
    blob.read_to_end(&mut buf).expect("read");
    assert_eq!(buf, [3, 4, 5]);
    assert!(format!("{blob:?}").contains("len: 3"));
    Ok(())
}

#[test]
fn blob_open_errors() -> Result<()> {
    let conn = Connection::open_in_memory()?;
    conn.execute_batch("CREATE TABLE f(data BLOB); INSERT INTO f VALUES (x'01')")?;
    let err = conn.blob_open("main", "f", "data", 99, true).expect_err("no such row");
    assert_eq!(err.sqlite_error_code(), Some(ErrorCode::Unknown));
    assert!(err.to_string().contains("no such rowid"), "{err}");
    assert!(conn.blob_open("main", "nope", "data", 1, true).is_err());
    assert!(conn.blob_open("main", "f", "nope", 1, true).is_err());
    Ok(())
}
