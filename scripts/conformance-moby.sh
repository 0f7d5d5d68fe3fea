#!/usr/bin/env bash
# Runs the conformance suite against moby 20.10 (Debian's docker.io), started by
# scripts/moby.sh in its own temporary root with its own socket, and stopped afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(mktemp -d /tmp/berth-moby.XXXXXX)
rmdir "$root"
trap 'scripts/moby.sh stop "$root" >/dev/null 2>&1 || true' EXIT INT TERM
scripts/moby.sh start "$root" >/dev/null
export DOCKER_HOST="unix://$root/docker.sock"
docker load -q -i fixtures/out/busybox.tar >/dev/null
DOCKER_CLI=docker DAEMON_BIN=dockerd target/release/conformance --engine moby "$@"
