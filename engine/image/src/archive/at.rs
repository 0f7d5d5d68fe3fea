//! Directory-descriptor file operations: every path below a root is resolved with `openat2`
//! (`RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS`) and every change is made relative to the resolved
//! parent, so neither an archive nor a racing process can redirect a write outside the root.

use nix::dir::Dir;
use nix::errno::Errno;
use nix::fcntl::{openat, openat2, AtFlags, OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::{fchmodat, fstat, fstatat, mkdirat, utimensat, FchmodatFlags, FileStat, Mode, UtimensatFlags};
use nix::sys::time::TimeSpec;
use nix::unistd::{fchownat, unlinkat, Gid, Uid, UnlinkatFlags};
use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Opens `path` (trusted: chosen by the engine, not by an archive) as the root of a walk.
pub(crate) fn open_root(path: &Path) -> nix::Result<OwnedFd> {
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
    own(openat(None, path, flags, Mode::empty()))
}

fn own(fd: nix::Result<RawFd>) -> nix::Result<OwnedFd> {
    // SAFETY: the descriptor was just returned by a successful open call, so it is valid and
    // nothing else owns it.
    fd.map(|fd| unsafe { OwnedFd::from_raw_fd(fd) })
}

fn resolve_how(flags: OFlag) -> OpenHow {
    OpenHow::new()
        .flags(flags | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_SYMLINKS | ResolveFlag::RESOLVE_NO_MAGICLINKS)
}

/// The directory `rel` (normalised, empty for the root itself) below `root`, as an `O_PATH`
/// descriptor. A symlink anywhere on the way fails with `ELOOP`.
pub(crate) fn open_dir(root: BorrowedFd, rel: &[u8]) -> nix::Result<OwnedFd> {
    if rel.is_empty() {
        return root.try_clone_to_owned().map_err(io_errno);
    }
    let how = resolve_how(OFlag::O_PATH | OFlag::O_DIRECTORY);
    own(openat2(root.as_raw_fd(), rel, how))
}

/// Like `open_dir`, creating missing directories (mode 0755, owned by the caller) on the way.
pub(crate) fn make_dirs(root: BorrowedFd, rel: &[u8]) -> nix::Result<OwnedFd> {
    match open_dir(root, rel) {
        Err(Errno::ENOENT) => {}
        other => return other,
    }
    let mut dir = root.try_clone_to_owned().map_err(io_errno)?;
    for component in rel.split(|b| *b == b'/') {
        dir = make_dir(dir.as_fd(), component)?;
    }
    Ok(dir)
}

fn make_dir(parent: BorrowedFd, name: &[u8]) -> nix::Result<OwnedFd> {
    match open_dir(parent, name) {
        Err(Errno::ENOENT) => {}
        other => return other,
    }
    match mkdirat(Some(parent.as_raw_fd()), name, Mode::from_bits_truncate(0o755)) {
        Ok(()) | Err(Errno::EEXIST) => {}
        Err(e) => return Err(e),
    }
    let dir = open_dir(parent, name)?;
    // The umask must not decide the mode of directories the archive did not describe.
    Node::Inode(dir.as_fd()).chmod(0o755)?;
    Ok(dir)
}

/// A directory below `parent`, opened for reading its entries, never through a symlink.
pub(crate) fn open_dir_for_listing(parent: BorrowedFd, name: &[u8]) -> nix::Result<OwnedFd> {
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    own(openat(Some(parent.as_raw_fd()), name, flags, Mode::empty()))
}

/// `name` in `parent` as an `O_PATH` descriptor of the file itself (a symlink is not followed),
/// with its status.
pub(crate) fn open_node(parent: BorrowedFd, name: &[u8]) -> nix::Result<(OwnedFd, FileStat)> {
    let flags = OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let fd = own(openat(Some(parent.as_raw_fd()), name, flags, Mode::empty()))?;
    let stat = fstat(fd.as_raw_fd())?;
    Ok((fd, stat))
}

/// The status of `name` in `parent` (not following a symlink), `None` when there is none.
pub(crate) fn stat_at(parent: BorrowedFd, name: &[u8]) -> nix::Result<Option<FileStat>> {
    match fstatat(Some(parent.as_raw_fd()), name, AtFlags::AT_SYMLINK_NOFOLLOW) {
        Ok(stat) => Ok(Some(stat)),
        Err(Errno::ENOENT) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The names in a directory, sorted bytewise (the order every walk here uses).
pub(crate) fn list(dir: BorrowedFd) -> nix::Result<Vec<Vec<u8>>> {
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
    let mut listing = Dir::openat(Some(dir.as_raw_fd()), ".", flags, Mode::empty())?;
    let mut names = Vec::new();
    for entry in listing.iter() {
        let entry = entry?;
        let name = entry.file_name().to_bytes();
        if name != b"." && name != b".." {
            names.push(name.to_vec());
        }
    }
    names.sort_unstable();
    Ok(names)
}

/// Removes `name` from `parent` with everything below it; nothing there is not an error.
pub(crate) fn remove_all(parent: BorrowedFd, name: &[u8]) -> nix::Result<()> {
    let Some(stat) = stat_at(parent, name)? else {
        return Ok(());
    };
    if kind(&stat) != libc::S_IFDIR {
        return unlinkat(Some(parent.as_raw_fd()), name, UnlinkatFlags::NoRemoveDir);
    }
    let dir = open_dir_for_listing(parent, name)?;
    for child in list(dir.as_fd())? {
        remove_all(dir.as_fd(), &child)?;
    }
    unlinkat(Some(parent.as_raw_fd()), name, UnlinkatFlags::RemoveDir)
}

/// The `S_IFMT` bits of a status.
pub(crate) fn kind(stat: &FileStat) -> libc::mode_t {
    stat.st_mode & libc::S_IFMT
}

/// An overlayfs whiteout: a character device 0:0.
pub(crate) fn is_whiteout(stat: &FileStat) -> bool {
    kind(stat) == libc::S_IFCHR && stat.st_rdev == 0
}

/// `/proc/self/fd/<fd>[/<name>]`: a path the kernel resolves to the open file (or, with a name,
/// to that name inside the open directory) without walking any path an archive controls.
pub(crate) fn proc_path(fd: BorrowedFd, name: Option<&[u8]>) -> PathBuf {
    let mut path = PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()));
    if let Some(name) = name {
        path.push(OsStr::from_bytes(name));
    }
    path
}

/// The extended attributes of `name` in `dir` (a symlink's own), or of `dir` itself without a
/// name, sorted by name. A file system without xattr support has none.
pub(crate) fn xattrs(dir: BorrowedFd, name: Option<&[u8]>) -> io::Result<Vec<(OsString, Vec<u8>)>> {
    let path = proc_path(dir, name);
    // With a name, the l- calls keep a symlink's own xattrs; without one, the magic link must
    // be followed to reach the directory.
    let names = match name {
        Some(_) => xattr::list(&path),
        None => xattr::list_deref(&path),
    };
    let names = match names {
        Ok(names) => names,
        Err(e) if e.raw_os_error() == Some(libc::ENOTSUP) => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut all = Vec::new();
    for key in names {
        let value = match name {
            Some(_) => xattr::get(&path, &key)?,
            None => xattr::get_deref(&path, &key)?,
        };
        all.extend(value.map(|value| (key, value)));
    }
    all.sort();
    Ok(all)
}

/// A file whose metadata is being set: a descriptor of the file itself (anything but a
/// symlink), or a symlink named in its parent directory.
pub(crate) enum Node<'a> {
    Inode(BorrowedFd<'a>),
    Symlink { parent: BorrowedFd<'a>, name: &'a [u8] },
}

impl Node<'_> {
    pub(crate) fn chown(&self, uid: u32, gid: u32) -> nix::Result<()> {
        let (uid, gid) = (Some(Uid::from_raw(uid)), Some(Gid::from_raw(gid)));
        match self {
            Node::Inode(fd) => {
                let flags = AtFlags::AT_EMPTY_PATH | AtFlags::AT_SYMLINK_NOFOLLOW;
                fchownat(Some(fd.as_raw_fd()), "", uid, gid, flags)
            }
            Node::Symlink { parent, name } => {
                let flags = AtFlags::AT_SYMLINK_NOFOLLOW;
                fchownat(Some(parent.as_raw_fd()), *name, uid, gid, flags)
            }
        }
    }

    /// Sets the permission bits (with setuid, setgid, sticky); symlinks have none to set.
    pub(crate) fn chmod(&self, mode: u32) -> nix::Result<()> {
        let Node::Inode(fd) = self else {
            return Ok(());
        };
        let mode = Mode::from_bits_truncate(mode & 0o7777);
        // The magic link leads to the open inode itself, which is not a symlink, so following
        // it cannot leave the root.
        fchmodat(None, &proc_path(*fd, None), mode, FchmodatFlags::FollowSymlink)
    }

    pub(crate) fn set_times(&self, atime: TimeSpec, mtime: TimeSpec) -> nix::Result<()> {
        match self {
            Node::Inode(fd) => {
                let path = proc_path(*fd, None);
                utimensat(None, &path, &atime, &mtime, UtimensatFlags::FollowSymlink)
            }
            Node::Symlink { parent, name } => {
                let dir = Some(parent.as_raw_fd());
                utimensat(dir, *name, &atime, &mtime, UtimensatFlags::NoFollowSymlink)
            }
        }
    }

    pub(crate) fn set_xattr(&self, key: &OsStr, value: &[u8]) -> io::Result<()> {
        match self {
            Node::Inode(fd) => xattr::set_deref(proc_path(*fd, None), key, value),
            Node::Symlink { parent, name } => xattr::set(proc_path(*parent, Some(name)), key, value),
        }
    }
}

fn io_errno(e: io::Error) -> Errno {
    e.raw_os_error().map_or(Errno::EIO, Errno::from_raw)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn symlinks_on_the_way_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("real")).unwrap();
        symlink("/etc", dir.path().join("evil")).unwrap();
        symlink("real", dir.path().join("inner")).unwrap();
        let root = open_root(dir.path()).unwrap();
        assert!(open_dir(root.as_fd(), b"real").is_ok());
        assert_eq!(open_dir(root.as_fd(), b"evil").err(), Some(Errno::ELOOP));
        assert_eq!(open_dir(root.as_fd(), b"inner").err(), Some(Errno::ELOOP));
        assert_eq!(make_dirs(root.as_fd(), b"evil/x").err(), Some(Errno::ELOOP));
        assert!(!Path::new("/etc/x").exists());
    }

    #[test]
    fn make_dirs_creates_what_is_missing() {
        let dir = tempfile::tempdir().unwrap();
        let root = open_root(dir.path()).unwrap();
        make_dirs(root.as_fd(), b"a/b/c").unwrap();
        assert!(dir.path().join("a/b/c").is_dir());
        let mode = std::fs::metadata(dir.path().join("a/b")).unwrap();
        assert_eq!(std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o777, 0o755);
    }

    #[test]
    fn remove_all_does_not_follow_symlinks() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("keep"), "x").unwrap();
        std::fs::create_dir_all(dir.path().join("d/e")).unwrap();
        symlink(outside.path(), dir.path().join("d/link")).unwrap();
        let root = open_root(dir.path()).unwrap();
        remove_all(root.as_fd(), b"d").unwrap();
        assert!(!dir.path().join("d").exists());
        assert!(outside.path().join("keep").exists());
        remove_all(root.as_fd(), b"missing").unwrap();
    }
}
