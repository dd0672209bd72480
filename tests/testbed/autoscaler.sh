#!/usr/bin/env bash
# A node autoscaler for the control-plane test bed (cluster.sh), out of cluster: the real
# cluster-autoscaler 1.34.5 (kwok cloud provider) or Karpenter v1.14.1 (kwok provider), built by
# tests/testbed/tools/autoscalers/build.sh. Each gets one Ascend node group that starts empty:
#
#   8 x huawei.com/Ascend910 per node, label accelerator=huawei-Ascend910, the startup taint
#   startup-taint.cluster-autoscaler.kubernetes.io/ascend-npu (NoSchedule), 0 to --max-nodes.
#
# The chips appear late, as on a real node: a new node registers with zero huawei.com/Ascend910
# (the MutatingAdmissionPolicy in autoscaler/chips-late.yaml) and gets 8 --chip-delay seconds
# after it was created (autoscaler/chips.sh, the stand-in for the device plugin registering with
# the kubelet). Removing the startup taint is the operator's job (operator/node_readiness.hpp).
#
# Usage (KUBECONFIG, TESTBED_DIR and TESTBED_BIN from `cluster.sh up`, eval'ed):
#   autoscaler.sh apiserver-args
#       The cluster.sh up arguments the chips-late policy needs (MutatingAdmissionPolicy on).
#   autoscaler.sh up cluster-autoscaler|karpenter [--max-nodes N] [--chip-delay S]
#                 [--scale-down-after S]
#       Install the node group, start the chips stand-in and the autoscaler (recorded in
#       TESTBED_DIR/pids, so `cluster.sh down` stops them; logs in TESTBED_DIR/logs).
#       --scale-down-after: the cluster-autoscaler's --scale-down-unneeded-time (and delay after
#       add), Karpenter's NodePool consolidateAfter. Defaults: 4 nodes, 10 s, 10 s. The
#       cluster-autoscaler also runs with --skip-nodes-with-custom-controller-pods=false, so a
#       job's Pod (its controller is the LlamaFactoryJob) counts as movable and only its
#       safe-to-evict annotation keeps its node.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
log() { echo "autoscaler: $*" >&2; }
die() { echo "autoscaler: error: $*" >&2; exit 1; }
# shellcheck source=tests/testbed/lib.sh
source "$here/lib.sh"

readonly TAINT=startup-taint.cluster-autoscaler.kubernetes.io/ascend-npu
readonly GROUP=ascend-910b-8
readonly API_ARGS=(--apiserver-arg --feature-gates=MutatingAdmissionPolicy=true
  --apiserver-arg --runtime-config=admissionregistration.k8s.io/v1beta1=true)

# fail STEP LOGFILE (lib.sh's contract): say what failed and where its log is. The test bed
# itself is the caller's to stop.
fail() {
  echo "autoscaler: error: $1 failed" >&2
  if [[ -n "${2:-}" && -f "$2" ]]; then
    echo "autoscaler: last lines of $2:" >&2
    tail -n 25 "$2" | sed 's/^/    /' >&2
  fi
  exit 1
}

# The labels every node of the group carries (CA template labels, Karpenter NodePool labels),
# as "key: value" lines.
group_labels() {
  cat <<EOF
accelerator: huawei-Ascend910
accelerator-type: module-910b-8
node.kubernetes.io/npu.chip.name: 910B3
testbed.ascendfactory.io/node-group: $GROUP
testbed.ascendfactory.io/chips-late: "true"
EOF
}

# chips_late: the policy that makes new group nodes register without chips, and proof that it
# is in force (a server-side dry-run create of such a node comes back with "0").
chips_late() {
  k apply -f "$here/autoscaler/chips-late.yaml" >"$DIR/logs/chips-late.log" 2>&1 \
    || fail "installing the chips-late MutatingAdmissionPolicy (does cluster.sh up have $(printf '%s ' "${API_ARGS[@]}")?)" "$DIR/logs/chips-late.log"
  local probe
  probe=$(cat <<EOF
{"apiVersion": "v1", "kind": "Node",
 "metadata": {"name": "chips-late-probe", "labels": {"testbed.ascendfactory.io/chips-late": "true"}},
 "status": {"capacity": {"huawei.com/Ascend910": "8"}, "allocatable": {"huawei.com/Ascend910": "8"}}}
EOF
)
  probe_zero() {
    [[ $(k create --dry-run=server -o jsonpath='{.status.allocatable.huawei\.com/Ascend910}' -f - <<<"$probe") == 0 ]]
  }
  wait_for "the chips-late policy in force" "$DIR/logs/chips-late.log" 60 "" probe_zero
}

k() { "$TESTBED_BIN/kubectl" --kubeconfig "$DIR/admin.kubeconfig" "$@"; }

up_cluster_autoscaler() {
  local bin=$1 max=$2 down_after=$3 port
  # The kwok provider reads its configuration and node templates from ConfigMaps in
  # POD_NAMESPACE. One node group, grouped by a label of the template; skipTaint: no
  # kwok-provider taint on its nodes; no gpuConfig (its readiness check knows only GPU
  # resource names: an Ascend node would count as never ready).
  k create configmap kwok-provider-config -n kube-system --from-file=config=/dev/stdin >/dev/null <<EOF
apiVersion: v1alpha1
readNodesFrom: configmap
nodegroups:
  fromNodeLabelKey: testbed.ascendfactory.io/node-group
nodes:
  skipTaint: true
configmap:
  name: kwok-provider-templates
EOF
  {
    cat <<EOF
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Node
  metadata:
    name: $GROUP
    annotations:
      cluster-autoscaler.kwok.nodegroup/min-count: "0"
      cluster-autoscaler.kwok.nodegroup/max-count: "$max"
    labels:
      kubernetes.io/os: linux
      kubernetes.io/arch: amd64
      type: kwok
EOF
    group_labels | sed 's/^/      /'
    cat <<EOF
  spec:
    taints:
    - {key: $TAINT, value: "true", effect: NoSchedule}
  status:
    capacity: {cpu: "192", memory: 1536Gi, pods: "110", huawei.com/Ascend910: "8"}
    allocatable: {cpu: "192", memory: 1536Gi, pods: "110", huawei.com/Ascend910: "8"}
EOF
  } >"$DIR/ca-templates.yaml"
  k create configmap kwok-provider-templates -n kube-system --from-file=templates="$DIR/ca-templates.yaml" >/dev/null
  read -r port < <(free_ports 1)
  echo "CA_PORT=$port" >>"$DIR/ports"
  # Short timings so a test sees scale-up and scale-down within a minute or two.
  start cluster-autoscaler env KUBECONFIG="$DIR/admin.kubeconfig" KWOK_PROVIDER_MODE=local POD_NAMESPACE=kube-system \
    "$bin/cluster-autoscaler" --cloud-provider=kwok --kubeconfig="$DIR/admin.kubeconfig" \
    --namespace=kube-system --leader-elect=false --address="127.0.0.1:$port" \
    --scan-interval=2s --max-nodes-total="$max" --expander=least-waste \
    --scale-down-enabled=true --scale-down-unneeded-time="${down_after}s" \
    --scale-down-delay-after-add="${down_after}s" --scale-down-delay-after-delete=0s \
    --scale-down-delay-after-failure=2s --scale-down-unready-time="${down_after}s" \
    --unremovable-node-recheck-timeout="${down_after}s" \
    --max-node-provision-time=5m --skip-nodes-with-local-storage=false \
    --skip-nodes-with-system-pods=false --skip-nodes-with-custom-controller-pods=false \
    --ok-total-unready-count="$max" --v=2
  wait_for "cluster-autoscaler /health-check" "$DIR/logs/cluster-autoscaler.log" 90 "$(pid_of cluster-autoscaler)" \
    curl -fsS --max-time 2 "http://127.0.0.1:$port/health-check"
}

up_karpenter() {
  local bin=$1 crds=$2 max=$3 down_after=$4 metrics health
  k apply --server-side -f "$crds" >"$DIR/logs/karpenter-crds.log" 2>&1 || fail "installing Karpenter's CRDs" "$DIR/logs/karpenter-crds.log"
  # (Polled: `kubectl wait --for=condition=Established` errors out on a CRD whose status has no
  # conditions yet, right after it was created.)
  established() {
    local crd
    for crd in nodepools.karpenter.sh nodeclaims.karpenter.sh kwoknodeclasses.karpenter.kwok.sh; do
      [[ $(k get crd "$crd" -o jsonpath='{.status.conditions[?(@.type=="Established")].status}') == True ]] || return 1
    done
  }
  wait_for "Karpenter's CRDs Established" "$DIR/logs/karpenter-crds.log" 60 "" established
  # One instance type: an Atlas 800T A2 (8 x 910B). `resources` is a plain ResourceList, so the
  # extended resource is declared as it is.
  cat >"$DIR/karpenter-instance-types.json" <<EOF
[{"name": "$GROUP", "architecture": "amd64", "operatingSystems": ["linux"],
  "resources": {"cpu": "192", "memory": "1536Gi", "pods": "110", "huawei.com/Ascend910": "8"},
  "offerings": [{"capacityType": "on-demand", "zone": "testbed-a", "price": 30.0}]}]
EOF
  {
    cat <<EOF
apiVersion: karpenter.kwok.sh/v1alpha1
kind: KWOKNodeClass
metadata: {name: default}
---
apiVersion: karpenter.sh/v1
kind: NodePool
metadata: {name: $GROUP}
spec:
  template:
    metadata:
      labels:
EOF
    group_labels | sed 's/^/        /'
    cat <<EOF
    spec:
      nodeClassRef: {group: karpenter.kwok.sh, kind: KWOKNodeClass, name: default}
      requirements:
      - {key: node.kubernetes.io/instance-type, operator: In, values: [$GROUP]}
      startupTaints:
      - {key: $TAINT, value: "true", effect: NoSchedule}
      expireAfter: Never
  limits:
    huawei.com/Ascend910: "$((max * 8))"
  disruption:
    consolidationPolicy: WhenEmptyOrUnderutilized
    consolidateAfter: ${down_after}s
EOF
  } >"$DIR/karpenter-nodepool.yaml"
  k apply -f "$DIR/karpenter-nodepool.yaml" >>"$DIR/logs/karpenter-crds.log" 2>&1 || fail "creating the NodePool" "$DIR/logs/karpenter-crds.log"
  read -r metrics health < <(free_ports 2)
  printf 'KARPENTER_METRICS_PORT=%s\nKARPENTER_HEALTH_PORT=%s\n' "$metrics" "$health" >>"$DIR/ports"
  start karpenter env KUBECONFIG="$DIR/admin.kubeconfig" INSTANCE_TYPES_FILE_PATH="$DIR/karpenter-instance-types.json" \
    DISABLE_LEADER_ELECTION=true METRICS_PORT="$metrics" HEALTH_PROBE_PORT="$health" \
    BATCH_IDLE_DURATION=1s BATCH_MAX_DURATION=5s LOG_LEVEL=debug "$bin/karpenter-kwok"
  wait_for "karpenter /readyz" "$DIR/logs/karpenter.log" 90 "$(pid_of karpenter)" \
    curl -fsS --max-time 2 "http://127.0.0.1:$health/readyz"
}

cmd_up() {
  local which=${1:-} max=4 delay=10 down_after=10
  shift || true
  case "$which" in
    cluster-autoscaler | karpenter) ;;
    *) die "usage: autoscaler.sh up cluster-autoscaler|karpenter [--max-nodes N] [--chip-delay S] [--scale-down-after S]" ;;
  esac
  while (($#)); do
    case "$1" in
      --max-nodes) max=$2; shift 2 ;;
      --chip-delay) delay=$2; shift 2 ;;
      --scale-down-after) down_after=$2; shift 2 ;;
      *) die "unknown option '$1' (see autoscaler.sh --help)" ;;
    esac
  done
  for v in max delay down_after; do
    [[ "${!v}" =~ ^[0-9]+$ ]] || die "--${v//_/-} needs whole seconds or a count, got '${!v}'"
  done
  [[ -n "${TESTBED_DIR:-}" && -f "$TESTBED_DIR/admin.kubeconfig" ]] || die "TESTBED_DIR is not a running test bed (eval the output of cluster.sh up)"
  DIR=$(cd "$TESTBED_DIR" && pwd)
  TESTBED_BIN=$(tools_bin)
  local out
  out=$("$here/tools/autoscalers/build.sh" --dir) || die "the autoscalers are not built; run tests/testbed/tools/autoscalers/build.sh"
  chips_late
  start chips env KUBECONFIG="$DIR/admin.kubeconfig" TESTBED_BIN="$TESTBED_BIN" "$here/autoscaler/chips.sh" "$delay"
  case "$which" in
    cluster-autoscaler) up_cluster_autoscaler "$out/bin" "$max" "$down_after" ;;
    karpenter) up_karpenter "$out/bin" "$out/crds" "$max" "$down_after" ;;
  esac
  log "$which running: node group $GROUP (0..$max nodes, chips ${delay}s after a node is created)"
}

case "${1:-}" in
  apiserver-args) printf '%s\n' "${API_ARGS[@]}" ;;
  up) shift; cmd_up "$@" ;;
  -h | --help | help) sed -n '2,22p' "${BASH_SOURCE[0]}" ;;
  *) die "usage: autoscaler.sh apiserver-args | up cluster-autoscaler|karpenter [...] (see --help)" ;;
esac
