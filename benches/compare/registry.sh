#!/usr/bin/env bash
# Push and pull of an image with one 200 MB random layer, between an engine and a local
# registry, in the same run and driven by the same docker CLI:
#   berth daemon  <-> berth registry (standalone)
#   moby 20.10    <-> distribution 2.8 (Debian's docker-registry)
# Each run imports a fresh random layer (so nothing is already on the registry), times
# `docker push`, removes the image, and times `docker pull`. Prints medians and ratios.
# Needs root; everything lives in temporary directories and, engines and registries alike, in a
# network namespace of their own (benches/compare/engines.sh), whose loopback is not the
# host's; all of it is removed afterwards.
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${RUNS:-3}
SIZE_MB=${SIZE_MB:-200}
command -v docker-registry >/dev/null || { echo "docker-registry is not installed (apt-get install docker-registry)"; exit 2; }
bench=registry
berth_args=(-b none --iptables=false)
moby_args=""
. benches/compare/engines.sh
work=$broot

# The registries listen on the namespace's loopback, where the engines push and pull.
port() { in_netns python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
rport=$(port)
dport=$(port)
nsenter --net="/run/netns/$netns" "$berth" registry -l "127.0.0.1:$rport" -r "$work/registry" >"$work/registry.log" 2>&1 &
bench_pids+=($!)
mkdir -p "$work/dist"
cat >"$work/dist.yml" <<YAML
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $work/dist
http:
  addr: 127.0.0.1:$dport
YAML
nsenter --net="/run/netns/$netns" docker-registry serve "$work/dist.yml" >"$work/dist.log" 2>&1 &
bench_pids+=($!)
for _ in $(seq 100); do
    in_netns curl -sf "http://127.0.0.1:$rport/v2/" >/dev/null \
        && in_netns curl -sf "http://127.0.0.1:$dport/v2/" >/dev/null && break
    sleep 0.1
done
export DOCKER_CONFIG=$work/docker-config

ms() { local s e; s=$(date +%s%N); "$@" >/dev/null; e=$(date +%s%N); echo $(( (e - s) / 1000000 )); }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

# One run on one engine: a fresh random layer, push timed, image removed, pull timed.
run() {
    local host=$1 registry=$2 name=$3
    mkdir -p "$work/layer"
    head -c "${SIZE_MB}M" /dev/urandom >"$work/layer/random.bin"
    tar -C "$work/layer" -cf "$work/layer.tar" random.bin
    DOCKER_HOST=$host docker import "$work/layer.tar" "$registry/$name" >/dev/null
    rm -f "$work/layer.tar"
    sync
    local push pull
    push=$(DOCKER_HOST=$host ms docker push "$registry/$name")
    DOCKER_HOST=$host docker rmi "$registry/$name" >/dev/null
    pull=$(DOCKER_HOST=$host ms docker pull "$registry/$name")
    DOCKER_HOST=$host docker rmi "$registry/$name" >/dev/null
    echo "$push $pull"
}

: >"$work/berth.times"
: >"$work/moby.times"
for i in $(seq "$RUNS"); do
    run "$B" "127.0.0.1:$rport" "bench/big$i:latest" >>"$work/berth.times"
    run "$M" "127.0.0.1:$dport" "bench/big$i:latest" >>"$work/moby.times"
done
bpush=$(cut -d' ' -f1 "$work/berth.times" | median)
bpull=$(cut -d' ' -f2 "$work/berth.times" | median)
mpush=$(cut -d' ' -f1 "$work/moby.times" | median)
mpull=$(cut -d' ' -f2 "$work/moby.times" | median)
ratio() { awk "BEGIN {printf \"%.2f\", $1/$2}"; }
echo "berth runs (push pull, ms): $(tr '\n' ';' <"$work/berth.times")"
echo "moby runs (push pull, ms):  $(tr '\n' ';' <"$work/moby.times")"
echo "push of a ${SIZE_MB} MB random layer, median of $RUNS: berth+berth registry ${bpush} ms, moby+distribution ${mpush} ms, ratio $(ratio "$bpush" "$mpush")"
echo "pull of a ${SIZE_MB} MB random layer, median of $RUNS: berth+berth registry ${bpull} ms, moby+distribution ${mpull} ms, ratio $(ratio "$bpull" "$mpull")"
