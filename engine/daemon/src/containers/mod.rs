//! The daemon's containers: their records on disk, names and id prefixes, creation from an
//! image and a request, and the running side (through `berth-runtime`'s monitors).

pub mod attach;
pub mod create;
pub mod files;
pub mod files_in;
pub mod fs;
pub mod health;
pub mod lifecycle;
pub mod logs;
pub mod mounts;
pub mod names;
pub mod network;
pub mod record;
pub mod signals;

pub use record::{Container, Paths, RunState};

use berth_image::fsutil::write_replace;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::watch;

#[derive(Debug, thiserror::Error)]
pub enum ContainerError {
    #[error("No such container: {0}")]
    NoSuch(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Internal(String),
}

impl From<berth_image::StoreError> for ContainerError {
    fn from(e: berth_image::StoreError) -> ContainerError {
        use berth_image::ErrorKind::*;
        match e.kind() {
            NotFound => ContainerError::NotFound(e.to_string()),
            Conflict => ContainerError::Conflict(e.to_string()),
            InvalidInput => ContainerError::Invalid(e.to_string()),
            Internal => ContainerError::Internal(e.to_string()),
        }
    }
}

/// The name prefix of a removed container's directory whose files are still being deleted.
const REMOVING: &str = ".removing-";

/// What changed last for a container, for waiters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Generation {
    pub exits: u64,
    pub removed: bool,
    /// The code of the latest exit, which outlives the container's record.
    pub exit_code: i64,
}

/// One container: its record and, while it runs, its monitor.
pub struct Entry {
    pub record: Container,
    pub monitor: Option<Arc<berth_runtime::Monitor>>,
    pub changes: watch::Sender<Generation>,
    /// A start, stop or removal is under way; others wait or refuse.
    pub busy: bool,
    /// Attachers waiting for the next start.
    pub pending_attach: Vec<attach::PendingAttach>,
}

#[derive(Default)]
struct Registry {
    entries: BTreeMap<String, Entry>,
}

pub struct Containers {
    dir: PathBuf,
    exec_root: PathBuf,
    registry: Mutex<Registry>,
}

impl Containers {
    /// Loads every container record under `dir` (graph/containers); runtime state goes under
    /// `exec_root`.
    pub fn open(dir: &Path, exec_root: &Path) -> Result<Containers, ContainerError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| ContainerError::Internal(format!("cannot create {}: {e}", dir.display())))?;
        let mut registry = Registry::default();
        for entry in std::fs::read_dir(dir).map_err(|e| ContainerError::Internal(e.to_string()))?.flatten() {
            if entry.file_name().to_string_lossy().starts_with(REMOVING) {
                let _ = berth_image::fsutil::remove_tree(&entry.path());
                continue;
            }
            let path = entry.path().join("container.json");
            match std::fs::read(&path).ok().and_then(|b| serde_json::from_slice::<Container>(&b).ok()) {
                Some(record) if record.id == entry.file_name().to_string_lossy() => {
                    let (changes, _) = watch::channel(Generation::default());
                    registry.entries.insert(
                        record.id.clone(),
                        Entry { record, monitor: None, changes, busy: false, pending_attach: Vec::new() },
                    );
                }
                _ => tracing::warn!("ignoring {}: no readable container record", entry.path().display()),
            }
        }
        Ok(Containers { dir: dir.to_path_buf(), exec_root: exec_root.to_path_buf(), registry: Mutex::new(registry) })
    }

    fn lock(&self) -> MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn paths(&self, id: &str) -> Paths {
        Paths::new(&self.dir, &self.exec_root, id)
    }

    /// The id of the container a user's word names: full id, name (with or without `/`), or
    /// a unique id prefix.
    pub fn resolve(&self, name: &str) -> Result<String, ContainerError> {
        let registry = self.lock();
        if registry.entries.contains_key(name) {
            return Ok(name.to_string());
        }
        let slashed = if name.starts_with('/') { name.to_string() } else { format!("/{name}") };
        if let Some(entry) = registry.entries.values().find(|e| e.record.name == slashed) {
            return Ok(entry.record.id.clone());
        }
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ContainerError::NoSuch(name.to_string()));
        }
        let mut found = registry.entries.keys().filter(|id| id.starts_with(name));
        match (found.next(), found.next()) {
            (Some(id), None) => Ok(id.clone()),
            (Some(_), Some(_)) => Err(ContainerError::Invalid(format!(
                "multiple containers match the id prefix {name}: give more characters"
            ))),
            _ => Err(ContainerError::NoSuch(name.to_string())),
        }
    }

    /// Runs `f` on a container's entry.
    pub fn with<R>(&self, id: &str, f: impl FnOnce(&mut Entry) -> R) -> Result<R, ContainerError> {
        let mut registry = self.lock();
        let entry = registry.entries.get_mut(id).ok_or_else(|| ContainerError::NoSuch(id.to_string()))?;
        Ok(f(entry))
    }

    /// A copy of a container's record, by any name.
    pub fn get(&self, name: &str) -> Result<Container, ContainerError> {
        let id = self.resolve(name)?;
        self.with(&id, |e| e.record.clone())
    }

    /// Every container's record.
    pub fn list(&self) -> Vec<Container> {
        self.lock().entries.values().map(|e| e.record.clone()).collect()
    }

    pub fn count(&self) -> (usize, usize) {
        let registry = self.lock();
        let running = registry.entries.values().filter(|e| e.record.state.running).count();
        (registry.entries.len(), running)
    }

    /// The container whose name is `name`, if any.
    pub fn by_name(&self, name: &str) -> Option<String> {
        self.lock().entries.values().find(|e| e.record.name == name).map(|e| e.record.id.clone())
    }

    /// Adds a new container, refusing a name already in use.
    pub fn insert(&self, record: Container) -> Result<(), ContainerError> {
        let mut registry = self.lock();
        if let Some(other) = registry.entries.values().find(|e| e.record.name == record.name) {
            return Err(name_conflict(&record.name, &other.record.id));
        }
        self.persist(&record)?;
        let (changes, _) = watch::channel(Generation::default());
        registry.entries.insert(
            record.id.clone(),
            Entry { record, monitor: None, changes, busy: false, pending_attach: Vec::new() },
        );
        Ok(())
    }

    /// Writes a container's record.
    pub fn persist(&self, record: &Container) -> Result<(), ContainerError> {
        let paths = self.paths(&record.id);
        std::fs::create_dir_all(&paths.dir)
            .map_err(|e| ContainerError::Internal(format!("cannot create {}: {e}", paths.dir.display())))?;
        let bytes = serde_json::to_vec_pretty(record).map_err(|e| ContainerError::Internal(e.to_string()))?;
        write_replace(&paths.record(), &bytes)
            .map_err(|e| ContainerError::Internal(format!("cannot write {}: {e}", paths.record().display())))
    }

    /// Changes a record and writes it.
    pub fn update(&self, id: &str, f: impl FnOnce(&mut Container)) -> Result<Container, ContainerError> {
        let record = self.with(id, |e| {
            f(&mut e.record);
            e.record.clone()
        })?;
        self.persist(&record)?;
        Ok(record)
    }

    /// Forgets a container and removes its directory; waiters for removal wake up.
    pub fn forget(&self, id: &str) -> Result<(), ContainerError> {
        let entry = self.lock().entries.remove(id).ok_or_else(|| ContainerError::NoSuch(id.to_string()))?;
        let code = entry.record.state.exit_code;
        entry.changes.send_modify(|g| {
            g.removed = true;
            g.exit_code = code;
        });
        let paths = self.paths(id);
        let _ = berth_image::fsutil::remove_tree(&paths.run());
        // Deleting a read-write layer of many files takes a while on some disks; the record
        // is gone now and the files go in the background (a restart finishes the job).
        let dir = paths.dir;
        let doomed = self.dir.join(format!("{REMOVING}{id}"));
        std::fs::rename(&dir, &doomed)
            .map_err(|e| ContainerError::Internal(format!("cannot remove {}: {e}", dir.display())))?;
        std::thread::spawn(move || {
            if let Err(e) = berth_image::fsutil::remove_tree(&doomed) {
                tracing::warn!("cannot remove {}: {e}", doomed.display());
            }
        });
        Ok(())
    }

    /// Renames a container, refusing a name in use.
    pub fn rename(&self, id: &str, new_name: &str) -> Result<(), ContainerError> {
        let record = {
            let mut registry = self.lock();
            if let Some(other) = registry.entries.values().find(|e| e.record.name == new_name && e.record.id != id) {
                return Err(name_conflict(new_name, &other.record.id));
            }
            let entry = registry.entries.get_mut(id).ok_or_else(|| ContainerError::NoSuch(id.to_string()))?;
            entry.record.name = new_name.to_string();
            entry.record.clone()
        };
        self.persist(&record)
    }

    /// A receiver that sees every later exit and the removal.
    pub fn subscribe(&self, id: &str) -> Result<watch::Receiver<Generation>, ContainerError> {
        self.with(id, |e| e.changes.subscribe())
    }

    /// Which container, if any, was made from an image (for `rmi`'s conflict).
    pub fn using_image(&self, image_id: &str) -> Option<berth_image::ContainerUse> {
        let digest = format!("sha256:{image_id}");
        self.lock()
            .entries
            .values()
            .find(|e| e.record.image == digest)
            .map(|e| berth_image::ContainerUse { container: e.record.id.clone(), running: e.record.state.running })
    }
}

pub fn name_conflict(name: &str, holder: &str) -> ContainerError {
    ContainerError::Conflict(format!(
        "Conflict. The container name \"{name}\" is already in use by container \"{holder}\". You have to remove (or rename) that container to be able to reuse that name."
    ))
}
