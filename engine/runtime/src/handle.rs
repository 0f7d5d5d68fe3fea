//! The daemon's side of a container: [`Monitor`] starts the monitor process and talks to it
//! on `monitor.sock` ([`crate::protocol`]); [`exit_status`] and [`cleanup`] work from the
//! state dir alone, for a monitor that is gone.

use crate::cgroups::{Cgroups, Layout};
use crate::error::RuntimeError;
use crate::fsutil;
use crate::protocol::{self, Reply, Request};
use crate::spec::{ExecSpec, ExitStatus, Spec};
use nix::fcntl::OFlag;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream as StdUnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

/// How long a synchronous request may wait for the monitor's answer.
const SYNC_TIMEOUT: Duration = Duration::from_secs(30);

/// A handle on one container's monitor; cheap, holds no connection.
#[derive(Debug, Clone)]
pub struct Monitor {
    state_dir: PathBuf,
    socket: PathBuf,
    pid: i32,
}

/// Which of the container's streams an attach carries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AttachStreams {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
}

impl Monitor {
    /// Writes `spec.json`, starts `exe __monitor <state_dir>` detached, and waits until the
    /// container's process has exec'd (returning the handle and the init's host pid) or
    /// failed to start ([`RuntimeError::Start`], with nothing left running).
    pub fn start(exe: &Path, spec: &Spec) -> Result<(Monitor, i32), RuntimeError> {
        Monitor::spawn(exe, spec, None)
    }

    /// As [`Monitor::start`], with an attach stream connected before the process runs, so
    /// it misses none of the output (`docker run` without `-d`). The stream carries frames
    /// from the first byte (no reply header); convert it with
    /// `tokio::net::UnixStream::from_std` after `set_nonblocking(true)`.
    pub fn start_attached(
        exe: &Path,
        spec: &Spec,
        streams: AttachStreams,
    ) -> Result<(Monitor, i32, StdUnixStream), RuntimeError> {
        let (ours, theirs) = StdUnixStream::pair().map_err(|source| spawn_error(exe, source))?;
        let (monitor, pid) = Monitor::spawn(exe, spec, Some((theirs, streams)))?;
        Ok((monitor, pid, ours))
    }

    fn spawn(
        exe: &Path,
        spec: &Spec,
        attach: Option<(StdUnixStream, AttachStreams)>,
    ) -> Result<(Monitor, i32), RuntimeError> {
        let spec_path = spec.state_dir.join("spec.json");
        let json = serde_json::to_vec(spec).unwrap_or_default();
        fsutil::atomic_write(&spec_path, &json)
            .map_err(|source| RuntimeError::WriteState { path: spec_path, source })?;
        let (ready_r, ready_w) = nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|e| spawn_error(exe, e.into()))?;
        let mut cmd = monitor_command(exe, &spec.state_dir, ready_w, attach);
        let mut child = cmd.spawn().map_err(|source| spawn_error(exe, source))?;
        // Our copy of the pipe's write end must go, or EOF never comes.
        drop(cmd);
        // The first process forks the monitor and exits at once (see monitor::detach).
        let _ = child.wait();
        let mut answer = Vec::new();
        std::fs::File::from(ready_r).read_to_end(&mut answer).map_err(|source| spawn_error(exe, source))?;
        let reply = parse_ready(&spec.state_dir, &answer)?;
        let pid = reply.pid.unwrap_or_default();
        Ok((Monitor::at(&spec.state_dir, pid), pid))
    }

    fn at(state_dir: &Path, pid: i32) -> Monitor {
        Monitor { state_dir: state_dir.to_path_buf(), socket: state_dir.join("monitor.sock"), pid }
    }

    /// Reconnects after a daemon restart; [`RuntimeError::Gone`] when the monitor is not
    /// running (then read [`exit_status`]).
    pub fn reconnect(state_dir: &Path) -> Result<Monitor, RuntimeError> {
        let probe = Monitor::at(state_dir, 0);
        let reply = probe.call(&Request::Info)?;
        Ok(Monitor::at(state_dir, reply.pid.unwrap_or_default()))
    }

    /// The container init's host pid.
    pub fn pid(&self) -> i32 {
        self.pid
    }

    pub fn state_dir(&self) -> &Path {
        &self.state_dir
    }

    /// Resolves when the container has exited (at once if it already has).
    pub async fn wait(&self) -> Result<ExitStatus, RuntimeError> {
        let answer = match self.open(&Request::Wait).await {
            Ok(mut stream) => read_reply(&mut stream).await.ok(),
            Err(RuntimeError::Gone(_)) => None,
            Err(e) => return Err(e),
        };
        match answer.and_then(|r| r.ok()).and_then(|r| r.exit) {
            Some(status) => Ok(status),
            // The monitor ended between our connect and its answer: exit.json says how.
            None => exit_status(&self.state_dir).ok_or_else(|| RuntimeError::Gone(self.state_dir.clone())),
        }
    }

    /// Sends `signal` to the container's init.
    pub fn signal(&self, signal: i32) -> Result<(), RuntimeError> {
        self.call(&Request::Signal { signal }).map(drop)
    }

    /// Sets the container's tty size.
    pub fn resize(&self, rows: u16, cols: u16) -> Result<(), RuntimeError> {
        self.call(&Request::Resize { rows, cols, exec: None }).map(drop)
    }

    /// A live attach stream (see [`crate::protocol`] for its framing).
    pub async fn attach(&self, stdin: bool, stdout: bool, stderr: bool) -> Result<UnixStream, RuntimeError> {
        let mut stream = self.open(&Request::Attach { stdin, stdout, stderr }).await?;
        self.check(read_reply(&mut stream).await)?;
        Ok(stream)
    }

    /// Runs another process in the container; its stdio stream and a handle for its exit code.
    pub async fn exec(&self, spec: &ExecSpec) -> Result<(UnixStream, ExecHandle), RuntimeError> {
        let mut stream = self.open(&Request::Exec { spec: spec.clone() }).await?;
        let reply = self.check(read_reply(&mut stream).await)?;
        let handle = ExecHandle {
            monitor: self.clone(),
            id: reply.exec_id.unwrap_or_default(),
            pid: reply.pid.unwrap_or_default(),
        };
        Ok((stream, handle))
    }

    /// One request and its answer over a blocking connection.
    fn call(&self, request: &Request) -> Result<Reply, RuntimeError> {
        let mut stream = StdUnixStream::connect(&self.socket).map_err(|e| self.connect_error(e))?;
        let io = |e| self.connect_error(e);
        stream.set_read_timeout(Some(SYNC_TIMEOUT)).map_err(io)?;
        stream.write_all(&protocol::encode(request)).map_err(io)?;
        let mut buf = Vec::new();
        loop {
            if let Some((json, _)) = protocol::split_message(&buf).map_err(|d| self.protocol_error(d))? {
                return self.check(Ok(Ok(parse_reply(json))));
            }
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk).map_err(io)? {
                0 => return Err(RuntimeError::Gone(self.state_dir.clone())),
                n => buf.extend_from_slice(&chunk[..n]),
            }
        }
    }

    async fn open(&self, request: &Request) -> Result<UnixStream, RuntimeError> {
        let mut stream = UnixStream::connect(&self.socket).await.map_err(|e| self.connect_error(e))?;
        stream.write_all(&protocol::encode(request)).await.map_err(|e| self.connect_error(e))?;
        Ok(stream)
    }

    fn check(&self, reply: Result<Result<Reply, String>, std::io::Error>) -> Result<Reply, RuntimeError> {
        match reply {
            Err(e) => Err(self.connect_error(e)),
            Ok(Err(detail)) => Err(self.protocol_error(detail)),
            Ok(Ok(reply)) => reply_result(reply),
        }
    }

    /// A monitor that is not there, or that closed the connection because it is exiting
    /// (connections still queued when it stops listening are reset), is `Gone`.
    fn connect_error(&self, e: std::io::Error) -> RuntimeError {
        let gone = matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ECONNREFUSED | libc::ECONNRESET | libc::EPIPE))
            || e.kind() == std::io::ErrorKind::UnexpectedEof;
        match gone {
            true => RuntimeError::Gone(self.state_dir.clone()),
            false => RuntimeError::Io { path: self.socket.clone(), source: e },
        }
    }

    fn protocol_error(&self, detail: String) -> RuntimeError {
        RuntimeError::Protocol { path: self.socket.clone(), detail }
    }
}

/// A process started by [`Monitor::exec`].
#[derive(Debug, Clone)]
pub struct ExecHandle {
    monitor: Monitor,
    id: u32,
    pid: i32,
}

impl ExecHandle {
    /// The exec's id in its monitor.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// The exec's host pid.
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// The exec's exit code, once it has exited.
    pub async fn wait(&self) -> Result<i32, RuntimeError> {
        let mut stream = self.monitor.open(&Request::ExecWait { id: self.id }).await?;
        let reply = self.monitor.check(read_reply(&mut stream).await)?;
        Ok(reply.exit_code.unwrap_or(-1))
    }

    /// Sets the exec's tty size.
    pub fn resize(&self, rows: u16, cols: u16) -> Result<(), RuntimeError> {
        self.monitor.call(&Request::Resize { rows, cols, exec: Some(self.id) }).map(drop)
    }
}

/// Reads one length-prefixed reply without reading past it (a stream may follow).
async fn read_reply(stream: &mut UnixStream) -> std::io::Result<Result<Reply, String>> {
    let mut len = [0u8; 4];
    stream.read_exact(&mut len).await?;
    let len = u32::from_be_bytes(len) as usize;
    if len > protocol::MAX_MESSAGE {
        return Ok(Err(format!("reply of {len} bytes is over the limit")));
    }
    let mut json = vec![0u8; len];
    stream.read_exact(&mut json).await?;
    Ok(Ok(parse_reply(&json)))
}

fn parse_reply(json: &[u8]) -> Reply {
    serde_json::from_slice(json).unwrap_or_else(|e| Reply::error(format!("unreadable reply from the monitor: {e}")))
}

fn reply_result(reply: Reply) -> Result<Reply, RuntimeError> {
    match (reply.error.clone(), reply.exit_code) {
        (Some(message), Some(exit_code)) => Err(RuntimeError::Start { message, exit_code }),
        (Some(message), None) => Err(RuntimeError::Refused(message)),
        (None, _) => Ok(reply),
    }
}

/// The monitor's answer on the ready pipe; nothing at all means it died before answering.
fn parse_ready(state_dir: &Path, answer: &[u8]) -> Result<Reply, RuntimeError> {
    if answer.is_empty() {
        let message = exit_status(state_dir)
            .map(|s| s.error)
            .filter(|e| !e.is_empty())
            .unwrap_or_else(|| "the monitor exited before the container started".into());
        return Err(RuntimeError::Start { message, exit_code: 128 });
    }
    let reply: Reply = serde_json::from_slice(answer).map_err(|e| RuntimeError::Protocol {
        path: state_dir.to_path_buf(),
        detail: format!("unreadable start answer: {e}"),
    })?;
    match (reply.error.clone(), reply.pid) {
        (Some(message), _) => Err(RuntimeError::Start { message, exit_code: reply.exit_code.unwrap_or(128) }),
        (None, Some(_)) => Ok(reply),
        (None, None) => {
            Err(RuntimeError::Protocol { path: state_dir.into(), detail: "start answer without a pid".into() })
        }
    }
}

/// `exe __monitor <state_dir> [--attach=ioe]`, its stdout the ready pipe, its stdin the
/// attach socket (or /dev/null), no environment.
fn monitor_command(
    exe: &Path,
    state_dir: &Path,
    ready: std::os::fd::OwnedFd,
    attach: Option<(StdUnixStream, AttachStreams)>,
) -> Command {
    let mut cmd = Command::new(exe);
    cmd.arg(crate::monitor::MODE).arg(state_dir).env_clear();
    cmd.stdout(Stdio::from(ready)).stderr(Stdio::null());
    match attach {
        Some((stream, s)) => {
            let letters: String = [(s.stdin, 'i'), (s.stdout, 'o'), (s.stderr, 'e')]
                .iter()
                .filter_map(|(on, c)| on.then_some(*c))
                .collect();
            cmd.arg(format!("--attach={letters}")).stdin(Stdio::from(std::os::fd::OwnedFd::from(stream)))
        }
        None => cmd.stdin(Stdio::null()),
    };
    cmd
}

fn spawn_error(exe: &Path, source: std::io::Error) -> RuntimeError {
    RuntimeError::Spawn { exe: exe.to_path_buf(), source }
}

/// How the container ended, from `exit.json`; `None` while it has not (or never ran).
pub fn exit_status(state_dir: &Path) -> Option<ExitStatus> {
    let bytes = std::fs::read(state_dir.join("exit.json")).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Best-effort removal of what a container can leave behind when its monitor could not
/// clean up (it was killed): its cgroups (processes in them are killed) and the monitor's
/// socket and pid files. Mounts need nothing: they all live in the container's mount
/// namespace, which ends with its last process.
pub fn cleanup(state_dir: &Path, spec_id: &str) {
    let spec: Option<Spec> =
        std::fs::read(state_dir.join("spec.json")).ok().and_then(|b| serde_json::from_slice(&b).ok());
    let parent = spec.as_ref().map_or("berth", |s| s.cgroup.parent_name()).to_string();
    if let Ok(groups) = Layout::detect().and_then(|layout| Cgroups::new(&layout, &parent, spec_id)) {
        let _ = groups.destroy();
    }
    let _ = std::fs::remove_file(state_dir.join("monitor.sock"));
    let _ = std::fs::remove_file(state_dir.join("monitor.pid"));
}
