//! The image store: layers, storage drivers (overlay, vfs), tar apply/diff with whiteouts,
//! repositories and tags, save/load formats. Filled in by the image store issue.
