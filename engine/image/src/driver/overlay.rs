//! overlay: each layer directory holds only that layer's files (whiteouts as overlayfs writes
//! them), and a container's root is an overlayfs mount of the image's layers under the
//! container's own upper directory. Mounting is one syscall and unmounting leaves nothing.

use super::{io_error, Driver, DriverError};
use crate::archive::{self, ApplyOptions, ApplyStats, Change, LayerDigest, Whiteouts};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use std::io::{Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The kernel refuses mount options longer than a page.
const MAX_OPTIONS: usize = 4000;

pub struct Overlay {
    /// A directory that stays empty: the lower layer of containers of layer-less images.
    empty: PathBuf,
}

impl Overlay {
    pub fn new(scratch: &Path) -> Overlay {
        Overlay { empty: scratch.join("empty") }
    }
}

/// Mounts and unmounts a tiny overlay in `scratch`, to learn whether overlay works here.
pub fn probe(scratch: &Path) -> Result<(), DriverError> {
    let dir = scratch.join(format!("probe-{}", std::process::id()));
    let result = (|| {
        for sub in ["lower", "upper", "work", "merged"] {
            std::fs::create_dir_all(dir.join(sub)).map_err(|e| DriverError::OverlayUnusable(e.to_string()))?;
        }
        let layers = [dir.join("lower")];
        mount_overlay(&layers, &dir.join("upper"), &dir.join("work"), &dir.join("merged"))
            .map_err(|e| DriverError::OverlayUnusable(e.to_string()))?;
        umount2(&dir.join("merged"), MntFlags::MNT_DETACH).map_err(|e| DriverError::OverlayUnusable(e.to_string()))
    })();
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn mount_overlay(layers: &[PathBuf], upper: &Path, work: &Path, merged: &Path) -> Result<(), DriverError> {
    let lower: Vec<String> = layers.iter().map(|p| p.display().to_string()).collect();
    let options = format!("lowerdir={},upperdir={},workdir={}", lower.join(":"), upper.display(), work.display());
    if options.len() > MAX_OPTIONS {
        return Err(DriverError::TooManyLayers { layers: layers.len(), bytes: options.len() });
    }
    mount(Some("overlay"), merged, Some("overlay"), MsFlags::empty(), Some(options.as_str()))
        .map_err(|source| DriverError::Mount { rw: merged.to_path_buf(), source })
}

/// True when something is mounted on `path` (its device differs from its parent's).
fn is_mounted(path: &Path) -> bool {
    let dev = |p: &Path| std::fs::symlink_metadata(p).map(|m| m.dev()).ok();
    match (dev(path), path.parent().and_then(dev)) {
        (Some(a), Some(b)) => a != b,
        _ => false,
    }
}

impl Driver for Overlay {
    fn name(&self) -> &'static str {
        "overlay"
    }

    fn apply(&self, _parent: Option<&Path>, dir: &Path, tar: &mut dyn Read) -> Result<ApplyStats, DriverError> {
        let options = ApplyOptions { whiteouts: Whiteouts::Overlay, ..ApplyOptions::default() };
        Ok(archive::apply_layer(tar, dir, &options)?)
    }

    fn mount(&self, layers: &[PathBuf], rw: &Path) -> Result<PathBuf, DriverError> {
        let merged = rw.join("merged");
        if is_mounted(&merged) {
            return Ok(merged);
        }
        for dir in [rw.join("upper"), rw.join("work"), merged.clone(), self.empty.clone()] {
            std::fs::create_dir_all(&dir).map_err(io_error("create", &dir))?;
        }
        let lowers: Vec<PathBuf> = if layers.is_empty() { vec![self.empty.clone()] } else { layers.to_vec() };
        mount_overlay(&lowers, &rw.join("upper"), &rw.join("work"), &merged)?;
        Ok(merged)
    }

    fn unmount(&self, rw: &Path) -> Result<(), DriverError> {
        let merged = rw.join("merged");
        if !is_mounted(&merged) {
            return Ok(());
        }
        match umount2(&merged, MntFlags::MNT_DETACH) {
            // Someone else unmounted it since the check: the wanted end state.
            Err(nix::errno::Errno::EINVAL) if !is_mounted(&merged) => Ok(()),
            other => other.map_err(|source| DriverError::Unmount { path: merged, source }),
        }
    }

    fn diff(&self, _layers: &[PathBuf], rw: &Path, out: &mut dyn Write) -> Result<LayerDigest, DriverError> {
        let upper = rw.join("upper");
        std::fs::create_dir_all(&upper).map_err(io_error("create", &upper))?;
        Ok(archive::diff_overlay(&upper, out)?)
    }

    fn changes(&self, layers: &[PathBuf], rw: &Path) -> Result<Vec<Change>, DriverError> {
        let lowers: Vec<&Path> = layers.iter().map(PathBuf::as_path).collect();
        Ok(archive::changes_overlay(&rw.join("upper"), &lowers)?)
    }
}
