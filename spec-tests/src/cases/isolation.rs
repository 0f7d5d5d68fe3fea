//! What keeps a container in its place (8.1) and what the kernel counts for it (8.3):
//! namespaces, capabilities, privileged mode, cgroup limits and the cgroup files metrics
//! tools read. A container's groups are found through /proc/<pid>/cgroup of its main
//! process, wherever the engine puts them.

use super::containers::{cleaning, detach, exit_code, inspect, is_running, pid, run, run_out, IDLE, IMAGE, SETTLE};
use super::Case;
use crate::case;
use crate::daemon::{Spec, TestDaemon};
use crate::engine::Engine;
use crate::outcome::{skip, Outcome, SkipKind};
use anyhow::{bail, ensure, Context};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

#[rustfmt::skip]
pub static CASES: &[Case] = &[
    case!("pid namespace", ["security.ns.pid"], ns_pid),
    case!("no signals out", ["security.ns.pid-cross"], ns_pid_cross),
    case!("mount namespace", ["security.ns.mnt"], ns_mnt),
    case!("uts namespace", ["security.ns.uts"], ns_uts),
    case!("reduced capabilities", ["security.caps.dropped-default"], caps_dropped),
    case!("mount denied", ["security.caps.mount-denied", "cli.run.mount-denied"], mount_denied),
    case!("module loading denied", ["security.caps.module-denied"], module_denied),
    case!("device nodes denied", ["security.caps.mknod-denied", "run.unprivileged.no-devices"], devices_denied),
    case!("clock denied", ["security.caps.time-denied"], time_denied),
    case!("network config denied", ["security.caps.net-admin-denied"], net_admin_denied),
    case!("immutable flag denied", ["security.caps.immutable-denied"], immutable_denied),
    case!("low ports allowed", ["security.caps.net-bind-service"], low_ports),
    case!("privileged", ["security.caps.privileged-all", "run.privileged.all-caps", "run.privileged.devices", "cli.run.opt.privileged"], privileged),
    case!("memory limit enforced", ["run.memory.enforced", "security.cgroups.limits"], memory_enforced),
    case!("cpu shares weigh", ["run.cpu-shares.weight"], cpu_weight),
    case!("no tcp by default", ["security.daemon.no-tcp-default"], no_tcp_default),
    case!("cgroup mounts", ["metrics.cgroup.mount"], cgroup_mounts),
    case!("cgroup per container", ["metrics.cgroup.proc-pid", "metrics.cgroup.per-container"], cgroup_per_container),
    case!("memory.stat", ["metrics.cgroup.memory-stat"], memory_stat),
    case!("memory limit in cgroup", ["metrics.cgroup.memory-limit", "cli.run.opt.memory"], memory_limit),
    case!("rss grows", ["metrics.cgroup.memory-grows"], memory_grows),
    case!("cpuacct.stat", ["metrics.cgroup.cpuacct"], cpuacct),
    case!("cpu.shares", ["metrics.cgroup.cpu-shares", "cli.run.opt.cpu-shares"], cpu_shares),
    case!("blkio counters", ["metrics.cgroup.blkio"], blkio),
    case!("tasks file", ["metrics.cgroup.tasks"], tasks),
    case!("cgroup by short id", ["metrics.cgroup.devices-glob"], devices_glob),
    case!("cgroups removed on exit", ["metrics.cgroup.cleanup"], cgroup_cleanup),
];

// ---------------------------------------------------------------------------------------------
// Cgroups as the host sees them.
// ---------------------------------------------------------------------------------------------

/// One cgroup hierarchy a process belongs to: its controllers (empty for cgroup v2) and the
/// directory of its group on the host.
#[derive(Debug)]
pub struct Group {
    pub controllers: Vec<String>,
    pub path: String,
    pub dir: PathBuf,
}

/// Mounted cgroup file systems: (controllers or ["cgroup2"], root inside the hierarchy,
/// mount point).
fn cgroup_mounts_table() -> anyhow::Result<Vec<(Vec<String>, String, PathBuf)>> {
    let info = std::fs::read_to_string("/proc/self/mountinfo")?;
    let mut out = Vec::new();
    for line in info.lines() {
        let (left, right) = line.split_once(" - ").context("odd mountinfo line")?;
        let left: Vec<&str> = left.split(' ').collect();
        let right: Vec<&str> = right.split(' ').collect();
        let (root, point) = (left.get(3).copied().unwrap_or("/"), left.get(4).copied().unwrap_or(""));
        match right.first().copied() {
            Some("cgroup") => {
                let options = right.get(2).copied().unwrap_or("");
                let known =
                    options.split(',').filter(|o| !matches!(*o, "rw" | "ro") && !o.starts_with("release_agent"));
                out.push((known.map(String::from).collect(), root.to_string(), PathBuf::from(point)));
            }
            Some("cgroup2") => out.push((vec!["cgroup2".into()], root.to_string(), PathBuf::from(point))),
            _ => {}
        }
    }
    Ok(out)
}

/// The groups of `pid`, each with its directory on the host.
pub fn groups_of(pid: u32) -> anyhow::Result<Vec<Group>> {
    let mounts = cgroup_mounts_table()?;
    let mut groups = Vec::new();
    for line in super::containers::proc_cgroup(pid)?.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (parts.next(), parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        let controllers: Vec<String> = controllers.split(',').filter(|c| !c.is_empty()).map(String::from).collect();
        let wanted = if controllers.is_empty() { vec!["cgroup2".to_string()] } else { controllers.clone() };
        let Some((_, root, point)) = mounts.iter().find(|(have, _, _)| wanted.iter().all(|w| have.contains(w))) else {
            continue;
        };
        let relative = path.strip_prefix(root.as_str()).unwrap_or(path).trim_start_matches('/');
        groups.push(Group { controllers, path: path.to_string(), dir: point.join(relative) });
    }
    Ok(groups)
}

/// The directory of the container's group in the v1 hierarchy holding `controller`; a
/// skip when the host has no such hierarchy (cgroup v2 only).
async fn v1_group(e: &Engine, name: &str, controller: &str) -> anyhow::Result<Result<PathBuf, Outcome>> {
    let groups = groups_of(pid(e, name).await?)?;
    match groups.into_iter().find(|g| g.controllers.iter().any(|c| c == controller)) {
        Some(group) => Ok(Ok(group.dir)),
        None => Ok(Err(skip(
            SkipKind::Environment,
            format!(
                "this host has no cgroup v1 {controller} hierarchy (cgroup v2 only): the documented files do not exist"
            ),
        ))),
    }
}

fn read(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

/// `key value` lines as a map.
fn stat(text: &str) -> std::collections::BTreeMap<String, i64> {
    text.lines()
        .filter_map(|l| l.split_once(' '))
        .filter_map(|(k, v)| Some((k.to_string(), v.trim().parse().ok()?)))
        .collect()
}

/// The capability bounding set of this (root) process.
pub fn host_bounding_set() -> anyhow::Result<u64> {
    let status = read(Path::new("/proc/self/status"))?;
    let bounding = status.lines().find_map(|l| l.strip_prefix("CapBnd:")).context("no CapBnd")?;
    Ok(u64::from_str_radix(bounding.trim(), 16)?)
}

/// Whether this machine's capability bounding set (the suite runs as root, as the engine does)
/// holds every capability the kernel knows: without that, a privileged container cannot be
/// given them all.
pub fn host_has_all_caps() -> anyhow::Result<bool> {
    let status = read(Path::new("/proc/self/status"))?;
    let bounding = status.lines().find_map(|l| l.strip_prefix("CapBnd:")).context("no CapBnd")?;
    let bounding = u64::from_str_radix(bounding.trim(), 16)?;
    let last: u32 = read(Path::new("/proc/sys/kernel/cap_last_cap"))?.trim().parse()?;
    let all = if last >= 63 { u64::MAX } else { (1u64 << (last + 1)) - 1 };
    Ok(bounding & all == all)
}

/// The options that let a container mount and rename itself: `--privileged`, or where this
/// machine cannot give a container every capability, CAP_SYS_ADMIN alone.
fn admin_options() -> anyhow::Result<Vec<&'static str>> {
    Ok(if host_has_all_caps()? { vec!["--privileged"] } else { vec!["--cap-add", "SYS_ADMIN"] })
}

// ---------------------------------------------------------------------------------------------
// Namespaces
// ---------------------------------------------------------------------------------------------

/// `ps` in a container sees only its processes, the first of them PID 1.
pub async fn ns_pid(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("nspid");
    cleaning(&e, &[&name], async {
        let out = run_out(&e, &["--name", &name, IMAGE, "sh", "-c", "sleep 100 & ps -o pid,comm; true"]).await?;
        let rows: Vec<&str> = out.lines().skip(1).collect();
        ensure!(
            rows.first().is_some_and(|r| r.split_whitespace().next() == Some("1")),
            "the first process is not PID 1:\n{out}"
        );
        ensure!(rows.len() == 3, "expected sh, sleep and ps only:\n{out}");
        Ok(Outcome::Passed)
    })
    .await
}

/// A process in a container cannot reach a host process: the pid does not exist there.
pub async fn ns_pid_cross(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let (name, other) = (e.unique("nscross"), e.unique("nscrossother"));
    cleaning(&e, &[&name, &other], async {
        idle(&e, &other).await?;
        let neighbour = pid(&e, &other).await?;
        let me = std::process::id();
        let script = format!("kill -0 {me}; echo host=$?; kill -9 {neighbour}; echo other=$?; ls /proc/{neighbour} >/dev/null 2>&1; echo proc=$?");
        let run = run(&e, &["--name", &name, IMAGE, "sh", "-c", &script]).await?;
        ensure!(run.stdout.contains("host=1") && run.stdout.contains("other=1") && run.stdout.contains("proc=1"), "a process outside was reachable: {}", run.stdout);
        ensure!(run.stderr.contains("No such process"), "kill did not say the process does not exist: {}", run.stderr);
        ensure!(is_running(&e, &other).await?, "the other container was killed");
        Ok(Outcome::Passed)
    })
    .await
}

async fn idle(e: &Engine, name: &str) -> anyhow::Result<String> {
    super::containers::idle(e, name).await
}

/// A mount in a privileged container does not appear on the host.
pub async fn ns_mnt(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("nsmnt");
    let source = e.unique("tmpfs");
    cleaning(&e, &[&name], async {
        let script = format!("mkdir -p /mnt && mount -t tmpfs {source} /mnt && echo mounted; {IDLE}");
        let mut args = admin_options()?;
        args.extend([IMAGE, "sh", "-c", &script]);
        detach(&e, &name, &args).await?;
        super::containers::logs_contain(&e, &name, "mounted").await?;
        let inside = read(Path::new(&format!("/proc/{}/mounts", pid(&e, &name).await?)))?;
        ensure!(inside.contains(&source), "the mount is not there inside either");
        ensure!(!read(Path::new("/proc/self/mounts"))?.contains(&source), "the container's mount shows on the host");
        Ok(Outcome::Passed)
    })
    .await
}

fn host_name() -> anyhow::Result<String> {
    Ok(read(Path::new("/proc/sys/kernel/hostname"))?.trim().to_string())
}

/// `-h` and `hostname` inside a privileged container leave the host's name alone.
pub async fn ns_uts(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let (a, b) = (e.unique("nsuts"), e.unique("nsutspriv"));
    let before = host_name()?;
    cleaning(&e, &[&a, &b], async {
        run_out(&e, &["-h", "somewhere-else", "--name", &a, IMAGE, "hostname"]).await?;
        let mut args = admin_options()?;
        args.extend(["--name", &b, IMAGE, "sh", "-c", "hostname changed-inside && hostname"]);
        let out = run_out(&e, &args).await?;
        ensure!(out.trim() == "changed-inside", "the privileged container could not rename itself: {out}");
        ensure!(host_name()? == before, "the host's name changed to {}", host_name()?);
        Ok(Outcome::Passed)
    })
    .await
}

// ---------------------------------------------------------------------------------------------
// Capabilities and privileged mode
// ---------------------------------------------------------------------------------------------

const CAP_LINUX_IMMUTABLE: u32 = 9;
const CAP_SYS_MODULE: u32 = 16;
const CAP_SYS_ADMIN: u32 = 21;

/// The effective capability mask of the container's PID 1.
async fn cap_eff(e: &Engine, name: &str, options: &[&str]) -> anyhow::Result<u64> {
    let mut args = options.to_vec();
    args.extend(["--name", name, IMAGE, "grep", "CapEff", "/proc/self/status"]);
    let out = run_out(e, &args).await?;
    let hex = out.split_whitespace().nth(1).context("no CapEff")?;
    Ok(u64::from_str_radix(hex, 16)?)
}

/// Root in a default container lacks CAP_SYS_ADMIN and CAP_SYS_MODULE but keeps others.
pub async fn caps_dropped(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("capeff");
    cleaning(&e, &[&name], async {
        let caps = cap_eff(&e, &name, &[]).await?;
        ensure!(caps != 0, "no capabilities at all");
        for (bit, what) in [(CAP_SYS_ADMIN, "CAP_SYS_ADMIN"), (CAP_SYS_MODULE, "CAP_SYS_MODULE")] {
            ensure!(caps & (1 << bit) == 0, "{what} is in CapEff {caps:#x}");
        }
        Ok(Outcome::Passed)
    })
    .await
}

/// Runs `script` in a default container; its stdout and stderr together.
async fn attempt(e: &Engine, name: &str, options: &[&str], script: &str) -> anyhow::Result<String> {
    let mut args = options.to_vec();
    args.extend(["--name", name, IMAGE, "sh", "-c", script]);
    let run = run(e, &args).await?;
    Ok(super::containers::both(&run))
}

/// Mounting anything is refused.
pub async fn mount_denied(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("nomount");
    cleaning(&e, &[&name], async {
        let out = attempt(&e, &name, &[], "mkdir -p /mnt; mount -t tmpfs none /mnt; echo status=$?").await?;
        ensure!(out.contains("status=") && !out.contains("status=0"), "mount succeeded: {out}");
        ensure!(out.to_lowercase().contains("permission denied"), "not permission denied: {out}");
        Ok(Outcome::Passed)
    })
    .await
}

/// Loading a kernel module is not permitted.
pub async fn module_denied(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("nomodule");
    cleaning(&e, &[&name], async {
        let out = attempt(&e, &name, &[], "echo not-a-module > /tmp/x.ko; insmod /tmp/x.ko; echo status=$?").await?;
        ensure!(!out.contains("status=0") && out.contains("Operation not permitted"), "insmod: {out}");
        Ok(Outcome::Passed)
    })
    .await
}

/// A block device of the host: (name, major:minor).
fn host_block_device() -> anyhow::Result<(String, String)> {
    for entry in std::fs::read_dir("/sys/block")? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("loop") || name.starts_with("ram") {
            continue;
        }
        if let Ok(dev) = std::fs::read_to_string(entry.path().join("dev")) {
            return Ok((name, dev.trim().to_string()));
        }
    }
    bail!("this host has no block device in /sys/block")
}

/// A default container neither has the host's block devices nor can use a node it makes.
pub async fn devices_denied(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("nodevices");
    let (device, numbers) = host_block_device()?;
    let (major, minor) = numbers.split_once(':').context("odd dev numbers")?;
    cleaning(&e, &[&name], async {
        let script = format!("ls /dev/{device} 2>/dev/null && echo visible; mknod /tmp/blk b {major} {minor}; dd if=/tmp/blk of=/dev/null bs=512 count=1; echo status=$?");
        let out = attempt(&e, &name, &[], &script).await?;
        ensure!(!out.contains("visible"), "/dev/{device} is visible: {out}");
        ensure!(!out.contains("status=0"), "the device node could be read: {out}");
        Ok(Outcome::Passed)
    })
    .await
}

/// Setting the clock is not permitted.
pub async fn time_denied(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("noclock");
    cleaning(&e, &[&name], async {
        let out = attempt(&e, &name, &[], "date -s 2001-01-01").await?;
        ensure!(out.contains("Operation not permitted"), "setting the date was not refused: {out}");
        Ok(Outcome::Passed)
    })
    .await
}

/// Changing an interface is not permitted.
pub async fn net_admin_denied(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("nonetadmin");
    cleaning(&e, &[&name], async {
        let out = attempt(&e, &name, &[], "ip link set lo down; echo status=$?").await?;
        ensure!(!out.contains("status=0") && out.contains("Operation not permitted"), "ip link set: {out}");
        Ok(Outcome::Passed)
    })
    .await
}

/// The immutable flag needs CAP_LINUX_IMMUTABLE, which a default container lacks. The fixture
/// has no `chattr`, so the case reads the capability the kernel checks.
pub async fn immutable_denied(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("noimmutable");
    cleaning(&e, &[&name], async {
        let caps = cap_eff(&e, &name, &[]).await?;
        ensure!(caps & (1 << CAP_LINUX_IMMUTABLE) == 0, "CAP_LINUX_IMMUTABLE is in CapEff {caps:#x}");
        Ok(Outcome::Passed)
    })
    .await
}

/// Root in a default container can listen on port 80.
pub async fn low_ports(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("port80");
    cleaning(&e, &[&name], async {
        let out = attempt(&e, &name, &[], "(nc -l -p 80 &); sleep 0.5; netstat -ltn").await?;
        ensure!(out.lines().any(|l| l.contains(":80 ") && l.contains("LISTEN")), "nothing listens on 80:\n{out}");
        Ok(Outcome::Passed)
    })
    .await
}

/// `--privileged` gives every capability, the host's devices, mounting and interface changes.
pub async fn privileged(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let (caps_name, name) = (e.unique("privcaps"), e.unique("privileged"));
    let (device, _) = host_block_device()?;
    // "All capabilities" can only mean all that this machine lets any process have: the
    // bounding set of root (the suite runs as root, as the engine does).
    let bounding = host_bounding_set()?;
    cleaning(&e, &[&caps_name, &name], async {
        let caps = cap_eff(&e, &caps_name, &["--privileged"]).await.context("a privileged container did not run")?;
        ensure!(caps & bounding == bounding, "CapEff {caps:#x} lacks some of the host's bounding set {bounding:#x}");
        let script = format!(
            "mkdir -p /mnt && mount -t tmpfs none /mnt && df /mnt | grep -q /mnt && echo mount-ok; \
             dd if=/dev/{device} of=/dev/null bs=512 count=1 2>/dev/null && echo device-ok; \
             ip link set lo down && echo link-ok"
        );
        let out = attempt(&e, &name, &["--privileged"], &script).await?;
        for word in ["mount-ok", "device-ok", "link-ok"] {
            ensure!(out.contains(word), "{word} missing: {out}");
        }
        Ok(Outcome::Passed)
    })
    .await
}

/// Allocates about 200 MB in the shell (a string it keeps).
const HOG: &str = "x=$(yes aaaaaaaaaaaaaaa | head -c 200000000); echo survived ${#x}";

/// A container going past `-m` is OOM-killed; the engine carries on.
pub async fn memory_enforced(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("oom");
    cleaning(&e, &[&name], async {
        let run = run(&e, &["-m", "32m", "--name", &name, IMAGE, "sh", "-c", HOG]).await?;
        ensure!(!run.stdout.contains("survived"), "the allocation succeeded under -m 32m: {}", run.stdout);
        let state = inspect(&e, &name).await?["State"].clone();
        ensure!(state["OOMKilled"] == true || state["ExitCode"] != 0, "not stopped by the limit: {state}");
        ensure!(e.get("/_ping").await?.status.is_success(), "the engine stopped answering");
        Ok(Outcome::Passed)
    })
    .await
}

/// Under contention a container with more CPU shares gets more CPU time.
pub async fn cpu_weight(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let (heavy, light) = (e.unique("shares2048"), e.unique("shares256"));
    let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let burners = (0..cpus * 2).map(|_| "(while :; do :; done) &").collect::<String>() + " wait";
    cleaning(&e, &[&heavy, &light], async {
        detach(&e, &heavy, &["-c", "2048", IMAGE, "sh", "-c", &burners]).await?;
        detach(&e, &light, &["-c", "256", IMAGE, "sh", "-c", &burners]).await?;
        let usage = |name: String| {
            let e = e.clone();
            async move {
                let dir = match v1_group(&e, &name, "cpuacct").await? {
                    Ok(dir) => dir,
                    Err(_) => bail!("no cpuacct hierarchy"),
                };
                anyhow::Ok((dir.clone(), read(&dir.join("cpuacct.usage"))?.trim().parse::<u64>()?))
            }
        };
        let (heavy_dir, h0) = match usage(heavy.clone()).await {
            Ok(v) => v,
            Err(_) => {
                return Ok(skip(SkipKind::Environment, "this host has no cgroup v1 cpuacct hierarchy to measure with"))
            }
        };
        let (light_dir, l0) = usage(light.clone()).await?;
        tokio::time::sleep(Duration::from_secs(4)).await;
        let h = read(&heavy_dir.join("cpuacct.usage"))?.trim().parse::<u64>()? - h0;
        let l = read(&light_dir.join("cpuacct.usage"))?.trim().parse::<u64>()? - l0;
        ensure!(h as f64 > 2.0 * l as f64, "2048 shares got {h} ns, 256 shares got {l} ns: not clearly more");
        Ok(Outcome::Passed)
    })
    .await
}

/// A daemon started without a tcp `-H` does not listen on the engine's default TCP port.
pub async fn no_tcp_default(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let port = e.profile.tcp_port;
    let answers =
        || std::net::TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_secs(1)).is_ok();
    if answers() {
        return Ok(skip(SkipKind::Environment, format!("something already listens on 127.0.0.1:{port}")));
    }
    let mut daemon = TestDaemon::start(&e, Spec::default()).await?;
    let host = daemon.host.clone();
    daemon.ready(&host).await?;
    ensure!(!answers(), "the daemon listens on 127.0.0.1:{port} without being asked to");
    daemon.stop().await?;
    Ok(Outcome::Passed)
}

// ---------------------------------------------------------------------------------------------
// Metrics from cgroup files
// ---------------------------------------------------------------------------------------------

/// The host mounts the cgroup hierarchies the engine relies on: memory, cpu accounting,
/// block I/O and devices, each as a v1 hierarchy or offered by cgroup2 (a hybrid layout may
/// mix them: Debian's 6.12 has no v1 memory controller).
pub async fn cgroup_mounts(_e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let mounts = cgroup_mounts_table()?;
    ensure!(!mounts.is_empty(), "no cgroup file system is mounted");
    let v1: Vec<&String> = mounts.iter().filter(|(c, _, _)| c[0] != "cgroup2").flat_map(|(c, _, _)| c).collect();
    let v2 = match mounts.iter().find(|(c, _, _)| c[0] == "cgroup2") {
        Some((_, _, point)) => read(&point.join("cgroup.controllers")).unwrap_or_default(),
        None => String::new(),
    };
    let offered =
        |v1_name: &str, v2_name: &str| v1.iter().any(|c| *c == v1_name) || v2.split_whitespace().any(|c| c == v2_name);
    for (v1_name, v2_name) in [("memory", "memory"), ("cpuacct", "cpu"), ("blkio", "io")] {
        ensure!(offered(v1_name, v2_name), "neither a v1 {v1_name} hierarchy ({v1:?}) nor {v2_name} in cgroup2 ({v2})");
    }
    // cgroup2 has no devices controller (a BPF program does its work): a layout with v1
    // controllers must have the v1 one.
    let v1_controllers =
        v1.iter().any(|c| ["cpu", "cpuacct", "memory", "blkio", "pids", "cpuset"].contains(&c.as_str()));
    ensure!(!v1_controllers || v1.iter().any(|c| *c == "devices"), "no devices hierarchy among {v1:?}");
    Ok(Outcome::Passed)
}

/// /proc/<pid>/cgroup names, for every hierarchy, a group whose last part carries the full
/// id, and each of those directories exists.
pub async fn cgroup_per_container(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("procpid");
    cleaning(&e, &[&name], async {
        let id = idle(&e, &name).await?;
        let groups = groups_of(pid(&e, &name).await?)?;
        ensure!(!groups.is_empty(), "no groups found");
        for group in &groups {
            let last = group.path.rsplit('/').next().unwrap_or_default();
            ensure!(last.contains(&id), "{:?} is in {}, not a group named by the id", group.controllers, group.path);
            ensure!(group.dir.is_dir(), "{} does not exist", group.dir.display());
        }
        Ok(Outcome::Passed)
    })
    .await
}

/// memory.stat lists the documented counters.
pub async fn memory_stat(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("memstat");
    cleaning(&e, &[&name], async {
        idle(&e, &name).await?;
        let dir = match v1_group(&e, &name, "memory").await? {
            Ok(dir) => dir,
            Err(outcome) => return Ok(outcome),
        };
        let counters = stat(&read(&dir.join("memory.stat"))?);
        let keys = [
            "cache",
            "rss",
            "mapped_file",
            "pgpgin",
            "pgpgout",
            "pgfault",
            "pgmajfault",
            "active_anon",
            "inactive_anon",
            "active_file",
            "inactive_file",
            "unevictable",
            "hierarchical_memory_limit",
            "total_cache",
            "total_rss",
        ];
        let missing: Vec<&&str> = keys.iter().filter(|k| !counters.contains_key(**k)).collect();
        ensure!(missing.is_empty(), "memory.stat lacks {missing:?}");
        Ok(Outcome::Passed)
    })
    .await
}

/// `-m` is what the memory group enforces; without it there is no practical limit.
pub async fn memory_limit(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let (limited, free) = (e.unique("memlimit"), e.unique("memfree"));
    cleaning(&e, &[&limited, &free], async {
        detach(&e, &limited, &["-m", "100m", IMAGE, "sh", "-c", IDLE]).await?;
        idle(&e, &free).await?;
        let dir = match v1_group(&e, &limited, "memory").await? {
            Ok(dir) => dir,
            Err(outcome) => return Ok(outcome),
        };
        let limit: i64 = read(&dir.join("memory.limit_in_bytes"))?.trim().parse()?;
        ensure!(limit == 100 << 20, "memory.limit_in_bytes is {limit}");
        ensure!(
            stat(&read(&dir.join("memory.stat"))?).get("hierarchical_memory_limit") == Some(&(100 << 20)),
            "hierarchical_memory_limit differs"
        );
        let free_dir = v1_group(&e, &free, "memory").await?.map_err(|_| anyhow::anyhow!("no memory group"))?;
        let unlimited: u64 = read(&free_dir.join("memory.limit_in_bytes"))?.trim().parse()?;
        ensure!(unlimited > 1 << 50, "without -m the limit is {unlimited}");
        Ok(Outcome::Passed)
    })
    .await
}

/// rss and total_rss grow when the container allocates memory.
pub async fn memory_grows(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("memgrow");
    let script = "trap 'x=$(yes aaaaaaaaaaaaaaa | head -c 60000000); echo allocated' USR1; echo ready; while :; do sleep 0.2; done";
    cleaning(&e, &[&name], async {
        detach(&e, &name, &[IMAGE, "sh", "-c", script]).await?;
        super::containers::logs_contain(&e, &name, "ready").await?;
        let dir = match v1_group(&e, &name, "memory").await? {
            Ok(dir) => dir,
            Err(outcome) => return Ok(outcome),
        };
        let before = stat(&read(&dir.join("memory.stat"))?);
        e.cli(&["kill", "-s", "USR1", &name]).await?.success()?;
        // A shell filling a 60 MB variable takes a while on a slow (emulated) machine.
        super::containers::eventually(
            &format!("\"allocated\" in the logs of {name}"),
            Duration::from_secs(180),
            || async {
                Ok(super::containers::both(&e.cli(&["logs", &name]).await?).contains("allocated").then_some(()))
            },
        )
        .await?;
        let after = stat(&read(&dir.join("memory.stat"))?);
        for key in ["rss", "total_rss"] {
            let (b, a) = (before.get(key).copied().unwrap_or(0), after.get(key).copied().unwrap_or(0));
            ensure!(a > b + 30_000_000, "{key} went from {b} to {a} after allocating 60 MB");
        }
        Ok(Outcome::Passed)
    })
    .await
}

/// cpuacct.stat's user and system ticks grow while the container keeps a CPU busy.
pub async fn cpuacct(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("cpuacct");
    cleaning(&e, &[&name], async {
        detach(&e, &name, &[IMAGE, "sh", "-c", "while :; do echo spin > /dev/null; done"]).await?;
        let dir = match v1_group(&e, &name, "cpuacct").await? {
            Ok(dir) => dir,
            Err(outcome) => return Ok(outcome),
        };
        let before = stat(&read(&dir.join("cpuacct.stat"))?);
        tokio::time::sleep(Duration::from_secs(2)).await;
        let after = stat(&read(&dir.join("cpuacct.stat"))?);
        for key in ["user", "system"] {
            let (b, a) = (before.get(key).copied().unwrap_or(-1), after.get(key).copied().unwrap_or(-1));
            ensure!(b >= 0 && a > b, "{key} went from {b} to {a} while busy");
        }
        Ok(Outcome::Passed)
    })
    .await
}

/// cpu.shares holds the `-c` value.
pub async fn cpu_shares(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("cpushares");
    cleaning(&e, &[&name], async {
        detach(&e, &name, &["-c", "512", IMAGE, "sh", "-c", IDLE]).await?;
        let dir = match v1_group(&e, &name, "cpu").await? {
            Ok(dir) => dir,
            Err(outcome) => return Ok(outcome),
        };
        ensure!(
            read(&dir.join("cpu.shares"))?.trim() == "512",
            "cpu.shares is {}",
            read(&dir.join("cpu.shares"))?.trim()
        );
        Ok(Outcome::Passed)
    })
    .await
}

/// The blkio group counts the container's I/O in the documented files.
pub async fn blkio(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("blkio");
    let script = "trap 'dd if=/dev/zero of=/written bs=1M count=20 oflag=direct; sync; echo wrote' USR1; echo ready; while :; do sleep 0.2; done";
    cleaning(&e, &[&name], async {
        detach(&e, &name, &[IMAGE, "sh", "-c", script]).await?;
        super::containers::logs_contain(&e, &name, "ready").await?;
        let dir = match v1_group(&e, &name, "blkio").await? {
            Ok(dir) => dir,
            Err(outcome) => return Ok(outcome),
        };
        let total = |file: &str| -> Option<i64> {
            let text = std::fs::read_to_string(dir.join(file)).ok()?;
            text.lines().find_map(|l| l.strip_prefix("Total ")?.trim().parse().ok())
        };
        let documented = ["blkio.sectors", "blkio.io_service_bytes", "blkio.io_serviced", "blkio.io_queued"];
        let missing: Vec<&&str> = documented.iter().filter(|f| !dir.join(f).exists()).collect();
        let counter = if missing.is_empty() { "blkio.io_service_bytes" } else { "blkio.throttle.io_service_bytes" };
        let before = total(counter).with_context(|| format!("no {counter} in {}", dir.display()))?;
        e.cli(&["kill", "-s", "USR1", &name]).await?.success()?;
        super::containers::logs_contain(&e, &name, "wrote").await?;
        let after = total(counter).unwrap_or(before);
        if missing.is_empty() && after > before {
            return Ok(Outcome::Passed);
        }
        if !missing.is_empty() && after == before {
            return Ok(skip(SkipKind::Environment, format!("this kernel has no {missing:?} (CFQ statistics, gone with blk-mq) and its {counter} does not count this machine's disk")));
        }
        ensure!(after > before, "{counter} stayed at {before} after 20 MB of direct writes");
        Ok(skip(SkipKind::Environment, format!("this kernel has no {missing:?} (CFQ statistics, gone with blk-mq); {counter} counted the writes")))
    })
    .await
}

/// The tasks file lists the container's processes, the main one among them.
pub async fn tasks(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("tasks");
    cleaning(&e, &[&name], async {
        detach(&e, &name, &[IMAGE, "sh", "-c", &format!("sleep 1000 & {IDLE}")]).await?;
        let main = pid(&e, &name).await?;
        let groups = groups_of(main)?;
        let group = groups
            .iter()
            .find(|g| g.dir.join("tasks").exists() || g.dir.join("cgroup.procs").exists())
            .context("no group")?;
        let file = if group.dir.join("tasks").exists() { "tasks" } else { "cgroup.procs" };
        // The shell starts its child right after it starts itself: poll for it a while.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let listed: Vec<u32> = read(&group.dir.join(file))?.lines().filter_map(|l| l.trim().parse().ok()).collect();
            ensure!(listed.contains(&main), "{file} lacks the main process {main}: {listed:?}");
            if listed.len() >= 2 {
                return Ok(Outcome::Passed);
            }
            ensure!(std::time::Instant::now() < deadline, "{file} lacks the child after 10 s: {listed:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
}

/// `<devices hierarchy>/<parent>/<short id>*/tasks` matches that one container's tasks file.
pub async fn devices_glob(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("glob");
    cleaning(&e, &[&name], async {
        let id = idle(&e, &name).await?;
        let dir = match v1_group(&e, &name, "devices").await? {
            Ok(dir) => dir,
            Err(outcome) => return Ok(outcome),
        };
        let parent = dir.parent().context("no parent group")?;
        let matches: Vec<PathBuf> = std::fs::read_dir(parent)?
            .filter_map(Result::ok)
            .filter(|entry| entry.file_name().to_string_lossy().starts_with(&id[..12]))
            .map(|entry| entry.path().join("tasks"))
            .filter(|p| p.exists())
            .collect();
        ensure!(matches == [dir.join("tasks")], "the short id matches {matches:?}");
        Ok(Outcome::Passed)
    })
    .await
}

/// When the container exits its cgroup directories go away.
pub async fn cgroup_cleanup(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("cgroupgone");
    cleaning(&e, &[&name], async {
        idle(&e, &name).await?;
        let dirs: Vec<PathBuf> = groups_of(pid(&e, &name).await?)?.into_iter().map(|g| g.dir).collect();
        ensure!(dirs.iter().all(|d| d.is_dir()), "the groups are not there while it runs");
        e.cli(&["stop", &name]).await?.success()?;
        exit_code(&e, &name).await?;
        super::containers::eventually("the groups' removal", SETTLE, || async {
            Ok(dirs.iter().all(|d| !d.exists()).then_some(()))
        })
        .await
        .with_context(|| format!("left: {:?}", dirs.iter().filter(|d| d.exists()).collect::<Vec<_>>()))?;
        Ok(Outcome::Passed)
    })
    .await
}
