//! Running a container end to end: output, exit codes, signals, start failures.

mod common;

use berth_runtime::RuntimeError;
use common::{eventually, mounts_under, processes_mentioning, Fixture};
use std::time::Duration;

#[tokio::test]
async fn echo_hello_reaches_the_log_and_the_attach_stream() {
    let f = Fixture::new(&["echo", "hello"]);
    let (status, out, err) = f.run().await;
    assert_eq!((status.code, status.signal, out.as_str(), err.as_str()), (0, None, "hello\n", ""));
    assert_eq!(f.logged("stdout"), "hello\n");
    assert!(!status.started_at.is_empty() && status.finished_at >= status.started_at);
    assert_eq!(berth_runtime::exit_status(&f.spec.state_dir), Some(status));
    assert!(!f.state("monitor.sock").exists() && !f.state("monitor.pid").exists());
}

#[tokio::test]
async fn stderr_is_its_own_stream() {
    let f = Fixture::new(&["sh", "-c", "echo out; echo err >&2"]);
    let (_, out, err) = f.run().await;
    assert_eq!((out.as_str(), err.as_str()), ("out\n", "err\n"));
    assert_eq!(f.logged("stderr"), "err\n");
}

#[tokio::test]
async fn exit_code_is_passed_on() {
    let f = Fixture::new(&["sh", "-c", "exit 3"]);
    let (status, _, _) = f.run().await;
    assert_eq!((status.code, status.signal), (3, None));
}

#[tokio::test]
async fn sigkill_gives_137() {
    let f = Fixture::new(&["sleep", "100"]);
    let (monitor, pid) = f.start().unwrap();
    assert!(pid > 0);
    monitor.signal(9).unwrap();
    let status = monitor.wait().await.unwrap();
    assert_eq!((status.code, status.signal), (137, Some(9)));
    assert!(monitor.signal(9).is_err(), "signalling an exited container fails");
}

#[tokio::test]
async fn wait_after_exit_reads_exit_json() {
    let f = Fixture::new(&["true"]);
    let (monitor, _) = f.start().unwrap();
    let first = monitor.wait().await.unwrap();
    let again = monitor.wait().await.unwrap();
    assert_eq!(first, again);
    assert!(matches!(berth_runtime::Monitor::reconnect(&f.spec.state_dir), Err(RuntimeError::Gone(_))));
}

#[tokio::test]
async fn command_not_found_fails_the_start_and_leaves_nothing() {
    let f = Fixture::new(&["no-such-command", "x"]);
    let err = f.start().unwrap_err();
    assert_eq!(err.to_string(), "exec: \"no-such-command\": executable file not found in $PATH");
    assert_eq!(err.exit_code(), Some(127));
    let status = berth_runtime::exit_status(&f.spec.state_dir).expect("exit.json");
    assert_eq!((status.code, status.error.as_str()), (127, err.to_string().as_str()));
    assert!(f.cgroup_dirs().iter().all(|d| !d.exists()), "cgroups left: {:?}", f.cgroup_dirs());
    let needle = f.spec.state_dir.to_string_lossy().to_string();
    // The monitor reports the failure, then exits.
    assert!(eventually(Duration::from_secs(5), || processes_mentioning(&needle).is_empty()).await);
    assert!(mounts_under(f.dir.path()).is_empty());
    assert!(!f.state("monitor.sock").exists());
}

#[tokio::test]
async fn not_executable_is_126() {
    let f = Fixture::new(&["/etc/passwd"]);
    let err = f.start().unwrap_err();
    assert_eq!(err.to_string(), "exec: \"/etc/passwd\": permission denied");
    assert_eq!(err.exit_code(), Some(126));
}

#[tokio::test]
async fn missing_path_is_127() {
    let f = Fixture::new(&["/bin/nothing-here"]);
    let err = f.start().unwrap_err();
    assert_eq!(err.to_string(), "exec: \"/bin/nothing-here\": stat /bin/nothing-here: no such file or directory");
    assert_eq!(err.exit_code(), Some(127));
}

#[tokio::test]
async fn init_is_pid_1_and_hostname_is_set() {
    let mut f = Fixture::new(&["sh", "-c", "echo $$; hostname; cat /proc/sys/kernel/domainname"]);
    f.spec.hostname = "box".into();
    f.spec.domainname = "example.org".into();
    let (status, out, _) = f.run().await;
    assert_eq!((status.code, out.as_str()), (0, "1\nbox\nexample.org\n"));
}

#[tokio::test]
async fn cwd_is_created_and_home_is_set() {
    let mut f = Fixture::new(&["sh", "-c", "pwd; echo $HOME; stat -c %a /new/work"]);
    f.spec.cwd = "/new/work".into();
    let (_, out, _) = f.run().await;
    assert_eq!(out, "/new/work\n/root\n755\n");
}

#[tokio::test]
async fn only_lo_is_up_in_a_new_network_namespace() {
    let f = Fixture::new(&["sh", "-c", "ls /sys/class/net; cat /sys/class/net/lo/flags"]);
    let (_, out, _) = f.run().await;
    assert_eq!(out, "lo\n0x9\n");
}

#[tokio::test]
async fn host_namespaces_when_asked() {
    let mut f =
        Fixture::new(&["sh", "-c", "echo $$; hostname; readlink /proc/self/ns/net; readlink /proc/self/ns/ipc"]);
    f.spec.pid_host = true;
    f.spec.uts_host = true;
    f.spec.ipc_host = true;
    f.spec.network = berth_runtime::Network::Host;
    let (status, out, _) = f.run().await;
    assert_eq!(status.code, 0);
    let lines: Vec<&str> = out.lines().collect();
    assert_ne!(lines[0], "1");
    assert_eq!(lines[1], nix::unistd::gethostname().unwrap().to_string_lossy());
    assert_eq!(lines[2], std::fs::read_link("/proc/self/ns/net").unwrap().to_string_lossy());
    assert_eq!(lines[3], std::fs::read_link("/proc/self/ns/ipc").unwrap().to_string_lossy());
}

#[tokio::test]
async fn joins_another_containers_network_namespace() {
    let first = Fixture::new(&["sleep", "100"]);
    let (monitor, pid) = first.start().unwrap();
    let netns = std::path::PathBuf::from(format!("/proc/{pid}/ns/net"));
    let want = std::fs::read_link(&netns).unwrap().to_string_lossy().to_string();
    let mut second = Fixture::sharing(&first.spec.rootfs, &["readlink", "/proc/self/ns/net"]);
    second.spec.network = berth_runtime::Network::Join(netns);
    let (status, out, _) = second.run().await;
    assert_eq!((status.code, out), (0, format!("{want}\n")));
    monitor.signal(9).unwrap();
    monitor.wait().await.unwrap();
}
