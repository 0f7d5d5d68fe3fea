#!/usr/bin/env bash
# Copies the busybox fixture into a berth registry with skopeo (Docker schema 2, then OCI), and
# back out, and checks that what comes back is what went in. Needs skopeo (Debian: apt-get
# install -y skopeo) and fixtures/out/busybox.tar (`just fixtures`). Loopback only.
set -euo pipefail

repo=$(cd "$(dirname "$0")/../../.." && pwd)
archive=${ARCHIVE:-$repo/fixtures/out/busybox.tar}
command -v skopeo >/dev/null || { echo "skopeo is not installed (apt-get install -y skopeo)"; exit 2; }
[ -f "$archive" ] || { echo "missing $archive (run: just fixtures)"; exit 2; }

work=$(mktemp -d)
server=""
cleanup() {
    if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

cargo build -q --manifest-path "$repo/Cargo.toml" -p berth-registry --example serve
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$repo/target/debug/examples/serve" "127.0.0.1:$port" "$work/root" 2>"$work/server.log" &
server=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/v2/" >/dev/null && break; sleep 0.1; done

dest="docker://127.0.0.1:$port"
opts=(--dest-tls-verify=false)
echo "== push docker-archive -> $dest/busybox:latest (Docker schema 2)"
skopeo copy "${opts[@]}" "docker-archive:$archive" "$dest/busybox:latest"
echo "== push again as OCI -> $dest/library/busybox:oci"
skopeo copy "${opts[@]}" --format oci "docker-archive:$archive" "$dest/library/busybox:oci"
echo "== inspect"
skopeo inspect --tls-verify=false "$dest/busybox:latest" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["Name"], d["Digest"], d["Layers"])'
skopeo inspect --tls-verify=false --raw "$dest/library/busybox:oci" | python3 -c 'import json,sys; print(json.load(sys.stdin)["mediaType"])'
skopeo list-tags --tls-verify=false "$dest/busybox"
curl -sf "http://127.0.0.1:$port/v2/_catalog"; echo
echo "== pull back"
skopeo copy --src-tls-verify=false "$dest/busybox:latest" "oci:$work/pulled:latest"
skopeo copy --src-tls-verify=false "$dest/library/busybox:oci" "docker-archive:$work/pulled.tar:busybox:latest"
echo "== compare layers"
pushed=$(skopeo inspect "docker-archive:$archive" | python3 -c 'import json,sys; print(" ".join(json.load(sys.stdin)["Layers"]))')
pulled=$(skopeo inspect "oci:$work/pulled:latest" | python3 -c 'import json,sys; print(" ".join(json.load(sys.stdin)["Layers"]))')
roundtrip=$(skopeo inspect "docker-archive:$work/pulled.tar" | python3 -c 'import json,sys; print(" ".join(json.load(sys.stdin)["Layers"]))')
echo "pushed (as in the archive): $pushed"
echo "pulled (as stored, gzip):  $pulled"
echo "round trip to an archive:   $roundtrip"
[ "$pushed" = "$roundtrip" ] || { echo "FAIL: layers differ"; exit 1; }
[ -n "$pulled" ] || { echo "FAIL: nothing pulled"; exit 1; }
echo "skopeo round trip: OK"
