#!/usr/bin/env bash
# Runs clang-tidy (.clang-tidy at the root) on every C++ source of ours that the build
# compiles, using the build's compile_commands.json. Generated code is not checked, and
# neither are the *_test.cpp files (GoogleTest's macros are most of what tidy would read
# there, and checking them would double the time of this test on 2 cores).
set -euo pipefail
root=$1 build=$2
[[ -f "$build/compile_commands.json" ]] || { echo "no $build/compile_commands.json; configure with CMake first" >&2; exit 1; }
mapfile -t files < <(jq -r '.[].file' "$build/compile_commands.json" | grep -F "$root/" \
  | grep -v -F "$build/" | grep -E '\.(cpp|cc)$' | grep -v '_test\.cpp$' | sort -u)
if ((${#files[@]} == 0)); then echo "clang-tidy: no C++ sources compiled yet"; exit 0; fi
jobs=$(nproc)
printf '%s\n' "${files[@]}" | xargs -P "$jobs" -n 4 clang-tidy -p "$build" --quiet 2>/dev/null >"$build/clang-tidy.log" || {
  grep -E "(warning|error):" "$build/clang-tidy.log" | head -n 50 >&2
  echo "clang-tidy: findings above (full log: $build/clang-tidy.log)" >&2
  exit 1
}
echo "clang-tidy: ${#files[@]} files clean"
