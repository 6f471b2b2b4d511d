//! The progress handler, on the long statement that needs it most: a vector index build.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use edgelite::{Connection, ErrorCode, Result};

const ROWS: i64 = 400;

/// A table of `ROWS` 16-d vectors (a fixed pseudo-random sequence).
fn filled() -> Result<Connection> {
    let conn = Connection::open_in_memory()?;
    conn.execute_batch("CREATE TABLE t(id INTEGER PRIMARY KEY, v F32_BLOB(16))")?;
    let mut x: u32 = 12345;
    let mut insert = conn.prepare("INSERT INTO t(id, v) VALUES (?1, ?2)")?;
    for id in 0..ROWS {
        let v: Vec<f32> = (0..16)
            .map(|_| {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                f32::from((x >> 16) as u16) / 65536.0 - 0.5
            })
            .collect();
        insert.execute(edgelite::params![id, v.as_slice()])?;
    }
    drop(insert);
    Ok(conn)
}

fn index_count(conn: &Connection) -> Result<i64> {
    conn.query_row("SELECT count(*) FROM sqlite_schema WHERE name = 't_v'", [], |r| r.get(0))
}

const CREATE: &str = "CREATE INDEX t_v ON t (libsql_vector_idx(v))";

#[test]
fn the_handler_runs_throughout_a_vector_index_build() -> Result<()> {
    let conn = filled()?;
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&calls);
    conn.progress_handler(
        10,
        Some(move || {
            seen.fetch_add(1, Ordering::Relaxed);
            false
        }),
    );
    conn.execute_batch(CREATE)?;
    // At least one call for every few rows: the handler sees the build going on.
    let n = calls.load(Ordering::Relaxed);
    assert!(n as i64 >= ROWS / 4, "{n} calls for {ROWS} rows");
    conn.progress_handler(0, None::<fn() -> bool>);
    let hits: i64 =
        conn.query_row("SELECT count(*) FROM vector_top_k('t_v', (SELECT v FROM t WHERE id = 7), 5)", [], |r| {
            r.get(0)
        })?;
    assert_eq!(hits, 5);
    Ok(())
}

#[test]
fn a_handler_returning_true_stops_the_build_and_leaves_nothing() -> Result<()> {
    let conn = filled()?;
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&calls);
    // Stop half way through.
    conn.progress_handler(10, Some(move || seen.fetch_add(1, Ordering::Relaxed) >= 20));
    let err = conn.execute_batch(CREATE).expect_err("interrupted");
    assert_eq!(err.sqlite_error_code(), Some(ErrorCode::OperationInterrupted), "{err}");
    conn.progress_handler(0, None::<fn() -> bool>);
    assert_eq!(index_count(&conn)?, 0);
    assert_eq!(conn.query_row("PRAGMA integrity_check", [], |r| r.get::<_, String>(0))?, "ok");
    conn.execute_batch(CREATE)?;
    assert_eq!(index_count(&conn)?, 1);
    assert_eq!(conn.query_row("PRAGMA integrity_check", [], |r| r.get::<_, String>(0))?, "ok");
    Ok(())
}

#[test]
fn a_panicking_handler_interrupts() -> Result<()> {
    let conn = filled()?;
    conn.progress_handler(10, Some(|| -> bool { panic!("in progress handler") }));
    let err = conn.execute_batch(CREATE).expect_err("interrupted");
    assert_eq!(err.sqlite_error_code(), Some(ErrorCode::OperationInterrupted), "{err}");
    conn.progress_handler(0, None::<fn() -> bool>);
    assert_eq!(index_count(&conn)?, 0);
    conn.execute_batch(CREATE)?;
    Ok(())
}

/// Views that nest (each level reads the one below twice) expand into 2^LEVELS SELECTs at
/// prepare time; 16 levels took seconds with no call of the handler in between.
fn nested_views(conn: &Connection, levels: usize) -> Result<()> {
    conn.execute_batch("CREATE VIEW v0 AS SELECT 1 AS x")?;
    for i in 1..=levels {
        conn.execute_batch(&format!("CREATE VIEW v{i} AS SELECT * FROM v{0} UNION ALL SELECT * FROM v{0}", i - 1))?;
    }
    Ok(())
}

/// Core patch 0005: the handler runs, and an interrupt is seen, while a statement's views
/// expand, resolve and are coded, once per SELECT: a preparation is no longer one long step.
#[test]
fn the_handler_runs_while_nested_views_are_prepared() -> Result<()> {
    const LEVELS: usize = 10;
    let conn = Connection::open_in_memory()?;
    nested_views(&conn, LEVELS)?;
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&calls);
    conn.progress_handler(
        1,
        Some(move || {
            seen.fetch_add(1, Ordering::Relaxed);
            false
        }),
    );
    // `WHERE 0`: the statement runs no row, so every call is the preparation's
    let stmt = conn.prepare(&format!("SELECT count(*) FROM v{LEVELS} WHERE 0"))?;
    drop(stmt);
    // three checks per SELECT (expanded, resolved, coded) of the 2^10 leaves and the views
    // between them; without the patch, the preparation called it 61 times
    let calls = calls.load(Ordering::Relaxed);
    assert!(calls >= 2 << LEVELS, "{calls} calls of the handler while preparing");
    // A handler that stops the preparation early (a tenth of the way: the views' columns are
    // known by now, which halves the work) makes it fail as an interrupt.
    let seen = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&seen);
    conn.progress_handler(1, Some(move || count.fetch_add(1, Ordering::Relaxed) >= calls / 10));
    let err = conn.prepare(&format!("SELECT count(*) FROM v{LEVELS}")).expect_err("interrupted");
    assert_eq!(err.sqlite_error_code(), Some(ErrorCode::OperationInterrupted), "{err}");
    conn.progress_handler(0, None::<fn() -> bool>);
    let n: i64 = conn.query_row(&format!("SELECT count(*) FROM v{LEVELS}"), [], |r| r.get(0))?;
    assert_eq!(n, 1 << LEVELS);
    Ok(())
}

/// Sets `conn`'s progress handler to run every 2^31 instructions (so never by SQLite's own
/// count), count its calls in `calls` (from 0) and stop the statement at the call after `go_on`
/// of them (`None`: never).
fn counting_handler(conn: &Connection, calls: &Arc<AtomicUsize>, go_on: Option<usize>) {
    calls.store(0, Ordering::Relaxed);
    let seen = Arc::clone(calls);
    conn.progress_handler(
        i32::MAX,
        Some(move || {
            let before = seen.fetch_add(1, Ordering::Relaxed);
            go_on.is_some_and(|n| before >= n)
        }),
    );
}

/// A closed polygon of `n` vertices (n even) around the origin, in geopoly's JSON: every other
/// vertex at radius `r`, the others at 1.3 `r`.
fn star(n: usize, r: f64) -> String {
    let vertex = |i: usize| {
        let a = std::f64::consts::TAU * (i % n) as f64 / n as f64;
        let rr = if i % 2 == 1 { 1.3 * r } else { r };
        format!("[{:.6},{:.6}]", rr * a.cos(), rr * a.sin())
    };
    format!("[{}]", (0..=n).map(vertex).collect::<Vec<_>>().join(","))
}

/// Core patch 0007: one call of LIKE, GLOB, `instr`, `replace`, `trim` or geopoly's overlap test
/// (`geopoly_overlap`, `geopoly_within`) over long values is one instruction, between whose
/// starts SQLite never calls the handler nor sees an interrupt; each such call now does both as
/// it works. Values are 1 MiB of `a`, and needles and patterns that match 2,048 `a` everywhere
/// and then fail: about 2 billion byte comparisons each, during which the handler (set to run
/// every 2^31 instructions, so never by SQLite's own count) is called every 1 MiB of
/// comparisons and stops the call at its third. The polygons' sweep counts segments instead.
#[test]
fn the_handler_runs_inside_long_function_calls() -> Result<()> {
    let conn = Connection::open_in_memory()?;
    conn.execute_batch(
        "CREATE TABLE s(h TEXT, n TEXT, c TEXT);
         INSERT INTO s VALUES (replace(hex(zeroblob(524288)), '0', 'a'),
                               replace(hex(zeroblob(1024)), '0', 'a') || 'b',
                               replace(hex(zeroblob(1024)), '0', 'b') || 'a');",
    )?;
    // two zig-zag stars of 4,000 vertices, one inside the other: geopoly's sweep over them takes
    // time that grows as the square of their vertices (by hand: 0.88 s for 20,000 each)
    conn.execute("CREATE TABLE g(inner_p TEXT, outer_p TEXT)", [])?;
    conn.execute("INSERT INTO g VALUES (?1, ?2)", [star(4000, 1.0), star(4000, 1.05)])?;
    let calls = Arc::new(AtomicUsize::new(0));
    counting_handler(&conn, &calls, Some(2));
    for sql in [
        "SELECT geopoly_overlap(inner_p, outer_p) FROM g",
        "SELECT geopoly_within(inner_p, outer_p) FROM g",
        "SELECT instr(h, n) FROM s",
        "SELECT length(replace(h, n, 'x')) FROM s",
        "SELECT h LIKE '%' || n || '%' FROM s",
        "SELECT h LIKE '%' || n || '%' ESCAPE '!' FROM s",
        "SELECT h GLOB '*' || n || '*' FROM s",
        "SELECT h GLOB '*[a]' || n || '*' FROM s",
        "SELECT length(trim(h, c)) FROM s",
        "SELECT length(ltrim(h, c)) FROM s",
        "SELECT length(rtrim(h, c)) FROM s",
    ] {
        calls.store(0, Ordering::Relaxed);
        let err = conn.query_row(sql, [], |r| r.get::<_, i64>(0)).expect_err(sql);
        assert_eq!(err.sqlite_error_code(), Some(ErrorCode::OperationInterrupted), "{sql}: {err}");
        assert_eq!(calls.load(Ordering::Relaxed), 3, "{sql}");
    }
    // Short calls never reach a check.
    for (sql, expected) in [
        ("SELECT instr(n, 'ab') + instr(n || 'xyz', 'z') FROM s", 2048 + 2052),
        ("SELECT length(replace(n, 'aa', 'x')) FROM s", 1025),
        ("SELECT (n LIKE '%AB') + (n GLOB '*a[b]') + (n LIKE 'a%a_') FROM s", 3),
        ("SELECT length(trim(n, 'ab')) + length(rtrim(n, 'b')) FROM s", 2048),
        ("SELECT geopoly_overlap('[[1,1],[2,1],[2,2],[1,1]]', '[[0,0],[3,0],[3,3],[0,3],[0,0]]') FROM s", 2),
    ] {
        calls.store(0, Ordering::Relaxed);
        assert_eq!(conn.query_row(sql, [], |r| r.get::<_, i64>(0))?, expected, "{sql}");
        assert_eq!(calls.load(Ordering::Relaxed), 0, "{sql}");
    }
    // A handler that lets the work go on changes no answer.
    counting_handler(&conn, &calls, None);
    for (sql, expected, checks) in [
        // the needle is found at its end only: every position before compared in full
        ("SELECT instr(substr(h, 1, 65536) || n, n) FROM s", 65_537, 100),
        ("SELECT length(replace(substr(h, 1, 65536) || n, n, 'xy')) FROM s", 65_538, 100),
        ("SELECT (substr(h, 1, 65536) || n) LIKE '%' || n FROM s", 1, 100),
        ("SELECT h LIKE 'a%a_' FROM s", 1, 1),
        ("SELECT length(trim(substr(h, 1, 65536) || 'z', c)) FROM s", 1, 100),
        // the inner star lies within the outer one
        ("SELECT geopoly_overlap(inner_p, outer_p) FROM g", 2, 5),
        ("SELECT geopoly_within(inner_p, outer_p) FROM g", 1, 5),
    ] {
        calls.store(0, Ordering::Relaxed);
        assert_eq!(conn.query_row(sql, [], |r| r.get::<_, i64>(0))?, expected, "{sql}");
        let calls = calls.load(Ordering::Relaxed);
        assert!(calls >= checks, "{sql}: {calls} calls");
    }
    conn.progress_handler(0, None::<fn() -> bool>);
    Ok(())
}

/// Core patch 0007 in FTS5: an insert or a delete of a row is one instruction that tokenizes the
/// whole row (30 MB with the trigram tokenizer: about 10 s), and it now checks every 2^14 tokens
/// too. A stopped write fails as an interrupt, and SQLite rolls its transaction back as after
/// any interrupted write: the table is as it was; a handler that lets it go on changes nothing.
#[test]
fn fts5_writes_call_the_handler_as_they_tokenize() -> Result<()> {
    let conn = Connection::open_in_memory()?;
    conn.execute_batch(
        "CREATE VIRTUAL TABLE ft USING fts5(body, tokenize = 'trigram');
         CREATE TABLE src(t TEXT);
         INSERT INTO src VALUES (hex(randomblob(1000000)));
         INSERT INTO ft(rowid, body) VALUES (1, 'a small row');
         BEGIN;
         INSERT INTO ft(rowid, body) VALUES (3, 'another small row');",
    )?;
    let calls = Arc::new(AtomicUsize::new(0));
    counting_handler(&conn, &calls, Some(2));
    // 2,000,000 characters of hex: as many trigrams
    let err = conn.execute("INSERT INTO ft(rowid, body) SELECT 2, t FROM src", []).expect_err("interrupted");
    assert_eq!(err.sqlite_error_code(), Some(ErrorCode::OperationInterrupted), "{err}");
    assert_eq!(calls.load(Ordering::Relaxed), 3);
    assert!(conn.is_autocommit(), "the transaction was rolled back");
    conn.execute_batch("INSERT INTO ft(ft) VALUES ('integrity-check');")?;
    let rows = |conn: &Connection| -> Result<Vec<i64>> {
        let mut stmt = conn.prepare("SELECT rowid FROM ft ORDER BY rowid")?;
        let ids = stmt.query_map([], |r| r.get(0))?.collect::<std::result::Result<_, _>>()?;
        Ok(ids)
    };
    assert_eq!(rows(&conn)?, [1], "the stopped insert left nothing");
    // a handler that lets the work go on: the row goes in whole, and can be found
    counting_handler(&conn, &calls, None);
    conn.execute("INSERT INTO ft(rowid, body) SELECT 2, t FROM src", [])?;
    assert!(calls.load(Ordering::Relaxed) >= 100, "{} calls", calls.load(Ordering::Relaxed));
    let found: i64 = conn.query_row(
        "SELECT count(*) FROM ft WHERE ft MATCH (SELECT '\"' || substr(t, 500000, 12) || '\"' FROM src)",
        [],
        |r| r.get(0),
    )?;
    assert_eq!(found, 1);
    // a delete tokenizes the row again to take its terms out: stopped, it keeps the row
    counting_handler(&conn, &calls, Some(2));
    let err = conn.execute("DELETE FROM ft WHERE rowid = 2", []).expect_err("interrupted");
    assert_eq!(err.sqlite_error_code(), Some(ErrorCode::OperationInterrupted), "{err}");
    conn.progress_handler(0, None::<fn() -> bool>);
    conn.execute_batch("INSERT INTO ft(ft) VALUES ('integrity-check');")?;
    assert_eq!(rows(&conn)?, [1, 2]);
    conn.execute("DELETE FROM ft WHERE rowid = 2", [])?;
    conn.execute_batch("INSERT INTO ft(ft) VALUES ('integrity-check');")?;
    assert_eq!(rows(&conn)?, [1]);
    Ok(())
}
