#!/usr/bin/env bash
# Builds Kubeflow's training-operator v1.8.1 (cmd/training-operator.v1) from the Go module proxy,
# pinned by go.mod/go.sum in this folder, into a cache folder outside the repository, for the
# side-by-side operator bench (bench/run_compare_bench.sh); not part of `make test`:
#
#   $ASCEND_FACTORY_CACHE/kubeflow/<key>/bin/training-operator
#   $ASCEND_FACTORY_CACHE/kubeflow/<key>/manifests/   the module's manifests/ (CRDs, RBAC), as shipped
#
# <key> hashes this folder's pins and the Go version, so a build happens only when they change.
#
# Usage: bench/kubeflow/build.sh         build if needed, print the cache folder last
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/go-env.sh
source "$here/../../scripts/go-env.sh"
if ! ascend_go_ok; then
  echo "error: no go $ASCEND_GO_MIN or newer on PATH and none in $ascend_go_dir; scripts/install-deps.sh downloads Go $ASCEND_GO_VERSION" >&2
  exit 1
fi
module=github.com/kubeflow/training-operator
version=$(awk -v m="$module" '$1 == m { print $2 }' "$here/go.mod")
[[ -n "$version" ]] || { echo "error: $module is not required in $here/go.mod" >&2; exit 1; }

cache_root=${ASCEND_FACTORY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ascend-factory}
key=$( { cat "$here/go.mod" "$here/go.sum" "$here/build.sh"; go env GOVERSION; } | sha256sum | cut -c1-16)
out="$cache_root/kubeflow/$key"
if [[ -f "$out/.complete" ]]; then
  echo "==> Kubeflow training-operator $version up to date ($out)" >&2
  echo "$out"
  exit 0
fi

mkdir -p "$out/bin" "$cache_root/go/build" "$cache_root/go/mod"
export GOWORK=off CGO_ENABLED=0 GOFLAGS=-mod=readonly GOTOOLCHAIN=local
export GOCACHE="$cache_root/go/build" GOMODCACHE="$cache_root/go/mod"
log="$out/build.log"
echo "==> building Kubeflow training-operator $version into $out (first time: several minutes on 2 cores; log: $log)" >&2
t0=$SECONDS
(cd "$here" && go mod download "$module" && go build -v -trimpath -ldflags "-s -w" \
  -o "$out/bin/training-operator" "$module/cmd/training-operator.v1") >"$log" 2>&1 || {
  echo "error: building the training-operator failed; last lines of $log:" >&2
  tail -n 30 "$log" >&2
  exit 1
}
src=$(cd "$here" && go list -m -f '{{.Dir}}' "$module")
rm -rf "$out/manifests"
cp -r "$src/manifests" "$out/manifests"
chmod -R u+w "$out/manifests"
touch "$out/.complete"
echo "    built in $((SECONDS - t0))s" >&2
echo "$out"
