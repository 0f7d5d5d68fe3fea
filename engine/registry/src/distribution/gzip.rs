//! Compressing a layer for a push: the tar is cut into chunks, each written as its own gzip
//! member (a multi-member gzip stream, which every gzip reader accepts). A chunk that a quick
//! trial shows to be incompressible is stored rather than deflated, so random or
//! already-compressed content costs a copy instead of seconds of CPU. The output depends only
//! on the input, so the same layer always gets the same digest.

use flate2::write::GzEncoder;
use flate2::Compression;
use sha2::{Digest, Sha256};
use std::io::{self, Read, Write};

/// Bytes of tar per gzip member.
const CHUNK: usize = 1 << 20;
/// Bytes of a chunk compressed to decide how to compress it.
const TRIAL: usize = 32 << 10;

/// What a compressed stream came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compressed {
    pub digest: String,
    pub size: u64,
}

/// Compresses `tar` chunk by chunk, handing each member to `emit`, and returns the digest and
/// size of the whole stream.
pub fn compress(tar: &mut dyn Read, mut emit: impl FnMut(Vec<u8>) -> io::Result<()>) -> io::Result<Compressed> {
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    let mut chunk = vec![0u8; CHUNK];
    loop {
        let n = read_full(tar, &mut chunk)?;
        if n == 0 {
            break;
        }
        let member = member(&chunk[..n])?;
        hasher.update(&member);
        size += member.len() as u64;
        emit(member)?;
        if n < CHUNK {
            break;
        }
    }
    if size == 0 {
        let member = member(&[])?;
        hasher.update(&member);
        size = member.len() as u64;
        emit(member)?;
    }
    Ok(Compressed { digest: format!("sha256:{}", hex(&hasher.finalize())), size })
}

fn member(data: &[u8]) -> io::Result<Vec<u8>> {
    let level = if compressible(data)? { Compression::fast() } else { Compression::none() };
    let mut encoder = GzEncoder::new(Vec::with_capacity(data.len() / 2 + 64), level);
    encoder.write_all(data)?;
    encoder.finish()
}

/// Whether deflating the start of a chunk saves at least a tenth of it.
fn compressible(data: &[u8]) -> io::Result<bool> {
    let sample = &data[..data.len().min(TRIAL)];
    if sample.len() < 512 {
        return Ok(true);
    }
    let mut encoder = flate2::write::DeflateEncoder::new(Vec::with_capacity(sample.len()), Compression::fast());
    encoder.write_all(sample)?;
    let out = encoder.finish()?;
    Ok(out.len() * 10 < sample.len() * 9)
}

fn read_full(r: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(data: &[u8]) -> (Vec<u8>, Compressed) {
        let mut out = Vec::new();
        let result = compress(&mut &data[..], |m| {
            out.extend(m);
            Ok(())
        })
        .unwrap();
        (out, result)
    }

    #[test]
    fn members_decompress_to_the_input_and_digests_are_stable() {
        let mut data: Vec<u8> = (0..3 * CHUNK + 77).map(|i| (i % 13) as u8).collect();
        let mut seed = 1u64;
        for b in data[CHUNK..2 * CHUNK].iter_mut() {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            *b = (seed >> 33) as u8;
        }
        let (out, first) = roundtrip(&data);
        let mut back = Vec::new();
        flate2::read::MultiGzDecoder::new(&out[..]).read_to_end(&mut back).unwrap();
        assert_eq!(back, data);
        assert_eq!(first.size, out.len() as u64);
        assert_eq!(roundtrip(&data).1, first);
        let (empty, _) = roundtrip(&[]);
        let mut back = Vec::new();
        flate2::read::MultiGzDecoder::new(&empty[..]).read_to_end(&mut back).unwrap();
        assert!(back.is_empty());
    }
}
