#!/usr/bin/env bash
# The README's main job (`make demo`): a local Kubernetes cluster on this machine, started
# by the project itself from pinned versions.
#
# Today it installs the Debian packages, builds the pinned Kubernetes parts and the C++
# code, and starts the control-plane test bed: real etcd, kube-apiserver (RBAC on),
# controller-manager and scheduler, with kwok nodes that each advertise 8
# huawei.com/Ascend910. It then shows the nodes and runs a pod that asks for two chips.
# When the device plugin, the operator and the chart land, this same command will also
# start a real kubelet with the plugin, `helm install` the stack and apply an example
# LlamaFactoryJob.
#
# Usage: scripts/demo.sh up      start (the cluster keeps running; prints how to use it)
#        scripts/demo.sh down    stop everything `up` started
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
state=${ASCEND_FACTORY_DEMO_STATE:-${XDG_STATE_HOME:-$HOME/.local/state}/ascend-factory-demo}
t0=$SECONDS
step() { echo; echo "==== $* ($((SECONDS - t0))s)"; }

down() {
  if [[ -f "$state/env" ]]; then
    # shellcheck disable=SC1091
    source "$state/env"
    tests/testbed/cluster.sh down "$TESTBED_DIR"
    rm -f "$state/env"
  else
    echo "no demo cluster is running (no $state/env)"
  fi
}

up() {
  if [[ -f "$state/env" ]]; then
    echo "a demo cluster is already running ($state/env); 'make demo-down' stops it" >&2
    exit 1
  fi
  step "1/5 Debian packages"
  scripts/install-deps.sh
  step "2/5 Kubernetes parts from the Go module proxy (first time: tens of minutes; cached after)"
  tests/testbed/tools/build.sh >/dev/null
  step "3/5 C++ build (build/)"
  cmake -S . -B build -G Ninja >/dev/null
  cmake --build build -j "$(nproc)"
  step "4/5 control plane: etcd, kube-apiserver, controller-manager, scheduler, kwok"
  mkdir -p "$state"
  tests/testbed/cluster.sh up --nodes 2 --dir "$state/cluster" >"$state/env"
  # shellcheck disable=SC1091
  source "$state/env"
  local kubectl="$TESTBED_BIN/kubectl"
  "$kubectl" get nodes -o custom-columns='NODE:.metadata.name,READY:.status.conditions[?(@.type=="Ready")].status,ASCEND910:.status.allocatable.huawei\.com/Ascend910,CHIP:.metadata.labels.node\.kubernetes\.io/npu\.chip\.name'

  step "5/5 a pod asking for 2 x huawei.com/Ascend910"
  "$kubectl" apply -f - <<'EOF'
apiVersion: v1
kind: Pod
metadata:
  name: demo-two-chips
spec:
  containers:
  - name: llamafactory
    image: stand-in.invalid/llamafactory:demo
    command: ["llamafactory-cli", "train", "/app/config.yaml"]
    resources:
      limits:
        huawei.com/Ascend910: "2"
EOF
  echo "waiting for the scheduler to place it and kwok to run it..."
  "$kubectl" wait --for=jsonpath='{.status.phase}'=Running pod/demo-two-chips --timeout=60s
  "$kubectl" get pod demo-two-chips -o wide

  cat <<EOF

The demo cluster is running. Use it with:
  export KUBECONFIG=$KUBECONFIG
  $kubectl get nodes,pods -A
Logs of every component: $TESTBED_DIR/logs/
Stop it with: make demo-down
EOF
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  *) echo "usage: scripts/demo.sh up|down" >&2; exit 2 ;;
esac
