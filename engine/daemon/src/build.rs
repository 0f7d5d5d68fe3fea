//! The builder's view of the engine: `berth_builder::Backend` over the image store and the
//! daemon's own container machinery (create, start, wait, commit, remove), so a `RUN` step
//! runs exactly as `docker run` would.

use crate::containers::lifecycle::WaitFor;
use crate::containers::ContainerError;
use crate::engine::Engine;
use berth_api::container::Config;
use berth_api::containers::{CreateRequest, HostConfig};
use berth_api::image::{ImageConfig, RootFs};
use berth_builder::{Backend, BuiltImage, PathKind, Ran, RunOutput};
use berth_image::archive::{write_tree, TreeOptions};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// The engine for one build, called from a blocking thread.
pub struct BuildBackend {
    pub engine: Arc<Engine>,
    pub runtime: tokio::runtime::Handle,
    /// `networkmode`: the network of RUN steps' containers (empty: the default bridge).
    pub network_mode: String,
    /// `X-Registry-Config`: the credentials for pulling FROM images, per registry.
    pub registry_configs: berth_registry::distribution::AuthConfigs,
}

fn text(e: impl std::fmt::Display) -> String {
    e.to_string()
}

impl BuildBackend {
    fn built(&self, image: &berth_image::Image) -> BuiltImage {
        BuiltImage { id: image.id.clone(), config: image.config.clone() }
    }

    /// The image's layer directories, top-most first.
    fn layer_dirs(&self, image: &BuiltImage) -> Vec<PathBuf> {
        self.engine.images.get(&image.id).map(|i| self.engine.images.dirs_of(&i.layers)).unwrap_or_default()
    }

    /// A path in the image's file system as the top-most layer holding it has it; a
    /// whiteout hides what is below.
    fn find(&self, image: &BuiltImage, path: &str) -> Option<PathBuf> {
        let relative = path.trim_start_matches('/');
        if relative.is_empty() {
            return Some(PathBuf::from("/"));
        }
        for dir in self.layer_dirs(image) {
            let candidate = dir.join(relative);
            if let Ok(meta) = candidate.symlink_metadata() {
                use std::os::unix::fs::{FileTypeExt, MetadataExt};
                if meta.file_type().is_char_device() && meta.rdev() == 0 {
                    return None;
                }
                return Some(candidate);
            }
            let name = candidate.file_name().map(|n| format!(".wh.{}", n.to_string_lossy()));
            if name.is_some_and(|n| candidate.with_file_name(n).exists()) {
                return None;
            }
        }
        None
    }

    fn create(&self, image: &BuiltImage, mut config: Config) -> Result<String, String> {
        config.image = image.digest();
        let host = HostConfig { network_mode: self.network_mode.clone(), ..HostConfig::default() };
        let request = CreateRequest { config, host_config: Some(host), networking_config: None };
        let engine = &self.engine;
        let (record, _) = crate::containers::create::create(
            &engine.containers,
            &engine.images,
            None,
            request,
            engine.images.driver_name(),
            &engine.net,
            &engine.volumes,
        )
        .map_err(text)?;
        engine.events.container("create", &record.id, &engine.event_image(&record), &record.name, &[]);
        Ok(record.id)
    }

    /// Copies the container's log to `output` until it exits.
    fn follow_log(&self, id: &str, output: &mut dyn RunOutput) {
        let path = self.engine.containers.paths(id).log(id);
        let running = || self.engine.containers.with(id, |e| e.record.state.running).unwrap_or(false);
        let mut reader = None;
        let mut buf = String::new();
        loop {
            if reader.is_none() {
                reader = std::fs::File::open(&path).ok().map(BufReader::new);
            }
            let alive = running();
            if let Some(reader) = reader.as_mut() {
                while reader.read_line(&mut buf).unwrap_or(0) > 0 {
                    if !buf.ends_with('\n') {
                        break;
                    }
                    if let Ok(line) = serde_json::from_str::<crate::containers::logs::Line>(&buf) {
                        let _ = output.write_all(line.log.as_bytes());
                    }
                    buf.clear();
                }
            }
            if !alive {
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Backend for BuildBackend {
    fn image(&self, name: &str) -> Result<BuiltImage, String> {
        self.engine.images.lookup(name).map(|i| self.built(&i)).map_err(text)
    }

    fn pull(&self, name: &str, say: &mut dyn FnMut(String)) -> Result<BuiltImage, String> {
        let messages = Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = messages.clone();
        let progress = berth_registry::distribution::Progress::new(Arc::new(move |m: berth_api::progress::Message| {
            sink.lock().unwrap_or_else(|e| e.into_inner()).push(m);
        }));
        let distribution = self.engine.distribution().clone();
        let auth = distribution.auth_for(&self.registry_configs, name);
        // FROM name means name:latest, never every tag.
        let tagged = name.contains('@') || name.rsplit('/').next().is_some_and(|last| last.contains(':'));
        let tag = (!tagged).then_some("latest");
        let pulled = self.runtime.block_on(distribution.pull(name, tag, &auth, &progress));
        for m in messages.lock().unwrap_or_else(|e| e.into_inner()).drain(..) {
            // Only the lines that end a step, not every byte count.
            if m.progress_detail.is_some() || m.status.is_empty() {
                continue;
            }
            say(if m.id.is_empty() { format!("{}\n", m.status) } else { format!("{}: {}\n", m.id, m.status) });
        }
        pulled.map_err(text)?;
        self.image(name)
    }

    fn children(&self, id: &str) -> Vec<BuiltImage> {
        let store = &self.engine.images;
        store.children(id).iter().filter_map(|c| store.get(c)).map(|i| self.built(&i)).collect()
    }

    fn commit(
        &self,
        parent: Option<&BuiltImage>,
        mut config: ImageConfig,
        layer: Option<&mut dyn Read>,
    ) -> Result<BuiltImage, String> {
        let store = &self.engine.images;
        let parent_chain = parent.and_then(|p| store.get(&p.id)).and_then(|i| i.layers.last().cloned());
        let pinned = match layer {
            Some(tar) => Some(store.add_layer(parent_chain.as_deref(), tar, None).map_err(text)?),
            None => None,
        };
        if let Some(layer) = &pinned {
            let rootfs = config.rootfs.get_or_insert_with(|| RootFs { kind: "layers".into(), diff_ids: Vec::new() });
            rootfs.diff_ids.push(layer.diff_id.clone());
        }
        let bytes = serde_json::to_vec(&config).map_err(text)?;
        let image = store.add_image(&bytes).map_err(text)?;
        drop(pinned);
        Ok(self.built(&image))
    }

    fn run(&self, image: &BuiltImage, config: Config, output: &mut dyn RunOutput) -> Result<Ran, String> {
        let id = self.create(image, config)?;
        output.started(&id);
        let waiter = self.engine.waiter(&id, WaitFor::NextExit).map_err(text)?;
        self.runtime.block_on(self.engine.start_container(&id)).map_err(text)?;
        self.follow_log(&id, output);
        let exit_code = self.runtime.block_on(waiter).map_err(text)?;
        Ok(Ran { container: id, exit_code })
    }

    fn commit_container(&self, container: &str, _: &BuiltImage, config: ImageConfig) -> Result<BuiltImage, String> {
        let image = self
            .engine
            .commit_container_with(container, |_, _, diff_id| {
                let mut config = config;
                let rootfs =
                    config.rootfs.get_or_insert_with(|| RootFs { kind: "layers".into(), diff_ids: Vec::new() });
                rootfs.diff_ids.push(diff_id.to_string());
                config
            })
            .map_err(text)?;
        Ok(self.built(&image))
    }

    fn remove_container(&self, container: &str) -> Result<(), String> {
        self.runtime.block_on(self.engine.remove_container(container, true, true)).map_err(text)
    }

    fn path_kind(&self, image: &BuiltImage, path: &str) -> Option<PathKind> {
        let found = self.find(image, path)?;
        Some(if found.is_dir() { PathKind::Dir } else { PathKind::Other })
    }

    fn read_file(&self, image: &BuiltImage, path: &str) -> Option<Vec<u8>> {
        std::fs::read(self.find(image, path)?).ok()
    }

    fn export(&self, image: &BuiltImage, out: &mut dyn Write) -> Result<(), String> {
        let store = &self.engine.images;
        let scratch = store.scratch_dir().map_err(text)?;
        let result = (|| -> Result<(), ContainerError> {
            let root = store
                .driver()
                .mount(&self.layer_dirs(image), &scratch)
                .map_err(|e| ContainerError::Internal(e.to_string()))?;
            let written = write_tree(&root, out, &TreeOptions::default());
            let _ = store.driver().unmount(&scratch);
            written.map_err(|e| ContainerError::Internal(e.to_string()))?;
            Ok(())
        })();
        let _ = berth_image::fsutil::remove_tree(&scratch);
        result.map_err(text)
    }

    fn tag(&self, image: &BuiltImage, repository: &str, tag: &str) -> Result<(), String> {
        self.engine.images.tag(&image.id, repository, tag, true).map_err(text)?;
        self.engine.events.image("tag", &image.digest(), &format!("{repository}:{tag}"));
        Ok(())
    }
}
