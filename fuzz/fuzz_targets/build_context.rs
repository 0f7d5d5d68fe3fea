//! Fuzzes the build context: any bytes as the body of `POST /build`, unpacked into a fresh
//! directory with every file held in memory (the smallest threshold), then the held files
//! written out as a cache miss would. Both must succeed or fail cleanly, and neither may change
//! anything beside the context directory (a sentinel directory and file sit next to it).

#![no_main]

mod common;

use berth_builder::context::{from_body_holding, Holding};
use std::fs;
use std::io::Cursor;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let root = dir.path().join("root");
    fs::create_dir(&root).expect("the context directory");
    fs::create_dir(dir.path().join("sentinel")).expect("the sentinel directory");
    fs::write(dir.path().join("sentinel/passwd"), "root:x:0:0::/root:/bin/sh\n").expect("the sentinel");
    let before = common::outside(dir.path());
    let holding = Holding { min: 1, budget: 1 << 20 };
    if let Ok(context) = from_body_holding(Cursor::new(data.to_vec()), &root, "Dockerfile", holding) {
        let _ = context.materialize();
    }
    assert_eq!(before, common::outside(dir.path()), "something changed outside the context");
});
