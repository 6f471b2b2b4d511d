//! Semantic search with edgelite's safe API: 20,000 texts with their all-MiniLM-L6-v2
//! embeddings (the `minilm-20k` dataset) go into a database file with libSQL's vector index,
//! then three questions are answered among the Debian package descriptions only.
//!
//! ```text
//! cargo run --release -p edgelite --example minilm -- [database path, default target/minilm.db]
//! ```
//!
//! The dataset ships with the repository (`datasets/minilm-20k`, see its README);
//! `EDGELITE_DATASETS` may name another directory holding a `minilm-20k` folder. The default
//! database is made anew on every run, so that each step is timed; a path given must not exist
//! yet. Progress goes to stderr.

use std::error::Error;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use edgelite::{Connection, params};

// The dataset reader the benchmarks use and test (half-float vectors, gzipped texts).
#[allow(dead_code)]
#[path = "../../../benches/src/dataset.rs"]
mod dataset;

type BoxResult<T> = Result<T, Box<dyn Error>>;

/// Queries (ids in the dataset's queries) to answer: three about Debian packages.
const QUERY_IDS: [usize; 3] = [2, 4, 9];
/// Rows between two looks at the clock while loading.
const CHUNK: usize = 500;

fn main() -> BoxResult<()> {
    let total = Instant::now();
    let db = match std::env::args_os().nth(1) {
        Some(path) if Path::new(&path).exists() => {
            return Err(format!("{} exists: give a new path", Path::new(&path).display()).into());
        }
        Some(path) => PathBuf::from(path),
        None => {
            let db = PathBuf::from("target/minilm.db");
            for suffix in ["", "-journal", "-wal", "-shm"] {
                let mut f = db.clone().into_os_string();
                f.push(suffix);
                match std::fs::remove_file(&f) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                        return Err(format!("{}: {e}", db.display()).into());
                    }
                    _ => {}
                }
            }
            db
        }
    };
    if let Some(parent) = db.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
    }

    let t = Instant::now();
    let dir = dataset::Dataset::locate("minilm-20k")?;
    let data = dataset::Dataset::load(&dir)?;
    let texts = data.base_records()?;
    let queries = data.query_records()?;
    println!(
        "read {} texts and their {}-d embeddings from {} in {}",
        texts.len(),
        data.dims,
        dir.display(),
        secs(t.elapsed())
    );

    let mut conn = Connection::open(&db)?;
    conn.execute_batch(&format!(
        "CREATE TABLE items(id INTEGER PRIMARY KEY, text TEXT, src TEXT, emb F32_BLOB({}))",
        data.dims
    ))?;

    // Load: one transaction, one prepared INSERT, each embedding bound as a &[f32].
    let t = Instant::now();
    let mut status = Status::new("loading");
    let mut last = Instant::now();
    let tx = conn.transaction()?;
    {
        let mut insert = tx.prepare("INSERT INTO items(id, text, src, emb) VALUES (?1, ?2, ?3, ?4)")?;
        for (i, rec) in texts.iter().enumerate() {
            insert.execute(params![rec.id, rec.text, rec.src, data.base_vector(i)])?;
            if (i + 1) % CHUNK == 0 && last.elapsed() >= status.every {
                last = Instant::now();
                status.show(&format!("{}/{} rows ({}%)", i + 1, texts.len(), (i + 1) * 100 / texts.len()));
            }
        }
    }
    tx.commit()?;
    status.done();
    println!("loaded {} rows into {} in {}", texts.len(), db.display(), secs(t.elapsed()));

    // The vector index (libSQL's syntax and file format), built from the filled table.
    // edgelite's defaults: 8-bit neighbour copies, 18 neighbours a node (about 9 KB a row
    // instead of the 80 KB of libSQL's defaults for 384 dimensions), recall@10 0.987. The graph
    // is built in memory and written out once; SQLite's progress handler runs between rows, so
    // it can report that the build goes on (and could stop it by returning true).
    let t = Instant::now();
    let mut status = Status::new("building the vector index");
    let mut last = Instant::now();
    conn.progress_handler(
        1_000,
        Some(move || {
            if last.elapsed() >= status.every {
                last = Instant::now();
                status.show(&format!("{} so far", secs(t.elapsed())));
            }
            false
        }),
    );
    conn.execute_batch("CREATE INDEX items_emb ON items (libsql_vector_idx(emb))")?;
    conn.progress_handler(0, None::<fn() -> bool>);
    Status::new("building the vector index").done();
    println!("built the vector index in {}", secs(t.elapsed()));

    // The index finds 50 candidates, the WHERE clause keeps the Debian ones and ORDER BY ranks
    // them by exact distance (vector_top_k's hidden `distance` column).
    let mut search = conn.prepare(
        "SELECT items.text, top.distance
           FROM vector_top_k('items_emb', ?1, 50) AS top JOIN items ON items.rowid = top.id
          WHERE items.src LIKE 'debian:%' ORDER BY top.distance LIMIT 5",
    )?;
    for id in QUERY_IDS {
        let t = Instant::now();
        let hits: Vec<(String, f64)> =
            search.query_map([data.query(id)], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<Result<_, _>>()?;
        let elapsed = t.elapsed();
        println!("\nquery {id}: {}  ({elapsed:.2?})", clip(&queries[id].text));
        for (text, distance) in hits {
            println!("  {distance:.4}  {}", clip(&text));
        }
    }
    println!("\ndone in {}", secs(total.elapsed()));
    Ok(())
}

/// A progress line on stderr: rewritten in place on a terminal, one line per update elsewhere
/// (a CI log).
struct Status {
    what: &'static str,
    tty: bool,
    /// How often a caller that polls should update it.
    every: Duration,
}

impl Status {
    fn new(what: &'static str) -> Status {
        let tty = std::io::stderr().is_terminal();
        Status { what, tty, every: Duration::from_millis(if tty { 200 } else { 2_000 }) }
    }

    fn show(&mut self, msg: &str) {
        let mut err = std::io::stderr().lock();
        let _ = if self.tty {
            write!(err, "\r\x1b[2K  {}: {msg}", self.what)
        } else {
            writeln!(err, "  {}: {msg}", self.what)
        };
        let _ = err.flush();
    }

    /// Clears the line on a terminal (the result is printed on stdout).
    fn done(self) {
        if self.tty {
            let _ = write!(std::io::stderr().lock(), "\r\x1b[2K");
        }
    }
}

fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

/// The first 90 characters, for one-line output.
fn clip(s: &str) -> String {
    match s.char_indices().nth(90) {
        Some((i, _)) => format!("{}...", &s[..i]),
        None => s.to_owned(),
    }
}
