#!/usr/bin/env bash
# llamafactory-operator at scale on the control-plane test bed (bench/README.md has the figures):
# 100 kwok nodes x 8 huawei.com/Ascend910, the operator under its own RBAC (a ServiceAccount
# token), 500 LlamaFactoryJobs applied at once (every second one with 2 node ranks), then
# bench/operator_bench.py measures pods, Running, latency, API requests, CPU and memory.
#
# Usage: bench/run_operator_bench.sh path/to/llamafactory-operator [--nodes N] [--jobs N]
#            [--two-rank-every K] [--apply-connections N] [--chips-per-node N]
#            [--probe N] [--json FILE] [--kueue] [--progress SECONDS [--progress-period S]]
#            [-- extra operator flags...]
#        --kueue: the same jobs through Kueue (tests/testbed/kueue.sh): a ResourceFlavor and a
#        ClusterQueue whose huawei.com/Ascend910 quota is every node's chips, a LocalQueue
#        `bench`, every job labelled with it (admission throughput; nothing waits for quota).
#        --progress: the operator serves training progress (a certificate made here, its default
#        --progress-interval of 30 s unless given after --), and once every job is Running
#        bench/progress_bench.py posts a report for every job's rank 0 every --progress-period
#        seconds (5) for SECONDS with a Pod-bound token: status writes per job-minute.
# e.g.   bench/run_operator_bench.sh build/operator/llamafactory-operator --apply-connections 8 -- --workers 4
# --chips-per-node raises every node's allocatable huawei.com/Ascend910 (kwok nodes have 8):
# 5,000 jobs need more than 500 x 8. --probe N applies N jobs one at a time before the burst and
# N more after it, each waited for: apply -> Running on an idle and on a full operator.
# The test bed and the operator are stopped on exit (also when interrupted).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
operator_bin=${1:-}
[[ -x "$operator_bin" ]] || { sed -n '2,22p' "$0" >&2; exit 2; }
operator_bin=$(cd "$(dirname "$operator_bin")" && pwd)/$(basename "$operator_bin")
shift
nodes=100 jobs=500 every=2 connections=1 json="" chips=8 probe=0 kueue=0 progress=0 period=5
while (($#)); do
  case $1 in
    --nodes) nodes=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    --two-rank-every) every=$2; shift 2 ;;
    --apply-connections) connections=$2; shift 2 ;;
    --json) json=$2; shift 2 ;;
    --chips-per-node) chips=$2; shift 2 ;;
    --probe) probe=$2; shift 2 ;;
    --kueue) kueue=1; shift ;;
    --progress) progress=$2; shift 2 ;;
    --progress-period) period=$2; shift 2 ;;
    --) shift; break ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
operator_flags=("$@")

# shellcheck source=tests/lib/check.sh
source "$root/tests/lib/check.sh"
make_work operator-bench
operator_pid=""
# shellcheck disable=SC2317  # called on exit by tests/lib/check.sh
on_exit() {
  # SIGTERM; the operator first sends the Events still queued (minutes when the API server is
  # overloaded), so give it 20 s, then SIGKILL.
  if [[ -n "$operator_pid" ]]; then
    kill -TERM "$operator_pid" 2>/dev/null || true
    local until=$((SECONDS + 20))
    while kill -0 "$operator_pid" 2>/dev/null && ((SECONDS < until)); do sleep 0.2; done
    kill -KILL "$operator_pid" 2>/dev/null || true
    wait "$operator_pid" 2>/dev/null || true
  fi
}
trap 'exit 130' INT TERM

echo "bench: starting the test bed, then adding $nodes nodes" >&2
testbed_up --nodes 0
# `up --nodes 100` gives kwok 90 s to make every node Ready, too little on a busy machine:
# add them afterwards and wait as long as it takes (up to 10 minutes).
"$root/tests/testbed/cluster.sh" add-nodes "$TESTBED_DIR" "$nodes"
deadline=$((SECONDS + 600))
until [[ "$(k get nodes --no-headers 2>/dev/null | grep -c ' Ready ' || true)" == "$nodes" ]]; do
  ((SECONDS < deadline)) || { echo "bench: nodes not Ready after 600 s" >&2; exit 1; }
  sleep 2
done
if ((chips != 8)); then
  k get nodes -o name | xargs -P 4 -I{} "$TESTBED_BIN/kubectl" --kubeconfig "$KUBECONFIG" patch {} \
    --subresource=status --type merge \
    -p "{\"status\":{\"allocatable\":{\"huawei.com/Ascend910\":\"$chips\"},\"capacity\":{\"huawei.com/Ascend910\":\"$chips\"}}}" >/dev/null
fi
k apply -f "$root/crds/llamafactoryjobs.yaml" >/dev/null
crd_established llamafactoryjobs.ascendfactory.io
# deploy/rbac/operator.yaml no longer carries the namespace (deploy/namespace.yaml does).
k create namespace ascend-factory --dry-run=client -o yaml | k apply -f - >/dev/null
k apply -f "$root/deploy/rbac/operator.yaml" >/dev/null
k create namespace bench >/dev/null
until k get serviceaccount default -n bench >/dev/null 2>&1; do sleep 0.2; done
echo "bench: $nodes nodes Ready" >&2
queue=()
if ((kueue)); then
  "$root/tests/testbed/kueue.sh" up "$TESTBED_DIR" >/dev/null
  k apply -f - >/dev/null <<EOF
apiVersion: kueue.x-k8s.io/v1beta2
kind: ResourceFlavor
metadata: {name: bench}
---
apiVersion: kueue.x-k8s.io/v1beta2
kind: ClusterQueue
metadata: {name: bench}
spec:
  namespaceSelector: {}
  resourceGroups:
  - coveredResources: [huawei.com/Ascend910]
    flavors:
    - name: bench
      resources: [{name: huawei.com/Ascend910, nominalQuota: $((nodes * chips))}]
---
apiVersion: kueue.x-k8s.io/v1beta2
kind: LocalQueue
metadata: {name: bench, namespace: bench}
spec: {clusterQueue: bench}
EOF
  bench_cq_active() { [[ $(k get clusterqueue bench -o jsonpath='{.status.conditions[?(@.type=="Active")].status}') == True ]]; }
  wait_until "ClusterQueue bench Active" 120 bench_cq_active
  queue=(--queue bench)
  echo "bench: Kueue running; jobs go through LocalQueue bench (quota $((nodes * chips)) NPUs)" >&2
fi

operator_kubeconfig "$work/operator.kubeconfig"
server=$(k config view --minify -o jsonpath='{.clusters[0].cluster.server}')
read -r metrics_port health_port < <(python3 -c '
import socket; s=[socket.socket() for _ in range(2)]
[x.bind(("127.0.0.1",0)) for x in s]; print(*[x.getsockname()[1] for x in s])')
progress_flags=() progress_interval=30
if [[ "$progress" != 0 ]]; then
  # The status server's certificate, from a CA made here (the chart makes one at install).
  tls=$work/progress-tls
  mkdir -p "$tls"
  progress_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  serving_tls "$tls"
  progress_url=https://127.0.0.1:$progress_port/v1/progress
  progress_flags=(--progress-address "127.0.0.1:$progress_port" --progress-cert-file "$tls/tls.crt"
    --progress-key-file "$tls/tls.key" --progress-ca-file "$tls/ca.crt" --progress-url "$progress_url")
  for ((i = 0; i < ${#operator_flags[@]}; i++)); do
    case ${operator_flags[i]} in
      --progress-interval) progress_interval=${operator_flags[i + 1]} ;;
      --progress-interval=*) progress_interval=${operator_flags[i]#*=} ;;
    esac
  done
fi
"$operator_bin" --kubeconfig "$work/operator.kubeconfig" --log-level warn \
  --default-image stand-in.invalid/llamafactory:never-pulled \
  --metrics-address "127.0.0.1:$metrics_port" --health-address "127.0.0.1:$health_port" \
  --identity bench "${progress_flags[@]}" "${operator_flags[@]}" >"$work/operator.log" 2>&1 &
operator_pid=$!
until curl -fsS --max-time 1 "http://127.0.0.1:$health_port/readyz" >/dev/null 2>&1; do
  kill -0 "$operator_pid" 2>/dev/null || { cat "$work/operator.log" >&2; exit 1; }
  sleep 0.2
done
until [[ "$(k get lease -n ascend-factory llamafactory-operator -o jsonpath='{.spec.holderIdentity}' 2>/dev/null)" == bench ]]; do sleep 0.2; done
echo "bench: operator $operator_pid leading; flags: ${operator_flags[*]:-(defaults)}" >&2

rc=0
python3 "$here/operator_bench.py" --server "$server" --ca "$TESTBED_DIR/pki/ca.crt" \
  --cert "$TESTBED_DIR/pki/admin.crt" --key "$TESTBED_DIR/pki/admin.key" --namespace bench \
  --jobs "$jobs" --two-rank-every "$every" --apply-connections "$connections" --operator-pid "$operator_pid" \
  --operator-metrics "http://127.0.0.1:$metrics_port/metrics" --probe "$probe" ${json:+--json "$json"} "${queue[@]}" || rc=$?
if [[ "$progress" != 0 && $rc == 0 ]]; then
  python3 "$here/progress_bench.py" --server "$server" --ca "$TESTBED_DIR/pki/ca.crt" \
    --cert "$TESTBED_DIR/pki/admin.crt" --key "$TESTBED_DIR/pki/admin.key" --namespace bench \
    --progress-url "$progress_url" --progress-ca "$tls/ca.crt" --seconds "$progress" \
    --period "$period" --interval "$progress_interval" --operator-pid "$operator_pid" \
    --operator-metrics "http://127.0.0.1:$metrics_port/metrics" \
    ${json:+--json "${json%.json}-progress.json"} || rc=$?
fi
if grep -qiE 'forbidden|error' "$work/operator.log"; then
  echo "bench: operator log warnings/errors (first 5):" >&2
  grep -iE 'forbidden|error' "$work/operator.log" | head -n 5 >&2
fi
exit "$rc"
