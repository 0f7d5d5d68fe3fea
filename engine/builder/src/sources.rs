//! `ADD` and `COPY` (5.2 §3.7): the sources, taken from the context (never above it) or from
//! another stage's files, a URL for `ADD`, placed at the destination as a layer tar owned by
//! root unless `--chown` says otherwise, and the digest of their content for the build cache.

use crate::backend::{Backend, BuiltImage, PathKind};
use crate::context::Context;
use crate::ignore::{clean, glob_match, walk};
use crate::BuildError;
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io::{BufWriter, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// One `ADD` or `COPY`, its arguments substituted.
pub struct Request<'a> {
    pub add: bool,
    /// Where sources are found: the context, or a stage's or image's files.
    pub root: &'a Path,
    pub sources: Vec<String>,
    /// Absolute, as written after WORKDIR is applied (a trailing `/` kept).
    pub dest: String,
    pub owner: (u64, u64),
    /// A scratch directory for downloads and the layer tar.
    pub work: &'a Path,
    /// The build context when `root` is its directory: its content digests are known, and
    /// some of its files' data may still be held in memory.
    pub context: Option<&'a Context>,
}

/// What the layer will hold.
enum Item {
    /// A directory whose contents go into `dest`.
    DirContents {
        source: PathBuf,
        dest: String,
    },
    File {
        source: PathBuf,
        dest: String,
        mode: Option<u32>,
    },
    /// A local tar archive that `ADD` unpacks into `dest`.
    Archive {
        source: PathBuf,
        dest: String,
    },
}

/// The sources planned, and their digest (names, modes, contents) for the build cache.
pub struct Prepared {
    items: Vec<Item>,
    owner: (u64, u64),
    pub digest: String,
}

pub fn prepare(request: &Request, backend: &dyn Backend, image: Option<&BuiltImage>) -> Result<Prepared, BuildError> {
    let verb = if request.add { "ADD" } else { "COPY" };
    let mut found = Vec::new();
    for source in &request.sources {
        found.extend(expand(request, source, verb)?);
    }
    if found.is_empty() {
        return Err(BuildError::Invalid(format!("{verb} failed: no source files were specified")));
    }
    if found.len() > 1 && !request.dest.ends_with('/') {
        return Err(BuildError::Invalid(format!(
            "When using {verb} with more than one source file, the destination must be a directory and end with a /"
        )));
    }
    let dest_is_dir =
        |dest: &str| dest.ends_with('/') || image.is_some_and(|i| backend.path_kind(i, dest) == Some(PathKind::Dir));
    let mut items = Vec::new();
    for (source, name, mode) in found {
        let meta = fs::symlink_metadata(&source).map_err(BuildError::io(format!("stat {}", source.display())))?;
        let dest = request.dest.trim_end_matches('/');
        let item = if meta.is_dir() {
            Item::DirContents { source, dest: dest.to_string() }
        } else if request.add && mode.is_none() && is_archive(&source, request.context) {
            Item::Archive { source, dest: dest.to_string() }
        } else if dest_is_dir(&request.dest) {
            Item::File { source, dest: format!("{dest}/{name}"), mode }
        } else {
            Item::File { source, dest: dest.to_string(), mode }
        };
        items.push(item);
    }
    let exists = |path: &str| image.is_some_and(|i| backend.path_kind(i, path).is_some());
    let mut hasher = Sha256::new();
    write_layer::<std::io::Sink>(&items, request.owner, &exists, Output::Digest(&mut hasher, request.context))?;
    Ok(Prepared { items, owner: request.owner, digest: format!("{:x}", hasher.finalize()) })
}

impl Prepared {
    /// Writes the layer tar to `path` (only on a cache miss: the digest needs no tar).
    pub fn write(&self, path: &Path, backend: &dyn Backend, image: Option<&BuiltImage>) -> Result<(), BuildError> {
        let exists = |p: &str| image.is_some_and(|i| backend.path_kind(i, p).is_some());
        let file = BufWriter::new(File::create(path).map_err(BuildError::io("create the layer tar"))?);
        let file = write_layer(&self.items, self.owner, &exists, Output::Tar(file))?;
        let Some(file) = file else { return Ok(()) };
        file.into_inner().map_err(|e| BuildError::Io { what: "write the layer tar".into(), source: e.into_error() })?;
        Ok(())
    }
}

/// What [`write_layer`] makes: the layer tar, or only the digest the build cache keys on
/// (paths, modes, link targets and the sha256 of each file's content), reading every file
/// once and writing nothing.
enum Output<'a, W: Write> {
    Tar(W),
    Digest(&'a mut Sha256, Option<&'a Context>),
}

fn write_layer<W: Write>(
    items: &[Item],
    owner: (u64, u64),
    exists: &dyn Fn(&str) -> bool,
    out: Output<'_, W>,
) -> Result<Option<W>, BuildError> {
    let mut scratch = Sha256::new();
    let (tar, hasher, context) = match out {
        Output::Tar(w) => (Some(tar::Builder::new(w)), &mut scratch, None),
        Output::Digest(hasher, context) => (None, hasher, context),
    };
    let mut writer = LayerWriter { tar, hasher, context, owner, made: BTreeSet::new(), exists };
    for item in items {
        writer.item(item)?;
    }
    writer.tar.map(|t| t.into_inner().map_err(BuildError::io("write the layer tar"))).transpose()
}

/// The sha256 of a file's content.
fn file_digest(path: &Path) -> Result<[u8; 32], BuildError> {
    let mut file = File::open(path).map_err(BuildError::io(format!("open {}", path.display())))?;
    let mut hasher = blake3::Hasher::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        match file.read(&mut buf) {
            Ok(0) => return Ok(hasher.finalize().into()),
            Ok(n) => drop(hasher.update(&buf[..n])),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(BuildError::io(format!("read {}", path.display()))(e)),
        }
    }
}

/// A source's matches: the path, the name it lands under, and a forced mode (downloads).
fn expand(request: &Request, source: &str, verb: &str) -> Result<Vec<(PathBuf, String, Option<u32>)>, BuildError> {
    if source.starts_with("http://") || source.starts_with("https://") {
        if !request.add {
            return Err(BuildError::Invalid(format!("source can't be a URL for COPY: {source}")));
        }
        if request.dest.ends_with('/') && url_file_name(source).is_none() {
            // Into a directory, the file is named after the URL; this URL names none.
            return Err(BuildError::Invalid(format!(
                "cannot determine filename from url: {source}: give the destination a file name"
            )));
        }
        let (path, name) = download(source, request.work)?;
        return Ok(vec![(path, name, Some(0o600))]);
    }
    if escapes(source) {
        return Err(BuildError::Invalid(format!("Forbidden path outside the build context: {source} ()")));
    }
    let relative = clean(source);
    if relative.contains(['*', '?', '[']) {
        let mut hits = Vec::new();
        walk(request.root, &mut |rel, _| {
            if glob_match(&relative, rel) {
                hits.push((request.root.join(rel), base_name(rel), None));
            }
        })
        .map_err(BuildError::io("walk the build context"))?;
        return Ok(hits);
    }
    let path = request.root.join(&relative);
    if fs::symlink_metadata(&path).is_err() {
        return Err(BuildError::Invalid(format!(
            "{verb} failed: file not found in build context or excluded by .dockerignore: stat {relative}: file does not exist"
        )));
    }
    Ok(vec![(path, base_name(&relative), None)])
}

/// Whether a relative source climbs above the context (`../x`, `a/../../x`).
fn escapes(source: &str) -> bool {
    let mut depth = 0i32;
    for part in source.trim_start_matches('/').split('/') {
        match part {
            "" | "." => {}
            ".." => depth -= 1,
            _ => depth += 1,
        }
        if depth < 0 {
            return true;
        }
    }
    false
}

fn base_name(relative: &str) -> String {
    relative.rsplit('/').next().unwrap_or(relative).to_string()
}

/// Whether a local file is a tar archive, plain or compressed, that `ADD` unpacks.
fn is_archive(path: &Path, context: Option<&Context>) -> bool {
    if let Some(data) = context.and_then(|c| c.held(path)) {
        return starts_a_tar(data);
    }
    let Ok(file) = File::open(path) else { return false };
    starts_a_tar(file)
}

fn starts_a_tar(data: impl Read + Send + 'static) -> bool {
    let Ok(reader) = berth_image::archive::decompressed(data) else { return false };
    let mut head = Vec::with_capacity(512);
    if reader.take(512).read_to_end(&mut head).is_err() || head.len() < 512 {
        return false;
    }
    &head[257..262] == b"ustar"
}

struct LayerWriter<'a, W: Write> {
    /// None when only the digest is wanted.
    tar: Option<tar::Builder<W>>,
    context: Option<&'a Context>,
    hasher: &'a mut Sha256,
    owner: (u64, u64),
    /// Directories this layer already creates.
    made: BTreeSet<String>,
    exists: &'a dyn Fn(&str) -> bool,
}

impl<W: Write> LayerWriter<'_, W> {
    fn item(&mut self, item: &Item) -> Result<(), BuildError> {
        match item {
            Item::DirContents { source, dest } => {
                self.ensure_dir(dest)?;
                let mut failure = None;
                let mut entries = Vec::new();
                walk(source, &mut |rel, meta| entries.push((rel.to_string(), meta.clone())))
                    .map_err(BuildError::io("walk an ADD/COPY source"))?;
                for (rel, meta) in entries {
                    let target = format!("{}/{rel}", dest.trim_end_matches('/'));
                    if let Err(e) = self.entry(&source.join(&rel), &target, &meta, None) {
                        failure = Some(e);
                        break;
                    }
                }
                failure.map_or(Ok(()), Err)
            }
            Item::File { source, dest, mode } => {
                let meta =
                    fs::symlink_metadata(source).map_err(BuildError::io(format!("stat {}", source.display())))?;
                if let Some((parent, _)) = dest.rsplit_once('/') {
                    self.ensure_dir(parent)?;
                }
                self.entry(source, dest, &meta, *mode)
            }
            Item::Archive { source, dest } => {
                self.ensure_dir(dest)?;
                self.archive(source, dest)
            }
        }
    }

    /// Adds missing directories up to `dir`, root-owned with mode 0755.
    fn ensure_dir(&mut self, dir: &str) -> Result<(), BuildError> {
        let mut path = String::new();
        for part in dir.split('/').filter(|p| !p.is_empty()) {
            path.push('/');
            path.push_str(part);
            if self.made.contains(&path) || (self.exists)(&path) {
                continue;
            }
            let mut header = tar::Header::new_gnu();
            header.set_entry_type(tar::EntryType::Directory);
            header.set_mode(0o755);
            header.set_uid(self.owner.0);
            header.set_gid(self.owner.1);
            header.set_mtime(now());
            header.set_size(0);
            self.append(&mut header, &path, &mut std::io::empty())?;
            self.made.insert(path.clone());
        }
        Ok(())
    }

    fn entry(&mut self, source: &Path, dest: &str, meta: &fs::Metadata, mode: Option<u32>) -> Result<(), BuildError> {
        let mut header = tar::Header::new_gnu();
        header.set_mode(mode.unwrap_or(meta.mode() & 0o7777));
        header.set_uid(self.owner.0);
        header.set_gid(self.owner.1);
        header.set_mtime(meta.mtime().max(0) as u64);
        header.set_size(0);
        self.hasher.update(format!("{dest}\0{:o}\0", meta.mode()).as_bytes());
        let kind = meta.file_type();
        if kind.is_dir() {
            header.set_entry_type(tar::EntryType::Directory);
            self.made.insert(dest.to_string());
            self.append(&mut header, dest, &mut std::io::empty())
        } else if kind.is_symlink() {
            let target = fs::read_link(source).map_err(BuildError::io(format!("read link {}", source.display())))?;
            self.hasher.update(target.as_os_str().as_encoded_bytes());
            header.set_entry_type(tar::EntryType::Symlink);
            let Some(tar) = &mut self.tar else { return Ok(()) };
            tar.append_link(&mut header, dest.trim_start_matches('/'), &target)
                .map_err(BuildError::io("write the layer tar"))
        } else if kind.is_file() {
            let Some(tar) = &mut self.tar else {
                let digest = match self.context.and_then(|c| c.digests.get(source)) {
                    Some(digest) => *digest,
                    None => file_digest(source)?,
                };
                self.hasher.update(digest);
                return Ok(());
            };
            header.set_entry_type(tar::EntryType::Regular);
            header.set_size(meta.len());
            let mut file = File::open(source).map_err(BuildError::io(format!("open {}", source.display())))?;
            tar.append_data(&mut header, dest.trim_start_matches('/'), &mut file)
                .map_err(BuildError::io("write the layer tar"))
        } else {
            tracing::debug!("skipping {} in ADD/COPY: not a file, directory or link", source.display());
            Ok(())
        }
    }

    fn append(&mut self, header: &mut tar::Header, path: &str, data: &mut dyn Read) -> Result<(), BuildError> {
        let Some(tar) = &mut self.tar else { return Ok(()) };
        tar.append_data(header, path.trim_start_matches('/'), data).map_err(BuildError::io("write the layer tar"))
    }

    /// Copies an archive's entries under `dest`, names cleaned so none climbs out of it.
    fn archive(&mut self, source: &Path, dest: &str) -> Result<(), BuildError> {
        if let Some(context) = self.context {
            context.materialize()?;
        }
        let file = File::open(source).map_err(BuildError::io(format!("open {}", source.display())))?;
        let reader = berth_image::archive::decompressed(file).map_err(BuildError::io("read the archive"))?;
        let mut archive = tar::Archive::new(reader);
        let bad = |e: std::io::Error| BuildError::Invalid(format!("cannot unpack {}: {e}", source.display()));
        for entry in archive.entries().map_err(bad)? {
            let mut entry = entry.map_err(bad)?;
            let name = clean(&String::from_utf8_lossy(&entry.path_bytes()));
            if name.is_empty() {
                continue;
            }
            let target = format!("{}/{name}", dest.trim_end_matches('/'));
            let mut header = entry.header().clone();
            if self.owner != (0, 0) {
                header.set_uid(self.owner.0);
                header.set_gid(self.owner.1);
            }
            self.hasher.update(format!("{target}\0{:o}\0", header.mode().unwrap_or(0)).as_bytes());
            let kind = header.entry_type();
            let Some(tar) = &mut self.tar else {
                // The digest: names, modes and links of the entries, and their content.
                if kind.is_hard_link() || kind.is_symlink() {
                    let link = entry.link_name_bytes().map(|l| l.into_owned()).unwrap_or_default();
                    self.hasher.update(String::from_utf8_lossy(&link).as_bytes());
                } else {
                    std::io::copy(
                        &mut HashingRead { inner: &mut entry, hasher: &mut *self.hasher },
                        &mut std::io::sink(),
                    )
                    .map_err(bad)?;
                }
                continue;
            };
            if kind.is_hard_link() || kind.is_symlink() {
                let link =
                    entry.link_name_bytes().map(|l| String::from_utf8_lossy(&l).into_owned()).unwrap_or_default();
                let link = if kind.is_hard_link() {
                    format!("{}/{}", dest.trim_end_matches('/').trim_start_matches('/'), clean(&link))
                } else {
                    link
                };
                header.set_size(0);
                tar.append_link(&mut header, target.trim_start_matches('/'), &link)
                    .map_err(BuildError::io("write the layer tar"))?;
                continue;
            }
            tar.append_data(&mut header, target.trim_start_matches('/'), &mut entry)
                .map_err(BuildError::io("write the layer tar"))?;
        }
        Ok(())
    }
}

struct HashingRead<'a, R> {
    inner: R,
    hasher: &'a mut Sha256,
}

impl<R: Read> Read for HashingRead<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Fetches a plain `http://` URL into `work`; the file is named after the URL's last segment.
fn download(url: &str, work: &Path) -> Result<(PathBuf, String), BuildError> {
    let Some(rest) = url.strip_prefix("http://") else {
        return Err(BuildError::Invalid(format!(
            "cannot download {url}: berth's builder fetches http:// URLs only; put the file in the build context instead"
        )));
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let path = if path.is_empty() { "/" } else { path };
    let address = if authority.contains(':') { authority.to_string() } else { format!("{authority}:80") };
    let failed = |e: std::io::Error| BuildError::Invalid(format!("cannot download {url}: {e}"));
    let mut stream = std::net::TcpStream::connect(&address).map_err(failed)?;
    let request = format!("GET {path} HTTP/1.0\r\nHost: {authority}\r\nUser-Agent: berth-builder\r\n\r\n");
    stream.write_all(request.as_bytes()).map_err(failed)?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).map_err(failed)?;
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| BuildError::Invalid(format!("cannot download {url}: the answer is not HTTP")))?;
    let head = String::from_utf8_lossy(&response[..split]);
    let status = head.split_whitespace().nth(1).unwrap_or("");
    if status != "200" {
        return Err(BuildError::Invalid(format!(
            "failed to GET {url} with status {}",
            head.lines().next().and_then(|l| l.split_once(' ')).map_or(status, |(_, rest)| rest)
        )));
    }
    let name = url_file_name(url).unwrap_or_else(|| "download".to_string());
    let dir = work.join("download");
    fs::create_dir_all(&dir).map_err(BuildError::io("create the download directory"))?;
    let file = dir.join(format!("{}-{name}", fs::read_dir(&dir).map_or(0, |d| d.count())));
    fs::write(&file, &response[split + 4..]).map_err(BuildError::io("store the download"))?;
    Ok((file, name))
}

/// The last segment of a URL's path, if it has one (`http://host/` and `http://host` have none).
fn url_file_name(url: &str) -> Option<String> {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let path = rest.find('/').map_or("", |i| &rest[i..]);
    let name = path.split(['?', '#']).next().unwrap_or("").rsplit('/').next().unwrap_or("");
    (!name.is_empty()).then(|| name.to_string())
}

#[cfg(test)]
mod tests {
    use super::{escapes, url_file_name};

    #[test]
    fn a_url_names_its_file_by_its_last_path_segment() {
        assert_eq!(url_file_name("http://h:1/a/b.tar?x=1").as_deref(), Some("b.tar"));
        assert_eq!(url_file_name("http://h:1/a/b#frag").as_deref(), Some("b"));
        assert_eq!(url_file_name("http://h:1"), None);
        assert_eq!(url_file_name("http://h:1/"), None);
        assert_eq!(url_file_name("http://h:1/dir/"), None);
    }

    #[test]
    fn sources_may_not_climb_out_of_the_context() {
        assert!(escapes("../x"));
        assert!(escapes("a/../../x"));
        assert!(!escapes("a/../x"));
        assert!(!escapes("/etc/passwd"));
    }
}
