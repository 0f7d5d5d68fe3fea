//! The sockets the Remote API is served on: unix sockets (mode 0660, group `docker` when that
//! group exists), tcp addresses, and sockets handed over by systemd (`fd://`, `fd://N`).

use berth_api::Host;
use nix::sys::socket::{getsockname, AddressFamily, SockaddrLike, SockaddrStorage};
use std::fs;
use std::io;
use std::os::fd::{FromRawFd, RawFd};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// The first descriptor systemd passes (SD_LISTEN_FDS_START).
const LISTEN_FDS_START: RawFd = 3;

#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    #[error("cannot listen on {host}: {source}")]
    Bind { host: String, source: io::Error },
    #[error("cannot listen on {0}: another daemon is already serving that socket")]
    InUse(String),
    #[error("no socket-activated file descriptors were passed (LISTEN_FDS is not set for this process): {0} needs systemd socket activation")]
    NoActivatedSockets(String),
    #[error("{host}: descriptor {fd} is not among the activated sockets {first}..={last}")]
    NoSuchFd { host: String, fd: RawFd, first: RawFd, last: RawFd },
    #[error("{host}: descriptor {fd} is neither a unix nor a tcp socket")]
    FdKind { host: String, fd: RawFd },
}

/// A bound socket, ready to accept. A unix socket's file is removed when this is dropped.
#[derive(Debug)]
pub enum Listener {
    Unix { listener: tokio::net::UnixListener, path: Option<PathBuf> },
    Tcp(tokio::net::TcpListener),
}

impl Drop for Listener {
    fn drop(&mut self) {
        if let Listener::Unix { path: Some(path), .. } = self {
            let _ = fs::remove_file(path);
        }
    }
}

impl Listener {
    /// Where this listener is reachable, for logs.
    pub fn describe(&self) -> String {
        match self {
            Listener::Unix { path: Some(path), .. } => format!("unix://{}", path.display()),
            Listener::Unix { path: None, .. } => "unix socket (activated)".into(),
            Listener::Tcp(l) => l.local_addr().map_or("tcp".into(), |a| format!("tcp://{a}")),
        }
    }
}

/// Binds every host. Must run inside a tokio runtime.
pub fn bind_all(hosts: &[Host]) -> Result<Vec<Listener>, ListenError> {
    let mut activated = ActivatedFds::take();
    let mut listeners = Vec::new();
    for host in hosts {
        match host {
            Host::Unix(path) => listeners.push(bind_unix(path)?),
            Host::Tcp { host: name, port } => listeners.push(bind_tcp(host, name, *port)?),
            Host::Fd(which) => listeners.extend(activated.claim(host, *which)?),
        }
    }
    Ok(listeners)
}

fn bind_unix(path: &Path) -> Result<Listener, ListenError> {
    let host = format!("unix://{}", path.display());
    let bind_error = |source| ListenError::Bind { host: host.clone(), source };
    if path.exists() {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(ListenError::InUse(host));
        }
        fs::remove_file(path).map_err(bind_error)?;
    }
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(bind_error)?;
    }
    let listener = tokio::net::UnixListener::bind(path).map_err(bind_error)?;
    let listener = Listener::Unix { listener, path: Some(path.to_path_buf()) };
    fs::set_permissions(path, fs::Permissions::from_mode(0o660)).map_err(bind_error)?;
    if let Ok(Some(group)) = nix::unistd::Group::from_name("docker") {
        nix::unistd::chown(path, Some(nix::unistd::Uid::from_raw(0)), Some(group.gid))
            .map_err(|e| bind_error(e.into()))?;
    }
    Ok(listener)
}

fn bind_tcp(host: &Host, name: &str, port: u16) -> Result<Listener, ListenError> {
    let bind_error = |source| ListenError::Bind { host: host.to_string(), source };
    let listener = std::net::TcpListener::bind((name, port)).map_err(bind_error)?;
    listener.set_nonblocking(true).map_err(bind_error)?;
    Ok(Listener::Tcp(tokio::net::TcpListener::from_std(listener).map_err(bind_error)?))
}

/// Sockets passed by systemd socket activation (`LISTEN_PID`, `LISTEN_FDS`), each claimable once.
struct ActivatedFds {
    fds: Vec<Option<RawFd>>,
}

impl ActivatedFds {
    fn take() -> ActivatedFds {
        let ours = std::env::var("LISTEN_PID").ok().and_then(|p| p.parse::<u32>().ok()) == Some(std::process::id());
        let count = std::env::var("LISTEN_FDS").ok().and_then(|n| n.parse::<RawFd>().ok()).unwrap_or(0);
        let fds = if ours { (0..count).map(|i| Some(LISTEN_FDS_START + i)).collect() } else { Vec::new() };
        ActivatedFds { fds }
    }

    fn claim(&mut self, host: &Host, which: Option<RawFd>) -> Result<Vec<Listener>, ListenError> {
        if self.fds.is_empty() {
            return Err(ListenError::NoActivatedSockets(host.to_string()));
        }
        let chosen: Vec<RawFd> = match which {
            None => self.fds.iter_mut().filter_map(Option::take).collect(),
            Some(fd) => {
                let last = LISTEN_FDS_START + self.fds.len() as RawFd - 1;
                let slot = (fd - LISTEN_FDS_START).try_into().ok().and_then(|i: usize| self.fds.get_mut(i));
                let no_such = || ListenError::NoSuchFd { host: host.to_string(), fd, first: LISTEN_FDS_START, last };
                vec![slot.and_then(Option::take).ok_or_else(no_such)?]
            }
        };
        chosen.into_iter().map(|fd| adopt(host, fd)).collect()
    }
}

/// Wraps an inherited listening socket descriptor.
fn adopt(host: &Host, fd: RawFd) -> Result<Listener, ListenError> {
    let bind_error = |source| ListenError::Bind { host: host.to_string(), source };
    let family = getsockname::<SockaddrStorage>(fd).ok().and_then(|a| a.family());
    nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC))
        .map_err(|e| bind_error(e.into()))?;
    match family {
        Some(AddressFamily::Unix) => {
            // SAFETY: systemd handed this descriptor to this process alone, and it was claimed
            // from ActivatedFds exactly once, so nothing else owns or closes it.
            let std = unsafe { std::os::unix::net::UnixListener::from_raw_fd(fd) };
            std.set_nonblocking(true).map_err(bind_error)?;
            let listener = tokio::net::UnixListener::from_std(std).map_err(bind_error)?;
            Ok(Listener::Unix { listener, path: None })
        }
        Some(AddressFamily::Inet | AddressFamily::Inet6) => {
            // SAFETY: as above: a descriptor passed to us by systemd, claimed once.
            let std = unsafe { std::net::TcpListener::from_raw_fd(fd) };
            std.set_nonblocking(true).map_err(bind_error)?;
            Ok(Listener::Tcp(tokio::net::TcpListener::from_std(std).map_err(bind_error)?))
        }
        _ => Err(ListenError::FdKind { host: host.to_string(), fd }),
    }
}
