//! Volumes: directories under `<graph>/volumes/<name>/_data` that live outside any container's
//! union file system, each with a small `volume.json`, and which containers refer to them. A
//! volume lives until it is removed and no container refers to it (3.6).

mod copy;
mod engine;
pub mod local;

pub use copy::copy_up;
pub use engine::{from_container, users_of, Pruned};

use berth_image::fsutil::{remove_tree, write_replace};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, OnceLock};

/// The only driver berth has.
pub const LOCAL: &str = "local";

#[derive(Debug, thiserror::Error)]
pub enum VolumeError {
    #[error("get {0}: no such volume")]
    NoSuch(String),
    #[error("remove {name}: volume is in use - [{}]", users.join(", "))]
    InUse { name: String, users: Vec<String> },
    #[error("create {0}: volume name is too short, names should be at least two alphanumeric characters")]
    NameTooShort(String),
    #[error(
        "create {0}: {0:?} includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"
    )]
    InvalidName(String),
    #[error("create {name}: volume driver {driver:?} is not available: berth only has the \"local\" driver")]
    NoDriver { name: String, driver: String },
    #[error("create {name}: {message}")]
    InvalidOptions { name: String, message: String },
    #[error("{0}")]
    Io(String),
}

impl VolumeError {
    fn io(what: &str, path: &Path, e: std::io::Error) -> VolumeError {
        VolumeError::Io(format!("cannot {what} {}: {e}", path.display()))
    }
}

/// A volume as `volume.json` keeps it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Volume {
    pub name: String,
    pub driver: String,
    /// RFC 3339, to the second.
    pub created_at: String,
    pub labels: BTreeMap<String, String>,
    /// The local driver's `type`, `device` and `o`.
    pub options: BTreeMap<String, String>,
}

/// What a new volume should be.
#[derive(Debug, Clone, Default)]
pub struct NewVolume {
    /// Empty for an anonymous volume, which gets a 64-hex name.
    pub name: String,
    pub driver: String,
    pub labels: BTreeMap<String, String>,
    pub options: BTreeMap<String, String>,
}

/// Called with (action, volume name, attributes) for `create` and `destroy`.
pub type Notify = Box<dyn Fn(&str, &str, &[(&str, String)]) + Send + Sync>;

#[derive(Default)]
struct State {
    volumes: BTreeMap<String, Volume>,
    /// Volume name to the ids of the containers that refer to it.
    users: BTreeMap<String, BTreeSet<String>>,
}

pub struct Volumes {
    dir: PathBuf,
    state: Mutex<State>,
    notify: OnceLock<Notify>,
}

/// Docker's rule for local volume names: `[a-zA-Z0-9][a-zA-Z0-9_.-]+`.
pub fn check_name(name: &str) -> Result<(), VolumeError> {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    if !first_ok || !chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')) {
        return Err(VolumeError::InvalidName(name.to_string()));
    }
    if name.len() < 2 {
        return Err(VolumeError::NameTooShort(name.to_string()));
    }
    Ok(())
}

/// Seconds-precision RFC 3339, as volumes show their creation time.
fn now_seconds() -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    berth_api::time::rfc3339(now.as_secs() as i64, 0).replace(".000000000Z", "Z")
}

impl Volumes {
    /// Loads every volume under `dir` (graph/volumes), and which containers refer to which:
    /// `users` gives (container id, volume names) for every container record.
    pub fn open(dir: &Path, users: impl IntoIterator<Item = (String, Vec<String>)>) -> Result<Volumes, VolumeError> {
        std::fs::create_dir_all(dir).map_err(|e| VolumeError::io("create", dir, e))?;
        let mut state = State::default();
        for entry in std::fs::read_dir(dir).map_err(|e| VolumeError::io("read", dir, e))?.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                // A creation or removal that a crash cut short.
                let _ = remove_tree(&entry.path());
                continue;
            }
            if check_name(&name).is_err() || !entry.path().join("_data").is_dir() {
                tracing::warn!("ignoring {}: not a volume", entry.path().display());
                continue;
            }
            state.volumes.insert(name.clone(), load(&entry.path(), &name));
        }
        for (container, names) in users {
            for name in names {
                state.users.entry(name).or_default().insert(container.clone());
            }
        }
        Ok(Volumes { dir: dir.to_path_buf(), state: Mutex::new(state), notify: OnceLock::new() })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Where create and destroy events go (set once).
    pub fn on_event(&self, notify: Notify) {
        let _ = self.notify.set(notify);
    }

    fn event(&self, action: &str, name: &str) {
        if let Some(notify) = self.notify.get() {
            notify(action, name, &[("driver", LOCAL.to_string())]);
        }
    }

    /// The host directory holding a volume's files.
    pub fn data_path(&self, name: &str) -> PathBuf {
        self.dir.join(name).join("_data")
    }

    pub fn get(&self, name: &str) -> Result<Volume, VolumeError> {
        self.lock().volumes.get(name).cloned().ok_or_else(|| VolumeError::NoSuch(name.to_string()))
    }

    pub fn list(&self) -> Vec<Volume> {
        self.lock().volumes.values().cloned().collect()
    }

    /// The containers that refer to a volume.
    pub fn users(&self, name: &str) -> Vec<String> {
        self.lock().users.get(name).map(|u| u.iter().cloned().collect()).unwrap_or_default()
    }

    /// Creates a volume, or returns the one of that name (Docker keeps the first one's labels
    /// and options). The flag says whether it is new.
    pub fn create(&self, new: NewVolume) -> Result<(Volume, bool), VolumeError> {
        self.create_for(new, None)
    }

    /// Creates (or finds) a volume and counts `container` among its users in the same step,
    /// so a removal cannot slip in between.
    pub fn create_for(&self, new: NewVolume, container: Option<&str>) -> Result<(Volume, bool), VolumeError> {
        let name = if new.name.is_empty() {
            crate::random_id().map_err(|e| VolumeError::Io(format!("cannot make a volume name: {e}")))?
        } else {
            check_name(&new.name)?;
            new.name.clone()
        };
        let driver = if new.driver.is_empty() { LOCAL.to_string() } else { new.driver.clone() };
        if driver != LOCAL {
            return Err(VolumeError::NoDriver { name, driver });
        }
        local::check_options(&name, &new.options)?;
        let mut state = self.lock();
        if let Some(existing) = state.volumes.get(&name).cloned() {
            if let Some(id) = container {
                state.users.entry(name).or_default().insert(id.to_string());
            }
            return Ok((existing, false));
        }
        let volume =
            Volume { name: name.clone(), driver, created_at: now_seconds(), labels: new.labels, options: new.options };
        self.write_new(&volume)?;
        state.volumes.insert(name.clone(), volume.clone());
        if let Some(id) = container {
            state.users.entry(name.clone()).or_default().insert(id.to_string());
        }
        drop(state);
        self.event("create", &name);
        Ok((volume, true))
    }

    /// Makes the volume's directory beside its final place and renames it in.
    fn write_new(&self, volume: &Volume) -> Result<(), VolumeError> {
        let staging = self.dir.join(format!(".creating-{}-{}", volume.name, berth_image::fsutil::unique_suffix()));
        let result = (|| {
            std::fs::create_dir_all(staging.join("_data")).map_err(|e| VolumeError::io("create", &staging, e))?;
            let bytes = serde_json::to_vec_pretty(volume).map_err(|e| VolumeError::Io(e.to_string()))?;
            let meta = staging.join("volume.json");
            write_replace(&meta, &bytes).map_err(|e| VolumeError::io("write", &meta, e))?;
            let target = self.dir.join(&volume.name);
            std::fs::rename(&staging, &target).map_err(|e| VolumeError::io("create", &target, e))
        })();
        if result.is_err() {
            let _ = remove_tree(&staging);
        }
        result
    }

    /// Counts `container` among a volume's users; the volume must exist.
    pub fn acquire(&self, name: &str, container: &str) -> Result<(), VolumeError> {
        let mut state = self.lock();
        if !state.volumes.contains_key(name) {
            return Err(VolumeError::NoSuch(name.to_string()));
        }
        state.users.entry(name.to_string()).or_default().insert(container.to_string());
        Ok(())
    }

    /// Forgets one use of a volume.
    pub fn release_one(&self, name: &str, container: &str) {
        let mut state = self.lock();
        if let Some(users) = state.users.get_mut(name) {
            users.remove(container);
            if users.is_empty() {
                state.users.remove(name);
            }
        }
    }

    /// Forgets every use `container` made of volumes.
    pub fn release(&self, container: &str) {
        let mut state = self.lock();
        state.users.values_mut().for_each(|u| {
            u.remove(container);
        });
        state.users.retain(|_, u| !u.is_empty());
    }

    /// Removes a volume nobody uses. `force` only makes a missing volume no error (as in
    /// Docker, it never removes a volume in use). Returns whether it removed one.
    pub fn remove(&self, name: &str, force: bool) -> Result<bool, VolumeError> {
        let doomed = {
            let mut state = self.lock();
            if !state.volumes.contains_key(name) {
                return if force { Ok(false) } else { Err(VolumeError::NoSuch(name.to_string())) };
            }
            if let Some(users) = state.users.get(name).filter(|u| !u.is_empty()) {
                return Err(VolumeError::InUse { name: name.to_string(), users: users.iter().cloned().collect() });
            }
            let path = self.dir.join(name);
            let data = self.data_path(name);
            local::unmount(&data).map_err(|e| VolumeError::io("unmount", &path, e))?;
            if state.volumes.get(name).is_some_and(|v| !v.options.is_empty()) {
                // Its files lived on the mount (a host directory, for a bind): the directory
                // underneath is empty, and must be, or the recursive removal below could reach
                // into what is still mounted there.
                std::fs::remove_dir(&data).map_err(|e| VolumeError::io("remove the mount point", &data, e))?;
            }
            let doomed = self.dir.join(format!(".removing-{name}-{}", berth_image::fsutil::unique_suffix()));
            std::fs::rename(&path, &doomed).map_err(|e| VolumeError::io("remove", &path, e))?;
            state.volumes.remove(name);
            doomed
        };
        if let Err(e) = remove_tree(&doomed) {
            tracing::warn!("cannot remove {}: {e}", doomed.display());
        }
        self.event("destroy", name);
        Ok(true)
    }

    /// Bytes used by a volume's files.
    pub fn size(&self, name: &str) -> u64 {
        disk_usage(&self.data_path(name))
    }
}

/// A volume's record, or one made from its directory when `volume.json` is missing or bad.
fn load(dir: &Path, name: &str) -> Volume {
    let from_file = std::fs::read(dir.join("volume.json")).ok().and_then(|b| serde_json::from_slice::<Volume>(&b).ok());
    match from_file {
        Some(volume) if volume.name == name => volume,
        _ => {
            let secs = std::fs::metadata(dir.join("_data"))
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_secs() as i64);
            let created_at = berth_api::time::rfc3339(secs, 0).replace(".000000000Z", "Z");
            Volume { name: name.to_string(), driver: LOCAL.into(), created_at, ..Default::default() }
        }
    }
}

/// Bytes in a tree, not following links, each hard-linked file counted once.
pub fn disk_usage(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let mut seen = BTreeSet::new();
    let mut total = 0;
    let mut pending = vec![path.to_path_buf()];
    while let Some(p) = pending.pop() {
        let Ok(meta) = std::fs::symlink_metadata(&p) else { continue };
        if meta.is_dir() {
            pending.extend(std::fs::read_dir(&p).into_iter().flatten().flatten().map(|e| e.path()));
        } else if meta.nlink() < 2 || seen.insert((meta.dev(), meta.ino())) {
            total += meta.len();
        }
    }
    total
}

#[cfg(test)]
mod tests;
