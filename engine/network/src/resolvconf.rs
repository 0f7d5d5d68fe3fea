//! Reading `nameserver` lines from a resolv.conf: the name servers the default bridge must
//! not overlap and the upstreams the embedded DNS forwards to.

use std::net::IpAddr;

/// The name servers listed in resolv.conf content, in order; malformed lines are skipped.
pub fn nameservers(content: &str) -> Vec<IpAddr> {
    content
        .lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            (words.next() == Some("nameserver")).then(|| words.next()).flatten()
        })
        .filter_map(|addr| addr.split('%').next().and_then(|a| a.parse().ok()))
        .collect()
}

/// The host's name servers from /etc/resolv.conf (none if it cannot be read).
pub fn host_nameservers() -> Vec<IpAddr> {
    std::fs::read_to_string("/etc/resolv.conf").map(|c| nameservers(&c)).unwrap_or_default()
}

/// The name servers a forwarder outside loopback can use: loopback ones (systemd-resolved's
/// 127.0.0.53, a local dnsmasq) are dropped, as Docker does for containers.
pub fn non_loopback(servers: &[IpAddr]) -> Vec<IpAddr> {
    servers.iter().copied().filter(|ip| !ip.is_loopback()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_nameserver_lines() {
        let conf = "# comment\nsearch example.com\nnameserver 10.0.0.2\nnameserver  127.0.0.53\nnameserver fe80::1%eth0\nnameserver bogus\n";
        let got = nameservers(conf);
        assert_eq!(got.len(), 3);
        assert_eq!(non_loopback(&got), vec!["10.0.0.2".parse::<IpAddr>().unwrap(), "fe80::1".parse().unwrap()]);
    }
}
