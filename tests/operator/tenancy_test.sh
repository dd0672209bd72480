#!/usr/bin/env bash
# A job never gives more than its author may have (issue 11), the operator's part, on the
# control-plane test bed: the real kube-apiserver (RBAC, Pod Security admission) and the real
# operator binary under the chart's RBAC, as tests/operator/e2e_test.sh runs it.
#
#  a. a Service and a ConfigMap someone else made, named like the job's children, stay as they
#     were (resourceVersion, no ownerReference); the job says NameConflict naming them; deleting
#     the job leaves them
#  b. a job named `kubernetes` in `default` leaves the API server's own Service alone
#  c. a Pod with a rank Pod's name that the job does not own: the condition, one Event, and the
#     operator's POSTs that end in 409 stay few (backoff, not once a second)
#  d. Pod Security: a namespace enforcing restricted refuses a default job's Pod (the condition
#     carries admission's message) and admits a podSecurity restricted job's; a baseline
#     namespace admits a default job
#  e. a config over the ConfigMap size limit: CreateRefused with the API server's message
#
# Usage: tests/operator/tenancy_test.sh path/to/llamafactory-operator
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
operator_bin=${1:-}
[[ -x "$operator_bin" ]] || { echo "usage: $0 path/to/llamafactory-operator" >&2; exit 2; }
operator_bin=$(cd "$(dirname "$operator_bin")" && pwd)/$(basename "$operator_bin")

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
cleanup() {
  local rc=$1
  if [[ -n "$operator_pid" ]]; then
    kill -KILL "$operator_pid" 2>/dev/null || true
    wait "$operator_pid" 2>/dev/null || true
  fi
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

"$root/tests/testbed/cluster.sh" up --nodes 2 --owner-pid $$ >"$work/env"
# shellcheck disable=SC1091
source "$work/env"
k() { "$TESTBED_BIN/kubectl" "$@"; }

# wait_until DESCRIPTION TIMEOUT_S CMD...: poll CMD until it succeeds.
wait_until() {
  local what=$1 timeout=$2; shift 2
  local deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || fail "timed out after ${timeout}s waiting for $what"
    sleep 0.2
  done
}
# cond NS JOB FIELD: a field of the job's ChildrenCreated condition.
cond() {
  k get lfjob -n "$1" "$2" -o jsonpath="{.status.conditions[?(@.type==\"ChildrenCreated\")].$3}" 2>/dev/null
}
cond_is() { [[ "$(cond "$1" "$2" status)/$(cond "$1" "$2" reason)" == "$3" ]]; }
pods_of() { k get pods -n "$1" -l "ascendfactory.io/job-name=$2" -o name 2>/dev/null | wc -l; }
pods_of_is() { [[ "$(pods_of "$1" "$2")" == "$3" ]]; }
# meta NS KIND NAME: resourceVersion and owner references, to compare before and after.
meta() { k get "$2" -n "$1" "$3" -o jsonpath='{.metadata.resourceVersion} owners={.metadata.ownerReferences}'; }
# events NS JOB REASON: how many Events with REASON regard the job, and their series counts.
events() {
  k get events.events.k8s.io -n "$1" \
    -o jsonpath="{range .items[?(@.regarding.name==\"$2\")]}{.reason} {.series.count}{\"\\n\"}{end}" \
    | awk -v r="$3" '$1 == r {n++; if ($2 != "") s = s " series=" $2} END {print n + 0 s}'
}
# webui NS NAME [EXTRA_SPEC_LINE]: a one-rank LLaMA Board job (needs no config).
webui() {
  cat <<EOF | k apply -n "$1" -f - >/dev/null
apiVersion: ascendfactory.io/v1alpha1
kind: LlamaFactoryJob
metadata: {name: $2}
spec:
  mode: webui
  ${3:-}
EOF
}
namespace() {
  k create namespace "$1" >/dev/null
  wait_until "ServiceAccount default in $1" 60 k get serviceaccount default -n "$1"
}

# --- the CRD, the operator's RBAC from the chart, the operator as its ServiceAccount
k apply -f "$root/crds/llamafactoryjobs.yaml" >/dev/null
k wait --for=condition=Established crd/llamafactoryjobs.ascendfactory.io --timeout=60s >/dev/null
k apply -f "$root/deploy/namespace.yaml" >/dev/null
"$TESTBED_BIN/helm" template ascend-factory "$root/charts/ascend-factory" -n ascend-factory \
  --show-only templates/operator-rbac.yaml | k apply -f - >/dev/null
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
read -r metrics_port health_port < <(python3 -c '
import socket; s=[socket.socket() for _ in range(2)]
[x.bind(("127.0.0.1",0)) for x in s]; print(*[x.getsockname()[1] for x in s])')
"$operator_bin" --kubeconfig "$work/operator.kubeconfig" \
  --default-image stand-in.invalid/llamafactory:never-pulled \
  --metrics-address "127.0.0.1:$metrics_port" --health-address "127.0.0.1:$health_port" \
  --identity tenancy-1 --workers 2 >>"$oplog" 2>&1 &
operator_pid=$!
wait_until "operator /readyz" 60 curl -fsS --max-time 1 "http://127.0.0.1:$health_port/readyz"
wait_until "operator to hold the lease" 60 bash -c \
  "'$TESTBED_BIN/kubectl' get lease -n ascend-factory llamafactory-operator -o jsonpath='{.spec.holderIdentity}' | grep -qx tenancy-1"
metric() {
  curl -fsS --max-time 2 "http://127.0.0.1:$metrics_port/metrics" | awk -v s="$1" '$1 == s {print $2 + 0}'
}
check "operator running as ServiceAccount ascend-factory/llamafactory-operator under the chart's RBAC"

# --- a. someone else's Service and ConfigMap, named like the job's children
A=tenancy-a
namespace $A
k create service clusterip clash -n $A --tcp=80:8080 >/dev/null
k create configmap clash-config -n $A --from-literal=owner=someone-else >/dev/null
svc_before=$(meta $A service clash)
cm_before=$(meta $A configmap clash-config)
selector_before=$(k get service clash -n $A -o jsonpath='{.spec.selector} {.spec.ports}')
cat <<EOF | k apply -n $A -f - >/dev/null
apiVersion: ascendfactory.io/v1alpha1
kind: LlamaFactoryJob
metadata: {name: clash}
spec:
  config: {model_name_or_path: Qwen/Qwen2.5-0.5B, stage: sft}
EOF
wait_until "job clash ChildrenCreated False/NameConflict" 30 cond_is $A clash False/NameConflict
message=$(cond $A clash message)
for want in "ConfigMap $A/clash-config is not owned by this job" "Service $A/clash is not owned by this job"; do
  [[ "$message" == *"$want"* ]] || fail "condition message lacks '$want': $message"
done
sleep 3  # a few more reconciles (backoff) had their chance to touch them
[[ "$(meta $A service clash)" == "$svc_before" ]] || fail "Service clash changed: $svc_before -> $(meta $A service clash)"
[[ "$(meta $A configmap clash-config)" == "$cm_before" ]] || fail "ConfigMap clash-config changed: $cm_before -> $(meta $A configmap clash-config)"
[[ "$(k get service clash -n $A -o jsonpath='{.spec.selector} {.spec.ports}')" == "$selector_before" ]] \
  || fail "Service clash selector or ports changed"
[[ "$(k get service clash-workers -n $A -o jsonpath='{.metadata.ownerReferences[0].name}')" == clash ]] \
  || fail "the job's own headless Service clash-workers was not made"
pods_of_is $A clash 0 || fail "job clash got Pods without its ConfigMap and Service"
[[ "$(events $A clash NameConflict)" == 1 ]] || fail "NameConflict Events for job clash: $(events $A clash NameConflict), want 1"
[[ $(grep -c "child not created.*key=$A/clash" "$oplog") == 1 ]] || fail "log lines about job clash: $(grep -c "child not created.*key=$A/clash" "$oplog"), want 1"
k delete lfjob -n $A clash >/dev/null
wait_until "the headless Service of job clash collected" 60 bash -c "! '$TESTBED_BIN/kubectl' get service -n $A clash-workers"
[[ "$(meta $A service clash)" == "$svc_before" && "$(meta $A configmap clash-config)" == "$cm_before" ]] \
  || fail "deleting the job touched someone else's Service or ConfigMap"
check "a: someone else's Service and ConfigMap kept byte for byte (resourceVersion, no owner), NameConflict names both, one Event, one log line; deleting the job left them"

# --- b. a job named kubernetes in default
kube_before=$(k get service kubernetes -n default -o jsonpath='{.metadata.resourceVersion} {.spec.selector} {.metadata.ownerReferences}')
webui default kubernetes
wait_until "job kubernetes ChildrenCreated False/NameConflict" 30 cond_is default kubernetes False/NameConflict
[[ "$(cond default kubernetes message)" == *"Service default/kubernetes is not owned by this job"* ]] \
  || fail "condition of job kubernetes: $(cond default kubernetes message)"
sleep 2
[[ "$(k get service kubernetes -n default -o jsonpath='{.metadata.resourceVersion} {.spec.selector} {.metadata.ownerReferences}')" == "$kube_before" ]] \
  || fail "the API server's Service changed"
pods_of_is default kubernetes 0 || fail "job kubernetes got a Pod"
k delete lfjob -n default kubernetes >/dev/null
sleep 2
[[ "$(k get service kubernetes -n default -o jsonpath='{.metadata.resourceVersion} {.spec.selector} {.metadata.ownerReferences}')" == "$kube_before" ]] \
  || fail "deleting job kubernetes touched the API server's Service"
check "b: a job named kubernetes in default left the API server's Service alone (and deleting it too)"

# --- c. a Pod with a rank Pod's name that the job does not own
C=tenancy-c
namespace $C
k run grab-worker-0 -n $C --image=stand-in.invalid/other:1 --restart=Never >/dev/null
pod_before=$(meta $C pod grab-worker-0)
webui $C grab
wait_until "job grab ChildrenCreated False/NameConflict" 30 cond_is $C grab False/NameConflict
[[ "$(cond $C grab message)" == *"Pod $C/grab-worker-0 is not owned by this job"* ]] || fail "condition of job grab: $(cond $C grab message)"
sleep 10  # past the first, quick retries of the backoff
# (Prometheus' text format sorts the labels by name.)
series='llamafactory_operator_kube_requests_total{code="409",verb="POST"}'
before=$(metric "$series")
[[ "${before:-0}" -ge 1 ]] || fail "no $series on /metrics: the count below would be blind"
sleep 20
after=$(metric "$series")
posts=$((after - before))
((posts <= 4)) || fail "the operator POSTed $posts times with 409 in 20 s for a Pod it does not own"
[[ "$(events $C grab NameConflict)" == 1 ]] || fail "NameConflict Events for job grab: $(events $C grab NameConflict), want 1 without a series"
[[ "$(meta $C pod grab-worker-0)" == "$pod_before" ]] || fail "the foreign Pod was changed"
k delete lfjob -n $C grab >/dev/null
sleep 1
k get pod -n $C grab-worker-0 >/dev/null || fail "deleting job grab deleted the Pod it did not own"
check "c: a foreign Pod named grab-worker-0: NameConflict, one Event, $posts POSTs ending in 409 over 20 s (backoff), the Pod untouched"

# --- d. Pod Security admission
R=tenancy-restricted
namespace $R
k label namespace $R pod-security.kubernetes.io/enforce=restricted >/dev/null
webui $R plain
wait_until "job plain ChildrenCreated False/CreateRefused" 30 cond_is $R plain False/CreateRefused
message=$(cond $R plain message)
[[ "$message" == *"violates PodSecurity"*"restricted"* ]] || fail "condition of job plain lacks Pod Security's message: $message"
pods_of_is $R plain 0 || fail "job plain got a Pod in a restricted namespace"
webui $R hardened "podSecurity: restricted"
wait_until "a Pod of job hardened" 30 pods_of_is $R hardened 1
got=$(k get pod -n $R hardened-worker-0 -o jsonpath='{.spec.securityContext.runAsUser} {.spec.containers[0].securityContext.allowPrivilegeEscalation} {.spec.containers[0].volumeMounts[0].mountPath}')
[[ "$got" == "1000 false /home/llamafactory/.cache/huggingface" ]] || fail "Pod hardened-worker-0: $got"
[[ -z "$(cond $R hardened status)" ]] || fail "job hardened carries ChildrenCreated: $(cond $R hardened status)"
B=tenancy-baseline
namespace $B
k label namespace $B pod-security.kubernetes.io/enforce=baseline >/dev/null
webui $B plain
wait_until "a Pod of job plain in the baseline namespace" 30 pods_of_is $B plain 1
check "d: restricted namespace refused a default job's Pod (CreateRefused: ${message:0:100}...), admitted podSecurity restricted; baseline admitted a default job"

# --- e. a config over the ConfigMap size limit (kubectl create: apply would add a copy as an
# annotation, itself over its limit)
blob=$(head -c 1100000 /dev/zero | tr '\0' x)
cat >"$work/huge.yaml" <<EOF
apiVersion: ascendfactory.io/v1alpha1
kind: LlamaFactoryJob
metadata: {name: huge}
spec:
  config: {model_name_or_path: Qwen/Qwen2.5-0.5B, stage: sft, note: "$blob"}
EOF
k create -n $A -f "$work/huge.yaml" >/dev/null
wait_until "job huge ChildrenCreated False/CreateRefused" 30 cond_is $A huge False/CreateRefused
message=$(cond $A huge message)
[[ "$message" == *"1048576"* ]] || fail "condition of job huge lacks the API server's size message: $message"
pods_of_is $A huge 0 || fail "job huge got a Pod without its ConfigMap"
check "e: a config over 1 MiB: CreateRefused with the API server's message (${message:0:120})"

if grep -qi "forbidden" <(grep -v "violates PodSecurity" "$oplog"); then
  fail "the operator was refused something by RBAC: $(grep -i forbidden "$oplog" | grep -v PodSecurity | head -n 3)"
fi
echo "$pass passed, 0 failed"
