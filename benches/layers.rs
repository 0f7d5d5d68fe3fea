//! The image store's hot paths: committing a container's changes (diff -> tar -> sha256),
//! applying a layer, and mounting and unmounting an image of 20 layers. Needs root.
//! Targets: commit >= 500 MB/s; mount + unmount <= 5 ms.

use berth_benches::{many_layers, random_files, random_layer, CountSink};
use berth_image::Store;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use std::time::Duration;

/// 200 MB of new files: 200 files of 1 MB.
const FILES: usize = 200;
const FILE_SIZE: usize = 1 << 20;

fn commit(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path(), Some("overlay")).expect("overlay store");
    let base = many_layers(&store, 1);
    let layers = store.layer_dirs(&base);
    let rw = dir.path().join("container");
    let root = store.driver().mount(&layers, &rw).expect("mount");
    random_files(&root.join("data"), FILES, FILE_SIZE).expect("files");
    let mut group = c.benchmark_group("layer");
    group.sample_size(10).measurement_time(Duration::from_secs(20));
    group.throughput(Throughput::Bytes((FILES * FILE_SIZE) as u64));
    group.bench_function("commit 200 MB (diff, tar, sha256)", |b| {
        b.iter(|| {
            let mut sink = CountSink::default();
            let digest = store.driver().diff(&layers, &rw, &mut sink).expect("diff");
            assert!(digest.diff_id.starts_with("sha256:") && sink.bytes > (FILES * FILE_SIZE) as u64);
            sink.bytes
        })
    });
    group.finish();
    store.driver().unmount(&rw).expect("unmount");
}

fn apply(c: &mut Criterion) {
    let tar = random_layer(FILES, FILE_SIZE).expect("layer tar");
    let mut group = c.benchmark_group("layer");
    group.sample_size(10).measurement_time(Duration::from_secs(30));
    group.throughput(Throughput::Bytes(tar.len() as u64));
    for driver in ["overlay", "vfs"] {
        group.bench_function(format!("apply 200 MB ({driver})"), |b| {
            b.iter_batched(
                || tempfile::tempdir().expect("tempdir"),
                |dir| {
                    let store = Store::open(dir.path(), Some(driver)).expect("store");
                    store.add_layer(None, &mut &tar[..], None).expect("apply");
                    dir
                },
                BatchSize::PerIteration,
            )
        });
    }
    group.finish();
}

fn mount(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path(), Some("overlay")).expect("overlay store");
    let image = many_layers(&store, 20);
    let layers = store.layer_dirs(&image);
    let rw = dir.path().join("container");
    c.bench_function("overlay mount + unmount, 20 layers", |b| {
        b.iter(|| {
            store.driver().mount(&layers, &rw).expect("mount");
            store.driver().unmount(&rw).expect("unmount");
        })
    });
}

criterion_group!(benches, mount, commit, apply);
criterion_main!(benches);
