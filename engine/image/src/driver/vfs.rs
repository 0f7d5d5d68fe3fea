//! vfs: every layer directory holds the whole tree up to that layer, and a container's root is
//! a full copy of its image's top layer. Slow and large, but it needs nothing from the kernel.

use super::{io_error, Driver, DriverError};
use crate::archive::{self, ApplyOptions, ApplyStats, Change, LayerDigest, Whiteouts};
use crate::fsutil::copy_tree;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

pub struct Vfs;

fn root_of(rw: &Path) -> PathBuf {
    rw.join("root")
}

/// The tree a container started from: its image's top layer, or nothing.
fn base(layers: &[PathBuf], rw: &Path) -> PathBuf {
    layers.first().cloned().unwrap_or_else(|| rw.join("empty"))
}

impl Driver for Vfs {
    fn name(&self) -> &'static str {
        "vfs"
    }

    fn apply(&self, parent: Option<&Path>, dir: &Path, tar: &mut dyn Read) -> Result<ApplyStats, DriverError> {
        if let Some(parent) = parent {
            copy_tree(parent, dir).map_err(io_error("copy the parent layer into", dir))?;
        }
        let options = ApplyOptions { whiteouts: Whiteouts::Apply, ..ApplyOptions::default() };
        Ok(archive::apply_layer(tar, dir, &options)?)
    }

    fn mount(&self, layers: &[PathBuf], rw: &Path) -> Result<PathBuf, DriverError> {
        let root = root_of(rw);
        if !root.exists() {
            let partial = rw.join("root.partial");
            let _ = std::fs::remove_dir_all(&partial);
            std::fs::create_dir_all(&partial).map_err(io_error("create", &partial))?;
            if let Some(top) = layers.first() {
                copy_tree(top, &partial).map_err(io_error("copy the image into", &partial))?;
            }
            std::fs::rename(&partial, &root).map_err(io_error("rename into place", &root))?;
        }
        Ok(root)
    }

    fn unmount(&self, _rw: &Path) -> Result<(), DriverError> {
        Ok(())
    }

    fn diff(&self, layers: &[PathBuf], rw: &Path, out: &mut dyn Write) -> Result<LayerDigest, DriverError> {
        let base = base(layers, rw);
        std::fs::create_dir_all(&base).map_err(io_error("create", &base))?;
        Ok(archive::diff_dirs(&base, &root_of(rw), out)?)
    }

    fn changes(&self, layers: &[PathBuf], rw: &Path) -> Result<Vec<Change>, DriverError> {
        let base = base(layers, rw);
        std::fs::create_dir_all(&base).map_err(io_error("create", &base))?;
        Ok(archive::changes_dirs(&base, &root_of(rw))?)
    }
}
