#!/usr/bin/env bash
# Runs the conformance suite against moby 20.10 (Debian's docker.io), started by
# scripts/moby.sh in its own temporary root with its own socket, and stopped afterwards.
# moby (containerd, dockerd, its docker0 and iptables chains) and the suite run in a network
# namespace of their own, which vanishes afterwards with everything moby made in it.
# The result is compared with spec-tests/expectations/moby.tsv (the record that every case
# was validated on moby); `update` rewrites that file.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(mktemp -d /tmp/berth-moby.XXXXXX)
rmdir "$root"
netns="berth-moby-$$"
bin=target/release
servers=$(mktemp -d /tmp/berth-moby-servers.XXXXXX)
server_pids=()
cleanup() {
    status=$?
    for pid in "${server_pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${server_pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$servers"
    scripts/moby.sh stop "$root" >/dev/null 2>&1 || true
    ip netns delete "$netns" 2>/dev/null || true
    exit "$status"
}
trap cleanup EXIT INT TERM
ip netns add "$netns"
ip -n "$netns" link set lo up
# nsenter changes only the network namespace (ip netns exec would also remount /sys).
in_netns() { nsenter --net="/run/netns/$netns" "$@"; }
# berth's index and registries for the registry cases, in the same namespace.
root_of_moby=$root
root=$servers
. scripts/registry-servers.sh
root=$root_of_moby
# moby's main daemon gets a bridge of the script's own: a case's daemon started with
# --bridge=none deletes any interface called docker0 in its network namespace.
ip -n "$netns" link add moby0 type bridge
ip -n "$netns" addr add 172.17.0.1/16 dev moby0
ip -n "$netns" link set moby0 up
export ENGINE_BRIDGE=moby0
MOBY_ARGS="-b moby0" in_netns scripts/moby.sh start "$root" >/dev/null
export DOCKER_HOST="unix://$root/docker.sock"
# Cases that start daemons of their own share the containerd moby.sh started.
export CONTAINERD_ADDRESS="$root/containerd/containerd.sock"
docker load -q -i fixtures/out/busybox.tar >/dev/null
args=(--engine moby --expect spec-tests/expectations/moby.tsv)
[ "${1:-}" = update ] && args+=(--update-expectations)
DOCKER_CLI=docker DAEMON_BIN=dockerd in_netns "${CONFORMANCE_BIN:-target/release/conformance}" "${args[@]}" "${@:2}"
