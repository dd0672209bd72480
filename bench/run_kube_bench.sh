#!/usr/bin/env bash
# Runs bench/kube_bench.cpp against a fresh control-plane test bed (tests/testbed/cluster.sh,
# stopped at exit, and by its watchdog if this script is killed) and prints its figures.
#
# Usage: bench/run_kube_bench.sh path/to/kube_bench [--objects 10000] [--writers 16]
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
testbed=$(cd "$here/../tests/testbed" && pwd)
binary=${1:?usage: run_kube_bench.sh path/to/kube_bench [--objects N] [--writers W]}
shift

env_file=$(mktemp)
cleanup() {
  local rc=$1
  [[ -n "${TESTBED_DIR:-}" ]] && "$testbed/cluster.sh" down "$TESTBED_DIR" || true
  rm -f "$env_file"
  exit "$rc"
}
trap 'cleanup $?' EXIT

"$testbed/cluster.sh" up --nodes 1 --owner-pid $$ >"$env_file"
# shellcheck disable=SC1090
source "$env_file"
export KUBECONFIG TESTBED_DIR TESTBED_BIN
export TESTBED_CLUSTER_SH="$testbed/cluster.sh"

echo "kube_bench on $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), $("$TESTBED_BIN/kubectl" version -o json | jq -r .serverVersion.gitVersion)"
"$binary" "$@"
