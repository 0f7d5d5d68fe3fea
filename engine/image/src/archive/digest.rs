//! The diff id of a layer (`sha256:` of its uncompressed tar), computed while the tar streams
//! through, so nobody reads a layer twice.

use sha2::{Digest, Sha256};
use std::fmt::Write as _;
use std::io::{self, Read, Write};

/// `sha256:<hex>` for a finished hash.
pub(crate) fn diff_id(hash: Sha256) -> String {
    let mut id = String::with_capacity(7 + 64);
    id.push_str("sha256:");
    for byte in hash.finalize() {
        // Writing to a String cannot fail.
        let _ = write!(id, "{byte:02x}");
    }
    id
}

/// A reader that hashes and counts what passes through it.
pub(crate) struct HashingReader<R> {
    inner: R,
    hash: Sha256,
    count: u64,
}

impl<R: Read> HashingReader<R> {
    pub(crate) fn new(inner: R) -> Self {
        HashingReader { inner, hash: Sha256::new(), count: 0 }
    }

    /// Reads what is left of the stream (a tar's trailing padding belongs to its diff id too),
    /// then gives the diff id and the byte count.
    pub(crate) fn finish(mut self) -> io::Result<(String, u64)> {
        io::copy(&mut self, &mut io::sink())?;
        Ok((diff_id(self.hash), self.count))
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
}

/// A writer that counts what passes through it and, when asked to, hashes it.
pub(crate) struct HashingWriter<W> {
    inner: W,
    hash: Option<Sha256>,
    count: u64,
}

impl<W: Write> HashingWriter<W> {
    pub(crate) fn new(inner: W, hashed: bool) -> Self {
        HashingWriter { inner, hash: hashed.then(Sha256::new), count: 0 }
    }

    /// Flushes the inner writer; the diff id is empty when the writer was not hashing.
    pub(crate) fn finish(mut self) -> io::Result<(String, u64)> {
        self.inner.flush()?;
        Ok((self.hash.map(diff_id).unwrap_or_default(), self.count))
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        if let Some(hash) = &mut self.hash {
            hash.update(&buf[..n]);
        }
        self.count += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMPTY: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn reader_and_writer_agree_with_sha256() {
        let (id, n) = HashingReader::new(&b""[..]).finish().unwrap();
        assert_eq!((id.as_str(), n), (EMPTY, 0));
        let mut w = HashingWriter::new(Vec::new(), true);
        w.write_all(b"abc").unwrap();
        let (id, n) = w.finish().unwrap();
        assert_eq!(n, 3);
        assert_eq!(id, "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    #[test]
    fn reader_counts_what_is_left_when_finished() {
        let mut r = HashingReader::new(&b"abcdef"[..]);
        let mut two = [0; 2];
        r.read_exact(&mut two).unwrap();
        let (id, n) = r.finish().unwrap();
        assert_eq!(n, 6);
        assert_ne!(id, EMPTY);
    }
}
