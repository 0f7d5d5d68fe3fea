#!/usr/bin/env bash
# Runs the conformance suite.
#   With DOCKER_HOST set: against that engine. ENGINE names its profile (berth, moby or a
#   profile file), DOCKER_CLI its CLI, DAEMON_BIN its daemon program.
#   Without: against a fresh berth daemon in a temporary root (its own socket, graph and pid
#   file), compared with spec-tests/expectations/berth.tsv. `update` rewrites that file.
#   Arguments after the mode go to the suite (e.g. `check --only compose`).
#   That daemon and the suite run in a network namespace of their own: the bridge, iptables
#   chains and published ports exist only there and vanish with it, and no container can
#   reach beyond the machine.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-check}
bin=target/release

if [ -n "${DOCKER_HOST:-}" ]; then
    exec "$bin/conformance" --engine "${ENGINE:-berth}" "${@:2}"
fi

root=$(mktemp -d /tmp/berth-conformance.XXXXXX)
netns="berth-conformance-$$"
daemon_pid=""
server_pids=()
cleanup() {
    status=$?
    for pid in "${server_pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${server_pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    if [ -n "$daemon_pid" ]; then
        kill -TERM "$daemon_pid" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$daemon_pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$daemon_pid" 2>/dev/null || true
        wait "$daemon_pid" 2>/dev/null || true
    fi
    if [ "$status" != 0 ] && [ -f "$root/daemon.log" ]; then
        echo "--- last lines of the berth daemon's log" >&2
        tail -n 30 "$root/daemon.log" >&2
    fi
    grep -o " $root[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
    # The exec root under /run/berth holds the containers' namespace files.
    exec_root=/run/berth/$(printf %s "$root/graph" | sha256sum | cut -c1-8)
    grep -o " $exec_root[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
    rm -rf "$exec_root"
    ip netns delete "$netns" 2>/dev/null || true
    rm -rf "$root"
    exit "$status"
}
trap cleanup EXIT INT TERM

ip netns add "$netns"
ip -n "$netns" link set lo up
# nsenter changes only the network namespace (ip netns exec would also remount /sys and hide
# the cgroup file systems under it).
in_netns() { nsenter --net="/run/netns/$netns" "$@"; }

# berth's index and registries for the registry cases (INDEX_URL, REGISTRY_URL, accounts).
. scripts/registry-servers.sh

sock="unix://$root/berth.sock"
# Started without the function: $! must be the daemon itself, which cleanup signals.
nsenter --net="/run/netns/$netns" "$bin/berth" -d -D -H "$sock" -g "$root/graph" -p "$root/berth.pid" \
    --index "$INDEX_URL" >"$root/daemon.log" 2>&1 &
daemon_pid=$!
for _ in $(seq 100); do
    "$bin/berth" -H "$sock" version >/dev/null 2>&1 && break
    kill -0 "$daemon_pid" 2>/dev/null || { echo "conformance: the berth daemon exited at start" >&2; exit 1; }
    sleep 0.1
done

"$bin/berth" -H "$sock" load -i fixtures/out/busybox.tar >/dev/null

args=(--engine berth --expect spec-tests/expectations/berth.tsv --jobs "${CONFORMANCE_JOBS:-2}")
[ "$mode" = update ] && args+=(--update-expectations)
DOCKER_HOST="$sock" DOCKER_CLI="$PWD/$bin/berth" DAEMON_BIN="$PWD/$bin/berth" in_netns "$bin/conformance" "${args[@]}" "${@:2}"
