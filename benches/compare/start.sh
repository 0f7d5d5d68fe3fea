#!/usr/bin/env bash
# Container start, berth against moby 20.10, in the same run and driven by the same docker CLI:
#   docker run --rm --net=none busybox true      (RUNS times each, median and ratio)
# plus, on berth: `ps -a` with PS_CONTAINERS containers, one monitor's RSS, the idle daemon's
# RSS. Needs root; starts both engines in temporary roots and stops them afterwards.
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${RUNS:-30}
PS_CONTAINERS=${PS_CONTAINERS:-1000}
berth=$PWD/target/release/berth
broot=$(mktemp -d /tmp/berth-bench.XXXXXX)
mroot=$(mktemp -d -u /tmp/berth-bench-moby.XXXXXX)
cleanup() {
    [ -n "${bpid:-}" ] && { kill "$bpid" 2>/dev/null || true; wait "$bpid" 2>/dev/null || true; }
    scripts/moby.sh stop "$mroot" >/dev/null 2>&1 || true
    rm -rf "$broot"
}
trap cleanup EXIT

"$berth" -d -H "unix://$broot/b.sock" -g "$broot/graph" -p "$broot/b.pid" -b none --iptables=false >"$broot/log" 2>&1 &
bpid=$!
scripts/moby.sh start "$mroot" >/dev/null
B="unix://$broot/b.sock"
M="unix://$mroot/docker.sock"
for _ in $(seq 100); do DOCKER_HOST=$B docker version >/dev/null 2>&1 && break; sleep 0.1; done
for host in "$B" "$M"; do DOCKER_HOST=$host docker load -q -i fixtures/out/busybox.tar >/dev/null; done

# Milliseconds of one command, with the clock of the shell's monotonic source.
ms() { local s e; s=$(date +%s%N); "$@" >/dev/null; e=$(date +%s%N); echo $(( (e - s) / 1000000 )); }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

for host in "$B" "$M"; do DOCKER_HOST=$host docker run --rm --net=none busybox true; done   # warm up
berth_times=$(for _ in $(seq "$RUNS"); do DOCKER_HOST=$B ms docker run --rm --net=none busybox true; done)
moby_times=$(for _ in $(seq "$RUNS"); do DOCKER_HOST=$M ms docker run --rm --net=none busybox true; done)
bm=$(echo "$berth_times" | median)
mm=$(echo "$moby_times" | median)
cli=$(for _ in $(seq "$RUNS"); do DOCKER_HOST=$B ms docker version; done | median)
echo "docker run --rm --net=none busybox true, median of $RUNS: berth ${bm} ms, moby ${mm} ms, ratio $(awk "BEGIN {printf \"%.2f\", $bm/$mm}") (docker version alone: ${cli} ms)"

DOCKER_HOST=$B docker run -d --net=none --name rss busybox sleep 600 >/dev/null
mon=$(pgrep -f "__monitor.*$(DOCKER_HOST=$B docker inspect -f '{{.Id}}' rss | cut -c1-12)" | head -1)
echo "monitor RSS: $(awk '/VmRSS/ {print $2" kB"}' /proc/"$mon"/status)"
DOCKER_HOST=$B docker rm -f rss >/dev/null
echo "idle daemon RSS: $(awk '/VmRSS/ {print $2" kB"}' /proc/"$bpid"/status)"

for i in $(seq "$PS_CONTAINERS"); do echo "{\"Image\":\"busybox\",\"Cmd\":[\"true\"]}"; done | while read -r body; do
    curl -s --unix-socket "$broot/b.sock" -H 'Content-Type: application/json' -d "$body" http://x/v1.41/containers/create >/dev/null
done
pst=$(for _ in $(seq 10); do DOCKER_HOST=$B ms docker ps -a; done | median)
api=$(for _ in $(seq 10); do ms curl -s --unix-socket "$broot/b.sock" "http://x/v1.41/containers/json?all=1"; done | median)
echo "ps -a with $PS_CONTAINERS containers: docker CLI ${pst} ms, API alone ${api} ms (median of 10)"
