//! Writing trees as tars: whole trees (export, save, `docker cp`) and the upper directory of an
//! overlay container as a layer, its overlay whiteouts turned back into Docker's `.wh.` entries.
//! Files are read through directory descriptors, never following a symlink, so a container
//! cannot swap one in to get host files archived. Entries come in sorted order.

use super::at;
use super::digest::HashingWriter;
use super::name;
use super::{display, ArchiveError, LayerDigest, MAX_DEPTH, OVERLAY_OPAQUE_XATTR};
use super::{WHITEOUT_OPAQUE, WHITEOUT_PREFIX};
use nix::errno::Errno;
use nix::fcntl::{openat, readlinkat, OFlag};
use nix::sys::stat::{fstat, major, minor, FileStat, Mode};
use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use tar::{EntryType, Header};

use super::apply::COPY_BUFFER;

/// What `write_tree` writes and how it names it.
#[derive(Debug, Clone, Default)]
pub struct TreeOptions {
    /// Write only this path below the root (a leading `/` is the root's): a file, or a
    /// directory with its contents, named from its base name on, as `docker cp` does. It must
    /// not pass through a symlink: resolve it in the container first.
    pub only: Option<PathBuf>,
    /// The name the top of what is written gets: with `only`, the copied path's new name;
    /// otherwise a directory every entry is put in.
    pub rebase: Option<String>,
    /// Write an entry for the root directory itself (`./`, or the rebase directory).
    pub include_root: bool,
}

/// Writes the tree at `root` to `w` as a tar; returns the bytes written.
pub fn write_tree(root: &Path, w: impl Write, opts: &TreeOptions) -> Result<u64, ArchiveError> {
    let root_fd = open_root(root)?;
    let mut sink = TarSink::new(w, false);
    match &opts.only {
        Some(only) => write_only(&mut sink, root_fd.as_fd(), only, opts.rebase.as_deref())?,
        None => write_all(&mut sink, root_fd.as_fd(), opts)?,
    }
    Ok(sink.finish()?.size)
}

/// The upper directory of an overlay (or a layer directory of the overlay driver) as a layer
/// tar: whiteout devices become `.wh.<name>` entries and opaque directories get a
/// `.wh..wh..opq` entry. Returns the layer's diff id and size.
pub fn diff_overlay(upper: &Path, w: impl Write) -> Result<LayerDigest, ArchiveError> {
    let root = open_root(upper)?;
    let mut sink = TarSink::new(w, true);
    let mut walker = Walker { sink: &mut sink, overlay: true };
    walker.walk(root.as_fd(), &mut Vec::new(), 0)?;
    sink.finish()
}

pub(crate) fn open_root(path: &Path) -> Result<std::os::fd::OwnedFd, ArchiveError> {
    at::open_root(path).map_err(|e| ArchiveError::Root { path: path.to_path_buf(), source: e.into() })
}

fn write_all<W: Write>(sink: &mut TarSink<W>, root: BorrowedFd, opts: &TreeOptions) -> Result<(), ArchiveError> {
    let mut prefix = match &opts.rebase {
        Some(rebase) => rebase.trim_matches('/').as_bytes().to_vec(),
        None => Vec::new(),
    };
    if opts.include_root {
        let name = if prefix.is_empty() { &b"."[..] } else { &prefix };
        sink.append_root(root, name)?;
    }
    if !prefix.is_empty() {
        prefix.push(b'/');
    }
    let mut walker = Walker { sink, overlay: false };
    walker.walk(root, &mut prefix, 0)
}

fn write_only<W: Write>(
    sink: &mut TarSink<W>,
    root: BorrowedFd,
    only: &Path,
    rebase: Option<&str>,
) -> Result<(), ArchiveError> {
    let raw = only.as_os_str().as_bytes();
    let source_error = |e: Errno| source_error(raw, e);
    // A container path: its leading `/` is the root's.
    let start = raw.iter().position(|b| *b != b'/').unwrap_or(raw.len());
    let rel = name::normalize(&raw[start..])
        .map_err(|e| source_error_io(raw, io::Error::new(io::ErrorKind::InvalidInput, e.reason())))?;
    if rel.is_empty() {
        let top = rebase.unwrap_or(".").trim_matches('/').as_bytes().to_vec();
        sink.append_root(root, &top)?;
        let mut prefix = top;
        prefix.push(b'/');
        return Walker { sink, overlay: false }.walk(root, &mut prefix, 0);
    }
    let (parent, base) = name::split(&rel);
    let dir = at::open_dir(root, parent).map_err(source_error)?;
    let mut top = match rebase {
        Some(rebase) => rebase.trim_matches('/').as_bytes().to_vec(),
        None => base.to_vec(),
    };
    let stat = sink.append(dir.as_fd(), base, &top, false)?;
    if stat.is_some_and(|s| at::kind(&s) == libc::S_IFDIR) {
        let sub = at::open_dir_for_listing(dir.as_fd(), base).map_err(source_error)?;
        top.push(b'/');
        Walker { sink, overlay: false }.walk(sub.as_fd(), &mut top, 1)?;
    }
    Ok(())
}

/// A sorted depth-first walk writing every entry below a directory.
struct Walker<'s, W: Write> {
    sink: &'s mut TarSink<W>,
    /// Convert overlay whiteouts and opaque directories to Docker's entries.
    overlay: bool,
}

impl<W: Write> Walker<'_, W> {
    /// Writes what `dir` holds, each entry named `prefix` + its name (`prefix` is empty or
    /// ends with `/`; it is restored on return).
    fn walk(&mut self, dir: BorrowedFd, prefix: &mut Vec<u8>, depth: usize) -> Result<(), ArchiveError> {
        if depth >= MAX_DEPTH {
            return Err(ArchiveError::TooDeep { path: display(prefix), max: MAX_DEPTH });
        }
        let names = at::list(dir).map_err(|e| source_error(prefix, e))?;
        for name in names {
            let len = prefix.len();
            prefix.extend_from_slice(&name);
            let result = self.entry(dir, &name, prefix, depth);
            prefix.truncate(len);
            result?;
        }
        Ok(())
    }

    fn entry(
        &mut self,
        dir: BorrowedFd,
        name: &[u8],
        tar_name: &mut Vec<u8>,
        depth: usize,
    ) -> Result<(), ArchiveError> {
        let Some(stat) = self.sink.append(dir, name, tar_name, self.overlay)? else {
            return Ok(());
        };
        if at::kind(&stat) != libc::S_IFDIR {
            return Ok(());
        }
        let sub = at::open_dir_for_listing(dir, name).map_err(|e| source_error(tar_name, e))?;
        tar_name.push(b'/');
        self.walk(sub.as_fd(), tar_name, depth + 1)
    }
}

/// A tar being written: headers through the `tar` crate, file contents streamed through one
/// large buffer, later names of a hard-linked file written as links to the first.
pub(crate) struct TarSink<W: Write> {
    builder: tar::Builder<HashingWriter<BufWriter<W>>>,
    /// The tar name each multiply-linked file was first written under, by (device, inode).
    links: HashMap<(u64, u64), Vec<u8>>,
    buf: Vec<u8>,
}

impl<W: Write> TarSink<W> {
    pub(crate) fn new(w: W, hashed: bool) -> Self {
        let out = HashingWriter::new(BufWriter::with_capacity(COPY_BUFFER, w), hashed);
        TarSink { builder: tar::Builder::new(out), links: HashMap::new(), buf: vec![0; COPY_BUFFER] }
    }

    /// Ends the archive; the diff id is empty unless the sink was hashing.
    pub(crate) fn finish(self) -> Result<LayerDigest, ArchiveError> {
        let out = self.builder.into_inner().map_err(ArchiveError::Write)?;
        let (diff_id, size) = out.finish().map_err(ArchiveError::Write)?;
        Ok(LayerDigest { diff_id, size })
    }

    /// Writes `name` in `dir` as `tar_name`, converting overlay whiteouts when `overlay`.
    /// Returns its status, or `None` for what a tar cannot hold (sockets).
    pub(crate) fn append(
        &mut self,
        dir: BorrowedFd,
        name: &[u8],
        tar_name: &[u8],
        overlay: bool,
    ) -> Result<Option<FileStat>, ArchiveError> {
        let stat =
            at::stat_at(dir, name).and_then(|s| s.ok_or(Errno::ENOENT)).map_err(|e| source_error(tar_name, e))?;
        if overlay && at::is_whiteout(&stat) {
            self.append_overlay_whiteout(&stat, tar_name)?;
            return Ok(Some(stat));
        }
        match at::kind(&stat) {
            libc::S_IFREG => self.append_file(dir, name, tar_name, &stat).map(Some),
            libc::S_IFSOCK => Ok(None),
            _ => self.append_other(dir, name, tar_name, &stat, overlay).map(|()| Some(stat)),
        }
    }

    /// The root directory of a tree, named `name` (`.` or a rebase directory).
    pub(crate) fn append_root(&mut self, root: BorrowedFd, name: &[u8]) -> Result<(), ArchiveError> {
        let stat = fstat(root.as_raw_fd()).map_err(|e| source_error(name, e))?;
        let xattrs = at::xattrs(root, None).map_err(|e| source_error_io(name, e))?;
        let mut header = header_for(&stat, EntryType::Directory);
        let mut tar_name = name.to_vec();
        tar_name.push(b'/');
        self.append_xattrs(&xattrs)?;
        self.append_header(&mut header, &tar_name)
    }

    /// A deletion for a layer tar: an empty regular file `.wh.<name>` beside where the file was.
    pub(crate) fn append_whiteout(
        &mut self,
        tar_name: &[u8],
        uid: u32,
        gid: u32,
        mtime: u64,
    ) -> Result<(), ArchiveError> {
        let (parent, base) = name::split(tar_name);
        let mut whiteout = WHITEOUT_PREFIX.as_bytes().to_vec();
        whiteout.extend_from_slice(base);
        let mut header = Header::new_gnu();
        header.set_entry_type(EntryType::Regular);
        header.set_mode(0o600);
        header.set_uid(u64::from(uid));
        header.set_gid(u64::from(gid));
        header.set_mtime(mtime);
        header.set_size(0);
        self.append_header(&mut header, &name::join(parent, &whiteout))
    }

    fn append_overlay_whiteout(&mut self, stat: &FileStat, tar_name: &[u8]) -> Result<(), ArchiveError> {
        self.append_whiteout(tar_name, stat.st_uid, stat.st_gid, mtime(stat))
    }

    fn append_file(
        &mut self,
        dir: BorrowedFd,
        name: &[u8],
        tar_name: &[u8],
        stat: &FileStat,
    ) -> Result<FileStat, ArchiveError> {
        if let Some(first) = self.seen_link(stat, tar_name) {
            return self.append_hard_link(stat, tar_name, &first).map(|()| *stat);
        }
        let mut file = open_file(dir, name).map_err(|e| source_error(tar_name, e))?;
        // The header describes the file as opened, not as it was a moment before.
        let stat = fstat(file.as_raw_fd()).map_err(|e| source_error(tar_name, e))?;
        if at::kind(&stat) != libc::S_IFREG {
            let changed = "the file changed type while it was archived";
            return Err(source_error_io(tar_name, io::Error::other(changed)));
        }
        let xattrs = at::xattrs(dir, Some(name)).map_err(|e| source_error_io(tar_name, e))?;
        let mut header = header_for(&stat, EntryType::Regular);
        let size = u64::try_from(stat.st_size).unwrap_or(0);
        header.set_size(size);
        self.append_xattrs(&xattrs)?;
        self.append_header(&mut header, tar_name)?;
        self.append_content(&mut file, size, tar_name)?;
        Ok(stat)
    }

    /// The tar name a multiply-linked file was first written under, remembering this one when
    /// it is the first.
    fn seen_link(&mut self, stat: &FileStat, tar_name: &[u8]) -> Option<Vec<u8>> {
        if stat.st_nlink <= 1 {
            return None;
        }
        let key = (stat.st_dev, stat.st_ino);
        if let Some(first) = self.links.get(&key) {
            return Some(first.clone());
        }
        self.links.insert(key, tar_name.to_vec());
        None
    }

    fn append_hard_link(&mut self, stat: &FileStat, tar_name: &[u8], target: &[u8]) -> Result<(), ArchiveError> {
        let mut header = header_for(stat, EntryType::Link);
        self.builder.append_link(&mut header, as_path(tar_name), as_path(target)).map_err(ArchiveError::Write)
    }

    /// Directories, symlinks, devices and fifos: a header and no content.
    fn append_other(
        &mut self,
        dir: BorrowedFd,
        name: &[u8],
        tar_name: &[u8],
        stat: &FileStat,
        overlay: bool,
    ) -> Result<(), ArchiveError> {
        let kind = at::kind(stat);
        if kind != libc::S_IFDIR {
            if let Some(first) = self.seen_link(stat, tar_name) {
                return self.append_hard_link(stat, tar_name, &first);
            }
        }
        let xattrs = at::xattrs(dir, Some(name)).map_err(|e| source_error_io(tar_name, e))?;
        self.append_xattrs(&xattrs)?;
        match kind {
            libc::S_IFDIR => self.append_dir(stat, tar_name, overlay && is_opaque(&xattrs)),
            libc::S_IFLNK => self.append_symlink(dir, name, tar_name, stat),
            _ => self.append_node(stat, tar_name),
        }
    }

    fn append_dir(&mut self, stat: &FileStat, tar_name: &[u8], opaque: bool) -> Result<(), ArchiveError> {
        let mut header = header_for(stat, EntryType::Directory);
        let mut dir_name = tar_name.to_vec();
        dir_name.push(b'/');
        self.append_header(&mut header, &dir_name)?;
        if !opaque {
            return Ok(());
        }
        // As Docker: the marker follows its directory, with the directory's owner and mode.
        let mut marker = header_for(stat, EntryType::Regular);
        marker.set_mode(stat.st_mode & 0o777);
        marker.set_mtime(0);
        dir_name.extend_from_slice(WHITEOUT_OPAQUE.as_bytes());
        self.append_header(&mut marker, &dir_name)
    }

    fn append_symlink(
        &mut self,
        dir: BorrowedFd,
        name: &[u8],
        tar_name: &[u8],
        stat: &FileStat,
    ) -> Result<(), ArchiveError> {
        let target = readlinkat(Some(dir.as_raw_fd()), name).map_err(|e| source_error(tar_name, e))?;
        let mut header = header_for(stat, EntryType::Symlink);
        self.builder.append_link(&mut header, as_path(tar_name), Path::new(&target)).map_err(ArchiveError::Write)
    }

    fn append_node(&mut self, stat: &FileStat, tar_name: &[u8]) -> Result<(), ArchiveError> {
        let ty = match at::kind(stat) {
            libc::S_IFCHR => EntryType::Char,
            libc::S_IFBLK => EntryType::Block,
            _ => EntryType::Fifo,
        };
        let mut header = header_for(stat, ty);
        if ty != EntryType::Fifo {
            let device = |e| ArchiveError::Write(e);
            header.set_device_major(major(stat.st_rdev) as u32).map_err(device)?;
            header.set_device_minor(minor(stat.st_rdev) as u32).map_err(device)?;
        }
        self.append_header(&mut header, tar_name)
    }

    /// The xattrs of the next entry, as `SCHILY.xattr.` PAX records; overlayfs' own are left
    /// out, they mean nothing outside the layer directory.
    fn append_xattrs(&mut self, xattrs: &[(OsString, Vec<u8>)]) -> Result<(), ArchiveError> {
        let records: Vec<(String, &[u8])> = xattrs
            .iter()
            .filter(|(key, _)| !key.as_bytes().starts_with(b"trusted.overlay."))
            .filter_map(|(key, value)| Some((format!("SCHILY.xattr.{}", key.to_str()?), &value[..])))
            .collect();
        if records.is_empty() {
            return Ok(());
        }
        let records = records.iter().map(|(key, value)| (key.as_str(), *value));
        self.builder.append_pax_extensions(records).map_err(ArchiveError::Write)
    }

    fn append_header(&mut self, header: &mut Header, tar_name: &[u8]) -> Result<(), ArchiveError> {
        self.builder.append_data(header, as_path(tar_name), io::empty()).map_err(ArchiveError::Write)
    }

    /// Exactly `size` bytes of `file` and the padding to the next block: a file that shrank
    /// meanwhile is an error rather than a corrupt archive; what it grew by is left out.
    fn append_content(&mut self, file: &mut File, size: u64, tar_name: &[u8]) -> Result<(), ArchiveError> {
        let mut left = size;
        while left > 0 {
            let want = usize::try_from(left).map_or(self.buf.len(), |l| l.min(self.buf.len()));
            let n = match file.read(&mut self.buf[..want]) {
                Ok(0) => return Err(source_error_io(tar_name, shrank())),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(source_error_io(tar_name, e)),
            };
            let out = self.builder.get_mut();
            out.write_all(&self.buf[..n]).map_err(ArchiveError::Write)?;
            left -= n as u64;
        }
        let padding = (512 - size % 512) % 512;
        let zeros = [0u8; 512];
        self.builder.get_mut().write_all(&zeros[..padding as usize]).map_err(ArchiveError::Write)
    }
}

fn shrank() -> io::Error {
    io::Error::new(io::ErrorKind::UnexpectedEof, "the file shrank while it was archived")
}

fn is_opaque(xattrs: &[(OsString, Vec<u8>)]) -> bool {
    xattrs.iter().any(|(key, value)| key == OVERLAY_OPAQUE_XATTR && value == b"y")
}

/// Opens a regular file for reading without following a symlink, and without blocking if a
/// fifo was swapped in.
fn open_file(dir: BorrowedFd, name: &[u8]) -> nix::Result<File> {
    let flags = OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC;
    let fd = openat(Some(dir.as_raw_fd()), name, flags, Mode::empty())?;
    // SAFETY: `openat` just returned this descriptor and nothing else owns it.
    Ok(unsafe { File::from_raw_fd(fd) })
}

/// A header with the metadata every entry carries, as Docker writes it: mode with the setuid,
/// setgid and sticky bits, numeric owner, modification time in whole seconds.
fn header_for(stat: &FileStat, ty: EntryType) -> Header {
    let mut header = Header::new_gnu();
    header.set_entry_type(ty);
    header.set_mode(stat.st_mode & 0o7777);
    header.set_uid(u64::from(stat.st_uid));
    header.set_gid(u64::from(stat.st_gid));
    header.set_mtime(mtime(stat));
    header.set_size(0);
    header
}

/// The modification time in whole seconds; tars before 1970 are not a thing Docker writes.
fn mtime(stat: &FileStat) -> u64 {
    u64::try_from(stat.st_mtime).unwrap_or(0)
}

fn as_path(name: &[u8]) -> &Path {
    Path::new(OsStr::from_bytes(name))
}

pub(crate) fn source_error(path: &[u8], e: Errno) -> ArchiveError {
    source_error_io(path, e.into())
}

pub(crate) fn source_error_io(path: &[u8], source: io::Error) -> ArchiveError {
    ArchiveError::Source { path: display(path), source }
}

#[cfg(test)]
mod tests;
