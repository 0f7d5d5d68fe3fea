//! An in-memory [`Netlink`] for unit tests: it keeps link, address and route tables that
//! behave like the kernel's for what berth does, and records every change it is asked for.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use super::{Address, ContainerInterface, Link, Netlink, NetlinkError, Route, VethPair};
use crate::ipnet::Ipv4Net;

/// A change [`FakeNetlink`] was asked to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetlinkCall {
    CreateBridge { name: String, mtu: u32 },
    AddAddress { link: String, addr: Ipv4Net },
    SetUp(String),
    DeleteLink(String),
    CreateVeth(VethPair),
    ConfigureContainer { netns: PathBuf, iface: ContainerInterface },
    LoopbackUp(PathBuf),
    SetDefaultRoute { netns: PathBuf, ifname: String, gateway: Ipv4Addr },
}

#[derive(Debug, Default)]
struct Tables {
    links: Vec<Link>,
    addresses: Vec<Address>,
    routes: Vec<Route>,
    calls: Vec<NetlinkCall>,
    next_index: u32,
}

/// Kernel tables in memory; starts with `lo` and `eth0` (MTU 1500, no routes).
#[derive(Debug)]
pub struct FakeNetlink {
    tables: Mutex<Tables>,
}

impl Default for FakeNetlink {
    fn default() -> Self {
        Self::new()
    }
}

impl FakeNetlink {
    pub fn new() -> Self {
        let fake = Self { tables: Mutex::new(Tables { next_index: 1, ..Tables::default() }) };
        fake.add_link("lo", 65536, None);
        fake.add_link("eth0", 1500, None);
        fake
    }

    fn tables(&self) -> MutexGuard<'_, Tables> {
        self.tables.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Adds a link as if something else had created it; returns its index.
    pub fn add_link(&self, name: &str, mtu: u32, kind: Option<&str>) -> u32 {
        let mut t = self.tables();
        let index = t.next_index;
        t.next_index += 1;
        t.links.push(Link { index, name: name.into(), mtu, kind: kind.map(Into::into), master: None, up: true });
        index
    }

    /// Adds a route as if something else had created it.
    pub fn add_route(&self, dst: Ipv4Net, oif: Option<u32>, gateway: Option<Ipv4Addr>) {
        self.tables().routes.push(Route { dst, oif, gateway });
    }

    /// Adds an address (and its connected route) without recording a call.
    pub fn add_host_address(&self, link: &str, addr: Ipv4Net) {
        let mut t = self.tables();
        if let Some(index) = t.links.iter().find(|l| l.name == link).map(|l| l.index) {
            t.addresses.push(Address { index, addr });
            t.routes.push(Route { dst: addr.trunc(), oif: Some(index), gateway: None });
        }
    }

    /// Every change asked for so far, in order.
    pub fn calls(&self) -> Vec<NetlinkCall> {
        self.tables().calls.clone()
    }

    /// Forgets the recorded calls.
    pub fn clear_calls(&self) {
        self.tables().calls.clear();
    }

    fn record(&self, call: NetlinkCall) {
        self.tables().calls.push(call);
    }
}

impl Netlink for FakeNetlink {
    fn link(&self, name: &str) -> Result<Option<Link>, NetlinkError> {
        Ok(self.tables().links.iter().find(|l| l.name == name).cloned())
    }

    fn links(&self) -> Result<Vec<Link>, NetlinkError> {
        Ok(self.tables().links.clone())
    }

    fn addresses(&self) -> Result<Vec<Address>, NetlinkError> {
        Ok(self.tables().addresses.clone())
    }

    fn routes(&self) -> Result<Vec<Route>, NetlinkError> {
        Ok(self.tables().routes.clone())
    }

    fn create_bridge(&self, name: &str, mtu: u32) -> Result<(), NetlinkError> {
        if self.link(name)?.is_some() {
            return Err(NetlinkError::LinkExists(name.into()));
        }
        self.record(NetlinkCall::CreateBridge { name: name.into(), mtu });
        self.add_link(name, mtu, Some("bridge"));
        Ok(())
    }

    fn add_address(&self, link: &str, addr: Ipv4Net) -> Result<(), NetlinkError> {
        if self.link(link)?.is_none() {
            return Err(NetlinkError::NoSuchLink(link.into()));
        }
        self.record(NetlinkCall::AddAddress { link: link.into(), addr });
        self.add_host_address(link, addr);
        Ok(())
    }

    fn set_up(&self, link: &str) -> Result<(), NetlinkError> {
        self.record(NetlinkCall::SetUp(link.into()));
        Ok(())
    }

    fn delete_link(&self, name: &str) -> Result<(), NetlinkError> {
        let mut t = self.tables();
        let index = t.links.iter().find(|l| l.name == name).map(|l| l.index);
        let Some(index) = index else {
            return Err(NetlinkError::NoSuchLink(name.into()));
        };
        t.calls.push(NetlinkCall::DeleteLink(name.into()));
        t.links.retain(|l| l.index != index);
        t.addresses.retain(|a| a.index != index);
        t.routes.retain(|r| r.oif != Some(index));
        Ok(())
    }

    fn create_veth(&self, pair: &VethPair) -> Result<(), NetlinkError> {
        let master = self.link(&pair.bridge)?.ok_or_else(|| NetlinkError::NoSuchLink(pair.bridge.clone()))?;
        if self.link(&pair.host)?.is_some() {
            return Err(NetlinkError::LinkExists(pair.host.clone()));
        }
        self.record(NetlinkCall::CreateVeth(pair.clone()));
        let index = self.add_link(&pair.host, pair.mtu, Some("veth"));
        let mut t = self.tables();
        if let Some(link) = t.links.iter_mut().find(|l| l.index == index) {
            link.master = Some(master.index);
        }
        Ok(())
    }

    fn configure_container(&self, netns: &Path, iface: &ContainerInterface) -> Result<(), NetlinkError> {
        self.record(NetlinkCall::ConfigureContainer { netns: netns.into(), iface: iface.clone() });
        Ok(())
    }

    fn loopback_up(&self, netns: &Path) -> Result<(), NetlinkError> {
        self.record(NetlinkCall::LoopbackUp(netns.into()));
        Ok(())
    }

    fn set_default_route(&self, netns: &Path, ifname: &str, gateway: Ipv4Addr) -> Result<(), NetlinkError> {
        self.record(NetlinkCall::SetDefaultRoute { netns: netns.into(), ifname: ifname.into(), gateway });
        Ok(())
    }
}
