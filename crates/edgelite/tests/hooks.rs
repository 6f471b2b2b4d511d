//! Commit, rollback and update hooks, including panics inside them.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use edgelite::hooks::Action;
use edgelite::{Connection, ErrorCode, Result};

#[test]
fn commit_hook_can_veto() -> Result<()> {
    let conn = Connection::open_in_memory()?;
    conn.execute_batch("CREATE TABLE t(x)")?;
    let commits = Arc::new(AtomicUsize::new(0));
    let c = Arc::clone(&commits);
    conn.commit_hook(Some(move || {
        c.fetch_add(1, Ordering::SeqCst);
        false
    }));
    conn.execute("INSERT INTO t VALUES (1)", [])?;
    assert_eq!(commits.load(Ordering::SeqCst), 1);
    conn.commit_hook(Some(|| true)); // veto every commit
    let err = conn.execute("INSERT INTO t VALUES (2)", []).expect_err("vetoed");
    assert_eq!(err.extended_code(), Some(edgelite::ffi::SQLITE_CONSTRAINT_COMMITHOOK));
    conn.commit_hook(None::<fn() -> bool>);
    conn.execute("INSERT INTO t VALUES (3)", [])?;
    assert_eq!(conn.query_row("SELECT group_concat(x) FROM t", [], |r| r.get::<_, String>(0))?, "1,3");
    assert_eq!(commits.load(Ordering::SeqCst), 1, "the replaced hook is not called");
    Ok(())
}

#[test]
fn a_panicking_commit_hook_rolls_back() -> Result<()> {
    let conn = Connection::open_in_memory()?;
    conn.execute_batch("CREATE TABLE t(x)")?;
    conn.commit_hook(Some(|| -> bool { panic!("in commit hook") }));
    let err = conn.execute("INSERT INTO t VALUES (1)", []).expect_err("rolled back");
    assert_eq!(err.sqlite_error_code(), Some(ErrorCode::ConstraintViolation));
    conn.commit_hook(None::<fn() -> bool>);
    assert_eq!(conn.query_row("SELECT count(*) FROM t", [], |r| r.get::<_, i64>(0))?, 0);
    Ok(())
}

#[test]
fn rollback_hook_fires_on_rollback() -> Result<()> {
    let conn = Connection::open_in_memory()?;
    let rollbacks = Arc::new(AtomicUsize::new(0));
    let r = Arc::clone(&rollbacks);
    conn.rollback_hook(Some(move || {
        r.fetch_add(1, Ordering::SeqCst);
    }));
    conn.execute_batch("CREATE TABLE t(x); BEGIN; INSERT INTO t VALUES (1); ROLLBACK")?;
    assert_eq!(rollbacks.load(Ordering::SeqCst), 1);
    // A panicking rollback hook is contained.
    conn.rollback_hook(Some(|| panic!("in rollback hook")));
    conn.execute_batch("BEGIN; INSERT INTO t VALUES (1); ROLLBACK")?;
    conn.rollback_hook(None::<fn()>);
    Ok(())
}

#[test]
fn update_hook_reports_each_row() -> Result<()> {
    let conn = Connection::open_in_memory()?;
    let log = Arc::new(Mutex::new(Vec::new()));
    let l = Arc::clone(&log);
    conn.update_hook(Some(move |action: Action, db: &str, table: &str, rowid: i64| {
        l.lock().expect("lock").push(format!("{action:?} {db}.{table} {rowid}"));
    }));
    conn.execute_batch(
        "CREATE TABLE t(x); INSERT INTO t VALUES (1), (2); UPDATE t SET x = 0 WHERE rowid = 2; DELETE FROM t WHERE x = 1",
    )?;
    assert_eq!(
        *log.lock().expect("lock"),
        ["Insert main.t 1", "Insert main.t 2", "Update main.t 2", "Delete main.t 1"]
    );
    conn.update_hook(Some(|_: Action, _: &str, _: &str, _: i64| panic!("in update hook")));
    conn.execute("INSERT INTO t VALUES (3)", [])?; // the panic is contained; the insert stands
    conn.update_hook(None::<fn(Action, &str, &str, i64)>);
    assert_eq!(conn.query_row("SELECT count(*) FROM t", [], |r| r.get::<_, i64>(0))?, 2);
    Ok(())
}

#[test]
fn hooks_are_released_when_the_connection_closes() -> Result<()> {
    let token = Arc::new(());
    let conn = Connection::open_in_memory()?;
    let t = Arc::clone(&token);
    conn.commit_hook(Some(move || {
        let _ = &t;
        false
    }));
    assert_eq!(Arc::strong_count(&token), 2);
    conn.close().map_err(|(_, e)| e)?;
    assert_eq!(Arc::strong_count(&token), 1);
    Ok(())
}

/// A hook that reaches its own connection (as a reentrant lock would allow) and replaces itself
/// while running: the running closure must not be freed under its own call.
#[test]
fn a_hook_replacing_itself_while_running_is_safe() -> Result<()> {
    struct ConnPtr(*const Connection);
    // SAFETY: the pointer is only dereferenced on the test's own thread, while `conn` lives.
    unsafe impl Send for ConnPtr {}

    let conn = Box::new(Connection::open_in_memory()?);
    conn.execute_batch("CREATE TABLE t(x)")?;
    let ptr = ConnPtr(&raw const *conn);
    let calls = Arc::new(AtomicUsize::new(0));
    let c = Arc::clone(&calls);
    let payload = Box::new([7_u8; 64]); // owned state that a use-after-free would expose
    conn.update_hook(Some(move |_: Action, _: &str, _: &str, _: i64| {
        c.fetch_add(1, Ordering::SeqCst);
        let p = &ptr;
        // SAFETY: the connection is boxed and outlives every statement run in this test, and
        // this runs on the thread that owns it.
        let conn = unsafe { &*p.0 };
        conn.update_hook(None::<fn(Action, &str, &str, i64)>);
        assert_eq!(payload[63], 7, "the closure's state is intact after replacing itself");
    }));
    conn.execute("INSERT INTO t VALUES (1)", [])?;
    conn.execute("INSERT INTO t VALUES (2)", [])?;
    assert_eq!(calls.load(Ordering::SeqCst), 1, "the hook removed itself");
    Ok(())
}
