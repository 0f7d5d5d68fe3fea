//! Paths inside a container as its processes see them: resolved within the container's root
//! (symlinks followed but never out of it), and mapped to the daemon's own files for the
//! paths berth mounts over (/etc/hostname, /etc/hosts, /etc/resolv.conf, binds).

use super::record::{Container, Paths};
use std::path::{Component, Path, PathBuf};

/// How many symlinks one resolution may follow (as the kernel's limit).
const MAX_LINKS: usize = 40;

/// The host path of `path` inside the container whose root is `root`.
pub fn resolve(record: &Container, paths: &Paths, root: &Path, path: &str) -> Result<PathBuf, String> {
    let clean = lexical(path);
    for (inside, host) in mounted(record, paths) {
        if clean == inside {
            return Ok(host);
        }
        if let Ok(rest) = clean.strip_prefix(&inside) {
            if host.is_dir() {
                return within(&host, &rest.to_string_lossy());
            }
        }
    }
    within(root, &clean.to_string_lossy())
}

/// The paths berth mounts over the root, with where they come from on the host.
fn mounted(record: &Container, paths: &Paths) -> Vec<(PathBuf, PathBuf)> {
    let mut out = vec![
        (PathBuf::from("/etc/hostname"), paths.hostname()),
        (PathBuf::from("/etc/hosts"), paths.hosts()),
        (PathBuf::from("/etc/resolv.conf"), paths.resolv_conf()),
    ];
    for bind in record.host_config.binds.iter().flatten() {
        let parts: Vec<&str> = bind.split(':').collect();
        if parts.len() >= 2 && parts[0].starts_with('/') {
            out.push((lexical(parts[1]), PathBuf::from(parts[0])));
        }
    }
    out
}

/// `..` and `.` removed, as an absolute path.
fn lexical(path: &str) -> PathBuf {
    let mut out = PathBuf::from("/");
    for component in Path::new(path).components() {
        match component {
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(part) => out.push(part),
            _ => {}
        }
    }
    out
}

/// Resolves `path` below `root` as if `root` were `/`: symlinks (absolute ones from `root`)
/// are followed, `..` stops at `root`.
pub fn within(root: &Path, path: &str) -> Result<PathBuf, String> {
    let mut pending: Vec<String> = Path::new(path)
        .components()
        .rev()
        .filter_map(|c| match c {
            Component::Normal(p) => Some(p.to_string_lossy().into_owned()),
            Component::ParentDir => Some("..".into()),
            _ => None,
        })
        .collect();
    let mut current = PathBuf::new();
    let mut links = 0;
    while let Some(part) = pending.pop() {
        if part == ".." {
            current.pop();
            continue;
        }
        let candidate = root.join(&current).join(&part);
        match std::fs::symlink_metadata(&candidate) {
            Ok(meta) if meta.file_type().is_symlink() => {
                links += 1;
                if links > MAX_LINKS {
                    return Err(format!("too many symbolic links resolving {path}"));
                }
                let target = std::fs::read_link(&candidate).map_err(|e| e.to_string())?;
                if target.is_absolute() {
                    current = PathBuf::new();
                }
                pending.extend(target.components().rev().filter_map(|c| match c {
                    Component::Normal(p) => Some(p.to_string_lossy().into_owned()),
                    Component::ParentDir => Some("..".into()),
                    _ => None,
                }));
            }
            _ => current.push(&part),
        }
    }
    Ok(root.join(current))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symlinks_stay_inside_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("usr/bin")).unwrap();
        std::os::unix::fs::symlink("/usr/bin", root.join("bin")).unwrap();
        std::os::unix::fs::symlink("../../../../etc", root.join("usr/escape")).unwrap();
        assert_eq!(within(root, "/bin/sh").unwrap(), root.join("usr/bin/sh"));
        assert_eq!(within(root, "/usr/escape/passwd").unwrap(), root.join("etc/passwd"));
        assert_eq!(within(root, "/../../etc").unwrap(), root.join("etc"));
        std::os::unix::fs::symlink("loop", root.join("loop")).unwrap();
        assert!(within(root, "/loop/x").is_err());
    }
}
