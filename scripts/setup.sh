#!/usr/bin/env bash
# Installs what berth needs on a Debian 12 machine and is missing: apt packages, a Rust
# toolchain (rustup, if cargo is absent or too old) and `just`. Idempotent; run as root.
set -euo pipefail

need_rust="1.85"
# docker-compose (1.29) drives the conformance suite's compose cases (COMPOSE_CLI).
packages=(build-essential pkg-config ca-certificates curl git iproute2 iptables kmod xz-utils bzip2 zstd tar procps util-linux
    docker-compose busybox-static)

if [ "$(id -u)" != 0 ]; then
    echo "setup: run as root (berth's daemon and tests need it)" >&2
    exit 1
fi

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

export PATH="$HOME/.cargo/bin:$PATH"
version_ok() { [ "$(printf '%s\n%s\n' "$need_rust" "$1" | sort -V | head -n1)" = "$need_rust" ]; }
have=$(rustc --version 2>/dev/null | awk '{print $2}' || true)
if ! command -v cargo >/dev/null || [ -z "$have" ] || ! version_ok "$have"; then
    if command -v rustup >/dev/null; then
        rustup toolchain install stable --profile minimal
        rustup default stable
    else
        echo "setup: installing Rust with rustup"
        curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal --default-toolchain stable
    fi
fi

if ! command -v just >/dev/null; then
    echo "setup: installing just"
    cargo install --locked --quiet just
fi

