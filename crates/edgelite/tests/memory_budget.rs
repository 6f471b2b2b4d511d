//! SQLite's heap charged to budgets (`edgelite::ffi::MemoryBudget`): the allocator wrapper is
//! installed before SQLite initializes, so this test has a binary of its own and installs it
//! first.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use edgelite::ffi::{MemoryBudget, install_memory_budgets, memory_budgets_installed, with_memory_budget};
use edgelite::{Connection, ErrorCode};

/// A string of about `mb` MB made by one statement (group_concat grows it by reallocation).
fn big(mb: usize) -> String {
    format!(
        "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < {}) \
         SELECT length(group_concat(hex(zeroblob(500)), '')) FROM n",
        mb * 1000
    )
}

#[test]
fn a_budget_bounds_the_memory_of_its_scopes_statements() {
    assert_eq!(install_memory_budgets(), edgelite::ffi::SQLITE_OK);
    assert!(memory_budgets_installed());
    let conn = Connection::open_in_memory().unwrap();
    let small = MemoryBudget::leak(16 << 20);
    let roomy = MemoryBudget::leak(1 << 30);

    // 40 MB in one statement: past the small budget, refused as out of memory
    let err = with_memory_budget(Some(small), || conn.query_row(&big(40), [], |r| r.get::<_, i64>(0)))
        .expect_err("past the budget");
    assert_eq!(err.sqlite_error_code(), Some(ErrorCode::OutOfMemory), "{err}");
    assert!(small.used() < 1 << 20, "the failed statement gave its memory back: {}", small.used());
    // within it, and in a roomy scope, and outside any, the statements run
    let n: i64 = with_memory_budget(Some(small), || conn.query_row(&big(4), [], |r| r.get(0))).unwrap();
    assert_eq!(n, 4_000_000);
    let n: i64 = with_memory_budget(Some(roomy), || conn.query_row(&big(40), [], |r| r.get(0))).unwrap();
    assert_eq!(n, 40_000_000);
    let n: i64 = conn.query_row(&big(40), [], |r| r.get(0)).unwrap();
    assert_eq!(n, 40_000_000);
    assert!(roomy.used() < 1 << 20, "{}", roomy.used());

    // memory taken in a scope is given back to it by whoever frees it: a table's pages
    with_memory_budget(Some(roomy), || {
        conn.execute_batch(
            "CREATE TABLE t(b); WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 2000) \
             INSERT INTO t SELECT randomblob(1000) FROM n",
        )
    })
    .unwrap();
    let held = roomy.used();
    assert!(held > 2_000_000, "the in-memory table's pages are charged: {held}");
    // closed outside any scope: the pages go back to the budget that paid for them
    drop(conn);
    assert!(roomy.used() < held / 2, "freed outside the scope, given back: {} of {held}", roomy.used());
}
