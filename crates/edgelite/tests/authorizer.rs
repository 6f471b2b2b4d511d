//! The authorizer: what it is told, and what its answers do.
#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};

use edgelite::Connection;
use edgelite::ffi;
use edgelite::hooks::{AuthContext, Authorization};

#[test]
fn authorizer_sees_actions_and_its_answers_apply() {
    let conn = Connection::open_in_memory().unwrap();
    conn.execute_batch("CREATE TABLE t(a, secret); INSERT INTO t VALUES (1, 'x')").unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    conn.authorizer(Some(move |ctx: AuthContext<'_>| {
        log.lock().unwrap().push((ctx.action, ctx.arg1.map(str::to_owned), ctx.arg2.map(str::to_owned)));
        match (ctx.action, ctx.arg1, ctx.arg2) {
            (ffi::SQLITE_PRAGMA, Some("wal_checkpoint"), _) => Authorization::Deny,
            (ffi::SQLITE_READ, Some("t"), Some("secret")) => Authorization::Ignore,
            (ffi::SQLITE_PRAGMA, Some("boom"), _) => panic!("a panicking authorizer denies"),
            _ => Authorization::Allow,
        }
    }));
    let err = conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)").unwrap_err();
    assert_eq!(err.extended_code(), Some(ffi::SQLITE_AUTH));
    assert!(seen.lock().unwrap().contains(&(
        ffi::SQLITE_PRAGMA,
        Some("wal_checkpoint".into()),
        Some("TRUNCATE".into())
    )));
    let (a, s): (i64, Option<String>) =
        conn.query_row("SELECT a, secret FROM t", [], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
    assert_eq!((a, s), (1, None), "an ignored column reads as NULL");
    assert!(conn.execute_batch("PRAGMA boom").is_err());
    conn.authorizer(None::<fn(AuthContext<'_>) -> Authorization>);
    conn.execute_batch("PRAGMA wal_checkpoint").unwrap();
    let s: Option<String> = conn.query_row("SELECT secret FROM t", [], |r| r.get(0)).unwrap();
    assert_eq!(s.as_deref(), Some("x"));
}
