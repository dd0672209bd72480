#!/usr/bin/env bash
# operator.kueue: LlamaFactoryJob as a Kueue workload, on the control-plane test bed with the
# real Kueue (tests/testbed/kueue.sh, sigs.k8s.io/kueue built from the Go module proxy) and the
# real operator under its chart ServiceAccount. Four kwok nodes with 8 huawei.com/Ascend910
# each: ascend-node-0/1 labelled npu-pool=a, ascend-node-2/3 npu-pool=b.
#
#   5. a queue that does not exist: the job is Queued, no Pods, and its condition says so;
#   1. a ClusterQueue of 16 NPUs (flavor pool-a): of two 2 x 8 jobs the first runs, the
#      second is Queued with no Pods until the first finishes (its Workload Finished);
#   2. a high-priority job (WorkloadPriorityClass) preempts a running low-priority one: its
#      Pods go, it is Queued again with restarts unchanged and evictions 1, and runs again
#      once the high one finished;
#   4. deleting a running job and a queued one releases their quota (Workloads collected); a
#      job resized while Queued is admitted with its new size; suspend gives the quota back;
#      the operator killed mid-admission and restarted makes no duplicate Pod or Workload;
#   3. two ResourceFlavors on different node labels: each job's Pods land on the nodes of
#      the flavor Kueue assigned.
#
# Usage: tests/operator/kueue_test.sh path/to/llamafactory-operator
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/lib/check.sh
source "$here/../lib/check.sh"

E2E_NODES=4
before_operator() {
  "$testlib_root/tests/testbed/kueue.sh" up "$TESTBED_DIR" >"$work/kueue.env" || fail "Kueue did not start"
  check "Kueue running (CRDs Established, webhooks served at 127.0.0.1, metrics certificate in its own mount namespace)"
}
# shellcheck source=tests/operator/e2e_lib.sh
source "$here/e2e_lib.sh"

[[ ! -e /etc/kueue ]] || fail "/etc/kueue exists on this machine: the test bed must not write the machine's /etc"
grep -q '"kueue integration".*enabled=true\|kueue integration.*enabled=true' "$oplog" \
  || fail "the operator did not turn its Kueue integration on: $(grep -i kueue "$oplog" | head -n 3)"
check "the operator found Kueue's API at start (--kueue=auto); the machine's /etc has no /etc/kueue"

# --- quota objects
k label node ascend-node-0 ascend-node-1 npu-pool=a --overwrite >/dev/null
k label node ascend-node-2 ascend-node-3 npu-pool=b --overwrite >/dev/null
k apply -f - >/dev/null <<EOF
apiVersion: kueue.x-k8s.io/v1beta2
kind: ResourceFlavor
metadata: {name: pool-a}
spec: {nodeLabels: {npu-pool: a}}
---
apiVersion: kueue.x-k8s.io/v1beta2
kind: ResourceFlavor
metadata: {name: pool-b}
spec: {nodeLabels: {npu-pool: b}}
---
apiVersion: kueue.x-k8s.io/v1beta2
kind: ClusterQueue
metadata: {name: npu}
spec:
  namespaceSelector: {}
  preemption: {withinClusterQueue: LowerPriority}
  resourceGroups:
  - coveredResources: [huawei.com/Ascend910]
    flavors:
    - name: pool-a
      resources: [{name: huawei.com/Ascend910, nominalQuota: 16}]
---
apiVersion: kueue.x-k8s.io/v1beta2
kind: LocalQueue
metadata: {name: team, namespace: $NS}
spec: {clusterQueue: npu}
---
apiVersion: kueue.x-k8s.io/v1beta2
kind: WorkloadPriorityClass
metadata: {name: low}
value: 100
---
apiVersion: kueue.x-k8s.io/v1beta2
kind: WorkloadPriorityClass
metadata: {name: high}
value: 1000
EOF
cq_active() { [[ $(k get clusterqueue npu -o jsonpath='{.status.conditions[?(@.type=="Active")].status}') == True ]]; }
wait_until "ClusterQueue npu Active" 60 cq_active

# qjob NAME QUEUE NODES [EXIT RUN_FOR] [PRIORITY_CLASS]: a 8-NPU-per-rank train job in QUEUE;
# without EXIT its Pods run until deleted.
qjob() {
  local name=$1 queue=$2 nodes=$3 code=${4:-} run_for=${5:-} priority=${6:-}
  {
    cat <<EOF
apiVersion: ascendfactory.io/v1alpha1
kind: LlamaFactoryJob
metadata:
  name: $name
  labels:
    kueue.x-k8s.io/queue-name: $queue
EOF
    [[ -z "$priority" ]] || echo "    kueue.x-k8s.io/priority-class: $priority"
    cat <<EOF
spec:
  mode: train
  nodes: $nodes
  npusPerNode: 8
  config: {model_name_or_path: Qwen/Qwen2.5-0.5B, stage: sft, finetuning_type: lora}
EOF
    if [[ -n "$code" ]]; then
      echo "  podAnnotations: {testbed.ascendfactory.io/exit-code: \"$code\", testbed.ascendfactory.io/run-for: \"$run_for\"}"
    fi
  } | k apply -n "$NS" -f - >/dev/null
}
workloads_of() { k get workloads.kueue.x-k8s.io -n "$NS" -l "ascendfactory.io/job-name=$1" -o name 2>/dev/null | wc -l; }
workloads_of_is() { [[ "$(workloads_of "$1")" == "$2" ]]; }
workload_of() { jp lfjob "$1" '{.status.queue.workload}'; }
admitted_message() { jp lfjob "$1" '{.status.conditions[?(@.type=="Admitted")].message}'; }
running_pods() { k get pods -n "$NS" -l "ascendfactory.io/job-name=$1" --field-selector=status.phase=Running -o name 2>/dev/null | wc -l; }
running_pods_is() { [[ "$(running_pods "$1")" == "$2" ]]; }
# nodes_of JOB: the pool label of the node of each of its Pods, sorted and unique.
pools_of() {
  local node
  for node in $(k get pods -n "$NS" -l "ascendfactory.io/job-name=$1" -o jsonpath='{range .items[*]}{.spec.nodeName}{"\n"}{end}'); do
    k get node "$node" -o jsonpath='{.metadata.labels.npu-pool}{"\n"}'
  done | sort -u | paste -sd' '
}
cq_usage() { k get clusterqueue "$1" -o jsonpath='{.status.flavorsUsage[*].resources[?(@.name=="huawei.com/Ascend910")].total}'; }
cq_usage_is() { [[ "$(cq_usage "$1")" == "$2" ]]; }

# --- 5. a queue that does not exist
qjob lost nowhere 1
wait_until "job lost Queued" 60 phase_is lost Queued
wait_until "job lost to say its LocalQueue does not exist" 60 bash -c \
  "'${kubectl[0]}' get lfjob -n $NS lost -o jsonpath='{.status.conditions[?(@.type==\"Admitted\")].message}' | grep -q \"LocalQueue nowhere doesn't exist\""
msg=$(admitted_message lost)
[[ "$msg" == *"waiting in LocalQueue nowhere"* ]] || fail "the condition does not name the queue: $msg"
pod_count_is lost 0 || fail "job lost has Pods while Queued"
row=$(k get lfjob -n "$NS" lost --no-headers)
[[ "$row" == *Queued*nowhere* ]] || fail "kubectl get lfjob does not show the phase and the queue: $row"
check "5. nonexistent queue: Queued, no Pods, Admitted=False says \"$msg\"; kubectl get lfjob: $(echo "$row" | tr -s ' ')"
k delete lfjob -n "$NS" lost >/dev/null
wait_until "the Workload of job lost collected" 60 workloads_of_is lost 0

# --- 1. 16 NPUs, two 2 x 8 jobs
qjob first team 2 0 20s low
wait_until "job first Running" 60 phase_is first Running
qjob second team 2 "" "" low
wait_until "job second Queued" 60 phase_is second Queued
wait_until "job second to say why it waits" 30 bash -c \
  "'${kubectl[0]}' get lfjob -n $NS second -o jsonpath='{.status.conditions[?(@.type==\"Admitted\")].message}' | grep -q 'insufficient'"
wait_stable "job second's Pods" 3 30 pod_count second
pod_count_is second 0 || fail "job second has $(pod_count second) Pods while Queued"
[[ "$(pools_of first)" == a ]] || fail "job first's Pods are not on pool-a nodes: $(pools_of first)"
[[ "$(jp workloads.kueue.x-k8s.io "$(workload_of first)" '{.metadata.ownerReferences[0].kind}/{.metadata.ownerReferences[0].name}/{.metadata.ownerReferences[0].controller}')" == "LlamaFactoryJob/first/true" ]] \
  || fail "job first's Workload is not controlled by the job"
[[ "$(jp workloads.kueue.x-k8s.io "$(workload_of first)" '{.spec.podSets[0].count}')" == 2 ]] || fail "job first's Workload pod set count is not 2"
check "1. of two 2 x 8 jobs in a 16-NPU ClusterQueue the first runs (2 Pods on pool-a), the second is Queued with 0 Pods: $(admitted_message second | cut -c1-120)"
wait_until "job first Succeeded" 90 phase_is first Succeeded
finished() { [[ $(jp workloads.kueue.x-k8s.io "$(workload_of first)" '{.status.conditions[?(@.type=="Finished")].status}') == True ]]; }
wait_until "job first's Workload Finished" 30 finished
wait_until "job second Running once first finished" 60 phase_is second Running
running_pods_is second 2 || fail "job second runs $(running_pods second) Pods, not 2"
check "1. job first Succeeded, its Workload Finished; then job second was admitted and runs 2 Pods"

# --- 2. preemption by priority
before=$(k get pods -n "$NS" -l ascendfactory.io/job-name=second -o jsonpath='{.items[*].metadata.uid}')
qjob urgent team 2 0 15s high
wait_until "job second preempted back to Queued" 60 phase_is second Queued
wait_until "job urgent Running" 60 phase_is urgent Running
[[ "$(jp lfjob second '{.status.restarts}/{.status.evictions}')" == "0/1" ]] \
  || fail "job second after preemption: restarts/evictions $(jp lfjob second '{.status.restarts}/{.status.evictions}'), want 0/1"
msg=$(admitted_message second)
for uid in $before; do
  if k get pods -n "$NS" -l ascendfactory.io/job-name=second -o jsonpath='{.items[*].metadata.uid}' | grep -qw "$uid"; then
    fail "job second's preempted Pod $uid is still there"
  fi
done
check "2. high-priority job urgent preempted job second: its Pods gone, Queued with restarts 0, evictions 1 ($msg)"
wait_until "job urgent Succeeded" 90 phase_is urgent Succeeded
wait_until "job second Running again" 60 phase_is second Running
[[ "$(jp lfjob second '{.status.restarts}/{.status.evictions}')" == "0/1" ]] || fail "job second restarts/evictions changed on readmission"
check "2. job second runs again once urgent finished; restarts still 0, evictions 1"

# --- 4. delete while running, delete while queued, resize while queued, suspend
qjob waiting team 2
wait_until "job waiting Queued" 60 phase_is waiting Queued
wait_until "job waiting's Workload" 30 workloads_of_is waiting 1
k delete lfjob -n "$NS" waiting >/dev/null
wait_until "job waiting's Workload collected" 60 workloads_of_is waiting 0
k delete lfjob -n "$NS" second >/dev/null
wait_until "job second's Workload collected" 60 workloads_of_is second 0
wait_until "ClusterQueue npu to use no NPU" 60 cq_usage_is npu 0
check "4. deleting a queued and a running job released their quota (Workloads collected, ClusterQueue usage 0)"

qjob small team 1
wait_until "job small Running" 60 phase_is small Running
qjob grow team 2
wait_until "job grow Queued" 60 phase_is grow Queued
k patch lfjob -n "$NS" grow --type merge -p '{"spec":{"nodes":1}}' >/dev/null || fail "resizing a Queued job was refused"
wait_until "job grow Running after the resize" 60 phase_is grow Running
pod_count_is grow 1 || fail "job grow has $(pod_count grow) Pods, not 1"
[[ "$(jp workloads.kueue.x-k8s.io "$(workload_of grow)" '{.spec.podSets[0].count}')" == 1 ]] || fail "job grow's Workload still counts the old size"
if out=$(k patch lfjob -n "$NS" grow --type merge -p '{"spec":{"nodes":2}}' 2>&1); then fail "resizing a Running job was accepted"; fi
[[ "$out" == *spec.nodes* ]] || fail "the refusal does not name spec.nodes: $out"
check "4. a Queued 2 x 8 job resized to 1 x 8 was admitted with its new size (1 Pod, Workload count 1); resizing it while Running is refused"

k patch lfjob -n "$NS" small --type merge -p '{"spec":{"runPolicy":{"suspend":true}}}' >/dev/null
wait_until "job small Suspended" 60 phase_is small Suspended
wait_until "job small's Workload gone" 60 workloads_of_is small 0
wait_until "job small's Pods gone" 60 pod_count_is small 0
wait_until "ClusterQueue npu to use 8 NPUs (job grow only)" 60 cq_usage_is npu 8
k patch lfjob -n "$NS" small --type merge -p '{"spec":{"runPolicy":{"suspend":false}}}' >/dev/null
wait_until "job small Running again" 60 phase_is small Running
check "4. a suspended job holds no quota (Workload deleted, usage 8); resumed, it is admitted again"
k delete lfjob -n "$NS" small grow >/dev/null
wait_until "ClusterQueue npu to use no NPU" 60 cq_usage_is npu 0

# The operator killed mid-admission: after it made the Workload, and again after it created
# the first Pod of an admitted job. Restarted, it makes no second Workload and no duplicate Pod.
stop_operator TERM
qjob crash team 2
start_operator 2
wait_until "job crash's Workload" 30 workloads_of_is crash 1
stop_operator KILL
start_operator 3
wait_until "job crash Running" 60 phase_is crash Running
wait_converged
workloads_of_is crash 1 || fail "job crash has $(workloads_of crash) Workloads"
pod_count_is crash 2 || fail "job crash has $(pod_count crash) Pods"
k delete lfjob -n "$NS" crash >/dev/null
wait_until "ClusterQueue npu to use no NPU" 60 cq_usage_is npu 0
qjob crash2 team 2
first_pod() { [[ $(pod_count crash2) -ge 1 ]]; }
wait_until "the first Pod of job crash2" 60 first_pod
stop_operator KILL
start_operator 4
wait_until "job crash2 Running" 60 phase_is crash2 Running
wait_converged
workloads_of_is crash2 1 || fail "job crash2 has $(workloads_of crash2) Workloads"
pod_count_is crash2 2 || fail "job crash2 has $(pod_count crash2) Pods"
check "4. operator killed after making the Workload, and after the first Pod: 1 Workload and 2 Pods each after the restart"
k delete lfjob -n "$NS" crash2 >/dev/null
wait_until "ClusterQueue npu to use no NPU" 60 cq_usage_is npu 0

# --- 3. two ResourceFlavors on different node labels
k apply -f - >/dev/null <<EOF
apiVersion: kueue.x-k8s.io/v1beta2
kind: ClusterQueue
metadata: {name: pools}
spec:
  namespaceSelector: {}
  resourceGroups:
  - coveredResources: [huawei.com/Ascend910]
    flavors:
    - name: pool-a
      resources: [{name: huawei.com/Ascend910, nominalQuota: 8}]
    - name: pool-b
      resources: [{name: huawei.com/Ascend910, nominalQuota: 16}]
---
apiVersion: kueue.x-k8s.io/v1beta2
kind: LocalQueue
metadata: {name: pools, namespace: $NS}
spec: {clusterQueue: pools}
EOF
pools_active() { [[ $(k get clusterqueue pools -o jsonpath='{.status.conditions[?(@.type=="Active")].status}') == True ]]; }
wait_until "ClusterQueue pools Active" 60 pools_active
qjob on-a pools 1
wait_until "job on-a Running" 60 phase_is on-a Running
qjob on-b pools 2
wait_until "job on-b Running" 60 phase_is on-b Running
flavor_of() { jp workloads.kueue.x-k8s.io "$(workload_of "$1")" '{.status.admission.podSetAssignments[0].flavors.huawei\.com/Ascend910}'; }
[[ "$(flavor_of on-a)/$(pools_of on-a)" == "pool-a/a" ]] || fail "job on-a: flavor $(flavor_of on-a), pods on pool $(pools_of on-a)"
[[ "$(flavor_of on-b)/$(pools_of on-b)" == "pool-b/b" ]] || fail "job on-b: flavor $(flavor_of on-b), pods on pool $(pools_of on-b)"
sel=$(k get pods -n "$NS" -l ascendfactory.io/job-name=on-b -o jsonpath='{.items[0].spec.nodeSelector.npu-pool}')
[[ "$sel" == b ]] || fail "job on-b's Pods lack the flavor's node selector: $sel"
check "3. two flavors: job on-a admitted on pool-a runs on npu-pool=a nodes, job on-b on pool-b runs on npu-pool=b nodes (nodeSelector from the flavor)"

k delete lfjob -n "$NS" on-a on-b >/dev/null
wait_until "job on-b's Pods gone" 60 pod_count_is on-b 0

# --- the README's example as a user applies it: deploy/examples/kueue/ (queues, then the job)
k apply -n "$NS" -f "$root/deploy/examples/kueue/queues.yaml" >/dev/null
example_cq_active() { [[ $(k get clusterqueue ascend-npus -o jsonpath='{.status.conditions[?(@.type=="Active")].status}') == True ]]; }
wait_until "ClusterQueue ascend-npus Active" 60 example_cq_active
k apply -n "$NS" -f "$root/deploy/examples/kueue/queued-sft-2nodes.yaml" >/dev/null
wait_until "example job Running" 60 phase_is qwen-lora-sft-queued Running
pod_count_is qwen-lora-sft-queued 2 || fail "the example job runs $(pod_count qwen-lora-sft-queued) Pods"
[[ "$(jp lfjob qwen-lora-sft-queued '{.status.queue.name}/{.status.queue.clusterQueue}')" == team-a/ascend-npus ]] \
  || fail "the example job's status.queue: $(jp lfjob qwen-lora-sft-queued '{.status.queue}')"
check "deploy/examples/kueue/: queues.yaml and the queued 2 x 8 job applied as written; admitted by ascend-npus through team-a, 2 Pods"

operator_done
finish
