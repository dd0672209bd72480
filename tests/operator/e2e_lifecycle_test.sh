#!/usr/bin/env bash
# llamafactory-operator end to end on the control-plane test bed, part 2: the lifecycle of
# jobs. The startup taint, a one-node job to Succeeded, a 2 x 8 job's ranks, failures by
# restart policy, TTL, and /metrics against the API server.
# tests/operator/e2e_lib.sh starts the test bed and the operator under the chart's RBAC.
#
# Usage: tests/operator/e2e_lifecycle_test.sh path/to/llamafactory-operator
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/lib/check.sh
source "$here/../lib/check.sh"
E2E_NODES=6
# shellcheck source=tests/operator/e2e_lib.sh
source "$here/e2e_lib.sh"

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

# --- 1. a one-node train job: children created, Running, then Succeeded
job one 1 2 0 8s
wait_until "pod one-worker-0" 30 k get pod -n "$NS" one-worker-0
[[ "$(jp configmap one-config '{.data.config\.yaml}')" == *'"finetuning_type": "lora"'* ]] \
  || fail "ConfigMap one-config: $(jp configmap one-config '{.data}')"
# A single-rank train job serves no port and meets no other rank: no Service.
for svc in one one-workers; do
  if k get service -n "$NS" "$svc" >/dev/null 2>&1; then fail "Service $svc made for a single-rank train job"; fi
done
owners=$(jp pod one-worker-0 '{range .metadata.ownerReferences[*]}{.kind}/{.name}/{.controller} {end}')
[[ "$owners" == "LlamaFactoryJob/one/true " ]] || fail "pod owner references: '$owners'"
for obj in "configmap one-config"; do
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
check "job one: Pod and ConfigMap created, owned by the job, no Service; command, NPUs, ports, mounts right"

# Running may be short (the pod exits after its run-for): passing through it is proven by the
# Running event checked below.
wait_until "job one Running or Succeeded" 30 bash -c \
  "[[ \$('${kubectl[0]}' get lfjob -n $NS one -o jsonpath='{.status.phase}') =~ ^(Running|Succeeded)\$ ]]"
wait_until "job one Succeeded" 60 phase_is one Succeeded
got=$(jp lfjob one '{.status.ranks.succeeded} {.status.restarts} {.status.conditions[?(@.type=="Succeeded")].status} {.status.observedGeneration}')
[[ "$got" == "1 0 True 1" ]] || fail "job one status: $got"
[[ -n "$(jp lfjob one '{.status.completionTime}')" ]] || fail "job one has no completionTime"
[[ "$(jp lfjob one '{.status.conditions[?(@.type=="OutputPersistent")].reason}')" == EmptyDirOutput ]] \
  || fail "job one (emptyDir output): no OutputPersistent condition: $(jp lfjob one '{.status.conditions}')"
[[ -z "$(jp lfjob one '{.status.endpoints}')" ]] || fail "a train job publishes endpoints: $(jp lfjob one '{.status.endpoints}')"
pod_count_is one 1 || fail "job one: $(pod_count one) pods after success, want the finished one kept"
check "job one: Running -> Succeeded, status has ranks, conditions, completionTime, no endpoints (train serves nothing)"

events=$(k get events.events.k8s.io -n "$NS" -o jsonpath='{.items[?(@.regarding.name=="one")].reason}')
for r in JobCreated OutputNotPersistent Running AllRanksSucceeded; do [[ "$events" == *"$r"* ]] || fail "no $r event for job one (have: $events)"; done
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
[[ "$(jp service two-workers '{.spec.clusterIP} {.spec.publishNotReadyAddresses} {.metadata.ownerReferences[0].name}')" == "None true two" ]] \
  || fail "headless Service two-workers: $(jp service two-workers '{.spec}')"
if k get service -n "$NS" two >/dev/null 2>&1; then fail "port Service made for train job two"; fi
nodes=$(k get pods -n "$NS" -l ascendfactory.io/job-name=two -o jsonpath='{.items[*].spec.nodeName}')
read -r n0 n1 <<<"$nodes"
[[ "$n0" != "$n1" ]] || fail "both ranks of job two on node $n0 (8 NPUs each must not fit one node)"
check "job two: 2 ranks with NNODES/NODE_RANK/NPROC_PER_NODE/MASTER_ADDR/MASTER_PORT right, its headless Service (no port Service), on nodes $n0 and $n1, Running"

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

# --- 7. TTL: a finished job is deleted with its Pods
job brief 1 1 0 1s "ttlSecondsAfterFinished: 2"
wait_until "job brief deleted after its TTL" 60 bash -c "! '${kubectl[0]}' get lfjob -n $NS brief"
check "job brief deleted ttlSecondsAfterFinished after it succeeded"

# --- /metrics: jobs by phase match what the API server holds; reconcile outcomes are counted
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

operator_done
finish
