#!/usr/bin/env bash
# The chip-fault annotation ascendfactory.io/npu-fault (README, "When a chip fails") on the real
# API server (RBAC on): the chart gives the device plugin's ServiceAccount `patch` on Pods and
# nothing else, and its ValidatingAdmissionPolicy npu-fault-annotation lets that ServiceAccount
# change only that annotation, only on Pods bound to the node of the plugin Pod its token is
# bound to, while nobody else (a tenant with edit, the cluster admin) may set, change or remove
# it. The plugin's tokens are made as the kubelet makes them: bound to a plugin Pod on a node,
# so the API server names the node in the token's user info.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
chart=$root/charts/ascend-factory
KEY=ascendfactory.io/npu-fault
NS=ascend-factory

# shellcheck source=tests/lib/check.sh
source "$root/tests/lib/check.sh"
make_work fault-annotation-test
export HELM_CACHE_HOME=$work/helm/cache HELM_CONFIG_HOME=$work/helm/config HELM_DATA_HOME=$work/helm/data
testbed_up --nodes 2

"$TESTBED_BIN/helm" install ascend-factory "$chart" -n "$NS" --create-namespace >/dev/null \
  || fail "helm install failed"
k get validatingadmissionpolicy npu-fault-annotation >/dev/null || fail "the chart installed no npu-fault-annotation policy"
k get validatingadmissionpolicybinding npu-fault-annotation >/dev/null || fail "the chart installed no binding for it"
check "helm install put the npu-fault-annotation policy and its binding in the API server"

mapfile -t nodes < <(k get nodes -l type=kwok -o jsonpath='{range .items[*]}{.metadata.name}{"\n"}{end}' | sort)
((${#nodes[@]} == 2)) || fail "want 2 kwok nodes, have ${nodes[*]}"
node_a=${nodes[0]} node_b=${nodes[1]}
# The DaemonSet's Pod on node A: the plugin's token is bound to it, as the kubelet binds it.
plugin_pod_on() {
  k get pods -n "$NS" -l app.kubernetes.io/name=ascend-device-plugin --field-selector "spec.nodeName=$1" \
    -o jsonpath='{.items[0].metadata.name}' 2>/dev/null
}
wait_until "a plugin Pod on $node_a" 60 bash -c "[[ -n \$('$TESTBED_BIN/kubectl' get pods -n $NS -l app.kubernetes.io/name=ascend-device-plugin --field-selector spec.nodeName=$node_a -o name) ]]"
plugin_pod=$(plugin_pod_on "$node_a")
[[ "$(k get pod -n "$NS" "$plugin_pod" -o jsonpath='{.spec.serviceAccountName}')" == ascend-device-plugin ]] \
  || fail "the plugin Pod does not run as the ServiceAccount ascend-device-plugin"

server=$(k config view --minify -o jsonpath='{.clusters[0].cluster.server}')
# kubeconfig FILE TOKEN: a kubeconfig that authenticates with TOKEN only (no client certificate).
kubeconfig() {
  cat >"$1" <<EOC
apiVersion: v1
kind: Config
clusters:
- {name: testbed, cluster: {server: "$server", certificate-authority: "$TESTBED_DIR/pki/ca.crt"}}
users:
- {name: u, user: {token: "$2"}}
contexts:
- {name: c, context: {cluster: testbed, user: u}}
current-context: c
EOC
}
plugin_token=$(k create token ascend-device-plugin -n "$NS" --bound-object-kind Pod --bound-object-name "$plugin_pod" --duration 1h)
unbound_token=$(k create token ascend-device-plugin -n "$NS" --duration 1h)
kubeconfig "$work/plugin.kubeconfig" "$plugin_token"
as_plugin() { k --kubeconfig "$work/plugin.kubeconfig" "$@"; }
# merge_patch TOKEN POD PATCH: what the plugin sends (one PATCH, no GET: it may not get Pods).
merge_patch() {
  local body rc=0
  body=$(curl -sS --cacert "$TESTBED_DIR/pki/ca.crt" -H "Authorization: Bearer $1" -X PATCH \
    -H 'Content-Type: application/merge-patch+json' --data "$3" -w '\n%{http_code}' \
    "$server/api/v1/namespaces/team-a/pods/$2") || rc=$?
  echo "$body"
  [[ $rc -eq 0 && "${body##*$'\n'}" == 200 ]]
}
as_plugin_patch() { merge_patch "$plugin_token" "$@"; }
as_unbound_patch() { merge_patch "$unbound_token" "$@"; }

# What the API server makes of the pod-bound token: the node is in its user info (Kubernetes
# 1.30+ with ServiceAccountTokenPodNodeInfo; the policy depends on it).
whoami=$(as_plugin auth whoami -o json)
[[ "$(jq -r '.status.userInfo.username' <<<"$whoami")" == system:serviceaccount:$NS:ascend-device-plugin ]] \
  || fail "the plugin token authenticates as $(jq -r '.status.userInfo.username' <<<"$whoami")"
token_node=$(jq -r '.status.userInfo.extra["authentication.kubernetes.io/node-name"][0] // ""' <<<"$whoami")
[[ "$token_node" == "$node_a" ]] || fail "the pod-bound token names node '$token_node', want $node_a: $whoami"
check "a token bound to the plugin Pod on $node_a carries authentication.kubernetes.io/node-name=$node_a"

# Least privilege in RBAC: patch on Pods, nothing else.
for verb in get list watch delete create; do
  [[ $(as_plugin auth can-i "$verb" pods -A 2>/dev/null) == no ]] || fail "the plugin may $verb pods"
done
[[ $(as_plugin auth can-i patch pods -n team-a 2>/dev/null) == yes ]] || fail "the plugin may not patch pods"
[[ $(as_plugin auth can-i patch nodes 2>/dev/null) == no ]] || fail "the plugin may patch nodes"
check "RBAC: the plugin may patch Pods and nothing else (no get/list/watch/create/delete, no Nodes)"

k create namespace team-a >/dev/null
k create rolebinding bob-edit --clusterrole=edit --user=bob -n team-a >/dev/null
wait_until "bob's edit role to reach the authorizer" 30 bash -c "[[ \$('$TESTBED_BIN/kubectl' auth can-i patch pods -n team-a --as bob) == yes ]]"
pod_on() {  # pod_on NAME NODE: a Pod bound to NODE (kwok runs it), with a label and an annotation
  k apply -n team-a -f - >/dev/null <<EOP
apiVersion: v1
kind: Pod
metadata: {name: $1, labels: {app: t}, annotations: {note: keep}}
spec:
  nodeName: $2
  tolerations: [{operator: Exists}]
  containers: [{name: c, image: busybox}]
EOP
}
pod_on on-a "$node_a"
pod_on on-b "$node_b"
value='{"chips":["Ascend910-3"],"node":"'$node_a'","reason":"test","time":"2026-11-29T16:00:00Z"}'
ann() { jq -r --arg k "$KEY" '.metadata.annotations[$k] // ""' < <(k get pod -n team-a "$1" -o json); }

# refused WHAT OUTPUT_WORD CMD...: the command fails, naming the policy, and changes nothing.
refused() {
  local what=$1 word=$2 out; shift 2
  if out=$("$@" 2>&1); then fail "$what was accepted"; fi
  [[ "$out" == *"$word"* ]] || fail "$what refused without '$word': $out"
  out=${out%$'\n'*}
  if [[ "$out" == "{"* ]]; then out=$(jq -r .message <<<"$out"); fi
  echo "   $what: ${out##*denied request: }" | cut -c1-200
}
patch_ann() { printf '{"metadata":{"annotations":{"%s":%s}}}' "$KEY" "$(jq -Rs . <<<"$1" | sed 's/\\n"$/"/')"; }

refused "bob (edit) annotating his Pod" npu-fault-annotation \
  k patch pod on-a -n team-a --as bob --type merge -p "$(patch_ann "$value")"
refused "bob creating a Pod that carries the annotation" npu-fault-annotation \
  k run faked -n team-a --as bob --image busybox --overrides "{\"metadata\":{\"annotations\":{\"$KEY\":\"x\"}}}"
refused "the cluster admin annotating a Pod" npu-fault-annotation \
  k annotate pod on-a -n team-a "$KEY=$value"
[[ -z "$(ann on-a)" ]] || fail "the annotation was stored"
check "nobody but the plugin may set the annotation (a tenant with edit, on update or create; the cluster admin)"

refused "the plugin annotating a Pod on another node" "its own node" \
  as_plugin_patch on-b "$(patch_ann "$value")"
refused "the plugin with a token bound to no Pod" "its own node" \
  as_unbound_patch on-a "$(patch_ann "$value")"
refused "the plugin changing a label with the annotation" "only metadata.annotations" \
  as_plugin_patch on-a '{"metadata":{"labels":{"app":"x"},"annotations":{"'"$KEY"'":"{}"}}}'
refused "the plugin changing another annotation" "only metadata.annotations" \
  as_plugin_patch on-a '{"metadata":{"annotations":{"note":"changed"}}}'
refused "the plugin changing the Pod's spec" "only metadata.annotations" \
  as_plugin_patch on-a '{"spec":{"activeDeadlineSeconds":5}}'
check "the plugin may not annotate a Pod on another node, nor with a token bound to no Pod, nor change anything else"

out=$(as_plugin_patch on-a "$(patch_ann "$value")" 2>&1) \
  || fail "the plugin's patch on its own node was refused: $out"
[[ "$(ann on-a)" == "$value" ]] || fail "annotation is '$(ann on-a)', want $value"
[[ "$(k get pod -n team-a on-a -o jsonpath='{.metadata.labels.app} {.metadata.annotations.note}')" == "t keep" ]] \
  || fail "the plugin's patch changed other metadata"
check "the plugin annotates a Pod on its own node ($node_a): one merge PATCH, nothing else changed"

refused "bob removing the plugin's annotation" npu-fault-annotation \
  k annotate pod on-a -n team-a --as bob "$KEY-"
refused "bob changing the plugin's annotation" npu-fault-annotation \
  k annotate pod on-a -n team-a --as bob --overwrite "$KEY=x"
k label pod on-a -n team-a --as bob extra=1 >/dev/null || fail "bob may no longer label his annotated Pod"
k delete pod on-a -n team-a --as bob --wait=false >/dev/null || fail "bob may not delete his annotated Pod"
check "a tenant cannot change or remove the annotation but still edits and deletes the Pod otherwise"
finish
