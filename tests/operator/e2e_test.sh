#!/usr/bin/env bash
# llamafactory-operator end to end on the control-plane test bed (real kube-apiserver with RBAC,
# scheduler, controller-manager, kwok nodes with 8 huawei.com/Ascend910 each). The operator runs
# as its own ServiceAccount with only the rules the Helm chart grants (charts/ascend-factory,
# rendered with helm template; deploy/rbac/operator.yaml is the same render).
#
# kwok ends a running Pod annotated testbed.ascendfactory.io/exit-code with that code after
# testbed.ascendfactory.io/run-for; jobs pass those through spec.podAnnotations.
#
# Usage: tests/operator/e2e_test.sh path/to/llamafactory-operator
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
operator_bin=${1:-}
[[ -x "$operator_bin" ]] || { echo "usage: $0 path/to/llamafactory-operator" >&2; exit 2; }
operator_bin=$(cd "$(dirname "$operator_bin")" && pwd)/$(basename "$operator_bin")
NS=e2e

pass=0
check() { echo "ok: $*"; pass=$((pass + 1)); }
fail() {
  echo "FAIL: $*" >&2
  if [[ -n "${oplog:-}" && -f "$oplog" ]]; then
    echo "--- last operator log lines ($oplog)" >&2
    tail -n 30 "$oplog" >&2
  fi
  exit 1
}

work=$(mktemp -d)
oplog=$work/operator.log
operator_pid=""
standby_pid=""
cleanup() {
  local rc=$1
  stop_operator KILL
  if [[ -n "$standby_pid" ]]; then kill -KILL "$standby_pid" 2>/dev/null || true; wait "$standby_pid" 2>/dev/null || true; fi
  if [[ -n "${TESTBED_DIR:-}" ]]; then
    if [[ $rc -ne 0 ]]; then
      export KEEP_TESTBED_LOGS=1
      cp "$oplog" "$TESTBED_DIR/logs/llamafactory-operator.log" 2>/dev/null || true
    fi
    "$root/tests/testbed/cluster.sh" down "$TESTBED_DIR" || true
  fi
  rm -rf "$work"
}
trap 'cleanup $?' EXIT

# 6 nodes: the examples (28 chips, two whole nodes for the 2 x 8 job and one for the 8-chip
# LoRA job) fit however the scheduler spreads the small ones.
"$root/tests/testbed/cluster.sh" up --nodes 6 --owner-pid $$ >"$work/env"
# shellcheck disable=SC1091
source "$work/env"
kubectl=("$TESTBED_BIN/kubectl")
k() { "${kubectl[@]}" "$@"; }

# wait_until DESCRIPTION TIMEOUT_S CMD...: poll CMD until it succeeds.
wait_until() {
  local what=$1 timeout=$2; shift 2
  local deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || fail "timed out after ${timeout}s waiting for $what"
    sleep 0.2
  done
}
jp() { k get "$1" -n "$NS" "$2" -o jsonpath="$3" 2>/dev/null; }
phase_is() { [[ "$(jp lfjob "$1" '{.status.phase}')" == "$2" ]]; }
pod_count() { k get pods -n "$NS" -l "ascendfactory.io/job-name=$1" -o name 2>/dev/null | wc -l; }
pod_count_is() { [[ "$(pod_count "$1")" == "$2" ]]; }

# --- install the CRD and the operator's RBAC, and log in as the operator's ServiceAccount
k apply -f "$root/crds/llamafactoryjobs.yaml" >/dev/null
k wait --for=condition=Established crd/llamafactoryjobs.ascendfactory.io --timeout=60s >/dev/null
k apply -f "$root/deploy/namespace.yaml" >/dev/null
"$TESTBED_BIN/helm" template ascend-factory "$root/charts/ascend-factory" -n ascend-factory \
  --show-only templates/operator-rbac.yaml | k apply -f - >/dev/null
k create namespace "$NS" >/dev/null
wait_until "ServiceAccount default in $NS" 60 k get serviceaccount default -n "$NS"
token=$(k create token llamafactory-operator -n ascend-factory --duration=2h)
server=$(k config view --minify -o jsonpath='{.clusters[0].cluster.server}')
cat >"$work/operator.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: testbed
  cluster: {server: "$server", certificate-authority: "$TESTBED_DIR/pki/ca.crt"}
users:
- name: llamafactory-operator
  user: {token: "$token"}
contexts:
- name: operator
  context: {cluster: testbed, user: llamafactory-operator, namespace: ascend-factory}
current-context: operator
EOF
as_operator=("$TESTBED_BIN/kubectl" --kubeconfig "$work/operator.kubeconfig")
if "${as_operator[@]}" get secrets -A >/dev/null 2>&1; then fail "the operator's identity may read secrets"; fi
"${as_operator[@]}" get lfjob -A >/dev/null 2>&1 || fail "the operator's identity cannot list jobs"
check "CRD and RBAC installed; the operator runs as ServiceAccount ascend-factory/llamafactory-operator (no secrets, jobs listable)"

read -r metrics_port health_port < <(python3 -c '
import socket; s=[socket.socket() for _ in range(2)]
[x.bind(("127.0.0.1",0)) for x in s]; print(*[x.getsockname()[1] for x in s])')
start_operator() {
  "$operator_bin" --kubeconfig "$work/operator.kubeconfig" \
    --default-image stand-in.invalid/llamafactory:never-pulled \
    --metrics-address "127.0.0.1:$metrics_port" --health-address "127.0.0.1:$health_port" \
    --identity "e2e-$1" --workers 2 >>"$oplog" 2>&1 &
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

start_operator 1
curl -fsS "http://127.0.0.1:$metrics_port/metrics" -o "$work/metrics"
grep -aq '^llamafactory_operator_' "$work/metrics" \
  || fail "/metrics has no llamafactory_operator_ families"
check "operator ready (/readyz), leading (Lease holder e2e-1), serving /metrics"

# --- startup taint: the cluster autoscaler's startup taint stays on a node until its
# allocatable shows the chips (the plugin registered), then the operator removes it, and only
# it. kwok keeps whatever status.allocatable it is given.
startup_taint=startup-taint.cluster-autoscaler.kubernetes.io/ascend-npu
tnode=$(k get nodes -o jsonpath='{.items[0].metadata.name}')
set_chips() {
  k patch node "$tnode" --subresource=status --type merge \
    -p "{\"status\":{\"allocatable\":{\"huawei.com/Ascend910\":\"$1\"}}}" >/dev/null
}
# (The keys are read whole before grep: `kubectl ... | grep -q` can kill kubectl with SIGPIPE,
# which pipefail turns into a failure.)
has_taint() {
  local keys
  keys=$(k get node "$tnode" -o jsonpath='{range .spec.taints[*]}{.key}{"\n"}{end}')
  grep -qx "$1" <<<"$keys"
}
no_startup_taint() { ! has_taint "$startup_taint"; }
set_chips 0
k taint node "$tnode" "$startup_taint=true:NoSchedule" e2e.ascendfactory.io/other=keep:NoSchedule >/dev/null
sleep 3  # the operator has seen the taint by now; it must leave it while no chip is allocatable
has_taint "$startup_taint" || fail "startup taint removed from $tnode before its chips showed"
set_chips 8
wait_until "the startup taint to leave $tnode" 30 no_startup_taint
has_taint e2e.ascendfactory.io/other || fail "the operator removed another taint from $tnode"
k taint node "$tnode" e2e.ascendfactory.io/other- >/dev/null
grep -q "removed the startup taint controller=node-readiness node=$tnode" "$oplog" \
  || fail "the operator did not log the taint removal"
got=$(curl -fsS "http://127.0.0.1:$metrics_port/metrics" | awk '$1 == "llamafactory_operator_startup_taints_removed_total" {print $2}')
[[ "${got%.*}" == 1 ]] || fail "startup_taints_removed_total is '$got', want 1"
check "startup taint on $tnode kept while huawei.com/Ascend910 allocatable was 0, removed (and only it) once it was 8"

# --- 0. every example in deploy/examples, applied as a user would, in its own namespace with
# the volumes and Secret the examples expect; then removed so the chips are free again.
EX=examples
ek() { k -n "$EX" "$@"; }
ejp() { k get "$1" -n "$EX" "$2" -o jsonpath="$3" 2>/dev/null; }
k create namespace "$EX" >/dev/null
wait_until "ServiceAccount default in $EX" 60 k get serviceaccount default -n "$EX"
for claim in hf-cache datasets training-output shared-output; do
  cat <<EOF | k apply -f - >/dev/null
apiVersion: v1
kind: PersistentVolume
metadata: {name: $EX-$claim}
spec:
  capacity: {storage: 1Ti}
  accessModes: [ReadWriteMany]
  storageClassName: ""
  hostPath: {path: /srv/$claim}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: $claim, namespace: $EX}
spec:
  accessModes: [ReadWriteMany]
  storageClassName: ""
  volumeName: $EX-$claim
  resources: {requests: {storage: 1Ti}}
EOF
done
ek create secret generic qwen-api-key --from-literal=key=sk-e2e >/dev/null
for claim in hf-cache datasets training-output shared-output; do
  wait_until "PVC $claim Bound" 60 bash -c "[[ \$('${kubectl[0]}' get pvc -n $EX $claim -o jsonpath='{.status.phase}') == Bound ]]"
done
out=$(ek apply -f "$root/deploy/examples/" 2>&1) || fail "kubectl apply -f deploy/examples: $out"
for want in qwen-lora-sft:1 llama3-full-sft:2 llama-board:1 qwen-api:1 qwen-export:1; do
  wait_until "${want%:*}: ${want#*:} pods" 30 bash -c \
    "[[ \$('${kubectl[0]}' get pods -n $EX -l ascendfactory.io/job-name=${want%:*} -o name | wc -l) == ${want#*:} ]]"
done
check "kubectl apply -f deploy/examples/: $(ls "$root"/deploy/examples/*.yaml | wc -l) files, every job got its pods"

# env_of POD: " NAME=value NAME=value ... " of the container (valueFrom entries as NAME=).
env_of() { echo " $(ejp pod "$1" '{range .spec.containers[0].env[*]}{.name}={.value} {end}')"; }
# owned_by KIND NAME JOB: the object's only controller owner reference is the job.
owned_by() {
  local got
  got=$(ejp "$1" "$2" '{range .metadata.ownerReferences[*]}{.kind}/{.name}/{.controller} {end}')
  [[ "$got" == "LlamaFactoryJob/$3/true " ]] || fail "$1 $2 owner references: '$got', want the job $3"
}
vol() { ejp pod "$1" "{.spec.volumes[?(@.name==\"$2\")]$3}"; }

# LoRA SFT on one node: the inline config as a ConfigMap, 8 NPUs, torchrun env, the PVCs.
cfg=$(ejp configmap qwen-lora-sft-config '{.data.config\.yaml}')
for want in '"model_name_or_path": "Qwen/Qwen2.5-7B-Instruct"' '"stage": "sft"' '"finetuning_type": "lora"' \
  '"template": "qwen"' '"dataset": "identity,alpaca_en_demo"' '"output_dir": "/app/output/qwen-lora-sft"' \
  '"learning_rate": 0.0001' '"bf16": true'; do
  [[ "$cfg" == *"$want"* ]] || fail "ConfigMap qwen-lora-sft-config lacks $want: $cfg"
done
p=qwen-lora-sft-worker-0
owned_by pod $p qwen-lora-sft
owned_by configmap qwen-lora-sft-config qwen-lora-sft
owned_by service qwen-lora-sft qwen-lora-sft
owned_by service qwen-lora-sft-workers qwen-lora-sft
got=$(ejp pod $p '{.spec.containers[0].command}')
[[ "$got" == '["llamafactory-cli","train","/etc/llamafactory/config.yaml","logging_steps=10"]' ]] || fail "$p command: $got"
got=$(ejp pod $p '{.spec.containers[0].resources.limits.huawei\.com/Ascend910} {.spec.containers[0].resources.requests.huawei\.com/Ascend910} {.metadata.annotations.cluster-autoscaler\.kubernetes\.io/safe-to-evict} {.spec.containers[0].ports[*].name}')
[[ "$got" == "8 8 false webui api rendezvous" ]] || fail "$p NPUs/safe-to-evict/ports: $got"
env=$(env_of $p)
for want in FORCE_TORCHRUN=1 NNODES=1 NODE_RANK=0 NPROC_PER_NODE=8 \
  "MASTER_ADDR=qwen-lora-sft-worker-0.qwen-lora-sft-workers.$EX.svc" MASTER_PORT=29500 \
  GRADIO_SERVER_PORT=7860 API_PORT=8000 HF_ENDPOINT=https://hf-mirror.com; do
  [[ "$env" == *" $want "* ]] || fail "$p env lacks $want: $env"
done
got="$(vol $p huggingface-cache .persistentVolumeClaim.claimName) $(vol $p data .persistentVolumeClaim.claimName)/$(vol $p data .persistentVolumeClaim.readOnly) $(vol $p output .persistentVolumeClaim.claimName) $(vol $p modelscope-cache .emptyDir) $(vol $p config .configMap.name)"
[[ "$got" == "hf-cache datasets/true training-output {} qwen-lora-sft-config" ]] || fail "$p volumes: $got"
got=$(ejp pod $p '{range .spec.containers[0].volumeMounts[*]}{.name}:{.mountPath} {end}')
[[ "$got" == "huggingface-cache:/root/.cache/huggingface modelscope-cache:/root/.cache/modelscope data:/app/data output:/app/output dshm:/dev/shm config:/etc/llamafactory " ]] \
  || fail "$p mounts: $got"
check "example lora-sft-1node: ConfigMap holds the config, pod has the command, 8 NPUs, torchrun env, PVC mounts, owner refs"

# Full fine-tune on 2 x 8: the user's ConfigMap mounted (no ConfigMap of ours), both ranks.
if ek get configmap llama3-full-sft-config >/dev/null 2>&1; then fail "the operator wrote a ConfigMap for a configMapRef job"; fi
for rank in 0 1; do
  p=llama3-full-sft-worker-$rank
  owned_by pod $p llama3-full-sft
  env=$(env_of $p)
  for want in FORCE_TORCHRUN=1 NNODES=2 "NODE_RANK=$rank" NPROC_PER_NODE=8 \
    "MASTER_ADDR=llama3-full-sft-worker-0.llama3-full-sft-workers.$EX.svc" MASTER_PORT=29500 HCCL_CONNECT_TIMEOUT=1200; do
    [[ "$env" == *" $want "* ]] || fail "$p env lacks $want: $env"
  done
  got=$(ejp pod $p '{.spec.containers[0].resources.requests.cpu} {.spec.containers[0].resources.requests.memory} {.spec.containers[0].resources.requests.huawei\.com/Ascend910} {.spec.containers[0].resources.limits.huawei\.com/Ascend910}')
  [[ "$got" == "64 512Gi 8 8" ]] || fail "$p resources: $got"
  got="$(vol $p config .configMap.name) $(vol $p config '.configMap.items[0].key')=>$(vol $p config '.configMap.items[0].path') $(vol $p huggingface-cache .hostPath.path) $(vol $p output .persistentVolumeClaim.claimName) $(vol $p dshm .emptyDir.medium)/$(vol $p dshm .emptyDir.sizeLimit)"
  [[ "$got" == "llama3-full-sft-recipe llama3_full_sft.yaml=>config.yaml /data/hf-cache shared-output Memory/64Gi" ]] \
    || fail "$p volumes: $got"
  got=$(ejp pod $p '{.spec.hostname}.{.spec.subdomain}')
  [[ "$got" == "$p.llama3-full-sft-workers" ]] || fail "$p hostname.subdomain: $got"
done
[[ "$(ejp service llama3-full-sft-workers '{.spec.clusterIP} {.spec.publishNotReadyAddresses}')" == "None true" ]] \
  || fail "headless Service llama3-full-sft-workers: $(ejp service llama3-full-sft-workers '{.spec}')"
check "example full-sft-2nodes: 2 ranks with NODE_RANK 0/1, requests cpu 64/512Gi/8 NPUs, recipe ConfigMap, hostPath cache, 64Gi /dev/shm"

# LLaMA Board: no config file, no torchrun, TCP readiness on 7860, NodePort Service.
p=llama-board-worker-0
got=$(ejp pod $p '{.spec.containers[0].command} {.spec.containers[0].readinessProbe.tcpSocket.port} {.metadata.annotations.cluster-autoscaler\.kubernetes\.io/safe-to-evict}')
[[ "$got" == '["llamafactory-cli","webui"] webui ' ]] || fail "$p command/readiness/annotation: $got"
env=$(env_of $p)
[[ "$env" == *" GRADIO_SERVER_PORT=7860 "* && "$env" != *FORCE_TORCHRUN* ]] || fail "$p env: $env"
[[ -z "$(vol $p config .name)" ]] || fail "$p mounts a config though the job has none"
if ek get configmap llama-board-config >/dev/null 2>&1; then fail "ConfigMap written for a job without config"; fi
got=$(ejp service llama-board '{.spec.type} {.spec.ports[*].port} {.spec.ports[*].targetPort} {.spec.selector.ascendfactory\.io/job-name}')
[[ "$got" == "NodePort 7860 8000 webui api llama-board" ]] || fail "Service llama-board: $got"
[[ "$(ejp service llama-board '{.spec.ports[0].nodePort}')" =~ ^[0-9]+$ ]] || fail "Service llama-board has no nodePort"
owned_by service llama-board llama-board
check "example webui: llamafactory-cli webui, TCP readiness on port webui, NodePort Service 7860/8000"

# API server: 2 NPUs, the key from the Secret, read-only output, TCP readiness on 8000.
p=qwen-api-worker-0
got=$(ejp pod $p '{.spec.containers[0].command} {.spec.containers[0].readinessProbe.tcpSocket.port} {.spec.containers[0].resources.limits.huawei\.com/Ascend910}')
[[ "$got" == '["llamafactory-cli","api","/etc/llamafactory/config.yaml"] api 2' ]] || fail "$p: $got"
got=$(ejp pod $p '{.spec.containers[0].env[?(@.name=="API_KEY")].valueFrom.secretKeyRef.name}/{.spec.containers[0].env[?(@.name=="API_KEY")].valueFrom.secretKeyRef.key}')
[[ "$got" == "qwen-api-key/key" ]] || fail "$p API_KEY: $got"
env=$(env_of $p)
[[ "$env" == *" API_PORT=8000 "* && "$env" == *" API_MODEL_NAME=qwen-lora "* && "$env" != *NNODES* ]] || fail "$p env: $env"
[[ "$(vol $p output .persistentVolumeClaim.claimName)/$(vol $p output .persistentVolumeClaim.readOnly)" == "training-output/true" ]] \
  || fail "$p output volume: $(vol $p output '')"
[[ "$(ejp configmap qwen-api-config '{.data.config\.yaml}')" == *'"adapter_name_or_path": "/app/output/qwen-lora-sft"'* ]] \
  || fail "ConfigMap qwen-api-config: $(ejp configmap qwen-api-config '{.data}')"
check "example api: llamafactory-cli api with its config, API_KEY from the Secret, TCP readiness on port api, 2 NPUs"

# Export: one run of llamafactory-cli export with the config; no probe, no torchrun.
p=qwen-export-worker-0
got=$(ejp pod $p '{.spec.containers[0].command} {.spec.containers[0].readinessProbe}')
[[ "$got" == '["llamafactory-cli","export","/etc/llamafactory/config.yaml"] ' ]] || fail "$p: $got"
[[ "$(env_of $p)" != *FORCE_TORCHRUN* ]] || fail "$p has torchrun env"
[[ "$(ejp configmap qwen-export-config '{.data.config\.yaml}')" == *'"export_dir": "/app/output/qwen-merged"'* ]] \
  || fail "ConfigMap qwen-export-config: $(ejp configmap qwen-export-config '{.data}')"
check "example export: llamafactory-cli export with export_dir in its ConfigMap"

# With their volumes bound, every example is scheduled and runs; servers publish endpoints.
for j in qwen-lora-sft llama3-full-sft llama-board qwen-api qwen-export; do
  wait_until "example $j Running" 60 bash -c "[[ \$('${kubectl[0]}' get lfjob -n $EX $j -o jsonpath='{.status.phase}') == Running ]]"
done
nodes=$(ek get pods -l ascendfactory.io/job-name=llama3-full-sft -o jsonpath='{.items[*].spec.nodeName}')
read -r n0 n1 <<<"$nodes"
[[ -n "$n0" && "$n0" != "$n1" ]] || fail "ranks of llama3-full-sft on nodes '$n0' and '$n1'"
got="$(ejp lfjob llama-board '{.status.endpoints.webui}') $(ejp lfjob qwen-api '{.status.endpoints.api}')"
[[ "$got" == "http://llama-board.$EX.svc:7860 http://qwen-api.$EX.svc:8000" ]] || fail "endpoints: $got"
check "every example Running (full fine-tune on $n0 and $n1); endpoints $got"

ek delete -f "$root/deploy/examples/" --wait=false >/dev/null
wait_until "example pods gone" 90 bash -c "[[ -z \$('${kubectl[0]}' get pods -n $EX -o name) ]]"
k delete namespace "$EX" --wait=false >/dev/null
check "examples deleted; the garbage collector removed their pods"

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

# --- 1. a one-node train job: children created, Running, then Succeeded
job one 1 2 0 8s
wait_until "pod one-worker-0" 30 k get pod -n "$NS" one-worker-0
[[ "$(jp configmap one-config '{.data.config\.yaml}')" == *'"finetuning_type": "lora"'* ]] \
  || fail "ConfigMap one-config: $(jp configmap one-config '{.data}')"
[[ "$(jp service one-workers '{.spec.clusterIP} {.spec.publishNotReadyAddresses}')" == "None true" ]] \
  || fail "headless Service one-workers: $(jp service one-workers '{.spec}')"
[[ "$(jp service one '{.spec.type} {.spec.ports[*].port}')" == "ClusterIP 7860 8000" ]] \
  || fail "Service one: $(jp service one '{.spec}')"
owners=$(jp pod one-worker-0 '{range .metadata.ownerReferences[*]}{.kind}/{.name}/{.controller} {end}')
[[ "$owners" == "LlamaFactoryJob/one/true " ]] || fail "pod owner references: '$owners'"
for obj in "configmap one-config" "service one" "service one-workers"; do
  read -r kind name <<<"$obj"
  [[ "$(jp "$kind" "$name" '{.metadata.ownerReferences[0].name}')" == one ]] || fail "$kind $name not owned by job one"
done
got=$(jp pod one-worker-0 '{.spec.containers[0].command}')
[[ "$got" == '["llamafactory-cli","train","/etc/llamafactory/config.yaml","logging_steps=5"]' ]] || fail "command: $got"
got=$(jp pod one-worker-0 '{.spec.containers[0].resources.limits.huawei\.com/Ascend910} {.spec.containers[0].ports[*].containerPort} {.metadata.annotations.cluster-autoscaler\.kubernetes\.io/safe-to-evict}')
[[ "$got" == "2 7860 8000 29500 false" ]] || fail "limits/ports/safe-to-evict: $got"
got=$(jp pod one-worker-0 '{range .spec.containers[0].volumeMounts[*]}{.mountPath} {end}')
[[ "$got" == "/root/.cache/huggingface /root/.cache/modelscope /app/data /app/output /dev/shm /etc/llamafactory " ]] \
  || fail "mounts: $got"
[[ "$(jp pod one-worker-0 '{.spec.volumes[?(@.name=="dshm")].emptyDir.medium}')" == Memory ]] || fail "/dev/shm not memory-backed"
check "job one: Pod, ConfigMap, headless and workload Services created, owned by the job; command, NPUs, ports, mounts right"

# Running may be short (the pod exits after its run-for): passing through it is proven by the
# Running event checked below.
wait_until "job one Running or Succeeded" 30 bash -c \
  "[[ \$('${kubectl[0]}' get lfjob -n $NS one -o jsonpath='{.status.phase}') =~ ^(Running|Succeeded)\$ ]]"
wait_until "job one Succeeded" 60 phase_is one Succeeded
got=$(jp lfjob one '{.status.ranks.succeeded} {.status.restarts} {.status.conditions[?(@.type=="Succeeded")].status} {.status.observedGeneration}')
[[ "$got" == "1 0 True 1" ]] || fail "job one status: $got"
[[ -n "$(jp lfjob one '{.status.completionTime}')" ]] || fail "job one has no completionTime"
[[ "$(jp lfjob one '{.status.endpoints.api}')" == "http://one.$NS.svc:8000" ]] || fail "endpoints: $(jp lfjob one '{.status.endpoints}')"
pod_count_is one 1 || fail "job one: $(pod_count one) pods after success, want the finished one kept"
check "job one: Pending -> Running -> Succeeded, status has ranks, conditions, completionTime, endpoints"

events=$(k get events.events.k8s.io -n "$NS" -o jsonpath='{.items[?(@.regarding.name=="one")].reason}')
for r in JobCreated Running AllRanksSucceeded; do [[ "$events" == *"$r"* ]] || fail "no $r event for job one (have: $events)"; done
check "events recorded: $events"

# --- 2. two nodes x 8 NPUs: rank env and rendezvous
job two 2 8 0 300s
wait_until "2 pods of job two" 30 pod_count_is two 2
for rank in 0 1; do
  env=$(jp pod "two-worker-$rank" '{range .spec.containers[0].env[*]}{.name}={.value} {end}')
  for want in FORCE_TORCHRUN=1 NNODES=2 "NODE_RANK=$rank" NPROC_PER_NODE=8 \
    "MASTER_ADDR=two-worker-0.two-workers.$NS.svc" MASTER_PORT=29500 GRADIO_SERVER_PORT=7860 API_PORT=8000 \
    HF_ENDPOINT=https://hf-mirror.example; do
    [[ " $env" == *" $want "* ]] || fail "two-worker-$rank env lacks $want: $env"
  done
  got=$(jp pod "two-worker-$rank" '{.spec.hostname}.{.spec.subdomain} {.metadata.labels.ascendfactory\.io/node-rank} {.spec.containers[0].resources.limits.huawei\.com/Ascend910}')
  [[ "$got" == "two-worker-$rank.two-workers $rank 8" ]] || fail "two-worker-$rank: $got"
done
wait_until "job two Running" 60 phase_is two Running
nodes=$(k get pods -n "$NS" -l ascendfactory.io/job-name=two -o jsonpath='{.items[*].spec.nodeName}')
read -r n0 n1 <<<"$nodes"
[[ "$n0" != "$n1" ]] || fail "both ranks of job two on node $n0 (8 NPUs each must not fit one node)"
check "job two: 2 ranks with NNODES/NODE_RANK/NPROC_PER_NODE/MASTER_ADDR/MASTER_PORT right, on nodes $n0 and $n1, Running"

# --- 3. failures by policy: retryable codes restart up to maxRestarts; 1-127 are permanent
job crash 1 1 137 1s "restartPolicy: ExitCode, maxRestarts: 2"
job typo 1 1 2 1s "restartPolicy: ExitCode, maxRestarts: 5"
wait_until "job typo Failed" 60 phase_is typo Failed
got=$(jp lfjob typo '{.status.conditions[?(@.type=="Failed")].reason} {.status.restarts} {.status.lastFailure.exitCode}')
[[ "$got" == "NonRetryableExitCode 0 2" ]] || fail "job typo: $got"
check "job typo: exit code 2 under ExitCode -> Failed NonRetryableExitCode, no restart"
wait_until "job crash Failed" 120 phase_is crash Failed
got=$(jp lfjob crash '{.status.conditions[?(@.type=="Failed")].reason} {.status.restarts} {.status.lastFailure.exitCode} {.status.lastFailure.pod} {.status.rankAttempts}')
[[ "$got" == "MaxRestartsExceeded 2 137 crash-worker-0 [2]" ]] || fail "job crash: $got"
[[ "$(jp pod crash-worker-0 '{.metadata.labels.ascendfactory\.io/attempt} {.status.phase}')" == "2 Failed" ]] \
  || fail "crash-worker-0 should be attempt 2, Failed, kept for its logs"
events=$(k get events.events.k8s.io -n "$NS" -o jsonpath='{.items[?(@.regarding.name=="crash")].reason}')
[[ "$events" == *Restarting* && "$events" == *MaxRestartsExceeded* ]] || fail "crash events: $events"
check "job crash: exit 137 restarted twice, then Failed MaxRestartsExceeded with exit code 137 in status"

# --- 4. kill -9 the operator mid-job; change things while it is down; restart: no duplicates
uids_before=$(k get pods -n "$NS" -l ascendfactory.io/job-name=two -o jsonpath='{.items[*].metadata.uid}')
stop_operator KILL
job late 1 1 0 300s  # created while the operator is gone
k delete pod -n "$NS" two-worker-1 --wait=false >/dev/null  # a lost rank
sleep 2
pod_count_is late 0 || fail "a pod for job late appeared while the operator was down"
start_operator 2
wait_until "job late Running" 60 phase_is late Running
wait_until "job two back to 2 pods" 60 pod_count_is two 2
sleep 3  # let a duplicate, if any were made, show up
pod_count_is late 1 || fail "job late has $(pod_count late) pods, want 1"
pod_count_is two 2 || fail "job two has $(pod_count two) pods, want 2"
uid0_after=$(jp pod two-worker-0 '{.metadata.uid}')
[[ " $uids_before " == *" $uid0_after "* ]] || fail "two-worker-0 was re-created (uids before: $uids_before, now $uid0_after)"
wait_until "job two Running again" 60 phase_is two Running
[[ "$(jp lfjob two '{.status.restarts}')" == 0 ]] || fail "a deleted pod must not spend the restart budget"
pod_count_is one 1 || fail "finished job one lost or gained pods across the restart"
check "operator killed (-9) and restarted: job late started once, two's lost rank re-created, no duplicates, survivors kept"

# --- 5. suspend and resume
k patch lfjob -n "$NS" late --type merge -p '{"spec":{"runPolicy":{"suspend":true}}}' >/dev/null
wait_until "job late Suspended" 30 phase_is late Suspended
wait_until "job late without pods" 30 pod_count_is late 0
[[ "$(jp lfjob late '{.status.conditions[?(@.type=="Suspended")].status}')" == True ]] || fail "Suspended condition not True"
k patch lfjob -n "$NS" late --type merge -p '{"spec":{"runPolicy":{"suspend":false}}}' >/dev/null
wait_until "job late Running after resume" 60 phase_is late Running
pod_count_is late 1 || fail "job late has $(pod_count late) pods after resume"
got=$(jp lfjob late '{.status.conditions[?(@.type=="Suspended")].status}/{.status.conditions[?(@.type=="Suspended")].reason} {.status.restarts}')
[[ "$got" == "False/Resumed 0" ]] || fail "after resume: $got"
check "job late: suspend deletes its pod (phase Suspended), resume re-creates it (Running, no restart counted)"

# --- 6. the API server restarts: the operator converges. If the apiserver was away longer than
# the renew deadline (10 s), the operator must give up leadership and exit non-zero (client-go's
# rule: nothing may act as a second leader); its Deployment would start it again, so do that.
"$root/tests/testbed/cluster.sh" restart "$TESTBED_DIR" kube-apiserver >/dev/null 2>&1
job after 1 1 0 2s
how="kept running"
deadline=$((SECONDS + 120))
until phase_is after Succeeded; do
  ((SECONDS < deadline)) || fail "timed out waiting for job after to succeed after the apiserver restart"
  if [[ -n "$operator_pid" ]] && ! kill -0 "$operator_pid" 2>/dev/null; then
    rc=0; wait "$operator_pid" || rc=$?
    operator_pid=""
    ((rc == 1)) || fail "the operator exited with $rc across the apiserver restart, want 1 (lease lost)"
    grep -q "lost the lease; exiting" "$oplog" || fail "the operator exited without saying it lost the lease"
    how="gave up the lease and exited 1, was restarted"
    start_operator 3
  fi
  sleep 0.3
done
pod_count_is two 2 || fail "job two has $(pod_count two) pods after the apiserver restart"
check "kube-apiserver restarted: the operator $how and finished a new job; job two still has 2 pods"

# --- 7. TTL: a finished job is deleted with its Pods
job brief 1 1 0 1s "ttlSecondsAfterFinished: 2"
wait_until "job brief deleted after its TTL" 60 bash -c "! '${kubectl[0]}' get lfjob -n $NS brief"
check "job brief deleted ttlSecondsAfterFinished after it succeeded"

# --- 8. two replicas: the standby syncs its caches but does not act; kill -9 the leader (the
# lease is not released) and the standby takes over after the lease expires, without duplicates
read -r standby_metrics standby_health < <(python3 -c '
import socket; s=[socket.socket() for _ in range(2)]
[x.bind(("127.0.0.1",0)) for x in s]; print(*[x.getsockname()[1] for x in s])')
"$operator_bin" --kubeconfig "$work/operator.kubeconfig" \
  --default-image stand-in.invalid/llamafactory:never-pulled \
  --metrics-address "127.0.0.1:$standby_metrics" --health-address "127.0.0.1:$standby_health" \
  --identity e2e-standby --workers 2 >>"$work/standby.log" 2>&1 &
standby_pid=$!
wait_until "standby /readyz" 60 curl -fsS --max-time 1 "http://127.0.0.1:$standby_health/readyz"
leader=$(k get lease -n ascend-factory llamafactory-operator -o jsonpath='{.spec.holderIdentity}')
[[ "$leader" != e2e-standby ]] || fail "the standby took the lease from a live leader"
job pair 2 1 0 300s
wait_until "2 pods of job pair" 30 pod_count_is pair 2
wait_until "job pair Running" 60 phase_is pair Running
if grep -q "created pod\|phase controller" "$work/standby.log"; then fail "the standby acted while $leader led: $(grep -m 3 'created pod\|phase controller' "$work/standby.log")"; fi
stop_operator KILL
job handover 1 1 0 300s
wait_until "the standby to take the lease" 60 bash -c \
  "'${kubectl[0]}' get lease -n ascend-factory llamafactory-operator -o jsonpath='{.spec.holderIdentity}' | grep -qx e2e-standby"
wait_until "job handover Running" 60 phase_is handover Running
sleep 3  # let a duplicate, if any were made, show up
for want in pair:2 handover:1 two:2 late:1; do
  pod_count_is "${want%:*}" "${want#*:}" || fail "job ${want%:*} has $(pod_count "${want%:*}") pods after the handover, want ${want#*:}"
done
grep -q "created pod controller=lfjob key=$NS/handover" "$work/standby.log" || fail "the standby did not create handover's pod"
operator_pid=$standby_pid standby_pid="" metrics_port=$standby_metrics
check "two replicas: standby idle while $leader led; after kill -9 of the leader it took the lease and ran job handover; no duplicate pods"

# --- /metrics: jobs by phase match what the API server holds; reconcile outcomes are counted
metric() { curl -fsS --max-time 2 "http://127.0.0.1:$metrics_port/metrics" | awk -v s="$1" '$1 == s {print $2}'; }
phases_match() {
  local phase want got
  for phase in Pending Running Restarting Succeeded Failed Suspended; do
    want=$(k get lfjob -A -o jsonpath='{range .items[*]}{.status.phase}{"\n"}{end}' | grep -cx "$phase" || true)
    got=$(metric "llamafactory_operator_jobs{phase=\"$phase\"}")
    [[ "${got%.*}" == "$want" ]] || { echo "phase $phase: metric '$got', API server $want"; return 1; }
  done
}
wait_until "llamafactory_operator_jobs to match the jobs' phases" 30 phases_match
summary=$(k get lfjob -A -o jsonpath='{range .items[*]}{.status.phase}{"\n"}{end}' | sort | uniq -c | awk '{printf "%s=%s ", $2, $1}')
[[ "$summary" == *Succeeded=* && "$summary" == *Failed=* && "$summary" == *Running=* ]] || fail "expected Running, Succeeded and Failed jobs by now: $summary"
got=$(metric 'llamafactory_operator_reconcile_total{controller="lfjob",result="success"}')
[[ "${got%.*}" =~ ^[0-9]+$ && ${got%.*} -gt 0 ]] || fail "reconcile_total{result=success}: '$got'"
for series in llamafactory_operator_pods_created_total 'llamafactory_operator_status_writes_total{result="written"}'; do
  got=$(metric "$series")
  [[ "${got%.*}" =~ ^[0-9]+$ && ${got%.*} -gt 0 ]] || fail "$series: '$got'"
done
check "/metrics: llamafactory_operator_jobs{phase} matches the API server ($summary); reconciles, pod creations and status writes counted"

# --- the operator never hit a permission it lacked, and stops cleanly
if grep -qi "forbidden" "$oplog" "$work/standby.log"; then fail "the operator was refused something: $(grep -hi forbidden "$oplog" "$work/standby.log" | head -n 3)"; fi
stop_operator TERM
holder=$(k get lease -n ascend-factory llamafactory-operator -o jsonpath='{.spec.holderIdentity}')
[[ -z "$holder" ]] || fail "lease still held by '$holder' after SIGTERM (should be released)"
check "no forbidden requests in the operator log; SIGTERM released the lease"

echo "$pass passed, 0 failed"
