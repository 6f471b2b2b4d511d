//! `cargo xtask dataset RAW_DIR [OUT_DIR]`: the compact copy of `minilm-20k` that ships in
//! `datasets/minilm-20k/` (see its README), made from the raw set.
//!
//! The raw set is 35 MB of f32 vectors and plain JSON lines; the copy stores the vectors as
//! IEEE half floats (little-endian), the base vectors in parts of at most 4 MiB, and the texts
//! gzipped. Halving the vectors moves them a little, so the exact neighbours are computed
//! again on the vectors as a reader decodes them: recall measured against the shipped ground
//! truth is recall against the vectors that are actually searched.

use std::fs;
use std::io::{self, BufRead, Write};
use std::path::{Path, PathBuf};

use half::f16;

/// Dimensions of every vector.
pub const DIMS: usize = 384;
/// Ground-truth neighbours per query.
pub const GT_K: usize = 100;
/// Base rows per `base-N.f16` part: 5,000 × 384 × 2 bytes = 3.84 MB, under the repository's
/// 4 MiB mark for one file.
pub const ROWS_PER_PART: usize = 5_000;

fn err(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

fn read(path: &Path) -> io::Result<Vec<u8>> {
    fs::read(path).map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))
}

/// Little-endian f32 rows of `DIMS` values.
fn read_f32_rows(path: &Path) -> io::Result<Vec<f32>> {
    let bytes = read(path)?;
    if !bytes.len().is_multiple_of(4 * DIMS) {
        return Err(err(format!(
            "{}: {} bytes is not a whole number of {DIMS}-d f32 rows",
            path.display(),
            bytes.len()
        )));
    }
    Ok(bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
}

/// The values rounded to the nearest half float, as little-endian bytes, and what a reader
/// decodes from them.
fn to_f16(values: &[f32]) -> (Vec<u8>, Vec<f32>) {
    let halves: Vec<f16> = values.iter().map(|&v| f16::from_f32(v)).collect();
    let bytes = halves.iter().flat_map(|h| h.to_le_bytes()).collect();
    (bytes, halves.iter().map(|h| h.to_f32()).collect())
}

/// Checks that a `.jsonl` file holds `rows` objects with ids 0, 1, …, in order.
fn check_jsonl(path: &Path, bytes: &[u8], rows: usize) -> io::Result<()> {
    let mut n = 0usize;
    for line in bytes.lines() {
        let line = line?;
        let v: serde_json::Value =
            serde_json::from_str(&line).map_err(|e| err(format!("{}:{}: {e}", path.display(), n + 1)))?;
        if v["id"].as_u64() != Some(n as u64) || !v["text"].is_string() || !v["src"].is_string() {
            return Err(err(format!("{}:{}: expected {{\"id\": {n}, \"text\", \"src\"}}", path.display(), n + 1)));
        }
        n += 1;
    }
    if n != rows {
        return Err(err(format!("{}: {n} lines for {rows} vectors", path.display())));
    }
    Ok(())
}

/// The exact `k` nearest base rows of every query by cosine distance (`1 - a·b / sqrt(|a|²·|b|²)`,
/// libSQL's `vector_distance_cos`), computed in f64; ties go to the smaller id. Returns ids and
/// distances, `k` per query, nearest first.
#[must_use]
pub fn exact_neighbours(base: &[f32], queries: &[f32], dims: usize, k: usize) -> (Vec<i32>, Vec<f32>) {
    let norms: Vec<f64> =
        base.chunks_exact(dims).map(|r| r.iter().map(|&x| f64::from(x) * f64::from(x)).sum()).collect();
    let mut ids = Vec::with_capacity(queries.len() / dims * k);
    let mut dists = Vec::with_capacity(queries.len() / dims * k);
    for q in queries.chunks_exact(dims) {
        let qn: f64 = q.iter().map(|&x| f64::from(x) * f64::from(x)).sum();
        let mut all: Vec<(f64, usize)> = base
            .chunks_exact(dims)
            .zip(&norms)
            .enumerate()
            .map(|(id, (row, &n))| {
                let dot: f64 = row.iter().zip(q).map(|(&a, &b)| f64::from(a) * f64::from(b)).sum();
                (1.0 - dot / (n * qn).sqrt(), id)
            })
            .collect();
        let k = k.min(all.len());
        if k > 0 {
            all.select_nth_unstable_by(k - 1, |a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            all.truncate(k);
            all.sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        }
        for (d, id) in all {
            ids.push(i32::try_from(id).expect("invariant: fewer than 2^31 base rows"));
            dists.push(d as f32);
        }
    }
    (ids, dists)
}

/// What [`convert`] wrote.
#[derive(Debug)]
pub struct Converted {
    /// Every file written, with its size in bytes.
    pub files: Vec<(PathBuf, usize)>,
    /// Mean recall@10 of the raw set's ground truth against the recomputed one.
    pub raw_gt_recall_at_10: f64,
    /// Queries whose top-10 ids changed.
    pub queries_changed_at_10: usize,
}

/// Reads the raw `minilm-20k` set from `raw` and writes the compact copy into `out`.
///
/// # Errors
/// A missing or misshapen input file, or a failed write.
pub fn convert(raw: &Path, out: &Path) -> io::Result<Converted> {
    let base = read_f32_rows(&raw.join("base.f32"))?;
    let queries = read_f32_rows(&raw.join("queries.f32"))?;
    let (rows, nq) = (base.len() / DIMS, queries.len() / DIMS);
    let raw_gt = read(&raw.join("gt.i32"))?;
    if raw_gt.len() != nq * GT_K * 4 {
        return Err(err(format!("gt.i32: {} bytes for {nq} queries × {GT_K}", raw_gt.len())));
    }
    let texts = read(&raw.join("base.jsonl"))?;
    check_jsonl(&raw.join("base.jsonl"), &texts, rows)?;
    let query_texts = read(&raw.join("queries.jsonl"))?;
    check_jsonl(&raw.join("queries.jsonl"), &query_texts, nq)?;

    fs::create_dir_all(out)?;
    let mut files = Vec::new();
    let mut write = |name: &str, bytes: &[u8]| -> io::Result<()> {
        let path = out.join(name);
        fs::write(&path, bytes).map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        files.push((path, bytes.len()));
        Ok(())
    };

    let (base_bytes, base16) = to_f16(&base);
    for (i, part) in base_bytes.chunks(ROWS_PER_PART * DIMS * 2).enumerate() {
        write(&format!("base-{i}.f16"), part)?;
    }
    let (query_bytes, queries16) = to_f16(&queries);
    write("queries.f16", &query_bytes)?;

    let (gt, gt_dist) = exact_neighbours(&base16, &queries16, DIMS, GT_K);
    write("gt.i32", &gt.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>())?;
    write("gt_dist.f32", &gt_dist.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>())?;

    for (name, bytes) in [("base.jsonl.gz", &texts), ("queries.jsonl.gz", &query_texts)] {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(bytes)?;
        write(name, &gz.finish()?)?;
    }

    let raw_gt: Vec<i32> = raw_gt.chunks_exact(4).map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
    let (mut hits, mut changed) = (0usize, 0usize);
    for q in 0..nq {
        let (old, new) = (&raw_gt[q * GT_K..q * GT_K + 10], &gt[q * GT_K..q * GT_K + 10]);
        hits += old.iter().filter(|id| new.contains(id)).count();
        changed += usize::from(old != new);
    }
    Ok(Converted { files, raw_gt_recall_at_10: hits as f64 / (nq * 10) as f64, queries_changed_at_10: changed })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_neighbours_rank_by_cosine_and_break_ties_by_id() {
        // 2-d base: id 1 and id 3 are the same direction as the query (distance 0, a tie),
        // id 0 is orthogonal, id 2 opposite.
        let base = [0.0, 1.0, 2.0, 0.0, -1.0, 0.0, 1.0, 0.0];
        let (ids, d) = exact_neighbours(&base, &[3.0, 0.0], 2, 3);
        assert_eq!(ids, [1, 3, 0]);
        assert_eq!(d, [0.0, 0.0, 1.0]);
        let (ids, _) = exact_neighbours(&base, &[3.0, 0.0], 2, 10);
        assert_eq!(ids, [1, 3, 0, 2]);
    }

    #[test]
    fn half_rounding_round_trips_through_the_bytes() {
        let (bytes, decoded) = to_f16(&[1.0, -0.333_333, 65_504.0]);
        assert_eq!(bytes.len(), 6);
        assert_eq!(decoded[0], 1.0);
        assert!((decoded[1] + 0.333_333).abs() < 1e-3 && decoded[1] != -0.333_333);
        let back: Vec<f32> = bytes.chunks_exact(2).map(|c| f16::from_le_bytes([c[0], c[1]]).to_f32()).collect();
        assert_eq!(back, decoded);
    }

    #[test]
    fn misnumbered_jsonl_is_refused() {
        let ok = b"{\"id\": 0, \"text\": \"a\", \"src\": \"x\"}\n{\"id\": 1, \"text\": \"b\", \"src\": \"y\"}\n";
        assert!(check_jsonl(Path::new("t"), ok, 2).is_ok());
        assert!(check_jsonl(Path::new("t"), ok, 3).is_err());
        let bad = b"{\"id\": 1, \"text\": \"a\", \"src\": \"x\"}\n";
        let e = check_jsonl(Path::new("t"), bad, 1).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.starts_with("t:1: expected"), "{e}");
    }
}
