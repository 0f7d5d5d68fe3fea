#!/usr/bin/env bash
# Runs berth's root tests and the conformance fast subset in a QEMU guest: one cell of the
# kernel × cgroup matrix.
#   vm/run.sh [KERNEL [CGROUP]]          KERNEL 6.1 (default) or 6.12, CGROUP v2 (default) or v1
#   vm/run.sh [KERNEL=6.12] [CGROUP=v1]
# Environment: VM_TIMEOUT (seconds before a hung guest is killed, default 1500), VM_SUITES
# (default "root-tests conformance"), VM_BUILD=0 (use target/release as it is), VM_ACCEL (kvm or tcg, else probed), VM_MEMORY (MiB, default 4096), VM_RESULT (a file to
# append one result line to, for vm/matrix.sh), VM_TEST_TIMEOUT (seconds per test binary,
# default 300), VM_TEST_FILTER (only test binaries whose path contains it), BERTH_VM_CACHE.
# The guest has no network device; its console is kept in reports/vm/KERNEL-CGROUP.log.
set -euo pipefail
cd "$(dirname "$0")/.."
cache=${BERTH_VM_CACHE:-/var/cache/berth-vm}
repo=$(pwd)
kernel="" cgroup="" positional=()
for arg in "$@"; do
    case "$arg" in
    KERNEL=*) kernel=${arg#*=} ;;
    CGROUP=*) cgroup=${arg#*=} ;;
    *) positional+=("$arg") ;;
    esac
done
kernel=${kernel:-${positional[0]:-6.1}}
cgroup=${cgroup:-${positional[1]:-v2}}
timeout=${VM_TIMEOUT:-1500}
suites=${VM_SUITES:-root-tests conformance}
memory=${VM_MEMORY:-4096}
test_timeout=${VM_TEST_TIMEOUT:-300}
bin=$repo/target/release

# Modules berth needs that Debian builds as modules: the overlay driver, veth and the bridge,
# netfilter for iptables-nft (nf_tables through nft_compat, and the legacy tables), NAT,
# conntrack and every xt_* match or target berth's rules use; loop, and virtio_blk for the
# small empty disk that gives the device cases a block device (vda) in /sys/block.
modules=(overlay veth bridge br_netfilter nf_conntrack nf_nat nf_tables nft_compat nft_chain_nat
    nft_masq nft_nat nft_ct x_tables ip_tables iptable_filter iptable_nat ip6_tables ip6table_filter
    ip6table_nat xt_MASQUERADE xt_nat xt_addrtype xt_conntrack xt_tcpudp xt_comment xt_mark
    xt_state ipt_REJECT nf_reject_ipv4 loop virtio_pci virtio_blk)

# Conformance cases the fast subset leaves out: the builder, the registry and index flows,
# compose and client libraries (programs the guest does not carry).
conformance_args=(--jobs 4 --skip build --skip dockerfile --skip registry --skip index
    --skip flow. --skip compose --skip testcontainers --skip distribution --skip cli.pull
    --skip cli.push --skip cli.login --skip cli.search --skip cli.insert)

# Root tests the guest leaves out (cargo test names), each with its reason here. None now.
test_skips=()

case "$cgroup" in
v2) cgroup_cmdline="cgroup_no_v1=all systemd.unified_cgroup_hierarchy=1" ;;
v1) cgroup_cmdline="systemd.unified_cgroup_hierarchy=0" ;;
*) echo "vm/run.sh: CGROUP must be v1 or v2, not $cgroup" >&2; exit 2 ;;
esac

log() { echo "vm: $*" >&2; }

# The guest finds the test binaries and fixtures at the host's paths; it mounts its own file
# systems over these directories, so a checkout there would be hidden from it.
case "$PWD/" in
/run/* | /dev/* | /proc/* | /sys/*)
    echo "vm/run.sh: the checkout at $PWD is under a directory the guest mounts over; move it elsewhere" >&2
    exit 2
    ;;
esac

work=$(mktemp -d /tmp/berth-vm.XXXXXX)
qemu_pid=""
cleanup() {
    if [ -n "$qemu_pid" ] && kill -0 "$qemu_pid" 2>/dev/null; then
        kill -TERM "$qemu_pid" 2>/dev/null || true
        wait "$qemu_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

build() {
    if [ "${VM_BUILD:-1}" != 0 ]; then
        log "building berth and the conformance suite"
        cargo build --release -p berth -p berth-spec-tests >&2
    fi
    : >"$work/test-binaries"
    case " $suites " in *" root-tests "*) ;; *) return 0 ;; esac
    # Listing the test binaries builds them; cargo does nothing when they are up to date.
    cargo test --release -p berth-runtime -p berth-image -p berth-network --no-run --message-format=json \
        2>/dev/null >"$work/tests.json"
    grep '"kind":\["test"\]' "$work/tests.json" | grep -o '"executable":"[^"]*"' | cut -d'"' -f4 |
        grep -- "${VM_TEST_FILTER:-}" | sort -u >"$work/test-binaries"
    [ -s "$work/test-binaries" ] || { log "cargo listed no test binaries"; exit 1; }
}

# Copies a dynamically linked program's libraries (and the loader) into the guest root.
copy_libs() {
    local lib
    for lib in $(ldd "$@" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\/.*ld-linux/ { print $1 }' | sort -u); do
        case "$lib" in
        */ld-linux-x86-64.so.2) cp -L "$lib" "$root/usr/lib64/ld-linux-x86-64.so.2" ;;
        *) cp -L "$lib" "$root/usr/lib/x86_64-linux-gnu/" ;;
        esac
    done
}

# Copies a program, stripped of its debug information, to the same or another path.
copy_program() {
    local from=$1 to=${2:-$1}
    mkdir -p "$root$(dirname "$to")"
    strip --strip-debug -o "$root$to" "$from"
    copy_libs "$from"
}

# Appends a module and, first, everything it depends on to the guest's load list.
declare -A listed=()
add_module() {
    local name=$1 line dep
    line=$(grep -E "/$name\.ko(\.xz)?:" "$modules_dir/modules.dep" || true)
    if [ -z "$line" ]; then
        grep -qE "/$name\.ko" "$modules_dir/modules.builtin" || log "kernel $kernel has no module $name"
        return 0
    fi
    add_module_file "${line%%:*}"
}
add_module_file() {
    local file=$1 dep ko
    [ -z "${listed[$file]:-}" ] || return 0
    listed[$file]=1
    for dep in $(grep -E "^$(printf %s "$file" | sed 's/[.+]/\\&/g'):" "$modules_dir/modules.dep" | cut -d: -f2); do
        add_module_file "$dep"
    done
    ko=${file%.xz}
    mkdir -p "$root/lib/modules/$(dirname "$ko")"
    case "$file" in
    *.xz) xz -dc "$modules_dir/$file" >"$root/lib/modules/$ko" ;;
    *) cp "$modules_dir/$file" "$root/lib/modules/$ko" ;;
    esac
    echo "$ko" >>"$root/etc/berth-vm/modules"
}

make_root() {
    root=$work/root
    mkdir -p "$root"/{bin,dev,etc/berth-vm,proc,sys,run,tmp,root,var/lib,usr/bin,usr/sbin,usr/local/bin}
    mkdir -p "$root"/{usr/lib/x86_64-linux-gnu,usr/lib64,vm/fixtures,vm/expectations}
    ln -s usr/lib "$root/lib"
    ln -s usr/lib64 "$root/lib64"
    ln -s bin "$root/sbin"
    ln -s ../run "$root/var/run"
    chmod 1777 "$root/tmp"

    # busybox-static for the shell and every small tool; the host's programs where berth or
    # the suite rely on options busybox lacks (iptables-nft, ip, cp -a, ps -ef, setpriv,
    # script, unshare, nsenter, the compressors).
    cp "$(command -v busybox)" "$root/bin/busybox"
    for applet in $(busybox --list); do
        [ "$applet" = busybox ] || ln -sf busybox "$root/bin/$applet"
    done
    # Debian's busybox sh runs its own applets before PATH, so `sh -c "xz ..."` would get
    # busybox's decompress-only xz: the shell is the host's dash.
    copy_program "$(readlink -f "$(command -v dash)")" /usr/bin/dash
    ln -sf ../usr/bin/dash "$root/bin/sh"
    local tool
    for tool in xtables-nft-multi ip cp ps setpriv script unshare nsenter gzip bzip2 xz; do
        copy_program "$(readlink -f "$(command -v "$tool")")" "/usr/sbin/$tool"
    done
    for tool in iptables iptables-save iptables-restore ip6tables; do
        ln -s xtables-nft-multi "$root/usr/sbin/$tool"
    done
    cp -r /usr/lib/x86_64-linux-gnu/xtables "$root/usr/lib/x86_64-linux-gnu/"
    copy_libs /usr/lib/x86_64-linux-gnu/xtables/*.so

    copy_program "$bin/berth" /usr/local/bin/berth
    copy_program "$bin/conformance" /usr/local/bin/conformance
    cp fixtures/out/busybox.tar fixtures/out/busybox-rootfs.tar "$root/vm/fixtures/"
    cp spec-tests/expectations/berth.tsv "$root/vm/expectations/"
    # The test binaries at the paths they were built at, with what they find through paths
    # fixed at compile time: the monitor helper and the busybox root file system.
    local test_bin
    while read -r test_bin; do copy_program "$test_bin"; done <"$work/test-binaries"
    copy_program "$bin/berth-monitor-test"
    mkdir -p "$root$repo/engine/runtime" "$root$repo/engine/image" "$root$repo/engine/network" "$root$repo/fixtures/out"
    cp fixtures/out/busybox-rootfs.tar fixtures/out/busybox.tar "$root$repo/fixtures/out/"
    cp "$work/test-binaries" "$root/etc/berth-vm/test-binaries"

    : >"$root/etc/berth-vm/modules"
    local m
    for m in "${modules[@]}"; do add_module "$m"; done

    printf 'root:x:0:0:root:/root:/bin/sh\ndaemon:x:1:1:daemon:/usr/sbin:/bin/false\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$root/etc/passwd"
    printf 'root:x:0:\ndaemon:x:1:\nnogroup:x:65534:\n' >"$root/etc/group"
    printf '127.0.0.1\tlocalhost\n::1\tlocalhost\n' >"$root/etc/hosts"
    printf 'passwd: files\ngroup: files\nhosts: files\n' >"$root/etc/nsswitch.conf"
    : >"$root/etc/resolv.conf"
    cp /etc/protocols /etc/services "$root/etc/"
    echo /usr/lib/x86_64-linux-gnu >"$root/etc/ld.so.conf"
    ldconfig -r "$root"
    echo "$suites" >"$root/etc/berth-vm/suites"
    echo "${conformance_args[*]}" >"$root/etc/berth-vm/conformance-args"
    echo "${test_skips[*]}" >"$root/etc/berth-vm/test-skips"
    cp vm/init.sh "$root/init"
    chmod 0755 "$root/init"
    (cd "$root" && find . | cpio -o -H newc --quiet) >"$work/initrd.cpio"
}

# KVM when /dev/kvm opens and this kernel boots under it to a first line from init (on some
# nested hosts KVM opens but the guest resets in early boot); software emulation otherwise.
# The verdict is cached per host kernel and guest kernel.
accelerator() {
    if [ -n "${VM_ACCEL:-}" ]; then echo "$VM_ACCEL"; return; fi
    [ -w /dev/kvm ] || { echo tcg; return; }
    local verdict=$cache/accel-$(uname -r)-$kversion
    if [ ! -f "$verdict" ]; then
        mkdir -p "$work/probe"
        printf '#!/bin/sh\necho BERTH-VM-PROBE\npoweroff -f\n' >"$work/probe/init"
        chmod 0755 "$work/probe/init"
        mkdir -p "$work/probe/bin"
        cp "$(command -v busybox)" "$work/probe/bin/busybox"
        ln -s busybox "$work/probe/bin/sh"
        ln -s busybox "$work/probe/bin/echo"
        ln -s busybox "$work/probe/bin/poweroff"
        (cd "$work/probe" && find . | cpio -o -H newc --quiet) >"$work/probe.cpio"
        timeout --kill-after=5 20 qemu-system-x86_64 -accel kvm -cpu host,-arch-capabilities -m 256 \
            -kernel "$tree/boot/vmlinuz-$kversion" -initrd "$work/probe.cpio" -append "console=ttyS0 panic=-1" \
            -nographic -monitor none -serial "file:$work/probe.log" -nic none -no-reboot \
            </dev/null >/dev/null 2>&1 || true
        if grep -q BERTH-VM-PROBE "$work/probe.log" 2>/dev/null; then echo kvm; else echo tcg; fi >"$verdict"
    fi
    cat "$verdict"
}

# The number after NAME= on a line.
field() { sed -n "s/.*\b$1=\([0-9]*\).*/\1/p" <<<"$2"; }

build
[ -f fixtures/out/busybox.tar ] || fixtures/build.sh >&2
tree=$(vm/fetch.sh "$kernel")
kversion=$(ls "$tree/lib/modules")
modules_dir=$tree/lib/modules/$kversion
make_root
accel=$(accelerator)
# arch-capabilities off: QEMU 7.2 aborts on its MSR under some nested KVM hosts.
cpu=$([ "$accel" = kvm ] && echo host,-arch-capabilities || echo max)
# Multi-threaded TCG mishandles the kernel's live text patching (an int3 Oops in a static
# branch, seen on 6.12 in devcgroup_check_permission): software emulation runs one thread.
accel_opts=$([ "$accel" = tcg ] && echo tcg,thread=single || echo "$accel")
cpus=$(nproc)
[ "$cpus" -le 4 ] || cpus=4
log "kernel $kversion, cgroup $cgroup, $accel, $cpus cpus, initramfs $(($(stat -c %s "$work/initrd.cpio") / 1048576)) MiB"

mkdir -p reports/vm
console=reports/vm/$kernel-$cgroup.log
: >"$work/console.raw"
truncate -s 16M "$work/disk.img"
started=$(date +%s)
timeout --kill-after=10 "$timeout" qemu-system-x86_64 -accel "$accel_opts" -cpu "$cpu" -smp "$cpus" -m "$memory" \
    -kernel "$tree/boot/vmlinuz-$kversion" -initrd "$work/initrd.cpio" \
    -append "console=ttyS0 panic=-1 loglevel=4 berth.cgroup=$cgroup berth.test_timeout=$test_timeout $cgroup_cmdline" \
    -drive "file=$work/disk.img,format=raw,if=virtio" \
    -nographic -monitor none -serial "file:$work/console.raw" -nic none -no-reboot \
    </dev/null >"$work/qemu.out" 2>&1 &
qemu_pid=$!
tail -f --pid="$qemu_pid" "$work/console.raw" 2>/dev/null | sed -u 's/\r$//' |
    grep --line-buffered -E '^BERTH-VM|^FAILED|^test result|panicked|Kernel panic' >&2 &
status=0
wait "$qemu_pid" || status=$?
qemu_pid=""
wait || true
wall=$(($(date +%s) - started))
sed 's/\r$//' "$work/console.raw" >"$console"
cat "$work/qemu.out" >>"$console"

boot=$(sed -n 's/.*BERTH-VM boot \([0-9.]*\).*/\1/p' "$console" | head -n1)
passed=0 failed=0 skipped=0
summary=""
while read -r line; do
    set -- $line
    p=$(field passed "$line") f=$(field failed "$line") s=$(field skipped "$line")
    passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
    summary="$summary $2: $p passed, $f failed, $s skipped;"
done < <(grep '^BERTH-VM-END ' "$console")

if grep -q '^BERTH-VM-DONE' "$console"; then
    result=$([ "$failed" = 0 ] && echo ok || echo failed)
elif [ "$status" = 124 ] || [ "$status" = 137 ]; then
    result="timeout"
    log "the guest did not finish within ${timeout}s and was killed"
else
    result="crashed"
    log "the guest stopped before it finished (qemu status $status); last lines:"
    tail -n 20 "$console" >&2
fi
log "kernel $kernel ($kversion) cgroup $cgroup: $result, boot ${boot:-?}s, ${wall}s in all;$summary console in $console"
if [ -n "${VM_RESULT:-}" ]; then
    printf '%s %s %s %s %s %s %s %s %s\n' "$kernel" "$cgroup" "$result" "${boot:-?}" "$passed" "$failed" \
        "$skipped" "$wall" "$accel" >>"$VM_RESULT"
fi
[ "$result" = ok ]
