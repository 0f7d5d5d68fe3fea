//! A container's mount points: what `-v`/`Binds`, `--mount`, `--volumes-from`, `--tmpfs` and
//! the image's and request's `Volumes` ask for, resolved at create into the list the record
//! keeps (3.6, 5.1.29): binds of host paths (a missing `-v` host directory is created),
//! volumes (named, or anonymous with a 64-hex name), and tmpfs mounts. `--volumes-from`
//! copies another container's list, so a chain through a middle container works.

use super::ContainerError;
use crate::volumes::{self, NewVolume, VolumeError, Volumes};
use berth_api::container::Config;
use berth_api::containers::{HostConfig, MountSpec};
use berth_runtime::{Mount, Propagation};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    #[default]
    Volume,
    Bind,
    Tmpfs,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Volume => "volume",
            Kind::Bind => "bind",
            Kind::Tmpfs => "tmpfs",
        }
    }
}

/// One mount of a container, as its record keeps it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MountPoint {
    pub kind: Kind,
    /// Clean and absolute.
    pub destination: String,
    /// A bind's host path.
    pub source: String,
    /// A volume's name.
    pub name: String,
    pub driver: String,
    pub rw: bool,
    /// The mode as inspect shows it (`ro`, `z`, `ro,rshared`, or empty).
    pub mode: String,
    /// A bind's propagation; empty means rprivate.
    pub propagation: String,
    /// Named by the user (`-v name:/p`, `--mount source=name`): `rm -v` leaves it.
    pub named: bool,
    /// Copy the image's files at the destination into the volume while it is empty.
    pub copy_data: bool,
    /// A `-v` bind whose missing host directory is created when the container starts.
    pub create_source: bool,
    /// A tmpfs mount's options (`size=...,mode=...`).
    pub options: String,
}

/// A mount point before its volume exists, with what a new volume should get.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Planned {
    pub point: MountPoint,
    pub labels: BTreeMap<String, String>,
    pub driver_options: BTreeMap<String, String>,
}

fn invalid(message: String) -> ContainerError {
    ContainerError::Invalid(message)
}

/// Checks the mount syntax of a HostConfig when a container is created, changing nothing.
pub fn validate(host: &HostConfig) -> Result<(), ContainerError> {
    for bind in host.binds.iter().flatten() {
        parse_bind(bind)?;
    }
    for spec in host.mounts.iter().flatten() {
        parse_mount(spec)?;
    }
    for target in host.tmpfs.iter().flatten().map(|(t, _)| t) {
        clean_destination(target).map_err(|why| invalid(format!("invalid tmpfs target {target:?}: {why}")))?;
    }
    for entry in host.volumes_from.iter().flatten() {
        parse_volumes_from(entry)?;
    }
    Ok(())
}

/// Refuses relative paths in a request's `Volumes` (an image's are taken from `/`).
pub fn check_config_volumes(config: &Config) -> Result<(), ContainerError> {
    for path in config.volumes.iter().flatten().map(|(p, _)| p) {
        clean_destination(path).map_err(|why| invalid(format!("invalid volume {path:?} in Volumes: {why}")))?;
    }
    Ok(())
}

/// A bind mount with Docker's default propagation.
pub fn bind(source: &Path, destination: &str, readonly: bool) -> Mount {
    Mount::Bind { source: source.to_path_buf(), destination: destination.to_string(), readonly, propagation: None }
}

/// `path` made absolute-and-clean (`/a/./b//` is `/a/b`); `/` itself and relative paths are
/// refused with the reason.
pub fn clean_destination(path: &str) -> Result<String, String> {
    if !path.starts_with('/') {
        return Err(format!("the container path {path:?} must be absolute"));
    }
    let cleaned = berth_image::fsutil::clean_relative(path);
    if cleaned.is_empty() {
        return Err("the container path cannot be /".into());
    }
    Ok(format!("/{cleaned}"))
}

/// The options after the second colon of `-v`: `ro`/`rw`, `z`/`Z` (SELinux labels, which
/// berth accepts and ignores), `nocopy`, and for binds a propagation mode.
#[derive(Debug, Default)]
struct Modes {
    readonly: bool,
    nocopy: bool,
    propagation: Option<&'static str>,
}

const PROPAGATIONS: [&str; 6] = ["private", "rprivate", "shared", "rshared", "slave", "rslave"];

fn parse_modes(mode: &str, spec: &str) -> Result<Modes, ContainerError> {
    let bad = |m: &str| {
        invalid(format!(
            "invalid mode {m:?} in volume specification {spec:?}: use ro or rw, optionally with z, Z, nocopy or a propagation (rprivate, rshared, rslave...)"
        ))
    };
    let mut modes = Modes::default();
    let mut seen = BTreeSet::new();
    for m in mode.split(',').filter(|m| !m.is_empty()) {
        let group = match m {
            "ro" | "rw" => "rw",
            "z" | "Z" => "label",
            "nocopy" => "copy",
            p if PROPAGATIONS.contains(&p) => "propagation",
            _ => return Err(bad(m)),
        };
        if !seen.insert(group) {
            return Err(bad(mode));
        }
        match m {
            "ro" => modes.readonly = true,
            "nocopy" => modes.nocopy = true,
            p => modes.propagation = PROPAGATIONS.iter().find(|x| **x == p).copied(),
        }
    }
    Ok(modes)
}

/// `-v` and `Binds`: `/ctr` (a new volume), `/host:/ctr[:mode]` (a bind) or
/// `name:/ctr[:mode]` (a named volume, created when missing).
pub fn parse_bind(text: &str) -> Result<Planned, ContainerError> {
    let parts: Vec<&str> = text.split(':').collect();
    let (source, destination, mode) = match parts.as_slice() {
        [destination] => ("", *destination, ""),
        [source, destination] if !source.is_empty() => (*source, *destination, ""),
        [source, destination, mode] if !source.is_empty() => (*source, *destination, *mode),
        _ => {
            return Err(invalid(format!(
                "invalid volume specification {text:?}: use /container-path, /host-path:/container-path[:ro|rw] or name:/container-path[:ro|rw]"
            )))
        }
    };
    let destination = clean_destination(destination)
        .map_err(|why| invalid(format!("invalid volume specification {text:?}: {why}")))?;
    let modes = parse_modes(mode, text)?;
    let mut point = MountPoint { destination, rw: !modes.readonly, mode: mode.to_string(), ..Default::default() };
    if source.starts_with('/') {
        if modes.nocopy {
            return Err(invalid(format!(
                "invalid volume specification {text:?}: nocopy applies to volumes, not binds"
            )));
        }
        point.kind = Kind::Bind;
        point.source = source.to_string();
        point.propagation = modes.propagation.unwrap_or("rprivate").to_string();
        point.create_source = true;
    } else {
        if modes.propagation.is_some() {
            return Err(invalid(format!(
                "invalid volume specification {text:?}: a propagation mode applies to binds, not volumes"
            )));
        }
        if !source.is_empty() {
            volumes::check_name(source).map_err(|e| invalid(e.to_string()))?;
            point.name = source.to_string();
            point.named = true;
            if point.mode.is_empty() {
                point.mode = "z".into();
            }
        }
        point.copy_data = !modes.nocopy;
    }
    Ok(Planned { point, ..Default::default() })
}

/// A `Mounts` entry's options object (`BindOptions`...), if it says anything.
fn options_given(value: &Option<Value>) -> bool {
    value.as_ref().is_some_and(|v| !v.is_null() && v.as_object().is_none_or(|o| !o.is_empty()))
}

/// `--mount` and `HostConfig.Mounts`.
pub fn parse_mount(spec: &MountSpec) -> Result<Planned, ContainerError> {
    let kind = spec.kind.as_str();
    let fail = |why: String| invalid(format!("invalid mount config for type {kind:?}: {why}"));
    let destination = clean_destination(&spec.target).map_err(|why| fail(format!("invalid mount path: {why}")))?;
    let not_for = |field: &str, given: bool| {
        if given {
            Err(fail(format!("field {field} must not be specified")))
        } else {
            Ok(())
        }
    };
    let mut point = MountPoint { destination, rw: !spec.read_only, ..Default::default() };
    let mut planned = Planned::default();
    match kind {
        "bind" => {
            not_for("VolumeOptions", options_given(&spec.volume_options))?;
            not_for("TmpfsOptions", spec.tmpfs_options.is_some())?;
            if !spec.source.starts_with('/') {
                return Err(fail(format!("the bind source {:?} must be an absolute host path", spec.source)));
            }
            if !Path::new(&spec.source).exists() {
                return Err(fail(format!("bind source path does not exist: {}", spec.source)));
            }
            let propagation = spec.bind_options.as_ref().and_then(|o| o.get("Propagation")).and_then(Value::as_str);
            let propagation = propagation.filter(|p| !p.is_empty()).unwrap_or("rprivate");
            if !PROPAGATIONS.contains(&propagation) {
                return Err(fail(format!("invalid propagation {propagation:?}")));
            }
            point.kind = Kind::Bind;
            point.source = spec.source.clone();
            point.propagation = propagation.to_string();
        }
        "volume" => {
            not_for("BindOptions", options_given(&spec.bind_options))?;
            not_for("TmpfsOptions", spec.tmpfs_options.is_some())?;
            if !spec.source.is_empty() {
                volumes::check_name(&spec.source).map_err(|e| invalid(e.to_string()))?;
                point.name = spec.source.clone();
                point.named = true;
            }
            let options = spec.volume_options.clone().unwrap_or(Value::Null);
            point.copy_data = !options.get("NoCopy").and_then(Value::as_bool).unwrap_or(false);
            point.mode = "z".into();
            planned.labels = string_map(options.get("Labels"));
            let driver = options.get("DriverConfig").cloned().unwrap_or(Value::Null);
            point.driver = driver.get("Name").and_then(Value::as_str).unwrap_or("").to_string();
            planned.driver_options = string_map(driver.get("Options"));
        }
        "tmpfs" => {
            not_for("Source", !spec.source.is_empty())?;
            not_for("BindOptions", options_given(&spec.bind_options))?;
            not_for("VolumeOptions", options_given(&spec.volume_options))?;
            point.kind = Kind::Tmpfs;
            point.options = tmpfs_options(spec);
        }
        other => {
            return Err(invalid(format!("mount type {other:?} is not supported: use bind, volume or tmpfs")));
        }
    }
    planned.point = point;
    Ok(planned)
}

fn string_map(value: Option<&Value>) -> BTreeMap<String, String> {
    let Some(Value::Object(map)) = value else { return BTreeMap::new() };
    map.iter().filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string()))).collect()
}

fn tmpfs_options(spec: &MountSpec) -> String {
    let mut options = Vec::new();
    if let Some(t) = &spec.tmpfs_options {
        if t.size_bytes > 0 {
            options.push(format!("size={}", t.size_bytes));
        }
        if t.mode != 0 {
            options.push(format!("mode={:o}", t.mode));
        }
    }
    if spec.read_only {
        options.push("ro".into());
    }
    options.join(",")
}

/// `--volumes-from`: `container[:ro|rw]`, or several of them separated by commas (2014).
pub fn parse_volumes_from(entry: &str) -> Result<Vec<(String, Option<bool>)>, ContainerError> {
    let mut out = Vec::new();
    for part in entry.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, rw) = match part.rsplit_once(':') {
            Some((name, "ro")) => (name, Some(false)),
            Some((name, "rw")) => (name, Some(true)),
            Some((_, mode)) => {
                return Err(invalid(format!(
                    "invalid mode {mode:?} in --volumes-from {part:?}: use CONTAINER, CONTAINER:ro or CONTAINER:rw"
                )))
            }
            None => (part, None),
        };
        out.push((name.to_string(), rw));
    }
    Ok(out)
}

/// Which request fields the mount points come from; when a HostConfig given at start (API
/// before 1.24) changes them, they are resolved again.
pub fn source_key(config: &Config, host: &HostConfig) -> String {
    serde_json::json!([host.binds, host.mounts, host.volumes_from, host.tmpfs, config.volumes_from, config.volumes])
        .to_string()
}

/// Resolves what a container asks for into mount points, in Docker's order of precedence:
/// `--volumes-from` first, `-v` over them, `--mount` next (a clash with `-v` is an error),
/// and the image's and request's `Volumes` as new volumes where nothing else is mounted.
/// `mounts_of` gives another container's mount points. Nothing is created here.
pub fn plan(
    config: &Config,
    host: &HostConfig,
    mounts_of: &dyn Fn(&str) -> Result<Vec<MountPoint>, ContainerError>,
) -> Result<Vec<Planned>, ContainerError> {
    let mut planned: Vec<Planned> = Vec::new();
    let upsert = |planned: &mut Vec<Planned>, p: Planned| match planned
        .iter_mut()
        .find(|x| x.point.destination == p.point.destination)
    {
        Some(slot) => *slot = p,
        None => planned.push(p),
    };
    let entries =
        std::iter::once(config.volumes_from.as_str()).chain(host.volumes_from.iter().flatten().map(String::as_str));
    for entry in entries {
        for (name, rw) in parse_volumes_from(entry)? {
            for m in mounts_of(&name)? {
                let point = MountPoint { rw: m.rw && rw.unwrap_or(true), mode: String::new(), copy_data: false, ..m };
                upsert(&mut planned, Planned { point, ..Default::default() });
            }
        }
    }
    let duplicate = |d: &str| invalid(format!("Duplicate mount point: {d}"));
    let mut explicit = BTreeSet::new();
    for bind in host.binds.iter().flatten() {
        let p = parse_bind(bind)?;
        if !explicit.insert(p.point.destination.clone()) {
            return Err(duplicate(&p.point.destination));
        }
        upsert(&mut planned, p);
    }
    for spec in host.mounts.iter().flatten() {
        let p = parse_mount(spec)?;
        if !explicit.insert(p.point.destination.clone()) {
            return Err(duplicate(&p.point.destination));
        }
        upsert(&mut planned, p);
    }
    let mut tmpfs = BTreeSet::new();
    for target in host.tmpfs.iter().flatten().map(|(t, _)| t) {
        let target =
            clean_destination(target).map_err(|why| invalid(format!("invalid tmpfs target {target:?}: {why}")))?;
        if explicit.contains(&target) || !tmpfs.insert(target.clone()) {
            return Err(duplicate(&target));
        }
    }
    for path in config.volumes.iter().flatten().map(|(p, _)| p) {
        let Ok(destination) = clean_destination(&format!("/{}", path.trim_start_matches('/'))) else { continue };
        if tmpfs.contains(&destination) || planned.iter().any(|p| p.point.destination == destination) {
            continue;
        }
        let point = MountPoint { destination, rw: true, copy_data: true, ..Default::default() };
        planned.push(Planned { point, ..Default::default() });
    }
    Ok(planned)
}

fn volume_error(e: VolumeError) -> ContainerError {
    match e {
        VolumeError::Io(message) => ContainerError::Internal(message),
        other => ContainerError::Invalid(other.to_string()),
    }
}

/// Creates (or finds) the volumes a plan needs and counts `container` among their users.
/// Anonymous volumes at destinations `previous` already had keep their names. Returns the
/// mount points and the anonymous volumes made now. On failure nothing is left held.
pub fn materialize(
    volumes: &Volumes,
    planned: Vec<Planned>,
    previous: &[MountPoint],
    container: &str,
) -> Result<(Vec<MountPoint>, Vec<String>), ContainerError> {
    let mut points = Vec::new();
    let mut created = Vec::new();
    for Planned { mut point, labels, driver_options } in planned {
        if point.kind != Kind::Volume {
            points.push(point);
            continue;
        }
        if point.name.is_empty() {
            if let Some(old) =
                previous.iter().find(|m| m.kind == Kind::Volume && !m.named && m.destination == point.destination)
            {
                point.name = old.name.clone();
            }
        }
        let new = NewVolume { name: point.name.clone(), driver: point.driver.clone(), labels, options: driver_options };
        match volumes.create_for(new, Some(container)) {
            Ok((volume, fresh)) => {
                if fresh && !point.named {
                    created.push(volume.name.clone());
                }
                point.name = volume.name;
                point.driver = volume.driver;
                points.push(point);
            }
            Err(e) => {
                abandon(volumes, container, &created);
                return Err(volume_error(e));
            }
        }
    }
    Ok((points, created))
}

/// Undoes `materialize` for a container that will not be: lets go of its volumes and removes
/// the anonymous ones made for it.
pub fn abandon(volumes: &Volumes, container: &str, created: &[String]) {
    volumes.release(container);
    for name in created {
        if let Err(e) = volumes.remove(name, true) {
            tracing::warn!("cannot remove the volume {name}: {e}");
        }
    }
}

/// The runtime mount of one mount point; `data` is a volume's host directory.
pub fn runtime_mount(point: &MountPoint, data: Option<&Path>) -> Mount {
    match point.kind {
        Kind::Tmpfs => Mount::Tmpfs { destination: point.destination.clone(), options: point.options.clone() },
        Kind::Bind => Mount::Bind {
            source: point.source.clone().into(),
            destination: point.destination.clone(),
            readonly: !point.rw,
            propagation: propagation(&point.propagation),
        },
        Kind::Volume => bind(data.unwrap_or(Path::new(&point.source)), &point.destination, !point.rw),
    }
}

fn propagation(text: &str) -> Option<Propagation> {
    Some(match text {
        "private" => Propagation::Private,
        "shared" => Propagation::Shared,
        "rshared" => Propagation::Rshared,
        "slave" => Propagation::Slave,
        "rslave" => Propagation::Rslave,
        _ => return None,
    })
}

/// `--tmpfs` mounts, which are not mount points (inspect does not list them, and
/// `--volumes-from` does not copy them).
pub fn tmpfs_mounts(host: &HostConfig) -> Vec<Mount> {
    let tmpfs = host.tmpfs.iter().flatten();
    tmpfs
        .filter_map(|(target, options)| {
            let destination = clean_destination(target).ok()?;
            Some(Mount::Tmpfs { destination, options: options.clone() })
        })
        .collect()
}

/// Creates the missing host directory of a `-v` bind (5.1.29).
pub fn ensure_source(point: &MountPoint) -> Result<(), ContainerError> {
    let source = Path::new(&point.source);
    if point.kind == Kind::Bind && point.create_source && !source.exists() {
        std::fs::create_dir_all(source)
            .map_err(|e| invalid(format!("cannot create the host directory {}: {e}", source.display())))?;
    }
    Ok(())
}

/// Parents before children (`/data` before `/data/logs`), so no mount hides a deeper one.
pub fn sort_by_depth(mounts: &mut [Mount]) {
    mounts.sort_by_key(|m| m.destination().split('/').filter(|p| !p.is_empty()).count());
}

/// `Mounts` of inspect and of the list (API 1.20 and later).
pub fn inspect_mounts(points: &[MountPoint], volumes: &Volumes) -> Vec<berth_api::volume::MountPoint> {
    points
        .iter()
        .map(|p| berth_api::volume::MountPoint {
            kind: p.kind.as_str().into(),
            name: p.name.clone(),
            source: match p.kind {
                Kind::Volume => volumes.data_path(&p.name).display().to_string(),
                Kind::Bind => p.source.clone(),
                Kind::Tmpfs => String::new(),
            },
            destination: p.destination.clone(),
            driver: p.driver.clone(),
            mode: p.mode.clone(),
            rw: p.rw,
            propagation: p.propagation.clone(),
        })
        .collect()
}

/// `Volumes` ({container path: host path}) and `VolumesRW` ({container path: writable}) of
/// the 2014 inspect.
pub fn legacy_volumes(points: &[MountPoint], volumes: &Volumes) -> (BTreeMap<String, String>, BTreeMap<String, bool>) {
    let mut paths = BTreeMap::new();
    let mut rw = BTreeMap::new();
    for m in inspect_mounts(points, volumes).into_iter().filter(|m| m.kind != "tmpfs") {
        rw.insert(m.destination.clone(), m.rw);
        paths.insert(m.destination, m.source);
    }
    (paths, rw)
}

#[cfg(test)]
mod tests;
