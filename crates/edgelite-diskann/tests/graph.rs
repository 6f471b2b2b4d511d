//! Graph behaviour against brute force: edge cases, duplicates, churn, corruption, recall.
#![allow(clippy::unwrap_used)]

mod common;

use common::{Rng, brute_force, recall, seed};
use edgelite_diskann::{DiskAnn, GraphError, Layout, MemError, MemStorage, Metadata, tag};
use edgelite_vector::kernels::{active, fast_distance};
use edgelite_vector::{Vector, VectorType};

fn index(column: &str, options: &[&str]) -> DiskAnn {
    DiskAnn::new(Metadata::create(column, options).unwrap().1).unwrap()
}

fn v(x: &[f32]) -> Vector {
    Vector::from_f32(x).unwrap()
}

fn ids(hits: &[edgelite_diskann::Neighbor]) -> Vec<i64> {
    hits.iter().map(|h| h.id).collect()
}

#[test]
fn empty_index_and_k_zero() {
    let idx = index("F32_BLOB(3)", &[]);
    let mut s = MemStorage::new();
    let q = v(&[1., 2., 3.]);
    assert!(idx.search(&mut s, q.as_ref(), 10).unwrap().is_empty());
    assert!(!idx.delete(&mut s, 1).unwrap());
    assert!(idx.check(&mut s).unwrap().is_ok());
    idx.insert(&mut s, 1, q.as_ref()).unwrap();
    assert!(idx.search(&mut s, q.as_ref(), 0).unwrap().is_empty(), "k = 0 (libSQL: double free)");
    assert_eq!(ids(&idx.search(&mut s, q.as_ref(), 10).unwrap()), [1]);
    assert!(idx.delete(&mut s, 1).unwrap());
    assert!(s.is_empty());
    assert!(idx.search(&mut s, q.as_ref(), 10).unwrap().is_empty());
}

#[test]
fn query_and_insert_errors_have_libsqls_text() {
    let idx = index("F32_BLOB(4)", &[]);
    let mut s = MemStorage::new();
    let e = idx.search(&mut s, v(&[1., 2.]).as_ref(), 1).unwrap_err();
    assert_eq!(e.to_string(), "vector index(search): dimensions are different: 2 != 4");
    let q64 = Vector::from_f64(&[1., 2., 3., 4.]).unwrap();
    let e = idx.search(&mut s, q64.as_ref(), 1).unwrap_err();
    assert_eq!(e.to_string(), "vector index(search): vector type differs from column type: 2 != 1");
    let e = idx.insert(&mut s, 1, v(&[1.]).as_ref()).unwrap_err();
    assert_eq!(e.to_string(), "vector index(insert): dimensions are different: 1 != 4");
    idx.insert(&mut s, 1, v(&[1., 2., 3., 4.]).as_ref()).unwrap();
    let e = idx.insert(&mut s, 1, v(&[1., 2., 3., 4.]).as_ref()).unwrap_err();
    assert!(matches!(e, GraphError::Storage(MemError::Exists(1))), "{e}");
}

#[test]
fn k_is_not_capped_by_search_l() {
    let idx = index("F32_BLOB(8)", &["search_l=10"]);
    let mut s = MemStorage::new();
    let mut rng = Rng(seed(7));
    let data: Vec<(i64, Vector)> = (0..300).map(|i| (i, rng.vector(8))).collect();
    for (id, x) in &data {
        idx.insert(&mut s, *id, x.as_ref()).unwrap();
    }
    let q = rng.vector(8);
    assert_eq!(idx.search(&mut s, q.as_ref(), 250).unwrap().len(), 250);
    // a list at least as large as the index visits every node: exact
    let all = idx.search(&mut s, q.as_ref(), 300).unwrap();
    assert_eq!(ids(&all), brute_force(&idx, &data, q.as_ref(), 300));
    assert!(all.windows(2).all(|w| w[0].distance <= w[1].distance));
    // per-query width
    assert_eq!(idx.search_with(&mut s, q.as_ref(), 5, 300).unwrap().len(), 5);
}

/// libSQL #2104 / #2197: duplicates must all be returned, and stay reachable after one goes.
#[test]
fn duplicates_stay_reachable() {
    for options in [&[][..], &["metric=l2"], &["compress_neighbors=float8"], &["max_neighbors=8"]] {
        let idx = index("F32_BLOB(16)", options);
        let mut s = MemStorage::new();
        let mut rng = Rng(seed(11));
        let dup = rng.vector(16);
        let mut data = Vec::new();
        let mut dups = Vec::new();
        for id in 0..120 {
            let x = if id % 3 == 0 {
                dups.push(id);
                dup.clone()
            } else {
                rng.vector(16)
            };
            idx.insert(&mut s, id, x.as_ref()).unwrap();
            data.push((id, x));
        }
        let check = |s: &mut MemStorage, dups: &[i64]| {
            let r = idx.check(s).unwrap();
            assert!(r.is_ok(), "{options:?}: {r:?}");
            let got = ids(&idx.search(s, dup.as_ref(), dups.len()).unwrap());
            let mut sorted = got.clone();
            sorted.sort();
            assert_eq!(sorted, dups, "{options:?}: every duplicate is returned first");
        };
        check(&mut s, &dups);
        for victim in [0, 60, 3] {
            assert!(idx.delete(&mut s, victim).unwrap());
            dups.retain(|&d| d != victim);
            check(&mut s, &dups);
        }
    }
}

/// Rows on a 3x3 integer grid: nine groups of about 330 exact duplicates (under cosine, of one
/// direction), then a fifth of them deleted. A search for a group's vector, and the incremental
/// search, return the group first: all of it up to k = 100, and most of it at k = the whole
/// group (the shares are printed).
///
/// Before: a new member was linked from inside its group only while the group's members had
/// room for it, and a delete whose search did not meet the member that linked to the deleted
/// row (a group larger than its list) left the rows after it reached only from farther nodes,
/// which a search reads after it has returned rows. At k = the whole group the searches
/// returned 0.53 to 0.77 of it (seed 5), and after the deletes, once new members were spliced
/// in, 0.65 to 0.90 at worst on seeds 1 to 5. Then a member that linked to more duplicates
/// than a new node keeps lost all but two of them when its list was pruned again (a back edge
/// that overflowed it, a delete's repair), and a deleted row's stale edges took places in the
/// search's list that it never gave back: 0.84 to 0.98 at worst before the deletes, 0.85 to
/// 0.95 after them; now 1.0 before and 0.86 to 0.99 after (seeds 1 to 5).
#[test]
fn a_search_in_a_large_group_of_duplicates_returns_the_group() {
    for (options, build) in
        [("metric=l2", false), ("metric=cosine", false), ("metric=l2", true), ("metric=cosine", true)]
    {
        let idx = index("F32_BLOB(2)", &[options]);
        let mut s = MemStorage::new();
        let mut rng = Rng(seed(5));
        let mut data: Vec<(i64, Vector)> =
            (1..=3000).map(|id| (id, v(&[(rng.below(3)) as f32 - 1.0, (rng.below(3)) as f32 - 1.0]))).collect();
        if build {
            let rows: Vec<_> = data.iter().map(|(id, x)| (*id, x.as_ref())).collect();
            idx.build(&mut s, &rows).unwrap();
        } else {
            for (id, x) in &data {
                idx.insert(&mut s, *id, x.as_ref()).unwrap();
            }
        }
        for deleted in [false, true] {
            if deleted {
                let gone: Vec<i64> = data.iter().map(|(id, _)| *id).filter(|_| rng.below(5) == 0).collect();
                for id in &gone {
                    assert!(idx.delete(&mut s, *id).unwrap());
                }
                data.retain(|(id, _)| !gone.contains(id));
                assert!(idx.check(&mut s).unwrap().unreachable.is_empty(), "{options} build={build}");
            }
            // percent of the whole group, at least (see above)
            let least = if deleted { 85 } else { 98 };
            for q in [[1.0, 1.0], [-1.0, 0.0], [0.0, 1.0]] {
                let q = v(&q);
                let at = |x: &Vector| fast_distance(active(), idx.config().metric, q.as_ref(), x.as_ref()).unwrap();
                let group = data.iter().filter(|(_, x)| at(x) <= 1e-6).count();
                for k in [10, 100, group] {
                    let want = k.min(group);
                    let hits = idx.search(&mut s, q.as_ref(), k).unwrap();
                    let mut stream = idx.stream::<MemError>(q.as_ref(), 100).unwrap();
                    let first = stream.next_batch(&idx, &mut s, k).unwrap();
                    for (how, rows) in [("search", hits), ("stream", first)] {
                        let got = rows.iter().filter(|n| n.distance <= 1e-6).count();
                        let what =
                            format!("{options} build={build} deleted={deleted} {q:?} k={k}: {how} {got} of {want}");
                        eprintln!("{what}");
                        let enough = if k <= 100 { got == want } else { got * 100 >= want * least };
                        assert!(enough, "{what}");
                    }
                }
            }
        }
    }
}

/// Edges to rows that vanished (libSQL leaves them) are skipped and cleaned up.
#[test]
fn dangling_edges_are_skipped() {
    let idx = index("F32_BLOB(4)", &[]);
    let mut s = MemStorage::new();
    let mut rng = Rng(seed(3));
    let data: Vec<(i64, Vector)> = (0..60).map(|i| (i, rng.vector(4))).collect();
    for (id, x) in &data {
        idx.insert(&mut s, *id, x.as_ref()).unwrap();
    }
    for gone in [5, 17, 30] {
        s.remove_raw(gone);
    }
    assert!(!idx.check(&mut s).unwrap().dangling.is_empty());
    let live: Vec<(i64, Vector)> = data.iter().filter(|(i, _)| ![5, 17, 30].contains(i)).cloned().collect();
    let q = rng.vector(4);
    let got = idx.search(&mut s, q.as_ref(), 57).unwrap();
    assert!(got.iter().all(|h| ![5, 17, 30].contains(&h.id)));
    assert_eq!(ids(&got), brute_force(&idx, &live, q.as_ref(), 57));
    // a re-inserted rowid gets a fresh node; deletes and inserts drop dangling edges they meet
    idx.insert(&mut s, 5, rng.vector(4).as_ref()).unwrap();
    assert!(idx.delete(&mut s, 40).unwrap());
    assert!(idx.check(&mut s).unwrap().unreachable.is_empty());
}

#[test]
fn corrupt_blocks_are_errors_not_panics() {
    let idx = index("F32_BLOB(4)", &[]);
    let mut s = MemStorage::new();
    let mut rng = Rng(seed(5));
    for i in 0..20 {
        idx.insert(&mut s, i, rng.vector(4).as_ref()).unwrap();
    }
    let q = rng.vector(4);
    let good = s.get(0).unwrap().to_vec();
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (good[..good.len() - 1].to_vec(), "corrupt node block 0"),
        (
            {
                let mut b = good.clone();
                b[8..10].copy_from_slice(&999u16.to_le_bytes());
                b
            },
            "edges, capacity",
        ),
        (
            {
                let mut b = good.clone();
                b[0] = 77;
                b
            },
            "holds node 77",
        ),
        (Vec::new(), "corrupt node block 0"),
    ];
    for (bytes, msg) in cases {
        s.put_raw(0, bytes);
        for e in [
            idx.search(&mut s, q.as_ref(), 5).unwrap_err(),
            idx.insert(&mut s, 100, q.as_ref()).unwrap_err(),
            idx.check(&mut s).unwrap_err(),
        ] {
            assert!(e.to_string().contains(msg), "{e}");
        }
    }
    s.put_raw(0, good);
    assert!(idx.check(&mut s).unwrap().is_ok());
    // random garbage anywhere: errors or results, never a panic
    let mut rng = Rng(99);
    for round in 0..200 {
        let mut t = s.clone();
        let id = rng.below(20) as i64;
        let mut b = t.get(id).unwrap().to_vec();
        for _ in 0..1 + rng.below(8) {
            let at = rng.below(b.len() as u64) as usize;
            b[at] = rng.next_u64() as u8;
        }
        if round % 7 == 0 {
            b.truncate(rng.below(b.len() as u64) as usize);
        }
        t.put_raw(id, b);
        let _ = idx.search(&mut t, q.as_ref(), 10);
        let _ = idx.insert(&mut t, 1000, q.as_ref());
        let _ = idx.delete(&mut t, id);
        let _ = idx.check(&mut t);
    }
}

#[test]
fn deterministic_bytes_and_results() {
    let build = || {
        let idx = index("F32_BLOB(8)", &[]);
        let mut s = MemStorage::new();
        let mut rng = Rng(42);
        for i in 0..200 {
            idx.insert(&mut s, i, rng.vector(8).as_ref()).unwrap();
        }
        for i in (0..200).step_by(7) {
            idx.delete(&mut s, i).unwrap();
        }
        s
    };
    let (a, b) = (build(), build());
    assert!(a.ids().eq(b.ids()));
    assert!(a.ids().all(|id| a.get(id) == b.get(id)));
}

#[test]
fn older_formats_are_read_and_written_in_their_format() {
    for format in [1u64, 2] {
        let mut meta = Metadata::create("F32_BLOB(4)", &[]).unwrap().0;
        let mut bytes = meta.as_bytes().to_vec();
        bytes.push(tag::FORMAT);
        bytes.extend_from_slice(&format.to_le_bytes());
        meta = Metadata::from_bytes(&bytes).unwrap();
        let config = meta.config().unwrap();
        assert_eq!(config.format as u64, format);
        let idx = DiskAnn::new(config).unwrap();
        let mut s = MemStorage::new();
        let mut rng = Rng(seed(8));
        let data: Vec<(i64, Vector)> = (0..80).map(|i| (i, rng.vector(4))).collect();
        for (id, x) in &data {
            idx.insert(&mut s, *id, x.as_ref()).unwrap();
        }
        let q = rng.vector(4);
        assert_eq!(ids(&idx.search(&mut s, q.as_ref(), 80).unwrap()), brute_force(&idx, &data, q.as_ref(), 80));
        let layout = Layout::new(format as u8, VectorType::F32, VectorType::F32, 4, 320).unwrap();
        let n = layout.node(s.get(3).unwrap()).unwrap();
        assert_eq!(n.id(), 3);
        assert_eq!(n.edge_distance(0).is_some(), format == 2);
        assert!(idx.check(&mut s).unwrap().is_ok());
    }
}

/// The brief's bar: recall@10 >= 0.95 on 1,000 random 64-dim vectors at default settings.
#[test]
fn recall_at_10_default_settings() {
    let s0 = seed(20_260_801);
    let mut rng = Rng(s0);
    let idx = index("F32_BLOB(64)", &[]);
    let mut s = MemStorage::new();
    let data: Vec<(i64, Vector)> = (0..1000).map(|i| (i + 1, rng.vector(64))).collect();
    for (id, x) in &data {
        idx.insert(&mut s, *id, x.as_ref()).unwrap();
    }
    let queries: Vec<Vector> = (0..100).map(|_| rng.vector(64)).collect();
    let r = recall(&idx, &mut s, &data, &queries, 10);
    eprintln!("recall@10 = {r:.4} (seed {s0})");
    assert!(r >= 0.95, "recall@10 {r} < 0.95 with seed {s0}");
    let report = idx.check(&mut s).unwrap();
    assert!(report.is_ok(), "{report:?}");
}

/// Deletes and re-inserts must not decay the graph (libSQL: recall decays until REINDEX).
#[test]
fn recall_after_churn() {
    let s0 = seed(77);
    let mut rng = Rng(s0);
    let idx = index("F32_BLOB(64)", &[]);
    let mut s = MemStorage::new();
    let mut data: Vec<(i64, Vector)> = (0..1000).map(|i| (i, rng.vector(64))).collect();
    for (id, x) in &data {
        idx.insert(&mut s, *id, x.as_ref()).unwrap();
    }
    // delete 400 (a third of them updates: re-inserted with a new vector under the same id)
    for round in 0..400 {
        let at = rng.below(data.len() as u64) as usize;
        let (id, _) = data.swap_remove(at);
        assert!(idx.delete(&mut s, id).unwrap());
        if round % 3 == 0 {
            let x = rng.vector(64);
            idx.insert(&mut s, id, x.as_ref()).unwrap();
            data.push((id, x));
        }
    }
    for id in 1000..1300 {
        let x = rng.vector(64);
        idx.insert(&mut s, id, x.as_ref()).unwrap();
        data.push((id, x));
    }
    let report = idx.check(&mut s).unwrap();
    assert_eq!(report.nodes, data.len());
    assert!(report.is_ok(), "seed {s0}: {report:?}");
    let queries: Vec<Vector> = (0..100).map(|_| rng.vector(64)).collect();
    let r = recall(&idx, &mut s, &data, &queries, 10);
    eprintln!("recall@10 after churn = {r:.4} (seed {s0})");
    assert!(r >= 0.95, "recall@10 {r} < 0.95 with seed {s0}");
}

#[test]
fn compressed_neighbours_recall() {
    for (opt, bar) in [
        ("compress_neighbors=float8", 0.9),
        ("compress_neighbors=float16", 0.95),
        ("compress_neighbors=float1bit", 0.5),
    ] {
        let s0 = seed(5);
        let mut rng = Rng(s0);
        let idx = index("F32_BLOB(64)", &[opt]);
        let mut s = MemStorage::new();
        let data: Vec<(i64, Vector)> = (0..1000).map(|i| (i, rng.vector(64))).collect();
        for (id, x) in &data {
            idx.insert(&mut s, *id, x.as_ref()).unwrap();
        }
        let queries: Vec<Vector> = (0..50).map(|_| rng.vector(64)).collect();
        let r = recall(&idx, &mut s, &data, &queries, 10);
        eprintln!("{opt}: recall@10 = {r:.4} (seed {s0})");
        assert!(r >= bar, "{opt}: recall@10 {r} < {bar} with seed {s0}");
        assert!(idx.check(&mut s).unwrap().is_ok());
    }
}

#[test]
fn zero_vectors_in_cosine_do_not_break_anything() {
    let idx = index("F32_BLOB(3)", &[]);
    let mut s = MemStorage::new();
    idx.insert(&mut s, 1, v(&[0., 0., 0.]).as_ref()).unwrap();
    idx.insert(&mut s, 2, v(&[1., 0., 0.]).as_ref()).unwrap();
    idx.insert(&mut s, 3, v(&[0., 0., 0.]).as_ref()).unwrap();
    let hits = idx.search(&mut s, v(&[1., 0., 0.]).as_ref(), 3).unwrap();
    assert_eq!(ids(&hits), [2, 1, 3], "NaN distances sort last, by rowid");
    assert!(hits[1].distance.is_nan());
    assert!(idx.check(&mut s).unwrap().is_ok());
}

/// Rowids are the user's to choose: the maps keyed by them must not let a choice of rowids
/// pile them into a few buckets. Multiples of 2^40 (a shifted timestamp, as snowflake-style
/// ids are, or a hostile tenant's pick) all hashed to the same 11 low bits under the fixed
/// multiply-xorshift the index used before; a randomly seeded hash spreads them as any keys.
#[test]
fn rowids_with_equal_low_bits_spread_over_the_buckets() {
    use std::hash::BuildHasher;
    let hasher = edgelite_diskann::RowidBuildHasher::default();
    let buckets: std::collections::HashSet<u64> = (1..=4096_i64).map(|i| hasher.hash_one(i << 40) & 0xFFF).collect();
    // 4,096 random hashes fill about 63% of 4,096 buckets (2,590, give or take 20; 2,508 the
    // least over 12 processes of 2,000 maps each, in foldhash's quality variant)
    assert!(buckets.len() > 2_000, "{} of 4096 buckets used", buckets.len());
    // and the same keys again, through a graph: every row is found and reachable
    let idx = index("F32_BLOB(2)", &["metric=l2"]);
    let mut s = MemStorage::new();
    let mut rng = Rng(seed(7));
    for i in 1..=300_i64 {
        idx.insert(&mut s, i << 40, rng.vector(2).as_ref()).unwrap();
    }
    assert!(idx.check(&mut s).unwrap().is_ok());
}

/// Vectors on a line or a circle (two dimensions under cosine, one under l2): edgelite's
/// default alpha of 1.0 would keep only each node's nearest neighbour on either side, a chain
/// that every insert walks along (options.rs, EDGELITE_ALPHA); these indexes get libSQL's 1.2,
/// and the others keep 1.0. The defaults are what this test pins (the recall check passes at
/// 1.0 too on 3,000 rows: the chain costs inserts their time first; `duplicates -- --only 2-d
/// [--alpha 1.0]` measures both).
#[test]
fn one_dimensional_vectors_get_a_graph_searches_can_cross() {
    for (column, metric, dims) in [("F32_BLOB(2)", "metric=cosine", 2), ("F32_BLOB(1)", "metric=l2", 1)] {
        let (_, config) = Metadata::create_edgelite(column, &[metric]).unwrap();
        assert_eq!(config.alpha, 1.2, "{column} {metric}");
        let idx = DiskAnn::new(config).unwrap();
        let mut s = MemStorage::new();
        let mut rng = Rng(seed(11));
        let data: Vec<(i64, Vector)> = (1..=3000).map(|i| (i, rng.vector(dims))).collect();
        for (id, x) in &data {
            idx.insert(&mut s, *id, x.as_ref()).unwrap();
        }
        let queries: Vec<Vector> = (0..50).map(|_| rng.vector(dims)).collect();
        let r = recall(&idx, &mut s, &data, &queries, 10);
        assert!(r >= 0.95, "{column} {metric}: recall@10 {r}");
        assert!(idx.check(&mut s).unwrap().is_ok());
    }
    for (column, metric) in
        [("F32_BLOB(3)", "metric=cosine"), ("F32_BLOB(2)", "metric=l2"), ("F32_BLOB(384)", "metric=cosine")]
    {
        assert_eq!(Metadata::create_edgelite(column, &[metric]).unwrap().1.alpha, 1.0, "{column} {metric}");
    }
    // an alpha given is kept
    assert_eq!(Metadata::create_edgelite("F32_BLOB(2)", &["alpha=1.0"]).unwrap().1.alpha, 1.0);
}
