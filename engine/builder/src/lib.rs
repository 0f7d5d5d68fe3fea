//! The builder: runs parsed Dockerfile instructions against the engine (through the
//! [`Backend`] trait the daemon implements) and keeps the build cache in the image graph.

mod backend;
mod build;
pub mod context;
mod error;
pub mod ignore;
mod sources;

pub use backend::{Backend, BuiltImage, PathKind, Ran, RunOutput};
pub use build::{parse, run, Options};
pub use context::Context;
pub use error::BuildError;

#[cfg(test)]
mod tests;
