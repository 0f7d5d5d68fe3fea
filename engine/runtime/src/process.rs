//! The last steps of a starting container process, shared by the container's init and by
//! exec: its stdio (pipes, or a pty made in the container's own devpts), user, capabilities,
//! no_new_privs, working directory, the executable's lookup, and execve.

use crate::caps::{self, CapError, CapSet};
use crate::cgroups::{self, CgroupError};
use crate::mounts::MountError;
use crate::seccomp::{Filter, SeccompError};
use crate::spec::DEFAULT_PATH;
use crate::sync::Channel;
use crate::user::{self, ExecUser, UserError};
use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::signal::{sigprocmask, SigSet, SigmaskHow};
use nix::sys::stat::{umask, Mode};
use nix::unistd::{dup2, execve, setgroups, setresgid, setresuid, setsid, Gid, Uid};
use std::convert::Infallible;
use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Why a container process could not start; [`StartError::exit_code`] is what Docker records.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Mount(#[from] MountError),
    #[error(transparent)]
    User(#[from] UserError),
    #[error(transparent)]
    Caps(#[from] CapError),
    #[error(transparent)]
    Cgroup(#[from] CgroupError),
    #[error(transparent)]
    Seccomp(#[from] SeccompError),
    #[error("couldn't {what}: {errno}")]
    Syscall { what: String, errno: Errno },
    #[error("no command specified")]
    NoCommand,
    #[error("exec: \"{0}\": executable file not found in $PATH")]
    NotFound(String),
    #[error("exec: \"{name}\": stat {name}: {}", go_error(*.errno))]
    Stat { name: String, errno: Errno },
    #[error("exec: \"{name}\": {}", go_error(*.errno))]
    Exec { name: String, errno: Errno },
    #[error("couldn't change to the working directory \"{cwd}\": {}", go_error(*.errno))]
    Chdir { cwd: String, errno: Errno },
    #[error("couldn't {what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    /// What the child process reported before it exited.
    #[error("{message}")]
    Child { code: i32, message: String },
}

impl StartError {
    /// 127 when there is nothing to run, 126 when it cannot be run, 128 otherwise (moby).
    pub fn exit_code(&self) -> i32 {
        match self {
            StartError::NotFound(_) => 127,
            StartError::Stat { errno: Errno::ENOENT | Errno::ENOTDIR, .. } => 127,
            StartError::Exec { errno: Errno::ENOENT, .. } => 127,
            StartError::Stat { .. } | StartError::Exec { .. } => 126,
            StartError::Child { code, .. } => *code,
            _ => 128,
        }
    }

    pub fn syscall(what: impl Into<String>) -> impl FnOnce(Errno) -> StartError {
        let what = what.into();
        move |errno| StartError::Syscall { what, errno }
    }
}

/// Reports `err` to the monitor and ends the child process with its exit code.
pub fn exit_with(channel: &Channel, err: StartError) -> ! {
    channel.send_error(err.exit_code(), &err.to_string());
    // SAFETY: _exit ends this child at once, without running the monitor's atexit handlers
    // or destructors in a copy of the monitor's memory.
    unsafe { libc::_exit(err.exit_code()) }
}

/// An errno as Go spells it in `exec` errors: "permission denied", "no such file or directory".
fn go_error(errno: Errno) -> String {
    errno.desc().to_ascii_lowercase()
}

/// The process's stdio as the monitor prepared it.
pub enum Stdio {
    /// stdin (a pipe or /dev/null), stdout and stderr pipes.
    Pipes([OwnedFd; 3]),
    /// Make a pty in the container's /dev/pts; `console` also binds it over /dev/console.
    Tty { console: bool },
}

/// What the process runs as and runs.
pub struct Process<'a> {
    pub args: &'a [String],
    pub env: &'a [String],
    pub cwd: &'a str,
    pub user: &'a str,
    pub caps: CapSet,
    pub no_new_privileges: bool,
    /// The container's seccomp filter, if it has one.
    pub seccomp: Option<&'a Filter>,
}

/// Joins the cgroups by writing "0" (the writer) to each `cgroup.procs`.
pub fn join_cgroups(procs: &[PathBuf]) -> Result<(), StartError> {
    for file in procs {
        cgroups::write_file(file, "0")
            .map_err(|e| StartError::Cgroup(CgroupError::Write { path: file.clone(), value: "0".into(), source: e }))?;
    }
    Ok(())
}

/// Connects the pipes as fds 0-2 (before the mounts, while the monitor's fds are in reach).
pub fn connect_pipes(stdio: &Stdio) -> Result<(), StartError> {
    if let Stdio::Pipes(fds) = stdio {
        for (target, fd) in fds.iter().enumerate() {
            dup2(fd.as_raw_fd(), target as RawFd).map_err(StartError::syscall("connect the container's stdio"))?;
        }
    }
    Ok(())
}

/// From the container's root file system onwards: stdio, identity, capabilities, exec.
/// Returns only on failure.
pub fn finish(process: &Process, stdio: &Stdio, channel: &Channel) -> Result<Infallible, StartError> {
    setsid().map_err(StartError::syscall("start a session"))?;
    if let Stdio::Tty { console } = stdio {
        open_tty(channel, *console)?;
    }
    let user = read_user(process.user)?;
    let env = with_home(process.env, &user.home);
    let host_bounding = caps::read_bounding();
    caps::drop_bounding(host_bounding, process.caps)?;
    // As late as the filter can go: installing one takes CAP_SYS_ADMIN (or no_new_privs,
    // which the container may not want), which a non-root user loses with its uid. None of
    // the calls from here to execve is one the filter denies.
    if let Some(filter) = process.seccomp {
        filter.install()?;
    }
    set_identity(&user)?;
    caps::set_process(if user.uid == 0 { process.caps & host_bounding } else { 0 })?;
    if process.no_new_privileges {
        nix::sys::prctl::set_no_new_privs().map_err(StartError::syscall("set no_new_privs"))?;
    }
    let cwd = if process.cwd.is_empty() { "/" } else { process.cwd };
    nix::unistd::chdir(cwd).map_err(|errno| StartError::Chdir { cwd: cwd.into(), errno })?;
    let name = process.args.first().ok_or(StartError::NoCommand)?;
    let path = look_path(name, &env)?;
    exec(&path, name, process.args, &env)
}

/// Makes a pty in the container's devpts instance (so the process sees /dev/pts/0), hands
/// the master to the monitor and makes the slave the controlling terminal and stdio.
fn open_tty(channel: &Channel, console: bool) -> Result<(), StartError> {
    let flags = OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC;
    let master = nix::pty::posix_openpt(flags).map_err(StartError::syscall("open /dev/ptmx"))?;
    nix::pty::unlockpt(&master).map_err(StartError::syscall("unlock the pty"))?;
    let slave_path = nix::pty::ptsname_r(&master).map_err(StartError::syscall("name the pty"))?;
    let slave = nix::fcntl::open(slave_path.as_str(), flags, Mode::empty())
        .map_err(StartError::syscall(format!("open {slave_path}")))?;
    if console {
        crate::mounts::bind_console(&slave_path)?;
    }
    channel.send_pty(master.as_raw_fd()).map_err(StartError::syscall("pass the pty to the monitor"))?;
    // SAFETY: TIOCSCTTY takes an int argument and reads no memory; `slave` is an open tty.
    let rc = unsafe { libc::ioctl(slave, libc::TIOCSCTTY, 0) };
    Errno::result(rc).map_err(StartError::syscall("make the pty the controlling terminal"))?;
    for target in 0..3 {
        dup2(slave, target).map_err(StartError::syscall("connect the pty"))?;
    }
    if slave > 2 {
        let _ = nix::unistd::close(slave);
    }
    Ok(())
}

/// Resolves the user in the container's (current root's) /etc/passwd and /etc/group.
fn read_user(spec: &str) -> Result<ExecUser, StartError> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok();
    let group = std::fs::read_to_string("/etc/group").ok();
    Ok(user::resolve(spec, passwd.as_deref(), group.as_deref())?)
}

/// `env` with HOME added when it has none.
fn with_home(env: &[String], home: &str) -> Vec<String> {
    let mut env = env.to_vec();
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        env.push(format!("HOME={home}"));
    }
    env
}

/// Sets the groups (the primary one first, then the supplementary ones, as moby's
/// AdditionalGids), gid and uid.
fn set_identity(user: &ExecUser) -> Result<(), StartError> {
    let mut groups = vec![Gid::from_raw(user.gid)];
    for gid in user.sgids.iter().map(|g| Gid::from_raw(*g)) {
        if !groups.contains(&gid) {
            groups.push(gid);
        }
    }
    setgroups(&groups).map_err(StartError::syscall("set the supplementary groups"))?;
    let gid = Gid::from_raw(user.gid);
    setresgid(gid, gid, gid).map_err(StartError::syscall(format!("set gid {}", user.gid)))?;
    let uid = Uid::from_raw(user.uid);
    setresuid(uid, uid, uid).map_err(StartError::syscall(format!("set uid {}", user.uid)))
}

/// Go's `exec.LookPath` against the container's PATH: a name with '/' is used as it is;
/// a candidate must be a non-directory with an execute bit.
fn look_path(name: &str, env: &[String]) -> Result<PathBuf, StartError> {
    if name.contains('/') {
        return match std::fs::metadata(name) {
            Ok(meta) if executable(&meta) => Ok(name.into()),
            Ok(_) => Err(StartError::Exec { name: name.into(), errno: Errno::EACCES }),
            Err(e) => {
                Err(StartError::Stat { name: name.into(), errno: Errno::from_raw(e.raw_os_error().unwrap_or(0)) })
            }
        };
    }
    let path = env.iter().rev().find_map(|e| e.strip_prefix("PATH=")).unwrap_or(DEFAULT_PATH);
    let dirs = path.split(':').map(|d| if d.is_empty() { "." } else { d });
    dirs.map(|d| Path::new(d).join(name))
        .find(|p| std::fs::metadata(p).is_ok_and(|m| executable(&m)))
        .ok_or_else(|| StartError::NotFound(name.into()))
}

fn executable(meta: &std::fs::Metadata) -> bool {
    !meta.is_dir() && meta.permissions().mode() & 0o111 != 0
}

/// Restores what the monitor changed for itself (signal mask and dispositions, umask) and
/// replaces the process.
fn exec(path: &Path, name: &str, args: &[String], env: &[String]) -> Result<Infallible, StartError> {
    let cstr = |s: &str| CString::new(s).map_err(|_| StartError::Exec { name: name.into(), errno: Errno::EINVAL });
    let path_c = cstr(&path.to_string_lossy())?;
    let args_c = args.iter().map(|a| cstr(a)).collect::<Result<Vec<_>, _>>()?;
    let env_c = env.iter().map(|e| cstr(e)).collect::<Result<Vec<_>, _>>()?;
    reset_signals();
    umask(Mode::from_bits_truncate(0o022));
    let errno = execve(&path_c, &args_c, &env_c).unwrap_err();
    Err(StartError::Exec { name: name.into(), errno })
}

/// Default dispositions for every signal (ignored ones survive exec) and an empty mask.
fn reset_signals() {
    for sig in 1..=libc::SIGRTMAX() {
        if sig != libc::SIGKILL && sig != libc::SIGSTOP {
            // SAFETY: SIG_DFL installs no handler; signals the kernel refuses just fail.
            unsafe { libc::signal(sig, libc::SIG_DFL) };
        }
    }
    let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn home_is_added_only_when_missing() {
        let env = vec!["PATH=/bin".to_string()];
        assert_eq!(with_home(&env, "/root"), ["PATH=/bin", "HOME=/root"]);
        let env = vec!["HOME=/x".to_string()];
        assert_eq!(with_home(&env, "/root"), ["HOME=/x"]);
    }

    #[test]
    fn look_path_follows_go() {
        let env = vec!["PATH=/nonexistent:/bin:/usr/bin".to_string()];
        assert!(look_path("sh", &env).unwrap().ends_with("sh"));
        let err = look_path("definitely-not-here", &env).unwrap_err();
        assert_eq!(err.to_string(), "exec: \"definitely-not-here\": executable file not found in $PATH");
        assert_eq!(err.exit_code(), 127);
        let err = look_path("/etc/passwd", &env).unwrap_err();
        assert_eq!((err.to_string().as_str(), err.exit_code()), ("exec: \"/etc/passwd\": permission denied", 126));
        let err = look_path("/no/such", &env).unwrap_err();
        assert_eq!(err.to_string(), "exec: \"/no/such\": stat /no/such: no such file or directory");
        assert_eq!(err.exit_code(), 127);
    }
}
