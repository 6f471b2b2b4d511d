//! Property tests: text -> blob -> text, blob -> every type -> back, and decoders that never
//! panic on arbitrary input.

#![allow(clippy::unwrap_used)]

use edgelite_vector::{Vector, VectorRef, VectorType, parse_text};
use proptest::prelude::*;

fn finite_f32() -> impl Strategy<Value = f32> {
    prop_oneof![-1.0e6f32..1.0e6, -1.0f32..1.0, any::<f32>().prop_filter("finite", |x| x.is_finite()),]
}

fn vectors() -> impl Strategy<Value = Vec<f32>> {
    prop::collection::vec(finite_f32(), 0..200)
}

fn text_of(values: &[f32]) -> String {
    let items: Vec<String> = values.iter().map(|x| format!("{x:e}")).collect();
    format!("[{}]", items.join(", "))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Text with exact (shortest round-trip) elements parses to the same f32 bits; its blob
    /// decodes to the same vector; `vector_extract` text is a fixed point after one pass.
    #[test]
    fn text_blob_text(values in vectors()) {
        let v = parse_text(text_of(&values).as_bytes(), VectorType::F32).unwrap();
        prop_assert_eq!(v.to_f32_vec().iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
                        values.iter().map(|x| x.to_bits()).collect::<Vec<_>>());
        let blob = v.to_blob();
        prop_assert_eq!(blob.len(), 4 * values.len());
        let r = VectorRef::from_blob(&blob).unwrap();
        prop_assert_eq!(r, v.as_ref());
        let t1 = r.to_text();
        let v1 = Vector::parse(&t1).unwrap();
        for (a, b) in values.iter().zip(v1.to_f32_vec()) {
            // 6 significant digits
            prop_assert!((a - b).abs() <= a.abs() * 5.1e-6, "{} vs {}", a, b);
        }
        prop_assert_eq!(v1.to_text(), t1);
    }

    /// Every type's blob decodes to the same vector, and converting there and back to f32 stays
    /// within that type's precision.
    #[test]
    fn blob_every_type_and_back(values in prop::collection::vec(-1000.0f32..1000.0, 0..150)) {
        let v = Vector::from_f32(&values).unwrap();
        for ty in VectorType::ALL {
            let c = v.convert(ty);
            let blob = c.to_blob();
            prop_assert_eq!(blob.len(), ty.blob_size(c.dims()));
            let d = Vector::from_blob(&blob).unwrap();
            prop_assert_eq!(&d, &c);
            let back = d.convert(VectorType::F32).to_f32_vec();
            let alpha = c.f8_params().alpha;
            for (x, y) in values.iter().zip(back) {
                let ok = match ty {
                    VectorType::F32 | VectorType::F64 => *x == y,
                    VectorType::F16 => (x - y).abs() <= x.abs() * 2f32.powi(-11) + 2f32.powi(-25),
                    VectorType::Bf16 => (x - y).abs() <= x.abs() * 2f32.powi(-7),
                    VectorType::F8 => (x - y).abs() <= alpha * 0.5001 + 1e-4,
                    VectorType::Bit1 => y == if *x > 0.0 { 1.0 } else { -1.0 },
                };
                prop_assert!(ok, "{}: {} -> {}", ty, x, y);
            }
        }
    }

    /// Arbitrary blobs never panic; what decodes re-encodes to a blob that decodes the same.
    #[test]
    fn arbitrary_blobs(blob in prop::collection::vec(any::<u8>(), 0..64)) {
        if let Ok(v) = VectorRef::from_blob(&blob) {
            let again = v.to_blob();
            let w = VectorRef::from_blob(&again).unwrap();
            prop_assert_eq!(w.vector_type(), v.vector_type());
            prop_assert_eq!(w.dims(), v.dims());
            prop_assert_eq!(w.to_text(), v.to_text());
        }
    }

    /// Arbitrary text never panics.
    #[test]
    fn arbitrary_text(text in "[ \\[\\],0-9eE+\\-.a-z]{0,40}") {
        for ty in VectorType::ALL {
            let _ = parse_text(text.as_bytes(), ty);
        }
    }
}
