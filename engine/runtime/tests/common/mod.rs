//! Shared set-up for the runtime's integration tests (root only): a busybox root file system
//! and a state dir in a fresh temporary directory per container, unique container ids and
//! cgroup parents (`berth-test-...`), and a guard that removes processes, cgroups and mounts
//! even when a test fails.

#![allow(dead_code)]

use berth_runtime::{cleanup, AttachStreams, ExitStatus, Monitor, RuntimeError, Spec};
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::net::UnixStream;

pub const EXE: &str = env!("CARGO_BIN_EXE_berth-monitor-test");

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// 64 hex digits, unique per call.
pub fn unique_id() -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut h = RandomState::new().build_hasher();
    h.write_u64(n);
    format!("{:016x}{:016x}{:016x}{:016x}", std::process::id(), n, h.finish(), 0xbe27)
}

/// The busybox root file system tar, built on first use.
pub fn fixture_tar() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures");
    let tar = root.join("out/busybox-rootfs.tar");
    if !tar.exists() {
        let status = std::process::Command::new(root.join("build.sh")).status().expect("run fixtures/build.sh");
        assert!(status.success(), "fixtures/build.sh failed");
    }
    tar
}

/// One container's files: `<tmp>/rootfs` (busybox) and `<tmp>/state`.
pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub spec: Spec,
}

impl Fixture {
    pub fn new(args: &[&str]) -> Fixture {
        let dir = tempfile::Builder::new().prefix("berth-rt-test").tempdir().expect("tempdir");
        let rootfs = dir.path().join("rootfs");
        let state = dir.path().join("state");
        std::fs::create_dir_all(&rootfs).unwrap();
        std::fs::create_dir_all(&state).unwrap();
        let status = std::process::Command::new("tar")
            .arg("-xf")
            .arg(fixture_tar())
            .arg("-C")
            .arg(&rootfs)
            .status()
            .expect("run tar");
        assert!(status.success(), "tar -x failed");
        Fixture::with_rootfs(dir, rootfs, args)
    }

    /// A fixture whose container uses another fixture's root file system (read-only use).
    pub fn sharing(rootfs: &Path, args: &[&str]) -> Fixture {
        let dir = tempfile::Builder::new().prefix("berth-rt-test").tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("state")).unwrap();
        Fixture::with_rootfs(dir, rootfs.to_path_buf(), args)
    }

    fn with_rootfs(dir: tempfile::TempDir, rootfs: PathBuf, args: &[&str]) -> Fixture {
        let id = unique_id();
        let mut spec = Spec {
            id: id.clone(),
            state_dir: dir.path().join("state"),
            rootfs,
            args: args.iter().map(|s| s.to_string()).collect(),
            env: vec!["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into()],
            hostname: id[..12].to_string(),
            log_path: Some(dir.path().join("state/json.log")),
            ..Spec::default()
        };
        spec.cgroup.parent = format!("berth-test-{}", &id[..40]);
        Fixture { dir, spec }
    }

    pub fn start(&self) -> Result<(Monitor, i32), RuntimeError> {
        Monitor::start(Path::new(EXE), &self.spec)
    }

    /// Starts attached to stdout and stderr, collects both until the end, waits.
    pub async fn run(&self) -> (ExitStatus, String, String) {
        let streams = AttachStreams { stdin: false, stdout: true, stderr: true };
        let (monitor, _, stream) = Monitor::start_attached(Path::new(EXE), &self.spec, streams).expect("start");
        stream.set_nonblocking(true).unwrap();
        let (out, err) = read_frames(UnixStream::from_std(stream).unwrap()).await;
        let status = monitor.wait().await.expect("wait");
        (status, out, err)
    }

    /// The stdout lines of the json-file log, joined.
    pub fn logged(&self, stream: &str) -> String {
        let text = std::fs::read_to_string(self.spec.log_path.as_ref().unwrap()).unwrap_or_default();
        text.lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("log line is JSON"))
            .filter(|v| v["stream"] == stream)
            .map(|v| v["log"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    /// The container's group directories (whether they exist or not).
    pub fn cgroup_dirs(&self) -> Vec<PathBuf> {
        let layout = berth_runtime::cgroups::Layout::detect().unwrap();
        let groups = berth_runtime::cgroups::Cgroups::new(&layout, &self.spec.cgroup.parent, &self.spec.id).unwrap();
        groups.dirs().map(Path::to_path_buf).collect()
    }

    pub fn state(&self, name: &str) -> PathBuf {
        self.spec.state_dir.join(name)
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        // A monitor left over by a failed test goes first, so it cannot recreate anything.
        if let Ok(pid) = std::fs::read_to_string(self.state("monitor.pid")) {
            if let Ok(pid) = pid.trim().parse::<i32>() {
                kill_if_ours(pid, &self.spec.state_dir);
            }
        }
        cleanup(&self.spec.state_dir, &self.spec.id);
        for dir in self.cgroup_dirs() {
            if let Some(parent) = dir.parent() {
                let _ = std::fs::remove_dir(parent);
            }
        }
        unmount_under(self.dir.path());
    }
}

/// SIGKILLs `pid` if its command line names our state dir (the pid may have been reused).
fn kill_if_ours(pid: i32, state_dir: &Path) {
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    if String::from_utf8_lossy(&cmdline).contains(&*state_dir.to_string_lossy()) {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
    }
}

/// Host mounts under `dir` (there should be none: the container's are in its namespace).
pub fn mounts_under(dir: &Path) -> Vec<String> {
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    let prefix = dir.to_string_lossy().to_string();
    mounts.lines().filter_map(|l| l.split(' ').nth(1)).filter(|m| m.starts_with(&prefix)).map(String::from).collect()
}

fn unmount_under(dir: &Path) {
    for m in mounts_under(dir).into_iter().rev() {
        let _ = nix::mount::umount2(m.as_str(), nix::mount::MntFlags::MNT_DETACH);
    }
}

/// Processes whose command line mentions `needle`.
pub fn processes_mentioning(needle: &str) -> Vec<i32> {
    let Ok(dir) = std::fs::read_dir("/proc") else { return Vec::new() };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| *pid != std::process::id() as i32)
        .filter(|pid| {
            let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            String::from_utf8_lossy(&cmd).contains(needle)
        })
        .collect()
}

/// Reads attach frames until EOF: (stdout, stderr).
pub async fn read_frames(mut stream: UnixStream) -> (String, String) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let mut header = [0u8; 8];
    loop {
        if stream.read_exact(&mut header).await.is_err() {
            break;
        }
        let len = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
        let mut data = vec![0u8; len];
        stream.read_exact(&mut data).await.expect("frame body");
        if header[0] == 2 { &mut err } else { &mut out }.extend_from_slice(&data);
    }
    (String::from_utf8_lossy(&out).into_owned(), String::from_utf8_lossy(&err).into_owned())
}

/// Reads frames until the stdout collected so far contains `needle` (or the stream ends).
pub async fn read_until(stream: &mut UnixStream, needle: &str) -> String {
    let mut out = Vec::new();
    let mut header = [0u8; 8];
    while !String::from_utf8_lossy(&out).contains(needle) {
        if stream.read_exact(&mut header).await.is_err() {
            break;
        }
        let len = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
        let mut data = vec![0u8; len];
        stream.read_exact(&mut data).await.expect("frame body");
        out.extend_from_slice(&data);
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Polls `check` until it holds or `deadline` passes.
pub async fn eventually(deadline: Duration, mut check: impl FnMut() -> bool) -> bool {
    let end = std::time::Instant::now() + deadline;
    while std::time::Instant::now() < end {
        if check() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    check()
}
