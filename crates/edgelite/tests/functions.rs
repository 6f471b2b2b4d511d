//! User-defined scalar and aggregate functions, including errors and panics in callbacks.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use edgelite::functions::{Aggregate, Context, FunctionFlags};
use edgelite::types::{Value, ValueRef};
use edgelite::{Connection, Error, ErrorCode, Result};

#[test]
fn scalar_functions_with_typed_arguments() -> Result<()> {
    let conn = Connection::open_in_memory()?;
    conn.create_scalar_function("repeat_str", 2, FunctionFlags::UTF8 | FunctionFlags::DETERMINISTIC, |ctx| {
        let s: String = ctx.get(0)?;
        let n: usize = ctx.get(1)?;
        Ok(s.repeat(n))
    })?;
    assert_eq!(conn.query_row("SELECT repeat_str('ab', 3)", [], |r| r.get::<_, String>(0))?, "ababab");
    // Variadic, returning every kind of value.
    conn.create_scalar_function("echo_last", -1, FunctionFlags::default(), |ctx| {
        if ctx.is_empty() {
            return Ok(Value::Null);
        }
        Ok(Value::from(ctx.get_ref(ctx.len() - 1)?))
    })?;
    for (sql, expected) in [
        ("SELECT echo_last()", Value::Null),
        ("SELECT echo_last(1, 2)", Value::Integer(2)),
        ("SELECT echo_last(1, 2.5)", Value::Real(2.5)),
        ("SELECT echo_last('x')", Value::Text("x".into())),
        ("SELECT echo_last(x'0001')", Value::Blob(vec![0, 1])),
        ("SELECT echo_last(x'')", Value::Blob(vec![])),
    ] {
        assert_eq!(conn.query_row(sql, [], |r| r.get::<_, Value>(0))?, expected, "{sql}");
    }
    conn.create_scalar_function("arg_kinds", -1, FunctionFlags::UTF8, |ctx| {
        let kinds: Vec<String> =
            (0..ctx.len()).map(|i| Ok(ctx.get_ref(i)?.data_type().to_string())).collect::<Result<_>>()?;
        Ok(kinds.join(","))
    })?;
    assert_eq!(
        conn.query_row("SELECT arg_kinds(NULL, 1, 1.0, '', x'')", [], |r| r.get::<_, String>(0))?,
        "NULL,INTEGER,REAL,TEXT,BLOB"
    );
    Ok(())
}

#[test]
fn wrong_argument_count_is_rejected_by_sqlite() -> Result<()> {
    let conn = Connection::open_in_memory()?;
    conn.create_scalar_function("one", 1, FunctionFlags::UTF8, |ctx| ctx.get::<i64>(0))?;
    let err = conn.query_row("SELECT one(1, 2)", [], |r| r.get::<_, i64>(0)).expect_err("arity");
    assert!(err.to_string().contains("wrong number of arguments"), "{err}");
    Ok(())
}

#[test]
fn errors_in_callbacks_fail_the_statement() -> Result<()> {
    let conn = Connection::open_in_memory()?;
    conn.create_scalar_function("must_be_int", 1, FunctionFlags::UTF8, |ctx| ctx.get::<i64>(0))?;
    let err = conn.query_row("SELECT must_be_int('x')", [], |r| r.get::<_, i64>(0)).expect_err("bad arg");
    assert_eq!(err.extended_code(), Some(edgelite::ffi::SQLITE_ERROR));
    assert!(err.to_string().contains("argument 0: cannot convert TEXT value"), "{err}");

    conn.create_scalar_function("user_err", 0, FunctionFlags::UTF8, |_| -> Result<i64> {
        Err(Error::UserFunctionError("custom failure".into()))
    })?;
    let err = conn.query_row("SELECT user_err()", [], |r| r.get::<_, i64>(0)).expect_err("user error");
    assert_eq!(err.to_string(), "custom failure");

    // An SQLite error code chosen by the function is kept.
    conn.create_scalar_function("busy_err", 0, FunctionFlags::UTF8, |_| -> Result<i64> {
        Err(Error::SqliteFailure {
            error: edgelite::ffi::Error::new(edgelite::ffi::SQLITE_CONSTRAINT),
            message: Some("nope".into()),
            offset: None,
        })
    })?;
    let err = conn.query_row("SELECT busy_err()", [], |r| r.get::<_, i64>(0)).expect_err("code");
    assert_eq!(err.sqlite_error_code(), Some(ErrorCode::ConstraintViolation));
    Ok(())
}

#[test]
fn panics_become_sql_errors() -> Result<()> {
    let conn = Connection::open_in_memory()?;
    conn.create_scalar_function("boom", 0, FunctionFlags::UTF8, |_| -> Result<i64> { panic!("kaboom") })?;
    let err = conn.query_row("SELECT boom()", [], |r| r.get::<_, i64>(0)).expect_err("panic");
    assert_eq!(err.sqlite_error_code(), Some(ErrorCode::InternalMalfunction));
    assert_eq!(err.to_string(), "user-defined function panicked: kaboom");
    // The connection is fine afterwards.
    assert_eq!(conn.query_row("SELECT 1", [], |r| r.get::<_, i64>(0))?, 1);
    Ok(())
}

#[test]
fn closures_are_dropped_when_replaced_or_removed() -> Result<()> {
    struct Tracker(Arc<AtomicUsize>);
    impl Drop for Tracker {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let drops = Arc::new(AtomicUsize::new(0));
    let conn = Connection::open_in_memory()?;
    let t = Tracker(Arc::clone(&drops));
    conn.create_scalar_function("f", 0, FunctionFlags::UTF8, move |_| Ok(t.0.load(Ordering::SeqCst) as i64))?;
    let t = Tracker(Arc::clone(&drops));
    conn.create_scalar_function("f", 0, FunctionFlags::UTF8, move |_| Ok(t.0.load(Ordering::SeqCst) as i64 + 100))?;
    assert_eq!(drops.load(Ordering::SeqCst), 1, "the replaced closure is freed");
    assert_eq!(conn.query_row("SELECT f()", [], |r| r.get::<_, i64>(0))?, 101);
    conn.remove_function("f", 0)?;
    assert_eq!(drops.load(Ordering::SeqCst), 2);
    assert!(conn.query_row("SELECT f()", [], |r| r.get::<_, i64>(0)).is_err());
    let t = Tracker(Arc::clone(&drops));
    conn.create_scalar_function("g", 0, FunctionFlags::UTF8, move |_| Ok(t.0.load(Ordering::SeqCst) as i64))?;
    drop(conn);
    assert_eq!(drops.load(Ordering::SeqCst), 3, "closing the connection frees functions");
    Ok(())
}

#[test]
fn invalid_registration_fails_cleanly() -> Result<()> {
    let conn = Connection::open_in_memory()?;
    assert!(matches!(conn.create_scalar_function("a\0b", 0, FunctionFlags::UTF8, |_| Ok(1)), Err(Error::NulError(_))));
    // SQLite frees the closure itself when registration fails: exactly one drop.
    struct Tracker(Arc<AtomicUsize>);
    impl Drop for Tracker {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let drops = Arc::new(AtomicUsize::new(0));
    let t = Tracker(Arc::clone(&drops));
    let err = conn
        .create_scalar_function("f", 100_000, FunctionFlags::UTF8, move |_| Ok(t.0.load(Ordering::SeqCst) as i64))
        .expect_err("too many args");
    assert_eq!(err.sqlite_error_code(), Some(ErrorCode::ApiMisuse));
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    Ok(())
}

struct Concat {
    sep: &'static str,
}

impl Aggregate<Vec<String>, String> for Concat {
    fn init(&self, _: &Context<'_>) -> Result<Vec<String>> {
        Ok(Vec::new())
    }
    fn step(&self, ctx: &Context<'_>, acc: &mut Vec<String>) -> Result<()> {
        let s: String = ctx.get(0)?;
        if s == "panic" {
            panic!("asked to");
        }
        acc.push(s);
        Ok(())
    }
    fn finalize(&self, _: &Context<'_>, acc: Option<Vec<String>>) -> Result<String> {
        Ok(acc.map(|v| v.join(self.sep)).unwrap_or_else(|| "<empty>".to_owned()))
    }
}

#[test]
fn aggregates_per_group() -> Result<()> {
    let conn = Connection::open_in_memory()?;
    conn.create_aggregate_function("cat", 1, FunctionFlags::UTF8, Concat { sep: "+" })?;
    conn.execute_batch("CREATE TABLE t(g, s); INSERT INTO t VALUES (1,'a'),(1,'b'),(2,'c'),(1,'d')")?;
    let mut stmt = conn.prepare("SELECT g, cat(s) FROM t GROUP BY g ORDER BY g")?;
    let got: Vec<(i64, String)> = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<Result<_>>()?;
    assert_eq!(got, [(1, "a+b+d".to_owned()), (2, "c".to_owned())]);
    assert_eq!(conn.query_row("SELECT cat(s) FROM t WHERE 0", [], |r| r.get::<_, String>(0))?, "<empty>");
    Ok(())
}

#[test]
fn aggregate_errors_and_panics() -> Result<()> {
    let conn = Connection::open_in_memory()?;
    conn.create_aggregate_function("cat", 1, FunctionFlags::UTF8, Concat { sep: "" })?;
    let err = conn.query_row("SELECT cat(column1) FROM (VALUES ('a'), (1.5))", [], |r| r.get::<_, String>(0));
    assert!(err.expect_err("bad arg").to_string().contains("cannot convert REAL"));
    let err = conn.query_row("SELECT cat(column1) FROM (VALUES ('a'), ('panic'))", [], |r| r.get::<_, String>(0));
    let err = err.expect_err("panic");
    assert_eq!(err.sqlite_error_code(), Some(ErrorCode::InternalMalfunction));
    assert_eq!(err.to_string(), "aggregate step panicked: asked to");
    assert_eq!(conn.query_row("SELECT cat(column1) FROM (VALUES ('o'), ('k'))", [], |r| r.get::<_, String>(0))?, "ok");
    Ok(())
}

#[test]
fn functions_can_be_used_in_the_schema_when_deterministic() -> Result<()> {
    let conn = Connection::open_in_memory()?;
    conn.create_scalar_function(
        "twice",
        1,
        FunctionFlags::UTF8 | FunctionFlags::DETERMINISTIC | FunctionFlags::INNOCUOUS,
        |ctx| Ok(ctx.get::<i64>(0)? * 2),
    )?;
    conn.execute_batch("CREATE TABLE t(x, y AS (twice(x))); INSERT INTO t(x) VALUES (21)")?;
    assert_eq!(conn.query_row("SELECT y FROM t", [], |r| r.get::<_, i64>(0))?, 42);
    let v = conn.query_row("SELECT twice(?1)", [ValueRef::Integer(4)], |r| r.get::<_, i64>(0))?;
    assert_eq!(v, 8);
    Ok(())
}

/// `randomblob(n)` as upstream answers it (core patch 0006 fills it 4 KiB at a time, so that
/// the process-wide PRNG mutex is never held for long): n bytes, at least 1, too big past the
/// length limit, and every 4 KiB piece filled (no piece repeats another, none is left zero).
#[test]
fn randomblob_keeps_its_answers_when_made_in_pieces() -> Result<()> {
    let conn = Connection::open_in_memory()?;
    for (n, want) in [(-5_i64, 1_usize), (0, 1), (1, 1), (4095, 4095), (4096, 4096), (4097, 4097), (100_000, 100_000)] {
        let blob: Vec<u8> = conn.query_row("SELECT randomblob(?1)", [n], |r| r.get(0))?;
        assert_eq!(blob.len(), want, "randomblob({n})");
    }
    let blob: Vec<u8> = conn.query_row("SELECT randomblob(20 * 4096 + 7)", [], |r| r.get(0))?;
    let pieces: Vec<&[u8]> = blob.chunks(4096).collect();
    for (i, a) in pieces.iter().enumerate() {
        assert!(a.iter().any(|&b| b != 0), "piece {i} is all zero");
        for b in &pieces[i + 1..] {
            assert_ne!(a, b, "a piece repeats piece {i}");
        }
    }
    conn.set_limit(edgelite::config::Limit::Length, 10_000);
    let err = conn.query_row("SELECT randomblob(10001)", [], |r| r.get::<_, Vec<u8>>(0)).expect_err("too big");
    assert_eq!(err.sqlite_error_code(), Some(ErrorCode::TooBig), "{err}");
    Ok(())
}
