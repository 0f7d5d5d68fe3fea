#!/usr/bin/env bash
# `just up`: (re)starts the berth daemon on its defaults (unix:///var/run/berth.sock, graph
# /var/lib/berth, pid file /var/run/berth.pid, log /var/log/berth.log), loads the busybox
# fixture image and shows it working by running a container.
# `just down` (this script with `stop`) stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
berth=$PWD/target/release/berth
pidfile=/var/run/berth.pid
log=/var/log/berth.log

stop() {
    local pid
    pid=$(cat "$pidfile" 2>/dev/null || true)
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
    echo "stopping the berth daemon (pid $pid)"
    kill -TERM "$pid"
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
    echo "the daemon did not stop in 10 s" >&2
    return 1
}

if [ "${1:-}" = stop ]; then
    stop
    exit
fi

stop
echo "starting the berth daemon (log: $log)"
setsid "$berth" -d >>"$log" 2>&1 </dev/null &
for _ in $(seq 100); do
    "$berth" version >/dev/null 2>&1 && break
    sleep 0.1
done

"$berth" load -i fixtures/out/busybox.tar

set -x
"$berth" version
"$berth" images
"$berth" run --rm busybox echo "hello from a berth container"
