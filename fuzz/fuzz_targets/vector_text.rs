//! The text grammar never panics, and whatever it accepts survives text -> blob -> text.
#![no_main]

use edgelite_vector::{Vector, VectorRef, VectorType, parse_text};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for ty in VectorType::ALL {
        let Ok(v) = parse_text(data, ty) else { continue };
        assert_eq!(v.vector_type(), ty);
        // The blob decodes to the same vector.
        let blob = v.to_blob();
        let back = VectorRef::from_blob(&blob).expect("a blob we wrote decodes");
        assert_eq!((back.vector_type(), back.dims(), back.data()), (ty, v.dims(), v.data()));
        // vector_extract's text parses again, to the same number of elements (unless an element
        // overflowed to infinity: like libSQL, edgelite prints it as `Inf`, which the grammar
        // rejects, as SQLite's float syntax does).
        let text = v.to_text();
        if v.as_ref().to_f64_vec().iter().all(|x| x.is_finite()) {
            let again = Vector::parse(&text).expect("vector_extract output parses");
            assert_eq!(again.dims(), v.dims());
        }
    }
});
