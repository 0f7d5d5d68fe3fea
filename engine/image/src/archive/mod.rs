//! Layer tars: applying them to a directory (with Docker's `.wh.` whiteouts written as overlay
//! whiteouts or applied in place), turning a container's changes back into a layer tar, the
//! changes `docker diff` lists, and whole trees as tars for export, save and `docker cp`.
//!
//! Applying is the security boundary of the image store: every write goes through a directory
//! descriptor of the root resolved with `openat2(RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS)`, so an
//! archive can never write outside the root, not even by racing a symlink into place.

mod apply;
mod at;
mod changes;
mod compression;
mod digest;
mod name;
#[cfg(test)]
mod testutil;
mod write;

use std::io;
use std::path::PathBuf;

pub use apply::{apply_layer, ApplyOptions, ApplyStats, Whiteouts};
pub use changes::{changes_dirs, changes_overlay, diff_dirs, Change, ChangeKind};
pub use compression::{decompressed, detect, Compression};
pub use write::{diff_overlay, write_tree, TreeOptions};

/// The prefix Docker's layer tars give a deleted file's name.
pub const WHITEOUT_PREFIX: &str = ".wh.";
/// The entry that marks its directory opaque: lower layers' contents are hidden.
pub const WHITEOUT_OPAQUE: &str = ".wh..wh..opq";
/// The xattr overlayfs marks an opaque directory with (value `y`).
pub const OVERLAY_OPAQUE_XATTR: &str = "trusted.overlay.opaque";

/// A layer tar as it was written: its diff id (`sha256:<hex>` of the uncompressed tar) and size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerDigest {
    pub diff_id: String,
    pub size: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("cannot read the layer archive: {0}")]
    Read(#[source] io::Error),
    #[error("cannot write the archive: {0}")]
    Write(#[source] io::Error),
    #[error("cannot open {path}: {source}")]
    Root {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("archive entry {entry:?} is refused: {reason}")]
    Refused { entry: String, reason: &'static str },
    #[error("archive entry {entry:?} is refused: its link target {target:?} {reason}")]
    RefusedLink { entry: String, target: String, reason: &'static str },
    #[error("archive entry {entry:?} is a {new} but the same archive already wrote it as a {old}")]
    TypeConflict { entry: String, old: &'static str, new: &'static str },
    #[error("archive entry {entry:?} declares {declared} bytes but the archive ends after {read}")]
    Truncated { entry: String, declared: u64, read: u64 },
    #[error("archive entry {entry:?} has an unsupported type {kind:?}")]
    UnsupportedType { entry: String, kind: char },
    #[error("archive entry {entry:?} has an invalid {field}: {source}")]
    InvalidHeader {
        entry: String,
        field: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("cannot {op} {entry:?}: {source}")]
    Entry {
        op: &'static str,
        entry: String,
        #[source]
        source: io::Error,
    },
    #[error("cannot archive {path:?}: {source}")]
    Source {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error("{path:?} is nested deeper than {max} directories")]
    TooDeep { path: String, max: usize },
}

/// Directory nesting the walks accept; deeper trees cannot come from a tar anyway (PATH_MAX).
pub(crate) const MAX_DEPTH: usize = 2048;

/// A name for messages: tar names and file names are bytes, most of the time UTF-8.
pub(crate) fn display(name: &[u8]) -> String {
    String::from_utf8_lossy(name).into_owned()
}
