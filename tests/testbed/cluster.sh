#!/usr/bin/env bash
# The control-plane test bed: real etcd, kube-apiserver (RBAC on), kube-controller-manager
# and kube-scheduler, plus kwok playing the kubelet for N fake Ascend nodes that each
# advertise 8 huawei.com/Ascend910. Everything listens on 127.0.0.1 on free ports, lives
# in one temporary folder, and is stopped by PID.
#
# Usage:
#   cluster.sh up [--nodes N] [--dir DIR] [--owner-pid PID] [--apiserver-bind ADDR]
#                 [--apiserver-arg ARG]...
#       Start a control plane. Prints `export KUBECONFIG=...` and `export TESTBED_DIR=...`
#       lines on stdout (eval them); progress and log locations go to stderr. With
#       --owner-pid, a watchdog stops the test bed as soon as that process is gone, so a
#       test that is killed still leaves nothing running. --apiserver-bind (default
#       127.0.0.1) is where the API server listens; the real node (node.sh) needs 0.0.0.0
#       so that pods reach it.
#   cluster.sh down DIR      Stop every process the test bed started and remove DIR.
#                            KEEP_TESTBED_LOGS=1 keeps DIR (logs under DIR/logs).
#   cluster.sh add-nodes DIR N [PREFIX]
#                            Create N more fake Ascend nodes (PREFIX default ascend-node).
#   cluster.sh restart DIR COMPONENT [--down-seconds S]
#                            Restart one component (e.g. kube-apiserver) by PID with the
#                            same command line, and wait until it serves again.
#
# Environment: TESTBED_BIN overrides the folder of the Go-built tools (default: the one
# tests/testbed/tools/build.sh built for the current pins).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

log() { echo "testbed: $*" >&2; }
die() { echo "testbed: error: $*" >&2; exit 1; }
# shellcheck source=tests/testbed/lib.sh
source "$here/lib.sh"

# ---------------------------------------------------------------------------- down

stop_all() {
  local dir=$1 name pid
  [[ -f "$dir/pids" ]] || return 0
  # Newest first: kwok and the controllers before the apiserver, the apiserver before etcd.
  tac "$dir/pids" | while read -r name pid; do
    [[ "$pid" == "${TESTBED_SELF_PID:-}" ]] && continue
    # Signal the whole process group (each component is a session leader), even when the
    # leader itself is gone: a wrapper's children may still be there.
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  done
  local deadline=$((SECONDS + 15))
  while read -r name pid; do
    [[ "$pid" == "${TESTBED_SELF_PID:-}" ]] && continue
    while { alive "$pid" || pgrep -g "$pid" -r R,S,D,T; } >/dev/null 2>&1 && ((SECONDS < deadline)); do sleep 0.2; done
    if { alive "$pid" || pgrep -g "$pid" -r R,S,D,T; } >/dev/null 2>&1; then
      log "$name (pid $pid) did not stop on SIGTERM; killing"
      kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    fi
  done <"$dir/pids"
  # Keep the record (tests check it), but never signal these PIDs again.
  cat "$dir/pids" >>"$dir/pids.stopped"
  : >"$dir/pids"
}

cmd_down() {
  local dir=${1:-}
  [[ -n "$dir" ]] || die "usage: cluster.sh down DIR"
  [[ -d "$dir" ]] || { log "nothing to stop: $dir does not exist"; return 0; }
  stop_all "$dir"
  # The real node (node.sh): containerd, the pods' processes, mounts, bridge.
  if [[ -d "$dir/node" ]]; then "$here/node.sh" down "$dir" || log "real node teardown reported errors"; fi
  if [[ "${KEEP_TESTBED_LOGS:-0}" == 1 ]]; then
    log "stopped; logs kept in $dir/logs"
  else
    rm -rf "$dir"
    log "stopped and removed $dir"
  fi
}

# ---------------------------------------------------------------------------- up helpers

# fail STEP LOGFILE: report which step failed and where its log is, stop everything, exit.
fail() {
  local step=$1 logfile=${2:-}
  echo "testbed: error: $step failed" >&2
  if [[ -n "$logfile" && -f "$logfile" ]]; then
    echo "testbed: last lines of $logfile:" >&2
    tail -n 25 "$logfile" | sed 's/^/    /' >&2
  fi
  KEEP_TESTBED_LOGS=1 cmd_down "$DIR"
  exit 1
}

https_ok() { curl -fsS --max-time 2 --cacert "$DIR/pki/ca.crt" --cert "$DIR/pki/admin.crt" --key "$DIR/pki/admin.key" "$1"; }

# write_kubeconfig FILE CERTNAME: a kubeconfig for the given client certificate.
write_kubeconfig() {
  cat >"$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: testbed
  cluster:
    server: https://127.0.0.1:$API_PORT
    certificate-authority: $DIR/pki/ca.crt
users:
- name: $2
  user:
    client-certificate: $DIR/pki/$2.crt
    client-key: $DIR/pki/$2.key
contexts:
- name: testbed
  context:
    cluster: testbed
    user: $2
    namespace: default
current-context: testbed
EOF
}

make_pki() {
  local pki=$DIR/pki
  mkdir -p "$pki"
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$pki/ca.key" -out "$pki/ca.crt" -days 30 \
    -subj "/CN=ascend-factory-testbed-ca" -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" 2>/dev/null
  issue_cert "$pki" apiserver "/CN=kube-apiserver" \
    "IP:127.0.0.1,IP:10.96.0.1,IP:$ADVERTISE_IP,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
  issue_cert "$pki" admin "/O=system:masters/CN=testbed-admin"
  issue_cert "$pki" apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client"
  issue_cert "$pki" controller-manager "/CN=system:kube-controller-manager"
  issue_cert "$pki" scheduler "/CN=system:kube-scheduler"
  issue_cert "$pki" kwok "/O=system:masters/CN=kwok-controller"
  openssl genrsa -out "$pki/sa.key" 2048 2>/dev/null
  openssl rsa -in "$pki/sa.key" -pubout -out "$pki/sa.pub" 2>/dev/null
}

advertise_ip() {
  # The apiserver refuses a loopback advertise address; any non-loopback address of this
  # host will do because the endpoint reconciler is off (nothing dials it in this tier).
  local ip
  ip=$(ip -4 -o addr show scope global 2>/dev/null | awk '{print $4}' | cut -d/ -f1 | head -n 1)
  echo "${ip:-192.0.2.10}"
}

# nodes_yaml COUNT PREFIX START: fake Ascend nodes (Atlas 800T A2: 8 x 910B on one HCCS
# module), labelled the way Huawei's device plugin labels real ones.
nodes_yaml() {
  local count=$1 prefix=$2 start=${3:-0} i name
  for ((i = start; i < start + count; i++)); do
    name="$prefix-$i"
    cat <<EOF
---
apiVersion: v1
kind: Node
metadata:
  name: $name
  annotations:
    kwok.x-k8s.io/node: fake
    node.alpha.kubernetes.io/ttl: "0"
  labels:
    kubernetes.io/hostname: $name
    kubernetes.io/os: linux
    kubernetes.io/arch: amd64
    type: kwok
    accelerator: huawei-Ascend910
    accelerator-type: module-910b-8
    node.kubernetes.io/npu.chip.name: 910B3
status:
  capacity:
    cpu: "192"
    memory: 1536Gi
    pods: "110"
    huawei.com/Ascend910: "8"
  allocatable:
    cpu: "192"
    memory: 1536Gi
    pods: "110"
    huawei.com/Ascend910: "8"
EOF
  done
}

# restart DIR NAME [--down-seconds S]: stop one component (SIGTERM, by PID), keep it down
# for S seconds (default 0), start it again with the same command line and wait until it
# serves. Tests use it to prove clients survive a restarted kube-apiserver.
cmd_restart() {
  local dir=${1:-} name=${2:-} down=0
  [[ -n "$dir" && -n "$name" ]] || die "usage: cluster.sh restart DIR COMPONENT [--down-seconds S]"
  if [[ "${3:-}" == "--down-seconds" ]]; then down=${4:-0}; fi
  DIR=$(cd "$dir" && pwd)
  [[ -f "$DIR/cmd/$name" ]] || die "no component '$name' in $DIR (have: $(ls "$DIR/cmd" | tr '\n' ' '))"
  local pid
  pid=$(pid_of "$name")
  if [[ -n "$pid" ]]; then
    kill -TERM -- "-$pid" 2>/dev/null || true
    local deadline=$((SECONDS + 20))
    while alive "$pid" && ((SECONDS < deadline)); do sleep 0.1; done
    kill -KILL -- "-$pid" 2>/dev/null || true
    grep -v "^$name $pid\$" "$DIR/pids" >"$DIR/pids.tmp" || true
    mv "$DIR/pids.tmp" "$DIR/pids"
    echo "$name $pid" >>"$DIR/pids.stopped"
  fi
  log "$name stopped; starting it again in ${down}s"
  sleep "$down"
  local -a cmd
  eval "cmd=($(cat "$DIR/cmd/$name"))"
  start "$name" "${cmd[@]}"
  # shellcheck disable=SC1091
  source "$DIR/ports"
  case "$name" in
    kube-apiserver) wait_for "kube-apiserver" "$DIR/logs/kube-apiserver.log" 120 "$(pid_of kube-apiserver)" \
      https_ok "https://127.0.0.1:$API_PORT/readyz" ;;
    etcd) wait_for "etcd" "$DIR/logs/etcd.log" 60 "$(pid_of etcd)" curl -fsS --max-time 2 "http://127.0.0.1:$ETCD_PORT/health" ;;
    *) sleep 1; kill -0 "$(pid_of "$name")" 2>/dev/null || fail "$name restart" "$DIR/logs/$name.log" ;;
  esac
  log "$name serving again"
}

cmd_add_nodes() {
  local dir=$1 count=$2 prefix=${3:-ascend-node} bin
  bin=$(tools_bin)
  local existing
  existing=$(KUBECONFIG="$dir/admin.kubeconfig" "$bin/kubectl" get nodes -o name 2>/dev/null | grep -c "^node/$prefix-" || true)
  nodes_yaml "$count" "$prefix" "$existing" | KUBECONFIG="$dir/admin.kubeconfig" "$bin/kubectl" apply -f - >/dev/null
}

# ---------------------------------------------------------------------------- up

cmd_up() {
  local nodes=2 owner="" dir="" bind=127.0.0.1
  local -a api_args=()
  while (($#)); do
    case "$1" in
      --nodes) nodes=$2; shift 2 ;;
      --apiserver-bind) bind=$2; shift 2 ;;
      --apiserver-arg) api_args+=("$2"); shift 2 ;;
      --dir) dir=$2; shift 2 ;;
      --owner-pid) owner=$2; shift 2 ;;
      -h|--help) sed -n '2,25p' "${BASH_SOURCE[0]}"; exit 0 ;;
      *) die "unknown option '$1' (see cluster.sh --help)" ;;
    esac
  done
  [[ "$nodes" =~ ^[0-9]+$ ]] || die "--nodes needs a whole number, got '$nodes'"

  BIN=$(tools_bin) || exit 1
  for b in etcd kube-apiserver kube-controller-manager kube-scheduler kwok kubectl; do
    [[ -x "$BIN/$b" ]] || die "missing $BIN/$b; run tests/testbed/tools/build.sh"
  done
  for c in openssl curl python3 setsid; do command -v "$c" >/dev/null || die "'$c' is not installed; run scripts/install-deps.sh"; done

  if [[ -z "$dir" ]]; then dir=$(mktemp -d "${TMPDIR:-/tmp}/ascend-testbed.XXXXXX"); fi
  mkdir -p "$dir/logs"
  DIR=$(cd "$dir" && pwd)
  : >"$DIR/pids"
  trap 'fail "start-up (interrupted)"' INT TERM
  log "starting control plane in $DIR (logs in $DIR/logs)"

  read -r ETCD_PORT ETCD_PEER_PORT API_PORT CM_PORT SCHED_PORT KWOK_PORT < <(free_ports 6)
  ADVERTISE_IP=$(advertise_ip)
  make_pki || fail "certificate generation" ""
  write_kubeconfig "$DIR/admin.kubeconfig" admin
  write_kubeconfig "$DIR/controller-manager.kubeconfig" controller-manager
  write_kubeconfig "$DIR/scheduler.kubeconfig" scheduler
  write_kubeconfig "$DIR/kwok.kubeconfig" kwok
  cat >"$DIR/ports" <<EOF
ETCD_PORT=$ETCD_PORT
API_PORT=$API_PORT
CM_PORT=$CM_PORT
SCHED_PORT=$SCHED_PORT
KWOK_PORT=$KWOK_PORT
ADVERTISE_IP=$ADVERTISE_IP
APISERVER_BIND=$bind
EOF

  if [[ -n "$owner" ]]; then
    # The watchdog: when the owner is gone, stop everything. It is recorded first so that
    # `down` (which signals newest first) stops it last; it skips itself.
    setsid bash -c 'owner=$1; dir=$2; script=$3
      while kill -0 "$owner" 2>/dev/null && [[ -d "$dir" ]]; do sleep 1; done
      [[ -d "$dir" ]] && TESTBED_SELF_PID=$$ "$script" down "$dir" >/dev/null 2>&1' \
      watchdog "$owner" "$DIR" "$here/cluster.sh" >/dev/null 2>&1 </dev/null &
    echo "watchdog $!" >>"$DIR/pids"
  fi

  start etcd "$BIN/etcd" --name testbed --data-dir "$DIR/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "testbed=http://127.0.0.1:$ETCD_PEER_PORT" --unsafe-no-fsync --log-level warn
  wait_for "etcd" "$DIR/logs/etcd.log" 60 "$(pid_of etcd)" curl -fsS --max-time 2 "http://127.0.0.1:$ETCD_PORT/health"

  start kube-apiserver "$BIN/kube-apiserver" \
    --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
    --bind-address "$bind" --secure-port "$API_PORT" \
    --advertise-address "$ADVERTISE_IP" --endpoint-reconciler-type none \
    --authorization-mode Node,RBAC \
    --client-ca-file "$DIR/pki/ca.crt" \
    --tls-cert-file "$DIR/pki/apiserver.crt" --tls-private-key-file "$DIR/pki/apiserver.key" \
    --kubelet-client-certificate "$DIR/pki/apiserver-kubelet-client.crt" \
    --kubelet-client-key "$DIR/pki/apiserver-kubelet-client.key" \
    --kubelet-preferred-address-types InternalIP,Hostname \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --service-account-key-file "$DIR/pki/sa.pub" \
    --service-account-signing-key-file "$DIR/pki/sa.key" \
    --service-cluster-ip-range 10.96.0.0/16 \
    --allow-privileged=true --profiling=false \
    --v 1 ${api_args[@]+"${api_args[@]}"}
  wait_for "kube-apiserver" "$DIR/logs/kube-apiserver.log" 120 "$(pid_of kube-apiserver)" \
    https_ok "https://127.0.0.1:$API_PORT/readyz"

  start kube-controller-manager "$BIN/kube-controller-manager" \
    --kubeconfig "$DIR/controller-manager.kubeconfig" \
    --authentication-kubeconfig "$DIR/controller-manager.kubeconfig" \
    --authorization-kubeconfig "$DIR/controller-manager.kubeconfig" \
    --bind-address 127.0.0.1 --secure-port "$CM_PORT" \
    --use-service-account-credentials=true \
    --service-account-private-key-file "$DIR/pki/sa.key" --root-ca-file "$DIR/pki/ca.crt" \
    --cluster-signing-cert-file "$DIR/pki/ca.crt" --cluster-signing-key-file "$DIR/pki/ca.key" \
    --leader-elect=false --profiling=false --v 1
  start kube-scheduler "$BIN/kube-scheduler" \
    --kubeconfig "$DIR/scheduler.kubeconfig" \
    --authentication-kubeconfig "$DIR/scheduler.kubeconfig" \
    --authorization-kubeconfig "$DIR/scheduler.kubeconfig" \
    --bind-address 127.0.0.1 --secure-port "$SCHED_PORT" \
    --leader-elect=false --profiling=false --v 1
  start kwok "$BIN/kwok" --kubeconfig "$DIR/kwok.kubeconfig" \
    --config "$here/kwok/stages.yaml" \
    --manage-all-nodes=false --manage-nodes-with-annotation-selector kwok.x-k8s.io/node=fake \
    --server-address "127.0.0.1:$KWOK_PORT" --cidr 10.244.0.1/16 --node-ip 10.240.0.1
  wait_for "kube-controller-manager" "$DIR/logs/kube-controller-manager.log" 90 "$(pid_of kube-controller-manager)" \
    curl -fsSk --max-time 2 "https://127.0.0.1:$CM_PORT/healthz"
  wait_for "kube-scheduler" "$DIR/logs/kube-scheduler.log" 90 "$(pid_of kube-scheduler)" \
    curl -fsSk --max-time 2 "https://127.0.0.1:$SCHED_PORT/healthz"
  wait_for "kwok" "$DIR/logs/kwok.log" 60 "$(pid_of kwok)" \
    curl -fsS --max-time 2 "http://127.0.0.1:$KWOK_PORT/healthz"

  local kubectl=("$BIN/kubectl" --kubeconfig "$DIR/admin.kubeconfig")
  # The default ServiceAccount appears once the controller-manager's token controller runs;
  # pods in "default" are refused until then.
  wait_for "default ServiceAccount" "$DIR/logs/kube-controller-manager.log" 60 "$(pid_of kube-controller-manager)" \
    "${kubectl[@]}" get serviceaccount default -n default
  if ((nodes > 0)); then
    nodes_yaml "$nodes" ascend-node 0 >"$DIR/nodes.yaml"
    "${kubectl[@]}" apply -f "$DIR/nodes.yaml" >"$DIR/logs/nodes.log" 2>&1 || fail "creating fake nodes" "$DIR/logs/nodes.log"
    # kwok initialises nodes one after another: allow more time for many of them.
    wait_for "$nodes fake node(s) Ready" "$DIR/logs/kwok.log" $((90 + nodes)) "$(pid_of kwok)" \
      "${kubectl[@]}" wait --for=condition=Ready node -l type=kwok --timeout=2s
  fi
  trap - INT TERM
  log "control plane ready: kube-apiserver https://127.0.0.1:$API_PORT, $nodes fake Ascend node(s)"
  echo "export KUBECONFIG=$DIR/admin.kubeconfig"
  echo "export TESTBED_DIR=$DIR"
  echo "export TESTBED_BIN=$BIN"
}

case "${1:-}" in
  up) shift; cmd_up "$@" ;;
  down) shift; cmd_down "$@" ;;
  add-nodes) shift; cmd_add_nodes "$@" ;;
  restart) shift; cmd_restart "$@" ;;
  -h|--help|help) sed -n '2,25p' "${BASH_SOURCE[0]}" ;;
  *) die "usage: cluster.sh up|down|restart|add-nodes ... (see cluster.sh --help)" ;;
esac
