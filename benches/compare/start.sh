#!/usr/bin/env bash
# Container start, berth against moby 20.10, in the same run and driven by the same docker CLI:
#   docker run --rm --net=none busybox true      (RUNS times each, median and ratio)
# plus, on berth: `ps -a` with PS_CONTAINERS containers, one monitor's RSS, the idle daemon's
# RSS. Needs root; starts both engines in temporary roots, in a network namespace of their own
# (benches/compare/engines.sh), and stops them afterwards.
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${RUNS:-30}
PS_CONTAINERS=${PS_CONTAINERS:-1000}
bench=start
berth_args=(-b none --iptables=false)
moby_args=""
. benches/compare/engines.sh

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
