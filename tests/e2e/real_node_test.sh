#!/usr/bin/env bash
# The whole system on a real node: tests/testbed/stack.sh starts the control plane, a real
# kubelet with containerd and runc on this machine, a fake Ascend host (device nodes made
# with mknod), imports our offline-built images and `helm install`s the chart. Then:
#   - the plugin, running as a pod of the chart, has registered: allocatable shows 8 chips,
#     and the operator has removed the node's cluster-autoscaler startup taint;
#   - a train job on 2 chips runs to Succeeded in a real container that saw exactly its two
#     /dev/davinci<N>, the shared device files, the driver mounts, both env variables and its
#     four volumes (the hostPath output is read on the host afterwards);
#   - a train job that fails once at step 5 is restarted and resumes after checkpoint-4, and
#     its progress (the lfjob-progress sidecar, the operator's status server) reaches
#     status.progress with resumedFromStep 4;
#   - two ranks of a train job meet at MASTER_ADDR:MASTER_PORT through cluster DNS (CoreDNS
#     must be running: without it the check fails, it is never skipped);
#   - api and webui jobs answer HTTP on 8000 and 7860 at the pod IP and at their Service's
#     endpoints;
#   - a failing job restarts by its policy and ends Failed with its exit code in status;
#   - two 4-chip jobs get disjoint chips and a third waits Pending until one finishes;
#   - the kubelet restarts: it logs a new registration of the plugin (counted against the
#     lines from before the restart: its log is appended across restarts), allocatable
#     returns, running containers are untouched; a device node removed: allocatable 7 within seconds; restored: 8.
# The workload image is the stand-in (tests/workload), never the real LLaMA-Factory.
#
# Usage: tests/e2e/real_node_test.sh BUILD_DIR
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:-}
[[ -d "$build" ]] || { echo "usage: $0 BUILD_DIR" >&2; exit 2; }
if [[ $(id -u) -ne 0 ]]; then echo "needs root (kubelet, containerd, runc); skipping"; exit 77; fi
NS=e2e

# shellcheck source=tests/lib/check.sh
source "$root/tests/lib/check.sh"
make_work ascend-e2e
fail_context() {
  if [[ -n "${TESTBED_DIR:-}" ]]; then
    echo "--- pods"; k get pods -A -o wide || true
    echo "--- jobs"; k get lfjob -n "$NS" || true
    echo "--- last kubelet log lines"; grep -E '^E' "$TESTBED_DIR/logs/kubelet.log" | tail -n 15 || true
    echo "(test bed logs kept in $TESTBED_DIR/logs)"
  fi
}

t0=$SECONDS
"$root/tests/testbed/stack.sh" up --build-dir "$build" --owner-pid $$ >"$work/env" || fail "the stack did not come up"
# shellcheck disable=SC1091
source "$work/env"
testbed_adopt
echo "stack up in $((SECONDS - t0))s (test bed $TESTBED_DIR)"

jp() { k get "$1" -n "$NS" "$2" -o jsonpath="$3" 2>/dev/null; }
phase_is() { [[ "$(jp lfjob "$1" '{.status.phase}')" == "$2" ]]; }
allocatable() { k get node "$NODE_NAME" -o jsonpath='{.status.allocatable.huawei\.com/Ascend910}'; }
since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN {printf "%.1f", b - a}'; }
allocatable_is() { [[ "$(allocatable)" == "$1" ]]; }
pod_ready() { [[ "$(jp pod "$1" '{.status.conditions[?(@.type=="Ready")].status}')" == True ]]; }
# report JOB RANK: the stand-in's JSON report, printed to the pod's log.
report() { k logs -n "$NS" "$1-worker-${2:-0}" | sed -n 's/^standin-report: //p' | tail -n 1; }

# --- 1. the plugin from the chart registered with the real kubelet
[[ "$(allocatable)" == 8 ]] || fail "allocatable huawei.com/Ascend910 is '$(allocatable)', want 8"
plugin_pod=$(k get pods -n "$STACK_NAMESPACE" -l app.kubernetes.io/name=ascend-device-plugin -o jsonpath='{.items[0].metadata.name}')
[[ -n "$plugin_pod" ]] || fail "no plugin pod"
check "plugin pod $plugin_pod (chart, offline image) registered: node $NODE_NAME allocatable huawei.com/Ascend910 = 8"
wait_until "an operator replica Ready" 60 bash -c "[[ \$('$TESTBED_BIN/kubectl' get deploy -n $STACK_NAMESPACE llamafactory-operator -o jsonpath='{.status.readyReplicas}') -ge 1 ]]"
check "operator Deployment from the chart is Ready ($(k get deploy -n "$STACK_NAMESPACE" llamafactory-operator -o jsonpath='{.status.readyReplicas}') replicas)"

# The node registered with the cluster autoscaler's startup taint; stack.sh waited for the
# operator to take it off. Here: it is gone, the other taints are not touched, and the
# operator counted it.
taints=$(k get node "$NODE_NAME" -o jsonpath='{.spec.taints[*].key}')
[[ "$taints" != *startup-taint.cluster-autoscaler.kubernetes.io/ascend-npu* ]] || fail "startup taint still on the node: $taints"
removed=0
for ip in $(k get pods -n "$STACK_NAMESPACE" -l app.kubernetes.io/name=llamafactory-operator -o jsonpath='{.items[*].status.podIP}'); do
  n=$(curl -fsS --max-time 5 "http://$ip:8080/metrics" | awk '/^llamafactory_operator_startup_taints_removed_total/ {s += $2} END {print s + 0}')
  removed=$((removed + ${n%.*}))
done
((removed == 1)) || fail "operators report $removed startup-taint removals, want 1"
check "the operator (leader) removed the node's startup taint once its allocatable showed the chips"

k create namespace "$NS" >/dev/null
wait_until "ServiceAccount default in $NS" 60 k get serviceaccount default -n "$NS"

# --- 2. a train job on 2 chips, output on a hostPath read afterwards on the host
out=$work/train-output
mkdir -p "$out"
k apply -n "$NS" -f - >/dev/null <<EOF
apiVersion: ascendfactory.io/v1alpha1
kind: LlamaFactoryJob
metadata: {name: train2}
spec:
  mode: train
  npusPerNode: 2
  config:
    model_name_or_path: Qwen/Qwen2.5-0.5B-Instruct
    stage: sft
    finetuning_type: lora
    output_dir: /app/output
    standin_steps: 4
    standin_step_seconds: 0.2
  storage:
    output: {hostPath: {path: $out, type: Directory}}
    data: {emptyDir: {}}
    shmSize: 64Mi
EOF
wait_until "job train2 Succeeded" 180 phase_is train2 Succeeded
check "train job on 2 chips ran in a real container to Succeeded"
rep=$out/standin-report-0.json
[[ -s "$rep" ]] || fail "no $rep on the host (hostPath output)"
[[ "$(jq -r '.device_check.ok' "$rep")" == true ]] || fail "the stand-in's device check failed: $(jq -c '.device_check' "$rep")"
visible=$(jq -r '.env.ASCEND_VISIBLE_DEVICES' "$rep")
rt_visible=$(jq -r '.env.ASCEND_RT_VISIBLE_DEVICES' "$rep")
seen=$(jq -r '.devices.seen | map(tostring) | join(",")' "$rep")
[[ "$visible" =~ ^[0-7],[0-7]$ ]] || fail "ASCEND_VISIBLE_DEVICES='$visible', want two chip ids"
[[ "$rt_visible" == 0,1 ]] || fail "ASCEND_RT_VISIBLE_DEVICES='$rt_visible', want 0,1"
[[ "$seen" == "$(tr ',' '\n' <<<"$visible" | sort -n | paste -sd,)" ]] \
  || fail "container saw /dev/davinci{$seen}, but ASCEND_VISIBLE_DEVICES=$visible"
check "container saw exactly /dev/davinci{$seen} = ASCEND_VISIBLE_DEVICES, ASCEND_RT_VISIBLE_DEVICES=0,1"
for d in davinci_manager devmm_svm hisi_hdc; do
  [[ "$(jq -r ".devices.shared[\"/dev/$d\"].char_device" "$rep")" == true ]] || fail "shared device /dev/$d missing in the container"
done
check "shared device files davinci_manager, devmm_svm, hisi_hdc present as character devices"
for m in /usr/local/Ascend/driver /usr/local/dcmi /usr/local/bin/npu-smi /etc/ascend_install.info; do
  [[ "$(jq -r ".driver[\"$m\"] | .mounted and .read_only" "$rep")" == true ]] || fail "driver mount $m missing or writable: $(jq -c ".driver[\"$m\"]" "$rep")"
done
check "driver mounts present and read-only (driver, dcmi, npu-smi, ascend_install.info)"
for m in /root/.cache/huggingface /root/.cache/modelscope /app/data /app/output /dev/shm; do
  [[ "$(jq -r ".volumes[\"$m\"].mounted" "$rep")" == true ]] || fail "volume $m not mounted in the container"
done
check "the four volumes and /dev/shm mounted"
lines=$(wc -l <"$out/trainer_log.jsonl")
((lines >= 4)) || fail "trainer_log.jsonl has $lines lines, want 4"
jq -e 'select(.current_steps == 4 and .total_steps == 4)' "$out/trainer_log.jsonl" >/dev/null \
  || fail "trainer_log.jsonl has no final step line"
check "hostPath output on the host: trainer_log.jsonl ($lines lines) and the report"
k delete lfjob -n "$NS" train2 --wait=true --timeout=120s >/dev/null

# --- 2b. checkpoint resume and progress: a job fails once at step 5 (after checkpoint-4), is
# restarted by its policy and finishes from step 5, not from 0; its reporter (lfjob-progress,
# the sidecar beside rank 0) posts trainer_log.jsonl to the operator's status server with the
# Pod's projected token, and status.progress shows the steps and the step it resumed from.
ck=$work/resume-output
mkdir -p "$ck"
k apply -n "$NS" -f - >/dev/null <<EOF
apiVersion: ascendfactory.io/v1alpha1
kind: LlamaFactoryJob
metadata: {name: resume}
spec:
  mode: train
  npusPerNode: 2
  config:
    model_name_or_path: Qwen/Qwen2.5-0.5B-Instruct
    stage: sft
    output_dir: /app/output
    save_steps: 2
    logging_steps: 1
    standin_steps: 8
    standin_step_seconds: 1
  env:
  - {name: STANDIN_FAIL_AT_STEP, value: "5"}
  storage:
    output: {hostPath: {path: $ck, type: Directory}}
    shmSize: 64Mi
EOF
wait_until "pod resume-worker-0" 30 k get pod -n "$NS" resume-worker-0
[[ "$(jp pod resume-worker-0 '{.spec.initContainers[0].name}')" == progress ]] || fail "no progress sidecar on resume-worker-0"
[[ -z "$(jp lfjob resume '{.status.conditions[?(@.type=="OutputPersistent")].reason}')" ]] \
  || fail "a hostPath output is called not persistent"
wait_until "status.progress of job resume" 90 bash -c "[[ -n \$('$TESTBED_BIN/kubectl' get lfjob -n $NS resume -o jsonpath='{.status.progress.step}') ]]"
k get lfjob -n "$NS" resume
check "the reporter beside rank 0 posted progress: status.progress.step $(jp lfjob resume '{.status.progress.step}') of $(jp lfjob resume '{.status.progress.totalSteps}')"
wait_until "job resume Succeeded" 180 phase_is resume Succeeded
[[ "$(jp lfjob resume '{.status.restarts}')" == 1 ]] || fail "job resume restarts: $(jp lfjob resume '{.status.restarts}'), want 1"
steps=$(jq -s -c '[.[].current_steps]' "$ck/trainer_log.jsonl")
[[ "$steps" == "[1,2,3,4,5,5,6,7,8]" ]] || fail "steps logged across the restart: $steps, want [1,2,3,4,5,5,6,7,8] (resumed after checkpoint-4)"
[[ -d $ck/checkpoint-4 && -d $ck/checkpoint-6 ]] || fail "checkpoints on the host: $(ls "$ck")"
check "failed at step 5, restarted once, resumed after checkpoint-4: steps $steps"
resumed_is() { [[ "$(jp lfjob resume '{.status.progress.step} {.status.progress.resumedFromStep}')" == "8 4" ]]; }
wait_until "status.progress step 8, resumed from 4" 60 resumed_is
k get lfjob -n "$NS" resume
check "status.progress: step 8/8, percent $(jp lfjob resume '{.status.progress.percent}'), resumedFromStep 4 (from the reporter, over HTTPS, token reviewed)"
k delete lfjob -n "$NS" resume --wait=true --timeout=120s >/dev/null

# --- 3. two ranks meet at MASTER_ADDR:MASTER_PORT through cluster DNS (CoreDNS). Never
# skipped: without a running CoreDNS this fails, naming it.
[[ -x "$TESTBED_BIN/coredns" ]] || fail "no coredns in $TESTBED_BIN: the real node has no cluster DNS, so ranks cannot meet"
coredns_pid=$(awk '$1 == "coredns" {print $2}' "$TESTBED_DIR/pids" | tail -n 1)
if [[ -z "$coredns_pid" ]] || ! kill -0 "$coredns_pid" 2>/dev/null; then
  fail "CoreDNS is not running on the real node (pid '$coredns_pid')"
fi
k apply -n "$NS" -f - >/dev/null <<EOF
apiVersion: ascendfactory.io/v1alpha1
kind: LlamaFactoryJob
metadata: {name: twonodes}
spec:
  mode: train
  nodes: 2
  npusPerNode: 2
  config: {model_name_or_path: Qwen/Qwen2.5-0.5B-Instruct, stage: sft, standin_steps: 2, standin_step_seconds: 0.1}
EOF
wait_until "job twonodes Succeeded" 240 phase_is twonodes Succeeded
r1_all=$(k logs -n "$NS" twonodes-worker-1 | grep '^rendezvous: ' || true)
r1=$(tail -n 1 <<<"$r1_all")
r0=$(k logs -n "$NS" twonodes-worker-0 | grep '^rendezvous: ' | tail -n 1 || true)
[[ "$r1" == *"connected to rank 0"* && "$r0" == *"all 2 ranks connected"* ]] || fail "rendezvous: rank 0 said '$r0', rank 1 said '$r1'"
# rank 1 dialled rank 0 by its DNS name (the headless Service's record), not by an address
dns_name="twonodes-worker-0.twonodes-workers.$NS.svc"
[[ "$r1_all" == *"connecting to rank 0 at $dns_name:"* ]] || fail "rank 1 did not dial $dns_name: $r1_all"
check "2-rank job: ${r1#rendezvous: }; MASTER_ADDR $dns_name resolved by CoreDNS (pid $coredns_pid)"
k delete lfjob -n "$NS" twonodes --wait=true --timeout=120s >/dev/null

# --- 4. api and webui answer HTTP at the pod IP and at their Service's endpoints
k apply -n "$NS" -f - >/dev/null <<EOF
apiVersion: ascendfactory.io/v1alpha1
kind: LlamaFactoryJob
metadata: {name: api}
spec:
  mode: api
  config: {model_name_or_path: Qwen/Qwen2.5-0.5B-Instruct, template: qwen}
---
apiVersion: ascendfactory.io/v1alpha1
kind: LlamaFactoryJob
metadata: {name: board}
spec:
  mode: webui
EOF
wait_until "api pod Ready" 120 pod_ready api-worker-0
wait_until "webui pod Ready" 120 pod_ready board-worker-0
api_ip=$(jp pod api-worker-0 '{.status.podIP}')
models=$(curl -fsS --max-time 5 "http://$api_ip:8000/v1/models") || fail "GET http://$api_ip:8000/v1/models failed"
[[ "$(jq -r '.data[0].id' <<<"$models")" == Qwen/Qwen2.5-0.5B-Instruct ]] || fail "unexpected /v1/models: $models"
check "api job answers GET /v1/models on $api_ip:8000"
board_ip=$(jp pod board-worker-0 '{.status.podIP}')
curl -fsS --max-time 5 "http://$board_ip:7860/" >/dev/null || fail "GET http://$board_ip:7860/ failed"
check "webui job answers on $board_ip:7860"
endpoint() {  # SERVICE PORTNAME: ip:port from the Service's EndpointSlice
  k get endpointslices -n "$NS" -l "kubernetes.io/service-name=$1" \
    -o jsonpath="{.items[0].endpoints[0].addresses[0]}:{.items[0].ports[?(@.name==\"$2\")].port}"
}
wait_until "api Service endpoints" 60 bash -c "[[ \$($(declare -f k endpoint); TESTBED_BIN=$TESTBED_BIN NS=$NS endpoint api api) == *:8000 ]]"
ep=$(endpoint api api)
curl -fsS --max-time 5 "http://$ep/v1/models" >/dev/null || fail "GET http://$ep/v1/models (Service api's endpoint) failed"
wait_until "webui Service endpoints" 60 bash -c "[[ \$($(declare -f k endpoint); TESTBED_BIN=$TESTBED_BIN NS=$NS endpoint board webui) == *:7860 ]]"
ep=$(endpoint board webui)
curl -fsS --max-time 5 "http://$ep/" >/dev/null || fail "GET http://$ep/ (Service board's endpoint) failed"
check "Services api and board route to their pods (EndpointSlice addresses answer on 8000 / 7860)"
[[ "$(jp lfjob api '{.status.endpoints.api}')" == *8000* ]] || fail "job api status.endpoints.api is '$(jp lfjob api '{.status.endpoints.api}')'"
check "job status names the endpoint ($(jp lfjob api '{.status.endpoints.api}'))"
k delete lfjob -n "$NS" api board --wait=true --timeout=120s >/dev/null

# --- 5. a failing job restarts by its policy and ends Failed with its exit code
k apply -n "$NS" -f - >/dev/null <<EOF
apiVersion: ascendfactory.io/v1alpha1
kind: LlamaFactoryJob
metadata: {name: crash}
spec:
  config: {model_name_or_path: Qwen/Qwen2.5-0.5B-Instruct, standin_steps: 1, standin_step_seconds: 0.1, standin_exit_code: 42}
  runPolicy: {restartPolicy: OnFailure, maxRestarts: 1}
EOF
wait_until "job crash Failed" 240 phase_is crash Failed
[[ "$(jp lfjob crash '{.status.restarts}')" == 1 ]] || fail "crash restarts=$(jp lfjob crash '{.status.restarts}'), want 1"
[[ "$(jp lfjob crash '{.status.lastFailure.exitCode}')" == 42 ]] || fail "crash lastFailure: $(jp lfjob crash '{.status.lastFailure}')"
reason=$(jp lfjob crash '{.status.conditions[?(@.type=="Failed")].reason}')
[[ "$reason" == MaxRestartsExceeded ]] || fail "Failed reason '$reason', want MaxRestartsExceeded"
check "failing job restarted once (OnFailure, maxRestarts 1), then Failed: exit code 42, reason $reason"
k delete lfjob -n "$NS" crash --wait=true --timeout=120s >/dev/null

# --- 6. two 4-chip jobs get disjoint chips; a third waits until one finishes
for j in quad-a quad-b quad-c; do
  k apply -n "$NS" -f - >/dev/null <<EOF
apiVersion: ascendfactory.io/v1alpha1
kind: LlamaFactoryJob
metadata: {name: $j}
spec:
  mode: api
  npusPerNode: 4
  config: {model_name_or_path: Qwen/Qwen2.5-0.5B-Instruct}
EOF
done
wait_until "quad-a Ready" 120 pod_ready quad-a-worker-0
wait_until "quad-b Ready" 120 pod_ready quad-b-worker-0
a=$(report quad-a | jq -r '.env.ASCEND_VISIBLE_DEVICES')
b=$(report quad-b | jq -r '.env.ASCEND_VISIBLE_DEVICES')
[[ -n "$a" && -n "$b" ]] || fail "no device report from quad-a/quad-b"
overlap=$(comm -12 <(tr ',' '\n' <<<"$a" | sort) <(tr ',' '\n' <<<"$b" | sort))
[[ -z "$overlap" && $(tr ',' '\n' <<<"$a$(echo ,)$b" | sort -u | wc -l) -eq 8 ]] || fail "chips overlap: quad-a $a, quad-b $b"
check "two 4-chip jobs got disjoint chips: {$a} and {$b}"
sleep 3
[[ "$(jp pod quad-c-worker-0 '{.status.phase}')" == Pending ]] || fail "quad-c is $(jp pod quad-c-worker-0 '{.status.phase}'), want Pending"
msg=$(jp pod quad-c-worker-0 '{.status.conditions[?(@.type=="PodScheduled")].message}')
[[ "$msg" == *"Insufficient huawei.com/Ascend910"* ]] || fail "quad-c not waiting for chips: $msg"
check "third 4-chip job Pending: $msg"

# --- 7. the kubelet restarts: the plugin re-registers, running containers are untouched
cid() { jp pod "$1" '{.status.containerStatuses[0].containerID}'; }
before_a=$(cid quad-a-worker-0) before_b=$(cid quad-b-worker-0)
# The kubelet's log is appended across restarts: count the plugin's registrations before the
# restart and wait for one more after it, so a line from before cannot pass for it.
registrations() { grep -c 'Got registration request from device plugin' "$TESTBED_DIR/logs/kubelet.log" || true; }
registrations_above() { (($(registrations) > $1)); }
regs_before=$(registrations)
kubelet_before=$(awk '$1 == "kubelet" {print $2}' "$TESTBED_DIR/pids" | tail -n 1)
"$root/tests/testbed/cluster.sh" restart "$TESTBED_DIR" kubelet >/dev/null 2>&1
t=$SECONDS
kubelet_after=$(awk '$1 == "kubelet" {print $2}' "$TESTBED_DIR/pids" | tail -n 1)
[[ -n "$kubelet_after" && "$kubelet_after" != "$kubelet_before" ]] \
  || fail "the kubelet's pid did not change on restart ($kubelet_before -> $kubelet_after)"
wait_until "the plugin to register with the restarted kubelet" 60 registrations_above "$regs_before"
regs_after=$(registrations)
wait_until "allocatable 8 after the kubelet restart" 60 allocatable_is 8
sleep 5
[[ "$(cid quad-a-worker-0)" == "$before_a" && "$(cid quad-b-worker-0)" == "$before_b" ]] \
  || fail "containers changed across the kubelet restart"
[[ "$(jp pod quad-a-worker-0 '{.status.containerStatuses[0].restartCount}')" == 0 ]] || fail "quad-a restarted"
pod_ready quad-a-worker-0 && pod_ready quad-b-worker-0 || fail "quad pods not Ready after the kubelet restart"
check "kubelet restarted (pid $kubelet_before -> $kubelet_after): the plugin registered again (registrations $regs_before -> $regs_after), allocatable 8 again within $((SECONDS - t))s, running containers untouched"

# --- 8. the third job runs once a chip holder finishes
k delete lfjob -n "$NS" quad-a --wait=true --timeout=120s >/dev/null
wait_until "quad-c Ready after quad-a finished" 120 pod_ready quad-c-worker-0
check "third 4-chip job started once quad-a was gone"
k delete lfjob -n "$NS" quad-b quad-c --wait=true --timeout=120s >/dev/null

# --- 9. a device node vanishes and comes back
rm "$ASCEND_HOST/dev/davinci5"
t=$EPOCHREALTIME
wait_until "allocatable 7 after davinci5 vanished" 30 allocatable_is 7
check "davinci5 removed: allocatable 7 after $(since "$t")s"
mknod -m 666 "$ASCEND_HOST/dev/davinci5" c 1 3
t=$EPOCHREALTIME
wait_until "allocatable 8 after davinci5 came back" 30 allocatable_is 8
check "davinci5 restored: allocatable 8 after $(since "$t")s"

echo "real node test: $((SECONDS - t0))s"
finish
