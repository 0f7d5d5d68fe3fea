//! Port specifications as `run -p`, `--expose` and `EXPOSE` write them, and the bindings a
//! published port ends up with. Only IPv4 host addresses are accepted.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Why a port specification could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PortSpecError {
    #[error("invalid port {port:?} in {spec:?}: expected a number from 1 to 65535")]
    Port { spec: String, port: String },
    #[error("invalid protocol {proto:?} in {spec:?}: expected tcp or udp")]
    Proto { spec: String, proto: String },
    #[error("invalid host address {ip:?} in {spec:?}: expected an IPv4 address")]
    HostIp { spec: String, ip: String },
    #[error("invalid port mapping {0:?}: expected ip:hostPort:containerPort, ip::containerPort, hostPort:containerPort or containerPort, with an optional /udp")]
    Format(String),
}

/// A transport protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    Tcp,
    Udp,
}

impl Proto {
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }
}

impl fmt::Display for Proto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A container port with its protocol: `80`, `80/tcp`, `53/udp`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ExposedPort {
    pub port: u16,
    pub proto: Proto,
}

impl ExposedPort {
    pub fn tcp(port: u16) -> Self {
        Self { port, proto: Proto::Tcp }
    }

    pub fn udp(port: u16) -> Self {
        Self { port, proto: Proto::Udp }
    }
}

impl fmt::Display for ExposedPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.port, self.proto)
    }
}

fn split_proto(spec: &str) -> Result<(&str, Proto), PortSpecError> {
    match spec.rsplit_once('/') {
        None => Ok((spec, Proto::Tcp)),
        Some((rest, "tcp")) => Ok((rest, Proto::Tcp)),
        Some((rest, "udp")) => Ok((rest, Proto::Udp)),
        Some((_, other)) => Err(PortSpecError::Proto { spec: spec.into(), proto: other.into() }),
    }
}

fn parse_port(spec: &str, port: &str) -> Result<u16, PortSpecError> {
    let bad = || PortSpecError::Port { spec: spec.into(), port: port.into() };
    if port.is_empty() || port.len() > 5 || !port.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    port.parse::<u16>().ok().filter(|&p| p != 0).ok_or_else(bad)
}

impl FromStr for ExposedPort {
    type Err = PortSpecError;

    fn from_str(spec: &str) -> Result<Self, Self::Err> {
        let (port, proto) = split_proto(spec)?;
        Ok(Self { port: parse_port(spec, port)?, proto })
    }
}

/// One `-p` value: what to publish and where.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PortMapping {
    /// The host address; `None` means the daemon's `--ip` (0.0.0.0 by default).
    pub host_ip: Option<Ipv4Addr>,
    /// The host port; `None` means a dynamically allocated one.
    pub host_port: Option<u16>,
    pub container: ExposedPort,
}

impl PortMapping {
    /// Publishes `container` on a dynamic port of the default address (what `-P` does).
    pub fn dynamic(container: ExposedPort) -> Self {
        Self { host_ip: None, host_port: None, container }
    }
}

impl FromStr for PortMapping {
    type Err = PortSpecError;

    /// Reads `ip:hostPort:containerPort`, `ip::containerPort`, `hostPort:containerPort` or
    /// `containerPort`, each with an optional `/udp` or `/tcp`. A host port of 0 is dynamic.
    fn from_str(spec: &str) -> Result<Self, Self::Err> {
        let (rest, proto) = split_proto(spec)?;
        let parts: Vec<&str> = rest.split(':').collect();
        let (ip, host, container) = match parts.as_slice() {
            [c] => (None, None, *c),
            [h, c] => (None, Some(*h), *c),
            [ip, h, c] => (Some(*ip), Some(*h), *c),
            _ => return Err(PortSpecError::Format(spec.into())),
        };
        let host_ip = match ip {
            None | Some("") => None,
            Some(ip) => Some(ip.parse().map_err(|_| PortSpecError::HostIp { spec: spec.into(), ip: ip.into() })?),
        };
        let host_port = match host {
            None | Some("") | Some("0") => None,
            Some(h) => Some(parse_port(spec, h)?),
        };
        if ip.is_none() && host == Some("") {
            return Err(PortSpecError::Format(spec.into()));
        }
        let container = ExposedPort { port: parse_port(spec, container)?, proto };
        Ok(Self { host_ip, host_port, container })
    }
}

impl fmt::Display for PortMapping {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.host_ip, self.host_port) {
            (Some(ip), port) => write!(f, "{ip}:{}:", port.map(|p| p.to_string()).unwrap_or_default())?,
            (None, Some(port)) => write!(f, "{port}:")?,
            (None, None) => {}
        }
        write!(f, "{}", self.container)
    }
}

/// Where a published container port ended up on the host (what `docker port` prints).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PortBinding {
    pub container: ExposedPort,
    pub host_ip: Ipv4Addr,
    pub host_port: u16,
}

impl fmt::Display for PortBinding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.host_ip, self.host_port)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rstest::rstest;

    #[rstest]
    #[case("127.0.0.1:80:8080", Some([127, 0, 0, 1]), Some(80), 8080, Proto::Tcp)]
    #[case("127.0.0.1::8080", Some([127, 0, 0, 1]), None, 8080, Proto::Tcp)]
    #[case("80:8080", None, Some(80), 8080, Proto::Tcp)]
    #[case("8080", None, None, 8080, Proto::Tcp)]
    #[case("127.0.0.1:53:5353/udp", Some([127, 0, 0, 1]), Some(53), 5353, Proto::Udp)]
    #[case("127.0.0.1::5353/udp", Some([127, 0, 0, 1]), None, 5353, Proto::Udp)]
    #[case("53:5353/udp", None, Some(53), 5353, Proto::Udp)]
    #[case("5353/udp", None, None, 5353, Proto::Udp)]
    #[case("0:80/tcp", None, None, 80, Proto::Tcp)]
    #[case(":80:80", None, Some(80), 80, Proto::Tcp)]
    fn parses_every_documented_form(
        #[case] spec: &str,
        #[case] ip: Option<[u8; 4]>,
        #[case] host: Option<u16>,
        #[case] port: u16,
        #[case] proto: Proto,
    ) {
        let m: PortMapping = spec.parse().expect(spec);
        assert_eq!(m.host_ip, ip.map(Ipv4Addr::from));
        assert_eq!(m.host_port, host);
        assert_eq!(m.container, ExposedPort { port, proto });
    }

    #[rstest]
    #[case("")]
    #[case("0")]
    #[case("65536")]
    #[case("80/sctp")]
    #[case("a:b:c:d")]
    #[case("localhost:80:80")]
    #[case("::1:80:80")]
    #[case("80:")]
    #[case(":80")]
    #[case("-1")]
    #[case("+80")]
    fn rejects(#[case] spec: &str) {
        assert!(spec.parse::<PortMapping>().is_err(), "{spec} should be rejected");
    }

    #[test]
    fn error_names_the_value() {
        let err = "80/sctp".parse::<PortMapping>().unwrap_err();
        assert!(err.to_string().contains("\"sctp\""), "{err}");
    }

    #[test]
    fn exposed_port_forms() {
        assert_eq!("80".parse::<ExposedPort>().unwrap(), ExposedPort::tcp(80));
        assert_eq!("53/udp".parse::<ExposedPort>().unwrap(), ExposedPort::udp(53));
        assert_eq!(ExposedPort::udp(53).to_string(), "53/udp");
        assert!("0/tcp".parse::<ExposedPort>().is_err());
    }

    proptest! {
        #[test]
        fn display_round_trips(ip in proptest::option::of(any::<[u8; 4]>()), host in proptest::option::of(1u16..),
                               port in 1u16.., udp in any::<bool>()) {
            let m = PortMapping {
                host_ip: ip.map(Ipv4Addr::from),
                host_port: host,
                container: ExposedPort { port, proto: if udp { Proto::Udp } else { Proto::Tcp } },
            };
            prop_assert_eq!(m.to_string().parse::<PortMapping>().unwrap(), m);
        }

        #[test]
        fn never_panics(s in "\\PC{0,30}") {
            let _ = s.parse::<PortMapping>();
        }
    }
}
