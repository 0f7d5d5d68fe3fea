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
    matches!(berth_runtime::cgroups::Layout::detect().unwrap(), berth_runtime::cgroups::Layout::V2(_))
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
    assert!(own.lines().any(|l| l.ends_with(&wanted)), "{own}");
    if is_v2() {
        assert_eq!(read(&file_in_groups(&f, "memory.max")), (64 << 20).to_string());
        assert_eq!(read(&file_in_groups(&f, "memory.swap.max")), (64 << 20).to_string());
        assert_eq!(read(&file_in_groups(&f, "cpu.weight")), "20");
    } else {
        assert_eq!(read(&file_in_groups(&f, "memory.limit_in_bytes")), (64 << 20).to_string());
        assert_eq!(read(&file_in_groups(&f, "memory.memsw.limit_in_bytes")), (128 << 20).to_string());
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
    if is_v2() {
        return; // the v2 device filter (eBPF) is not implemented; see the crate's report
    }
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

/// The v2 code path on this host's cgroup2 mount (the unified hierarchy of a hybrid layout
/// carries no controllers, so no limits here): create, join, kill, remove.
#[test]
fn v2_groups_are_created_joined_and_removed() {
    use berth_runtime::cgroups::{Cgroups, Layout};
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let Some(root) = mounts.lines().find(|l| l.contains(" - cgroup2 ")).and_then(|l| l.split(' ').nth(4)) else {
        return;
    };
    let id = common::unique_id();
    let parent = format!("berth-test-{}", &id[..40]);
    let groups = Cgroups::new(&Layout::V2(root.into()), &parent, &id).unwrap();
    groups.create(&berth_runtime::Cgroup::default(), false).unwrap();
    let mut sleeper = std::process::Command::new("sleep").arg("100").spawn().unwrap();
    let procs = groups.procs_files();
    std::fs::write(&procs[0], sleeper.id().to_string()).unwrap();
    let own = std::fs::read_to_string(format!("/proc/{}/cgroup", sleeper.id())).unwrap();
    assert!(own.contains(&format!("0::/{parent}/{id}")), "{own}");
    assert!(!groups.oom_killed());
    groups.destroy().unwrap();
    let status = sleeper.wait().unwrap();
    assert_eq!(std::os::unix::process::ExitStatusExt::signal(&status), Some(9));
    assert!(!procs[0].parent().unwrap().exists());
    std::fs::remove_dir(std::path::Path::new(root).join(&parent)).unwrap();
}
