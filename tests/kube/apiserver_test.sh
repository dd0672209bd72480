#!/usr/bin/env bash
# Runs tests/kube/apiserver_test.cpp against a fresh control-plane test bed: starts one
# (tests/testbed/cluster.sh, stopped at exit and by its watchdog if this script is killed),
# applies the test CRD, exports what the binary reads (KUBECONFIG, TESTBED_DIR, TESTBED_BIN,
# TESTBED_CLUSTER_SH) and runs it. Extra arguments go to the binary (e.g. --gtest_filter=...).
#
# Usage: tests/kube/apiserver_test.sh path/to/kube_apiserver_test [gtest flags...]
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
testbed=$(cd "$here/../testbed" && pwd)
binary=${1:?usage: apiserver_test.sh path/to/kube_apiserver_test [gtest flags...]}
shift
[[ -x "$binary" ]] || { echo "apiserver_test: $binary is not an executable" >&2; exit 1; }

# shellcheck source=tests/lib/check.sh
source "$here/../lib/check.sh"
testbed_up --nodes 1
export KUBECONFIG TESTBED_DIR TESTBED_BIN
export TESTBED_CLUSTER_SH="$testbed/cluster.sh"

"$TESTBED_BIN/kubectl" apply -f "$here/manifests/widget-crd.yaml"
crd_established widgets.kubetest.ascend-factory.io

"$binary" "$@"
