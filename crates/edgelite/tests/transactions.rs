//! Transactions and savepoints, including what happens on drop.

use std::panic::{AssertUnwindSafe, catch_unwind};

use edgelite::{Connection, DropBehavior, Result, TransactionBehavior};

fn db() -> Result<Connection> {
    let conn = Connection::open_in_memory()?;
    conn.execute_batch("CREATE TABLE t(x)")?;
    Ok(conn)
}

fn count(conn: &Connection) -> Result<i64> {
    conn.query_row("SELECT count(*) FROM t", [], |r| r.get(0))
}

#[test]
fn commit_and_rollback() -> Result<()> {
    let mut conn = db()?;
    let tx = conn.transaction()?;
    tx.execute("INSERT INTO t VALUES (1)", [])?;
    assert!(!tx.is_autocommit());
    tx.commit()?;
    assert_eq!(count(&conn)?, 1);
    let tx = conn.transaction()?;
    tx.execute("INSERT INTO t VALUES (2)", [])?;
    tx.rollback()?;
    assert_eq!(count(&conn)?, 1);
    assert!(conn.is_autocommit());
    Ok(())
}

#[test]
fn drop_behaviours() -> Result<()> {
    let mut conn = db()?;
    {
        let tx = conn.transaction()?;
        assert_eq!(tx.drop_behavior(), DropBehavior::Rollback);
        tx.execute("INSERT INTO t VALUES (1)", [])?;
    }
    assert_eq!(count(&conn)?, 0);
    {
        let mut tx = conn.transaction()?;
        tx.set_drop_behavior(DropBehavior::Commit);
        tx.execute("INSERT INTO t VALUES (1)", [])?;
    }
    assert_eq!(count(&conn)?, 1);
    {
        let mut tx = conn.transaction()?;
        tx.set_drop_behavior(DropBehavior::Ignore);
        tx.execute("INSERT INTO t VALUES (2)", [])?;
    }
    assert!(!conn.is_autocommit(), "Ignore leaves the transaction open");
    conn.execute_batch("ROLLBACK")?;
    assert_eq!(count(&conn)?, 1);
    let result = catch_unwind(AssertUnwindSafe(|| -> Result<()> {
        let mut tx = conn.transaction()?;
        tx.set_drop_behavior(DropBehavior::Panic);
        tx.execute("INSERT INTO t VALUES (3)", [])?;
        Ok(())
    }));
    assert!(result.is_err(), "Panic panics on drop");
    // The panic left the transaction open; end it.
    conn.execute_batch("ROLLBACK")?;
    assert_eq!(count(&conn)?, 1);
    Ok(())
}

#[test]
fn finish_follows_the_drop_behaviour() -> Result<()> {
    let mut conn = db()?;
    let mut tx = conn.transaction()?;
    tx.execute("INSERT INTO t VALUES (1)", [])?;
    tx.set_drop_behavior(DropBehavior::Commit);
    tx.finish()?;
    assert_eq!(count(&conn)?, 1);
    Ok(())
}

#[test]
fn behaviours_take_the_right_locks() -> Result<()> {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("locks.db");
    let mut a = Connection::open(&path)?;
    a.execute_batch("CREATE TABLE t(x)")?;
    let b = Connection::open(&path)?;
    {
        let _tx = a.transaction_with_behavior(TransactionBehavior::Immediate)?;
        // A reader still reads, a second writer is refused at BEGIN IMMEDIATE.
        assert_eq!(count(&b)?, 0);
        let err = b.execute_batch("BEGIN IMMEDIATE").expect_err("write lock held");
        assert_eq!(err.sqlite_error_code(), Some(edgelite::ErrorCode::DatabaseBusy));
    }
    {
        let _tx = a.transaction_with_behavior(TransactionBehavior::Exclusive)?;
        assert!(count(&b).is_err(), "exclusive blocks readers (rollback journal)");
    }
    let _tx = a.transaction_with_behavior(TransactionBehavior::Deferred)?;
    b.execute_batch("BEGIN IMMEDIATE; COMMIT")?; // deferred takes no lock up front
    Ok(())
}

#[test]
fn unchecked_transactions_detect_nesting_at_run_time() -> Result<()> {
    let conn = db()?;
    let tx = conn.unchecked_transaction()?;
    let err = conn.unchecked_transaction().expect_err("nested BEGIN");
    assert!(err.to_string().contains("within a transaction"), "{err}");
    tx.execute("INSERT INTO t VALUES (1)", [])?;
    tx.commit()?;
    assert_eq!(count(&conn)?, 1);
    Ok(())
}

#[test]
fn nested_savepoints() -> Result<()> {
    let mut conn = db()?;
    let mut tx = conn.transaction()?;
    tx.execute("INSERT INTO t VALUES (1)", [])?;
    {
        let mut sp1 = tx.savepoint()?;
        sp1.execute("INSERT INTO t VALUES (2)", [])?;
        {
            let sp2 = sp1.savepoint_with_name("inner \"quoted\"")?;
            assert_eq!(sp2.name(), "inner \"quoted\"");
            sp2.execute("INSERT INTO t VALUES (3)", [])?;
            // dropped: rolled back
        }
        assert_eq!(count(&sp1)?, 2);
        {
            let sp2 = sp1.savepoint()?;
            sp2.execute("INSERT INTO t VALUES (4)", [])?;
            sp2.commit()?;
        }
        sp1.rollback()?; // back to the start of sp1: only row 1 left
        assert_eq!(count(&sp1)?, 1);
        sp1.execute("INSERT INTO t VALUES (5)", [])?;
        sp1.commit()?;
    }
    tx.commit()?;
    let rows: Vec<i64> =
        conn.prepare("SELECT x FROM t ORDER BY x")?.query_map([], |r| r.get(0))?.collect::<Result<_>>()?;
    assert_eq!(rows, [1, 5]);
    Ok(())
}

#[test]
fn savepoint_outside_a_transaction_and_drop_behaviours() -> Result<()> {
    let mut conn = db()?;
    {
        let sp = conn.savepoint()?;
        sp.execute("INSERT INTO t VALUES (1)", [])?;
    }
    assert_eq!(count(&conn)?, 0);
    assert!(conn.is_autocommit());
    {
        let mut sp = conn.savepoint_with_name("keep")?;
        sp.set_drop_behavior(DropBehavior::Commit);
        sp.execute("INSERT INTO t VALUES (1)", [])?;
    }
    assert_eq!(count(&conn)?, 1);
    assert!(conn.is_autocommit());
    {
        let mut sp = conn.savepoint()?;
        sp.set_drop_behavior(DropBehavior::Ignore);
        sp.execute("INSERT INTO t VALUES (2)", [])?;
    }
    assert!(!conn.is_autocommit());
    conn.execute_batch("ROLLBACK")?;
    let mut sp = conn.savepoint()?;
    sp.set_drop_behavior(DropBehavior::Rollback);
    sp.execute("INSERT INTO t VALUES (3)", [])?;
    sp.finish()?;
    assert_eq!(count(&conn)?, 1);
    let result = catch_unwind(AssertUnwindSafe(|| -> Result<()> {
        let mut sp = conn.savepoint()?;
        sp.set_drop_behavior(DropBehavior::Panic);
        Ok(())
    }));
    assert!(result.is_err());
    conn.execute_batch("ROLLBACK")?;
    Ok(())
}
