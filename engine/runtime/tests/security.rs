//! Users, capabilities, privileged mode, masked and read-only paths, mounts (8.1, 5.1.29).

mod common;

use berth_runtime::{Mount, Propagation};
use common::Fixture;

async fn output(f: &Fixture) -> (i32, String) {
    let (status, out, err) = f.run().await;
    (status.code, out + &err)
}

fn sh(script: &str) -> Fixture {
    Fixture::new(&["sh", "-c", script])
}

#[tokio::test]
async fn users_by_name_uid_and_group() {
    for (user, want) in [
        ("berthuser", "uid=1000(berthuser) gid=1000(berthuser) groups=1000(berthuser),1001(extra)\n/home/berthuser\n"),
        ("1000", "uid=1000(berthuser) gid=1000(berthuser) groups=1000(berthuser),1001(extra)\n/home/berthuser\n"),
        ("1000:1001", "uid=1000(berthuser) gid=1001(extra) groups=1001(extra)\n/home/berthuser\n"),
        ("berthuser:extra", "uid=1000(berthuser) gid=1001(extra) groups=1001(extra)\n/home/berthuser\n"),
        ("4242", "uid=4242 gid=0(root) groups=0(root)\n/\n"),
    ] {
        let mut f = sh("id; echo $HOME");
        f.spec.user = user.into();
        assert_eq!(output(&f).await, (0, want.to_string()), "user {user}");
    }
}

#[tokio::test]
async fn root_has_dockers_default_capabilities() {
    let f = sh("grep -E '^Cap(Inh|Prm|Eff|Bnd|Amb)' /proc/self/status");
    let (code, out) = output(&f).await;
    // CHOWN DAC_OVERRIDE FOWNER FSETID KILL SETGID SETUID SETPCAP NET_BIND_SERVICE NET_RAW
    // SYS_CHROOT MKNOD AUDIT_WRITE SETFCAP
    let set = "00000000a80425fb";
    let want = format!("CapInh:\t{set}\nCapPrm:\t{set}\nCapEff:\t{set}\nCapBnd:\t{set}\nCapAmb:\t0000000000000000\n");
    assert_eq!((code, out), (0, want));
}

#[tokio::test]
async fn non_root_users_get_no_capabilities() {
    let mut f = sh("grep -E '^Cap(Inh|Prm|Eff|Bnd)' /proc/self/status");
    f.spec.user = "berthuser".into();
    let (_, out) = output(&f).await;
    let want =
        "CapInh:\t0000000000000000\nCapPrm:\t0000000000000000\nCapEff:\t0000000000000000\nCapBnd:\t00000000a80425fb\n";
    assert_eq!(out, want);
}

#[tokio::test]
async fn cap_add_and_cap_drop() {
    let mut f = sh("grep CapEff /proc/self/status");
    f.spec.cap_add = vec!["NET_ADMIN".into()];
    f.spec.cap_drop = vec!["CAP_CHOWN".into(), "MKNOD".into()];
    let (_, out) = output(&f).await;
    assert_eq!(
        out,
        "CapEff:\t00000000a80435fa\n"
            .replace("a80435fa", &format!("{:08x}", 0xa80425fbu32 & !1 & !(1 << 27) | 1 << 12))
    );
}

#[tokio::test]
async fn unknown_user_and_capability_are_refused() {
    let mut f = sh("true");
    f.spec.user = "ghost".into();
    let err = f.start().unwrap_err();
    assert_eq!(err.to_string(), "unable to find user ghost: no matching entries in passwd file");
    let mut f = sh("true");
    f.spec.cap_add = vec!["CAP_WHATEVER".into()];
    assert_eq!(f.start().unwrap_err().to_string(), "unknown capability: \"CAP_WHATEVER\"");
}

#[tokio::test]
async fn mount_is_denied_unless_privileged() {
    let f = sh("mkdir /tmp/m && mount -t tmpfs none /tmp/m");
    let (code, out) = output(&f).await;
    assert_ne!(code, 0);
    assert!(out.contains("ermission denied"), "{out}");
    let mut f = sh("mkdir /tmp/m && mount -t tmpfs none /tmp/m && grep -c ' /tmp/m tmpfs' /proc/mounts && grep CapEff /proc/self/status");
    f.spec.privileged = true;
    let (code, out) = output(&f).await;
    let host = std::fs::read_to_string("/proc/self/status").unwrap();
    let bounding = host.lines().find(|l| l.starts_with("CapBnd")).unwrap().split('\t').nth(1).unwrap().to_string();
    assert_eq!((code, out), (0, format!("1\nCapEff:\t{bounding}\n")));
}

#[tokio::test]
async fn privileged_sees_host_devices_and_writable_sys() {
    let mut f = sh("test -e /dev/kmsg && grep ' /sys ' /proc/mounts | cut -d' ' -f4 | cut -d, -f1");
    f.spec.privileged = true;
    assert_eq!(output(&f).await, (0, "rw\n".into()));
    let f = sh("test -e /dev/kmsg; echo $?; grep ' /sys ' /proc/mounts | cut -d' ' -f4 | cut -d, -f1; ls /dev");
    let (_, out) = output(&f).await;
    assert_eq!(
        out,
        "1\nro\ncore\nfd\nfull\nmqueue\nnull\nptmx\npts\nrandom\nshm\nstderr\nstdin\nstdout\ntty\nurandom\nzero\n"
    );
}

#[tokio::test]
async fn devices_have_dockers_numbers_and_modes() {
    let f = sh("stat -c '%n %t:%T %a' /dev/null /dev/zero /dev/full /dev/random /dev/urandom /dev/tty; readlink /dev/ptmx; readlink /dev/fd");
    let (_, out) = output(&f).await;
    let want = "/dev/null 1:3 666\n/dev/zero 1:5 666\n/dev/full 1:7 666\n/dev/random 1:8 666\n\
        /dev/urandom 1:9 666\n/dev/tty 5:0 666\npts/ptmx\n/proc/self/fd\n";
    assert_eq!(out, want);
}

const MASKED: [&str; 10] = [
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
];

/// The masked paths this kernel has (this VM's has no /proc/kcore): each must read empty.
#[tokio::test]
async fn proc_paths_are_masked() {
    let present: Vec<&str> = MASKED.iter().copied().filter(|p| std::path::Path::new(p).exists()).collect();
    assert!(!present.is_empty());
    let script: String =
        // At most one byte of a file: /proc/kcore, unmasked, is as large as the address space.
        present.iter().map(|p| format!("if [ -d {p} ]; then ls -A {p} | wc -l; else head -c 1 {p} | wc -c; fi;")).collect();
    let (code, out) = output(&sh(&script)).await;
    assert_eq!((code, out), (0, "0\n".repeat(present.len())), "masked: {present:?}");
    let mut f = sh(&script);
    f.spec.privileged = true;
    let (_, out) = output(&f).await;
    assert_ne!(out, "0\n".repeat(present.len()), "privileged containers see them");
}

#[tokio::test]
async fn proc_sys_and_friends_are_read_only() {
    let f = sh("grep -E ' /proc/(sys|bus|fs|irq|sysrq-trigger) ' /proc/mounts | cut -d' ' -f2,4 | cut -d, -f1; \
        (echo 1 > /proc/sys/kernel/ns_last_pid) 2>&1");
    let (_, out) = output(&f).await;
    for path in ["/proc/sys", "/proc/bus", "/proc/fs", "/proc/irq"] {
        assert!(out.contains(&format!("{path} ro\n")), "{path} in {out}");
    }
    assert!(out.contains("Read-only file system"), "{out}");
}

#[tokio::test]
async fn no_new_privileges() {
    let mut f = sh("grep NoNewPrivs /proc/self/status");
    assert_eq!(output(&f).await.1, "NoNewPrivs:\t0\n");
    f.spec.no_new_privileges = true;
    assert_eq!(output(&f).await.1, "NoNewPrivs:\t1\n");
}

#[tokio::test]
async fn readonly_rootfs_keeps_mounts_writable() {
    let mut f = sh("touch /x 2>/dev/null && echo wrote-root; touch /data/x && echo wrote-tmpfs; touch /dev/shm/x && echo wrote-shm");
    f.spec.readonly_rootfs = true;
    f.spec.mounts = vec![Mount::Tmpfs { destination: "/data".into(), options: String::new() }];
    assert_eq!(output(&f).await, (0, "wrote-tmpfs\nwrote-shm\n".into()));
    assert!(!f.spec.rootfs.join("x").exists());
}

#[tokio::test]
async fn tmpfs_with_uid_gid_and_mode() {
    let mut f = sh("stat -c '%u %g %a' /run/app; grep ' /run/app ' /proc/mounts | cut -d' ' -f4");
    f.spec.user = "berthuser".into();
    f.spec.mounts =
        vec![Mount::Tmpfs { destination: "/run/app".into(), options: "size=1m,mode=1770,uid=1000,gid=1000".into() }];
    let (code, out) = output(&f).await;
    assert_eq!(code, 0);
    assert!(out.starts_with("1000 1000 1770\nrw,nosuid,nodev,noexec,"), "{out}");
    assert!(out.contains("size=1024k") && out.contains("mode=1770") && out.contains("uid=1000"), "{out}");
}

#[tokio::test]
async fn bind_mounts_read_only_and_read_write() {
    let host = tempfile::tempdir().unwrap();
    std::fs::write(host.path().join("file"), "from host\n").unwrap();
    let mut f = sh("cat /ro/file; (echo no > /ro/file) 2>/dev/null || echo ro-ok; echo yes > /rw/new; cat /one");
    f.spec.mounts = vec![
        Mount::Bind { source: host.path().into(), destination: "/ro".into(), readonly: true, propagation: None },
        Mount::Bind {
            source: host.path().into(),
            destination: "/rw".into(),
            readonly: false,
            propagation: Some(Propagation::Rprivate),
        },
        Mount::Bind { source: host.path().join("file"), destination: "/one".into(), readonly: true, propagation: None },
    ];
    assert_eq!(output(&f).await, (0, "from host\nro-ok\nfrom host\n".into()));
    assert_eq!(std::fs::read_to_string(host.path().join("new")).unwrap(), "yes\n");
    assert!(f.spec.rootfs.join("one").is_file(), "a file source gets a file mount point");
}

#[tokio::test]
async fn missing_bind_source_fails_the_start() {
    let mut f = sh("true");
    f.spec.mounts = vec![Mount::Bind {
        source: "/no/such/dir".into(),
        destination: "/x".into(),
        readonly: false,
        propagation: None,
    }];
    let err = f.start().unwrap_err();
    assert_eq!(err.to_string(), "bind mount source path does not exist: /no/such/dir");
    assert!(f.cgroup_dirs().iter().all(|d| !d.exists()));
}

#[tokio::test]
async fn symlinked_destinations_stay_inside_the_root() {
    let mut f = sh("cat /escape/hostname-file");
    std::os::unix::fs::symlink("/../../../../tmp", f.spec.rootfs.join("escape")).unwrap();
    let host = tempfile::tempdir().unwrap();
    std::fs::write(host.path().join("f"), "inside\n").unwrap();
    f.spec.mounts = vec![Mount::Bind {
        source: host.path().join("f"),
        destination: "/escape/hostname-file".into(),
        readonly: true,
        propagation: None,
    }];
    assert_eq!(output(&f).await, (0, "inside\n".into()));
    assert!(f.spec.rootfs.join("tmp/hostname-file").exists());
    assert!(!std::path::Path::new("/tmp/hostname-file").exists());
}

// ---- seccomp -----------------------------------------------------------------------------

/// The conformance suite's case: with no module support in the kernel, init_module would
/// say ENOSYS; the filter says EPERM first.
#[tokio::test]
async fn modules_cannot_be_loaded() {
    let f = sh("echo x > /tmp/x.ko; insmod /tmp/x.ko; echo rc=$?; grep Seccomp: /proc/self/status");
    let (_, out) = output(&f).await;
    assert!(out.contains("insmod: can't insert '/tmp/x.ko': Operation not permitted"), "{out}");
    assert!(out.starts_with("rc=1\nSeccomp:\t2\n"), "{out}");
}

#[tokio::test]
async fn new_namespaces_are_not_permitted() {
    let (_, out) = output(&sh("unshare -U true; echo user=$?; unshare -m true; echo mount=$?")).await;
    let refusals =
        "unshare: unshare(0x10000000): Operation not permitted\nunshare: unshare(0x20000): Operation not permitted\n";
    assert_eq!(out, format!("user=1\nmount=1\n{refusals}"));
}

#[tokio::test]
async fn cap_sys_admin_lifts_the_namespace_rules() {
    let mut f = sh("unshare -m true && echo mount-ns; unshare -U true && echo user-ns");
    f.spec.cap_add = vec!["SYS_ADMIN".into()];
    assert_eq!(output(&f).await, (0, "mount-ns\nuser-ns\n".into()));
}

#[tokio::test]
async fn privileged_and_unconfined_containers_are_not_filtered() {
    let script = "grep Seccomp: /proc/self/status; unshare -U true && echo user-ns; \
        echo x > /tmp/x.ko; insmod /tmp/x.ko 2>&1 | grep -c 'not permitted'";
    let mut f = sh(script);
    f.spec.privileged = true;
    assert_eq!(output(&f).await.1, "Seccomp:\t0\nuser-ns\n0\n");
    let mut f = sh(script);
    f.spec.seccomp = berth_runtime::Seccomp::Unconfined;
    let (_, out) = output(&f).await;
    assert!(out.starts_with("Seccomp:\t0\nuser-ns\n"), "{out}");
}

#[tokio::test]
async fn ordinary_workloads_run_under_the_filter() {
    let f = sh("ls / > /dev/null && cat /etc/passwd | grep -c root && date +%Y | grep -c 20 && sleep 0.1 && id -u \
        && sh -c 'echo nested' && ping -c 1 -W 2 127.0.0.1 | grep -c '1 packets received' \
        && grep Seccomp: /proc/self/status");
    assert_eq!(output(&f).await, (0, "1\n1\n0\nnested\n1\nSeccomp:\t2\n".into()));
    let mut f = sh("id -u; grep Seccomp: /proc/self/status");
    f.spec.user = "berthuser".into();
    assert_eq!(output(&f).await, (0, "1000\nSeccomp:\t2\n".into()));
}

#[tokio::test]
async fn execs_are_filtered_and_in_every_group() {
    let f = Fixture::new(&["sleep", "100"]);
    let (monitor, _) = f.start().unwrap();
    let spec = berth_runtime::ExecSpec {
        args: ["sh", "-c", "grep Seccomp: /proc/self/status; cat /proc/self/cgroup"].map(String::from).to_vec(),
        env: vec!["PATH=/bin".into()],
        privileged: true,
        ..Default::default()
    };
    let (stream, handle) = monitor.exec(&spec).await.unwrap();
    let (out, _) = common::read_frames(stream).await;
    assert_eq!(handle.wait().await.unwrap(), 0);
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("Seccomp:\t2"), "{out}");
    assert!(lines.all(|l| l.ends_with(&f.spec.id)), "{out}");
    monitor.signal(9).unwrap();
    monitor.wait().await.unwrap();
}
