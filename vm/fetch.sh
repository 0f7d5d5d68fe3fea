#!/usr/bin/env bash
# Fetches a Debian kernel package with `apt-get download` into the cache (default
# /var/cache/berth-vm, BERTH_VM_CACHE elsewhere), unpacks it there and runs depmod on it.
#   vm/fetch.sh KERNEL...    KERNEL is 6.1 (linux-image-cloud-amd64, bookworm)
#                            or 6.12 (linux-image-6.12-cloud-amd64, bookworm-security)
# Prints, one per line, the unpacked tree of each kernel: TREE/boot/vmlinuz-VERSION and
# TREE/lib/modules/VERSION. Nothing is installed; nothing but Debian packages is fetched.
set -euo pipefail
cache=${BERTH_VM_CACHE:-/var/cache/berth-vm}

# The Debian metapackage that tracks a kernel line.
metapackage() {
    case "$1" in
    6.1) echo linux-image-cloud-amd64 ;;
    6.12) echo linux-image-6.12-cloud-amd64 ;;
    *) echo "vm/fetch.sh: unknown kernel $1 (6.1 or 6.12)" >&2; return 1 ;;
    esac
}

# The versioned image package the metapackage depends on, e.g. linux-image-6.1.0-56-cloud-amd64.
image_package() {
    local meta=$1 pkg
    pkg=$(apt-cache depends --no-recommends --no-suggests "$meta" 2>/dev/null |
        awk '$1 == "Depends:" && $2 ~ /^linux-image-/ { print $2; exit }')
    if [ -z "$pkg" ]; then
        # No apt lists (offline machine): fall back to the newest package already cached.
        pkg=$(find "$cache/debs" -maxdepth 1 -name "linux-image-*" -printf '%f\n' 2>/dev/null |
            grep -E "^linux-image-$(kernel_pattern "$meta")" | sort -V | tail -n1 | cut -d_ -f1)
    fi
    [ -n "$pkg" ] || { echo "vm/fetch.sh: apt knows no package behind $meta (apt-get update?)" >&2; return 1; }
    echo "$pkg"
}

kernel_pattern() {
    case "$1" in
    linux-image-cloud-amd64) echo '6\.1\.[0-9]+-[0-9]+-cloud-amd64' ;;
    linux-image-6.12-cloud-amd64) echo '6\.12\.[0-9]+\+deb12-cloud-amd64' ;;
    esac
}

fetch() {
    local pkg deb tree
    pkg=$(image_package "$(metapackage "$1")")
    mkdir -p "$cache/debs"
    deb=$(find "$cache/debs" -maxdepth 1 -name "${pkg}_*.deb" -printf '%p\n' | sort -V | tail -n1)
    if [ -z "$deb" ]; then
        echo "vm/fetch.sh: downloading $pkg" >&2
        # _apt must be able to write there, or apt warns and downloads as root anyway.
        chown _apt "$cache/debs" 2>/dev/null || true
        (cd "$cache/debs" && apt-get download -q "$pkg" >&2)
        deb=$(find "$cache/debs" -maxdepth 1 -name "${pkg}_*.deb" -printf '%p\n' | sort -V | tail -n1)
        [ -n "$deb" ] || { echo "vm/fetch.sh: apt-get download produced no $pkg .deb" >&2; return 1; }
    fi
    tree="$cache/kernels/$(basename "$deb" .deb)"
    if [ ! -e "$tree/.unpacked" ]; then
        rm -rf "$tree"
        mkdir -p "$tree"
        dpkg-deb -x "$deb" "$tree"
        depmod -b "$tree" "$(ls "$tree/lib/modules")"
        touch "$tree/.unpacked"
    fi
    echo "$tree"
}

[ $# -gt 0 ] || { echo "usage: vm/fetch.sh KERNEL... (6.1, 6.12)" >&2; exit 2; }
for kernel in "$@"; do
    fetch "$kernel"
done
