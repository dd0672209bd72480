#!/usr/bin/env bash
# Builds the test bed's Kubernetes parts from the Go module proxy, pinned by go.mod/go.sum
# in this folder, into a cache folder outside the repository:
#
#   $ASCEND_FACTORY_CACHE/tools/<key>/bin/{kube,kube-apiserver,...,kubectl,etcd,kwok,helm,coredns,kueue}
#   $ASCEND_FACTORY_CACHE/tools/<key>/kueue/{crds/*.yaml,webhook-manifests.yaml}  (from Kueue's module)
#
# <key> hashes everything that decides the binaries (this folder's files and the Go
# version), so a build happens only when a pin changes; otherwise this exits at once.
#
# Usage: tests/testbed/tools/build.sh            build if needed, print the bin folder last
#        tests/testbed/tools/build.sh --bin-dir  print the bin folder; exit 1 if not built
#        ASCEND_FACTORY_CACHE=/some/dir ...      cache root (default ~/.cache/ascend-factory)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# A Go 1.24 or newer first on PATH: the machine's, or the pinned one scripts/install-deps.sh
# downloaded (the same Go version gives the same key below, wherever it comes from).
# shellcheck source=scripts/go-env.sh
source "$here/../../../scripts/go-env.sh"
if ! ascend_go_ok; then
  echo "error: no go $ASCEND_GO_MIN or newer on PATH and none in $ascend_go_dir; scripts/install-deps.sh downloads Go $ASCEND_GO_VERSION" >&2
  exit 1
fi
# Pins that go into ldflags (go.mod pins the source; these make /version tell the truth).
K8S_VERSION=v1.34.4
HELM_VERSION=v3.19.5
# Must match kueue/go.mod (the CRDs are copied from that module version).
KUEUE_VERSION=v0.17.0

cache_root=${ASCEND_FACTORY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ascend-factory}
key=$( { cat "$here/go.mod" "$here/go.sum" "$here/tools.go" "$here"/kube/*.go "$here/kwok/go.mod" \
  "$here/kwok/go.sum" "$here/coredns/go.mod" "$here/coredns/go.sum" "$here/coredns/main.go" \
  "$here/kueue/go.mod" "$here/kueue/go.sum" "$here/kueue/tools.go" "$here/build.sh"; go env GOVERSION; } | sha256sum | cut -c1-16)
out="$cache_root/tools/$key"
bin="$out/bin"

if [[ "${1:-}" == "--bin-dir" ]]; then
  if [[ -f "$out/.complete" ]]; then echo "$bin"; exit 0; fi
  echo "error: test bed tools for key $key are not built; run tests/testbed/tools/build.sh" >&2
  exit 1
fi

if [[ -f "$out/.complete" ]]; then
  echo "==> test bed tools up to date ($bin)" >&2
  echo "$bin"
  exit 0
fi

mkdir -p "$bin" "$cache_root/go/build" "$cache_root/go/mod"
log="$out/build.log"
: >"$log"
export GOWORK=off CGO_ENABLED=0 GOFLAGS=-mod=mod
export GOCACHE="$cache_root/go/build" GOMODCACHE="$cache_root/go/mod"

ver_flags() {
  local v=$1 major minor
  major=${v#v}; major=${major%%.*}
  minor=${v#v*.}; minor=${minor%%.*}
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    printf -- '-X %s.gitVersion=%s -X %s.gitMajor=%s -X %s.gitMinor=%s -X %s.gitTreeState=clean -X %s.buildDate=1970-01-01T00:00:00Z ' \
      "$p" "$v" "$p" "$major" "$p" "$minor" "$p" "$p"
  done
}

# ticker LABEL MARK: every 30 s, say what is still running and how many packages `go build -v`
# has compiled since MARK (a line count of the log), so a long build is never silent.
# Without MARK it reports the module cache's size instead.
ticker() {
  local label=$1 mark=${2:-} t0=$SECONDS what
  while sleep 30; do
    if [[ -n "$mark" ]]; then
      what="$(($(wc -l <"$log") - mark)) packages compiled"
    else
      what="module cache $(du -sh "$GOMODCACHE" 2>/dev/null | cut -f1)"
    fi
    echo "    still $label: $what, $((SECONDS - t0))s so far" >&2
  done
}

step() {
  # step <module dir> <name> <go build args...>: one binary, with progress and the log on failure.
  local dir=$1 name=$2; shift 2
  local t0=$SECONDS tick rc=0
  echo "==> building $name (log: $log)" >&2
  ticker "building $name" "$(wc -l <"$log")" &
  tick=$!
  (cd "$dir" && go build -v -trimpath "$@") >>"$log" 2>&1 || rc=$?
  kill "$tick" 2>/dev/null || true
  wait "$tick" 2>/dev/null || true
  if ((rc != 0)); then
    echo "error: building $name failed; last lines of $log:" >&2
    tail -n 30 "$log" >&2
    exit 1
  fi
  echo "    $name built in $((SECONDS - t0))s" >&2
}

echo "==> building test bed tools into $out (first time: tens of minutes on 2 cores)" >&2
echo "==> downloading modules" >&2
ticker "downloading modules" &
tick=$!
(cd "$here" && go mod download && cd kwok && go mod download && cd ../coredns && go mod download && cd ../kueue && go mod download) >>"$log" 2>&1 || { kill "$tick"; echo "error: go mod download failed; see $log" >&2; tail -n 20 "$log" >&2; exit 1; }
kill "$tick" 2>/dev/null || true
wait "$tick" 2>/dev/null || true

# kube: kube-apiserver, kube-controller-manager, kube-scheduler, kubelet and kubectl in one
# binary (see kube/main.go), reached through symlinks named after each component.
step "$here" kube -ldflags "-s -w $(ver_flags $K8S_VERSION)" -o "$bin/kube" ./kube
for c in kube-apiserver kube-controller-manager kube-scheduler kubelet kubectl; do
  ln -sf kube "$bin/$c"
done
step "$here" etcd -ldflags "-s -w" -o "$bin/etcd" go.etcd.io/etcd/server/v3
step "$here/kwok" kwok -ldflags "-s -w" -o "$bin/kwok" sigs.k8s.io/kwok/cmd/kwok
# coredns: its own module too (CoreDNS v1.14 is built against Kubernetes 0.35 libraries), with
# only the plugins the test bed's cluster DNS needs (see coredns/main.go).
step "$here/coredns" coredns -ldflags "-s -w" -o "$bin/coredns" .
helm_minor=${K8S_VERSION#v1.}; helm_minor=${helm_minor%%.*}
step "$here" helm -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$helm_minor" \
  -o "$bin/helm" helm.sh/helm/v3/cmd/helm

# kueue: its own module (Kueue v0.17 is built against Kubernetes 0.35 libraries). Its CRDs
# (v1beta2 served and stored) and webhook configurations come from the same module version,
# next to the binaries (tests/testbed/kueue.sh applies them).
step "$here/kueue" kueue -ldflags "-s -w -X sigs.k8s.io/kueue/pkg/version.GitVersion=$KUEUE_VERSION" \
  -o "$bin/kueue" sigs.k8s.io/kueue/cmd/kueue
kueue_src="$GOMODCACHE/sigs.k8s.io/kueue@$KUEUE_VERSION/config/components"
rm -rf "$out/kueue"
mkdir -p "$out/kueue/crds"
cp "$kueue_src"/crd/bases/*.yaml "$out/kueue/crds/"
cp "$kueue_src/webhook/manifests.yaml" "$out/kueue/webhook-manifests.yaml"
chmod -R u+w "$out/kueue"

"$bin/kubectl" version --client=true >>"$log" 2>&1 || { echo "error: built kubectl does not run; see $log" >&2; exit 1; }
"$bin/coredns" -version >>"$log" 2>&1 || { echo "error: built coredns does not run; see $log" >&2; exit 1; }
touch "$out/.complete"
echo "==> test bed tools ready in $bin" >&2
echo "$bin"
