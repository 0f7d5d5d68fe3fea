//! Daemons that cases start themselves, to check the daemon's own flags: each in its own
//! temporary directory (socket, graph root, pid file, log), stopped and removed when the case
//! ends, even when it fails.

use crate::engine::Engine;
use anyhow::{bail, ensure, Context};
use berth_client::{Client, Reply};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::time::{Duration, Instant};

/// How long a daemon may take to answer its first ping.
pub const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// What a case wants of its daemon.
#[derive(Default)]
pub struct Spec {
    /// `-H` values; `None` means one unix socket in the case's directory.
    pub hosts: Option<Vec<String>>,
    /// More flags, after the profile's.
    pub args: Vec<String>,
    /// Run as this uid and gid instead of root.
    pub as_user: Option<u32>,
    /// Sockets to hand over as systemd would: descriptors 3, 4, ... with LISTEN_FDS and
    /// LISTEN_PID set for the daemon itself.
    pub activated: Vec<OwnedFd>,
    /// A network namespace (its file, as `ip netns add` makes under /run/netns) to run the
    /// daemon in, with its own bridge and iptables: the profile's `network` arguments, which
    /// keep a daemon off the host's network, are then left out.
    pub netns: Option<PathBuf>,
    /// A file the daemon sees as /etc/group (a mount namespace of its own), so a case can
    /// show what the daemon does with or without a group without touching the host's groups.
    pub etc_group: Option<PathBuf>,
}

pub struct TestDaemon {
    pub dir: PathBuf,
    /// `unix://.../engine.sock` when the profile's socket is used.
    pub host: String,
    child: tokio::process::Child,
    /// How it was started, for [`TestDaemon::restart`].
    launched: Launched,
}

/// A daemon's command line and where it runs.
#[derive(Clone)]
struct Launched {
    program: String,
    args: Vec<String>,
    as_user: Option<u32>,
    netns: Option<PathBuf>,
    etc_group: Option<PathBuf>,
}

impl TestDaemon {
    pub async fn start(engine: &Engine, spec: Spec) -> anyhow::Result<TestDaemon> {
        let dir = PathBuf::from(format!("/tmp/{}", engine.unique("daemon")));
        std::fs::create_dir_all(&dir)?;
        match launch(engine, &dir, spec) {
            Ok((host, child, launched)) => Ok(TestDaemon { dir, host, child, launched }),
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                Err(e)
            }
        }
    }

    /// A client for one of the daemon's endpoints.
    pub fn client(&self, host: &str) -> anyhow::Result<Client> {
        Ok(Client::new(berth_api::Host::parse(host, Path::new("/nonexistent"))?)?)
    }

    /// Waits until `host` answers `/_ping`, or fails with the daemon's log.
    pub async fn ready(&mut self, host: &str) -> anyhow::Result<()> {
        let client = self.client(host)?;
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Ok(reply) = client.call(http::Method::GET, "/_ping", None).await {
                if reply.status.is_success() {
                    return Ok(());
                }
            }
            if let Some(status) = self.child.try_wait()? {
                bail!("the daemon exited ({status}) before answering on {host}:\n{}", self.log());
            }
            if Instant::now() > deadline {
                bail!("the daemon did not answer on {host} within {READY_TIMEOUT:?}:\n{}", self.log());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// `GET path` on one of the daemon's endpoints.
    pub async fn get(&self, host: &str, path: &str) -> anyhow::Result<Reply> {
        Ok(self.client(host)?.call(http::Method::GET, path, None).await?)
    }

    /// Waits for the daemon to exit by itself (a refusal to start), up to `within`.
    pub async fn exit(&mut self, within: Duration) -> anyhow::Result<ExitStatus> {
        match tokio::time::timeout(within, self.child.wait()).await {
            Ok(status) => Ok(status?),
            Err(_) => bail!("the daemon was still running after {within:?}:\n{}", self.log()),
        }
    }

    /// Stops the daemon with SIGTERM (SIGKILL after 20 s) and returns how it ended.
    pub async fn stop(&mut self) -> anyhow::Result<ExitStatus> {
        if let Some(status) = self.child.try_wait()? {
            return Ok(status);
        }
        if let Some(pid) = self.child.id() {
            // SAFETY: signalling our own child, which has not been reaped (try_wait above).
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) };
        }
        match tokio::time::timeout(Duration::from_secs(20), self.child.wait()).await {
            Ok(status) => Ok(status?),
            Err(_) => {
                self.child.kill().await?;
                bail!("the daemon ignored SIGTERM for 20 s:\n{}", self.log())
            }
        }
    }

    /// Stops the daemon and starts it again with the same arguments and state, as an
    /// operator restarting the engine would; waits until it answers on `host`.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        let status = self.stop().await?;
        ensure!(status.success(), "the daemon exited {status} on SIGTERM:\n{}", self.log());
        let launched = &self.launched;
        let spec = Spec {
            as_user: launched.as_user,
            netns: launched.netns.clone(),
            etc_group: launched.etc_group.clone(),
            ..Default::default()
        };
        self.child = spawn(&self.launched.program, &self.launched.args, &self.dir, spec)?;
        let host = self.host.clone();
        self.ready(&host).await
    }

    /// What the daemon wrote to stdout and stderr.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("daemon.log")).unwrap_or_default()
    }
}

impl Drop for TestDaemon {
    /// A case that ends early still stops its daemon gently first, so the daemon removes its
    /// sockets (some may lie outside the case's directory); SIGKILL after 5 s.
    fn drop(&mut self) {
        if let (Ok(None), Some(pid)) = (self.child.try_wait(), self.child.id()) {
            // SAFETY: signalling our own child, which has not been reaped (try_wait above).
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) };
            let deadline = std::time::Instant::now() + Duration::from_secs(5);
            while matches!(self.child.try_wait(), Ok(None)) && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        // SIGKILL if still running; tokio reaps the child in the background.
        let _ = self.child.start_kill();
        unmount_under(&self.dir);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Writes the profile's files into `dir` and starts the daemon with the profile's arguments.
fn launch(engine: &Engine, dir: &Path, spec: Spec) -> anyhow::Result<(String, tokio::process::Child, Launched)> {
    let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or("spec").to_string();
    let fill = |text: &str| fill(text, dir, &name);
    for (file, content) in &engine.profile.launch.files {
        std::fs::write(dir.join(file), fill(content)?)?;
    }
    let host = format!("unix://{}/engine.sock", dir.display());
    let (program, mut args) = engine.daemon_command()?;
    for arg in &engine.profile.launch.args {
        args.push(fill(arg)?);
    }
    if spec.netns.is_none() {
        args.extend(engine.profile.launch.network.iter().cloned());
    }
    for h in spec.hosts.clone().unwrap_or_else(|| vec![host.clone()]) {
        args.extend(["-H".to_string(), h]);
    }
    args.extend(spec.args.iter().cloned());
    let launched = Launched {
        program: program.clone(),
        args: args.clone(),
        as_user: spec.as_user,
        netns: spec.netns.clone(),
        etc_group: spec.etc_group.clone(),
    };
    Ok((host, spawn(&program, &args, dir, spec)?, launched))
}

fn spawn(program: &str, args: &[String], dir: &Path, spec: Spec) -> anyhow::Result<tokio::process::Child> {
    let log = std::fs::File::create(dir.join("daemon.log"))?;
    // Socket activation wants LISTEN_PID to be the daemon's own pid, known only after fork:
    // a shell sets it to its pid and then execs the daemon in its place.
    ensure!(spec.etc_group.is_none() || spec.activated.is_empty(), "a daemon cannot have both etc_group and activated");
    let mut command = if let Some(group) = &spec.etc_group {
        let mut unshare = tokio::process::Command::new("unshare");
        unshare.args([
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            "mount --bind \"$0\" /etc/group && exec \"$@\"",
        ]);
        unshare.arg(group).arg(program);
        unshare
    } else if spec.activated.is_empty() {
        tokio::process::Command::new(program)
    } else {
        let mut sh = tokio::process::Command::new("sh");
        sh.args(["-c", "LISTEN_PID=$$ exec \"$0\" \"$@\"", program]);
        sh.env("LISTEN_FDS", spec.activated.len().to_string());
        sh
    };
    command.args(args).stdin(std::process::Stdio::null()).stdout(log.try_clone()?).stderr(log).kill_on_drop(true);
    let activated: Vec<i32> = spec.activated.iter().map(|fd| fd.as_raw_fd()).collect();
    let uid = spec.as_user;
    let netns = match &spec.netns {
        Some(path) => Some(std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?),
        None => None,
    };
    let netns_fd = netns.as_ref().map(|f| f.as_raw_fd());
    // SAFETY: the closure runs in the forked child before exec and makes only async-signal-
    // safe calls (setns, dup2, fcntl, setgroups, setgid, setuid), allocating nothing.
    unsafe {
        command.pre_exec(move || child_setup(netns_fd, &activated, uid));
    }
    let child = command.spawn().with_context(|| format!("cannot start {program}"))?;
    drop(spec.activated);
    drop(netns);
    Ok(child)
}

/// In the forked child: enter the network namespace, put activated sockets at 3, 4, ... and
/// drop to a user, each if asked.
fn child_setup(netns: Option<i32>, activated: &[i32], uid: Option<u32>) -> std::io::Result<()> {
    if let Some(fd) = netns {
        // SAFETY: setns on a namespace file this process opened; a failure is reported.
        if unsafe { libc::setns(fd, libc::CLONE_NEWNET) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    for (i, fd) in activated.iter().enumerate() {
        let target = 3 + i as i32;
        // SAFETY: dup2 on descriptors this process owns; dup2 clears FD_CLOEXEC on the copy.
        if unsafe { libc::dup2(*fd, target) } < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    if let Some(id) = uid {
        // SAFETY: credential syscalls in the child before exec; a failure is reported.
        let ok = unsafe { libc::setgroups(0, std::ptr::null()) == 0 && libc::setgid(id) == 0 && libc::setuid(id) == 0 };
        if !ok {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

fn fill(text: &str, dir: &Path, name: &str) -> anyhow::Result<String> {
    let mut out = text.replace("{dir}", &dir.display().to_string()).replace("{name}", name);
    while let Some(start) = out.find("{env:") {
        let end = out[start..].find('}').map(|e| start + e).context("unclosed {env:...} in the profile")?;
        let var = &out[start + 5..end];
        let value = std::env::var(var).with_context(|| format!("the profile needs the environment variable {var}"))?;
        out.replace_range(start..=end, &value);
    }
    Ok(out)
}

/// Lazily unmounts whatever the daemon left mounted under `dir`, deepest first.
fn unmount_under(dir: &Path) {
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    let prefix = dir.display().to_string();
    let mut points: Vec<&str> =
        mounts.lines().filter_map(|l| l.split(' ').nth(1)).filter(|m| m.starts_with(&prefix)).collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for point in points {
        let _ = std::process::Command::new("umount").arg("-l").arg(point).status();
    }
}
