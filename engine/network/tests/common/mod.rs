//! Helpers for the root integration tests: network namespaces held by a `sleep` child,
//! echo servers inside them, unique names, and a guard that removes everything a test made
//! (bridges, veths, chains, jumps) even when it fails.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, TcpStream, UdpSocket};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use berth_network::netns::run_in;
use berth_network::{BridgeMode, Config, Ipv4Net};

pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Random bytes from the kernel.
pub fn random_u32() -> u32 {
    let mut b = [0u8; 4];
    std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut b)).expect("read /dev/urandom");
    u32::from_ne_bytes(b)
}

/// `bt` + 6 hex: a unique stem for bridge and chain names.
pub fn unique() -> String {
    format!("bt{:06x}", random_u32() & 0xff_ffff)
}

/// Runs a shell command and returns its stdout.
pub fn sh(cmd: &str) -> String {
    let out = Command::new("sh").arg("-c").arg(cmd).output().expect("run sh");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A network namespace held open by a `sleep` child; killed (and so removed) on drop.
pub struct Netns {
    child: Child,
    pub path: PathBuf,
}

impl Netns {
    pub fn new() -> Self {
        let mut cmd = Command::new("sleep");
        cmd.arg("infinity").stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
        // SAFETY: between fork and exec the child only calls unshare(2), which allocates
        // nothing and takes no lock.
        unsafe {
            cmd.pre_exec(|| nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).map_err(std::io::Error::from));
        }
        let child = cmd.spawn().expect("spawn sleep in a new network namespace");
        let path = PathBuf::from(format!("/proc/{}/ns/net", child.id()));
        Self { child, path }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Runs a shell command inside the namespace (for assertions only).
    pub fn sh(&self, cmd: &str) -> String {
        sh(&format!("nsenter --net={} sh -c '{cmd}'", self.path.display()))
    }

    /// Connects from inside the namespace.
    pub fn connect(&self, addr: SocketAddrV4, timeout: Duration) -> std::io::Result<TcpStream> {
        run_in(&self.path, || TcpStream::connect_timeout(&SocketAddr::V4(addr), timeout)).expect("enter netns")
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A TCP or UDP echo server in a namespace, stopped and joined on drop.
pub struct Echo {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Echo {
    pub fn tcp(ns: &Path, port: u16) -> Self {
        let listener = run_in(ns, || TcpListener::bind(("0.0.0.0", port))).unwrap().expect("bind the echo server");
        listener.set_nonblocking(true).unwrap();
        Self::spawn(move |stop| {
            while !stop.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((mut s, _)) => {
                        let _ = s.set_nonblocking(false);
                        let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
                        let mut buf = [0u8; 256];
                        if let Ok(n) = s.read(&mut buf) {
                            let _ = s.write_all(&buf[..n]);
                        }
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        })
    }

    pub fn udp(ns: &Path, port: u16) -> Self {
        let sock = run_in(ns, || UdpSocket::bind(("0.0.0.0", port))).unwrap().expect("bind the udp echo server");
        sock.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
        Self::spawn(move |stop| {
            let mut buf = [0u8; 512];
            while !stop.load(Ordering::Relaxed) {
                if let Ok((n, from)) = sock.recv_from(&mut buf) {
                    let _ = sock.send_to(&buf[..n], from);
                }
            }
        })
    }

    fn spawn(f: impl FnOnce(Arc<AtomicBool>) + Send + 'static) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        Self { stop, thread: Some(std::thread::spawn(move || f(flag))) }
    }
}

impl Drop for Echo {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Sends `msg` over a fresh TCP connection and returns what comes back.
pub fn echo_over(mut s: TcpStream, msg: &[u8]) -> Vec<u8> {
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(msg).unwrap();
    let mut buf = vec![0u8; msg.len()];
    s.read_exact(&mut buf).unwrap();
    buf
}

/// Every IPv4 range routed or addressed on the host.
fn host_ranges() -> Vec<Ipv4Net> {
    let text = sh("ip -4 -o route show table all; ip -4 -o addr");
    text.split_whitespace()
        .filter_map(|w| if w.contains('/') { w.parse().ok() } else { format!("{w}/32").parse().ok() })
        .filter(|n: &Ipv4Net| n.prefix() > 0)
        .collect()
}

/// A random 10.2xx.y.0/24 no route or address on the host overlaps.
pub fn free_subnet() -> Ipv4Net {
    let used = host_ranges();
    loop {
        let r = random_u32();
        let net: Ipv4Net = format!("10.{}.{}.1/24", 200 + (r % 50), (r >> 8) & 0xff).parse().unwrap();
        if !used.iter().any(|u| u.overlaps(&net)) {
            return net;
        }
    }
}

/// What one test made on the host; removed on drop whatever happened.
pub struct Host {
    pub stem: String,
    pub prefix: String,
    pub bridge: String,
    pub dir: tempfile::TempDir,
    pub extra_links: Vec<String>,
}

impl Host {
    pub fn new() -> Self {
        let stem = unique();
        Self {
            prefix: stem.to_uppercase(),
            bridge: format!("{stem}br"),
            stem,
            dir: tempfile::tempdir().unwrap(),
            extra_links: Vec::new(),
        }
    }

    /// A configuration with this test's names, its own subnet and port range.
    pub fn config(&self) -> Config {
        let mut c = Config::new(self.dir.path());
        c.bridge = BridgeMode::Managed(self.bridge.clone());
        c.bip = Some(free_subnet());
        c.chain_prefix = self.prefix.clone();
        let start = 40000 + (random_u32() % 20000) as u16;
        c.port_range = (start, start + 400);
        c
    }

    /// Lines of `iptables -S` (both tables) that mention this test's chains.
    pub fn leftover_rules(&self) -> Vec<String> {
        let all = sh("iptables -w -S; iptables -w -t nat -S");
        all.lines().filter(|l| l.contains(&self.prefix)).map(String::from).collect()
    }

    /// Links of the host whose name is in `names`.
    pub fn leftover_links(&self, names: &[&str]) -> Vec<String> {
        let all = sh("ip -o link");
        all.lines()
            .filter_map(|l| l.split(':').nth(1).map(|n| n.trim().split('@').next().unwrap_or("").to_string()))
            .filter(|n| names.contains(&n.as_str()) || n.starts_with(&self.stem))
            .collect()
    }

    /// Bridges recorded in the state file (user networks' `br-...` included).
    fn state_bridges(&self) -> Vec<String> {
        let text = std::fs::read_to_string(self.dir.path().join("network.json")).unwrap_or_default();
        let json: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        let nets = json.get("networks").and_then(|n| n.as_object()).cloned().unwrap_or_default();
        nets.values()
            .filter(|n| n.get("created_bridge").and_then(|c| c.as_bool()) == Some(true))
            .filter_map(|n| n.get("bridge").and_then(|b| b.as_str()).map(String::from))
            .collect()
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        let p = &self.prefix;
        for (table, std_chains) in [("filter", "FORWARD"), ("nat", "PREROUTING OUTPUT POSTROUTING")] {
            for chain in std_chains.split(' ') {
                for line in sh(&format!("iptables -w -t {table} -S {chain}")).lines() {
                    if line.contains(p) {
                        let spec = line.replacen("-A ", "-D ", 1);
                        sh(&format!("iptables -w -t {table} {spec}"));
                    }
                }
            }
            for line in sh(&format!("iptables -w -t {table} -S")).lines() {
                if let Some(chain) = line.strip_prefix("-N ").filter(|c| c.starts_with(p.as_str())) {
                    sh(&format!("iptables -w -t {table} -F {chain}"));
                }
            }
            for line in sh(&format!("iptables -w -t {table} -S")).lines() {
                if let Some(chain) = line.strip_prefix("-N ").filter(|c| c.starts_with(p.as_str())) {
                    sh(&format!("iptables -w -t {table} -X {chain}"));
                }
            }
        }
        let mut links = self.state_bridges();
        links.push(self.bridge.clone());
        links.extend(self.extra_links.iter().cloned());
        for link in links {
            sh(&format!("ip link del {link} 2>/dev/null"));
        }
    }
}

/// Polls `f` until it returns true or `timeout` passes.
pub fn eventually(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

pub const LOOPBACK: Ipv4Addr = Ipv4Addr::LOCALHOST;
