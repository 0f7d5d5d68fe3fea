//! The container's first process between clone and exec: network namespace,
//! hostname, loopback, mounts and pivot_root, then [`process::finish`]. Errors go back to the
//! monitor over the [`Channel`] and end the process with the exit code Docker records.

use crate::caps::CapSet;
use crate::mounts;
use crate::process::{self, Process, StartError, Stdio};
use crate::seccomp::Filter;
use crate::spec::{Network, Spec};
use crate::sync::Channel;
use nix::errno::Errno;
use nix::sched::CloneFlags;
use nix::sys::socket::{socket, AddressFamily, SockFlag, SockType};
use nix::sys::stat::{umask, Mode};
use std::convert::Infallible;
use std::os::fd::AsRawFd;

/// Everything the init needs, prepared by the monitor before the clone.
pub struct Init<'a> {
    pub spec: &'a Spec,
    pub caps: CapSet,
    pub seccomp: Option<&'a Filter>,
    pub stdio: Stdio,
    pub channel: Channel,
}

/// Runs in the cloned child; never returns.
pub fn run(init: Init) -> ! {
    match setup(&init) {
        Ok(never) => match never {},
        Err(e) => process::exit_with(&init.channel, e),
    }
}

fn setup(init: &Init) -> Result<Infallible, StartError> {
    let spec = init.spec;
    if let Network::Join(path) = &spec.network {
        join_netns(path)?;
    }
    process::connect_pipes(&init.stdio)?;
    // Modes given when creating nodes and directories below are meant exactly.
    umask(Mode::empty());
    set_names(spec)?;
    if spec.network == Network::New {
        loopback_up()?;
    }
    mounts::prepare(spec)?;
    mounts::pivot(&spec.rootfs)?;
    mounts::finalize(spec)?;
    // Meanwhile the monitor makes our cgroups and moves us in (a millisecond or more: a
    // first migration waits out an RCU grace period); nothing of the image runs before.
    init.channel.wait_go().map_err(StartError::syscall("wait for the monitor to set up the cgroups"))?;
    let process = Process {
        args: &spec.args,
        env: &spec.env,
        cwd: &spec.cwd,
        user: &spec.user,
        caps: init.caps,
        no_new_privileges: spec.no_new_privileges,
        seccomp: init.seccomp,
    };
    process::finish(&process, &init.stdio, &init.channel)
}

fn join_netns(path: &std::path::Path) -> Result<(), StartError> {
    let what = format!("join the network namespace {}", path.display());
    let file = std::fs::File::open(path).map_err(|e| StartError::Syscall {
        what: what.clone(),
        errno: Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
    })?;
    nix::sched::setns(file, CloneFlags::CLONE_NEWNET).map_err(StartError::syscall(what))
}

fn set_names(spec: &Spec) -> Result<(), StartError> {
    if spec.uts_host {
        return Ok(());
    }
    if !spec.hostname.is_empty() {
        nix::unistd::sethostname(&spec.hostname).map_err(StartError::syscall("set the hostname"))?;
    }
    if !spec.domainname.is_empty() {
        let name = spec.domainname.as_bytes();
        // SAFETY: the pointer and length describe `name`, which outlives the call.
        let rc = unsafe { libc::setdomainname(name.as_ptr().cast(), name.len()) };
        Errno::result(rc).map_err(StartError::syscall("set the domainname"))?;
    }
    Ok(())
}

/// Brings `lo` up in the new network namespace with SIOCSIFFLAGS.
fn loopback_up() -> Result<(), StartError> {
    let sock = socket(AddressFamily::Inet, SockType::Datagram, SockFlag::SOCK_CLOEXEC, None)
        .map_err(StartError::syscall("open a socket to configure lo"))?;
    // SAFETY: ifreq is plain old data; all zeroes is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as libc::c_char;
    }
    req.ifr_ifru.ifru_flags = (libc::IFF_UP | libc::IFF_LOOPBACK | libc::IFF_RUNNING) as libc::c_short;
    // SAFETY: SIOCSIFFLAGS reads a struct ifreq, which `req` is, for the duration of the call.
    let rc = unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &req) };
    Errno::result(rc).map(drop).map_err(StartError::syscall("bring lo up"))
}
