//! The `local` driver's options (`--opt type=... --opt device=... --opt o=...`). berth mounts
//! the two kinds it can do without trusting a device or the network: a tmpfs
//! (`type=tmpfs`) and a bind of a host directory (`type=none,o=bind,device=/path`). The
//! mount is made on the volume's `_data` when the first container using it starts and
//! undone when the last one stops.

use super::VolumeError;
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use std::collections::BTreeMap;
use std::io;
use std::path::Path;

/// Data options a tmpfs volume may carry.
const TMPFS_DATA: &[&str] = &["size", "mode", "uid", "gid", "nr_inodes", "nr_blocks"];

/// What the options ask the driver to mount, if anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backing {
    /// A plain directory (no options).
    Directory,
    Tmpfs {
        device: String,
        flags: MsFlags,
        data: String,
    },
    Bind {
        device: String,
        recursive: bool,
        readonly: bool,
    },
}

/// Refuses options berth's local driver cannot honour, with what it can do instead.
pub fn check_options(name: &str, options: &BTreeMap<String, String>) -> Result<(), VolumeError> {
    backing(options).map(drop).map_err(|message| VolumeError::InvalidOptions { name: name.to_string(), message })
}

/// Reads the `type`, `device` and `o` options.
pub fn backing(options: &BTreeMap<String, String>) -> Result<Backing, String> {
    if let Some(key) = options.keys().find(|k| !matches!(k.as_str(), "type" | "device" | "o")) {
        return Err(format!("invalid option: {key:?} (the local driver takes type, device and o)"));
    }
    if options.is_empty() {
        return Ok(Backing::Directory);
    }
    let kind = options.get("type").map(String::as_str).unwrap_or("");
    let device = options.get("device").cloned().unwrap_or_default();
    let o: Vec<&str> = options.get("o").map(|o| o.split(',').filter(|x| !x.is_empty()).collect()).unwrap_or_default();
    match kind {
        "tmpfs" => tmpfs(device, &o),
        "none" | "" if o.iter().any(|x| matches!(*x, "bind" | "rbind")) => bind(device, &o),
        "" => Err("missing option type: use type=tmpfs, or type=none with o=bind and an absolute device".into()),
        other => Err(format!(
            "type {other:?} is not supported by berth's local driver, which mounts only type=tmpfs and host directories (type=none,o=bind,device=/path)"
        )),
    }
}

fn tmpfs(device: String, o: &[&str]) -> Result<Backing, String> {
    let mut flags = MsFlags::empty();
    let mut data = Vec::new();
    for opt in o {
        match *opt {
            "ro" => flags |= MsFlags::MS_RDONLY,
            "rw" => flags &= !MsFlags::MS_RDONLY,
            "noexec" => flags |= MsFlags::MS_NOEXEC,
            "nosuid" => flags |= MsFlags::MS_NOSUID,
            "nodev" => flags |= MsFlags::MS_NODEV,
            "noatime" => flags |= MsFlags::MS_NOATIME,
            "exec" | "suid" | "dev" | "atime" => {}
            other if TMPFS_DATA.contains(&other.split('=').next().unwrap_or("")) && other.contains('=') => {
                data.push(other.to_string())
            }
            other => {
                return Err(format!(
                "invalid tmpfs option {other:?} in o: use size, mode, uid, gid, nr_inodes, ro, noexec, nosuid, nodev"
            ))
            }
        }
    }
    let device = if device.is_empty() { "tmpfs".to_string() } else { device };
    Ok(Backing::Tmpfs { device, flags, data: data.join(",") })
}

fn bind(device: String, o: &[&str]) -> Result<Backing, String> {
    if !device.starts_with('/') {
        return Err(format!("a bind volume needs an absolute host path as device, got {device:?}"));
    }
    let mut readonly = false;
    for opt in o {
        match *opt {
            "bind" | "rbind" | "rw" => {}
            "ro" => readonly = true,
            other => return Err(format!("invalid bind option {other:?} in o: use bind or rbind, and ro or rw")),
        }
    }
    Ok(Backing::Bind { device, recursive: o.contains(&"rbind"), readonly })
}

/// Mounts what the options ask for on `data` (the volume's `_data`), unless it is there.
pub fn mount_backing(options: &BTreeMap<String, String>, data: &Path) -> Result<(), String> {
    let backing = backing(options)?;
    if backing == Backing::Directory || is_mounted(data) {
        return Ok(());
    }
    let fail = |e: nix::errno::Errno| format!("cannot mount the volume's {backing:?} on {}: {e}", data.display());
    match &backing {
        Backing::Directory => Ok(()),
        Backing::Tmpfs { device, flags, data: options } => {
            let options = Some(options.as_str()).filter(|o| !o.is_empty());
            mount(Some(device.as_str()), data, Some("tmpfs"), *flags, options).map_err(fail)
        }
        Backing::Bind { device, recursive, readonly } => {
            if !Path::new(device).is_dir() {
                return Err(format!("cannot mount the volume: its device {device} is not a directory on the host"));
            }
            let rec = if *recursive { MsFlags::MS_REC } else { MsFlags::empty() };
            mount(Some(device.as_str()), data, None::<&str>, MsFlags::MS_BIND | rec, None::<&str>).map_err(fail)?;
            if *readonly {
                let flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY;
                if let Err(e) = mount(None::<&str>, data, None::<&str>, flags, None::<&str>) {
                    let _ = umount2(data, MntFlags::MNT_DETACH);
                    return Err(fail(e));
                }
            }
            Ok(())
        }
    }
}

/// Undoes every mount on `data`; nothing to do is no error.
pub fn unmount(data: &Path) -> io::Result<()> {
    for _ in 0..16 {
        if !is_mounted(data) {
            return Ok(());
        }
        umount2(data, MntFlags::MNT_DETACH).map_err(io::Error::from)?;
    }
    Err(io::Error::other(format!("{} stays mounted", data.display())))
}

/// Whether something is mounted exactly on `path` in the daemon's mount namespace.
pub fn is_mounted(path: &Path) -> bool {
    let Ok(path) = path.canonicalize() else { return false };
    let Ok(table) = std::fs::read_to_string("/proc/self/mountinfo") else { return false };
    let wanted = path.to_string_lossy();
    table.lines().filter_map(|l| l.split(' ').nth(4)).any(|point| unescape(point) == wanted)
}

/// mountinfo writes space, tab, newline and backslash as `\ooo`.
fn unescape(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .and_then(|d| std::str::from_utf8(d).ok())
            .and_then(|d| u8::from_str_radix(d, 8).ok());
        match (bytes[i], octal) {
            (b'\\', Some(b)) => {
                out.push(b);
                i += 4;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn no_options_is_a_directory() {
        assert_eq!(backing(&BTreeMap::new()), Ok(Backing::Directory));
    }

    #[test]
    fn tmpfs_and_bind_are_read() {
        let b = backing(&opts(&[("type", "tmpfs"), ("device", "tmpfs"), ("o", "size=1m,uid=1000,noexec")])).unwrap();
        assert_eq!(
            b,
            Backing::Tmpfs { device: "tmpfs".into(), flags: MsFlags::MS_NOEXEC, data: "size=1m,uid=1000".into() }
        );
        let b = backing(&opts(&[("type", "none"), ("device", "/srv/x"), ("o", "bind,ro")])).unwrap();
        assert_eq!(b, Backing::Bind { device: "/srv/x".into(), recursive: false, readonly: true });
    }

    #[test]
    fn unsafe_or_unknown_options_are_refused() {
        for bad in [
            opts(&[("foo", "bar")]),
            opts(&[("type", "nfs"), ("o", "addr=10.0.0.1"), ("device", ":/export")]),
            opts(&[("type", "ext4"), ("device", "/dev/sdb1")]),
            opts(&[("type", "none"), ("device", "relative"), ("o", "bind")]),
            opts(&[("type", "tmpfs"), ("o", "huge=always")]),
            opts(&[("device", "/srv")]),
        ] {
            assert!(backing(&bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn mountinfo_escapes_are_read() {
        assert_eq!(unescape(r"/a\040b\134c"), r"/a b\c");
        assert_eq!(unescape("/plain"), "/plain");
    }
}
