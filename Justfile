# berth's tasks. `./dev RECIPE` installs what is missing first; `just RECIPE` assumes it is there.

set shell := ["bash", "-euo", "pipefail", "-c"]

bin := "target/release"

# List the recipes.
default:
    @just --list

# Install what is missing on this Debian 12 machine (apt packages, Rust, just).
setup:
    scripts/setup.sh

# Build every crate in release mode.
build:
    cargo build --release --workspace

# Build the fixture images (busybox from Debian's busybox-static) into fixtures/out.
fixtures:
    fixtures/build.sh

# Build, start the daemon on its default socket with the busybox image, and show it working.
up: build fixtures
    scripts/up.sh

# Stop the daemon that `up` started.
down:
    scripts/up.sh stop

# Every test: unit and integration tests, the conformance suite against a fresh berth, then
# one cell of the QEMU matrix (kernel 6.1, cgroup v2) as a smoke test of another kernel.
test: build fixtures
    cargo test --release --workspace
    scripts/conformance.sh
    just vm-smoke

# The root tests and the conformance fast subset in a QEMU guest booting Debian's 6.1 kernel
# with pure cgroup v2, on the binaries already built.
# The smoke cell of `test`: kernel 6.1, cgroup v2.
vm-smoke: fixtures (vm-setup "6.1")
    VM_BUILD=0 vm/run.sh 6.1 v2

# The conformance suite: against DOCKER_HOST if set (ENGINE, DOCKER_CLI), else a fresh berth.
conformance: build fixtures
    scripts/conformance.sh

# Rewrite spec-tests/expectations/berth.tsv from a run against a fresh berth.
conformance-update: build fixtures
    scripts/conformance.sh update

# The conformance suite against moby 20.10 (installs Debian's docker.io if missing).
conformance-moby: build fixtures
    scripts/conformance-moby.sh

# Rewrite spec-tests/expectations/moby.tsv from a run against moby.
conformance-moby-update: build fixtures
    scripts/conformance-moby.sh update

# berth and moby in the same run, side by side: reports/conformance/compare.{md,html} list
# every id where they differ (a difference from an engine's expectations does not stop it).
conformance-compare: build fixtures
    -scripts/conformance.sh
    -scripts/conformance-moby.sh
    {{bin}}/conformance compare reports/conformance/berth.json reports/conformance/moby.json

# Fuzz every target for FUZZ_SECONDS (default 60) each.
fuzz:
    scripts/fuzz.sh

# Criterion benchmarks (layer commit and apply, union mounts, a container's life, ps of
# 1,000 containers); needs root.
bench: build fixtures
    cargo bench -p berth-benches

# Start time of `docker run --rm --net=none busybox true` on berth and on moby, same CLI;
# then the classic build of ../shared/bench/Dockerfile, --no-cache and fully cached.
bench-compare: build fixtures
    benches/compare/start.sh
    benches/compare/build.sh

# Root and kernel tests in a QEMU guest, one cell: a Debian kernel and a cgroup layout, e.g.
# `just vm-test KERNEL=6.12 CGROUP=v1` (default 6.1, v2). Console in reports/vm/.
vm-test *CELL: fixtures vm-setup
    vm/run.sh {{CELL}}

# Every cell of the QEMU matrix (6.1 and 6.12 × cgroup v2 and v1), then a table of the results.
vm-matrix: fixtures vm-setup
    vm/matrix.sh

# The kernels are downloaded once into /var/cache/berth-vm with apt-get download, before any
# guest starts.
# Install what only vm/ needs: QEMU, cpio and the Debian kernels it boots (default both).
vm-setup *KERNELS="6.1 6.12":
    command -v qemu-system-x86_64 >/dev/null && command -v cpio >/dev/null || \
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq qemu-system-x86 cpio; }
    vm/fetch.sh {{KERNELS}} >/dev/null || { apt-get update -qq && vm/fetch.sh {{KERNELS}} >/dev/null; }
