#!/usr/bin/env bash
# The tenant model on the real API server (RBAC on): the chart's ValidatingAdmissionPolicy,
# installed by `helm install`, lets a user who may only write LlamaFactoryJobs (the chart's
# aggregated job role) create safe jobs and refuses, naming the field, every job that would give
# them more than they could do directly: a folder of the node, another ServiceAccount, a Secret
# or ConfigMap they may not read, tolerations, a priority class, Pod labels, a NodePort Service.
# The same jobs pass for a user who may create Pods and Services (the built-in edit role), for
# a Secret once the user may read it, and for hostPath prefixes, toleration keys and the like
# that a cluster admin allows in one namespace with an annotation on the Namespace.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
chart=$root/charts/ascend-factory

# shellcheck source=tests/lib/check.sh
source "$root/tests/lib/check.sh"
make_work admission-test
export HELM_CACHE_HOME=$work/helm/cache HELM_CONFIG_HOME=$work/helm/config HELM_DATA_HOME=$work/helm/data
testbed_up --nodes 0

"$TESTBED_BIN/helm" install ascend-factory "$chart" -n ascend-factory --create-namespace >/dev/null \
  || fail "helm install failed"
k get validatingadmissionpolicy llamafactoryjobs-tenant-safety >/dev/null || fail "the chart installed no admission policy"
k get validatingadmissionpolicybinding llamafactoryjobs-tenant-safety >/dev/null || fail "the chart installed no policy binding"
crd_established llamafactoryjobs.ascendfactory.io
check "helm install put the ValidatingAdmissionPolicy and its binding in the API server"

# alice may write jobs in team-a and nothing else; bob has the built-in edit role there (Pods,
# Services, Secrets). Both are users the API server's authorizer knows only through RBAC.
k create namespace team-a >/dev/null
k create rolebinding alice-jobs --clusterrole=llamafactoryjobs-edit --user=alice -n team-a >/dev/null
k create rolebinding bob-edit --clusterrole=edit --user=bob -n team-a >/dev/null
k create secret generic db --from-literal=password=x -n team-a >/dev/null
k create configmap recipe --from-literal=config.yaml='stage: sft' -n team-a >/dev/null
# RBAC reaches the authorizer a moment after the objects are written.
can() { [[ $(k auth can-i "$@" 2>/dev/null) == yes ]]; }
wait_until "alice's job role to reach the authorizer" 30 can create llamafactoryjobs.ascendfactory.io -n team-a --as alice
[[ $(k auth can-i create pods -n team-a --as alice 2>/dev/null) == no ]] || fail "alice may create Pods: the test proves nothing"
[[ $(k auth can-i get secrets -n team-a --as alice 2>/dev/null) == no ]] || fail "alice may read Secrets: the test proves nothing"

n=0
# job NAME SPEC_YAML: a train job manifest with the given extra spec lines (indented by 2).
job() {
  printf 'apiVersion: ascendfactory.io/v1alpha1\nkind: LlamaFactoryJob\nmetadata: {name: %s, namespace: team-a}\nspec:\n  config: {stage: sft}\n%s\n' "$1" "$2"
}
# accepted AS WHAT SPEC: the job is created when applied as user AS.
accepted() {
  local as=$1 what=$2 spec=$3 out name
  n=$((n + 1)); name=job-$n
  out=$(job "$name" "$spec" | k create --as "$as" -f - 2>&1) || fail "$as: $what refused: $out"
}
# refused AS WHAT SPEC FIELD: the job is refused, the message names FIELD, nothing is stored.
refused() {
  local as=$1 what=$2 spec=$3 field=$4 out name
  n=$((n + 1)); name=job-$n
  if out=$(job "$name" "$spec" | k create --as "$as" -f - 2>&1); then fail "$as: $what was accepted"; fi
  [[ "$out" == *"$field"* && "$out" == *"ValidatingAdmissionPolicy"* ]] || fail "$as: $what refused without naming $field: $out"
  if k get lfjob -n team-a "$name" >/dev/null 2>&1; then fail "$as: $what is stored after the refusal"; fi
  echo "   $what: ${out##*denied request: }" | cut -c1-220
}

accepted alice "a job with only safe features" '  storage: {output: {emptyDir: {}}}
  env: [{name: HF_ENDPOINT, value: "http://mirror"}, {name: POD, valueFrom: {fieldRef: {fieldPath: metadata.name}}}]
  service: {type: ClusterIP}
  serviceAccountName: default'
check "alice (jobs only) creates a job with only safe features"

refused alice "hostPath /" '  storage: {data: {hostPath: {path: /}}}' spec.storage.data.hostPath
refused alice "hostPath /etc" '  storage: {output: {hostPath: {path: /etc}}}' spec.storage.output.hostPath
refused alice "hostPath of the runtime socket" '  storage: {huggingfaceCache: {hostPath: {path: /run/containerd}}}' spec.storage.huggingfaceCache.hostPath
refused alice "another ServiceAccount" '  serviceAccountName: ascend-builder' spec.serviceAccountName
refused alice "env from a Secret" '  env: [{name: PW, valueFrom: {secretKeyRef: {name: db, key: password}}}]' spec.env
refused alice "an image pull Secret" '  imagePullSecrets: [{name: db}]' spec.imagePullSecrets
refused alice "env from a ConfigMap" '  env: [{name: C, valueFrom: {configMapKeyRef: {name: recipe, key: config.yaml}}}]' spec.env
# configMapRef replaces config: a job spec of its own.
n=$((n + 1))
if out=$(printf 'apiVersion: ascendfactory.io/v1alpha1\nkind: LlamaFactoryJob\nmetadata: {name: job-%s, namespace: team-a}\nspec:\n  configMapRef: {name: recipe}\n' "$n" \
  | k create --as alice -f - 2>&1); then fail "alice: configMapRef was accepted"; fi
[[ "$out" == *spec.configMapRef* ]] || fail "configMapRef refused without naming the field: $out"
refused alice "tolerating every taint" '  tolerations: [{operator: Exists}]' spec.tolerations
refused alice "priority class system-node-critical" '  priorityClassName: system-node-critical' spec.priorityClassName
refused alice "a NodePort Service" '  service: {type: NodePort}' spec.service.type
refused alice "Pod labels that match another Service" '  podLabels: {app: web}' spec.podLabels
check "alice is refused hostPath (/, /etc, a runtime socket), another ServiceAccount, a Secret in env and imagePullSecrets, a ConfigMap in env and configMapRef, tolerations, a priority class, NodePort and Pod labels, each naming its field"

# bob may create Pods and Services: the operator gives him nothing he lacks.
accepted bob "hostPath, ServiceAccount, Secret, tolerations, priority, NodePort, labels" '  storage: {data: {hostPath: {path: /data}}}
  serviceAccountName: ascend-builder
  env: [{name: PW, valueFrom: {secretKeyRef: {name: db, key: password}}}]
  imagePullSecrets: [{name: db}]
  tolerations: [{operator: Exists}]
  priorityClassName: system-node-critical
  service: {type: NodePort}
  podLabels: {app: web}'
check "bob (edit role: may create Pods and Services) creates the same job with every feature"

# A Secret alice may read is hers to use.
k create role read-db --verb=get --resource=secrets --resource-name=db -n team-a >/dev/null
k create rolebinding alice-read-db --role=read-db --user=alice -n team-a >/dev/null
wait_until "alice's Secret role to reach the authorizer" 30 can get secret/db -n team-a --as alice
accepted alice "env from a Secret she may read" '  env: [{name: PW, valueFrom: {secretKeyRef: {name: db, key: password}}}]'
refused alice "env from another Secret" '  env: [{name: PW, valueFrom: {secretKeyRef: {name: other, key: password}}}]' spec.env
check "once alice may get Secret db she may use it in env, and still no other"

# The cluster admin allows more in team-a through annotations on the Namespace.
k annotate namespace team-a ascendfactory.io/allowed-host-paths=/mnt/models,/scratch/ \
  ascendfactory.io/allowed-toleration-keys=huawei.com/Ascend910 ascendfactory.io/allowed-priority-classes=training \
  ascendfactory.io/allowed-pod-label-keys=team >/dev/null
accepted alice "hostPath under an allowed prefix" '  storage: {huggingfaceCache: {hostPath: {path: /mnt/models/qwen}}, data: {hostPath: {path: /scratch/x}}, output: {hostPath: {path: /mnt/models}}}'
refused alice "a path that only starts like the prefix" '  storage: {data: {hostPath: {path: /mnt/models-other}}}' spec.storage.data.hostPath
refused alice "a path that climbs out of the prefix" '  storage: {data: {hostPath: {path: /mnt/models/../../etc}}}' spec.storage.data.hostPath
accepted alice "an allowed toleration, priority class and label" '  tolerations: [{key: huawei.com/Ascend910, operator: Exists, effect: NoSchedule}]
  priorityClassName: training
  podLabels: {team: nlp}'
refused alice "a toleration of another key" '  tolerations: [{key: node-role.kubernetes.io/control-plane, operator: Exists}]' spec.tolerations
refused alice "another label key" '  podLabels: {team: nlp, app: web}' spec.podLabels
check "namespace annotations allow hostPath prefixes (exact segments, no ..), toleration keys, priority classes and label keys"

# Updates are not checked again (every checked field is immutable): alice may suspend her job.
k patch lfjob job-1 -n team-a --as alice --type merge -p '{"spec":{"runPolicy":{"suspend":true}}}' >/dev/null \
  || fail "alice could not suspend her own job"
check "alice suspends her job (runPolicy edits pass)"

finish
