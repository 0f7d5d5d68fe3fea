#!/usr/bin/env bash
# Classic build, berth against moby 20.10, in the same run and driven by the same docker CLI
# (DOCKER_BUILDKIT=0): ../shared/bench/Dockerfile with a fresh 10 MB random blob.bin, built
#   --no-cache          RUNS times each, median and ratio
#   fully cached        RUNS times each (after one warm-up build), median and ratio
# and the CLI's own floor: the build against a stand-in engine that does nothing.
# Both engines run without a bridge (berth -b none, moby --bridge=none) so RUN steps cost the
# same network set-up. Needs root; starts both engines in temporary roots, in a network namespace
# of their own (benches/compare/engines.sh), and stops them.
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${RUNS:-7}
bench=build
berth_args=(-b none --iptables=false)
moby_args="--bridge=none"
. benches/compare/engines.sh

context=$broot/context
mkdir -p "$context"
cp ../shared/bench/Dockerfile "$context/"
head -c $((10 * 1024 * 1024)) /dev/urandom >"$context/blob.bin"

export DOCKER_BUILDKIT=0
# Milliseconds of one command, with the clock of the shell's monotonic source.
ms() { local s e; s=$(date +%s%N); "$@" >/dev/null 2>&1; e=$(date +%s%N); echo $(( (e - s) / 1000000 )); }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
build() { DOCKER_HOST=$1 docker build -q $2 -t bench:latest "$context"; }

for host in "$B" "$M"; do build "$host" "" >/dev/null 2>&1; done   # warm up, and fill the cache
report() {
    local what=$1 flags=$2 bm mm
    bm=$(for _ in $(seq "$RUNS"); do ms build "$B" "$flags"; done | median)
    mm=$(for _ in $(seq "$RUNS"); do ms build "$M" "$flags"; done | median)
    echo "build ${what}, median of $RUNS: berth ${bm} ms, moby ${mm} ms, ratio $(awk "BEGIN {printf \"%.2f\", $bm/$mm}")"
}
report "--no-cache" "--no-cache"
report "fully cached" ""

# The CLI's own share: the same build against a stand-in engine that only reads the context
# (benches/compare/cli-floor.py). No engine's build through this CLI can be faster.
python3 benches/compare/cli-floor.py "$broot/floor.sock" &
fpid=$!
bench_pids+=("$fpid")
for _ in $(seq 50); do [ -S "$broot/floor.sock" ] && break; sleep 0.1; done
fm=$(for _ in $(seq "$RUNS"); do ms build "unix://$broot/floor.sock" ""; done | median)
kill "$fpid" 2>/dev/null || true
echo "docker CLI floor (context tar and upload to an engine doing nothing), median of $RUNS: ${fm} ms"
