//! Copy-up: a volume mounted where the image has files starts with a copy of them (and of
//! the directory's owner and mode), the first time it is used while still empty.

use std::io;
use std::path::Path;

/// Copies the image's directory at `destination` (a container path, resolved inside
/// `rootfs` so links cannot lead out of it) into the volume directory `data`, if `data` is
/// empty and the image has a directory there. Returns whether it copied.
pub fn copy_up(rootfs: &Path, destination: &str, data: &Path) -> io::Result<bool> {
    if std::fs::read_dir(data)?.next().is_some() {
        return Ok(false);
    }
    let source = berth_runtime::fsutil::secure_join(rootfs, destination)?;
    match std::fs::symlink_metadata(&source) {
        Ok(meta) if meta.is_dir() => {}
        _ => return Ok(false),
    }
    berth_image::fsutil::copy_tree(&source, data)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    #[test]
    fn copies_content_owner_and_mode_into_an_empty_volume_only() {
        let root = tempfile::tempdir().unwrap();
        let data = tempfile::tempdir().unwrap();
        let image_dir = root.path().join("srv/app");
        std::fs::create_dir_all(image_dir.join("sub")).unwrap();
        std::fs::write(image_dir.join("sub/f"), "from the image").unwrap();
        std::fs::set_permissions(&image_dir, std::fs::Permissions::from_mode(0o750)).unwrap();
        std::os::unix::fs::chown(&image_dir, Some(1000), Some(1000)).unwrap();
        assert!(copy_up(root.path(), "/srv/app", data.path()).unwrap());
        assert_eq!(std::fs::read_to_string(data.path().join("sub/f")).unwrap(), "from the image");
        let meta = std::fs::metadata(data.path()).unwrap();
        assert_eq!((meta.uid(), meta.mode() & 0o7777), (1000, 0o750));
        std::fs::write(image_dir.join("late"), "x").unwrap();
        assert!(!copy_up(root.path(), "/srv/app", data.path()).unwrap());
        assert!(!data.path().join("late").exists());
    }

    #[test]
    fn links_do_not_lead_out_of_the_root() {
        let root = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), "host").unwrap();
        std::os::unix::fs::symlink(outside.path(), root.path().join("escape")).unwrap();
        let data = tempfile::tempdir().unwrap();
        assert!(!copy_up(root.path(), "/escape", data.path()).unwrap());
        assert!(!data.path().join("secret").exists());
    }

    #[test]
    fn a_missing_path_copies_nothing() {
        let root = tempfile::tempdir().unwrap();
        let data = tempfile::tempdir().unwrap();
        assert!(!copy_up(root.path(), "/nothing/here", data.path()).unwrap());
    }
}
