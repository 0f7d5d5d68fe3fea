//! The v1 data on disk, under `<root>/v1`:
//!
//! - `images/<id>/json` (as uploaded), `ancestry` (JSON array, the image first), `layer`, and
//!   `meta.json`: the upload state, the layer size and the checksums.
//! - `repositories/<ns>/<repo>/tags.json` (tag → id) and `index_images.json` (what a standalone
//!   registry was told through the index calls).
//!
//! An image is visible (GET json, layer, ancestry) once its layer is stored; until then, and
//! after a checksum mismatch, it is not.

use crate::fsio::{read_optional, Storage};
use crate::names::RepoName;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::PathBuf;
use tempfile::NamedTempFile;

/// The state of one image's upload.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct ImageMeta {
    /// The layer is stored and the image can be pulled.
    pub complete: bool,
    /// Bytes in the layer.
    pub size: Option<u64>,
    /// `sha256:` of json + "\n" + layer, computed while the layer arrived.
    pub payload_checksum: Option<String>,
    /// The checksum the client declared and that matched (X-Docker-Checksum).
    pub checksum: Option<String>,
    /// A checksum sent with the json (docker 0.6), checked when the layer arrives.
    pub expected_checksum: Option<String>,
}

/// Entries of a repository's image list as the index calls carry them.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct IndexImage {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<String>,
}

#[derive(Debug, Clone)]
pub struct V1Store {
    storage: Storage,
}

impl V1Store {
    pub fn new(storage: Storage) -> V1Store {
        V1Store { storage }
    }

    pub fn storage(&self) -> &Storage {
        &self.storage
    }

    fn image_file(&self, id: &str, file: &str) -> PathBuf {
        self.storage.path(format!("v1/images/{id}/{file}"))
    }

    fn repository_dir(&self, repo: &RepoName) -> PathBuf {
        self.storage.path(format!("v1/repositories/{}/{}", repo.namespace, repo.name))
    }

    pub fn meta(&self, id: &str) -> io::Result<Option<ImageMeta>> {
        read_json(&self.image_file(id, "meta.json"))
    }

    pub fn write_meta(&self, id: &str, meta: &ImageMeta) -> io::Result<()> {
        write_json(&self.storage, &self.image_file(id, "meta.json"), meta)
    }

    /// Metadata of an image that can be pulled.
    pub fn complete_meta(&self, id: &str) -> io::Result<Option<ImageMeta>> {
        Ok(self.meta(id)?.filter(|meta| meta.complete))
    }

    pub fn json(&self, id: &str) -> io::Result<Option<Vec<u8>>> {
        read_optional(&self.image_file(id, "json"))
    }

    /// Stores the json and ancestry of a new (or retried) upload.
    pub fn put_json(&self, id: &str, json: &[u8], ancestry: &[String], expected: Option<String>) -> io::Result<()> {
        self.storage.write_atomic(&self.image_file(id, "json"), json)?;
        self.put_ancestry(id, ancestry)?;
        let _ = fs::remove_file(self.image_file(id, "layer"));
        self.write_meta(id, &ImageMeta { expected_checksum: expected, ..ImageMeta::default() })
    }

    pub fn ancestry(&self, id: &str) -> io::Result<Option<Vec<String>>> {
        read_json(&self.image_file(id, "ancestry"))
    }

    pub fn put_ancestry(&self, id: &str, ancestry: &[String]) -> io::Result<()> {
        write_json(&self.storage, &self.image_file(id, "ancestry"), &ancestry)
    }

    pub fn layer_path(&self, id: &str) -> PathBuf {
        self.image_file(id, "layer")
    }

    /// Moves a received layer in place and makes the image visible.
    pub fn commit_layer(&self, id: &str, layer: NamedTempFile, meta: &ImageMeta) -> io::Result<()> {
        self.storage.persist(layer, &self.layer_path(id))?;
        self.write_meta(id, meta)
    }

    /// Takes a layer back after its checksum failed: the image is no longer visible.
    pub fn reject_layer(&self, id: &str, meta: &ImageMeta) -> io::Result<()> {
        let incomplete =
            ImageMeta { complete: false, size: None, payload_checksum: None, checksum: None, ..meta.clone() };
        self.write_meta(id, &incomplete)?;
        match fs::remove_file(self.layer_path(id)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// The tags of a repository, or `None` when the repository does not exist.
    pub fn tags(&self, repo: &RepoName) -> io::Result<Option<BTreeMap<String, String>>> {
        let dir = self.repository_dir(repo);
        if !dir.is_dir() {
            return Ok(None);
        }
        Ok(Some(read_json(&dir.join("tags.json"))?.unwrap_or_default()))
    }

    pub fn write_tags(&self, repo: &RepoName, tags: &BTreeMap<String, String>) -> io::Result<()> {
        write_json(&self.storage, &self.repository_dir(repo).join("tags.json"), tags)
    }

    /// Removes a repository (its tags and image list; the images stay, other repositories may
    /// use them). Returns false when it did not exist.
    pub fn delete_repository(&self, repo: &RepoName) -> io::Result<bool> {
        self.storage.remove_tree(&self.repository_dir(repo))
    }

    pub fn index_images(&self, repo: &RepoName) -> io::Result<Option<Vec<IndexImage>>> {
        read_json(&self.repository_dir(repo).join("index_images.json"))
    }

    /// Adds entries to the image list (ids never disappear; a checksum, once given, stays unless replaced).
    pub fn merge_index_images(&self, repo: &RepoName, entries: &[IndexImage]) -> io::Result<()> {
        let mut list = self.index_images(repo)?.unwrap_or_default();
        for entry in entries {
            match list.iter_mut().find(|known| known.id == entry.id) {
                Some(known) => known.checksum = entry.checksum.clone().or(known.checksum.take()),
                None => list.push(entry.clone()),
            }
        }
        let dir = self.repository_dir(repo);
        fs::create_dir_all(&dir)?;
        write_json(&self.storage, &dir.join("index_images.json"), &list)
    }

    /// Every repository, for search.
    pub fn repositories(&self) -> io::Result<Vec<RepoName>> {
        let mut found = Vec::new();
        for namespace in list_dir(&self.storage.path("v1/repositories"))? {
            for name in list_dir(&self.storage.path(format!("v1/repositories/{namespace}")))? {
                found.extend(RepoName::parse(Some(&namespace), &name).ok());
            }
        }
        found.sort_by_key(|r| r.to_string());
        Ok(found)
    }
}

fn list_dir(dir: &std::path::Path) -> io::Result<Vec<String>> {
    match fs::read_dir(dir) {
        Ok(entries) => Ok(entries.filter_map(|e| e.ok()?.file_name().into_string().ok()).collect()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

fn read_json<T: serde::de::DeserializeOwned>(path: &std::path::Path) -> io::Result<Option<T>> {
    match read_optional(path)? {
        None => Ok(None),
        Some(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(io::Error::other),
    }
}

fn write_json<T: Serialize + ?Sized>(storage: &Storage, path: &std::path::Path, value: &T) -> io::Result<()> {
    storage.write_atomic(path, &serde_json::to_vec(value).map_err(io::Error::other)?)
}
