#!/usr/bin/env bash
# The whole stack on one machine, as a user installs it: the control plane (cluster.sh), a
# real node (node.sh: kubelet, containerd, runc, a fake Ascend host), our images built
# offline from the compiled binaries and imported, and `helm install` of
# charts/ascend-factory with the device plugin pointed at the fake Ascend host and the
# operator's default workload image set to the stand-in LLaMA-Factory image. The node starts
# with the cluster autoscaler's startup taint, as a freshly scaled-up Ascend node does; the
# stack is ready when the plugin has registered and the operator has removed the taint.
#
# Usage:
#   stack.sh up --build-dir BUILD [--dir DIR] [--owner-pid PID] [--chips N]
#       BUILD is a CMake build folder holding plugin/ascend-device-plugin,
#       operator/llamafactory-operator and tests/workload/llamafactory-cli (the stand-in).
#       Prints the `export ...` lines of cluster.sh and node.sh plus STACK_RELEASE and
#       STACK_NAMESPACE on stdout; progress (what it is waiting for) on stderr.
#   stack.sh down DIR
#       Stop everything (same as cluster.sh down).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
RELEASE=ascend-factory
NAMESPACE=ascend-factory
STANDIN_IMAGE=ascend-factory/llamafactory-standin:dev
# The taint a cluster autoscaler's new Ascend node starts with; the operator removes it once
# the plugin has made the chips show in allocatable.
STARTUP_TAINT=startup-taint.cluster-autoscaler.kubernetes.io/ascend-npu

log() { echo "stack: $*" >&2; }
die() { echo "stack: error: $*" >&2; exit 1; }

# real_node_values ASCEND_HOST KUBELET_ROOT: chart values for the fake Ascend host of node.sh.
real_node_values() {
  local a=$1 kubelet_root=$2
  cat <<EOF
plugin:
  image: {pullPolicy: Never}
  paths:
    deviceRoot: $a/dev
    # The kubelet's --root-dir is not /var/lib/kubelet here; its pod-resources folder follows it.
    podResourcesDir: $kubelet_root/pod-resources
  # The fake host keeps its driver tree under $a; containers see the usual paths.
  driverMounts:
  - {name: driver, hostPath: $a/usr/local/Ascend/driver, path: /usr/local/Ascend/driver, hostPathType: Directory}
  - {name: dcmi, hostPath: $a/usr/local/dcmi, path: /usr/local/dcmi, hostPathType: Directory}
  - {name: npu-smi, hostPath: $a/usr/local/bin/npu-smi, path: /usr/local/bin/npu-smi, hostPathType: File}
  - {name: ascend-install-info, hostPath: $a/etc/ascend_install.info, path: /etc/ascend_install.info, hostPathType: File}
  # No libdcmi.so on this host; health is polled every second besides inotify.
  extraArgs: [--discovery=devfs, --health-interval=1s]
operator:
  image: {pullPolicy: Never}
  defaultWorkloadImage: $STANDIN_IMAGE
  # The only node starts with the startup taint, and the operator is what removes it.
  tolerations:
  - {key: $STARTUP_TAINT, operator: Exists}
  # Progress in status at most every 5 s per job (30 by default), so tests and the demo see it
  # soon.
  progress: {enabled: true, port: 9443, interval: 5, tlsSecretName: ""}
EOF
}

cmd_up() {
  local build="" dir="" owner="" chips=8
  while (($#)); do
    case "$1" in
      --build-dir) build=$2; shift 2 ;;
      --dir) dir=$2; shift 2 ;;
      --owner-pid) owner=$2; shift 2 ;;
      --chips) chips=$2; shift 2 ;;
      *) die "unknown option '$1' (see stack.sh --help)" ;;
    esac
  done
  [[ -n "$build" ]] || die "--build-dir is required"
  build=$(cd "$build" && pwd)
  local plugin=$build/plugin/ascend-device-plugin operator=$build/operator/llamafactory-operator
  local standin=$build/tests/workload/llamafactory-cli
  for b in "$plugin" "$operator" "$standin"; do
    [[ -x "$b" ]] || die "missing $b; build it first (cmake --build $build)"
  done

  local up_args=(--nodes 0 --apiserver-bind 0.0.0.0)
  [[ -n "$dir" ]] && up_args+=(--dir "$dir")
  [[ -n "$owner" ]] && up_args+=(--owner-pid "$owner")
  log "control plane (etcd, kube-apiserver, controller-manager, scheduler)"
  local env
  env=$("$here/cluster.sh" up "${up_args[@]}") || exit 1
  eval "$env"
  # From here on a failure stops what was started.
  trap '[[ $? -eq 0 ]] || KEEP_TESTBED_LOGS=1 "$here/cluster.sh" down "$TESTBED_DIR"' EXIT
  local node_env
  log "real node: kubelet, containerd, runc, CNI, fake Ascend host with $chips chips"
  node_env=$("$here/node.sh" up "$TESTBED_DIR" --chips "$chips" --taint "$STARTUP_TAINT=true:NoSchedule") || exit 1
  eval "$node_env"

  log "images: building OCI tarballs from the compiled binaries and importing them (no registry)"
  local img=$TESTBED_DIR/images
  mkdir -p "$img"
  "$root/deploy/oci/build-image.sh" --binary "$plugin" --name ascend-factory/ascend-device-plugin:dev \
    --out "$img/plugin.tar" --user 0:0 >&2
  "$root/deploy/oci/build-image.sh" --binary "$operator" --name ascend-factory/llamafactory-operator:dev \
    --out "$img/operator.tar" >&2
  "$root/tests/workload/build-standin-image.sh" "$standin" "$img/standin.tar" >&2
  "$here/node.sh" import "$TESTBED_DIR" "$img/plugin.tar" "$img/operator.tar" "$img/standin.tar"

  log "helm install $RELEASE charts/ascend-factory -n $NAMESPACE (waiting for the operator and the plugin to be ready)"
  real_node_values "$ASCEND_HOST" "$KUBELET_ROOT" >"$TESTBED_DIR/real-node-values.yaml"
  "$TESTBED_BIN/helm" install "$RELEASE" "$root/charts/ascend-factory" -n "$NAMESPACE" --create-namespace \
    -f "$TESTBED_DIR/real-node-values.yaml" --wait --timeout 180s >"$TESTBED_DIR/logs/helm-install.log" 2>&1 \
    || { tail -n 20 "$TESTBED_DIR/logs/helm-install.log" >&2; die "helm install failed (log $TESTBED_DIR/logs/helm-install.log)"; }

  log "waiting for node $NODE_NAME to show $chips huawei.com/Ascend910 in allocatable"
  local deadline=$((SECONDS + 60)) have=""
  while ((SECONDS < deadline)); do
    have=$("$TESTBED_BIN/kubectl" get node "$NODE_NAME" -o jsonpath='{.status.allocatable.huawei\.com/Ascend910}')
    [[ "$have" == "$chips" ]] && break
    sleep 0.5
  done
  [[ "$have" == "$chips" ]] || die "node $NODE_NAME allocatable huawei.com/Ascend910 is '${have:-none}', want $chips"
  log "waiting for the operator to remove the startup taint $STARTUP_TAINT from $NODE_NAME"
  tainted() { [[ "$("$TESTBED_BIN/kubectl" get node "$NODE_NAME" -o jsonpath='{.spec.taints[*].key}')" == *"$STARTUP_TAINT"* ]]; }
  deadline=$((SECONDS + 60))
  while tainted && ((SECONDS < deadline)); do sleep 0.5; done
  ! tainted || die "the startup taint is still on $NODE_NAME after 60 s (operator logs: kubectl logs -n $NAMESPACE deploy/llamafactory-operator)"
  log "stack ready: node $NODE_NAME with $chips x huawei.com/Ascend910, operator and plugin running"
  trap - EXIT
  echo "$env"
  echo "$node_env"
  echo "export STACK_RELEASE=$RELEASE"
  echo "export STACK_NAMESPACE=$NAMESPACE"
  echo "export STANDIN_IMAGE=docker.io/$STANDIN_IMAGE"
}

case "${1:-}" in
  up) shift; cmd_up "$@" ;;
  down) shift; "$here/cluster.sh" down "${1:?usage: stack.sh down DIR}" ;;
  -h|--help|help) sed -n '2,16p' "${BASH_SOURCE[0]}" ;;
  *) die "usage: stack.sh up|down ... (see stack.sh --help)" ;;
esac
