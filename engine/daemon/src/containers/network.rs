//! Container networking on the daemon's side (3.3, 3.4, 3.7 and today's user networks): which
//! networks a container joins, wiring its namespace before its process runs, published ports,
//! links (environment, /etc/hosts, `--icc=false` openings) and undoing all of it when the
//! container stops. The kernel work is `berth_network`'s.

use super::record::Container;
use super::ContainerError;
use crate::engine::Engine;
use berth_api::containers::HostConfig;
use berth_network::{AttachRequest, Endpoint, ExposedPort, NetworkError, PortBinding, PortMapping, DEFAULT_NETWORK};
use berth_runtime::Network;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::PathBuf;

/// A container's settings on one network it joins (`--network-alias`, `--ip`, compose's
/// aliases), kept in its record.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct EndpointConfig {
    pub aliases: Vec<String>,
    pub ipv4: Option<Ipv4Addr>,
}

/// A running container's networking: its namespace file and endpoints, and where its ports
/// were published. Empty when it is not running.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NetState {
    pub sandbox: Option<PathBuf>,
    pub endpoints: Vec<Endpoint>,
    pub ports: Vec<PortBinding>,
    /// The variables its links set, which execs get as well.
    pub link_env: Vec<String>,
}

impl NetState {
    /// The endpoint on the default bridge, else the first one.
    pub fn primary(&self) -> Option<&Endpoint> {
        self.endpoints.iter().find(|e| e.network_name == DEFAULT_NETWORK).or_else(|| self.endpoints.first())
    }
}

/// What a start needs from networking besides the namespace: /etc/hosts lines, link
/// variables, and the name server of a user network's embedded DNS.
#[derive(Debug, Default)]
pub struct Wiring {
    pub network: Network,
    pub state: NetState,
    pub hosts: Vec<(String, std::net::IpAddr)>,
    pub env: Vec<String>,
    pub nameserver: Option<Ipv4Addr>,
}

impl From<NetworkError> for ContainerError {
    fn from(e: NetworkError) -> Self {
        match e.kind() {
            berth_network::ErrorKind::NotFound => ContainerError::NotFound(e.to_string()),
            berth_network::ErrorKind::Conflict => ContainerError::Conflict(e.to_string()),
            berth_network::ErrorKind::BadParameter => ContainerError::Invalid(e.to_string()),
            berth_network::ErrorKind::Internal => ContainerError::Internal(e.to_string()),
        }
    }
}

/// The networks a new container joins, from its network mode and the request's
/// `NetworkingConfig.EndpointsConfig`; each must exist.
pub fn plan(
    net: &berth_network::Controller,
    host: &HostConfig,
    networking: Option<&Value>,
) -> Result<BTreeMap<String, EndpointConfig>, ContainerError> {
    let mode = host.network_mode.as_str();
    let mut plan = BTreeMap::new();
    match mode {
        "none" | "host" => return Ok(plan),
        _ if mode.starts_with("container:") => return Ok(plan),
        "" | "default" | "bridge" => {
            // With `-b none` the default network does not exist: containers get loopback only.
            if let Ok(info) = net.network(DEFAULT_NETWORK) {
                plan.insert(info.name, EndpointConfig::default());
            }
        }
        name => {
            let info = net.network(name).map_err(|_| ContainerError::NotFound(format!("network {name} not found")))?;
            plan.insert(info.name, EndpointConfig::default());
        }
    }
    let endpoints = networking.and_then(|n| n.get("EndpointsConfig")).and_then(Value::as_object);
    for (name, settings) in endpoints.into_iter().flatten() {
        let name = match name.as_str() {
            // Today's CLI names the mode it sent; those need no endpoint of their own.
            "host" | "none" => continue,
            _ if name.starts_with("container:") => continue,
            "default" | "bridge" if plan.is_empty() => continue,
            "default" => DEFAULT_NETWORK,
            other => other,
        };
        let info = net.network(name).map_err(|_| ContainerError::NotFound(format!("network {name} not found")))?;
        let config = endpoint_config(settings)?;
        let entry = plan.entry(info.name).or_default();
        entry.aliases.extend(config.aliases);
        entry.ipv4 = config.ipv4.or(entry.ipv4);
    }
    Ok(plan)
}

/// An `EndpointSettings` object of the API (aliases and the requested address).
pub fn endpoint_config(settings: &Value) -> Result<EndpointConfig, ContainerError> {
    let aliases = settings.get("Aliases").and_then(Value::as_array).map_or_else(Vec::new, |a| {
        a.iter().filter_map(Value::as_str).filter(|s| !s.is_empty()).map(String::from).collect()
    });
    let ipv4 =
        match settings.pointer("/IPAMConfig/IPv4Address").and_then(Value::as_str).filter(|s| !s.is_empty()) {
            Some(text) => Some(text.parse::<Ipv4Addr>().map_err(|_| {
                ContainerError::Invalid(format!("invalid IPv4 address {text:?} in the endpoint settings"))
            })?),
            None => None,
        };
    Ok(EndpointConfig { aliases, ipv4 })
}

/// `--link NAME[:ALIAS]` as the API sends it (`NAME:ALIAS`, or the stored `/NAME:/PARENT/ALIAS`).
pub fn parse_link(text: &str) -> Result<(String, String), ContainerError> {
    let (child, alias) = text.split_once(':').unwrap_or((text, text));
    let child = child.trim_start_matches('/');
    let alias = alias.rsplit('/').next().unwrap_or(alias);
    if child.is_empty() || alias.is_empty() {
        return Err(ContainerError::Invalid(format!("invalid link {text:?}: expected name:alias")));
    }
    Ok((child.to_string(), alias.to_string()))
}

/// The ports of 3.3.1 a container asked for: its `PortBindings` (a missing host port means a
/// dynamic one) plus, with `-P`, every other exposed port.
fn mappings(host: &HostConfig, exposed: &[ExposedPort]) -> Result<Vec<PortMapping>, ContainerError> {
    let mut out = Vec::new();
    for (port, bindings) in host.port_bindings.iter().flatten() {
        let container: ExposedPort =
            port.parse().map_err(|e: berth_network::ports::PortSpecError| ContainerError::Invalid(e.to_string()))?;
        let bindings = bindings.clone().unwrap_or_default();
        if bindings.is_empty() {
            out.push(PortMapping::dynamic(container));
        }
        for b in bindings {
            let host_ip = match b.host_ip.as_str() {
                "" | "0.0.0.0" => None,
                ip => Some(ip.parse::<Ipv4Addr>().map_err(|_| {
                    ContainerError::Invalid(format!("invalid host address {ip:?} for port {port}: expected IPv4"))
                })?),
            };
            let host_port = match b.host_port.as_str() {
                "" | "0" => None,
                p => Some(
                    p.parse::<u16>()
                        .map_err(|_| ContainerError::Invalid(format!("invalid host port {p:?} for port {port}")))?,
                ),
            };
            out.push(PortMapping { host_ip, host_port, container });
        }
    }
    if host.publish_all_ports {
        for port in exposed {
            if !out.iter().any(|m| m.container == *port) {
                out.push(PortMapping::dynamic(*port));
            }
        }
    }
    Ok(out)
}

/// The exposed ports of a container's config, sorted (the lowest is a link's `_PORT`).
pub fn exposed_ports(record: &Container) -> Vec<ExposedPort> {
    let mut ports: Vec<ExposedPort> =
        record.config.exposed_ports.iter().flatten().filter_map(|(p, _)| p.parse().ok()).collect();
    for port in record.host_config.port_bindings.iter().flatten().filter_map(|(p, _)| p.parse().ok()) {
        if !ports.contains(&port) {
            ports.push(port);
        }
    }
    ports.sort();
    ports
}

/// The variables 3.7.2 gives a container for a link to `child` under `alias`.
pub fn link_env(parent_name: &str, alias: &str, child: &Container, ip: Ipv4Addr) -> Vec<String> {
    let prefix = alias.to_uppercase().replace('-', "_");
    let mut env = vec![format!("{prefix}_NAME=/{}/{alias}", parent_name.trim_start_matches('/'))];
    let ports = exposed_ports(child);
    if let Some(first) = ports.first() {
        env.push(format!("{prefix}_PORT={}://{ip}:{}", first.proto, first.port));
    }
    for p in &ports {
        let key = format!("{prefix}_PORT_{}_{}", p.port, p.proto.as_str().to_uppercase());
        env.push(format!("{key}={}://{ip}:{}", p.proto, p.port));
        env.push(format!("{key}_ADDR={ip}"));
        env.push(format!("{key}_PORT={}", p.port));
        env.push(format!("{key}_PROTO={}", p.proto));
    }
    for var in child.config.env.iter().flatten() {
        let Some((key, value)) = var.split_once('=') else { continue };
        // What every container has says nothing about the linked one.
        if matches!(key, "HOME" | "PATH") {
            continue;
        }
        env.push(format!("{prefix}_ENV_{key}={value}"));
    }
    env
}

impl Engine {
    /// The namespace file of a container's network.
    fn sandbox_path(&self, id: &str) -> PathBuf {
        let run = self.containers.paths(id).run();
        let root = run.parent().map(PathBuf::from).unwrap_or_default();
        root.join("netns").join(&id[..id.len().min(12)])
    }

    /// Wires a container's network before its process runs (blocking): for the default bridge
    /// and user networks a namespace of its own with one interface per network, its ports
    /// published and its links opened. On failure nothing stays behind.
    pub(crate) fn net_up(&self, record: &Container) -> Result<Wiring, ContainerError> {
        let mode = record.host_config.network_mode.as_str();
        if mode == "host" {
            return Ok(Wiring { network: Network::Host, ..Default::default() });
        }
        if let Some(other) = mode.strip_prefix("container:") {
            let other = self.containers.get(other)?;
            if !other.state.running {
                return Err(ContainerError::Conflict(format!(
                    "cannot join the network of container {}: it is not running",
                    other.plain_name()
                )));
            }
            let path = other.net.sandbox.clone().unwrap_or_else(|| format!("/proc/{}/ns/net", other.state.pid).into());
            return Ok(Wiring { network: Network::Join(path), ..Default::default() });
        }
        if record.networks.is_empty() {
            return Ok(Wiring { network: Network::New, ..Default::default() });
        }
        let sandbox = self.sandbox_path(&record.id);
        berth_network::netns::create(&sandbox).map_err(|e| ContainerError::Internal(e.to_string()))?;
        let mut wiring = Wiring {
            network: Network::Join(sandbox.clone()),
            state: NetState { sandbox: Some(sandbox), ..Default::default() },
            ..Default::default()
        };
        match self.wire(record, &mut wiring) {
            Ok(()) => Ok(wiring),
            Err(e) => {
                self.net_down(&record.id, &wiring.state);
                Err(e)
            }
        }
    }

    fn wire(&self, record: &Container, wiring: &mut Wiring) -> Result<(), ContainerError> {
        let netns = wiring.state.sandbox.clone().unwrap_or_default();
        // The default bridge first, so it is eth0 as in 2014.
        let mut order: Vec<(&String, &EndpointConfig)> = record.networks.iter().collect();
        order.sort_by_key(|(name, _)| name.as_str() != DEFAULT_NETWORK);
        for (network, config) in order {
            let mut names = vec![record.plain_name().to_string()];
            names.extend(config.aliases.iter().cloned());
            names.push(record.short_id().to_string());
            let request = AttachRequest {
                container_id: record.id.clone(),
                netns: netns.clone(),
                network: network.clone(),
                names,
                ip: config.ipv4,
            };
            let endpoint = self.net.attach(&request)?;
            if network != DEFAULT_NETWORK && wiring.nameserver.is_none() {
                wiring.nameserver = self.net.dns_address(network)?.map(|a| *a.ip());
            }
            wiring.state.endpoints.push(endpoint);
        }
        let mappings = mappings(&record.host_config, &exposed_ports(record))?;
        if !mappings.is_empty() {
            wiring.state.ports = self.net.publish(&record.id, &mappings)?;
        }
        for link in record.host_config.links.iter().flatten() {
            let (child, alias) = parse_link(link)?;
            let child = self.containers.get(&child).map_err(|_| {
                ContainerError::NotFound(format!("could not get container for {child}: No such container: {child}"))
            })?;
            let child_ip = child.state.running.then(|| child.net.primary().map(|e| e.ip)).flatten();
            let Some(ip) = child_ip else {
                return Err(ContainerError::Conflict(format!(
                    "Cannot link to a non running container: {} AS /{}/{alias}",
                    child.name,
                    record.plain_name()
                )));
            };
            let vars = link_env(&record.name, &alias, &child, ip);
            wiring.state.link_env.extend(vars.iter().cloned());
            wiring.env.extend(vars);
            wiring.hosts.push((format!("{alias} {} {}", child.plain_name(), child.short_id()), ip.into()));
            self.net.link(&record.id, &child.id, &exposed_ports(&child))?;
        }
        Ok(())
    }

    /// Undoes [`Engine::net_up`]: ports, links, endpoints (their addresses go back to the
    /// pool) and the namespace. Blocking; failures are logged, never fatal.
    pub(crate) fn net_down(&self, id: &str, state: &NetState) {
        if state.sandbox.is_none() && state.endpoints.is_empty() {
            return;
        }
        if let Err(e) = self.net.unpublish(id) {
            tracing::warn!("cannot unpublish the ports of {}: {e}", &id[..12.min(id.len())]);
        }
        if let Err(e) = self.net.detach_all(id) {
            tracing::warn!("cannot detach {} from its networks: {e}", &id[..12.min(id.len())]);
        }
        let sandbox = state.sandbox.clone().unwrap_or_else(|| self.sandbox_path(id));
        if let Err(e) = berth_network::netns::remove(&sandbox) {
            tracing::warn!("cannot remove the network namespace of {}: {e}", &id[..12.min(id.len())]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_api::containers::PortBinding as ApiBinding;

    #[test]
    fn links_parse_in_both_forms() {
        assert_eq!(parse_link("db:database").unwrap(), ("db".into(), "database".into()));
        assert_eq!(parse_link("/db:/web/db").unwrap(), ("db".into(), "db".into()));
        assert_eq!(parse_link("db").unwrap(), ("db".into(), "db".into()));
        assert!(parse_link(":x").is_err());
    }

    #[test]
    fn link_variables_follow_the_docs() {
        let mut child = Container { name: "/db".into(), ..Default::default() };
        child.config.exposed_ports = Some(BTreeMap::from([
            ("6379/tcp".to_string(), Default::default()),
            ("53/udp".to_string(), Default::default()),
        ]));
        child.config.env = Some(vec!["PATH=/bin".into(), "PASSWORD=secret".into()]);
        let env = link_env("/web", "db-main", &child, Ipv4Addr::new(172, 17, 0, 5));
        assert!(env.contains(&"DB_MAIN_NAME=/web/db-main".to_string()), "{env:?}");
        // The lowest port number is the link's main port, whatever its protocol.
        assert!(env.contains(&"DB_MAIN_PORT=udp://172.17.0.5:53".to_string()), "{env:?}");
        assert!(env.contains(&"DB_MAIN_PORT_53_UDP=udp://172.17.0.5:53".to_string()), "{env:?}");
        assert!(env.contains(&"DB_MAIN_PORT_6379_TCP_ADDR=172.17.0.5".to_string()), "{env:?}");
        assert!(env.contains(&"DB_MAIN_PORT_6379_TCP_PORT=6379".to_string()), "{env:?}");
        assert!(env.contains(&"DB_MAIN_PORT_6379_TCP_PROTO=tcp".to_string()), "{env:?}");
        assert!(env.contains(&"DB_MAIN_ENV_PASSWORD=secret".to_string()), "{env:?}");
        assert!(!env.iter().any(|e| e.starts_with("DB_MAIN_ENV_PATH")), "{env:?}");
    }

    #[test]
    fn port_bindings_become_mappings() {
        let mut host = HostConfig::default();
        host.port_bindings = Some(BTreeMap::from([
            ("80/tcp".to_string(), Some(vec![ApiBinding { host_ip: "127.0.0.1".into(), host_port: "8080".into() }])),
            ("53/udp".to_string(), Some(vec![ApiBinding { host_ip: String::new(), host_port: String::new() }])),
            ("22/tcp".to_string(), None),
        ]));
        host.publish_all_ports = true;
        let all = mappings(&host, &[ExposedPort::tcp(80), ExposedPort::tcp(443)]).unwrap();
        assert_eq!(all.len(), 4, "{all:?}");
        assert!(all.contains(&PortMapping {
            host_ip: Some(Ipv4Addr::LOCALHOST),
            host_port: Some(8080),
            container: ExposedPort::tcp(80)
        }));
        assert!(all.contains(&PortMapping::dynamic(ExposedPort::udp(53))));
        assert!(all.contains(&PortMapping::dynamic(ExposedPort::tcp(22))));
        assert!(all.contains(&PortMapping::dynamic(ExposedPort::tcp(443))));
        host.port_bindings = Some(BTreeMap::from([("80/sctp".to_string(), None)]));
        assert!(mappings(&host, &[]).is_err());
    }
}
