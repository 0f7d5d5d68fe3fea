#!/usr/bin/env bash
# Run an isolated moby (Debian docker.io 20.10) daemon for berth's conformance
# suite, without touching any system Docker installation.
#
#   scripts/moby.sh start DIR   install docker.io if needed, start containerd and
#                               dockerd with all their state under DIR, wait for
#                               /_ping, print DOCKER_HOST=unix://DIR/docker.sock
#   scripts/moby.sh stop DIR    stop them, kill leftovers, unmount everything
#                               under DIR, remove DIR
#   scripts/moby.sh status DIR  exit 0 if the daemon under DIR answers /_ping
#   MOBY_ARGS                   extra dockerd arguments for start (e.g. "-b moby0")
#
# Layout under DIR:
#   data/            dockerd --data-root (overlay2 images, containers, volumes)
#   exec/            dockerd --exec-root (netns, runc state in exec/runtime-runc)
#   containerd/      containerd root/, state/, opt/ and containerd.sock
#   containerd.toml  generated containerd config
#   daemon.json      dockerd config (so /etc/docker/daemon.json is ignored); it
#                    only sets "deprecated-key-path" to DIR/key.json
#   key.json         dockerd's identity key (default /etc/docker/key.json)
#   host-dirs        host directories that did not exist before start (see below)
#   docker.sock  dockerd.pid  dockerd.log  containerd.pid  containerd.log
#
# Why containerd is started here and not left to dockerd: when no --containerd
# is given, dockerd 20.10 first probes /run/containerd/containerd.sock and, if
# a system containerd answers there, silently uses it (state in /run/containerd
# and /var/lib/containerd). Only when none answers does it spawn its own under
# <data-root>/containerd and <exec-root>/containerd. Starting our own containerd
# with an explicit config and passing --containerd keeps the daemon isolated in
# every case, and puts the containerd "opt" plugin dir (default /opt/containerd)
# under DIR too.
#
# Things that are deliberately NOT isolated (they are per-host by nature):
#   - the default bridge docker0 and dockerd's iptables chains (DOCKER,
#     DOCKER-USER, DOCKER-ISOLATION-*) stay after stop; net.ipv4.ip_forward=1.
#     These belong to the network namespace dockerd runs in: the bench scripts
#     (benches/compare/engines.sh) and scripts/conformance-moby.sh start this
#     script in a network namespace of their own (nsenter --net) and delete it
#     afterwards, so none of that reaches the host's. Started in the host's
#     namespace, it all stays in the host's;
#   - the per-controller cgroup parent "docker" (/sys/fs/cgroup/<ctrl>/docker)
#     stays, empty, after stop;
#   - containerd 1.6 puts shim sockets in /run/containerd/s/<hash> (hard-coded);
#     the hash includes our containerd address, so there is no clash with a
#     system containerd, and the shim removes its socket when it exits.
#     dockerd also creates the plugin discovery dir /run/docker/plugins
#     (hard-coded). start records which of these did not exist before, and stop
#     removes them again if they are empty (rmdir only, never recursive).
#
# CGROUP NOTE: this host's layout is hybrid (one v1 hierarchy per controller in
# /sys/fs/cgroup/<ctrl>, a named "systemd" v1 hierarchy, cgroup2 at
# /sys/fs/cgroup/unified) and no systemd runs (/run/systemd/system is absent).
# With the cgroupfs driver (set explicitly: native.cgroupdriver=cgroupfs) runc
# 1.1.5 treats it as cgroup v1 ("Cgroup Version: 1" in docker info) and puts
# containers in /sys/fs/cgroup/<ctrl>/docker/<id>; containers run with no
# further workaround. The only noise is "Your kernel does not support cgroup
# blkio weight" warnings in dockerd.log. If containers ever fail to start with
# cgroup errors, check `docker info` for the cgroup version and driver first;
# do not pick the systemd driver here (there is no systemd to talk to).
set -euo pipefail

export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"
export LC_ALL=C

PING_TIMEOUT=30     # seconds to wait for GET /_ping
STOP_TIMEOUT=15     # seconds between SIGTERM and SIGKILL
MARKER=".moby-sh"   # file that marks DIR as ours (stop refuses to rm -rf otherwise)
# host dirs that dockerd/containerd create outside DIR (hard-coded paths),
# parents before children
HOST_DIRS=(/run/containerd /run/containerd/s /run/docker /run/docker/plugins)

log() { printf 'moby.sh: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

usage() {
    echo "usage: $0 start DIR | stop DIR | status DIR" >&2
    exit 2
}

abs_dir() {
    local d="$1"
    [ -n "$d" ] || usage
    d="$(realpath -m -- "$d")"
    case "$d" in
        / | /tmp | /root | /home | /var | /usr | /etc | /run | /var/lib | /var/run)
            die "refusing to use $d as the daemon directory" ;;
    esac
    printf '%s\n' "$d"
}

# ---------------------------------------------------------------------------
# installation
# ---------------------------------------------------------------------------
have_moby() {
    local b
    for b in dockerd containerd containerd-shim-runc-v2 runc; do
        command -v "$b" >/dev/null 2>&1 || return 1
    done
}

install_moby() {
    have_moby && return 0
    [ "$(id -u)" -eq 0 ] || die "dockerd is missing and we are not root to install docker.io"
    log "installing Debian's docker.io (no recommends)"

    # Make sure the package scripts do not start a system containerd/dockerd:
    # policy-rc.d exiting 101 forbids invoke-rc.d from starting services. Keep
    # any existing policy-rc.d and put it back afterwards.
    local policy=/usr/sbin/policy-rc.d backup=""
    if [ -e "$policy" ] || [ -L "$policy" ]; then
        backup="$(mktemp /tmp/policy-rc.d.backup.XXXXXX)"
        cp -a "$policy" "$backup"
    fi
    # shellcheck disable=SC2064
    trap "restore_policy '$policy' '$backup'" EXIT
    printf '#!/bin/sh\n# moby.sh: no service starts during package installation\nexit 101\n' > "$policy"
    chmod 0755 "$policy"

    export DEBIAN_FRONTEND=noninteractive
    if ! apt-cache show docker.io >/dev/null 2>&1; then
        apt-get update -q >&2
    fi
    if ! apt-get install -y -q --no-install-recommends docker.io >&2; then
        apt-get update -q >&2
        apt-get install -y -q --no-install-recommends docker.io >&2
    fi

    restore_policy "$policy" "$backup"
    trap - EXIT
    have_moby || die "docker.io installed but dockerd/containerd/runc still not found"
}

restore_policy() {
    local policy="$1" backup="$2"
    if [ -n "$backup" ] && [ -e "$backup" ]; then
        mv -f "$backup" "$policy"
    else
        rm -f "$policy"
    fi
}

# ---------------------------------------------------------------------------
# process helpers
# ---------------------------------------------------------------------------
alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }

cmdline_of() { tr '\0' ' ' < "/proc/$1/cmdline" 2>/dev/null || true; }

# pid from a pidfile, only if that process still runs and its command line
# mentions DIR (guards against a recycled pid).
pid_from_file() {
    local file="$1" dir="$2" pid
    [ -s "$file" ] || return 1
    pid="$(tr -dc 0-9 < "$file")"
    alive "$pid" || return 1
    case "$(cmdline_of "$pid")" in
        *"$dir/"*) printf '%s\n' "$pid" ;;
        *) return 1 ;;
    esac
}

# Processes whose command line contains PATTERN (an absolute path under DIR),
# excluding this script and its ancestors.
pids_matching() {
    local pattern="$1" p pid self_tree=" $$ " q
    q=$$
    while [ "$q" -gt 1 ] 2>/dev/null; do
        q="$(awk '/^PPid:/ {print $2}' "/proc/$q/status" 2>/dev/null || echo 1)"
        self_tree+="$q "
    done
    for p in /proc/[0-9]*; do
        pid="${p#/proc/}"
        case "$self_tree" in *" $pid "*) continue ;; esac
        case "$(cmdline_of "$pid")" in
            *"$pattern"*) printf '%s\n' "$pid" ;;
        esac
    done
}

# TERM, wait up to $2 s, then KILL
terminate() {
    local pid="$1" timeout="$2" what="$3" i
    alive "$pid" || return 0
    log "stopping $what (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < timeout * 10; i++)); do
        alive "$pid" || return 0
        sleep 0.1
    done
    log "$what (pid $pid) still running after ${timeout}s: SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
        alive "$pid" || return 0
        sleep 0.1
    done
    log "warning: $what (pid $pid) did not exit"
}

ping_daemon() {
    local sock="$1"
    [ -S "$sock" ] || return 1
    if command -v curl >/dev/null 2>&1; then
        [ "$(curl -fsS --max-time 2 --unix-socket "$sock" http://localhost/_ping 2>/dev/null)" = "OK" ]
    else
        docker -H "unix://$sock" version >/dev/null 2>&1
    fi
}

# ---------------------------------------------------------------------------
# mounts
# ---------------------------------------------------------------------------
mounts_under() {
    local dir="$1"
    # mountinfo field 5 is the mount point, with spaces etc. octal-escaped
    awk -v d="$dir" '{
        m = $5
        gsub(/\\040/, " ", m); gsub(/\\011/, "\t", m); gsub(/\\012/, "\n", m); gsub(/\\134/, "\\", m)
        if (m == d || index(m, d "/") == 1) print length(m) "\t" m
    }' /proc/self/mountinfo | sort -rn -k1,1 | cut -f2-
}

unmount_all() {
    local dir="$1" m round
    for round in 1 2 3 4 5; do
        local any=0
        while IFS= read -r m; do
            [ -n "$m" ] || continue
            any=1
            umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || log "warning: cannot unmount $m"
        done < <(mounts_under "$dir")
        [ "$any" -eq 1 ] || return 0
    done
    if [ -n "$(mounts_under "$dir")" ]; then
        log "warning: still mounted under $dir:"
        mounts_under "$dir" >&2
        return 1
    fi
}

# ---------------------------------------------------------------------------
# stop
# ---------------------------------------------------------------------------
cleanup_dir() {
    local dir="$1" pid root id

    # 1. dockerd: SIGTERM lets it stop its containers and unmount their layers.
    if pid="$(pid_from_file "$dir/dockerd.pid" "$dir")"; then
        terminate "$pid" "$STOP_TIMEOUT" dockerd
    fi
    for pid in $(pids_matching "unix://$dir/docker.sock"); do
        terminate "$pid" "$STOP_TIMEOUT" "dockerd"
    done

    # 2. Containers that survived a killed dockerd: runc state lives under
    #    exec/runtime-runc/<namespace>; `runc delete --force` kills and reaps.
    if command -v runc >/dev/null 2>&1 && [ -d "$dir/exec/runtime-runc" ]; then
        for root in "$dir"/exec/runtime-runc/*; do
            [ -d "$root" ] || continue
            for id in $(runc --root "$root" list -q 2>/dev/null || true); do
                log "force-deleting leftover container $id"
                runc --root "$root" delete --force "$id" >/dev/null 2>&1 || true
            done
        done
    fi

    # 3. containerd and its shims (each shim's command line names our socket).
    if pid="$(pid_from_file "$dir/containerd.pid" "$dir")"; then
        terminate "$pid" "$STOP_TIMEOUT" containerd
    fi
    for pid in $(pids_matching "$dir/containerd/"); do
        terminate "$pid" 5 "$(basename "$(readlink "/proc/$pid/exe" 2>/dev/null || echo process)")"
    done

    # 4. Anything still mounted under DIR (overlay2 merged dirs, netns, shm...).
    unmount_all "$dir" || true

    # 5. Host dirs this daemon created outside DIR, if empty (children first).
    if [ -s "$dir/host-dirs" ]; then
        local h
        while IFS= read -r h; do
            [ -n "$h" ] && rmdir -- "$h" 2>/dev/null || true
        done < <(tac "$dir/host-dirs")
    fi
}

cmd_stop() {
    local dir
    dir="$(abs_dir "${1:-}")"
    if [ ! -e "$dir" ]; then
        log "$dir does not exist; nothing to stop"
        return 0
    fi
    [ -e "$dir/$MARKER" ] || die "$dir was not created by moby.sh start (no $MARKER); not touching it"
    cleanup_dir "$dir"
    if [ -n "$(mounts_under "$dir")" ]; then
        die "mounts remain under $dir; not removing it"
    fi
    rm -rf --one-file-system -- "$dir"
    log "stopped; removed $dir"
}

# ---------------------------------------------------------------------------
# start
# ---------------------------------------------------------------------------
write_containerd_config() {
    local dir="$1"
    cat > "$dir/containerd.toml" <<EOF
# generated by scripts/moby.sh; everything lives under $dir
version = 2
root = "$dir/containerd/root"
state = "$dir/containerd/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]

[grpc]
  address = "$dir/containerd/containerd.sock"

[ttrpc]
  address = "$dir/containerd/containerd.sock.ttrpc"

[debug]
  address = "$dir/containerd/debug.sock"
  level = "info"

[metrics]
  address = ""

[plugins]
  [plugins."io.containerd.internal.v1.opt"]
    path = "$dir/containerd/opt"
EOF
}

fail_start() {
    local dir="$1"
    log "error: $2"
    for f in containerd.log dockerd.log; do
        if [ -s "$dir/$f" ]; then
            log "---- last lines of $dir/$f ----"
            tail -n 25 "$dir/$f" >&2
        fi
    done
    log "cleaning up processes and mounts (logs kept in $dir; 'moby.sh stop $dir' removes it)"
    cleanup_dir "$dir"
    exit 1
}

cmd_start() {
    local dir sock csock i cpid dpid
    dir="$(abs_dir "${1:-}")"
    sock="$dir/docker.sock"
    csock="$dir/containerd/containerd.sock"

    # unix socket paths are limited to 107 bytes
    [ "${#csock}" -le 100 ] || die "DIR is too long for unix sockets: $dir"

    if [ -e "$dir" ]; then
        if pid_from_file "$dir/dockerd.pid" "$dir" >/dev/null; then
            die "a daemon is already running in $dir"
        fi
        if [ -e "$dir/$MARKER" ]; then
            log "cleaning up a previous run in $dir"
            cleanup_dir "$dir"
            [ -z "$(mounts_under "$dir")" ] || die "mounts remain under $dir"
            rm -rf --one-file-system -- "$dir"
        elif [ -n "$(ls -A "$dir")" ]; then
            die "$dir exists, is not empty and was not created by moby.sh"
        fi
    fi

    [ "$(id -u)" -eq 0 ] || die "dockerd needs root"
    install_moby

    mkdir -p "$dir"/{data,exec,containerd/root,containerd/state,containerd/opt}
    chmod 0711 "$dir"
    : > "$dir/$MARKER"
    local h
    for h in "${HOST_DIRS[@]}"; do
        [ -e "$h" ] || printf '%s\n' "$h"
    done > "$dir/host-dirs"
    write_containerd_config "$dir"
    # "deprecated-key-path" has no command-line flag in 20.10, only this key
    printf '{\n  "deprecated-key-path": "%s/key.json"\n}\n' "$dir" > "$dir/daemon.json"

    # containerd (own session, so it does not die with this shell)
    setsid containerd --config "$dir/containerd.toml" \
        </dev/null >"$dir/containerd.log" 2>&1 &
    cpid=$!
    echo "$cpid" > "$dir/containerd.pid"
    for ((i = 0; i < 150; i++)); do
        [ -S "$csock" ] && break
        alive "$cpid" || fail_start "$dir" "containerd exited"
        sleep 0.1
    done
    [ -S "$csock" ] || fail_start "$dir" "containerd did not create $csock in 15s"

    setsid dockerd \
        --config-file "$dir/daemon.json" \
        --data-root "$dir/data" \
        --exec-root "$dir/exec" \
        --pidfile "$dir/dockerd.pid" \
        -H "unix://$sock" \
        --containerd "$csock" \
        --storage-driver overlay2 \
        --exec-opt native.cgroupdriver=cgroupfs \
        ${MOBY_ARGS:-} \
        </dev/null >"$dir/dockerd.log" 2>&1 &
    dpid=$!

    for ((i = 0; i < PING_TIMEOUT * 10; i++)); do
        ping_daemon "$sock" && break
        alive "$dpid" || fail_start "$dir" "dockerd exited"
        sleep 0.1
    done
    ping_daemon "$sock" || fail_start "$dir" "dockerd did not answer /_ping within ${PING_TIMEOUT}s"

    log "dockerd pid $dpid, containerd pid $cpid, logs in $dir/{dockerd,containerd}.log"
    printf 'DOCKER_HOST=unix://%s\n' "$sock"
}

cmd_status() {
    local dir
    dir="$(abs_dir "${1:-}")"
    if ping_daemon "$dir/docker.sock"; then
        printf 'DOCKER_HOST=unix://%s\n' "$dir/docker.sock"
    else
        log "no daemon answers on $dir/docker.sock"
        return 1
    fi
}

[ $# -eq 2 ] || usage
case "$1" in
    start) cmd_start "$2" ;;
    stop) cmd_stop "$2" ;;
    status) cmd_status "$2" ;;
    *) usage ;;
esac
