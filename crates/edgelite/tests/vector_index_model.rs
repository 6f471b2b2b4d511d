//! Model-based test of the vector index through SQL: random inserts, updates, deletes, REPLACE,
//! `INSERT ... SELECT` statements of many rows (some failing half-way), transactions that
//! commit or roll back with savepoints and searches inside them, checked after every step
//! against a brute-force model of the table. The index is small enough that a search with
//! k >= rows visits every node, so it must return exactly the live rows: no deleted row, none
//! unreachable.
//!
//! Inside a transaction the index holds inserted rows back (method table version 3,
//! `crates/edgelite-sys/src/bridge/txn.rs`) and adds them when a search, a delete, a savepoint
//! or the commit needs them, in batches once there are 64 or more: the ops below reach each of
//! those paths, and a rollback of a statement, a savepoint or a transaction must drop exactly
//! the rows it undoes.

use std::collections::BTreeMap;

use edgelite::{Connection, params};
use proptest::prelude::*;

const DIMS: usize = 4;

#[derive(Debug, Clone)]
enum Op {
    Insert(i64, [i8; DIMS]),
    Update(i64, [i8; DIMS]),
    Replace(i64, [i8; DIMS]),
    Delete(i64),
    /// A transaction of these operations that is rolled back (false) or committed (true).
    Tx(Vec<Op>, bool),
    /// `n` rows with ids from `start` (existing ones ignored) in one `INSERT ... SELECT`,
    /// which fails at id `bad` (a vector of the wrong size) if that is one of them.
    Bulk {
        start: i64,
        n: i64,
        bad: Option<i64>,
    },
    /// Inside a transaction: a search, checked against the transaction's own view.
    Search,
    /// Inside a transaction: a savepoint around these operations, released (true) or rolled
    /// back to (false).
    Savepoint(Vec<Op>, bool),
}

/// The vector a `Bulk` row gets, from its id.
fn bulk_vector(id: i64) -> [i8; DIMS] {
    let f = |m: i64| i8::try_from((id * m).rem_euclid(7) - 3).expect("small");
    [f(1), f(3), f(5), f(11)]
}

fn vector() -> impl Strategy<Value = [i8; DIMS]> {
    // Small integers: duplicates and ties happen often, as they do in real data.
    prop::array::uniform4(-3i8..=3)
}

fn simple_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (1i64..40, vector()).prop_map(|(id, v)| Op::Insert(id, v)),
        2 => (1i64..40, vector()).prop_map(|(id, v)| Op::Update(id, v)),
        1 => (1i64..40, vector()).prop_map(|(id, v)| Op::Replace(id, v)),
        2 => (1i64..40).prop_map(Op::Delete),
        1 => (30i64..300, 1i64..120, prop::option::weighted(0.3, 30i64..420))
            .prop_map(|(start, n, bad)| Op::Bulk { start, n, bad }),
    ]
}

/// What a transaction runs: the simple ops, many single-row inserts in a row (which the index
/// holds back), searches and savepoints.
fn tx_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => simple_op(),
        1 => Just(Op::Search),
        1 => (prop::collection::vec(simple_op(), 1..8), any::<bool>()).prop_map(|(ops, keep)| Op::Savepoint(ops, keep)),
        1 => (40i64..400, 60usize..100, vector()).prop_map(|(start, n, v)| {
            Op::Savepoint((0..n as i64).map(|i| Op::Insert(start + i, v)).collect(), true)
        }),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => simple_op(),
        2 => (prop::collection::vec(tx_op(), 1..12), any::<bool>()).prop_map(|(ops, commit)| Op::Tx(ops, commit)),
    ]
}

fn text(v: &[i8; DIMS]) -> String {
    format!("[{}]", v.iter().map(i8::to_string).collect::<Vec<_>>().join(","))
}

/// Applies `op` to the database and, when it succeeds, to the model.
fn apply(conn: &Connection, model: &mut BTreeMap<i64, [i8; DIMS]>, op: &Op) {
    match op {
        Op::Insert(id, v) => {
            let done =
                conn.execute("INSERT OR IGNORE INTO t VALUES (?1, vector(?2))", params![id, text(v)]).expect("insert");
            if done == 1 {
                model.insert(*id, *v);
            }
        }
        Op::Update(id, v) => {
            conn.execute("UPDATE t SET v = vector(?2) WHERE id = ?1", params![id, text(v)]).expect("update");
            if let Some(slot) = model.get_mut(id) {
                *slot = *v;
            }
        }
        Op::Replace(id, v) => {
            conn.execute("INSERT OR REPLACE INTO t VALUES (?1, vector(?2))", params![id, text(v)]).expect("replace");
            model.insert(*id, *v);
        }
        Op::Delete(id) => {
            conn.execute("DELETE FROM t WHERE id = ?1", [id]).expect("delete");
            model.remove(id);
        }
        Op::Tx(ops, commit) => {
            let mut scratch = model.clone();
            conn.execute_batch("BEGIN").expect("begin");
            for op in ops {
                apply(conn, &mut scratch, op);
            }
            conn.execute_batch(if *commit { "COMMIT" } else { "ROLLBACK" }).expect("end");
            if *commit {
                *model = scratch;
            }
        }
        Op::Bulk { start, n, bad } => {
            let done = conn.execute(
                "WITH RECURSIVE s(x) AS (SELECT ?1 UNION ALL SELECT x + 1 FROM s WHERE x < ?1 + ?2 - 1)
                 INSERT OR IGNORE INTO t SELECT x, CASE WHEN x = ?3 THEN vector('[1,2]') ELSE vector(
                   '[' || ((x * 1) % 7 - 3) || ',' || ((x * 3) % 7 - 3) || ',' || ((x * 5) % 7 - 3) || ','
                   || ((x * 11) % 7 - 3) || ']') END FROM s",
                params![start, n, bad.unwrap_or(-1)],
            );
            let fails = bad.is_some_and(|b| (*start..start + n).contains(&b) && !model.contains_key(&b));
            match done {
                Ok(_) if !fails => {
                    for id in *start..start + n {
                        model.entry(id).or_insert_with(|| bulk_vector(id));
                    }
                }
                Err(e) if fails => assert!(e.to_string().contains("dimensions are different"), "{e}"),
                other => panic!("bulk insert from {start} ({n} rows, bad {bad:?}): {other:?}"),
            }
        }
        Op::Search => check(conn, model, &[0, 1, -1, 2]),
        Op::Savepoint(ops, keep) => {
            let mut scratch = model.clone();
            conn.execute_batch("SAVEPOINT s").expect("savepoint");
            for op in ops {
                apply(conn, &mut scratch, op);
            }
            conn.execute_batch(if *keep { "RELEASE s" } else { "ROLLBACK TO s; RELEASE s" }).expect("end");
            if *keep {
                *model = scratch;
            }
        }
    }
}

fn check(conn: &Connection, model: &BTreeMap<i64, [i8; DIMS]>, query: &[i8; DIMS]) {
    let k = model.len() as i64 + 5;
    let mut stmt = conn.prepare("SELECT id FROM vector_top_k('t_idx', vector(?1), ?2)").expect("prepare");
    let found: Vec<i64> =
        stmt.query_map(params![text(query), k], |r| r.get(0)).expect("search").map(|r| r.expect("row")).collect();
    let mut sorted = found.clone();
    sorted.sort_unstable();
    let live: Vec<i64> = model.keys().copied().collect();
    assert_eq!(sorted, live, "the index must return exactly the live rows");
    // Nearest first: distances never decrease along the answer (L2 on small integers is exact).
    let d =
        |id: &i64| -> i64 { model[id].iter().zip(query).map(|(a, b)| (i64::from(*a) - i64::from(*b)).pow(2)).sum() };
    assert!(found.windows(2).all(|w| d(&w[0]) <= d(&w[1])), "not in distance order: {found:?}");
    let verdict: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).expect("integrity");
    assert_eq!(verdict, "ok");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn index_matches_a_brute_force_model(ops in prop::collection::vec(op(), 1..60), query in vector()) {
        let conn = Connection::open_in_memory().expect("open");
        conn.execute_batch(
            "CREATE TABLE t (id INTEGER PRIMARY KEY, v F32_BLOB(4));
             CREATE INDEX t_idx ON t (libsql_vector_idx(v, 'metric=l2', 'max_neighbors=6'));",
        ).expect("schema");
        let mut model = BTreeMap::new();
        for op in &ops {
            apply(&conn, &mut model, op);
            check(&conn, &model, &query);
            let held: i64 = conn
                .query_row("SELECT count(*) FROM edgelite_vector_pending", [], |r| r.get(0))
                .expect("pending");
            assert_eq!(held, 0, "rows held back outside a transaction");
        }
    }
}
