//! Endpoints: a container's interface on a network. Attach creates the veth pair with the
//! container end made directly inside its namespace (IFLA_NET_NS_FD) under its final name,
//! then configures address, links and route through a netlink socket opened in that
//! namespace; detach deletes the pair and releases the address.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use super::{Controller, Inner, NetworkError};
use crate::ipnet::Ipv4Net;
use crate::netlink::{ContainerInterface, NetlinkError, VethPair};
use crate::state::{Endpoint, NetworkRecord};
use crate::util::{format_mac, mac_for, random_hex};

/// What attaching a container to a network needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachRequest {
    pub container_id: String,
    /// The container's network namespace: `/proc/<pid>/ns/net` or a bind-mounted netns file.
    pub netns: PathBuf,
    /// The network's name, id or unique id prefix (`bridge` for the default one).
    pub network: String,
    /// Names the network's DNS answers with the container's address (container name,
    /// aliases, compose service name); ignored on the default bridge, as in Docker.
    pub names: Vec<String>,
    /// A fixed address instead of the next free one.
    pub ip: Option<Ipv4Addr>,
}

impl AttachRequest {
    /// Attaching `container_id` in `netns` to the default bridge.
    pub fn default_bridge(container_id: &str, netns: impl Into<PathBuf>) -> Self {
        Self {
            container_id: container_id.to_string(),
            netns: netns.into(),
            network: super::DEFAULT_NETWORK.to_string(),
            names: Vec::new(),
            ip: None,
        }
    }
}

/// The first `ethN` the container does not use yet.
fn next_interface(inner: &Inner, container: &str) -> String {
    let used: Vec<String> = inner.endpoints_of(container).map(|e| e.interface.clone()).collect();
    (0..).map(|n| format!("eth{n}")).find(|name| !used.contains(name)).unwrap_or_else(|| "eth0".into())
}

impl Controller {
    /// Gives a container without networking (`-n=false`, `-b none`) a working `lo`.
    pub fn loopback_only(&self, netns: &Path) -> Result<(), NetworkError> {
        Ok(self.netlink.loopback_up(netns)?)
    }

    /// Attaches a container to a network: veth pair, address from the network's pool, MAC
    /// `02:42:<ip>`, MTU, `lo` and the interface up, default route via the bridge (not on
    /// internal networks), DNS names. The lease and endpoint are persisted before returning.
    pub fn attach(&self, req: &AttachRequest) -> Result<Endpoint, NetworkError> {
        let mut inner = self.lock();
        let net = match inner.network(&req.network) {
            Err(NetworkError::NoSuchNetwork(_)) if self.disabled_default(&req.network) => {
                return Err(NetworkError::Disabled);
            }
            other => other?.clone(),
        };
        if inner.endpoints_of(&req.container_id).any(|e| e.network_id == net.id) {
            return Err(NetworkError::AlreadyAttached { container: req.container_id.clone(), network: net.name });
        }
        let interface = next_interface(&inner, &req.container_id);
        let id = random_hex(64);
        let pool =
            &mut inner.state.networks.get_mut(&net.id).ok_or_else(|| NetworkError::NoSuchNetwork(net.id.clone()))?.pool;
        let ip = pool.allocate(&req.container_id, req.ip)?;
        let gateway = (!net.internal).then(|| net.address.addr());
        let ep = Endpoint {
            id,
            container_id: req.container_id.clone(),
            network_id: net.id.clone(),
            network_name: net.name.clone(),
            interface,
            host_veth: String::new(),
            ip,
            prefix: net.address.prefix(),
            gateway,
            mac: format_mac(&mac_for(ip)),
            mtu: self.mtu,
            netns: req.netns.clone(),
            names: if net.default { Vec::new() } else { req.names.clone() },
            ports: Vec::new(),
        };
        let ep = match self.plumb(&net, ep) {
            Ok(ep) => ep,
            Err(e) => {
                release(&mut inner, &net.id, ip);
                return Err(e);
            }
        };
        if let Some(dns) = inner.dns.get(&net.id) {
            dns.names.register(&ep.id, ep.ip, &ep.names);
        }
        inner.state.endpoints.insert(ep.id.clone(), ep.clone());
        if let Err(e) = self.save(&inner) {
            self.remove_endpoint(&mut inner, &ep.id);
            return Err(e);
        }
        Ok(ep)
    }

    fn disabled_default(&self, key: &str) -> bool {
        key == super::DEFAULT_NETWORK && self.config.bridge == crate::config::BridgeMode::Disabled
    }

    /// Creates and configures the veth pair; on failure nothing is left behind.
    fn plumb(&self, net: &NetworkRecord, mut ep: Endpoint) -> Result<Endpoint, NetworkError> {
        let mut attempt = 0;
        loop {
            let pair = VethPair {
                host: format!("veth{}", random_hex(7)),
                bridge: net.bridge.clone(),
                mtu: ep.mtu,
                peer: ep.interface.clone(),
                peer_mac: mac_for(ep.ip),
                netns: ep.netns.clone(),
            };
            match self.netlink.create_veth(&pair) {
                Ok(()) => {
                    ep.host_veth = pair.host;
                    break;
                }
                Err(NetlinkError::LinkExists(_)) if attempt < 2 => attempt += 1,
                Err(e) => return Err(e.into()),
            }
        }
        let iface = ContainerInterface {
            name: ep.interface.clone(),
            addr: Ipv4Net::new(ep.ip, ep.prefix).map_err(|_| NetworkError::NoSuchNetwork(net.name.clone()))?,
            gateway: ep.gateway,
        };
        if let Err(e) = self.netlink.configure_container(&ep.netns, &iface) {
            let _ = self.netlink.delete_link(&ep.host_veth);
            return Err(e.into());
        }
        Ok(ep)
    }

    /// Detaches a container from one network: its published ports, links, names, veth pair
    /// and lease go.
    pub fn detach(&self, container: &str, network: &str) -> Result<(), NetworkError> {
        let mut inner = self.lock();
        let net = inner.network(network)?.clone();
        let ep = inner.endpoints_of(container).find(|e| e.network_id == net.id).map(|e| e.id.clone());
        let Some(ep) = ep else {
            return Err(NetworkError::NotAttached { container: container.into(), network: net.name });
        };
        self.remove_endpoint(&mut inner, &ep);
        self.save(&inner)
    }

    /// Detaches a container from every network it is on (when it stops).
    pub fn detach_all(&self, container: &str) -> Result<(), NetworkError> {
        let mut inner = self.lock();
        let ids: Vec<String> = inner.endpoints_of(container).map(|e| e.id.clone()).collect();
        for id in ids {
            self.remove_endpoint(&mut inner, &id);
        }
        self.save(&inner)
    }

    /// Replaces the DNS names of a container on a network.
    pub fn set_names(&self, container: &str, network: &str, names: &[String]) -> Result<(), NetworkError> {
        let mut inner = self.lock();
        let net = inner.network(network)?.clone();
        let ep = inner.state.endpoints.values_mut().find(|e| e.container_id == container && e.network_id == net.id);
        let Some(ep) = ep else {
            return Err(NetworkError::NotAttached { container: container.into(), network: net.name });
        };
        ep.names = names.to_vec();
        let (id, ip) = (ep.id.clone(), ep.ip);
        if let Some(dns) = inner.dns.get(&net.id) {
            dns.names.register(&id, ip, names);
        }
        self.save(&inner)
    }

    /// Undoes an endpoint: ports, links, names, veth, lease, record; then, if it carried the
    /// container's default route, points the route at another of its networks.
    pub(super) fn remove_endpoint(&self, inner: &mut Inner, id: &str) {
        let Some(ep) = inner.state.endpoints.get(id).cloned() else { return };
        self.unpublish_endpoint(inner, &ep);
        self.remove_links_of(inner, &ep);
        if let Some(dns) = inner.dns.get(&ep.network_id) {
            dns.names.unregister(&ep.id);
        }
        match self.netlink.delete_link(&ep.host_veth) {
            Ok(()) | Err(NetlinkError::NoSuchLink(_)) => {}
            Err(e) => tracing::warn!(error = %e, veth = %ep.host_veth, "couldn't delete a veth"),
        }
        release(inner, &ep.network_id, ep.ip);
        inner.state.endpoints.remove(id);
        if ep.gateway.is_some() {
            let next = inner
                .endpoints_of(&ep.container_id)
                .filter(|e| e.gateway.is_some())
                .min_by(|a, b| a.interface.cmp(&b.interface));
            if let Some(next) = next {
                if let Some(gw) = next.gateway {
                    if let Err(e) = self.netlink.set_default_route(&next.netns, &next.interface, gw) {
                        tracing::debug!(error = %e, "couldn't move the default route to another network");
                    }
                }
            }
        }
    }

    /// Keeps endpoints whose host veth still exists (the container is running) and forgets
    /// the others, releasing their addresses.
    pub(super) fn restore_endpoints(&self, inner: &mut Inner) {
        let endpoints: Vec<Endpoint> = inner.state.endpoints.values().cloned().collect();
        for ep in endpoints {
            let alive = inner.state.networks.get(&ep.network_id).is_some_and(|net| {
                matches!(self.netlink.link(&ep.host_veth), Ok(Some(link))
                    if self.netlink.link(&net.bridge).ok().flatten().is_some_and(|br| link.master == Some(br.index)))
            });
            if !alive {
                tracing::info!(container = %ep.container_id, veth = %ep.host_veth, "forgetting a vanished endpoint");
                let _ = self.netlink.delete_link(&ep.host_veth);
                release(inner, &ep.network_id, ep.ip);
                inner.state.endpoints.remove(&ep.id);
                continue;
            }
            if let Some(dns) = inner.dns.get(&ep.network_id) {
                dns.names.register(&ep.id, ep.ip, &ep.names);
            }
            self.republish(inner, &ep);
        }
    }
}

fn release(inner: &mut Inner, network: &str, ip: Ipv4Addr) {
    if let Some(net) = inner.state.networks.get_mut(network) {
        net.pool.release(ip);
    }
}
