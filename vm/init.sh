#!/bin/sh
# The guest's /init (busybox sh), written into the initramfs by vm/run.sh.
#   Stage 1 (pid 1 on the initramfs): copy the root into a tmpfs and switch_root into it, since
#   pivot_root (which every container start uses) refuses to move away from the initramfs.
#   Stage 2: mount the kernel file systems and the cgroup layout the kernel command line asks
#   for (berth.cgroup=v1|v2), load the modules, start a berth daemon, load busybox, run the
#   suites named in /etc/berth-vm/suites, print results between markers, power off.
# Every line the host parses starts with "BERTH-VM".

export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root

if [ "$1" != stage2 ]; then
    mount -t proc proc /proc
    # A line of its own: the firmware leaves escape sequences on the console's current line.
    echo
    echo "BERTH-VM boot $(cut -d' ' -f1 /proc/uptime)"
    mkdir -p /newroot
    mount -t tmpfs -o size=90%,mode=0755 root /newroot
    for entry in /*; do
        case "$entry" in /newroot | /proc | /sys | /dev) ;; *) cp -a "$entry" /newroot/ ;; esac
    done
    mkdir -p /newroot/proc /newroot/sys /newroot/dev
    umount /proc
    exec switch_root /newroot /init stage2
fi

finish() {
    echo "BERTH-VM-DONE"
    sync
    poweroff -f
}

arg() { sed -n "s/.*\bberth\.$1=\([^ ]*\).*/\1/p" /proc/cmdline; }

mount_kernel_fs() {
    mount -t proc proc /proc
    mount -t sysfs sysfs /sys
    mount -t devtmpfs devtmpfs /dev
    mkdir -p /dev/pts /dev/shm /dev/mqueue
    mount -t devpts -o newinstance,ptmxmode=0666 devpts /dev/pts
    mount -t tmpfs -o mode=1777 shm /dev/shm
    mount -t mqueue mqueue /dev/mqueue
    mount -t tmpfs -o mode=0755 run /run
    # /tmp stays the root's own directory (a tmpfs already): the test binaries and fixtures sit
    # at the host's paths, which may be under /tmp (a checkout in /tmp, as CI may make).
    chmod 1777 /tmp
    [ -e /dev/fd ] || ln -s /proc/self/fd /dev/fd
    mount -t securityfs securityfs /sys/kernel/security 2>/dev/null
    mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
}

# v2: one unified hierarchy with every controller enabled for children, as systemd leaves it.
# v1: a tmpfs with one hierarchy per controller plus systemd's named one and an empty
# cgroup2 at unified/, the hybrid layout of a Debian 12 host.
mount_cgroups() {
    case "$1" in
    v2)
        mount -t cgroup2 -o nsdelegate cgroup2 /sys/fs/cgroup
        for c in $(cat /sys/fs/cgroup/cgroup.controllers); do
            echo "+$c" >/sys/fs/cgroup/cgroup.subtree_control
        done
        ;;
    v1)
        mount -t tmpfs -o mode=0755 cgroup /sys/fs/cgroup
        for c in cpu,cpuacct cpuset memory devices freezer blkio pids net_cls,net_prio perf_event hugetlb; do
            mkdir -p "/sys/fs/cgroup/$c"
            mount -t cgroup -o "$c" cgroup "/sys/fs/cgroup/$c" || echo "BERTH-VM note: no v1 hierarchy $c"
        done
        ln -s cpu,cpuacct /sys/fs/cgroup/cpu
        ln -s cpu,cpuacct /sys/fs/cgroup/cpuacct
        ln -s net_cls,net_prio /sys/fs/cgroup/net_cls
        ln -s net_cls,net_prio /sys/fs/cgroup/net_prio
        mkdir -p /sys/fs/cgroup/systemd /sys/fs/cgroup/unified
        mount -t cgroup -o none,name=systemd cgroup /sys/fs/cgroup/systemd
        mount -t cgroup2 cgroup2 /sys/fs/cgroup/unified
        ;;
    esac
}

load_modules() {
    failed=""
    while read -r ko; do
        insmod "/lib/modules/$ko" 2>/dev/null || grep -q "^$(basename "$ko" .ko) " /proc/modules || failed="$failed $ko"
    done </etc/berth-vm/modules
    [ -z "$failed" ] || echo "BERTH-VM note: modules that did not load:$failed"
}

# Runs one suite: its output between BEGIN and END markers, counts on the END line.
run_suite() {
    name=$1
    shift
    echo "BERTH-VM-BEGIN $name"
    "$@"
    echo "BERTH-VM-END $name $(cat /tmp/counts 2>/dev/null || echo 'passed=0 failed=1 skipped=0')"
    rm -f /tmp/counts
}

# As scripts/conformance.sh does: the daemon in a root of its own (the default socket stays
# free for the cases that start a daemon there) and, with the suite, in a network namespace.
sock=unix:///run/berth-vm/berth.sock
start_daemon() {
    mkdir -p /run/berth-vm
    ip netns add berth-vm && ip -n berth-vm link set lo up
    nsenter --net=/run/netns/berth-vm berth -d -D -H "$sock" -g /run/berth-vm/graph -p /run/berth-vm/berth.pid \
        >/tmp/daemon.log 2>&1 &
    daemon_pid=$!
    for _ in $(seq 200); do
        berth -H "$sock" version >/dev/null 2>&1 && return 0
        kill -0 "$daemon_pid" 2>/dev/null || break
        sleep 0.1
    done
    echo "the berth daemon did not come up; its log:"
    tail -n 40 /tmp/daemon.log
    return 1
}

stop_daemon() {
    [ -n "$daemon_pid" ] || return 0
    kill -TERM "$daemon_pid" 2>/dev/null
    for _ in $(seq 100); do kill -0 "$daemon_pid" 2>/dev/null || return 0; sleep 0.1; done
    kill -KILL "$daemon_pid" 2>/dev/null
}

conformance_suite() {
    if ! start_daemon; then
        echo "passed=0 failed=1 skipped=0" >/tmp/counts
        return
    fi
    cd /vm
    berth -H "$sock" load -i "$FIXTURES/busybox.tar" >/dev/null
    # One line per case on stderr: "ok", "FAILED" or "skipped", then the case's name.
    DOCKER_HOST=$sock DOCKER_CLI=berth DAEMON_BIN=/usr/local/bin/berth nsenter --net=/run/netns/berth-vm \
        conformance --engine berth --expect /vm/expectations/berth.tsv --report-dir /tmp/report \
        $(cat /etc/berth-vm/conformance-args) >/tmp/conformance.out 2>/tmp/conformance.err
    echo "conformance exited with status $?"
    grep -v '^ok ' /tmp/conformance.err
    cat /tmp/conformance.out
    # The failures' reasons, from the report's rows.
    grep -i 'failed' /tmp/report/berth.md 2>/dev/null | head -n 60
    printf 'passed=%s failed=%s skipped=%s\n' "$(grep -c '^ok ' /tmp/conformance.err)" \
        "$(grep -c '^FAILED ' /tmp/conformance.err)" "$(grep -c '^skipped ' /tmp/conformance.err)" >/tmp/counts
    stop_daemon
    if [ -s /tmp/daemon.log ] && grep -q '^FAILED ' /tmp/conformance.err; then
        echo "--- last lines of the daemon's log"
        tail -n 30 /tmp/daemon.log
    fi
}

# The cargo test binaries of the root integration tests, at the paths they were built at
# (they find their helper binary and fixtures through paths fixed at compile time). Tests
# named in test-skips count as skipped (cargo's "filtered out").
root_tests_suite() {
    passed=0 failed=0 ignored=0
    test_timeout=$(arg test_timeout)
    skips=$(for t in $(cat /etc/berth-vm/test-skips); do printf ' --skip %s' "$t"; done)
    while read -r bin; do
        echo "--- $bin"
        (cd "$(dirname "$bin")" && timeout "$test_timeout" "$bin" --test-threads="$(nproc)" $skips) >/tmp/test.out 2>&1
        status=$?
        grep -E '^test .*(FAILED|ignored)$|^test result' /tmp/test.out
        sed -n '/^failures:$/,/^test result/p' /tmp/test.out | grep -v '^test result'
        line=$(grep '^test result:' /tmp/test.out | tail -n 1)
        p=$(echo "$line" | sed -n 's/.* \([0-9]*\) passed.*/\1/p')
        f=$(echo "$line" | sed -n 's/.* \([0-9]*\) failed.*/\1/p')
        i=$(echo "$line" | sed -n 's/.* \([0-9]*\) ignored.*/\1/p')
        fo=$(echo "$line" | sed -n 's/.* \([0-9]*\) filtered out.*/\1/p')
        i=$((${i:-0} + ${fo:-0}))
        if [ -z "$line" ]; then
            echo "no test result (exit status $status; killed after ${test_timeout}s if 143); unfinished:"
            "$bin" --list 2>/dev/null | sed -n 's/: test$//p' | while read -r t; do
                grep -q "^test $t \.\.\. " /tmp/test.out || echo "    $t"
            done
            tail -n 20 /tmp/test.out
            f=1
        fi
        passed=$((passed + ${p:-0})) failed=$((failed + ${f:-0})) ignored=$((ignored + ${i:-0}))
    done </etc/berth-vm/test-binaries
    echo "passed=$passed failed=$failed skipped=$ignored" >/tmp/counts
}

mount_kernel_fs
cgroup=$(arg cgroup)
mount_cgroups "$cgroup"
load_modules
hostname berth-vm
ip link set lo up
echo "BERTH-VM kernel $(uname -r) cgroup $cgroup ($(awk '$2 == "/sys/fs/cgroup" { print $3 }' /proc/mounts)) cpus $(nproc)"
export FIXTURES=/vm/fixtures
for suite in $(cat /etc/berth-vm/suites); do
    case "$suite" in
    conformance) run_suite conformance conformance_suite ;;
    root-tests) run_suite root-tests root_tests_suite ;;
    esac
done
finish
