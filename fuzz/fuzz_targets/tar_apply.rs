//! Fuzzes layer apply: any bytes, decompressed when they look compressed, applied into a
//! fresh root in both whiteout modes, must apply or fail cleanly, and must never change
//! anything beside the root (a sentinel directory and file sit next to it).

#![no_main]

use berth_image::archive::{apply_layer, decompressed, ApplyOptions, Whiteouts};
use std::fs;
use std::io::{Cursor, Read};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Decompression bombs would only measure the disk: stop reading after this much.
const MAX_UNCOMPRESSED: u64 = 64 << 20;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    for whiteouts in [Whiteouts::Overlay, Whiteouts::Apply] {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let root = dir.path().join("root");
        fs::create_dir(&root).expect("the root");
        fs::create_dir(dir.path().join("sentinel")).expect("the sentinel directory");
        fs::write(dir.path().join("sentinel/passwd"), "root:x:0:0::/root:/bin/sh\n").expect("the sentinel");
        let before = outside(dir.path());
        let opts = ApplyOptions { whiteouts, same_owner: true };
        if let Ok(reader) = decompressed(Cursor::new(data.to_vec())) {
            let _ = apply_layer(reader.take(MAX_UNCOMPRESSED), &root, &opts);
        }
        assert_eq!(before, outside(dir.path()), "{whiteouts:?}: something changed outside the root");
    }
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
