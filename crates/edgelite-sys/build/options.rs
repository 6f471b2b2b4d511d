// Reads sqlite3-src/compile-options.txt. Shared by build.rs and by the tests that build a
// pristine upstream library with the same options, so both always agree.

use std::path::Path;

/// `NAME` or `NAME=VALUE` a line, `#` starts a comment.
pub fn compile_options(path: &Path) -> Vec<(String, Option<String>)> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    text.lines()
        .map(|line| line.split('#').next().unwrap_or("").trim())
        .filter(|line| !line.is_empty())
        .map(|line| match line.split_once('=') {
            Some((name, value)) => (name.to_owned(), Some(value.to_owned())),
            None => (line.to_owned(), None),
        })
        .collect()
}
