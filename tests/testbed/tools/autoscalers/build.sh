#!/usr/bin/env bash
# Builds the two node autoscalers the `autoscaler` tests run, pinned, into a cache folder of
# their own (so a change here never rebuilds the other test bed tools, and theirs never
# rebuilds these):
#
#   $ASCEND_FACTORY_CACHE/tools/autoscalers-<key>/bin/{cluster-autoscaler,karpenter-kwok}
#   $ASCEND_FACTORY_CACHE/tools/autoscalers-<key>/crds/*.yaml   (Karpenter's CRDs, from its module)
#
# - cluster-autoscaler 1.34.5 with only its kwok cloud provider (`go build -tags kwok`). It is
#   not served as a Go module, so its source comes from, in this order: the folder or .tar.gz in
#   $ASCEND_FACTORY_CA_SOURCE; ../shared/third_party/cluster-autoscaler/
#   cluster-autoscaler-1.34.5-kwok.tar.gz next to the repository (or under
#   $ASCEND_FACTORY_THIRD_PARTY); a shallow git clone of the upstream tag. Its dependencies come
#   from the Go module proxy, checked against its go.sum.
# - Karpenter v1.14.1's kwok cloud provider (sigs.k8s.io/karpenter/kwok), pinned by
#   karpenter/go.mod and go.sum in this folder.
#
# The two cannot share one binary: Karpenter is built against Kubernetes 0.35 libraries, the
# cluster-autoscaler against 0.34.9 (and k8s.io/kubernetes itself). They share the Go module
# and build caches with the other tools instead.
#
# <key> hashes what decides the binaries: this script, Karpenter's pins, the cluster-autoscaler
# version and the Go version. The source's own content is checked (the tag's go.sum) rather than
# hashed, so where it came from does not change the key.
#
# Usage: tests/testbed/tools/autoscalers/build.sh            build if needed, print the folder
#        tests/testbed/tools/autoscalers/build.sh --dir      print the folder; exit 1 if not built
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../../../.." && pwd)
# shellcheck source=scripts/go-env.sh
source "$root/scripts/go-env.sh"
if ! ascend_go_ok; then
  echo "error: no go $ASCEND_GO_MIN or newer on PATH and none in $ascend_go_dir; scripts/install-deps.sh downloads Go $ASCEND_GO_VERSION" >&2
  exit 1
fi

CA_VERSION=1.34.5
CA_TAG=cluster-autoscaler-$CA_VERSION
CA_REPO=https://github.com/kubernetes/autoscaler.git
# sha256 of the cluster-autoscaler's go.sum at the tag: any source must match it.
CA_GOSUM_SHA256=e515994f8dd7b9e65553be32608f1eb682e1bb1b699f3d4e2add4c635de28831

cache_root=${ASCEND_FACTORY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ascend-factory}
key=$( { cat "$here/build.sh" "$here/karpenter/go.mod" "$here/karpenter/go.sum" "$here/karpenter/tools.go"; \
  echo "$CA_TAG"; go env GOVERSION; } | sha256sum | cut -c1-16)
out="$cache_root/tools/autoscalers-$key"

if [[ "${1:-}" == "--dir" ]]; then
  if [[ -f "$out/.complete" ]]; then echo "$out"; exit 0; fi
  echo "error: the autoscalers for key $key are not built; run tests/testbed/tools/autoscalers/build.sh" >&2
  exit 1
fi
if [[ -f "$out/.complete" ]]; then
  echo "==> autoscalers up to date ($out)" >&2
  echo "$out"
  exit 0
fi

mkdir -p "$out/bin" "$out/crds" "$cache_root/go/build" "$cache_root/go/mod"
log="$out/build.log"
: >"$log"
export GOWORK=off CGO_ENABLED=0 GOFLAGS=-mod=mod
export GOCACHE="$cache_root/go/build" GOMODCACHE="$cache_root/go/mod"
src_tmp=$(mktemp -d "${TMPDIR:-/tmp}/ascend-ca-src.XXXXXX")
trap 'rm -rf "$src_tmp"' EXIT

# --- the cluster-autoscaler's source: a folder holding its main package (main.go, go.mod)
ca_unpack() {  # ca_unpack TARBALL: unpack and print the folder with go.mod
  tar xzf "$1" -C "$src_tmp" || return 1
  dirname "$(find "$src_tmp" -maxdepth 3 -name go.mod -path '*cluster-autoscaler*' | head -n 1)"
}
third_party=${ASCEND_FACTORY_THIRD_PARTY:-$root/../shared/third_party}
ca_src=""
if [[ -n "${ASCEND_FACTORY_CA_SOURCE:-}" ]]; then
  if [[ -d "$ASCEND_FACTORY_CA_SOURCE" ]]; then
    ca_src=$ASCEND_FACTORY_CA_SOURCE
    # A checkout of the whole repository: the module is its cluster-autoscaler/ folder.
    [[ -f "$ca_src/go.mod" || ! -d "$ca_src/cluster-autoscaler" ]] || ca_src=$ca_src/cluster-autoscaler
  elif [[ -f "$ASCEND_FACTORY_CA_SOURCE" ]]; then
    ca_src=$(ca_unpack "$ASCEND_FACTORY_CA_SOURCE") || ca_src=""
  fi
  [[ -n "$ca_src" && -f "$ca_src/go.mod" ]] || {
    echo "error: ASCEND_FACTORY_CA_SOURCE=$ASCEND_FACTORY_CA_SOURCE is neither the cluster-autoscaler's source folder nor a .tar.gz of it" >&2
    exit 1
  }
  ca_from="ASCEND_FACTORY_CA_SOURCE ($ASCEND_FACTORY_CA_SOURCE)"
elif [[ -f "$third_party/cluster-autoscaler/$CA_TAG-kwok.tar.gz" ]]; then
  tarball=$(cd "$third_party/cluster-autoscaler" && pwd)/$CA_TAG-kwok.tar.gz
  ca_src=$(ca_unpack "$tarball") || { echo "error: cannot unpack $tarball" >&2; exit 1; }
  ca_from="the trimmed source archive $tarball"
elif command -v git >/dev/null && git clone -q --depth 1 --branch "$CA_TAG" "$CA_REPO" "$src_tmp/autoscaler" >>"$log" 2>&1; then
  ca_src=$src_tmp/autoscaler/cluster-autoscaler
  ca_from="a shallow clone of $CA_REPO at tag $CA_TAG"
else
  echo "error: cannot build the cluster-autoscaler: no source. Set ASCEND_FACTORY_CA_SOURCE to its source folder or archive, put $CA_TAG-kwok.tar.gz in $third_party/cluster-autoscaler/, or allow git to reach $CA_REPO (the clone failed: $(tail -n 1 "$log"))" >&2
  exit 1
fi
echo "==> cluster-autoscaler $CA_VERSION source: $ca_from" >&2
sum=$(sha256sum "$ca_src/go.sum" | cut -d' ' -f1)
if [[ "$sum" != "$CA_GOSUM_SHA256" ]]; then
  echo "error: $ca_src/go.sum is not the one of tag $CA_TAG (sha256 $sum); is this cluster-autoscaler $CA_VERSION?" >&2
  exit 1
fi

# step DIR NAME ARGS...: go build in DIR, with a line every 30 s so a long build is never silent.
step() {
  local dir=$1 name=$2; shift 2
  local t0=$SECONDS tick rc=0
  echo "==> building $name (log: $log)" >&2
  (while sleep 30; do echo "    still building $name, $((SECONDS - t0))s so far" >&2; done) &
  tick=$!
  (cd "$dir" && go build -trimpath "$@") >>"$log" 2>&1 || rc=$?
  kill "$tick" 2>/dev/null || true
  wait "$tick" 2>/dev/null || true
  if ((rc != 0)); then
    echo "error: building $name failed; last lines of $log:" >&2
    tail -n 30 "$log" >&2
    exit 1
  fi
  echo "    $name built in $((SECONDS - t0))s" >&2
}

# -mod=readonly: the tag's go.mod/go.sum are complete; nothing may be added to them.
GOFLAGS=-mod=readonly step "$ca_src" cluster-autoscaler -tags kwok -ldflags "-s -w" -o "$out/bin/cluster-autoscaler" .
step "$here/karpenter" karpenter-kwok -ldflags "-s -w" -o "$out/bin/karpenter-kwok" sigs.k8s.io/karpenter/kwok

# Karpenter's CRDs, from the module the binary was built from.
kdir=$(cd "$here/karpenter" && go list -m -f '{{.Dir}}' sigs.k8s.io/karpenter)
cp "$kdir"/kwok/charts/crds/*.yaml "$kdir"/kwok/apis/crds/*.yaml "$out/crds/"
chmod u+w "$out"/crds/*.yaml

# It has no --version; its --help lists the cloud providers compiled in: kwok only.
help=$("$out/bin/cluster-autoscaler" --help 2>&1 || true)
grep -q 'Available values: \[kwok\]' <<<"$help" || { echo "error: the built cluster-autoscaler does not run or lacks the kwok provider: $(head -n 3 <<<"$help")" >&2; exit 1; }
"$out/bin/karpenter-kwok" --help >>"$log" 2>&1 || { echo "error: the built karpenter-kwok does not run; see $log" >&2; exit 1; }
echo "$ca_from" >"$out/ca-source"
touch "$out/.complete"
echo "==> autoscalers ready in $out" >&2
echo "$out"
