//! Applying a layer tar to a directory: the overlay driver extracts each layer into its own
//! directory with whiteouts written as overlayfs expects them; the vfs driver applies a layer on
//! a copy of its parent, deleting what the whiteouts name. Archives that reach for anything
//! outside the root are refused, and nothing outside it is touched on the way.

use super::at::{self, Node};
use super::digest::HashingReader;
use super::name::{self, BadName, Role};
use super::{display, ArchiveError, OVERLAY_OPAQUE_XATTR};
use nix::errno::Errno;
use nix::fcntl::{openat, AtFlags, OFlag};
use nix::sys::stat::{makedev, mknodat, Mode, SFlag};
use nix::sys::time::TimeSpec;
use nix::unistd::{linkat, symlinkat};
use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use tar::EntryType;

/// The size of the buffers a layer streams through.
pub(crate) const COPY_BUFFER: usize = 1 << 20;

/// How the whiteouts of a layer are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Whiteouts {
    /// As overlayfs whiteouts (character devices 0:0) and opaque directories (xattr
    /// `trusted.overlay.opaque=y`): each layer is extracted into its own directory.
    Overlay,
    /// By removing the whited-out paths (and emptying opaque directories) in the root itself,
    /// which holds a copy of the parent layer's tree.
    Apply,
}

#[derive(Debug, Clone)]
pub struct ApplyOptions {
    pub whiteouts: Whiteouts,
    /// Give files the owners the tar names (root always wants this); otherwise they belong to
    /// the caller.
    pub same_owner: bool,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        ApplyOptions { whiteouts: Whiteouts::Overlay, same_owner: true }
    }
}

/// What applying a layer read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplyStats {
    /// The size of the uncompressed tar stream.
    pub bytes: u64,
    /// The tar entries applied, whiteouts included.
    pub entries: u64,
    /// `sha256:<hex>` of the uncompressed tar stream: the layer's diff id.
    pub diff_id: String,
}

/// Applies the (uncompressed) layer tar `tar` to `root`. On error the root holds whatever was
/// applied before the failing entry, and should be discarded.
pub fn apply_layer(tar: impl Read, root: &Path, opts: &ApplyOptions) -> Result<ApplyStats, ArchiveError> {
    let root_fd = at::open_root(root).map_err(|e| ArchiveError::Root { path: root.to_path_buf(), source: e.into() })?;
    let stream = HashingReader::new(BufReader::with_capacity(COPY_BUFFER, tar));
    let mut archive = tar::Archive::new(stream);
    let mut applier = Applier::new(root_fd, opts);
    for entry in archive.entries().map_err(ArchiveError::Read)? {
        applier.apply(&mut entry.map_err(ArchiveError::Read)?)?;
    }
    applier.finish()?;
    let (diff_id, bytes) = archive.into_inner().finish().map_err(ArchiveError::Read)?;
    Ok(ApplyStats { bytes, entries: applier.entries, diff_id })
}

/// Whether a path the archive wrote is a directory, for conflicts and opaque directories.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Dir,
    Other,
}

impl Class {
    fn noun(self) -> &'static str {
        match self {
            Class::Dir => "directory",
            Class::Other => "non-directory",
        }
    }
}

/// What an entry creates.
enum Kind {
    File,
    Dir,
    Symlink(Vec<u8>),
    HardLink(Vec<u8>),
    Node(SFlag, libc::dev_t),
}

impl Kind {
    fn class(&self) -> Class {
        match self {
            Kind::Dir => Class::Dir,
            _ => Class::Other,
        }
    }
}

/// The metadata of an entry, from its header and PAX records.
struct Meta {
    mode: u32,
    uid: u32,
    gid: u32,
    atime: TimeSpec,
    mtime: TimeSpec,
    xattrs: Vec<(OsString, Vec<u8>)>,
}

struct Applier<'o> {
    root: OwnedFd,
    opts: &'o ApplyOptions,
    /// Every path this archive wrote (and their parents), for type conflicts and for emptying
    /// opaque directories without losing what this layer put in them.
    written: HashMap<Vec<u8>, Class>,
    /// Directory times, set once everything inside them is written.
    dir_times: Vec<(Vec<u8>, TimeSpec, TimeSpec)>,
    /// The parent directory of the previous entry: tars list a directory's files together.
    cached_parent: Vec<u8>,
    cached_fd: Option<OwnedFd>,
    buf: Vec<u8>,
    entries: u64,
}

impl<'o> Applier<'o> {
    fn new(root: OwnedFd, opts: &'o ApplyOptions) -> Self {
        Applier {
            root,
            opts,
            written: HashMap::new(),
            dir_times: Vec::new(),
            cached_parent: Vec::new(),
            cached_fd: None,
            buf: vec![0; COPY_BUFFER],
            entries: 0,
        }
    }

    fn apply<R: Read>(&mut self, entry: &mut tar::Entry<R>) -> Result<(), ArchiveError> {
        self.entries += 1;
        let ty = entry.header().entry_type();
        if ty.is_pax_global_extensions() || ty.as_byte() == b'V' {
            return Ok(());
        }
        let raw = entry.path_bytes();
        let path = name::normalize(&raw).map_err(|e| refused(&raw, e.reason()))?;
        let trailing_slash = raw.ends_with(b"/");
        drop(raw);
        if path.is_empty() {
            return self.root_entry(entry);
        }
        let (parent, last) = name::split(&path);
        match name::role(last) {
            Role::Plain => self.write(entry, &path, trailing_slash),
            Role::Whiteout(deleted) => self.whiteout(entry, parent, deleted, &path),
            Role::Opaque => self.opaque(parent, &path),
            Role::Internal => Ok(()),
            Role::BadWhiteout => Err(refused(&path, "it is a whiteout without a file name")),
        }
    }

    /// `.` or `./`: the metadata of the root directory itself.
    fn root_entry<R: Read>(&mut self, entry: &mut tar::Entry<R>) -> Result<(), ArchiveError> {
        if entry.header().entry_type() != EntryType::Directory {
            return Err(refused(b".", "only a directory can stand for the root"));
        }
        let meta = meta(entry, b".")?;
        self.set_meta(Node::Inode(self.root.as_fd()), &meta, b".", true)?;
        self.dir_times.push((Vec::new(), meta.atime, meta.mtime));
        self.written.insert(Vec::new(), Class::Dir);
        Ok(())
    }

    fn write<R: Read>(
        &mut self,
        entry: &mut tar::Entry<R>,
        path: &[u8],
        trailing_slash: bool,
    ) -> Result<(), ArchiveError> {
        let kind = kind(entry, path, trailing_slash)?;
        if matches!(&kind, Kind::HardLink(target) if target == path) {
            return Ok(());
        }
        self.check_conflict(path, kind.class())?;
        let meta = meta(entry, path)?;
        let (parent, name) = name::split(path);
        let dir = self.parent_dir(parent, true).map_err(|e| resolve_error(path, e))?;
        let result = self.create(entry, dir.as_fd(), name, path, kind, &meta);
        self.keep_parent(parent, dir);
        let class = result?;
        self.record(path, class);
        Ok(())
    }

    /// Creates `name` in `dir` as the entry describes, replacing what was there.
    fn create<R: Read>(
        &mut self,
        entry: &mut tar::Entry<R>,
        dir: BorrowedFd,
        name: &[u8],
        path: &[u8],
        kind: Kind,
        meta: &Meta,
    ) -> Result<Class, ArchiveError> {
        let class = kind.class();
        self.replace_existing(dir, name, path, class)?;
        match kind {
            Kind::Dir => self.create_dir(dir, name, path, meta)?,
            Kind::File => self.create_file(entry, dir, name, path, meta)?,
            Kind::Symlink(target) => self.create_symlink(dir, name, path, &target, meta)?,
            Kind::HardLink(target) => self.create_hard_link(dir, name, path, &target)?,
            Kind::Node(kind, dev) => self.create_node(dir, name, path, kind, dev, meta)?,
        }
        Ok(class)
    }

    /// Clears the way for a new entry: anything but a directory a new directory merges into
    /// is removed, directories with all their contents.
    fn replace_existing(&self, dir: BorrowedFd, name: &[u8], path: &[u8], class: Class) -> Result<(), ArchiveError> {
        let existing = at::stat_at(dir, name).map_err(|e| entry_error("inspect", path, e))?;
        let Some(existing) = existing else {
            return Ok(());
        };
        if class == Class::Dir && at::kind(&existing) == libc::S_IFDIR {
            return Ok(());
        }
        at::remove_all(dir, name).map_err(|e| entry_error("replace", path, e))
    }

    fn create_dir(&mut self, dir: BorrowedFd, name: &[u8], path: &[u8], meta: &Meta) -> Result<(), ArchiveError> {
        let mode = Mode::from_bits_truncate(0o700);
        match nix::sys::stat::mkdirat(Some(dir.as_raw_fd()), name, mode) {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(e) => return Err(entry_error("create directory", path, e)),
        }
        let (fd, stat) = at::open_node(dir, name).map_err(|e| entry_error("open", path, e))?;
        if at::kind(&stat) != libc::S_IFDIR {
            return Err(entry_error("create directory", path, Errno::EEXIST));
        }
        self.set_meta(Node::Inode(fd.as_fd()), meta, path, true)?;
        self.dir_times.push((path.to_vec(), meta.atime, meta.mtime));
        Ok(())
    }

    fn create_file<R: Read>(
        &mut self,
        entry: &mut tar::Entry<R>,
        dir: BorrowedFd,
        name: &[u8],
        path: &[u8],
        meta: &Meta,
    ) -> Result<(), ArchiveError> {
        let flags = OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let fd = openat(Some(dir.as_raw_fd()), name, flags, Mode::from_bits_truncate(0o600))
            .map_err(|e| entry_error("create file", path, e))?;
        // SAFETY: `openat` just returned this descriptor and nothing else owns it.
        let mut file = unsafe { File::from_raw_fd(fd) };
        self.copy_content(entry, &mut file, path)?;
        self.set_meta(Node::Inode(file.as_fd()), meta, path, false)
    }

    /// Streams the entry's content into `file` through the shared buffer; a short archive is an
    /// error, never a short file.
    fn copy_content<R: Read>(
        &mut self,
        entry: &mut tar::Entry<R>,
        file: &mut File,
        path: &[u8],
    ) -> Result<(), ArchiveError> {
        let declared = entry.size();
        let mut read = 0u64;
        loop {
            let n = match entry.read(&mut self.buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(ArchiveError::Read(e)),
            };
            file.write_all(&self.buf[..n]).map_err(|e| entry_error("write", path, e))?;
            read += n as u64;
        }
        if read < declared {
            return Err(ArchiveError::Truncated { entry: display(path), declared, read });
        }
        Ok(())
    }

    fn create_symlink(
        &mut self,
        dir: BorrowedFd,
        name: &[u8],
        path: &[u8],
        target: &[u8],
        meta: &Meta,
    ) -> Result<(), ArchiveError> {
        if name::symlink_escapes(path, target) {
            return Err(refused_link(path, target, "climbs above the root"));
        }
        if target.contains(&0) {
            return Err(refused_link(path, target, "contains a NUL byte"));
        }
        symlinkat(OsStr::from_bytes(target), Some(dir.as_raw_fd()), name)
            .map_err(|e| entry_error("create symlink", path, e))?;
        self.set_meta(Node::Symlink { parent: dir, name }, meta, path, false)
    }

    /// A hard link to an entry earlier in the archive or a file already in the root; the link
    /// shares the target's metadata, so the entry's own is not applied.
    fn create_hard_link(
        &mut self,
        dir: BorrowedFd,
        name: &[u8],
        path: &[u8],
        target: &[u8],
    ) -> Result<(), ArchiveError> {
        let (target_parent, target_name) = name::split(target);
        let source = self.parent_dir(target_parent, false).map_err(|e| match e {
            Errno::ELOOP => refused_link(path, target, "passes through a symlink"),
            e => entry_error("find the link target of", path, e),
        })?;
        let (old_dir, new_dir) = (Some(source.as_raw_fd()), Some(dir.as_raw_fd()));
        linkat(old_dir, target_name, new_dir, name, AtFlags::empty())
            .map_err(|e| entry_error("create hard link", path, e))
    }

    fn create_node(
        &mut self,
        dir: BorrowedFd,
        name: &[u8],
        path: &[u8],
        kind: SFlag,
        dev: libc::dev_t,
        meta: &Meta,
    ) -> Result<(), ArchiveError> {
        let perm = Mode::from_bits_truncate(0o600);
        mknodat(Some(dir.as_raw_fd()), name, kind, perm, dev)
            .map_err(|e| entry_error("create device or fifo", path, e))?;
        let (fd, stat) = at::open_node(dir, name).map_err(|e| entry_error("open", path, e))?;
        if at::kind(&stat) != kind.bits() {
            return Err(entry_error("create device or fifo", path, Errno::EEXIST));
        }
        self.set_meta(Node::Inode(fd.as_fd()), meta, path, false)
    }

    /// Owner, then mode (chown clears setuid bits), then xattrs (chown clears file
    /// capabilities), then times, which directories get at the end.
    fn set_meta(&self, node: Node, meta: &Meta, path: &[u8], is_dir: bool) -> Result<(), ArchiveError> {
        if self.opts.same_owner {
            node.chown(meta.uid, meta.gid).map_err(|e| entry_error("change the owner of", path, e))?;
        }
        node.chmod(meta.mode).map_err(|e| entry_error("change the mode of", path, e))?;
        for (key, value) in &meta.xattrs {
            set_xattr(&node, key, value, path)?;
        }
        if !is_dir {
            node.set_times(meta.atime, meta.mtime).map_err(|e| entry_error("set the times of", path, e))?;
        }
        Ok(())
    }

    fn whiteout<R: Read>(
        &mut self,
        entry: &mut tar::Entry<R>,
        parent: &[u8],
        deleted: &[u8],
        path: &[u8],
    ) -> Result<(), ArchiveError> {
        let create = self.opts.whiteouts == Whiteouts::Overlay;
        let dir = match self.parent_dir(parent, create) {
            Ok(dir) => dir,
            Err(Errno::ENOENT | Errno::ENOTDIR) if !create => return Ok(()),
            Err(e) => return Err(resolve_error(path, e)),
        };
        let result = match self.opts.whiteouts {
            Whiteouts::Apply => {
                at::remove_all(dir.as_fd(), deleted).map_err(|e| entry_error("remove the whited-out", path, e))
            }
            Whiteouts::Overlay => self.overlay_whiteout(entry, dir.as_fd(), deleted, path),
        };
        self.keep_parent(parent, dir);
        result
    }

    fn overlay_whiteout<R: Read>(
        &self,
        entry: &tar::Entry<R>,
        dir: BorrowedFd,
        deleted: &[u8],
        path: &[u8],
    ) -> Result<(), ArchiveError> {
        at::remove_all(dir, deleted).map_err(|e| entry_error("replace", path, e))?;
        let perm = Mode::empty();
        mknodat(Some(dir.as_raw_fd()), deleted, SFlag::S_IFCHR, perm, 0)
            .map_err(|e| entry_error("create the whiteout", path, e))?;
        if !self.opts.same_owner {
            return Ok(());
        }
        let header = entry.header();
        let old = header.as_old();
        let uid = id(numeric(&old.uid, header.uid(), "uid", path), "uid", path)?;
        let gid = id(numeric(&old.gid, header.gid(), "gid", path), "gid", path)?;
        Node::Symlink { parent: dir, name: deleted }
            .chown(uid, gid)
            .map_err(|e| entry_error("change the owner of", path, e))
    }

    /// `<dir>/.wh..wh..opq`: what lower layers had in `dir` is hidden.
    fn opaque(&mut self, dir_path: &[u8], path: &[u8]) -> Result<(), ArchiveError> {
        self.check_conflict(dir_path, Class::Dir)?;
        let overlay = self.opts.whiteouts == Whiteouts::Overlay;
        let dir = match at::make_dirs(self.root.as_fd(), dir_path) {
            Ok(dir) => dir,
            Err(e) => return Err(resolve_error(path, e)),
        };
        if overlay {
            Node::Inode(dir.as_fd())
                .set_xattr(OsStr::new(OVERLAY_OPAQUE_XATTR), b"y")
                .map_err(|e| entry_error("mark opaque the directory of", path, e))?;
        } else {
            self.clear_lower(dir.as_fd(), &mut dir_path.to_vec())
                .map_err(|e| entry_error("empty the opaque directory of", path, e))?;
        }
        self.record(dir_path, Class::Dir);
        Ok(())
    }

    /// Removes from `dir` (at `dir_path`) everything this archive did not write.
    fn clear_lower(&self, dir: BorrowedFd, dir_path: &mut Vec<u8>) -> nix::Result<()> {
        for child in at::list(dir)? {
            let len = dir_path.len();
            if len > 0 {
                dir_path.push(b'/');
            }
            dir_path.extend_from_slice(&child);
            let result = match self.written.get(dir_path.as_slice()) {
                None => at::remove_all(dir, &child),
                Some(Class::Other) => Ok(()),
                Some(Class::Dir) => {
                    at::open_dir_for_listing(dir, &child).and_then(|sub| self.clear_lower(sub.as_fd(), dir_path))
                }
            };
            dir_path.truncate(len);
            result?;
        }
        Ok(())
    }

    /// A path written before as a directory cannot become a file, nor the reverse: the
    /// archive contradicts itself, and following it would drop what it wrote.
    fn check_conflict(&self, path: &[u8], new: Class) -> Result<(), ArchiveError> {
        match self.written.get(path) {
            Some(&old) if old != new => {
                Err(ArchiveError::TypeConflict { entry: display(path), old: old.noun(), new: new.noun() })
            }
            _ => Ok(()),
        }
    }

    /// Records `path` and, when they are not yet, its parents as written.
    fn record(&mut self, path: &[u8], class: Class) {
        self.written.insert(path.to_vec(), class);
        let mut rest = path;
        while !rest.is_empty() {
            rest = name::split(rest).0;
            if self.written.contains_key(rest) {
                break;
            }
            self.written.insert(rest.to_vec(), Class::Dir);
        }
    }

    /// The directory `rel`, from the cache when the previous entry was in it too.
    fn parent_dir(&mut self, rel: &[u8], create: bool) -> nix::Result<OwnedFd> {
        if self.cached_parent == rel {
            if let Some(fd) = self.cached_fd.take() {
                return Ok(fd);
            }
        }
        let root = self.root.as_fd();
        if create {
            at::make_dirs(root, rel)
        } else {
            at::open_dir(root, rel)
        }
    }

    fn keep_parent(&mut self, rel: &[u8], fd: OwnedFd) {
        self.cached_parent.clear();
        self.cached_parent.extend_from_slice(rel);
        self.cached_fd = Some(fd);
    }

    /// Directory times, now that nothing more will be written into them. A directory removed
    /// or replaced since is skipped.
    fn finish(&mut self) -> Result<(), ArchiveError> {
        self.cached_fd = None;
        for (path, atime, mtime) in &self.dir_times {
            let dir = match at::open_dir(self.root.as_fd(), path) {
                Ok(dir) => dir,
                Err(Errno::ENOENT | Errno::ENOTDIR | Errno::ELOOP) => continue,
                Err(e) => return Err(entry_error("open", path, e)),
            };
            Node::Inode(dir.as_fd()).set_times(*atime, *mtime).map_err(|e| entry_error("set the times of", path, e))?;
        }
        Ok(())
    }
}

fn set_xattr(node: &Node, key: &OsStr, value: &[u8], path: &[u8]) -> Result<(), ArchiveError> {
    let entry = display(path);
    if key.as_bytes().starts_with(b"trusted.overlay.") {
        // Only whiteout entries may steer overlayfs: a redirect or metacopy xattr from a tar
        // could point a container at another layer's files.
        tracing::warn!(%entry, xattr = ?key, "skipping an overlayfs xattr");
        return Ok(());
    }
    match node.set_xattr(key, value) {
        Err(e) if e.raw_os_error() == Some(libc::ENOTSUP) => {
            tracing::warn!(%entry, xattr = ?key, "xattr not supported here");
            Ok(())
        }
        other => other.map_err(|e| entry_error("set an xattr on", path, e)),
    }
}

/// What the entry creates, with its link target checked.
fn kind<R: Read>(entry: &tar::Entry<R>, path: &[u8], trailing_slash: bool) -> Result<Kind, ArchiveError> {
    let header = entry.header();
    let ty = header.entry_type();
    Ok(match ty {
        EntryType::Directory => Kind::Dir,
        // Old tars mark directories by a trailing slash only.
        EntryType::Regular if trailing_slash => Kind::Dir,
        EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => Kind::File,
        EntryType::Symlink => Kind::Symlink(link_name(entry, path)?),
        EntryType::Link => Kind::HardLink(hard_link_target(entry, path)?),
        EntryType::Char => Kind::Node(SFlag::S_IFCHR, device(header, path)?),
        EntryType::Block => Kind::Node(SFlag::S_IFBLK, device(header, path)?),
        EntryType::Fifo => Kind::Node(SFlag::S_IFIFO, 0),
        _ => return Err(ArchiveError::UnsupportedType { entry: display(path), kind: char::from(ty.as_byte()) }),
    })
}

fn link_name<R: Read>(entry: &tar::Entry<R>, path: &[u8]) -> Result<Vec<u8>, ArchiveError> {
    match entry.link_name_bytes() {
        Some(target) if !target.is_empty() => Ok(target.into_owned()),
        _ => Err(ArchiveError::InvalidHeader {
            entry: display(path),
            field: "link name",
            source: io::Error::new(io::ErrorKind::InvalidData, "the link name is empty"),
        }),
    }
}

fn hard_link_target<R: Read>(entry: &tar::Entry<R>, path: &[u8]) -> Result<Vec<u8>, ArchiveError> {
    let raw = link_name(entry, path)?;
    match name::normalize(&raw) {
        Ok(target) if !target.is_empty() => Ok(target),
        Ok(_) => Err(refused_link(path, &raw, "is the root directory")),
        Err(BadName::Absolute) => Err(refused_link(path, &raw, "is an absolute path")),
        Err(e) => Err(refused_link(path, &raw, e.reason())),
    }
}

fn device(header: &tar::Header, path: &[u8]) -> Result<libc::dev_t, ArchiveError> {
    let invalid = |field| move |source| invalid_header(path, field, source);
    let major = header.device_major().map_err(invalid("device major"))?;
    let minor = header.device_minor().map_err(invalid("device minor"))?;
    Ok(makedev(u64::from(major.unwrap_or(0)), u64::from(minor.unwrap_or(0))))
}

/// The entry's metadata: header fields, with PAX records for times and xattrs.
fn meta<R: Read>(entry: &mut tar::Entry<R>, path: &[u8]) -> Result<Meta, ArchiveError> {
    let header = entry.header();
    let old = header.as_old();
    let mode = numeric(&old.mode, header.mode().map(u64::from), "mode", path)?;
    let uid = id(numeric(&old.uid, header.uid(), "uid", path), "uid", path)?;
    let gid = id(numeric(&old.gid, header.gid(), "gid", path), "gid", path)?;
    let mtime = numeric(&old.mtime, header.mtime(), "mtime", path)?;
    let mut meta = Meta {
        mode: u32::try_from(mode).unwrap_or(0),
        uid,
        gid,
        atime: TimeSpec::new(0, 0),
        mtime: TimeSpec::new(i64::try_from(mtime).unwrap_or(i64::MAX), 0),
        xattrs: Vec::new(),
    };
    let atime = apply_pax(entry, &mut meta, path)?;
    // As Docker: an access time older than the modification time is raised to it.
    meta.atime = atime.filter(|a| *a >= meta.mtime).unwrap_or(meta.mtime);
    Ok(meta)
}

/// The PAX records of an entry that `meta` keeps: `mtime`, xattrs; returns `atime`.
fn apply_pax<R: Read>(
    entry: &mut tar::Entry<R>,
    meta: &mut Meta,
    path: &[u8],
) -> Result<Option<TimeSpec>, ArchiveError> {
    let mut atime = None;
    let pax = entry.pax_extensions().map_err(ArchiveError::Read)?;
    for record in pax.into_iter().flatten() {
        let record = record.map_err(|e| invalid_header(path, "PAX record", e))?;
        let value = record.value_bytes();
        match record.key_bytes() {
            b"mtime" => meta.mtime = pax_time(value).unwrap_or(meta.mtime),
            b"atime" => atime = pax_time(value),
            key => {
                if let Some(xattr) = key.strip_prefix(b"SCHILY.xattr.") {
                    meta.xattrs.push((OsStr::from_bytes(xattr).to_os_string(), value.to_vec()));
                }
            }
        }
    }
    Ok(atime)
}

/// A numeric header field; an empty one (only NULs and spaces) is 0, as for Go and GNU tar.
fn numeric(raw: &[u8], parsed: io::Result<u64>, field: &'static str, path: &[u8]) -> Result<u64, ArchiveError> {
    if raw.iter().all(|b| *b == 0 || *b == b' ') {
        return Ok(0);
    }
    parsed.map_err(|e| invalid_header(path, field, e))
}

fn id(value: Result<u64, ArchiveError>, field: &'static str, path: &[u8]) -> Result<u32, ArchiveError> {
    let value = value?;
    u32::try_from(value).map_err(|_| {
        let message = format!("{value} is larger than any id");
        invalid_header(path, field, io::Error::new(io::ErrorKind::InvalidData, message))
    })
}

/// A PAX time: seconds since the epoch with an optional fraction, possibly negative.
fn pax_time(value: &[u8]) -> Option<TimeSpec> {
    let text = std::str::from_utf8(value).ok()?;
    let (secs, frac) = text.split_once('.').unwrap_or((text, ""));
    let mut secs: i64 = secs.parse().ok()?;
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let digits = &frac[..frac.len().min(9)];
    let mut nanos: i64 = if digits.is_empty() { 0 } else { digits.parse().ok()? };
    nanos *= 10i64.pow(9 - digits.len() as u32);
    if text.starts_with('-') && nanos > 0 {
        secs -= 1;
        nanos = 1_000_000_000 - nanos;
    }
    Some(TimeSpec::new(secs, nanos))
}

fn refused(entry: &[u8], reason: &'static str) -> ArchiveError {
    ArchiveError::Refused { entry: display(entry), reason }
}

fn refused_link(entry: &[u8], target: &[u8], reason: &'static str) -> ArchiveError {
    ArchiveError::RefusedLink { entry: display(entry), target: display(target), reason }
}

fn entry_error(op: &'static str, entry: &[u8], source: impl Into<io::Error>) -> ArchiveError {
    ArchiveError::Entry { op, entry: display(entry), source: source.into() }
}

fn invalid_header(entry: &[u8], field: &'static str, source: io::Error) -> ArchiveError {
    ArchiveError::InvalidHeader { entry: display(entry), field, source }
}

/// The error for a parent directory that could not be resolved: through a symlink it is an
/// attempt to write elsewhere, and refused as such.
fn resolve_error(path: &[u8], e: Errno) -> ArchiveError {
    match e {
        Errno::ELOOP => refused(path, "its path passes through a symlink"),
        Errno::EXDEV => refused(path, "its path leads outside the root"),
        e => entry_error("create the parent directory of", path, e),
    }
}

#[cfg(test)]
mod tests;
