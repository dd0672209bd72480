#!/usr/bin/env bash
# Installs every Debian package ascend-factory needs to build, test and run on one machine.
# Idempotent: packages already installed are left alone, and apt-get runs only when
# something is missing. Both README commands call this first.
#
# Also makes sure a Go 1.24 or newer is at hand for the test bed (see the end of this file).
#
# Usage: scripts/install-deps.sh [--check]
#   --check   only report what is missing (exit 1 if anything is), install nothing.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi

# Build: compilers, the C++ libraries the two programs link, code-style tools.
BUILD_PKGS=(
  cmake ninja-build g++ make pkg-config git
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libcpprest-dev libyaml-cpp-dev nlohmann-json3-dev libspdlog-dev
  libgtest-dev libgmock-dev prometheus-cpp-dev libcli11-dev
  clang-format clang-tidy
)
# Test bed: certificates, process control, HTTP probes; the real node's runtime
# (containerd, runc, CNI plugins) for the end-to-end tier.
TESTBED_PKGS=(
  openssl curl jq iproute2 procps psmisc util-linux ca-certificates
  containerd runc containernetworking-plugins iptables conntrack
)

missing=()
for p in "${BUILD_PKGS[@]}" "${TESTBED_PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [[ "${1:-}" == "--check" ]]; then
  # shellcheck source=scripts/go-env.sh
  source "$root/scripts/go-env.sh"
  rc=0
  if ((${#missing[@]})); then
    echo "missing Debian packages: ${missing[*]}" >&2
    rc=1
  else
    echo "all Debian packages present"
  fi
  if ascend_go_ok; then
    echo "go $(go env GOVERSION | sed 's/^go//') ($(command -v go))"
  else
    echo "no go $ASCEND_GO_MIN or newer (scripts/install-deps.sh downloads Go $ASCEND_GO_VERSION)" >&2
    rc=1
  fi
  exit "$rc"
fi

if ((${#missing[@]})); then
  echo "==> installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  # containerd's package would start a system service; the test bed runs its own
  # containerd with its own config and socket, so keep the packaged one from starting.
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod +x /usr/sbin/policy-rc.d
    trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  echo "==> Debian packages installed"
else
  echo "==> Debian packages: all present"
fi

# Go: the test bed's Kubernetes parts need Go 1.24 or newer, and Debian 12's golang-go is
# 1.19. The machine's go is used when it is new enough; otherwise Debian's golang-go (installed
# here if there is no go at all) downloads the pinned Go (scripts/go-env.sh) into the cache,
# and every script that runs go puts that one first on PATH by sourcing scripts/go-env.sh.
# shellcheck source=scripts/go-env.sh
source "$root/scripts/go-env.sh"
if ! ascend_go_ok; then
  if ! command -v go >/dev/null 2>&1; then
    echo "==> no go on PATH: installing Debian's golang-go, only to download Go $ASCEND_GO_VERSION"
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends golang-go >/dev/null
  fi
  echo "==> go $(go env GOVERSION 2>/dev/null | sed 's/^go//') is older than $ASCEND_GO_MIN: downloading Go $ASCEND_GO_VERSION ($ascend_go_module) into $ascend_go_modcache"
  ascend_go_download >/dev/null || { echo "error: downloading Go $ASCEND_GO_VERSION failed (see above)" >&2; exit 1; }
  # shellcheck source=scripts/go-env.sh
  source "$root/scripts/go-env.sh"
  ascend_go_ok || { echo "error: $ascend_go_dir/bin/go does not run as Go $ASCEND_GO_MIN or newer" >&2; exit 1; }
fi
echo "==> go $(go env GOVERSION | sed 's/^go//') ($(command -v go))"
