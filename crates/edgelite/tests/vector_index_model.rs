//! Model-based test of the vector index through SQL: random inserts, updates, deletes, REPLACE,
//! transactions that commit or roll back, and searches, checked after every step against a
//! brute-force model of the table. The index is small enough that a search with k >= rows visits
//! every node, so it must return exactly the live rows: no deleted row, none unreachable.

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
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => simple_op(),
        1 => (prop::collection::vec(simple_op(), 1..6), any::<bool>()).prop_map(|(ops, commit)| Op::Tx(ops, commit)),
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
        }
    }
}
