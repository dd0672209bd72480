#!/usr/bin/env bash
# llamafactory-operator end to end on the control-plane test bed, part 3: what the operator
# survives. kill -9 and a restart, suspend and resume, an API server restart, a second replica
# taking over; never a duplicate or lost pod.
# tests/operator/e2e_lib.sh starts the test bed and the operator under the chart's RBAC.
#
# Usage: tests/operator/e2e_restarts_test.sh path/to/llamafactory-operator
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/lib/check.sh
source "$here/../lib/check.sh"
E2E_NODES=6
# shellcheck source=tests/operator/e2e_lib.sh
source "$here/e2e_lib.sh"

# The jobs the restarts act on: one has finished, two (2 ranks x 8 chips) keeps running.
job one 1 2 0 1s
job two 2 8 0 300s
wait_until "job one Succeeded" 60 phase_is one Succeeded
wait_until "job two Running" 60 phase_is two Running

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
wait_converged  # a duplicate, if any were made, exists by now
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
operator_pid=$standby_pid standby_pid="" metrics_port=$standby_metrics
wait_converged  # a duplicate, if any were made, exists by now
for want in pair:2 handover:1 two:2 late:1; do
  pod_count_is "${want%:*}" "${want#*:}" || fail "job ${want%:*} has $(pod_count "${want%:*}") pods after the handover, want ${want#*:}"
done
grep -q "created pod controller=lfjob key=$NS/handover" "$work/standby.log" || fail "the standby did not create handover's pod"
check "two replicas: standby idle while $leader led; after kill -9 of the leader it took the lease and ran job handover; no duplicate pods"

operator_done
finish
