#!/usr/bin/env bash
# The README's main job (`make demo`): the whole system on this machine, from a fresh start.
#
#   1. Debian packages (containerd, runc, CNI plugins, build tools, ...)
#   2. the pinned Kubernetes parts, built from the Go module proxy (cached outside the repo)
#   3. the C++ programs: ascend-device-plugin, llamafactory-operator and the stand-in
#      LLaMA-Factory workload
#   4. a local cluster: etcd, kube-apiserver, controller-manager, scheduler, CoreDNS and a real
#      kubelet with containerd and runc on a fake Ascend host (8 device nodes made with mknod)
#   5. `helm install` of charts/ascend-factory (plugin DaemonSet, operator Deployment, CRD)
#   6. the quick-start jobs of deploy/examples/quickstart: a LoRA SFT run on 2 NPUs (its
#      progress shown as it trains), an OpenAI-style API server on 2 NPUs (asked for its
#      models on port 8000) and LLaMA Board on 1 NPU (port 7860)
#
# There are no Ascend chips and no LLaMA-Factory here: the containers run the stand-in image
# (tests/workload), which checks the devices it was given, writes a trainer log and serves
# 7860/8000. On a real cluster the same jobs run the image from deploy/images.
#
# Usage: scripts/demo.sh up      start (the cluster keeps running; prints how to use it)
#        scripts/demo.sh down    stop everything `up` started
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
state=${ASCEND_FACTORY_DEMO_STATE:-${XDG_STATE_HOME:-$HOME/.local/state}/ascend-factory-demo}
build=${BUILD_DIR:-$root/build}
t0=$SECONDS
step() { echo; echo "==== $* [$((SECONDS - t0))s]"; }
note() { echo "     $*"; }

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

# wait_for WHAT TIMEOUT_S CMD...: poll CMD, saying every 10 s what it is still waiting for.
wait_for() {
  local what=$1 timeout=$2; shift 2
  local deadline=$((SECONDS + timeout)) next=$((SECONDS + 10))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
      echo "demo: error: gave up after ${timeout}s waiting for $what" >&2
      echo "demo: the cluster is still up for a look: export KUBECONFIG=$KUBECONFIG; logs in $TESTBED_DIR/logs; stop with 'make demo-down'" >&2
      exit 1
    fi
    if ((SECONDS >= next)); then note "still waiting for $what ($((deadline - SECONDS))s left)"; next=$((SECONDS + 10)); fi
    sleep 1
  done
}

up() {
  if [[ -f "$state/env" ]]; then
    echo "a demo cluster is already running ($state/env); 'make demo-down' stops it" >&2
    exit 1
  fi
  [[ $(id -u) -eq 0 ]] || { echo "demo: the local node runs containers with runc and needs root" >&2; exit 1; }
  step "1/6 Debian packages"
  scripts/install-deps.sh
  step "2/6 Kubernetes parts from the Go module proxy (first time: about half an hour; cached after)"
  tests/testbed/tools/build.sh >/dev/null
  step "3/6 C++ build ($build): the plugin, the operator, the stand-in workload"
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build "$build" -j "$(nproc)" --target ascend-device-plugin llamafactory-operator llamafactory-cli lfjob-progress

  step "4/6 local cluster with a real node, 5/6 helm install charts/ascend-factory"
  mkdir -p "$state"
  rm -rf "$state/cluster"
  tests/testbed/stack.sh up --build-dir "$build" --dir "$state/cluster" >"$state/env.tmp"
  mv "$state/env.tmp" "$state/env"
  # shellcheck disable=SC1091
  source "$state/env"
  k() { "$TESTBED_BIN/kubectl" "$@"; }
  k get nodes -o custom-columns='NODE:.metadata.name,READY:.status.conditions[?(@.type=="Ready")].status,ASCEND910:.status.allocatable.huawei\.com/Ascend910,CHIP:.metadata.labels.node\.kubernetes\.io/npu\.chip\.name,KUBELET:.status.nodeInfo.kubeletVersion,RUNTIME:.status.nodeInfo.containerRuntimeVersion'
  "$TESTBED_BIN/helm" list -n "$STACK_NAMESPACE"
  k get pods -n "$STACK_NAMESPACE" -o wide

  step "6/6 the quick-start jobs (deploy/examples/quickstart)"
  k apply -f deploy/examples/quickstart/
  note "waiting for quickstart-sft to train (its trainer log, from the pod):"
  local last="" deadline=$((SECONDS + 300)) phase=""
  while ((SECONDS < deadline)); do
    phase=$(k get lfjob quickstart-sft -o jsonpath='{.status.phase}')
    local line
    line=$(k logs quickstart-sft-worker-0 2>/dev/null | grep -E '"current_steps"' | tail -n 1 || true)
    if [[ -n "$line" && "$line" != "$last" ]]; then
      note "$(jq -r '"step \(.current_steps)/\(.total_steps)  loss \(.loss)  \(.percentage)%"' <<<"$line" 2>/dev/null || echo "$line")   (kubectl get lfjob: PROGRESS $(k get lfjob quickstart-sft -o jsonpath='{.status.progress.percent}') ETA $(k get lfjob quickstart-sft -o jsonpath='{.status.progress.eta}'))"
      last=$line
    elif [[ -z "$line" ]]; then
      note "quickstart-sft: ${phase:-Pending} ($(k get pod quickstart-sft-worker-0 -o jsonpath='{.status.phase}' 2>/dev/null || echo 'no pod yet'))"
    fi
    [[ "$phase" == Succeeded || "$phase" == Failed ]] && break
    sleep 2
  done
  [[ "$phase" == Succeeded ]] || { echo "demo: quickstart-sft ended '$phase'; see 'kubectl describe lfjob quickstart-sft'" >&2; exit 1; }
  # The reporter's last report reaches status within the operator's progress interval.
  wait_for "quickstart-sft's final progress in status (PROGRESS 100)" 30 bash -c \
    "[[ \$('$TESTBED_BIN/kubectl' get lfjob quickstart-sft -o jsonpath='{.status.progress.percent}') == 100 ]]"
  k get lfjob quickstart-sft
  wait_for "the API server pod to be Ready" 120 k wait --for=condition=Ready pod/quickstart-api-worker-0 --timeout=1s
  wait_for "the LLaMA Board pod to be Ready" 120 k wait --for=condition=Ready pod/quickstart-board-worker-0 --timeout=1s

  echo
  k get lfjob,pods -o wide
  local api_ip board_ip
  api_ip=$(k get pod quickstart-api-worker-0 -o jsonpath='{.status.podIP}')
  board_ip=$(k get pod quickstart-board-worker-0 -o jsonpath='{.status.podIP}')
  echo
  echo "GET http://$api_ip:8000/v1/models (the quickstart-api job) answers:"
  curl -fsS --max-time 5 "http://$api_ip:8000/v1/models"
  echo
  cat <<EOF

Done in $((SECONDS - t0))s. The cluster keeps running:
  export KUBECONFIG=$KUBECONFIG
  $TESTBED_BIN/kubectl get lfjob,pods            # jobs and their pods
  $TESTBED_BIN/kubectl describe lfjob quickstart-sft
  curl http://$api_ip:8000/v1/models             # the API server (quickstart-api)
  LLaMA Board (quickstart-board): http://$board_ip:7860/ from this machine, or from yours with
    ssh -L 7860:$board_ip:7860 <this machine>   and then http://localhost:7860/
Containers run the stand-in image (there are no NPUs here); logs of every component are in
$TESTBED_DIR/logs/. Stop everything with: make demo-down
EOF
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  *) echo "usage: scripts/demo.sh up|down" >&2; exit 2 ;;
esac
