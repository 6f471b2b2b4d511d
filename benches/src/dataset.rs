//! The `minilm-20k` dataset (`../shared/datasets/minilm-20k`, see its README): 20,000 base and
//! 500 query vectors of 384 f32 dimensions (L2-normalised all-MiniLM-L6-v2 embeddings), the
//! exact cosine top-100 of every query, and the texts.
//!
//! ```no_run
//! use edgelite_benches::dataset::{recall_at_k, Dataset};
//!
//! let ds = Dataset::load(&Dataset::locate("minilm-20k")?)?;
//! assert_eq!((ds.len(), ds.num_queries(), ds.dims), (20_000, 500, 384));
//! let truth = ds.ground_truth(0);
//! let found: Vec<i64> = truth[..10].iter().map(|&id| i64::from(id)).collect();
//! assert_eq!(recall_at_k(&found, truth, 10), 1.0);
//! # Ok::<(), std::io::Error>(())
//! ```

use std::fs;
use std::io::{self, BufRead, BufReader};
use std::path::{Path, PathBuf};

/// Environment variable naming the directory that holds the datasets (overrides the default
/// `<workspace root>/../shared/datasets`).
pub const DATASETS_ENV: &str = "EDGELITE_DATASETS";

/// One line of `base.jsonl` / `queries.jsonl`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Row id: the index of the vector in `base.f32` / `queries.f32`.
    pub id: i64,
    /// The embedded text.
    pub text: String,
    /// Where the text comes from: `debian:<package>` or `wordnet:<pos>:<offset>`.
    pub src: String,
}

/// The vectors and ground truth of a dataset, in memory (texts are read separately with
/// [`Dataset::base_records`] / [`Dataset::query_records`]).
#[derive(Debug, Clone)]
pub struct Dataset {
    /// The dataset directory.
    pub dir: PathBuf,
    /// Dimensions of every vector.
    pub dims: usize,
    /// Base vectors, row-major.
    pub base: Vec<f32>,
    /// Query vectors, row-major.
    pub queries: Vec<f32>,
    /// Ground-truth ids, `gt_k` per query, nearest first.
    pub gt: Vec<i32>,
    /// Ground-truth neighbours per query.
    pub gt_k: usize,
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

/// Reads a file of little-endian 4-byte values into `n × width` values.
fn read_le4<T>(path: &Path, width: usize, conv: fn([u8; 4]) -> T) -> io::Result<Vec<T>> {
    let bytes = fs::read(path).map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
    if bytes.len() % (4 * width) != 0 {
        return Err(invalid(format!("{}: {} bytes is not a multiple of {}", path.display(), bytes.len(), 4 * width)));
    }
    Ok(bytes.chunks_exact(4).map(|c| conv([c[0], c[1], c[2], c[3]])).collect())
}

impl Dataset {
    /// The directory of dataset `name`: `$EDGELITE_DATASETS/<name>` if the variable is set,
    /// else `<workspace root>/../shared/datasets/<name>`.
    ///
    /// # Errors
    /// [`io::ErrorKind::NotFound`] (naming the path) if the directory does not exist.
    pub fn locate(name: &str) -> io::Result<PathBuf> {
        let root = match std::env::var_os(DATASETS_ENV) {
            Some(dir) => PathBuf::from(dir),
            // this crate is <root>/benches
            None => Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("..").join("shared").join("datasets"),
        };
        let dir = root.join(name);
        if dir.is_dir() {
            Ok(dir)
        } else {
            Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("dataset not found at {} (set {DATASETS_ENV} to the datasets directory)", dir.display()),
            ))
        }
    }

    /// Loads `minilm-20k`'s vectors (384 dimensions, ground truth top-100) from `dir`.
    ///
    /// # Errors
    /// A missing file, or a file whose size does not fit the shapes.
    pub fn load(dir: &Path) -> io::Result<Dataset> {
        let (dims, gt_k) = (384, 100);
        let base = read_le4(&dir.join("base.f32"), dims, f32::from_le_bytes)?;
        let queries = read_le4(&dir.join("queries.f32"), dims, f32::from_le_bytes)?;
        let gt = read_le4(&dir.join("gt.i32"), gt_k, i32::from_le_bytes)?;
        if gt.len() / gt_k != queries.len() / dims {
            return Err(invalid(format!("{} ground-truth rows for {} queries", gt.len() / gt_k, queries.len() / dims)));
        }
        Ok(Dataset { dir: dir.to_owned(), dims, base, queries, gt, gt_k })
    }

    /// Number of base vectors.
    #[must_use]
    pub fn len(&self) -> usize {
        self.base.len() / self.dims
    }

    /// `true` if there is no base vector.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.base.is_empty()
    }

    /// Number of query vectors.
    #[must_use]
    pub fn num_queries(&self) -> usize {
        self.queries.len() / self.dims
    }

    /// Base vector `i`.
    ///
    /// # Panics
    /// If `i >= len()`.
    #[must_use]
    pub fn base_vector(&self, i: usize) -> &[f32] {
        &self.base[i * self.dims..(i + 1) * self.dims]
    }

    /// Query vector `i`.
    ///
    /// # Panics
    /// If `i >= num_queries()`.
    #[must_use]
    pub fn query(&self, i: usize) -> &[f32] {
        &self.queries[i * self.dims..(i + 1) * self.dims]
    }

    /// The exact nearest base ids of query `i` by cosine, nearest first (ties: smaller id).
    ///
    /// # Panics
    /// If `i >= num_queries()`.
    #[must_use]
    pub fn ground_truth(&self, i: usize) -> &[i32] {
        &self.gt[i * self.gt_k..(i + 1) * self.gt_k]
    }

    /// The texts of the base vectors, in id order.
    ///
    /// # Errors
    /// A missing file or a malformed line.
    pub fn base_records(&self) -> io::Result<Vec<Record>> {
        read_records(&self.dir.join("base.jsonl"))
    }

    /// The texts of the queries, in id order.
    ///
    /// # Errors
    /// A missing file or a malformed line.
    pub fn query_records(&self) -> io::Result<Vec<Record>> {
        read_records(&self.dir.join("queries.jsonl"))
    }
}

/// Reads a `.jsonl` file of `{"id": int, "text": str, "src": str}` objects.
///
/// # Errors
/// A missing file, or a line that is not such an object (the error names file and line).
pub fn read_records(path: &Path) -> io::Result<Vec<Record>> {
    let file = fs::File::open(path).map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
    let mut out = Vec::new();
    for (n, line) in BufReader::new(file).lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let bad = |what: &str| invalid(format!("{}:{}: {what}", path.display(), n + 1));
        let v: serde_json::Value = serde_json::from_str(&line).map_err(|e| bad(&e.to_string()))?;
        let id = v["id"].as_i64().ok_or_else(|| bad("no integer \"id\""))?;
        let text = v["text"].as_str().ok_or_else(|| bad("no string \"text\""))?.to_owned();
        let src = v["src"].as_str().ok_or_else(|| bad("no string \"src\""))?.to_owned();
        out.push(Record { id, text, src });
    }
    Ok(out)
}

/// recall@k of `found` against `truth` (nearest first): `|found[..k] ∩ truth[..k]| / k`.
///
/// ```
/// use edgelite_benches::dataset::recall_at_k;
/// assert_eq!(recall_at_k(&[1, 2, 9], &[1, 2, 3, 4], 3), 2.0 / 3.0);
/// assert_eq!(recall_at_k(&[], &[1], 1), 0.0);
/// ```
#[must_use]
pub fn recall_at_k(found: &[i64], truth: &[i32], k: usize) -> f64 {
    if k == 0 {
        return 1.0;
    }
    let truth = &truth[..k.min(truth.len())];
    let hits = found.iter().take(k).filter(|&&id| truth.iter().any(|&t| i64::from(t) == id)).count();
    hits as f64 / k as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recall_counts_each_truth_once_within_k() {
        assert_eq!(recall_at_k(&[3, 2, 1], &[1, 2, 3], 3), 1.0);
        assert_eq!(recall_at_k(&[1, 2, 3, 4], &[4, 5, 6, 1], 2), 0.0);
        assert_eq!(recall_at_k(&[7], &[7, 8], 2), 0.5);
    }

    #[test]
    fn records_parse_escapes_and_report_bad_lines() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let p = dir.path().join("r.jsonl");
        fs::write(&p, "{\"id\": 0, \"text\": \"a \\\"q\\\" \\u00e9\", \"src\": \"debian:x\"}\n\n")?;
        assert_eq!(read_records(&p)?, [Record { id: 0, text: "a \"q\" é".into(), src: "debian:x".into() }]);
        fs::write(&p, "{\"id\": \"0\"}\n")?;
        let e = read_records(&p).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.ends_with("r.jsonl:1: no integer \"id\""), "{e}");
        Ok(())
    }

    /// The real dataset, when it is there: shapes, and the ground truth is the exact top-k.
    #[test]
    fn minilm_20k_loads_when_present() -> io::Result<()> {
        let Ok(dir) = Dataset::locate("minilm-20k") else {
            eprintln!("minilm-20k not found; skipping (set {DATASETS_ENV})");
            return Ok(());
        };
        let ds = Dataset::load(&dir)?;
        assert_eq!((ds.len(), ds.num_queries(), ds.dims, ds.gt_k), (20_000, 500, 384, 100));
        let q = ds.query(0);
        let dot = |i: i32| -> f32 { ds.base_vector(i as usize).iter().zip(q).map(|(a, b)| a * b).sum() };
        let gt = ds.ground_truth(0);
        assert!(dot(gt[0]) >= dot(gt[9]));
        let base = ds.base_records()?;
        assert_eq!((base.len(), base[7].id), (20_000, 7));
        Ok(())
    }
}
