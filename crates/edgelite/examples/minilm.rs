//! Semantic search with edgelite's safe API: 20,000 texts with their all-MiniLM-L6-v2
//! embeddings (the `minilm-20k` dataset) go into a database file with libSQL's vector index,
//! then three questions are answered among the Debian package descriptions only.
//!
//! ```text
//! cargo run --release -p edgelite --example minilm -- [database path, default target/minilm.db]
//! ```
//!
//! The dataset is looked up in `$EDGELITE_DATASETS/minilm-20k`, else next to the workspace
//! (`../shared/datasets/minilm-20k`). A database that already holds the rows is reused.

use std::error::Error;
use std::path::{Path, PathBuf};
use std::time::Instant;

use edgelite::{Connection, params};

type BoxResult<T> = Result<T, Box<dyn Error>>;

const DIMS: usize = 384;
/// Queries (ids in queries.jsonl / queries.f32) to answer: three about Debian packages.
const QUERY_IDS: [usize; 3] = [2, 4, 9];

fn main() -> BoxResult<()> {
    let data = dataset_dir();
    let db = std::env::args().nth(1).map_or_else(|| PathBuf::from("target/minilm.db"), PathBuf::from);
    let mut conn = Connection::open(&db)?;
    conn.execute_batch(&format!(
        "CREATE TABLE IF NOT EXISTS items(id INTEGER PRIMARY KEY, text TEXT, src TEXT, emb F32_BLOB({DIMS}))"
    ))?;

    // Load: one transaction, one prepared INSERT, each embedding bound as a &[f32].
    if conn.query_row("SELECT count(*) FROM items", [], |r| r.get::<_, i64>(0))? == 0 {
        let t = Instant::now();
        let vectors = read_f32(&data.join("base.f32"))?;
        let texts = read_jsonl(&data.join("base.jsonl"))?;
        let tx = conn.transaction()?;
        {
            let mut insert = tx.prepare("INSERT INTO items(id, text, src, emb) VALUES (?1, ?2, ?3, ?4)")?;
            for ((id, text, src), emb) in texts.iter().zip(vectors.chunks_exact(DIMS)) {
                insert.execute(params![id, text, src, emb])?;
            }
        }
        tx.commit()?;
        println!("loaded {} rows into {} in {:.2?}", texts.len(), db.display(), t.elapsed());
    }

    // The vector index (libSQL's syntax and file format), built once from the filled table.
    let has_index: bool = conn.query_row(
        "SELECT count(*) > 0 FROM sqlite_schema WHERE type = 'index' AND name = 'items_emb'",
        [],
        |r| r.get(0),
    )?;
    if !has_index {
        let t = Instant::now();
        // edgelite's defaults: 8-bit neighbour copies, 18 neighbours a node (about 9 KB a row
        // instead of the 80 KB of libSQL's defaults for 384 dimensions), recall@10 0.987. The
        // graph is built in memory from the filled table and written out once.
        conn.execute_batch("CREATE INDEX items_emb ON items (libsql_vector_idx(emb))")?;
        println!("built the vector index in {:.2?}", t.elapsed());
    }

    // The index finds 50 candidates, the WHERE clause keeps the Debian ones and ORDER BY ranks
    // them by exact distance (vector_top_k's hidden `distance` column).
    let mut search = conn.prepare(
        "SELECT items.text, top.distance
           FROM vector_top_k('items_emb', ?1, 50) AS top JOIN items ON items.rowid = top.id
          WHERE items.src LIKE 'debian:%' ORDER BY top.distance LIMIT 5",
    )?;
    let queries = read_f32(&data.join("queries.f32"))?;
    let query_texts = read_jsonl(&data.join("queries.jsonl"))?;
    for id in QUERY_IDS {
        let query: &[f32] = &queries[id * DIMS..(id + 1) * DIMS];
        let t = Instant::now();
        let hits: Vec<(String, f64)> =
            search.query_map([query], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<Result<_, _>>()?;
        let elapsed = t.elapsed();
        println!("\nquery {id}: {}  ({elapsed:.2?})", clip(&query_texts[id].1));
        for (text, distance) in hits {
            println!("  {distance:.4}  {}", clip(&text));
        }
    }
    Ok(())
}

fn dataset_dir() -> PathBuf {
    match std::env::var_os("EDGELITE_DATASETS") {
        Some(dir) => PathBuf::from(dir).join("minilm-20k"),
        // this crate is <workspace>/crates/edgelite
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/datasets/minilm-20k"),
    }
}

/// Little-endian f32s, row-major.
fn read_f32(path: &Path) -> BoxResult<Vec<f32>> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect())
}

/// `(id, text, src)` of every `{"id", "text", "src"}` line.
fn read_jsonl(path: &Path) -> BoxResult<Vec<(i64, String, String)>> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    text.lines()
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line)?;
            let field = |k: &str| v[k].as_str().map(str::to_owned).ok_or(format!("no {k} in {line}"));
            Ok((v["id"].as_i64().ok_or("no id")?, field("text")?, field("src")?))
        })
        .collect()
}

/// The first 90 characters, for one-line output.
fn clip(s: &str) -> String {
    match s.char_indices().nth(90) {
        Some((i, _)) => format!("{}...", &s[..i]),
        None => s.to_owned(),
    }
}
