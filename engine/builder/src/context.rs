//! The build context: the request body unpacked into a directory (a tar, compressed or not),
//! or a Dockerfile alone (`docker build - < Dockerfile`), or a git repository cloned; then the
//! Dockerfile read and the `.dockerignore` exclusions removed.

use crate::ignore::{clean, Ignore};
use crate::BuildError;
use std::collections::HashMap;
use std::io::{Cursor, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex};

/// A context on disk, ready for `ADD` and `COPY`.
#[derive(Debug, Default)]
pub struct Context {
    pub dir: PathBuf,
    pub dockerfile: String,
    /// The digest (BLAKE3) of each regular file's content, by its path under `dir`, taken
    /// while it was unpacked: the build cache keys on it without reading the file again.
    pub digests: HashMap<PathBuf, [u8; 32]>,
    /// Large files whose content is still in memory: on disk they have their name, size,
    /// mode and mtime but no data yet. A fully cached build never needs the data;
    /// [`Context::materialize`] writes it before anything reads the files.
    pub(crate) held: Held,
}

/// Which files of a context tar are held in memory: those of `min` bytes or more, while their
/// total stays within `budget`.
#[derive(Debug, Clone, Copy)]
pub struct Holding {
    pub min: u64,
    pub budget: u64,
}

impl Default for Holding {
    fn default() -> Holding {
        Holding { min: HOLD_MIN, budget: 64 << 20 }
    }
}

/// Bytes of a held file hashed at a time while it is read.
const HASH_PIECE: u64 = 256 << 10;

/// The least size of a held file by default: smaller ones cost little to write.
const HOLD_MIN: u64 = 256 << 10;

#[derive(Default)]
pub(crate) struct Held(Mutex<HashMap<PathBuf, HeldFile>>);

struct HeldFile {
    data: Arc<Vec<u8>>,
    mtime: u64,
    /// The inode made for it: data is only ever written into that one.
    dev: u64,
    ino: u64,
}

impl std::fmt::Debug for Held {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let held = self.0.lock().unwrap_or_else(|e| e.into_inner());
        write!(f, "Held({} files, {} bytes)", held.len(), held.values().map(|h| h.data.len()).sum::<usize>())
    }
}

impl Context {
    /// Writes the content of every held file into its file.
    pub fn materialize(&self) -> Result<(), BuildError> {
        let mut held = self.held.0.lock().unwrap_or_else(|e| e.into_inner());
        write_out(&mut held).map_err(BuildError::io("write the held files of the build context"))
    }

    /// The content of `path` when it is held in memory.
    pub fn held(&self, path: &Path) -> Option<impl Read + Send + 'static> {
        let held = self.held.0.lock().unwrap_or_else(|e| e.into_inner());
        held.get(path).map(|h| Cursor::new(Shared(h.data.clone())))
    }
}

struct Shared(Arc<Vec<u8>>);

impl AsRef<[u8]> for Shared {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

/// Fills a held file, unless its name no longer leads to the inode made for it (removed by
/// `.dockerignore`, or replaced): never through a link, never into another file.
fn write_held(path: &Path, held: &HeldFile) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = match std::fs::OpenOptions::new().write(true).custom_flags(nix::libc::O_NOFOLLOW).open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound || e.raw_os_error() == Some(nix::libc::ELOOP) => {
            return Ok(())
        }
        Err(e) => return Err(e),
    };
    let meta = file.metadata()?;
    if (meta.dev(), meta.ino()) != (held.dev, held.ino) || !meta.is_file() {
        return Ok(());
    }
    file.write_all(&held.data)?;
    set_mtime(&file, held.mtime)
}

/// Writes out every held file of `held`, emptying it.
fn write_out(held: &mut HashMap<PathBuf, HeldFile>) -> std::io::Result<()> {
    held.drain().try_for_each(|(path, file)| write_held(&path, &file))
}

/// A file's mode and mtime as its tar header gives them (the access time too).
fn set_mode_and_mtime(file: &std::fs::File, mode: u32, mtime: u64) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    file.set_permissions(std::fs::Permissions::from_mode(mode & 0o7777))?;
    set_mtime(file, mtime)
}

fn set_mtime(file: &std::fs::File, mtime: u64) -> std::io::Result<()> {
    let time = std::time::UNIX_EPOCH + std::time::Duration::from_secs(mtime);
    file.set_times(std::fs::FileTimes::new().set_modified(time).set_accessed(time))
}

/// The Dockerfile name when the request names none.
pub const DEFAULT_DOCKERFILE: &str = "Dockerfile";

/// Unpacks a request body into `dir` (which must exist and be empty).
pub fn from_body<R: Read + Send + 'static>(body: R, dir: &Path, dockerfile: &str) -> Result<Context, BuildError> {
    from_body_holding(body, dir, dockerfile, Holding::default())
}

/// [`from_body`], holding the files `holding` picks.
pub fn from_body_holding<R: Read + Send + 'static>(
    body: R,
    dir: &Path,
    dockerfile: &str,
    holding: Holding,
) -> Result<Context, BuildError> {
    let mut body = berth_image::archive::decompressed(body).map_err(BuildError::io("read the build context"))?;
    let mut head = Vec::with_capacity(512);
    (&mut body).take(512).read_to_end(&mut head).map_err(BuildError::io("read the build context"))?;
    if !is_tar(&head) {
        let mut text = head;
        body.read_to_end(&mut text).map_err(BuildError::io("read the Dockerfile"))?;
        let text = String::from_utf8(text).map_err(|_| {
            BuildError::Invalid("the build context is neither a tar archive nor a text Dockerfile".into())
        })?;
        if text.trim().is_empty() {
            return Err(BuildError::Invalid("the Dockerfile (the request body) is empty".into()));
        }
        return Ok(Context { dir: dir.to_path_buf(), dockerfile: text, ..Default::default() });
    }
    let held = Held::default();
    // The files read here stay on disk only.
    let read_now = [PathBuf::from(clean(dockerfile)), PathBuf::from("dockerfile"), PathBuf::from(".dockerignore")];
    let digests = unpack(Cursor::new(head).chain(body), dir, &held, holding, &read_now)?;
    Ok(Context { digests, held, ..finish(dir, dockerfile)? })
}

/// Clones a git repository (`file://`, a local path, or any URL git reaches) into `dir`.
/// A `#ref:subdir` fragment picks the branch or tag and the context directory.
pub fn from_git(url: &str, dir: &Path, dockerfile: &str) -> Result<Context, BuildError> {
    let (repo, fragment) = url.split_once('#').unwrap_or((url, ""));
    let (reference, subdir) = fragment.split_once(':').unwrap_or((fragment, ""));
    let mut git = std::process::Command::new("git");
    git.args(["clone", "--quiet", "--recursive"]);
    // Git's dumb http transport cannot make shallow clones.
    if !(repo.starts_with("http://") || repo.starts_with("https://")) {
        git.args(["--depth", "1"]);
    }
    if !reference.is_empty() {
        git.args(["--branch", reference]);
    }
    let repo = repo.strip_prefix("git://").filter(|r| r.starts_with('/')).unwrap_or(repo);
    let output = git
        .arg("--")
        .arg(repo)
        .arg(dir.join("repo"))
        .env("GIT_TERMINAL_PROMPT", "0")
        .output()
        .map_err(BuildError::io("run git"))?;
    if !output.status.success() {
        return Err(BuildError::Invalid(format!(
            "error fetching the git repository {url}: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    let root = dir.join("repo").join(clean(subdir));
    let _ = std::fs::remove_dir_all(dir.join("repo/.git"));
    finish(&root, dockerfile)
}

/// Whether a 512-byte block is a tar header: ustar magic, or a valid checksum (old tars).
fn is_tar(head: &[u8]) -> bool {
    if head.len() < 512 {
        return false;
    }
    if &head[257..262] == b"ustar" {
        return true;
    }
    let stored = std::str::from_utf8(&head[148..156])
        .ok()
        .and_then(|s| u32::from_str_radix(s.trim_matches(|c: char| c == '\0' || c == ' '), 8).ok());
    let sum: u32 = head.iter().enumerate().map(|(i, b)| if (148..156).contains(&i) { 32 } else { u32::from(*b) }).sum();
    stored == Some(sum)
}

/// Unpacks a context tar into `dir`; the digests of the regular files it wrote. The files
/// `holding` picks go to `held`, except those named in `read_now`.
fn unpack(
    tar: impl Read,
    dir: &Path,
    held: &Held,
    holding: Holding,
    read_now: &[PathBuf],
) -> Result<HashMap<PathBuf, [u8; 32]>, BuildError> {
    let mut archive = tar::Archive::new(tar);
    archive.set_preserve_permissions(true);
    archive.set_preserve_mtime(true);
    archive.set_overwrite(true);
    let root = dir.canonicalize().map_err(BuildError::io("open the context directory"))?;
    let mut digests = HashMap::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut budget = holding.budget;
    let mut held = held.0.lock().unwrap_or_else(|e| e.into_inner());
    let entries = archive.entries().map_err(BuildError::io("read the build context"))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| BuildError::Invalid(format!("the build context is not a valid tar: {e}")))?;
        // The name without `./` parts; `..` and absolute names are left to `unpack_in`.
        let name = entry.path().map(|p| p.into_owned()).unwrap_or_default();
        let relative: PathBuf = name.components().filter(|c| matches!(c, Component::Normal(_))).collect();
        let plain = name.components().all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
        let fast = if plain { regular_target(&entry, &root, &relative) } else { None };
        // Whatever this entry makes at its name replaces what was held there. Held files are
        // keyed under `dir` as given, as the digests are.
        let key = dir.join(&relative);
        held.remove(&key);
        let size = entry.header().size().unwrap_or(0);
        let unpacked = match fast {
            Some(target) if (holding.min..=budget).contains(&size) && !read_now.contains(&relative) => {
                hold_file(&mut entry, &target, size).map(|(digest, file)| {
                    budget -= size;
                    held.insert(key, file);
                    Some((target, digest))
                })
            }
            Some(target) => unpack_file(&mut entry, &target, &mut buf).map(|digest| Some((target, digest))),
            // Everything else through `unpack_in`, which refuses names that climb out of
            // `dir` (`..`, absolute links, symlinked parents). A hard link may name a held
            // file, whose data must then be there to be read under either name.
            None => {
                let linked = if entry.header().entry_type().is_hard_link() { write_out(&mut held) } else { Ok(()) };
                linked.and_then(|()| entry.unpack_in(dir)).map(|_| None)
            }
        };
        match unpacked.map_err(|e| BuildError::Invalid(format!("cannot unpack the build context: {e}")))? {
            Some((target, digest)) => drop(digests.insert(target, digest)),
            None => drop(digests.remove(&root.join(&relative))),
        }
    }
    // Keyed under `dir` as given, which is how sources name them.
    Ok(digests.into_iter().filter_map(|(p, d)| Some((dir.join(p.strip_prefix(&root).ok()?), d))).collect())
}

/// Where a regular file of the context goes, when it can be written directly: `relative` (of
/// normal components only) under a parent directory that, once created, is still `root`'s.
fn regular_target<R: Read>(entry: &tar::Entry<R>, root: &Path, relative: &Path) -> Option<PathBuf> {
    if !entry.header().entry_type().is_file() || relative.as_os_str().is_empty() {
        return None;
    }
    let target = root.join(relative);
    let parent = target.parent()?;
    // A symlink among the parents could lead anywhere: `unpack_in` decides those. The
    // deepest parent that exists must be itself (no link on the way), before any is made.
    let existing = parent.ancestors().find(|a| a.exists())?;
    if existing.canonicalize().ok()? != existing || !existing.starts_with(root) {
        return None;
    }
    std::fs::create_dir_all(parent).ok()?;
    match std::fs::symlink_metadata(&target) {
        Ok(meta) if !meta.is_file() => None,
        // A new inode: an earlier entry may have hard-linked this name to another.
        Ok(_) => std::fs::remove_file(&target).ok().map(|()| target),
        Err(_) => Some(target),
    }
}

/// Writes a regular file's data in large pieces, hashing it on the way; mode and mtime from
/// its header.
fn unpack_file<R: Read>(entry: &mut tar::Entry<R>, target: &Path, buf: &mut [u8]) -> std::io::Result<[u8; 32]> {
    let (mode, mtime) = (entry.header().mode().unwrap_or(0o644), entry.header().mtime().unwrap_or(0));
    let mut file = std::fs::File::create(target)?;
    let mut hasher = blake3::Hasher::new();
    loop {
        let n = match entry.read(buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
        file.write_all(&buf[..n])?;
    }
    set_mode_and_mtime(&file, mode, mtime)?;
    Ok(hasher.finalize().into())
}

/// Reads a regular file's data into memory, hashing it, and makes its file with its size,
/// mode and mtime but no data.
fn hold_file<R: Read>(entry: &mut tar::Entry<R>, target: &Path, size: u64) -> std::io::Result<([u8; 32], HeldFile)> {
    let (mode, mtime) = (entry.header().mode().unwrap_or(0o644), entry.header().mtime().unwrap_or(0));
    // Hashed piece by piece as the data arrives, so the hashing keeps pace with the upload
    // instead of following it.
    let mut data = Vec::with_capacity(usize::try_from(size).map_err(std::io::Error::other)?);
    let mut hasher = blake3::Hasher::new();
    let mut rest = entry.take(size);
    loop {
        let start = data.len();
        if (&mut rest).take(HASH_PIECE).read_to_end(&mut data)? == 0 {
            break;
        }
        hasher.update(&data[start..]);
    }
    if data.len() as u64 != size {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    let digest = hasher.finalize().into();
    let file = std::fs::File::create(target)?;
    file.set_len(size)?;
    set_mode_and_mtime(&file, mode, mtime)?;
    let meta = file.metadata()?;
    Ok((digest, HeldFile { data: Arc::new(data), mtime, dev: meta.dev(), ino: meta.ino() }))
}

/// Reads the Dockerfile, then removes what `.dockerignore` leaves out.
fn finish(dir: &Path, dockerfile: &str) -> Result<Context, BuildError> {
    let name = clean(dockerfile);
    let path = dir.join(&name);
    let text = match std::fs::read(&path) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(_) if name == DEFAULT_DOCKERFILE => match std::fs::read(dir.join("dockerfile")) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(_) => return Err(missing(dockerfile)),
        },
        Err(_) => return Err(missing(dockerfile)),
    };
    if let Ok(patterns) = std::fs::read_to_string(dir.join(".dockerignore")) {
        let ignore = Ignore::parse(&patterns);
        if !ignore.is_empty() {
            remove_ignored(dir, dir, &ignore)?;
        }
    }
    Ok(Context { dir: dir.to_path_buf(), dockerfile: text, ..Default::default() })
}

fn missing(name: &str) -> BuildError {
    BuildError::Invalid(format!(
        "Cannot locate specified Dockerfile: {name}: the build context has no file of that name"
    ))
}

fn remove_ignored(root: &Path, dir: &Path, ignore: &Ignore) -> Result<(), BuildError> {
    let entries = std::fs::read_dir(dir).map_err(BuildError::io(format!("read {}", dir.display())))?;
    for entry in entries.flatten() {
        let path = entry.path();
        let relative = path.strip_prefix(root).unwrap_or(&path).to_string_lossy().into_owned();
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        if ignore.excludes(&relative) {
            // An exception (`!dir/keep`) may keep something inside an excluded directory.
            if is_dir {
                remove_ignored(root, &path, ignore)?;
                let _ = std::fs::remove_dir(&path);
            } else {
                let _ = std::fs::remove_file(&path);
            }
        } else if is_dir {
            remove_ignored(root, &path, ignore)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_of(files: &[(&str, &str)]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (name, data) in files {
            let mut header = tar::Header::new_gnu();
            header.set_size(data.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            builder.append_data(&mut header, name, data.as_bytes()).unwrap();
        }
        builder.into_inner().unwrap()
    }

    #[test]
    fn a_tar_body_is_unpacked_and_dockerignore_applied() {
        let dir = tempfile::tempdir().unwrap();
        let body =
            tar_of(&[("Dockerfile", "FROM busybox\n"), (".dockerignore", "*.log\n"), ("a.log", "x"), ("b", "y")]);
        let context = from_body(Cursor::new(body), dir.path(), DEFAULT_DOCKERFILE).unwrap();
        assert_eq!(context.dockerfile, "FROM busybox\n");
        assert!(!dir.path().join("a.log").exists());
        assert!(dir.path().join("b").exists());
    }

    /// A tar of raw entries: (name, kind, link target, data).
    fn raw_tar(entries: &[(&str, tar::EntryType, &str, &str)]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (name, kind, link, data) in entries {
            let mut header = tar::Header::new_gnu();
            header.set_entry_type(*kind);
            header.set_size(data.len() as u64);
            header.set_mode(0o640);
            header.set_mtime(1_000_000_000);
            if !link.is_empty() {
                header.set_link_name(link).unwrap();
            }
            header.set_path(name).unwrap();
            header.set_cksum();
            builder.append(&header, data.as_bytes()).unwrap();
        }
        builder.into_inner().unwrap()
    }

    #[test]
    fn files_keep_mode_and_mtime_and_their_digests_are_kept() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let body = raw_tar(&[
            ("./Dockerfile", tar::EntryType::Regular, "", "FROM busybox\n"),
            ("./sub/blob.bin", tar::EntryType::Regular, "", "blob"),
        ]);
        let context = from_body(Cursor::new(body), dir.path(), DEFAULT_DOCKERFILE).unwrap();
        let blob = dir.path().join("sub/blob.bin");
        let meta = std::fs::metadata(&blob).unwrap();
        assert_eq!((meta.mode() & 0o7777, meta.mtime()), (0o640, 1_000_000_000));
        let expected: [u8; 32] = blake3::hash(b"blob").into();
        assert_eq!(context.digests.get(&blob), Some(&expected));
    }

    #[test]
    fn a_symlinked_parent_cannot_lead_a_file_out_of_the_context() {
        let outside = tempfile::tempdir().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let target = outside.path().to_str().unwrap();
        let body = raw_tar(&[
            ("Dockerfile", tar::EntryType::Regular, "", "FROM busybox\n"),
            ("escape", tar::EntryType::Symlink, target, ""),
            ("escape/planted", tar::EntryType::Regular, "", "x"),
            ("escape/new/planted", tar::EntryType::Regular, "", "x"),
        ]);
        let _ = from_body(Cursor::new(body), dir.path(), DEFAULT_DOCKERFILE);
        let left: Vec<_> = std::fs::read_dir(outside.path()).unwrap().collect();
        assert!(left.is_empty(), "written through the symlink: {left:?}");
    }

    #[test]
    fn a_file_over_a_hard_link_leaves_the_other_name_alone() {
        let dir = tempfile::tempdir().unwrap();
        let body = raw_tar(&[
            ("Dockerfile", tar::EntryType::Regular, "", "FROM busybox\n"),
            ("a", tar::EntryType::Regular, "", "original"),
            ("b", tar::EntryType::Link, "a", ""),
            ("b", tar::EntryType::Regular, "", "replaced"),
        ]);
        let context = from_body(Cursor::new(body), dir.path(), DEFAULT_DOCKERFILE).unwrap();
        assert_eq!(std::fs::read_to_string(dir.path().join("a")).unwrap(), "original");
        assert_eq!(std::fs::read_to_string(dir.path().join("b")).unwrap(), "replaced");
        let expected: [u8; 32] = blake3::hash(b"replaced").into();
        assert_eq!(context.digests.get(&dir.path().join("b")), Some(&expected));
    }

    fn big(fill: char) -> String {
        std::iter::repeat_n(fill, (HOLD_MIN + 1000) as usize).collect()
    }

    #[test]
    fn a_large_file_is_held_with_its_metadata_until_materialized() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let data = big('b');
        let body = raw_tar(&[
            ("Dockerfile", tar::EntryType::Regular, "", "FROM busybox\n"),
            ("sub/blob.bin", tar::EntryType::Regular, "", &data),
        ]);
        let context = from_body(Cursor::new(body), dir.path(), DEFAULT_DOCKERFILE).unwrap();
        let blob = dir.path().join("sub/blob.bin");
        let meta = std::fs::metadata(&blob).unwrap();
        assert_eq!((meta.len(), meta.mode() & 0o7777, meta.mtime()), (data.len() as u64, 0o640, 1_000_000_000));
        assert_eq!(meta.blocks(), 0, "the held file has data on disk already");
        let mut held = Vec::new();
        context.held(&blob).expect("not held").read_to_end(&mut held).unwrap();
        assert_eq!(held, data.as_bytes());
        let expected: [u8; 32] = blake3::hash(data.as_bytes()).into();
        assert_eq!(context.digests.get(&blob), Some(&expected));

        context.materialize().unwrap();
        assert_eq!(std::fs::read(&blob).unwrap(), data.as_bytes());
        assert_eq!(std::fs::metadata(&blob).unwrap().mtime(), 1_000_000_000);
        assert!(context.held(&blob).is_none());
    }

    #[test]
    fn held_files_are_found_under_the_directory_as_named_through_a_symlink() {
        let real = tempfile::tempdir().unwrap();
        let links = tempfile::tempdir().unwrap();
        let dir = links.path().join("context");
        std::os::unix::fs::symlink(real.path(), &dir).unwrap();
        let data = big('s');
        let body = raw_tar(&[
            ("Dockerfile", tar::EntryType::Regular, "", "FROM busybox\n"),
            ("a", tar::EntryType::Regular, "", &data),
        ]);
        let context = from_body(Cursor::new(body), &dir, DEFAULT_DOCKERFILE).unwrap();
        let mut held = Vec::new();
        context.held(&dir.join("a")).expect("not found under the named directory").read_to_end(&mut held).unwrap();
        assert_eq!(held, data.as_bytes());
        assert!(context.digests.contains_key(&dir.join("a")));
        context.materialize().unwrap();
        assert_eq!(std::fs::read(real.path().join("a")).unwrap(), data.as_bytes());
    }

    #[test]
    fn a_held_name_taken_over_by_a_link_is_never_written_through() {
        let outside = tempfile::tempdir().unwrap();
        let victim = outside.path().join("victim");
        std::fs::write(&victim, "untouched").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let body = raw_tar(&[
            ("Dockerfile", tar::EntryType::Regular, "", "FROM busybox\n"),
            ("a", tar::EntryType::Regular, "", &big('a')),
            ("a", tar::EntryType::Symlink, victim.to_str().unwrap(), ""),
        ]);
        let context = from_body(Cursor::new(body), dir.path(), DEFAULT_DOCKERFILE).unwrap();
        context.materialize().unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "untouched");
    }

    #[test]
    fn a_hard_link_to_a_held_file_reads_its_data_under_both_names() {
        let dir = tempfile::tempdir().unwrap();
        let data = big('h');
        let body = raw_tar(&[
            ("Dockerfile", tar::EntryType::Regular, "", "FROM busybox\n"),
            ("a", tar::EntryType::Regular, "", &data),
            ("b", tar::EntryType::Link, "a", ""),
        ]);
        let _context = from_body(Cursor::new(body), dir.path(), DEFAULT_DOCKERFILE).unwrap();
        assert_eq!(std::fs::read(dir.path().join("a")).unwrap(), data.as_bytes());
        assert_eq!(std::fs::read(dir.path().join("b")).unwrap(), data.as_bytes());
    }

    #[test]
    fn large_dockerfile_and_dockerignore_are_read_and_ignored_files_stay_gone() {
        let dir = tempfile::tempdir().unwrap();
        let dockerfile = format!("FROM busybox\n#{}\n", big('d'));
        let ignore = format!("drop.bin\n#{}\n", big('i'));
        let body = raw_tar(&[
            ("Dockerfile", tar::EntryType::Regular, "", &dockerfile),
            (".dockerignore", tar::EntryType::Regular, "", &ignore),
            ("drop.bin", tar::EntryType::Regular, "", &big('x')),
        ]);
        let context = from_body(Cursor::new(body), dir.path(), DEFAULT_DOCKERFILE).unwrap();
        assert_eq!(context.dockerfile, dockerfile);
        context.materialize().unwrap();
        assert!(!dir.path().join("drop.bin").exists());
    }

    #[test]
    fn a_plain_body_is_the_dockerfile() {
        let dir = tempfile::tempdir().unwrap();
        let context = from_body(Cursor::new(b"FROM busybox\nRUN true\n".to_vec()), dir.path(), "x").unwrap();
        assert_eq!(context.dockerfile, "FROM busybox\nRUN true\n");
    }

    #[test]
    fn a_missing_dockerfile_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let err = from_body(Cursor::new(tar_of(&[("x", "y")])), dir.path(), "Other.df").unwrap_err();
        assert!(err.to_string().contains("Other.df"), "{err}");
    }
}
