#!/usr/bin/env bash
# llamafactory-operator end to end on the control-plane test bed, part 1: every job in
# deploy/examples/ applied as a user would, and what the operator makes of each (children,
# command, env, volumes, owners, endpoints).
# 6 nodes: the examples (28 chips, two whole nodes for the 2 x 8 job and one for the 8-chip
# LoRA job) fit however the scheduler spreads the small ones.
# tests/operator/e2e_lib.sh starts the test bed and the operator under the chart's RBAC.
#
# Usage: tests/operator/e2e_examples_test.sh path/to/llamafactory-operator
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/lib/check.sh
source "$here/../lib/check.sh"
E2E_NODES=6
# shellcheck source=tests/operator/e2e_lib.sh
source "$here/e2e_lib.sh"

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
# One rank serves no port and meets no other rank: no Service at all.
for svc in qwen-lora-sft qwen-lora-sft-workers; do
  if ek get service $svc >/dev/null 2>&1; then fail "Service $svc made for a single-rank train job"; fi
done
got=$(ejp pod $p '{.spec.containers[0].command}')
[[ "$got" == '["llamafactory-cli","train","/etc/llamafactory/config.yaml","logging_steps=10"]' ]] || fail "$p command: $got"
got=$(ejp pod $p '{.spec.containers[0].resources.limits.huawei\.com/Ascend910} {.spec.containers[0].resources.requests.huawei\.com/Ascend910} {.metadata.annotations.cluster-autoscaler\.kubernetes\.io/safe-to-evict} {.spec.containers[0].ports[*].name}')
[[ "$got" == "8 8 false webui api rendezvous" ]] || fail "$p NPUs/safe-to-evict/ports: $got"
env=$(env_of $p)
for want in FORCE_TORCHRUN=1 NNODES=1 NODE_RANK=0 NPROC_PER_NODE=8 \
  MASTER_ADDR=127.0.0.1 MASTER_PORT=29500 \
  GRADIO_SERVER_PORT=7860 API_PORT=8000 HF_ENDPOINT=https://hf-mirror.com; do
  [[ "$env" == *" $want "* ]] || fail "$p env lacks $want: $env"
done
got="$(vol $p huggingface-cache .persistentVolumeClaim.claimName) $(vol $p data .persistentVolumeClaim.claimName)/$(vol $p data .persistentVolumeClaim.readOnly) $(vol $p output .persistentVolumeClaim.claimName) $(vol $p modelscope-cache .emptyDir) $(vol $p config .configMap.name)"
[[ "$got" == "hf-cache datasets/true training-output {} qwen-lora-sft-config" ]] || fail "$p volumes: $got"
got=$(ejp pod $p '{range .spec.containers[0].volumeMounts[*]}{.name}:{.mountPath} {end}')
[[ "$got" == "huggingface-cache:/root/.cache/huggingface modelscope-cache:/root/.cache/modelscope data:/app/data output:/app/output dshm:/dev/shm config:/etc/llamafactory " ]] \
  || fail "$p mounts: $got"
check "example lora-sft-1node: ConfigMap holds the config, pod has the command, 8 NPUs, torchrun env (MASTER_ADDR loopback), PVC mounts, owner refs, no Service"

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
owned_by service llama3-full-sft-workers llama3-full-sft
if ek get service llama3-full-sft >/dev/null 2>&1; then fail "port Service made for a train job"; fi
check "example full-sft-2nodes: 2 ranks with NODE_RANK 0/1, requests cpu 64/512Gi/8 NPUs, recipe ConfigMap, hostPath cache, 64Gi /dev/shm, the rendezvous Service only"

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
# Only the serving modes publish, each the port it serves.
eps='{.status.endpoints.webui}|{.status.endpoints.api}'
got="$(ejp lfjob llama-board "$eps") $(ejp lfjob qwen-api "$eps")"
[[ "$got" == "http://llama-board.$EX.svc:7860| |http://qwen-api.$EX.svc:8000" ]] || fail "endpoints: $got"
for j in qwen-lora-sft llama3-full-sft qwen-export; do
  [[ -z "$(ejp lfjob $j '{.status.endpoints}')" ]] || fail "$j (no server) publishes endpoints: $(ejp lfjob $j '{.status.endpoints}')"
done
check "every example Running (full fine-tune on $n0 and $n1); endpoints $got"

ek delete -f "$root/deploy/examples/" --wait=false >/dev/null
wait_until "example pods gone" 90 bash -c "[[ -z \$('${kubectl[0]}' get pods -n $EX -o name) ]]"
k delete namespace "$EX" --wait=false >/dev/null
check "examples deleted; the garbage collector removed their pods"

operator_done
finish
