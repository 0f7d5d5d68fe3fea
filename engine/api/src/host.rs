//! Daemon and client endpoints as `-H` and `DOCKER_HOST` spell them (5.1.4):
//! `unix://path`, `tcp://host:port`, `host:port`, `:port`, `fd://` and `fd://N`.

use std::fmt;
use std::path::{Path, PathBuf};

/// berth's default socket; it differs from Docker's so the two never collide on one host.
pub const DEFAULT_UNIX_SOCKET: &str = "/var/run/berth.sock";
/// The host a TCP address without one binds to or dials.
pub const DEFAULT_TCP_HOST: &str = "127.0.0.1";
/// The port a TCP address without one uses (the 2014 documentation's 4243).
pub const DEFAULT_TCP_PORT: u16 = 4243;

/// One endpoint the daemon listens on or the client connects to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    Unix(PathBuf),
    Tcp {
        host: String,
        port: u16,
    },
    /// Sockets handed over by systemd socket activation: all of them, or the one numbered.
    Fd(Option<i32>),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostError {
    #[error("invalid host {0:?}: unsupported scheme (use unix://, tcp:// or fd://)")]
    Scheme(String),
    #[error("invalid host {0:?}: bad port (expected 1-65535)")]
    Port(String),
    #[error("invalid host {0:?}: a tcp address has no path")]
    Path(String),
    #[error("invalid host {0:?}: fd:// takes a file descriptor number")]
    Fd(String),
}

impl Host {
    /// Parses one `-H` value; an empty value means `default_unix`.
    pub fn parse(text: &str, default_unix: &Path) -> Result<Host, HostError> {
        let text = text.trim();
        if text.is_empty() {
            return Ok(Host::Unix(default_unix.to_path_buf()));
        }
        if let Some(path) = text.strip_prefix("unix://") {
            let path = if path.is_empty() { default_unix } else { Path::new(path) };
            return Ok(Host::Unix(path.to_path_buf()));
        }
        if let Some(fd) = text.strip_prefix("fd://") {
            return Self::parse_fd(text, fd);
        }
        let addr = match text.strip_prefix("tcp://") {
            Some(addr) => addr,
            None if text.contains("://") => return Err(HostError::Scheme(text.to_string())),
            None => text,
        };
        Self::parse_tcp(text, addr)
    }

    fn parse_fd(text: &str, fd: &str) -> Result<Host, HostError> {
        if fd.is_empty() || fd == "*" {
            return Ok(Host::Fd(None));
        }
        fd.parse::<i32>()
            .ok()
            .filter(|n| *n >= 0)
            .map(|n| Host::Fd(Some(n)))
            .ok_or_else(|| HostError::Fd(text.to_string()))
    }

    fn parse_tcp(text: &str, addr: &str) -> Result<Host, HostError> {
        let addr = addr.strip_suffix('/').unwrap_or(addr);
        if addr.contains('/') {
            return Err(HostError::Path(text.to_string()));
        }
        let (host, port) = split_host_port(addr);
        let host = match host.trim_start_matches('[').trim_end_matches(']') {
            "" => DEFAULT_TCP_HOST.to_string(),
            h => h.to_string(),
        };
        let port = match port {
            None | Some("") => DEFAULT_TCP_PORT,
            Some(p) => p.parse::<u16>().ok().filter(|p| *p != 0).ok_or_else(|| HostError::Port(text.to_string()))?,
        };
        Ok(Host::Tcp { host, port })
    }
}

/// Splits `host:port`, `[v6]:port`, `host` and `:port`; a bare IPv6 address has no port.
fn split_host_port(addr: &str) -> (&str, Option<&str>) {
    if let Some(rest) = addr.strip_prefix('[') {
        return match rest.split_once(']') {
            Some((host, tail)) => (host, tail.strip_prefix(':')),
            None => (addr, None),
        };
    }
    match addr.matches(':').count() {
        0 => (addr, None),
        1 => {
            let (h, p) = addr.split_once(':').unwrap_or((addr, ""));
            (h, Some(p))
        }
        _ => (addr, None),
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Unix(path) => write!(f, "unix://{}", path.display()),
            Host::Tcp { host, port } if host.contains(':') => write!(f, "tcp://[{host}]:{port}"),
            Host::Tcp { host, port } => write!(f, "tcp://{host}:{port}"),
            Host::Fd(None) => write!(f, "fd://"),
            Host::Fd(Some(n)) => write!(f, "fd://{n}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rstest::rstest;

    fn parse(text: &str) -> Result<Host, HostError> {
        Host::parse(text, Path::new(DEFAULT_UNIX_SOCKET))
    }

    fn tcp(host: &str, port: u16) -> Host {
        Host::Tcp { host: host.into(), port }
    }

    #[rstest]
    #[case("", Host::Unix(DEFAULT_UNIX_SOCKET.into()))]
    #[case("  ", Host::Unix(DEFAULT_UNIX_SOCKET.into()))]
    #[case("unix://", Host::Unix(DEFAULT_UNIX_SOCKET.into()))]
    #[case("unix:///tmp/d.sock", Host::Unix("/tmp/d.sock".into()))]
    #[case("tcp://127.0.0.1:4243", tcp("127.0.0.1", 4243))]
    #[case("tcp://127.0.0.1", tcp("127.0.0.1", 4243))]
    #[case("tcp://", tcp("127.0.0.1", 4243))]
    #[case("tcp://:5555", tcp("127.0.0.1", 5555))]
    #[case("0.0.0.0:5555", tcp("0.0.0.0", 5555))]
    #[case(":5555", tcp("127.0.0.1", 5555))]
    #[case("localhost", tcp("localhost", 4243))]
    #[case("tcp://[::1]:2375", tcp("::1", 2375))]
    #[case("tcp://host:99/", tcp("host", 99))]
    #[case("fd://", Host::Fd(None))]
    #[case("fd://3", Host::Fd(Some(3)))]
    fn parses(#[case] text: &str, #[case] want: Host) {
        assert_eq!(parse(text).unwrap(), want);
    }

    #[rstest]
    #[case("http://x:1")]
    #[case("tcp://x:notaport")]
    #[case("tcp://x:0")]
    #[case("tcp://x:65536")]
    #[case("tcp://x:1/path")]
    #[case("fd://three")]
    #[case("fd://-1")]
    fn rejects(#[case] text: &str) {
        let err = parse(text).unwrap_err();
        assert!(err.to_string().contains(text), "{err} should name {text}");
    }

    #[test]
    fn displays_in_parseable_form() {
        assert_eq!(tcp("::1", 80).to_string(), "tcp://[::1]:80");
        assert_eq!(Host::Fd(Some(3)).to_string(), "fd://3");
    }

    proptest! {
        #[test]
        fn tcp_display_round_trips(a in 0u8..=255, b in 0u8..=255, port in 1u16..) {
            let host = tcp(&format!("10.{a}.{b}.1"), port);
            prop_assert_eq!(parse(&host.to_string()).unwrap(), host);
        }

        #[test]
        fn never_panics(text in ".{0,40}") {
            let _ = parse(&text);
        }
    }
}
