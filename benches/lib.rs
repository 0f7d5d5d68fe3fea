//! Shared set-up for the benchmarks: random file trees, layer tars, and images of many layers.

use berth_api::image::{ImageConfig, RootFs};
use berth_image::{Image, Store};
use std::io::{self, Write};
use std::path::Path;
use std::sync::Arc;

/// Fills `dir` with `files` files of `size` pseudo-random bytes each (incompressible, as
/// real binaries are closer to than zeros).
pub fn random_files(dir: &Path, files: usize, size: usize) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut buf = vec![0u8; size];
    for i in 0..files {
        for chunk in buf.chunks_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            chunk.copy_from_slice(&state.to_le_bytes()[..chunk.len()]);
        }
        std::fs::write(dir.join(format!("file-{i:04}")), &buf)?;
    }
    Ok(())
}

/// A layer tar holding `files` random files of `size` bytes under `data/`.
pub fn random_layer(files: usize, size: usize) -> io::Result<Vec<u8>> {
    let dir = tempfile::tempdir()?;
    random_files(&dir.path().join("data"), files, size)?;
    let mut builder = tar::Builder::new(Vec::with_capacity(files * (size + 1024)));
    builder.append_dir_all("data", dir.path().join("data"))?;
    builder.into_inner()
}

/// An image of `count` small layers stored in `store`.
pub fn many_layers(store: &Store, count: usize) -> Arc<Image> {
    let mut chain: Option<String> = None;
    let mut diff_ids = Vec::new();
    let mut pinned = Vec::new();
    for i in 0..count {
        let mut builder = tar::Builder::new(Vec::new());
        let data = format!("layer {i}");
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        builder.append_data(&mut header, format!("layer-{i}"), data.as_bytes()).expect("in memory");
        let tar = builder.into_inner().expect("in memory");
        let layer = store.add_layer(chain.as_deref(), &mut &tar[..], None).expect("layer stored");
        diff_ids.push(layer.diff_id.clone());
        chain = Some(layer.chain_id.clone());
        pinned.push(layer);
    }
    let config = ImageConfig { rootfs: Some(RootFs { kind: "layers".into(), diff_ids }), ..Default::default() };
    store.add_image(&serde_json::to_vec(&config).expect("config")).expect("image stored")
}

/// A writer that only counts: the archive computes the layer's sha256 itself as it writes.
#[derive(Default)]
pub struct CountSink {
    pub bytes: u64,
}

impl Write for CountSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.bytes += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
