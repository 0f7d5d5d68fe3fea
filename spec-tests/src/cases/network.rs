//! Networking (3.1.7, 3.3, 3.4, 3.8, 4.5, 5.1.4, 5.1.22, 5.3.2, 8.1.1, 8.3.5): published ports
//! and `port`, links and the variables they set, the bridge and each container's veth, user
//! networks, and the daemon's network flags, each tried on a daemon of the case's own in a
//! network namespace of its own. Traffic stays on loopback and the engines' own bridges.

use super::containers::{
    both, cleaning, cleaning_images, eventually, exists, exit_code, inspect, is_running, logs_contain, pid, remove,
    IDLE, IMAGE, SETTLE,
};
use super::run_options::image_with;
use super::Case;
use crate::case;
use crate::daemon::{Spec, TestDaemon};
use crate::engine::{CliRun, Engine};
use crate::outcome::{skip, Outcome, SkipKind};
use anyhow::{bail, ensure, Context};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[rustfmt::skip]
pub static CASES: &[Case] = &[
    case!("port of a dynamic publish", ["net.publish.dynamic-lookup", "net.port.roundtrip", "cli.port.lookup"], dynamic_lookup),
    case!("port output", ["net.port.output", "net.port.by-name", "net.publish.ip-dynamic"], port_output),
    case!("publish ip:host:container", ["net.publish.ip-host-container"], publish_ip_host),
    case!("publish host:container", ["net.publish.host-container"], publish_host),
    case!("publish container port", ["net.publish.container-only"], publish_container_only),
    case!("publish every form", ["cli.run.opt.publish"], publish_every_form),
    case!("publish udp", ["net.publish.udp", "net.publish.udp-all-forms"], publish_udp),
    case!("dynamic host ports", ["net.publish.dynamic-range", "run.publish.multiple"], dynamic_range),
    case!("host port taken", ["net.publish.host-port-busy"], host_port_busy),
    case!("publish all", ["cli.run.opt.publish-all", "run.override.publish-all"], publish_all),
    case!("ports column", ["cli.ps.ports-column"], ports_column),
    case!("api ports list", ["api.v1-5.ports-list"], api_ports_list),
    case!("publish with variables", ["seed.directus.run-publish-env"], publish_with_env),
    case!("expose", ["net.expose.flag", "cli.run.opt.expose"], expose),
    case!("publish exposes", ["net.publish.implies-expose"], publish_exposes),
    case!("link variables", [
        "net.link.env-port-default", "net.link.env-port-spec", "net.link.env-port-proto", "net.link.env-port-addr",
        "net.link.env-port-port", "net.link.env-multiple-ports", "net.link.env-alias-uppercase", "net.link.env-name",
        "net.link.env-child-env", "cli.run.opt.link",
    ], link_variables),
    case!("link udp variables", ["net.link.env-udp"], link_udp),
    case!("link from a generated name", ["net.link.env-name-autogen"], link_generated_name),
    case!("link to a stopped container", ["net.link.target-must-run"], link_stopped),
    case!("link to an unknown container", ["net.link.target-missing"], link_missing),
    case!("link with a leading slash", ["cli.run.link-leading-slash"], link_leading_slash),
    case!("ps link names", ["cli.ps.link-names"], ps_link_names),
    case!("rm --link", ["cli.rm.opt.link"], rm_link),
    case!("connect through a link", ["run.link.connect"], link_connect),
    case!("redis through a link", ["flow.redis-link"], redis_link),
    case!("ambassador link and publish", ["net.ambassador.link-and-publish"], ambassador_publish),
    case!("ambassador by hand", ["net.ambassador.env-emulated-link"], ambassador_by_hand),
    case!("ambassador chain and rewire", ["flow.ambassador.chain", "flow.ambassador.rewire"], ambassador_chain),
    case!("commit and serve", ["flow.commit-run-web"], commit_run_web),
    case!("container address", ["net.container-ip.inspect"], container_address),
    case!("bridge address and routes", [
        "net.bridge.ip-assigned", "net.bridge.container-ip-same-range", "net.bridge.default-gateway",
    ], bridge_addresses),
    case!("veth per container", ["net.bridge.veth-attached", "net.veth.pair", "metrics.net.veth-counters"], veth_pair),
    case!("networking by default", ["run.network.enabled-default"], network_default),
    case!("containers reach each other", ["daemon.opt.icc-true", "security.ns.net-bridge-reach"], icc_default),
    case!("network namespace", ["security.ns.net"], ns_net),
    case!("netns exec", ["metrics.net.netns-exec"], netns_exec),
    case!("iptables accounting", ["metrics.net.iptables-accounting"], iptables_accounting),
    case!("user network names", ["modern.net.user-dns"], user_network_dns),
    case!("internal network", ["modern.net.internal"], internal_network),
    case!("daemon -b", ["daemon.opt.bridge"], daemon_bridge),
    case!("daemon -b none", ["daemon.opt.bridge-none"], daemon_bridge_none),
    case!("daemon --bip", ["daemon.opt.bip"], daemon_bip),
    case!("daemon makes its bridge", ["net.bridge.create-docker0", "net.bridge.range-no-overlap"], daemon_makes_bridge),
    case!("daemon --dns", ["daemon.opt.dns", "daemon.opt.dns-multiple"], daemon_dns),
    case!("daemon --icc=false", [
        "daemon.opt.icc-false", "net.link.icc-false-exposed-only", "cli.rm.link-cuts-access",
    ], daemon_icc_false),
    case!("daemon --ip", ["daemon.opt.ip"], daemon_ip),
    case!("daemon --iptables", ["daemon.opt.iptables"], daemon_iptables),
    case!("daemon --mtu", ["daemon.opt.mtu"], daemon_mtu),
    case!("inspect port templates", ["cli.inspect.format-range", "cli.inspect.format-index"], inspect_port_templates),
];

// ---------------------------------------------------------------------------------------------
// Helpers: containers on the default network, listeners, host connections.
// ---------------------------------------------------------------------------------------------

/// `run -d --name NAME ARGS...` on the engine's default network; the id it prints.
pub async fn serve(e: &Engine, name: &str, args: &[&str]) -> anyhow::Result<String> {
    let mut all = vec!["run", "-d", "--name", name];
    all.extend_from_slice(args);
    Ok(e.cli(&all).await?.success()?.stdout.trim().to_string())
}

/// `run --name NAME ARGS...` on the engine's default network, in the foreground.
pub async fn run_net(e: &Engine, name: &str, args: &[&str]) -> anyhow::Result<CliRun> {
    let mut all = vec!["run", "--name", name];
    all.extend_from_slice(args);
    e.cli(&all).await
}

/// A shell loop that answers every TCP connection on `port` with `reply`.
pub fn answering(port: u16, reply: &str) -> String {
    answering_all(&[(port, reply)])
}

/// Answering loops for several ports at once, ending at once on SIGTERM.
pub fn answering_all(ports: &[(u16, &str)]) -> String {
    let loops: Vec<String> =
        ports.iter().map(|(port, reply)| format!("(while :; do echo {reply} | nc -l -p {port}; done) &")).collect();
    format!("trap 'exit 0' TERM; {} wait", loops.join(" "))
}

/// busybox's DHCP server, the fixture's one UDP listener (port 67): each datagram it gets
/// that is not DHCP shows in its log as "bad magic".
pub const UDP_LISTENER: &str = "printf 'interface eth0\\nstart 10.9.9.10\\nend 10.9.9.20\\nlease_file /tmp/leases\\n' \
> /tmp/udhcpd.conf; touch /tmp/leases; exec udhcpd -f /tmp/udhcpd.conf";
/// [`UDP_LISTENER`] in the background, for a script that goes on.
pub const UDP_LISTENER_BEHIND: &str =
    "printf 'interface eth0\\nstart 10.9.9.10\\nend 10.9.9.20\\nlease_file /tmp/leases\\n' \
> /tmp/udhcpd.conf; touch /tmp/leases; udhcpd -f /tmp/udhcpd.conf & ";
pub const UDP_SEEN: &str = "bad magic";

/// Waits until the container's network namespace has a socket listening on `port` (`tcp` or
/// `udp`), as the host sees it through the container's main process.
pub async fn listening(e: &Engine, name: &str, port: u16, proto: &str) -> anyhow::Result<()> {
    let pid = pid(e, name).await?;
    let dir = PathBuf::from(format!("/proc/{pid}/net"));
    eventually(&format!("{name} listening on {port}/{proto}"), SETTLE, || {
        let dir = dir.clone();
        async move { Ok(sockets(&dir, proto).iter().any(|s| s.port == port && s.listening).then_some(())) }
    })
    .await
}

/// One socket of a /proc/net table.
#[derive(Debug)]
pub struct Socket {
    pub address: IpAddr,
    pub port: u16,
    pub listening: bool,
}

/// The sockets of `proto` (tcp or udp, both address families) in a /proc/.../net directory.
pub fn sockets(dir: &std::path::Path, proto: &str) -> Vec<Socket> {
    let idle = if proto == "udp" { "07" } else { "0A" };
    [proto.to_string(), format!("{proto}6")]
        .iter()
        .flat_map(|table| {
            std::fs::read_to_string(dir.join(table))
                .unwrap_or_default()
                .lines()
                .skip(1)
                .map(String::from)
                .collect::<Vec<_>>()
        })
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (address, port) = fields.get(1)?.split_once(':')?;
            Some(Socket {
                address: hex_address(address)?,
                port: u16::from_str_radix(port, 16).ok()?,
                listening: *fields.get(3)? == idle,
            })
        })
        .collect()
}

/// An address as /proc/net writes it: 32-bit words in host order, in hex.
fn hex_address(hex: &str) -> Option<IpAddr> {
    let words: Vec<u32> =
        (0..hex.len() / 8).map(|i| u32::from_str_radix(&hex[i * 8..i * 8 + 8], 16)).collect::<Result<_, _>>().ok()?;
    let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
    match bytes.len() {
        4 => Some(IpAddr::V4(Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3]))),
        16 => Some(IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(bytes).ok()?))),
        _ => None,
    }
}

/// Connects to `addr`, sends `data`, closes its sending side and returns all the other end
/// says before closing.
pub async fn exchange(addr: SocketAddr, data: &str) -> anyhow::Result<String> {
    let talk = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await?;
        stream.write_all(data.as_bytes()).await?;
        stream.shutdown().await?;
        let mut out = String::new();
        stream.read_to_string(&mut out).await?;
        anyhow::Ok(out)
    };
    tokio::time::timeout(Duration::from_secs(10), talk)
        .await
        .with_context(|| format!("{addr} did not answer in 10 s"))?
}

/// What a server behind `addr` answers, asking again while it answers nothing (a proxy may
/// accept before the server listens, and an answering loop has gaps).
pub async fn answer(addr: SocketAddr) -> anyhow::Result<String> {
    eventually(&format!("an answer from {addr}"), SETTLE, || async move {
        Ok(exchange(addr, "").await.ok().map(|a| a.trim().to_string()).filter(|a| !a.is_empty()))
    })
    .await
}

/// Whether a TCP connection to `addr` fails (refused, or no answer in 2 s).
pub async fn unreachable(addr: SocketAddr) -> bool {
    !matches!(tokio::time::timeout(Duration::from_secs(2), tokio::net::TcpStream::connect(addr)).await, Ok(Ok(_)))
}

/// 127.0.0.1:`port`.
pub fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// A host port free on every address, away from where the engine picks its own ports, for
/// cases that must name one (`-p HOST:CTR`).
pub fn free_port(e: &Engine, udp: bool) -> anyhow::Result<u16> {
    let first = e.profile.first_dynamic_port;
    for _ in 0..100 {
        let port = if udp {
            std::net::UdpSocket::bind("0.0.0.0:0")?.local_addr()?.port()
        } else {
            std::net::TcpListener::bind("0.0.0.0:0")?.local_addr()?.port()
        };
        if !(first..first.saturating_add(4096)).contains(&port) {
            return Ok(port);
        }
    }
    bail!("no free port outside the engine's dynamic range")
}

/// The host bindings of a container port ("8080/tcp") in inspect, as (ip, port).
pub async fn bindings(e: &Engine, name: &str, port: &str) -> anyhow::Result<Vec<(String, u16)>> {
    let value = inspect(e, name).await?;
    Ok(bindings_of(&value["NetworkSettings"]["Ports"][port]))
}

fn bindings_of(list: &Value) -> Vec<(String, u16)> {
    list.as_array()
        .into_iter()
        .flatten()
        .filter_map(|b| Some((b["HostIp"].as_str()?.to_string(), b["HostPort"].as_str()?.parse().ok()?)))
        .collect()
}

/// The IPv4 host port a container port is published on (the first binding).
pub async fn host_port(e: &Engine, name: &str, port: &str) -> anyhow::Result<u16> {
    let all = bindings(e, name, port).await?;
    let v4 = all.iter().find(|(ip, _)| ip.parse::<Ipv4Addr>().is_ok()).or(all.first());
    v4.map(|(_, p)| *p).with_context(|| format!("{name} has no host binding for {port}"))
}

/// `port NAME PRIVATE`: each line as (ip, port).
pub async fn port_lines(e: &Engine, name: &str, private: &str) -> anyhow::Result<Vec<(String, u16)>> {
    let out = e.cli(&["port", name, private]).await?.success()?.stdout;
    out.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let (ip, port) = line.trim().rsplit_once(':').with_context(|| format!("not IP:PORT: {line:?}"))?;
            Ok((
                ip.trim_matches(['[', ']']).to_string(),
                port.parse().with_context(|| format!("not IP:PORT: {line:?}"))?,
            ))
        })
        .collect()
}

/// The container's address and gateway on the default network, from inspect.
pub async fn address(e: &Engine, name: &str) -> anyhow::Result<(Ipv4Addr, Ipv4Addr)> {
    let value = inspect(e, name).await?;
    let settings = &value["NetworkSettings"];
    let ip = settings["IPAddress"].as_str().unwrap_or_default();
    let gateway = settings["Gateway"].as_str().unwrap_or_default();
    Ok((
        ip.parse().with_context(|| format!("{name} has no IPAddress: {settings}"))?,
        gateway.parse().with_context(|| format!("{name} has no Gateway: {settings}"))?,
    ))
}

/// `env` output as a map.
pub fn env_map(out: &str) -> BTreeMap<String, String> {
    out.lines().filter_map(|l| l.split_once('=')).map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// The IPv4 addresses (with prefix length) `ip -4 -o addr` printed.
pub fn inet(out: &str) -> Vec<(Ipv4Addr, u8)> {
    let words: Vec<&str> = out.split_whitespace().collect();
    words
        .windows(2)
        .filter(|w| w[0] == "inet")
        .filter_map(|w| {
            let (ip, len) = w[1].split_once('/')?;
            Some((ip.parse().ok()?, len.parse().ok()?))
        })
        .collect()
}

/// The gateway of the default route in `ip route` output.
pub fn default_via(out: &str) -> Option<Ipv4Addr> {
    out.lines().find(|l| l.starts_with("default via ")).and_then(|l| l.split_whitespace().nth(2)?.parse().ok())
}

pub fn in_subnet(ip: Ipv4Addr, net: Ipv4Addr, len: u8) -> bool {
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - u32::from(len)) };
    u32::from(ip) & mask == u32::from(net) & mask
}

/// A host command that must succeed; its standard output.
pub async fn host(program: &str, args: &[&str]) -> anyhow::Result<String> {
    let output = tokio::process::Command::new(program)
        .args(args)
        .output()
        .await
        .with_context(|| format!("cannot run {program}"))?;
    ensure!(
        output.status.success(),
        "`{program} {}` failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr).trim()
    );
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The single IPv4 address of a host interface, with its prefix length.
pub async fn interface_address(dev: &str) -> anyhow::Result<Vec<(Ipv4Addr, u8)>> {
    Ok(inet(&host("ip", &["-4", "-o", "addr", "show", "dev", dev]).await?))
}

/// An idle container on the default network.
async fn idle_net(e: &Engine, name: &str, extra: &[&str]) -> anyhow::Result<String> {
    let mut args = extra.to_vec();
    args.extend([IMAGE, "sh", "-c", IDLE]);
    serve(e, name, &args).await
}

/// A client shell line for busybox: ask HOST PORT (shell words, expanded in the container)
/// until something answers, then print the answer.
pub fn ask(host: &str, port: &str) -> String {
    format!(
        "for i in $(seq 50); do a=$(echo ping | nc {host} {port}); [ -n \"$a\" ] && break; sleep 0.2; done; echo \"$a\""
    )
}

/// The addresses a host port must answer on, and the one it must not (None: answers on all).
async fn answers_on(e: &Engine, name: &str, port: u16, reply: &str, everywhere: bool) -> anyhow::Result<()> {
    let (_, gateway) = address(e, name).await?;
    let got = answer(loopback(port)).await?;
    ensure!(got == reply, "127.0.0.1:{port} answered {got:?}, not {reply:?}");
    let other = SocketAddr::new(gateway.into(), port);
    if everywhere {
        let got = answer(other).await?;
        ensure!(got == reply, "{other} answered {got:?}, not {reply:?}");
    } else {
        ensure!(unreachable(other).await, "the port answers on {other} too, not only on 127.0.0.1");
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Published ports and `port` (3.1.7, 3.3.1, 5.1.22, 5.1.29)
// ---------------------------------------------------------------------------------------------

/// `run -d -p 4444 ... nc -l 4444`: `port ID 4444` names the host port the engine picked, and
/// text sent there reaches nc and so the container's logs.
pub async fn dynamic_lookup(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("nc4444");
    cleaning(&e, &[&name], async {
        let id = serve(&e, &name, &["-p", "4444", IMAGE, "nc", "-l", "-p", "4444"]).await?;
        let lines = port_lines(&e, &id, "4444").await?;
        let published = host_port(&e, &name, "4444/tcp").await?;
        ensure!(
            !lines.is_empty() && lines.iter().all(|(_, p)| *p == published),
            "port printed {lines:?}; inspect says host port {published}"
        );
        listening(&e, &name, 4444, "tcp").await?;
        exchange(loopback(published), "hello world\n").await?;
        logs_contain(&e, &name, "hello world").await?;
        Ok(Outcome::Passed)
    })
    .await
}

/// `-p 127.0.0.1::8080`: `port NAME 8080` and `port ID 8080` print the one line
/// 127.0.0.1:PORT, and the port answers on 127.0.0.1 only.
pub async fn port_output(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("dyn-bound");
    cleaning(&e, &[&name], async {
        let id = serve(&e, &name, &["-p", "127.0.0.1::8080", IMAGE, "sh", "-c", &answering(8080, "dyn-bound")]).await?;
        let by_name = e.cli(&["port", &name, "8080"]).await?.success()?.stdout;
        let by_id = e.cli(&["port", &id, "8080"]).await?.success()?.stdout;
        ensure!(by_name == by_id, "port by name printed {by_name:?}, by id {by_id:?}");
        let lines: Vec<&str> = by_name.lines().collect();
        ensure!(lines.len() == 1, "not a single line: {by_name:?}");
        let port: u16 = match lines[0].trim().split_once(':') {
            Some(("127.0.0.1", port)) => port.parse().with_context(|| format!("not IP:PORT: {by_name:?}"))?,
            _ => bail!("not 127.0.0.1:PORT: {by_name:?}"),
        };
        let bound = bindings(&e, &name, "8080/tcp").await?;
        ensure!(bound == [("127.0.0.1".to_string(), port)], "inspect shows the bindings {bound:?}");
        listening(&e, &name, 8080, "tcp").await?;
        answers_on(&e, &name, port, "dyn-bound", false).await?;
        Ok(Outcome::Passed)
    })
    .await
}

/// `-p 127.0.0.1:HOST:8080` forwards 127.0.0.1:HOST to the container's 8080, and only there.
pub async fn publish_ip_host(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("iphost");
    let port = free_port(&e, false)?;
    cleaning(&e, &[&name], async {
        let spec = format!("127.0.0.1:{port}:8080");
        serve(&e, &name, &["-p", &spec, IMAGE, "sh", "-c", &answering(8080, "ip-host")]).await?;
        let bound = bindings(&e, &name, "8080/tcp").await?;
        ensure!(bound == [("127.0.0.1".to_string(), port)], "inspect shows the bindings {bound:?}");
        listening(&e, &name, 8080, "tcp").await?;
        answers_on(&e, &name, port, "ip-host", false).await?;
        Ok(Outcome::Passed)
    })
    .await
}

/// Whether the bindings include the port on every IPv4 address.
fn on_all_addresses(bound: &[(String, u16)], port: Option<u16>) -> Option<u16> {
    bound.iter().find(|(ip, p)| ip == "0.0.0.0" && port.is_none_or(|want| *p == want)).map(|(_, p)| *p)
}

/// `-p HOST:8080` binds HOST on every interface: it answers on 127.0.0.1 and on the
/// bridge's address alike.
pub async fn publish_host(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("hostctr");
    let port = free_port(&e, false)?;
    cleaning(&e, &[&name], async {
        serve(&e, &name, &["-p", &format!("{port}:8080"), IMAGE, "sh", "-c", &answering(8080, "host-ctr")]).await?;
        let bound = bindings(&e, &name, "8080/tcp").await?;
        ensure!(on_all_addresses(&bound, Some(port)).is_some(), "not bound on 0.0.0.0:{port}: {bound:?}");
        listening(&e, &name, 8080, "tcp").await?;
        answers_on(&e, &name, port, "host-ctr", true).await?;
        Ok(Outcome::Passed)
    })
    .await
}

/// `-p 8080` binds a port the engine picks on every interface.
pub async fn publish_container_only(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("ctronly");
    cleaning(&e, &[&name], async {
        serve(&e, &name, &["-p", "8080", IMAGE, "sh", "-c", &answering(8080, "ctr-only")]).await?;
        let bound = bindings(&e, &name, "8080/tcp").await?;
        let port = on_all_addresses(&bound, None).with_context(|| format!("not bound on 0.0.0.0: {bound:?}"))?;
        listening(&e, &name, 8080, "tcp").await?;
        answers_on(&e, &name, port, "ctr-only", true).await?;
        Ok(Outcome::Passed)
    })
    .await
}

/// The four `-p` forms on one container: each forwards, and `port` prints its binding.
pub async fn publish_every_form(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("forms");
    let (first, third) = (free_port(&e, false)?, free_port(&e, false)?);
    cleaning(&e, &[&name], async {
        let forms = [
            format!("127.0.0.1:{first}:8081"),
            "127.0.0.1::8082".to_string(),
            format!("{third}:8083"),
            "8084".to_string(),
        ];
        let script = answering_all(&[(8081, "form1"), (8082, "form2"), (8083, "form3"), (8084, "form4")]);
        let mut args: Vec<&str> = forms.iter().flat_map(|f| ["-p", f.as_str()]).collect();
        args.extend([IMAGE, "sh", "-c", &script]);
        serve(&e, &name, &args).await?;
        for (n, private) in [8081u16, 8082, 8083, 8084].into_iter().enumerate() {
            let lines = port_lines(&e, &name, &private.to_string()).await?;
            let port = lines.first().map(|(_, p)| *p).with_context(|| format!("port {private} printed nothing"))?;
            match n {
                0 => ensure!(lines == [("127.0.0.1".to_string(), first)], "port {private}: {lines:?}"),
                1 => ensure!(lines.iter().all(|(ip, _)| ip == "127.0.0.1"), "port {private}: {lines:?}"),
                2 => ensure!(lines.iter().all(|(_, p)| *p == third), "port {private}: {lines:?}"),
                _ => {}
            }
            listening(&e, &name, private, "tcp").await?;
            let got = answer(loopback(port)).await?;
            ensure!(got == format!("form{}", n + 1), "127.0.0.1:{port} (for {private}) answered {got:?}");
        }
        Ok(Outcome::Passed)
    })
    .await
}

/// Sends datagrams to 127.0.0.1:`port` until the container's UDP listener logs one.
async fn datagram_arrives(e: &Engine, name: &str, port: u16) -> anyhow::Result<()> {
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await?;
    let datagram = vec![b'x'; 300];
    eventually(&format!("a datagram to 127.0.0.1:{port} reaching {name}"), SETTLE, || async {
        socket.send_to(&datagram, loopback(port)).await?;
        tokio::time::sleep(Duration::from_millis(200)).await;
        Ok(both(&e.cli(&["logs", name]).await?).contains(UDP_SEEN).then_some(()))
    })
    .await
}

/// `/udp` on each `-p` form: the binding follows the form, datagrams to it reach the
/// container's UDP port, and nothing is published for TCP.
pub async fn publish_udp(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let (first, third) = (free_port(&e, true)?, free_port(&e, true)?);
    let forms = [
        (format!("127.0.0.1:{first}:67/udp"), "127.0.0.1", Some(first)),
        ("127.0.0.1::67/udp".to_string(), "127.0.0.1", None),
        (format!("{third}:67/udp"), "0.0.0.0", Some(third)),
        ("67/udp".to_string(), "0.0.0.0", None),
    ];
    let names: Vec<String> = forms.iter().map(|_| e.unique("udp")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    cleaning(&e, &refs, async {
        let checks = forms.iter().zip(&names).map(|((form, ip, port), name)| {
            let e = e.clone();
            async move {
                serve(&e, name, &["-p", form, IMAGE, "sh", "-c", UDP_LISTENER]).await?;
                let bound = bindings(&e, name, "67/udp").await?;
                let host = bound
                    .iter()
                    .find(|(i, p)| i == ip && port.is_none_or(|want| *p == want))
                    .map(|(_, p)| *p)
                    .with_context(|| format!("-p {form}: inspect shows {bound:?}"))?;
                let ports = inspect(&e, name).await?["NetworkSettings"]["Ports"].clone();
                ensure!(ports.get("67/tcp").is_none(), "-p {form} published TCP too: {ports}");
                ensure!(e.cli(&["port", name, "67/tcp"]).await?.status != Some(0), "port {name} 67/tcp answered");
                listening(&e, name, 67, "udp").await?;
                datagram_arrives(&e, name, host).await
            }
        });
        for result in futures_util::future::join_all(checks).await {
            result?;
        }
        Ok(Outcome::Passed)
    })
    .await
}

/// `-p 22 -p 80` publishes both on different host ports the engine picks, all from its
/// dynamic range, none shared with another container.
pub async fn dynamic_range(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let (a, b) = (e.unique("twoports"), e.unique("oneport"));
    cleaning(&e, &[&a, &b], async {
        idle_net(&e, &a, &["-p", "22", "-p", "80"]).await?;
        idle_net(&e, &b, &["-p", "80"]).await?;
        let ports = [
            host_port(&e, &a, "22/tcp").await?,
            host_port(&e, &a, "80/tcp").await?,
            host_port(&e, &b, "80/tcp").await?,
        ];
        ensure!(ports[0] != ports[1] && ports[1] != ports[2] && ports[0] != ports[2], "host ports shared: {ports:?}");
        let first = e.profile.first_dynamic_port;
        ensure!(ports.iter().all(|p| *p >= first), "host ports {ports:?} below the first dynamic port {first}");
        Ok(Outcome::Passed)
    })
    .await
}

/// A host port something else holds: the container does not start and the error says the
/// address is in use.
pub async fn host_port_busy(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("portbusy");
    let holder = std::net::TcpListener::bind("127.0.0.1:0")?;
    let port = holder.local_addr()?.port();
    cleaning(&e, &[&name], async {
        let spec = format!("127.0.0.1:{port}:80");
        let run = e.cli(&["run", "-d", "--name", &name, "-p", &spec, IMAGE, "sh", "-c", IDLE]).await?;
        ensure!(run.status != Some(0), "run -p {spec} succeeded while the port is taken");
        ensure!(run.stderr.to_lowercase().contains("address already in use"), "the error: {}", run.stderr.trim());
        ensure!(!exists(&e, &name).await? || !is_running(&e, &name).await?, "the container runs");
        drop(holder);
        Ok(Outcome::Passed)
    })
    .await
}

/// `-P` publishes the port the image exposes and the one `--expose` adds, each on its own
/// host port, and `port` shows both.
pub async fn publish_all(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let (image, name) = (e.unique("exposing"), e.unique("publishall"));
    cleaning_images(&e, &[&name], &[&image], async {
        let script = answering_all(&[(5432, "from-image"), (81, "from-run")]);
        image_with(&e, &image, json!({"ExposedPorts": {"5432/tcp": {}}, "Cmd": ["sh", "-c", script]})).await?;
        serve(&e, &name, &["-P", "--expose", "81", &image]).await?;
        let (image_port, run_port) = (host_port(&e, &name, "5432/tcp").await?, host_port(&e, &name, "81/tcp").await?);
        ensure!(image_port != run_port, "both on host port {run_port}");
        for (private, port, reply) in [(5432, image_port, "from-image"), (81, run_port, "from-run")] {
            let lines = port_lines(&e, &name, &private.to_string()).await?;
            ensure!(lines.iter().any(|(_, p)| *p == port), "port {private} printed {lines:?}, not host port {port}");
            listening(&e, &name, private, "tcp").await?;
            ensure!(answer(loopback(port)).await? == reply, "host port {port} does not reach {private}");
        }
        Ok(Outcome::Passed)
    })
    .await
}

/// `ps` shows `-p HOST:8080` as HOST->8080/tcp in PORTS.
pub async fn ports_column(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("portscol");
    let port = free_port(&e, false)?;
    cleaning(&e, &[&name], async {
        idle_net(&e, &name, &["-p", &format!("{port}:8080")]).await?;
        let ps = e.cli(&["ps"]).await?.success()?.stdout;
        let row = ps.lines().find(|l| l.contains(&name)).with_context(|| format!("{name} not listed:\n{ps}"))?;
        ensure!(row.contains(&format!(":{port}->8080/tcp")), "PORTS does not show {port}->8080/tcp: {row}");
        Ok(Outcome::Passed)
    })
    .await
}

/// The container list's Ports: one object per mapping with PrivatePort, PublicPort, Type.
pub async fn api_ports_list(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("portslist");
    cleaning(&e, &[&name], async {
        idle_net(&e, &name, &["-p", "127.0.0.1::8080", "--expose", "9090"]).await?;
        let public = host_port(&e, &name, "8080/tcp").await?;
        let list: Value = e.get("/containers/json").await?.json()?;
        let entry = list
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["Names"].as_array().is_some_and(|n| n.iter().any(|n| n == &json!(format!("/{name}")))))
            .with_context(|| format!("{name} is not in the list"))?;
        let ports = entry["Ports"].as_array().with_context(|| format!("Ports is not an array: {}", entry["Ports"]))?;
        ensure!(
            ports.iter().all(|p| p["PrivatePort"].is_u64() && p["Type"].is_string()),
            "entries lack PrivatePort or Type: {ports:?}"
        );
        let mapped = ports.iter().find(|p| p["PrivatePort"] == 8080 && p["PublicPort"] == public && p["Type"] == "tcp");
        ensure!(mapped.is_some(), "no {{PrivatePort: 8080, PublicPort: {public}, Type: tcp}} in {ports:?}");
        Ok(Outcome::Passed)
    })
    .await
}

/// `run -p HOST:8055 -e KEY=... -e SECRET=...`: both variables are set and the port forwards.
pub async fn publish_with_env(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("directus");
    let port = free_port(&e, false)?;
    cleaning(&e, &[&name], async {
        let script = "trap 'exit 0' TERM; while :; do echo \"$KEY/$SECRET\" | nc -l -p 8055; done";
        let publish = format!("{port}:8055");
        let key = "KEY=255d861b-5ea1-5996-9aa3-922530ec40b1";
        let secret = "SECRET=6116487b-cda1-52c2-b5b5-c8022c45e263";
        serve(&e, &name, &["-p", &publish, "-e", key, "-e", secret, IMAGE, "sh", "-c", script]).await?;
        listening(&e, &name, 8055, "tcp").await?;
        let got = answer(loopback(port)).await?;
        ensure!(got == format!("{}/{}", &key[4..], &secret[7..]), "host port {port} answered {got:?}");
        Ok(Outcome::Passed)
    })
    .await
}

// ---------------------------------------------------------------------------------------------
// Exposed ports and links (3.3.2, 3.7.2, 3.8, 4.5, 5.1.27, 5.3.3)
// ---------------------------------------------------------------------------------------------

/// The environment a container linked with `links` sees.
async fn linked_env(e: &Engine, name: &str, links: &[&str]) -> anyhow::Result<BTreeMap<String, String>> {
    let mut args: Vec<&str> = links.iter().flat_map(|l| ["--link", *l]).collect();
    args.extend([IMAGE, "env"]);
    Ok(env_map(&run_net(e, name, &args).await?.success()?.stdout))
}

fn var<'a>(env: &'a BTreeMap<String, String>, key: &str) -> &'a str {
    env.get(key).map(String::as_str).unwrap_or("<unset>")
}

/// `--expose 80`: inspect lists the port as exposed, no host port is bound, and a linked
/// container reaches it.
pub async fn expose(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let (server, client) = (e.unique("exposed"), e.unique("exposeclient"));
    cleaning(&e, &[&server, &client], async {
        serve(&e, &server, &["--expose", "80", IMAGE, "sh", "-c", &answering(80, "exposed-80")]).await?;
        let value = inspect(&e, &server).await?;
        ensure!(value["Config"]["ExposedPorts"].get("80/tcp").is_some(), "80/tcp not exposed: {}", value["Config"]);
        ensure!(bindings(&e, &server, "80/tcp").await?.is_empty(), "80 got a host binding");
        ensure!(e.cli(&["port", &server, "80"]).await?.status != Some(0), "port {server} 80 printed a binding");
        listening(&e, &server, 80, "tcp").await?;
        let link = format!("{server}:web");
        let script = format!("echo $WEB_PORT_80_TCP; {}", ask("$WEB_PORT_80_TCP_ADDR", "$WEB_PORT_80_TCP_PORT"));
        let out = run_net(&e, &client, &["--link", &link, IMAGE, "sh", "-c", &script]).await?.success()?.stdout;
        let (ip, _) = address(&e, &server).await?;
        ensure!(
            out.lines().collect::<Vec<_>>() == [format!("tcp://{ip}:80").as_str(), "exposed-80"],
            "the linked client saw {out:?}"
        );
        Ok(Outcome::Passed)
    })
    .await
}

/// A port given only to `-p` still gives linked containers its variables.
pub async fn publish_exposes(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let (server, client) = (e.unique("publishonly"), e.unique("publishclient"));
    cleaning(&e, &[&server, &client], async {
        idle_net(&e, &server, &["-p", "127.0.0.1::8080"]).await?;
        let env = linked_env(&e, &client, &[&format!("{server}:web")]).await?;
        let (ip, _) = address(&e, &server).await?;
        ensure!(var(&env, "WEB_PORT_8080_TCP") == format!("tcp://{ip}:8080"), "WEB_PORT_8080_TCP: {env:?}");
        Ok(Outcome::Passed)
    })
    .await
}

/// What `--link server:redis_alias --link server:db` sets in a container named webapp: the
/// default port (the lowest), one set per exposed port, the name and the server's own
/// variables, prefixed by the alias in capitals.
pub async fn link_variables(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let (server, webapp) = (e.unique("linkserver"), e.unique("webapp"));
    cleaning(&e, &[&server, &webapp], async {
        idle_net(&e, &server, &["--expose", "6379", "--expose", "80", "-e", "DEEP=purple"]).await?;
        let env = linked_env(&e, &webapp, &[&format!("{server}:redis_alias"), &format!("{server}:db")]).await?;
        let (ip, _) = address(&e, &server).await?;
        let mut want = vec![
            ("REDIS_ALIAS_PORT".to_string(), format!("tcp://{ip}:80")),
            ("REDIS_ALIAS_NAME".into(), format!("/{webapp}/redis_alias")),
            ("REDIS_ALIAS_ENV_DEEP".into(), "purple".into()),
            ("DB_NAME".into(), format!("/{webapp}/db")),
            ("DB_PORT_6379_TCP".into(), format!("tcp://{ip}:6379")),
        ];
        for port in [80, 6379] {
            let prefix = format!("REDIS_ALIAS_PORT_{port}_TCP");
            want.push((prefix.clone(), format!("tcp://{ip}:{port}")));
            want.push((format!("{prefix}_PROTO"), "tcp".into()));
            want.push((format!("{prefix}_ADDR"), ip.to_string()));
            want.push((format!("{prefix}_PORT"), port.to_string()));
        }
        for (key, value) in want {
            ensure!(var(&env, &key) == value, "{key} is {:?}, not {value:?}; all: {env:?}", var(&env, &key));
        }
        Ok(Outcome::Passed)
    })
    .await
}

/// A UDP port the server exposes gives `_UDP` variables with protocol udp.
pub async fn link_udp(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let (server, client) = (e.unique("udpserver"), e.unique("udpclient"));
    cleaning(&e, &[&server, &client], async {
        idle_net(&e, &server, &["--expose", "53/udp"]).await?;
        let env = linked_env(&e, &client, &[&format!("{server}:dns")]).await?;
        let (ip, _) = address(&e, &server).await?;
        for (key, value) in [
            ("DNS_PORT_53_UDP", format!("udp://{ip}:53")),
            ("DNS_PORT_53_UDP_PROTO", "udp".into()),
            ("DNS_PORT_53_UDP_ADDR", ip.to_string()),
            ("DNS_PORT_53_UDP_PORT", "53".into()),
        ] {
            ensure!(var(&env, key) == value, "{key} is {:?}, not {value:?}", var(&env, key));
        }
        Ok(Outcome::Passed)
    })
    .await
}

/// A linking container the engine named itself sees ALIAS_NAME built from that name.
pub async fn link_generated_name(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let server = e.unique("autoserver");
    let mut client = String::new();
    let result = cleaning(&e, &[&server], async {
        idle_net(&e, &server, &["--expose", "80"]).await?;
        let link = format!("{server}:db");
        client =
            e.cli(&["run", "-d", "--link", &link, IMAGE, "sh", "-c", "echo \"$DB_NAME\""]).await?.success()?.stdout;
        client = client.trim().to_string();
        exit_code(&e, &client).await?;
        let name = inspect(&e, &client).await?["Name"].as_str().unwrap_or_default().to_string();
        let logs = e.cli(&["logs", &client]).await?.success()?.stdout;
        ensure!(logs.trim() == format!("{name}/db"), "DB_NAME is {:?}; the container is named {name}", logs.trim());
        Ok(Outcome::Passed)
    })
    .await;
    if !client.is_empty() {
        remove(&e, &client).await;
    }
    result
}

/// Linking to a container that is not running is refused; no link is made.
pub async fn link_stopped(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let (target, client) = (e.unique("stoppedtarget"), e.unique("stoppedclient"));
    cleaning(&e, &[&target, &client], async {
        run_net(&e, &target, &[IMAGE, "true"]).await?.success()?;
        let run = run_net(&e, &client, &["--link", &format!("{target}:db"), IMAGE, "env"]).await?;
        ensure!(run.status != Some(0), "linking to an exited container worked: {}", run.stdout);
        ensure!(!run.stderr.trim().is_empty(), "no error printed");
        ensure!(!run.stdout.contains("DB_"), "the link was made: {}", run.stdout);
        Ok(Outcome::Passed)
    })
    .await
}

/// `--link nosuch:alias` aborts the run with an error naming nosuch; nothing starts.
pub async fn link_missing(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let (missing, client) = (e.unique("nosuch"), e.unique("missingclient"));
    cleaning(&e, &[&client], async {
        let run = run_net(&e, &client, &["--link", &format!("{missing}:alias"), IMAGE, "echo", "started"]).await?;
        ensure!(run.status != Some(0), "the run went ahead: {}", run.stdout);
        ensure!(run.stderr.contains(&missing), "the error does not name {missing}: {}", run.stderr.trim());
        ensure!(!run.stdout.contains("started"), "the command ran");
        if exists(&e, &client).await? {
            let state = inspect(&e, &client).await?["State"].clone();
            ensure!(state["Running"] == false, "it runs: {state}");
        }
        Ok(Outcome::Passed)
    })
    .await
}

/// `--link /redis:redis` is the same link as `--link redis:redis`.
pub async fn link_leading_slash(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let (server, slash, plain) = (e.unique("slashserver"), e.unique("slashed"), e.unique("unslashed"));
    cleaning(&e, &[&server, &slash, &plain], async {
        idle_net(&e, &server, &["--expose", "6379"]).await?;
        let redis = |env: BTreeMap<String, String>, client: &str| -> BTreeMap<String, String> {
            let own = format!("/{client}/redis");
            env.into_iter()
                .filter(|(k, _)| k.starts_with("REDIS_"))
                .map(|(k, v)| (k, v.replace(&own, "/CLIENT/redis")))
                .collect()
        };
        let with = redis(linked_env(&e, &slash, &[&format!("/{server}:redis")]).await?, &slash);
        let without = redis(linked_env(&e, &plain, &[&format!("{server}:redis")]).await?, &plain);
        ensure!(with.contains_key("REDIS_PORT_6379_TCP"), "no link variables with the slash: {with:?}");
        ensure!(with == without, "with the slash {with:?}\nwithout {without:?}");
        Ok(Outcome::Passed)
    })
    .await
}

/// A linked container is listed under its own name and as PARENT/ALIAS.
pub async fn ps_link_names(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let (redis, webapp) = (e.unique("psredis"), e.unique("pswebapp"));
    cleaning(&e, &[&redis, &webapp], async {
        idle_net(&e, &redis, &[]).await?;
        idle_net(&e, &webapp, &["--link", &format!("{redis}:db")]).await?;
        let alias = format!("{webapp}/db");
        let row = |out: String| out.lines().find(|l| l.contains(&format!(" {redis}")) || l.contains(&format!(",{redis}"))).map(String::from);
        let plain = row(e.cli(&["ps"]).await?.success()?.stdout).with_context(|| format!("{redis} is not listed"))?;
        if plain.contains(&alias) {
            return Ok(Outcome::Passed);
        }
        let full = row(e.cli(&["ps", "--no-trunc"]).await?.success()?.stdout).unwrap_or_default();
        ensure!(full.contains(&alias), "neither ps nor ps --no-trunc shows {alias}: {plain} / {full}");
        Ok(skip(
            SkipKind::Legacy,
            "the CLI's NAMES column shows link names (parent/alias) only with --no-trunc, plain ps the container's own name",
        ))
    })
    .await
}

/// `rm --link /webapp/redis` prints the link, removes it and leaves both containers.
pub async fn rm_link(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let (redis, webapp) = (e.unique("rmlinkredis"), e.unique("rmlinkwebapp"));
    cleaning(&e, &[&redis, &webapp], async {
        idle_net(&e, &redis, &[]).await?;
        idle_net(&e, &webapp, &["--link", &format!("{redis}:redis")]).await?;
        let link = format!("/{webapp}/redis");
        let out = e.cli(&["rm", "--link", &link]).await?.success()?.stdout;
        ensure!(out.trim() == link, "rm --link printed {out:?}");
        ensure!(is_running(&e, &redis).await? && is_running(&e, &webapp).await?, "a container went with the link");
        let links = inspect(&e, &webapp).await?["HostConfig"]["Links"].clone();
        ensure!(!links.to_string().contains(&link), "the link is still there: {links}");
        Ok(Outcome::Passed)
    })
    .await
}

/// A client linked as redis_alias connects to the server with the ADDR and PORT variables.
pub async fn link_connect(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let (server, client) = (e.unique("redis-name"), e.unique("redisclient"));
    cleaning(&e, &[&server, &client], async {
        serve(&e, &server, &["--expose", "6379", IMAGE, "sh", "-c", &answering(6379, "+PONG")]).await?;
        listening(&e, &server, 6379, "tcp").await?;
        let script = ask("$REDIS_ALIAS_PORT_6379_TCP_ADDR", "$REDIS_ALIAS_PORT_6379_TCP_PORT");
        let link = format!("{server}:redis_alias");
        let out = run_net(&e, &client, &["--link", &link, IMAGE, "sh", "-c", &script]).await?.success()?.stdout;
        ensure!(out.trim() == "+PONG", "the client got {out:?}");
        logs_contain(&e, &server, "ping").await?;
        Ok(Outcome::Passed)
    })
    .await
}

/// A server whose image exposes 6379, published nowhere, reached through `--link redis:db`.
pub async fn redis_link(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let (image, redis, client) = (e.unique("redisimage"), e.unique("redis"), e.unique("redislinked"));
    cleaning_images(&e, &[&redis, &client], &[&image], async {
        let config = json!({"ExposedPorts": {"6379/tcp": {}}, "Cmd": ["sh", "-c", answering(6379, "+PONG")]});
        image_with(&e, &image, config).await?;
        serve(&e, &redis, &[&image]).await?;
        ensure!(e.cli(&["port", &redis, "6379"]).await?.status != Some(0), "6379 is published");
        listening(&e, &redis, 6379, "tcp").await?;
        let link = format!("{redis}:db");
        let out = run_net(&e, &client, &["--link", &link, IMAGE, "sh", "-c", &ask("$DB_PORT_6379_TCP_ADDR", "6379")])
            .await?
            .success()?
            .stdout;
        ensure!(out.trim() == "+PONG", "the client got {out:?}");
        Ok(Outcome::Passed)
    })
    .await
}

/// The ambassador's relay: connections to its 6379 go to the address its REDIS variables
/// name, be they from a link or set by hand.
const RELAY: &str = "trap 'exit 0' TERM; addr=${REDIS_PORT_6379_TCP#tcp://}; \
while :; do nc -l -p 6379 -e nc ${addr%:*} ${addr##*:}; done";

/// An ambassador with both `--link` and `-p`: it has the link variables, and the host reaches
/// the server through its published port.
pub async fn ambassador_publish(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let (server, ambassador) = (e.unique("bigserver"), e.unique("redis_ambassador"));
    cleaning(&e, &[&server, &ambassador], async {
        serve(&e, &server, &["--expose", "6379", IMAGE, "sh", "-c", &answering(6379, "from-server")]).await?;
        listening(&e, &server, 6379, "tcp").await?;
        let link = format!("{server}:redis");
        serve(&e, &ambassador, &["--link", &link, "-p", "127.0.0.1::6379", IMAGE, "sh", "-c", RELAY]).await?;
        let env = env_map(&e.cli(&["exec", &ambassador, "env"]).await?.success()?.stdout);
        let (ip, _) = address(&e, &server).await?;
        ensure!(var(&env, "REDIS_PORT_6379_TCP") == format!("tcp://{ip}:6379"), "the ambassador's env: {env:?}");
        listening(&e, &ambassador, 6379, "tcp").await?;
        let port = host_port(&e, &ambassador, "6379/tcp").await?;
        ensure!(answer(loopback(port)).await? == "from-server", "the host did not reach the server");
        Ok(Outcome::Passed)
    })
    .await
}

/// An ambassador given `--expose 6379 -e REDIS_PORT_6379_TCP=...` by hand keeps the value,
/// and a container linked to it gets variables aimed at the ambassador, through which it
/// reaches the server.
pub async fn ambassador_by_hand(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let (server, ambassador, client) = (e.unique("farserver"), e.unique("handambassador"), e.unique("handclient"));
    cleaning(&e, &[&server, &ambassador, &client], async {
        serve(&e, &server, &["--expose", "6379", IMAGE, "sh", "-c", &answering(6379, "by-hand")]).await?;
        let (server_ip, _) = address(&e, &server).await?;
        let by_hand = format!("REDIS_PORT_6379_TCP=tcp://{server_ip}:6379");
        serve(&e, &ambassador, &["--expose", "6379", "-e", &by_hand, IMAGE, "sh", "-c", RELAY]).await?;
        let own = env_map(&e.cli(&["exec", &ambassador, "env"]).await?.success()?.stdout);
        ensure!(
            format!("REDIS_PORT_6379_TCP={}", var(&own, "REDIS_PORT_6379_TCP")) == by_hand,
            "the ambassador's env: {own:?}"
        );
        listening(&e, &server, 6379, "tcp").await?;
        listening(&e, &ambassador, 6379, "tcp").await?;
        let (ambassador_ip, _) = address(&e, &ambassador).await?;
        let script = format!("echo \"$REDIS_PORT_6379_TCP\"; {}", ask("$REDIS_PORT_6379_TCP_ADDR", "6379"));
        let link = format!("{ambassador}:redis");
        let out = run_net(&e, &client, &["--link", &link, IMAGE, "sh", "-c", &script]).await?.success()?.stdout;
        let want = [format!("tcp://{ambassador_ip}:6379"), "by-hand".to_string()];
        ensure!(out.lines().collect::<Vec<_>>() == want, "the linked client saw {out:?}, not {want:?}");
        Ok(Outcome::Passed)
    })
    .await
}

/// A client that knows only the ambassador reaches the server behind it; replacing the
/// ambassador (same name, another backend) rewires clients started afterwards.
pub async fn ambassador_chain(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let (a, b, ambassador) = (e.unique("backenda"), e.unique("backendb"), e.unique("ambassador"));
    let (first, second) = (e.unique("consumer"), e.unique("consumer"));
    cleaning(&e, &[&a, &b, &ambassador, &first, &second], async {
        for (server, reply) in [(&a, "from-a"), (&b, "from-b")] {
            serve(&e, server, &["--expose", "6379", IMAGE, "sh", "-c", &answering(6379, reply)]).await?;
            listening(&e, server, 6379, "tcp").await?;
        }
        let consumer = [IMAGE, "sh", "-c", &ask("$REDIS_PORT_6379_TCP_ADDR", "$REDIS_PORT_6379_TCP_PORT")];
        let to_ambassador = format!("{ambassador}:redis");
        for (backend, client, reply) in [(&a, &first, "from-a"), (&b, &second, "from-b")] {
            remove(&e, &ambassador).await;
            let link = format!("{backend}:redis");
            serve(&e, &ambassador, &["--link", &link, "--expose", "6379", IMAGE, "sh", "-c", RELAY]).await?;
            listening(&e, &ambassador, 6379, "tcp").await?;
            let mut args = vec!["--link", to_ambassador.as_str()];
            args.extend(consumer);
            let out = run_net(&e, client, &args).await?.success()?.stdout;
            ensure!(out.trim() == reply, "through the ambassador to {backend} the client got {out:?}");
        }
        Ok(Outcome::Passed)
    })
    .await
}

/// 4.3: prepare an app in a container, commit it, run the image with its port published:
/// the logs show the server's start and the host gets an HTTP answer.
pub async fn commit_run_web(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let (prepare, image, web) = (e.unique("webprep"), e.unique("webapp-image"), e.unique("web"));
    cleaning_images(&e, &[&prepare, &web], &[&image], async {
        let setup = "mkdir -p /app && echo hello-from-the-app > /app/index.html \
            && printf '#!/bin/sh\\necho \" * Running on http://0.0.0.0:5000/\"\\nexec httpd -f -p 5000 -h /app\\n' > /app/run \
            && chmod +x /app/run";
        super::containers::run(&e, &["--name", &prepare, IMAGE, "sh", "-c", setup]).await?.success()?;
        e.cli(&["commit", &prepare, &image]).await?.success()?;
        serve(&e, &web, &["-p", "127.0.0.1::5000", &image, "/app/run"]).await?;
        logs_contain(&e, &web, "Running on").await?;
        listening(&e, &web, 5000, "tcp").await?;
        let port = host_port(&e, &web, "5000/tcp").await?;
        let page = exchange(loopback(port), "GET /index.html HTTP/1.0\r\n\r\n").await?;
        ensure!(page.starts_with("HTTP/1") && page.contains("hello-from-the-app"), "the host got {page:?}");
        Ok(Outcome::Passed)
    })
    .await
}

// ---------------------------------------------------------------------------------------------
// The bridge, veth pairs and the container's network namespace (3.3, 3.4, 5.3.2, 8.1.1, 8.3.5)
// ---------------------------------------------------------------------------------------------

/// `inspect` shows the container's bridge address, and the host reaches it there.
pub async fn container_address(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("addressed");
    cleaning(&e, &[&name], async {
        serve(&e, &name, &[IMAGE, "sh", "-c", &answering(80, "addressed")]).await?;
        let (ip, _) = address(&e, &name).await?;
        let out = e.cli(&["inspect", &name]).await?.success()?.stdout;
        let line = format!("\"IPAddress\": \"{ip}\"");
        ensure!(out.contains(&line), "inspect's output has no {line}");
        listening(&e, &name, 80, "tcp").await?;
        ensure!(answer(SocketAddr::new(ip.into(), 80)).await? == "addressed", "{ip}:80 did not answer");
        Ok(Outcome::Passed)
    })
    .await
}

/// The bridge has one address; each container's eth0 has another in its subnet, its own,
/// and routes by default through the bridge's.
pub async fn bridge_addresses(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let bridge = e.bridge();
    let (a, b) = (e.unique("rangea"), e.unique("rangeb"));
    cleaning(&e, &[&a, &b], async {
        let own = interface_address(&bridge).await?;
        ensure!(own.len() == 1, "{bridge} has the IPv4 addresses {own:?}, not one");
        let (gateway, len) = own[0];
        let mut seen = Vec::new();
        for name in [&a, &b] {
            idle_net(&e, name, &[]).await?;
            let out = e.cli(&["exec", name, "sh", "-c", "ip -4 -o addr show eth0; ip route"]).await?.success()?.stdout;
            let addresses = inet(&out);
            ensure!(addresses.len() == 1, "eth0 of {name} has {addresses:?}");
            let (ip, _) = addresses[0];
            ensure!(ip != gateway && in_subnet(ip, gateway, len), "{ip} is not in {bridge}'s {gateway}/{len}");
            ensure!(default_via(&out) == Some(gateway), "the default route is not via {gateway}:\n{out}");
            seen.push(ip);
        }
        ensure!(seen[0] != seen[1], "both containers have {}", seen[0]);
        Ok(Outcome::Passed)
    })
    .await
}

/// One interface of the host's network namespace as `ip -j -s link` shows it: name, bridge
/// it is attached to, bytes received. Read through netlink (not /sys/class/net, which shows
/// the namespace /sys was mounted in), so the suite works from inside a namespace too.
#[derive(Debug, Default)]
struct HostLink {
    name: String,
    master: Option<String>,
    rx_bytes: u64,
}

/// The host interface with this index, if any.
async fn host_interface(index: u32) -> anyhow::Result<Option<HostLink>> {
    let out = host("ip", &["-j", "-s", "link", "show"]).await?;
    let links: Vec<Value> = serde_json::from_str(&out).with_context(|| format!("`ip -j -s link show`: {out}"))?;
    Ok(links.iter().find(|l| l["ifindex"].as_u64() == Some(u64::from(index))).map(|l| HostLink {
        name: l["ifname"].as_str().unwrap_or_default().to_string(),
        master: l["master"].as_str().map(str::to_string),
        rx_bytes: l["stats64"]["rx"]["bytes"].as_u64().unwrap_or_default(),
    }))
}

/// A packet socket on one host interface: what a capture sees.
struct Capture(std::os::fd::OwnedFd);

impl Capture {
    fn open(index: u32) -> anyhow::Result<Capture> {
        use std::os::fd::FromRawFd;
        let all = (libc::ETH_P_ALL as u16).to_be();
        // SAFETY: plain socket(2); the descriptor is owned at once.
        let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, i32::from(all)) };
        ensure!(fd >= 0, "cannot open a packet socket: {}", std::io::Error::last_os_error());
        // SAFETY: fd is a new descriptor nobody else owns.
        let socket = Capture(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) });
        // SAFETY: sockaddr_ll is plain data; zeroed is a valid value.
        let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        addr.sll_family = libc::AF_PACKET as u16;
        addr.sll_protocol = all;
        addr.sll_ifindex = index as i32;
        let timeout = libc::timeval { tv_sec: 0, tv_usec: 200_000 };
        // SAFETY: bind and setsockopt on our socket with correctly sized arguments.
        let ok = unsafe {
            libc::bind(fd, (&raw const addr).cast(), std::mem::size_of::<libc::sockaddr_ll>() as u32) == 0
                && libc::setsockopt(
                    fd,
                    libc::SOL_SOCKET,
                    libc::SO_RCVTIMEO,
                    (&raw const timeout).cast(),
                    std::mem::size_of::<libc::timeval>() as u32,
                ) == 0
        };
        ensure!(ok, "cannot bind a packet socket to interface {index}: {}", std::io::Error::last_os_error());
        Ok(socket)
    }

    /// Whether a frame holding `needle` passes within `within`.
    fn sees(&self, needle: &[u8], within: Duration) -> bool {
        use std::os::fd::AsRawFd;
        let deadline = std::time::Instant::now() + within;
        let mut frame = vec![0u8; 65536];
        while std::time::Instant::now() < deadline {
            // SAFETY: recv into a buffer of the length given.
            let n = unsafe { libc::recv(self.0.as_raw_fd(), frame.as_mut_ptr().cast(), frame.len(), 0) };
            if n > 0 && frame[..n as usize].windows(needle.len()).any(|w| w == needle) {
                return true;
            }
        }
        false
    }
}

async fn tx_bytes(e: &Engine, name: &str) -> anyhow::Result<u64> {
    let out = e.cli(&["exec", name, "cat", "/sys/class/net/eth0/statistics/tx_bytes"]).await?.success()?.stdout;
    Ok(out.trim().parse()?)
}

/// Each running container has one veth on the host, attached to the bridge and peer of its
/// eth0: a capture on it sees what the container sends, its RX count is the container's TX
/// count, and it goes when the container stops.
pub async fn veth_pair(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("veth");
    let bridge = e.bridge();
    cleaning(&e, &[&name], async {
        idle_net(&e, &name, &[]).await?;
        let peer = e.cli(&["exec", &name, "cat", "/sys/class/net/eth0/iflink"]).await?.success()?.stdout;
        let index: u32 = peer.trim().parse().with_context(|| format!("eth0's iflink: {peer:?}"))?;
        let link =
            host_interface(index).await?.with_context(|| format!("no host interface has eth0's peer index {index}"))?;
        let veth = link.name.clone();
        ensure!(veth.starts_with("veth"), "eth0's peer on the host is {veth}, not a vethXXXX");
        ensure!(
            link.master.as_deref() == Some(bridge.as_str()),
            "{veth} is attached to {:?}, not {bridge}",
            link.master
        );
        let probe = e.unique("probe");
        let capture = Capture::open(index)?;
        let needle = probe.clone().into_bytes();
        let seen = tokio::task::spawn_blocking(move || capture.sees(&needle, Duration::from_secs(10)));
        let (_, gateway) = address(&e, &name).await?;
        let send = format!("timeout 3 nslookup {probe} {gateway} >/dev/null 2>&1; true");
        e.cli(&["exec", &name, "sh", "-c", &send]).await?.success()?;
        ensure!(seen.await?, "a capture on {veth} did not see the query for {probe} that the container sent");
        eventually(&format!("{veth}'s RX bytes to equal eth0's TX bytes"), SETTLE, || async {
            let before = tx_bytes(&e, &name).await?;
            let host = host_interface(index).await?.map(|l| l.rx_bytes);
            let after = tx_bytes(&e, &name).await?;
            Ok((before == after && host == Some(before) && before > 0).then_some(()))
        })
        .await?;
        e.cli(&["stop", "-t", "1", &name]).await?.success()?;
        eventually(&format!("{veth} to go"), SETTLE, || async {
            Ok((host_interface(index).await?.map(|l| l.name).as_deref() != Some(veth.as_str())).then_some(()))
        })
        .await?;
        Ok(Outcome::Passed)
    })
    .await
}

/// Without network options a container has an addressed eth0 and connects out, to the
/// bridge's address at least.
pub async fn network_default(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("netdefault");
    let bridge = e.bridge();
    cleaning(&e, &[&name], async {
        let (gateway, _) =
            *interface_address(&bridge).await?.first().with_context(|| format!("{bridge} has no address"))?;
        let listener = tokio::net::TcpListener::bind((gateway, 0)).await?;
        let port = listener.local_addr()?.port();
        let mut heard = tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await?;
            let mut text = String::new();
            stream.read_to_string(&mut text).await?;
            anyhow::Ok(text)
        });
        let script = format!(
            "ip -4 -o addr show eth0; gw=$(ip route | awk '/^default/ {{print $3}}'); echo hello-host | nc $gw {port}"
        );
        let out = run_net(&e, &name, &[IMAGE, "sh", "-c", &script]).await?.success()?.stdout;
        ensure!(!inet(&out).is_empty(), "eth0 has no address: {out}");
        let got = tokio::time::timeout(Duration::from_secs(10), &mut heard).await;
        heard.abort();
        let got = got.context("nothing connected to the bridge's address")???;
        ensure!(got.trim() == "hello-host", "the host got {got:?}");
        Ok(Outcome::Passed)
    })
    .await
}

/// Two containers, not linked, reach each other over the bridge with ICMP, TCP and UDP.
pub async fn icc_default(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let (server, client) = (e.unique("iccserver"), e.unique("iccclient"));
    cleaning(&e, &[&server, &client], async {
        let script = format!("{UDP_LISTENER_BEHIND}{}", answering(80, "over-the-bridge"));
        serve(&e, &server, &[IMAGE, "sh", "-c", &script]).await?;
        listening(&e, &server, 80, "tcp").await?;
        listening(&e, &server, 67, "udp").await?;
        let ip = address(&e, &server).await?.0.to_string();
        let probe = format!(
            "ping -c 1 -W 3 {ip} >/dev/null && echo icmp-ok; {}; timeout 3 nslookup probe {ip}:67 >/dev/null 2>&1; true",
            ask(&ip, "80")
        );
        let out = run_net(&e, &client, &[IMAGE, "sh", "-c", &probe]).await?.success()?.stdout;
        ensure!(out.lines().collect::<Vec<_>>() == ["icmp-ok", "over-the-bridge"], "the client saw {out:?}");
        logs_contain(&e, &server, UDP_SEEN).await?;
        Ok(Outcome::Passed)
    })
    .await
}

/// A container sees only lo and eth0, and what another container bound to 127.0.0.1 is
/// out of its reach.
pub async fn ns_net(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let (a, b) = (e.unique("loopbound"), e.unique("loopprobe"));
    cleaning(&e, &[&a, &b], async {
        serve(&e, &a, &[IMAGE, "httpd", "-f", "-p", "127.0.0.1:7000", "-h", "/etc"]).await?;
        listening(&e, &a, 7000, "tcp").await?;
        let script = "ls /sys/class/net; printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc 127.0.0.1 7000 | head -n 1";
        let inside = e.cli(&["exec", &a, "sh", "-c", script]).await?.success()?.stdout;
        let lines: Vec<&str> = inside.lines().collect();
        ensure!(
            lines.len() == 3 && lines[..2] == ["eth0", "lo"] && lines[2].starts_with("HTTP/1"),
            "in {a}: {inside:?}"
        );
        let probe = "ls /sys/class/net; nc -w 2 127.0.0.1 7000 </dev/null && echo reached || echo refused";
        let out = run_net(&e, &b, &[IMAGE, "sh", "-c", probe]).await?.success()?.stdout;
        ensure!(out.lines().collect::<Vec<_>>() == ["eth0", "lo", "refused"], "in {b}: {out:?}");
        Ok(Outcome::Passed)
    })
    .await
}

/// A /var/run/netns link to a container's namespace lets `ip netns exec` read its interface
/// counters: lo and eth0.
pub async fn netns_exec(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("netnsexec");
    let link = e.unique("netnslink");
    cleaning(&e, &[&name], async {
        idle_net(&e, &name, &[]).await?;
        let pid = pid(&e, &name).await?;
        let dir = std::path::Path::new("/var/run/netns");
        let made = !dir.exists();
        std::fs::create_dir_all(dir)?;
        let path = dir.join(&link);
        std::os::unix::fs::symlink(format!("/proc/{pid}/ns/net"), &path)?;
        let out = host("ip", &["netns", "exec", &link, "cat", "/proc/net/dev"]).await;
        let _ = std::fs::remove_file(&path);
        if made {
            let _ = std::fs::remove_dir(dir);
        }
        let out = out?;
        let mut rows: Vec<(&str, Vec<&str>)> = out
            .lines()
            .skip(2)
            .filter_map(|l| l.split_once(':'))
            .map(|(name, counters)| (name.trim(), counters.split_whitespace().collect()))
            .collect();
        rows.sort();
        let names: Vec<&str> = rows.iter().map(|(n, _)| *n).collect();
        ensure!(names == ["eth0", "lo"], "the namespace's interfaces: {names:?}");
        ensure!(
            rows.iter().all(|(_, c)| c.len() == 16 && c.iter().all(|v| v.parse::<u64>().is_ok())),
            "counters: {out}"
        );
        Ok(Outcome::Passed)
    })
    .await
}

/// A FORWARD rule without a target, matching a container's address, counts its traffic.
pub async fn iptables_accounting(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let (a, b) = (e.unique("counted"), e.unique("countedpeer"));
    cleaning(&e, &[&a, &b], async {
        idle_net(&e, &a, &[]).await?;
        idle_net(&e, &b, &[]).await?;
        let (source, peer) = (address(&e, &a).await?.0.to_string(), address(&e, &b).await?.0.to_string());
        let rule = format!("{source}/32");
        host("iptables", &["-I", "FORWARD", "-s", &rule]).await?;
        let counted = async {
            e.cli(&["exec", &a, "ping", "-c", "3", "-W", "2", &peer]).await?.success()?;
            let table = host("iptables", &["-nxvL", "FORWARD"]).await?;
            let row = table
                .lines()
                .find(|l| l.split_whitespace().any(|w| w == source))
                .with_context(|| format!("no rule for {source}:\n{table}"))?;
            let counts: Vec<u64> = row.split_whitespace().take(2).map(str::parse).collect::<Result<_, _>>()?;
            ensure!(counts[0] >= 3 && counts[1] >= 3 * 84, "the rule counted {counts:?} for three pings: {row}");
            anyhow::Ok(())
        }
        .await;
        let removed = host("iptables", &["-D", "FORWARD", "-s", &rule]).await;
        counted?;
        removed?;
        Ok(Outcome::Passed)
    })
    .await
}

// ---------------------------------------------------------------------------------------------
// User-defined networks (modern)
// ---------------------------------------------------------------------------------------------

/// Runs a body, then removes the containers and the networks, whatever happened.
pub async fn cleaning_networks<F>(
    e: &Engine,
    containers: &[&str],
    networks: &[&str],
    body: F,
) -> anyhow::Result<Outcome>
where
    F: std::future::Future<Output = anyhow::Result<Outcome>>,
{
    let result = cleaning(e, containers, body).await;
    for network in networks {
        let _ = e.call(http::Method::DELETE, &format!("/networks/{network}")).await;
    }
    result
}

/// On a user network, containers reach each other by name and by network alias.
pub async fn user_network_dns(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let network = e.unique("usernet");
    let (server, client, alias) = (e.unique("named"), e.unique("naming"), e.unique("alias"));
    cleaning_networks(&e, &[&server, &client], &[&network], async {
        e.cli(&["network", "create", &network]).await?.success()?;
        let args = ["--network", &network, "--network-alias", &alias, IMAGE, "sh", "-c", &answering(80, "by-name")];
        serve(&e, &server, &args).await?;
        listening(&e, &server, 80, "tcp").await?;
        let script = format!("{}; {}", ask(&server, "80"), ask(&alias, "80"));
        let out = run_net(&e, &client, &["--network", &network, IMAGE, "sh", "-c", &script]).await?.success()?.stdout;
        ensure!(
            out.lines().collect::<Vec<_>>() == ["by-name", "by-name"],
            "by name and by alias the client got {out:?}"
        );
        Ok(Outcome::Passed)
    })
    .await
}

/// A place beyond the engine that never leaves the machine: a network namespace joined to
/// the host by a veth pair, routed through the host, where a listener answers `outside` on
/// port 7000. Containers reach it only if the engine lets their traffic out of the host.
pub struct Outside {
    pub address: Ipv4Addr,
    stop: Arc<std::sync::atomic::AtomicBool>,
    _netns: Netns,
}

impl Outside {
    pub async fn create(e: &Engine) -> anyhow::Result<Outside> {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % 64;
        let third = (std::process::id() % 256) as u8;
        let (near, far) =
            (Ipv4Addr::new(198, 18, third, n as u8 * 4 + 1), Ipv4Addr::new(198, 18, third, n as u8 * 4 + 2));
        let netns = Netns::create(e).await?;
        let end = format!("spo{}x{n}", std::process::id() % 100_000);
        host("ip", &["link", "add", &end, "type", "veth", "peer", "name", "outside0", "netns", &netns.name]).await?;
        host("ip", &["addr", "add", &format!("{near}/30"), "dev", &end]).await?;
        host("ip", &["link", "set", &end, "up"]).await?;
        netns.ip(&["addr", "add", &format!("{far}/30"), "dev", "outside0"]).await?;
        netns.ip(&["link", "set", "outside0", "up"]).await?;
        netns.ip(&["route", "add", "default", "via", &near.to_string()]).await?;
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let listener = netns
            .within(move || {
                let listener = std::net::TcpListener::bind((far, 7000))?;
                listener.set_nonblocking(true)?;
                Ok(listener)
            })
            .await?;
        std::thread::spawn(move || {
            use std::io::Write;
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                match listener.accept() {
                    Ok((mut stream, _)) => {
                        let _ = stream.write_all(b"outside\n");
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(50)),
                }
            }
        });
        Ok(Outside { address: far, stop, _netns: netns })
    }
}

impl Drop for Outside {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// An internal network: its containers reach each other by name but nothing beyond the
/// engine's host, which a container of an ordinary network reaches.
pub async fn internal_network(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let (inner, outer) = (e.unique("internal"), e.unique("external"));
    let (peer, locked, free) = (e.unique("innerpeer"), e.unique("innerprobe"), e.unique("outerprobe"));
    let outside = Outside::create(&e).await?;
    let beyond = format!("nc -w 2 {} 7000 </dev/null || echo contained", outside.address);
    cleaning_networks(&e, &[&peer, &locked, &free], &[&inner, &outer], async {
        e.cli(&["network", "create", "--internal", &inner]).await?.success()?;
        e.cli(&["network", "create", &outer]).await?.success()?;
        let out = run_net(&e, &free, &["--network", &outer, IMAGE, "sh", "-c", &beyond]).await?.success()?.stdout;
        ensure!(out.trim() == "outside", "from an ordinary network {} answered {out:?}", outside.address);
        serve(&e, &peer, &["--network", &inner, IMAGE, "sh", "-c", &answering(80, "peer")]).await?;
        listening(&e, &peer, 80, "tcp").await?;
        let script = format!("{}; {beyond}", ask(&peer, "80"));
        let out = run_net(&e, &locked, &["--network", &inner, IMAGE, "sh", "-c", &script]).await?.success()?.stdout;
        ensure!(out.lines().collect::<Vec<_>>() == ["peer", "contained"], "on the internal network: {out:?}");
        Ok(Outcome::Passed)
    })
    .await
}

// ---------------------------------------------------------------------------------------------
// The daemon's network flags (3.4.1, 3.4.2, 3.7.2, 5.1.4, 5.1.27): a daemon of the case's own,
// alone in a network namespace of the case's own.
// ---------------------------------------------------------------------------------------------

/// A network namespace (`ip netns add`), its loopback up; deleted, with every interface in
/// it, when dropped.
pub struct Netns {
    pub name: String,
}

impl Netns {
    pub async fn create(e: &Engine) -> anyhow::Result<Netns> {
        let name = e.unique("netns");
        host("ip", &["netns", "add", &name]).await?;
        let netns = Netns { name };
        netns.ip(&["link", "set", "lo", "up"]).await?;
        Ok(netns)
    }

    pub fn path(&self) -> PathBuf {
        PathBuf::from(format!("/var/run/netns/{}", self.name))
    }

    /// `ip -n NAME ARGS...`, which must succeed; its output.
    pub async fn ip(&self, args: &[&str]) -> anyhow::Result<String> {
        let mut all = vec!["-n", self.name.as_str()];
        all.extend_from_slice(args);
        host("ip", &all).await
    }

    /// A host program run inside the namespace (its network only).
    pub async fn exec(&self, program: &str, args: &[&str]) -> anyhow::Result<String> {
        let net = format!("--net={}", self.path().display());
        let mut all = vec![net.as_str(), program];
        all.extend_from_slice(args);
        host("nsenter", &all).await
    }

    /// Runs `work` on a thread of its own inside the namespace: the sockets it makes live
    /// there, and /proc/thread-self/net shows the namespace's.
    pub async fn within<T, F>(&self, work: F) -> anyhow::Result<T>
    where
        T: Send + 'static,
        F: FnOnce() -> anyhow::Result<T> + Send + 'static,
    {
        use std::os::fd::AsRawFd;
        let path = self.path();
        let (tx, rx) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            let entered = std::fs::File::open(&path).map_err(anyhow::Error::from).and_then(|file| {
                // SAFETY: setns on this thread only (CLONE_NEWNET is per thread), with a
                // namespace file we opened; a failure is reported.
                let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
                ensure!(rc == 0, "cannot enter {}: {}", path.display(), std::io::Error::last_os_error());
                Ok(())
            });
            let _ = tx.send(entered.and_then(|()| work()));
        });
        rx.await.context("the thread in the namespace ended without an answer")?
    }

    /// The IPv4 addresses of an interface in the namespace.
    pub async fn addresses(&self, dev: &str) -> anyhow::Result<Vec<(Ipv4Addr, u8)>> {
        Ok(inet(&self.ip(&["-4", "-o", "addr", "show", "dev", dev]).await?))
    }

    /// A veth pair in the namespace with this MTU and address on its first end, which takes
    /// the default route: a stand-in for the uplink of a host.
    pub async fn uplink(&self, mtu: &str, address: &str) -> anyhow::Result<()> {
        self.ip(&["link", "add", "uplink0", "mtu", mtu, "type", "veth", "peer", "name", "uplink1", "mtu", mtu]).await?;
        for end in ["uplink0", "uplink1"] {
            self.ip(&["link", "set", end, "up"]).await?;
        }
        self.ip(&["addr", "add", address, "dev", "uplink0"]).await?;
        self.ip(&["route", "add", "default", "dev", "uplink0"]).await?;
        Ok(())
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = std::process::Command::new("ip").args(["netns", "delete", &self.name]).status();
    }
}

/// A daemon of the case's own in a network namespace of its own (its bridge, iptables and
/// ports are its own), with the fixture image loaded. [`NetDaemon::close`] removes its
/// containers before stopping it; dropping it stops it regardless.
pub struct NetDaemon {
    pub daemon: TestDaemon,
    pub netns: Netns,
}

impl NetDaemon {
    pub async fn start(e: &Engine, netns: Netns, args: &[&str]) -> anyhow::Result<NetDaemon> {
        let args = args.iter().map(|a| a.to_string()).collect();
        let spec = Spec { args, netns: Some(netns.path()), ..Default::default() };
        let mut daemon = TestDaemon::start(e, spec).await?;
        let host = daemon.host.clone();
        daemon.ready(&host).await?;
        let started = NetDaemon { daemon, netns };
        let fixture = e.fixture("busybox.tar");
        started.out(e, &["load", "-i", &fixture.to_string_lossy()]).await?;
        Ok(started)
    }

    pub async fn cli(&self, e: &Engine, args: &[&str]) -> anyhow::Result<CliRun> {
        e.cli_with(args, &[("DOCKER_HOST", self.daemon.host.as_str())]).await
    }

    /// A CLI run that must succeed; its standard output.
    pub async fn out(&self, e: &Engine, args: &[&str]) -> anyhow::Result<String> {
        Ok(self.cli(e, args).await?.success()?.stdout)
    }

    /// Waits until a container of this daemon listens on a TCP port.
    pub async fn listening(&self, e: &Engine, name: &str, port: u16) -> anyhow::Result<()> {
        let pid = self.out(e, &["inspect", "--format", "{{.State.Pid}}", name]).await?;
        let dir = PathBuf::from(format!("/proc/{}/net", pid.trim()));
        eventually(&format!("{name} listening on {port}"), SETTLE, || {
            let dir = dir.clone();
            async move { Ok(sockets(&dir, "tcp").iter().any(|s| s.port == port && s.listening).then_some(())) }
        })
        .await
    }

    /// Removes every container, then stops the daemon.
    pub async fn close(mut self, e: &Engine) {
        if let Ok(ids) = self.out(e, &["ps", "-a", "-q"]).await {
            let ids: Vec<&str> = ids.split_whitespace().collect();
            if !ids.is_empty() {
                let mut args = vec!["rm", "-f", "-v"];
                args.extend(ids);
                let _ = self.cli(e, &args).await;
            }
        }
        let _ = self.daemon.stop().await;
    }
}

/// Starts a daemon with `args` in `netns`, runs the body, then closes the daemon whatever
/// happened.
macro_rules! with_daemon {
    ($e:expr, $netns:expr, $args:expr, |$d:ident| $body:expr) => {{
        let $d = NetDaemon::start(&$e, $netns, $args).await?;
        let result: anyhow::Result<Outcome> = async { $body }.await;
        $d.close(&$e).await;
        result
    }};
}

/// What a fresh container of a daemon sees of its network: eth0's addresses, the default
/// gateway, and its MTU.
async fn seen_inside(
    e: &Engine,
    d: &NetDaemon,
    extra: &[&str],
) -> anyhow::Result<(Vec<(Ipv4Addr, u8)>, Option<Ipv4Addr>, String)> {
    let mut args = vec!["run", "--rm"];
    args.extend_from_slice(extra);
    args.extend([IMAGE, "sh", "-c", "ip -4 -o addr show eth0; ip route; echo mtu=$(cat /sys/class/net/eth0/mtu)"]);
    let out = d.out(e, &args).await?;
    let mtu = out.lines().find_map(|l| l.strip_prefix("mtu=")).unwrap_or_default().to_string();
    Ok((inet(&out), default_via(&out), mtu))
}

/// `-b bridge0` with a bridge the operator made: containers get addresses in its subnet and
/// it as their gateway, and the bridge keeps its address.
pub async fn daemon_bridge(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let netns = Netns::create(&e).await?;
    netns.ip(&["link", "add", "bridge0", "type", "bridge"]).await?;
    netns.ip(&["addr", "add", "192.168.227.1/24", "dev", "bridge0"]).await?;
    netns.ip(&["link", "set", "bridge0", "up"]).await?;
    let gateway = Ipv4Addr::new(192, 168, 227, 1);
    with_daemon!(e, netns, &["-b", "bridge0"], |d| {
        let (addresses, via, _) = seen_inside(&e, &d, &[]).await?;
        ensure!(
            addresses.len() == 1 && addresses[0].0 != gateway && in_subnet(addresses[0].0, gateway, 24),
            "eth0 has {addresses:?}, not an address in 192.168.227.0/24"
        );
        ensure!(via == Some(gateway), "the default route is via {via:?}, not bridge0's {gateway}");
        let kept = d.netns.addresses("bridge0").await?;
        ensure!(kept == [(gateway, 24)], "bridge0 now has {kept:?}");
        Ok(Outcome::Passed)
    })
}

/// `-b none`: no bridge is made and a container has only its loopback.
pub async fn daemon_bridge_none(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let netns = Netns::create(&e).await?;
    with_daemon!(e, netns, &["-b", "none"], |d| {
        let bridges = d.netns.ip(&["-o", "link", "show", "type", "bridge"]).await?;
        ensure!(bridges.trim().is_empty(), "the daemon made a bridge:\n{bridges}");
        let out = d.out(&e, &["run", "--rm", IMAGE, "ls", "/sys/class/net"]).await?;
        ensure!(out.split_whitespace().collect::<Vec<_>>() == ["lo"], "the container has the interfaces {out:?}");
        Ok(Outcome::Passed)
    })
}

/// `--bip 10.20.0.1/24` gives the default bridge that address and containers addresses in
/// 10.20.0.0/24.
pub async fn daemon_bip(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let netns = Netns::create(&e).await?;
    let bridge = e.profile.bridge.clone();
    let gateway = Ipv4Addr::new(10, 20, 0, 1);
    with_daemon!(e, netns, &["--bip", "10.20.0.1/24"], |d| {
        let own = d.netns.addresses(&bridge).await?;
        ensure!(own == [(gateway, 24)], "{bridge} has {own:?}, not 10.20.0.1/24");
        let (addresses, via, _) = seen_inside(&e, &d, &[]).await?;
        ensure!(
            addresses.len() == 1 && in_subnet(addresses[0].0, gateway, 24) && addresses[0].0 != gateway,
            "eth0 has {addresses:?}"
        );
        ensure!(via == Some(gateway), "the default route is via {via:?}");
        Ok(Outcome::Passed)
    })
}

/// Without -b the daemon makes its bridge, in a range no route of the host covers (here
/// 172.17.0.0/16 is already routed), and gives it one address of that range.
pub async fn daemon_makes_bridge(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let netns = Netns::create(&e).await?;
    netns.uplink("1500", "172.17.5.1/16").await?;
    let bridge = e.profile.bridge.clone();
    let before = netns.ip(&["-o", "link"]).await?;
    ensure!(!before.contains(&format!(" {bridge}:")), "{bridge} exists before the daemon starts");
    with_daemon!(e, netns, &[], |d| {
        let own = d.netns.addresses(&bridge).await?;
        ensure!(own.len() == 1, "{bridge} has {own:?}, not one address");
        let (gateway, len) = own[0];
        let taken = Ipv4Addr::new(172, 17, 0, 0);
        ensure!(
            !in_subnet(gateway, taken, 16) && !in_subnet(taken, gateway, len),
            "{bridge}'s {gateway}/{len} overlaps the routed 172.17.0.0/16"
        );
        let (addresses, _, _) = seen_inside(&e, &d, &[]).await?;
        ensure!(addresses.len() == 1 && in_subnet(addresses[0].0, gateway, len), "eth0 has {addresses:?}");
        Ok(Outcome::Passed)
    })
}

fn nameservers(resolv: &str) -> Vec<String> {
    resolv.lines().filter_map(|l| l.strip_prefix("nameserver")).map(|s| s.trim().to_string()).collect()
}

/// `--dns A --dns B`: every container's resolv.conf names A then B, unless it has its own
/// `--dns`.
pub async fn daemon_dns(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let netns = Netns::create(&e).await?;
    with_daemon!(e, netns, &["--dns", "8.8.8.8", "--dns", "8.8.4.4"], |d| {
        let plain = d.out(&e, &["run", "--rm", IMAGE, "cat", "/etc/resolv.conf"]).await?;
        ensure!(nameservers(&plain) == ["8.8.8.8", "8.8.4.4"], "resolv.conf:\n{plain}");
        let own = d.out(&e, &["run", "--rm", "--dns", "10.1.2.3", IMAGE, "cat", "/etc/resolv.conf"]).await?;
        ensure!(nameservers(&own) == ["10.1.2.3"], "with its own --dns, resolv.conf:\n{own}");
        Ok(Outcome::Passed)
    })
}

/// Whether `from` (a running container of `d`) gets an answer from ip:port within 3 s.
async fn reaches(e: &Engine, d: &NetDaemon, from: &str, ip: &str, port: u16) -> anyhow::Result<bool> {
    let probe = format!("nc -w 3 {ip} {port} </dev/null && echo reached || echo blocked");
    let out = d.out(e, &["exec", from, "sh", "-c", &probe]).await?;
    Ok(out.lines().last() == Some("reached"))
}

/// `--icc=false`: containers cannot reach each other unless linked, and then only on the
/// ports the target exposes; `rm --link` closes that again.
pub async fn daemon_icc_false(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let netns = Netns::create(&e).await?;
    with_daemon!(e, netns, &["--icc=false"], |d| {
        let script = answering_all(&[(80, "exposed"), (81, "unexposed")]);
        d.out(&e, &["run", "-d", "--name", "server", "--expose", "80", IMAGE, "sh", "-c", &script]).await?;
        d.listening(&e, "server", 80).await?;
        d.listening(&e, "server", 81).await?;
        let ip = d.out(&e, &["inspect", "--format", "{{.NetworkSettings.IPAddress}}", "server"]).await?;
        let ip = ip.trim();
        d.out(&e, &["run", "-d", "--name", "stranger", IMAGE, "sh", "-c", IDLE]).await?;
        d.out(&e, &["run", "-d", "--name", "client", "--link", "server:srv", IMAGE, "sh", "-c", IDLE]).await?;
        ensure!(!reaches(&e, &d, "stranger", ip, 80).await?, "an unlinked container reached {ip}:80");
        ensure!(reaches(&e, &d, "client", ip, 80).await?, "the linked container did not reach the exposed {ip}:80");
        ensure!(!reaches(&e, &d, "client", ip, 81).await?, "the linked container reached the unexposed {ip}:81");
        d.out(&e, &["rm", "--link", "/client/srv"]).await?;
        ensure!(!reaches(&e, &d, "client", ip, 80).await?, "after rm --link the container still reached {ip}:80");
        Ok(Outcome::Passed)
    })
}

/// `--ip 127.0.0.1`: `-p 8080` and `-p 80:8080` bind 127.0.0.1 only.
pub async fn daemon_ip(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let netns = Netns::create(&e).await?;
    with_daemon!(e, netns, &["--ip", "127.0.0.1"], |d| {
        for (name, publish) in [("dynamic", "8080"), ("fixed", "80:8080")] {
            d.out(&e, &["run", "-d", "--name", name, "-p", publish, IMAGE, "sh", "-c", &answering(8080, name)]).await?;
            d.listening(&e, name, 8080).await?;
            let ports = d.out(&e, &["inspect", "--format", "{{json .NetworkSettings.Ports}}", name]).await?;
            let ports: Value = serde_json::from_str(ports.trim())?;
            let bound = bindings_of(&ports["8080/tcp"]);
            ensure!(!bound.is_empty() && bound.iter().all(|(ip, _)| ip == "127.0.0.1"), "-p {publish}: {bound:?}");
            let port = bound[0].1;
            let reply = d
                .netns
                .within(move || {
                    let listeners: Vec<Socket> = sockets(std::path::Path::new("/proc/thread-self/net"), "tcp")
                        .into_iter()
                        .filter(|s| s.port == port && s.listening)
                        .collect();
                    ensure!(
                        !listeners.is_empty() && listeners.iter().all(|s| s.address == Ipv4Addr::LOCALHOST),
                        "host port {port} listens on {listeners:?}"
                    );
                    answer_blocking(loopback(port))
                })
                .await?;
            ensure!(reply == name, "127.0.0.1:{port} answered {reply:?}");
        }
        Ok(Outcome::Passed)
    })
}

/// What a server at `addr` answers, asked again (blocking) while it answers nothing.
fn answer_blocking(addr: SocketAddr) -> anyhow::Result<String> {
    use std::io::{Read, Write};
    for _ in 0..100 {
        if let Ok(mut stream) = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)) {
            stream.set_read_timeout(Some(Duration::from_secs(5)))?;
            let _ = stream.write_all(b"ping\n");
            let _ = stream.shutdown(std::net::Shutdown::Write);
            let mut text = String::new();
            let _ = stream.read_to_string(&mut text);
            if !text.trim().is_empty() {
                return Ok(text.trim().to_string());
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    bail!("{addr} answered nothing")
}

/// The iptables rules of a namespace, without iptables-save's comments.
async fn rules(netns: &Netns) -> anyhow::Result<String> {
    let saved = netns.exec("iptables-save", &[]).await?;
    Ok(saved.lines().filter(|l| !l.starts_with('#')).collect::<Vec<_>>().join("\n"))
}

/// By default the daemon adds NAT and FORWARD rules for its bridge and a published port;
/// with `--iptables=false` it leaves iptables exactly as it was.
pub async fn daemon_iptables(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let bridge = e.profile.bridge.clone();
    let publish = ["run", "-d", "--name", "published", "-p", "8080:80", IMAGE, "sh", "-c", IDLE];
    let netns = Netns::create(&e).await?;
    with_daemon!(e, netns, &[], |d| {
        d.out(&e, &publish).await?;
        let all = rules(&d.netns).await?;
        let nat = all.split("*nat").nth(1).unwrap_or_default();
        ensure!(
            nat.lines().any(|l| l.contains("DNAT") && l.contains("8080")),
            "no DNAT rule for host port 8080:\n{all}"
        );
        // The forwarding rules for the bridge, in FORWARD itself (moby) or in a chain that
        // FORWARD jumps to (berth).
        let filter = all.split("*nat").next().unwrap_or_default();
        let from_forward: Vec<&str> =
            filter.lines().filter(|l| l.starts_with("-A FORWARD")).filter_map(|l| l.split(" -j ").nth(1)).collect();
        ensure!(
            filter.lines().any(|l| {
                let chain = l.strip_prefix("-A ").and_then(|r| r.split_whitespace().next()).unwrap_or_default();
                l.contains(&format!("-o {bridge}")) && (chain == "FORWARD" || from_forward.contains(&chain))
            }),
            "no forwarding rule for {bridge} in FORWARD or a chain it jumps to:\n{all}"
        );
        Ok(Outcome::Passed)
    })?;
    let netns = Netns::create(&e).await?;
    let before = rules(&netns).await?;
    with_daemon!(e, netns, &["--iptables=false"], |d| {
        d.out(&e, &publish).await?;
        let after = rules(&d.netns).await?;
        ensure!(after == before, "with --iptables=false the rules changed from\n{before}\nto\n{after}");
        Ok(Outcome::Passed)
    })
}

/// `--mtu 1400` sets eth0's MTU; without it eth0 takes the MTU of the default route's
/// interface (1450 here).
pub async fn daemon_mtu(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let netns = Netns::create(&e).await?;
    netns.uplink("1450", "10.99.0.1/24").await?;
    with_daemon!(e, netns, &["--mtu", "1400"], |d| {
        let (_, _, mtu) = seen_inside(&e, &d, &[]).await?;
        ensure!(mtu == "1400", "with --mtu 1400 eth0's MTU is {mtu}");
        Ok(Outcome::Passed)
    })?;
    let netns = Netns::create(&e).await?;
    netns.uplink("1450", "10.99.0.1/24").await?;
    with_daemon!(e, netns, &[], |d| {
        let (_, _, mtu) = seen_inside(&e, &d, &[]).await?;
        if mtu == "1500" {
            return Ok(skip(
                SkipKind::Divergence,
                "without --mtu the engine gives eth0 1500, not the default route's MTU (1450 here) as the \
                 2014 text says; later Docker always defaults to 1500",
            ));
        }
        ensure!(mtu == "1450", "without --mtu eth0's MTU is {mtu}, not the default route's 1450");
        Ok(Outcome::Passed)
    })
}

/// Go templates over the port map: `range $p, $conf := .NetworkSettings.Ports` visits each
/// published port with its bindings, and `index` digs one host port out of it.
pub async fn inspect_port_templates(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let netns = Netns::create(&e).await?;
    with_daemon!(e, netns, &[], |d| {
        let name = e.unique("templates");
        d.out(&e, &["run", "-d", "--name", &name, "-p", "8787", "-p", "9000", IMAGE, "sh", "-c", IDLE]).await?;
        let value: Value = serde_json::from_str(&d.out(&e, &["inspect", &name]).await?)?;
        let ports = &value[0]["NetworkSettings"]["Ports"];
        let host = |port: &str| ports[port][0]["HostPort"].as_str().map(String::from).context(format!("no {port}"));
        let range = "{{range $p, $conf := .NetworkSettings.Ports}}{{$p}} -> {{(index $conf 0).HostPort}}\n{{end}}";
        let out = d.out(&e, &["inspect", "--format", range, &name]).await?;
        for port in ["8787/tcp", "9000/tcp"] {
            let line = format!("{port} -> {}", host(port)?);
            ensure!(out.lines().any(|l| l.trim() == line), "range printed {out:?}, without {line:?}");
        }
        let index = r#"{{(index (index .NetworkSettings.Ports "8787/tcp") 0).HostPort}}"#;
        let out = d.out(&e, &["inspect", "--format", index, &name]).await?;
        ensure!(out.trim() == host("8787/tcp")?, "index printed {out:?}; the port map says {ports}");
        Ok(Outcome::Passed)
    })
}
