#!/usr/bin/env bash
# llamafactory-operator end to end on the control-plane test bed, part 4: training progress
# through the status server, against the real API server's TokenReview. The operator serves
# HTTPS with a certificate from a CA made here; tokens are what the kubelet would project into
# the reporter (kubectl create token, bound to the Pod, for the progress audience).
#   - rank 0's Pod gets the reporter sidecar and its projected token volume, nothing else
#   - a report with rank 0's token lands in status.progress; PROGRESS and ETA columns; the
#     Running condition says step and loss; resumedFromStep
#   - refused: no token, a token for another audience, a token not bound to a Pod, rank 1's
#     token (403), a token of a Pod since replaced (403), a bad body (400, field named)
#   - 20 reports in a few seconds make at most one status write per 3 s (--progress-interval 3),
#     the newest wins
#
# Usage: tests/operator/e2e_progress_test.sh path/to/llamafactory-operator
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/lib/check.sh
source "$here/../lib/check.sh"
E2E_NODES=4

tls=$(mktemp -d "${TMPDIR:-/tmp}/progress-tls.XXXXXX")
progress_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
serving_tls "$tls"
url=https://127.0.0.1:$progress_port/v1/progress
E2E_OPERATOR_ARGS=(--progress-address "127.0.0.1:$progress_port" --progress-cert-file "$tls/tls.crt"
  --progress-key-file "$tls/tls.key" --progress-ca-file "$tls/ca.crt" --progress-url "$url"
  --progress-interval 3)
# shellcheck source=tests/operator/e2e_lib.sh
source "$here/e2e_lib.sh"
# e2e_lib's on_exit, and the certificates' folder.
eval "$(declare -f on_exit | sed '1s/^on_exit/e2e_on_exit/')"
on_exit() { e2e_on_exit "$@"; rm -rf "$tls"; }

# post TOKEN BODY: the HTTP status of one report.
post() {
  local auth=()
  [[ -n "$1" ]] && auth=(-H "Authorization: Bearer $1")
  curl -sS -o "$work/answer" -w '%{http_code}' --max-time 10 --cacert "$tls/ca.crt" \
    -H 'Content-Type: application/json' "${auth[@]}" --data "$2" "$url"
}
# token POD [AUDIENCE]: a token of the default ServiceAccount bound to POD, as the kubelet
# projects it.
token() {
  k create token default -n "$NS" --audience "${2:-ascendfactory.io/progress}" --duration 10m \
    --bound-object-kind Pod --bound-object-name "$1" \
    --bound-object-uid "$(jp pod "$1" '{.metadata.uid}')"
}

# --- a 2-rank training job: rank 0 gets the reporter, rank 1 does not
cat <<YAML | k apply -n "$NS" -f - >/dev/null
apiVersion: ascendfactory.io/v1alpha1
kind: LlamaFactoryJob
metadata: {name: watch}
spec:
  mode: train
  nodes: 2
  npusPerNode: 2
  config: {stage: sft, output_dir: /app/output/watch}
  podAnnotations: {testbed.ascendfactory.io/exit-code: "0", testbed.ascendfactory.io/run-for: 600s}
YAML
wait_until "job watch Running" 60 phase_is watch Running
got=$(jp pod watch-worker-0 '{.spec.initContainers[0].name} {.spec.initContainers[0].restartPolicy} {.spec.initContainers[0].command} {.spec.initContainers[0].env[?(@.name=="LFJOB_OUTPUT_DIR")].value} {.spec.volumes[?(@.name=="progress-token")].projected.sources[0].serviceAccountToken.audience}')
[[ "$got" == 'progress Always ["lfjob-progress"] /app/output/watch ascendfactory.io/progress' ]] \
  || fail "rank 0's reporter sidecar: $got"
[[ "$(jp pod watch-worker-0 '{.spec.initContainers[0].env[?(@.name=="LFJOB_PROGRESS_URL")].value}')" == "$url" ]] \
  || fail "reporter URL: $(jp pod watch-worker-0 '{.spec.initContainers[0].env}')"
[[ -z "$(jp pod watch-worker-1 '{.spec.initContainers}')" ]] || fail "rank 1 has a reporter"
check "rank 0 of a training job gets the reporter sidecar (restartPolicy Always) with a projected token for ascendfactory.io/progress; rank 1 none"

# --- a report with rank 0's token lands in status
t0=$(token watch-worker-0)
code=$(post "$t0" '{"current_steps": 40, "total_steps": 200, "loss": 1.25, "lr": 4.5e-05, "epoch": 0.6, "percentage": 20.0, "elapsed_time": "0:01:00", "remaining_time": "0:04:00", "resumed_from_step": 30}')
[[ "$code" == 202 ]] || fail "rank 0's report: HTTP $code $(cat "$work/answer")"
wait_until "status.progress.step 40" 20 bash -c "[[ \$('${kubectl[0]}' get lfjob -n $NS watch -o jsonpath='{.status.progress.step}') == 40 ]]"
got=$(jp lfjob watch '{.status.progress.totalSteps} {.status.progress.percent} {.status.progress.loss} {.status.progress.eta} {.status.progress.resumedFromStep} {.status.progress.epoch}')
[[ "$got" == "200 20 1.25 0:04:00 30 0.6" ]] || fail "status.progress: $got"
[[ -n "$(jp lfjob watch '{.status.progress.updatedAt}')" ]] || fail "no updatedAt"
msg=$(jp lfjob watch '{.status.conditions[?(@.type=="Running")].message}')
[[ "$msg" == "2 of 2 rank(s) running; step 40/200, loss 1.25" ]] || fail "Running message: $msg"
table=$(k get lfjob -n "$NS" watch)
echo "$table"
head -n 1 <<<"$table" | grep -q 'PROGRESS *ETA' || fail "no PROGRESS and ETA columns: $table"
tail -n 1 <<<"$table" | grep -q ' 20 *0:04:00 ' || fail "kubectl get lfjob row: $table"
check "rank 0's report (HTTP 202) is in status.progress (step, total, percent, loss, eta, epoch, resumedFromStep, updatedAt), the Running message and the PROGRESS/ETA columns"

# --- refusals: nothing lands
code=$(post "" '{"current_steps": 1, "total_steps": 2}')
[[ "$code" == 401 ]] || fail "no token: HTTP $code"
code=$(post "$(token watch-worker-0 https://kubernetes.default.svc)" '{"current_steps": 1, "total_steps": 2}')
[[ "$code" == 401 ]] || fail "a token for the API server's audience: HTTP $code $(cat "$work/answer")"
code=$(post "$(k create token default -n "$NS" --audience ascendfactory.io/progress)" '{"current_steps": 1, "total_steps": 2}')
[[ "$code" == 401 ]] || fail "a token bound to no Pod: HTTP $code $(cat "$work/answer")"
code=$(post "$(token watch-worker-1)" '{"current_steps": 1, "total_steps": 2}')
[[ "$code" == 403 ]] || fail "rank 1's token: HTTP $code $(cat "$work/answer")"
code=$(post "$t0" '{"current_steps": "many", "total_steps": 2}')
[[ "$code" == 400 ]] && grep -q current_steps "$work/answer" || fail "a bad body: HTTP $code $(cat "$work/answer")"
code=$(post "forged.token.value" '{"current_steps": 1, "total_steps": 2}')
[[ "$code" == 401 ]] || fail "a forged token: HTTP $code"
sleep 4
[[ "$(jp lfjob watch '{.status.progress.step}')" == 40 ]] || fail "a refused report changed status: $(jp lfjob watch '{.status.progress}')"
check "refused: no token, another audience and a token bound to no Pod (401), rank 1 (403), a bad body (400, field named); status unchanged"

# --- bounded writes: 20 reports in about 2 s, --progress-interval 3
writes() { metric 'llamafactory_operator_status_writes_total{result="written"}'; }
before=$(writes)
posting_started=$EPOCHREALTIME
for i in $(seq 41 60); do
  code=$(post "$t0" "{\"current_steps\": $i, \"total_steps\": 200, \"loss\": 1.0}")
  [[ "$code" == 202 ]] || fail "report $i: HTTP $code"
  sleep 0.1
done
posting=$(awk -v a="$posting_started" -v b="$EPOCHREALTIME" 'BEGIN {printf "%.1f", b - a}')
wait_until "the newest report (step 60) in status" 20 bash -c "[[ \$('${kubectl[0]}' get lfjob -n $NS watch -o jsonpath='{.status.progress.step}') == 60 ]]"
sleep 4
after=$(writes)
n=$((${after%.*} - ${before%.*}))
# One write per started 3 s of posting, plus the one that carries the last report.
allowed=$(awk -v t="$posting" 'BEGIN {print int(t / 3) + 2}')
((n >= 1 && n <= allowed && n < 20)) || fail "20 reports in ${posting}s made $n status writes, want 1..$allowed (one per 3 s at most)"
check "20 reports in ${posting}s: $n status write(s) (at most one per 3 s), the newest (step 60) wins"

# --- a replaced Pod's token is refused: delete rank 0, the operator restarts the job
# (Not `kubectl delete --wait`: it watches the name, and the operator makes the new rank 0 under
# the same name within milliseconds, so the wait can miss the old one's end and hang.)
old_uid=$(jp pod watch-worker-0 '{.metadata.uid}')
k delete pod -n "$NS" watch-worker-0 --wait=false >/dev/null
new_rank0() {
  local uid
  uid=$(jp pod watch-worker-0 '{.metadata.uid}')
  [[ -n "$uid" && "$uid" != "$old_uid" ]]
}
wait_until "a new rank 0 (another uid)" 60 new_rank0
code=$(post "$t0" '{"current_steps": 61, "total_steps": 200}')
[[ "$code" == 401 || "$code" == 403 ]] || fail "the old rank 0's token after its Pod was replaced: HTTP $code $(cat "$work/answer")"
check "the token of a Pod that is gone no longer reports (HTTP $code)"

finish
