//! The builder: runs parsed Dockerfile instructions against the engine and keeps the build
//! cache. Filled in by the builder issue.
