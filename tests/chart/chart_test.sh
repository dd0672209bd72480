#!/usr/bin/env bash
# The Helm chart and the plain manifests against the control-plane test bed (real
# kube-apiserver with RBAC, controller-manager, scheduler; kwok plays the kubelet of 3 fake
# Ascend nodes: it reports pods of images that do not exist Running and Ready, though no
# container runs, so "Running" here proves scheduling and admission, not the programs):
#   - helm install with a bad values file is refused with a message naming the value, and
#     leaves nothing behind;
#   - the non-default render (values-custom.yaml) is accepted by the API server (dry run);
#   - helm install --create-namespace --wait: every object of the release is in the API
#     server, the CRD is Established, the operator's 2 replicas and a plugin pod on every
#     Ascend node are scheduled and (by kwok) Running, the plugin has its own token (patch on
#     Pods only), NOTES tell what's next; the real authorizer grants the operator's ServiceAccount what it uses and nothing
#     else; namespace editors may write jobs and viewers read them (aggregated roles);
#   - helm upgrade to namespace scope, 1 replica, another workload image, another metrics
#     port and PodMonitors: each change reaches the cluster (Role instead of ClusterRole,
#     --namespace, rolled-out pods, the monitors);
#   - the tenant-safety ValidatingAdmissionPolicy is installed and bound to deny;
#   - helm uninstall leaves nothing but the CRDs;
#   - in a fresh test bed, `kubectl apply -k deploy/` is accepted and runs the same stack, and
#     applying it again changes nothing.
# tests/chart/render_test.sh checks the renders offline; tests/operator/e2e_*_test.sh run the
# real operator under the chart's RBAC; tests/e2e/real_node_test.sh runs both programs for real.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
chart=$root/charts/ascend-factory
NODES=3
NS=ascend-factory
REL=ascend-factory

# shellcheck source=tests/lib/check.sh
source "$root/tests/lib/check.sh"
make_work chart-test
export HELM_CACHE_HOME=$work/helm/cache HELM_CONFIG_HOME=$work/helm/config HELM_DATA_HOME=$work/helm/data
helm() { "$TESTBED_BIN/helm" "$@"; }
jp() { k get "$@" 2>/dev/null; }
# running_on_ascend_nodes SELECTOR N: N pods with SELECTOR in $NS, each Running on a fake node
# (kwok's Running: scheduled there and admitted; no container runs on a kwok node)
running_on_ascend_nodes() {
  local rows
  rows=$(k get pods -n "$NS" -l "$1" -o jsonpath='{range .items[*]}{.status.phase}/{.spec.nodeName}/{.metadata.deletionTimestamp}{"\n"}{end}')
  [[ $(grep -c . <<<"$rows") == "$2" ]] && ! grep -qv '^Running/ascend-node-[0-9]*/$' <<<"$rows"
}
# can SUBJECT VERB RESOURCE [ARGS...]: the real authorizer's answer for SUBJECT
can() { local who=$1; shift; k auth can-i "$@" --as "$who" 2>/dev/null; }
expect_can() { can "$@" >/dev/null || fail "$1 may not '${*:2}', but needs it"; }
expect_cannot() { if can "$@" >/dev/null; then fail "$1 may '${*:2}', more than it needs"; fi; }
# leftovers: every object of the release still in the API server, and everything in $NS that a
# fresh namespace does not have
leftovers() {
  local types namespaced
  types=$(k api-resources --verbs=list -o name | grep -vE '^(events|events\.events\.k8s\.io|componentstatuses)$' | paste -sd,)
  namespaced=$(k api-resources --verbs=list --namespaced -o name | grep -vE '^(events|events\.events\.k8s\.io)$' | paste -sd,)
  k get "$types" -A -l "app.kubernetes.io/instance=$REL" -o name 2>/dev/null
  k get "$namespaced" -n "$NS" -o name 2>/dev/null | grep -vxE 'serviceaccount/default|configmap/kube-root-ca.crt' || true
}

testbed_up --nodes "$NODES"
k apply -f "$here/monitoring-crds.yaml" >/dev/null
crd_established servicemonitors.monitoring.coreos.com podmonitors.monitoring.coreos.com

# --- a bad values file: refused by helm install with the value named, nothing installed
if out=$(helm install "$REL" "$chart" -n "$NS" --create-namespace -f "$here/bad-values/scope-unknown.yaml" 2>&1); then
  fail "helm install accepted bad-values/scope-unknown.yaml: $out"
fi
[[ "$out" == *"/operator/scope"* ]] || fail "helm install refused bad values without naming operator.scope: $out"
[[ -z "$(helm list -A -a -q)" ]] || fail "a release exists after a refused install: $(helm list -A -a)"
[[ -z "$(k get clusterroles,deployments,daemonsets -A -l "app.kubernetes.io/instance=$REL" -o name)" ]] \
  || fail "objects exist after a refused install"
check "helm install with bad values refused, nothing installed: $(grep -m1 "at '" <<<"$out" | sed 's/^- //')"

# --- the non-default render is valid for the real API server
k create namespace team-a >/dev/null
out=$(helm template "$REL" "$chart" -n team-a -f "$here/values-custom.yaml" | k apply --dry-run=server -f - 2>&1) \
  || fail "the API server refuses the render of values-custom.yaml: $out"
check "the API server accepts all $(grep -c . <<<"$out") objects of the non-default render (dry run)"

# --- helm install
helm install "$REL" "$chart" -n "$NS" --create-namespace --wait --timeout 180s >"$work/install.out" 2>&1 \
  || fail "helm install failed: $(cat "$work/install.out")
$(k get all -n "$NS" -o wide 2>&1)"
grep -q "kubectl label node <node> accelerator=huawei-Ascend910" "$work/install.out" \
  || fail "helm install printed no NOTES on labelling nodes: $(cat "$work/install.out")"
grep -q "rollout status deployment/llamafactory-operator" "$work/install.out" || fail "NOTES lack the operator's next step"
helm get manifest "$REL" -n "$NS" >"$work/manifest.yaml"
want=$(grep -c '^kind:' "$work/manifest.yaml")
got=$(k get -f "$work/manifest.yaml" -o name | sort)
[[ $(grep -c . <<<"$got") == "$want" ]] || fail "release has $want objects, the API server holds: $got"
crd_established llamafactoryjobs.ascendfactory.io
check "helm install --wait: all $want objects of the release are in the API server, CRD Established, NOTES printed"
binding=$(k get validatingadmissionpolicybinding llamafactoryjobs-tenant-safety -o jsonpath='{.spec.policyName} {.spec.validationActions}' 2>&1) || true
[[ "$binding" == 'llamafactoryjobs-tenant-safety ["Deny"]' ]] || fail "the tenant-safety admission policy is not bound to deny: $binding"
check "the release's ValidatingAdmissionPolicy denies through its binding (tests/chart/admission_test.sh tries it as tenants)"

wait_until "2 operator pods Running on Ascend nodes" 120 running_on_ascend_nodes app.kubernetes.io/name=llamafactory-operator 2
wait_until "a plugin pod Running on each of the $NODES Ascend nodes" 120 running_on_ascend_nodes app.kubernetes.io/name=ascend-device-plugin "$NODES"
[[ $(jp ds -n "$NS" ascend-device-plugin -o jsonpath='{.status.numberReady}/{.status.desiredNumberScheduled}') == "$NODES/$NODES" ]] \
  || fail "plugin DaemonSet not ready on every node: $(jp ds -n "$NS" ascend-device-plugin -o wide)"
[[ $(jp deploy -n "$NS" llamafactory-operator -o jsonpath='{.status.readyReplicas}') == 2 ]] \
  || fail "operator Deployment not 2/2 ready: $(jp deploy -n "$NS" llamafactory-operator -o wide)"
plugin_pod=$(k get pods -n "$NS" -l app.kubernetes.io/name=ascend-device-plugin -o jsonpath='{.items[0].metadata.name}')
# The plugin's token (for chip-fault annotations) is its own ServiceAccount's, bound to the Pod.
vols=$(jp pod -n "$NS" "$plugin_pod" -o jsonpath='{.spec.serviceAccountName} {.spec.volumes[*].name}')
[[ "$vols" == "ascend-device-plugin "*kube-api-access* ]] || fail "plugin pod $plugin_pod has not its own ServiceAccount's token: $vols"
op_pod=$(k get pods -n "$NS" -l app.kubernetes.io/name=llamafactory-operator -o jsonpath='{.items[0].metadata.name}')
[[ $(jp pod -n "$NS" "$op_pod" -o jsonpath='{.spec.volumes[*].name}') == *kube-api-access* ]] \
  || fail "operator pod $op_pod has no ServiceAccount token"
check "operator 2/2 and plugin $NODES/$NODES scheduled on the kwok Ascend nodes, Running and Ready as kwok reports (no container runs there); the plugin has its own ServiceAccount's token (chip-fault annotations), the operator its own"

# --- the real authorizer: the operator may do what it does and nothing more
op=system:serviceaccount:$NS:llamafactory-operator
expect_can "$op" list llamafactoryjobs.ascendfactory.io -A
expect_can "$op" watch llamafactoryjobs.ascendfactory.io -n anywhere
expect_can "$op" delete llamafactoryjobs.ascendfactory.io -n anywhere
expect_can "$op" patch llamafactoryjobs.ascendfactory.io --subresource=status -n anywhere
expect_can "$op" update llamafactoryjobs.ascendfactory.io --subresource=finalizers -n anywhere
expect_can "$op" create pods -n anywhere
expect_can "$op" patch services -n anywhere
expect_can "$op" create events.events.k8s.io -n anywhere
expect_can "$op" watch events -n anywhere
expect_cannot "$op" create events -n anywhere
expect_can "$op" patch nodes
expect_can "$op" update leases.coordination.k8s.io -n "$NS"
expect_can "$op" create tokenreviews.authentication.k8s.io
expect_cannot "$op" get secrets -n anywhere
expect_cannot "$op" get secrets -n "$NS"
expect_cannot "$op" update llamafactoryjobs.ascendfactory.io -n anywhere
expect_cannot "$op" create deployments.apps -n anywhere
expect_cannot "$op" delete configmaps -n anywhere
expect_cannot "$op" update nodes
expect_cannot "$op" delete nodes
expect_cannot "$op" create leases.coordination.k8s.io -n default
expect_cannot "$op" create pods --subresource=exec -n anywhere
check "RBAC (cluster scope): the operator may read jobs everywhere, write status, pods, services, events, watch autoscalers' Events, patch nodes and its Lease, review tokens (the status server); not secrets, spec updates, Deployments, node updates or Leases elsewhere"

k create namespace team-b >/dev/null
k create rolebinding alice-edit --clusterrole=edit --user=alice -n team-b >/dev/null
k create rolebinding bob-view --clusterrole=view --user=bob -n team-b >/dev/null
wait_until "aggregated edit role to grant jobs" 60 can alice create llamafactoryjobs.ascendfactory.io -n team-b
wait_until "aggregated view role to grant jobs" 60 can bob list llamafactoryjobs.ascendfactory.io -n team-b
expect_cannot bob create llamafactoryjobs.ascendfactory.io -n team-b
expect_cannot alice create llamafactoryjobs.ascendfactory.io -n default
check "aggregated roles: an editor of team-b may create jobs there, a viewer may list but not create"

# --- helm upgrade: namespace scope, 1 replica, another workload image and port, PodMonitors
helm upgrade "$REL" "$chart" -n "$NS" --wait --timeout 180s \
  --set operator.scope=namespace --set operator.replicas=1 \
  --set operator.defaultWorkloadImage=registry.example.com/llamafactory-npu:v2 \
  --set plugin.metricsPort=9111 --set monitoring.podMonitor.enabled=true >"$work/upgrade.out" 2>&1 \
  || fail "helm upgrade failed: $(cat "$work/upgrade.out")"
[[ $(helm history "$REL" -n "$NS" -o json | jq -r '.[-1] | "\(.revision) \(.status)"') == "2 deployed" ]] \
  || fail "helm history after upgrade: $(helm history "$REL" -n "$NS")"
args=$(jp deploy -n "$NS" llamafactory-operator -o jsonpath='{.spec.template.spec.containers[0].args}')
[[ "$args" == *'"--namespace=ascend-factory"'* && "$args" == *'"--default-image=registry.example.com/llamafactory-npu:v2"'* ]] \
  || fail "operator args after upgrade: $args"
wait_until "1 operator pod Running after the upgrade" 120 running_on_ascend_nodes app.kubernetes.io/name=llamafactory-operator 1
pod_args=$(k get pods -n "$NS" -l app.kubernetes.io/name=llamafactory-operator -o jsonpath='{.items[0].spec.containers[0].args}')
[[ "$pod_args" == *'--namespace=ascend-factory'* ]] || fail "the running operator pod has the old args: $pod_args"
plugin_ports() { k get pods -n "$NS" -l app.kubernetes.io/name=ascend-device-plugin -o jsonpath='{range .items[*]}{.spec.containers[0].ports[0].containerPort}{"\n"}{end}' | sort -u; }
plugin_ports_are() { [[ "$(plugin_ports)" == "$1" ]]; }
wait_until "plugin pods rolled to port 9111" 120 plugin_ports_are 9111
wait_until "a plugin pod Running on each node after the upgrade" 120 running_on_ascend_nodes app.kubernetes.io/name=ascend-device-plugin "$NODES"
jp clusterrole llamafactory-operator >/dev/null && fail "ClusterRole llamafactory-operator still there in namespace scope"
jp role -n "$NS" llamafactory-operator >/dev/null || fail "no Role llamafactory-operator after switching to namespace scope"
jp clusterrole "llamafactory-operator-nodes-$NS" >/dev/null || fail "no nodes-only ClusterRole in namespace scope"
expect_can "$op" list llamafactoryjobs.ascendfactory.io -n "$NS"
expect_cannot "$op" list llamafactoryjobs.ascendfactory.io -n team-b
expect_cannot "$op" create pods -n team-b
expect_can "$op" patch nodes
[[ $(k get podmonitors -n "$NS" -o name | sort | paste -sd' ') == "podmonitor.monitoring.coreos.com/ascend-device-plugin podmonitor.monitoring.coreos.com/llamafactory-operator" ]] \
  || fail "PodMonitors after upgrade: $(k get podmonitors -n "$NS" -o name)"
check "helm upgrade (revision 2): namespace scope (Role, no ClusterRole, jobs elsewhere denied), --namespace and the new image on 1 running pod, plugin pods rolled to port 9111, PodMonitors created"

# --- helm uninstall leaves nothing but the CRDs
[[ -n "$(leftovers)" ]] || fail "leftovers finds nothing while the release is installed: the check below would be blind"
helm uninstall "$REL" -n "$NS" --wait --timeout 120s >/dev/null || fail "helm uninstall failed"
no_leftovers() { [[ -z "$(leftovers)" ]]; }
wait_until "the release's objects and pods to go (left: $(leftovers | paste -sd' '))" 120 no_leftovers
jp crd llamafactoryjobs.ascendfactory.io >/dev/null || fail "helm uninstall removed the CRD (users' jobs would go with it)"
[[ -z "$(helm list -A -a -q)" ]] || fail "releases left: $(helm list -A -a)"
check "helm uninstall: no object of the release and nothing in $NS beyond a fresh namespace's defaults; the CRD stays"
testbed_down

# --- kubectl apply -k deploy/ into a fresh test bed
testbed_up --nodes 2
out=$(k apply -k "$root/deploy" 2>&1) || fail "kubectl apply -k deploy/ refused: $out"
n=$(grep -c . <<<"$out")
crd_established llamafactoryjobs.ascendfactory.io
wait_until "2 operator pods Running (apply -k)" 120 running_on_ascend_nodes app.kubernetes.io/name=llamafactory-operator 2
wait_until "a plugin pod Running on each node (apply -k)" 120 running_on_ascend_nodes app.kubernetes.io/name=ascend-device-plugin 2
again=$(k apply -k "$root/deploy" 2>&1) || fail "second kubectl apply -k deploy/ failed: $again"
changed=$(grep -v ' unchanged$' <<<"$again" || true)
[[ -z "$changed" ]] || fail "a second apply -k changed objects: $changed"
expect_can "system:serviceaccount:$NS:llamafactory-operator" list llamafactoryjobs.ascendfactory.io -A
check "kubectl apply -k deploy/ into a fresh test bed: $n objects accepted, operator 2 and plugin 2 pods scheduled (kwok: Running), a second apply changes nothing"

finish
