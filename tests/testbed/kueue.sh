#!/usr/bin/env bash
# Kueue (sigs.k8s.io/kueue, built by tools/build.sh) on a running control-plane test bed
# (cluster.sh), out of cluster, the way its own Deployment runs it except for what a Pod would
# give it:
#
# - its CRDs (from the module, v1beta2) applied server-side and Established before it starts;
# - a config file: no internal cert management, no leader election, the webhook server on
#   127.0.0.1 with a certificate the test bed's CA issued (IP SAN 127.0.0.1), and
#   LlamaFactoryJob.v1alpha1.ascendfactory.io as an external framework;
# - its webhook configurations (only those for kueue.x-k8s.io objects: the job frameworks'
#   webhooks would intercept kinds nothing here serves) pointed at that server by `url:`;
# - the metrics certificate it reads from the hard-coded /etc/kueue/metrics/certs: it runs in a
#   private mount namespace where /etc is an overlay of the machine's /etc and a folder of the
#   test bed, so the certificate is there for Kueue alone and the machine's /etc is never
#   written.
#
# Usage:
#   kueue.sh up DIR     DIR is the test bed's folder (TESTBED_DIR); Kueue is recorded in
#                       DIR/pids, so `cluster.sh down DIR` stops it. Prints KUEUE_* exports.
#   kueue.sh down DIR   Stops Kueue only (cluster.sh down stops it with everything else).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

log() { echo "kueue: $*" >&2; }
die() { echo "kueue: error: $*" >&2; exit 1; }
# shellcheck source=tests/testbed/lib.sh
source "$here/lib.sh"

fail() {
  local step=$1 logfile=${2:-}
  echo "kueue: error: $step failed" >&2
  if [[ -n "$logfile" && -f "$logfile" ]]; then
    echo "kueue: last lines of $logfile:" >&2
    tail -n 25 "$logfile" | sed 's/^/    /' >&2
  fi
  exit 1
}

# The external framework Kueue is told about (Kind.version.group).
FRAMEWORK=LlamaFactoryJob.v1alpha1.ascendfactory.io

crd_established() {
  [[ $("${kubectl[@]}" get crd "$1" -o jsonpath='{.status.conditions[?(@.type=="Established")].status}' 2>/dev/null) == True ]]
}

# webhooks_json MANIFESTS URL CA_FILE: Kueue's webhook configurations for kueue.x-k8s.io objects,
# each calling URL + its path with CA_FILE as caBundle, as a JSON list.
webhooks_json() {
  python3 - "$@" <<'PY'
import base64, json, sys, yaml
manifests, url, ca = sys.argv[1:4]
bundle = base64.b64encode(open(ca, "rb").read()).decode()
out = []
for doc in yaml.safe_load_all(open(manifests)):
    if not doc:
        continue
    hooks = []
    for hook in doc.get("webhooks", []):
        groups = {g for rule in hook.get("rules", []) for g in rule.get("apiGroups", [])}
        if groups != {"kueue.x-k8s.io"}:
            continue
        path = hook["clientConfig"]["service"]["path"]
        hook["clientConfig"] = {"url": url + path, "caBundle": bundle}
        hooks.append(hook)
    doc["metadata"]["name"] = "testbed-kueue-" + doc["metadata"]["name"]
    doc["webhooks"] = hooks
    out.append(doc)
print(json.dumps({"apiVersion": "v1", "kind": "List", "items": out}))
PY
}

cmd_up() {
  local dir=${1:-}
  [[ -n "$dir" && -d "$dir" ]] || die "usage: kueue.sh up TESTBED_DIR"
  DIR=$(cd "$dir" && pwd)
  BIN=$(tools_bin) || exit 1
  local assets
  assets=$(dirname "$BIN")/kueue
  [[ -x "$BIN/kueue" && -d "$assets/crds" ]] || die "missing $BIN/kueue or $assets/crds; run tests/testbed/tools/build.sh"
  for c in unshare mount python3 openssl; do command -v "$c" >/dev/null || die "'$c' is not installed"; done
  kubectl=("$BIN/kubectl" --kubeconfig "$DIR/admin.kubeconfig")
  local k=$DIR/kueue
  mkdir -p "$k/upper/kueue/metrics/certs" "$k/work"

  log "applying Kueue's CRDs (server-side)"
  "${kubectl[@]}" apply --server-side --force-conflicts -f "$assets/crds" >"$DIR/logs/kueue-crds.log" 2>&1 ||
    fail "applying Kueue's CRDs" "$DIR/logs/kueue-crds.log"
  local crd
  for crd in workloads resourceflavors clusterqueues localqueues workloadpriorityclasses admissionchecks cohorts topologies; do
    wait_for "CRD $crd.kueue.x-k8s.io Established" "$DIR/logs/kueue-crds.log" 60 "" crd_established "$crd.kueue.x-k8s.io"
  done
  "${kubectl[@]}" create namespace kueue-system >/dev/null 2>&1 || true

  local webhook_port metrics_port health_port
  read -r webhook_port metrics_port health_port < <(free_ports 3)
  # Serving certificates from the test bed's CA: the webhook's (certDir) and the metrics
  # endpoint's (what Kueue reads from /etc/kueue/metrics/certs; it lives in the overlay's upper
  # folder). A client certificate for its API access.
  issue_cert "$k/certs" tls "/CN=kueue-webhook" "IP:127.0.0.1,DNS:localhost"
  issue_cert "$k/upper/kueue/metrics/certs" tls "/CN=kueue-metrics" "IP:127.0.0.1,DNS:localhost"
  issue_cert "$DIR/pki" kueue "/O=system:masters/CN=kueue-controller"
  source "$DIR/ports"
  cat >"$k/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: testbed
  cluster: {server: "https://127.0.0.1:$API_PORT", certificate-authority: "$DIR/pki/ca.crt"}
users:
- name: kueue
  user: {client-certificate: "$DIR/pki/kueue.crt", client-key: "$DIR/pki/kueue.key"}
contexts:
- name: testbed
  context: {cluster: testbed, user: kueue}
current-context: testbed
EOF
  cat >"$k/config.yaml" <<EOF
apiVersion: config.kueue.x-k8s.io/v1beta2
kind: Configuration
namespace: kueue-system
health:
  healthProbeBindAddress: 127.0.0.1:$health_port
metrics:
  bindAddress: 127.0.0.1:$metrics_port
webhook:
  host: 127.0.0.1
  port: $webhook_port
  certDir: $k/certs
leaderElection:
  leaderElect: false
internalCertManagement:
  enable: false
manageJobsWithoutQueueName: false
integrations:
  frameworks: ["batch/job"]
  externalFrameworks: ["$FRAMEWORK"]
EOF
  cat >>"$DIR/ports" <<EOF
KUEUE_WEBHOOK_PORT=$webhook_port
KUEUE_METRICS_PORT=$metrics_port
KUEUE_HEALTH_PORT=$health_port
EOF

  # /etc inside Kueue's own mount namespace: the machine's /etc below, $k/upper above (its
  # writes, if any, land there too). The mount is gone with the namespace when Kueue exits.
  start kueue env KUBECONFIG="$k/kubeconfig" unshare --mount --propagation private \
    sh -c 'mount -t overlay overlay -o "lowerdir=/etc,upperdir=$1,workdir=$2" /etc && shift 2 && exec "$@"' \
    kueue-etc "$k/upper" "$k/work" \
    "$BIN/kueue" --config "$k/config.yaml" --feature-gates=VisibilityOnDemand=false --zap-log-level=2
  wait_for "kueue" "$DIR/logs/kueue.log" 90 "$(pid_of kueue)" \
    curl -fsS --max-time 2 "http://127.0.0.1:$health_port/readyz"

  webhooks_json "$assets/webhook-manifests.yaml" "https://127.0.0.1:$webhook_port" "$DIR/pki/ca.crt" >"$k/webhooks.json"
  "${kubectl[@]}" apply --server-side --force-conflicts -f "$k/webhooks.json" >>"$DIR/logs/kueue-crds.log" 2>&1 ||
    fail "applying Kueue's webhook configurations" "$DIR/logs/kueue-crds.log"
  # Served once a dry-run create goes through the webhooks (a ResourceFlavor: the webhook
  # defaults and validates it).
  wait_for "kueue webhooks" "$DIR/logs/kueue.log" 60 "$(pid_of kueue)" \
    sh -c "echo '{\"apiVersion\":\"kueue.x-k8s.io/v1beta2\",\"kind\":\"ResourceFlavor\",\"metadata\":{\"name\":\"probe\"}}' | $(printf '%q ' "${kubectl[@]}") create --dry-run=server -f -"
  log "kueue ready (webhook https://127.0.0.1:$webhook_port, health http://127.0.0.1:$health_port)"
  echo "export KUEUE_HEALTH_PORT=$health_port"
  echo "export KUEUE_METRICS_PORT=$metrics_port"
}

cmd_down() {
  local dir=${1:-} pid
  [[ -n "$dir" && -d "$dir" ]] || die "usage: kueue.sh down TESTBED_DIR"
  DIR=$(cd "$dir" && pwd)
  pid=$(pid_of kueue)
  [[ -n "$pid" ]] || { log "kueue is not running"; return 0; }
  kill -TERM -- "-$pid" 2>/dev/null || true
  local deadline=$((SECONDS + 15))
  while alive "$pid" && ((SECONDS < deadline)); do sleep 0.2; done
  kill -KILL -- "-$pid" 2>/dev/null || true
  grep -v "^kueue $pid\$" "$DIR/pids" >"$DIR/pids.tmp" || true
  mv "$DIR/pids.tmp" "$DIR/pids"
  echo "kueue $pid" >>"$DIR/pids.stopped"
  log "stopped"
}

case "${1:-}" in
  up) shift; cmd_up "$@" ;;
  down) shift; cmd_down "$@" ;;
  -h|--help|help) sed -n '2,20p' "${BASH_SOURCE[0]}" ;;
  *) die "usage: kueue.sh up|down TESTBED_DIR (see kueue.sh --help)" ;;
esac
