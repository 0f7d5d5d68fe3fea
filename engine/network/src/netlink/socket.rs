//! A NETLINK_ROUTE socket that sends one request at a time and collects its answer. A socket
//! belongs to the network namespace it was opened in, whichever thread later uses it.

use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicU32, Ordering};

use nix::errno::Errno;
use nix::sys::socket::{
    bind, recv, send, socket, AddressFamily, MsgFlags, NetlinkAddr, SockFlag, SockProtocol, SockType,
};

use super::message::{messages, read_error, MessageBuilder, NLMSG_DONE, NLMSG_ERROR};

/// Why a netlink exchange failed.
#[derive(Debug, thiserror::Error)]
pub enum SocketError {
    #[error("couldn't open a NETLINK_ROUTE socket: {0}")]
    Open(#[source] Errno),
    #[error("couldn't {what} on the netlink socket: {errno}")]
    Io { what: &'static str, errno: Errno },
    #[error("the kernel refused {what}: {errno}")]
    Kernel { what: String, errno: Errno },
}

impl SocketError {
    /// The errno the kernel answered with, if the failure came from the kernel.
    pub fn errno(&self) -> Option<Errno> {
        match self {
            SocketError::Kernel { errno, .. } => Some(*errno),
            _ => None,
        }
    }
}

/// An open NETLINK_ROUTE socket.
#[derive(Debug)]
pub struct NlSocket {
    fd: OwnedFd,
    seq: AtomicU32,
}

impl NlSocket {
    /// Opens a socket in the calling thread's network namespace.
    pub fn open() -> Result<Self, SocketError> {
        let fd = socket(AddressFamily::Netlink, SockType::Raw, SockFlag::SOCK_CLOEXEC, SockProtocol::NetlinkRoute)
            .map_err(SocketError::Open)?;
        bind(fd.as_raw_fd(), &NetlinkAddr::new(0, 0)).map_err(SocketError::Open)?;
        Ok(Self { fd, seq: AtomicU32::new(1) })
    }

    /// Sends a request that expects an acknowledgement and returns every reply message
    /// before it (a `GET` of one object answers with that object, then the ack).
    pub fn request(&self, msg: MessageBuilder, what: &dyn Fn() -> String) -> Result<Vec<Vec<u8>>, SocketError> {
        self.exchange(msg, false, what)
    }

    /// Sends a dump request and returns every message until `NLMSG_DONE`.
    pub fn dump(&self, msg: MessageBuilder, what: &dyn Fn() -> String) -> Result<Vec<Vec<u8>>, SocketError> {
        self.exchange(msg, true, what)
    }

    fn exchange(
        &self,
        msg: MessageBuilder,
        dump: bool,
        what: &dyn Fn() -> String,
    ) -> Result<Vec<Vec<u8>>, SocketError> {
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        let bytes = msg.finish(seq);
        send(self.fd.as_raw_fd(), &bytes, MsgFlags::empty())
            .map_err(|errno| SocketError::Io { what: "send", errno })?;
        let mut replies = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = loop {
                match recv(self.fd.as_raw_fd(), &mut buf, MsgFlags::empty()) {
                    Err(Errno::EINTR) => continue,
                    other => break other.map_err(|errno| SocketError::Io { what: "receive", errno })?,
                }
            };
            for m in messages(&buf[..n]) {
                if m.seq != seq {
                    continue;
                }
                match m.kind {
                    NLMSG_DONE if dump => return Ok(replies),
                    NLMSG_ERROR => {
                        let code = read_error(m.payload).unwrap_or(-libc::EIO);
                        if code == 0 {
                            return Ok(replies);
                        }
                        return Err(SocketError::Kernel { what: what(), errno: Errno::from_raw(-code) });
                    }
                    _ => replies.push(m.payload.to_vec()),
                }
            }
        }
    }
}
