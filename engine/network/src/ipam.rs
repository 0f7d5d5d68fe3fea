//! Address management for one network: which addresses of its subnet are leased to whom.
//! Allocation walks forward from the last address handed out (wrapping), as Docker's
//! allocator did, starting at network + 2 (172.17.0.2 on a fresh 172.17.42.1/16 bridge), so
//! a just-released address is not immediately reused. The pool is serializable; the
//! controller persists it with the rest of the network state.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use crate::ipnet::Ipv4Net;

/// Why an address could not be leased.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IpamError {
    #[error("no free address is left in {0}")]
    Exhausted(Ipv4Net),
    #[error("the address {ip} is not in the network {subnet}")]
    OutOfRange { ip: Ipv4Addr, subnet: Ipv4Net },
    #[error("the address {ip} is already in use by {owner}")]
    InUse { ip: Ipv4Addr, owner: String },
}

/// The leases of one subnet. The gateway, network and broadcast addresses are never leased.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pool {
    subnet: Ipv4Net,
    gateway: Ipv4Addr,
    #[serde(default)]
    last: Option<Ipv4Addr>,
    #[serde(default)]
    leases: BTreeMap<Ipv4Addr, String>,
}

impl Pool {
    /// A pool for `subnet` (host bits ignored) whose gateway is `gateway`.
    pub fn new(subnet: Ipv4Net, gateway: Ipv4Addr) -> Self {
        Self { subnet: subnet.trunc(), gateway, last: None, leases: BTreeMap::new() }
    }

    pub fn subnet(&self) -> Ipv4Net {
        self.subnet
    }

    pub fn gateway(&self) -> Ipv4Addr {
        self.gateway
    }

    /// Every lease as (address, owner).
    pub fn leases(&self) -> impl Iterator<Item = (Ipv4Addr, &str)> {
        self.leases.iter().map(|(ip, owner)| (*ip, owner.as_str()))
    }

    fn reserved(&self, ip: Ipv4Addr) -> bool {
        let small = self.subnet.prefix() >= 31;
        ip == self.gateway || (!small && (ip == self.subnet.network() || ip == self.subnet.broadcast()))
    }

    /// Leases `requested`, or the next free address, to `owner`.
    pub fn allocate(&mut self, owner: &str, requested: Option<Ipv4Addr>) -> Result<Ipv4Addr, IpamError> {
        if let Some(ip) = requested {
            return self.claim(owner, ip);
        }
        let base = u32::from(self.subnet.network());
        let size = 1u64 << (32 - u32::from(self.subnet.prefix()));
        let start = self.last.map(|ip| u64::from(u32::from(ip) - base) + 1).unwrap_or(2);
        for step in 0..size {
            let offset = (start + step) % size;
            let ip = Ipv4Addr::from(base + offset as u32);
            if !self.reserved(ip) && !self.leases.contains_key(&ip) {
                self.leases.insert(ip, owner.to_string());
                self.last = Some(ip);
                return Ok(ip);
            }
        }
        Err(IpamError::Exhausted(self.subnet))
    }

    fn claim(&mut self, owner: &str, ip: Ipv4Addr) -> Result<Ipv4Addr, IpamError> {
        if !self.subnet.contains(ip) {
            return Err(IpamError::OutOfRange { ip, subnet: self.subnet });
        }
        if self.reserved(ip) {
            return Err(IpamError::InUse { ip, owner: "the network itself".into() });
        }
        if let Some(other) = self.leases.get(&ip) {
            return Err(IpamError::InUse { ip, owner: other.clone() });
        }
        self.leases.insert(ip, owner.to_string());
        Ok(ip)
    }

    /// Ends the lease of `ip`; unknown addresses are ignored.
    pub fn release(&mut self, ip: Ipv4Addr) {
        self.leases.remove(&ip);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(cidr: &str) -> Pool {
        let net: Ipv4Net = cidr.parse().unwrap();
        Pool::new(net, net.addr())
    }

    #[test]
    fn skips_network_gateway_and_broadcast() {
        let mut p = pool("10.0.0.1/30");
        assert_eq!(p.allocate("a", None).unwrap(), Ipv4Addr::new(10, 0, 0, 2));
        assert_eq!(p.allocate("b", None), Err(IpamError::Exhausted("10.0.0.0/30".parse().unwrap())));
    }

    #[test]
    fn docker_like_addresses_on_the_default_bridge() {
        let mut p = pool("172.17.42.1/16");
        assert_eq!(p.allocate("a", None).unwrap(), Ipv4Addr::new(172, 17, 0, 2));
        assert_eq!(p.allocate("b", None).unwrap(), Ipv4Addr::new(172, 17, 0, 3));
    }

    #[test]
    fn released_addresses_are_not_reused_at_once_and_the_walk_wraps() {
        let mut p = pool("192.168.42.1/29");
        let got: Vec<_> = (0..5).map(|i| p.allocate(&i.to_string(), None).unwrap()).collect();
        assert_eq!(got[0], Ipv4Addr::new(192, 168, 42, 2));
        assert_eq!(got[4], Ipv4Addr::new(192, 168, 42, 6));
        p.release(got[1]);
        assert_eq!(p.allocate("x", None).unwrap(), got[1], "wraps around to the freed address");
        assert!(p.allocate("y", None).is_err());
    }

    #[test]
    fn requested_addresses() {
        let mut p = pool("10.1.0.1/24");
        let ip = Ipv4Addr::new(10, 1, 0, 50);
        assert_eq!(p.allocate("a", Some(ip)).unwrap(), ip);
        assert!(matches!(p.allocate("b", Some(ip)), Err(IpamError::InUse { owner, .. }) if owner == "a"));
        assert!(matches!(p.allocate("b", Some(Ipv4Addr::new(10, 1, 0, 1))), Err(IpamError::InUse { .. })));
        assert!(matches!(p.allocate("b", Some(Ipv4Addr::new(10, 2, 0, 1))), Err(IpamError::OutOfRange { .. })));
    }

    #[test]
    fn survives_a_round_trip_through_json() {
        let mut p = pool("10.1.0.1/24");
        let a = p.allocate("a", None).unwrap();
        let mut back: Pool = serde_json::from_str(&serde_json::to_string(&p).unwrap()).unwrap();
        assert_eq!(back, p);
        assert_ne!(back.allocate("b", None).unwrap(), a);
    }
}
