//! The files a container gets from the daemon: /etc/hostname, /etc/hosts and
//! /etc/resolv.conf (the host's, without loopback name servers, or `--dns`).

use std::net::IpAddr;

pub fn hostname(hostname: &str) -> String {
    format!("{hostname}\n")
}

/// /etc/hosts: localhost entries, the container's own address when it has one, then links.
pub fn hosts(hostname: &str, domainname: &str, address: Option<IpAddr>, extra: &[(String, IpAddr)]) -> String {
    let mut out = String::from(
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n",
    );
    for (name, ip) in extra {
        out.push_str(&format!("{ip}\t{name}\n"));
    }
    if let Some(ip) = address {
        let full =
            if domainname.is_empty() { hostname.to_string() } else { format!("{hostname}.{domainname} {hostname}") };
        out.push_str(&format!("{ip}\t{full}\n"));
    }
    out
}

/// Docker's fallback when the host only has loopback name servers.
const FALLBACK_DNS: &[&str] = &["8.8.8.8", "8.8.4.4"];

/// The container's resolv.conf: `dns` if given, else the host's without loopback servers
/// (which would point into the container itself), falling back to public servers.
pub fn resolv_conf(host: &str, dns: &[String], search: &[String], options: &[String], keep_loopback: bool) -> String {
    let mut lines: Vec<String> = Vec::new();
    let mut servers = 0;
    for line in host.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["nameserver", ip, ..] if !dns.is_empty() || (!keep_loopback && is_loopback(ip)) => {}
            ["nameserver", ..] => {
                servers += 1;
                lines.push(line.to_string());
            }
            ["search" | "domain", ..] if !search.is_empty() => {}
            ["options", ..] if !options.is_empty() => {}
            _ => lines.push(line.to_string()),
        }
    }
    let given: Vec<String> = if !dns.is_empty() {
        dns.to_vec()
    } else if servers == 0 {
        FALLBACK_DNS.iter().map(|s| s.to_string()).collect()
    } else {
        Vec::new()
    };
    lines.extend(given.iter().map(|ip| format!("nameserver {ip}")));
    if !search.is_empty() {
        lines.push(format!("search {}", search.join(" ")));
    }
    if !options.is_empty() {
        lines.push(format!("options {}", options.join(" ")));
    }
    let mut out = lines.join("\n");
    out.push('\n');
    out
}

fn is_loopback(ip: &str) -> bool {
    ip.parse::<IpAddr>().is_ok_and(|a| a.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_servers_are_dropped_and_fallbacks_used() {
        let host = "# comment\nnameserver 127.0.0.53\nsearch lan\n";
        let out = resolv_conf(host, &[], &[], &[], false);
        assert_eq!(out, "# comment\nsearch lan\nnameserver 8.8.8.8\nnameserver 8.8.4.4\n");
        let out = resolv_conf("nameserver 10.0.0.2\nnameserver ::1\n", &[], &[], &[], false);
        assert_eq!(out, "nameserver 10.0.0.2\n");
    }

    #[test]
    fn dns_flags_replace_the_servers_in_order() {
        let out = resolv_conf(
            "nameserver 10.0.0.2\nsearch lan\n",
            &["8.8.8.8".into(), "1.1.1.1".into()],
            &["example.com".into()],
            &[],
            false,
        );
        assert_eq!(out, "nameserver 8.8.8.8\nnameserver 1.1.1.1\nsearch example.com\n");
    }

    #[test]
    fn hosts_has_localhost_and_own_address() {
        let out = hosts("web", "", Some("172.17.0.2".parse().unwrap()), &[]);
        assert!(out.starts_with("127.0.0.1\tlocalhost\n"));
        assert!(out.ends_with("172.17.0.2\tweb\n"));
    }
}
