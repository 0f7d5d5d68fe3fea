//! The image store: layers, storage drivers (overlay, vfs), tar apply/diff with whiteouts,
//! repositories and tags, and the `docker save` format. Knows nothing of HTTP or containers.

pub mod archive;
pub mod driver;
pub mod fsutil;
pub mod import;
pub mod reference;
pub mod save;
pub mod store;
mod tee;

pub use reference::Reference;
pub use store::{ContainerUse, ErrorKind, Image, KeepTar, Layer, PinnedLayer, Store, StoreError};
