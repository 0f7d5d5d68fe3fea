//! Running code inside a container's network namespace. `setns` changes the namespace of the
//! calling thread only, so the work runs on a fresh short-lived thread that is never a tokio
//! worker and never returns to the host namespace: it simply ends.

use std::fs::File;
use std::path::{Path, PathBuf};

use nix::sched::{setns, CloneFlags};

/// Why code could not run inside a network namespace.
#[derive(Debug, thiserror::Error)]
pub enum NetnsError {
    #[error("couldn't open the network namespace {path}: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("couldn't enter the network namespace {path}: {errno}")]
    Enter { path: PathBuf, errno: nix::errno::Errno },
    #[error("couldn't start a thread to enter the network namespace {path}: {source}")]
    Thread {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the thread working in the network namespace {0} panicked")]
    Panicked(PathBuf),
}

/// Opens a network namespace file (`/proc/<pid>/ns/net` or a bind-mounted netns).
pub fn open(path: &Path) -> Result<File, NetnsError> {
    File::open(path).map_err(|source| NetnsError::Open { path: path.to_path_buf(), source })
}

/// Runs `f` on a new thread that has joined the network namespace at `path` and returns its
/// result. Sockets that `f` opens stay in that namespace when handed back.
pub fn run_in<T, F>(path: &Path, f: F) -> Result<T, NetnsError>
where
    T: Send,
    F: FnOnce() -> T + Send,
{
    let ns = open(path)?;
    std::thread::scope(|scope| {
        let worker = std::thread::Builder::new()
            .name("berth-netns".into())
            .spawn_scoped(scope, move || {
                setns(&ns, CloneFlags::CLONE_NEWNET)
                    .map_err(|errno| NetnsError::Enter { path: path.to_path_buf(), errno })?;
                Ok(f())
            })
            .map_err(|source| NetnsError::Thread { path: path.to_path_buf(), source })?;
        worker.join().map_err(|_| NetnsError::Panicked(path.to_path_buf()))?
    })
}
