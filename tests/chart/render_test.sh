#!/usr/bin/env bash
# The Helm chart (charts/ascend-factory) without a cluster, with the pinned helm only:
#   - helm lint --strict with default and with non-default values (values-custom.yaml);
#   - helm template with default values: the operator Deployment (2 replicas, leader election,
#     probes, ports, non-root, read-only root, no privilege escalation, no capabilities,
#     requests), the plugin DaemonSet (node selector, tolerations, system-node-critical, host
#     mounts, probes, metrics port, its own token with patch on Pods alone for chip faults), RBAC with exactly the rules the operator uses;
#   - helm template with non-default values: namespace scope gives a Role and RoleBinding and no
#     ClusterRole, every value reaches the object it configures;
#   - every file in bad-values/ is refused with a message naming the value (`# expect:` lines;
#     chart_test.sh checks that helm install refuses them too);
#   - the CRD in the chart and in deploy/ is byte for byte crds/llamafactoryjobs.yaml;
#   - deploy/ is what deploy/render.sh renders from the chart, and `kubectl kustomize deploy/`
#     builds the same objects as helm template plus the namespace and the CRD.
# Rendered YAML is turned into JSON by helm itself (yaml2json/), so the checks use jq.
#
# Usage: tests/chart/render_test.sh
# Environment: TESTBED_BIN (default: the folder tests/testbed/tools/build.sh built).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
chart=$root/charts/ascend-factory
bin=${TESTBED_BIN:-$("$root/tests/testbed/tools/build.sh" --bin-dir)}
helm=$bin/helm
kubectl=$bin/kubectl
[[ -x "$helm" && -x "$kubectl" ]] || { echo "FAIL: no helm/kubectl in $bin (run tests/testbed/tools/build.sh)" >&2; exit 1; }

# shellcheck source=tests/lib/check.sh
source "$root/tests/lib/check.sh"
make_work chart-render
export HELM_CACHE_HOME=$work/helm/cache HELM_CONFIG_HOME=$work/helm/config HELM_DATA_HOME=$work/helm/data

# render NAME NAMESPACE [helm args...]: helm template into $work/NAME.yaml and NAME.json
render() {
  local name=$1 ns=$2; shift 2
  "$helm" template ascend-factory "$chart" -n "$ns" "$@" >"$work/$name.yaml" 2>"$work/$name.err" \
    || fail "helm template ($name): $(cat "$work/$name.err")"
  "$helm" template y "$here/yaml2json" --set-file input="$work/$name.yaml" | sed -n 's/^# JSON //p' >"$work/$name.json"
  [[ -s "$work/$name.json" ]] || fail "could not turn the $name render into JSON"
}
# q NAME JQ: jq over the render's objects (.items)
q() { jq -c "$2" "$work/$1.json"; }
# obj KIND NAME: jq filter selecting one object
obj() { echo ".items[] | select(.kind == \"$1\" and .metadata.name == \"$2\")"; }
# expect DESCRIPTION GOT WANT
expect() { [[ "$2" == "$3" ]] || fail "$1: got $2, want $3"; }

# --- lint
out=$("$helm" lint --strict "$chart" 2>&1) || fail "helm lint --strict: $out"
out=$("$helm" lint --strict "$chart" -f "$here/values-custom.yaml" 2>&1) || fail "helm lint --strict -f values-custom.yaml: $out"
check "helm lint --strict passes with default and with non-default values"

# --- every value documented: each value of the schema (a leaf, a list or a free map) has a
# comment line right above its key in values.yaml
jq -r 'def leaves(p): if .properties then (.properties | to_entries[] | .key as $k | .value | leaves(p + [$k])) else p end;
  leaves([]) | join(".")' "$chart/values.schema.json" | sort >"$work/schema-values"
awk '
  /^[[:space:]]*#/ { commented = 1; next }
  /^[[:space:]]*-/ || /^[[:space:]]*$/ { commented = 0; next }
  /^[[:space:]]*[A-Za-z][A-Za-z0-9]*:/ {
    match($0, /^ */); depth = RLENGTH / 2
    key = $0; sub(/^ */, "", key); sub(/:.*/, "", key)
    path[depth] = key; p = path[0]
    for (i = 1; i <= depth; i++) p = p "." path[i]
    print p, commented
    commented = 0
  }' "$chart/values.yaml" | sort -u >"$work/values-keys"
missing=$(join -v1 "$work/schema-values" <(awk '{print $1}' "$work/values-keys" | sort -u) || true)
[[ -z "$missing" ]] || fail "values in values.schema.json but not in values.yaml: $missing"
undocumented=$(join "$work/schema-values" "$work/values-keys" | awk '$2 == 0 {print $1}')
[[ -z "$undocumented" ]] || fail "values.yaml: no comment right above $(echo $undocumented)"
check "all $(wc -l <"$work/schema-values") values in values.yaml have a comment, and the schema knows each"

# --- defaults
render default ascend-factory
kinds=$(q default '[.items[] | "\(.kind)/\(.metadata.name)"] | sort')
expect "objects rendered with default values" "$kinds" \
  '["ClusterRole/ascend-device-plugin","ClusterRole/llamafactory-operator","ClusterRole/llamafactory-operator-tokenreviews","ClusterRole/llamafactoryjobs-edit","ClusterRole/llamafactoryjobs-view","ClusterRoleBinding/ascend-device-plugin","ClusterRoleBinding/llamafactory-operator","ClusterRoleBinding/llamafactory-operator-tokenreviews","DaemonSet/ascend-device-plugin","Deployment/llamafactory-operator","Role/llamafactory-operator-leader-election","RoleBinding/llamafactory-operator-leader-election","Secret/llamafactory-operator-progress-tls","Service/llamafactory-operator-progress","ServiceAccount/ascend-device-plugin","ServiceAccount/llamafactory-operator","ValidatingAdmissionPolicy/llamafactoryjobs-tenant-safety","ValidatingAdmissionPolicy/npu-fault-annotation","ValidatingAdmissionPolicyBinding/llamafactoryjobs-tenant-safety","ValidatingAdmissionPolicyBinding/npu-fault-annotation"]'
expect "namespaced objects' namespace" "$(q default '[.items[] | select(.kind | test("^(Cluster|ValidatingAdmissionPolicy|$)") | not) | .metadata.namespace] | unique')" '["ascend-factory"]'
check "default render: $(q default '.items | length') objects (no ServiceMonitor, PodMonitor or metrics Service), all in the release namespace"

dep=$(obj Deployment llamafactory-operator)
c="$dep | .spec.template.spec.containers[0]"
expect "operator replicas" "$(q default "$dep | .spec.replicas")" 2
expect "operator args" "$(q default "[$c | .args[] | select(startswith(\"--progress\") | not)]")" \
  '["--leader-elect=true","--default-image=ascendfactory/llamafactory-npu:latest","--metrics-address=:8080","--health-address=:8081","--workers=16","--kube-api-qps=100","--kube-api-burst=200","--log-level=info","--log-format=json"]'
expect "operator ports" "$(q default "$c | .ports")" '[{"containerPort":8080,"name":"metrics"},{"containerPort":8081,"name":"health"},{"containerPort":9443,"name":"progress"}]'
expect "operator probes" "$(q default "$c | [.livenessProbe.httpGet, .readinessProbe.httpGet]")" \
  '[{"path":"/healthz","port":"health"},{"path":"/readyz","port":"health"}]'
expect "operator container securityContext" "$(q default "$c | .securityContext")" \
  '{"allowPrivilegeEscalation":false,"capabilities":{"drop":["ALL"]},"readOnlyRootFilesystem":true}'
expect "operator pod securityContext" "$(q default "$dep | .spec.template.spec.securityContext")" \
  '{"runAsGroup":65532,"runAsNonRoot":true,"runAsUser":65532,"seccompProfile":{"type":"RuntimeDefault"}}'
expect "operator requests" "$(q default "$c | .resources.requests")" '{"cpu":"50m","memory":"64Mi"}'
expect "operator image" "$(q default "$c | .image")" '"ascend-factory/llamafactory-operator:dev"'
expect "operator ServiceAccount" "$(q default "$dep | .spec.template.spec.serviceAccountName")" '"llamafactory-operator"'
expect "operator anti-affinity" "$(q default "$dep | .spec.template.spec.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].podAffinityTerm.topologyKey")" '"kubernetes.io/hostname"'
expect "operator selector" "$(q default "$dep | .spec.selector.matchLabels")" '{"app.kubernetes.io/instance":"ascend-factory","app.kubernetes.io/name":"llamafactory-operator"}'
check "operator Deployment: 2 replicas, --leader-elect, /healthz and /readyz on 8081, metrics 8080, non-root, read-only root, no escalation, drop ALL, requests"

ds=$(obj DaemonSet ascend-device-plugin)
p="$ds | .spec.template.spec"
pc="$p | .containers[0]"
expect "plugin nodeSelector" "$(q default "$p | .nodeSelector")" '{"accelerator":"huawei-Ascend910"}'
expect "plugin priorityClassName" "$(q default "$p | .priorityClassName")" '"system-node-critical"'
expect "plugin tolerations" "$(q default "$p | [.tolerations[].key]")" \
  '["CriticalAddonsOnly","huawei.com/Ascend910","startup-taint.cluster-autoscaler.kubernetes.io/ascend-npu"]'
# Chip-fault annotations (on by default): its own ServiceAccount and token, the node's name.
expect "plugin ServiceAccount and token" "$(q default "$p | [.serviceAccountName, .automountServiceAccountToken]")" '["ascend-device-plugin",true]'
expect "plugin env" "$(q default "$pc | .env")" '[{"name":"ASCEND_DP_NODE_NAME","valueFrom":{"fieldRef":{"fieldPath":"spec.nodeName"}}}]'
expect "plugin args" "$(q default "$pc | .args")" \
  '["--http-address=0.0.0.0:9110","--resource-name=huawei.com/Ascend910","--socket-dir=/var/lib/kubelet/device-plugins","--device-root=/dev","--driver-mounts=/usr/local/Ascend/driver,/usr/local/dcmi,/usr/local/bin/npu-smi,/etc/ascend_install.info","--container-runtime=default","--log-level=info","--pod-resources-socket=/var/lib/kubelet/pod-resources/kubelet.sock","--annotate-faults=true"]'
expect "plugin ClusterRole rules" "$(q default "$(obj ClusterRole ascend-device-plugin) | .rules")" '[{"apiGroups":[""],"resources":["pods"],"verbs":["patch"]}]'
expect "plugin ClusterRoleBinding" "$(q default "$(obj ClusterRoleBinding ascend-device-plugin) | [.roleRef.name, .subjects]")" \
  '["ascend-device-plugin",[{"kind":"ServiceAccount","name":"ascend-device-plugin","namespace":"ascend-factory"}]]'
expect "plugin ports" "$(q default "$pc | .ports")" '[{"containerPort":9110,"name":"metrics"}]'
expect "plugin probes" "$(q default "$pc | [.livenessProbe.httpGet, .readinessProbe.httpGet]")" \
  '[{"path":"/healthz","port":"metrics"},{"path":"/readyz","port":"metrics"}]'
expect "plugin host paths" "$(q default "$p | [.volumes[] | \"\(.name)=\(.hostPath.path):\(.hostPath.type)\"]")" \
  '["device-plugins=/var/lib/kubelet/device-plugins:Directory","dev=/dev:Directory","pod-resources=/var/lib/kubelet/pod-resources:DirectoryOrCreate","driver=/usr/local/Ascend/driver:Directory","dcmi=/usr/local/dcmi:Directory","npu-smi=/usr/local/bin/npu-smi:File","ascend-install-info=/etc/ascend_install.info:File"]'
expect "plugin mounts" "$(q default "$pc | [.volumeMounts[] | \"\(.name)=\(.mountPath):\(.readOnly // false)\"]")" \
  '["device-plugins=/var/lib/kubelet/device-plugins:false","dev=/dev:false","pod-resources=/var/lib/kubelet/pod-resources:true","driver=/usr/local/Ascend/driver:true","dcmi=/usr/local/dcmi:true","npu-smi=/usr/local/bin/npu-smi:true","ascend-install-info=/etc/ascend_install.info:true"]'
expect "plugin image" "$(q default "$pc | .image")" '"ascend-factory/ascend-device-plugin:dev"'
check "plugin DaemonSet: on accelerator=huawei-Ascend910, tolerations, system-node-critical, its own token with patch on Pods alone (chip faults), host mounts, probes and metrics on 9110"
render nofault ascend-factory --set plugin.faultAnnotations.enabled=false
expect "plugin without fault annotations" "$(q nofault "$(obj DaemonSet ascend-device-plugin) | .spec.template.spec | [.serviceAccountName, .automountServiceAccountToken, .containers[0].env, (.containers[0].args | map(select(startswith(\"--annotate\"))))]")" '[null,false,null,[]]'
expect "no plugin RBAC without fault annotations" "$(q nofault '[.items[] | select(.metadata.name == "ascend-device-plugin" and .kind != "DaemonSet") | .kind]')" '[]'
check "plugin.faultAnnotations.enabled=false: no ServiceAccount, no token, no RBAC, no --annotate-faults (faults only logged)"

# The operator's rules: exactly what operator/ calls (tests/operator/e2e_test.sh runs the
# operator under them). A new call needs its rule in charts/ascend-factory/templates/_helpers.tpl
# and here: privileges change on purpose only.
want_rules='[{"apiGroups":["ascendfactory.io"],"resources":["llamafactoryjobs"],"verbs":["get","list","watch","delete"]},{"apiGroups":["ascendfactory.io"],"resources":["llamafactoryjobs/status"],"verbs":["get","update","patch"]},{"apiGroups":["ascendfactory.io"],"resources":["llamafactoryjobs/finalizers"],"verbs":["update"]},{"apiGroups":[""],"resources":["pods"],"verbs":["get","list","watch","create","delete"]},{"apiGroups":[""],"resources":["configmaps","services"],"verbs":["get","list","watch","create","patch"]},{"apiGroups":["events.k8s.io"],"resources":["events"],"verbs":["create","patch"]},{"apiGroups":[""],"resources":["events"],"verbs":["list","watch"]},{"apiGroups":["kueue.x-k8s.io"],"resources":["workloads"],"verbs":["get","list","watch","create","delete"]},{"apiGroups":["kueue.x-k8s.io"],"resources":["workloads/status"],"verbs":["update"]}]'
node_rules='[{"apiGroups":[""],"resources":["nodes"],"verbs":["get","list","watch","patch"]}]'
kueue_rules='[{"apiGroups":["kueue.x-k8s.io"],"resources":["resourceflavors"],"verbs":["get","list","watch"]},{"apiGroups":["kueue.x-k8s.io"],"resources":["workloadpriorityclasses"],"verbs":["get"]}]'
expect "ClusterRole llamafactory-operator rules" "$(q default "$(obj ClusterRole llamafactory-operator) | .rules")" \
  "$(jq -c -n "$want_rules + $node_rules + $kueue_rules")"
expect "leader-election Role rules" "$(q default "$(obj Role llamafactory-operator-leader-election) | .rules")" \
  '[{"apiGroups":["coordination.k8s.io"],"resources":["leases"],"verbs":["get","create","update"]}]'
expect "ClusterRoleBinding" "$(q default "$(obj ClusterRoleBinding llamafactory-operator) | [.roleRef.kind, .roleRef.name, .subjects]")" \
  '["ClusterRole","llamafactory-operator",[{"kind":"ServiceAccount","name":"llamafactory-operator","namespace":"ascend-factory"}]]'
wildcards=$(q default '[.items[] | select(.rules) | .rules[] | select((.verbs + .resources + .apiGroups) | index("*"))] | length')
expect "rules with a wildcard" "$wildcards" 0
expect "aggregated roles" "$(q default '[.items[] | select(.kind == "ClusterRole") | .metadata.labels | to_entries[] | select(.key | startswith("rbac.authorization.k8s.io/aggregate-to")) | .key] | sort')" \
  '["rbac.authorization.k8s.io/aggregate-to-admin","rbac.authorization.k8s.io/aggregate-to-edit","rbac.authorization.k8s.io/aggregate-to-view"]'
tokenreview_rules='[{"apiGroups":["authentication.k8s.io"],"resources":["tokenreviews"],"verbs":["create"]}]'
expect "ClusterRole llamafactory-operator-tokenreviews rules" "$(q default "$(obj ClusterRole llamafactory-operator-tokenreviews) | .rules")" \
  "$tokenreview_rules"
# The status server (training progress): its Secret made at install, the headless Service,
# the flags and the optional Secret volume.
expect "progress Secret" "$(q default "$(obj Secret llamafactory-operator-progress-tls) | [.type, (.data | keys)]")" \
  '["kubernetes.io/tls",["ca.crt","tls.crt","tls.key"]]'
san=$(q default "$(obj Secret llamafactory-operator-progress-tls) | .data[\"tls.crt\"]" | tr -d '"' | base64 -d | openssl x509 -noout -ext subjectAltName 2>/dev/null | tail -n 1)
[[ "$san" == *"DNS:llamafactory-operator-progress.ascend-factory.svc"* ]] || fail "progress certificate SANs: $san"
expect "progress Service" "$(q default "$(obj Service llamafactory-operator-progress) | [.spec.clusterIP, .spec.ports]")" \
  '["None",[{"name":"progress","port":9443,"targetPort":"progress"}]]'
expect "progress flags" "$(q default "$dep | [.spec.template.spec.containers[0].args[] | select(startswith(\"--progress\"))]")" \
  '["--progress-address=:9443","--progress-cert-file=/etc/ascend-factory/progress-tls/tls.crt","--progress-key-file=/etc/ascend-factory/progress-tls/tls.key","--progress-ca-file=/etc/ascend-factory/progress-tls/ca.crt","--progress-url=https://llamafactory-operator-progress.ascend-factory.svc:9443/v1/progress","--progress-interval=30"]'
expect "progress Secret volume" "$(q default "$dep | .spec.template.spec.volumes")" \
  '[{"name":"progress-tls","secret":{"optional":true,"secretName":"llamafactory-operator-progress-tls"}}]'
check "RBAC: the operator's ClusterRole holds exactly its rules (jobs, status, finalizers, pods, configmaps, services, events, Kueue workloads, nodes, Kueue flavors and priority classes read-only), no wildcard; TokenReviews in a ClusterRole of their own; Lease Role; jobs aggregated into admin/edit/view"

# --- non-default values: namespace scope, no cluster-wide grant, every knob moved
render custom team-a -f "$here/values-custom.yaml"
expect "cluster-scoped objects in namespace scope with rbac.nodes=false and rbac.kueue=false" \
  "$(q custom '[.items[] | select(.kind | startswith("Cluster"))] | length')" 0
expect "Role llamafactory-operator rules" "$(q custom "$(obj Role llamafactory-operator) | [.metadata.namespace, .rules]")" \
  "[\"team-a\",$want_rules]"
expect "RoleBinding" "$(q custom "$(obj RoleBinding llamafactory-operator) | [.roleRef.kind, .roleRef.name, .subjects]")" \
  '["Role","llamafactory-operator",[{"kind":"ServiceAccount","name":"lf-operator","namespace":"team-a"}]]'
expect "admission policy binding in namespace scope" \
  "$(q custom "$(obj ValidatingAdmissionPolicyBinding llamafactoryjobs-tenant-safety-team-a) | [.spec.policyName, .spec.matchResources.namespaceSelector.matchLabels]")" \
  '["llamafactoryjobs-tenant-safety-team-a",{"kubernetes.io/metadata.name":"team-a"}]'
dep=$(obj Deployment llamafactory-operator)
c="$dep | .spec.template.spec.containers[0]"
expect "namespace-scoped operator args" "$(q custom "$c | .args")" \
  '["--namespace=team-a","--leader-elect=true","--default-image=registry.example.com/llamafactory-npu:0.9.2","--metrics-address=:9090","--health-address=:9091","--workers=8","--kube-api-qps=50","--kube-api-burst=100","--log-level=info","--log-format=text","--startup-taint=","--leader-election-id=lf-team-a"]'
expect "operator replicas/image/pullPolicy/SA/priority" \
  "$(q custom "[($dep | .spec.replicas), ($c | .image, .imagePullPolicy), ($dep | .spec.template.spec | .serviceAccountName, .priorityClassName, .imagePullSecrets, .nodeSelector)]")" \
  '[3,"registry.example.com/ascend/llamafactory-operator:v1.2.3","IfNotPresent","lf-operator","system-cluster-critical",[{"name":"regcred"}],{"node-role.kubernetes.io/control-plane":""}]'
expect "operator probe port" "$(q custom "$c | .ports")" '[{"containerPort":9090,"name":"metrics"},{"containerPort":9091,"name":"health"}]'
ds=$(obj DaemonSet ascend-device-plugin)
p="$ds | .spec.template.spec"
pc="$p | .containers[0]"
expect "plugin args" "$(q custom "$pc | .args")" \
  '["--http-address=0.0.0.0:9200","--resource-name=huawei.com/Ascend910B","--socket-dir=/var/lib/k0s/kubelet/device-plugins","--device-root=/host/dev","--driver-mounts=/opt/Ascend/driver,/srv/ascend/hccn.conf:/etc/hccn.conf","--container-runtime=ascend","--log-level=debug","--pod-resources-socket=/var/lib/k0s/kubelet/pod-resources/kubelet.sock","--annotate-faults=true","--discovery=devfs","--health-interval=10s"]'
expect "plugin host paths" "$(q custom "$p | [.volumes[] | \"\(.name)=\(.hostPath.path):\(.hostPath.type)\"]")" \
  '["device-plugins=/var/lib/k0s/kubelet/device-plugins:Directory","dev=/host/dev:Directory","pod-resources=/var/lib/k0s/kubelet/pod-resources:DirectoryOrCreate","driver=/opt/Ascend/driver:Directory","hccn-conf=/srv/ascend/hccn.conf:File"]'
expect "plugin mounts" "$(q custom "$pc | [.volumeMounts[] | \"\(.name)=\(.mountPath)\"]")" \
  '["device-plugins=/var/lib/k0s/kubelet/device-plugins","dev=/host/dev","pod-resources=/var/lib/k0s/kubelet/pod-resources","driver=/opt/Ascend/driver","hccn-conf=/srv/ascend/hccn.conf"]'
expect "plugin selector/tolerations/priority/env/annotations/image" \
  "$(q custom "[($p | .nodeSelector, [.tolerations[].key], .priorityClassName, .imagePullSecrets), ($pc | .env, .image, .imagePullPolicy, .ports), ($ds | .spec.template.metadata.annotations)]")" \
  '[{"node.kubernetes.io/npu.chip.name":"910B3"},["dedicated"],null,[{"name":"regcred"}],[{"name":"ASCEND_DP_NODE_NAME","valueFrom":{"fieldRef":{"fieldPath":"spec.nodeName"}}},{"name":"TZ","value":"Asia/Shanghai"}],"registry.example.com/ascend/ascend-device-plugin:v1.2.3","Always",[{"containerPort":9200,"name":"metrics"}],{"example.com/scrape":"true"}]'
expect "monitoring objects" "$(q custom '[.items[] | select(.kind | test("Monitor$|^Service$")) | "\(.kind)/\(.metadata.name)"] | sort')" \
  '["PodMonitor/ascend-device-plugin","PodMonitor/llamafactory-operator","Service/ascend-device-plugin-metrics","Service/llamafactory-operator-metrics","ServiceMonitor/ascend-device-plugin","ServiceMonitor/llamafactory-operator"]'
expect "ServiceMonitor" "$(q custom "$(obj ServiceMonitor ascend-device-plugin) | [.apiVersion, .metadata.labels.release, .spec.endpoints, .spec.selector.matchLabels]")" \
  '["monitoring.coreos.com/v1","prometheus",[{"interval":"15s","path":"/metrics","port":"metrics"}],{"app.kubernetes.io/instance":"ascend-factory","app.kubernetes.io/name":"ascend-device-plugin"}]'
expect "metrics Service port" "$(q custom "$(obj Service llamafactory-operator-metrics) | .spec.ports")" '[{"name":"metrics","port":9090,"targetPort":"metrics"}]'
expect "commonLabels on every object" "$(q custom '[.items[] | .metadata.labels.team] | unique')" '["ml-platform"]'
check "non-default values: namespace scope gives Role/RoleBinding and no ClusterRole, --namespace=team-a; images, paths, mounts, ports, args, monitors and labels follow the values"

render nsnodes team-b --set operator.scope=namespace
expect "ClusterRoles in namespace scope with rbac.nodes" "$(q nsnodes '[.items[] | select(.kind == "ClusterRole") | "\(.metadata.name)=\(.rules | tojson)"] | sort')" \
  "[\"llamafactory-operator-kueue-team-b=$(jq -c -n "$kueue_rules" | sed 's/"/\\"/g')\",\"llamafactory-operator-nodes-team-b=$(jq -c -n "$node_rules" | sed 's/"/\\"/g')\",\"llamafactory-operator-tokenreviews-team-b=$(jq -c -n "$tokenreview_rules" | sed 's/"/\\"/g')\",\"llamafactoryjobs-edit-team-b=[{\\\"apiGroups\\\":[\\\"ascendfactory.io\\\"],\\\"resources\\\":[\\\"llamafactoryjobs\\\"],\\\"verbs\\\":[\\\"get\\\",\\\"list\\\",\\\"watch\\\",\\\"create\\\",\\\"update\\\",\\\"patch\\\",\\\"delete\\\",\\\"deletecollection\\\"]},{\\\"apiGroups\\\":[\\\"ascendfactory.io\\\"],\\\"resources\\\":[\\\"llamafactoryjobs/status\\\"],\\\"verbs\\\":[\\\"get\\\"]}]\",\"llamafactoryjobs-view-team-b=[{\\\"apiGroups\\\":[\\\"ascendfactory.io\\\"],\\\"resources\\\":[\\\"llamafactoryjobs\\\",\\\"llamafactoryjobs/status\\\"],\\\"verbs\\\":[\\\"get\\\",\\\"list\\\",\\\"watch\\\"]}]\"]"
expect "Role in namespace scope" "$(q nsnodes "$(obj Role llamafactory-operator) | .metadata.namespace")" '"team-b"'
expect "plugin Role in namespace scope" "$(q nsnodes "[[$(obj Role ascend-device-plugin) | .metadata.namespace, .rules], [$(obj RoleBinding ascend-device-plugin) | .metadata.namespace, .roleRef.kind]]")" \
  '[["team-b",[{"apiGroups":[""],"resources":["pods"],"verbs":["patch"]}]],["team-b","Role"]]'
check "namespace scope with node and Kueue access: the operator's ClusterRoles hold nodes alone, Kueue's flavors and priority classes (read) alone and tokenreviews alone, cluster-scoped names carry the namespace"
render progress ascend-factory --set operator.progress.port=9555 --set operator.progress.interval=10 --set operator.progress.tlsSecretName=mine
expect "progress with a Secret of the user's" "$(q progress '[.items[] | select(.kind == "Secret")] | length')" 0
expect "progress knobs" "$(q progress "$(obj Deployment llamafactory-operator) | [(.spec.template.spec.containers[0].args[] | select(test(\"--progress-(address|interval|url)\"))), .spec.template.spec.volumes[0].secret.secretName]")" \
  '["--progress-address=:9555","--progress-url=https://llamafactory-operator-progress.ascend-factory.svc:9555/v1/progress","--progress-interval=10","mine"]'
check "progress values: port, interval and a Secret of the user's reach the Deployment; no Secret is made"

render disabled ascend-factory --set plugin.enabled=false --set operator.enabled=false --set rbac.aggregateToDefaultRoles=false --set admissionPolicy.enabled=false
expect "objects with everything disabled" "$(q disabled '.items | length')" 0
render oneoff ascend-factory --set operator.replicas=1 --set operator.leaderElect=false
expect "single replica without election" "$(q oneoff "[($(obj Deployment llamafactory-operator) | .spec.template.spec.containers[0].args[0])] + [.items[] | select(.kind == \"Role\") | .metadata.name]")" '["--leader-elect=false"]'
check "plugin, operator and user roles can each be switched off; one replica without election drops the Lease Role"

# --- bad values are refused with a message naming the value
n=0
for f in "$here"/bad-values/*.yaml; do
  if out=$("$helm" template ascend-factory "$chart" -f "$f" 2>&1 >/dev/null); then
    fail "$(basename "$f"): helm template accepted it, want a refusal"
  fi
  while read -r want; do
    [[ "$out" == *"$want"* ]] || fail "$(basename "$f"): the message lacks '$want': $out"
  done < <(sed -n 's/^# expect: //p' "$f")
  n=$((n + 1))
done
check "$n bad values files refused by helm template, each with a message naming the value (e.g. $(grep -m1 "at '" <<<"$out" | sed 's/^- //'))"

# --- one CRD: crds/ is the source; the chart and deploy/ carry byte-identical copies
for copy in charts/ascend-factory/crds/llamafactoryjobs.yaml deploy/crds/llamafactoryjobs.yaml; do
  cmp "$root/crds/llamafactoryjobs.yaml" "$root/$copy" >&2 \
    || fail "$copy differs from crds/llamafactoryjobs.yaml; run deploy/render.sh to copy it"
done
[[ $(ls "$chart/crds") == llamafactoryjobs.yaml ]] || fail "charts/ascend-factory/crds/ holds more than the CRD: $(ls "$chart/crds")"
check "the chart's and deploy/'s CRD are byte-identical to crds/llamafactoryjobs.yaml"

# --- deploy/ is the chart's default render
out=$(HELM=$helm "$root/deploy/render.sh" --check 2>&1) || fail "deploy/ is out of step with the chart:
$out"
mkdir -p "$work/k"
cp "$root/deploy/namespace.yaml" "$root/crds/llamafactoryjobs.yaml" "$work/k/"
# Naming the status server's Secret leaves out the one the chart makes at install (not in
# deploy/: it would hold a private key), and changes nothing else.
"$helm" template ascend-factory "$chart" -n ascend-factory \
  --set operator.progress.tlsSecretName=llamafactory-operator-progress-tls \
  | grep -Ev '^ *(helm\.sh/chart: |app\.kubernetes\.io/managed-by: Helm$)' >"$work/k/chart.yaml"
printf 'resources: [namespace.yaml, llamafactoryjobs.yaml, chart.yaml]\n' >"$work/k/kustomization.yaml"
"$kubectl" kustomize "$root/deploy" >"$work/deploy.out" 2>&1 || fail "kubectl kustomize deploy/: $(cat "$work/deploy.out")"
"$kubectl" kustomize "$work/k" >"$work/chart.out"
diff -u "$work/chart.out" "$work/deploy.out" >&2 \
  || fail "kubectl kustomize deploy/ differs from helm template (default values) + namespace + CRD"
check "deploy/ is in step: render.sh --check is clean and kubectl kustomize deploy/ equals the chart's default render ($(grep -c '^kind:' "$work/deploy.out") objects)"

finish
