//! Bind and tmpfs mounts from a HostConfig: `Binds` (`-v host:container[:ro|rw]`; a missing
//! host directory is created, 5.1.29), `Tmpfs` (`--tmpfs path:options`) and `Mounts`
//! (`--mount type=bind|tmpfs,...`). Named volumes come with the volumes issue.

use super::ContainerError;
use berth_api::containers::HostConfig;
use berth_runtime::Mount;
use std::path::Path;

pub fn from_host_config(host: &HostConfig) -> Result<Vec<Mount>, ContainerError> {
    mounts(host, true)
}

/// Checks the mounts a container asks for when it is created, changing nothing.
pub fn validate(host: &HostConfig) -> Result<(), ContainerError> {
    mounts(host, false).map(|_| ())
}

fn mounts(host: &HostConfig, create_sources: bool) -> Result<Vec<Mount>, ContainerError> {
    let mut mounts = Vec::new();
    for bind in host.binds.iter().flatten() {
        mounts.push(bind_spec(bind, create_sources)?);
    }
    for target in host.tmpfs.iter().flatten().map(|(t, _)| t) {
        if !target.starts_with('/') {
            return Err(invalid(format!("invalid tmpfs target {target:?}: it must be an absolute path")));
        }
    }
    for (target, options) in host.tmpfs.iter().flatten() {
        mounts.push(Mount::Tmpfs { destination: target.clone(), options: options.clone() });
    }
    for spec in host.mounts.iter().flatten() {
        mounts.push(mount_spec(spec)?);
    }
    Ok(mounts)
}

/// A bind mount with Docker's default propagation.
pub fn bind(source: &Path, destination: &str, readonly: bool) -> Mount {
    Mount::Bind { source: source.to_path_buf(), destination: destination.to_string(), readonly, propagation: None }
}

fn invalid(message: String) -> ContainerError {
    ContainerError::Invalid(message)
}

/// `host:container[:ro|rw]`. A bare `/path` is an anonymous volume: not supported yet.
fn bind_spec(text: &str, create_source: bool) -> Result<Mount, ContainerError> {
    let parts: Vec<&str> = text.split(':').collect();
    let (source, target, mode) = match parts.as_slice() {
        [source, target] => (*source, *target, "rw"),
        [source, target, mode] => (*source, *target, *mode),
        _ => return Err(invalid(format!("invalid volume specification {text:?}: expected /host:/container[:ro|rw]"))),
    };
    if !source.starts_with('/') || !target.starts_with('/') {
        return Err(invalid(format!(
            "invalid volume specification {text:?}: named volumes are not supported yet; give absolute paths"
        )));
    }
    let readonly = match mode {
        "ro" => true,
        "rw" | "" => false,
        other => return Err(invalid(format!("invalid mode {other:?} in volume specification {text:?}: use ro or rw"))),
    };
    if create_source {
        ensure_source(Path::new(source))?;
    }
    Ok(bind(Path::new(source), target, readonly))
}

fn ensure_source(source: &Path) -> Result<(), ContainerError> {
    if !source.exists() {
        std::fs::create_dir_all(source)
            .map_err(|e| invalid(format!("cannot create the host directory {}: {e}", source.display())))?;
    }
    Ok(())
}

fn mount_spec(spec: &berth_api::containers::MountSpec) -> Result<Mount, ContainerError> {
    if !spec.target.starts_with('/') {
        return Err(invalid(format!("invalid mount target {:?}: it must be an absolute path", spec.target)));
    }
    match spec.kind.as_str() {
        "bind" => {
            if !Path::new(&spec.source).exists() {
                return Err(invalid(format!(
                    "invalid mount config for type \"bind\": bind source path does not exist: {}",
                    spec.source
                )));
            }
            Ok(bind(Path::new(&spec.source), &spec.target, spec.read_only))
        }
        "tmpfs" => {
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
            Ok(Mount::Tmpfs { destination: spec.target.clone(), options: options.join(",") })
        }
        other => Err(invalid(format!("mount type {other:?} is not supported yet (bind and tmpfs are)"))),
    }
}
