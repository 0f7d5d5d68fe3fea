//! Fuzzes layer apply: any bytes, decompressed when they look compressed, applied into a
//! fresh root in both whiteout modes, must apply or fail cleanly, and must never change
//! anything beside the root (a sentinel directory and file sit next to it).

#![no_main]

mod common;

use berth_image::archive::{apply_layer, decompressed, ApplyOptions, Whiteouts};
use std::fs;
use std::io::{Cursor, Read};

/// Decompression bombs would only measure the disk: stop reading after this much.
const MAX_UNCOMPRESSED: u64 = 64 << 20;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    for whiteouts in [Whiteouts::Overlay, Whiteouts::Apply] {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let root = dir.path().join("root");
        fs::create_dir(&root).expect("the root");
        fs::create_dir(dir.path().join("sentinel")).expect("the sentinel directory");
        fs::write(dir.path().join("sentinel/passwd"), "root:x:0:0::/root:/bin/sh\n").expect("the sentinel");
        let before = common::outside(dir.path());
        let opts = ApplyOptions { whiteouts, same_owner: true };
        if let Ok(reader) = decompressed(Cursor::new(data.to_vec())) {
            let _ = apply_layer(reader.take(MAX_UNCOMPRESSED), &root, &opts);
        }
        assert_eq!(before, common::outside(dir.path()), "{whiteouts:?}: something changed outside the root");
    }
});
