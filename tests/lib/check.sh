# shellcheck shell=bash
# What every test script (and the bench runners) would otherwise declare for itself: counting
# checks, failing with context, polling, a work folder, and stopping what the script started,
# also when a check fails. Sourced, never run:
#
#   source "$(dirname "${BASH_SOURCE[0]}")/../lib/check.sh"
#
#   check MSG...                    a check passed: prints "ok: MSG" and counts it
#   fail MSG...                     prints "FAIL: MSG", then whatever the script's own
#                                   fail_context function prints (if it defines one); exits 1
#   finish                          the last line of a test: "<n> passed, 0 failed"
#   wait_until WHAT TIMEOUT_S CMD...
#                                   polls CMD (output dropped) until it succeeds; fails after
#                                   TIMEOUT_S naming WHAT
#   wait_stable WHAT HOLD_S TIMEOUT_S CMD...
#                                   polls CMD until its output (and exit status) has stayed the
#                                   same for HOLD_S seconds: the state has converged
#   crd_established CRD...          waits (60 s) until each CustomResourceDefinition is Established
#                                   (`kubectl wait --for=condition=Established` errors out on a
#                                   CRD whose status has no conditions yet, right after creation)
#   operator_kubeconfig FILE [NS SA] writes a kubeconfig that logs in to the test bed as the
#                                   ServiceAccount NS/SA (2 h token; default
#                                   ascend-factory/llamafactory-operator)
#   make_work PREFIX                sets work to a fresh temporary folder, removed on exit
#   serving_tls DIR                 a CA and a 127.0.0.1 serving certificate in DIR (ca.crt,
#                                   tls.crt, tls.key) for the operator's status server
#   testbed_up [cluster.sh up ARGS] starts the control-plane test bed (tied to this shell's
#                                   PID), sources its environment, defines k (kubectl)
#   testbed_down                    stops the test bed now (a script that checks the teardown)
#   testbed_adopt                   the TESTBED_DIR of an environment just sourced (stack.sh)
#                                   is this script's to stop on exit
#
# On exit, in this order: the script's on_exit function (if it defines one) with the exit
# status, the test bed (its logs kept in TESTBED_DIR/logs when the script failed), the work
# folder. Scripts set -euo pipefail themselves before sourcing this.

testlib_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
pass=0
work=""
testlib_testbed=""
testlib_failing=""

check() { echo "ok: $*"; pass=$((pass + 1)); }

fail() {
  echo "FAIL: $*" >&2
  # fail_context may itself call helpers that fail; print the context only once.
  if [[ -z "$testlib_failing" ]] && declare -F fail_context >/dev/null; then
    testlib_failing=1
    fail_context >&2 || true
  fi
  exit 1
}

finish() { echo "$pass passed, 0 failed"; }

wait_until() {
  local what=$1 timeout=$2; shift 2
  local deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || fail "timed out after ${timeout}s waiting for $what"
    sleep 0.3
  done
}

wait_stable() {
  local what=$1 hold=$2 timeout=$3; shift 3
  local deadline=$((SECONDS + timeout)) last="" now since=$SECONDS
  last=$("$@" 2>&1; echo "rc=$?")
  while ((SECONDS - since < hold)); do
    ((SECONDS < deadline)) || fail "timed out after ${timeout}s waiting for $what to hold still for ${hold}s (last: $last)"
    sleep 0.5
    now=$("$@" 2>&1; echo "rc=$?")
    if [[ "$now" != "$last" ]]; then last=$now since=$SECONDS; fi
  done
}

crd_is_established() {
  [[ $(k get crd "$1" -o jsonpath='{.status.conditions[?(@.type=="Established")].status}' 2>/dev/null) == True ]]
}
crd_established() {
  local crd
  for crd in "$@"; do wait_until "CRD $crd to be Established" 60 crd_is_established "${crd#crd/}"; done
}

operator_kubeconfig() {
  local token server ns=${2:-ascend-factory} sa=${3:-llamafactory-operator}
  token=$(k create token "$sa" -n "$ns" --duration=2h)
  server=$(k config view --minify -o jsonpath='{.clusters[0].cluster.server}')
  cat >"$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: testbed
  cluster: {server: "$server", certificate-authority: "$TESTBED_DIR/pki/ca.crt"}
users:
- name: $sa
  user: {token: "$token"}
contexts:
- name: operator
  context: {cluster: testbed, user: $sa, namespace: $ns}
current-context: operator
EOF
}

make_work() {
  work=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")
}

testbed_up() {
  [[ -n "$work" ]] || make_work ascend-test
  "$testlib_root/tests/testbed/cluster.sh" up "$@" --owner-pid $$ >"$work/testbed.env"
  # shellcheck disable=SC1091
  source "$work/testbed.env"
  testbed_adopt
}

testbed_adopt() { testlib_testbed=${TESTBED_DIR:-}; }

testbed_down() {
  "$testlib_root/tests/testbed/cluster.sh" down "$TESTBED_DIR"
  testlib_testbed=""
  unset TESTBED_DIR
}

k() { "$TESTBED_BIN/kubectl" "$@"; }

# serving_tls DIR: a CA (DIR/ca.crt) and a certificate for 127.0.0.1 and localhost signed by it
# (DIR/tls.crt, DIR/tls.key): what the operator's status server serves in tests and the bench.
serving_tls() {
  local dir=$1
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$dir/ca.key" -out "$dir/ca.crt" -days 2 \
    -subj "/CN=progress-test-ca" -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -keyout "$dir/tls.key" -out "$dir/tls.csr" -subj "/CN=progress" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' >"$dir/ext"
  openssl x509 -req -in "$dir/tls.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" -CAcreateserial \
    -days 2 -extfile "$dir/ext" -out "$dir/tls.crt" 2>/dev/null
}

testlib_exit() {
  local rc=$1
  if declare -F on_exit >/dev/null; then on_exit "$rc" || true; fi
  if [[ -n "$testlib_testbed" ]]; then
    if [[ $rc -ne 0 ]]; then export KEEP_TESTBED_LOGS=1; fi
    "$testlib_root/tests/testbed/cluster.sh" down "$testlib_testbed" || true
  fi
  if [[ -n "$work" ]]; then rm -rf "$work"; fi
  exit "$rc"
}
trap 'testlib_exit $?' EXIT
