//! What a container changed (`docker diff`), for both storage drivers: vfs compares the
//! container's tree with its image's, overlay reads the upper directory against the lower
//! layers. For vfs the changes are also written as a layer tar (`diff_dirs`).
//!
//! As Docker: a path is modified when its type, mode, owner, device, xattrs or symlink target
//! differ, or, for anything but a directory, its size or modification time; contents are not
//! compared. A directory with changes inside is listed as modified; a deleted directory is
//! listed alone, an added one with everything in it.

use super::at;
use super::name;
use super::write::{open_root, source_error, source_error_io, TarSink};
use super::{display, ArchiveError, LayerDigest, MAX_DEPTH, OVERLAY_OPAQUE_XATTR};
use nix::fcntl::readlinkat;
use nix::sys::stat::FileStat;
use std::cmp::Ordering;
use std::collections::BTreeSet;
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// The kinds of change, numbered as the Remote API numbers them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChangeKind {
    Modified = 0,
    Added = 1,
    Deleted = 2,
}

/// One changed path, absolute in the container (`/etc/passwd`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub path: String,
    pub kind: ChangeKind,
}

/// A change with its path relative to the root, as raw bytes.
struct RawChange {
    path: Vec<u8>,
    kind: ChangeKind,
}

impl RawChange {
    fn public(&self) -> Change {
        let mut path = String::with_capacity(self.path.len() + 1);
        path.push('/');
        path.push_str(&display(&self.path));
        Change { path, kind: self.kind }
    }
}

/// The changes from the tree `lower` (the image) to the tree `upper` (the container), in walk
/// order: sorted, each directory before what is in it.
pub fn changes_dirs(lower: &Path, upper: &Path) -> Result<Vec<Change>, ArchiveError> {
    let raw = raw_changes_dirs(lower, upper)?;
    Ok(raw.iter().map(RawChange::public).collect())
}

/// The changes `upper` (an overlay upper directory) makes to `lower_layers` (the layer
/// directories below it, topmost first, as in overlay's `lowerdir=`).
pub fn changes_overlay(upper: &Path, lower_layers: &[&Path]) -> Result<Vec<Change>, ArchiveError> {
    let upper_fd = open_root(upper)?;
    let lowers = lower_layers.iter().map(|layer| open_root(layer)).collect::<Result<Vec<_>, _>>()?;
    let mut walk = OverlayWalk { lowers, out: Vec::new() };
    let all: Vec<usize> = (0..walk.lowers.len()).collect();
    walk.walk(upper_fd.as_fd(), &mut Vec::new(), &all, None, 0)?;
    Ok(walk.out.iter().map(RawChange::public).collect())
}

/// The changes from `lower` to `upper` as a layer tar on `w`: added and modified paths as
/// they are in `upper`, deleted ones as `.wh.` entries. Returns the diff id and size.
pub fn diff_dirs(lower: &Path, upper: &Path, w: impl Write) -> Result<LayerDigest, ArchiveError> {
    let changes = raw_changes_dirs(lower, upper)?;
    let upper_fd = open_root(upper)?;
    let mut sink = TarSink::new(w, true);
    let mut parent: Option<(Vec<u8>, OwnedFd)> = None;
    for change in &changes {
        if change.kind == ChangeKind::Deleted {
            sink.append_whiteout(&change.path, 0, 0, 0)?;
            continue;
        }
        let (dir_path, name) = name::split(&change.path);
        if parent.as_ref().is_none_or(|(p, _)| p != dir_path) {
            let dir = at::open_dir(upper_fd.as_fd(), dir_path).map_err(|e| source_error(&change.path, e))?;
            parent = Some((dir_path.to_vec(), dir));
        }
        if let Some((_, dir)) = &parent {
            sink.append(dir.as_fd(), name, &change.path, false)?;
        }
    }
    sink.finish()
}

fn raw_changes_dirs(lower: &Path, upper: &Path) -> Result<Vec<RawChange>, ArchiveError> {
    let lower_fd = open_root(lower)?;
    let upper_fd = open_root(upper)?;
    let mut walk = DirsWalk { out: Vec::new() };
    walk.walk(Some(lower_fd.as_fd()), upper_fd.as_fd(), &mut Vec::new(), 0)?;
    Ok(walk.out)
}

/// Pushes `name` onto `path` (a relative path, empty for the root) and returns the old length.
fn push_name(path: &mut Vec<u8>, name: &[u8]) -> usize {
    let len = path.len();
    if len > 0 {
        path.push(b'/');
    }
    path.extend_from_slice(name);
    len
}

fn check_depth(path: &[u8], depth: usize) -> Result<(), ArchiveError> {
    if depth >= MAX_DEPTH {
        return Err(ArchiveError::TooDeep { path: display(path), max: MAX_DEPTH });
    }
    Ok(())
}

/// The sorted union of two sorted name lists, each name tagged with the sides holding it.
fn merge<'a>(left: &'a [Vec<u8>], right: &'a [Vec<u8>]) -> Vec<(&'a [u8], bool, bool)> {
    let (mut i, mut j, mut out) = (0, 0, Vec::with_capacity(left.len().max(right.len())));
    while i < left.len() || j < right.len() {
        let order = match (left.get(i), right.get(j)) {
            (Some(l), Some(r)) => l.cmp(r),
            (Some(_), None) => Ordering::Less,
            _ => Ordering::Greater,
        };
        match order {
            Ordering::Less => out.push((&left[i][..], true, false)),
            Ordering::Greater => out.push((&right[j][..], false, true)),
            Ordering::Equal => out.push((&left[i][..], true, true)),
        }
        i += usize::from(order != Ordering::Greater);
        j += usize::from(order != Ordering::Less);
    }
    out
}

/// The vfs comparison of two whole trees.
struct DirsWalk {
    out: Vec<RawChange>,
}

impl DirsWalk {
    /// Compares the directory `upper` with `lower` (none: everything in `upper` is added).
    fn walk(
        &mut self,
        lower: Option<BorrowedFd>,
        upper: BorrowedFd,
        path: &mut Vec<u8>,
        depth: usize,
    ) -> Result<(), ArchiveError> {
        check_depth(path, depth)?;
        let upper_names = at::list(upper).map_err(|e| source_error(path, e))?;
        let lower_names = match lower {
            Some(lower) => at::list(lower).map_err(|e| source_error(path, e))?,
            None => Vec::new(),
        };
        for (name, in_lower, in_upper) in merge(&lower_names, &upper_names) {
            let len = push_name(path, name);
            let result = match (lower.filter(|_| in_lower), in_upper) {
                (Some(_), false) => {
                    self.push(path, ChangeKind::Deleted);
                    Ok(())
                }
                (lower, _) => self.entry(lower, upper, name, path, depth),
            };
            path.truncate(len);
            result?;
        }
        Ok(())
    }

    /// `name`, present in `upper` and, when `lower` is given, in `lower` too.
    fn entry(
        &mut self,
        lower: Option<BorrowedFd>,
        upper: BorrowedFd,
        name: &[u8],
        path: &mut Vec<u8>,
        depth: usize,
    ) -> Result<(), ArchiveError> {
        let new = stat(upper, name, path)?;
        let old = match lower {
            Some(lower) => Some((lower, stat(lower, name, path)?)),
            None => None,
        };
        let kind = match &old {
            Some((lower, old)) => modified(*lower, upper, name, old, &new, path)?,
            None => Some(ChangeKind::Added),
        };
        if let Some(kind) = kind {
            self.push(path, kind);
        }
        if at::kind(&new) != libc::S_IFDIR {
            return Ok(());
        }
        let mark = self.out.len();
        let new_dir = at::open_dir_for_listing(upper, name).map_err(|e| source_error(path, e))?;
        let old_dir = match old {
            Some((lower, old)) if at::kind(&old) == libc::S_IFDIR => {
                Some(at::open_dir_for_listing(lower, name).map_err(|e| source_error(path, e))?)
            }
            _ => None,
        };
        self.walk(old_dir.as_ref().map(|d| d.as_fd()), new_dir.as_fd(), path, depth + 1)?;
        list_changed_dir(&mut self.out, mark, path, kind);
        Ok(())
    }

    fn push(&mut self, path: &[u8], kind: ChangeKind) {
        self.out.push(RawChange { path: path.to_vec(), kind });
    }
}

/// The overlay reading of an upper directory against the lower layers.
struct OverlayWalk {
    /// The lower layers' root directories, topmost first.
    lowers: Vec<OwnedFd>,
    out: Vec<RawChange>,
}

/// Where a name is found below an upper directory.
struct Lower {
    stat: FileStat,
    /// Index into the lower directories searched.
    at: usize,
    /// The lower layers in which the name is a visible directory (empty for anything else).
    dirs: Vec<usize>,
}

impl OverlayWalk {
    /// Walks the upper directory `upper` at `path`. `visible` are the lower layers where this
    /// directory shows through (topmost first); `hidden` the ones an opaque `upper` hides,
    /// whose names are deleted unless `upper` has them again.
    fn walk(
        &mut self,
        upper: BorrowedFd,
        path: &mut Vec<u8>,
        visible: &[usize],
        hidden: Option<&[usize]>,
        depth: usize,
    ) -> Result<(), ArchiveError> {
        check_depth(path, depth)?;
        let names = at::list(upper).map_err(|e| source_error(path, e))?;
        let gone = match hidden {
            Some(hidden) => self.lower_names(hidden, path)?,
            None => Vec::new(),
        };
        let lower_dirs = self.open_lower(visible, path)?;
        for (name, was_below, in_upper) in merge(&gone, &names) {
            let len = push_name(path, name);
            let result = match in_upper {
                false if was_below => {
                    self.push(path, ChangeKind::Deleted);
                    Ok(())
                }
                _ => self.entry(upper, &lower_dirs, visible, name, path, depth),
            };
            path.truncate(len);
            result?;
        }
        Ok(())
    }

    fn entry(
        &mut self,
        upper: BorrowedFd,
        lower_dirs: &[OwnedFd],
        visible: &[usize],
        name: &[u8],
        path: &mut Vec<u8>,
        depth: usize,
    ) -> Result<(), ArchiveError> {
        let new = stat(upper, name, path)?;
        if at::is_whiteout(&new) {
            self.push(path, ChangeKind::Deleted);
            return Ok(());
        }
        let lower = lookup(lower_dirs, visible, name).map_err(|e| source_error(path, e))?;
        let is_dir = at::kind(&new) == libc::S_IFDIR;
        let opaque = is_dir && is_opaque(upper, name).map_err(|e| source_error_io(path, e))?;
        let kind = match &lower {
            None => Some(ChangeKind::Added),
            // A directory shows through unless it is opaque: it may be unchanged itself.
            Some(low) if is_dir && !opaque && at::kind(&low.stat) == libc::S_IFDIR => {
                modified(lower_dirs[low.at].as_fd(), upper, name, &low.stat, &new, path)?
            }
            // Anything else in the upper directory was copied up or replaced.
            Some(_) => Some(ChangeKind::Modified),
        };
        if let Some(kind) = kind {
            self.push(path, kind);
        }
        if !is_dir {
            return Ok(());
        }
        let below = lower.map(|l| l.dirs).unwrap_or_default();
        let (visible, hidden) = if opaque { (&[][..], Some(&below[..])) } else { (&below[..], None) };
        let mark = self.out.len();
        let sub = at::open_dir_for_listing(upper, name).map_err(|e| source_error(path, e))?;
        self.walk(sub.as_fd(), path, visible, hidden, depth + 1)?;
        list_changed_dir(&mut self.out, mark, path, kind);
        Ok(())
    }

    /// The directory `path` in each of the lower layers `visible`.
    fn open_lower(&self, visible: &[usize], path: &[u8]) -> Result<Vec<OwnedFd>, ArchiveError> {
        visible
            .iter()
            .map(|&i| at::open_dir(self.lowers[i].as_fd(), path))
            .collect::<nix::Result<_>>()
            .map_err(|e| source_error(path, e))
    }

    /// The names the lower layers `dirs` show in the directory `path`: overlay's merged
    /// listing, whiteouts applied.
    fn lower_names(&self, dirs: &[usize], path: &[u8]) -> Result<Vec<Vec<u8>>, ArchiveError> {
        let mut shown = BTreeSet::new();
        let mut whited = BTreeSet::new();
        for dir in self.open_lower(dirs, path)? {
            for name in at::list(dir.as_fd()).map_err(|e| source_error(path, e))? {
                if whited.contains(&name) || shown.contains(&name) {
                    continue;
                }
                if at::is_whiteout(&stat(dir.as_fd(), &name, path)?) {
                    whited.insert(name);
                } else {
                    shown.insert(name);
                }
            }
        }
        Ok(shown.into_iter().collect())
    }

    fn push(&mut self, path: &[u8], kind: ChangeKind) {
        self.out.push(RawChange { path: path.to_vec(), kind });
    }
}

/// What the lower directories (topmost first) show for `name`: the topmost entry decides,
/// a whiteout meaning nothing. For a directory, the layers it shows through in.
fn lookup(dirs: &[OwnedFd], layers: &[usize], name: &[u8]) -> nix::Result<Option<Lower>> {
    let mut found: Option<Lower> = None;
    for (i, dir) in dirs.iter().enumerate() {
        let Some(stat) = at::stat_at(dir.as_fd(), name)? else {
            continue;
        };
        if found.is_none() && at::is_whiteout(&stat) {
            return Ok(None);
        }
        let is_dir = at::kind(&stat) == libc::S_IFDIR;
        let entry = found.get_or_insert(Lower { stat, at: i, dirs: Vec::new() });
        // Only directories merge with what is below them, and only down to an opaque one.
        if !is_dir {
            break;
        }
        entry.dirs.push(layers[i]);
        if is_opaque(dir.as_fd(), name).map_err(|e| io_errno(&e))? {
            break;
        }
    }
    Ok(found)
}

fn is_opaque(dir: BorrowedFd, name: &[u8]) -> std::io::Result<bool> {
    let path = at::proc_path(dir, Some(name));
    match xattr::get(path, OVERLAY_OPAQUE_XATTR) {
        Ok(value) => Ok(value.as_deref() == Some(b"y")),
        Err(e) if e.raw_os_error() == Some(libc::ENOTSUP) => Ok(false),
        Err(e) => Err(e),
    }
}

fn io_errno(e: &std::io::Error) -> nix::errno::Errno {
    nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO))
}

fn stat(dir: BorrowedFd, name: &[u8], path: &[u8]) -> Result<FileStat, ArchiveError> {
    at::stat_at(dir, name).and_then(|s| s.ok_or(nix::errno::Errno::ENOENT)).map_err(|e| source_error(path, e))
}

/// A directory that is unchanged itself but has changes inside is listed as modified, before
/// them (`mark` is where its changes start).
fn list_changed_dir(out: &mut Vec<RawChange>, mark: usize, path: &[u8], own: Option<ChangeKind>) {
    if own.is_none() && out.len() > mark {
        out.insert(mark, RawChange { path: path.to_vec(), kind: ChangeKind::Modified });
    }
}

/// `Modified` when `name` differs between `lower` and `upper`.
fn modified(
    lower: BorrowedFd,
    upper: BorrowedFd,
    name: &[u8],
    old: &FileStat,
    new: &FileStat,
    path: &[u8],
) -> Result<Option<ChangeKind>, ArchiveError> {
    let changed = differs(lower, upper, name, old, new).map_err(|e| source_error_io(path, e))?;
    Ok(changed.then_some(ChangeKind::Modified))
}

/// Whether `name` changed from `old` (in `lower`) to `new` (in `upper`), by metadata only.
fn differs(lower: BorrowedFd, upper: BorrowedFd, name: &[u8], old: &FileStat, new: &FileStat) -> std::io::Result<bool> {
    let is_dir = at::kind(new) == libc::S_IFDIR;
    if old.st_mode != new.st_mode
        || (old.st_uid, old.st_gid, old.st_rdev) != (new.st_uid, new.st_gid, new.st_rdev)
        || (!is_dir && (old.st_size != new.st_size || !same_mtime(old, new)))
    {
        return Ok(true);
    }
    if at::kind(new) == libc::S_IFLNK {
        let old_target = readlinkat(Some(lower.as_raw_fd()), name)?;
        let new_target = readlinkat(Some(upper.as_raw_fd()), name)?;
        if old_target != new_target {
            return Ok(true);
        }
    }
    Ok(own_xattrs(lower, name)? != own_xattrs(upper, name)?)
}

/// A file's xattrs without overlayfs' bookkeeping (origin, impure, opaque), which copy-up adds
/// without the file changing.
fn own_xattrs(dir: BorrowedFd, name: &[u8]) -> std::io::Result<Vec<(std::ffi::OsString, Vec<u8>)>> {
    let mut xattrs = at::xattrs(dir, Some(name))?;
    xattrs.retain(|(key, _)| !key.as_bytes().starts_with(b"trusted.overlay."));
    Ok(xattrs)
}

/// Equal modification times; as Docker, a zero nanosecond part (a file system or copy without
/// them) matches any.
fn same_mtime(old: &FileStat, new: &FileStat) -> bool {
    old.st_mtime == new.st_mtime
        && (old.st_mtime_nsec == new.st_mtime_nsec || old.st_mtime_nsec == 0 || new.st_mtime_nsec == 0)
}

#[cfg(test)]
mod tests;
