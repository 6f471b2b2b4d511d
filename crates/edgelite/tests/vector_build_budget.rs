//! A vector index build's blocks live in Rust's heap, outside SQLite's, and count against the
//! memory budget of the scope that runs the build (`edgelite::ffi::with_memory_budget`, which a
//! server sets per tenant): a review's tenant ran fourteen builds at once on TEMP tables and
//! took the server to 5.4 GB that its budget never saw. This binary does not install the
//! allocator wrapper, so the budgets here count the builds alone.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use edgelite::ffi::{MemoryBudget, with_memory_budget};
use edgelite::{Connection, ErrorCode, params};

#[test]
fn a_vector_index_build_counts_against_its_scopes_memory_budget() {
    let conn = Connection::open_in_memory().unwrap();
    conn.execute_batch("CREATE TABLE t(id INTEGER PRIMARY KEY, v F32_BLOB(256))").unwrap();
    let tx = conn.unchecked_transaction().unwrap();
    for i in 0..2000u32 {
        let v: Vec<String> = (0..256u32).map(|j| format!("{}", ((i * 31 + j * 17) % 97) as f32 / 97.0)).collect();
        conn.execute("INSERT INTO t(v) VALUES (vector32(?1))", params![format!("[{}]", v.join(","))]).unwrap();
    }
    tx.commit().unwrap();
    let build = "CREATE INDEX t_v ON t(libsql_vector_idx(v))";

    // 2,000 blocks of over a kilobyte each: past a budget of 1 MiB, refused before it is taken
    let small = MemoryBudget::leak(1 << 20);
    let err = with_memory_budget(Some(small), || conn.execute_batch(build)).expect_err("past the budget");
    assert_eq!(err.sqlite_error_code(), Some(ErrorCode::OutOfMemory), "{err}");
    assert_eq!(small.used(), 0, "the failed build gave its memory back");
    let indexes: i64 =
        conn.query_row("SELECT count(*) FROM sqlite_schema WHERE name = 't_v'", [], |r| r.get(0)).unwrap();
    assert_eq!(indexes, 0, "the failed CREATE INDEX left nothing");

    // within a roomy budget it builds, and gives every byte back when it ends
    let roomy = MemoryBudget::leak(1 << 30);
    with_memory_budget(Some(roomy), || conn.execute_batch(build)).unwrap();
    assert_eq!(roomy.used(), 0, "the build's memory is given back when it ends");
    let near: Vec<i64> = conn
        .prepare("SELECT id FROM vector_top_k('t_v', (SELECT v FROM t WHERE id = 7), 3)")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(near.len(), 3);
}

/// The rows a transaction holds back for its vector index until it needs them (`txn.rs`) count
/// the same way: thirty streams of a review's tenant each held 62 MB so, 2 GB that its budget
/// never saw. Past the budget an INSERT fails with `SQLITE_NOMEM`, on which SQLite rolls the
/// transaction back, and the held rows are given back with it.
#[test]
fn rows_held_back_for_a_vector_index_count_against_the_budget() {
    let conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(
        "CREATE TABLE t(id INTEGER PRIMARY KEY, v F32_BLOB(256)); CREATE INDEX t_v ON t(libsql_vector_idx(v));",
    )
    .unwrap();
    let row = |i: u32| {
        let v: Vec<String> = (0..256u32).map(|j| format!("{}", ((i * 13 + j * 7) % 89) as f32 / 89.0)).collect();
        format!("[{}]", v.join(","))
    };
    let small = MemoryBudget::leak(64 << 10);
    let refused = with_memory_budget(Some(small), || -> Option<(u32, edgelite::Error)> {
        conn.execute_batch("BEGIN").unwrap();
        for i in 0..1000u32 {
            if let Err(e) = conn.execute("INSERT INTO t(v) VALUES (vector32(?1))", params![row(i)]) {
                return Some((i, e));
            }
        }
        None
    });
    let (at, err) = refused.expect("a kilobyte a row passes 64 KiB");
    assert!(at > 10 && at < 100, "refused at row {at}");
    assert_eq!(err.sqlite_error_code(), Some(ErrorCode::OutOfMemory), "{err}");
    // SQLite rolls a transaction back on SQLITE_NOMEM: its rows and the rows held back with them
    assert!(conn.is_autocommit(), "the transaction was rolled back");
    assert_eq!(small.used(), 0, "the held rows were given back");
    let rows: i64 = conn.query_row("SELECT count(*) FROM t", [], |r| r.get(0)).unwrap();
    assert_eq!(rows, 0);
    // outside the scope the same rows go in, and the index holds them all
    for i in 0..100u32 {
        conn.execute("INSERT INTO t(v) VALUES (vector32(?1))", params![row(i)]).unwrap();
    }
    assert_sound(&conn, 100);
}

/// A build whose blocks pass its own limit (`edgelite_vector_build_limit`) writes them out and
/// goes on with a cache of them; the blocks each batch reads into that cache count against the
/// budget as they are read. A review's tenant built an index of 60 MB blocks that way
/// (`max_neighbors=2500000`, two dimensions): its inserts' reads held 1.2 GB that its budget
/// never saw. Here blocks of about a megabyte, a build limit of 4 MiB and a budget of 32 MiB:
/// each row's search reads more blocks than the budget holds.
#[test]
fn the_blocks_a_spilled_build_reads_count_against_the_budget() {
    let conn = points(120);
    build_limit(&conn, 4 << 20);
    let build = "CREATE INDEX t_v ON t(libsql_vector_idx(v, 'max_neighbors=40000'))";

    let small = MemoryBudget::leak(32 << 20);
    let err = with_memory_budget(Some(small), || conn.execute_batch(build)).expect_err("past the budget");
    assert_eq!(err.sqlite_error_code(), Some(ErrorCode::OutOfMemory), "{err}");
    assert_eq!(small.used(), 0, "the failed build gave its memory back");

    let roomy = MemoryBudget::leak(1 << 30);
    with_memory_budget(Some(roomy), || conn.execute_batch(build)).unwrap();
    assert_eq!(roomy.used(), 0, "the build's memory is given back when it ends");
    let check: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(check, "ok");
    let near: i64 =
        conn.query_row("SELECT count(*) FROM vector_top_k('t_v', vector32('[5,5]'), 5)", [], |r| r.get(0)).unwrap();
    assert_eq!(near, 5);

    // the rows a transaction held back go in when it commits, in batches over a cache of the
    // blocks (they do not fit the build limit): charged the same way
    let insert = "BEGIN; INSERT INTO t(v) SELECT vector32('[' || (id + 0.5) || ',3]') FROM t WHERE id <= 70; COMMIT";
    let err = with_memory_budget(Some(small), || conn.execute_batch(insert)).expect_err("past the budget");
    assert_eq!(err.sqlite_error_code(), Some(ErrorCode::OutOfMemory), "{err}");
    if !conn.is_autocommit() {
        conn.execute_batch("ROLLBACK").unwrap();
    }
    assert_eq!(small.used(), 0, "the failed commit gave its memory back");
    with_memory_budget(Some(roomy), || conn.execute_batch(insert)).unwrap();
    assert_eq!(roomy.used(), 0);
    assert_sound(&conn, 190);
}

/// What a batch over a cache of the blocks is charged for is the blocks it reads into the
/// cache, not the index: a commit of 200 held-back rows into an index of 16,000 nodes (13 MB
/// of blocks, past the build limit, so not loaded whole) goes in within a budget of 2 MiB.
#[test]
fn a_commit_over_a_cache_of_the_blocks_fits_a_small_budget() {
    let conn = spread(16_000, 8);
    conn.execute_batch("CREATE INDEX t_v ON t(libsql_vector_idx(v))").unwrap();
    build_limit(&conn, 1 << 20);
    let budget = MemoryBudget::leak(2 << 20);
    let insert = "BEGIN; INSERT INTO t(v) SELECT vector32('[' || (id % 7 + 0.5) || ',1,2,3,4,5,6,7]') FROM t WHERE id <= 200; COMMIT";
    with_memory_budget(Some(budget), || conn.execute_batch(insert)).unwrap();
    assert_eq!(budget.used(), 0);
    assert_sound(&conn, 16_200);
}

/// An insert or a delete reads blocks into buffers of its own, and a delete keeps the blocks
/// of the deleted node's in-neighbours (it rewrites each) until it ends: what those reads take
/// is charged to the budget too (`build.rs`'s `ChargedReads`), and an insert's new block and
/// its copy of each block it rewrites. A review's tenant had four streams delete rows of TEMP
/// indexes of 60 MB blocks at once: 1.6 GB that no budget saw. Here blocks of about a
/// megabyte (`alpha=1000` keeps every edge of the 8 nodes).
#[test]
fn the_blocks_an_insert_or_a_delete_holds_count_against_the_budget() {
    let conn = points(8);
    conn.execute_batch("CREATE INDEX t_v ON t(libsql_vector_idx(v, 'max_neighbors=40000', 'alpha=1000'))").unwrap();
    let insert =
        |budget| with_memory_budget(Some(budget), || conn.execute("INSERT INTO t(v) VALUES (vector32('[4.5,2]'))", []));
    let delete =
        |budget, id: i64| with_memory_budget(Some(budget), || conn.execute("DELETE FROM t WHERE id = ?1", [id]));
    // an insert holds three blocks: the new one, one it rewrites (one at a time, in one buffer)
    // and that one's copy as it was; a delete here holds the blocks of the seven other nodes
    let tiny = MemoryBudget::leak(2 << 20);
    let err = insert(tiny).expect_err("past the budget");
    assert_eq!(err.sqlite_error_code(), Some(ErrorCode::OutOfMemory), "{err}");
    assert_eq!(tiny.used(), 0, "the failed insert gave its memory back");
    let small = MemoryBudget::leak(4 << 20);
    insert(small).unwrap();
    let err = delete(small, 4).expect_err("past the budget");
    assert_eq!(err.sqlite_error_code(), Some(ErrorCode::OutOfMemory), "{err}");
    assert_eq!(small.used(), 0, "the failed delete gave its memory back");

    let roomy = MemoryBudget::leak(1 << 30);
    delete(roomy, 4).unwrap();
    assert_eq!(roomy.used(), 0);
    assert_sound(&conn, 8);
}

/// `PRAGMA integrity_check` keeps every node's edge list until it ends: charged at the most a
/// block holds. A review's tenant filled every slot of 1,200 blocks of 65,535 edges through
/// the shadow table, and its check held 2.2 GB that its budget never saw.
#[test]
fn an_integrity_check_counts_the_edge_lists_it_keeps_against_the_budget() {
    let conn = points(8);
    conn.execute_batch("CREATE INDEX t_v ON t(libsql_vector_idx(v, 'max_neighbors=40000'))").unwrap();
    let check = |budget| {
        with_memory_budget(Some(budget), || conn.query_row("PRAGMA integrity_check", [], |r| r.get::<_, String>(0)))
    };
    // 8 nodes of 40,000 edge slots: 2.5 MB at 8 bytes a slot
    let small = MemoryBudget::leak(2 << 20);
    let err = check(small).expect_err("past the budget");
    assert_eq!(err.sqlite_error_code(), Some(ErrorCode::OutOfMemory), "{err}");
    assert_eq!(small.used(), 0);
    let roomy = MemoryBudget::leak(4 << 20);
    assert_eq!(check(roomy).unwrap(), "ok");
    assert_eq!(roomy.used(), 0);
}

/// A table `t(id, v F32_BLOB(2))` of `rows` points, row n at `[n, n * 7 % 13]`.
fn points(rows: u32) -> Connection {
    let conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(&format!(
        "CREATE TABLE t(id INTEGER PRIMARY KEY, v F32_BLOB(2));
         INSERT INTO t(v) WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < {rows})
           SELECT vector32('[' || n || ',' || (n * 7 % 13) || ']') FROM c;"
    ))
    .unwrap();
    conn
}

/// `PRAGMA integrity_check` says ok and the index of `t` has `nodes` nodes.
fn assert_sound(conn: &Connection, nodes: i64) {
    let check: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(check, "ok");
    let have: i64 = conn.query_row("SELECT count(*) FROM t_v_shadow", [], |r| r.get(0)).unwrap();
    assert_eq!(have, nodes);
}

/// A build past its build limit goes on over a cache of its blocks, each batch reading the
/// blocks it lacks. Its batches are as large as the budget's room for those reads
/// (`build.rs`'s `rows_within`), so an ordinary build within a budget of about twice its build
/// limit, the server's ratio (512 MiB and 256 MiB), is not refused: here 10,000 rows of 32
/// dimensions (10.4 MB of blocks), a build limit of 256 KiB and a budget of 600 KB, where
/// batches of a two-hundredth of the graph read past the budget.
#[test]
fn a_spilled_build_of_ordinary_blocks_fits_a_budget_of_twice_its_build_limit() {
    let conn = spread(10_000, 32);
    build_limit(&conn, 256 << 10);
    let budget = MemoryBudget::leak(600_000);
    with_memory_budget(Some(budget), || conn.execute_batch("CREATE INDEX t_v ON t(libsql_vector_idx(v))")).unwrap();
    assert_eq!(budget.used(), 0);
    assert_sound(&conn, 10_000);
}

/// A table `t(id, v F32_BLOB(dims))` of `rows` rows, row n's first components `n % p` for the
/// primes from 97 down (up to 16 of them), the rest 1, 2, 3...
fn spread(rows: u32, dims: usize) -> Connection {
    const PRIMES: [u32; 16] = [97, 89, 83, 79, 73, 71, 67, 61, 59, 53, 47, 43, 41, 37, 31, 29];
    let parts: Vec<String> = (0..dims)
        .map(|i| match PRIMES.get(i) {
            Some(p) => format!("(n % {p})"),
            None => format!("'{}'", i - PRIMES.len() + 1),
        })
        .collect();
    let conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(&format!(
        "CREATE TABLE t(id INTEGER PRIMARY KEY, v F32_BLOB({dims}));
         INSERT INTO t(v) WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < {rows})
           SELECT vector32('[' || {} || ']') FROM c;",
        parts.join(" || ',' || ")
    ))
    .unwrap();
    conn
}

/// Sets the connection's vector index build limit (`edgelite_vector_build_limit`).
fn build_limit(conn: &Connection, bytes: i64) {
    let _previous: i64 = conn.query_row("SELECT edgelite_vector_build_limit(?1)", [bytes], |r| r.get(0)).unwrap();
}
