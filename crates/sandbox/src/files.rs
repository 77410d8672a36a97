//! Walking a directory tree for its regular files.

use std::fs::Metadata;
use std::path::{Path, PathBuf};

/// (path relative to `root`, full path, metadata) of every regular file under
/// `root`. Symlinks are never followed nor returned: a link a program made in
/// the sandbox points into the container's view, and following it on the host
/// would read the host's files.
pub fn regular_files(root: &Path) -> Vec<(String, PathBuf, Metadata)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(meta) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            if meta.is_dir() {
                stack.push(path);
            } else if meta.is_file() {
                let rel = path
                    .strip_prefix(root)
                    .expect("under root")
                    .to_string_lossy()
                    .into_owned();
                out.push((rel, path, meta));
            }
        }
    }
    out
}
