//! The monitor outliving its parent, many containers at once, and a rough start-time figure.

mod common;

use berth_runtime::Monitor;
use common::{eventually, processes_mentioning, Fixture, EXE};
use std::io::BufRead;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;

/// Kills (SIGKILL) and reaps a helper process on drop.
struct Helper(std::process::Child);

impl Drop for Helper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn monitor_survives_its_parent_being_killed() {
    let mut f = Fixture::new(&["sh", "-c", "read x; exit 7"]);
    f.spec.open_stdin = true;
    let spec_path = f.dir.path().join("start.json");
    std::fs::write(&spec_path, serde_json::to_vec(&f.spec).unwrap()).unwrap();
    let mut helper = Helper(Command::new(EXE).arg("__start").arg(&spec_path).stdout(Stdio::piped()).spawn().unwrap());
    let mut line = String::new();
    std::io::BufReader::new(helper.0.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let pid: i32 = line.trim().parse().expect("helper prints the pid");
    helper.0.kill().unwrap();
    helper.0.wait().unwrap();

    let monitor = Monitor::reconnect(&f.spec.state_dir).unwrap();
    assert_eq!(monitor.pid(), pid);
    let monitor_pid: i32 = std::fs::read_to_string(f.state("monitor.pid")).unwrap().trim().parse().unwrap();
    let session = nix::unistd::getsid(Some(nix::unistd::Pid::from_raw(monitor_pid))).unwrap();
    assert_ne!(session, nix::unistd::getsid(None).unwrap(), "the monitor has its own session");
    let attached = monitor.attach(true, false, false).await;
    let log = std::fs::read_to_string(f.state("monitor.log")).unwrap_or_default();
    let mut input =
        attached.unwrap_or_else(|e| panic!("{e}: {log} {:?}", berth_runtime::exit_status(&f.spec.state_dir)));
    let written = input.write_all(b"go\n").await;
    assert!(written.is_ok(), "{written:?}: {:?}", berth_runtime::exit_status(&f.spec.state_dir));
    let status = monitor.wait().await.unwrap();
    assert_eq!(status.code, 7);
    assert!(matches!(Monitor::reconnect(&f.spec.state_dir), Err(berth_runtime::RuntimeError::Gone(_))));
    assert_eq!(berth_runtime::exit_status(&f.spec.state_dir).map(|s| s.code), Some(7));
}

#[tokio::test]
async fn fifty_containers_in_parallel() {
    let base = Fixture::new(&["true"]);
    let fixtures: Vec<Fixture> =
        (0..50).map(|i| Fixture::sharing(&base.spec.rootfs, &["sh", "-c", &format!("exit {}", i % 5)])).collect();
    let started: Vec<_> = fixtures
        .iter()
        .map(|f| {
            let spec = f.spec.clone();
            tokio::task::spawn_blocking(move || Monitor::start(std::path::Path::new(EXE), &spec))
        })
        .collect();
    for (i, task) in started.into_iter().enumerate() {
        let (monitor, _) = task.await.unwrap().unwrap();
        assert_eq!(monitor.wait().await.unwrap().code, (i % 5) as i32);
    }
    for f in &fixtures {
        assert!(f.cgroup_dirs().iter().all(|d| !d.exists()));
        let gone =
            eventually(Duration::from_secs(5), || processes_mentioning(&f.spec.state_dir.to_string_lossy()).is_empty())
                .await;
        assert!(gone, "monitor of {} still running", f.spec.id);
    }
}

/// Not a check, a measurement: `cargo test -p berth-runtime --test lifecycle -- --ignored
/// --nocapture start_time`. With `BERTH_MONITOR_EXE=/path/to/berth` the monitors run from that
/// binary (the daemon's real one) instead of the small test binary.
#[tokio::test]
#[ignore]
async fn start_time_report() {
    let exe = std::env::var("BERTH_MONITOR_EXE").unwrap_or_else(|_| EXE.to_string());
    let exe = std::path::Path::new(&exe);
    let base = Fixture::new(&["true"]);
    let mut times = Vec::new();
    for _ in 0..21 {
        let mut f = Fixture::sharing(&base.spec.rootfs, &["true"]);
        f.spec.log_path = None;
        f.spec.network = berth_runtime::Network::New;
        let t = Instant::now();
        let (monitor, _) = Monitor::start(exe, &f.spec).unwrap();
        let started = t.elapsed();
        monitor.wait().await.unwrap();
        times.push((t.elapsed(), started));
    }
    times.remove(0);
    times.sort();
    let (total, started) = times[times.len() / 2];
    println!("{}", exe.display());
    println!("start->exit of `true`, median of {}: {total:?} (start returned after {started:?})", times.len());
    let f = Fixture::sharing(&base.spec.rootfs, &["sleep", "5"]);
    let (monitor, _) = Monitor::start(exe, &f.spec).unwrap();
    let pid = std::fs::read_to_string(f.state("monitor.pid")).unwrap();
    // The monitor of an idle container, once it has settled (2 s without events).
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let status = std::fs::read_to_string(format!("/proc/{}/status", pid.trim())).unwrap();
    let rss: Vec<&str> = status.lines().filter(|l| l.starts_with("VmRSS") || l.starts_with("Rss")).collect();
    println!("monitor {}", rss.join(" ").split_whitespace().collect::<Vec<_>>().join(" "));
    monitor.signal(9).unwrap();
    monitor.wait().await.unwrap();
}
