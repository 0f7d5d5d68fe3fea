//! Keeping a layer's tar exactly as it came: while a layer is applied, its uncompressed bytes
//! are also written, zstd-compressed, beside the layer, so `save` and `push` reproduce the
//! same bytes (and so the same diff id) that the image config names.

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::Path;

/// Fast compression: the point is to keep the bytes, not to shrink them much.
const ZSTD_LEVEL: i32 = 1;

/// A reader that stores a compressed copy of everything read through it.
pub struct Keep<'a> {
    inner: &'a mut dyn Read,
    store: zstd::Encoder<'static, BufWriter<File>>,
}

impl<'a> Keep<'a> {
    pub fn new(inner: &'a mut dyn Read, store_at: &Path) -> io::Result<Keep<'a>> {
        let file = BufWriter::with_capacity(1 << 20, File::create(store_at)?);
        let mut store = zstd::Encoder::new(file, ZSTD_LEVEL)?;
        // A checksum (xxhash, cheap) makes a copy damaged after the fact fail when read.
        store.include_checksum(true)?;
        Ok(Keep { inner, store })
    }

    /// Closes the stored copy. The consumer must have read the stream to its end (applying a
    /// layer does, to hash it). Like the layer's files, the copy is left to the kernel to
    /// write back rather than synced here: a copy cut short or damaged by a crash fails zstd's
    /// frame checks when read, it never passes for the layer.
    pub fn finish(self) -> io::Result<()> {
        let mut file = self.store.finish()?;
        file.flush()
    }
}

impl Read for Keep<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.store.write_all(&buf[..n])?;
        Ok(n)
    }
}

/// The stored tar of a layer, decompressed.
pub fn open_stored(path: &Path) -> io::Result<impl Read> {
    zstd::Decoder::new(File::open(path)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_every_byte() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("layer.tar.zst");
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let mut source = &data[..];
        let mut keep = Keep::new(&mut source, &path).unwrap();
        std::io::copy(&mut keep, &mut std::io::sink()).unwrap();
        keep.finish().unwrap();
        let mut back = Vec::new();
        open_stored(&path).unwrap().read_to_end(&mut back).unwrap();
        assert_eq!(back, data);
    }

    #[test]
    fn a_copy_cut_short_or_damaged_fails_when_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("layer.tar.zst");
        let data: Vec<u8> = (0..200_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
        let mut source = &data[..];
        let mut keep = Keep::new(&mut source, &path).unwrap();
        std::io::copy(&mut keep, &mut std::io::sink()).unwrap();
        keep.finish().unwrap();
        let whole = std::fs::read(&path).unwrap();
        std::fs::write(&path, &whole[..whole.len() - 100]).unwrap();
        assert!(open_stored(&path).unwrap().read_to_end(&mut Vec::new()).is_err(), "a cut copy read back");
        let mut damaged = whole.clone();
        let last = damaged.len() - 1;
        damaged[last] ^= 0xff;
        std::fs::write(&path, &damaged).unwrap();
        assert!(open_stored(&path).unwrap().read_to_end(&mut Vec::new()).is_err(), "a damaged copy read back");
    }
}
