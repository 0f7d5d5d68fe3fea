//! Fuzzes the build context: any bytes as the body of `POST /build`, unpacked into a fresh
//! directory with every file held in memory (the smallest threshold), then the held files
//! written out as a cache miss would. Both must succeed or fail cleanly, and neither may change
//! anything beside the context directory (a sentinel directory and file sit next to it).

#![no_main]

use berth_builder::context::{from_body_holding, Holding};
use std::fs;
use std::io::Cursor;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let root = dir.path().join("root");
    fs::create_dir(&root).expect("the context directory");
    fs::create_dir(dir.path().join("sentinel")).expect("the sentinel directory");
    fs::write(dir.path().join("sentinel/passwd"), "root:x:0:0::/root:/bin/sh\n").expect("the sentinel");
    let before = outside(dir.path());
    let holding = Holding { min: 1, budget: 1 << 20 };
    if let Ok(context) = from_body_holding(Cursor::new(data.to_vec()), &root, "Dockerfile", holding) {
        let _ = context.materialize();
    }
    assert_eq!(before, outside(dir.path()), "something changed outside the context");
});

/// Everything in `dir` except its `root/` subtree, with what would show a write.
fn outside(dir: &Path) -> Vec<(PathBuf, u32, u64, i64, i64)> {
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
