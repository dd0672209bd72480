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
E2E_NODES=2
# shellcheck source=tests/lib/check.sh
source "$root/tests/lib/check.sh"
# shellcheck source=tests/operator/e2e_lib.sh
source "$here/e2e_lib.sh"  # the test bed, the CRD, the chart's RBAC, the operator leading

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
  nodes: 2
  config: {model_name_or_path: Qwen/Qwen2.5-0.5B, stage: sft}
EOF
wait_until "job clash ChildrenCreated False/NameConflict" 30 cond_is $A clash False/NameConflict
message=$(cond $A clash message)
[[ "$message" == *"ConfigMap $A/clash-config is not owned by this job"* ]] || fail "condition message lacks the ConfigMap: $message"
# A train job has no port Service: the Service named like the job is no child of it.
[[ "$message" != *"Service $A/clash "* ]] || fail "condition names Service clash, no child of a train job: $message"
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
check "a: someone else's Service and ConfigMap kept byte for byte (resourceVersion, no owner), NameConflict names the ConfigMap, one Event, one log line; deleting the job left them"

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
finish
