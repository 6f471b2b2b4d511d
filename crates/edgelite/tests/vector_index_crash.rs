//! A process killed while it writes to a table with a vector index: the database it leaves
//! behind passes `PRAGMA integrity_check` (which checks the graph too), every committed row is
//! there, and the index answers for exactly the rows the table holds. SQLite's journal (rollback
//! or WAL) protects the shadow tables like any other table, because the index is written by the
//! writing statement itself.
//!
//! The writer is this same test binary, started again with `EDGELITE_CRASH_DB` set: it runs the
//! `writer` test, which commits small transactions (inserts, updates, deletes) forever and
//! prints the number of committed transactions after each commit. The parent kills it with
//! SIGKILL after a few commits, in the middle of whatever it is doing.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

mod common;

use common::Lcg;
use edgelite::{Connection, Result, params};

const DB_ENV: &str = "EDGELITE_CRASH_DB";
const DIMS: usize = 16;

/// The writer: only does something when started by `killed_writers_leave_a_sound_index`.
#[test]
fn writer() {
    let Ok(path) = std::env::var(DB_ENV) else { return };
    let conn = Connection::open(&path).expect("open");
    let mut rng = Lcg(std::process::id().into());
    let mut committed = 0_u64;
    loop {
        conn.execute_batch("BEGIN").expect("begin");
        // the commit counter lives in the database, so the parent can tell what committed
        for _ in 0..5 {
            match rng.next_u64() >> 62 {
                0 | 1 => {
                    conn.execute("INSERT INTO docs(emb) VALUES (vector(?1))", [rng.vector(DIMS)]).expect("insert");
                }
                2 => {
                    conn.execute(
                        "UPDATE docs SET emb = vector(?1) WHERE id = (SELECT id FROM docs ORDER BY random() LIMIT 1)",
                        [rng.vector(DIMS)],
                    )
                    .expect("update");
                }
                _ => {
                    conn.execute("DELETE FROM docs WHERE id = (SELECT id FROM docs ORDER BY random() LIMIT 1)", [])
                        .expect("delete");
                }
            }
        }
        conn.execute("UPDATE progress SET commits = commits + 1", []).expect("progress");
        conn.execute_batch("COMMIT").expect("commit");
        committed += 1;
        println!("committed {committed}");
    }
}

fn integrity(conn: &Connection) -> String {
    let mut stmt = conn.prepare("PRAGMA integrity_check").expect("prepare");
    let rows: Vec<String> = stmt.query_map([], |r| r.get(0)).expect("query").collect::<Result<_>>().expect("rows");
    rows.join("\n")
}

#[test]
fn killed_writers_leave_a_sound_index() {
    if std::env::var(DB_ENV).is_ok() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    for (journal, kill_after) in [("DELETE", 3_u64), ("DELETE", 17), ("WAL", 5), ("WAL", 23)] {
        let path = dir.path().join(format!("crash-{journal}-{kill_after}.db"));
        let setup = Connection::open(&path).expect("open");
        setup
            .execute_batch(&format!(
                "PRAGMA journal_mode = {journal};
                 CREATE TABLE docs(id INTEGER PRIMARY KEY, emb F32_BLOB({DIMS}));
                 CREATE INDEX docs_idx ON docs(libsql_vector_idx(emb, 'max_neighbors=6'));
                 CREATE TABLE progress(commits INTEGER); INSERT INTO progress VALUES (0);"
            ))
            .expect("schema");
        drop(setup);

        let mut child = Command::new(std::env::current_exe().expect("test binary"))
            .args(["--exact", "writer", "--nocapture", "--test-threads=1"])
            .env(DB_ENV, &path)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn the writer");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let mut seen = 0;
        while seen < kill_after {
            let line = lines.next().expect("the writer stopped early").expect("read");
            if let Some(n) = line.strip_prefix("committed ") {
                seen = n.trim().parse().expect("count");
            }
        }
        child.kill().expect("SIGKILL");
        child.wait().expect("reap");

        let conn = Connection::open(&path).expect("reopen");
        assert_eq!(integrity(&conn), "ok", "{journal} after {kill_after}");
        let commits: u64 = conn.query_row("SELECT commits FROM progress", [], |r| r.get(0)).expect("progress");
        assert!(commits >= kill_after, "{journal}: {commits} commits survived, {kill_after} were reported");
        // one node per row, and every row is found by a search for its own vector
        let rows: i64 = conn.query_row("SELECT count(*) FROM docs", [], |r| r.get(0)).expect("count");
        let nodes: i64 = conn.query_row("SELECT count(*) FROM docs_idx_shadow", [], |r| r.get(0)).expect("nodes");
        assert_eq!(rows, nodes, "{journal} after {kill_after}");
        let mut stmt = conn
            .prepare(
                "SELECT count(*) FROM docs d WHERE d.id NOT IN
                   (SELECT id FROM vector_top_k('docs_idx', d.emb, 3))",
            )
            .expect("prepare");
        let lost: i64 = stmt.query_row([], |r| r.get(0)).expect("lost");
        assert_eq!(lost, 0, "{journal} after {kill_after}: rows the index does not find");
        // and the database takes writes again
        conn.execute("INSERT INTO docs(emb) VALUES (vector(?1))", params![Lcg(7).vector(DIMS)]).expect("insert after");
        assert_eq!(integrity(&conn), "ok");
    }
}
