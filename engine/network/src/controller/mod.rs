//! The daemon-facing API: [`Controller`] sets networking up from the daemon's flags, attaches
//! containers to networks, publishes ports, opens links, manages user-defined networks and
//! their DNS, persists all of it and re-adopts it after a restart.
//!
//! Every method blocks (netlink, iptables, file writes) and may wait briefly for proxy and
//! DNS tasks to stop: call them from `spawn_blocking` or a plain thread, never from a task of
//! a current-thread runtime. Proxies and DNS servers run on the runtime handle given to
//! [`Controller::open`]. One mutex serializes changes.

mod endpoints;
mod links;
mod networks;
mod publish;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::runtime::Handle;

use crate::config::{Config, ConfigError};
use crate::dns::{DnsError, DnsServer, Names};
use crate::firewall::rules::Chains;
use crate::firewall::{ensure_inserted, Firewall, FirewallError, Iptables, Rule};
use crate::ipam::IpamError;
use crate::ipnet::Ipv4Net;
use crate::netlink::{Netlink, NetlinkError, RtNetlink};
use crate::ports::Proto;
use crate::proxy::{Proxy, ProxyError};
use crate::state::{Endpoint, NetworkRecord, State, StateError};
use crate::{resolvconf, subnet};

pub use endpoints::AttachRequest;
pub use networks::{NetworkCreate, NetworkInfo};

/// The name of the default network, as Docker calls it.
pub const DEFAULT_NETWORK: &str = "bridge";

/// How the daemon should report an error (the HTTP status Docker uses for it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// 400: something wrong with the request.
    BadParameter,
    /// 404: no such network, endpoint or bridge.
    NotFound,
    /// 409: a name, address or port is taken, or a network is in use.
    Conflict,
    /// 500: the host refused.
    Internal,
}

/// Why a networking operation failed.
#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("networking is disabled (-b none): containers only get a loopback interface")]
    Disabled,
    #[error("network {0} not found")]
    NoSuchNetwork(String),
    #[error("network with name {0} already exists")]
    NetworkExists(String),
    #[error("{0} is a pre-defined network and cannot be created or removed")]
    ReservedName(String),
    #[error("invalid network name {0:?}: use letters, digits, '_', '.' and '-', starting with a letter or digit")]
    InvalidName(String),
    #[error("network {name} has active endpoints ({count}): disconnect them first")]
    NetworkInUse { name: String, count: usize },
    #[error("the subnet {subnet} overlaps the network {other} ({other_subnet})")]
    SubnetOverlap { subnet: Ipv4Net, other: String, other_subnet: Ipv4Net },
    #[error("the gateway {gateway} is not in the subnet {subnet}")]
    GatewayOutsideSubnet { gateway: Ipv4Addr, subnet: Ipv4Net },
    #[error("the gateway {0} was given without a subnet: give --subnet too")]
    GatewayWithoutSubnet(Ipv4Addr),
    #[error(
        "couldn't find a free address range for {0}: every candidate overlaps an existing route; use --bip or --subnet"
    )]
    NoFreeSubnet(String),
    #[error("bridge {0} not found: create it first or drop -b")]
    BridgeNotFound(String),
    #[error("bridge {0} has no IPv4 address: give it one before starting the daemon with -b")]
    BridgeWithoutAddress(String),
    #[error("bridge {bridge} has the address {has}, not {wanted} as --bip asks: remove the bridge or the flag")]
    BipMismatch { bridge: String, has: Ipv4Net, wanted: Ipv4Net },
    #[error("container {container} is already attached to network {network}")]
    AlreadyAttached { container: String, network: String },
    #[error("container {container} is not attached to network {network}")]
    NotAttached { container: String, network: String },
    #[error("container {0} has no endpoint on a network that can publish ports (internal networks cannot)")]
    NothingToPublishOn(String),
    #[error("containers {parent} and {child} share no network, so they cannot be linked")]
    NotOnSameNetwork { parent: String, child: String },
    #[error("Bind for {ip}:{port} failed: port is already allocated")]
    PortAllocated { ip: Ipv4Addr, port: u16, proto: Proto },
    #[error("no free {proto} port is left in the range {start}-{end} on {ip}")]
    NoFreePort { ip: Ipv4Addr, proto: Proto, start: u16, end: u16 },
    #[error("couldn't bind {proto} {ip}:{port}: {source}")]
    Bind {
        ip: Ipv4Addr,
        port: u16,
        proto: Proto,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Ipam(#[from] IpamError),
    #[error(transparent)]
    Netlink(#[from] NetlinkError),
    #[error(transparent)]
    Firewall(#[from] FirewallError),
    #[error(transparent)]
    Proxy(#[from] ProxyError),
    #[error(transparent)]
    Dns(#[from] DnsError),
    #[error(transparent)]
    State(#[from] StateError),
}

impl NetworkError {
    /// The status class the daemon answers with.
    pub fn kind(&self) -> ErrorKind {
        use NetworkError::*;
        match self {
            Config(_)
            | InvalidName(_)
            | ReservedName(_)
            | GatewayOutsideSubnet { .. }
            | GatewayWithoutSubnet(_)
            | NothingToPublishOn(_) => ErrorKind::BadParameter,
            Ipam(IpamError::OutOfRange { .. }) => ErrorKind::BadParameter,
            NoSuchNetwork(_) | NotAttached { .. } | BridgeNotFound(_) => ErrorKind::NotFound,
            NetworkExists(_)
            | NetworkInUse { .. }
            | SubnetOverlap { .. }
            | AlreadyAttached { .. }
            | PortAllocated { .. } => ErrorKind::Conflict,
            Ipam(IpamError::InUse { .. }) => ErrorKind::Conflict,
            _ => ErrorKind::Internal,
        }
    }
}

/// Per-network DNS: the names and, on user networks, the server answering them.
#[derive(Debug, Default)]
struct NetworkDns {
    names: Arc<Names>,
    server: Option<DnsServer>,
}

/// What is not persisted: running proxies and DNS servers, the dynamic port cursor.
#[derive(Debug, Default)]
struct Inner {
    state: State,
    proxies: HashMap<String, Vec<Proxy>>,
    dns: HashMap<String, NetworkDns>,
    next_dynamic: Option<u16>,
}

impl Inner {
    /// The network whose name, id, or unique id prefix is `key`.
    fn network(&self, key: &str) -> Result<&NetworkRecord, NetworkError> {
        let nets = &self.state.networks;
        if let Some(n) = nets.values().find(|n| n.name == key).or_else(|| nets.get(key)) {
            return Ok(n);
        }
        let mut by_prefix = nets.values().filter(|n| !key.is_empty() && n.id.starts_with(key));
        match (by_prefix.next(), by_prefix.next()) {
            (Some(n), None) => Ok(n),
            _ => Err(NetworkError::NoSuchNetwork(key.to_string())),
        }
    }

    fn endpoints_of<'a>(&'a self, container: &'a str) -> impl Iterator<Item = &'a Endpoint> + 'a {
        self.state.endpoints.values().filter(move |e| e.container_id == container)
    }
}

/// Container networking for one daemon.
pub struct Controller {
    config: Config,
    netlink: Arc<dyn Netlink>,
    firewall: Option<Arc<dyn Firewall>>,
    handle: Handle,
    chains: Chains,
    mtu: u32,
    inner: Mutex<Inner>,
}

impl std::fmt::Debug for Controller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Controller").field("config", &self.config).field("mtu", &self.mtu).finish_non_exhaustive()
    }
}

impl Controller {
    /// Sets networking up on the host with the kernel's netlink and `iptables`.
    pub fn open_host(config: Config, handle: Handle) -> Result<Self, NetworkError> {
        Self::open(config, Arc::new(RtNetlink::open()?), Arc::new(Iptables::default()), handle)
    }

    /// Sets networking up from `config` and re-adopts what a previous run left: the bridge,
    /// user networks (re-creating missing bridges), endpoints whose host veth still exists
    /// (their ports are re-published and names re-registered; the others are forgotten and
    /// their addresses released) and links. With `--iptables=false`, `firewall` is unused.
    pub fn open(
        config: Config,
        netlink: Arc<dyn Netlink>,
        firewall: Arc<dyn Firewall>,
        handle: Handle,
    ) -> Result<Self, NetworkError> {
        config.validate()?;
        let state = State::load(&config.state_dir)?;
        let mtu = match config.mtu {
            Some(mtu) if mtu > 0 => mtu,
            _ => default_route_mtu(netlink.as_ref()),
        };
        let controller = Controller {
            chains: Chains::new(&config.chain_prefix),
            firewall: config.iptables.then_some(firewall),
            config,
            netlink,
            handle,
            mtu,
            inner: Mutex::new(Inner { state, ..Inner::default() }),
        };
        {
            let mut inner = controller.lock();
            controller.install_chains()?;
            controller.setup_default_network(&mut inner)?;
            controller.restore_user_networks(&mut inner)?;
            controller.restore_endpoints(&mut inner);
            controller.restore_links(&mut inner);
            controller.save(&inner)?;
        }
        Ok(controller)
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn save(&self, inner: &Inner) -> Result<(), NetworkError> {
        Ok(inner.state.save(&self.config.state_dir)?)
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The MTU given to containers' interfaces.
    pub fn mtu(&self) -> u32 {
        self.mtu
    }

    fn install_chains(&self) -> Result<(), NetworkError> {
        let Some(fw) = &self.firewall else { return Ok(()) };
        fw.enable_ip_forward()?;
        if !self.config.icc {
            if let Err(e) = fw.enable_bridge_netfilter() {
                tracing::warn!(error = %e, "--icc=false needs br_netfilter; containers may still reach each other");
            }
        }
        for (table, chain) in self.chains.all() {
            fw.new_chain(table, &chain)?;
        }
        for rule in self.chains.base() {
            fw.append(&rule)?;
        }
        for rule in self.chains.jumps() {
            ensure_inserted(fw.as_ref(), &rule)?;
        }
        Ok(())
    }

    fn apply(&self, rules: &[Rule]) -> Result<(), NetworkError> {
        if let Some(fw) = &self.firewall {
            for rule in rules {
                fw.append(rule)?;
            }
        }
        Ok(())
    }

    /// Deletes rules, logging (not failing on) what the host refuses: teardown goes on.
    fn unapply(&self, rules: &[Rule]) {
        if let Some(fw) = &self.firewall {
            for rule in rules {
                if let Err(e) = fw.delete(rule) {
                    tracing::warn!(error = %e, %rule, "couldn't delete an iptables rule");
                }
            }
        }
    }

    fn upstreams(&self) -> Vec<SocketAddr> {
        match &self.config.dns_upstreams {
            Some(servers) => servers.clone(),
            None => resolvconf::non_loopback(&resolvconf::host_nameservers())
                .into_iter()
                .map(|ip| SocketAddr::new(ip, 53))
                .collect(),
        }
    }

    /// Ranges in use on the host, for choosing a subnet.
    fn ranges_in_use(&self, inner: &Inner) -> Result<Vec<Ipv4Net>, NetworkError> {
        let mut used = subnet::in_use(self.netlink.as_ref(), &resolvconf::host_nameservers())?;
        used.extend(inner.state.networks.values().map(|n| n.address.trunc()));
        Ok(used)
    }

    /// Stops proxies and DNS servers but leaves bridges, veths, rules and state in place, so
    /// a restarted daemon re-adopts running containers.
    pub fn shutdown(&self) {
        let mut inner = self.lock();
        stop_servers(&mut inner);
    }

    /// Removes everything berth made on the host: proxies and DNS servers, every endpoint's
    /// veth (and its lease), berth's chains and the jumps to them, and the bridges berth
    /// created (a bridge given with `-b` stays). User networks stay defined and get new
    /// bridges at the next [`Controller::open`].
    pub fn teardown(&self) -> Result<(), NetworkError> {
        let mut inner = self.lock();
        stop_servers(&mut inner);
        for ep in std::mem::take(&mut inner.state.endpoints).into_values() {
            if let Err(e) = self.netlink.delete_link(&ep.host_veth) {
                if !matches!(e, NetlinkError::NoSuchLink(_)) {
                    tracing::warn!(error = %e, veth = %ep.host_veth, "couldn't delete a veth");
                }
            }
        }
        inner.state.links.clear();
        for net in inner.state.networks.values_mut() {
            net.pool = crate::ipam::Pool::new(net.pool.subnet(), net.pool.gateway());
        }
        self.remove_chains();
        let bridges: Vec<String> =
            inner.state.networks.values().filter(|n| n.created_bridge).map(|n| n.bridge.clone()).collect();
        for bridge in bridges {
            match self.netlink.delete_link(&bridge) {
                Ok(()) | Err(NetlinkError::NoSuchLink(_)) => {}
                Err(e) => tracing::warn!(error = %e, %bridge, "couldn't delete a bridge"),
            }
        }
        inner.state.networks.retain(|_, n| !n.default);
        self.save(&inner)
    }

    fn remove_chains(&self) {
        let Some(fw) = &self.firewall else { return };
        for rule in self.chains.jumps() {
            if let Err(e) = fw.delete(&rule) {
                tracing::warn!(error = %e, %rule, "couldn't delete a jump to berth's chains");
            }
        }
        for (table, chain) in self.chains.all() {
            let _ = fw.flush_chain(table, &chain);
        }
        for (table, chain) in self.chains.all() {
            if let Err(e) = fw.delete_chain(table, &chain) {
                tracing::warn!(error = %e, %chain, "couldn't delete a berth chain");
            }
        }
    }

    /// Every endpoint, or those of one container: what the daemon reconciles after a restart.
    pub fn endpoints(&self, container: Option<&str>) -> Vec<Endpoint> {
        let inner = self.lock();
        inner.state.endpoints.values().filter(|e| container.is_none_or(|c| e.container_id == c)).cloned().collect()
    }

    /// The address of the embedded DNS of a user network (`None` on the default bridge).
    pub fn dns_address(&self, network: &str) -> Result<Option<SocketAddrV4>, NetworkError> {
        let inner = self.lock();
        let net = inner.network(network)?;
        Ok(inner.dns.get(&net.id).and_then(|d| d.server.as_ref()).map(DnsServer::addr))
    }
}

fn stop_servers(inner: &mut Inner) {
    for proxy in inner.proxies.drain().flat_map(|(_, p)| p) {
        proxy.stop();
    }
    for dns in inner.dns.values_mut() {
        if let Some(server) = dns.server.take() {
            server.stop();
        }
    }
}

/// The MTU of the interface the default route goes through, 1500 if there is none.
fn default_route_mtu(netlink: &dyn Netlink) -> u32 {
    let oif = netlink.routes().ok().and_then(|routes| routes.iter().find(|r| r.dst.prefix() == 0).and_then(|r| r.oif));
    let links = oif.and_then(|_| netlink.links().ok()).unwrap_or_default();
    links.iter().find(|l| Some(l.index) == oif).map(|l| l.mtu).filter(|&m| m >= 576).unwrap_or(1500)
}
