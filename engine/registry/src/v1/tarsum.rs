//! TarSum version 0 (`tarsum+sha256:`), the layer checksum docker 0.6–0.8 clients declared in
//! `X-Docker-Checksum`: every file's header fields and content hashed, the file sums sorted, and
//! the image json hashed in front of them. Layers may be gzip-compressed, as docker sent them.

use flate2::read::GzDecoder;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::{self, BufRead, BufReader, Read};

/// The TarSum v0 of `layer` with `json` as the extra payload.
pub fn tarsum_v0(layer: impl Read, json: &[u8]) -> io::Result<String> {
    let mut reader = BufReader::with_capacity(1 << 20, layer);
    let gzipped = reader.fill_buf()?.starts_with(&[0x1f, 0x8b]);
    let sums = if gzipped { file_sums(GzDecoder::new(reader))? } else { file_sums(reader)? };
    let mut sorted: Vec<String> = sums.into_values().collect();
    sorted.sort();
    let mut hasher = Sha256::new();
    hasher.update(json);
    for sum in &sorted {
        hasher.update(sum.as_bytes());
    }
    Ok(format!("tarsum+sha256:{}", crate::token::hex(&hasher.finalize())))
}

/// One sum per file name; a later entry of the same name replaces an earlier one, as in docker 0.8.
fn file_sums(tar: impl Read) -> io::Result<BTreeMap<String, String>> {
    let mut archive = tar::Archive::new(tar);
    let mut sums = BTreeMap::new();
    for entry in archive.entries()? {
        let mut entry = entry?;
        let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let mut hasher = Sha256::new();
        hasher.update(header_text(&entry, &name)?.as_bytes());
        io::copy(&mut entry, &mut HashWriter(&mut hasher))?;
        sums.insert(name, crate::token::hex(&hasher.finalize()));
    }
    Ok(sums)
}

/// Numeric fields that are empty or unreadable count as 0, as Go's archive/tar read them.
fn header_text<R: Read>(entry: &tar::Entry<R>, name: &str) -> io::Result<String> {
    let header = entry.header();
    let link = entry.link_name_bytes().map(|l| String::from_utf8_lossy(&l).into_owned()).unwrap_or_default();
    let text = |bytes: Option<&[u8]>| bytes.map(|b| String::from_utf8_lossy(b).into_owned()).unwrap_or_default();
    Ok(format!(
        "name{name}mode{}uid{}gid{}size{}mtime{}typeflag{}linkname{link}uname{}gname{}devmajor{}devminor{}",
        header.mode().unwrap_or(0),
        header.uid().unwrap_or(0),
        header.gid().unwrap_or(0),
        entry.size(),
        header.mtime().unwrap_or(0),
        header.entry_type().as_byte() as char,
        text(header.username_bytes()),
        text(header.groupname_bytes()),
        header.device_major().ok().flatten().unwrap_or(0),
        header.device_minor().ok().flatten().unwrap_or(0),
    ))
}

struct HashWriter<'a>(&'a mut Sha256);

impl io::Write for HashWriter<'_> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.0.update(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (name, data) in files {
            let mut header = tar::Header::new_ustar();
            header.set_size(data.len() as u64);
            header.set_mode(0o100644);
            header.set_mtime(1_390_000_000);
            header.set_cksum();
            builder.append_data(&mut header, name, *data).unwrap();
        }
        builder.into_inner().unwrap()
    }

    #[test]
    fn matches_the_algorithm_by_hand() {
        let tar = layer(&[("etc/hostname", b"box\n")]);
        let header =
            "nameetc/hostnamemode33188uid0gid0size4mtime1390000000typeflag0linknameunamegnamedevmajor0devminor0";
        let file_sum = crate::token::hex(&Sha256::digest([header.as_bytes(), b"box\n"].concat()));
        let expected = crate::token::hex(&Sha256::digest([&b"{}"[..], file_sum.as_bytes()].concat()));
        assert_eq!(tarsum_v0(&tar[..], b"{}").unwrap(), format!("tarsum+sha256:{expected}"));
    }

    #[test]
    fn ignores_order_and_compression() {
        let a = layer(&[("a", b"1"), ("b", b"2")]);
        let b = layer(&[("b", b"2"), ("a", b"1")]);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        io::Write::write_all(&mut gz, &a).unwrap();
        let gz = gz.finish().unwrap();
        let sum = tarsum_v0(&a[..], b"{}").unwrap();
        assert_eq!(sum, tarsum_v0(&b[..], b"{}").unwrap());
        assert_eq!(sum, tarsum_v0(&gz[..], b"{}").unwrap());
        assert_ne!(sum, tarsum_v0(&a[..], b"{\"x\":1}").unwrap());
    }
}
