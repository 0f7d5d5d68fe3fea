//! What the file-system fuzz targets share: a picture of everything beside the directory a
//! target writes into, to compare before and after.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Everything in `dir` except its `root/` subtree, with what would show a write.
pub fn outside(dir: &Path) -> Vec<(PathBuf, u32, u64, i64, i64)> {
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out
}

fn walk(top: &Path, path: &Path, out: &mut Vec<(PathBuf, u32, u64, i64, i64)>) {
    let meta = fs::symlink_metadata(path).expect("stat");
    let rel = path.strip_prefix(top).expect("below the top").to_path_buf();
    out.push((rel, meta.mode(), meta.size(), meta.mtime(), meta.mtime_nsec()));
    if !meta.is_dir() {
        return;
    }
    let mut children: Vec<PathBuf> = fs::read_dir(path).expect("list").map(|e| e.expect("entry").path()).collect();
    children.sort();
    for child in children {
        if child != top.join("root") {
            walk(top, &child, out);
        }
    }
}
