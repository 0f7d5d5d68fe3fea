//! The container's mount namespace: the host's mounts made slave, the root file system bound
//! onto itself, /proc, /sys, a /dev tmpfs with Docker's device nodes, devpts, shm and mqueue,
//! the daemon's mounts (volumes, tmpfs, /etc/hosts...), pivot_root, then masked and read-only
//! paths and the read-only root. Everything here runs in the container's init before exec.

use crate::fsutil::{create_mount_point, mkdir_all, secure_join};
use crate::spec::{Mount, Propagation, Spec};
use nix::errno::Errno;
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::stat::{makedev, mknod, Mode, SFlag};
use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum MountError {
    #[error("couldn't mount {what} on {target}: {errno}")]
    Mount { what: String, target: PathBuf, errno: Errno },
    #[error("couldn't resolve {path} inside the container: {source}")]
    Resolve {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error("couldn't create {path}: {source}")]
    Create {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("bind mount source path does not exist: {path}")]
    NoSource { path: PathBuf },
    #[error("couldn't make device {path}: {errno}")]
    Device { path: PathBuf, errno: Errno },
    #[error("couldn't pivot_root into {root}: {errno}")]
    Pivot { root: PathBuf, errno: Errno },
}

const NOSUID_NODEV_NOEXEC: MsFlags = MsFlags::MS_NOSUID.union(MsFlags::MS_NODEV).union(MsFlags::MS_NOEXEC);

/// Docker's device nodes in an unprivileged container's /dev: (name, major, minor).
const DEVICES: [(&str, u64, u64); 6] =
    [("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8), ("urandom", 1, 9), ("tty", 5, 0)];
const DEV_LINKS: [(&str, &str); 6] = [
    ("fd", "/proc/self/fd"),
    ("stdin", "/proc/self/fd/0"),
    ("stdout", "/proc/self/fd/1"),
    ("stderr", "/proc/self/fd/2"),
    ("ptmx", "pts/ptmx"),
    ("core", "/proc/kcore"),
];
/// Hidden from unprivileged containers: files get /dev/null, directories an empty tmpfs.
const MASKED_PATHS: [&str; 10] = [
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
];
const READONLY_PATHS: [&str; 5] = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"];

/// Everything before pivot_root, with paths under the host path of the root file system.
pub fn prepare(spec: &Spec) -> Result<(), MountError> {
    let root = spec.rootfs.as_path();
    do_mount(None, Path::new("/"), None, MsFlags::MS_REC | MsFlags::MS_SLAVE, None, "/ (as slave)")?;
    do_mount(Some(root), root, None, MsFlags::MS_BIND | MsFlags::MS_REC, None, "the root file system")?;
    mount_kernel_fs(root, "/proc", "proc", NOSUID_NODEV_NOEXEC, None)?;
    let sys_ro = if spec.privileged { MsFlags::empty() } else { MsFlags::MS_RDONLY };
    mount_kernel_fs(root, "/sys", "sysfs", NOSUID_NODEV_NOEXEC | sys_ro, None)?;
    mount_dev(root, spec)?;
    for m in &spec.mounts {
        mount_user(root, m)?;
    }
    if !spec.cwd.is_empty() {
        let cwd = resolve(root, &spec.cwd)?;
        mkdir_all(&cwd).map_err(|source| MountError::Create { path: cwd, source })?;
    }
    Ok(())
}

/// /dev: a tmpfs with the standard nodes (the host's /dev when privileged), then devpts,
/// shm (the host's with `ipc_host`) and mqueue.
fn mount_dev(root: &Path, spec: &Spec) -> Result<(), MountError> {
    if spec.privileged {
        bind(root, Path::new("/dev"), "/dev")?;
    } else {
        let data = Some("mode=755,size=65536k");
        let dev = mount_kernel_fs(root, "/dev", "tmpfs", MsFlags::MS_NOSUID | MsFlags::MS_STRICTATIME, data)?;
        make_devices(&dev)?;
    }
    let pts_data = Some("newinstance,ptmxmode=0666,mode=0620,gid=5");
    mount_kernel_fs(root, "/dev/pts", "devpts", MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC, pts_data)?;
    if spec.ipc_host {
        bind(root, Path::new("/dev/shm"), "/dev/shm")?;
    } else {
        mount_kernel_fs(root, "/dev/shm", "tmpfs", NOSUID_NODEV_NOEXEC, Some("mode=1777,size=65536k"))?;
    }
    mount_kernel_fs(root, "/dev/mqueue", "mqueue", NOSUID_NODEV_NOEXEC, None).map(drop)
}

fn make_devices(dev: &Path) -> Result<(), MountError> {
    for (name, major, minor) in DEVICES {
        let path = dev.join(name);
        mknod(&path, SFlag::S_IFCHR, Mode::from_bits_truncate(0o666), makedev(major, minor))
            .map_err(|errno| MountError::Device { path, errno })?;
    }
    for (name, target) in DEV_LINKS {
        let path = dev.join(name);
        std::os::unix::fs::symlink(target, &path).map_err(|source| MountError::Create { path, source })?;
    }
    Ok(())
}

/// Mounts a kernel file system at the container path `dest` (created if missing); returns
/// the host path it went to.
fn mount_kernel_fs(
    root: &Path,
    dest: &str,
    fstype: &str,
    flags: MsFlags,
    data: Option<&str>,
) -> Result<PathBuf, MountError> {
    let target = resolve(root, dest)?;
    mkdir_all(&target).map_err(|source| MountError::Create { path: target.clone(), source })?;
    do_mount(Some(Path::new(fstype)), &target, Some(fstype), flags, data, fstype)?;
    Ok(target)
}

/// Recursively binds a host directory over the container path `dest`.
fn bind(root: &Path, source: &Path, dest: &str) -> Result<PathBuf, MountError> {
    let target = resolve(root, dest)?;
    mkdir_all(&target).map_err(|source| MountError::Create { path: target.clone(), source })?;
    let what = source.display().to_string();
    do_mount(Some(source), &target, None, MsFlags::MS_BIND | MsFlags::MS_REC, None, &what)?;
    Ok(target)
}

/// One of the daemon's mounts.
fn mount_user(root: &Path, m: &Mount) -> Result<(), MountError> {
    let target = resolve(root, m.destination())?;
    match m {
        Mount::Bind { source, readonly, propagation, .. } => {
            let meta = std::fs::metadata(source).map_err(|_| MountError::NoSource { path: source.clone() })?;
            create_mount_point(&target, meta.is_dir())
                .map_err(|source| MountError::Create { path: target.clone(), source })?;
            let what = source.display().to_string();
            do_mount(Some(source.as_path()), &target, None, MsFlags::MS_BIND | MsFlags::MS_REC, None, &what)?;
            if *readonly {
                let flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY;
                do_mount(None, &target, None, flags, None, "a read-only bind")?;
            }
            let flags = propagation_flags(propagation.unwrap_or(Propagation::Rprivate));
            do_mount(None, &target, None, flags, None, "the propagation mode")
        }
        Mount::Tmpfs { options, .. } => {
            mkdir_all(&target).map_err(|source| MountError::Create { path: target.clone(), source })?;
            let (flags, data) = tmpfs_options(options);
            let fs = Some(Path::new("tmpfs"));
            do_mount(fs, &target, Some("tmpfs"), flags, Some(data.as_str()).filter(|d| !d.is_empty()), "tmpfs")
        }
    }
}

fn propagation_flags(p: Propagation) -> MsFlags {
    match p {
        Propagation::Private => MsFlags::MS_PRIVATE,
        Propagation::Rprivate => MsFlags::MS_PRIVATE | MsFlags::MS_REC,
        Propagation::Shared => MsFlags::MS_SHARED,
        Propagation::Rshared => MsFlags::MS_SHARED | MsFlags::MS_REC,
        Propagation::Slave => MsFlags::MS_SLAVE,
        Propagation::Rslave => MsFlags::MS_SLAVE | MsFlags::MS_REC,
    }
}

/// `--tmpfs` options split into mount flags and file-system data, starting from Docker's
/// `noexec,nosuid,nodev`.
pub fn tmpfs_options(options: &str) -> (MsFlags, String) {
    let mut flags = NOSUID_NODEV_NOEXEC;
    let mut data: Vec<&str> = Vec::new();
    for opt in options.split(',').filter(|o| !o.is_empty()) {
        match flag_option(opt) {
            Some((flag, true)) => flags |= flag,
            Some((flag, false)) => flags &= !flag,
            None => data.push(opt),
        }
    }
    (flags, data.join(","))
}

/// A mount(8) flag option: the flag and whether the option sets (or clears) it.
fn flag_option(opt: &str) -> Option<(MsFlags, bool)> {
    Some(match opt {
        "ro" => (MsFlags::MS_RDONLY, true),
        "rw" => (MsFlags::MS_RDONLY, false),
        "nosuid" => (MsFlags::MS_NOSUID, true),
        "suid" => (MsFlags::MS_NOSUID, false),
        "nodev" => (MsFlags::MS_NODEV, true),
        "dev" => (MsFlags::MS_NODEV, false),
        "noexec" => (MsFlags::MS_NOEXEC, true),
        "exec" => (MsFlags::MS_NOEXEC, false),
        "sync" => (MsFlags::MS_SYNCHRONOUS, true),
        "async" => (MsFlags::MS_SYNCHRONOUS, false),
        "dirsync" => (MsFlags::MS_DIRSYNC, true),
        "noatime" => (MsFlags::MS_NOATIME, true),
        "atime" => (MsFlags::MS_NOATIME, false),
        "nodiratime" => (MsFlags::MS_NODIRATIME, true),
        "diratime" => (MsFlags::MS_NODIRATIME, false),
        "relatime" => (MsFlags::MS_RELATIME, true),
        "norelatime" => (MsFlags::MS_RELATIME, false),
        "strictatime" => (MsFlags::MS_STRICTATIME, true),
        _ => return None,
    })
}

/// Makes the prepared root file system `/` and lets go of the host's (runc's
/// `pivot_root(".", ".")`, which needs no directory for the old root).
pub fn pivot(root: &Path) -> Result<(), MountError> {
    let fail = |errno| MountError::Pivot { root: root.to_path_buf(), errno };
    let new_root = File::open(root).map_err(|e| fail(io_errno(&e)))?;
    let old_root = File::open("/").map_err(|e| fail(io_errno(&e)))?;
    nix::unistd::fchdir(new_root.as_raw_fd()).map_err(fail)?;
    nix::unistd::pivot_root(".", ".").map_err(fail)?;
    nix::unistd::fchdir(old_root.as_raw_fd()).map_err(fail)?;
    // The old root is stacked on the new one; slave first so its unmount cannot propagate.
    do_mount(None, Path::new("."), None, MsFlags::MS_SLAVE | MsFlags::MS_REC, None, "the old root (as slave)")?;
    umount2(".", MntFlags::MNT_DETACH).map_err(fail)?;
    nix::unistd::chdir("/").map_err(fail)
}

/// After pivot_root: masked and read-only paths unless privileged, then the read-only root.
pub fn finalize(spec: &Spec) -> Result<(), MountError> {
    if !spec.privileged {
        MASKED_PATHS.iter().try_for_each(|p| mask(Path::new(p)))?;
        READONLY_PATHS.iter().try_for_each(|p| make_readonly(Path::new(p)))?;
    }
    if spec.readonly_rootfs {
        let flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY;
        do_mount(None, Path::new("/"), None, flags, None, "/ read-only")?;
    }
    Ok(())
}

fn mask(path: &Path) -> Result<(), MountError> {
    let Ok(meta) = std::fs::symlink_metadata(path) else { return Ok(()) };
    if meta.is_dir() {
        let tmpfs = Some(Path::new("tmpfs"));
        do_mount(tmpfs, path, Some("tmpfs"), MsFlags::MS_RDONLY, None, "an empty tmpfs (masking)")
    } else {
        do_mount(Some(Path::new("/dev/null")), path, None, MsFlags::MS_BIND, None, "/dev/null (masking)")
    }
}

fn make_readonly(path: &Path) -> Result<(), MountError> {
    if std::fs::symlink_metadata(path).is_err() {
        return Ok(());
    }
    do_mount(Some(path), path, None, MsFlags::MS_BIND | MsFlags::MS_REC, None, "itself")?;
    let flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | NOSUID_NODEV_NOEXEC;
    do_mount(None, path, None, flags, None, "itself read-only")
}

/// Binds the pty slave over /dev/console (after pivot_root).
pub fn bind_console(slave: &str) -> Result<(), MountError> {
    let console = Path::new("/dev/console");
    create_mount_point(console, false).map_err(|source| MountError::Create { path: console.into(), source })?;
    do_mount(Some(Path::new(slave)), console, None, MsFlags::MS_BIND, None, slave)
}

fn resolve(root: &Path, path: &str) -> Result<PathBuf, MountError> {
    secure_join(root, path).map_err(|source| MountError::Resolve { path: path.to_string(), source })
}

fn do_mount(
    source: Option<&Path>,
    target: &Path,
    fstype: Option<&str>,
    flags: MsFlags,
    data: Option<&str>,
    what: &str,
) -> Result<(), MountError> {
    mount(source, target, fstype, flags, data).map_err(|errno| MountError::Mount {
        what: what.to_string(),
        target: target.to_path_buf(),
        errno,
    })
}

fn io_errno(e: &io::Error) -> Errno {
    Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tmpfs_options_split_flags_from_data() {
        let (flags, data) = tmpfs_options("size=64m,mode=1777,uid=1000,gid=1000");
        assert_eq!(flags, NOSUID_NODEV_NOEXEC);
        assert_eq!(data, "size=64m,mode=1777,uid=1000,gid=1000");
        let (flags, data) = tmpfs_options("exec,ro,size=1m");
        assert_eq!(flags, MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_RDONLY);
        assert_eq!(data, "size=1m");
    }
}
