//! What keeps two daemons apart: root privileges, an exclusive lock on the graph root, and the
//! pidfile (a stale one, left by a daemon that died, is taken over).

use nix::fcntl::{Flock, FlockArg};
use nix::sys::signal::kill;
use nix::unistd::Pid;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum GuardError {
    #[error("the berth daemon needs root privileges: run it as root")]
    NotRoot,
    #[error("cannot create the graph root {path}: {source}")]
    GraphRoot { path: PathBuf, source: io::Error },
    #[error(
        "graph root {path} is in use by another berth daemon{owner}: stop that daemon or pick another root with -g"
    )]
    GraphBusy { path: PathBuf, owner: String },
    #[error("pid file {path} names a running daemon (pid {pid}): stop it first, or remove the file if that process is not berth")]
    PidfileBusy { path: PathBuf, pid: i32 },
    #[error("cannot write the pid file {path}: {source}")]
    Pidfile { path: PathBuf, source: io::Error },
}

pub fn require_root() -> Result<(), GuardError> {
    if nix::unistd::geteuid().is_root() {
        Ok(())
    } else {
        Err(GuardError::NotRoot)
    }
}

/// An exclusive lock on a graph root, held for the daemon's life.
#[derive(Debug)]
pub struct GraphLock {
    _lock: Flock<File>,
}

impl GraphLock {
    pub fn acquire(graph: &Path) -> Result<GraphLock, GuardError> {
        let root_error = |source| GuardError::GraphRoot { path: graph.to_path_buf(), source };
        fs::DirBuilder::new().recursive(true).mode(0o700).create(graph).map_err(root_error)?;
        let path = graph.join("berth.lock");
        let file =
            OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path).map_err(root_error)?;
        let mut lock = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(lock) => lock,
            Err((_, nix::errno::Errno::EWOULDBLOCK)) => {
                let owner = fs::read_to_string(&path).ok().map(|p| format!(" (pid {})", p.trim())).unwrap_or_default();
                return Err(GuardError::GraphBusy { path: graph.to_path_buf(), owner });
            }
            Err((_, errno)) => return Err(root_error(errno.into())),
        };
        lock.set_len(0).and_then(|_| write!(&mut *lock, "{}", std::process::id())).map_err(root_error)?;
        Ok(GraphLock { _lock: lock })
    }
}

/// The daemon's pid file; removed when dropped if it still names this process.
#[derive(Debug)]
pub struct PidFile {
    path: PathBuf,
}

impl PidFile {
    pub fn create(path: &Path) -> Result<PidFile, GuardError> {
        if let Some(pid) = running_owner(path) {
            return Err(GuardError::PidfileBusy { path: path.to_path_buf(), pid });
        }
        let pid_error = |source| GuardError::Pidfile { path: path.to_path_buf(), source };
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).map_err(pid_error)?;
        }
        write_atomic(path, format!("{}\n", std::process::id()).as_bytes()).map_err(pid_error)?;
        Ok(PidFile { path: path.to_path_buf() })
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        let ours = fs::read_to_string(&self.path).is_ok_and(|s| s.trim() == std::process::id().to_string());
        if ours {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// The pid a pid file names, if that process is alive and is a berth like this one. Anything
/// else (no file, garbage, a dead or unrelated process) makes the file stale.
fn running_owner(path: &Path) -> Option<i32> {
    let pid: i32 = fs::read_to_string(path).ok()?.trim().parse().ok()?;
    if pid <= 0 || pid == std::process::id() as i32 || kill(Pid::from_raw(pid), None).is_err() {
        return None;
    }
    let comm = |p: &str| fs::read_to_string(format!("/proc/{p}/comm")).ok();
    (comm(&pid.to_string()) == comm("self")).then_some(pid)
}

/// Replaces `path` with `data` so that readers see the old or the new content, never a part.
pub fn write_atomic(path: &Path, data: &[u8]) -> io::Result<()> {
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    let result = (|| {
        let mut file = File::create(&tmp)?;
        file.write_all(data)?;
        file.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graph_lock_is_exclusive_and_released_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let graph = dir.path().join("graph");
        let first = GraphLock::acquire(&graph).unwrap();
        let err = GraphLock::acquire(&graph).unwrap_err().to_string();
        assert!(err.contains("in use by another berth daemon"), "{err}");
        assert!(err.contains(&format!("pid {}", std::process::id())), "{err}");
        drop(first);
        GraphLock::acquire(&graph).unwrap();
    }

    #[test]
    fn stale_pidfile_is_taken_over_and_removed_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("berth.pid");
        fs::write(&path, "999999999\n").unwrap();
        let pidfile = PidFile::create(&path).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap().trim(), std::process::id().to_string());
        drop(pidfile);
        assert!(!path.exists());
    }

    #[test]
    fn garbage_pidfile_is_stale() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("berth.pid");
        fs::write(&path, "not a pid").unwrap();
        assert!(PidFile::create(&path).is_ok());
    }

    #[test]
    fn live_unrelated_process_does_not_block() {
        // pid 1 is alive but is not this program: its pid file would be left from a reboot.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("berth.pid");
        fs::write(&path, "1").unwrap();
        assert!(PidFile::create(&path).is_ok());
    }
}
