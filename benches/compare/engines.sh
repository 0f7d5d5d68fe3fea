# Sourced by the comparison scripts (build.sh, start.sh, registry.sh) from the repository's
# root, after they set
#   bench       a short name for the bench: the temporary roots are /tmp/berth-bench-$bench.*
#               (berth's, which the script may use for its own files too) and
#               /tmp/berth-bench-$bench-moby.* (moby's)
#   berth_args  an array of the berth daemon's arguments besides its socket, graph and pid file
#   moby_args   dockerd's extra arguments (MOBY_ARGS of scripts/moby.sh), empty for none
# Starts a berth daemon and moby 20.10 (scripts/moby.sh) in a network namespace of their own,
# so both engines pay the same namespace costs and nothing either makes there (bridges,
# iptables chains, net.ipv4.ip_forward) reaches the host's; waits until both answer and loads
# fixtures/out/busybox.tar into both. It sets
#   berth  the berth binary           netns  the namespace's name; in_netns CMD runs CMD in it
#   broot  berth's temporary root     bpid   the berth daemon's pid
#   mroot  moby's temporary root      B, M   the DOCKER_HOST of berth and of moby
# and stops everything when the script exits: the processes the script adds to bench_pids
# (anything else it starts, such as servers the engines reach on the namespace's 127.0.0.1,
# which is not the host's), berth's containers and berth, moby, the namespace and the roots.
# The docker CLI reaches both engines over their unix sockets and runs outside the namespace.
berth=$PWD/target/release/berth
broot=$(mktemp -d "/tmp/berth-bench-$bench.XXXXXX")
mroot=$(mktemp -d -u "/tmp/berth-bench-$bench-moby.XXXXXX")
netns="berth-bench-$bench-$$"
B="unix://$broot/b.sock"
M="unix://$mroot/docker.sock"
bpid=""
bench_pids=()

# Whether a child of this shell still runs (an exited one stays a zombie until waited for).
running() {
    local state
    state=$(awk '/^State:/ {print $2}' "/proc/$1/status" 2>/dev/null || true)
    [ -n "$state" ] && [ "$state" != Z ]
}

engines_cleanup() {
    local pid exec_root
    for pid in "${bench_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${bench_pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    if [ -n "$bpid" ]; then
        # Containers outlive the daemon (each has a monitor of its own), so they stop first.
        if running "$bpid"; then
            DOCKER_HOST=$B timeout 30 docker ps -q 2>/dev/null \
                | xargs -r env DOCKER_HOST="$B" timeout 60 docker kill >/dev/null 2>&1 || true
        fi
        kill "$bpid" 2>/dev/null || true
        for _ in $(seq 100); do running "$bpid" || break; sleep 0.1; done
        kill -KILL "$bpid" 2>/dev/null || true
        wait "$bpid" 2>/dev/null || true
    fi
    scripts/moby.sh stop "$mroot" >/dev/null 2>&1 || true
    ip netns delete "$netns" 2>/dev/null || true
    # The exec root under /run/berth holds the berth containers' runtime state.
    exec_root=/run/berth/$(printf %s "$broot/graph" | sha256sum | cut -c1-8)
    awk -v a="$broot" -v b="$exec_root" \
        '$2 == a || index($2, a "/") == 1 || $2 == b || index($2, b "/") == 1 {print $2}' /proc/mounts \
        | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
    rm -rf "$exec_root" "$broot"
}
trap engines_cleanup EXIT
# An interrupted or terminated bench exits, and so cleans up too.
trap 'exit 130' INT
trap 'exit 143' TERM

ip netns add "$netns"
ip -n "$netns" link set lo up
# nsenter changes only the network namespace (ip netns exec would also remount /sys and hide
# the cgroup file systems under it).
in_netns() { nsenter --net="/run/netns/$netns" "$@"; }

# Started without the function: $! must be the daemon itself, which the cleanup signals. In a
# session of its own, as moby.sh starts dockerd, so an interrupt (to the terminal's process
# group) reaches only the script, whose cleanup then stops berth's containers before berth.
setsid nsenter --net="/run/netns/$netns" "$berth" -d -H "$B" -g "$broot/graph" -p "$broot/b.pid" "${berth_args[@]}" \
    >"$broot/log" 2>&1 &
bpid=$!
MOBY_ARGS="$moby_args" in_netns scripts/moby.sh start "$mroot" >/dev/null
for _ in $(seq 300); do
    DOCKER_HOST=$B docker version >/dev/null 2>&1 && DOCKER_HOST=$M docker version >/dev/null 2>&1 && break
    running "$bpid" || break
    sleep 0.1
done
for host in "$B" "$M"; do
    if ! DOCKER_HOST=$host docker version >/dev/null 2>&1; then
        echo "engines.sh: no engine answers on $host" >&2
        [ "$host" = "$B" ] && tail -n 20 "$broot/log" >&2
        exit 1
    fi
done
for host in "$B" "$M"; do DOCKER_HOST=$host docker load -q -i fixtures/out/busybox.tar >/dev/null; done
