#!/usr/bin/env bash
# autoscaler.cluster_autoscaler and autoscaler.karpenter: the real operator (under the chart's
# RBAC, tests/operator/e2e_lib.sh) on the control-plane test bed with no Ascend node at all, and
# one real node autoscaler growing and shrinking an Ascend node group for LlamaFactoryJobs
# (tests/testbed/autoscaler.sh: 8 x huawei.com/Ascend910 per node, the startup taint, 0 to 4
# nodes; a new node's chips appear CHIP_DELAY seconds after it is created). Four scenarios:
#
#   1. a job that can never fit (16 NPUs on one node, the group has 8) makes no node, and its
#      Running condition says why, in the autoscaler's own words (NoNodeFits);
#   2. scale from zero: a 2-rank x 8-NPU job says it waits for a new node, gets exactly 2 nodes
#      (none more while the chips are pending and the taint is on), the operator removes the
#      taint only once allocatable shows the chips, the pods bind, the job succeeds; its TTL
#      deletes it and the empty nodes go away;
#   3. packing: single-rank jobs of 1, 2, 4 and 8 NPUs applied at once (seen by the
#      autoscaler in one pass) take 2 nodes (the optimum, and what both autoscalers' bin
#      packing makes);
#   4. a node that runs a training pod is never taken: two nodes each run one 1-NPU rank (either
#      could move to the other); they stay for 3 scale-down periods. Then the protection comes
#      off one pod (cluster-autoscaler.kubernetes.io/safe-to-evict, resp.
#      karpenter.sh/do-not-disrupt) for the cluster-autoscaler: that node goes, which shows
#      the annotation is what held it (Karpenter here never consolidates a non-empty node; its
#      DisruptionBlocked Event naming the annotation is required instead). Deleting the jobs
#      empties the group.
#
# Usage: autoscaler_test.sh cluster-autoscaler|karpenter path/to/llamafactory-operator
set -euo pipefail
which=${1:-}
case "$which" in
  cluster-autoscaler | karpenter) ;;
  *) echo "usage: $0 cluster-autoscaler|karpenter path/to/llamafactory-operator" >&2; exit 2 ;;
esac
shift
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/lib/check.sh
source "$here/../lib/check.sh"
autoscaler=$testlib_root/tests/testbed/autoscaler.sh
"$testlib_root/tests/testbed/tools/autoscalers/build.sh" --dir >/dev/null \
  || fail "the autoscalers are not built: run tests/testbed/tools/autoscalers/build.sh (make tools does)"

CHIP_DELAY=10
SCALE_DOWN_AFTER=10
TAINT=startup-taint.cluster-autoscaler.kubernetes.io/ascend-npu
E2E_NODES=0
mapfile -t E2E_TESTBED_ARGS < <("$autoscaler" apiserver-args)
# shellcheck source=tests/operator/e2e_lib.sh
source "$testlib_root/tests/operator/e2e_lib.sh" "$@"

"$autoscaler" up "$which" --max-nodes 4 --chip-delay "$CHIP_DELAY" --scale-down-after "$SCALE_DOWN_AFTER" \
  2>"$work/autoscaler-up.log" || { cat "$work/autoscaler-up.log" >&2; fail "autoscaler.sh up $which"; }
if [[ $which == karpenter ]]; then
  out=$(k apply --dry-run=server -f "$testlib_root/deploy/examples/autoscaling/" 2>&1) \
    || fail "deploy/examples/autoscaling/ refused by a server-side dry run: $out"
  check "deploy/examples/autoscaling/ (the README's NodePool) passes a server-side dry run against Karpenter's CRDs"
fi
[[ -z "$(k get nodes -o name)" ]] || fail "the test bed should start without nodes: $(k get nodes -o name)"
check "$which running out of cluster against the test bed: one Ascend node group (0..4 nodes), chips ${CHIP_DELAY}s after a node is created; no node yet"

# --- helpers
if [[ $which == cluster-autoscaler ]]; then who="the cluster-autoscaler"; else who="Karpenter"; fi
group_nodes() { k get nodes -l testbed.ascendfactory.io/node-group=ascend-910b-8 -o jsonpath='{range .items[*]}{.metadata.name}{"\n"}{end}'; }
node_count() { group_nodes | grep -c . || true; }
node_count_is() { [[ $(node_count) == "$1" ]]; }
cond() { jp lfjob "$1" "{.status.conditions[?(@.type==\"Running\")].$2}"; }
reason_is() { [[ "$(cond "$1" reason)" == "$2" ]]; }
pod_node() { jp pod "$1" '{.spec.nodeName}'; }
pod_running() { [[ "$(jp pod "$1" '{.status.phase}')" == Running ]]; }
# Every group node: name, whether the startup taint is on, its chips allocatable.
node_states() {
  k get nodes -l testbed.ascendfactory.io/node-group=ascend-910b-8 -o json | jq -r --arg t "$TAINT" \
    '.items[] | "\(.metadata.name) \(if ([.spec.taints[]? | select(.key == $t)] | length) > 0 then "tainted" else "untainted" end) \(.status.allocatable["huawei.com/Ascend910"] // "none")"'
}
fail_context() {
  echo "--- nodes"; k get nodes -o wide 2>&1 || true
  echo "--- node states"; node_states 2>&1 || true
  echo "--- pods"; k get pods -A -o wide 2>&1 || true
  echo "--- jobs"; k get lfjob -n "$NS" -o yaml 2>&1 | grep -A4 'type: Running' || true
  echo "--- last $which log lines"; tail -n 40 "$TESTBED_DIR/logs/$which.log" 2>/dev/null || true
  echo "--- chips stand-in"; tail -n 10 "$TESTBED_DIR/logs/chips.log" 2>/dev/null || true
  if [[ -f "$oplog" ]]; then echo "--- last operator log lines"; tail -n 30 "$oplog"; fi
}

# --- 1. a job that can never fit: no node, and the job says why
job toobig 1 16 0 1s
wait_until "toobig's Running condition to say $which will not add a node (NoNodeFits)" 90 reason_is toobig NoNodeFits
msg=$(cond toobig message)
[[ "$msg" == *"fits on no node and $who will not add one for it"* && "$msg" == *"asks for 16 huawei.com/Ascend910 on one node"* ]] \
  || fail "toobig's message does not explain: $msg"
if [[ $which == cluster-autoscaler ]]; then want="NotTriggerScaleUp: pod didn't trigger scale-up"; else want="FailedScheduling: Failed to schedule pod"; fi
[[ "$msg" == *"$want"* ]] || fail "toobig's message does not carry $who's own event ($want): $msg"
wait_stable "no node for toobig" $((3 * 2)) 30 node_count
node_count_is 0 || fail "a node was made for a job that cannot fit: $(group_nodes)"
check "1-rank x 16-NPU job: no node made; Running=False NoNodeFits: $msg"
k delete lfjob -n "$NS" toobig --wait=true --timeout=120s >/dev/null

# --- 2. scale from zero: exactly 2 nodes, the taint goes only once the chips show
job pair 2 8 0 15s "ttlSecondsAfterFinished: 5"
wait_until "pair to say it waits for a new node (WaitingForNode)" 60 reason_is pair WaitingForNode
msg=$(cond pair message)
[[ "$msg" == *"is waiting for a new node that $who is adding"* ]] || fail "pair's waiting message: $msg"
check "2-rank x 8-NPU job while the scale-up is under way: Running=False WaitingForNode: $msg"
# Watch every half second until both ranks run: never more than 2 nodes; an untainted node
# always shows its chips; the chips-pending, tainted state was seen (the delay is real).
# (Karpenter adds the startup taint when it registers the node, a moment after creating it: a
# node counts once it has been seen with the taint.)
declare -A seen_tainted=()
t0=$SECONDS saw_pending=0 max_nodes=0 deadline=$((SECONDS + 120))
until pod_running pair-worker-0 && pod_running pair-worker-1; do
  ((SECONDS < deadline)) || fail "pair's ranks not Running after 120s"
  states=$(node_states)
  n=$(grep -c . <<<"$states" || true)
  ((n > max_nodes)) && max_nodes=$n
  ((n <= 2)) || fail "$n nodes for a job that needs 2 (a second scale-up during the chip delay?): $states"
  while read -r name taint chips; do
    [[ -n "$name" ]] || continue
    if [[ $taint == tainted ]]; then
      seen_tainted[$name]=1
      [[ $chips == 0 || $chips == none ]] && saw_pending=1
    elif [[ -n "${seen_tainted[$name]:-}" && ($chips == 0 || $chips == none) ]]; then
      fail "node $name lost its startup taint before its chips showed: $states"
    fi
  done <<<"$states"
  sleep 0.5
done
running_after=$((SECONDS - t0))
((max_nodes == 2)) || fail "pair runs with $max_nodes node(s) seen, want exactly 2"
((saw_pending == 1)) || fail "never saw a new node with its taint on and no chips yet (is the chips-late policy in force?)"
nodes_used=$(printf '%s\n%s\n' "$(pod_node pair-worker-0)" "$(pod_node pair-worker-1)" | sort -u | grep -c .)
[[ $nodes_used == 2 ]] || fail "pair's ranks share a node: $(pod_node pair-worker-0) $(pod_node pair-worker-1)"
[[ $(node_states | awk '$2 == "untainted" && $3 == 8' | grep -c .) == 2 ]] || fail "not both nodes untainted with 8 chips: $(node_states)"
check "scale from zero: exactly 2 nodes, taint on while the chips were pending, removed once allocatable showed 8, one rank bound to each; both ranks Running ${running_after}s after the first wait"
wait_until "pair to succeed" 90 phase_is pair Succeeded
node_count_is 2 || fail "the node count changed while pair ran: $(group_nodes)"
wait_until "pair to be deleted by its TTL" 60 bash -c "! '${kubectl[0]}' get lfjob -n $NS pair >/dev/null 2>&1"
t_down=$SECONDS
wait_until "the 2 empty nodes to go away" 180 node_count_is 0
check "pair Succeeded; its TTL deleted it; the 2 empty nodes went away $((SECONDS - t_down))s later"

# --- 3. packing: 1 + 2 + 4 + 8 NPUs fit on 2 nodes
# The batch is applied while the autoscaler is paused (SIGSTOP) and seen whole when it resumes,
# as a batch applied between two of its passes. Both then plan 2 nodes (the cluster-autoscaler's
# estimator sorts the batch, Karpenter's batching window collects it). Karpenter keeps to its
# plan. The cluster-autoscaler re-places the still-pending pods on its upcoming nodes at every
# scan until they are ready, round-robin (simulator/clustersnapshot/predicate/plugin_runner.go:
# 1 on one, 2 on the other, 4 on the first, no room left for the 8), so while the chips are
# pending it adds nodes, up to one per pod: its own algorithm, asserted as such.
autoscaler_pid=$(awk -v n="$which" '$1 == n {print $2}' "$TESTBED_DIR/pids" | tail -n 1)
[[ -n "$autoscaler_pid" ]] || fail "no $which in $TESTBED_DIR/pids"
unschedulable() { [[ $(jp pod "$1" '{.status.conditions[?(@.type=="PodScheduled")].reason}') == Unschedulable ]]; }
kill -STOP "$autoscaler_pid"
for n in 1 2 4 8; do job "pack$n" 1 "$n" 0 60s "ttlSecondsAfterFinished: 5"; done
for n in 1 2 4 8; do wait_until "pack$n's pod to be found unschedulable" 60 unschedulable "pack$n-worker-0"; done
kill -CONT "$autoscaler_pid"
# Until each job has been seen running (on a loaded machine one may finish before the last starts).
declare -A ran=() succeeded=()
max_nodes=0 deadline=$((SECONDS + 240))
while ((${#ran[@]} < 4)); do
  ((SECONDS < deadline)) || fail "the packing jobs did not all run within 240s (ran: ${!ran[*]})"
  while read -r name phase; do
    [[ $phase == Running || $phase == Succeeded ]] && ran[$name]=1
    [[ $phase == Succeeded ]] && succeeded[$name]=1
  done < <(k get lfjob -n "$NS" -o jsonpath='{range .items[*]}{.metadata.name} {.status.phase}{"\n"}{end}')
  n=$(node_count); ((n > max_nodes)) && max_nodes=$n
  sleep 0.5
done
n=$(node_count); ((n > max_nodes)) && max_nodes=$n
if [[ $which == karpenter ]]; then
  ((max_nodes == 2)) || fail "Karpenter made $max_nodes nodes for 1+2+4+8 NPUs (optimum and its plan: 2): $(node_states)"
  check "packing: jobs of 1, 2, 4 and 8 NPUs run on 2 nodes (optimum 2)"
else
  plan=$(grep -o 'Final scale-up plan: \[{ascend-910b-8 0->[0-9]*' "$TESTBED_DIR/logs/cluster-autoscaler.log" | tail -n 1)
  [[ "$plan" == *"0->2" ]] || fail "the cluster-autoscaler's plan for the batch is not 2 nodes: '$plan'"
  ((max_nodes >= 2 && max_nodes <= 4)) || fail "the cluster-autoscaler made $max_nodes nodes for 4 pods (plan 2, at most one per pod): $(node_states)"
  check "packing: jobs of 1, 2, 4 and 8 NPUs: the cluster-autoscaler planned 2 nodes (optimum 2) and made $max_nodes while the chips were pending (re-placing pending pods on upcoming nodes round-robin; at most one per pod)"
fi
# Each must be seen Succeeded before its TTL (5 s) deletes it.
deadline=$((SECONDS + 150))
while [[ -n "$(k get lfjob -n "$NS" -o name)" ]]; do
  ((SECONDS < deadline)) || fail "the packing jobs were not all finished and deleted after 150s"
  while read -r name phase; do
    [[ $phase == Succeeded ]] && succeeded[$name]=1
    [[ $phase == Failed ]] && fail "$name failed: $(jp lfjob "$name" '{.status.conditions}')"
  done < <(k get lfjob -n "$NS" -o jsonpath='{range .items[*]}{.metadata.name} {.status.phase}{"\n"}{end}')
  sleep 0.3
done
[[ ${#succeeded[@]} == 4 ]] || fail "only ${!succeeded[*]} of the 4 packing jobs were seen Succeeded before their TTL deleted them"
wait_until "the packing nodes to go away" 180 node_count_is 0
check "packing jobs Succeeded and were deleted; their nodes went away"

# --- 4. a node running a training pod is never taken while it runs
job keepa 1 1 0 600s
wait_until "keepa to run" 120 phase_is keepa Running
node_a=$(pod_node keepa-worker-0)
# Fill the rest of keepa's node with a plain pod, so that the next rank needs a node of its own.
k apply -n "$NS" -f - >/dev/null <<EOF
apiVersion: v1
kind: Pod
metadata:
  name: filler
  annotations: {testbed.ascendfactory.io/exit-code: "0", testbed.ascendfactory.io/run-for: "600s"}
spec:
  nodeName: $node_a
  containers:
  - name: c
    image: stand-in.invalid/pause:never-pulled
    resources: {limits: {huawei.com/Ascend910: "7"}}
EOF
wait_until "the filler pod to run on $node_a" 60 pod_running filler
job keepb 1 1 0 600s
wait_until "keepb to run" 120 phase_is keepb Running
node_b=$(pod_node keepb-worker-0)
[[ "$node_b" != "$node_a" ]] || fail "keepb landed on keepa's full node $node_a"
k delete pod -n "$NS" filler --wait=true --timeout=120s >/dev/null
# nudge: make Karpenter look at consolidation now. It re-plans on bindings, node changes and
# NodePool changes, else every 5 minutes; an annotation on a pod is none of those. (The
# cluster-autoscaler looks every scan.)
nudge() {
  [[ $which == karpenter ]] || return 0
  k annotate nodepool ascend-910b-8 --overwrite "testbed.ascendfactory.io/nudge=$1" >/dev/null
}
nudge hold
# Now either rank could move to the other's node (1 + 1 of 8 chips): only the annotations keep
# both nodes. Hold for 3 scale-down periods beyond the autoscaler's delays.
hold=$((3 * SCALE_DOWN_AFTER + 10))
t_hold=$SECONDS
while ((SECONDS - t_hold < hold)); do
  k get node "$node_a" >/dev/null 2>&1 || fail "$which took $node_a while keepa's training pod ran on it"
  k get node "$node_b" >/dev/null 2>&1 || fail "$which took $node_b while keepb's training pod ran on it"
  phase_is keepa Running && phase_is keepb Running || fail "a training job stopped running: keepa $(jp lfjob keepa '{.status.phase}'), keepb $(jp lfjob keepb '{.status.phase}')"
  sleep 1
done
if [[ $which == cluster-autoscaler ]]; then
  annotation=cluster-autoscaler.kubernetes.io/safe-to-evict
  [[ $(jp pod keepb-worker-0 '{.metadata.annotations.cluster-autoscaler\.kubernetes\.io/safe-to-evict}') == false ]] || fail "keepb's pod lacks safe-to-evict: false"
else
  annotation=karpenter.sh/do-not-disrupt
  [[ $(jp pod keepb-worker-0 '{.metadata.annotations.karpenter\.sh/do-not-disrupt}') == true ]] || fail "keepb's pod lacks do-not-disrupt: true"
fi
# The autoscaler's own account of why it kept keepb's node.
if [[ $which == cluster-autoscaler ]]; then
  grep -q "Node $node_b cannot be removed: pod annotated as not safe to evict present: keepb-worker-0" "$TESTBED_DIR/logs/cluster-autoscaler.log" \
    || fail "the cluster-autoscaler's log does not say keepb's safe-to-evict annotation kept $node_b"
  said="its log: Node $node_b cannot be removed: pod annotated as not safe to evict present"
else
  # Karpenter's own word (asked to re-plan by the nudge): a DisruptionBlocked Event naming the
  # annotation and one of the two pods.
  # (The listing is read whole before grep: grep -m1 exiting first would kill kubectl with
  # SIGPIPE, a failure under pipefail.)
  blocked() {
    local listing
    listing=$(k get events -A --field-selector reason=DisruptionBlocked -o jsonpath='{range .items[*]}{.message}{"\n"}{end}')
    grep -m1 'do-not-disrupt.*keep[ab]-worker-0' <<<"$listing"
  }
  # Karpenter publishes it when its disruption loop next weighs the two nodes as candidates,
  # which on a busy bed has taken from seconds to minutes: ask again every 30 s, up to 4 minutes.
  blocked_or_nudge() {
    blocked >/dev/null && return 0
    if ((SECONDS - nudged >= 30)); then nudge "again-$SECONDS"; nudged=$SECONDS; fi
    return 1
  }
  nudged=$SECONDS
  wait_until "Karpenter's DisruptionBlocked Event naming a keep pod's do-not-disrupt" 240 blocked_or_nudge
  said="DisruptionBlocked: $(blocked)"
fi
check "two nodes each running one 1-NPU training rank (either could move): both kept for ${hold}s, the pods carry $annotation ($said)"
# The control: without the annotation, keepb's node is taken (its rank moves next to keepa's).
# Only for the cluster-autoscaler: Karpenter on this bed never consolidated a non-empty node
# (it only deletes empty ones), so there its own DisruptionBlocked Event above is the proof.
if [[ $which == cluster-autoscaler ]]; then
  k annotate pod -n "$NS" keepb-worker-0 "$annotation-" >/dev/null
  t_ctl=$SECONDS
  wait_until "$which to take $node_b once keepb's pod lost $annotation" 180 bash -c "! '${kubectl[0]}' get node $node_b >/dev/null 2>&1"
  k get node "$node_a" >/dev/null 2>&1 || fail "$which took $node_a too, which still runs keepa's protected pod"
  check "control: with $annotation removed from keepb's pod, $which took $node_b $((SECONDS - t_ctl))s later; $node_a (keepa, still protected) stayed"
fi
k delete lfjob -n "$NS" keepa keepb --wait=true --timeout=120s >/dev/null
wait_until "the group to be empty again" 180 node_count_is 0
check "jobs deleted: the node group is empty again"

operator_done
finish
