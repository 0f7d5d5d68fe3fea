//! Starting processes from the monitor: the container's init by one `clone` with the new
//! namespaces, an exec by a `fork` into the init's pid namespace; both wait on the sync
//! channel until the process has exec'd or failed.

use crate::caps::{CapSet, ALL};
use crate::cgroups::Cgroups;
use crate::init::{self, Init};
use crate::process::{self, Process, StartError, Stdio};
use crate::seccomp::Filter;
use crate::spec::{ExecSpec, Network, Spec};
use crate::sync::{self, Channel, Message};
use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sched::CloneFlags;
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::waitpid;
use nix::unistd::{fork, pipe2, ForkResult, Pid};
use std::fs::File;
use std::os::fd::OwnedFd;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;

/// The monitor's side of a started process's stdio.
#[derive(Default)]
pub struct ProcIo {
    /// stdout pipe, or the pty master.
    pub out: Option<OwnedFd>,
    pub err: Option<OwnedFd>,
    /// stdin pipe, or a second descriptor of the pty master; `None` when stdin is closed.
    pub stdin: Option<OwnedFd>,
    pub tty: bool,
}

/// A process that has exec'd.
pub struct Launched {
    pub pid: Pid,
    pub io: ProcIo,
}

/// What the container's processes run with.
#[derive(Clone, Copy)]
pub struct Confinement<'a> {
    pub caps: CapSet,
    pub seccomp: Option<&'a Filter>,
}

/// Clones the container's init into its namespaces, puts it in its cgroups (created now,
/// overlapping the init's own set-up) and waits until it has exec'd.
pub fn clone_init(spec: &Spec, confinement: Confinement, cgroups: &Cgroups) -> Result<Launched, StartError> {
    let (stdio, io) = make_stdio(spec.tty, spec.open_stdin, true)?;
    let (channel, child_channel) = sync::pair().map_err(StartError::syscall("make the sync channel"))?;
    let Confinement { caps, seccomp } = confinement;
    let init = Init { spec, caps, seccomp, stdio, channel: child_channel };
    let pid = match clone_child(namespaces(spec)).map_err(StartError::syscall("clone the container's init"))? {
        None => in_child(move || init::run(init)),
        Some(pid) => {
            drop(init);
            pid
        }
    };
    // While the init sets up its mounts, make its cgroups and move it in: nothing of the
    // image runs before "go".
    let joined = cgroups.create(&spec.cgroup, spec.privileged).and_then(|()| cgroups.add_process(pid.as_raw()));
    if let Err(e) = joined {
        // A child that failed early is gone before it could be moved: its error is the one
        // to report.
        let _ = kill(pid, Signal::SIGKILL);
        let reported = match channel.recv() {
            Ok(Message::Error { code, message }) => StartError::Child { code, message },
            _ => e.into(),
        };
        let _ = waitpid(pid, None);
        return Err(reported);
    }
    channel.send_go();
    await_exec(pid, &channel, io)
}

/// The namespaces a container gets.
fn namespaces(spec: &Spec) -> CloneFlags {
    let mut flags = CloneFlags::CLONE_NEWNS;
    for (host, flag) in [
        (spec.uts_host, CloneFlags::CLONE_NEWUTS),
        (spec.ipc_host, CloneFlags::CLONE_NEWIPC),
        (spec.pid_host, CloneFlags::CLONE_NEWPID),
        (spec.network != Network::New, CloneFlags::CLONE_NEWNET),
    ] {
        if !host {
            flags |= flag;
        }
    }
    flags
}

/// `clone(2)` as a fork that also makes new namespaces; `None` in the child.
fn clone_child(flags: CloneFlags) -> nix::Result<Option<Pid>> {
    let flags = (flags.bits() | libc::SIGCHLD) as libc::c_ulong;
    // SAFETY: without CLONE_VM and with a null stack, clone behaves as fork(2): the child
    // runs on its own copy of this single-threaded process's memory and stack, so no lock
    // can be held by a thread that does not exist in the child.
    let rc = unsafe { libc::syscall(libc::SYS_clone, flags, 0usize, 0usize, 0usize, 0usize) };
    match Errno::result(rc)? {
        0 => Ok(None),
        pid => Ok(Some(Pid::from_raw(pid as i32))),
    }
}

/// Runs a child's body; a panic must not unwind into the copy of the monitor's stack.
fn in_child(body: impl FnOnce()) -> ! {
    let _ = std::panic::catch_unwind(AssertUnwindSafe(body));
    // SAFETY: _exit ends the child without running anything of the monitor's.
    unsafe { libc::_exit(128) }
}

/// What an exec needs from the running container.
pub struct ExecContext<'a> {
    pub spec: &'a Spec,
    pub confinement: Confinement<'a>,
    pub cgroups: &'a Cgroups,
    pub init_pid: Pid,
    /// The monitor's own pid namespace, to return to after forking into the container's.
    pub own_pidns: &'a File,
}

/// Forks a process into the container's namespaces and cgroups and waits until it has
/// exec'd `exec`.
pub fn fork_exec(ctx: &ExecContext, exec: &ExecSpec) -> Result<Launched, StartError> {
    let namespaces = open_namespaces(ctx.init_pid)?;
    let (stdio, io) = make_stdio(exec.tty, exec.open_stdin, false)?;
    let (channel, child_channel) = sync::pair().map_err(StartError::syscall("make the sync channel"))?;
    let procs = ctx.cgroups.procs_files();
    let pid_ns = File::open(format!("/proc/{}/ns/pid", ctx.init_pid)).map_err(io_error("open the pid namespace"))?;
    // Children forked after this are born in the container's pid namespace.
    nix::sched::setns(&pid_ns, CloneFlags::CLONE_NEWPID).map_err(StartError::syscall("enter the pid namespace"))?;
    // SAFETY: the monitor is single-threaded, so the child's copy holds no other thread's locks.
    let forked = unsafe { fork() };
    if let Ok(ForkResult::Child) = forked {
        let process = exec_process(ctx, exec);
        in_child(|| exec_child(&namespaces, &procs, &process, &stdio, &child_channel));
    }
    let back = nix::sched::setns(ctx.own_pidns, CloneFlags::CLONE_NEWPID);
    let pid = match forked.map_err(StartError::syscall("fork the exec"))? {
        ForkResult::Parent { child } => child,
        ForkResult::Child => unreachable!("the child never leaves in_child"),
    };
    back.map_err(StartError::syscall("return to the monitor's pid namespace"))?;
    drop((stdio, child_channel));
    await_exec(pid, &channel, io)
}

fn exec_process<'a>(ctx: &'a ExecContext, exec: &'a ExecSpec) -> Process<'a> {
    let or = |a: &'a String, b: &'a String| if a.is_empty() { b.as_str() } else { a.as_str() };
    Process {
        args: &exec.args,
        env: &exec.env,
        cwd: or(&exec.cwd, &ctx.spec.cwd),
        user: or(&exec.user, &ctx.spec.user),
        caps: if exec.privileged { ALL } else { ctx.confinement.caps },
        no_new_privileges: ctx.spec.no_new_privileges,
        // Docker keeps the container's filter for `exec --privileged` too.
        seccomp: ctx.confinement.seccomp,
    }
}

fn exec_child(
    namespaces: &[(File, CloneFlags)],
    procs: &[PathBuf],
    process: &Process,
    stdio: &Stdio,
    channel: &Channel,
) {
    let result = (|| {
        process::join_cgroups(procs)?;
        for (file, flag) in namespaces {
            nix::sched::setns(file, *flag).map_err(StartError::syscall("enter the container's namespaces"))?;
        }
        process::connect_pipes(stdio)?;
        process::finish(process, stdio, channel)
    })();
    match result {
        Ok(never) => match never {},
        Err(e) => process::exit_with(channel, e),
    }
}

/// The init's namespaces an exec joins (the pid namespace is entered by the fork); the
/// mount namespace last, as it hides the host's /proc.
fn open_namespaces(pid: Pid) -> Result<Vec<(File, CloneFlags)>, StartError> {
    [
        ("ipc", CloneFlags::CLONE_NEWIPC),
        ("uts", CloneFlags::CLONE_NEWUTS),
        ("net", CloneFlags::CLONE_NEWNET),
        ("mnt", CloneFlags::CLONE_NEWNS),
    ]
    .into_iter()
    .map(|(name, flag)| {
        let file = File::open(format!("/proc/{pid}/ns/{name}")).map_err(io_error("open the container's namespaces"))?;
        Ok((file, flag))
    })
    .collect()
}

/// The child's and the monitor's ends of a process's stdio; a tty's are made by the child.
fn make_stdio(tty: bool, open_stdin: bool, console: bool) -> Result<(Stdio, ProcIo), StartError> {
    if tty {
        return Ok((Stdio::Tty { console }, ProcIo { tty: true, ..ProcIo::default() }));
    }
    let pipe = || pipe2(OFlag::O_CLOEXEC).map_err(StartError::syscall("make a pipe"));
    let (stdin_r, stdin_w) = if open_stdin {
        let (r, w) = pipe()?;
        (r, Some(w))
    } else {
        (File::open("/dev/null").map_err(io_error("open /dev/null"))?.into(), None)
    };
    let (out_r, out_w) = pipe()?;
    let (err_r, err_w) = pipe()?;
    let io = ProcIo { out: Some(out_r), err: Some(err_r), stdin: stdin_w, tty: false };
    Ok((Stdio::Pipes([stdin_r, out_w, err_w]), io))
}

/// Waits on the sync channel: the pty master, then EOF (exec'd) or an error (the child
/// has exited and is reaped here).
fn await_exec(pid: Pid, channel: &Channel, mut io: ProcIo) -> Result<Launched, StartError> {
    loop {
        match channel.recv() {
            Ok(Message::Pty(master)) => {
                io.stdin = Some(master.try_clone().map_err(io_error("duplicate the pty master"))?);
                io.out = Some(master);
            }
            Ok(Message::Exec) => return Ok(Launched { pid, io }),
            Ok(Message::Error { code, message }) => {
                let _ = waitpid(pid, None);
                return Err(StartError::Child { code, message });
            }
            Err(errno) => {
                let _ = kill(pid, Signal::SIGKILL);
                let _ = waitpid(pid, None);
                return Err(StartError::Syscall { what: "hear from the starting process".into(), errno });
            }
        }
    }
}

fn io_error(what: &'static str) -> impl FnOnce(std::io::Error) -> StartError {
    move |source| StartError::Io { what: what.into(), source }
}
