#!/usr/bin/env bash
# The real-node tier of the test bed: a real kubelet (the pinned build) with containerd and
# runc from Debian, CNI bridge networking from Debian's plugins, a locally built pause image,
# CoreDNS for cluster DNS, and a fake Ascend host (device nodes made with mknod, a fake
# driver tree) for the device plugin. It joins a control plane started by cluster.sh.
#
# Usage:
#   node.sh up TESTBED_DIR [--name NODE] [--chips N] [--taint KEY=VALUE:EFFECT]
#       Start the node in TESTBED_DIR/node (--taint: the kubelet registers the Node with it,
#       as a cluster autoscaler's new node carries its startup taint). The control plane must have been started with
#       `cluster.sh up --apiserver-bind 0.0.0.0` so that pods can reach the API server.
#       Prints `export NODE_NAME=...`, `export ASCEND_HOST=...` (the fake Ascend host root:
#       dev/, usr/local/Ascend/driver, ...), `export KUBELET_ROOT=...`,
#       `export DEVICE_PLUGIN_DIR=/var/lib/kubelet/device-plugins` (fixed in the kubelet's
#       code) and `export CONTAINERD_ADDRESS=...` on stdout; progress goes to stderr.
#       The kubelet and CoreDNS are recorded in TESTBED_DIR/pids, so `cluster.sh restart
#       TESTBED_DIR kubelet` restarts the kubelet and `cluster.sh down` stops everything.
#   node.sh import TESTBED_DIR IMAGE.tar...
#       Import OCI image tarballs into the node's containerd (namespace k8s.io).
#   node.sh down TESTBED_DIR
#       Stop containerd and the pods' processes, unmount, and remove the bridge and the
#       iptables rule (cluster.sh down calls it; the kubelet is stopped before).
#
# Needs root. Networking: pods get 10.234.0.0/24 on the bridge ascendtb0 (gateway
# 10.234.0.1, where CoreDNS listens); the API server's ClusterIP 10.96.0.1:443 is DNATed to
# the API server's real address (there is no kube-proxy in this tier).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
BRIDGE=ascendtb0
POD_SUBNET=10.234.0.0/24
GATEWAY=10.234.0.1
API_CLUSTER_IP=10.96.0.1
DEVICE_PLUGIN_DIR=/var/lib/kubelet/device-plugins
RULE_COMMENT=ascend-factory-testbed-apiserver

log() { echo "node: $*" >&2; }
die() { echo "node: error: $*" >&2; exit 1; }
# shellcheck source=tests/testbed/lib.sh
source "$here/lib.sh"

fail() {
  local step=$1 logfile=${2:-}
  echo "node: error: $step failed" >&2
  if [[ -n "$logfile" && -f "$logfile" ]]; then
    echo "node: last lines of $logfile:" >&2
    tail -n 30 "$logfile" | sed 's/^/    /' >&2
  fi
  exit 1
}

# ---------------------------------------------------------------------------- pieces

# The fake Ascend host: an Atlas 800T A2 as the plugin sees it. Device nodes are character
# devices with /dev/null's numbers (harmless if opened); the driver tree holds marker files
# so that a container can prove it got the read-only mounts.
make_fake_ascend() {
  local a=$1 chips=$2 i
  mkdir -p "$a/dev" "$a/usr/local/Ascend/driver/lib64" "$a/usr/local/dcmi" "$a/usr/local/bin" "$a/etc"
  for ((i = 0; i < chips; i++)); do mknod -m 666 "$a/dev/davinci$i" c 1 3; done
  for d in davinci_manager devmm_svm hisi_hdc; do mknod -m 666 "$a/dev/$d" c 1 3; done
  printf 'Version=24.1.rc2\nascendhal_version=7.35.19\n# fake driver tree of the ascend-factory test bed\n' \
    >"$a/usr/local/Ascend/driver/version.info"
  echo "fake libdcmi placeholder (the plugin runs with --discovery devfs here)" >"$a/usr/local/dcmi/README"
  printf '#!/bin/sh\necho "npu-smi stand-in of the ascend-factory test bed"\n' >"$a/usr/local/bin/npu-smi"
  chmod 755 "$a/usr/local/bin/npu-smi"
  printf 'UserName=HwHiAiUser\nUserGroup=HwHiAiUser\nDriver_Install_Type=full\nDriver_Install_Path_Param=/usr/local/Ascend\n' \
    >"$a/etc/ascend_install.info"
}

# The pause image: built from tests/testbed/pause/pause.c with the system compiler.
build_pause_image() {
  local out=$1
  cc -O2 -Wall -Wextra -o "$NODE/pause" "$here/pause/pause.c" || die "compiling the pause program failed"
  "$root/deploy/oci/build-image.sh" --binary "$NODE/pause" --name ascend-factory/pause:dev --out "$out" --user 65535:65535 >&2
}

write_containerd_config() {
  local c=$NODE/containerd
  mkdir -p "$c/cni"
  cat >"$c/cni/10-ascend-testbed.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "ascend-testbed",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$BRIDGE",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{"subnet": "$POD_SUBNET", "gateway": "$GATEWAY"}]],
        "routes": [{"dst": "0.0.0.0/0"}],
        "dataDir": "$NODE/cni-ipam"
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
EOF
}

setup_network() {
  # The bridge exists before the first pod so CoreDNS can listen on the gateway address;
  # the CNI bridge plugin adopts it.
  if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
    ip link add "$BRIDGE" type bridge || die "cannot create bridge $BRIDGE"
  fi
  ip addr replace "$GATEWAY/24" dev "$BRIDGE"
  ip link set "$BRIDGE" up
  sysctl -qw net.ipv4.ip_forward=1 || true
  # kube-proxy's one job that this tier needs: the kubernetes Service's ClusterIP.
  iptables -t nat -D PREROUTING -i "$BRIDGE" -d "$API_CLUSTER_IP/32" -p tcp --dport 443 \
    -m comment --comment "$RULE_COMMENT" -j DNAT --to-destination "$ADVERTISE_IP:$API_PORT" 2>/dev/null || true
  iptables -t nat -A PREROUTING -i "$BRIDGE" -d "$API_CLUSTER_IP/32" -p tcp --dport 443 \
    -m comment --comment "$RULE_COMMENT" -j DNAT --to-destination "$ADVERTISE_IP:$API_PORT" \
    || die "cannot add the iptables DNAT rule for $API_CLUSTER_IP:443"
}

teardown_network() {
  local rule
  { iptables -t nat -S PREROUTING 2>/dev/null | grep -- "$RULE_COMMENT" || true; } | while read -r rule; do
    # shellcheck disable=SC2086
    iptables -t nat ${rule/-A /-D } 2>/dev/null || true
  done
  ip link del "$BRIDGE" 2>/dev/null || true
  # Pod veths end with their network namespaces; any left over go with the bridge.
}

write_kubelet_config() {
  local k=$NODE/kubelet-config.yaml
  : >"$NODE/resolv.conf"
  cat >"$k" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: 0.0.0.0
port: $KUBELET_PORT
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: $KUBELET_HEALTHZ_PORT
tlsCertFile: $NODE/pki/kubelet-serving.crt
tlsPrivateKeyFile: $NODE/pki/kubelet-serving.key
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: false}
  x509: {clientCAFile: $DIR/pki/ca.crt}
authorization:
  mode: AlwaysAllow
containerRuntimeEndpoint: unix://$NODE/containerd/containerd.sock
cgroupDriver: cgroupfs
failSwapOn: false
clusterDNS: [$GATEWAY]
clusterDomain: cluster.local
resolvConf: $NODE/resolv.conf
podLogsDir: $NODE/pod-logs
volumePluginDir: $NODE/volume-plugins
staticPodPath: ""
serializeImagePulls: false
# Images are imported, never pulled: keep them however full the disk gets.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: "50Mi", nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%"}
# Fast node-status updates: allocatable changes (a chip failing) show within seconds.
nodeStatusUpdateFrequency: 2s
nodeStatusReportFrequency: 10s
syncFrequency: 10s
maxPods: 30
EOF
}

# ---------------------------------------------------------------------------- commands

cmd_up() {
  local dir=${1:-} name=ascend-real-0 chips=8 taints=""
  [[ -n "$dir" && "$dir" != -* ]] || die "usage: node.sh up TESTBED_DIR [--name NODE] [--chips N] [--taint KEY=VALUE:EFFECT]"
  shift
  while (($#)); do
    case "$1" in
      --name) name=$2; shift 2 ;;
      --chips) chips=$2; shift 2 ;;
      --taint) taints=${taints:+$taints,}$2; shift 2 ;;
      *) die "unknown option '$1' (see node.sh --help)" ;;
    esac
  done
  [[ $(id -u) -eq 0 ]] || die "the real node needs root (kubelet, containerd, runc, mknod)"
  [[ "$chips" =~ ^[0-9]+$ ]] && ((chips >= 1 && chips <= 16)) || die "--chips must be 1..16, got '$chips'"
  for c in containerd runc ctr iptables ip openssl cc; do
    command -v "$c" >/dev/null || die "'$c' is not installed; run scripts/install-deps.sh"
  done
  [[ -x /usr/lib/cni/bridge && -x /usr/lib/cni/host-local ]] || die "CNI plugins missing in /usr/lib/cni; run scripts/install-deps.sh"
  DIR=$(cd "$dir" && pwd)
  [[ -f "$DIR/ports" && -f "$DIR/pki/ca.key" ]] || die "$DIR is not a running test bed (start one with cluster.sh up)"
  NODE=$DIR/node
  [[ ! -e "$NODE" ]] || die "$NODE exists: this test bed already has a real node"
  # shellcheck disable=SC1091
  source "$DIR/ports"
  [[ -n "${APISERVER_BIND:-}" && "$APISERVER_BIND" != 127.* ]] \
    || die "the API server listens on loopback only; start the control plane with 'cluster.sh up --apiserver-bind 0.0.0.0'"
  BIN=$(tools_bin) || exit 1
  [[ -x "$BIN/kubelet" ]] || die "missing $BIN/kubelet; run tests/testbed/tools/build.sh"
  # One real node per machine (the bridge, the DNS address and the DNAT rule are fixed).
  local owner_file=/run/ascend-factory-testbed-node
  if [[ -f "$owner_file" ]] && [[ -d "$(cat "$owner_file")/node" ]]; then
    die "another real node runs on this machine (test bed $(cat "$owner_file")); stop it first"
  fi
  teardown_network  # whatever a killed earlier run left behind
  mkdir -p "$NODE"
  echo "$DIR" >"$owner_file"
  read -r KUBELET_PORT KUBELET_HEALTHZ_PORT < <(free_ports 2)
  {
    echo "KUBELET_PORT=$KUBELET_PORT"
    echo "KUBELET_HEALTHZ_PORT=$KUBELET_HEALTHZ_PORT"
    echo "NODE_NAME=$name"
  } >>"$DIR/ports"

  log "fake Ascend host with $chips chips in $NODE/ascend"
  make_fake_ascend "$NODE/ascend" "$chips"

  log "certificates for node $name"
  issue_cert "$NODE/pki" kubelet-client "/O=system:nodes/CN=system:node:$name"
  issue_cert "$NODE/pki" kubelet-serving "/CN=$name" "IP:$ADVERTISE_IP,IP:127.0.0.1,DNS:$name,DNS:localhost"
  cat >"$NODE/kubelet.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: testbed
  cluster:
    server: https://127.0.0.1:$API_PORT
    certificate-authority: $DIR/pki/ca.crt
users:
- name: kubelet
  user:
    client-certificate: $NODE/pki/kubelet-client.crt
    client-key: $NODE/pki/kubelet-client.key
contexts:
- name: testbed
  context: {cluster: testbed, user: kubelet}
current-context: testbed
EOF

  log "network: bridge $BRIDGE $GATEWAY/24, DNAT $API_CLUSTER_IP:443 -> $ADVERTISE_IP:$API_PORT"
  setup_network

  log "containerd (Debian) with the CRI plugin, runc and CNI"
  write_containerd_config
  "$here/containerd.sh" up --dir "$NODE/containerd" --sandbox-image docker.io/ascend-factory/pause:dev \
    >"$NODE/containerd.env" || fail "containerd" "$NODE/containerd/containerd.log"
  local ctr=(ctr -a "$NODE/containerd/containerd.sock" -n k8s.io)

  log "pause image (built here, imported; nothing is pulled)"
  build_pause_image "$NODE/pause.tar"
  "${ctr[@]}" images import "$NODE/pause.tar" >&2 || die "importing the pause image failed"

  if [[ -x "$BIN/coredns" ]]; then
    cat >"$NODE/Corefile" <<EOF
cluster.local:53 {
    bind $GATEWAY
    errors
    kubernetes cluster.local {
        kubeconfig $DIR/admin.kubeconfig
        pods insecure
        ttl 5
    }
}
.:53 {
    bind $GATEWAY
    errors
}
EOF
    start coredns "$BIN/coredns" -conf "$NODE/Corefile"
  else
    log "no coredns in $BIN: pods get no cluster DNS"
  fi

  log "kubelet $($BIN/kubelet --version 2>/dev/null || echo '?') as node $name"
  write_kubelet_config
  mkdir -p "$NODE/kubelet" "$NODE/pod-logs" "$NODE/volume-plugins"
  start kubelet "$BIN/kubelet" --config "$NODE/kubelet-config.yaml" --kubeconfig "$NODE/kubelet.kubeconfig" \
    --root-dir "$NODE/kubelet" --cert-dir "$NODE/pki" --hostname-override "$name" --node-ip "$ADVERTISE_IP" \
    --node-labels "accelerator=huawei-Ascend910,accelerator-type=module-910b-8,node.kubernetes.io/npu.chip.name=910B3,ascendfactory.io/testbed=real-node" \
    ${taints:+--register-with-taints "$taints"} \
    --v 1
  local kubectl=("$BIN/kubectl" --kubeconfig "$DIR/admin.kubeconfig")
  wait_for "kubelet healthz" "$DIR/logs/kubelet.log" 90 "$(pid_of kubelet)" \
    curl -fsS --max-time 2 "http://127.0.0.1:$KUBELET_HEALTHZ_PORT/healthz"
  wait_for "node $name registered" "$DIR/logs/kubelet.log" 90 "$(pid_of kubelet)" "${kubectl[@]}" get node "$name"
  wait_for "node $name Ready" "$DIR/logs/kubelet.log" 120 "$(pid_of kubelet)" \
    "${kubectl[@]}" wait --for=condition=Ready "node/$name" --timeout=2s
  log "node $name Ready (kubelet log $DIR/logs/kubelet.log)"
  echo "export NODE_NAME=$name"
  echo "export ASCEND_HOST=$NODE/ascend"
  echo "export KUBELET_ROOT=$NODE/kubelet"
  # The kubelet's device-plugin folder is fixed in its code, whatever --root-dir says.
  echo "export DEVICE_PLUGIN_DIR=$DEVICE_PLUGIN_DIR"
  cat "$NODE/containerd.env"
}

cmd_import() {
  local dir=${1:?usage: node.sh import TESTBED_DIR IMAGE.tar...}; shift
  local sock=$dir/node/containerd/containerd.sock t
  [[ -S "$sock" ]] || die "no containerd socket at $sock (is the node up?)"
  for t in "$@"; do
    ctr -a "$sock" -n k8s.io images import "$t" >&2 || die "importing $t failed"
  done
}

cmd_down() {
  local dir=${1:?usage: node.sh down TESTBED_DIR}
  [[ -d "$dir/node" ]] || return 0
  DIR=$(cd "$dir" && pwd)
  NODE=$DIR/node
  local pid
  # The kubelet and CoreDNS first (cluster.sh down has usually stopped them already).
  for name in kubelet coredns; do
    pid=$(awk -v n="$name" '$1 == n {print $2}' "$DIR/pids" 2>/dev/null | tail -n 1)
    [[ -n "$pid" ]] || continue
    kill -TERM -- "-$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do alive "$pid" || break; sleep 0.1; done
    kill -KILL -- "-$pid" 2>/dev/null || true
  done
  "$here/containerd.sh" down "$NODE/containerd" || true
  # The kubelet's own mounts (projected tokens, memory-backed emptyDirs), deepest first.
  local m
  { awk -v d="$NODE/" 'index($2, d) == 1 {print $2}' /proc/mounts | sort -r || true; } | while read -r m; do
    umount -l "$m" 2>/dev/null || true
  done
  teardown_network
  rm -f "$DEVICE_PLUGIN_DIR"/*.sock "$DEVICE_PLUGIN_DIR"/kubelet_internal_checkpoint
  rm -rf "$NODE"
  if [[ "$(cat /run/ascend-factory-testbed-node 2>/dev/null)" == "$DIR" ]]; then rm -f /run/ascend-factory-testbed-node; fi
}

case "${1:-}" in
  up) shift; cmd_up "$@" ;;
  import) shift; cmd_import "$@" ;;
  down) shift; cmd_down "$@" ;;
  -h|--help|help) sed -n '2,25p' "${BASH_SOURCE[0]}" ;;
  *) die "usage: node.sh up|import|down TESTBED_DIR ... (see node.sh --help)" ;;
esac
