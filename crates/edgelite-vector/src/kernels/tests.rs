//! Every kernel of every available set against the scalar reference, on random data of many
//! lengths (0, 1, lane-width multiples and everything in between).

use super::*;

/// Small deterministic generator (SplitMix64) so failures reproduce from the printed seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

const LENGTHS: &[usize] = &[
    0, 1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 127, 128, 129, 255, 256, 257, 384, 511, 512,
    513, 768, 1000, 1536, 4099,
];

fn f32_bytes(rng: &mut Rng, n: usize) -> Vec<u8> {
    (0..n).flat_map(|_| rng.unit().to_le_bytes()).collect()
}

fn f16_bytes(rng: &mut Rng, n: usize) -> Vec<u8> {
    (0..n).flat_map(|_| half::f16::from_f32(rng.unit()).to_le_bytes()).collect()
}

fn bf16_bytes(rng: &mut Rng, n: usize) -> Vec<u8> {
    (0..n).flat_map(|_| half::bf16::from_f32(rng.unit()).to_le_bytes()).collect()
}

/// |x - y| within 1e-5 of the sum of absolute terms (plus a tiny absolute slack).
fn close(x: f32, y: f32, scale: f32, what: &str) {
    let tol = 1e-5 * scale + 1e-6;
    assert!((x - y).abs() <= tol, "{what}: {x} vs {y} (tolerance {tol})");
}

fn check_float(
    set: &KernelSet,
    name: &str,
    make: fn(&mut Rng, usize) -> Vec<u8>,
    k: (F32Kernel, CosKernel, F32Kernel),
    r: (F32Kernel, CosKernel, F32Kernel),
) {
    let seed = 0x5eed_0000 + name.len() as u64;
    let mut rng = Rng(seed);
    for &n in LENGTHS {
        let (a, b) = (make(&mut rng, n), make(&mut rng, n));
        let what = format!("{} {name} n={n} seed={seed:#x}", set.name);
        // scale: Σ|aᵢbᵢ| ≤ n for unit-range data; use the reference's own norms
        let rc = (r.1)(&a, &b);
        let scale = rc.norm_a.max(rc.norm_b).max(1.0) * 2.0;
        close((k.0)(&a, &b), (r.0)(&a, &b), scale, &format!("{what} dot"));
        let kc = (k.1)(&a, &b);
        close(kc.dot, rc.dot, scale, &format!("{what} cos.dot"));
        close(kc.norm_a, rc.norm_a, scale, &format!("{what} cos.norm_a"));
        close(kc.norm_b, rc.norm_b, scale, &format!("{what} cos.norm_b"));
        close((k.2)(&a, &b), (r.2)(&a, &b), 2.0 * scale, &format!("{what} l2sq"));
        // a trailing partial element is ignored
        let mut a1 = a.clone();
        a1.push(0x7f);
        close((k.0)(&a1, &b), (r.0)(&a, &b), scale, &format!("{what} dot partial"));
    }
}

#[test]
fn every_float_kernel_matches_scalar() {
    let sets = available();
    assert_eq!(sets[0].name, "scalar");
    for set in &sets {
        check_float(
            set,
            "f32",
            f32_bytes,
            (set.dot_f32, set.cos_f32, set.l2sq_f32),
            (SCALAR.dot_f32, SCALAR.cos_f32, SCALAR.l2sq_f32),
        );
        check_float(
            set,
            "f16",
            f16_bytes,
            (set.dot_f16, set.cos_f16, set.l2sq_f16),
            (SCALAR.dot_f16, SCALAR.cos_f16, SCALAR.l2sq_f16),
        );
        check_float(
            set,
            "bf16",
            bf16_bytes,
            (set.dot_bf16, set.cos_bf16, set.l2sq_bf16),
            (SCALAR.dot_bf16, SCALAR.cos_bf16, SCALAR.l2sq_bf16),
        );
    }
}

#[test]
fn every_integer_kernel_is_exact() {
    let mut rng = Rng(0x1b17);
    for set in available() {
        for &n in LENGTHS.iter().chain(&[65536]) {
            let (a, b) = (rng.bytes(n), rng.bytes(n));
            let what = format!("{} n={n}", set.name);
            assert_eq!((set.f8_sums)(&a, &b), scalar::f8_sums(&a, &b), "{what} f8_sums");
            let sums = scalar::f8_sums(&a, &b);
            assert_eq!((set.f8_dot)(&a, &b), F8Sums { sum1: 0, sumsq1: 0, ..sums }, "{what} f8_dot");
            assert_eq!((set.hamming)(&a, &b), scalar::hamming(&a, &b), "{what} hamming");
            // worst case for the lane accumulators: all 255
            let m = vec![255u8; n];
            assert_eq!((set.f8_sums)(&m, &m), scalar::f8_sums(&m, &m), "{what} f8_sums 255");
            assert_eq!((set.f8_dot)(&m, &m).dot, scalar::f8_sums(&m, &m).dot, "{what} f8_dot 255");
            assert_eq!((set.hamming)(&m, &a), scalar::hamming(&m, &a), "{what} hamming 255");
            let (pa, pb) = (F8Params { alpha: 0.01, shift: -1.0 }, F8Params { alpha: 0.02, shift: -2.5 });
            let r = scalar::l2sq_f8(&a, pa, &b, pb);
            close((set.l2sq_f8)(&a, pa, &b, pb), r, r.max(1.0) * 4.0, &format!("{what} l2sq_f8"));
        }
    }
}

#[test]
fn unequal_lengths_are_truncated() {
    let mut rng = Rng(7);
    let (a, b) = (f32_bytes(&mut rng, 40), f32_bytes(&mut rng, 33));
    for set in available() {
        close((set.dot_f32)(&a, &b), scalar::dot_f32(&a[..132], &b), 40.0, set.name);
        assert_eq!((set.hamming)(&a, &b), scalar::hamming(&a[..132], &b), "{}", set.name);
    }
}

#[test]
fn fast_distance_agrees_with_exact() {
    let mut rng = Rng(0xd15);
    for set in available() {
        for &n in &[0usize, 1, 3, 8, 17, 128, 385] {
            let fa: Vec<f32> = (0..n).map(|_| rng.unit()).collect();
            let fb: Vec<f32> = (0..n).map(|_| rng.unit()).collect();
            let (va, vb) = (
                crate::Vector::from_f32(&fa).unwrap_or_else(|e| panic!("{e}")),
                crate::Vector::from_f32(&fb).unwrap_or_else(|e| panic!("{e}")),
            );
            for ty in VectorType::ALL {
                let (a, b) = (va.convert(ty), vb.convert(ty));
                for metric in [Metric::Cosine, Metric::L2, Metric::Dot] {
                    let exact = crate::distance(metric, a.as_ref(), b.as_ref());
                    let fast = fast_distance(&set, metric, a.as_ref(), b.as_ref());
                    match (exact, fast) {
                        (Err(e), Err(f)) => assert_eq!(e, f),
                        (Ok(e), Ok(f)) if e.is_nan() => assert!(f.is_nan(), "{} {ty} {metric:?} n={n}", set.name),
                        (Ok(e), Ok(f)) => {
                            let exact_kernels = matches!(ty, VectorType::Bit1 | VectorType::F64)
                                || (ty == VectorType::F8 && metric != Metric::L2);
                            if exact_kernels {
                                assert_eq!(e as f32, f, "{} {ty} {metric:?} n={n}", set.name);
                            } else {
                                close(
                                    f,
                                    e as f32,
                                    1.0 + n as f32 * 1e-2,
                                    &format!("{} {ty} {metric:?} n={n}", set.name),
                                );
                            }
                        }
                        (e, f) => panic!("{} {ty} {metric:?}: {e:?} vs {f:?}", set.name),
                    }
                }
            }
        }
    }
}

#[test]
fn active_is_best_available() {
    assert_eq!(active().name, available().last().map_or("scalar", |s| s.name));
}

#[test]
fn prepared_query_is_bit_identical_to_fast_distance() {
    let mut rng = Rng(0x9e7);
    for set in available() {
        for &n in &[1usize, 3, 8, 64, 100, 385] {
            let q = crate::Vector::from_f32(&(0..n).map(|_| rng.unit()).collect::<Vec<_>>()).unwrap();
            let others: Vec<crate::Vector> = (0..8)
                .map(|i| {
                    // a zero vector (NaN cosine) and a duplicate of the query among them
                    let v: Vec<f32> = match i {
                        0 => vec![0.0; n],
                        1 => q.to_f32_vec(),
                        _ => (0..n).map(|_| rng.unit()).collect(),
                    };
                    crate::Vector::from_f32(&v).unwrap()
                })
                .collect();
            for ty in VectorType::ALL {
                let query = q.convert(ty);
                for metric in [Metric::Cosine, Metric::L2, Metric::Dot] {
                    let p = PreparedQuery::new(&set, metric, query.as_ref());
                    for o in &others {
                        let o = o.convert(ty);
                        let want = fast_distance(&set, metric, query.as_ref(), o.as_ref());
                        let mut part = Vec::new();
                        o.as_ref().write_data_part(&mut part);
                        for got in [p.distance(o.as_ref()), p.distance_to_part(&part)] {
                            match (&want, got) {
                                (Ok(w), Ok(g)) => assert!(
                                    w.to_bits() == g.to_bits() || (w.is_nan() && g.is_nan()),
                                    "{} {ty} {metric:?} n={n}: {w} vs {g}",
                                    set.name
                                ),
                                (Err(w), Err(g)) => assert_eq!(*w, g),
                                (w, g) => panic!("{} {ty} {metric:?} n={n}: {w:?} vs {g:?}", set.name),
                            }
                        }
                    }
                    // another dimension or type is refused as fast_distance refuses it
                    let other = crate::Vector::from_f32(&vec![0.5; n + 1]).unwrap().convert(ty);
                    assert_eq!(
                        p.distance(other.as_ref()).unwrap_err(),
                        fast_distance(&set, metric, query.as_ref(), other.as_ref()).unwrap_err()
                    );
                    assert!(p.distance_to_part(&[0u8; 3]).is_err());
                }
            }
        }
    }
}
