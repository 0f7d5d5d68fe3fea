//! What the daemon asks the runtime for: a container's [`Spec`] (written as `spec.json` in the
//! container's state dir), an [`ExecSpec`] for `exec`, and the [`ExitStatus`] the monitor records.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// The PATH searched for `args[0]` when the container's environment has none (Docker's).
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Everything the monitor needs to create and run one container.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Spec {
    /// The 64-hex container id; names the cgroups.
    pub id: String,
    /// Owned by the daemon; `spec.json`, `monitor.sock`, `monitor.pid` and `exit.json` live here.
    pub state_dir: PathBuf,
    /// The already-mounted root file system, as a host path.
    pub rootfs: PathBuf,
    /// argv; an `args[0]` without '/' is looked up in the container's PATH.
    pub args: Vec<String>,
    /// `KEY=value` pairs; HOME is added from /etc/passwd when missing.
    pub env: Vec<String>,
    /// Working directory, created (root, 0755) when missing; "" means "/".
    pub cwd: String,
    /// "", "name", "uid", "uid:gid" or "name:group", resolved in the container's /etc/passwd.
    pub user: String,
    pub hostname: String,
    pub domainname: String,
    pub tty: bool,
    pub open_stdin: bool,
    /// Close the container's stdin when the first attacher that sent stdin goes away.
    pub stdin_once: bool,
    pub network: Network,
    pub pid_host: bool,
    pub ipc_host: bool,
    pub uts_host: bool,
    /// Applied in order after the standard mounts.
    pub mounts: Vec<Mount>,
    pub readonly_rootfs: bool,
    pub privileged: bool,
    /// Capability names, with or without `CAP_`, or `ALL`.
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub no_new_privileges: bool,
    /// The seccomp filter of a non-privileged container's processes.
    pub seccomp: Seccomp,
    pub cgroup: Cgroup,
    /// Docker's json-file log; no log when `None`.
    pub log_path: Option<PathBuf>,
    /// Recorded for the daemon's `stop`; the runtime itself does not use it.
    pub stop_signal: Option<String>,
}

/// The container's network namespace.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Network {
    /// A fresh namespace with only `lo`, brought up.
    #[default]
    New,
    /// The host's namespace.
    Host,
    /// An existing namespace file (e.g. a bind-mounted `/proc/<pid>/ns/net`) to `setns` into.
    Join(PathBuf),
}

/// The seccomp profile (`--security-opt seccomp=...`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Seccomp {
    /// Docker's default profile: the calls it blocks for the container's capabilities fail
    /// with EPERM ([`crate::seccomp`]). A privileged container gets no filter.
    #[default]
    Default,
    /// No filter (`seccomp=unconfined`).
    Unconfined,
}

/// One mount the daemon adds: volumes, `/etc/hosts` and friends, `--tmpfs`, `--mount`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum Mount {
    /// A recursive bind of a host path; the destination is created as a file or a directory
    /// matching the source.
    Bind {
        source: PathBuf,
        destination: String,
        #[serde(default)]
        readonly: bool,
        /// Docker's default is `rprivate`.
        #[serde(default)]
        propagation: Option<Propagation>,
    },
    /// A tmpfs with `--tmpfs` style options: flags (`ro`, `noexec`, `exec`, ...) and data
    /// (`size=64m,mode=1777,uid=1000,gid=1000`). Docker's defaults `noexec,nosuid,nodev` apply
    /// unless the options say `exec`, `suid` or `dev`.
    Tmpfs {
        destination: String,
        #[serde(default)]
        options: String,
    },
}

impl Mount {
    /// Where the mount goes inside the container.
    pub fn destination(&self) -> &str {
        match self {
            Mount::Bind { destination, .. } | Mount::Tmpfs { destination, .. } => destination,
        }
    }
}

/// Mount propagation of a bind mount, as `-v src:dst:rslave` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Propagation {
    Private,
    Rprivate,
    Shared,
    Rshared,
    Slave,
    Rslave,
}

/// The container's cgroup and its limits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Cgroup {
    /// The group's parent under each hierarchy; the group itself is `<parent>/<id>`.
    pub parent: String,
    /// Bytes.
    pub memory: Option<i64>,
    /// Memory plus swap in bytes, -1 for unlimited swap.
    pub memory_swap: Option<i64>,
    /// Relative CPU weight (`-c`); 0 or `None` leaves the kernel's default.
    pub cpu_shares: Option<u64>,
    /// Maximum number of tasks; 0 or negative means unlimited.
    pub pids_limit: Option<i64>,
}

impl Cgroup {
    /// The parent, "berth" when empty.
    pub fn parent_name(&self) -> &str {
        if self.parent.is_empty() {
            "berth"
        } else {
            &self.parent
        }
    }
}

impl Default for Cgroup {
    fn default() -> Self {
        Cgroup { parent: "berth".into(), memory: None, memory_swap: None, cpu_shares: None, pids_limit: None }
    }
}

/// Another process in a running container (`docker exec`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ExecSpec {
    pub args: Vec<String>,
    /// The complete environment of the process (the daemon merges the container's).
    pub env: Vec<String>,
    /// "" runs as the container's user.
    pub user: String,
    /// "" runs in the container's working directory.
    pub cwd: String,
    pub tty: bool,
    /// Forward the attach stream's input; its end closes the process's stdin.
    pub open_stdin: bool,
    /// All capabilities, as for a privileged container.
    pub privileged: bool,
}

/// How a container ended, as `exit.json` records it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ExitStatus {
    /// The exit status, or 128 + the signal's number when a signal killed it; 126/127 (or 128)
    /// when the process could not be started.
    pub code: i32,
    pub signal: Option<i32>,
    pub oom_killed: bool,
    /// RFC 3339 with nanoseconds, UTC; empty when the process never started.
    pub started_at: String,
    pub finished_at: String,
    /// Why the container could not start, as the start error said.
    pub error: String,
}
