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

/// Why a persistent network namespace could not be made or removed.
#[derive(Debug, thiserror::Error)]
pub enum PersistError {
    #[error("couldn't create the network namespace file {path}: {source}")]
    File {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("couldn't {what} the network namespace {path}: {errno}")]
    Sys { what: &'static str, path: PathBuf, errno: nix::errno::Errno },
    #[error("the thread creating the network namespace {0} failed to start or panicked")]
    Thread(PathBuf),
}

/// Makes a new, empty network namespace that outlives every process: it is bind-mounted on
/// `path` (an empty file, created with its directory). A container joins it before its
/// process runs, so the daemon can wire the namespace first; it stays valid across a daemon
/// restart, until [`remove`].
pub fn create(path: &Path) -> Result<(), PersistError> {
    let file_error = |source| PersistError::File { path: path.to_path_buf(), source };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(file_error)?;
    }
    File::create(path).map_err(file_error)?;
    let sys = |what, errno| PersistError::Sys { what, path: path.to_path_buf(), errno };
    let result = std::thread::scope(|scope| {
        let worker = std::thread::Builder::new().name("berth-netns-new".into()).spawn_scoped(scope, || {
            // This thread alone moves to the new namespace and ends right after.
            nix::sched::unshare(CloneFlags::CLONE_NEWNET).map_err(|e| sys("unshare", e))?;
            let own = format!("/proc/self/task/{}/ns/net", nix::unistd::gettid());
            nix::mount::mount(Some(own.as_str()), path, None::<&str>, nix::mount::MsFlags::MS_BIND, None::<&str>)
                .map_err(|e| sys("bind-mount", e))
        });
        match worker {
            Ok(worker) => worker.join().unwrap_or(Err(PersistError::Thread(path.to_path_buf()))),
            Err(_) => Err(PersistError::Thread(path.to_path_buf())),
        }
    });
    if result.is_err() {
        let _ = std::fs::remove_file(path);
    }
    result
}

/// Unmounts and deletes a namespace made by [`create`]; a missing one is fine.
pub fn remove(path: &Path) -> Result<(), PersistError> {
    match nix::mount::umount2(path, nix::mount::MntFlags::MNT_DETACH) {
        Ok(()) | Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOENT) => {}
        Err(errno) => return Err(PersistError::Sys { what: "unmount", path: path.to_path_buf(), errno }),
    }
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(PersistError::File { path: path.to_path_buf(), source: e })
        }
        _ => Ok(()),
    }
}
