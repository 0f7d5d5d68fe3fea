//! Networks on the wire: the `/networks` endpoints of API 1.41 (list, inspect, create, remove,
//! connect, disconnect, prune) and a container's network settings as inspect and `ps` show
//! them, in the 1.41 shapes and the 2014 ones.

use super::containers::read_body;
use super::response::{empty, json, ApiError, Reply};
use super::Ctx;
use crate::containers::network::{endpoint_config, exposed_ports, parse_link, EndpointConfig};
use crate::containers::record::Container;
use crate::engine::Engine;
use berth_network::{ErrorKind, NetworkCreate, NetworkError, NetworkInfo, NetworkMeta, DEFAULT_NETWORK};
use http::StatusCode;
use serde_json::{json as j, Map, Value};
use std::collections::{BTreeMap, HashMap};

impl From<NetworkError> for ApiError {
    fn from(e: NetworkError) -> ApiError {
        let status = match (&e, e.kind()) {
            // Docker answers 403 for what is forbidden on a network rather than malformed.
            (NetworkError::ReservedName(_) | NetworkError::NetworkInUse { .. }, _) => StatusCode::FORBIDDEN,
            (_, ErrorKind::BadParameter) => StatusCode::BAD_REQUEST,
            (_, ErrorKind::NotFound) => StatusCode::NOT_FOUND,
            (_, ErrorKind::Conflict) => StatusCode::CONFLICT,
            (_, ErrorKind::Internal) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError::new(status, e.to_string())
    }
}

/// The networks Docker always lists besides the bridges: `host` and `none` (no driver work).
const BUILTIN: &[(&str, &str)] = &[("host", "host"), ("none", "null")];

fn builtin_id(engine: &Engine, name: &str) -> String {
    let digest = berth_image::store::sha256_digest(format!("{}/{name}", engine.id()).as_bytes());
    digest["sha256:".len()..].to_string()
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| ApiError::internal(e.to_string()))
}

/// One network in the shape of `GET /networks/{id}`; `containers` fills its Containers map.
fn network_value(engine: &Engine, info: &NetworkInfo, containers: bool) -> Value {
    let mut members = Map::new();
    if containers {
        for ep in &info.endpoints {
            let name = engine.containers.get(&ep.container_id).map(|c| c.plain_name().to_string()).unwrap_or_default();
            members.insert(
                ep.container_id.clone(),
                j!({
                    "Name": name, "EndpointID": ep.id, "MacAddress": ep.mac,
                    "IPv4Address": format!("{}/{}", ep.ip, ep.prefix), "IPv6Address": "",
                }),
            );
        }
    }
    let mut options: BTreeMap<String, String> = info.meta.options.clone();
    if info.default {
        options.insert("com.docker.network.bridge.default_bridge".into(), "true".into());
        options.insert("com.docker.network.bridge.enable_icc".into(), info.icc.to_string());
        options.insert("com.docker.network.bridge.name".into(), info.bridge.clone());
        options.insert("com.docker.network.driver.mtu".into(), engine.net.mtu().to_string());
    }
    j!({
        "Name": info.name, "Id": info.id, "Created": created(&info.meta), "Scope": "local", "Driver": info.driver,
        "EnableIPv6": false,
        "IPAM": {"Driver": "default", "Options": null, "Config": [{"Subnet": info.subnet.to_string(), "Gateway": info.gateway.to_string()}]},
        "Internal": info.internal, "Attachable": info.meta.attachable, "Ingress": false,
        "ConfigFrom": {"Network": ""}, "ConfigOnly": false,
        "Containers": members, "Options": options, "Labels": info.meta.labels,
    })
}

fn created(meta: &NetworkMeta) -> String {
    if meta.created.is_empty() {
        crate::containers::record::ZERO_TIME.to_string()
    } else {
        meta.created.clone()
    }
}

fn builtin_value(engine: &Engine, name: &str, driver: &str) -> Value {
    j!({
        "Name": name, "Id": builtin_id(engine, name), "Created": crate::containers::record::ZERO_TIME, "Scope": "local",
        "Driver": driver, "EnableIPv6": false, "IPAM": {"Driver": "default", "Options": null, "Config": []},
        "Internal": false, "Attachable": false, "Ingress": false, "ConfigFrom": {"Network": ""}, "ConfigOnly": false,
        "Containers": {}, "Options": {}, "Labels": {},
    })
}

/// Every network as `GET /networks` lists it (bridges first, then host and none).
fn all_networks(engine: &Engine, containers: bool) -> Vec<Value> {
    let mut out: Vec<Value> = engine.net.networks().iter().map(|n| network_value(engine, n, containers)).collect();
    out.extend(BUILTIN.iter().map(|(name, driver)| builtin_value(engine, name, driver)));
    out
}

fn matches(network: &Value, filters: &BTreeMap<String, Vec<String>>) -> bool {
    let text = |key: &str| network[key].as_str().unwrap_or_default().to_string();
    let builtin = matches!(text("Name").as_str(), "bridge" | "host" | "none");
    filters.iter().all(|(key, values)| {
        values.iter().any(|v| match key.as_str() {
            "name" => text("Name").contains(v.as_str()),
            "id" => text("Id").starts_with(v.as_str()),
            "driver" => text("Driver") == *v,
            "scope" => v == "local",
            "type" => (v == "builtin" && builtin) || (v == "custom" && !builtin),
            "label" => match v.split_once('=') {
                Some((k, val)) => network["Labels"][k].as_str() == Some(val),
                None => network["Labels"].get(v.as_str()).is_some(),
            },
            "dangling" => {
                let dangling = !builtin && network["Containers"].as_object().is_none_or(Map::is_empty);
                (v == "true" || v == "1") == dangling
            }
            _ => true,
        })
    })
}

/// `GET /networks`.
pub async fn list(ctx: Ctx) -> Result<Reply, ApiError> {
    let filters = super::images::filters(&ctx)?;
    if let Some(bad) = filters.keys().find(|k| !FILTERS.contains(&k.as_str())) {
        return Err(ApiError::bad_request(format!("invalid filter '{bad}'")));
    }
    let engine = ctx.engine.clone();
    let dangling = filters.contains_key("dangling");
    let all = blocking(move || all_networks(&engine, dangling)).await?;
    let mut shown: Vec<Value> = all.into_iter().filter(|n| matches(n, &filters)).collect();
    if dangling {
        for n in &mut shown {
            n["Containers"] = j!({});
        }
    }
    json(StatusCode::OK, &shown)
}

const FILTERS: &[&str] = &["name", "id", "driver", "scope", "type", "label", "dangling"];

/// `GET /networks/{id}`: by name, id or unique id prefix.
pub async fn inspect(ctx: Ctx) -> Result<Reply, ApiError> {
    let key = ctx.params.get("id").unwrap_or_default().to_string();
    let engine = ctx.engine.clone();
    let value = blocking(move || -> Result<Value, ApiError> {
        if let Some((name, driver)) = builtin(&engine, &key) {
            return Ok(builtin_value(&engine, name, driver));
        }
        let info = engine.net.network(&key)?;
        Ok(network_value(&engine, &info, true))
    })
    .await??;
    json(StatusCode::OK, &value)
}

fn builtin(engine: &Engine, key: &str) -> Option<(&'static str, &'static str)> {
    BUILTIN
        .iter()
        .copied()
        .find(|(name, _)| *name == key || (key.len() >= 3 && builtin_id(engine, name).starts_with(key)))
}

/// `POST /networks/create`.
pub async fn create(mut ctx: Ctx) -> Result<Reply, ApiError> {
    let body: Value = super::containers::parse_json(&read_body(&mut ctx).await?)?;
    let name = body["Name"].as_str().unwrap_or_default().to_string();
    if name.is_empty() {
        return Err(ApiError::bad_request("a network needs a name (Name)"));
    }
    match body["Driver"].as_str().unwrap_or_default() {
        "" | "bridge" => {}
        other => {
            return Err(ApiError::not_found(format!("plugin \"{other}\" not found: berth only has the bridge driver")))
        }
    }
    if body["EnableIPv6"].as_bool() == Some(true) {
        return Err(ApiError::bad_request("IPv6 networks are not supported by berth"));
    }
    let mut request = NetworkCreate::named(&name);
    request.internal = body["Internal"].as_bool().unwrap_or(false);
    let config = body.pointer("/IPAM/Config").and_then(Value::as_array).cloned().unwrap_or_default();
    if config.len() > 1 {
        return Err(ApiError::bad_request("berth networks have one IPv4 subnet: give at most one IPAM config"));
    }
    if let Some(first) = config.first() {
        let text = |key: &str| first[key].as_str().filter(|s| !s.is_empty());
        if let Some(subnet) = text("Subnet") {
            request.subnet = Some(
                subnet
                    .parse()
                    .map_err(|_| ApiError::bad_request(format!("invalid subnet {subnet:?}: expected CIDR")))?,
            );
        }
        if let Some(gateway) = text("Gateway") {
            request.gateway =
                Some(gateway.parse().map_err(|_| ApiError::bad_request(format!("invalid gateway {gateway:?}")))?);
        }
        if text("IPRange").is_some() {
            return Err(ApiError::bad_request("ip ranges within a subnet are not supported by berth"));
        }
    }
    let strings = |v: &Value| -> BTreeMap<String, String> {
        v.as_object()
            .map(|o| o.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string())).collect())
            .unwrap_or_default()
    };
    let options = strings(&body["Options"]);
    if let Some(icc) = options.get("com.docker.network.bridge.enable_icc") {
        request.icc = icc != "false";
    }
    request.meta = NetworkMeta {
        labels: strings(&body["Labels"]),
        options,
        created: berth_api::time::now_rfc3339(),
        attachable: body["Attachable"].as_bool().unwrap_or(false),
    };
    let engine = ctx.engine.clone();
    let info = blocking(move || engine.net.create_network(&request)).await??;
    ctx.engine.events.network("create", &info.id, &info.name, &[("type", "bridge".to_string())]);
    json(StatusCode::CREATED, &j!({"Id": info.id, "Warning": ""}))
}

/// `DELETE /networks/{id}`.
pub async fn remove(ctx: Ctx) -> Result<Reply, ApiError> {
    let key = ctx.params.get("id").unwrap_or_default().to_string();
    let engine = ctx.engine.clone();
    let (id, name) = blocking(move || -> Result<(String, String), ApiError> {
        if let Some((name, _)) = builtin(&engine, &key) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                format!("{name} is a pre-defined network and cannot be removed"),
            ));
        }
        let info = engine.net.network(&key)?;
        engine.net.remove_network(&info.id)?;
        Ok((info.id, info.name))
    })
    .await??;
    ctx.engine.events.network("destroy", &id, &name, &[("type", "bridge".to_string())]);
    Ok(empty(StatusCode::NO_CONTENT))
}

/// `POST /networks/prune`: user networks no container uses.
pub async fn prune(ctx: Ctx) -> Result<Reply, ApiError> {
    let filters = super::images::filters(&ctx)?;
    let engine = ctx.engine.clone();
    let removed = blocking(move || {
        let wanted: Vec<String> = engine.containers.list().iter().flat_map(|c| c.networks.keys().cloned()).collect();
        let mut removed = Vec::new();
        for info in engine.net.networks() {
            let value = network_value(&engine, &info, false);
            let label_ok = filters
                .get("label")
                .is_none_or(|labels| matches(&value, &BTreeMap::from([("label".to_string(), labels.clone())])));
            if info.default || !info.endpoints.is_empty() || wanted.contains(&info.name) || !label_ok {
                continue;
            }
            if engine.net.remove_network(&info.id).is_ok() {
                removed.push((info.id, info.name));
            }
        }
        removed
    })
    .await?;
    for (id, name) in &removed {
        ctx.engine.events.network("destroy", id, name, &[("type", "bridge".to_string())]);
    }
    let names: Vec<&String> = removed.iter().map(|(_, n)| n).collect();
    json(StatusCode::OK, &j!({"NetworksDeleted": names}))
}

/// `POST /networks/{id}/connect`: the container joins the network now if it runs, and at
/// every start.
pub async fn connect(mut ctx: Ctx) -> Result<Reply, ApiError> {
    let key = ctx.params.get("id").unwrap_or_default().to_string();
    let body: Value = super::containers::parse_json(&read_body(&mut ctx).await?)?;
    let container = body["Container"].as_str().unwrap_or_default().to_string();
    let settings = endpoint_config(body.get("EndpointConfig").unwrap_or(&Value::Null))?;
    let engine = ctx.engine.clone();
    let (net_id, net_name, id) = blocking(move || engine.connect_network(&key, &container, settings)).await??;
    ctx.engine.events.network("connect", &net_id, &net_name, &[("container", id), ("type", "bridge".to_string())]);
    Ok(empty(StatusCode::OK))
}

/// `POST /networks/{id}/disconnect`.
pub async fn disconnect(mut ctx: Ctx) -> Result<Reply, ApiError> {
    let key = ctx.params.get("id").unwrap_or_default().to_string();
    let body: Value = super::containers::parse_json(&read_body(&mut ctx).await?)?;
    let container = body["Container"].as_str().unwrap_or_default().to_string();
    let engine = ctx.engine.clone();
    let (net_id, net_name, id) = blocking(move || engine.disconnect_network(&key, &container)).await??;
    ctx.engine.events.network("disconnect", &net_id, &net_name, &[("container", id), ("type", "bridge".to_string())]);
    Ok(empty(StatusCode::OK))
}

impl Engine {
    fn connect_network(
        &self,
        key: &str,
        container: &str,
        settings: EndpointConfig,
    ) -> Result<(String, String, String), ApiError> {
        let info = self.net.network(key)?;
        let record = self.containers.get(container)?;
        let mode = record.host_config.network_mode.as_str();
        if matches!(mode, "host" | "none") || mode.starts_with("container:") {
            return Err(ApiError::bad_request(format!(
                "container {} cannot be connected to a network: its network mode is {mode}",
                record.plain_name()
            )));
        }
        if record.networks.contains_key(&info.name) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                format!("endpoint with name {} already exists in network {}", record.plain_name(), info.name),
            ));
        }
        if let (true, Some(netns)) = (record.state.running, record.net.sandbox.clone()) {
            let mut names = vec![record.plain_name().to_string()];
            names.extend(settings.aliases.iter().cloned());
            names.push(record.short_id().to_string());
            let request = berth_network::AttachRequest {
                container_id: record.id.clone(),
                netns,
                network: info.name.clone(),
                names,
                ip: settings.ipv4,
            };
            let endpoint = self.net.attach(&request)?;
            self.containers.update(&record.id, |c| c.net.endpoints.push(endpoint.clone()))?;
        }
        self.containers.update(&record.id, |c| {
            c.networks.insert(info.name.clone(), settings.clone());
        })?;
        Ok((info.id, info.name, record.id))
    }

    fn disconnect_network(&self, key: &str, container: &str) -> Result<(String, String, String), ApiError> {
        let info = self.net.network(key)?;
        let record = self.containers.get(container)?;
        if !record.networks.contains_key(&info.name) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                format!("container {} is not connected to network {}", record.plain_name(), info.name),
            ));
        }
        if record.state.running && record.net.endpoints.iter().any(|e| e.network_id == info.id) {
            self.net.detach(&record.id, &info.id)?;
        }
        self.containers.update(&record.id, |c| {
            c.networks.remove(&info.name);
            c.net.endpoints.retain(|e| e.network_id != info.id);
        })?;
        Ok((info.id, info.name, record.id))
    }

    /// `DELETE /containers/PARENT/ALIAS?link=1`: the parent loses the link (`rm --link`).
    pub(crate) fn remove_link(&self, path: &str) -> Result<(), ApiError> {
        let path = path.trim_start_matches('/');
        let Some((parent, alias)) = path.rsplit_once('/') else {
            return Err(ApiError::bad_request(format!("{path} is not a link: give /PARENT/ALIAS")));
        };
        let record = self.containers.get(parent)?;
        let mut child = None;
        self.containers.update(&record.id, |c| {
            if let Some(links) = c.host_config.links.as_mut() {
                links.retain(|l| match parse_link(l) {
                    Ok((name, a)) if a == alias => {
                        child = Some(name);
                        false
                    }
                    _ => true,
                });
            }
        })?;
        let Some(child) = child else {
            return Err(ApiError::not_found(format!("no link {alias} in container {parent}")));
        };
        if let Ok(child) = self.containers.get(&child) {
            let _ = self.net.unlink(&record.id, &child.id);
        }
        Ok(())
    }
}

/// `NetworkSettings` of a container's inspect.
pub fn settings(engine: &Engine, record: &Container, old: bool) -> Value {
    let running = record.state.running;
    let primary = running.then(|| record.net.primary()).flatten().filter(|e| e.network_name == DEFAULT_NETWORK);
    let ports = if running { ports_map(record) } else { Map::new() };
    let text = |f: &dyn Fn(&berth_network::Endpoint) -> String| primary.map(f).unwrap_or_default();
    let gateway = text(&|e| e.gateway.map(|g| g.to_string()).unwrap_or_default());
    let bridge = primary.and_then(|e| engine.net.network(&e.network_id).ok()).map(|n| n.bridge).unwrap_or_default();
    if old {
        return j!({
            "IPAddress": text(&|e| e.ip.to_string()), "IPPrefixLen": primary.map_or(0, |e| e.prefix),
            "Gateway": gateway, "Bridge": bridge, "PortMapping": null, "Ports": ports,
        });
    }
    let mut networks = Map::new();
    for (name, config) in &record.networks {
        let ep = record.net.endpoints.iter().find(|e| &e.network_name == name).filter(|_| running);
        let field = |f: &dyn Fn(&berth_network::Endpoint) -> String| ep.map(f).unwrap_or_default();
        let aliases: Vec<String> = if name == DEFAULT_NETWORK {
            Vec::new()
        } else {
            config.aliases.iter().cloned().chain(std::iter::once(record.short_id().to_string())).collect()
        };
        let network_id = engine.net.network(name).map(|n| n.id).unwrap_or_default();
        networks.insert(
            name.clone(),
            j!({
                "IPAMConfig": config.ipv4.map(|ip| j!({"IPv4Address": ip.to_string()})),
                "Links": links_of(record), "Aliases": if aliases.is_empty() { Value::Null } else { j!(aliases) },
                "NetworkID": network_id, "EndpointID": field(&|e| e.id.clone()),
                "Gateway": field(&|e| e.gateway.map(|g| g.to_string()).unwrap_or_default()),
                "IPAddress": field(&|e| e.ip.to_string()), "IPPrefixLen": ep.map_or(0, |e| e.prefix),
                "IPv6Gateway": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0,
                "MacAddress": field(&|e| e.mac.clone()), "DriverOpts": null,
            }),
        );
    }
    let mode = record.host_config.network_mode.as_str();
    if networks.is_empty() && matches!(mode, "host" | "none") {
        networks.insert(
            mode.to_string(),
            j!({
                "IPAMConfig": null, "Links": null, "Aliases": null, "NetworkID": builtin_id(engine, mode),
                "EndpointID": "", "Gateway": "", "IPAddress": "", "IPPrefixLen": 0, "IPv6Gateway": "",
                "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0, "MacAddress": "", "DriverOpts": null,
            }),
        );
    }
    let sandbox = record.net.sandbox.as_ref().filter(|_| running);
    j!({
        "Bridge": "", "SandboxID": sandbox.map(|_| record.id.clone()).unwrap_or_default(), "HairpinMode": false,
        "LinkLocalIPv6Address": "", "LinkLocalIPv6PrefixLen": 0, "Ports": ports,
        "SandboxKey": sandbox.map(|p| p.display().to_string()).unwrap_or_default(),
        "SecondaryIPAddresses": null, "SecondaryIPv6Addresses": null, "EndpointID": text(&|e| e.id.clone()),
        "Gateway": gateway, "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0,
        "IPAddress": text(&|e| e.ip.to_string()), "IPPrefixLen": primary.map_or(0, |e| e.prefix),
        "IPv6Gateway": "", "MacAddress": text(&|e| e.mac.clone()), "Networks": networks,
    })
}

fn links_of(record: &Container) -> Value {
    match record.host_config.links.as_ref().filter(|l| !l.is_empty()) {
        Some(links) => j!(links),
        None => Value::Null,
    }
}

/// `Ports` of inspect: every exposed or published port, with its host bindings or null.
fn ports_map(record: &Container) -> Map<String, Value> {
    let mut map = Map::new();
    for port in exposed_ports(record) {
        let bindings: Vec<Value> = record
            .net
            .ports
            .iter()
            .filter(|b| b.container == port)
            .map(|b| j!({"HostIp": b.host_ip.to_string(), "HostPort": b.host_port.to_string()}))
            .collect();
        map.insert(port.to_string(), if bindings.is_empty() { Value::Null } else { j!(bindings) });
    }
    map
}

/// `Ports` of a `ps` entry: published ports with their host side, exposed ones without.
pub fn summary_ports(record: &Container) -> Vec<Value> {
    if !record.state.running {
        return Vec::new();
    }
    let mut out = Vec::new();
    for port in exposed_ports(record) {
        let published: Vec<_> = record.net.ports.iter().filter(|b| b.container == port).collect();
        if published.is_empty() {
            out.push(j!({"PrivatePort": port.port, "Type": port.proto.as_str()}));
        }
        for b in published {
            out.push(j!({"IP": b.host_ip.to_string(), "PrivatePort": port.port, "PublicPort": b.host_port, "Type": port.proto.as_str()}));
        }
    }
    out
}

/// `NetworkSettings` of a `ps` entry.
pub fn summary_networks(engine: &Engine, record: &Container) -> Value {
    let full = settings(engine, record, false);
    j!({"Networks": full["Networks"]})
}

/// The extra names links give containers: child id → `/PARENT/ALIAS` for each link to it.
pub fn link_names(records: &[Container]) -> HashMap<String, Vec<String>> {
    let by_name: HashMap<&str, &str> = records.iter().map(|r| (r.plain_name(), r.id.as_str())).collect();
    let mut out: HashMap<String, Vec<String>> = HashMap::new();
    for parent in records {
        for link in parent.host_config.links.iter().flatten() {
            let Ok((child, alias)) = parse_link(link) else { continue };
            if let Some(id) = by_name.get(child.as_str()) {
                out.entry(id.to_string()).or_default().push(format!("{}/{alias}", parent.name));
            }
        }
    }
    out
}
