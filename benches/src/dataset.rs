//! The `minilm-20k` dataset (`datasets/minilm-20k/` in the repository, see its README): 20,000
//! base and 500 query vectors of 384 dimensions (L2-normalised all-MiniLM-L6-v2 embeddings),
//! the exact cosine top-100 of every query, and the texts.
//!
//! Two layouts are read, told apart by their files: the copy the repository ships (vectors as
//! half floats, the base split in `base-N.f16` parts, texts gzipped; made by `cargo xtask
//! dataset`) and the raw set it was made from (`base.f32`, `queries.f32`, plain `.jsonl`),
//! which `EDGELITE_DATASETS` can point to. Vectors are f32 in memory either way.
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
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use half::f16;

/// Environment variable naming a directory of datasets, used instead of the repository's
/// `datasets/` (for example one holding the raw f32 sets).
pub const DATASETS_ENV: &str = "EDGELITE_DATASETS";

/// One line of `base.jsonl` / `queries.jsonl`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Row id: the index of the vector among the base (or query) vectors.
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
    /// Cosine distance (`1 - cos`) of each `gt` entry.
    pub gt_dist: Vec<f32>,
    /// Ground-truth neighbours per query.
    pub gt_k: usize,
    /// Base vectors were generated ([`Dataset::synthetic`]) or cut ([`Dataset::truncated`]): `gt` is empty and the files in
    /// `dir` are not these vectors.
    pub generated: bool,
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

fn read(path: &Path) -> io::Result<Vec<u8>> {
    fs::read(path).map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))
}

/// Little-endian values of `N` bytes, `width` to a row, decoded by `conv`.
fn decode<T, const N: usize>(path: &Path, bytes: &[u8], width: usize, conv: fn([u8; N]) -> T) -> io::Result<Vec<T>> {
    if !bytes.len().is_multiple_of(N * width) {
        return Err(invalid(format!("{}: {} bytes is not a multiple of {}", path.display(), bytes.len(), N * width)));
    }
    Ok(bytes.chunks_exact(N).map(|c| conv(c.try_into().expect("invariant: chunks of N bytes"))).collect())
}

fn read_le<T, const N: usize>(path: &Path, width: usize, conv: fn([u8; N]) -> T) -> io::Result<Vec<T>> {
    decode(path, &read(path)?, width, conv)
}

fn f16_le(b: [u8; 2]) -> f32 {
    f16::from_le_bytes(b).to_f32()
}

/// The first of `names` that exists in `dir`.
fn first_existing(dir: &Path, names: &[&str]) -> Option<PathBuf> {
    names.iter().map(|n| dir.join(n)).find(|p| p.is_file())
}

impl Dataset {
    /// The directory of dataset `name`: `$EDGELITE_DATASETS/<name>` if the variable is set,
    /// else the repository's `datasets/<name>`.
    ///
    /// # Errors
    /// [`io::ErrorKind::NotFound`] (naming the path) if the directory does not exist.
    pub fn locate(name: &str) -> io::Result<PathBuf> {
        let dir = match std::env::var_os(DATASETS_ENV) {
            Some(dir) => PathBuf::from(dir).join(name),
            None => shipped_dir(name),
        };
        if dir.is_dir() {
            Ok(dir)
        } else {
            Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("dataset not found at {} (set {DATASETS_ENV} to a datasets directory)", dir.display()),
            ))
        }
    }

    /// Loads `minilm-20k`'s vectors (384 dimensions, ground truth top-100) from `dir`, in
    /// either layout: `base-0.f16`, `base-1.f16`, … and `queries.f16`, or `base.f32` and
    /// `queries.f32`; `gt.i32` and `gt_dist.f32` in both.
    ///
    /// # Errors
    /// A missing file, or a file whose size does not fit the shapes.
    pub fn load(dir: &Path) -> io::Result<Dataset> {
        let (dims, gt_k) = (384, 100);
        let (base, queries) = if dir.join("base.f32").is_file() {
            (
                read_le(&dir.join("base.f32"), dims, f32::from_le_bytes)?,
                read_le(&dir.join("queries.f32"), dims, f32::from_le_bytes)?,
            )
        } else {
            let mut base = Vec::new();
            for part in 0.. {
                let path = dir.join(format!("base-{part}.f16"));
                if part > 0 && !path.is_file() {
                    break;
                }
                base.extend(read_le(&path, dims, f16_le)?);
            }
            (base, read_le(&dir.join("queries.f16"), dims, f16_le)?)
        };
        let gt = read_le(&dir.join("gt.i32"), gt_k, i32::from_le_bytes)?;
        let gt_dist = read_le(&dir.join("gt_dist.f32"), gt_k, f32::from_le_bytes)?;
        let nq = queries.len() / dims;
        if gt.len() != nq * gt_k || gt_dist.len() != gt.len() {
            return Err(invalid(format!(
                "{}: {} ground-truth ids and {} distances for {nq} queries × {gt_k}",
                dir.display(),
                gt.len(),
                gt_dist.len()
            )));
        }
        let rows = base.len() / dims;
        if let Some(bad) = gt.iter().find(|&&id| usize::try_from(id).map_or(true, |id| id >= rows)) {
            return Err(invalid(format!("{}: ground-truth id {bad} outside the {rows} base rows", dir.display())));
        }
        Ok(Dataset { dir: dir.to_owned(), dims, base, queries, gt, gt_dist, gt_k, generated: false })
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

    /// The cosine distances of [`Dataset::ground_truth`]`(i)`.
    ///
    /// # Panics
    /// If `i >= num_queries()`.
    #[must_use]
    pub fn ground_truth_distances(&self, i: usize) -> &[f32] {
        &self.gt_dist[i * self.gt_k..(i + 1) * self.gt_k]
    }

    /// The texts of the base vectors, in id order.
    ///
    /// # Errors
    /// A missing file or a malformed line.
    pub fn base_records(&self) -> io::Result<Vec<Record>> {
        read_records(&texts_file(&self.dir, "base")?)
    }

    /// The texts of the queries, in id order.
    ///
    /// # Errors
    /// A missing file or a malformed line.
    pub fn query_records(&self) -> io::Result<Vec<Record>> {
        read_records(&texts_file(&self.dir, "queries")?)
    }
}

/// Where the raw layout of a dataset's files is (`base.f32`, `queries.f32`, `gt.i32`,
/// `gt_dist.f32`, `base.jsonl`, `queries.jsonl`), for the programs outside Rust that read it
/// (libSQL's node scripts, hnswlib's Python): the dataset's own directory, or a temporary one
/// holding the loaded vectors written out as f32, removed on drop.
#[derive(Debug)]
pub enum RawFiles {
    /// The dataset is in the raw layout already.
    Existing(PathBuf),
    /// Written for the occasion.
    Written(tempfile::TempDir),
}

impl RawFiles {
    /// The directory.
    #[must_use]
    pub fn path(&self) -> &Path {
        match self {
            RawFiles::Existing(dir) => dir,
            RawFiles::Written(tmp) => tmp.path(),
        }
    }
}

impl Dataset {
    /// The dataset in the raw layout (see [`RawFiles`]), writing it out if it was loaded from
    /// the shipped one. The vectors written are the loaded ones, so every engine sees the same.
    ///
    /// # Errors
    /// Failing to read the texts or to write the files.
    pub fn raw_files(&self) -> io::Result<RawFiles> {
        if self.dir.join("base.f32").is_file() && !self.generated {
            return Ok(RawFiles::Existing(self.dir.clone()));
        }
        let tmp = tempfile::tempdir()?;
        let le = |v: &[f32]| -> Vec<u8> { v.iter().flat_map(|x| x.to_le_bytes()).collect() };
        fs::write(tmp.path().join("base.f32"), le(&self.base))?;
        fs::write(tmp.path().join("queries.f32"), le(&self.queries))?;
        fs::write(tmp.path().join("gt_dist.f32"), le(&self.gt_dist))?;
        fs::write(tmp.path().join("gt.i32"), self.gt.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>())?;
        for stem in ["base", "queries"] {
            let mut text = Vec::new();
            let reader = flate2::read::GzDecoder::new(fs::File::open(texts_file(&self.dir, stem)?)?);
            BufReader::new(reader).read_to_end(&mut text)?;
            fs::write(tmp.path().join(format!("{stem}.jsonl")), text)?;
        }
        Ok(RawFiles::Written(tmp))
    }
}

/// How [`Dataset::synthetic`] draws the vectors past the real ones.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Generator {
    /// A real vector chosen at random plus Gaussian noise, renormalised. The noise's length is
    /// `spread` times the typical distance of a real vector to its nearest real neighbour
    /// (estimated on a sample). The noise points in all of the space's dimensions, where the
    /// real data varies in few: the draws around one vector make a ball of nearly equal
    /// distances to each other (Gaussian noise vectors in 384 dimensions are nearly orthogonal).
    Noise {
        /// The noise's length, in typical nearest-neighbour distances.
        spread: f32,
    },
    /// A point at a uniformly random place on the segment from a real vector chosen at random
    /// to one of its `neighbours` nearest real vectors, renormalised: the interpolation of
    /// SMOTE (Chawla et al., 2002). The new points stay in the directions in which real
    /// neighbours differ; each lies on a segment, so its own nearest rows are few and close.
    Between {
        /// How many of a real vector's nearest real vectors the segments may end at.
        neighbours: usize,
    },
}

impl Generator {
    /// Parses the command-line form: `noise[:SPREAD]` (default 0.5) or `between[:NEIGHBOURS]`
    /// (default 10).
    ///
    /// ```
    /// use edgelite_benches::dataset::Generator;
    /// assert_eq!(Generator::parse("noise"), Ok(Generator::Noise { spread: 0.5 }));
    /// assert_eq!(Generator::parse("between:4"), Ok(Generator::Between { neighbours: 4 }));
    /// assert!(Generator::parse("between:0").is_err());
    /// ```
    ///
    /// # Errors
    /// Another name, or a value that does not parse (or zero neighbours).
    pub fn parse(text: &str) -> Result<Generator, String> {
        let (name, value) = text.split_once(':').map_or((text, None), |(n, v)| (n, Some(v)));
        let bad = || format!("{text}: expected noise[:SPREAD] or between[:NEIGHBOURS]");
        match name {
            "noise" => Ok(Generator::Noise { spread: value.map_or(Ok(0.5), str::parse).map_err(|_| bad())? }),
            "between" => match value.map_or(Ok(10), str::parse).map_err(|_| bad())? {
                0 => Err(bad()),
                neighbours => Ok(Generator::Between { neighbours }),
            },
            _ => Err(bad()),
        }
    }
}

impl std::fmt::Display for Generator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Generator::Noise { spread } => {
                write!(f, "a real vector + noise of {spread} x the typical nearest-neighbour distance, renormalised")
            }
            Generator::Between { neighbours } => write!(
                f,
                "a uniform point between a real vector and one of its {neighbours} nearest real ones, renormalised"
            ),
        }
    }
}

impl Dataset {
    /// A larger set of the same kind, for the scaling benchmark (issue 14): the real base
    /// vectors first, then vectors drawn by `generator` up to `rows`. The queries are the real
    /// ones; the ground truth is left empty (a caller computes it by brute force).
    #[must_use]
    pub fn synthetic(&self, rows: usize, generator: Generator, seed: u64) -> Dataset {
        self.synthetic_with_origins(rows, generator, seed).0
    }

    /// The same rows and queries with only the first `dims` dimensions of each vector (all of
    /// them if `dims` is 0 or more than there are): a table of few dimensions, where SQLite's
    /// scan ranks a row cheaply. The ground truth is left empty, as it no longer holds.
    #[must_use]
    pub fn truncated(&self, dims: usize) -> Dataset {
        if dims == 0 || dims >= self.dims {
            return self.clone();
        }
        let cut = |all: &[f32]| all.chunks_exact(self.dims).flat_map(|v| v[..dims].iter().copied()).collect();
        Dataset {
            dir: self.dir.clone(),
            dims,
            base: cut(&self.base),
            queries: cut(&self.queries),
            gt: Vec::new(),
            gt_dist: Vec::new(),
            gt_k: 0,
            generated: true,
        }
    }

    /// [`Dataset::synthetic`], and for each of its base vectors the real one it was drawn
    /// around (itself for a real one), so that a row can take that vector's text and source.
    #[must_use]
    pub fn synthetic_with_origins(&self, rows: usize, generator: Generator, seed: u64) -> (Dataset, Vec<usize>) {
        let dims = self.dims;
        let real = self.len();
        let mut rng = SplitMix(seed);
        let mut base = Vec::with_capacity(rows * dims);
        base.extend_from_slice(&self.base[..real.min(rows) * dims]);
        let mut origins: Vec<usize> = (0..real.min(rows)).collect();
        let mut push = |v: Vec<f32>| {
            let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(f32::MIN_POSITIVE);
            base.extend(v.iter().map(|x| x / norm));
        };
        match generator {
            Generator::Noise { spread } => {
                let sigma = spread * self.typical_nearest_distance(&mut rng) / (dims as f32).sqrt();
                for _ in real..rows {
                    let origin = rng.below(real);
                    origins.push(origin);
                    push(self.base_vector(origin).iter().map(|x| x + rng.gauss() * sigma).collect());
                }
            }
            Generator::Between { neighbours } => {
                let width = neighbours.min(real.saturating_sub(1)).max(1);
                let near = if rows > real { self.nearest_real(width) } else { Vec::new() };
                for _ in real..rows {
                    let origin = rng.below(real);
                    origins.push(origin);
                    let other = near.get(origin * width + rng.below(width)).copied().unwrap_or(origin);
                    let t = rng.unit() as f32;
                    let (a, b) = (self.base_vector(origin), self.base_vector(other));
                    push(a.iter().zip(b).map(|(x, y)| x + t * (y - x)).collect());
                }
            }
        }
        let ds = Dataset {
            dir: self.dir.clone(),
            dims,
            base,
            queries: self.queries.clone(),
            gt: Vec::new(),
            gt_dist: Vec::new(),
            gt_k: 0,
            generated: true,
        };
        (ds, origins)
    }

    /// The median L2 distance of 200 sampled base vectors to their nearest other one.
    fn typical_nearest_distance(&self, rng: &mut SplitMix) -> f32 {
        let real = self.len();
        let mut nn = Vec::new();
        for _ in 0..200.min(real) {
            let i = rng.below(real);
            let a = self.base_vector(i);
            // summed in order, not with `l2sq`: its other rounding would move the noise's
            // length, and with it every row that earlier figures were measured on
            let best = (0..real)
                .filter(|&j| j != i)
                .map(|j| a.iter().zip(self.base_vector(j)).map(|(x, y)| (x - y) * (x - y)).sum::<f32>())
                .fold(f32::INFINITY, f32::min);
            nn.push(best.sqrt());
        }
        nn.sort_by(f32::total_cmp);
        nn.get(nn.len() / 2).copied().unwrap_or(0.5)
    }

    /// For each base vector, the ids of its `m` (at least 1) nearest other base vectors by L2
    /// (ties: the smaller id), nearest first, `m` to a row (padded with 0 past `len - 1`);
    /// exact, on every core.
    fn nearest_real(&self, m: usize) -> Vec<usize> {
        let n = self.len();
        let m = m.max(1);
        let mut out = vec![0; n * m];
        let threads = std::thread::available_parallelism().map_or(1, usize::from);
        let per = n.div_ceil(threads).max(1);
        std::thread::scope(|s| {
            for (chunk, rows) in out.chunks_mut(per * m).zip((0..n).step_by(per)) {
                s.spawn(move || {
                    for (slot, i) in chunk.chunks_mut(m).zip(rows..) {
                        let a = self.base_vector(i);
                        let mut d: Vec<(f32, usize)> =
                            (0..n).filter(|&j| j != i).map(|j| (l2sq(a, self.base_vector(j)), j)).collect();
                        let by = |x: &(f32, usize), y: &(f32, usize)| x.0.total_cmp(&y.0).then(x.1.cmp(&y.1));
                        if d.len() > m {
                            d.select_nth_unstable_by(m - 1, by);
                            d.truncate(m);
                        }
                        d.sort_unstable_by(by);
                        for (s, (_, j)) in slot.iter_mut().zip(d) {
                            *s = j;
                        }
                    }
                });
            }
        });
        out
    }
}

/// The squared L2 distance of `a` and `b`, in sixteen lanes that the compiler vectorises.
fn l2sq(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0f32; 16];
    let (ca, cb) = (a.chunks_exact(16), b.chunks_exact(16));
    let tail: f32 = ca.remainder().iter().zip(cb.remainder()).map(|(x, y)| (x - y) * (x - y)).sum();
    for (x, y) in ca.zip(cb) {
        for i in 0..16 {
            lanes[i] += (x[i] - y[i]) * (x[i] - y[i]);
        }
    }
    lanes.iter().sum::<f32>() + tail
}

/// SplitMix64, with a Box-Muller normal: reproducible data with no dependency.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn gauss(&mut self) -> f32 {
        let (u, v) = (self.unit().max(1e-300), self.unit());
        ((-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()) as f32
    }
}

/// The repository's copy of dataset `name`: `<workspace root>/datasets/<name>`.
#[must_use]
pub fn shipped_dir(name: &str) -> PathBuf {
    // The crate compiling this file sits below the workspace root (benches/, or crates/edgelite
    // for the minilm example, which includes this file); the root is the first ancestor that
    // has the datasets folder.
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let root = here.ancestors().find(|d| d.join("datasets").is_dir() && d.join("Cargo.toml").is_file());
    root.unwrap_or(here).join("datasets").join(name)
}

/// `<stem>.jsonl`, else `<stem>.jsonl.gz`.
fn texts_file(dir: &Path, stem: &str) -> io::Result<PathBuf> {
    let names = [format!("{stem}.jsonl"), format!("{stem}.jsonl.gz")];
    first_existing(dir, &[&names[0], &names[1]]).ok_or_else(|| {
        io::Error::new(io::ErrorKind::NotFound, format!("{}: no {} nor {}", dir.display(), names[0], names[1]))
    })
}

/// Reads a `.jsonl` file (gzipped if its name ends in `.gz`) of
/// `{"id": int, "text": str, "src": str}` objects.
///
/// # Errors
/// A missing file, a corrupt gzip stream, or a line that is not such an object (the error
/// names file and line).
pub fn read_records(path: &Path) -> io::Result<Vec<Record>> {
    let file = fs::File::open(path).map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
    let reader: Box<dyn Read> = if path.extension().is_some_and(|e| e == "gz") {
        Box::new(flate2::read::GzDecoder::new(file))
    } else {
        Box::new(file)
    };
    let mut out = Vec::new();
    for (n, line) in BufReader::new(reader).lines().enumerate() {
        let line = line.map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
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

    /// The copy the repository ships: shapes, texts, and a sample of the ground truth is the
    /// exact top-k of the decoded vectors (brute force, f64).
    #[test]
    fn shipped_minilm_20k_loads_and_its_ground_truth_is_exact() -> io::Result<()> {
        let ds = Dataset::load(&shipped_dir("minilm-20k"))?;
        assert_eq!((ds.len(), ds.num_queries(), ds.dims, ds.gt_k), (20_000, 500, 384, 100));
        let norm = |v: &[f32]| v.iter().map(|&x| f64::from(x) * f64::from(x)).sum::<f64>().sqrt();
        for q in [0, 1, 137, 250, 499] {
            let query = ds.query(q);
            let qn = norm(query);
            assert!((qn - 1.0).abs() < 1e-2, "query {q} is not unit length: {qn}");
            let mut all: Vec<(f64, i32)> = (0..ds.len())
                .map(|i| {
                    let row = ds.base_vector(i);
                    let dot: f64 = row.iter().zip(query).map(|(&a, &b)| f64::from(a) * f64::from(b)).sum();
                    (1.0 - dot / (norm(row) * qn), i32::try_from(i).unwrap_or(i32::MAX))
                })
                .collect();
            all.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            let ids: Vec<i32> = all[..ds.gt_k].iter().map(|p| p.1).collect();
            assert_eq!(ids, ds.ground_truth(q), "query {q}");
            for (&(d, _), &shipped) in all.iter().zip(ds.ground_truth_distances(q)) {
                assert!((d - f64::from(shipped)).abs() < 1e-6, "query {q}: {d} against {shipped}");
            }
        }
        let base = ds.base_records()?;
        assert_eq!(base.len(), 20_000);
        assert!(base.iter().enumerate().all(|(i, r)| r.id == i as i64 && !r.text.is_empty()));
        assert!(base.iter().all(|r| r.src.starts_with("debian:") || r.src.starts_with("wordnet:")));
        assert_eq!(ds.query_records()?.len(), 500);
        Ok(())
    }

    /// The raw layout written from the shipped copy holds the same vectors and texts.
    #[test]
    fn raw_files_written_from_the_shipped_copy_load_the_same() -> io::Result<()> {
        let ds = Dataset::load(&shipped_dir("minilm-20k"))?;
        let raw = ds.raw_files()?;
        assert!(matches!(raw, RawFiles::Written(_)));
        let again = Dataset::load(raw.path())?;
        assert_eq!(
            (again.base == ds.base, again.queries == ds.queries, &again.gt, &again.gt_dist),
            (true, true, &ds.gt, &ds.gt_dist)
        );
        assert_eq!(read_records(&raw.path().join("queries.jsonl"))?, ds.query_records()?);
        assert!(matches!(again.raw_files()?, RawFiles::Existing(d) if d == raw.path()));
        Ok(())
    }

    /// Writes a one-query dataset of `rows` base vectors in the shipped layout, parts of one row.
    fn tiny_shipped(dir: &Path, rows: usize) -> io::Result<()> {
        let half_row = |x: f32| -> Vec<u8> { (0..384).flat_map(|_| f16::from_f32(x).to_le_bytes()).collect() };
        for i in 0..rows {
            fs::write(dir.join(format!("base-{i}.f16")), half_row(i as f32))?;
        }
        fs::write(dir.join("queries.f16"), half_row(0.5))?;
        fs::write(dir.join("gt.i32"), [0u8; 400])?;
        fs::write(dir.join("gt_dist.f32"), [0u8; 400])
    }

    #[test]
    fn parts_are_read_in_order_and_bad_shapes_are_errors() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        tiny_shipped(dir.path(), 3)?;
        let ds = Dataset::load(dir.path())?;
        assert_eq!((ds.len(), ds.num_queries()), (3, 1));
        assert_eq!((ds.base_vector(2)[383], ds.query(0)[0]), (2.0, 0.5));

        fs::write(dir.path().join("gt.i32"), [7u8; 400])?;
        let e = Dataset::load(dir.path()).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.contains("outside the 3 base rows"), "{e}");
        fs::write(dir.path().join("gt.i32"), [0u8; 396])?;
        let e = Dataset::load(dir.path()).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.contains("gt.i32: 396 bytes is not a multiple of 400"), "{e}");
        fs::write(dir.path().join("gt.i32"), [0u8; 400])?;
        fs::write(dir.path().join("base-1.f16"), [0u8; 10])?;
        let e = Dataset::load(dir.path()).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.contains("base-1.f16: 10 bytes"), "{e}");
        fs::remove_file(dir.path().join("base-0.f16"))?;
        assert_eq!(Dataset::load(dir.path()).err().map(|e| e.kind()), Some(io::ErrorKind::NotFound));
        Ok(())
    }

    /// Three pairs of nearby unit vectors in 4 dimensions, far from each other: with one
    /// neighbour, every generated vector lies on the arc between its origin and that origin's
    /// partner, and the origins it reports are real rows.
    #[test]
    fn between_draws_on_the_segment_to_a_nearest_real_vector() {
        let pairs = [[1.0, 0.1, 0.0, 0.0], [0.1, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.1]];
        let mut base = Vec::new();
        for p in pairs {
            let twin = p.map(|x: f32| x + 0.05);
            for v in [p, twin] {
                let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
                base.extend(v.iter().map(|x| x / n));
            }
        }
        let real = Dataset {
            dir: PathBuf::new(),
            dims: 4,
            base,
            queries: vec![1.0, 0.0, 0.0, 0.0],
            gt: Vec::new(),
            gt_dist: Vec::new(),
            gt_k: 0,
            generated: false,
        };
        assert_eq!(real.nearest_real(1), [1, 0, 3, 2, 5, 4]);
        let (ds, origins) = real.synthetic_with_origins(300, Generator::Between { neighbours: 1 }, 7);
        assert_eq!((ds.len(), &origins[..6]), (300, &[0, 1, 2, 3, 4, 5][..]));
        let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>();
        let mut used = [false; 6];
        for (i, &o) in origins.iter().enumerate().skip(6) {
            used[o] = true;
            let (v, a, b) = (ds.base_vector(i), real.base_vector(o), real.base_vector(o ^ 1));
            assert!((dot(v, v) - 1.0).abs() < 1e-5, "row {i} is not unit length");
            // on the arc from a to b: nearer to each than they are to each other, in their plane
            let ab = dot(a, b);
            assert!(dot(v, a) >= ab - 1e-5 && dot(v, b) >= ab - 1e-5, "row {i} is not between {o} and {}", o ^ 1);
            let (x, y) = (dot(v, a), dot(v, b));
            let (ca, cb) = ((x - y * ab) / (1.0 - ab * ab), (y - x * ab) / (1.0 - ab * ab));
            let off: f32 = (0..4).map(|d| (v[d] - ca * a[d] - cb * b[d]).powi(2)).sum();
            assert!(off < 1e-8, "row {i} leaves the plane of {o} and {}: {off}", o ^ 1);
        }
        assert_eq!(used, [true; 6]);
        let again = real.synthetic(300, Generator::Between { neighbours: 1 }, 7);
        assert!(again.base == ds.base, "the same seed draws the same rows");
    }

    #[test]
    fn gzipped_texts_are_read_and_corruption_is_an_error() -> io::Result<()> {
        use std::io::Write;
        let dir = tempfile::tempdir()?;
        let p = dir.path().join("base.jsonl.gz");
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(b"{\"id\": 0, \"text\": \"t\", \"src\": \"debian:x\"}\n")?;
        let bytes = gz.finish()?;
        fs::write(&p, &bytes)?;
        assert_eq!(read_records(&texts_file(dir.path(), "base")?)?[0].text, "t");
        fs::write(&p, &bytes[..bytes.len() / 2])?;
        let e = read_records(&p).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.starts_with(&format!("{}: ", p.display())), "{e}");
        assert!(texts_file(dir.path(), "queries").is_err());
        Ok(())
    }
}
