//! Storage primitives: a root with its own `tmp/`, writes that are atomic (temp file, fsync,
//! rename, fsync of the directory), and the streaming paths between request/response bodies
//! and files, hashing on the way in a single pass.

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use tempfile::NamedTempFile;
use tokio::sync::mpsc;

use crate::http::Body;

/// The size of the buffers files are read and written with.
const CHUNK: usize = 1 << 20;
/// Request body frames in flight between the connection and the writer thread.
const FRAMES_IN_FLIGHT: usize = 32;

/// A storage root. Temporary files live in `root/tmp`, on the same file system as their final place.
#[derive(Debug, Clone)]
pub struct Storage {
    root: PathBuf,
    tmp: PathBuf,
}

impl Storage {
    /// Creates the root, and empties `tmp/` of what an earlier run left behind.
    pub fn open(root: &Path) -> io::Result<Storage> {
        let tmp = root.join("tmp");
        if tmp.exists() {
            fs::remove_dir_all(&tmp)?;
        }
        fs::create_dir_all(&tmp)?;
        Ok(Storage { root: root.to_path_buf(), tmp })
    }

    pub fn path(&self, relative: impl AsRef<Path>) -> PathBuf {
        self.root.join(relative)
    }

    /// A new temporary file, removed when dropped unless persisted.
    pub fn temp(&self) -> io::Result<NamedTempFile> {
        NamedTempFile::new_in(&self.tmp)
    }

    /// Replaces `dest` with `data` atomically.
    pub fn write_atomic(&self, dest: &Path, data: &[u8]) -> io::Result<()> {
        let mut temp = self.temp()?;
        temp.write_all(data)?;
        self.persist(temp, dest)
    }

    /// Flushes a finished temporary file to disk and renames it to `dest`.
    pub fn persist(&self, temp: NamedTempFile, dest: &Path) -> io::Result<()> {
        temp.as_file().sync_all()?;
        let parent = dest.parent().ok_or_else(|| io::Error::other("destination has no parent"))?;
        fs::create_dir_all(parent)?;
        temp.persist(dest).map_err(|e| e.error)?;
        sync_dir(parent)
    }

    /// Removes a directory tree so that it disappears at once: renamed into `tmp/` first.
    /// Returns false when it did not exist.
    pub fn remove_tree(&self, dir: &Path) -> io::Result<bool> {
        let grave = tempfile::Builder::new().prefix("removed-").tempdir_in(&self.tmp)?;
        match fs::rename(dir, grave.path().join("tree")) {
            Ok(()) => {
                if let Some(parent) = dir.parent() {
                    sync_dir(parent)?;
                }
                Ok(true)
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Reads a file that may be missing.
pub fn read_optional(path: &Path) -> io::Result<Option<Vec<u8>>> {
    match fs::read(path) {
        Ok(data) => Ok(Some(data)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Runs blocking file work off the async threads.
pub async fn blocking<T: Send + 'static>(work: impl FnOnce() -> io::Result<T> + Send + 'static) -> io::Result<T> {
    tokio::task::spawn_blocking(work).await.map_err(io::Error::other)?
}

/// Something fed every byte of a stream: a hash, or several.
pub trait Update: Send + 'static {
    fn update(&mut self, data: &[u8]);
}

impl Update for sha2::Sha256 {
    fn update(&mut self, data: &[u8]) {
        sha2::Digest::update(self, data);
    }
}

impl Update for sha2::Sha512 {
    fn update(&mut self, data: &[u8]) {
        sha2::Digest::update(self, data);
    }
}

/// No hash (state lost), or one.
impl<H: Update> Update for Option<H> {
    fn update(&mut self, data: &[u8]) {
        if let Some(hasher) = self {
            hasher.update(data);
        }
    }
}

/// Why a request body could not be stored.
#[derive(Debug, thiserror::Error)]
pub enum ReceiveError {
    #[error("the upload was interrupted: {0}")]
    Body(#[from] hyper::Error),
    #[error("the upload is larger than {0} bytes")]
    TooLarge(u64),
    #[error("cannot write the upload: {0}")]
    Io(#[from] io::Error),
}

/// What [`receive`] hands back: the hash state and the number of bytes written.
pub struct Received<H> {
    pub hasher: H,
    pub written: u64,
}

/// Writes a request body to `file` while `hasher` sees every byte: the connection reads frames
/// and hands each (shared, not copied) to two blocking threads, one writing and one hashing, so
/// the hash costs no time of its own. The file is not synced.
pub async fn receive<H: Update>(
    mut body: Incoming,
    file: File,
    hasher: H,
    limit: Option<u64>,
) -> Result<Received<H>, ReceiveError> {
    let (to_writer, writer_queue) = mpsc::channel::<Bytes>(FRAMES_IN_FLIGHT);
    let (to_hasher, hasher_queue) = mpsc::channel::<Bytes>(FRAMES_IN_FLIGHT);
    let writer = tokio::task::spawn_blocking(move || write_frames(writer_queue, file));
    let hashing = tokio::task::spawn_blocking(move || hash_frames(hasher_queue, hasher));
    let mut received = 0u64;
    let read = loop {
        let data = match body.frame().await {
            None => break Ok(()),
            Some(Err(e)) => break Err(ReceiveError::Body(e)),
            Some(Ok(frame)) => match frame.into_data() {
                Ok(data) => data,
                Err(_) => continue,
            },
        };
        received += data.len() as u64;
        if limit.is_some_and(|limit| received > limit) {
            break Err(ReceiveError::TooLarge(limit.unwrap_or_default()));
        }
        if to_hasher.send(data.clone()).await.is_err() || to_writer.send(data).await.is_err() {
            break Ok(()); // the writer stopped: its error is reported below
        }
    };
    drop((to_writer, to_hasher));
    let written = writer.await.map_err(io::Error::other)??;
    let hasher = hashing.await.map_err(io::Error::other)?;
    read.map(|()| Received { hasher, written })
}

fn write_frames(mut queue: mpsc::Receiver<Bytes>, file: File) -> io::Result<u64> {
    let mut out = BufWriter::with_capacity(CHUNK, file);
    let mut written = 0u64;
    while let Some(data) = queue.blocking_recv() {
        out.write_all(&data)?;
        written += data.len() as u64;
    }
    out.flush()?;
    Ok(written)
}

fn hash_frames<H: Update>(mut queue: mpsc::Receiver<Bytes>, mut hasher: H) -> H {
    while let Some(data) = queue.blocking_recv() {
        hasher.update(&data);
    }
    hasher
}

/// A response body that reads `file` (of `len` bytes) on a blocking thread in large chunks.
pub fn stream_file(file: File, len: u64) -> Body {
    let (chunks, queue) = mpsc::channel(4);
    tokio::task::spawn_blocking(move || read_chunks(file, chunks));
    Body::Stream { chunks: queue, remaining: len }
}

fn read_chunks(mut file: File, chunks: mpsc::Sender<io::Result<Bytes>>) {
    loop {
        let mut buffer = Vec::with_capacity(CHUNK);
        match (&mut file).take(CHUNK as u64).read_to_end(&mut buffer) {
            Ok(0) => return,
            Ok(_) => {
                if chunks.blocking_send(Ok(Bytes::from(buffer))).is_err() {
                    return; // the client went away
                }
            }
            Err(e) => {
                let _ = chunks.blocking_send(Err(e));
                return;
            }
        }
    }
}

/// Feeds a whole file through `hasher` (for uploads whose hash state was lost in a restart).
pub fn hash_file<H: Update>(path: &Path, mut hasher: H) -> io::Result<H> {
    let mut file = File::open(path)?;
    let mut buffer = vec![0; CHUNK];
    loop {
        match file.read(&mut buffer)? {
            0 => return Ok(hasher),
            n => hasher.update(&buffer[..n]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_writes_leave_no_temporary_files() {
        let dir = tempfile::tempdir().unwrap();
        let storage = Storage::open(dir.path()).unwrap();
        let dest = storage.path("a/b/file");
        storage.write_atomic(&dest, b"one").unwrap();
        storage.write_atomic(&dest, b"two").unwrap();
        assert_eq!(fs::read(&dest).unwrap(), b"two");
        assert_eq!(fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0);
    }

    #[test]
    fn removed_trees_vanish_and_missing_ones_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let storage = Storage::open(dir.path()).unwrap();
        storage.write_atomic(&storage.path("repo/x/y"), b"1").unwrap();
        assert!(storage.remove_tree(&storage.path("repo")).unwrap());
        assert!(!storage.path("repo").exists());
        assert!(!storage.remove_tree(&storage.path("repo")).unwrap());
    }
}
