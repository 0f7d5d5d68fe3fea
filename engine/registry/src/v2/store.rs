//! The v2 files on disk (layout in the module above): blobs, the links that make a blob or a
//! manifest part of a repository, tags, and the directories of uploads in progress.

use crate::fsio::{read_optional, Storage};
use crate::names::{is_v2_name, Algorithm, Digest};
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};
use tempfile::NamedTempFile;

/// Uploads untouched for longer than this are removed at start-up.
const STALE_UPLOAD: Duration = Duration::from_secs(7 * 24 * 3600);

#[derive(Debug, Clone)]
pub struct BlobStore {
    storage: Storage,
}

impl BlobStore {
    pub fn new(storage: Storage) -> BlobStore {
        BlobStore { storage }
    }

    pub fn storage(&self) -> &Storage {
        &self.storage
    }

    /// Creates the directories and removes stale uploads.
    pub fn prepare(&self) -> io::Result<()> {
        for dir in ["v2/blobs", "v2/repositories", "v2/uploads"] {
            fs::create_dir_all(self.storage.path(dir))?;
        }
        for entry in fs::read_dir(self.storage.path("v2/uploads"))? {
            let entry = entry?;
            let modified = entry.metadata()?.modified()?;
            if SystemTime::now().duration_since(modified).unwrap_or_default() > STALE_UPLOAD {
                let _ = self.storage.remove_tree(&entry.path());
            }
        }
        Ok(())
    }

    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        let hex = &digest.hex;
        self.storage.path(format!("v2/blobs/{}/{}/{hex}/data", digest.algorithm.name(), &hex[..2]))
    }

    pub fn blob_size(&self, digest: &Digest) -> io::Result<Option<u64>> {
        match fs::metadata(self.blob_path(digest)) {
            Ok(meta) => Ok(Some(meta.len())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Moves a finished, verified upload into the blob store (or drops it when the blob is there).
    pub fn commit_temp(&self, temp: NamedTempFile, digest: &Digest) -> io::Result<()> {
        let dest = self.blob_path(digest);
        if dest.exists() {
            return Ok(());
        }
        self.storage.persist(temp, &dest)
    }

    /// Same, for an upload's data file.
    pub fn commit_file(&self, data: &Path, digest: &Digest) -> io::Result<()> {
        let dest = self.blob_path(digest);
        if dest.exists() {
            return fs::remove_file(data);
        }
        File::open(data)?.sync_all()?;
        let parent = dest.parent().ok_or_else(|| io::Error::other("blob path has no parent"))?;
        fs::create_dir_all(parent)?;
        fs::rename(data, &dest)?;
        File::open(parent)?.sync_all()
    }

    pub fn put_blob(&self, digest: &Digest, data: &[u8]) -> io::Result<()> {
        let dest = self.blob_path(digest);
        if dest.exists() {
            return Ok(());
        }
        self.storage.write_atomic(&dest, data)
    }

    pub fn read_blob(&self, digest: &Digest) -> io::Result<Option<Vec<u8>>> {
        read_optional(&self.blob_path(digest))
    }

    fn repository(&self, name: &str) -> PathBuf {
        self.storage.path(format!("v2/repositories/{name}"))
    }

    fn layer_link(&self, name: &str, digest: &Digest) -> PathBuf {
        self.repository(name).join(format!("_layers/{}/{}", digest.algorithm.name(), digest.hex))
    }

    /// Whether the repository may serve the blob (linked, and present).
    pub fn has_blob(&self, name: &str, digest: &Digest) -> io::Result<Option<u64>> {
        if !self.layer_link(name, digest).exists() {
            return Ok(None);
        }
        self.blob_size(digest)
    }

    pub fn link_blob(&self, name: &str, digest: &Digest) -> io::Result<()> {
        write_link(&self.storage, &self.layer_link(name, digest), digest.to_string().as_bytes())
    }

    pub fn unlink_blob(&self, name: &str, digest: &Digest) -> io::Result<bool> {
        remove_if_present(&self.layer_link(name, digest))
    }

    fn revision(&self, name: &str, digest: &Digest) -> PathBuf {
        self.repository(name).join(format!("_manifests/revisions/{}/{}", digest.algorithm.name(), digest.hex))
    }

    fn tag_file(&self, name: &str, tag: &str) -> PathBuf {
        self.repository(name).join(format!("_manifests/tags/{tag}"))
    }

    fn tags_dir(&self, name: &str) -> PathBuf {
        self.repository(name).join("_manifests/tags")
    }

    /// Records a manifest (whose bytes are in the blob store) in a repository, with its media type.
    pub fn link_manifest(&self, name: &str, digest: &Digest, media_type: &str) -> io::Result<()> {
        self.storage.write_atomic(&self.revision(name, digest), media_type.as_bytes())
    }

    /// The media type of a manifest of the repository.
    pub fn manifest_type(&self, name: &str, digest: &Digest) -> io::Result<Option<String>> {
        Ok(read_optional(&self.revision(name, digest))?.map(|b| String::from_utf8_lossy(&b).into_owned()))
    }

    pub fn unlink_manifest(&self, name: &str, digest: &Digest) -> io::Result<bool> {
        let removed = remove_if_present(&self.revision(name, digest))?;
        for tag in self.tags(name)?.unwrap_or_default() {
            if self.tag(name, &tag)?.as_ref() == Some(digest) {
                remove_if_present(&self.tag_file(name, &tag))?;
            }
        }
        Ok(removed)
    }

    pub fn set_tag(&self, name: &str, tag: &str, digest: &Digest) -> io::Result<()> {
        self.storage.write_atomic(&self.tag_file(name, tag), digest.to_string().as_bytes())
    }

    pub fn tag(&self, name: &str, tag: &str) -> io::Result<Option<Digest>> {
        Ok(read_optional(&self.tag_file(name, tag))?.and_then(|b| Digest::parse(String::from_utf8_lossy(&b).trim())))
    }

    pub fn delete_tag(&self, name: &str, tag: &str) -> io::Result<bool> {
        remove_if_present(&self.tag_file(name, tag))
    }

    /// The repository's tags, sorted; `None` when the repository does not exist.
    pub fn tags(&self, name: &str) -> io::Result<Option<Vec<String>>> {
        if !self.repository(name).is_dir() {
            return Ok(None);
        }
        let mut tags = match fs::read_dir(self.tags_dir(name)) {
            Ok(entries) => entries.filter_map(|e| e.ok()?.file_name().into_string().ok()).collect(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e),
        };
        tags.retain(|t: &String| !t.starts_with('.'));
        tags.sort();
        Ok(Some(tags))
    }

    /// Every repository name, sorted.
    pub fn repositories(&self) -> io::Result<Vec<String>> {
        let mut found = Vec::new();
        walk_repositories(&self.storage.path("v2/repositories"), "", &mut found)?;
        found.sort();
        Ok(found)
    }

    pub fn upload_dir(&self, uuid: &str) -> PathBuf {
        self.storage.path(format!("v2/uploads/{uuid}"))
    }
}

fn walk_repositories(dir: &Path, prefix: &str, found: &mut Vec<String>) -> io::Result<()> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let Ok(component) = entry.file_name().into_string() else { continue };
        if component.starts_with('_') || !entry.file_type()?.is_dir() {
            continue;
        }
        let name = if prefix.is_empty() { component } else { format!("{prefix}/{component}") };
        let path = entry.path();
        if (path.join("_manifests").is_dir() || path.join("_layers").is_dir()) && is_v2_name(&name) {
            found.push(name.clone());
        }
        walk_repositories(&path, &name, found)?;
    }
    Ok(())
}

fn write_link(storage: &Storage, path: &Path, content: &[u8]) -> io::Result<()> {
    if path.exists() {
        return Ok(());
    }
    storage.write_atomic(path, content)
}

fn remove_if_present(path: &Path) -> io::Result<bool> {
    match fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// A hash of the algorithm a digest names.
pub enum BlobHasher {
    Sha256(sha2::Sha256),
    Sha512(sha2::Sha512),
}

impl BlobHasher {
    pub fn new(algorithm: Algorithm) -> BlobHasher {
        use sha2::Digest as _;
        match algorithm {
            Algorithm::Sha256 => BlobHasher::Sha256(sha2::Sha256::new()),
            Algorithm::Sha512 => BlobHasher::Sha512(sha2::Sha512::new()),
        }
    }

    pub fn finish(self) -> Digest {
        use sha2::Digest as _;
        match self {
            BlobHasher::Sha256(h) => Digest { algorithm: Algorithm::Sha256, hex: crate::token::hex(&h.finalize()) },
            BlobHasher::Sha512(h) => Digest { algorithm: Algorithm::Sha512, hex: crate::token::hex(&h.finalize()) },
        }
    }
}

impl crate::fsio::Update for BlobHasher {
    fn update(&mut self, data: &[u8]) {
        match self {
            BlobHasher::Sha256(h) => crate::fsio::Update::update(h, data),
            BlobHasher::Sha512(h) => crate::fsio::Update::update(h, data),
        }
    }
}

/// The digest of bytes in memory.
pub fn digest_of(algorithm: Algorithm, data: &[u8]) -> Digest {
    let mut hasher = BlobHasher::new(algorithm);
    crate::fsio::Update::update(&mut hasher, data);
    hasher.finish()
}
