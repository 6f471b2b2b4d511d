//! The logic behind `cargo xtask`, kept in a library so that tests check exactly what the
//! tasks do.

pub mod dataset;

use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// The workspace root (this crate lives in `<root>/xtask`).
#[must_use]
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask sits inside the workspace").to_path_buf()
}

/// `sqlite3-src/` below the workspace root.
#[must_use]
pub fn sqlite_src() -> PathBuf {
    workspace_root().join("sqlite3-src")
}

/// One numbered core patch: `sqlite3-src/patches/NNNN-name.patch`.
#[derive(Debug, Clone)]
pub struct CorePatch {
    /// The file name, which orders the series.
    pub name: String,
    /// The unified diff against `sqlite3.c`.
    pub diff: String,
}

/// Why the patch series could not be applied.
#[derive(Debug)]
pub enum PatchError {
    /// Reading a file failed.
    Io(PathBuf, io::Error),
    /// A patch file is not a unified diff.
    Parse(String, String),
    /// A patch's context no longer matches (upstream changed): rebase it.
    Apply(String, String),
    /// A hunk adds code that is not guarded by an `EDGELITE_OMIT_*` macro (patch, why).
    Unguarded(String, String),
}

impl fmt::Display for PatchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PatchError::Io(path, e) => write!(f, "{}: {e}", path.display()),
            PatchError::Parse(name, e) => write!(f, "{name}: not a unified diff: {e}"),
            PatchError::Apply(name, e) => write!(f, "{name}: does not apply (rebase it): {e}"),
            PatchError::Unguarded(name, why) => {
                write!(
                    f,
                    "{name}: every hunk must only add lines inside an EDGELITE_OMIT_* guard (see PATCHES.md): {why}"
                )
            }
        }
    }
}

impl std::error::Error for PatchError {}

/// Reads `dir/*.patch` in name order.
///
/// # Errors
/// Any I/O failure reading the directory or a file.
pub fn read_series(dir: &Path) -> Result<Vec<CorePatch>, PatchError> {
    let io = |e| PatchError::Io(dir.to_path_buf(), e);
    let mut names: Vec<String> = fs::read_dir(dir)
        .map_err(io)?
        .filter_map(|entry| entry.ok())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".patch"))
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|name| {
            let path = dir.join(&name);
            let diff = fs::read_to_string(&path).map_err(|e| PatchError::Io(path, e))?;
            Ok(CorePatch { name, diff })
        })
        .collect()
}

/// Applies `series` in order to `upstream` and returns the patched text.
///
/// # Errors
/// A patch that is not a unified diff, does not apply, or lacks an `EDGELITE_OMIT_` guard.
pub fn apply_series(upstream: &str, series: &[CorePatch]) -> Result<String, PatchError> {
    let mut text = upstream.to_owned();
    for patch in series {
        let parsed =
            diffy::Patch::from_str(&patch.diff).map_err(|e| PatchError::Parse(patch.name.clone(), e.to_string()))?;
        check_guards(&parsed).map_err(|why| PatchError::Unguarded(patch.name.clone(), why))?;
        text = diffy::apply(&text, &parsed).map_err(|e| PatchError::Apply(patch.name.clone(), e.to_string()))?;
    }
    Ok(text)
}

/// Checks that every hunk of `patch` only adds lines, and that each run of added lines is one
/// or more whole `#if`…`#endif` blocks whose opening line names an `EDGELITE_OMIT_*` guard: with
/// every guard defined, the patched file compiles to upstream's code.
///
/// # Errors
/// What is wrong, with the hunk's position.
pub fn check_guards(patch: &diffy::Patch<'_, str>) -> Result<(), String> {
    for hunk in patch.hunks() {
        let at = hunk.new_range().start();
        let mut run: Vec<&str> = Vec::new();
        let mut runs = Vec::new();
        for line in hunk.lines() {
            match line {
                diffy::Line::Delete(_) => return Err(format!("the hunk at line {at} removes upstream lines")),
                diffy::Line::Insert(l) => run.push(l.trim_end_matches('\n')),
                diffy::Line::Context(_) => runs.extend((!run.is_empty()).then(|| std::mem::take(&mut run))),
            }
        }
        runs.extend((!run.is_empty()).then_some(run));
        for run in runs {
            let mut depth = 0usize;
            for (i, l) in run.iter().enumerate() {
                let t = l.trim_start();
                if t.starts_with("#if") {
                    if depth == 0 && !t.contains("EDGELITE_OMIT_") {
                        return Err(format!(
                            "the hunk at line {at} opens a block without an EDGELITE_OMIT_* guard: {l}"
                        ));
                    }
                    depth += 1;
                } else if t.starts_with("#endif") {
                    depth = depth
                        .checked_sub(1)
                        .ok_or_else(|| format!("the hunk at line {at} closes a block it did not open"))?;
                } else if depth == 0 && !t.is_empty() {
                    return Err(format!("the hunk at line {at} adds a line outside its guard (line {}): {l}", i + 1));
                }
            }
            if depth != 0 {
                return Err(format!("the hunk at line {at} leaves a guard open"));
            }
        }
    }
    Ok(())
}

/// Upstream `sqlite3.c` with the committed series applied: what `sqlite3-src/patched/sqlite3.c`
/// must hold.
///
/// # Errors
/// As [`read_series`] and [`apply_series`], or reading the upstream file.
pub fn patched_amalgamation() -> Result<String, PatchError> {
    let src = sqlite_src();
    let upstream_path = src.join("upstream/sqlite3.c");
    let upstream = fs::read_to_string(&upstream_path).map_err(|e| PatchError::Io(upstream_path, e))?;
    apply_series(&upstream, &read_series(&src.join("patches"))?)
}
