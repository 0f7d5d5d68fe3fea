//! The rules berth installs, as pure functions of its chains' names and what it connects:
//! one place to read the whole packet path.
//!
//! Chains (prefix `P`, `BERTH` by default):
//! - filter `P-FORWARD`, jumped to from the top of `FORWARD`: isolation first, then per
//!   bridge: `-o br -j P` (published ports and links), replies, outbound, and container to
//!   container on the same bridge (ACCEPT, or DROP with `--icc=false`);
//! - filter `P-ISOLATION-1`/`P-ISOLATION-2`: traffic from one berth bridge to another is
//!   dropped (moby's two-stage scheme, linear in the number of networks); internal networks
//!   drop everything that leaves or enters their subnet;
//! - filter `P`: ACCEPT for published ports and for links;
//! - nat `P`, jumped to from `PREROUTING` and `OUTPUT` for local destinations (not
//!   127.0.0.0/8, which the userland proxy serves): DNAT for published ports;
//! - nat `P-POSTROUTING`, jumped to from `POSTROUTING`: MASQUERADE for non-internal subnets.

use std::net::Ipv4Addr;

use super::{Rule, Table};
use crate::ipnet::Ipv4Net;
use crate::ports::Proto;

/// The names of berth's chains for one chain prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chains {
    prefix: String,
}

impl Chains {
    pub fn new(prefix: &str) -> Self {
        Self { prefix: prefix.to_string() }
    }

    /// filter: ACCEPT rules for published ports and links; nat: DNAT rules.
    pub fn main(&self) -> String {
        self.prefix.clone()
    }

    pub fn forward(&self) -> String {
        format!("{}-FORWARD", self.prefix)
    }

    pub fn isolation1(&self) -> String {
        format!("{}-ISOLATION-1", self.prefix)
    }

    pub fn isolation2(&self) -> String {
        format!("{}-ISOLATION-2", self.prefix)
    }

    pub fn postrouting(&self) -> String {
        format!("{}-POSTROUTING", self.prefix)
    }

    /// Every chain berth owns, in an order they can be created in.
    pub fn all(&self) -> Vec<(Table, String)> {
        vec![
            (Table::Filter, self.main()),
            (Table::Filter, self.isolation2()),
            (Table::Filter, self.isolation1()),
            (Table::Filter, self.forward()),
            (Table::Nat, self.main()),
            (Table::Nat, self.postrouting()),
        ]
    }

    /// The jumps from the standard chains into berth's, each inserted at the top.
    pub fn jumps(&self) -> Vec<Rule> {
        vec![
            Rule::new(Table::Filter, "FORWARD", &format!("-j {}", self.forward())),
            Rule::new(Table::Nat, "PREROUTING", &format!("-m addrtype --dst-type LOCAL -j {}", self.main())),
            Rule::new(
                Table::Nat,
                "OUTPUT",
                &format!("! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j {}", self.main()),
            ),
            Rule::new(Table::Nat, "POSTROUTING", &format!("-j {}", self.postrouting())),
        ]
    }

    /// The rules that do not depend on any network.
    pub fn base(&self) -> Vec<Rule> {
        vec![Rule::new(Table::Filter, &self.forward(), &format!("-j {}", self.isolation1()))]
    }
}

/// What the rules of one bridge network depend on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeNetwork<'a> {
    pub bridge: &'a str,
    pub subnet: Ipv4Net,
    pub internal: bool,
    pub icc: bool,
}

/// The rules of one bridge network, appended in this order.
pub fn network_rules(chains: &Chains, net: &BridgeNetwork<'_>) -> Vec<Rule> {
    let (br, subnet) = (net.bridge, net.subnet.trunc());
    let fwd = chains.forward();
    let mut rules = Vec::new();
    if net.internal {
        rules.push(Rule::new(Table::Filter, &chains.isolation1(), &format!("-i {br} ! -d {subnet} -j DROP")));
        rules.push(Rule::new(Table::Filter, &chains.isolation1(), &format!("-o {br} ! -s {subnet} -j DROP")));
    } else {
        let stage2 = chains.isolation2();
        rules.push(Rule::new(Table::Filter, &chains.isolation1(), &format!("-i {br} ! -o {br} -j {stage2}")));
        rules.push(Rule::new(Table::Filter, &stage2, &format!("-o {br} -j DROP")));
    }
    rules.push(Rule::new(Table::Filter, &fwd, &format!("-o {br} -j {}", chains.main())));
    if !net.internal {
        rules.push(Rule::new(
            Table::Filter,
            &fwd,
            &format!("-o {br} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"),
        ));
        rules.push(Rule::new(Table::Filter, &fwd, &format!("-i {br} ! -o {br} -j ACCEPT")));
    }
    let verdict = if net.icc { "ACCEPT" } else { "DROP" };
    rules.push(Rule::new(Table::Filter, &fwd, &format!("-i {br} -o {br} -j {verdict}")));
    if !net.internal {
        rules.push(Rule::new(Table::Nat, &chains.postrouting(), &format!("-s {subnet} ! -o {br} -j MASQUERADE")));
    }
    rules
}

/// One published port as the packet filter sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Forward<'a> {
    pub bridge: &'a str,
    pub proto: Proto,
    pub host_ip: Ipv4Addr,
    pub host_port: u16,
    pub container_ip: Ipv4Addr,
    pub container_port: u16,
}

/// DNAT from the host port to the container, and the ACCEPT that lets it through FORWARD.
pub fn port_rules(chains: &Chains, fwd: &Forward<'_>) -> Vec<Rule> {
    let (br, proto) = (fwd.bridge, fwd.proto.as_str());
    let dst = if fwd.host_ip.is_unspecified() { String::new() } else { format!("-d {}/32 ", fwd.host_ip) };
    vec![
        Rule::new(
            Table::Nat,
            &chains.main(),
            &format!(
                "{dst}! -i {br} -p {proto} -m {proto} --dport {} -j DNAT --to-destination {}:{}",
                fwd.host_port, fwd.container_ip, fwd.container_port
            ),
        ),
        Rule::new(
            Table::Filter,
            &chains.main(),
            &format!(
                "-d {}/32 ! -i {br} -o {br} -p {proto} -m {proto} --dport {} -j ACCEPT",
                fwd.container_ip, fwd.container_port
            ),
        ),
    ]
}

/// What a link opens under `--icc=false`: the linking container may reach one exposed port
/// of the linked one, and the replies come back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkPort<'a> {
    pub bridge: &'a str,
    pub from: Ipv4Addr,
    pub to: Ipv4Addr,
    pub proto: Proto,
    pub port: u16,
}

pub fn link_rules(chains: &Chains, link: &LinkPort<'_>) -> Vec<Rule> {
    let (br, proto, port) = (link.bridge, link.proto.as_str(), link.port);
    vec![
        Rule::new(
            Table::Filter,
            &chains.main(),
            &format!(
                "-s {}/32 -d {}/32 -i {br} -o {br} -p {proto} -m {proto} --dport {port} -j ACCEPT",
                link.from, link.to
            ),
        ),
        Rule::new(
            Table::Filter,
            &chains.main(),
            &format!(
                "-s {}/32 -d {}/32 -i {br} -o {br} -p {proto} -m {proto} --sport {port} -j ACCEPT",
                link.to, link.from
            ),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(rules: &[Rule]) -> Vec<String> {
        rules.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn default_bridge_with_icc() {
        let chains = Chains::new("BERTH");
        let net =
            BridgeNetwork { bridge: "berth0", subnet: "172.17.42.1/16".parse().unwrap(), internal: false, icc: true };
        assert_eq!(
            lines(&network_rules(&chains, &net)),
            [
                "-t filter -A BERTH-ISOLATION-1 -i berth0 ! -o berth0 -j BERTH-ISOLATION-2",
                "-t filter -A BERTH-ISOLATION-2 -o berth0 -j DROP",
                "-t filter -A BERTH-FORWARD -o berth0 -j BERTH",
                "-t filter -A BERTH-FORWARD -o berth0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
                "-t filter -A BERTH-FORWARD -i berth0 ! -o berth0 -j ACCEPT",
                "-t filter -A BERTH-FORWARD -i berth0 -o berth0 -j ACCEPT",
                "-t nat -A BERTH-POSTROUTING -s 172.17.0.0/16 ! -o berth0 -j MASQUERADE",
            ]
        );
    }

    #[test]
    fn internal_network_without_icc_has_no_way_out() {
        let chains = Chains::new("BT1");
        let net =
            BridgeNetwork { bridge: "br-0123", subnet: "10.9.0.0/24".parse().unwrap(), internal: true, icc: false };
        assert_eq!(
            lines(&network_rules(&chains, &net)),
            [
                "-t filter -A BT1-ISOLATION-1 -i br-0123 ! -d 10.9.0.0/24 -j DROP",
                "-t filter -A BT1-ISOLATION-1 -o br-0123 ! -s 10.9.0.0/24 -j DROP",
                "-t filter -A BT1-FORWARD -o br-0123 -j BT1",
                "-t filter -A BT1-FORWARD -i br-0123 -o br-0123 -j DROP",
            ]
        );
    }

    #[test]
    fn published_port_and_link() {
        let chains = Chains::new("BERTH");
        let fwd = Forward {
            bridge: "berth0",
            proto: Proto::Udp,
            host_ip: Ipv4Addr::LOCALHOST,
            host_port: 53,
            container_ip: Ipv4Addr::new(172, 17, 0, 2),
            container_port: 5353,
        };
        assert_eq!(
            lines(&port_rules(&chains, &fwd)),
            [
                "-t nat -A BERTH -d 127.0.0.1/32 ! -i berth0 -p udp -m udp --dport 53 -j DNAT --to-destination 172.17.0.2:5353",
                "-t filter -A BERTH -d 172.17.0.2/32 ! -i berth0 -o berth0 -p udp -m udp --dport 5353 -j ACCEPT",
            ]
        );
        let link = LinkPort {
            bridge: "berth0",
            from: Ipv4Addr::new(172, 17, 0, 3),
            to: Ipv4Addr::new(172, 17, 0, 2),
            proto: Proto::Tcp,
            port: 6379,
        };
        assert_eq!(
            lines(&link_rules(&chains, &link)),
            [
                "-t filter -A BERTH -s 172.17.0.3/32 -d 172.17.0.2/32 -i berth0 -o berth0 -p tcp -m tcp --dport 6379 -j ACCEPT",
                "-t filter -A BERTH -s 172.17.0.2/32 -d 172.17.0.3/32 -i berth0 -o berth0 -p tcp -m tcp --sport 6379 -j ACCEPT",
            ]
        );
    }

    #[test]
    fn jumps_spare_loopback_for_the_proxy() {
        let jumps = lines(&Chains::new("BERTH").jumps());
        assert!(jumps.contains(&"-t nat -A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j BERTH".to_string()));
        assert!(jumps.contains(&"-t filter -A FORWARD -j BERTH-FORWARD".to_string()));
    }
}
