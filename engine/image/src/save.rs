//! `save` and `load`: the tar format `docker save` writes and moby 20.10 reads — `manifest.json`,
//! `<config id>.json`, one `<v1 id>/` directory per layer with `VERSION`, `json` and
//! `layer.tar`, and the `repositories` file that 2014 loaders read. `load` also accepts the 2014
//! layout alone (no manifest), turning each legacy layer into an image with its parent.

use crate::archive::{self, ApplyOptions, Whiteouts};
use crate::fsutil::remove_tree;
use crate::reference::{is_hex_id, Reference};
use crate::store::{sha256_digest, Image, Store, StoreError};
use berth_api::image::{History, ImageConfig, RootFs};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::Path;
use std::sync::Arc;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct ManifestItem {
    config: String,
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

/// Reads a save tar's `manifest.json`, returning each entry's config file and layer paths.
pub fn parse_manifest(bytes: &[u8]) -> Result<Vec<(String, Vec<String>)>, StoreError> {
    let items: Vec<ManifestItem> =
        serde_json::from_slice(bytes).map_err(|e| invalid(format!("manifest.json is not valid: {e}")))?;
    Ok(items.into_iter().map(|i| (i.config, i.layers)).collect())
}

/// What `load` stored: each image with the names it was given.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub image: Arc<Image>,
    pub names: Vec<String>,
}

fn invalid(message: impl Into<String>) -> StoreError {
    StoreError::Invalid(message.into())
}

/// Reads a save tar (any compression) and stores its images and names. Nothing becomes
/// visible unless every layer of an image checks out against its config.
pub fn load(store: &Store, input: impl Read + Send + 'static) -> Result<Vec<Loaded>, StoreError> {
    let scratch = store.scratch_dir()?;
    let result = unpack_and_load(store, input, &scratch);
    let _ = remove_tree(&scratch);
    result
}

fn unpack_and_load(store: &Store, input: impl Read + Send + 'static, dir: &Path) -> Result<Vec<Loaded>, StoreError> {
    let reader = archive::decompressed(input).map_err(|e| invalid(format!("cannot read the archive: {e}")))?;
    let options = ApplyOptions { whiteouts: Whiteouts::Apply, ..ApplyOptions::default() };
    archive::apply_layer(reader, dir, &options).map_err(|e| invalid(format!("invalid image archive: {e}")))?;
    let manifest = dir.join("manifest.json");
    if manifest.exists() {
        let bytes = std::fs::read(&manifest).map_err(|e| invalid(format!("cannot read manifest.json: {e}")))?;
        let items: Vec<ManifestItem> =
            serde_json::from_slice(&bytes).map_err(|e| invalid(format!("manifest.json is not valid: {e}")))?;
        return items.iter().map(|item| load_item(store, dir, item)).collect();
    }
    if dir.join("repositories").exists() {
        return load_legacy(store, dir);
    }
    Err(invalid("not an image archive: it has neither manifest.json nor repositories"))
}

/// A file named inside the archive, refusing names that leave it.
fn member(dir: &Path, name: &str) -> Result<std::path::PathBuf, StoreError> {
    let bad = name.is_empty() || name.starts_with('/') || name.split('/').any(|p| p == "..");
    if bad {
        return Err(invalid(format!("archive names {name:?}, which is outside the archive")));
    }
    Ok(dir.join(name))
}

fn load_item(store: &Store, dir: &Path, item: &ManifestItem) -> Result<Loaded, StoreError> {
    let config_bytes =
        std::fs::read(member(dir, &item.config)?).map_err(|e| invalid(format!("cannot read {}: {e}", item.config)))?;
    let config: ImageConfig = serde_json::from_slice(&config_bytes)
        .map_err(|e| invalid(format!("{} is not an image config: {e}", item.config)))?;
    let diff_ids = config.rootfs.map(|r| r.diff_ids).unwrap_or_default();
    if diff_ids.len() != item.layers.len() {
        return Err(invalid(format!(
            "{} names {} layers but the manifest lists {}",
            item.config,
            diff_ids.len(),
            item.layers.len()
        )));
    }
    let mut parent: Option<String> = None;
    // Each layer stays pinned until the image that names it is stored.
    let mut pinned = Vec::new();
    for (path, diff_id) in item.layers.iter().zip(&diff_ids) {
        let mut file =
            std::fs::File::open(member(dir, path)?).map_err(|e| invalid(format!("cannot read {path}: {e}")))?;
        let layer = store.add_layer(parent.as_deref(), &mut file, Some(diff_id))?;
        parent = Some(layer.chain_id.clone());
        pinned.push(layer);
    }
    let image = store.add_image(&config_bytes)?;
    drop(pinned);
    let names = item.repo_tags.clone().unwrap_or_default();
    tag_all(store, &image, &names)?;
    Ok(Loaded { image, names })
}

fn tag_all(store: &Store, image: &Image, names: &[String]) -> Result<(), StoreError> {
    for name in names {
        let reference = Reference::parse(name)?;
        store.tag(&image.id, &reference.repository, reference.tag_or_latest(), true)?;
    }
    Ok(())
}

/// The v1 image JSON of a 2014 layer.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
struct LegacyJson {
    id: String,
    parent: String,
    #[serde(flatten)]
    rest: ImageConfig,
}

/// The 2014 layout: `repositories` names top layers; each layer's `json` names its parent.
fn load_legacy(store: &Store, dir: &Path) -> Result<Vec<Loaded>, StoreError> {
    let bytes =
        std::fs::read(dir.join("repositories")).map_err(|e| invalid(format!("cannot read repositories: {e}")))?;
    let repos: BTreeMap<String, BTreeMap<String, String>> =
        serde_json::from_slice(&bytes).map_err(|e| invalid(format!("repositories is not valid: {e}")))?;
    let mut loaded: BTreeMap<String, Loaded> = BTreeMap::new();
    for (repo, tags) in &repos {
        for (tag, top) in tags {
            let image = load_legacy_chain(store, dir, top)?;
            let name = format!("{repo}:{tag}");
            tag_all(store, &image, std::slice::from_ref(&name))?;
            loaded.entry(image.id.clone()).or_insert_with(|| Loaded { image, names: vec![] }).names.push(name);
        }
    }
    Ok(loaded.into_values().collect())
}

/// Stores a legacy layer and its ancestors, each as an image whose parent is the one below.
fn load_legacy_chain(store: &Store, dir: &Path, top: &str) -> Result<Arc<Image>, StoreError> {
    let mut chain = Vec::new();
    let mut next = top.to_string();
    while !next.is_empty() {
        if !is_hex_id(&next) || chain.len() > 1000 {
            return Err(invalid(format!("legacy layer id {next:?} is not 64 hex characters (or the chain loops)")));
        }
        let bytes = std::fs::read(dir.join(&next).join("json"))
            .map_err(|e| invalid(format!("cannot read {next}/json: {e}")))?;
        let json: LegacyJson =
            serde_json::from_slice(&bytes).map_err(|e| invalid(format!("{next}/json is not valid: {e}")))?;
        chain.push(next.clone());
        next = json.parent.clone();
    }
    let mut parent_image: Option<Arc<Image>> = None;
    let mut parent_chain: Option<String> = None;
    let mut diff_ids: Vec<String> = Vec::new();
    let mut history: Vec<History> = Vec::new();
    for id in chain.iter().rev() {
        let bytes =
            std::fs::read(dir.join(id).join("json")).map_err(|e| invalid(format!("cannot read {id}/json: {e}")))?;
        let json: LegacyJson =
            serde_json::from_slice(&bytes).map_err(|e| invalid(format!("{id}/json is not valid: {e}")))?;
        let mut file = std::fs::File::open(dir.join(id).join("layer.tar"))
            .map_err(|e| invalid(format!("cannot read {id}/layer.tar: {e}")))?;
        let layer = store.add_layer(parent_chain.as_deref(), &mut file, None)?;
        diff_ids.push(layer.diff_id.clone());
        parent_chain = Some(layer.chain_id.clone());
        let created_by =
            json.rest.container_config.as_ref().and_then(|c| c.cmd.clone()).map(|c| c.join(" ")).unwrap_or_default();
        history.push(History { created: json.rest.created.clone(), created_by, ..Default::default() });
        let mut config = json.rest.clone();
        config.id = String::new();
        config.parent = parent_image.as_ref().map(|p| p.digest()).unwrap_or_default();
        config.rootfs = Some(RootFs { kind: "layers".into(), diff_ids: diff_ids.clone() });
        config.history = history.clone();
        let config_bytes = serde_json::to_vec(&config).map_err(|e| invalid(e.to_string()))?;
        parent_image = Some(store.add_image(&config_bytes)?);
        let _ = json.id;
    }
    parent_image.ok_or_else(|| invalid(format!("legacy image {top} has no layers")))
}

/// Images with the names each is saved under.
pub type Selection = Vec<(Arc<Image>, Vec<String>)>;

/// Which images to save and under which names: a `repo:tag` saves that tag, a bare repository
/// every tag it has (as 5.4's `/images/(name)/get` says), an id the image with no names.
pub fn select(store: &Store, names: &[String]) -> Result<Selection, StoreError> {
    let mut chosen: BTreeMap<String, (Arc<Image>, Vec<String>)> = BTreeMap::new();
    for name in names {
        for (image, tag) in pick(store, name)? {
            let entry = chosen.entry(image.id.clone()).or_insert_with(|| (image.clone(), Vec::new()));
            entry.1.extend(tag);
        }
    }
    Ok(chosen.into_values().collect())
}

/// One name's images, each with the name it is saved under, if any.
type Picked = Vec<(Arc<Image>, Option<String>)>;

fn pick(store: &Store, name: &str) -> Result<Picked, StoreError> {
    if let Ok(r) = Reference::parse(name) {
        let tags = if r.tag.is_none() && r.digest.is_none() { store.names_in(&r.repository) } else { Vec::new() };
        if !tags.is_empty() {
            return tags
                .into_iter()
                .map(|(tag, id)| {
                    Ok((
                        store.get(&id).ok_or_else(|| StoreError::NoSuchImage(name.to_string()))?,
                        Some(format!("{}:{tag}", r.repository)),
                    ))
                })
                .collect();
        }
        if let Some(image) = store.resolve(name) {
            return Ok(vec![(image, Some(format!("{}:{}", r.repository, r.tag_or_latest())))]);
        }
    }
    Ok(vec![(store.lookup(name)?, None)])
}

/// Writes the images (with the names each is saved under) as one save tar.
pub fn save(store: &Store, images: &[(Arc<Image>, Vec<String>)], out: impl Write) -> Result<(), StoreError> {
    let mut tar = tar::Builder::new(out);
    let mut written: std::collections::HashSet<String> = std::collections::HashSet::new();
    let mut manifest = Vec::new();
    let mut repositories: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for (image, names) in images {
        let config_bytes = store.config_bytes(&image.id)?;
        let mtime = image.created.max(0) as u64;
        append(&mut tar, &format!("{}.json", image.id), &config_bytes, mtime)?;
        let mut layer_paths = Vec::new();
        let mut parent_v1 = String::new();
        for (i, chain) in image.layers.iter().enumerate() {
            let top = i + 1 == image.layers.len();
            let v1 = legacy_id(chain, &parent_v1, top.then_some(image.id.as_str()));
            if written.insert(v1.clone()) {
                write_legacy_layer(store, &mut tar, image, chain, &v1, &parent_v1, top, mtime)?;
            }
            layer_paths.push(format!("{v1}/layer.tar"));
            parent_v1 = v1;
        }
        for name in names {
            if let Some((repo, tag)) = name.rsplit_once(':') {
                repositories.entry(repo.to_string()).or_default().insert(tag.to_string(), parent_v1.clone());
            }
        }
        let repo_tags = if names.is_empty() { None } else { Some(names.clone()) };
        manifest.push(ManifestItem { config: format!("{}.json", image.id), repo_tags, layers: layer_paths });
    }
    let manifest = serde_json::to_vec(&manifest).map_err(|e| invalid(e.to_string()))?;
    append(&mut tar, "manifest.json", &manifest, 0)?;
    if !repositories.is_empty() {
        let repos = serde_json::to_vec(&repositories).map_err(|e| invalid(e.to_string()))?;
        append(&mut tar, "repositories", &repos, 0)?;
    }
    tar.into_inner().map_err(write_error)?.flush().map_err(write_error)?;
    Ok(())
}

/// A stable v1 id for a layer directory: layers shared by images share it, except that the
/// top layer's also depends on its image (its `json` is that image's config).
fn legacy_id(chain: &str, parent_v1: &str, image: Option<&str>) -> String {
    let seed = format!("{chain} {parent_v1} {}", image.unwrap_or(""));
    sha256_digest(seed.as_bytes()).trim_start_matches("sha256:").to_string()
}

#[allow(clippy::too_many_arguments)]
fn write_legacy_layer<W: Write>(
    store: &Store,
    tar: &mut tar::Builder<W>,
    image: &Image,
    chain: &str,
    v1: &str,
    parent_v1: &str,
    top: bool,
    mtime: u64,
) -> Result<(), StoreError> {
    let layer = store.layer(chain).ok_or_else(|| invalid(format!("layer {chain} is missing from the store")))?;
    let mut json = if top {
        image.config.clone()
    } else {
        ImageConfig { created: image.config.created.clone(), ..Default::default() }
    };
    json.id = v1.to_string();
    json.parent = parent_v1.to_string();
    json.rootfs = None;
    json.history = Vec::new();
    let json = serde_json::to_vec(&json).map_err(|e| invalid(e.to_string()))?;
    append(tar, &format!("{v1}/VERSION"), b"1.0", mtime)?;
    append(tar, &format!("{v1}/json"), &json, mtime)?;
    let mut header = file_header(layer.size, mtime);
    let reader = store.layer_tar(chain)?;
    tar.append_data(&mut header, format!("{v1}/layer.tar"), reader).map_err(write_error)
}

fn file_header(size: u64, mtime: u64) -> tar::Header {
    let mut header = tar::Header::new_ustar();
    header.set_size(size);
    header.set_mode(0o644);
    header.set_mtime(mtime);
    header.set_entry_type(tar::EntryType::Regular);
    header
}

fn append<W: Write>(tar: &mut tar::Builder<W>, name: &str, data: &[u8], mtime: u64) -> Result<(), StoreError> {
    let mut header = file_header(data.len() as u64, mtime);
    tar.append_data(&mut header, name, data).map_err(write_error)
}

fn write_error(e: std::io::Error) -> StoreError {
    StoreError::Io { op: "write", path: "the save archive".into(), source: e }
}
