//! Root integration tests against the real kernel: bridges, veth pairs, namespaces,
//! iptables, the userland proxy and the embedded DNS. Every test uses its own names and
//! subnet and removes what it made, checked by listing links and rules at the end.

mod common;

use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::time::{Duration, Instant};

use berth_network::dns::{build_query, parse_response, Rcode};
use berth_network::netns::run_in;
use berth_network::{
    AttachRequest, BridgeMode, Controller, Endpoint, ExposedPort, NetworkCreate, NetworkError, PortMapping,
};
use common::*;

const SHORT: Duration = Duration::from_millis(800);

macro_rules! require_root {
    () => {
        if !is_root() {
            eprintln!("skipped: needs root");
            return;
        }
    };
}

fn attach(ctl: &Controller, container: &str, ns: &Netns, network: &str, names: &[&str]) -> Endpoint {
    let req = AttachRequest {
        network: network.into(),
        names: names.iter().map(|n| n.to_string()).collect(),
        ..AttachRequest::default_bridge(container, &ns.path)
    };
    ctl.attach(&req).expect("attach")
}

fn assert_clean(host: &Host, links: &[&str]) {
    assert_eq!(host.leftover_rules(), Vec::<String>::new(), "rules left behind");
    assert_eq!(host.leftover_links(links), Vec::<String>::new(), "links left behind");
}

#[test]
fn containers_talk_over_the_bridge_and_published_ports_reach_them() {
    require_root!();
    let host = Host::new();
    let rt = runtime();
    let config = host.config();
    let bip = config.bip.unwrap();
    let ctl = Controller::open_host(config, rt.handle().clone()).unwrap();
    let (ns1, ns2) = (Netns::new(), Netns::new());
    let ep1 = attach(&ctl, "c1", &ns1, "bridge", &[]);
    let ep2 = attach(&ctl, "c2", &ns2, "bridge", &[]);
    assert!(bip.contains(ep1.ip) && bip.contains(ep2.ip) && ep1.ip != ep2.ip);

    // Inside: eth0 with the address, MAC and MTU, lo up, default route via the bridge.
    let inside = ns1.sh("ip -o addr show eth0; ip -o link show eth0; ip -o link show lo; ip route");
    assert!(inside.contains(&format!("{}/{}", ep1.ip, ep1.prefix)), "{inside}");
    assert!(inside.contains(&ep1.mac), "{inside}");
    assert!(inside.contains(&format!("mtu {}", ctl.mtu())), "{inside}");
    assert!(inside.contains("LOOPBACK,UP"), "{inside}");
    assert!(inside.contains(&format!("default via {} dev eth0", bip.addr())), "{inside}");
    // The bridge has an address of its own (3 = set), so it never changes as ports come and go.
    let assign = std::fs::read_to_string(format!("/sys/class/net/{}/addr_assign_type", host.bridge)).unwrap();
    assert_eq!(assign.trim(), "3");
    // Outside: the host veth is a port of the bridge.
    let veth = sh(&format!("ip -o link show {}", ep1.host_veth));
    assert!(veth.contains(&format!("master {}", host.bridge)) && veth.contains("UP"), "{veth}");

    // TCP from c1 to c2, UDP from c2 to c1.
    let _tcp = Echo::tcp(&ns2.path, 7000);
    let s = ns1.connect(SocketAddrV4::new(ep2.ip, 7000), Duration::from_secs(3)).expect("c1 -> c2");
    assert_eq!(echo_over(s, b"over the bridge"), b"over the bridge");
    let _udp = Echo::udp(&ns1.path, 7001);
    let client = run_in(&ns2.path, || UdpSocket::bind("0.0.0.0:0")).unwrap().unwrap();
    client.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    client.send_to(b"datagram", (ep1.ip, 7001)).unwrap();
    let mut buf = [0u8; 16];
    let (n, _) = client.recv_from(&mut buf).expect("c2 -> c1 udp");
    assert_eq!(&buf[..n], b"datagram");

    // Published: 127.0.0.1 through the proxy, the bridge address through DNAT, and UDP.
    let maps: Vec<PortMapping> =
        ["127.0.0.1::7000", "7000", "127.0.0.1::7001/udp"].iter().map(|m| m.parse().unwrap()).collect();
    let bound = ctl.publish("c2", &maps[..2]).unwrap();
    let s = std::net::TcpStream::connect((LOOPBACK, bound[0].host_port)).expect("127.0.0.1:port");
    assert_eq!(echo_over(s, b"via the proxy"), b"via the proxy");
    let s = std::net::TcpStream::connect((bip.addr(), bound[1].host_port)).expect("host address:port");
    assert_eq!(echo_over(s, b"via dnat"), b"via dnat");
    let nat = sh("iptables -w -t nat -S");
    assert!(nat.contains(&format!("--to-destination {}:7000", ep2.ip)), "{nat}");
    let udp_bound = ctl.publish("c1", &maps[2..]).unwrap();
    let client = UdpSocket::bind("127.0.0.1:0").unwrap();
    client.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    client.send_to(b"udp published", (LOOPBACK, udp_bound[0].host_port)).unwrap();
    let (n, _) = client.recv_from(&mut buf).expect("udp through the proxy");
    assert_eq!(&buf[..n], b"udp published");

    // A host port another program holds is refused with the kernel's reason.
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port();
    let err = ctl.publish("c2", &[format!("127.0.0.1:{port}:7000").parse().unwrap()]).unwrap_err();
    assert!(err.to_string().to_lowercase().contains("address already in use"), "{err}");

    ctl.unpublish("c2").unwrap();
    assert!(std::net::TcpStream::connect((LOOPBACK, bound[0].host_port)).is_err(), "proxy stopped");
    ctl.detach_all("c1").unwrap();
    assert!(sh(&format!("ip -o link show {}", ep1.host_veth)).is_empty(), "veth removed on detach");
    ctl.teardown().unwrap();
    drop((ns1, ns2));
    assert_clean(&host, &[&ep1.host_veth, &ep2.host_veth, &host.bridge]);
}

#[test]
fn icc_false_isolates_containers_and_a_link_opens_exposed_ports_only() {
    require_root!();
    let host = Host::new();
    let rt = runtime();
    let mut config = host.config();
    config.icc = false;
    let ctl = Controller::open_host(config, rt.handle().clone()).unwrap();
    let (client, server) = (Netns::new(), Netns::new());
    let _c = attach(&ctl, "web", &client, "bridge", &[]);
    let db = attach(&ctl, "db", &server, "bridge", &[]);
    let (_exposed, _other) = (Echo::tcp(&server.path, 6379), Echo::tcp(&server.path, 6380));
    let to = |port| SocketAddrV4::new(db.ip, port);
    assert!(client.connect(to(6379), SHORT).is_err(), "icc=false blocks container to container");
    ctl.link("web", "db", &[ExposedPort::tcp(6379)]).unwrap();
    let s = client.connect(to(6379), Duration::from_secs(3)).expect("the link opens the exposed port");
    assert_eq!(echo_over(s, b"PING"), b"PING");
    assert!(client.connect(to(6380), SHORT).is_err(), "other ports stay closed");
    ctl.unlink("web", "db").unwrap();
    assert!(client.connect(to(6379), SHORT).is_err(), "unlink closes it again");
    ctl.teardown().unwrap();
    drop((client, server));
    assert_clean(&host, &[&host.bridge]);
}

fn ask(ns: &Netns, server: SocketAddrV4, name: &str) -> (Rcode, Vec<Ipv4Addr>) {
    let sock = run_in(&ns.path, || UdpSocket::bind("0.0.0.0:0")).unwrap().unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    sock.send_to(&build_query(0x4242, name, 1), server).unwrap();
    let mut buf = [0u8; 512];
    let n = sock.recv(&mut buf).unwrap_or_else(|e| panic!("no answer for {name} from {server}: {e}"));
    parse_response(&buf[..n]).expect("a well-formed answer")
}

#[test]
fn user_networks_resolve_names_isolate_each_other_and_internal_ones_have_no_way_out() {
    require_root!();
    let host = Host::new();
    let rt = runtime();
    // A fake upstream name server on loopback for names outside the networks.
    let upstream = UdpSocket::bind("127.0.0.1:0").unwrap();
    let upstream_addr = upstream.local_addr().unwrap();
    upstream.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = stop.clone();
    let fake_upstream = std::thread::spawn(move || {
        let mut buf = [0u8; 512];
        while !flag.load(std::sync::atomic::Ordering::Relaxed) {
            if let Ok((n, from)) = upstream.recv_from(&mut buf) {
                let q = berth_network::dns::parse_query(&buf[..n]).unwrap();
                let reply =
                    berth_network::dns::build_response(&buf[..n], &q, Rcode::NoError, &[Ipv4Addr::new(192, 0, 2, 80)]);
                let _ = upstream.send_to(&reply, from);
            }
        }
    });
    let mut config = host.config();
    config.dns_upstreams = Some(vec![upstream_addr]);
    let ctl = Controller::open_host(config, rt.handle().clone()).unwrap();
    let front = ctl
        .create_network(&NetworkCreate {
            subnet: Some(free_subnet()),
            ..NetworkCreate::named(&format!("{}-front", host.stem))
        })
        .unwrap();
    let back = ctl
        .create_network(&NetworkCreate {
            subnet: Some(free_subnet()),
            internal: true,
            ..NetworkCreate::named(&format!("{}-back", host.stem))
        })
        .unwrap();
    let (db_ns, app_ns, web_ns) = (Netns::new(), Netns::new(), Netns::new());
    let db = attach(&ctl, "db", &db_ns, &back.name, &["postgres", "idp-postgres-1"]);
    let app_back = attach(&ctl, "app", &app_ns, &back.name, &["pocket-id"]);
    let app_front = attach(&ctl, "app", &app_ns, &front.name, &["pocket-id"]);
    let web = attach(&ctl, "web", &web_ns, &front.name, &["web"]);
    assert_eq!((app_back.interface.as_str(), app_front.interface.as_str()), ("eth0", "eth1"));

    // DNS on each network's gateway: registered names, NXDOMAIN, forwarding only when not internal.
    let back_dns = ctl.dns_address(&back.name).unwrap().expect("a DNS server on the internal network");
    assert_eq!(back_dns, SocketAddrV4::new(back.gateway, 53));
    assert_eq!(ask(&app_ns, back_dns, "postgres"), (Rcode::NoError, vec![db.ip]));
    assert_eq!(ask(&app_ns, back_dns, "IDP-postgres-1."), (Rcode::NoError, vec![db.ip]));
    assert_eq!(ask(&app_ns, back_dns, "nosuch").0, Rcode::NxDomain);
    assert_eq!(ask(&app_ns, back_dns, "www.example.org").0, Rcode::NxDomain, "internal: not forwarded");
    let front_dns = ctl.dns_address(&front.name).unwrap().unwrap();
    assert_eq!(ask(&web_ns, front_dns, "pocket-id"), (Rcode::NoError, vec![app_front.ip]));
    assert_eq!(ask(&web_ns, front_dns, "postgres").0, Rcode::NxDomain, "names stay on their network");
    assert_eq!(ask(&web_ns, front_dns, "www.example.org"), (Rcode::NoError, vec![Ipv4Addr::new(192, 0, 2, 80)]));

    // Internal: no default route, so anything outside the subnet is unreachable at once.
    let routes = db_ns.sh("ip route");
    assert!(!routes.contains("default"), "{routes}");
    let started = Instant::now();
    let err = db_ns.connect(SocketAddrV4::new(front.gateway, 80), Duration::from_secs(3)).unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(1), "fails at once: {err}");
    // The app (on both) still reaches the database on the internal network.
    let _pg = Echo::tcp(&db_ns.path, 5432);
    let s = app_ns.connect(SocketAddrV4::new(db.ip, 5432), Duration::from_secs(3)).expect("app -> db");
    assert_eq!(echo_over(s, b"SELECT 1"), b"SELECT 1");
    assert!(app_ns.sh("ip route").contains(&format!("default via {} dev eth1", front.gateway)));
    // Isolation: web (front only) cannot reach db's network through the host.
    assert!(web_ns.connect(SocketAddrV4::new(db.ip, 5432), SHORT).is_err(), "networks are isolated");

    assert!(matches!(ctl.remove_network(&back.name), Err(NetworkError::NetworkInUse { count: 2, .. })));
    ctl.detach_all("db").unwrap();
    ctl.detach_all("app").unwrap();
    assert_eq!(ask(&web_ns, front_dns, "pocket-id").0, Rcode::NxDomain, "names go with the endpoint");
    ctl.remove_network(&back.name).unwrap();
    assert!(sh(&format!("ip -o link show {}", back.bridge)).is_empty());
    ctl.teardown().unwrap();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    fake_upstream.join().unwrap();
    drop((db_ns, app_ns, web_ns));
    assert_clean(&host, &[&front.bridge, &back.bridge, &web.host_veth, &db.host_veth]);
}

#[test]
fn a_restarted_controller_re_adopts_endpoints_and_ports() {
    require_root!();
    let host = Host::new();
    let rt = runtime();
    let config = host.config();
    let ctl = Controller::open_host(config.clone(), rt.handle().clone()).unwrap();
    let (ns, gone) = (Netns::new(), Netns::new());
    let ep = attach(&ctl, "keeps", &ns, "bridge", &[]);
    let dead = attach(&ctl, "dies", &gone, "bridge", &[]);
    let _echo = Echo::tcp(&ns.path, 8080);
    let bound = ctl.publish("keeps", &["127.0.0.1::8080".parse().unwrap()]).unwrap();
    ctl.shutdown();
    drop(gone); // its container stops while the daemon is down: the veth pair goes with it
    assert!(eventually(Duration::from_secs(5), || sh(&format!("ip -o link show {}", dead.host_veth)).is_empty()));

    let ctl = Controller::open_host(config, rt.handle().clone()).unwrap();
    let kept: Vec<String> = ctl.endpoints(None).into_iter().map(|e| e.container_id).collect();
    assert_eq!(kept, ["keeps"]);
    let s = std::net::TcpStream::connect((LOOPBACK, bound[0].host_port)).expect("the port is published again");
    assert_eq!(echo_over(s, b"after restart"), b"after restart");
    let other = Netns::new();
    let next = attach(&ctl, "new", &other, "bridge", &[]);
    assert_ne!(next.ip, ep.ip, "a leased address is never handed out twice");
    ctl.teardown().unwrap();
    drop((ns, other));
    assert_clean(&host, &[&host.bridge, &ep.host_veth, &next.host_veth]);
}

#[test]
fn an_existing_bridge_is_used_as_is_and_networking_can_be_off() {
    require_root!();
    let mut host = Host::new();
    let rt = runtime();
    let name = format!("{}ex", host.stem);
    host.extra_links.push(name.clone());
    let subnet = free_subnet();
    sh(&format!("ip link add {name} type bridge && ip addr add {subnet} dev {name} && ip link set {name} up"));
    let mut config = host.config();
    config.bip = None;
    config.iptables = false;
    config.bridge = BridgeMode::Existing(name.clone());
    let ctl = Controller::open_host(config.clone(), rt.handle().clone()).unwrap();
    let ns = Netns::new();
    let ep = attach(&ctl, "c", &ns, "bridge", &[]);
    assert_eq!(ep.gateway, Some(subnet.addr()));
    assert!(subnet.contains(ep.ip));
    // --iptables=false: the proxy alone serves published ports.
    let _echo = Echo::tcp(&ns.path, 9000);
    let bound = ctl.publish("c", &["127.0.0.1::9000".parse().unwrap()]).unwrap();
    let s = std::net::TcpStream::connect((LOOPBACK, bound[0].host_port)).unwrap();
    assert_eq!(echo_over(s, b"no iptables"), b"no iptables");
    assert!(host.leftover_rules().is_empty(), "no rule at all with --iptables=false");
    ctl.teardown().unwrap();
    let addr = sh(&format!("ip -o addr show {name}"));
    assert!(addr.contains(&subnet.to_string()), "the bridge and its address are left as they were: {addr}");

    // -b none: only lo.
    config.bridge = BridgeMode::Disabled;
    let ctl = Controller::open_host(config, rt.handle().clone()).unwrap();
    let bare = Netns::new();
    assert!(matches!(ctl.attach(&AttachRequest::default_bridge("x", &bare.path)), Err(NetworkError::Disabled)));
    ctl.loopback_only(&bare.path).unwrap();
    let links = bare.sh("ip -o link");
    assert_eq!(links.lines().count(), 1, "{links}");
    assert!(links.contains("LOOPBACK,UP"), "{links}");
    ctl.teardown().unwrap();
    drop((ns, bare));
    sh(&format!("ip link del {name}"));
    assert_clean(&host, &[&name, &ep.host_veth]);
}

#[test]
fn attach_time_median_of_20() {
    require_root!();
    let host = Host::new();
    let rt = runtime();
    let ctl = Controller::open_host(host.config(), rt.handle().clone()).unwrap();
    let namespaces: Vec<Netns> = (0..20).map(|_| Netns::new()).collect();
    let mut times = Vec::new();
    for (i, ns) in namespaces.iter().enumerate() {
        let started = Instant::now();
        attach(&ctl, &format!("c{i}"), ns, "bridge", &[]);
        times.push(started.elapsed());
    }
    times.sort();
    eprintln!(
        "attach (veth pair, address, MAC, MTU, lo, route, lease persisted): median {:?}, min {:?}, max {:?}",
        times[10], times[0], times[19]
    );
    ctl.teardown().unwrap();
    drop(namespaces);
    assert_clean(&host, &[&host.bridge]);
}
