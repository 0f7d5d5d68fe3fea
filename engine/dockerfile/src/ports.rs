//! The port specs `EXPOSE` accepts: `port[/proto]` or a range `start-end[/proto]`.

/// An `EXPOSE` argument that is not a port spec.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PortError {
    #[error("invalid port {0:?} in EXPOSE: expected <port>[/tcp|udp|sctp] or a range like 8000-8010")]
    Invalid(String),
    #[error("invalid protocol {proto:?} in EXPOSE {spec:?}: expected tcp, udp or sctp")]
    Protocol { spec: String, proto: String },
    #[error("invalid port range {0:?} in EXPOSE: the end is below the start")]
    Range(String),
}

/// Checks one port spec (after any variable substitution): `80`, `53/udp`, `8000-8010/tcp`.
/// Host mappings such as `80:8080`, which Docker 0.8 still took, are refused.
pub fn check_port(spec: &str) -> Result<(), PortError> {
    let (ports, proto) = spec.split_once('/').unwrap_or((spec, "tcp"));
    if !matches!(proto.to_ascii_lowercase().as_str(), "tcp" | "udp" | "sctp") {
        let (spec, proto) = (spec.to_string(), proto.to_string());
        return Err(PortError::Protocol { spec, proto });
    }
    let invalid = || PortError::Invalid(spec.to_string());
    let (start, end) = ports.split_once('-').unwrap_or((ports, ports));
    let (start, end) = (port_number(start).ok_or_else(invalid)?, port_number(end).ok_or_else(invalid)?);
    if end < start {
        return Err(PortError::Range(spec.to_string()));
    }
    Ok(())
}

/// Digits only: `u16::from_str` would also take a leading `+`.
fn port_number(text: &str) -> Option<u16> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("80")]
    #[case("80/tcp")]
    #[case("53/udp")]
    #[case("9/SCTP")]
    #[case("8000-8010")]
    #[case("8000-8010/udp")]
    #[case("65535")]
    fn accepts(#[case] spec: &str) {
        assert_eq!(check_port(spec), Ok(()));
    }

    #[rstest]
    #[case("http", "invalid port \"http\" in EXPOSE: expected <port>[/tcp|udp|sctp] or a range like 8000-8010")]
    #[case("65536", "invalid port \"65536\" in EXPOSE: expected <port>[/tcp|udp|sctp] or a range like 8000-8010")]
    #[case("80:8080", "invalid port \"80:8080\" in EXPOSE: expected <port>[/tcp|udp|sctp] or a range like 8000-8010")]
    #[case("+80", "invalid port \"+80\" in EXPOSE: expected <port>[/tcp|udp|sctp] or a range like 8000-8010")]
    #[case("80/icmp", "invalid protocol \"icmp\" in EXPOSE \"80/icmp\": expected tcp, udp or sctp")]
    #[case("80/tcp/udp", "invalid protocol \"tcp/udp\" in EXPOSE \"80/tcp/udp\": expected tcp, udp or sctp")]
    #[case("90-80", "invalid port range \"90-80\" in EXPOSE: the end is below the start")]
    fn rejects(#[case] spec: &str, #[case] message: &str) {
        assert_eq!(check_port(spec).expect_err("fails").to_string(), message);
    }
}
