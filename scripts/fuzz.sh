#!/usr/bin/env bash
# `just fuzz`: runs every cargo-fuzz target for FUZZ_SECONDS (default 60) each, starting from
# its seed corpus in fuzz/corpus/<target> (copied, so the seeds stay as committed). Installs
# the nightly toolchain and cargo-fuzz when missing. A crash fails the run and leaves its
# input in fuzz/artifacts/<target>.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds=${FUZZ_SECONDS:-60}
export PATH="$HOME/.cargo/bin:$PATH"
rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz
for target in $(cargo +nightly fuzz list); do
    work=$(mktemp -d "/tmp/berth-fuzz-$target.XXXXXX")
    cp -r "corpus/$target/." "$work/" 2>/dev/null || true
    echo "== $target for ${seconds}s"
    if ! cargo +nightly fuzz run "$target" "$work" -- -max_total_time="$seconds" -print_final_stats=1 >"$work.log" 2>&1; then
        tail -n 40 "$work.log" >&2
        rm -rf "$work" "$work.log"
        echo "fuzz: $target failed (a crash leaves its input in fuzz/artifacts/$target)" >&2
        exit 1
    fi
    grep -E 'stat::number_of_executed_units|stat::average_exec_per_sec' "$work.log" || true
    rm -rf "$work" "$work.log"
done
