//! The controller's logic against the recording fakes: which links, addresses, routes and
//! rules it asks for, what it persists and what it re-adopts.

use std::net::Ipv4Addr;
use std::sync::Arc;

use super::*;
use crate::config::BridgeMode;
use crate::firewall::{FakeFirewall, FirewallCall, Table};
use crate::netlink::{FakeNetlink, NetlinkCall};
use crate::ports::{ExposedPort, PortMapping};

struct Rig {
    netlink: Arc<FakeNetlink>,
    firewall: Arc<FakeFirewall>,
    runtime: tokio::runtime::Runtime,
    dir: tempfile::TempDir,
    config: Config,
}

fn rig() -> Rig {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::new(dir.path());
    config.bridge = BridgeMode::Managed("bt-unit0".into());
    config.chain_prefix = "BTU".into();
    config.default_ip = Ipv4Addr::LOCALHOST;
    config.embedded_dns = false;
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let netlink = Arc::new(FakeNetlink::new());
    netlink.add_route("0.0.0.0/0".parse().unwrap(), Some(2), Some(Ipv4Addr::new(192, 0, 2, 1)));
    Rig { netlink, firewall: Arc::new(FakeFirewall::new()), runtime, dir, config }
}

impl Rig {
    fn open(&self) -> Controller {
        self.try_open().unwrap()
    }

    fn try_open(&self) -> Result<Controller, NetworkError> {
        Controller::open(
            self.config.clone(),
            self.netlink.clone(),
            self.firewall.clone(),
            self.runtime.handle().clone(),
        )
    }

    fn rules(&self) -> Vec<String> {
        self.firewall.dump()
    }
}

fn attach(ctl: &Controller, container: &str, network: &str) -> Endpoint {
    let req = AttachRequest {
        network: network.into(),
        ..AttachRequest::default_bridge(container, format!("/proc/{container}/ns/net"))
    };
    ctl.attach(&req).unwrap()
}

#[test]
fn managed_bridge_on_a_free_range_with_chains_and_forwarding() {
    let rig = rig();
    let ctl = rig.open();
    let calls = rig.netlink.calls();
    assert_eq!(
        calls,
        [
            NetlinkCall::CreateBridge { name: "bt-unit0".into(), mtu: 1500 },
            NetlinkCall::AddAddress { link: "bt-unit0".into(), addr: "172.17.42.1/16".parse().unwrap() },
            NetlinkCall::SetUp("bt-unit0".into()),
        ]
    );
    assert!(rig.firewall.calls().contains(&FirewallCall::IpForward));
    let rules = rig.rules();
    assert!(rules.contains(&"-t filter -A FORWARD -j BTU-FORWARD".to_string()), "{rules:#?}");
    assert!(rules.contains(&"-t nat -A BTU-POSTROUTING -s 172.17.0.0/16 ! -o bt-unit0 -j MASQUERADE".to_string()));
    let info = ctl.network(DEFAULT_NETWORK).unwrap();
    assert_eq!((info.bridge.as_str(), info.gateway), ("bt-unit0", Ipv4Addr::new(172, 17, 42, 1)));
}

#[test]
fn a_routed_172_17_and_the_default_route_mtu_are_taken_into_account() {
    let rig = Rig { netlink: Arc::new(FakeNetlink::new()), ..rig() };
    let wan = rig.netlink.add_link("wan0", 1400, None);
    rig.netlink.add_route("0.0.0.0/0".parse().unwrap(), Some(wan), None);
    rig.netlink.add_route("172.17.0.0/16".parse().unwrap(), Some(wan), None);
    let ctl = rig.open();
    assert_eq!(ctl.mtu(), 1400);
    assert_eq!(ctl.network("bridge").unwrap().subnet.to_string(), "10.0.0.0/16");
}

#[test]
fn bip_is_used_exactly_and_must_match_an_existing_bridge() {
    let mut rig = rig();
    rig.config.bip = Some("10.77.0.9/24".parse().unwrap());
    let ctl = rig.open();
    assert_eq!(ctl.network("bridge").unwrap().gateway, Ipv4Addr::new(10, 77, 0, 9));
    drop(ctl);
    rig.config.bip = Some("10.78.0.1/24".parse().unwrap());
    assert!(matches!(rig.try_open(), Err(NetworkError::BipMismatch { .. })));
}

#[test]
fn an_existing_bridge_is_used_as_is_and_survives_teardown() {
    let mut rig = rig();
    rig.netlink.add_link("bridge0", 1500, Some("bridge"));
    rig.netlink.add_host_address("bridge0", "192.168.227.1/24".parse().unwrap());
    rig.config.bridge = BridgeMode::Existing("bridge0".into());
    let ctl = rig.open();
    assert!(rig.netlink.calls().is_empty(), "{:?}", rig.netlink.calls());
    let ep = attach(&ctl, "c1", "bridge");
    assert_eq!(ep.ip, Ipv4Addr::new(192, 168, 227, 2));
    assert_eq!(ep.gateway, Some(Ipv4Addr::new(192, 168, 227, 1)));
    ctl.teardown().unwrap();
    assert!(rig.netlink.link("bridge0").unwrap().is_some());
    assert!(rig.netlink.link(&ep.host_veth).unwrap().is_none());

    rig.config.bridge = BridgeMode::Existing("nosuch0".into());
    assert!(matches!(rig.try_open(), Err(NetworkError::BridgeNotFound(_))));
}

#[test]
fn networking_disabled() {
    let mut rig = rig();
    rig.config.bridge = BridgeMode::Disabled;
    let ctl = rig.open();
    let req = AttachRequest::default_bridge("c1", "/proc/1/ns/net");
    assert!(matches!(ctl.attach(&req), Err(NetworkError::Disabled)));
    ctl.loopback_only(std::path::Path::new("/proc/1/ns/net")).unwrap();
    assert_eq!(rig.netlink.calls(), [NetlinkCall::LoopbackUp("/proc/1/ns/net".into())]);
}

#[test]
fn attach_plumbs_a_veth_with_docker_like_address_and_mac() {
    let rig = rig();
    let ctl = rig.open();
    rig.netlink.clear_calls();
    let ep = attach(&ctl, "c1", "bridge");
    assert_eq!(ep.ip, Ipv4Addr::new(172, 17, 0, 2));
    assert_eq!(ep.mac, "02:42:ac:11:00:02");
    assert_eq!(ep.interface, "eth0");
    assert!(ep.host_veth.starts_with("veth") && ep.host_veth.len() == 11, "{}", ep.host_veth);
    let calls = rig.netlink.calls();
    let NetlinkCall::CreateVeth(pair) = &calls[0] else { panic!("{calls:?}") };
    assert_eq!((pair.bridge.as_str(), pair.peer.as_str(), pair.mtu), ("bt-unit0", "eth0", 1500));
    assert_eq!(pair.peer_mac, [0x02, 0x42, 172, 17, 0, 2]);
    let NetlinkCall::ConfigureContainer { iface, .. } = &calls[1] else { panic!("{calls:?}") };
    assert_eq!(iface.addr.to_string(), "172.17.0.2/16");
    assert_eq!(iface.gateway, Some(Ipv4Addr::new(172, 17, 42, 1)));
    let second = attach(&ctl, "c2", "bridge");
    assert_eq!(second.ip, Ipv4Addr::new(172, 17, 0, 3));
    assert!(matches!(
        ctl.attach(&AttachRequest::default_bridge("c1", "/x")),
        Err(NetworkError::AlreadyAttached { .. })
    ));
    ctl.detach("c1", "bridge").unwrap();
    assert!(rig.netlink.link(&ep.host_veth).unwrap().is_none());
    assert!(matches!(ctl.detach("c1", "bridge"), Err(NetworkError::NotAttached { .. })));
}

#[test]
fn leases_and_endpoints_survive_a_restart_and_vanished_ones_are_released() {
    let rig = rig();
    let ctl = rig.open();
    let a = attach(&ctl, "a", "bridge");
    let b = attach(&ctl, "b", "bridge");
    ctl.shutdown();
    // b's container died while the daemon was down: its veth pair went with its namespace.
    rig.netlink.delete_link(&b.host_veth).unwrap();
    let ctl = rig.open();
    let kept: Vec<String> = ctl.endpoints(None).into_iter().map(|e| e.container_id).collect();
    assert_eq!(kept, ["a"]);
    let c = attach(&ctl, "c", "bridge");
    assert_ne!(c.ip, a.ip, "a's address is still leased");
    assert!(rig.dir.path().join("network.json").exists());
}

#[test]
fn publish_binds_proxies_and_adds_dnat_then_unpublish_removes_them() {
    let mut rig = rig();
    let start = 20000 + (std::process::id() % 20000) as u16;
    rig.config.port_range = (start, start + 200);
    let ctl = rig.open();
    let ep = attach(&ctl, "web", "bridge");
    let maps: Vec<PortMapping> = ["8080", "127.0.0.1::53/udp"].iter().map(|s| s.parse().unwrap()).collect();
    let bound = ctl.publish("web", &maps).unwrap();
    assert_eq!(bound.len(), 2);
    assert!(bound.iter().all(|b| b.host_ip == Ipv4Addr::LOCALHOST && (start..=start + 200).contains(&b.host_port)));
    let tcp = bound[0];
    let rules = rig.rules();
    let dnat = format!(
        "-t nat -A BTU -d 127.0.0.1/32 ! -i bt-unit0 -p tcp -m tcp --dport {} -j DNAT --to-destination {}:8080",
        tcp.host_port, ep.ip
    );
    assert!(rules.contains(&dnat), "{rules:#?}");
    // The same host port again is refused with Docker's message.
    let again = PortMapping { host_port: Some(tcp.host_port), ..maps[0] };
    let err = ctl.publish("web", &[again]).unwrap_err();
    assert_eq!(err.to_string(), format!("Bind for 127.0.0.1:{} failed: port is already allocated", tcp.host_port));
    assert_eq!(err.kind(), ErrorKind::Conflict);
    // A second container never gets the same dynamic port.
    attach(&ctl, "web2", "bridge");
    let other = ctl.publish("web2", &maps[..1]).unwrap();
    assert_ne!(other[0].host_port, tcp.host_port);
    let all = ctl.publish_all("web2", &[ExposedPort::tcp(80), ExposedPort::udp(53)]).unwrap();
    assert_eq!(all.iter().map(|b| b.container).collect::<Vec<_>>(), [ExposedPort::tcp(80), ExposedPort::udp(53)]);
    ctl.unpublish("web").unwrap();
    assert!(!rig.rules().contains(&dnat));
    assert!(std::net::TcpListener::bind(("127.0.0.1", tcp.host_port)).is_ok(), "proxy stopped");
    ctl.teardown().unwrap();
}

#[test]
fn icc_false_drops_on_the_bridge_and_links_open_exposed_ports_only() {
    let mut rig = rig();
    rig.config.icc = false;
    let ctl = rig.open();
    assert!(rig.firewall.calls().contains(&FirewallCall::BridgeNetfilter));
    assert!(rig.rules().contains(&"-t filter -A BTU-FORWARD -i bt-unit0 -o bt-unit0 -j DROP".to_string()));
    let db = attach(&ctl, "db", "bridge");
    let web = attach(&ctl, "web", "bridge");
    ctl.link("web", "db", &[ExposedPort::tcp(6379)]).unwrap();
    let allow = format!(
        "-t filter -A BTU -s {}/32 -d {}/32 -i bt-unit0 -o bt-unit0 -p tcp -m tcp --dport 6379 -j ACCEPT",
        web.ip, db.ip
    );
    assert!(rig.rules().contains(&allow), "{:#?}", rig.rules());
    ctl.unlink("web", "db").unwrap();
    assert!(!rig.rules().contains(&allow));
    ctl.link("web", "db", &[ExposedPort::tcp(6379)]).unwrap();
    ctl.detach("db", "bridge").unwrap();
    assert!(!rig.rules().contains(&allow), "detach drops the link's rules");
}

#[test]
fn iptables_false_adds_no_rule_at_all() {
    let mut rig = rig();
    rig.config.iptables = false;
    rig.config.port_range = (30000 + (std::process::id() % 20000) as u16, 65000);
    let ctl = rig.open();
    attach(&ctl, "web", "bridge");
    ctl.publish("web", &["80".parse().unwrap()]).unwrap();
    ctl.create_network(&NetworkCreate::named("front")).unwrap();
    ctl.teardown().unwrap();
    assert!(rig.firewall.calls().is_empty(), "{:?}", rig.firewall.calls());
}

#[test]
fn user_networks_internal_isolation_and_removal() {
    let rig = rig();
    let ctl = rig.open();
    let front = ctl.create_network(&NetworkCreate::named("front")).unwrap();
    assert!(front.bridge.starts_with("br-") && front.bridge.len() == 15, "{}", front.bridge);
    assert_eq!(front.subnet.to_string(), "172.18.0.0/16");
    let back = ctl
        .create_network(&NetworkCreate {
            internal: true,
            subnet: Some("10.99.0.0/24".parse().unwrap()),
            ..NetworkCreate::named("back")
        })
        .unwrap();
    assert_eq!(back.gateway, Ipv4Addr::new(10, 99, 0, 1));
    let rules = rig.rules();
    assert!(rules.contains(&format!("-t filter -A BTU-ISOLATION-2 -o {} -j DROP", front.bridge)));
    assert!(rules.contains(&format!("-t filter -A BTU-ISOLATION-1 -i {} ! -d 10.99.0.0/24 -j DROP", back.bridge)));
    assert!(!rules.iter().any(|r| r.contains("MASQUERADE") && r.contains(&back.bridge)));

    let on_front = attach(&ctl, "app", "front");
    let on_back = attach(&ctl, "app", "back");
    assert_eq!((on_front.interface.as_str(), on_back.interface.as_str()), ("eth0", "eth1"));
    assert_eq!(on_back.gateway, None, "internal networks give no default route");
    attach(&ctl, "db", "back");
    let err = ctl.publish("db", &["80".parse().unwrap()]).unwrap_err();
    assert!(matches!(err, NetworkError::NothingToPublishOn(_)));

    assert!(matches!(ctl.create_network(&NetworkCreate::named("front")), Err(NetworkError::NetworkExists(_))));
    assert!(matches!(ctl.create_network(&NetworkCreate::named("bridge")), Err(NetworkError::ReservedName(_))));
    let overlap = NetworkCreate { subnet: Some("10.99.0.128/25".parse().unwrap()), ..NetworkCreate::named("x") };
    assert!(matches!(ctl.create_network(&overlap), Err(NetworkError::SubnetOverlap { .. })));

    assert!(matches!(ctl.remove_network("back"), Err(NetworkError::NetworkInUse { count: 2, .. })));
    ctl.detach_all("app").unwrap();
    ctl.detach("db", "back").unwrap();
    ctl.remove_network(&back.id[..8]).unwrap();
    assert!(rig.netlink.link(&back.bridge).unwrap().is_none());
    assert!(!rig.rules().iter().any(|r| r.contains(&back.bridge)));
    assert_eq!(ctl.networks().iter().map(|n| n.name.as_str()).collect::<Vec<_>>(), ["bridge", "front"]);
}

#[test]
fn detaching_the_network_with_the_default_route_moves_it() {
    let rig = rig();
    let ctl = rig.open();
    ctl.create_network(&NetworkCreate::named("front")).unwrap();
    attach(&ctl, "app", "bridge");
    let front = attach(&ctl, "app", "front");
    rig.netlink.clear_calls();
    ctl.detach("app", "bridge").unwrap();
    assert!(rig.netlink.calls().contains(&NetlinkCall::SetDefaultRoute {
        netns: front.netns.clone(),
        ifname: "eth1".into(),
        gateway: front.gateway.unwrap(),
    }));
}

#[test]
fn teardown_leaves_nothing_of_berth() {
    let rig = rig();
    let ctl = rig.open();
    let net = ctl.create_network(&NetworkCreate::named("front")).unwrap();
    let ep = attach(&ctl, "app", "front");
    ctl.teardown().unwrap();
    for name in ["bt-unit0", net.bridge.as_str(), ep.host_veth.as_str()] {
        assert!(rig.netlink.link(name).unwrap().is_none(), "{name} left behind");
    }
    let chains = rig.firewall.chain_names();
    assert!(!chains.iter().any(|(_, c)| c.starts_with("BTU")), "{chains:?}");
    assert!(rig.rules().is_empty(), "{:#?}", rig.rules());
    assert!(rig.firewall.chain(Table::Filter, "FORWARD").is_empty());
    // The user network is still defined and comes back with a new bridge.
    let ctl = rig.open();
    assert_eq!(ctl.network("front").unwrap().bridge, net.bridge);
    assert!(rig.netlink.link(&net.bridge).unwrap().is_some());
    ctl.teardown().unwrap();
}
