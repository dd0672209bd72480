#!/usr/bin/env bash
# Control-plane smoke test: the test bed comes up with real components, the fake nodes
# advertise 8 huawei.com/Ascend910 each, a pod asking for 2 chips is scheduled and kwok
# reports it Running (kwok runs no container: the phase is kwok's, see kwok/stages.yaml), a pod asking for more chips than any node has stays Pending, and RBAC
# denies a ServiceAccount what its Role does not grant. Everything is stopped at the end,
# also when a check fails.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
NODES=3

# shellcheck source=tests/lib/check.sh
source "$here/../lib/check.sh"
testbed_up --nodes "$NODES"
kubectl=("$TESTBED_BIN/kubectl")

# --- the pinned kubectl and apiserver report the pinned version
server_version=$("${kubectl[@]}" version -o json | jq -r .serverVersion.gitVersion)
[[ "$server_version" == v1.34.* ]] || fail "apiserver reports version '$server_version', want v1.34.x"
check "kube-apiserver reports $server_version"

# --- fake nodes with 8 chips each
mapfile -t rows < <("${kubectl[@]}" get nodes -l type=kwok \
  -o jsonpath='{range .items[*]}{.metadata.name} {.status.allocatable.huawei\.com/Ascend910} {.status.capacity.huawei\.com/Ascend910}{"\n"}{end}')
((${#rows[@]} == NODES)) || fail "want $NODES fake nodes, kubectl get nodes shows ${#rows[@]}: ${rows[*]}"
for row in "${rows[@]}"; do
  read -r name alloc cap <<<"$row"
  [[ "$alloc" == 8 && "$cap" == 8 ]] || fail "node $name: allocatable/capacity huawei.com/Ascend910 = $alloc/$cap, want 8/8"
done
"${kubectl[@]}" get nodes
check "$NODES fake nodes, each with allocatable and capacity huawei.com/Ascend910 = 8"

# --- a pod asking for 2 chips is scheduled and Running
"${kubectl[@]}" create namespace smoke >/dev/null
pod_yaml() {
  cat <<EOF
apiVersion: v1
kind: Pod
metadata:
  name: $1
  namespace: smoke
spec:
  containers:
  - name: worker
    image: stand-in.invalid/llamafactory:never-pulled
    resources:
      limits:
        huawei.com/Ascend910: "$2"
EOF
}
pod_yaml two-chips 2 | "${kubectl[@]}" apply -f - >/dev/null
"${kubectl[@]}" wait -n smoke --for=jsonpath='{.status.phase}'=Running pod/two-chips --timeout=60s >/dev/null \
  || fail "pod two-chips did not reach Running: $("${kubectl[@]}" get pod -n smoke two-chips -o wide 2>&1)"
node=$("${kubectl[@]}" get pod -n smoke two-chips -o jsonpath='{.spec.nodeName}')
[[ "$node" == ascend-node-* ]] || fail "pod two-chips landed on '$node'"
check "pod requesting 2 x huawei.com/Ascend910 scheduled on $node and Running"

# --- a pod asking for more chips than a node has stays Pending with the scheduler's reason
pod_yaml sixteen-chips 16 | "${kubectl[@]}" apply -f - >/dev/null
for _ in $(seq 1 50); do
  reason=$("${kubectl[@]}" get pod -n smoke sixteen-chips -o jsonpath='{.status.conditions[?(@.type=="PodScheduled")].message}')
  [[ -n "$reason" ]] && break
  sleep 0.2
done
[[ "$reason" == *"Insufficient huawei.com/Ascend910"* ]] || fail "pod sixteen-chips: want 'Insufficient huawei.com/Ascend910', got '$reason'"
check "pod requesting 16 chips stays Pending: $reason"

# --- RBAC: a ServiceAccount may read pods in its namespace and nothing else
"${kubectl[@]}" apply -f - >/dev/null <<EOF
apiVersion: v1
kind: ServiceAccount
metadata: {name: reader, namespace: smoke}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: pod-reader, namespace: smoke}
rules:
- apiGroups: [""]
  resources: [pods]
  verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: reader-reads-pods, namespace: smoke}
subjects: [{kind: ServiceAccount, name: reader, namespace: smoke}]
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: pod-reader}
EOF
token=$("${kubectl[@]}" create token reader -n smoke --duration=10m)
server=$("${kubectl[@]}" config view --minify -o jsonpath='{.clusters[0].cluster.server}')
as_reader=("$TESTBED_BIN/kubectl" --kubeconfig=/dev/null --server "$server"
  --certificate-authority "$TESTBED_DIR/pki/ca.crt" --token "$token")

pods=$("${as_reader[@]}" get pods -n smoke -o name) || fail "ServiceAccount smoke/reader: get pods failed"
grep -qx "pod/two-chips" <<<"$pods" \
  || fail "ServiceAccount smoke/reader could not list pods its Role grants"
check "ServiceAccount token lists pods in its namespace (granted)"

expect_forbidden() {
  local what=$1; shift
  local out
  if out=$("$@" 2>&1); then fail "$what was allowed, RBAC should deny it: $out"; fi
  [[ "$out" == *"forbidden"* ]] || fail "$what failed, but not with 'forbidden': $out"
  check "$what denied: ${out#Error from server (Forbidden): }"
}
expect_forbidden "listing secrets in smoke" "${as_reader[@]}" get secrets -n smoke
expect_forbidden "deleting a pod in smoke" "${as_reader[@]}" delete pod two-chips -n smoke --wait=false
expect_forbidden "listing pods in default" "${as_reader[@]}" get pods -n default
expect_forbidden "creating a configmap in smoke" "${as_reader[@]}" create configmap x -n smoke --from-literal=a=b
expect_forbidden "listing nodes" "${as_reader[@]}" get nodes

# --- anonymous requests are not admins either
code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$TESTBED_DIR/pki/ca.crt" "$server/api/v1/namespaces/smoke/pods")
[[ "$code" == 401 || "$code" == 403 ]] || fail "anonymous list of pods returned HTTP $code, want 401 or 403"
check "anonymous request refused with HTTP $code"

# --- the plugin's DaemonSet (deploy/plugin, with its ServiceAccount from deploy/rbac/plugin.yaml)
# is accepted and scheduled on every Ascend node. kwok nodes run no containers: "Ready" is
# kwok's fiction, proof of scheduling, not of the plugin running (e2e.real_node runs it on a
# real kubelet).
"${kubectl[@]}" apply -f "$here/../../deploy/namespace.yaml" -f "$here/../../deploy/rbac/plugin.yaml" \
  -f "$here/../../deploy/plugin/daemonset.yaml" >/dev/null
for _ in $(seq 1 100); do
  ready=$("${kubectl[@]}" get ds -n ascend-factory ascend-device-plugin -o jsonpath='{.status.numberReady}')
  [[ "$ready" == "$NODES" ]] && break
  sleep 0.3
done
[[ "$ready" == "$NODES" ]] || fail "ascend-device-plugin DaemonSet: $ready of $NODES pods ready"
check "ascend-device-plugin DaemonSet accepted and scheduled on all $NODES kwok Ascend nodes (kwok reports them Ready; no plugin runs there)"

# --- restarting the apiserver (by PID, same flags) keeps the cluster's state
old_pid=$(awk '$1 == "kube-apiserver" {print $2}' "$TESTBED_DIR/pids")
"$here/cluster.sh" restart "$TESTBED_DIR" kube-apiserver
new_pid=$(awk '$1 == "kube-apiserver" {print $2}' "$TESTBED_DIR/pids")
[[ -n "$new_pid" && "$new_pid" != "$old_pid" ]] || fail "kube-apiserver pid did not change on restart ($old_pid -> $new_pid)"
alive() { [[ -r /proc/$1/stat ]] && [[ $(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) != Z ]]; }
alive "$old_pid" && fail "old kube-apiserver $old_pid still running"
"${kubectl[@]}" get pod -n smoke two-chips -o name >/dev/null || fail "pod two-chips gone after an apiserver restart"
check "kube-apiserver restarted ($old_pid -> $new_pid) with the cluster's state intact"

# --- teardown stops every process the test bed started
pids=$(awk '{print $2}' "$TESTBED_DIR/pids")
dir=$TESTBED_DIR
testbed_down
for pid in $pids; do
  for _ in $(seq 1 50); do alive "$pid" || break; sleep 0.1; done
  if alive "$pid"; then fail "process $pid still running after teardown"; fi
done
[[ ! -d "$dir" ]] || fail "test bed folder $dir left behind"
check "teardown stopped $(wc -w <<<"$pids") processes and removed the test bed folder"

finish
