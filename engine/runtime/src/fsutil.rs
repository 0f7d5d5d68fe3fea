//! File-system helpers: resolving container paths without escaping the root file system,
//! creating mount points, and replacing state files atomically.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::fs::{self, DirBuilder, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Component, Path, PathBuf};

/// How many symlinks one path may go through, as the kernel's limit.
const MAX_LINKS: usize = 40;

/// `root` joined with the container path `path`, with every symlink on the way (the last
/// component's too) resolved as if `root` were `/`, so an image's `/etc -> /host/etc` link
/// stays inside `root`. Components that do not exist are kept as they are.
pub fn secure_join(root: &Path, path: &str) -> io::Result<PathBuf> {
    let mut resolved: Vec<OsString> = Vec::new();
    let mut pending: VecDeque<OsString> = components(Path::new(path)).collect();
    let mut links = 0;
    while let Some(part) = pending.pop_front() {
        if part == ".." {
            resolved.pop();
            continue;
        }
        let candidate: PathBuf = root.join(resolved.iter().collect::<PathBuf>()).join(&part);
        match fs::symlink_metadata(&candidate) {
            Ok(meta) if meta.file_type().is_symlink() => {
                links += 1;
                if links > MAX_LINKS {
                    return Err(io::Error::from_raw_os_error(libc::ELOOP));
                }
                let target = fs::read_link(&candidate)?;
                if target.is_absolute() {
                    resolved.clear();
                }
                for c in components(&target).collect::<Vec<_>>().into_iter().rev() {
                    pending.push_front(c);
                }
            }
            _ => resolved.push(part),
        }
    }
    Ok(root.join(resolved.iter().collect::<PathBuf>()))
}

/// The normal and `..` components of a path, as owned strings.
fn components(path: &Path) -> impl Iterator<Item = OsString> + '_ {
    path.components().filter_map(|c| match c {
        Component::Normal(n) => Some(n.to_os_string()),
        Component::ParentDir => Some("..".into()),
        _ => None,
    })
}

/// `mkdir -p` with mode 0755 for what it creates (under the caller's umask).
pub fn mkdir_all(path: &Path) -> io::Result<()> {
    DirBuilder::new().recursive(true).mode(0o755).create(path)
}

/// Makes `path` something a mount can cover: a directory, or an empty file when the source
/// is not a directory. An existing path is left as it is.
pub fn create_mount_point(path: &Path, dir: bool) -> io::Result<()> {
    if dir {
        return mkdir_all(path);
    }
    if let Some(parent) = path.parent() {
        mkdir_all(parent)?;
    }
    match OpenOptions::new().write(true).create_new(true).mode(0o755).open(path) {
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        other => other.map(drop),
    }
}

/// Replaces `path` with `data` by writing a temporary file beside it and renaming it over, so a
/// reader sees the old or the new content and never half of one. No fsync: the files written
/// this way describe processes, which a machine crash ends anyway.
pub fn atomic_write(path: &Path, data: &[u8]) -> io::Result<()> {
    let mut tmp = path.as_os_str().to_os_string();
    tmp.push(format!(".tmp{}", std::process::id()));
    let tmp = PathBuf::from(tmp);
    fs::write(&tmp, data)?;
    fs::rename(&tmp, path).inspect_err(|_| {
        let _ = fs::remove_file(&tmp);
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn symlinks_resolve_inside_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("real/sub")).unwrap();
        symlink("/real", root.join("abs")).unwrap();
        symlink("../../../real", root.join("real/up")).unwrap();
        symlink("/etc/passwd", root.join("escape")).unwrap();
        assert_eq!(secure_join(root, "/abs/sub").unwrap(), root.join("real/sub"));
        assert_eq!(secure_join(root, "real/up/sub").unwrap(), root.join("real/sub"));
        assert_eq!(secure_join(root, "/escape").unwrap(), root.join("etc/passwd"));
        assert_eq!(secure_join(root, "/../../x/./y").unwrap(), root.join("x/y"));
    }

    #[test]
    fn symlink_loops_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        symlink("/loop", dir.path().join("loop")).unwrap();
        let err = secure_join(dir.path(), "/loop/x").unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ELOOP));
    }

    #[test]
    fn mount_points_match_the_source_kind() {
        let dir = tempfile::tempdir().unwrap();
        create_mount_point(&dir.path().join("a/b/file"), false).unwrap();
        create_mount_point(&dir.path().join("c/d"), true).unwrap();
        create_mount_point(&dir.path().join("a/b/file"), false).unwrap();
        assert!(dir.path().join("a/b/file").is_file());
        assert!(dir.path().join("c/d").is_dir());
    }

    #[test]
    fn atomic_write_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("exit.json");
        atomic_write(&path, b"one").unwrap();
        atomic_write(&path, b"two").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
