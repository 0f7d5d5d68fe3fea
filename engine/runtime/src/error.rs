//! The errors the daemon gets from the runtime's public API.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The container's process could not be started; `exit_code` is what Docker records for it
    /// (127 not found, 126 not executable, 128 anything else).
    #[error("{message}")]
    Start { message: String, exit_code: i32 },
    /// The monitor of this container is not running; its `exit.json` tells how it ended.
    #[error("the monitor for {0} is not running")]
    Gone(PathBuf),
    #[error("couldn't write {path}: {source}")]
    WriteState {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("couldn't start the monitor {exe}: {source}")]
    Spawn {
        exe: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("couldn't talk to the monitor at {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The monitor answered something this side does not understand.
    #[error("unexpected answer from the monitor at {path}: {detail}")]
    Protocol { path: PathBuf, detail: String },
    /// The monitor refused a request (no such signal, no tty to resize, exec failed, ...).
    #[error("{0}")]
    Refused(String),
}

impl RuntimeError {
    /// The exit code Docker records for a container or exec that failed to start, if this is
    /// such a failure.
    pub fn exit_code(&self) -> Option<i32> {
        match self {
            RuntimeError::Start { exit_code, .. } => Some(*exit_code),
            _ => None,
        }
    }
}
