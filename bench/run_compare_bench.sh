#!/usr/bin/env bash
# llamafactory-operator and Kubeflow's training-operator v1.8.1 side by side on one test bed
# (bench/README.md has the figures): kwok nodes with 8 huawei.com/Ascend910 each, each operator
# out of cluster under its own RBAC (a ServiceAccount token; Kubeflow's ClusterRole as its
# module ships it), the same jobs applied the same way (bench/operator_bench.py: LlamaFactoryJobs,
# or equivalent PyTorchJobs: a Master plus a Worker for a 2-rank job), then one table.
#
# Configurations, in this order in every round (each in a fresh namespace; the previous
# namespace is deleted first so the NPUs are free again):
#   ours        llamafactory-operator, default flags (QPS 100, burst 200, 16 workers)
#   kubeflow    training-operator --enable-scheme=pytorchjob, its defaults (1 controller
#               thread; controller-runtime's client limit QPS 20, burst 30: v1.8.1 has no
#               flag to change it)
#   kubeflow16  the same with --controller-threads 16
#   floor       no operator: the driver makes our operator's writes itself, unthrottled, over
#               16 connections (the bed's best possible time for our run)
#
# Usage: bench/run_compare_bench.sh path/to/llamafactory-operator [--nodes N] [--jobs N]
#            [--two-rank-every K] [--apply-connections N] [--runs R] [--configs a,b,...]
#            [--out DIR]
# e.g.   bench/run_compare_bench.sh build/operator/llamafactory-operator --runs 3
# Kubeflow is built on first use (bench/kubeflow/build.sh, cached outside the repository).
# The JSON figures of every run go to DIR (default: a temporary folder, printed).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
operator_bin=${1:-}
[[ -x "$operator_bin" ]] || { sed -n '2,25p' "$0" >&2; exit 2; }
operator_bin=$(cd "$(dirname "$operator_bin")" && pwd)/$(basename "$operator_bin")
shift
nodes=100 jobs=500 every=2 connections=8 runs=1 configs=ours,kubeflow,kubeflow16,floor out=""
while (($#)); do
  case $1 in
    --nodes) nodes=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    --two-rank-every) every=$2; shift 2 ;;
    --apply-connections) connections=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --configs) configs=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
IFS=, read -r -a config_list <<<"$configs"
for c in "${config_list[@]}"; do
  [[ "$c" =~ ^(ours|kubeflow|kubeflow16|floor)$ ]] || { echo "--configs: unknown configuration '$c' (ours, kubeflow, kubeflow16, floor)" >&2; exit 2; }
done

kubeflow_dir=""
if [[ ",$configs," == *,kubeflow* ]]; then
  kubeflow_dir=$("$here/kubeflow/build.sh" | tail -n 1)
fi

# shellcheck source=tests/lib/check.sh
source "$root/tests/lib/check.sh"
make_work compare-bench
[[ -n "$out" ]] || out="$work/figures"
mkdir -p "$out"
out=$(cd "$out" && pwd)
pid=""
stop_operator() {
  # SIGTERM; our operator first sends the Events still queued, so give it 20 s, then SIGKILL.
  if [[ -n "$pid" ]]; then
    kill -TERM "$pid" 2>/dev/null || true
    local until=$((SECONDS + 20))
    while kill -0 "$pid" 2>/dev/null && ((SECONDS < until)); do sleep 0.2; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  pid=""
}
# shellcheck disable=SC2317  # called on exit by tests/lib/check.sh
on_exit() { stop_operator; }
trap 'exit 130' INT TERM

echo "bench: starting the test bed, then adding $nodes nodes" >&2
testbed_up --nodes 0
"$root/tests/testbed/cluster.sh" add-nodes "$TESTBED_DIR" "$nodes"
deadline=$((SECONDS + 600))
until [[ "$(k get nodes --no-headers 2>/dev/null | grep -c ' Ready ' || true)" == "$nodes" ]]; do
  ((SECONDS < deadline)) || { echo "bench: nodes not Ready after 600 s" >&2; exit 1; }
  sleep 2
done
server=$(k config view --minify -o jsonpath='{.clusters[0].cluster.server}')

# Ours: CRD and RBAC as deployed.
k apply -f "$root/crds/llamafactoryjobs.yaml" >/dev/null
crd_established llamafactoryjobs.ascendfactory.io
k create namespace ascend-factory --dry-run=client -o yaml | k apply -f - >/dev/null
k apply -f "$root/deploy/rbac/operator.yaml" >/dev/null
operator_kubeconfig "$work/ours.kubeconfig"

# Kubeflow: the PyTorchJob CRD and the RBAC of the module's manifests/base (kustomize puts
# them in namespace kubeflow, which the ClusterRoleBinding's subject gets here). Its cert
# rotator needs the webhook Secret to exist; without the ValidatingWebhookConfiguration
# installed the API server calls no webhook (the rotator logs that it found none), as our
# operator runs here without its admission webhook.
if [[ -n "$kubeflow_dir" ]]; then
  m="$kubeflow_dir/manifests/base"
  k apply --server-side -f "$m/crds/kubeflow.org_pytorchjobs.yaml" >/dev/null
  crd_established pytorchjobs.kubeflow.org
  k create namespace kubeflow >/dev/null
  k apply -n kubeflow -f "$m/rbac/service-account.yaml" -f "$m/rbac/role.yaml" >/dev/null
  python3 - "$m/rbac/cluster-role-binding.yaml" >"$work/kubeflow-binding.json" <<'PY'
import json, sys
# The binding as kustomize renders it with `namespace: kubeflow` (PyYAML-free: it is tiny).
text = open(sys.argv[1]).read()
assert "name: training-operator" in text and "kind: ServiceAccount" in text, text
print(json.dumps({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                  "metadata": {"name": "training-operator", "labels": {"app": "training-operator"}},
                  "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                              "name": "training-operator"},
                  "subjects": [{"kind": "ServiceAccount", "name": "training-operator",
                                "namespace": "kubeflow"}]}))
PY
  k apply -f "$work/kubeflow-binding.json" >/dev/null
  k create secret generic training-operator-webhook-cert -n kubeflow >/dev/null
  operator_kubeconfig "$work/kubeflow.kubeconfig" kubeflow training-operator
fi
echo "bench: $nodes nodes Ready; configurations: ${config_list[*]}; $runs round(s)" >&2

# Three free ports below the kernel's ephemeral range (32768 and up): a port picked there can
# be taken by an outgoing connection before the operator binds it (seen on the busy machine).
free_ports() {
  python3 -c '
import random, socket
ports = []
while len(ports) < 3:
    p = random.randrange(20000, 32000)
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p)); ports.append(p)
    except OSError:
        pass
    finally:
        s.close()
print(*ports)'
}

# start_ours / start_kubeflow THREADS: start the operator, wait until it works; sets pid and
# metrics_url.
start_ours() {
  local metrics_port health_port unused
  read -r metrics_port health_port unused < <(free_ports)
  "$operator_bin" --kubeconfig "$work/ours.kubeconfig" --log-level warn \
    --default-image stand-in.invalid/llamafactory:never-pulled \
    --metrics-address "127.0.0.1:$metrics_port" --health-address "127.0.0.1:$health_port" \
    --identity "bench-$run" >"$work/$run.log" 2>&1 &
  pid=$!
  metrics_url="http://127.0.0.1:$metrics_port/metrics"
  until curl -fsS --max-time 1 "http://127.0.0.1:$health_port/readyz" >/dev/null 2>&1; do
    kill -0 "$pid" 2>/dev/null || { cat "$work/$run.log" >&2; exit 1; }
    if grep -q "cannot listen" "$work/$run.log"; then cat "$work/$run.log" >&2; exit 1; fi
    sleep 0.2
  done
  until [[ "$(k get lease -n ascend-factory llamafactory-operator -o jsonpath='{.spec.holderIdentity}' 2>/dev/null)" == "bench-$run" ]]; do sleep 0.2; done
}
start_kubeflow() {
  local metrics_port health_port webhook_port
  read -r metrics_port health_port webhook_port < <(free_ports)
  KUBECONFIG="$work/kubeflow.kubeconfig" MY_POD_NAMESPACE=kubeflow \
    "$kubeflow_dir/bin/training-operator" --enable-scheme=pytorchjob \
    --metrics-bind-address "127.0.0.1:$metrics_port" --health-probe-bind-address "127.0.0.1:$health_port" \
    --webhook-server-port "$webhook_port" --controller-threads "$1" >"$work/$run.log" 2>&1 &
  pid=$!
  metrics_url="http://127.0.0.1:$metrics_port/metrics"
  local deadline=$((SECONDS + 120)) certs=/tmp/k8s-webhook-server/serving-certs crt
  until grep -qE 'Starting workers.*pytorchjob' "$work/$run.log" 2>/dev/null; do
    kill -0 "$pid" 2>/dev/null || { tail -n 30 "$work/$run.log" >&2; exit 1; }
    # In a cluster the kubelet mounts the Secret the cert rotator fills at $certs (a path fixed
    # in v1.8.1); the controllers start only once the files are there. Do the same.
    crt=$(k get secret -n kubeflow training-operator-webhook-cert -o jsonpath='{.data.tls\.crt}' 2>/dev/null || true)
    if [[ -n "$crt" && "$(base64 -d <<<"$crt")" != "$(cat "$certs/tls.crt" 2>/dev/null)" ]]; then
      mkdir -p "$certs"
      k get secret -n kubeflow training-operator-webhook-cert -o jsonpath='{.data.tls\.key}' | base64 -d >"$certs/tls.key"
      base64 -d <<<"$crt" >"$certs/tls.crt"
    fi
    ((SECONDS < deadline)) || { echo "bench: Kubeflow's controller did not start in 120 s" >&2; tail -n 30 "$work/$run.log" >&2; exit 1; }
    sleep 0.2
  done
}

previous=""
for ((round = 1; round <= runs; round++)); do
  for config in "${config_list[@]}"; do
    run="$config-$round"
    if [[ -n "$previous" ]]; then
      # Free the NPUs: the previous run's namespace goes, with its jobs and Pods.
      k delete namespace "$previous" --wait=true --timeout=600s >/dev/null
    fi
    ns="bench-$run"
    previous=$ns
    k create namespace "$ns" >/dev/null
    until k get serviceaccount default -n "$ns" >/dev/null 2>&1; do sleep 0.2; done
    kind=llamafactory
    driver=()
    case $config in
      ours) start_ours ;;
      kubeflow) start_kubeflow 1; kind=pytorchjob ;;
      kubeflow16) start_kubeflow 16; kind=pytorchjob ;;
      floor) driver=(--floor) ;;
    esac
    echo "bench: run $run (operator pid ${pid:-none}, load $(cut -d' ' -f1-3 /proc/loadavg))" >&2
    if [[ -n "$pid" ]]; then driver+=(--operator-pid "$pid" --operator-metrics "$metrics_url"); fi
    rc=0
    python3 "$here/operator_bench.py" --server "$server" --ca "$TESTBED_DIR/pki/ca.crt" \
      --cert "$TESTBED_DIR/pki/admin.crt" --key "$TESTBED_DIR/pki/admin.key" --namespace "$ns" \
      --jobs "$jobs" --two-rank-every "$every" --apply-connections "$connections" \
      --kind "$kind" --label "$config" --json "$out/$run.json" "${driver[@]}" >/dev/null || rc=$?
    stop_operator
    if ((rc != 0)); then
      echo "bench: run $run did not complete (see $out/$run.json); operator log tail:" >&2
      tail -n 20 "$work/$run.log" >&2 2>/dev/null || true
    fi
    cp "$work/$run.log" "$out/$run.log" 2>/dev/null || true
  done
done

echo "bench: figures in $out" >&2
files=()
for config in "${config_list[@]}"; do
  for ((round = 1; round <= runs; round++)); do
    [[ -f "$out/$config-$round.json" ]] && files+=("$out/$config-$round.json")
  done
done
python3 "$here/compare_report.py" "${files[@]}"
