//! The network side of links (`--link name:alias`): under `--icc=false` the linking
//! container may open connections to the linked container's exposed ports and nothing
//! else. The environment variables and /etc/hosts entries are the daemon's.

use super::{Controller, Inner, NetworkError};
use crate::firewall::rules::{link_rules, LinkPort};
use crate::firewall::Rule;
use crate::ports::ExposedPort;
use crate::state::{Endpoint, LinkRecord};

impl Controller {
    /// Lets `parent` (the linking container) reach `ports` of `child` on a network they
    /// share (the default bridge first). Rules are only needed, and only added, on networks
    /// without inter-container communication.
    pub fn link(&self, parent: &str, child: &str, ports: &[ExposedPort]) -> Result<(), NetworkError> {
        let mut inner = self.lock();
        let network_id = shared_network(&inner, parent, child)
            .ok_or_else(|| NetworkError::NotOnSameNetwork { parent: parent.into(), child: child.into() })?;
        self.unlink_in(&mut inner, parent, child);
        let record = LinkRecord { parent: parent.into(), child: child.into(), network_id, ports: ports.to_vec() };
        self.apply(&self.rules_of(&inner, &record))?;
        inner.state.links.push(record);
        self.save(&inner)
    }

    /// Removes what [`Controller::link`] opened.
    pub fn unlink(&self, parent: &str, child: &str) -> Result<(), NetworkError> {
        let mut inner = self.lock();
        self.unlink_in(&mut inner, parent, child);
        self.save(&inner)
    }

    fn unlink_in(&self, inner: &mut Inner, parent: &str, child: &str) {
        let (gone, kept): (Vec<LinkRecord>, Vec<LinkRecord>) =
            std::mem::take(&mut inner.state.links).into_iter().partition(|l| l.parent == parent && l.child == child);
        inner.state.links = kept;
        for link in gone {
            self.unapply(&self.rules_of(inner, &link));
        }
    }

    fn rules_of(&self, inner: &Inner, link: &LinkRecord) -> Vec<Rule> {
        let Some(net) = inner.state.networks.get(&link.network_id) else { return Vec::new() };
        if net.icc {
            return Vec::new();
        }
        let find = |c: &str| inner.endpoints_of(c).find(|e| e.network_id == net.id).map(|e| e.ip);
        let (Some(from), Some(to)) = (find(&link.parent), find(&link.child)) else { return Vec::new() };
        link.ports
            .iter()
            .flat_map(|p| {
                link_rules(&self.chains, &LinkPort { bridge: &net.bridge, from, to, proto: p.proto, port: p.port })
            })
            .collect()
    }

    /// Drops the links in which `ep`'s container takes part on `ep`'s network.
    pub(super) fn remove_links_of(&self, inner: &mut Inner, ep: &Endpoint) {
        let involved = |l: &LinkRecord| {
            l.network_id == ep.network_id && (l.parent == ep.container_id || l.child == ep.container_id)
        };
        let (gone, kept): (Vec<LinkRecord>, Vec<LinkRecord>) =
            std::mem::take(&mut inner.state.links).into_iter().partition(involved);
        for link in &gone {
            self.unapply(&self.rules_of(inner, link));
        }
        inner.state.links = kept;
    }

    /// Installs the rules of persisted links whose two containers are still attached.
    pub(super) fn restore_links(&self, inner: &mut Inner) {
        let links = std::mem::take(&mut inner.state.links);
        for link in links {
            let both = [&link.parent, &link.child]
                .iter()
                .all(|c| inner.endpoints_of(c).any(|e| e.network_id == link.network_id));
            if !both {
                continue;
            }
            if let Err(e) = self.apply(&self.rules_of(inner, &link)) {
                tracing::warn!(error = %e, parent = %link.parent, child = %link.child, "couldn't restore a link");
            }
            inner.state.links.push(link);
        }
    }
}

fn shared_network(inner: &Inner, parent: &str, child: &str) -> Option<String> {
    let child_nets: Vec<&str> = inner.endpoints_of(child).map(|e| e.network_id.as_str()).collect();
    let mut shared: Vec<&Endpoint> =
        inner.endpoints_of(parent).filter(|e| child_nets.contains(&e.network_id.as_str())).collect();
    shared.sort_by_key(|e| !inner.state.networks.get(&e.network_id).is_some_and(|n| n.default));
    shared.first().map(|e| e.network_id.clone())
}
