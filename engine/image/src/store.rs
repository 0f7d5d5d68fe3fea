//! The image store: layers content-addressed by chain id (from the sha256 of each layer's
//! uncompressed tar), images by the sha256 of their config, and the repositories that name
//! them. Everything lives under `<graph>/<driver>/`; every write is temp file, fsync, rename,
//! and half-written leftovers are removed when the store opens.
//!
//! ```text
//! layers/<chain>/diff/        the layer's files, as the driver keeps them
//! layers/<chain>/layer.json   diff id, parent chain id, size
//! images/<id>.json            the image config, byte for byte (its sha256 is the id)
//! repositories.json           repository -> tag -> image id
//! tmp/                        work in progress; emptied at start
//! ```

use crate::driver::{self, Driver, DriverError};
use crate::fsutil::{clean_temporaries, remove_tree, unique_suffix, write_atomic};
use crate::reference::{is_hex_id, Reference, ReferenceError, DEFAULT_TAG};
use crate::tee::{open_stored, Keep};
use berth_api::image::{DeleteItem, ImageConfig};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("No such image: {0}")]
    NoSuchImage(String),
    #[error("{0}")]
    Reference(#[from] ReferenceError),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Driver(#[from] DriverError),
    #[error("cannot {op} {path}: {source}")]
    Io { op: &'static str, path: PathBuf, source: io::Error },
}

/// Which HTTP answer an error deserves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    NotFound,
    Conflict,
    InvalidInput,
    Internal,
}

impl StoreError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            StoreError::NoSuchImage(_) => ErrorKind::NotFound,
            StoreError::Conflict(_) => ErrorKind::Conflict,
            StoreError::Reference(_) | StoreError::Invalid(_) => ErrorKind::InvalidInput,
            StoreError::Driver(DriverError::Archive(_)) => ErrorKind::InvalidInput,
            StoreError::Driver(_) | StoreError::Io { .. } => ErrorKind::Internal,
        }
    }
}

fn io_error<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> StoreError + 'a {
    move |source| StoreError::Io { op, path: path.to_path_buf(), source }
}

/// `sha256:<hex>` of some bytes.
pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex(&Sha256::digest(bytes)))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The chain id of a layer: its diff id for a base layer, else the digest of the parent's
/// chain id and its diff id. Both are `sha256:<hex>`.
pub fn chain_id(parent: Option<&str>, diff_id: &str) -> String {
    match parent {
        None => diff_id.to_string(),
        Some(parent) => sha256_digest(format!("{parent} {diff_id}").as_bytes()),
    }
}

/// The file beside each layer that keeps its original tar (zstd-compressed as it was read)...
const LAYER_TAR: &str = "layer.tar.zst";
/// ...or, for a layer pulled from a registry, the blob as it was downloaded (gzip, zstd or
/// plain), whose decompressed bytes are the tar.
const LAYER_BLOB: &str = "layer.blob";

/// How [`Store::add_layer_with`] keeps a layer's original tar.
pub enum KeepTar<'a> {
    /// A zstd copy of the bytes read.
    Copy,
    /// A file that already holds them, compressed as they came: called with the tar reader
    /// once the layer is applied (to read it to its end, so the file is complete and
    /// checked), it answers the file's path, which the store then takes over.
    Blob(&'a mut dyn FnMut(&mut dyn Read) -> std::io::Result<PathBuf>),
}

fn strip(digest: &str) -> &str {
    digest.strip_prefix("sha256:").unwrap_or(digest)
}

/// A stored layer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Layer {
    pub chain_id: String,
    pub diff_id: String,
    pub parent: Option<String>,
    /// Bytes of the layer's uncompressed tar.
    pub size: u64,
}

/// A stored image: its config and what the store derives from it.
#[derive(Debug, Clone)]
pub struct Image {
    /// 64 hex characters, the sha256 of the config bytes.
    pub id: String,
    pub config: ImageConfig,
    /// Chain ids of its layers, base first.
    pub layers: Vec<String>,
    /// Unix seconds.
    pub created: i64,
    /// All its layers' bytes (the virtual size).
    pub size: i64,
    /// The parent image's id (64 hex), if any.
    pub parent: Option<String>,
}

impl Image {
    /// `sha256:<hex>`, as API 1.41 names images.
    pub fn digest(&self) -> String {
        format!("sha256:{}", self.id)
    }

    pub fn short_id(&self) -> &str {
        &self.id[..12]
    }
}

#[derive(Default, Serialize, Deserialize)]
struct RepositoriesFile {
    #[serde(rename = "Repositories")]
    repositories: BTreeMap<String, BTreeMap<String, String>>,
}

#[derive(Default)]
struct State {
    images: HashMap<String, Arc<Image>>,
    /// repository -> tag -> image id (hex).
    repos: BTreeMap<String, BTreeMap<String, String>>,
    layers: HashMap<String, Layer>,
    /// Layers stored but not yet named by an image (a load, import or commit in progress).
    pins: HashMap<String, usize>,
    /// Layers that others (containers) stand on, by holder.
    holds: HashMap<String, Vec<String>>,
}

impl State {
    /// Whether anything still needs a layer.
    fn needed(&self, chain: &str) -> bool {
        self.images.values().any(|i| i.layers.iter().any(|l| l == chain))
            || self.pins.get(chain).is_some_and(|n| *n > 0)
            || self.holds.values().any(|chains| chains.iter().any(|c| c == chain))
    }
}

/// A layer just stored, kept from removal until this is dropped (by then an image names it).
pub struct PinnedLayer<'a> {
    store: &'a Store,
    layer: Layer,
}

impl std::fmt::Debug for PinnedLayer<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("PinnedLayer").field(&self.layer).finish()
    }
}

impl std::ops::Deref for PinnedLayer<'_> {
    type Target = Layer;
    fn deref(&self) -> &Layer {
        &self.layer
    }
}

impl Drop for PinnedLayer<'_> {
    fn drop(&mut self) {
        let mut state = self.store.write();
        if let Some(n) = state.pins.get_mut(&self.layer.chain_id) {
            *n -= 1;
            if *n == 0 {
                state.pins.remove(&self.layer.chain_id);
            }
        }
        let chain = vec![self.layer.chain_id.clone()];
        self.store.release_layers(&mut state, &chain);
    }
}

/// Who uses an image, as the daemon knows it (the store knows nothing of containers).
pub struct ContainerUse {
    pub container: String,
    pub running: bool,
}

pub struct Store {
    dir: PathBuf,
    driver: Box<dyn Driver>,
    state: RwLock<State>,
}

impl Store {
    /// Opens (or creates) the store under `graph`, with the driver `-s` named or the best one.
    pub fn open(graph: &Path, driver_name: Option<&str>) -> Result<Store, StoreError> {
        let scratch = graph.join("tmp");
        std::fs::create_dir_all(&scratch).map_err(io_error("create", &scratch))?;
        let driver = driver::choose(driver_name, &scratch)?;
        let dir = graph.join(driver.name());
        for sub in ["layers", "images", "tmp"] {
            let path = dir.join(sub);
            std::fs::create_dir_all(&path).map_err(io_error("create", &path))?;
        }
        let store = Store { dir, driver, state: RwLock::new(State::default()) };
        store.recover()?;
        Ok(store)
    }

    pub fn driver(&self) -> &dyn Driver {
        self.driver.as_ref()
    }

    pub fn driver_name(&self) -> &'static str {
        self.driver.name()
    }

    fn read(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Loads what is on disk, dropping what a crash left half-done.
    fn recover(&self) -> Result<(), StoreError> {
        let tmp = self.dir.join("tmp");
        remove_tree(&tmp).map_err(io_error("clean", &tmp))?;
        std::fs::create_dir_all(&tmp).map_err(io_error("create", &tmp))?;
        for sub in ["layers", "images", ""] {
            let dir = self.dir.join(sub);
            clean_temporaries(&dir).map_err(io_error("clean", &dir))?;
        }
        let mut state = self.write();
        state.layers = self.load_layers()?;
        state.repos = self.load_repositories()?;
        for (id, bytes) in self.load_configs()? {
            match build_image(&id, &bytes, &state.layers) {
                Ok(image) => {
                    state.images.insert(id, Arc::new(image));
                }
                Err(e) => tracing::warn!("ignoring image {id}: {e}"),
            }
        }
        let known: Vec<String> = state.images.keys().cloned().collect();
        for tags in state.repos.values_mut() {
            tags.retain(|_, id| known.contains(id));
        }
        state.repos.retain(|_, tags| !tags.is_empty());
        Ok(())
    }

    fn load_layers(&self) -> Result<HashMap<String, Layer>, StoreError> {
        let dir = self.dir.join("layers");
        let mut layers = HashMap::new();
        for entry in std::fs::read_dir(&dir).map_err(io_error("read", &dir))?.flatten() {
            let meta = entry.path().join("layer.json");
            match std::fs::read(&meta).ok().and_then(|b| serde_json::from_slice::<Layer>(&b).ok()) {
                Some(layer) if strip(&layer.chain_id) == entry.file_name().to_string_lossy() => {
                    layers.insert(layer.chain_id.clone(), layer);
                }
                _ => {
                    tracing::warn!("removing incomplete layer {}", entry.path().display());
                    remove_tree(&entry.path()).map_err(io_error("remove", &entry.path()))?;
                }
            }
        }
        Ok(layers)
    }

    fn load_repositories(&self) -> Result<BTreeMap<String, BTreeMap<String, String>>, StoreError> {
        let path = self.dir.join("repositories.json");
        match std::fs::read(&path) {
            Ok(bytes) => {
                let file: RepositoriesFile = serde_json::from_slice(&bytes)
                    .map_err(|e| StoreError::Invalid(format!("{} is corrupt: {e}", path.display())))?;
                Ok(file.repositories)
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(BTreeMap::new()),
            Err(e) => Err(io_error("read", &path)(e)),
        }
    }

    fn load_configs(&self) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let dir = self.dir.join("images");
        let mut configs = Vec::new();
        for entry in std::fs::read_dir(&dir).map_err(io_error("read", &dir))?.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(id) = name.strip_suffix(".json").filter(|id| is_hex_id(id)) else { continue };
            let bytes = std::fs::read(entry.path()).map_err(io_error("read", &entry.path()))?;
            if strip(&sha256_digest(&bytes)) == id {
                configs.push((id.to_string(), bytes));
            } else {
                tracing::warn!("removing image config {name}: its content does not match its id");
                let _ = std::fs::remove_file(entry.path());
            }
        }
        Ok(configs)
    }

    fn save_repositories(&self, state: &State) -> Result<(), StoreError> {
        let path = self.dir.join("repositories.json");
        let file = RepositoriesFile { repositories: state.repos.clone() };
        let bytes = serde_json::to_vec_pretty(&file).map_err(|e| StoreError::Invalid(e.to_string()))?;
        write_atomic(&path, &bytes).map_err(io_error("write", &path))
    }

    /// A fresh directory under tmp/ for work that is renamed into place when complete.
    pub fn scratch_dir(&self) -> Result<PathBuf, StoreError> {
        let path = self.dir.join("tmp").join(format!("work-{}-{}", std::process::id(), unique_suffix()));
        std::fs::create_dir_all(&path).map_err(io_error("create", &path))?;
        Ok(path)
    }

    /// A stored layer's tar, byte for byte as it came in.
    pub fn layer_tar(&self, chain_id: &str) -> Result<Box<dyn Read + Send>, StoreError> {
        let dir = self.dir.join("layers").join(strip(chain_id));
        let blob = dir.join(LAYER_BLOB);
        if blob.exists() {
            let file = std::fs::File::open(&blob).map_err(io_error("open", &blob))?;
            let reader = crate::archive::decompressed(std::io::BufReader::with_capacity(1 << 20, file));
            return Ok(Box::new(reader.map_err(io_error("read", &blob))?));
        }
        let path = dir.join(LAYER_TAR);
        Ok(Box::new(open_stored(&path).map_err(io_error("open", &path))?))
    }

    pub fn layer_dir(&self, chain_id: &str) -> PathBuf {
        self.dir.join("layers").join(strip(chain_id)).join("diff")
    }

    pub fn layer(&self, chain_id: &str) -> Option<Layer> {
        self.read().layers.get(chain_id).cloned()
    }

    /// Stores a layer tar on top of `parent` (a chain id). When `expect` names a diff id, a
    /// tar with another content is refused. A layer already stored is not stored twice, even
    /// when two loads of it race.
    pub fn add_layer(
        &self,
        parent: Option<&str>,
        tar: &mut dyn Read,
        expect: Option<&str>,
    ) -> Result<PinnedLayer<'_>, StoreError> {
        self.add_layer_with(parent, tar, expect, KeepTar::Copy)
    }

    /// As [`Store::add_layer`], keeping the original tar as `keep` says.
    pub fn add_layer_with(
        &self,
        parent: Option<&str>,
        tar: &mut dyn Read,
        expect: Option<&str>,
        keep: KeepTar<'_>,
    ) -> Result<PinnedLayer<'_>, StoreError> {
        let parent_dir = match parent {
            Some(p) if self.layer(p).is_none() => {
                return Err(StoreError::Invalid(format!("parent layer {p} is not stored")))
            }
            Some(p) => Some(self.layer_dir(p)),
            None => None,
        };
        let work = self.scratch_dir()?;
        let result = self.fill_layer(parent, parent_dir.as_deref(), &work, tar, expect, keep);
        let outcome = result.and_then(|layer| self.commit_layer(&work, layer));
        let _ = remove_tree(&work);
        outcome
    }

    fn fill_layer(
        &self,
        parent: Option<&str>,
        parent_dir: Option<&Path>,
        work: &Path,
        tar: &mut dyn Read,
        expect: Option<&str>,
        keep: KeepTar<'_>,
    ) -> Result<Layer, StoreError> {
        let diff = work.join("diff");
        std::fs::create_dir_all(&diff).map_err(io_error("create", &diff))?;
        let stats = match keep {
            KeepTar::Copy => {
                let mut keep = Keep::new(tar, &work.join(LAYER_TAR)).map_err(io_error("store the tar of", work))?;
                let stats = self.driver.apply(parent_dir, &diff, &mut keep)?;
                keep.finish().map_err(io_error("store the tar of", work))?;
                stats
            }
            KeepTar::Blob(finish) => {
                let stats = self.driver.apply(parent_dir, &diff, tar)?;
                let blob = finish(tar).map_err(io_error("read the rest of the layer for", work))?;
                let kept = work.join(LAYER_BLOB);
                std::fs::rename(&blob, &kept)
                    .or_else(|_| std::fs::copy(&blob, &kept).map(drop))
                    .map_err(io_error("keep the blob of", work))?;
                stats
            }
        };
        let (diff_id, size) = (stats.diff_id, stats.bytes);
        if let Some(expect) = expect.filter(|e| *e != diff_id) {
            return Err(StoreError::Invalid(format!(
                "layer content does not match its digest: expected {expect}, got {diff_id}"
            )));
        }
        let layer = Layer { chain_id: chain_id(parent, &diff_id), diff_id, parent: parent.map(String::from), size };
        let meta = serde_json::to_vec(&layer).map_err(|e| StoreError::Invalid(e.to_string()))?;
        write_atomic(&work.join("layer.json"), &meta).map_err(io_error("write", work))?;
        Ok(layer)
    }

    fn commit_layer(&self, work: &Path, layer: Layer) -> Result<PinnedLayer<'_>, StoreError> {
        let target = self.dir.join("layers").join(strip(&layer.chain_id));
        let mut state = self.write();
        *state.pins.entry(layer.chain_id.clone()).or_default() += 1;
        if let Some(existing) = state.layers.get(&layer.chain_id) {
            return Ok(PinnedLayer { store: self, layer: existing.clone() });
        }
        if let Err(e) = std::fs::rename(work, &target).and_then(|_| crate::fsutil::sync_parent(&target)) {
            state.pins.remove(&layer.chain_id);
            return Err(io_error("store layer", &target)(e));
        }
        state.layers.insert(layer.chain_id.clone(), layer.clone());
        Ok(PinnedLayer { store: self, layer })
    }

    /// Keeps `chains` (a container's layers) until `unhold(holder)`, even if their image goes.
    pub fn hold(&self, holder: &str, chains: &[String]) {
        self.write().holds.insert(holder.to_string(), chains.to_vec());
    }

    /// Lets go of what `holder` held, removing layers nothing needs any more.
    pub fn unhold(&self, holder: &str) {
        let mut state = self.write();
        if let Some(chains) = state.holds.remove(holder) {
            self.release_layers(&mut state, &chains);
        }
    }

    /// Directories of layers given by chain id (base first), top-most first.
    pub fn dirs_of(&self, chains: &[String]) -> Vec<PathBuf> {
        chains.iter().rev().map(|c| self.layer_dir(c)).collect()
    }

    /// Stores an image config whose layers are all stored, returning the image.
    pub fn add_image(&self, config_bytes: &[u8]) -> Result<Arc<Image>, StoreError> {
        let id = strip(&sha256_digest(config_bytes)).to_string();
        if let Some(image) = self.read().images.get(&id) {
            return Ok(image.clone());
        }
        let image = {
            let state = self.read();
            build_image(&id, config_bytes, &state.layers)?
        };
        let path = self.dir.join("images").join(format!("{id}.json"));
        write_atomic(&path, config_bytes).map_err(io_error("write", &path))?;
        let image = Arc::new(image);
        self.write().images.entry(id).or_insert_with(|| image.clone());
        Ok(image)
    }

    /// Every image with the names it carries.
    pub fn images(&self) -> Vec<(Arc<Image>, Vec<String>)> {
        let state = self.read();
        let mut all: Vec<_> = state.images.values().map(|i| (i.clone(), names_of(&state, &i.id))).collect();
        all.sort_by(|a, b| b.0.created.cmp(&a.0.created).then_with(|| a.0.id.cmp(&b.0.id)));
        all
    }

    /// `repo:tag` names of an image, sorted.
    pub fn names(&self, id: &str) -> Vec<String> {
        names_of(&self.read(), id)
    }

    /// Every tag of a repository, with the image id it points at.
    pub fn names_in(&self, repository: &str) -> Vec<(String, String)> {
        let state = self.read();
        state
            .repos
            .get(repository)
            .map(|tags| tags.iter().map(|(t, i)| (t.clone(), i.clone())).collect())
            .unwrap_or_default()
    }

    /// The config of a stored image, byte for byte.
    pub fn config_bytes(&self, id: &str) -> Result<Vec<u8>, StoreError> {
        let path = self.dir.join("images").join(format!("{}.json", strip(id)));
        std::fs::read(&path).map_err(io_error("read", &path))
    }

    /// Ids of the images whose parent is `id`.
    pub fn children(&self, id: &str) -> Vec<String> {
        children_of(&self.read(), id)
    }

    pub fn get(&self, id: &str) -> Option<Arc<Image>> {
        self.read().images.get(strip(id)).cloned()
    }

    /// The image a `repo[:tag]` name points at (names only, not ids).
    pub fn resolve(&self, name: &str) -> Option<Arc<Image>> {
        let state = self.read();
        resolve_name(&state, name).and_then(|id| state.images.get(&id).cloned())
    }

    /// Finds an image by `repo:tag`, `repo` (its `latest`), full id (with or without
    /// `sha256:`), or a unique id prefix. An ambiguous prefix is an error, not a guess.
    pub fn lookup(&self, name: &str) -> Result<Arc<Image>, StoreError> {
        let state = self.read();
        if let Some(id) = resolve_name(&state, name) {
            if let Some(image) = state.images.get(&id) {
                return Ok(image.clone());
            }
        }
        let prefix = strip(name);
        if prefix.is_empty() || !prefix.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(StoreError::NoSuchImage(name.to_string()));
        }
        let prefix = prefix.to_ascii_lowercase();
        let mut found = state.images.values().filter(|i| i.id.starts_with(&prefix));
        match (found.next(), found.next()) {
            (Some(image), None) => Ok(image.clone()),
            (Some(_), Some(_)) => Err(StoreError::Invalid(format!(
                "{name} is ambiguous: it is the prefix of several image ids; give more characters"
            ))),
            _ => Err(StoreError::NoSuchImage(name.to_string())),
        }
    }

    /// Points `repository:tag` at an image. Moving an existing tag needs `force`.
    pub fn tag(&self, id: &str, repository: &str, tag: &str, force: bool) -> Result<(), StoreError> {
        let repository = Reference::repository(repository)?;
        let reference = Reference::parse(&format!("{repository}:{tag}"))?;
        let tag = reference.tag_or_latest().to_string();
        let mut state = self.write();
        let id = strip(id).to_string();
        if !state.images.contains_key(&id) {
            return Err(StoreError::NoSuchImage(id));
        }
        match state.repos.get(&repository).and_then(|t| t.get(&tag)) {
            // Already so: nothing to write.
            Some(current) if *current == id => return Ok(()),
            Some(current) if !force => {
                return Err(StoreError::Conflict(format!(
                    "Conflict: tag {tag} is already set to image {current}, if you want to replace it, please use -f option"
                )))
            }
            _ => {}
        }
        state.repos.entry(repository).or_default().insert(tag, id);
        self.save_repositories(&state)
    }

    /// Removes one `repo:tag` name.
    fn untag(&self, state: &mut State, name: &str) -> Result<(), StoreError> {
        let reference = Reference::parse(name)?;
        let tag = reference.tag_or_latest();
        if let Some(tags) = state.repos.get_mut(&reference.repository) {
            tags.remove(tag);
            if tags.is_empty() {
                state.repos.remove(&reference.repository);
            }
        }
        self.save_repositories(state)
    }

    /// `rmi`: untags or deletes as 5.1.28 and the API's "smarter delete" (1.2) describe.
    /// `uses` says which container, if any, was made from an image.
    pub fn delete(
        &self,
        name: &str,
        force: bool,
        prune: bool,
        uses: &dyn Fn(&str) -> Option<ContainerUse>,
    ) -> Result<Vec<DeleteItem>, StoreError> {
        let image = self.lookup(name)?;
        let mut state = self.write();
        let names = names_of(&state, &image.id);
        let by_name = resolve_name(&state, name).is_some_and(|id| id == image.id);
        let mut items = Vec::new();
        if by_name {
            let reference = Reference::parse(name)?;
            let full = format!("{}:{}", reference.repository, reference.tag_or_latest());
            if names.len() > 1 {
                self.untag(&mut state, &full)?;
                return Ok(vec![DeleteItem::Untagged(full)]);
            }
            check_use(&image, uses, force, Some(&full))?;
            self.untag(&mut state, &full)?;
            items.push(DeleteItem::Untagged(full));
        } else {
            let repositories: std::collections::BTreeSet<&str> =
                names.iter().filter_map(|n| n.rsplit_once(':').map(|(r, _)| r)).collect();
            if repositories.len() > 1 && !force {
                return Err(StoreError::Conflict(format!(
                    "conflict: unable to delete {} (must be forced) - image is referenced in multiple repositories",
                    image.short_id()
                )));
            }
            check_use(&image, uses, force, None)?;
            for n in &names {
                self.untag(&mut state, n)?;
                items.push(DeleteItem::Untagged(n.clone()));
            }
        }
        if !children_of(&state, &image.id).is_empty() {
            if items.is_empty() {
                return Err(StoreError::Conflict(format!(
                    "conflict: unable to delete {} (cannot be forced) - image has dependent child images",
                    image.short_id()
                )));
            }
            return Ok(items);
        }
        self.remove_image(&mut state, &image, prune, uses, &mut items)?;
        Ok(items)
    }

    /// Deletes an untagged, childless image, then (with `prune`) its parents that are left
    /// untagged, childless and unused.
    fn remove_image(
        &self,
        state: &mut State,
        image: &Image,
        prune: bool,
        uses: &dyn Fn(&str) -> Option<ContainerUse>,
        items: &mut Vec<DeleteItem>,
    ) -> Result<(), StoreError> {
        let path = self.dir.join("images").join(format!("{}.json", image.id));
        std::fs::remove_file(&path).map_err(io_error("remove", &path))?;
        state.images.remove(&image.id);
        items.push(DeleteItem::Deleted(image.digest()));
        self.release_layers(state, &image.layers);
        let Some(parent) = image.parent.as_ref().filter(|_| prune).and_then(|p| state.images.get(p).cloned()) else {
            return Ok(());
        };
        let unused = names_of(state, &parent.id).is_empty()
            && children_of(state, &parent.id).is_empty()
            && uses(&parent.id).is_none();
        if unused {
            self.remove_image(state, &parent, prune, uses, items)?;
        }
        Ok(())
    }

    /// Removes layers no image uses any more (containers keep theirs through their images).
    fn release_layers(&self, state: &mut State, layers: &[String]) {
        for chain in layers.iter().rev() {
            if state.needed(chain) || !state.layers.contains_key(chain) {
                continue;
            }
            let dir = self.dir.join("layers").join(strip(chain));
            match remove_tree(&dir) {
                Ok(()) => {
                    state.layers.remove(chain);
                }
                Err(e) => tracing::warn!("cannot remove layer {}: {e}", dir.display()),
            }
        }
    }

    /// Directories of an image's layers, top-most first, as drivers take them.
    pub fn layer_dirs(&self, image: &Image) -> Vec<PathBuf> {
        image.layers.iter().rev().map(|c| self.layer_dir(c)).collect()
    }
}

fn check_use(
    image: &Image,
    uses: &dyn Fn(&str) -> Option<ContainerUse>,
    force: bool,
    name: Option<&str>,
) -> Result<(), StoreError> {
    let Some(using) = uses(&image.id) else { return Ok(()) };
    let short = &using.container[..using.container.len().min(12)];
    if using.running {
        return Err(StoreError::Conflict(format!(
            "conflict: unable to delete {} (cannot be forced) - image is being used by running container {short}",
            image.short_id()
        )));
    }
    if force {
        return Ok(());
    }
    Err(StoreError::Conflict(match name {
        Some(name) => format!(
            "conflict: unable to remove repository reference \"{name}\" (must force) - container {short} is using its referenced image {}",
            image.short_id()
        ),
        None => format!("conflict: unable to delete {} (must be forced) - image is being used by stopped container {short}", image.short_id()),
    }))
}

fn names_of(state: &State, id: &str) -> Vec<String> {
    let mut names: Vec<String> = state
        .repos
        .iter()
        .flat_map(|(repo, tags)| tags.iter().filter(|(_, i)| *i == id).map(move |(tag, _)| format!("{repo}:{tag}")))
        .collect();
    names.sort();
    names
}

fn children_of(state: &State, id: &str) -> Vec<String> {
    state.images.values().filter(|i| i.parent.as_deref() == Some(id)).map(|i| i.id.clone()).collect()
}

/// The image id a `repo[:tag]` name points at, if it is one.
fn resolve_name(state: &State, name: &str) -> Option<String> {
    let reference = Reference::parse(name).ok()?;
    if reference.digest.is_some() {
        return None;
    }
    state.repos.get(&reference.repository)?.get(reference.tag.as_deref().unwrap_or(DEFAULT_TAG)).cloned()
}

/// An image from its config, checking that every layer it names is stored.
fn build_image(id: &str, bytes: &[u8], layers: &HashMap<String, Layer>) -> Result<Image, StoreError> {
    let config: ImageConfig = serde_json::from_slice(bytes)
        .map_err(|e| StoreError::Invalid(format!("image config is not valid JSON: {e}")))?;
    let diff_ids = config.rootfs.as_ref().map(|r| r.diff_ids.clone()).unwrap_or_default();
    let mut chain: Vec<String> = Vec::new();
    let mut size = 0i64;
    for diff_id in &diff_ids {
        let id = chain_id(chain.last().map(String::as_str), diff_id);
        let layer = layers
            .get(&id)
            .ok_or_else(|| StoreError::Invalid(format!("layer {diff_id} of image {id} is not stored")))?;
        size += layer.size as i64;
        chain.push(id);
    }
    let parent = Some(strip(&config.parent).to_string()).filter(|p| !p.is_empty());
    Ok(Image {
        id: id.to_string(),
        created: berth_api::time::parse_rfc3339(&config.created).unwrap_or(0),
        config,
        layers: chain,
        size,
        parent,
    })
}
