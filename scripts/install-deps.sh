#!/usr/bin/env bash
# Installs every Debian package ascend-factory needs to build, test and run on one machine.
# Idempotent: packages already installed are left alone, and apt-get runs only when
# something is missing. Both README commands call this first.
#
# Usage: scripts/install-deps.sh [--check]
#   --check   only report what is missing (exit 1 if anything is), install nothing.
set -euo pipefail

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
  if ((${#missing[@]})); then
    echo "missing Debian packages: ${missing[*]}" >&2
    exit 1
  fi
  echo "all Debian packages present"
  exit 0
fi

if ((${#missing[@]})); then
  echo "==> installing Debian packages: ${missing[*]}"
  SUDO=""
  if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
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

# Go is not taken from Debian (bookworm's is too old for Kubernetes 1.34); the machine's
# own Go toolchain builds the test bed's Kubernetes parts.
if ! command -v go >/dev/null 2>&1; then
  echo "error: 'go' (1.24 or newer) is not on PATH; the test bed builds Kubernetes from the Go module proxy with it" >&2
  exit 1
fi
gov=$(go env GOVERSION | sed 's/^go//')
if ! printf '1.24\n%s\n' "$gov" | sort -V -C; then
  echo "error: go $gov is too old; the test bed needs go 1.24 or newer" >&2
  exit 1
fi
echo "==> go $gov"
