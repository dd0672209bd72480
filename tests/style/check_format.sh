#!/usr/bin/env bash
# Fails when a C++ file of ours differs from what clang-format (.clang-format) makes of it.
set -euo pipefail
root=${1:-$(git rev-parse --show-toplevel)}
cd "$root"
mapfile -t files < <(git ls-files -co --exclude-standard -- '*.cpp' '*.hpp' '*.h' '*.c' \
  | grep -vE '^(build[^/]*|third_party)/' || true)
if ((${#files[@]} == 0)); then echo "no C/C++ files yet"; exit 0; fi
if ! clang-format --dry-run --Werror "${files[@]}"; then
  echo "clang-format: the files above need formatting; run: clang-format -i <file>" >&2
  exit 1
fi
echo "clang-format: ${#files[@]} files formatted"
