#!/usr/bin/env bash
# Runs the conformance suite against moby 20.10 (Debian's docker.io), started by
# scripts/moby.sh in its own temporary root with its own socket, and stopped afterwards.
# The result is compared with spec-tests/expectations/moby.tsv (the record that every case
# was validated on moby); `update` rewrites that file.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(mktemp -d /tmp/berth-moby.XXXXXX)
rmdir "$root"
trap 'scripts/moby.sh stop "$root" >/dev/null 2>&1 || true' EXIT INT TERM
scripts/moby.sh start "$root" >/dev/null
export DOCKER_HOST="unix://$root/docker.sock"
# Cases that start daemons of their own share the containerd moby.sh started.
export CONTAINERD_ADDRESS="$root/containerd/containerd.sock"
docker load -q -i fixtures/out/busybox.tar >/dev/null
args=(--engine moby --expect spec-tests/expectations/moby.tsv)
[ "${1:-}" = update ] && args+=(--update-expectations)
DOCKER_CLI=docker DAEMON_BIN=dockerd target/release/conformance "${args[@]}"
