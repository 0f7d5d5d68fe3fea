//! The monitor: `berth __monitor <state_dir> [--attach=ioe]`, one per container, the parent
//! of the container's init. It detaches from the daemon (own session, reparented to init by
//! a second fork, stdio on /dev/null), clones the init into its namespaces, creates the
//! cgroups while the init sets up its mounts, tells the daemon on the pipe that is its stdout
//! whether the start worked, then serves `monitor.sock` ([`crate::protocol`]) until the
//! container has exited and `exit.json` is written. It runs no async runtime and starts no
//! threads, and drops the pages it does not need while it waits, to stay small.

mod event_loop;
mod launch;
mod resident;
mod scratch;

use crate::cgroups::{Cgroups, Layout};
use crate::fsutil;
use crate::jsonlog::JsonLog;
use crate::process::StartError;
use crate::protocol::Reply;
use crate::seccomp::{self, Filter};
use crate::spec::{ExitStatus, Spec};
use crate::{caps, timefmt};
use event_loop::{Container, EventLoop, StartAttach};
use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::unistd::{dup2, fork, setsid, ForkResult};
use std::fs::File;
use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

/// The argument that selects the monitor's mode in the `berth` binary.
pub const MODE: &str = "__monitor";

/// The monitor's command line, after [`MODE`].
struct Options {
    state_dir: PathBuf,
    /// Streams of the attach socket passed as fd 0, as "i", "o", "e" letters.
    attach: Option<String>,
}

impl Options {
    /// Accepts the whole argv (`berth __monitor DIR ...`) or what follows `__monitor`.
    fn parse(args: &[String]) -> Option<Options> {
        let rest = match args.iter().position(|a| a == MODE) {
            Some(i) => &args[i + 1..],
            None => args,
        };
        let state_dir = PathBuf::from(rest.first()?);
        let attach = rest.iter().find_map(|a| a.strip_prefix("--attach=")).map(String::from);
        Some(Options { state_dir, attach })
    }
}

/// The hidden mode's entry point; returns the monitor's exit status.
pub fn main(args: Vec<String>) -> i32 {
    let Some(opts) = Options::parse(&args) else {
        return 2;
    };
    // Writes to a stdin pipe the container closed must fail with EPIPE, not end the monitor.
    // SAFETY: SIG_IGN installs no handler code.
    let _ = unsafe { nix::sys::signal::signal(Signal::SIGPIPE, nix::sys::signal::SigHandler::SigIgn) };
    let Ok((ready, attach)) = take_inherited_fds(&opts.state_dir, opts.attach.is_some()) else {
        return 1;
    };
    if detach().is_err() {
        return 1;
    }
    let attach = attach.map(|fd| start_attach(fd, opts.attach.as_deref().unwrap_or_default()));
    match start(&opts.state_dir, attach) {
        Ok(event_loop) => {
            let reply = Reply { pid: Some(event_loop.init_pid().as_raw()), ..Reply::default() };
            report(ready, &reply);
            event_loop.run(resident::release_idle_pages)
        }
        Err(e) => {
            record_failure(&opts.state_dir, &e);
            report(ready, &Reply { exit_code: Some(e.exit_code()), ..Reply::error(e.to_string()) });
            1
        }
    }
}

/// Keeps the ready pipe (fd 1) and the attach socket (fd 0, when given) on close-on-exec
/// descriptors, closes whatever else the daemon leaked, and puts /dev/null on 0 and 1 and
/// `<state_dir>/monitor.log` on 2 (for a panic's message; the monitor writes nothing else).
fn take_inherited_fds(state_dir: &Path, attach: bool) -> nix::Result<(OwnedFd, Option<OwnedFd>)> {
    // SAFETY: close_range takes integers; the descriptors from 3 up were inherited from the
    // daemon and nothing in this process refers to them.
    unsafe { libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32) };
    let ready = dup_cloexec(1)?;
    let attach = if attach { Some(dup_cloexec(0)?) } else { None };
    let null = File::options().read(true).write(true).open("/dev/null").map_err(|_| Errno::ENOENT)?;
    for fd in 0..3 {
        dup2(null.as_raw_fd(), fd)?;
    }
    if let Ok(log) = File::options().append(true).create(true).open(state_dir.join("monitor.log")) {
        dup2(log.as_raw_fd(), 2)?;
    }
    Ok((ready, attach))
}

fn dup_cloexec(fd: RawFd) -> nix::Result<OwnedFd> {
    let new = fcntl(fd, FcntlArg::F_DUPFD_CLOEXEC(3))?;
    // SAFETY: F_DUPFD_CLOEXEC just returned this new descriptor; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(new) })
}

/// A new session, then a fork whose parent exits at once: the daemon collects that parent
/// right away, and the monitor, orphaned, belongs to init; a SIGKILLed daemon takes neither
/// it nor its process group along.
fn detach() -> nix::Result<()> {
    setsid()?;
    // SAFETY: no other threads exist in the monitor, so the child's copy holds no locks.
    match unsafe { fork() }? {
        // SAFETY: _exit ends the intermediate process without running anything else.
        ForkResult::Parent { .. } => unsafe { libc::_exit(0) },
        ForkResult::Child => Ok(()),
    }
}

fn start_attach(fd: OwnedFd, streams: &str) -> StartAttach {
    StartAttach {
        stream: UnixStream::from(fd),
        stdin: streams.contains('i'),
        stdout: streams.contains('o'),
        stderr: streams.contains('e'),
    }
}

/// Everything up to the container's process having exec'd; on failure nothing is left but
/// what `record_failure` writes.
fn start(state_dir: &Path, attach: Option<StartAttach>) -> Result<EventLoop, StartError> {
    let _ = std::fs::write(state_dir.join("monitor.pid"), std::process::id().to_string());
    let spec = read_spec(state_dir)?;
    let caps = caps::resolve(&spec.cap_add, &spec.cap_drop, spec.privileged)?;
    let seccomp = seccomp::for_container(&spec, caps)?;
    let log = match &spec.log_path {
        Some(path) => Some(JsonLog::open(path).map_err(io_error(format!("open the log {}", path.display())))?),
        None => None,
    };
    let cgroups = Cgroups::new(&Layout::detect()?, spec.cgroup.parent_name(), &spec.id)?;
    launch_container(spec, caps, seccomp, cgroups.clone(), log, attach).inspect_err(|_| {
        let _ = cgroups.destroy();
    })
}

fn launch_container(
    spec: Spec,
    caps: caps::CapSet,
    seccomp: Option<Filter>,
    cgroups: Cgroups,
    log: Option<JsonLog>,
    attach: Option<StartAttach>,
) -> Result<EventLoop, StartError> {
    let signals = block_sigchld()?;
    let listener = bind_socket(&spec.state_dir.join("monitor.sock"))?;
    let own_pidns = File::open("/proc/self/ns/pid").map_err(io_error("open the monitor's pid namespace".into()))?;
    let init = launch::clone_init(&spec, launch::Confinement { caps, seccomp: seccomp.as_ref() }, &cgroups)?;
    let container = Container { spec, caps, seccomp, cgroups, started_at: timefmt::now(), own_pidns };
    EventLoop::new(container, init, listener, signals, log, attach)
        .map_err(StartError::syscall("set up the event loop"))
}

fn read_spec(state_dir: &Path) -> Result<Spec, StartError> {
    let path = state_dir.join("spec.json");
    let bytes = std::fs::read(&path).map_err(io_error(format!("read {}", path.display())))?;
    let mut spec: Spec = serde_json::from_slice(&bytes)
        .map_err(|e| StartError::Io { what: format!("parse {}", path.display()), source: e.into() })?;
    spec.state_dir = state_dir.to_path_buf();
    Ok(spec)
}

/// SIGCHLD goes to a signalfd the loop polls (blocked before the clone, so none is missed).
fn block_sigchld() -> Result<SignalFd, StartError> {
    let mut mask = SigSet::empty();
    mask.add(Signal::SIGCHLD);
    mask.thread_block().map_err(StartError::syscall("block SIGCHLD"))?;
    SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
        .map_err(StartError::syscall("make a signalfd"))
}

fn bind_socket(path: &Path) -> Result<UnixListener, StartError> {
    let _ = std::fs::remove_file(path);
    UnixListener::bind(path).map_err(io_error(format!("listen on {}", path.display())))
}

/// What the daemon finds after a failed start: exit.json with the error, and no socket.
fn record_failure(state_dir: &Path, e: &StartError) {
    let status =
        ExitStatus { code: e.exit_code(), error: e.to_string(), finished_at: timefmt::now(), ..ExitStatus::default() };
    let _ = fsutil::atomic_write(&state_dir.join("exit.json"), &serde_json::to_vec(&status).unwrap_or_default());
    let _ = std::fs::remove_file(state_dir.join("monitor.sock"));
    let _ = std::fs::remove_file(state_dir.join("monitor.pid"));
}

/// Answers `Monitor::start` and closes the pipe; a daemon that is gone is no reason to stop.
fn report(ready: OwnedFd, reply: &Reply) {
    let mut pipe = File::from(ready);
    let _ = pipe.write_all(&serde_json::to_vec(reply).unwrap_or_default());
}

fn io_error(what: String) -> impl FnOnce(std::io::Error) -> StartError {
    move |source| StartError::Io { what, source }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_from_whole_argv_or_rest() {
        let args: Vec<String> = ["berth", "__monitor", "/s", "--attach=io"].map(String::from).to_vec();
        let opts = Options::parse(&args).unwrap();
        assert_eq!((opts.state_dir, opts.attach.as_deref()), (PathBuf::from("/s"), Some("io")));
        let opts = Options::parse(&["/t".to_string()]).unwrap();
        assert_eq!((opts.state_dir, opts.attach), (PathBuf::from("/t"), None));
        assert!(Options::parse(&["__monitor".to_string()]).is_none());
    }
}
