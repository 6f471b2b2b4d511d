//! The sync push path: WAL frames pushed into a fresh namespace of a running server, which must
//! refuse them or apply them and stay a database that passes `PRAGMA quick_check`. The body is
//! `edgelite_server::fuzzing::sync_push`, which `cargo test -p edgelite-server --test
//! fuzz_seeds` also runs over `seeds/sync_push`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    edgelite_server::fuzzing::sync_push(data);
});
