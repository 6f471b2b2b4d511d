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
    /// A hunk adds code that is not guarded by an `EDGELITE_OMIT_*` macro.
    Unguarded(String),
}

impl fmt::Display for PatchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PatchError::Io(path, e) => write!(f, "{}: {e}", path.display()),
            PatchError::Parse(name, e) => write!(f, "{name}: not a unified diff: {e}"),
            PatchError::Apply(name, e) => write!(f, "{name}: does not apply (rebase it): {e}"),
            PatchError::Unguarded(name) => {
                write!(f, "{name}: every patch must mention its EDGELITE_OMIT_* guard (see PATCHES.md)")
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
        if !patch.diff.contains("EDGELITE_OMIT_") {
            return Err(PatchError::Unguarded(patch.name.clone()));
        }
        let parsed =
            diffy::Patch::from_str(&patch.diff).map_err(|e| PatchError::Parse(patch.name.clone(), e.to_string()))?;
        text = diffy::apply(&text, &parsed).map_err(|e| PatchError::Apply(patch.name.clone(), e.to_string()))?;
    }
    Ok(text)
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
