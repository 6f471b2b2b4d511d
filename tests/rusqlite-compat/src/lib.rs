//! Test-only crate: see `tests/rusqlite.rs`.
