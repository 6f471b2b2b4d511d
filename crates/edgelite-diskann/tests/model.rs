//! Model-based test: random inserts (with duplicate vectors), deletes, updates and searches
//! against a brute-force model, checking the graph invariants after every step.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;

use common::brute_force;
use edgelite_diskann::{DiskAnn, GraphError, MemError, MemStorage, Metadata};
use edgelite_vector::{Vector, VectorType};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

const CONFIGS: [(&str, &[&str]); 7] = [
    ("F32_BLOB(4)", &[]),
    ("F32_BLOB(4)", &["metric=l2"]),
    ("F32_BLOB(16)", &["max_neighbors=8", "metric=l2"]),
    ("F32_BLOB(8)", &["compress_neighbors=float8"]),
    ("F16_BLOB(4)", &[]),
    ("F32_BLOB(8)", &["compress_neighbors=float1bit"]),
    ("F64_BLOB(3)", &["alpha=1.0", "insert_l=8"]),
];

#[derive(Debug, Clone)]
enum Step {
    Insert(i64, Vec<f32>),
    Delete(i64),
    Update(i64, Vec<f32>),
    Search(Vec<f32>, usize),
}

fn vector(dims: usize) -> impl Strategy<Value = Vec<f32>> {
    // a small pool makes exact duplicates frequent; components are never all zero (cosine of a
    // zero vector is NaN, covered elsewhere)
    let pool = (0..4u8).prop_map(move |p| (0..dims).map(|i| f32::from(p) + 1.0 + i as f32 * 0.5).collect());
    let free = proptest::collection::vec(-4i8..=4, dims).prop_map(|mut v| {
        if v.iter().all(|&x| x == 0) {
            v[0] = 1;
        }
        v.into_iter().map(f32::from).collect()
    });
    prop_oneof![1 => pool, 2 => free]
}

fn steps(dims: usize) -> impl Strategy<Value = Vec<Step>> {
    let id = 0i64..40;
    let step = prop_oneof![
        4 => (id.clone(), vector(dims)).prop_map(|(i, v)| Step::Insert(i, v)),
        2 => id.clone().prop_map(Step::Delete),
        1 => (id, vector(dims)).prop_map(|(i, v)| Step::Update(i, v)),
        2 => (vector(dims), 0usize..15).prop_map(|(v, k)| Step::Search(v, k)),
    ];
    proptest::collection::vec(step, 1..120)
}

fn column(ty: VectorType, v: &[f32]) -> Vector {
    Vector::from_f32(v).unwrap().convert(ty)
}

fn run(idx: &DiskAnn, steps: &[Step]) -> Result<(), TestCaseError> {
    let ty = idx.config().vector_type;
    let cap = idx.layout().capacity();
    let mut store = MemStorage::new();
    let mut model: BTreeMap<i64, Vector> = BTreeMap::new();
    for step in steps {
        match step {
            Step::Insert(id, v) => {
                let x = column(ty, v);
                let r = idx.insert(&mut store, *id, x.as_ref());
                if model.contains_key(id) {
                    prop_assert!(matches!(r, Err(GraphError::Storage(MemError::Exists(_)))));
                } else {
                    r.unwrap();
                    model.insert(*id, x);
                }
            }
            Step::Delete(id) => {
                prop_assert_eq!(idx.delete(&mut store, *id).unwrap(), model.remove(id).is_some());
            }
            Step::Update(id, v) => {
                let x = column(ty, v);
                prop_assert_eq!(idx.delete(&mut store, *id).unwrap(), model.remove(id).is_some());
                idx.insert(&mut store, *id, x.as_ref()).unwrap();
                model.insert(*id, x);
            }
            Step::Search(v, k) => {
                let q = column(ty, v);
                let got = idx.search(&mut store, q.as_ref(), *k).unwrap();
                let data: Vec<(i64, Vector)> = model.iter().map(|(i, x)| (*i, x.clone())).collect();
                // the model never exceeds search_l nodes, so a search visits every reachable
                // node and must equal brute force exactly (same kernels, ties by rowid)
                let want = brute_force(idx, &data, q.as_ref(), *k);
                let ids: Vec<i64> = got.iter().map(|n| n.id).collect();
                prop_assert_eq!(ids, want);
            }
        }
        let report = idx.check(&mut store).unwrap();
        prop_assert!(report.is_ok(), "after {:?}: {:?}", step, report);
        prop_assert_eq!(report.nodes, model.len());
        prop_assert!(report.max_degree <= cap);
    }
    Ok(())
}

#[test]
fn operations_match_the_model() {
    let seed: u64 = std::env::var("EDGELITE_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x5eed_2026);
    for (i, (col, options)) in CONFIGS.iter().enumerate() {
        let idx = DiskAnn::new(Metadata::create(col, options).unwrap().1).unwrap();
        let dims = idx.config().dims as usize;
        let mut bytes = [0u8; 32];
        bytes[..8].copy_from_slice(&(seed + i as u64).to_le_bytes());
        let config = Config { cases: 48, failure_persistence: None, ..Config::default() };
        let mut runner = TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &bytes));
        if let Err(e) = runner.run(&steps(dims), |s| run(&idx, &s)) {
            panic!("{col} {options:?}: {e}\nseed = {} (rerun with EDGELITE_SEED={seed})", seed + i as u64);
        }
    }
}
