// Shared body of the floating-point kernels of every SIMD instruction set: four accumulators for
// dot and L2, two for the three cosine sums, scalar reference for the partial last vector.
// Used by the ISA modules; `$ld` loads one vector of f32 lanes from an `&[u8; $n]`.
macro_rules! float_kernels {
    (
        feature = $feat:literal,
        vec = $v:ty,
        zero = $zero:expr,
        add = $add:path,
        sub = $sub:path,
        fmadd = $fmadd:path,
        hsum = $hsum:path,
        load = $ld:path,
        bytes = $n:literal,
        tail = ($tdot:path, $tcos:path, $tl2:path),
        names = ($dot:ident, $cos:ident, $l2:ident) $(,)?
    ) => {
        #[target_feature(enable = $feat)]
        pub(super) fn $dot(a: &[u8], b: &[u8]) -> f32 {
            let n = a.len().min(b.len());
            let (va, ta) = a[..n].as_chunks::<$n>();
            let (vb, tb) = b[..n].as_chunks::<$n>();
            let (qa, ra) = va.as_chunks::<4>();
            let (qb, rb) = vb.as_chunks::<4>();
            let mut acc: [$v; 4] = [$zero; 4];
            for (x, y) in qa.iter().zip(qb) {
                for k in 0..4 {
                    acc[k] = $fmadd($ld(&x[k]), $ld(&y[k]), acc[k]);
                }
            }
            for (x, y) in ra.iter().zip(rb) {
                acc[0] = $fmadd($ld(x), $ld(y), acc[0]);
            }
            let s = $add($add(acc[0], acc[1]), $add(acc[2], acc[3]));
            $hsum(s) + $tdot(ta, tb)
        }

        #[target_feature(enable = $feat)]
        pub(super) fn $cos(a: &[u8], b: &[u8]) -> CosParts {
            let n = a.len().min(b.len());
            let (va, ta) = a[..n].as_chunks::<$n>();
            let (vb, tb) = b[..n].as_chunks::<$n>();
            let (qa, ra) = va.as_chunks::<2>();
            let (qb, rb) = vb.as_chunks::<2>();
            let mut dot: [$v; 2] = [$zero; 2];
            let mut na: [$v; 2] = [$zero; 2];
            let mut nb: [$v; 2] = [$zero; 2];
            for (x, y) in qa.iter().zip(qb) {
                for k in 0..2 {
                    let (x, y) = ($ld(&x[k]), $ld(&y[k]));
                    dot[k] = $fmadd(x, y, dot[k]);
                    na[k] = $fmadd(x, x, na[k]);
                    nb[k] = $fmadd(y, y, nb[k]);
                }
            }
            for (x, y) in ra.iter().zip(rb) {
                let (x, y) = ($ld(x), $ld(y));
                dot[0] = $fmadd(x, y, dot[0]);
                na[0] = $fmadd(x, x, na[0]);
                nb[0] = $fmadd(y, y, nb[0]);
            }
            let t = $tcos(ta, tb);
            CosParts {
                dot: $hsum($add(dot[0], dot[1])) + t.dot,
                norm_a: $hsum($add(na[0], na[1])) + t.norm_a,
                norm_b: $hsum($add(nb[0], nb[1])) + t.norm_b,
            }
        }

        #[target_feature(enable = $feat)]
        pub(super) fn $l2(a: &[u8], b: &[u8]) -> f32 {
            let n = a.len().min(b.len());
            let (va, ta) = a[..n].as_chunks::<$n>();
            let (vb, tb) = b[..n].as_chunks::<$n>();
            let (qa, ra) = va.as_chunks::<4>();
            let (qb, rb) = vb.as_chunks::<4>();
            let mut acc: [$v; 4] = [$zero; 4];
            for (x, y) in qa.iter().zip(qb) {
                for k in 0..4 {
                    let d = $sub($ld(&x[k]), $ld(&y[k]));
                    acc[k] = $fmadd(d, d, acc[k]);
                }
            }
            for (x, y) in ra.iter().zip(rb) {
                let d = $sub($ld(x), $ld(y));
                acc[0] = $fmadd(d, d, acc[0]);
            }
            let s = $add($add(acc[0], acc[1]), $add(acc[2], acc[3]));
            $hsum(s) + $tl2(ta, tb)
        }
    };
}

// Wraps a `#[target_feature]` kernel into a plain `fn` pointer. Only used inside a set
// constructor that runs after the features were detected.
macro_rules! checked {
    ($f:path, ($($arg:ident: $t:ty),*) -> $r:ty, $why:literal) => {{
        fn wrapper($($arg: $t),*) -> $r {
            // SAFETY: `wrapper` is only stored in a `KernelSet` built after run-time detection
            // confirmed the CPU supports the target features of the wrapped kernel ($why).
            unsafe { $f($($arg),*) }
        }
        wrapper as fn($($t),*) -> $r
    }};
}
