//! The daemon as a process: containers outlive a daemon killed with SIGKILL (their monitors
//! keep them), and a hundred containers started at once all run and all go away cleanly.
//! Needs root and the busybox fixture (fixtures/build.sh).

mod common;

use common::{fixture, Daemon, BERTH};
use std::process::Command;
use std::time::Duration;

#[test]
fn containers_outlive_a_killed_daemon() {
    let mut daemon = Daemon::start_in(tempfile::tempdir().unwrap());
    daemon.ok(&["load", "-i", fixture().to_str().unwrap()]);
    let id =
        daemon.ok(&["run", "-d", "busybox", "sh", "-c", "echo before; sleep 3; echo after; exit 7"]).trim().to_string();
    std::thread::sleep(Duration::from_millis(500));
    let root = daemon.kill9();
    let daemon = Daemon::start_in(root);
    let running = daemon.ok(&["inspect", "--format", "{{.State.Running}}", &id]);
    assert_eq!(running.trim(), "true", "the container stopped with the daemon:\n{}", daemon.log());
    assert_eq!(daemon.ok(&["wait", &id]).trim(), "7");
    assert_eq!(daemon.ok(&["logs", &id]), "before\nafter\n");
}

#[test]
fn a_hundred_containers_at_once() {
    let daemon = Daemon::start_in(tempfile::tempdir().unwrap());
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
