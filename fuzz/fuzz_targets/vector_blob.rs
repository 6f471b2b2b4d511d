//! The blob decoder never panics or over-reads, and whatever it accepts re-encodes, converts to
//! every type and measures distances without panicking.
#![no_main]

use edgelite_vector::{Metric, VectorRef, VectorType, distance};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(v) = VectorRef::from_blob(data) else { return };
    // Re-encoding gives the canonical blob (1-bit padding bits cleared, f8 padding zeroed):
    // it decodes to the same elements and encodes to itself.
    let blob = v.to_blob();
    let again = VectorRef::from_blob(&blob).expect("a blob we wrote decodes");
    assert_eq!((again.vector_type(), again.dims()), (v.vector_type(), v.dims()));
    let bits = |r: VectorRef<'_>| r.to_f64_vec().iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(again), bits(v));
    assert_eq!(again.to_blob(), blob);
    for ty in VectorType::ALL {
        let c = v.convert(ty);
        assert_eq!(c.dims(), v.dims());
        let _ = VectorRef::from_blob(&c.to_blob()).expect("a converted blob decodes");
    }
    for metric in [Metric::Cosine, Metric::L2, Metric::Dot] {
        let _ = distance(metric, v, v);
    }
    let _ = v.to_text();
});
