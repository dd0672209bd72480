# shellcheck shell=bash disable=SC2154  # testlib_root and work come from tests/lib/check.sh
# The start of every operator end-to-end test (tests/operator/e2e_*_test.sh), sourced after
# tests/lib/check.sh: the control-plane test bed (real kube-apiserver with RBAC, scheduler,
# controller-manager, kwok nodes with 8 huawei.com/Ascend910 each), the CRD, the operator's
# RBAC exactly as the Helm chart renders it (deploy/rbac/operator.yaml is the same render), and
# the operator running under its own ServiceAccount token, leading and serving /metrics.
#
# kwok ends a running Pod annotated testbed.ascendfactory.io/exit-code with that code after
# testbed.ascendfactory.io/run-for; jobs pass those through spec.podAnnotations.
#
# The script sets E2E_NODES (fake nodes, default 6: room for a 2 x 8 job beside the small ones
# however the scheduler spreads them) and, if it needs more, E2E_TESTBED_ARGS (an array of
# further `cluster.sh up` arguments) and E2E_OPERATOR_ARGS (more flags of the operator) before
# sourcing, and passes the operator binary as its first argument.

operator_bin=${1:-}
[[ -n "${E2E_OPERATOR_ARGS+x}" ]] || E2E_OPERATOR_ARGS=()
[[ -x "$operator_bin" ]] || { echo "usage: $0 path/to/llamafactory-operator" >&2; exit 2; }
operator_bin=$(cd "$(dirname "$operator_bin")" && pwd)/$(basename "$operator_bin")
root=$testlib_root
NS=e2e

make_work e2e-operator
oplog=$work/operator.log
operator_pid=""
standby_pid=""

fail_context() {
  if [[ -f "$oplog" ]]; then
    echo "--- last operator log lines ($oplog)"
    tail -n 30 "$oplog"
  fi
  if [[ -f "$work/standby.log" ]]; then
    echo "--- last standby log lines ($work/standby.log)"
    tail -n 30 "$work/standby.log"
  fi
}

on_exit() {
  if declare -F stop_operator >/dev/null; then stop_operator KILL; fi
  if [[ -n "$standby_pid" ]]; then kill -KILL "$standby_pid" 2>/dev/null || true; wait "$standby_pid" 2>/dev/null || true; fi
  if [[ $1 -ne 0 && -n "${TESTBED_DIR:-}" ]]; then
    cp "$oplog" "$TESTBED_DIR/logs/llamafactory-operator.log" 2>/dev/null || true
  fi
}

testbed_up --nodes "${E2E_NODES:-6}" ${E2E_TESTBED_ARGS[@]+"${E2E_TESTBED_ARGS[@]}"}
kubectl=("$TESTBED_BIN/kubectl")

jp() { k get "$1" -n "$NS" "$2" -o jsonpath="$3" 2>/dev/null; }
phase_is() { [[ "$(jp lfjob "$1" '{.status.phase}')" == "$2" ]]; }
pod_count() { k get pods -n "$NS" -l "ascendfactory.io/job-name=$1" -o name 2>/dev/null | wc -l; }
pod_count_is() { [[ "$(pod_count "$1")" == "$2" ]]; }

# --- install the CRD and the operator's RBAC, and log in as the operator's ServiceAccount
k apply -f "$root/crds/llamafactoryjobs.yaml" >/dev/null
crd_established llamafactoryjobs.ascendfactory.io
k apply -f "$root/deploy/namespace.yaml" >/dev/null
"$TESTBED_BIN/helm" template ascend-factory "$root/charts/ascend-factory" -n ascend-factory \
  --show-only templates/operator-rbac.yaml | k apply -f - >/dev/null
k create namespace "$NS" >/dev/null
wait_until "ServiceAccount default in $NS" 60 k get serviceaccount default -n "$NS"
operator_kubeconfig "$work/operator.kubeconfig"
as_operator=("$TESTBED_BIN/kubectl" --kubeconfig "$work/operator.kubeconfig")
if "${as_operator[@]}" get secrets -A >/dev/null 2>&1; then fail "the operator's identity may read secrets"; fi
"${as_operator[@]}" get lfjob -A >/dev/null 2>&1 || fail "the operator's identity cannot list jobs"
check "CRD and RBAC installed; the operator runs as ServiceAccount ascend-factory/llamafactory-operator (no secrets, jobs listable)"

read -r metrics_port health_port < <(python3 -c '
import socket; s=[socket.socket() for _ in range(2)]
[x.bind(("127.0.0.1",0)) for x in s]; print(*[x.getsockname()[1] for x in s])')
# start_operator ID: one replica with identity e2e-ID; returns once it is ready and leads.
start_operator() {
  "$operator_bin" --kubeconfig "$work/operator.kubeconfig" \
    --default-image stand-in.invalid/llamafactory:never-pulled \
    --metrics-address "127.0.0.1:$metrics_port" --health-address "127.0.0.1:$health_port" \
    --identity "e2e-$1" --workers 2 "${E2E_OPERATOR_ARGS[@]}" >>"$oplog" 2>&1 &
  operator_pid=$!
  wait_until "operator /readyz" 60 curl -fsS --max-time 1 "http://127.0.0.1:$health_port/readyz"
  wait_until "operator to hold the lease" 60 bash -c \
    "'${kubectl[0]}' get lease -n ascend-factory llamafactory-operator -o jsonpath='{.spec.holderIdentity}' | grep -qx 'e2e-$1'"
}
stop_operator() {
  local sig=${1:-TERM}
  [[ -n "$operator_pid" ]] || return 0
  kill "-$sig" "$operator_pid" 2>/dev/null || true
  wait "$operator_pid" 2>/dev/null || true
  operator_pid=""
}

# A script may start more of the test bed first (kueue_test.sh: Kueue, whose API the operator
# looks for when it starts).
if declare -F before_operator >/dev/null; then before_operator; fi
start_operator 1
curl -fsS "http://127.0.0.1:$metrics_port/metrics" -o "$work/metrics"
grep -aq '^llamafactory_operator_' "$work/metrics" \
  || fail "/metrics has no llamafactory_operator_ families"
check "operator ready (/readyz), leading (Lease holder e2e-1), serving /metrics"

# metric SERIES: the value of one series on the leading operator's /metrics.
metric() { curl -fsS --max-time 2 "http://127.0.0.1:$metrics_port/metrics" | awk -v s="$1" '$1 == s {print $2}'; }

# wait_converged: the operator has nothing left to do and the Pods of namespace NS hold still:
# its work queues are empty, then the set of Pods (name and uid) stays the same for 3 s. A
# duplicate Pod, if one were made, exists by then.
# (A series per queue; none at all would mean the metric is gone, not that the queues are empty.)
queue_drained() {
  local queues depth
  read -r queues depth < <(curl -fsS --max-time 2 "http://127.0.0.1:$metrics_port/metrics" \
    | awk '/^llamafactory_operator_workqueue_depth[{]/ {n++; s += $2} END {print n + 0, s + 0}') || return 1
  ((queues > 0)) && [[ "${depth%.*}" == 0 ]]
}
pod_set() { k get pods -n "$NS" -o jsonpath='{range .items[*]}{.metadata.name}/{.metadata.uid} {end}'; }
wait_converged() {
  wait_until "the operator's work queues to drain" 60 queue_drained
  wait_stable "the pods in $NS" 3 60 pod_set
  queue_drained || fail "the operator's work queues filled again while the pods held still"
}

# job NAME NODES NPUS EXIT RUN_FOR [RUN_POLICY_YAML]: a train job whose Pods exit with EXIT.
job() {
  cat <<EOF | k apply -n "$NS" -f - >/dev/null
apiVersion: ascendfactory.io/v1alpha1
kind: LlamaFactoryJob
metadata: {name: $1}
spec:
  mode: train
  nodes: $2
  npusPerNode: $3
  config: {model_name_or_path: Qwen/Qwen2.5-0.5B, stage: sft, finetuning_type: lora, learning_rate: 1.0e-4}
  args: ["logging_steps=5"]
  env: [{name: HF_ENDPOINT, value: "https://hf-mirror.example"}]
  podAnnotations:
    testbed.ascendfactory.io/exit-code: "$4"
    testbed.ascendfactory.io/run-for: "$5"
  runPolicy: {${6:-}}
EOF
}

# operator_done: the operator never hit a permission it lacked, and stops cleanly (the last
# check of every e2e script).
operator_done() {
  local logs=("$oplog") holder
  [[ -f "$work/standby.log" ]] && logs+=("$work/standby.log")
  if grep -qi "forbidden" "${logs[@]}"; then fail "the operator was refused something: $(grep -hi forbidden "${logs[@]}" | head -n 3)"; fi
  stop_operator TERM
  holder=$(k get lease -n ascend-factory llamafactory-operator -o jsonpath='{.spec.holderIdentity}')
  [[ -z "$holder" ]] || fail "lease still held by '$holder' after SIGTERM (should be released)"
  check "no forbidden requests in the operator log; SIGTERM released the lease"
}
