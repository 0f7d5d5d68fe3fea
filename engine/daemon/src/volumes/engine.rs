//! Volumes in the engine's life: the volume endpoints' work with their events, and the hooks
//! the container lifecycle calls — the runtime mounts at start (with copy-up and the local
//! driver's mounts), unmount at exit, and letting go of volumes when a container is removed.

use super::{local, NewVolume, Volume, VolumeError};
use crate::containers::mounts::{self, Kind, MountPoint};
use crate::containers::{Container, ContainerError, Containers};
use crate::engine::Engine;
use berth_runtime::Mount;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

/// The volumes each container record refers to, for [`super::Volumes::open`].
pub fn users_of(containers: &Containers) -> Vec<(String, Vec<String>)> {
    containers.list().into_iter().map(|c| (c.id.clone(), volume_names(&c.mount_points))).collect()
}

fn volume_names(points: &[MountPoint]) -> Vec<String> {
    points.iter().filter(|m| m.kind == Kind::Volume).map(|m| m.name.clone()).collect()
}

/// What `volume prune` removed.
#[derive(Debug, Default)]
pub struct Pruned {
    pub names: Vec<String>,
    pub bytes: u64,
}

impl Engine {
    /// Sends the store's create and destroy events to the event log.
    pub fn connect_volume_events(self: &Arc<Self>) {
        let engine = Arc::downgrade(self);
        self.volumes.on_event(Box::new(move |action, name, attributes| {
            if let Some(engine) = engine.upgrade() {
                engine.events.volume(action, name, attributes);
            }
        }));
    }

    /// A volume as the API shows it.
    pub fn volume_view(&self, volume: &Volume) -> berth_api::volume::Volume {
        let non_empty = |m: &BTreeMap<String, String>| (!m.is_empty()).then(|| m.clone());
        berth_api::volume::Volume {
            created_at: volume.created_at.clone(),
            driver: volume.driver.clone(),
            labels: non_empty(&volume.labels),
            mountpoint: self.volumes.data_path(&volume.name).display().to_string(),
            name: volume.name.clone(),
            options: non_empty(&volume.options),
            scope: "local".into(),
            usage_data: None,
        }
    }

    pub fn create_volume(&self, request: berth_api::volume::CreateRequest) -> Result<Volume, VolumeError> {
        let new = NewVolume {
            name: request.name,
            driver: request.driver,
            labels: request.labels.unwrap_or_default(),
            options: request.driver_opts.unwrap_or_default(),
        };
        self.volumes.create(new).map(|(volume, _)| volume)
    }

    /// Removes every volume no container refers to (API 1.41 prunes named ones too) that
    /// `keep` does not hold back.
    pub fn prune_volumes(&self, keep: impl Fn(&Volume) -> bool) -> Pruned {
        let mut pruned = Pruned::default();
        for volume in self.volumes.list().into_iter().filter(|v| !keep(v)) {
            if !self.volumes.users(&volume.name).is_empty() {
                continue;
            }
            let size = self.volumes.size(&volume.name);
            match self.volumes.remove(&volume.name, false) {
                Ok(true) => {
                    pruned.names.push(volume.name);
                    pruned.bytes += size;
                }
                Ok(false) | Err(VolumeError::InUse { .. }) => {}
                Err(e) => tracing::warn!("prune: {e}"),
            }
        }
        pruned
    }

    /// The runtime mounts of a container about to start: its mount points (resolved again if
    /// a start-time HostConfig changed them), each volume ready (local driver mount, then
    /// the image's files copied in while it is empty), and its `--tmpfs` mounts.
    pub(crate) fn container_mounts(&self, record: &Container, rootfs: &Path) -> Result<Vec<Mount>, ContainerError> {
        let points = self.current_mount_points(record)?;
        let mut out = Vec::new();
        for point in &points {
            mounts::ensure_source(point)?;
            if point.kind != Kind::Volume {
                out.push(mounts::runtime_mount(point, None));
                continue;
            }
            let data = self.prepare_volume(point, rootfs)?;
            out.push(mounts::runtime_mount(point, Some(&data)));
        }
        out.extend(mounts::tmpfs_mounts(&record.host_config));
        mounts::sort_by_depth(&mut out);
        for point in points.iter().filter(|m| m.kind == Kind::Volume) {
            let attributes = [
                ("container", record.id.clone()),
                ("destination", point.destination.clone()),
                ("driver", point.driver.clone()),
                ("propagation", point.propagation.clone()),
                ("read/write", point.rw.to_string()),
            ];
            self.events.volume("mount", &point.name, &attributes);
        }
        Ok(out)
    }

    fn prepare_volume(&self, point: &MountPoint, rootfs: &Path) -> Result<std::path::PathBuf, ContainerError> {
        let volume = self.volumes.get(&point.name).map_err(|e| ContainerError::NotFound(e.to_string()))?;
        let data = self.volumes.data_path(&point.name);
        local::mount_backing(&volume.options, &data).map_err(ContainerError::Internal)?;
        if point.copy_data {
            super::copy_up(rootfs, &point.destination, &data).map_err(|e| {
                ContainerError::Internal(format!(
                    "cannot copy the image's {} into the volume {}: {e}",
                    point.destination, point.name
                ))
            })?;
        }
        Ok(data)
    }

    /// The record's mount points, resolved again (and saved) when the request fields they
    /// came from changed since, as a HostConfig given at start (API < 1.24) does.
    fn current_mount_points(&self, record: &Container) -> Result<Vec<MountPoint>, ContainerError> {
        let key = mounts::source_key(&record.config, &record.host_config);
        if key == record.mount_source {
            return Ok(record.mount_points.clone());
        }
        let containers = self.containers.clone();
        let mounts_of = move |name: &str| from_container(&containers, name);
        let planned = mounts::plan(&record.config, &record.host_config, &mounts_of)?;
        let (points, _) = mounts::materialize(&self.volumes, planned, &record.mount_points, &record.id)?;
        let kept = volume_names(&points);
        let dropped: Vec<String> =
            volume_names(&record.mount_points).into_iter().filter(|n| !kept.contains(n)).collect();
        for name in &dropped {
            self.volumes.release_one(name, &record.id);
        }
        tracing::debug!("{}: mount points resolved again; no longer uses {dropped:?}", record.short_id());
        self.containers.update(&record.id, |c| {
            c.mount_points = points.clone();
            c.mount_source = key;
        })?;
        Ok(points)
    }

    /// After a container stopped (or failed to start): `unmount` events when `announce`, and
    /// the local driver's mounts that no running container needs any more are undone.
    pub(crate) fn volumes_unmounted(&self, record: &Container, announce: bool) {
        let running: Vec<Container> =
            self.containers.list().into_iter().filter(|c| c.state.running && c.id != record.id).collect();
        for point in record.mount_points.iter().filter(|m| m.kind == Kind::Volume) {
            if announce {
                let attributes = [("container", record.id.clone()), ("driver", point.driver.clone())];
                self.events.volume("unmount", &point.name, &attributes);
            }
            let needed = running.iter().any(|c| c.mount_points.iter().any(|m| m.name == point.name));
            let has_backing = self.volumes.get(&point.name).is_ok_and(|v| !v.options.is_empty());
            if has_backing && !needed {
                if let Err(e) = local::unmount(&self.volumes.data_path(&point.name)) {
                    tracing::warn!("cannot unmount the volume {}: {e}", point.name);
                }
            }
        }
    }

    /// A removed container lets go of its volumes; with `remove_anonymous` (`rm -v`, `--rm`)
    /// its anonymous volumes that no other container refers to are removed.
    pub(crate) fn release_volumes(&self, record: &Container, remove_anonymous: bool) {
        self.volumes.release(&record.id);
        if !remove_anonymous {
            return;
        }
        for point in record.mount_points.iter().filter(|m| m.kind == Kind::Volume && !m.named) {
            match self.volumes.remove(&point.name, true) {
                Ok(_) | Err(VolumeError::InUse { .. }) => {}
                Err(e) => tracing::warn!("cannot remove the volume {}: {e}", point.name),
            }
        }
    }
}

/// Another container's mount points, for `--volumes-from`. An unknown container is a bad
/// request (a 404 would make clients look for the image).
pub fn from_container(containers: &Containers, name: &str) -> Result<Vec<MountPoint>, ContainerError> {
    match containers.get(name) {
        Ok(record) => Ok(record.mount_points),
        Err(ContainerError::NoSuch(n)) => Err(ContainerError::Invalid(format!("No such container: {n}"))),
        Err(e) => Err(e),
    }
}
