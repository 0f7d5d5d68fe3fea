//! The kernel's link, address and route tables as the rest of the crate needs them, behind
//! the narrow [`Netlink`] trait: [`RtNetlink`] speaks NETLINK_ROUTE to the kernel,
//! [`FakeNetlink`] keeps tables in memory and records every call for unit tests.

mod fake;
pub mod message;
mod rtnl;
mod socket;

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

pub use fake::{FakeNetlink, NetlinkCall};
pub use rtnl::RtNetlink;
pub use socket::{NlSocket, SocketError};

use crate::ipnet::Ipv4Net;
use crate::netns::NetnsError;

/// Why a link, address or route operation failed.
#[derive(Debug, thiserror::Error)]
pub enum NetlinkError {
    #[error(transparent)]
    Socket(#[from] SocketError),
    #[error(transparent)]
    Netns(#[from] NetnsError),
    #[error("no network interface named {0:?}")]
    NoSuchLink(String),
    #[error("a network interface named {0:?} already exists")]
    LinkExists(String),
}

/// A network interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub index: u32,
    pub name: String,
    pub mtu: u32,
    /// The link kind (`bridge`, `veth`, ...), `None` for physical devices.
    pub kind: Option<String>,
    /// The index of the bridge this link is a port of.
    pub master: Option<u32>,
    pub up: bool,
}

/// An IPv4 address assigned to a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Address {
    pub index: u32,
    pub addr: Ipv4Net,
}

/// An IPv4 route of the main table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    /// The destination; `0.0.0.0/0` for the default route.
    pub dst: Ipv4Net,
    pub oif: Option<u32>,
    pub gateway: Option<Ipv4Addr>,
}

/// A veth pair to create: `host` is enslaved to `bridge` and up, `peer` is created directly
/// inside the namespace `netns` with the MAC address `peer_mac`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VethPair {
    pub host: String,
    pub bridge: String,
    pub mtu: u32,
    pub peer: String,
    pub peer_mac: [u8; 6],
    pub netns: PathBuf,
}

/// How a container's end of a veth pair is configured inside its namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerInterface {
    pub name: String,
    pub addr: Ipv4Net,
    /// The default route's next hop; `None` on internal networks.
    pub gateway: Option<Ipv4Addr>,
}

/// The link, address and route operations berth performs.
pub trait Netlink: Send + Sync {
    /// The host link named `name`, if any.
    fn link(&self, name: &str) -> Result<Option<Link>, NetlinkError>;
    /// Every host link.
    fn links(&self) -> Result<Vec<Link>, NetlinkError>;
    /// Every IPv4 address of the host.
    fn addresses(&self) -> Result<Vec<Address>, NetlinkError>;
    /// The host's IPv4 routes of the main table.
    fn routes(&self) -> Result<Vec<Route>, NetlinkError>;
    /// Creates a bridge (left down, without address).
    fn create_bridge(&self, name: &str, mtu: u32) -> Result<(), NetlinkError>;
    /// Adds an IPv4 address to a host link.
    fn add_address(&self, link: &str, addr: Ipv4Net) -> Result<(), NetlinkError>;
    /// Brings a host link up.
    fn set_up(&self, link: &str) -> Result<(), NetlinkError>;
    /// Deletes a host link (deleting one end of a veth pair deletes both).
    fn delete_link(&self, name: &str) -> Result<(), NetlinkError>;
    /// Creates a veth pair with one end on a bridge and the other in a container's namespace.
    fn create_veth(&self, pair: &VethPair) -> Result<(), NetlinkError>;
    /// Inside `netns`: brings `lo` and the interface up, adds its address and, when it has a
    /// gateway and the namespace has no default route yet, the default route.
    fn configure_container(&self, netns: &Path, iface: &ContainerInterface) -> Result<(), NetlinkError>;
    /// Inside `netns`: brings `lo` up (a container without networking).
    fn loopback_up(&self, netns: &Path) -> Result<(), NetlinkError>;
    /// Inside `netns`: sets the default route via `gateway` on `ifname`, replacing any.
    fn set_default_route(&self, netns: &Path, ifname: &str, gateway: Ipv4Addr) -> Result<(), NetlinkError>;
}
