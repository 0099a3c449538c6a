#!/usr/bin/env bash
# Installs the native libraries `translate` builds against (Debian/Ubuntu, apt-get):
# OpenBLAS, libjpeg, libpng and pkg-config (SwiftPM finds the libraries through it), and
# Open MPI (openmpi-bin: mpirun; libopenmpi-dev: libmpi.so), which translate loads at run time
# only under mpirun, for the data-parallel tests (the build does not need it).
# With --tests it also installs what the test suite's shell harnesses run (tools/test_downloads.sh:
# curl, tar, gzip, unzip and python3 for its fixtures and loopback HTTP server); translate itself
# never needs them. CI (.ci/run) passes --tests.
# Does nothing when they are all installed already. Needs root or sudo for the install.
# Usage: bash tools/install-deps.sh [--tests]
set -euo pipefail

packages=(libopenblas-dev libjpeg-dev libpng-dev pkg-config openmpi-bin libopenmpi-dev)
for arg in "$@"; do
    case "$arg" in
        --tests) packages+=(curl tar gzip unzip python3) ;;
        *) echo "install-deps: unknown argument '$arg' (usage: bash tools/install-deps.sh [--tests])" >&2; exit 2 ;;
    esac
done

installed() {
    dpkg -s "$1" 2>/dev/null | grep -q '^Status: install ok installed$'
}

if ! command -v dpkg >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
    echo "install-deps: this script needs a Debian/Ubuntu system (dpkg and apt-get)." >&2
    echo "install-deps: elsewhere install OpenBLAS, libjpeg, libpng and pkg-config with the system's package manager." >&2
    exit 1
fi

missing=()
for p in "${packages[@]}"; do
    if ! installed "$p"; then missing+=("$p"); fi
done

if [ "${#missing[@]}" -eq 0 ]; then
    echo "install-deps: already installed: ${packages[*]}"
    exit 0
fi

as_root=""
if [ "$(id -u)" -ne 0 ]; then
    if ! command -v sudo >/dev/null 2>&1; then
        echo "install-deps: missing packages: ${missing[*]}" >&2
        echo "install-deps: not running as root and sudo is not available; as root, run:" >&2
        echo "    apt-get update && apt-get install -y --no-install-recommends ${missing[*]}" >&2
        exit 1
    fi
    as_root="sudo "
fi

# Runs apt-get as root (through sudo when needed), without questions, saying what it runs.
run_apt_get() {
    echo "install-deps: ${as_root}apt-get $*"
    ${as_root}env DEBIAN_FRONTEND=noninteractive apt-get "$@"
}

echo "install-deps: installing ${missing[*]} with apt-get${as_root:+ through sudo}"
run_apt_get update
run_apt_get install -y --no-install-recommends "${missing[@]}"

for p in "${missing[@]}"; do
    if ! installed "$p"; then
        echo "install-deps: $p is still not installed after apt-get" >&2
        exit 1
    fi
done
echo "install-deps: done"
