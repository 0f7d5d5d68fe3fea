//! The embedded DNS server of a user network. It listens on the network's gateway address
//! (UDP and TCP, port 53 unless configured) in the host namespace, so containers on the
//! network use `nameserver <gateway>` in their resolv.conf. Docker instead answers on
//! 127.0.0.11 inside each container; listening on the gateway needs no per-container
//! process or NAT rule and gives the same names.
//!
//! Answers:
//! - a name registered on the network (container name, aliases, compose service name;
//!   case-insensitive, trailing dot optional): its A records, TTL 600; other record types of
//!   such a name get an empty NOERROR answer;
//! - an unknown single-label name: NXDOMAIN (it can only mean a container of this network);
//! - any other name: forwarded to the upstream servers (the host's non-loopback name
//!   servers) on a network that is not internal, SERVFAIL if none answers; on an internal
//!   network it is not forwarded and gets NXDOMAIN rather than REFUSED, because glibc stops
//!   walking its search list on REFUSED, so `postgres` would fail to resolve on hosts with a
//!   `search` domain.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::runtime::Handle;
use tokio::sync::oneshot;
use tokio::task::JoinSet;

const TTL: u32 = 600;
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(3);
const TCP_IDLE: Duration = Duration::from_secs(10);
const STOP_WAIT: Duration = Duration::from_secs(2);

const TYPE_A: u16 = 1;
const TYPE_ANY: u16 = 255;
const CLASS_IN: u16 = 1;

/// Response codes berth answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rcode {
    NoError = 0,
    FormErr = 1,
    ServFail = 2,
    NxDomain = 3,
    NotImp = 4,
    Refused = 5,
}

/// Why the DNS server could not start.
#[derive(Debug, thiserror::Error)]
pub enum DnsError {
    #[error("couldn't listen for DNS queries on {addr} ({proto}): {source}")]
    Bind {
        addr: SocketAddrV4,
        proto: &'static str,
        #[source]
        source: std::io::Error,
    },
}

/// Names registered on one network, each with the addresses of the endpoints that hold it.
#[derive(Debug, Default)]
pub struct Names {
    entries: RwLock<BTreeMap<String, Vec<(String, Ipv4Addr)>>>,
}

fn normalize(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

impl Names {
    /// Registers `names` for the endpoint `owner` at `ip` (replacing what it had).
    pub fn register(&self, owner: &str, ip: Ipv4Addr, names: &[String]) {
        self.unregister(owner);
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        for name in names.iter().map(|n| normalize(n)).filter(|n| !n.is_empty()) {
            let holders = entries.entry(name).or_default();
            if !holders.iter().any(|(o, _)| o == owner) {
                holders.push((owner.to_string(), ip));
            }
        }
    }

    /// Removes every name of the endpoint `owner`.
    pub fn unregister(&self, owner: &str) {
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        entries.retain(|_, holders| {
            holders.retain(|(o, _)| o != owner);
            !holders.is_empty()
        });
    }

    /// The addresses `name` resolves to, `None` if it is not registered.
    pub fn lookup(&self, name: &str) -> Option<Vec<Ipv4Addr>> {
        let entries = self.entries.read().unwrap_or_else(|p| p.into_inner());
        entries.get(&normalize(name)).map(|h| h.iter().map(|(_, ip)| *ip).collect())
    }
}

/// The question of a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    pub name: String,
    pub qtype: u16,
    pub qclass: u16,
    /// Where the question ends in the message.
    end: usize,
}

/// Reads the header and the first question; `None` for anything malformed.
pub fn parse_query(msg: &[u8]) -> Option<Question> {
    if msg.len() < 12 || msg[2] & 0x80 != 0 || u16::from_be_bytes([msg[4], msg[5]]) != 1 {
        return None;
    }
    let mut at = 12;
    let mut labels = Vec::new();
    loop {
        let len = usize::from(*msg.get(at)?);
        at += 1;
        if len == 0 {
            break;
        }
        if len > 63 {
            return None; // compression pointers have no place in a question
        }
        labels.push(String::from_utf8_lossy(msg.get(at..at + len)?).into_owned());
        at += len;
    }
    let tail = msg.get(at..at + 4)?;
    Some(Question {
        name: labels.join("."),
        qtype: u16::from_be_bytes([tail[0], tail[1]]),
        qclass: u16::from_be_bytes([tail[2], tail[3]]),
        end: at + 4,
    })
}

/// Builds a response to `query` (whose question is `q`) with `rcode` and A records.
pub fn build_response(query: &[u8], q: &Question, rcode: Rcode, answers: &[Ipv4Addr]) -> Vec<u8> {
    let mut out = Vec::with_capacity(q.end + answers.len() * 16);
    out.extend_from_slice(&query[..2]);
    let opcode_rd = query[2] & 0x79;
    out.push(0x80 | 0x04 | opcode_rd); // QR, AA
    out.push(0x80 | rcode as u8); // RA
    out.extend_from_slice(&1u16.to_be_bytes());
    out.extend_from_slice(&(answers.len() as u16).to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(&query[12..q.end]);
    for ip in answers {
        out.extend_from_slice(&[0xc0, 0x0c]); // the name in the question
        out.extend_from_slice(&TYPE_A.to_be_bytes());
        out.extend_from_slice(&CLASS_IN.to_be_bytes());
        out.extend_from_slice(&TTL.to_be_bytes());
        out.extend_from_slice(&4u16.to_be_bytes());
        out.extend_from_slice(&ip.octets());
    }
    out
}

/// A minimal error answer for a query whose question could not be read.
fn formerr(query: &[u8]) -> Option<Vec<u8>> {
    let head = query.get(..12)?;
    let mut out = head.to_vec();
    out[2] = 0x80 | (head[2] & 0x79);
    out[3] = 0x80 | Rcode::FormErr as u8;
    out[4..12].fill(0);
    Some(out)
}

/// What to do with a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Answer(Rcode, Vec<Ipv4Addr>),
    Forward,
}

/// How the server of one network behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub internal: bool,
    pub upstreams: Vec<SocketAddr>,
}

/// Decides the answer to `q` from the registered names and the network's policy.
pub fn decide(names: &Names, policy: &Policy, q: &Question) -> Decision {
    if q.qclass != CLASS_IN && q.qclass != TYPE_ANY {
        return Decision::Answer(Rcode::Refused, Vec::new());
    }
    if let Some(ips) = names.lookup(&q.name) {
        let ips = if q.qtype == TYPE_A || q.qtype == TYPE_ANY { ips } else { Vec::new() };
        return Decision::Answer(Rcode::NoError, ips);
    }
    let single_label = !q.name.trim_end_matches('.').contains('.');
    if single_label || policy.internal {
        return Decision::Answer(Rcode::NxDomain, Vec::new());
    }
    if policy.upstreams.is_empty() {
        return Decision::Answer(Rcode::ServFail, Vec::new());
    }
    Decision::Forward
}

async fn forward(query: &[u8], upstreams: &[SocketAddr]) -> Option<Vec<u8>> {
    for upstream in upstreams {
        let bind = if upstream.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" };
        let Ok(sock) = UdpSocket::bind(bind).await else { continue };
        if sock.send_to(query, upstream).await.is_err() {
            continue;
        }
        let mut buf = vec![0u8; 65535];
        let deadline = tokio::time::Instant::now() + UPSTREAM_TIMEOUT;
        while let Ok(Ok((n, from))) = tokio::time::timeout_at(deadline, sock.recv_from(&mut buf)).await {
            if from == *upstream && n >= 2 && buf[..2] == query[..2] {
                return Some(buf[..n].to_vec());
            }
        }
    }
    None
}

/// The answer to one raw query, forwarding when the policy says so.
pub async fn answer(names: &Names, policy: &Policy, query: &[u8]) -> Option<Vec<u8>> {
    let Some(q) = parse_query(query) else {
        return formerr(query);
    };
    if (query[2] >> 3) & 0x0f != 0 {
        return Some(build_response(query, &q, Rcode::NotImp, &[]));
    }
    match decide(names, policy, &q) {
        Decision::Answer(rcode, ips) => Some(build_response(query, &q, rcode, &ips)),
        Decision::Forward => match forward(query, &policy.upstreams).await {
            Some(reply) => Some(reply),
            None => Some(build_response(query, &q, Rcode::ServFail, &[])),
        },
    }
}

/// A running DNS server for one network; dropping it stops it without waiting.
#[derive(Debug)]
pub struct DnsServer {
    addr: SocketAddrV4,
    stop: Option<oneshot::Sender<()>>,
    done: std::sync::mpsc::Receiver<()>,
}

impl DnsServer {
    /// Binds UDP and TCP on `addr` and serves `names` with `policy` on `handle`.
    pub fn start(handle: &Handle, addr: SocketAddrV4, names: Arc<Names>, policy: Policy) -> Result<Self, DnsError> {
        let udp = std::net::UdpSocket::bind(addr).map_err(|source| DnsError::Bind { addr, proto: "udp", source })?;
        let bound = match udp.local_addr() {
            Ok(SocketAddr::V4(a)) => a,
            _ => addr,
        };
        let tcp = std::net::TcpListener::bind(bound).map_err(|source| DnsError::Bind {
            addr: bound,
            proto: "tcp",
            source,
        })?;
        let (udp, tcp) = {
            let _entered = handle.enter();
            let udp = udp.set_nonblocking(true).and_then(|()| UdpSocket::from_std(udp));
            let udp = udp.map_err(|source| DnsError::Bind { addr, proto: "udp", source })?;
            let tcp = tcp.set_nonblocking(true).and_then(|()| TcpListener::from_std(tcp));
            (udp, tcp.map_err(|source| DnsError::Bind { addr, proto: "tcp", source })?)
        };
        let (stop_tx, stop_rx) = oneshot::channel();
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        let shared = Arc::new((names, policy));
        handle.spawn(async move {
            serve(udp, tcp, shared, stop_rx).await;
            let _ = done_tx.send(());
        });
        Ok(Self { addr: bound, stop: Some(stop_tx), done: done_rx })
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddrV4 {
        self.addr
    }

    /// Stops the server and waits (briefly) until its sockets are closed.
    pub fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = self.done.recv_timeout(STOP_WAIT);
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

type Shared = Arc<(Arc<Names>, Policy)>;

async fn serve(udp: UdpSocket, tcp: TcpListener, shared: Shared, mut stop: oneshot::Receiver<()>) {
    let udp = Arc::new(udp);
    let mut tasks = JoinSet::new();
    let mut buf = vec![0u8; 65535];
    loop {
        tokio::select! {
            _ = &mut stop => break,
            received = udp.recv_from(&mut buf) => {
                let Ok((n, client)) = received else { continue };
                let (query, udp, shared) = (buf[..n].to_vec(), udp.clone(), shared.clone());
                tasks.spawn(async move {
                    if let Some(reply) = answer(&shared.0, &shared.1, &query).await {
                        let _ = udp.send_to(&reply, client).await;
                    }
                });
            }
            accepted = tcp.accept() => {
                if let Ok((stream, _)) = accepted {
                    tasks.spawn(serve_tcp(stream, shared.clone()));
                }
            }
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
        }
    }
    tasks.shutdown().await;
}

async fn serve_tcp(mut stream: TcpStream, shared: Shared) {
    loop {
        let mut len = [0u8; 2];
        match tokio::time::timeout(TCP_IDLE, stream.read_exact(&mut len)).await {
            Ok(Ok(_)) => {}
            _ => return,
        }
        let mut query = vec![0u8; usize::from(u16::from_be_bytes(len))];
        if stream.read_exact(&mut query).await.is_err() {
            return;
        }
        let Some(reply) = answer(&shared.0, &shared.1, &query).await else { return };
        let mut framed = (reply.len() as u16).to_be_bytes().to_vec();
        framed.extend_from_slice(&reply);
        if stream.write_all(&framed).await.is_err() {
            return;
        }
    }
}

/// Builds a query for `name` and `qtype` (used by tests and health checks).
pub fn build_query(id: u16, name: &str, qtype: u16) -> Vec<u8> {
    let mut q = Vec::with_capacity(name.len() + 18);
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.trim_end_matches('.').split('.').filter(|l| !l.is_empty()) {
        q.push(label.len().min(63) as u8);
        q.extend_from_slice(&label.as_bytes()[..label.len().min(63)]);
    }
    q.push(0);
    q.extend_from_slice(&qtype.to_be_bytes());
    q.extend_from_slice(&CLASS_IN.to_be_bytes());
    q
}

/// Reads the response code and the A records of a response (used by tests).
pub fn parse_response(msg: &[u8]) -> Option<(Rcode, Vec<Ipv4Addr>)> {
    let rcode = match msg.get(3)? & 0x0f {
        0 => Rcode::NoError,
        1 => Rcode::FormErr,
        2 => Rcode::ServFail,
        3 => Rcode::NxDomain,
        4 => Rcode::NotImp,
        _ => Rcode::Refused,
    };
    let qdcount = u16::from_be_bytes([*msg.get(4)?, *msg.get(5)?]);
    let ancount = u16::from_be_bytes([*msg.get(6)?, *msg.get(7)?]);
    let mut at = 12;
    for _ in 0..qdcount {
        at = skip_name(msg, at)? + 4;
    }
    let mut ips = Vec::new();
    for _ in 0..ancount {
        at = skip_name(msg, at)?;
        let rr = msg.get(at..at + 10)?;
        let rtype = u16::from_be_bytes([rr[0], rr[1]]);
        let rdlen = usize::from(u16::from_be_bytes([rr[8], rr[9]]));
        let data = msg.get(at + 10..at + 10 + rdlen)?;
        if rtype == TYPE_A && rdlen == 4 {
            ips.push(Ipv4Addr::new(data[0], data[1], data[2], data[3]));
        }
        at += 10 + rdlen;
    }
    Some((rcode, ips))
}

fn skip_name(msg: &[u8], mut at: usize) -> Option<usize> {
    loop {
        let len = *msg.get(at)?;
        if len & 0xc0 == 0xc0 {
            return Some(at + 2);
        }
        at += 1 + usize::from(len);
        if len == 0 {
            return Some(at);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Names {
        let n = Names::default();
        n.register("ep1", Ipv4Addr::new(10, 9, 0, 2), &["postgres".into(), "idp-postgres-1".into()]);
        n.register("ep2", Ipv4Addr::new(10, 9, 0, 3), &["Pocket-ID".into()]);
        n
    }

    fn ask(names: &Names, policy: &Policy, name: &str, qtype: u16) -> (Rcode, Vec<Ipv4Addr>) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let reply = rt.block_on(answer(names, policy, &build_query(7, name, qtype))).unwrap();
        assert_eq!(&reply[..2], &7u16.to_be_bytes());
        parse_response(&reply).unwrap()
    }

    #[test]
    fn registered_names_and_aliases_resolve_case_insensitively() {
        let (n, p) = (names(), Policy { internal: false, upstreams: vec![] });
        assert_eq!(ask(&n, &p, "postgres", TYPE_A), (Rcode::NoError, vec![Ipv4Addr::new(10, 9, 0, 2)]));
        assert_eq!(ask(&n, &p, "POCKET-id.", TYPE_A), (Rcode::NoError, vec![Ipv4Addr::new(10, 9, 0, 3)]));
        assert_eq!(ask(&n, &p, "postgres", 28), (Rcode::NoError, vec![]), "AAAA of a known name is empty");
    }

    #[test]
    fn unknown_names() {
        let n = names();
        let open = Policy { internal: false, upstreams: vec![] };
        let internal = Policy { internal: true, upstreams: vec!["10.0.0.2:53".parse().unwrap()] };
        assert_eq!(ask(&n, &open, "redis", TYPE_A).0, Rcode::NxDomain);
        assert_eq!(ask(&n, &open, "example.com", TYPE_A).0, Rcode::ServFail, "no upstream");
        assert_eq!(ask(&n, &internal, "example.com", TYPE_A).0, Rcode::NxDomain, "never forwarded");
        let q = parse_query(&build_query(1, "example.com", TYPE_A)).unwrap();
        let forwarding = Policy { internal: false, upstreams: vec!["10.0.0.2:53".parse().unwrap()] };
        assert_eq!(decide(&n, &forwarding, &q), Decision::Forward);
    }

    #[test]
    fn several_endpoints_share_an_alias_and_unregister_cleans_up() {
        let n = names();
        n.register("ep3", Ipv4Addr::new(10, 9, 0, 4), &["postgres".into()]);
        assert_eq!(n.lookup("postgres").unwrap().len(), 2);
        n.unregister("ep1");
        assert_eq!(n.lookup("postgres"), Some(vec![Ipv4Addr::new(10, 9, 0, 4)]));
        assert_eq!(n.lookup("idp-postgres-1"), None);
    }

    #[test]
    fn malformed_queries_do_not_panic() {
        let n = names();
        let p = Policy { internal: false, upstreams: vec![] };
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        for bad in [
            &[][..],
            &[0u8; 5][..],
            &[0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 0x0c][..],
            &[0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 3, b'a'][..],
        ] {
            let reply = rt.block_on(answer(&n, &p, bad));
            if let Some(reply) = reply {
                assert_eq!(parse_response(&reply).map(|r| r.0), Some(Rcode::FormErr));
            }
        }
    }

    #[test]
    fn serves_udp_and_tcp_and_forwards_to_an_upstream() {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        // A fake upstream on loopback answering every query with 192.0.2.7.
        let upstream = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let upstream_addr = upstream.local_addr().unwrap();
        std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            if let Ok((n, from)) = upstream.recv_from(&mut buf) {
                let q = parse_query(&buf[..n]).unwrap();
                let _ = upstream
                    .send_to(&build_response(&buf[..n], &q, Rcode::NoError, &[Ipv4Addr::new(192, 0, 2, 7)]), from);
            }
        });
        let policy = Policy { internal: false, upstreams: vec![upstream_addr] };
        let server = DnsServer::start(rt.handle(), "127.0.0.1:0".parse().unwrap(), Arc::new(names()), policy).unwrap();
        let addr = server.addr();
        let client = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        client.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = [0u8; 512];
        client.send_to(&build_query(9, "postgres", TYPE_A), addr).unwrap();
        let n = client.recv(&mut buf).unwrap();
        assert_eq!(parse_response(&buf[..n]).unwrap(), (Rcode::NoError, vec![Ipv4Addr::new(10, 9, 0, 2)]));
        client.send_to(&build_query(10, "www.example.org", TYPE_A), addr).unwrap();
        let n = client.recv(&mut buf).unwrap();
        assert_eq!(parse_response(&buf[..n]).unwrap(), (Rcode::NoError, vec![Ipv4Addr::new(192, 0, 2, 7)]));

        use std::io::{Read, Write};
        let mut tcp = std::net::TcpStream::connect(addr).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let q = build_query(11, "nosuch", TYPE_A);
        let mut framed = (q.len() as u16).to_be_bytes().to_vec();
        framed.extend_from_slice(&q);
        tcp.write_all(&framed).unwrap();
        let mut len = [0u8; 2];
        tcp.read_exact(&mut len).unwrap();
        let mut reply = vec![0u8; usize::from(u16::from_be_bytes(len))];
        tcp.read_exact(&mut reply).unwrap();
        assert_eq!(parse_response(&reply).unwrap().0, Rcode::NxDomain);
        server.stop();
    }
}
