//! Storage drivers: how layers sit on disk and how a container's root is put together from an
//! image's layers and one read-write layer (7.2). `overlay` stacks each layer's own files with
//! overlayfs; `vfs` keeps a full copy of the tree per layer and per container, and always works.

mod overlay;
mod vfs;

pub use overlay::Overlay;
pub use vfs::Vfs;

use crate::archive::{ApplyStats, ArchiveError, Change, LayerDigest};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    #[error("{0}")]
    Archive(#[from] ArchiveError),
    #[error("cannot {op} {path}: {source}")]
    Io { op: &'static str, path: PathBuf, source: io::Error },
    #[error("cannot mount the root of {rw}: {source}")]
    Mount { rw: PathBuf, source: nix::Error },
    #[error("cannot unmount {path}: {source}")]
    Unmount { path: PathBuf, source: nix::Error },
    #[error("the image has too many layers for one overlay mount ({layers} layers, {bytes} bytes of options); use the vfs driver")]
    TooManyLayers { layers: usize, bytes: usize },
    #[error("unknown storage driver {0:?}: choose overlay or vfs")]
    Unknown(String),
    #[error("storage driver overlay is not usable here: {0}")]
    OverlayUnusable(String),
}

pub(crate) fn io_error<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> DriverError + 'a {
    move |source| DriverError::Io { op, path: path.to_path_buf(), source }
}

/// How layers and container roots are stored. Layer directories are given top-most first.
pub trait Driver: Send + Sync {
    fn name(&self) -> &'static str;

    /// Fills the fresh directory `dir` with the layer `tar` on top of `parent` (another layer
    /// directory of this driver), returning the layer's diff id and size.
    fn apply(&self, parent: Option<&Path>, dir: &Path, tar: &mut dyn Read) -> Result<ApplyStats, DriverError>;

    /// Makes the container root in `rw` from `layers` plus its read-write layer, mounted if
    /// the driver mounts; returns the root's path. Calling it again is harmless.
    fn mount(&self, layers: &[PathBuf], rw: &Path) -> Result<PathBuf, DriverError>;

    /// Undoes `mount`, keeping the read-write layer's content.
    fn unmount(&self, rw: &Path) -> Result<(), DriverError>;

    /// The container's changes as a layer tar written to `out`.
    fn diff(&self, layers: &[PathBuf], rw: &Path, out: &mut dyn Write) -> Result<LayerDigest, DriverError>;

    /// The container's changes as `diff` lists them.
    fn changes(&self, layers: &[PathBuf], rw: &Path) -> Result<Vec<Change>, DriverError>;
}

/// The driver named by `-s`, or the best one this host supports: overlay when a test mount in
/// `scratch` works (it does not on top of another overlay, for instance), else vfs.
pub fn choose(name: Option<&str>, scratch: &Path) -> Result<Box<dyn Driver>, DriverError> {
    match name {
        Some("vfs") => Ok(Box::new(Vfs)),
        Some("overlay") => {
            overlay::probe(scratch)?;
            Ok(Box::new(Overlay::new(scratch)))
        }
        Some(other) => Err(DriverError::Unknown(other.to_string())),
        None => match overlay::probe(scratch) {
            Ok(()) => Ok(Box::new(Overlay::new(scratch))),
            Err(e) => {
                tracing::warn!("{e}; falling back to the vfs driver");
                Ok(Box::new(Vfs))
            }
        },
    }
}
