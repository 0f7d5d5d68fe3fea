//! IPv4 addresses with a prefix length (`172.17.42.1/16`): the one address type the bridge,
//! IPAM, subnet choice and iptables rules share. The host part is kept, so a `--bip` value
//! round-trips exactly.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why a CIDR string could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CidrError {
    #[error("invalid CIDR address {0:?}: expected an IPv4 address and a prefix length such as 172.17.42.1/16")]
    Format(String),
    #[error("invalid prefix length in {0:?}: it must be between 0 and 32")]
    Prefix(String),
}

/// An IPv4 address with a prefix length; the address may have host bits set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ipv4Net {
    addr: Ipv4Addr,
    prefix: u8,
}

impl Ipv4Net {
    /// Builds a network from an address and a prefix length (at most 32).
    pub fn new(addr: Ipv4Addr, prefix: u8) -> Result<Self, CidrError> {
        if prefix > 32 {
            return Err(CidrError::Prefix(format!("{addr}/{prefix}")));
        }
        Ok(Self { addr, prefix })
    }

    /// The address as given, host bits included.
    pub fn addr(&self) -> Ipv4Addr {
        self.addr
    }

    /// The prefix length.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// The netmask, e.g. 255.255.0.0 for /16.
    pub fn netmask(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.mask())
    }

    fn mask(&self) -> u32 {
        if self.prefix == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(self.prefix))
        }
    }

    /// The network address (host bits cleared).
    pub fn network(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) & self.mask())
    }

    /// The same network with host bits cleared, e.g. 172.17.0.0/16 for 172.17.42.1/16.
    pub fn trunc(&self) -> Ipv4Net {
        Ipv4Net { addr: self.network(), prefix: self.prefix }
    }

    /// The broadcast address (all host bits set).
    pub fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) | !self.mask())
    }

    /// Whether `ip` lies inside this network.
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & self.mask() == u32::from(self.addr) & self.mask()
    }

    /// Whether the two networks share at least one address.
    pub fn overlaps(&self, other: &Ipv4Net) -> bool {
        self.contains(other.network()) || other.contains(self.network())
    }

    /// The first usable host address (network + 1).
    pub fn first_host(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.network()).wrapping_add(1))
    }

    /// The number of addresses containers may get: all but network and broadcast.
    pub fn host_count(&self) -> u64 {
        match self.prefix {
            32 => 1,
            31 => 2,
            p => (1u64 << (32 - u32::from(p))) - 2,
        }
    }
}

impl FromStr for Ipv4Net {
    type Err = CidrError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (addr, prefix) = s.split_once('/').ok_or_else(|| CidrError::Format(s.to_string()))?;
        let addr: Ipv4Addr = addr.parse().map_err(|_| CidrError::Format(s.to_string()))?;
        if prefix.is_empty() || prefix.len() > 2 || !prefix.bytes().all(|b| b.is_ascii_digit()) {
            return Err(CidrError::Prefix(s.to_string()));
        }
        let prefix: u8 = prefix.parse().map_err(|_| CidrError::Prefix(s.to_string()))?;
        Ipv4Net::new(addr, prefix).map_err(|_| CidrError::Prefix(s.to_string()))
    }
}

impl fmt::Display for Ipv4Net {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl Serialize for Ipv4Net {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Ipv4Net {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn net(s: &str) -> Ipv4Net {
        s.parse().expect("valid cidr")
    }

    #[test]
    fn parses_and_keeps_host_bits() {
        let n = net("172.17.42.1/16");
        assert_eq!(n.addr(), Ipv4Addr::new(172, 17, 42, 1));
        assert_eq!(n.network(), Ipv4Addr::new(172, 17, 0, 0));
        assert_eq!(n.broadcast(), Ipv4Addr::new(172, 17, 255, 255));
        assert_eq!(n.netmask(), Ipv4Addr::new(255, 255, 0, 0));
        assert_eq!(n.to_string(), "172.17.42.1/16");
        assert_eq!(n.trunc().to_string(), "172.17.0.0/16");
        assert_eq!(n.host_count(), 65534);
    }

    #[rstest]
    #[case("172.17.0.0/16", "172.17.42.0/24", true)]
    #[case("172.17.0.0/16", "172.18.0.0/16", false)]
    #[case("10.0.0.0/8", "10.1.42.1/16", true)]
    #[case("0.0.0.0/0", "192.168.1.0/24", true)]
    #[case("192.168.42.0/24", "192.168.43.0/24", false)]
    fn overlap(#[case] a: &str, #[case] b: &str, #[case] want: bool) {
        assert_eq!(net(a).overlaps(&net(b)), want);
        assert_eq!(net(b).overlaps(&net(a)), want);
    }

    #[rstest]
    #[case("172.17.42.1")]
    #[case("172.17.42.1/33")]
    #[case("172.17.42/16")]
    #[case("x/16")]
    #[case("1.2.3.4/")]
    #[case("1.2.3.4/+8")]
    fn rejects(#[case] s: &str) {
        assert!(s.parse::<Ipv4Net>().is_err(), "{s}");
    }

    #[test]
    fn serde_round_trip() {
        let n = net("10.0.42.1/24");
        let json = serde_json::to_string(&n).expect("serialize");
        assert_eq!(json, "\"10.0.42.1/24\"");
        assert_eq!(serde_json::from_str::<Ipv4Net>(&json).expect("deserialize"), n);
    }
}
