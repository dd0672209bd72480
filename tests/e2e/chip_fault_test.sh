#!/usr/bin/env bash
# Chip-fault recovery on the real node (README, "When a chip fails"): tests/testbed/stack.sh
# starts the control plane, a real kubelet with containerd and runc, a fake Ascend host and the
# chart (the plugin with --annotate-faults under its own ServiceAccount, the admission policy).
# A 2-NPU train job with a hostPath output and maxRestarts 0 runs; once it has saved a
# checkpoint, /dev/davinci<N> of one of its chips is removed on the host. Then:
#   - the plugin sees the chip Unhealthy, asks the kubelet's PodResources API who holds it and
#     annotates that Pod ascendfactory.io/npu-fault (its log names the Pod);
#   - the operator deletes the Pod and creates a new one (attempt 1) without spending a
#     restart: Event ChipFault, status.faults 1, status.lastFault naming the chip and the node;
#   - the new Pod runs on two other chips (the kubelet allocates no Unhealthy chip), resumes
#     from the newest checkpoint (status.progress.resumedFromStep > 0, the trainer log) and the
#     job Succeeds with restarts 0.
# It prints the time from the removal to the annotation, to the old Pod gone and to the job
# Running again (bench/README.md records it).
#
# Usage: tests/e2e/chip_fault_test.sh BUILD_DIR
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:-}
[[ -d "$build" ]] || { echo "usage: $0 BUILD_DIR" >&2; exit 2; }
if [[ $(id -u) -ne 0 ]]; then echo "needs root (kubelet, containerd, runc); skipping"; exit 77; fi
NS=e2e
KEY=ascendfactory.io/npu-fault

# shellcheck source=tests/lib/check.sh
source "$root/tests/lib/check.sh"
make_work ascend-chip-fault
fail_context() {
  if [[ -n "${TESTBED_DIR:-}" ]]; then
    echo "--- pods"; k get pods -A -o wide || true
    echo "--- job"; k get lfjob -n "$NS" -o yaml 2>/dev/null | sed -n '/^  status:/,$p' || true
    echo "--- plugin log"; k logs -n "$STACK_NAMESPACE" -l app.kubernetes.io/name=ascend-device-plugin --tail 30 || true
    echo "(test bed logs kept in $TESTBED_DIR/logs)"
  fi
}
on_exit() { [[ $1 -eq 0 ]] || fail_context; }

t0=$SECONDS
"$root/tests/testbed/stack.sh" up --build-dir "$build" --owner-pid $$ >"$work/env" || fail "the stack did not come up"
# shellcheck disable=SC1091
source "$work/env"
testbed_adopt
echo "stack up in $((SECONDS - t0))s (test bed $TESTBED_DIR)"

jp() { k get "$1" -n "$NS" "$2" -o jsonpath="$3" 2>/dev/null; }
phase_is() { [[ "$(jp lfjob "$1" '{.status.phase}')" == "$2" ]]; }
since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN {printf "%.1f", b - a}'; }
# chips_of POD: ASCEND_VISIBLE_DEVICES of the Pod's training process, read from /proc on the host
# (the container's HOSTNAME is the Pod name; the stand-in image has no shell to exec).
chips_of() {
  local pid env
  for pid in $(pgrep -f 'llamafactory-cli train' || true); do
    env=$(tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null) || continue
    grep -qx "HOSTNAME=$1" <<<"$env" || continue
    sed -n 's/^ASCEND_VISIBLE_DEVICES=//p' <<<"$env"
    return 0
  done
  return 1
}

k create namespace "$NS" >/dev/null
wait_until "ServiceAccount default in $NS" 60 k get serviceaccount default -n "$NS"
out=$work/fault-output
mkdir -p "$out"
k apply -n "$NS" -f - >/dev/null <<EOF
apiVersion: ascendfactory.io/v1alpha1
kind: LlamaFactoryJob
metadata: {name: faulty}
spec:
  mode: train
  npusPerNode: 2
  config:
    model_name_or_path: Qwen/Qwen2.5-0.5B-Instruct
    stage: sft
    output_dir: /app/output
    save_steps: 4
    logging_steps: 1
    standin_steps: 40
    standin_step_seconds: 0.5
  runPolicy: {restartPolicy: OnFailure, restartScope: Job, maxRestarts: 0}
  storage:
    output: {hostPath: {path: $out, type: Directory}}
    shmSize: 64Mi
EOF
wait_until "job faulty Running" 120 phase_is faulty Running
pod=faulty-worker-0
uid=$(jp pod "$pod" '{.metadata.uid}')
wait_until "the training process of $pod" 30 chips_of "$pod"
chips=$(chips_of "$pod")
[[ "$chips" =~ ^[0-7],[0-7]$ ]] || fail "ASCEND_VISIBLE_DEVICES of $pod is '$chips', want two chip ids"
wait_until "checkpoint-4 on the host" 60 test -d "$out/checkpoint-4"
# A step or two past the checkpoint, so that the new Pod logs those steps again after resuming.
past_six() { [[ "$(jq -s 'map(.current_steps) | max' "$out/trainer_log.jsonl" 2>/dev/null)" -ge 6 ]]; }
wait_until "step 6 in the trainer log" 30 past_six
check "job faulty runs on chips {$chips}, saved checkpoint-4 and logged step $(jq -s 'map(.current_steps) | max' "$out/trainer_log.jsonl")"

# --- the fault: one of its chips' device node vanishes on the host
bad=${chips##*,}
[[ -n "$ASCEND_HOST" && -c "$ASCEND_HOST/dev/davinci$bad" ]] || fail "no device node $ASCEND_HOST/dev/davinci$bad"
rm "$ASCEND_HOST/dev/davinci$bad"
t=$EPOCHREALTIME
echo "removed $ASCEND_HOST/dev/davinci$bad"
annotated() { [[ -n "$(k get pod -n "$NS" "$pod" -o json 2>/dev/null | jq -r --arg k "$KEY" '.metadata.annotations[$k] // empty')" ]]; }
gone() { [[ "$(jp pod "$pod" '{.metadata.uid}')" != "$uid" ]]; }
t_annotated=""
# The operator may delete the Pod before this poll sees the annotation: lastFault shows it then.
if wait_until "$pod annotated $KEY" 20 annotated 2>/dev/null; then t_annotated=$(since "$t"); fi
wait_until "the faulted Pod gone" 60 gone
t_gone=$(since "$t")
running_again() {
  [[ "$(jp lfjob faulty '{.status.phase}')" == Running &&
     "$(jp pod "$pod" '{.metadata.labels.ascendfactory\.io/attempt} {.status.phase}')" == "1 Running" ]]
}
wait_until "job faulty Running again with a new Pod" 90 running_again
t_running=$(since "$t")
echo "fault -> annotation ${t_annotated:-?}s, -> old Pod gone ${t_gone}s, -> job Running again ${t_running}s"

new_chips=""
wait_until "the new Pod's training process" 30 chips_of "$pod" && new_chips=$(chips_of "$pod")
[[ "$new_chips" =~ ^[0-7],[0-7]$ ]] || fail "the new Pod's ASCEND_VISIBLE_DEVICES is '$new_chips'"
[[ ",$new_chips," != *",$bad,"* ]] || fail "the new Pod got the unhealthy chip $bad again: {$new_chips}"
check "the new Pod (attempt 1) runs on chips {$new_chips}, not on the unhealthy chip $bad, Running ${t_running}s after the fault"

[[ "$(jp lfjob faulty '{.status.faults}')" == 1 ]] || fail "status.faults is '$(jp lfjob faulty '{.status.faults}')', want 1"
[[ "$(jp lfjob faulty '{.status.restarts}')" == 0 ]] || fail "status.restarts is '$(jp lfjob faulty '{.status.restarts}')', want 0"
[[ "$(jp lfjob faulty '{.status.lastFault.chips[0]} {.status.lastFault.node} {.status.lastFault.pod}')" == "Ascend910-$bad $NODE_NAME $pod" ]] \
  || fail "status.lastFault is $(jp lfjob faulty '{.status.lastFault}')"
events=$(k get events -n "$NS" --field-selector involvedObject.name=faulty,reason=ChipFault -o jsonpath='{.items[*].type}')
[[ "$events" == Warning ]] || fail "ChipFault Events: '$events', want one Warning"
running_says() { [[ "$(jp lfjob faulty '{.status.conditions[?(@.type=="Running")].message}')" == *"recovered from 1 chip fault(s), the last Ascend910-$bad on node $NODE_NAME"* ]]; }
wait_until "the Running condition to name the fault" 10 running_says
check "status.faults 1, restarts 0 (maxRestarts 0 not spent), lastFault names Ascend910-$bad on $NODE_NAME, one Warning Event ChipFault, the Running condition says it"
grep -q "pod annotated.*$NS/$pod" < <(k logs -n "$STACK_NAMESPACE" -l app.kubernetes.io/name=ascend-device-plugin --tail=-1) \
  || fail "the plugin's log does not say it annotated $NS/$pod"
check "the plugin logged the annotation of $NS/$pod (PodResources List, one PATCH under its own ServiceAccount)"

wait_until "job faulty Succeeded" 120 phase_is faulty Succeeded
resumed=$(jp lfjob faulty '{.status.progress.resumedFromStep}')
[[ "$resumed" =~ ^[0-9]+$ && "$resumed" -gt 0 ]] || fail "status.progress.resumedFromStep is '$resumed', want > 0"
steps=$(jq -s -c '[.[].current_steps]' "$out/trainer_log.jsonl")
# The first step logged after a step that did not grow: where the new Pod went on.
first_after=$(jq -s '[.[].current_steps] as $s | [range(1; $s | length) | select($s[.] <= $s[. - 1])] | if length > 0 then $s[.[0]] else 0 end' "$out/trainer_log.jsonl")
# (0: no step was logged twice; the Pod went between saving checkpoint-N and logging step N+1.)
[[ "$first_after" == $((resumed + 1)) || ("$first_after" == 0 && "$(jq -s length "$out/trainer_log.jsonl")" == 40) ]] \
  || fail "after the fault the trainer log goes on at step $first_after, want $((resumed + 1)) (resumed from $resumed): $steps"
[[ "$(jp lfjob faulty '{.status.restarts} {.status.faults}')" == "0 1" ]] || fail "at the end restarts/faults are $(jp lfjob faulty '{.status.restarts} {.status.faults}')"
check "job faulty Succeeded, resumed after checkpoint-$resumed (the log goes on at step $first_after), restarts 0, faults 1"

mknod -m 666 "$ASCEND_HOST/dev/davinci$bad" c 1 3
echo "chip fault test: $((SECONDS - t0))s; fault -> Running again ${t_running}s"
finish
