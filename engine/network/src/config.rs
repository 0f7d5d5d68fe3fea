//! The daemon's networking flags (`-b`, `--bip`, `--mtu`, `--iptables`, `--icc`, `--ip`) and
//! the knobs tests need (bridge and chain names, port range, DNS port, state directory).

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use crate::ipnet::Ipv4Net;

/// Why the networking flags cannot be used together.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("--bip and -b are incompatible: -b {0} uses the bridge's own address, so --bip cannot apply")]
    BipWithBridge(String),
    #[error("invalid bridge name {0:?}: it must be 1 to 15 characters without '/', ':' or whitespace")]
    BridgeName(String),
    #[error("invalid chain prefix {0:?}: it must be 1 to 16 letters, digits, '-' or '_'")]
    ChainPrefix(String),
    #[error("invalid dynamic port range {0}-{1}: the start must be at least 1 and not above the end")]
    PortRange(u16, u16),
}

/// What `-b` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BridgeMode {
    /// No `-b`: berth creates (or re-adopts) its own bridge with this name (`berth0`).
    Managed(String),
    /// `-b NAME`: attach containers to an existing bridge, used as it is.
    Existing(String),
    /// `-b none`: containers get only a loopback interface.
    Disabled,
}

impl BridgeMode {
    /// Reads the `-b` value; empty means berth's own bridge called `managed_name`.
    pub fn from_flag(value: &str, managed_name: &str) -> Self {
        match value {
            "" => BridgeMode::Managed(managed_name.to_string()),
            "none" => BridgeMode::Disabled,
            name => BridgeMode::Existing(name.to_string()),
        }
    }
}

/// Networking configuration from the daemon's flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `-b`.
    pub bridge: BridgeMode,
    /// `--bip`: the managed bridge's address, used exactly.
    pub bip: Option<Ipv4Net>,
    /// `--mtu`: the containers' MTU; `None` takes the default-route interface's (else 1500).
    pub mtu: Option<u32>,
    /// `--iptables`: whether berth adds any iptables rule (and turns on ip_forward).
    pub iptables: bool,
    /// `--icc`: whether containers on the default bridge may talk to each other freely.
    pub icc: bool,
    /// `--ip`: the host address ports are published on when `-p` names none.
    pub default_ip: Ipv4Addr,
    /// The first and last port of the dynamic range (49153-65535 as in 2014).
    pub port_range: (u16, u16),
    /// The prefix of berth's iptables chains (`BERTH`, `BERTH-FORWARD`, ...).
    pub chain_prefix: String,
    /// Where networks, endpoints and leases are persisted (`<graph>/network`).
    pub state_dir: PathBuf,
    /// Whether user networks get the embedded DNS server (names are tracked either way).
    pub embedded_dns: bool,
    /// The port the embedded DNS of user networks listens on (53; tests may change it).
    pub dns_port: u16,
    /// The name servers the embedded DNS forwards to; `None` takes the host's non-loopback
    /// ones from /etc/resolv.conf.
    pub dns_upstreams: Option<Vec<SocketAddr>>,
}

impl Config {
    /// The 2014 defaults with berth's names: bridge `berth0`, chains `BERTH*`.
    pub fn new(state_dir: impl Into<PathBuf>) -> Self {
        Self {
            bridge: BridgeMode::Managed("berth0".into()),
            bip: None,
            mtu: None,
            iptables: true,
            icc: true,
            default_ip: Ipv4Addr::UNSPECIFIED,
            port_range: (49153, 65535),
            chain_prefix: "BERTH".into(),
            state_dir: state_dir.into(),
            embedded_dns: true,
            dns_port: 53,
            dns_upstreams: None,
        }
    }

    /// Checks the combination of flags.
    pub fn validate(&self) -> Result<(), ConfigError> {
        match &self.bridge {
            BridgeMode::Existing(name) if self.bip.is_some() => return Err(ConfigError::BipWithBridge(name.clone())),
            BridgeMode::Existing(name) | BridgeMode::Managed(name) => validate_ifname(name)?,
            BridgeMode::Disabled => {}
        }
        let p = &self.chain_prefix;
        if p.is_empty() || p.len() > 16 || !p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
            return Err(ConfigError::ChainPrefix(p.clone()));
        }
        let (start, end) = self.port_range;
        if start == 0 || start > end {
            return Err(ConfigError::PortRange(start, end));
        }
        Ok(())
    }
}

/// Checks an interface name as the kernel would (at most 15 bytes, no '/', ':' or space).
pub fn validate_ifname(name: &str) -> Result<(), ConfigError> {
    let ok = !name.is_empty()
        && name.len() <= 15
        && name != "."
        && name != ".."
        && !name.bytes().any(|b| b == b'/' || b == b':' || b.is_ascii_whitespace());
    if ok {
        Ok(())
    } else {
        Err(ConfigError::BridgeName(name.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bridge_flag_forms() {
        assert_eq!(BridgeMode::from_flag("", "berth0"), BridgeMode::Managed("berth0".into()));
        assert_eq!(BridgeMode::from_flag("none", "berth0"), BridgeMode::Disabled);
        assert_eq!(BridgeMode::from_flag("bridge0", "berth0"), BridgeMode::Existing("bridge0".into()));
    }

    #[test]
    fn incompatible_flags() {
        let mut c = Config::new("/tmp/x");
        assert_eq!(c.validate(), Ok(()));
        c.bridge = BridgeMode::Existing("bridge0".into());
        c.bip = Some("10.0.0.1/24".parse().unwrap());
        assert!(matches!(c.validate(), Err(ConfigError::BipWithBridge(_))));
        c.bip = None;
        c.bridge = BridgeMode::Managed("a-very-long-bridge-name".into());
        assert!(matches!(c.validate(), Err(ConfigError::BridgeName(_))));
        c.bridge = BridgeMode::Disabled;
        c.port_range = (60000, 50000);
        assert!(matches!(c.validate(), Err(ConfigError::PortRange(..))));
    }
}
