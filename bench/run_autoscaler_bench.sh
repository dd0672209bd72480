#!/usr/bin/env bash
# The autoscaler bench (bench/README.md): one node autoscaler on the control-plane test bed,
# the real operator, an Ascend node group starting empty (tests/testbed/autoscaler.sh; chips
# CHIP_DELAY seconds after a node is created). Prints three figures:
#
#   1. apply -> Running of a 2 x 8-NPU job on a scaled-up group (from zero);
#   2. nodes made for a mixed batch of 40 single-rank jobs (10 each of 8, 4, 2 and 1 NPUs,
#      150 chips: the optimum is 19 nodes), against that optimum;
#   3. how long after the batch's last job ends (its pods Succeeded) the group is empty again.
#
# Usage: bench/run_autoscaler_bench.sh cluster-autoscaler|karpenter path/to/llamafactory-operator
set -euo pipefail
which=${1:-}
case "$which" in
  cluster-autoscaler | karpenter) ;;
  *) echo "usage: $0 cluster-autoscaler|karpenter path/to/llamafactory-operator" >&2; exit 2 ;;
esac
shift
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/lib/check.sh
source "$here/../tests/lib/check.sh"
autoscaler=$testlib_root/tests/testbed/autoscaler.sh
CHIP_DELAY=${CHIP_DELAY:-10}
SCALE_DOWN_AFTER=${SCALE_DOWN_AFTER:-10}
RUN_FOR=${RUN_FOR:-120s}
E2E_NODES=0
mapfile -t E2E_TESTBED_ARGS < <("$autoscaler" apiserver-args)
# shellcheck source=tests/operator/e2e_lib.sh
source "$testlib_root/tests/operator/e2e_lib.sh" "$@"
"$autoscaler" up "$which" --max-nodes 30 --chip-delay "$CHIP_DELAY" --scale-down-after "$SCALE_DOWN_AFTER" 2>"$work/up.log" \
  || { cat "$work/up.log" >&2; fail "autoscaler.sh up $which"; }

group_nodes() { k get nodes -l testbed.ascendfactory.io/node-group=ascend-910b-8 -o jsonpath='{range .items[*]}{.metadata.name}{"\n"}{end}'; }
node_count() { group_nodes | grep -c . || true; }
node_count_is() { [[ $(node_count) == "$1" ]]; }
now() { date +%s.%N; }
since() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" "$1" "$(now)"; }

# --- 1. apply -> Running from zero
t=$(now)
job pair 2 8 0 5s "ttlSecondsAfterFinished: 1"
wait_until "pair Running" 180 phase_is pair Running
apply_to_running=$(since "$t")
wait_until "pair deleted" 120 bash -c "! '${kubectl[0]}' get lfjob -n $NS pair >/dev/null 2>&1"
wait_until "the group empty" 300 node_count_is 0

# --- 2. 40 mixed jobs
declare -A seen=()
sizes=()
for i in $(seq 0 9); do sizes+=(8 4 2 1); done
t=$(now)
i=0
for n in "${sizes[@]}"; do job "mix$i-$n" 1 "$n" 0 "$RUN_FOR" "ttlSecondsAfterFinished: 1"; i=$((i + 1)); done
# Until each job has been seen running (the first may end before the last starts).
declare -A ran=()
deadline=$((SECONDS + 600)) max_nodes=0
while ((${#ran[@]} < 40)); do
  ((SECONDS < deadline)) || fail "only ${#ran[@]} of the 40 jobs ran within 600s"
  while read -r name phase; do
    [[ $phase == Running || $phase == Succeeded ]] && ran[$name]=1
  done < <(k get lfjob -n "$NS" -o jsonpath='{range .items[*]}{.metadata.name} {.status.phase}{"\n"}{end}')
  while read -r name; do [[ -n "$name" ]] && seen[$name]=1; done < <(group_nodes)
  n=$(node_count); ((n > max_nodes)) && max_nodes=$n
  sleep 1
done
while read -r name; do [[ -n "$name" ]] && seen[$name]=1; done < <(group_nodes)
batch_running=$(since "$t")
created=${#seen[@]}
# --- 3. scale-down after the last job ends: polled each second, the moment no job of the
# batch is left Running (each then Succeeded, and its TTL of 1 s deletes it).
running_left() { k get lfjob -n "$NS" -o jsonpath='{range .items[*]}{.status.phase}{"\n"}{end}' | grep -c '^Running$' || true; }
deadline=$((SECONDS + 600))
until [[ $(running_left) == 0 ]]; do
  ((SECONDS < deadline)) || fail "the 40 jobs still run after 600s"
  sleep 1
done
t_last=$(now)
wait_until "the 40 jobs to be deleted" 120 bash -c "[[ -z \"\$('${kubectl[0]}' get lfjob -n $NS -o name)\" ]]"
wait_until "the group empty after the batch" 600 node_count_is 0
down_after_last=$(since "$t_last")

echo "RESULT $which: chip delay ${CHIP_DELAY}s, scale-down/consolidation after ${SCALE_DOWN_AFTER}s"
echo "RESULT $which: 2 x 8-NPU job from zero, apply -> Running: ${apply_to_running}s"
echo "RESULT $which: 40 mixed jobs (150 chips, optimum 19 nodes): $created nodes created, at most $max_nodes at once; each seen running within ${batch_running}s of the first apply"
echo "RESULT $which: group empty ${down_after_last}s after the last job succeeded"
operator_done
finish
