//! Choosing address ranges that no existing route, link address or name server uses: the
//! default bridge tries Docker 0.8's list in order, user networks take the next free
//! range of Docker's later default pools.

use std::net::{IpAddr, Ipv4Addr};

use crate::ipnet::Ipv4Net;
use crate::netlink::{Netlink, NetlinkError};

/// The bridge addresses Docker 0.8 tried for docker0, in order.
pub const DEFAULT_BRIDGE_CANDIDATES: &[&str] = &[
    "172.17.42.1/16",
    "10.0.42.1/16",
    "10.1.42.1/16",
    "10.42.42.1/16",
    "172.16.42.1/24",
    "172.16.43.1/24",
    "172.16.44.1/24",
    "10.0.42.1/24",
    "10.0.43.1/24",
    "192.168.42.1/24",
    "192.168.43.1/24",
    "192.168.44.1/24",
];

/// The gateway addresses (subnet .1) user networks are given in turn: 172.18.0.1/16 to
/// 172.31.0.1/16, then 192.168.0.1/20 to 192.168.240.1/20.
pub fn user_network_candidates() -> impl Iterator<Item = Ipv4Net> {
    let b = (18u8..=31).filter_map(|o| Ipv4Net::new(Ipv4Addr::new(172, o, 0, 1), 16).ok());
    let c = (0u8..16).filter_map(|i| Ipv4Net::new(Ipv4Addr::new(192, 168, i * 16, 1), 20).ok());
    b.chain(c)
}

/// The default bridge's candidates as networks.
pub fn default_bridge_candidates() -> impl Iterator<Item = Ipv4Net> {
    DEFAULT_BRIDGE_CANDIDATES.iter().filter_map(|s| s.parse().ok())
}

/// Ranges in use on the host: every route but the default one, every link address and every
/// IPv4 name server (as a /32).
pub fn in_use(netlink: &dyn Netlink, nameservers: &[IpAddr]) -> Result<Vec<Ipv4Net>, NetlinkError> {
    let mut used: Vec<Ipv4Net> = netlink.routes()?.into_iter().map(|r| r.dst).filter(|d| d.prefix() > 0).collect();
    used.extend(netlink.addresses()?.into_iter().map(|a| a.addr));
    used.extend(nameservers.iter().filter_map(|ns| match ns {
        IpAddr::V4(v4) => Ipv4Net::new(*v4, 32).ok(),
        IpAddr::V6(_) => None,
    }));
    Ok(used)
}

/// The first candidate that overlaps nothing in `used`.
pub fn choose(candidates: impl IntoIterator<Item = Ipv4Net>, used: &[Ipv4Net]) -> Option<Ipv4Net> {
    candidates.into_iter().find(|c| !used.iter().any(|u| u.overlaps(c)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netlink::FakeNetlink;

    fn net(s: &str) -> Ipv4Net {
        s.parse().unwrap()
    }

    #[test]
    fn first_candidate_on_an_empty_host() {
        let fake = FakeNetlink::new();
        fake.add_route(net("0.0.0.0/0"), Some(2), Some(Ipv4Addr::new(192, 0, 2, 1)));
        let used = in_use(&fake, &[]).unwrap();
        assert_eq!(choose(default_bridge_candidates(), &used), Some(net("172.17.42.1/16")));
    }

    #[test]
    fn a_routed_172_17_makes_it_choose_another_range() {
        let fake = FakeNetlink::new();
        fake.add_host_address("eth0", net("172.17.5.9/16"));
        let used = in_use(&fake, &[]).unwrap();
        assert_eq!(choose(default_bridge_candidates(), &used), Some(net("10.0.42.1/16")));
    }

    #[test]
    fn routes_addresses_and_name_servers_all_count() {
        let fake = FakeNetlink::new();
        fake.add_route(net("172.16.0.0/12"), Some(2), None);
        fake.add_route(net("10.0.0.0/8"), Some(2), None);
        let used = in_use(&fake, &["192.168.42.53".parse().unwrap()]).unwrap();
        assert_eq!(choose(default_bridge_candidates(), &used), Some(net("192.168.43.1/24")));
    }

    #[test]
    fn nothing_left() {
        assert_eq!(choose(default_bridge_candidates(), &[net("0.0.0.0/1"), net("128.0.0.0/1")]), None);
    }

    #[test]
    fn user_networks_take_the_next_free_range() {
        let used = [net("172.17.0.0/16"), net("172.18.0.1/16")];
        assert_eq!(choose(user_network_candidates(), &used), Some(net("172.19.0.1/16")));
        assert_eq!(user_network_candidates().count(), 30);
    }
}
