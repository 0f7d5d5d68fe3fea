//! The daemon as a process: containers outlive a daemon killed with SIGKILL (their monitors
//! keep them), and a hundred containers started at once all run and all go away cleanly.
//! Needs root and the busybox fixture (fixtures/build.sh).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BERTH: &str = env!("CARGO_BIN_EXE_berth");

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/out/busybox.tar")
}

/// A daemon in a temporary root; stopped (SIGKILL if need be) and its root removed on drop.
struct Daemon {
    root: tempfile::TempDir,
    child: Option<Child>,
}

impl Daemon {
    fn start(root: tempfile::TempDir) -> Daemon {
        let log = std::fs::File::create(root.path().join("daemon.log")).unwrap();
        let child = Command::new(BERTH)
            .args(["-d", "-H", &format!("unix://{}/d.sock", root.path().display())])
            .args([
                "-g",
                &format!("{}/graph", root.path().display()),
                "-p",
                &format!("{}/d.pid", root.path().display()),
            ])
            // No bridge or iptables chains on the host for a test's daemon.
            .args(["-b", "none", "--iptables=false"])
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let daemon = Daemon { root, child: Some(child) };
        daemon.wait_ready();
        daemon
    }

    fn host(&self) -> String {
        format!("unix://{}/d.sock", self.root.path().display())
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.cli(&["version"]).status.code() != Some(0) {
            assert!(Instant::now() < deadline, "daemon not ready:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.root.path().join("daemon.log")).unwrap_or_default()
    }

    fn cli(&self, args: &[&str]) -> std::process::Output {
        Command::new(BERTH).arg("-H").arg(self.host()).args(args).stdin(Stdio::null()).output().unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.cli(args);
        assert!(
            out.status.success(),
            "berth {args:?} failed: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            self.log()
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn kill9(&mut self) -> tempfile::TempDir {
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
            for id in String::from_utf8_lossy(&ids.stdout).lines() {
                let _ = self.cli(&["rm", "-f", id]);
            }
            // SAFETY: signalling our own child, not yet reaped.
            unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
            let _ = child.wait();
        }
    }
}

#[test]
fn containers_outlive_a_killed_daemon() {
    let mut daemon = Daemon::start(tempfile::tempdir().unwrap());
    daemon.ok(&["load", "-i", fixture().to_str().unwrap()]);
    let id =
        daemon.ok(&["run", "-d", "busybox", "sh", "-c", "echo before; sleep 3; echo after; exit 7"]).trim().to_string();
    std::thread::sleep(Duration::from_millis(500));
    let root = daemon.kill9();
    let daemon = Daemon::start(root);
    let running = daemon.ok(&["inspect", "--format", "{{.State.Running}}", &id]);
    assert_eq!(running.trim(), "true", "the container stopped with the daemon:\n{}", daemon.log());
    assert_eq!(daemon.ok(&["wait", &id]).trim(), "7");
    assert_eq!(daemon.ok(&["logs", &id]), "before\nafter\n");
}

#[test]
fn a_hundred_containers_at_once() {
    let daemon = Daemon::start(tempfile::tempdir().unwrap());
    daemon.ok(&["load", "-i", fixture().to_str().unwrap()]);
    let host = daemon.host();
    let ids: Vec<String> = (0..100)
        .map(|_| {
            let host = host.clone();
            std::thread::spawn(move || {
                let out = Command::new(BERTH)
                    .args(["-H", &host, "run", "-d", "--net=none", "busybox", "sleep", "60"])
                    .output()
                    .unwrap();
                assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
                String::from_utf8_lossy(&out.stdout).trim().to_string()
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|t| t.join().unwrap())
        .collect();
    let running = daemon.ok(&["ps", "-q", "--no-trunc"]);
    for id in &ids {
        assert!(running.contains(id.as_str()), "{id} is not running");
    }
    let mut args = vec!["rm", "-f"];
    args.extend(ids.iter().map(String::as_str));
    daemon.ok(&args);
    assert_eq!(daemon.ok(&["ps", "-a", "-q"]).trim(), "");
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap();
    assert!(!mounts.contains(&daemon.root.path().display().to_string()), "mounts left under the root");
    for id in &ids {
        let cgroups = Command::new("sh")
            .arg("-c")
            .arg(format!("find /sys/fs/cgroup -maxdepth 4 -name '{id}' | head -1"))
            .output()
            .unwrap();
        assert!(cgroups.stdout.is_empty(), "cgroup left for {id}");
    }
}
