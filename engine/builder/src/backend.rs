//! What the builder needs from the engine: images, their files, containers that run a
//! step, and commits. The daemon implements it over its stores; tests use a fake.

use berth_api::container::Config;
use berth_api::image::ImageConfig;
use std::io::{Read, Write};

/// An image the build stands on or made.
#[derive(Debug, Clone, PartialEq)]
pub struct BuiltImage {
    /// 64 hex characters.
    pub id: String,
    pub config: ImageConfig,
}

impl BuiltImage {
    pub fn short_id(&self) -> &str {
        &self.id[..self.id.len().min(12)]
    }

    pub fn digest(&self) -> String {
        format!("sha256:{}", self.id)
    }
}

/// A container that ran a `RUN` step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ran {
    pub container: String,
    pub exit_code: i64,
}

/// The engine as the builder uses it. Every call blocks.
pub trait Backend {
    /// An image by name or id (`scratch` is handled by the builder, never asked).
    fn image(&self, name: &str) -> Result<BuiltImage, String>;
    /// Pulls an image the store lacks, telling `say` each progress line; the engine's
    /// registry client does it. Without one, the image stays missing.
    fn pull(&self, name: &str, say: &mut dyn FnMut(String)) -> Result<BuiltImage, String> {
        let _ = say;
        Err(format!("no registry client to pull {name} with"))
    }
    /// Images whose parent is `id`: where the build cache looks.
    fn children(&self, id: &str) -> Vec<BuiltImage>;
    /// Stores an image on top of `parent` (`None`: from scratch). With a layer, the layer's
    /// diff id is appended to `config.rootfs`; without, the image has its parent's layers.
    fn commit(
        &self,
        parent: Option<&BuiltImage>,
        config: ImageConfig,
        layer: Option<&mut dyn Read>,
    ) -> Result<BuiltImage, String>;
    /// Creates and starts a container from `image` with `config` (its `Cmd` is the step's
    /// command), tells `output` its id, copies its output there, and waits for it to exit.
    fn run(&self, image: &BuiltImage, config: Config, output: &mut dyn RunOutput) -> Result<Ran, String>;
    /// Stores the container's changes as an image with `config` (its rootfs gets the layer).
    fn commit_container(&self, container: &str, parent: &BuiltImage, config: ImageConfig)
        -> Result<BuiltImage, String>;
    fn remove_container(&self, container: &str) -> Result<(), String>;
    /// The kind of a path in the image's file system: `None` when absent.
    fn path_kind(&self, image: &BuiltImage, path: &str) -> Option<PathKind>;
    /// A file of the image (`/etc/passwd` for `--chown` names).
    fn read_file(&self, image: &BuiltImage, path: &str) -> Option<Vec<u8>>;
    /// Writes the image's whole file system (a `COPY --from` source) as a tar.
    fn export(&self, image: &BuiltImage, out: &mut dyn Write) -> Result<(), String>;
    fn tag(&self, image: &BuiltImage, repository: &str, tag: &str) -> Result<(), String>;
}

/// Where a `RUN` step's container reports: its id once created, then its output.
pub trait RunOutput: Write {
    fn started(&mut self, container: &str);
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathKind {
    Dir,
    Other,
}
