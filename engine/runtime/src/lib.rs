//! berth's container runtime (no runc): a per-container monitor process that creates the
//! namespaces, mounts, capabilities, seccomp filter and cgroups of Docker's containers, runs
//! the container's process, logs its output, records its exit, and serves the daemon on a
//! unix socket.
//!
//! The daemon uses [`Monitor`]: `Monitor::start(exe, spec)` writes `<state_dir>/spec.json` and
//! runs `exe __monitor <state_dir>`; the `berth` binary hands that mode to [`monitor::main`].
//! The monitor forks once more so that init, not the daemon, becomes its parent, then clones
//! the container's init; it outlives a daemon that dies. Files in the state dir:
//!
//! | file | written by | what |
//! | --- | --- | --- |
//! | `spec.json` | `Monitor::start` | the [`Spec`] |
//! | `monitor.pid` | monitor | the monitor's pid, while it runs |
//! | `monitor.sock` | monitor | requests and streams ([`protocol`]), while the container runs |
//! | `monitor.log` | monitor | its stderr: empty unless it panicked |
//! | `exit.json` | monitor | the [`ExitStatus`], once the container has exited or failed to start |
//!
//! A restarted daemon calls [`Monitor::reconnect`]; when that says [`RuntimeError::Gone`],
//! [`exit_status`] reads `exit.json`, and [`cleanup`] removes what a killed monitor left.

pub mod caps;
pub mod cgroups;
mod error;
pub mod fsutil;
mod handle;
mod init;
pub mod jsonlog;
pub mod monitor;
pub mod mounts;
pub mod process;
pub mod protocol;
pub mod seccomp;
pub mod spec;
mod sync;
pub mod timefmt;
pub mod user;

pub use error::RuntimeError;
pub use handle::{cleanup, exit_status, AttachStreams, ExecHandle, Monitor};
pub use spec::{Cgroup, ExecSpec, ExitStatus, Mount, Network, Propagation, Seccomp, Spec};
