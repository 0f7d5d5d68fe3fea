//! Published ports (`-p`, `-P`): the host socket is bound first (the proof the port is free
//! and the listener of the userland proxy), then DNAT and ACCEPT rules send outside traffic
//! straight to the container while the proxy serves the host's own loopback connections.
//! Dynamic ports are taken in turn from the configured range (49153 and up), wrapping.

use std::io::ErrorKind as IoKind;
use std::net::{Ipv4Addr, SocketAddrV4};

use super::{Controller, Inner, NetworkError};
use crate::firewall::rules::{port_rules, Forward};
use crate::firewall::Rule;
use crate::ports::{ExposedPort, PortBinding, PortMapping, Proto};
use crate::proxy::Proxy;
use crate::state::Endpoint;

/// A bound host socket, not yet serving.
enum Bound {
    Tcp(std::net::TcpListener),
    Udp(std::net::UdpSocket),
}

fn bind(proto: Proto, ip: Ipv4Addr, port: u16) -> std::io::Result<Bound> {
    let addr = SocketAddrV4::new(ip, port);
    Ok(match proto {
        Proto::Tcp => Bound::Tcp(std::net::TcpListener::bind(addr)?),
        Proto::Udp => Bound::Udp(std::net::UdpSocket::bind(addr)?),
    })
}

/// Whether a binding of `proto` `ip:port` clashes with one berth already holds.
fn taken(held: &[PortBinding], proto: Proto, ip: Ipv4Addr, port: u16) -> bool {
    held.iter().any(|b| {
        b.container.proto == proto
            && b.host_port == port
            && (b.host_ip == ip || b.host_ip.is_unspecified() || ip.is_unspecified())
    })
}

impl Controller {
    /// Publishes ports of a container on its first endpoint of a non-internal network and
    /// returns where each one ended up (host address and port).
    pub fn publish(&self, container: &str, mappings: &[PortMapping]) -> Result<Vec<PortBinding>, NetworkError> {
        let mut inner = self.lock();
        let ep = inner
            .endpoints_of(container)
            .filter(|e| inner.state.networks.get(&e.network_id).is_some_and(|n| !n.internal))
            .min_by(|a, b| a.interface.cmp(&b.interface))
            .cloned()
            .ok_or_else(|| NetworkError::NothingToPublishOn(container.to_string()))?;
        let mut done: Vec<(PortBinding, Proxy)> = Vec::new();
        for mapping in mappings {
            match self.publish_one(&mut inner, &ep, mapping, &done) {
                Ok(pair) => done.push(pair),
                Err(e) => {
                    for (binding, proxy) in done {
                        self.unapply(&self.forward_rules(&inner, &ep, &binding));
                        proxy.stop();
                    }
                    return Err(e);
                }
            }
        }
        let bindings: Vec<PortBinding> = done.iter().map(|(b, _)| *b).collect();
        inner.proxies.entry(ep.id.clone()).or_default().extend(done.into_iter().map(|(_, p)| p));
        if let Some(record) = inner.state.endpoints.get_mut(&ep.id) {
            record.ports.extend(bindings.iter().copied());
        }
        self.save(&inner)?;
        Ok(bindings)
    }

    /// `-P`: publishes every exposed port on a dynamic port of the default address.
    pub fn publish_all(&self, container: &str, exposed: &[ExposedPort]) -> Result<Vec<PortBinding>, NetworkError> {
        let mappings: Vec<PortMapping> = exposed.iter().map(|p| PortMapping::dynamic(*p)).collect();
        self.publish(container, &mappings)
    }

    fn publish_one(
        &self,
        inner: &mut Inner,
        ep: &Endpoint,
        mapping: &PortMapping,
        done: &[(PortBinding, Proxy)],
    ) -> Result<(PortBinding, Proxy), NetworkError> {
        let proto = mapping.container.proto;
        let ip = mapping.host_ip.unwrap_or(self.config.default_ip);
        let mut held: Vec<PortBinding> = inner.state.endpoints.values().flat_map(|e| e.ports.iter().copied()).collect();
        held.extend(done.iter().map(|(b, _)| *b));
        let (port, socket) = match mapping.host_port {
            Some(port) => {
                if taken(&held, proto, ip, port) {
                    return Err(NetworkError::PortAllocated { ip, port, proto });
                }
                (port, bind_fixed(proto, ip, port)?)
            }
            None => self.bind_dynamic(inner, &held, proto, ip)?,
        };
        let binding = PortBinding { container: mapping.container, host_ip: ip, host_port: port };
        let proxy = self.start_proxy(ep, mapping.container.port, socket)?;
        if let Err(e) = self.apply(&self.forward_rules(inner, ep, &binding)) {
            proxy.stop();
            return Err(e);
        }
        Ok((binding, proxy))
    }

    fn bind_dynamic(
        &self,
        inner: &mut Inner,
        held: &[PortBinding],
        proto: Proto,
        ip: Ipv4Addr,
    ) -> Result<(u16, Bound), NetworkError> {
        let (start, end) = self.config.port_range;
        let mut cursor = inner.next_dynamic.unwrap_or(start).clamp(start, end);
        for _ in 0..=(end - start) {
            let port = cursor;
            cursor = if cursor == end { start } else { cursor + 1 };
            if taken(held, proto, ip, port) {
                continue;
            }
            match bind(proto, ip, port) {
                Ok(socket) => {
                    inner.next_dynamic = Some(cursor);
                    return Ok((port, socket));
                }
                Err(e) if e.kind() == IoKind::AddrInUse => continue,
                Err(source) => return Err(NetworkError::Bind { ip, port, proto, source }),
            }
        }
        Err(NetworkError::NoFreePort { ip, proto, start, end })
    }

    fn start_proxy(&self, ep: &Endpoint, container_port: u16, socket: Bound) -> Result<Proxy, NetworkError> {
        let backend = SocketAddrV4::new(ep.ip, container_port);
        Ok(match socket {
            Bound::Tcp(listener) => Proxy::tcp(&self.handle, listener, backend)?,
            Bound::Udp(socket) => Proxy::udp(&self.handle, socket, backend)?,
        })
    }

    fn forward_rules(&self, inner: &Inner, ep: &Endpoint, binding: &PortBinding) -> Vec<Rule> {
        let Some(net) = inner.state.networks.get(&ep.network_id) else { return Vec::new() };
        let fwd = Forward {
            bridge: &net.bridge,
            proto: binding.container.proto,
            host_ip: binding.host_ip,
            host_port: binding.host_port,
            container_ip: ep.ip,
            container_port: binding.container.port,
        };
        port_rules(&self.chains, &fwd)
    }

    /// Stops publishing every port of a container.
    pub fn unpublish(&self, container: &str) -> Result<(), NetworkError> {
        let mut inner = self.lock();
        let eps: Vec<Endpoint> = inner.endpoints_of(container).cloned().collect();
        for ep in &eps {
            self.unpublish_endpoint(&mut inner, ep);
        }
        self.save(&inner)
    }

    pub(super) fn unpublish_endpoint(&self, inner: &mut Inner, ep: &Endpoint) {
        for binding in &ep.ports {
            self.unapply(&self.forward_rules(inner, ep, binding));
        }
        for proxy in inner.proxies.remove(&ep.id).unwrap_or_default() {
            proxy.stop();
        }
        if let Some(record) = inner.state.endpoints.get_mut(&ep.id) {
            record.ports.clear();
        }
    }

    /// Publishes a re-adopted endpoint's ports again on the same host ports.
    pub(super) fn republish(&self, inner: &mut Inner, ep: &Endpoint) {
        let mut kept = Vec::new();
        for binding in &ep.ports {
            let proto = binding.container.proto;
            let started = bind_fixed(proto, binding.host_ip, binding.host_port)
                .and_then(|socket| self.start_proxy(ep, binding.container.port, socket))
                .and_then(|proxy| self.apply(&self.forward_rules(inner, ep, binding)).map(|()| proxy));
            match started {
                Ok(proxy) => {
                    inner.proxies.entry(ep.id.clone()).or_default().push(proxy);
                    kept.push(*binding);
                }
                Err(e) => tracing::warn!(error = %e, container = %ep.container_id, "couldn't publish a port again"),
            }
        }
        if let Some(record) = inner.state.endpoints.get_mut(&ep.id) {
            record.ports = kept;
        }
    }
}

/// Binds a port the caller chose. berth's own publishes were ruled out before (as "port is
/// already allocated"); a clash here is another program's socket, reported as the kernel's
/// "address already in use".
fn bind_fixed(proto: Proto, ip: Ipv4Addr, port: u16) -> Result<Bound, NetworkError> {
    bind(proto, ip, port).map_err(|source| NetworkError::Bind { ip, port, proto, source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clashes_follow_the_kernel_rules() {
        let held = [PortBinding { container: ExposedPort::tcp(80), host_ip: Ipv4Addr::LOCALHOST, host_port: 8080 }];
        assert!(taken(&held, Proto::Tcp, Ipv4Addr::LOCALHOST, 8080));
        assert!(taken(&held, Proto::Tcp, Ipv4Addr::UNSPECIFIED, 8080));
        assert!(!taken(&held, Proto::Udp, Ipv4Addr::LOCALHOST, 8080));
        assert!(!taken(&held, Proto::Tcp, Ipv4Addr::new(10, 0, 0, 1), 8080));
        assert!(!taken(&held, Proto::Tcp, Ipv4Addr::LOCALHOST, 8081));
    }
}
