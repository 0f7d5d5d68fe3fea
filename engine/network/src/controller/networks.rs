//! Networks: the default bridge from the daemon's flags, and user-defined networks (what
//! docker-compose creates), each with its own `br-<12 hex>` bridge, rules and DNS server.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;

use super::{Controller, Inner, NetworkDns, NetworkError, DEFAULT_NETWORK};
use crate::config::BridgeMode;
use crate::dns::{DnsServer, Names, Policy};
use crate::firewall::rules::{network_rules, BridgeNetwork};
use crate::ipam::Pool;
use crate::ipnet::Ipv4Net;
use crate::netlink::NetlinkError;
use crate::state::{Endpoint, NetworkMeta, NetworkRecord};
use crate::subnet;
use crate::util::random_hex;

/// Names Docker reserves for its pre-defined networks.
const RESERVED: &[&str] = &["bridge", "host", "none", "default"];

/// What `network create` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkCreate {
    pub name: String,
    /// The subnet; chosen among free ranges when `None`.
    pub subnet: Option<Ipv4Net>,
    /// The bridge's address; the subnet's first address when `None`.
    pub gateway: Option<Ipv4Addr>,
    /// No way out: no MASQUERADE, forwarding to other interfaces dropped, no default route
    /// in containers, names outside the network not resolved.
    pub internal: bool,
    /// Whether containers on the network may talk to each other (true, as in Docker).
    pub icc: bool,
    /// Stored as given and shown by [`Controller::network`].
    pub meta: NetworkMeta,
}

impl NetworkCreate {
    /// A non-internal network with an automatically chosen subnet.
    pub fn named(name: &str) -> Self {
        Self {
            name: name.to_string(),
            subnet: None,
            gateway: None,
            internal: false,
            icc: true,
            meta: NetworkMeta::default(),
        }
    }
}

/// What `network inspect` shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkInfo {
    pub id: String,
    pub name: String,
    /// Always `bridge`.
    pub driver: &'static str,
    pub bridge: String,
    pub subnet: Ipv4Net,
    pub gateway: Ipv4Addr,
    pub internal: bool,
    pub icc: bool,
    /// Whether this is the default network (`bridge`).
    pub default: bool,
    pub endpoints: Vec<Endpoint>,
    /// Where the embedded DNS answers (user networks).
    pub dns: Option<SocketAddrV4>,
    pub meta: NetworkMeta,
}

fn valid_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphanumeric())
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
        && name.len() <= 128
}

impl Controller {
    pub(super) fn setup_default_network(&self, inner: &mut Inner) -> Result<(), NetworkError> {
        let previous = inner.state.networks.values().find(|n| n.default).cloned();
        let (bridge, address, created) = match &self.config.bridge {
            BridgeMode::Disabled => {
                if let Some(old) = previous {
                    inner.state.networks.remove(&old.id);
                }
                return Ok(());
            }
            BridgeMode::Existing(name) => (name.clone(), self.existing_bridge_address(name)?, false),
            BridgeMode::Managed(name) => {
                // A managed bridge is berth's whoever made it (a crashed run, a wiped state):
                // teardown removes it.
                let (address, _) = self.ensure_managed_bridge(inner, name)?;
                (name.clone(), address, true)
            }
        };
        let record = match previous {
            Some(p) if p.bridge == bridge && p.address == address => {
                NetworkRecord { created_bridge: created, icc: self.config.icc, ..p }
            }
            other => {
                if let Some(old) = other {
                    inner.state.networks.remove(&old.id);
                }
                NetworkRecord {
                    id: random_hex(64),
                    name: DEFAULT_NETWORK.into(),
                    bridge,
                    address,
                    internal: false,
                    icc: self.config.icc,
                    default: true,
                    created_bridge: created,
                    pool: Pool::new(address, address.addr()),
                    meta: NetworkMeta { created: berth_api::time::now_rfc3339(), ..NetworkMeta::default() },
                }
            }
        };
        self.apply(&self.network_rules(&record))?;
        inner.dns.insert(record.id.clone(), NetworkDns::default());
        inner.state.networks.insert(record.id.clone(), record);
        Ok(())
    }

    fn existing_bridge_address(&self, name: &str) -> Result<Ipv4Net, NetworkError> {
        let link = self.netlink.link(name)?.ok_or_else(|| NetworkError::BridgeNotFound(name.to_string()))?;
        let addresses = self.netlink.addresses()?;
        let addr = addresses.iter().find(|a| a.index == link.index).map(|a| a.addr);
        addr.ok_or_else(|| NetworkError::BridgeWithoutAddress(name.to_string()))
    }

    /// Creates berth's own bridge if needed and gives it `--bip` or a free range; returns its
    /// address and whether it was created now.
    fn ensure_managed_bridge(&self, inner: &Inner, name: &str) -> Result<(Ipv4Net, bool), NetworkError> {
        let link = self.netlink.link(name)?;
        let current = match &link {
            Some(link) => self.netlink.addresses()?.into_iter().find(|a| a.index == link.index).map(|a| a.addr),
            None => None,
        };
        let address = match (current, self.config.bip) {
            (Some(has), Some(wanted)) if has != wanted => {
                return Err(NetworkError::BipMismatch { bridge: name.into(), has, wanted });
            }
            (Some(has), _) => has,
            (None, Some(bip)) => bip,
            (None, None) => {
                let used = self.ranges_in_use(inner)?;
                subnet::choose(subnet::default_bridge_candidates(), &used)
                    .ok_or_else(|| NetworkError::NoFreeSubnet(name.to_string()))?
            }
        };
        let created = link.is_none();
        if created {
            self.netlink.create_bridge(name, self.mtu)?;
        }
        if current.is_none() {
            self.netlink.add_address(name, address)?;
        }
        self.netlink.set_up(name)?;
        Ok((address, created))
    }

    pub(super) fn network_rules(&self, net: &NetworkRecord) -> Vec<crate::firewall::Rule> {
        let spec = BridgeNetwork { bridge: &net.bridge, subnet: net.address, internal: net.internal, icc: net.icc };
        network_rules(&self.chains, &spec)
    }

    /// Brings the bridge of a persisted user network back (created again if it vanished).
    fn ensure_user_bridge(&self, net: &mut NetworkRecord) -> Result<(), NetworkError> {
        let link = self.netlink.link(&net.bridge)?;
        let has_address = match &link {
            Some(link) => self.netlink.addresses()?.iter().any(|a| a.index == link.index && a.addr == net.address),
            None => {
                self.netlink.create_bridge(&net.bridge, self.mtu)?;
                net.created_bridge = true;
                false
            }
        };
        if !has_address {
            self.netlink.add_address(&net.bridge, net.address)?;
        }
        self.netlink.set_up(&net.bridge)?;
        Ok(())
    }

    pub(super) fn restore_user_networks(&self, inner: &mut Inner) -> Result<(), NetworkError> {
        let ids: Vec<String> = inner.state.networks.values().filter(|n| !n.default).map(|n| n.id.clone()).collect();
        for id in ids {
            let Some(net) = inner.state.networks.get_mut(&id) else { continue };
            self.ensure_user_bridge(net)?;
            let net = net.clone();
            self.apply(&self.network_rules(&net))?;
            let dns = match self.start_dns(&net) {
                Ok(dns) => dns,
                Err(e) => {
                    tracing::warn!(error = %e, network = %net.name, "the network's DNS server did not start");
                    NetworkDns::default()
                }
            };
            inner.dns.insert(id, dns);
        }
        Ok(())
    }

    fn start_dns(&self, net: &NetworkRecord) -> Result<NetworkDns, NetworkError> {
        let names = Arc::new(Names::default());
        if !self.config.embedded_dns {
            return Ok(NetworkDns { names, server: None });
        }
        let addr = SocketAddrV4::new(net.address.addr(), self.config.dns_port);
        let upstreams = if net.internal { Vec::new() } else { self.upstreams() };
        let policy = Policy { internal: net.internal, upstreams };
        let server = DnsServer::start(&self.handle, addr, names.clone(), policy)?;
        Ok(NetworkDns { names, server: Some(server) })
    }

    /// Creates a user-defined network: its bridge `br-<12 hex>` with the gateway address,
    /// its rules and its DNS server.
    pub fn create_network(&self, req: &NetworkCreate) -> Result<NetworkInfo, NetworkError> {
        if RESERVED.contains(&req.name.as_str()) {
            return Err(NetworkError::ReservedName(req.name.clone()));
        }
        if !valid_name(&req.name) {
            return Err(NetworkError::InvalidName(req.name.clone()));
        }
        let mut inner = self.lock();
        if inner.state.networks.values().any(|n| n.name == req.name) {
            return Err(NetworkError::NetworkExists(req.name.clone()));
        }
        let address = self.user_network_address(&inner, req)?;
        let id = random_hex(64);
        let mut net = NetworkRecord {
            bridge: format!("br-{}", &id[..12]),
            id: id.clone(),
            name: req.name.clone(),
            address,
            internal: req.internal,
            icc: req.icc,
            default: false,
            created_bridge: true,
            pool: Pool::new(address, address.addr()),
            meta: NetworkMeta {
                created: if req.meta.created.is_empty() {
                    berth_api::time::now_rfc3339()
                } else {
                    req.meta.created.clone()
                },
                ..req.meta.clone()
            },
        };
        self.ensure_user_bridge(&mut net)?;
        let rules = self.network_rules(&net);
        let dns = self.apply(&rules).and_then(|()| self.start_dns(&net));
        let dns = match dns {
            Ok(dns) => dns,
            Err(e) => {
                self.unapply(&rules);
                let _ = self.netlink.delete_link(&net.bridge);
                return Err(e);
            }
        };
        inner.dns.insert(id.clone(), dns);
        inner.state.networks.insert(id.clone(), net);
        self.save(&inner)?;
        info(&inner, &id)
    }

    fn user_network_address(&self, inner: &Inner, req: &NetworkCreate) -> Result<Ipv4Net, NetworkError> {
        let Some(subnet) = req.subnet else {
            if let Some(gateway) = req.gateway {
                return Err(NetworkError::GatewayWithoutSubnet(gateway));
            }
            let used = self.ranges_in_use(inner)?;
            return subnet::choose(subnet::user_network_candidates(), &used)
                .ok_or_else(|| NetworkError::NoFreeSubnet(req.name.clone()));
        };
        if let Some(other) = inner.state.networks.values().find(|n| n.address.overlaps(&subnet)) {
            return Err(NetworkError::SubnetOverlap {
                subnet,
                other: other.name.clone(),
                other_subnet: other.address.trunc(),
            });
        }
        let gateway = req.gateway.unwrap_or_else(|| subnet.first_host());
        if !subnet.contains(gateway) || gateway == subnet.network() || gateway == subnet.broadcast() {
            return Err(NetworkError::GatewayOutsideSubnet { gateway, subnet });
        }
        Ok(Ipv4Net::new(gateway, subnet.prefix()).unwrap_or(subnet))
    }

    /// Removes a user-defined network; refused while containers are attached to it.
    pub fn remove_network(&self, key: &str) -> Result<(), NetworkError> {
        let mut inner = self.lock();
        let net = inner.network(key)?.clone();
        if net.default {
            return Err(NetworkError::ReservedName(net.name));
        }
        let count = inner.state.endpoints.values().filter(|e| e.network_id == net.id).count();
        if count > 0 {
            return Err(NetworkError::NetworkInUse { name: net.name, count });
        }
        if let Some(server) = inner.dns.remove(&net.id).and_then(|d| d.server) {
            server.stop();
        }
        self.unapply(&self.network_rules(&net));
        if net.created_bridge {
            match self.netlink.delete_link(&net.bridge) {
                Ok(()) | Err(NetlinkError::NoSuchLink(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        inner.state.networks.remove(&net.id);
        self.save(&inner)
    }

    /// One network by name, id or unique id prefix.
    pub fn network(&self, key: &str) -> Result<NetworkInfo, NetworkError> {
        let inner = self.lock();
        let id = inner.network(key)?.id.clone();
        info(&inner, &id)
    }

    /// Every network, the default one first, then by name.
    pub fn networks(&self) -> Vec<NetworkInfo> {
        let inner = self.lock();
        let mut nets: Vec<&NetworkRecord> = inner.state.networks.values().collect();
        nets.sort_by(|a, b| b.default.cmp(&a.default).then(a.name.cmp(&b.name)));
        nets.iter().filter_map(|n| info(&inner, &n.id).ok()).collect()
    }
}

fn info(inner: &Inner, id: &str) -> Result<NetworkInfo, NetworkError> {
    let net = inner.state.networks.get(id).ok_or_else(|| NetworkError::NoSuchNetwork(id.to_string()))?;
    Ok(NetworkInfo {
        id: net.id.clone(),
        name: net.name.clone(),
        driver: "bridge",
        bridge: net.bridge.clone(),
        subnet: net.address.trunc(),
        gateway: net.address.addr(),
        internal: net.internal,
        icc: net.icc,
        default: net.default,
        endpoints: inner.state.endpoints.values().filter(|e| e.network_id == net.id).cloned().collect(),
        dns: inner.dns.get(id).and_then(|d| d.server.as_ref()).map(DnsServer::addr),
        meta: net.meta.clone(),
    })
}

#[cfg(test)]
mod name_tests {
    use super::valid_name;

    #[test]
    fn network_names() {
        assert!(valid_name("idp_backend"));
        assert!(valid_name("directus"));
        assert!(valid_name("a.b-c"));
        assert!(!valid_name(""));
        assert!(!valid_name("-x"));
        assert!(!valid_name("a b"));
        assert!(!valid_name("a/b"));
    }
}
