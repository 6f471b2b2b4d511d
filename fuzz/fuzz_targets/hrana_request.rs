//! The Hrana request decoder (pipeline, cursor and WebSocket bodies, values) and the request
//! layer behind it, on an in-memory connection set up as the server's client connections.
//! The body is `edgelite_server::fuzzing::hrana_request`, which `cargo test -p edgelite-server
//! --test fuzz_seeds` also runs over `seeds/hrana_request`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| edgelite_server::fuzzing::hrana_request(data));
