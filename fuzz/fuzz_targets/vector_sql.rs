//! The SQL function layer (what vector(), vector_extract(), the distances, vector_concat and
//! vector_slice run) returns a result or an error for any pair of arguments, never a panic.
#![no_main]

use edgelite_vector::sql::{self, Arg};
use edgelite_vector::{Metric, VectorType};
use libfuzzer_sys::fuzz_target;

fn arg(kind: u8, bytes: &[u8]) -> Arg<'_> {
    match kind % 5 {
        0 => Arg::Text(bytes),
        1 => Arg::Blob(bytes),
        2 => Arg::Null,
        3 => Arg::Integer,
        _ => Arg::Float,
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&head, rest)) = data.split_first() else { return };
    let split = usize::from(head) % (rest.len() + 1);
    let (x, y) = rest.split_at(split);
    let (a, b) = (arg(head, x), arg(head / 5, y));
    for ty in VectorType::ALL {
        let _ = sql::vector_fn(ty, a);
    }
    let _ = sql::vector_extract(a);
    for metric in [Metric::Cosine, Metric::L2, Metric::Dot] {
        let _ = sql::vector_distance(metric, a, b);
    }
    let _ = sql::vector_concat(a, b);
    let _ = sql::vector_slice(a, i64::from(head) - 100, i64::from(head / 3));
});
