//! Test helpers: tree snapshots to compare, hand-made (and hostile) tars, compressed streams,
//! a sandbox that notices writes outside its root, and overlay mounts that always unmount.

use super::Compression;
use std::collections::BTreeMap;
use std::ffi::CString;
use std::fs;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use tar::{EntryType, Header};

pub(crate) const ALL_COMPRESSIONS: [Compression; 5] =
    [Compression::None, Compression::Gzip, Compression::Bzip2, Compression::Xz, Compression::Zstd];

pub(crate) fn compress(c: Compression, data: &[u8]) -> Vec<u8> {
    match c {
        Compression::None => data.to_vec(),
        Compression::Gzip => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), Default::default());
            e.write_all(data).unwrap();
            e.finish().unwrap()
        }
        Compression::Bzip2 => {
            let mut e = bzip2::write::BzEncoder::new(Vec::new(), Default::default());
            e.write_all(data).unwrap();
            e.finish().unwrap()
        }
        Compression::Xz => {
            let mut e = liblzma::write::XzEncoder::new(Vec::new(), 6);
            e.write_all(data).unwrap();
            e.finish().unwrap()
        }
        Compression::Zstd => zstd::encode_all(data, 3).unwrap(),
    }
}

/// Everything a round trip must keep about one path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Snap {
    pub kind: &'static str,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub mtime: i64,
    pub rdev: u64,
    pub content: Vec<u8>,
    pub xattrs: Vec<(String, Vec<u8>)>,
    /// For a multiply-linked file, the first path (in walk order) sharing its inode.
    pub link_group: Option<String>,
}

/// A tree as a map from relative path (`""` for the root) to its snapshot.
pub(crate) fn snapshot(root: &Path) -> BTreeMap<String, Snap> {
    let mut out = BTreeMap::new();
    let mut inodes = BTreeMap::new();
    snap_into(root, root, &mut out, &mut inodes);
    out
}

fn snap_into(root: &Path, path: &Path, out: &mut BTreeMap<String, Snap>, inodes: &mut BTreeMap<(u64, u64), String>) {
    let rel = path.strip_prefix(root).unwrap().to_string_lossy().into_owned();
    let meta = fs::symlink_metadata(path).unwrap();
    let ft = meta.file_type();
    let (kind, content) = if ft.is_dir() {
        ("dir", Vec::new())
    } else if ft.is_symlink() {
        ("symlink", fs::read_link(path).unwrap().as_os_str().as_bytes().to_vec())
    } else if ft.is_file() {
        ("file", fs::read(path).unwrap())
    } else if ft.is_char_device() {
        ("char", Vec::new())
    } else if ft.is_block_device() {
        ("block", Vec::new())
    } else if ft.is_fifo() {
        ("fifo", Vec::new())
    } else {
        ("other", Vec::new())
    };
    let link_group = (!ft.is_dir() && meta.nlink() > 1)
        .then(|| inodes.entry((meta.dev(), meta.ino())).or_insert_with(|| rel.clone()).clone());
    let mut xattrs: Vec<(String, Vec<u8>)> = xattr::list(path)
        .map(|names| {
            names
                .filter_map(|n| {
                    let v = xattr::get(path, &n).ok()??;
                    Some((n.to_string_lossy().into_owned(), v))
                })
                .collect()
        })
        .unwrap_or_default();
    xattrs.sort();
    out.insert(
        rel,
        Snap {
            kind,
            mode: meta.mode() & 0o7777,
            uid: meta.uid(),
            gid: meta.gid(),
            mtime: meta.mtime(),
            rdev: meta.rdev(),
            content,
            xattrs,
            link_group,
        },
    );
    if ft.is_dir() {
        let mut names: Vec<_> = fs::read_dir(path).unwrap().map(|e| e.unwrap().path()).collect();
        names.sort();
        for child in names {
            snap_into(root, &child, out, inodes);
        }
    }
}

/// Asserts two snapshots are equal, naming the first path that differs.
pub(crate) fn assert_same_tree(left: &BTreeMap<String, Snap>, right: &BTreeMap<String, Snap>) {
    let lk: Vec<_> = left.keys().collect();
    let rk: Vec<_> = right.keys().collect();
    assert_eq!(lk, rk, "the trees hold different paths");
    for (path, l) in left {
        assert_eq!(Some(l), right.get(path), "{path:?} differs");
    }
}

/// A tar built by hand, header by header, so it can hold what no well-behaved writer would.
#[derive(Default)]
pub(crate) struct RawTar(pub Vec<u8>);

impl RawTar {
    pub fn new() -> Self {
        RawTar(Vec::new())
    }

    /// An entry with its name and link name written raw into the header (up to 100 bytes).
    pub fn entry(mut self, name: &[u8], ty: EntryType, link: &[u8], data: &[u8]) -> Self {
        let mut h = Header::new_gnu();
        h.as_old_mut().name[..name.len()].copy_from_slice(name);
        h.as_old_mut().linkname[..link.len()].copy_from_slice(link);
        h.set_entry_type(ty);
        h.set_mode(if ty == EntryType::Directory { 0o755 } else { 0o644 });
        h.set_size(data.len() as u64);
        h.set_mtime(1_600_000_000);
        h.set_cksum();
        self.0.extend_from_slice(h.as_bytes());
        self.0.extend_from_slice(data);
        let pad = (512 - data.len() % 512) % 512;
        self.0.extend(std::iter::repeat_n(0, pad));
        self
    }

    pub fn file(self, name: &str, data: &[u8]) -> Self {
        self.entry(name.as_bytes(), EntryType::Regular, b"", data)
    }

    pub fn dir(self, name: &str) -> Self {
        self.entry(name.as_bytes(), EntryType::Directory, b"", b"")
    }

    pub fn symlink(self, name: &str, target: &str) -> Self {
        self.entry(name.as_bytes(), EntryType::Symlink, target.as_bytes(), b"")
    }

    pub fn hardlink(self, name: &str, target: &str) -> Self {
        self.entry(name.as_bytes(), EntryType::Link, target.as_bytes(), b"")
    }

    /// A header declaring `size` bytes followed by only `present` of them, and no end.
    pub fn truncated(mut self, name: &str, size: u64, present: usize) -> Vec<u8> {
        let mut h = Header::new_gnu();
        h.set_path(name).unwrap();
        h.set_entry_type(EntryType::Regular);
        h.set_mode(0o644);
        h.set_size(size);
        h.set_cksum();
        self.0.extend_from_slice(h.as_bytes());
        self.0.extend(std::iter::repeat_n(b'x', present));
        self.0
    }

    pub fn finish(mut self) -> Vec<u8> {
        self.0.extend_from_slice(&[0; 1024]);
        self.0
    }
}

/// A temporary directory holding `root/` (where archives go) and `sentinel/` beside it; any
/// change outside `root/` is a test failure.
pub(crate) struct Sandbox {
    pub dir: tempfile::TempDir,
    pub root: PathBuf,
    before: BTreeMap<String, Snap>,
}

impl Sandbox {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        fs::create_dir(&root).unwrap();
        let sentinel = dir.path().join("sentinel");
        fs::create_dir(&sentinel).unwrap();
        fs::write(sentinel.join("passwd"), "root:x:0:0::/root:/bin/sh\n").unwrap();
        fs::write(dir.path().join("x"), "beside the root\n").unwrap();
        let before = Self::outside(dir.path());
        Sandbox { dir, root, before }
    }

    pub fn sentinel(&self) -> PathBuf {
        self.dir.path().join("sentinel")
    }

    fn outside(dir: &Path) -> BTreeMap<String, Snap> {
        let mut all = snapshot(dir);
        all.retain(|path, _| path != "root" && !path.starts_with("root/"));
        all
    }

    /// Asserts nothing outside the root changed (the root's own metadata included).
    pub fn assert_outside_unchanged(&self) {
        assert_same_tree(&self.before, &Self::outside(self.dir.path()));
    }
}

/// An overlay mount, unmounted when dropped, even when the test panics.
pub(crate) struct OverlayMount {
    pub merged: PathBuf,
}

impl OverlayMount {
    pub fn new(lowers: &[&Path], upper: &Path, work: &Path, merged: &Path) -> Self {
        let lowerdir: Vec<_> = lowers.iter().map(|l| l.display().to_string()).collect();
        let options =
            format!("lowerdir={},upperdir={},workdir={}", lowerdir.join(":"), upper.display(), work.display());
        nix::mount::mount(
            Some("overlay"),
            merged,
            Some("overlay"),
            nix::mount::MsFlags::empty(),
            Some(options.as_str()),
        )
        .expect("mount overlay");
        OverlayMount { merged: merged.to_path_buf() }
    }
}

impl Drop for OverlayMount {
    fn drop(&mut self) {
        let _ = nix::mount::umount2(&self.merged, nix::mount::MntFlags::MNT_DETACH);
    }
}

/// Creates a device or fifo node.
pub(crate) fn mknod(path: &Path, kind: nix::sys::stat::SFlag, major: u64, minor: u64) {
    let dev = nix::sys::stat::makedev(major, minor);
    let mode = nix::sys::stat::Mode::from_bits_truncate(0o644);
    nix::sys::stat::mknod(path, kind, mode, dev).unwrap();
}

/// Sets a file's times (not following a symlink) to whole seconds.
pub(crate) fn set_mtime(path: &Path, secs: i64) {
    let t = nix::sys::time::TimeSpec::new(secs, 0);
    nix::sys::stat::utimensat(None, path, &t, &t, nix::sys::stat::UtimensatFlags::NoFollowSymlink).unwrap();
}

pub(crate) fn chown(path: &Path, uid: u32, gid: u32) {
    let c = CString::new(path.as_os_str().as_bytes()).unwrap();
    nix::unistd::fchownat(
        None,
        c.as_c_str(),
        Some(nix::unistd::Uid::from_raw(uid)),
        Some(nix::unistd::Gid::from_raw(gid)),
        nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
    )
    .unwrap();
}

/// The names of a tar's entries, in order, with their types.
pub(crate) fn entry_names(tar: &[u8]) -> Vec<(String, EntryType)> {
    let mut archive = tar::Archive::new(tar);
    archive
        .entries()
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let name = String::from_utf8_lossy(&e.path_bytes()).into_owned();
            (name, e.header().entry_type())
        })
        .collect()
}

/// A tree with one of everything a layer holds: modes with setuid/setgid/sticky, owners,
/// xattrs, symlinks (absolute and relative), hard links, devices, a fifo, long names, a file
/// larger than the copy buffer, and whole-second times on everything.
pub(crate) fn rich_tree(root: &Path) {
    use nix::sys::stat::SFlag;
    use std::os::unix::fs::{symlink, PermissionsExt};
    let mkdir = |p: &str, mode: u32| {
        let path = root.join(p);
        fs::create_dir_all(&path).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
    };
    let file = |p: &str, data: &[u8], mode: u32| {
        let path = root.join(p);
        fs::write(&path, data).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
    };
    mkdir("etc", 0o755);
    file("etc/passwd", b"root:x:0:0::/root:/bin/sh\n", 0o644);
    file("etc/shadow", b"root:*:1::::::\n", 0o640);
    chown(&root.join("etc/shadow"), 0, 42);
    xattr::set(root.join("etc/passwd"), "user.note", b"hello").unwrap();
    mkdir("bin", 0o755);
    let big: Vec<u8> = (0..(3 << 20) + 7).map(|i: u32| (i % 251) as u8).collect();
    file("bin/busybox", &big, 0o755);
    xattr::set(root.join("bin/busybox"), "trusted.blob", b"bin\0ary").unwrap();
    symlink("/bin/busybox", root.join("bin/sh")).unwrap();
    symlink("busybox", root.join("bin/ls")).unwrap();
    mkdir("usr/bin", 0o755);
    file("usr/bin/su", b"su", 0o4755);
    file("usr/bin/wall", b"wall", 0o2755);
    chown(&root.join("usr/bin/wall"), 0, 5);
    // chown clears setgid: set the mode again after it.
    fs::set_permissions(root.join("usr/bin/wall"), fs::Permissions::from_mode(0o2755)).unwrap();
    mkdir("tmp", 0o1777);
    mkdir("home/user", 0o700);
    chown(&root.join("home/user"), 1000, 1000);
    file("home/user/.profile", b"", 0o600);
    chown(&root.join("home/user/.profile"), 1000, 1000);
    mkdir("data", 0o750);
    xattr::set(root.join("data"), "user.dir", b"d").unwrap();
    file("data/a", b"linked", 0o644);
    fs::hard_link(root.join("data/a"), root.join("data/b")).unwrap();
    fs::hard_link(root.join("data/a"), root.join("data/c")).unwrap();
    mkdir("dev", 0o755);
    mknod(&root.join("dev/null"), SFlag::S_IFCHR, 1, 3);
    mknod(&root.join("dev/loop0"), SFlag::S_IFBLK, 7, 0);
    mknod(&root.join("dev/initctl"), SFlag::S_IFIFO, 0, 0);
    let long_dir = format!("long/{}/{}", "d".repeat(90), "e".repeat(90));
    mkdir(&long_dir, 0o755);
    file(&format!("{long_dir}/{}", "f".repeat(120)), b"long", 0o644);
    symlink("t".repeat(150), root.join("long/target")).unwrap();
    mkdir("empty", 0o755);
    fs::write(root.join(std::ffi::OsStr::from_bytes(b"caf\xe9")), b"latin-1").unwrap();
    set_all_times(root);
}

/// Gives every path of a tree its own whole-second modification time.
pub(crate) fn set_all_times(root: &Path) {
    for (i, path) in all_paths(root).iter().enumerate() {
        set_mtime(path, 1_500_000_000 + i as i64 * 1000);
    }
}

/// Every path of a tree, the root first, sorted.
fn all_paths(root: &Path) -> Vec<PathBuf> {
    let mut out = vec![root.to_path_buf()];
    if fs::symlink_metadata(root).unwrap().is_dir() {
        let mut children: Vec<_> = fs::read_dir(root).unwrap().map(|e| e.unwrap().path()).collect();
        children.sort();
        for child in children {
            out.extend(all_paths(&child));
        }
    }
    out
}

/// A lower layer, an overlay mount on it, and changes made through the mount: a file added,
/// one modified, one deleted, a directory replaced by an empty one (opaque), a file deleted
/// in a subdirectory. Returns (lower, upper, snapshot of the merged view).
pub(crate) fn overlay_scenario(base: &Path) -> (PathBuf, PathBuf, BTreeMap<String, Snap>) {
    let [lower, upper, work, merged] = ["lower", "upper", "work", "merged"].map(|d| {
        let path = base.join(d);
        fs::create_dir(&path).unwrap();
        path
    });
    fs::create_dir_all(lower.join("replace")).unwrap();
    fs::create_dir_all(lower.join("sub")).unwrap();
    for f in ["keep", "modify", "delete-me", "replace/a", "replace/b", "sub/x", "sub/y"] {
        fs::write(lower.join(f), format!("lower {f}")).unwrap();
    }
    set_all_times(&lower);
    let mount = OverlayMount::new(&[&lower], &upper, &work, &merged);
    let m = &mount.merged;
    fs::write(m.join("new"), "added").unwrap();
    fs::write(m.join("modify"), "modified content").unwrap();
    fs::remove_file(m.join("delete-me")).unwrap();
    fs::remove_dir_all(m.join("replace")).unwrap();
    fs::create_dir(m.join("replace")).unwrap();
    fs::write(m.join("replace/c"), "c").unwrap();
    fs::remove_file(m.join("sub/x")).unwrap();
    let view = snapshot(m);
    drop(mount);
    (lower, upper, view)
}
