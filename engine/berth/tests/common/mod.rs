//! The daemon fixture of berth's end-to-end tests: a `berth -d` in a temporary root of its own
//! (socket, graph, pid file), with no bridge and no iptables chains on the host, driven through
//! berth's own CLI. Each test binary uses what it needs of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const BERTH: &str = env!("CARGO_BIN_EXE_berth");

/// The busybox image fixtures/build.sh makes.
pub fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/out/busybox.tar")
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A daemon in a temporary root; on drop its containers are removed, it is stopped and its root
/// removed.
pub struct Daemon {
    pub root: tempfile::TempDir,
    child: Option<Child>,
}

impl Daemon {
    /// A daemon in a fresh root with busybox loaded.
    pub fn start() -> Daemon {
        let daemon = Daemon::start_in(tempfile::tempdir().unwrap());
        daemon.ok(&["load", "-i", fixture().to_str().unwrap()]);
        daemon
    }

    /// A daemon in `root` as it is (a root another daemon left keeps its state), once it answers.
    pub fn start_in(root: tempfile::TempDir) -> Daemon {
        let log = std::fs::File::create(root.path().join("daemon.log")).unwrap();
        let dir = root.path().display().to_string();
        let child = Command::new(BERTH)
            .args(["-d", "-H", &format!("unix://{dir}/d.sock"), "-g", &format!("{dir}/graph")])
            .args(["-p", &format!("{dir}/d.pid"), "-b", "none", "--iptables=false"])
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let daemon = Daemon { root, child: Some(child) };
        let deadline = Instant::now() + Duration::from_secs(30);
        while daemon.cli(&["version"]).status.code() != Some(0) {
            assert!(Instant::now() < deadline, "daemon not ready:\n{}", daemon.log());
            std::thread::sleep(Duration::from_millis(50));
        }
        daemon
    }

    pub fn host(&self) -> String {
        format!("unix://{}/d.sock", self.root.path().display())
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.root.path().join("daemon.log")).unwrap_or_default()
    }

    pub fn cli(&self, args: &[&str]) -> Output {
        Command::new(BERTH).arg("-H").arg(self.host()).args(args).stdin(Stdio::null()).output().unwrap()
    }

    /// The standard output of a command that must succeed.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.cli(args);
        assert!(out.status.success(), "berth {args:?} failed: {}\n{}", text(&out.stderr), self.log());
        text(&out.stdout)
    }

    /// Kills the daemon with SIGKILL (its containers' monitors stay); its root, for a new daemon.
    pub fn kill9(&mut self) -> tempfile::TempDir {
        let mut child = self.child.take().unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
        std::mem::replace(&mut self.root, tempfile::tempdir().unwrap())
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let ids = self.cli(&["ps", "-a", "-q", "--no-trunc"]);
            for id in text(&ids.stdout).lines() {
                let _ = self.cli(&["rm", "-f", id]);
            }
            // SAFETY: signalling our own child, not yet reaped.
            unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
            let _ = child.wait();
        }
    }
}
