#!/usr/bin/env bash
# Runs bench/kube_bench.cpp against a fresh control-plane test bed (tests/testbed/cluster.sh,
# stopped at exit, and by its watchdog if this script is killed) and prints its figures.
#
# Usage: bench/run_kube_bench.sh BUILD/bench/kube_bench [--objects 10000] [--writers 16]
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
testbed=$(cd "$here/../tests/testbed" && pwd)
binary=${1:?usage: run_kube_bench.sh path/to/kube_bench [--objects N] [--writers W]}
shift

# shellcheck source=tests/lib/check.sh
source "$here/../tests/lib/check.sh"
testbed_up --nodes 1
export KUBECONFIG TESTBED_DIR TESTBED_BIN
export TESTBED_CLUSTER_SH="$testbed/cluster.sh"

echo "kube_bench on $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), $("$TESTBED_BIN/kubectl" version -o json | jq -r .serverVersion.gitVersion)"
"$binary" "$@"
