//! Timing and scoring shared by the benchmark binaries.

use std::error::Error;
use std::time::Instant;

use crate::dataset::recall_at_k;

/// A benchmark step's result, with any error boxed.
pub type BoxResult<T> = Result<T, Box<dyn Error>>;

/// Timings and answers of one search method.
pub struct Search {
    /// Seconds of each repeat over all queries.
    pub repeat_secs: Vec<f64>,
    /// The ids found for each query (last repeat).
    pub ids: Vec<Vec<i64>>,
}

impl Search {
    /// Queries per second over the median repeat.
    pub fn qps(&self) -> f64 {
        let mut s = self.repeat_secs.clone();
        s.sort_by(f64::total_cmp);
        self.ids.len() as f64 / s[s.len() / 2]
    }

    /// Mean recall@k of the answers against `truth` (one list per query).
    pub fn recall(&self, truth: &[Vec<i32>], k: usize) -> f64 {
        self.ids.iter().zip(truth).map(|(found, t)| recall_at_k(found, t, k)).sum::<f64>() / self.ids.len() as f64
    }
}

/// Runs `search` over queries `0..nq` once untimed (to warm the caches), then `repeats` times.
///
/// # Errors
/// The first error `search` returns.
pub fn measure(nq: usize, repeats: usize, mut search: impl FnMut(usize) -> BoxResult<Vec<i64>>) -> BoxResult<Search> {
    let mut out = Search { repeat_secs: Vec::new(), ids: Vec::new() };
    for q in 0..nq {
        search(q)?;
    }
    for _ in 0..repeats {
        let t = Instant::now();
        let ids = (0..nq).map(&mut search).collect::<BoxResult<Vec<_>>>()?;
        out.repeat_secs.push(t.elapsed().as_secs_f64());
        out.ids = ids;
    }
    Ok(out)
}

/// The `k` smallest `(distance, id)` pairs, nearest first (ties: smaller id).
pub fn top_k(mut d: Vec<(f32, u32)>, k: usize) -> Vec<i64> {
    let by = |a: &(f32, u32), b: &(f32, u32)| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1));
    if k == 0 {
        return Vec::new();
    }
    if d.len() > k {
        d.select_nth_unstable_by(k - 1, by);
        d.truncate(k);
    }
    d.sort_unstable_by(by);
    d.into_iter().map(|(_, id)| i64::from(id)).collect()
}

/// Runs `libsql/<script>` under node (libSQL's own engine, installed by
/// `npm ci --prefix tests/libsql`) with `args` and returns the JSON it prints; `Ok(None)`, with
/// the reason printed, when node, the package or the script fails.
///
/// # Errors
/// Output that is not JSON.
pub fn run_libsql(script: &str, args: &[String]) -> BoxResult<Option<serde_json::Value>> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let module = root.join("../tests/libsql/node_modules/libsql");
    if !module.is_dir() {
        println!("libSQL skipped: {} is missing (run `npm ci --prefix tests/libsql`)", module.display());
        return Ok(None);
    }
    let out = match std::process::Command::new("node").arg(root.join("libsql").join(script)).args(args).output() {
        Ok(out) => out,
        Err(e) => {
            println!("libSQL skipped: cannot run node ({e})");
            return Ok(None);
        }
    };
    if !out.status.success() {
        println!("libSQL skipped: node failed ({}):\n{}", out.status, String::from_utf8_lossy(&out.stderr));
        return Ok(None);
    }
    Ok(Some(serde_json::from_slice(&out.stdout)?))
}

/// A [`Search`] from the scripts' JSON: `{"repeat_ms": [..], "ids": [[..], ..]}`.
///
/// # Errors
/// A missing or mistyped field.
pub fn search_from_json(s: &serde_json::Value) -> BoxResult<Search> {
    let repeat_secs =
        s["repeat_ms"].as_array().ok_or("repeat_ms")?.iter().filter_map(serde_json::Value::as_f64).map(|ms| ms / 1e3);
    let ids = s["ids"]
        .as_array()
        .ok_or("ids")?
        .iter()
        .map(|q| q.as_array().map(|q| q.iter().filter_map(serde_json::Value::as_i64).collect()).ok_or("ids[q]"))
        .collect::<Result<_, _>>()?;
    Ok(Search { repeat_secs: repeat_secs.collect(), ids })
}
