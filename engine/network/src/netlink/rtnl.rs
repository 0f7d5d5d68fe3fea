//! [`Netlink`] over real NETLINK_ROUTE sockets. Work inside a container's namespace uses a
//! socket opened there by a short-lived thread (see [`crate::netns`]); the socket keeps its
//! namespace, so the requests themselves run on the caller's thread.

use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::sync::Mutex;

use nix::errno::Errno;

use super::message::*;
use super::{Address, ContainerInterface, Link, Netlink, NetlinkError, NlSocket, Route, SocketError, VethPair};
use crate::ipnet::Ipv4Net;
use crate::netns;

const NLM_F_REPLACE: u16 = 0x100;
const LOOPBACK_INDEX: i32 = 1;

/// The kernel's tables, through a NETLINK_ROUTE socket of the namespace it was opened in.
#[derive(Debug)]
pub struct RtNetlink {
    host: Mutex<NlSocket>,
}

impl RtNetlink {
    /// Opens a socket in the calling thread's (the host's) network namespace.
    pub fn open() -> Result<Self, NetlinkError> {
        Ok(Self { host: Mutex::new(NlSocket::open()?) })
    }

    fn with_host<T>(&self, f: impl FnOnce(&NlSocket) -> Result<T, NetlinkError>) -> Result<T, NetlinkError> {
        let sock = self.host.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        f(&sock)
    }

    fn in_netns<T>(
        &self,
        path: &Path,
        f: impl FnOnce(&NlSocket) -> Result<T, NetlinkError>,
    ) -> Result<T, NetlinkError> {
        let sock = netns::run_in(path, NlSocket::open)??;
        f(&sock)
    }
}

/// A random locally administered unicast MAC address.
fn random_mac() -> [u8; 6] {
    let mut mac = [0u8; 6];
    crate::util::random_bytes(&mut mac);
    mac[0] = (mac[0] & 0xfe) | 0x02;
    mac
}

fn errno_of(e: &SocketError) -> Option<Errno> {
    e.errno()
}

fn get_link(sock: &NlSocket, name: &str) -> Result<Option<Link>, NetlinkError> {
    let msg = MessageBuilder::new(RTM_GETLINK, NLM_F_ACK).ifinfomsg(AF_UNSPEC, 0, 0, 0).attr_str(IFLA_IFNAME, name);
    match sock.request(msg, &|| format!("to look up the link {name}")) {
        Ok(replies) => Ok(replies.iter().find_map(|r| parse_link(r))),
        Err(e) if errno_of(&e) == Some(Errno::ENODEV) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

fn link_index(sock: &NlSocket, name: &str) -> Result<u32, NetlinkError> {
    get_link(sock, name)?.map(|l| l.index).ok_or_else(|| NetlinkError::NoSuchLink(name.to_string()))
}

fn parse_link(payload: &[u8]) -> Option<Link> {
    let head = payload.get(..16)?;
    let index = i32::from_ne_bytes([head[4], head[5], head[6], head[7]]);
    let flags = u32::from_ne_bytes([head[8], head[9], head[10], head[11]]);
    let mut link = Link {
        index: u32::try_from(index).ok()?,
        name: String::new(),
        mtu: 0,
        kind: None,
        master: None,
        up: flags & IFF_UP != 0,
    };
    for (kind, value) in attrs(&payload[16..]) {
        match kind {
            IFLA_IFNAME => link.name = read_str(value),
            IFLA_MTU => link.mtu = read_u32(value).unwrap_or(0),
            IFLA_MASTER => link.master = read_u32(value).filter(|&m| m != 0),
            IFLA_LINKINFO => {
                link.kind = attrs(value).find(|(k, _)| *k == IFLA_INFO_KIND).map(|(_, v)| read_str(v));
            }
            _ => {}
        }
    }
    Some(link)
}

fn parse_address(payload: &[u8]) -> Option<Address> {
    let head = payload.get(..8)?;
    if head[0] != AF_INET {
        return None;
    }
    let index = u32::from_ne_bytes([head[4], head[5], head[6], head[7]]);
    let mut local = None;
    let mut address = None;
    for (kind, value) in attrs(&payload[8..]) {
        let ip = value.get(..4).map(|b| Ipv4Addr::new(b[0], b[1], b[2], b[3]));
        match kind {
            IFA_LOCAL => local = ip,
            IFA_ADDRESS => address = ip,
            _ => {}
        }
    }
    let addr = Ipv4Net::new(local.or(address)?, head[1]).ok()?;
    Some(Address { index, addr })
}

fn parse_route(payload: &[u8]) -> Option<Route> {
    let head = payload.get(..12)?;
    if head[0] != AF_INET || head[7] != RTN_UNICAST {
        return None;
    }
    let mut table = u32::from(head[4]);
    let mut dst = Ipv4Addr::UNSPECIFIED;
    let mut route = Route { dst: Ipv4Net::new(dst, 0).ok()?, oif: None, gateway: None };
    for (kind, value) in attrs(&payload[12..]) {
        let ip = value.get(..4).map(|b| Ipv4Addr::new(b[0], b[1], b[2], b[3]));
        match kind {
            RTA_DST => dst = ip?,
            RTA_OIF => route.oif = read_u32(value),
            RTA_GATEWAY => route.gateway = ip,
            RTA_TABLE => table = read_u32(value).unwrap_or(table),
            _ => {}
        }
    }
    if table != u32::from(RT_TABLE_MAIN) {
        return None;
    }
    route.dst = Ipv4Net::new(dst, head[1]).ok()?;
    Some(route)
}

fn set_link_up(sock: &NlSocket, index: i32, name: &str) -> Result<(), NetlinkError> {
    let msg = MessageBuilder::new(RTM_SETLINK, NLM_F_ACK).ifinfomsg(AF_UNSPEC, index, IFF_UP, IFF_UP);
    let msg = if index == 0 { msg.attr_str(IFLA_IFNAME, name) } else { msg };
    sock.request(msg, &|| format!("to bring {name} up"))?;
    Ok(())
}

fn add_address(sock: &NlSocket, index: u32, name: &str, addr: Ipv4Net) -> Result<(), NetlinkError> {
    let ip = addr.addr().octets();
    let msg = MessageBuilder::new(RTM_NEWADDR, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL)
        .ifaddrmsg(addr.prefix(), RT_SCOPE_UNIVERSE, index)
        .attr(IFA_LOCAL, &ip)
        .attr(IFA_ADDRESS, &ip)
        .attr(IFA_BROADCAST, &addr.broadcast().octets());
    match sock.request(msg, &|| format!("to add the address {addr} to {name}")) {
        Err(e) if errno_of(&e) != Some(Errno::EEXIST) => Err(e.into()),
        _ => Ok(()),
    }
}

fn add_default_route(sock: &NlSocket, oif: u32, gateway: Ipv4Addr, replace: bool) -> Result<(), NetlinkError> {
    let flags = NLM_F_ACK | NLM_F_CREATE | if replace { NLM_F_REPLACE } else { NLM_F_EXCL };
    let msg = MessageBuilder::new(RTM_NEWROUTE, flags)
        .rtmsg(0, RTPROT_BOOT, RT_SCOPE_UNIVERSE, RTN_UNICAST)
        .attr(RTA_GATEWAY, &gateway.octets())
        .attr_u32(RTA_OIF, oif);
    match sock.request(msg, &|| format!("to add the default route via {gateway}")) {
        Err(e) if replace || errno_of(&e) != Some(Errno::EEXIST) => Err(e.into()),
        _ => Ok(()),
    }
}

impl Netlink for RtNetlink {
    fn link(&self, name: &str) -> Result<Option<Link>, NetlinkError> {
        self.with_host(|sock| get_link(sock, name))
    }

    fn links(&self) -> Result<Vec<Link>, NetlinkError> {
        self.with_host(|sock| {
            let msg = MessageBuilder::new(RTM_GETLINK, NLM_F_DUMP).ifinfomsg(AF_UNSPEC, 0, 0, 0);
            let replies = sock.dump(msg, &|| "to list links".to_string())?;
            Ok(replies.iter().filter_map(|r| parse_link(r)).collect())
        })
    }

    fn addresses(&self) -> Result<Vec<Address>, NetlinkError> {
        self.with_host(|sock| {
            let msg = MessageBuilder::new(RTM_GETADDR, NLM_F_DUMP).ifaddrmsg(0, 0, 0);
            let replies = sock.dump(msg, &|| "to list addresses".to_string())?;
            Ok(replies.iter().filter_map(|r| parse_address(r)).collect())
        })
    }

    fn routes(&self) -> Result<Vec<Route>, NetlinkError> {
        self.with_host(|sock| {
            let msg = MessageBuilder::new(RTM_GETROUTE, NLM_F_DUMP).rtmsg(0, 0, 0, 0);
            let replies = sock.dump(msg, &|| "to list routes".to_string())?;
            Ok(replies.iter().filter_map(|r| parse_route(r)).collect())
        })
    }

    fn create_bridge(&self, name: &str, mtu: u32) -> Result<(), NetlinkError> {
        self.with_host(|sock| {
            // A fixed address: otherwise the bridge takes the lowest address of its ports and
            // changes it when that port leaves, and containers' ARP entries for the gateway
            // go stale until they expire (moby sets one for the same reason).
            let (msg, nest) = MessageBuilder::new(RTM_NEWLINK, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL)
                .ifinfomsg(AF_UNSPEC, 0, 0, 0)
                .attr_str(IFLA_IFNAME, name)
                .attr_u32(IFLA_MTU, mtu)
                .attr(IFLA_ADDRESS, &random_mac())
                .begin_nest(IFLA_LINKINFO);
            let msg = msg.attr_str(IFLA_INFO_KIND, "bridge").end_nest(nest);
            match sock.request(msg, &|| format!("to create the bridge {name}")) {
                Err(e) if errno_of(&e) == Some(Errno::EEXIST) => Err(NetlinkError::LinkExists(name.to_string())),
                other => other.map(drop).map_err(Into::into),
            }
        })
    }

    fn add_address(&self, link: &str, addr: Ipv4Net) -> Result<(), NetlinkError> {
        self.with_host(|sock| add_address(sock, link_index(sock, link)?, link, addr))
    }

    fn set_up(&self, link: &str) -> Result<(), NetlinkError> {
        self.with_host(|sock| set_link_up(sock, 0, link))
    }

    fn delete_link(&self, name: &str) -> Result<(), NetlinkError> {
        self.with_host(|sock| {
            let msg =
                MessageBuilder::new(RTM_DELLINK, NLM_F_ACK).ifinfomsg(AF_UNSPEC, 0, 0, 0).attr_str(IFLA_IFNAME, name);
            match sock.request(msg, &|| format!("to delete the link {name}")) {
                Err(e) if errno_of(&e) == Some(Errno::ENODEV) => Err(NetlinkError::NoSuchLink(name.to_string())),
                other => other.map(drop).map_err(Into::into),
            }
        })
    }

    fn create_veth(&self, pair: &VethPair) -> Result<(), NetlinkError> {
        let ns = netns::open(&pair.netns)?;
        self.with_host(|sock| {
            let master = link_index(sock, &pair.bridge)?;
            let mut peer = Vec::with_capacity(16);
            // Not IFF_UP: veth_open fails with ENOTCONN until both ends are registered.
            push_ifinfomsg(&mut peer, AF_UNSPEC, 0, 0, 0);
            let (msg, info) = MessageBuilder::new(RTM_NEWLINK, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL)
                .ifinfomsg(AF_UNSPEC, 0, IFF_UP, IFF_UP)
                .attr_str(IFLA_IFNAME, &pair.host)
                .attr_u32(IFLA_MTU, pair.mtu)
                .attr_u32(IFLA_MASTER, master)
                .begin_nest(IFLA_LINKINFO);
            let (msg, data) = msg.attr_str(IFLA_INFO_KIND, "veth").begin_nest(IFLA_INFO_DATA);
            let (msg, peer_at) = msg.begin_nest(VETH_INFO_PEER);
            let fd = u32::try_from(ns.as_raw_fd()).unwrap_or(u32::MAX);
            let msg = msg
                .raw(&peer)
                .attr_str(IFLA_IFNAME, &pair.peer)
                .attr_u32(IFLA_MTU, pair.mtu)
                .attr(IFLA_ADDRESS, &pair.peer_mac)
                .attr_u32(IFLA_NET_NS_FD, fd)
                .end_nest(peer_at)
                .end_nest(data)
                .end_nest(info);
            match sock.request(msg, &|| format!("to create the veth pair {}/{}", pair.host, pair.peer)) {
                Err(e) if errno_of(&e) == Some(Errno::EEXIST) => Err(NetlinkError::LinkExists(format!(
                    "{} (or {} in {})",
                    pair.host,
                    pair.peer,
                    pair.netns.display()
                ))),
                other => other.map(drop).map_err(Into::into),
            }
        })
    }

    fn configure_container(&self, netns: &Path, iface: &ContainerInterface) -> Result<(), NetlinkError> {
        self.in_netns(netns, |sock| {
            let index = link_index(sock, &iface.name)?;
            set_link_up(sock, LOOPBACK_INDEX, "lo")?;
            add_address(sock, index, &iface.name, iface.addr)?;
            set_link_up(sock, index as i32, &iface.name)?;
            if let Some(gateway) = iface.gateway {
                add_default_route(sock, index, gateway, false)?;
            }
            Ok(())
        })
    }

    fn loopback_up(&self, netns: &Path) -> Result<(), NetlinkError> {
        self.in_netns(netns, |sock| set_link_up(sock, LOOPBACK_INDEX, "lo"))
    }

    fn set_default_route(&self, netns: &Path, ifname: &str, gateway: Ipv4Addr) -> Result<(), NetlinkError> {
        self.in_netns(netns, |sock| add_default_route(sock, link_index(sock, ifname)?, gateway, true))
    }
}
