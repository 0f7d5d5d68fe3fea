//! The channel between the monitor and a process it is starting (the container's init or an
//! exec): a close-on-exec `SOCK_SEQPACKET` pair. The child sends its pty's master (as
//! `SCM_RIGHTS`) or an error; the monitor's end reading EOF means the child has exec'd. The
//! monitor sends the init one "go" once it has put it in its cgroups.

use nix::errno::Errno;
use nix::sys::socket::{
    recvmsg, sendmsg, socketpair, AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags, SockFlag, SockType,
};
use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// What the monitor hears from a starting child.
#[derive(Debug)]
pub enum Message {
    /// The master side of the pty the child made in the container's devpts.
    Pty(OwnedFd),
    /// The child could not start; it exits with `code`.
    Error { code: i32, message: String },
    /// The channel closed: the child exec'd (or died).
    Exec,
}

/// One end of the channel.
pub struct Channel(OwnedFd);

/// The monitor's end and the child's end.
pub fn pair() -> nix::Result<(Channel, Channel)> {
    let (a, b) = socketpair(AddressFamily::Unix, SockType::SeqPacket, None, SockFlag::SOCK_CLOEXEC)?;
    Ok((Channel(a), Channel(b)))
}

impl Channel {
    /// Passes the pty master to the monitor.
    pub fn send_pty(&self, master: RawFd) -> nix::Result<()> {
        let fds = [master];
        let cmsg = [ControlMessage::ScmRights(&fds)];
        sendmsg::<()>(self.0.as_raw_fd(), &[IoSlice::new(b"P")], &cmsg, MsgFlags::empty(), None).map(drop)
    }

    /// Tells the monitor why the child could not start.
    pub fn send_error(&self, code: i32, message: &str) {
        let mut buf = Vec::with_capacity(5 + message.len());
        buf.push(b'E');
        buf.extend_from_slice(&code.to_be_bytes());
        // One datagram; a message longer than the socket's buffer is cut rather than lost.
        buf.extend_from_slice(&message.as_bytes()[..message.len().min(32 * 1024)]);
        let _ = sendmsg::<()>(self.0.as_raw_fd(), &[IoSlice::new(&buf)], &[], MsgFlags::empty(), None);
    }

    /// Lets the init go on to exec (it is in its cgroups now). A child that already failed
    /// is gone; its error is waiting on the channel.
    pub fn send_go(&self) {
        let _ = sendmsg::<()>(self.0.as_raw_fd(), &[IoSlice::new(b"G")], &[], MsgFlags::MSG_NOSIGNAL, None);
    }

    /// Waits for the monitor's "go".
    pub fn wait_go(&self) -> nix::Result<()> {
        let mut buf = [0u8; 1];
        loop {
            match nix::sys::socket::recv(self.0.as_raw_fd(), &mut buf, MsgFlags::empty()) {
                Ok(1) if buf[0] == b'G' => return Ok(()),
                Err(Errno::EINTR) => {}
                Err(errno) => return Err(errno),
                Ok(_) => return Err(Errno::EPIPE),
            }
        }
    }

    /// Waits for the child's next message.
    pub fn recv(&self) -> nix::Result<Message> {
        let mut buf = vec![0u8; 33 * 1024];
        let mut cmsg = nix::cmsg_space!([RawFd; 1]);
        let (len, fd) = {
            let mut iov = [IoSliceMut::new(&mut buf)];
            let msg = loop {
                match recvmsg::<()>(self.0.as_raw_fd(), &mut iov, Some(&mut cmsg), MsgFlags::MSG_CMSG_CLOEXEC) {
                    Err(Errno::EINTR) => continue,
                    other => break other?,
                }
            };
            let fd = msg.cmsgs()?.find_map(|c| match c {
                ControlMessageOwned::ScmRights(fds) => fds.first().copied(),
                _ => None,
            });
            (msg.bytes, fd)
        };
        Ok(decode(&buf[..len], fd))
    }
}

fn decode(buf: &[u8], fd: Option<RawFd>) -> Message {
    match (buf.first(), fd) {
        // SAFETY: the kernel just installed this descriptor for us (SCM_RIGHTS); nothing else
        // owns it.
        (Some(b'P'), Some(fd)) => Message::Pty(unsafe { OwnedFd::from_raw_fd(fd) }),
        (Some(b'E'), _) if buf.len() >= 5 => Message::Error {
            code: i32::from_be_bytes([buf[1], buf[2], buf[3], buf[4]]),
            message: String::from_utf8_lossy(&buf[5..]).into_owned(),
        },
        (None, _) => Message::Exec,
        _ => Message::Error { code: 128, message: "malformed message from the container's process".into() },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_fds_and_eof() {
        let (monitor, child) = pair().unwrap();
        child.send_error(127, "exec: \"x\": executable file not found in $PATH");
        let (r, _w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
        child.send_pty(r.as_raw_fd()).unwrap();
        drop(child);
        match monitor.recv().unwrap() {
            Message::Error { code, message } => {
                assert_eq!((code, message.as_str()), (127, "exec: \"x\": executable file not found in $PATH"))
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(monitor.recv().unwrap(), Message::Pty(_)));
        assert!(matches!(monitor.recv().unwrap(), Message::Exec));
    }
}
