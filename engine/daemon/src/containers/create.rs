//! `create`: a container record from a request and its image — the image's config supplies
//! what the request leaves out (5.3 "image defaults"), the command is the entrypoint plus the
//! command, and the container gets a 64-hex id and a name.

use super::record::{Container, RunState};
use super::{names, ContainerError, Containers};
use berth_api::container::Config;
use berth_api::containers::{CreateRequest, HostConfig};
use berth_image::Store;
use std::collections::BTreeMap;

/// The smallest memory limit a container may have (Docker 1.x's floor).
const MIN_MEMORY: i64 = 4 * 1024 * 1024;

pub const RESTART_POLICIES: &[&str] = &["", "no", "always", "on-failure", "unless-stopped"];

/// Makes and stores a container. Returns it and any warnings for the client.
pub fn create(
    containers: &Containers,
    images: &Store,
    name: Option<&str>,
    request: CreateRequest,
    driver: &str,
    net: &berth_network::Controller,
    volumes: &crate::volumes::Volumes,
) -> Result<(Container, Vec<String>), ContainerError> {
    let image_name = request.config.image.clone();
    if image_name.is_empty() {
        return Err(ContainerError::Invalid("no image given: Config.Image is empty".into()));
    }
    let image = images.lookup(&image_name)?;
    let mut host = request.host_config.clone().unwrap_or_default();
    let warnings = check_host_config(&mut host)?;
    super::mounts::check_config_volumes(&request.config)?;
    let networks = super::network::plan(net, &host, request.networking_config.as_ref())?;
    let config = merge(request.config, image.config.config.clone().unwrap_or_default());
    let mut command = config.entrypoint.clone().unwrap_or_default();
    command.extend(config.cmd.clone().unwrap_or_default());
    let Some((path, args)) = command.split_first() else {
        return Err(ContainerError::Invalid("No command specified".into()));
    };
    let id = crate::random_id().map_err(|e| ContainerError::Internal(format!("cannot make an id: {e}")))?;
    let name = choose_name(containers, name, &id)?;
    if let Some(links) = host.links.as_mut() {
        for link in links.iter_mut() {
            let (child, alias) = super::network::parse_link(link)?;
            let child = containers.get(&child).map_err(|_| {
                ContainerError::NotFound(format!("could not get container for {child}: No such container: {child}"))
            })?;
            *link = format!("{}:{name}/{alias}", child.name);
        }
    }
    let mut config = config;
    if config.hostname.is_empty() {
        config.hostname = id[..12].to_string();
    }
    let mounts_of = |source: &str| crate::volumes::from_container(containers, source);
    let planned = super::mounts::plan(&config, &host, &mounts_of)?;
    let mount_source = super::mounts::source_key(&config, &host);
    let (mount_points, new_volumes) = super::mounts::materialize(volumes, planned, &[], &id)?;
    let record = Container {
        id: id.clone(),
        name,
        created: berth_api::time::now_rfc3339(),
        path: path.clone(),
        args: args.to_vec(),
        config,
        host_config: host,
        image: image.digest(),
        layers: image.layers.clone(),
        driver: driver.to_string(),
        state: RunState::created(),
        networks,
        mount_points,
        mount_source,
        ..Default::default()
    };
    images.hold(&record.id, &record.layers);
    if let Err(e) = containers.insert(record.clone()) {
        images.unhold(&record.id);
        super::mounts::abandon(volumes, &record.id, &new_volumes);
        return Err(e);
    }
    Ok((record, warnings))
}

fn choose_name(containers: &Containers, wanted: Option<&str>, id: &str) -> Result<String, ContainerError> {
    if let Some(wanted) = wanted.filter(|w| !w.is_empty()) {
        if !names::valid(wanted) {
            return Err(ContainerError::Invalid(format!(
                "Invalid container name ({wanted}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
            )));
        }
        let slashed = format!("/{}", wanted.trim_start_matches('/'));
        if let Some(holder) = containers.by_name(&slashed) {
            return Err(super::name_conflict(&slashed, &holder));
        }
        return Ok(slashed);
    }
    let seed: Vec<u8> = (0..4).map(|i| u8::from_str_radix(&id[i * 2..i * 2 + 2], 16).unwrap_or(0)).collect();
    (0..)
        .map(|attempt| format!("/{}", names::generated(&seed, attempt)))
        .find(|n| containers.by_name(n).is_none())
        .ok_or_else(|| ContainerError::Internal("no free name".into()))
}

/// Refuses what berth cannot do or Docker refuses, with the reason.
fn check_host_config(host: &mut HostConfig) -> Result<Vec<String>, ContainerError> {
    let mut warnings = Vec::new();
    let lxc = host.lxc_conf.as_ref().is_some_and(|v| {
        !(v.is_null() || v.as_array().is_some_and(|a| a.is_empty()) || v.as_object().is_some_and(|o| o.is_empty()))
    });
    if lxc {
        return Err(ContainerError::Invalid(
            "--lxc-conf is not supported: berth runs containers itself, with no LXC execution driver".into(),
        ));
    }
    if host.memory != 0 && host.memory < MIN_MEMORY {
        return Err(ContainerError::Invalid(format!("Minimum memory limit allowed is {}MB", MIN_MEMORY >> 20)));
    }
    if host.memory_swap > 0 && host.memory > 0 && host.memory_swap < host.memory {
        return Err(ContainerError::Invalid(
            "Minimum memoryswap limit should be larger than memory limit, see usage".into(),
        ));
    }
    if !RESTART_POLICIES.contains(&host.restart_policy.name.as_str()) {
        return Err(ContainerError::Invalid(format!(
            "invalid restart policy {:?}: use no, always, on-failure or unless-stopped",
            host.restart_policy.name
        )));
    }
    if host.auto_remove && !matches!(host.restart_policy.name.as_str(), "" | "no") {
        return Err(ContainerError::Invalid("can't create 'AutoRemove' container with restart policy".into()));
    }
    let mode = host.network_mode.as_str();
    if mode.starts_with("container:") && host.port_bindings.as_ref().is_some_and(|p| !p.is_empty()) {
        return Err(ContainerError::Invalid(
            "conflicting options: port publishing and the container type network mode".into(),
        ));
    }
    super::mounts::validate(host)?;
    if host.network_mode.is_empty() {
        host.network_mode = "default".into();
    }
    if host.memory > 0 && !crate::host::cgroups().swap_limit && host.memory_swap != 0 {
        warnings.push("Your kernel does not support swap limit capabilities. Limitation discarded.".to_string());
    }
    Ok(warnings)
}

/// The request's config over the image's, as Docker merges them.
pub fn merge(mut user: Config, image: Config) -> Config {
    if user.user.is_empty() {
        user.user = image.user;
    }
    user.env = Some(merge_env(image.env.unwrap_or_default(), user.env.unwrap_or_default()));
    if user.entrypoint.is_none() {
        user.entrypoint = image.entrypoint;
        if user.cmd.as_ref().is_none_or(Vec::is_empty) {
            user.cmd = image.cmd;
        }
    }
    if user.entrypoint.as_ref().is_some_and(|e| e.len() == 1 && e[0].is_empty()) {
        user.entrypoint = None;
    }
    if user.working_dir.is_empty() {
        user.working_dir = image.working_dir;
    }
    user.exposed_ports = union(image.exposed_ports, user.exposed_ports);
    user.volumes = union(image.volumes, user.volumes);
    user.labels = union(image.labels, user.labels);
    if user.healthcheck.is_none() {
        user.healthcheck = image.healthcheck;
    }
    if user.stop_signal.is_empty() {
        user.stop_signal = image.stop_signal;
    }
    if user.domainname.is_empty() {
        user.domainname = image.domainname;
    }
    user
}

/// Image variables first, each replaced by the request's variable of the same name.
fn merge_env(image: Vec<String>, user: Vec<String>) -> Vec<String> {
    let key = |v: &String| v.split('=').next().unwrap_or_default().to_string();
    let mut out: Vec<String> = image.into_iter().filter(|v| !user.iter().any(|u| key(u) == key(v))).collect();
    out.extend(user);
    out
}

fn union<V: Clone>(
    image: Option<BTreeMap<String, V>>,
    user: Option<BTreeMap<String, V>>,
) -> Option<BTreeMap<String, V>> {
    match (image, user) {
        (None, None) => None,
        (a, b) => {
            let mut all = a.unwrap_or_default();
            all.extend(b.unwrap_or_default());
            Some(all)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Option<Vec<String>> {
        Some(v.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn image_defaults_fill_the_gaps() {
        let image = Config {
            cmd: strings(&["sh"]),
            env: strings(&["PATH=/bin", "A=1"]),
            working_dir: "/data".into(),
            user: "1000".into(),
            ..Default::default()
        };
        let merged = merge(Config { env: strings(&["A=2", "B=3"]), ..Default::default() }, image.clone());
        assert_eq!(merged.cmd, strings(&["sh"]));
        assert_eq!(merged.env, strings(&["PATH=/bin", "A=2", "B=3"]));
        assert_eq!((merged.working_dir.as_str(), merged.user.as_str()), ("/data", "1000"));
        let merged = merge(Config { cmd: strings(&["echo", "hi"]), ..Default::default() }, image);
        assert_eq!(merged.cmd, strings(&["echo", "hi"]));
    }

    #[test]
    fn a_new_entrypoint_drops_the_image_command() {
        let image = Config { entrypoint: strings(&["/bin/app"]), cmd: strings(&["--serve"]), ..Default::default() };
        let merged = merge(Config { entrypoint: strings(&["/bin/echo"]), ..Default::default() }, image.clone());
        assert_eq!((merged.entrypoint, merged.cmd), (strings(&["/bin/echo"]), None));
        let merged = merge(Config { cmd: strings(&["--debug"]), ..Default::default() }, image);
        assert_eq!((merged.entrypoint, merged.cmd), (strings(&["/bin/app"]), strings(&["--debug"])));
    }

    #[test]
    fn lxc_conf_and_tiny_memory_are_refused() {
        let mut host =
            HostConfig { lxc_conf: Some(serde_json::json!([{"Key": "lxc.x", "Value": "y"}])), ..Default::default() };
        assert!(check_host_config(&mut host).unwrap_err().to_string().contains("lxc-conf"));
        let mut host = HostConfig { memory: 1024, ..Default::default() };
        assert!(check_host_config(&mut host).unwrap_err().to_string().contains("Minimum memory"));
        let mut host = HostConfig { lxc_conf: Some(serde_json::json!([])), ..Default::default() };
        assert!(check_host_config(&mut host).is_ok());
    }
}
