//! File-system helpers the store relies on: atomic replacement, fresh temporary directories,
//! removal of trees that may hold read-only or immutable-looking entries, and sizes; and the
//! lexical cleaning of `/`-separated paths the builder and the daemon's mounts share.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Replaces `path` with `data`: readers see the old content or the new, never a part, and a
/// crash leaves at most a `*.tmp-*` file that [`clean_temporaries`] removes at the next start.
pub fn write_atomic(path: &Path, data: &[u8]) -> io::Result<()> {
    let tmp = temp_sibling(path);
    let result = (|| {
        let mut file = File::create(&tmp)?;
        file.write_all(data)?;
        file.sync_all()?;
        fs::rename(&tmp, path)?;
        sync_parent(path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Replaces `path` with `data` atomically (readers see old or new), without waiting for the
/// disk: for state that is rebuilt at start when lost (container records), where an fsync
/// per change would cost more than the change.
pub fn write_replace(path: &Path, data: &[u8]) -> io::Result<()> {
    let tmp = temp_sibling(path);
    let result = std::fs::write(&tmp, data).and_then(|_| fs::rename(&tmp, path));
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Makes a rename or creation in `path`'s directory durable.
pub fn sync_parent(path: &Path) -> io::Result<()> {
    match path.parent() {
        Some(dir) => File::open(dir)?.sync_all(),
        None => Ok(()),
    }
}

fn temp_sibling(path: &Path) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp-{}-{}", std::process::id(), unique_suffix()))
}

/// A process-wide counter, so temporary names never collide between threads.
pub fn unique_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Removes files a crash left half-written next to real ones in `dir`.
pub fn clean_temporaries(dir: &Path) -> io::Result<()> {
    let Ok(entries) = fs::read_dir(dir) else { return Ok(()) };
    for entry in entries.flatten() {
        let name = entry.file_name();
        if name.to_string_lossy().contains(".tmp-") {
            remove_tree(&entry.path())?;
        }
    }
    Ok(())
}

/// Removes a file or a whole tree; a missing path is not an error.
pub fn remove_tree(path: &Path) -> io::Result<()> {
    match fs::symlink_metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
        Ok(meta) if meta.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
    }
}

/// Copies a tree with everything a layer holds (owners, modes, times, links, devices, xattrs),
/// sharing blocks where the file system can.
pub fn copy_tree(from: &Path, to: &Path) -> io::Result<()> {
    fs::create_dir_all(to)?;
    let status =
        std::process::Command::new("cp").args(["-a", "--reflink=auto"]).arg(from.join(".")).arg(to).status()?;
    if status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!("cp -a {} {} failed ({status})", from.display(), to.display())))
    }
}

/// A path without leading `/` or `./`, `.` and empty components, and with `..` resolved
/// inside the path (never above its start): `./a/../../b/` is `b`, `/` is empty.
pub fn clean_relative(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            _ => parts.push(part),
        }
    }
    parts.join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cleaned_path_never_climbs_above_its_start() {
        assert_eq!(clean_relative("./a/../../b/"), "b");
        assert_eq!(clean_relative("/x//y/."), "x/y");
        assert_eq!(clean_relative("/"), "");
    }

    #[test]
    fn atomic_write_replaces_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.json");
        write_atomic(&path, b"one").unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn temporaries_are_cleaned() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("keep.json"), "x").unwrap();
        fs::write(dir.path().join(".keep.json.tmp-1-2"), "half").unwrap();
        fs::create_dir(dir.path().join("layer.tmp-3-4")).unwrap();
        clean_temporaries(dir.path()).unwrap();
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, ["keep.json"]);
    }
}
