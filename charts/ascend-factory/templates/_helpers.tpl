{{/*
Names. Objects are named after the programs they run (the architecture's public names), not
after the release: one ascend-factory release per cluster (cluster scope) or per namespace
(namespace scope).
*/}}
{{- define "ascend-factory.operatorName" -}}llamafactory-operator{{- end -}}
{{- define "ascend-factory.pluginName" -}}ascend-device-plugin{{- end -}}

{{/*
Suffix of cluster-scoped names: empty in cluster scope, -<release namespace> in namespace scope,
so namespace-scoped releases in different namespaces do not collide.
*/}}
{{- define "ascend-factory.clusterSuffix" -}}
{{- if eq .Values.operator.scope "namespace" -}}-{{ .Release.Namespace }}{{- end -}}
{{- end -}}

{{- define "ascend-factory.chart" -}}
{{ .Chart.Name }}-{{ .Chart.Version | replace "+" "_" }}
{{- end -}}

{{/*
Labels of every object; call with (dict "root" $ "name" "<component name>").
*/}}
{{- define "ascend-factory.labels" -}}
helm.sh/chart: {{ include "ascend-factory.chart" .root }}
{{ include "ascend-factory.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/part-of: ascend-factory
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
{{- with .root.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "ascend-factory.selectorLabels" -}}
app.kubernetes.io/name: {{ .name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- end -}}

{{/* image: (dict "image" .Values.x.image) */}}
{{- define "ascend-factory.image" -}}
{{ .image.repository }}:{{ .image.tag }}
{{- end -}}

{{/*
Rules of the operator for LlamaFactoryJobs and their children: exactly the calls of
operator/reconciler.cpp and operator/main.cpp (tests/operator/e2e_*_test.sh run the operator
under these rules, so a missing one fails them). Used by the ClusterRole (cluster scope) or the
Role (namespace scope).
*/}}
{{- define "ascend-factory.operatorRules" -}}
# Jobs: watched; deleted when ttlSecondsAfterFinished passes.
- apiGroups: [ascendfactory.io]
  resources: [llamafactoryjobs]
  verbs: [get, list, watch, delete]
# Status is written only through the subresource.
- apiGroups: [ascendfactory.io]
  resources: [llamafactoryjobs/status]
  verbs: [get, update, patch]
# Children carry ownerReferences with blockOwnerDeletion, which the API server allows only to
# those who may update the owner's finalizers.
- apiGroups: [ascendfactory.io]
  resources: [llamafactoryjobs/finalizers]
  verbs: [update]
# Worker Pods: created if missing (get after an AlreadyExists, to see whose the Pod is),
# deleted on restart, suspend, deadline and failure; never one the job does not control.
- apiGroups: [""]
  resources: [pods]
  verbs: [get, list, watch, create, delete]
# ConfigMap (inline config) and the two Services: created if missing (get after an
# AlreadyExists, to see whose the object is), server-side apply only when the job controls them.
- apiGroups: [""]
  resources: [configmaps, services]
  verbs: [get, list, watch, create, patch]
# Events about jobs (events.k8s.io/v1, repeats folded into a series by patch).
- apiGroups: [events.k8s.io]
  resources: [events]
  verbs: [create, patch]
# Node autoscalers' Events on Pods (core v1, field-selected to the cluster-autoscaler's and
# Karpenter's): a Pending job says a node is coming, or why none will (--autoscaler-events).
- apiGroups: [""]
  resources: [events]
  verbs: [list, watch]
# Kueue: the Workload of a job labelled kueue.x-k8s.io/queue-name (operator/workload.hpp):
# created if missing (get after an AlreadyExists), deleted when the job is suspended or
# resized while queued; its status written to mark it Finished or to hand an evicted
# admission back. Only Workloads the job controls.
- apiGroups: [kueue.x-k8s.io]
  resources: [workloads]
  verbs: [get, list, watch, create, delete]
- apiGroups: [kueue.x-k8s.io]
  resources: [workloads/status]
  verbs: [update]
{{- end -}}

{{- define "ascend-factory.kueueRules" -}}
# Kueue's cluster-wide objects, read only: ResourceFlavors (the node labels and tolerations
# of the flavor a job was admitted with) and WorkloadPriorityClasses (a job's priority).
- apiGroups: [kueue.x-k8s.io]
  resources: [resourceflavors]
  verbs: [get, list, watch]
- apiGroups: [kueue.x-k8s.io]
  resources: [workloadpriorityclasses]
  verbs: [get]
{{- end -}}

{{- define "ascend-factory.nodeRules" -}}
# Nodes: the startup taint is removed once a node's chips show in allocatable.
- apiGroups: [""]
  resources: [nodes]
  verbs: [get, list, watch, patch]
{{- end -}}
