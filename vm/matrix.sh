#!/usr/bin/env bash
# Runs every cell of the kernel × cgroup matrix with vm/run.sh (building once) and prints a
# table of the results. Exits non-zero when any cell failed, hung or crashed.
set -euo pipefail
cd "$(dirname "$0")/.."
kernels=(${VM_KERNELS:-6.1 6.12})
cgroups=(${VM_CGROUPS:-v2 v1})

results=$(mktemp /tmp/berth-vm-matrix.XXXXXX)
trap 'rm -f "$results"' EXIT

cargo build --release -p berth -p berth-spec-tests
status=0
for kernel in "${kernels[@]}"; do
    for cgroup in "${cgroups[@]}"; do
        VM_BUILD=0 VM_RESULT="$results" vm/run.sh "$kernel" "$cgroup" || status=1
        # A cell that died before writing its line still gets a row.
        grep -q "^$kernel $cgroup " "$results" || echo "$kernel $cgroup error ? 0 0 0 ? ?" >>"$results"
    done
done

echo
printf '| %-6s | %-6s | %-8s | %-7s | %6s | %6s | %7s | %6s | %-5s |\n' \
    kernel cgroup result boot passed failed skipped wall accel
printf '|%s|\n' "--------|--------|----------|---------|--------|--------|---------|--------|-------"
while read -r kernel cgroup result boot passed failed skipped wall accel; do
    printf '| %-6s | %-6s | %-8s | %-7s | %6s | %6s | %7s | %6s | %-5s |\n' \
        "$kernel" "$cgroup" "$result" "${boot}s" "$passed" "$failed" "$skipped" "${wall}s" "$accel"
done <"$results"
echo "(counts add up the root integration tests and the conformance fast subset; consoles in reports/vm/)"
exit "$status"
