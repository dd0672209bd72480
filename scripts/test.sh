#!/usr/bin/env bash
# The README's test command (`make test`): installs what is missing, builds the pinned
# Kubernetes parts (cached outside the repo) and the C++ code, then runs every test
# (unit, style and the real control-plane test bed) through ctest.
#
# Environment: BUILD_DIR (default build), ASCEND_SANITIZE=1 for an ASan/UBSan build,
# CTEST_ARGS for extra ctest arguments (e.g. "-L unit" or "-R testbed").
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
build=${BUILD_DIR:-build}
t0=$SECONDS
phase() { echo; echo "==== $* ($((SECONDS - t0))s elapsed)"; }

phase "1/4 Debian packages"
scripts/install-deps.sh

phase "2/4 test bed tools (Go modules, cached by pin)"
tests/testbed/tools/build.sh >/dev/null
# The node autoscalers (own cache key). A failure here (no cluster-autoscaler source reachable)
# is reported and fails only the autoscaler.* tests, which say why.
tests/testbed/tools/autoscalers/build.sh >/dev/null \
  || echo "warning: the node autoscalers could not be built (see above); the autoscaler.* tests will fail" >&2

phase "3/4 C++ build ($build)"
mkdir -p "$build"
sanitize=OFF
if [[ "${ASCEND_SANITIZE:-0}" == 1 ]]; then sanitize=ON; fi
cmake -S . -B "$build" -G Ninja -DASCEND_SANITIZE=$sanitize >"$build/configure.log" 2>&1 \
  || { cat "$build/configure.log" >&2; echo "error: cmake configure failed (log: $build/configure.log)" >&2; exit 1; }
cmake --build "$build" -j "$(nproc)"

phase "4/4 tests"
# shellcheck disable=SC2086
ctest --test-dir "$build" --output-on-failure --timeout 900 -j 2 ${CTEST_ARGS:-}
phase "done"
