//! Compressed layers: which compression a stream uses, told by its first bytes, and a reader
//! that undoes it.

use std::io::{self, Cursor, Read};

/// The compressions a layer tar may come in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Bzip2,
    Xz,
    Zstd,
}

/// The longest magic number `detect` looks at.
const MAGIC_LEN: usize = 6;

/// The compression the stream starting with `magic` uses (`None` for anything else, a plain tar).
pub fn detect(magic: &[u8]) -> Compression {
    const MAGICS: [(&[u8], Compression); 4] = [
        (&[0x1f, 0x8b, 0x08], Compression::Gzip),
        (b"BZh", Compression::Bzip2),
        (&[0xfd, b'7', b'z', b'X', b'Z', 0x00], Compression::Xz),
        (&[0x28, 0xb5, 0x2f, 0xfd], Compression::Zstd),
    ];
    MAGICS.iter().find(|(m, _)| magic.starts_with(m)).map_or(Compression::None, |(_, c)| *c)
}

/// `r` decompressed, whatever its compression (a plain stream is passed through).
pub fn decompressed<R: Read + Send + 'static>(mut r: R) -> io::Result<Box<dyn Read + Send>> {
    let magic = read_magic(&mut r)?;
    let compression = detect(&magic);
    let r = Cursor::new(magic).chain(r);
    Ok(match compression {
        Compression::None => Box::new(r),
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(r)),
        Compression::Bzip2 => Box::new(bzip2::read::MultiBzDecoder::new(r)),
        Compression::Xz => Box::new(liblzma::read::XzDecoder::new_multi_decoder(r)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::new(r)?),
    })
}

/// Up to `MAGIC_LEN` bytes from the start of `r`: fewer only when the stream is that short.
fn read_magic(r: &mut impl Read) -> io::Result<Vec<u8>> {
    let mut magic = Vec::with_capacity(MAGIC_LEN);
    r.take(MAGIC_LEN as u64).read_to_end(&mut magic)?;
    Ok(magic)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::testutil::{compress, ALL_COMPRESSIONS};

    const DATA: &[u8] = b"a layer tar would be here, but any bytes will do for compression";

    #[test]
    fn every_compression_is_detected_and_undone() {
        for c in ALL_COMPRESSIONS {
            let compressed = compress(c, DATA);
            assert_eq!(detect(&compressed), c, "{c:?}");
            let mut out = Vec::new();
            decompressed(Cursor::new(compressed)).unwrap().read_to_end(&mut out).unwrap();
            assert_eq!(out, DATA, "{c:?}");
        }
    }

    #[test]
    fn short_and_empty_streams_are_plain() {
        for data in [&b""[..], b"B", b"\x1f\x8b"] {
            assert_eq!(detect(data), Compression::None);
            let mut out = Vec::new();
            decompressed(Cursor::new(data.to_vec())).unwrap().read_to_end(&mut out).unwrap();
            assert_eq!(out, data);
        }
    }

    #[test]
    fn concatenated_gzip_members_are_all_read() {
        let mut two = compress(Compression::Gzip, b"first ");
        two.extend(compress(Compression::Gzip, b"second"));
        let mut out = String::new();
        decompressed(Cursor::new(two)).unwrap().read_to_string(&mut out).unwrap();
        assert_eq!(out, "first second");
    }

    #[test]
    fn corrupt_compressed_data_is_an_error() {
        let mut bad = compress(Compression::Gzip, DATA);
        let mid = bad.len() / 2;
        bad[mid..].iter_mut().for_each(|b| *b ^= 0x5a);
        let mut out = Vec::new();
        let result = decompressed(Cursor::new(bad)).and_then(|mut r| r.read_to_end(&mut out));
        assert!(result.is_err());
    }
}
