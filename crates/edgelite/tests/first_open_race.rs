//! Threads that open their first connections while SQLite initialises must all get edgelite's
//! functions. Every new connection registers them as a built-in extension (upstream's
//! SQLITE_EXTRA_AUTOEXT hook, like FTS5). They used to come from an auto-extension that the
//! SQLITE_EXTRA_INIT hook installed, which runs after SQLite marks itself initialised: a thread
//! could open a connection in between and get "no such function: vector32" (about once in 90
//! runs of a test binary).
//!
//! This binary holds one test, so each round can shut SQLite down (no connection is open
//! between rounds) and let eight threads race into the next initialisation.

use std::sync::{Arc, Barrier};

use edgelite::Connection;

#[test]
fn every_first_connection_has_edgelite_functions() {
    const THREADS: usize = 8;
    for round in 0..500 {
        // SAFETY: no connection of this process is open between rounds (every one is dropped
        // before its thread ends, and the threads are joined).
        let rc = unsafe { edgelite_sys::sqlite3_shutdown() };
        assert_eq!(rc, edgelite_sys::SQLITE_OK);
        let barrier = Arc::new(Barrier::new(THREADS));
        let threads: Vec<_> = (0..THREADS)
            .map(|_| {
                let barrier = Arc::clone(&barrier);
                std::thread::spawn(move || {
                    barrier.wait();
                    let conn = Connection::open_in_memory().expect("open");
                    conn.query_row("SELECT vector_extract(vector32('[1,2]'))", [], |r| r.get::<_, String>(0))
                })
            })
            .collect();
        for t in threads {
            let got = t.join().expect("thread");
            assert_eq!(got.map_err(|e| e.to_string()), Ok("[1,2]".to_owned()), "round {round}");
        }
    }
}
