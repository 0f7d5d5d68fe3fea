//! Resource limits in the container's cgroups (8.3), OOM kills, removal after exit.

mod common;

use common::Fixture;
use std::path::PathBuf;

/// The container's group directory that holds `file` (v1 has one per controller).
fn file_in_groups(f: &Fixture, file: &str) -> Option<PathBuf> {
    f.cgroup_dirs().into_iter().map(|d| d.join(file)).find(|p| p.exists())
}

fn read(path: &Option<PathBuf>) -> String {
    std::fs::read_to_string(path.as_ref().expect("cgroup file")).unwrap().trim().to_string()
}

fn is_v2() -> bool {
    berth_runtime::cgroups::Layout::detect().unwrap().limits_on_v2()
}

#[tokio::test]
async fn limits_are_written_and_the_group_is_named_after_the_id() {
    let mut f = Fixture::new(&["sleep", "100"]);
    f.spec.cgroup.memory = Some(64 << 20);
    f.spec.cgroup.memory_swap = Some(128 << 20);
    f.spec.cgroup.cpu_shares = Some(512);
    f.spec.cgroup.pids_limit = Some(20);
    let (monitor, pid) = f.start().unwrap();
    let own = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let wanted = format!("/{}/{}", f.spec.cgroup.parent, f.spec.id);
    assert!(own.lines().all(|l| l.ends_with(&wanted)), "{own}");
    if is_v2() {
        assert_eq!(read(&file_in_groups(&f, "memory.max")), (64 << 20).to_string());
        assert_eq!(read(&file_in_groups(&f, "memory.swap.max")), (64 << 20).to_string());
        assert_eq!(read(&file_in_groups(&f, "cpu.weight")), "20");
    } else {
        if file_in_groups(&f, "memory.limit_in_bytes").is_some() {
            assert_eq!(read(&file_in_groups(&f, "memory.limit_in_bytes")), (64 << 20).to_string());
            assert_eq!(read(&file_in_groups(&f, "memory.memsw.limit_in_bytes")), (128 << 20).to_string());
        } else {
            // A kernel without the v1 memory controller (Debian's 6.12): the limits are in the
            // container's cgroup2 group of the hybrid layout.
            assert_eq!(read(&file_in_groups(&f, "memory.max")), (64 << 20).to_string());
            assert_eq!(read(&file_in_groups(&f, "memory.swap.max")), (64 << 20).to_string());
        }
        assert_eq!(read(&file_in_groups(&f, "cpu.shares")), "512");
        assert!(read(&file_in_groups(&f, "devices.list")).contains("c 1:3 rwm"));
    }
    assert_eq!(read(&file_in_groups(&f, "pids.max")), "20");
    monitor.signal(9).unwrap();
    let status = monitor.wait().await.unwrap();
    assert!(!status.oom_killed);
    assert!(f.cgroup_dirs().iter().all(|d| !d.exists()), "groups removed after exit");
}

#[tokio::test]
async fn pids_limit_stops_forks() {
    let mut f = Fixture::new(&["sh", "-c", "for i in 1 2 3 4 5 6 7 8; do sleep 1 & done; wait"]);
    f.spec.cgroup.pids_limit = Some(4);
    let (_, _, err) = f.run().await;
    assert!(err.contains("can't fork"), "{err}");
}

#[tokio::test]
async fn devices_outside_the_allow_list_cannot_be_opened() {
    let f = Fixture::new(&["sh", "-c", "mknod /tmp/mem c 1 1 && head -c1 /tmp/mem; echo rc=$?"]);
    let (_, out, err) = f.run().await;
    assert!(out.ends_with("rc=1\n") && err.contains("Operation not permitted"), "{out} {err}");
}

#[tokio::test]
async fn out_of_memory_kill_is_reported() {
    let mut f = Fixture::new(&["sh", "-c", "x=0123456789abcdef; while true; do x=$x$x; done"]);
    f.spec.cgroup.memory = Some(16 << 20);
    f.spec.cgroup.memory_swap = Some(16 << 20);
    let (status, _, _) = f.run().await;
    assert_eq!((status.code, status.signal, status.oom_killed), (137, Some(9), true));
    assert!(f.cgroup_dirs().iter().all(|d| !d.exists()));
}

/// What the conformance suite checks (8.3): every line of /proc/<pid>/cgroup names a group
/// with the container's id (named hierarchies, cpuset and cgroup2 included), and the groups
/// are gone soon after the container exits.
#[tokio::test]
async fn the_container_is_in_every_hierarchy_and_leaves_none_behind() {
    let f = Fixture::new(&["sleep", "100"]);
    let (monitor, pid) = f.start().unwrap();
    let own = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let mounted = std::fs::read_to_string("/proc/self/cgroup").unwrap().lines().count();
    assert_eq!(own.lines().count(), mounted);
    assert!(own.lines().all(|l| l.ends_with(&format!("/{}/{}", f.spec.cgroup.parent, f.spec.id))), "{own}");
    let dirs = f.cgroup_dirs();
    assert_eq!(dirs.len(), mounted, "{dirs:?}");
    assert!(dirs.iter().all(|d| d.exists()));
    if let Some(cpus) = file_in_groups(&f, "cpuset.cpus") {
        assert!(!read(&Some(cpus)).is_empty(), "cpuset groups get the parent's cpus");
    }
    monitor.signal(9).unwrap();
    monitor.wait().await.unwrap();
    let gone = common::eventually(std::time::Duration::from_secs(2), || dirs.iter().all(|d| !d.exists())).await;
    assert!(gone, "left: {:?}", dirs.iter().filter(|d| d.exists()).collect::<Vec<_>>());
}

/// The cgroup2 path of a pure v2 host, on this host's cgroup2 mount (on a hybrid host the
/// unified hierarchy carries no controllers, so no limits): create with the device program
/// attached, join, check the device rules, kill, remove. The kernel runs device programs of
/// the task's cgroup2 group on any layout, so the rules hold here too.
#[test]
fn v2_groups_filter_devices_and_are_removed() {
    use berth_runtime::cgroups::{Cgroups, Layout};
    let Some(root) = Layout::detect().unwrap().unified else { return };
    let id = common::unique_id();
    let parent = format!("berth-test-{}", &id[..40]);
    let groups = Cgroups::new(&Layout::unified(&root), &parent, &id).unwrap();
    let _cleanup = RemoveOnDrop(groups.clone(), root.join(&parent));
    groups.create(&berth_runtime::Cgroup::default(), false).unwrap();
    let procs = groups.procs_files()[0].clone();
    let tmp = tempfile::tempdir().unwrap();
    let script = format!(
        "echo $$ > {procs}; head -c1 /dev/zero | wc -c; (exec 3</dev/kmsg) 2>&1; \
         mknod {dir}/kmsg c 1 11 && echo made; (exec 3<{dir}/kmsg) 2>&1; grep -c berth-test /proc/self/cgroup",
        procs = procs.display(),
        dir = tmp.path().display(),
    );
    let out = std::process::Command::new("sh").arg("-c").arg(&script).output().unwrap();
    let out = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.matches("Operation not permitted").count(), 2, "{out}");
    assert!(out.starts_with("1\n") && out.contains("made\n") && out.ends_with("1\n"), "{out}");

    let mut sleeper = std::process::Command::new("sleep").arg("100").spawn().unwrap();
    std::fs::write(&procs, sleeper.id().to_string()).unwrap();
    assert!(!groups.oom_killed());
    groups.destroy().unwrap();
    let status = sleeper.wait().unwrap();
    assert_eq!(std::os::unix::process::ExitStatusExt::signal(&status), Some(9));
    assert!(!procs.parent().unwrap().exists());
}

/// A privileged container's cgroup2 group has no device program.
#[test]
fn v2_privileged_groups_keep_all_devices() {
    use berth_runtime::cgroups::{Cgroups, Layout};
    let Some(root) = Layout::detect().unwrap().unified else { return };
    let id = common::unique_id();
    let parent = format!("berth-test-{}", &id[..40]);
    let groups = Cgroups::new(&Layout::unified(&root), &parent, &id).unwrap();
    let _cleanup = RemoveOnDrop(groups.clone(), root.join(&parent));
    groups.create(&berth_runtime::Cgroup::default(), true).unwrap();
    let procs = groups.procs_files()[0].clone();
    let script = format!("echo $$ > {}; (exec 3</dev/kmsg) 2>&1 && echo opened", procs.display());
    let out = std::process::Command::new("sh").arg("-c").arg(&script).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "opened\n", "{}", String::from_utf8_lossy(&out.stderr));
}

/// Removes a test's groups and their parent, whatever happened.
struct RemoveOnDrop(berth_runtime::cgroups::Cgroups, PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = self.0.destroy();
        let _ = std::fs::remove_dir(&self.1);
    }
}
