#!/usr/bin/env bash
# Runs clang-tidy (.clang-tidy at the root) on every C++ source of ours that the build
# compiles, using the build's compile_commands.json. Generated code is not checked, and
# neither are the *_test.cpp files (GoogleTest's macros are most of what tidy would read
# there, and checking them would double the time of this test on 2 cores).
#
# clang-tidy reads gRPC's and cpprestsdk's headers for every file, which costs minutes on
# 2 cores, so a clean result is remembered outside the repo
# ($ASCEND_FACTORY_CACHE/clang-tidy, default ~/.cache/ascend-factory/clang-tidy), keyed by
# the file, every header of ours, the compile command, .clang-tidy and the clang-tidy
# version: a file is checked again as soon as anything it could depend on changes.
set -euo pipefail
root=$1 build=$2
[[ -f "$build/compile_commands.json" ]] || { echo "no $build/compile_commands.json; configure with CMake first" >&2; exit 1; }
cache=${ASCEND_FACTORY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ascend-factory}/clang-tidy
mkdir -p "$cache"

mapfile -t files < <(jq -r '.[].file' "$build/compile_commands.json" | grep -F "$root/" \
  | grep -v -F "$build/" | grep -E '\.(cpp|cc)$' | grep -v '_test\.cpp$' | sort -u)
if ((${#files[@]} == 0)); then echo "clang-tidy: no C++ sources compiled yet"; exit 0; fi

# What every file's result may depend on besides itself.
salt=$( {
  clang-tidy --version
  cat "$root/.clang-tidy"
  (cd "$root" && git ls-files -co --exclude-standard -- '*.hpp' '*.h' | sort | xargs -r sha256sum)
} | sha256sum | cut -c1-64)

todo=()
declare -A key_of
for f in "${files[@]}"; do
  # The compile command with the checkout and build folders taken out, so that a fresh
  # clone elsewhere (CI) finds the same keys.
  cmd=$(jq -r --arg f "$f" '.[] | select(.file == $f) | .command' "$build/compile_commands.json" | head -n 1)
  cmd=${cmd//"$build"/@BUILD@}
  cmd=${cmd//"$root"/@ROOT@}
  key=$( { echo "$salt"; echo "$cmd"; sha256sum <"$f"; } | sha256sum | cut -c1-64)
  key_of[$f]=$key
  [[ -f "$cache/$key" ]] || todo+=("$f")
done

echo "clang-tidy: ${#files[@]} files, $(( ${#files[@]} - ${#todo[@]} )) unchanged since a clean check, ${#todo[@]} to check"
if ((${#todo[@]} == 0)); then exit 0; fi

: >"$build/clang-tidy.log"
failed=0
# One file per clang-tidy so a clean file can be remembered on its own.
printf '%s\n' "${todo[@]}" | xargs -P "$(nproc)" -I{} sh -c \
  't=$(mktemp); if clang-tidy -p "$1" --quiet "$2" >"$t" 2>/dev/null; then echo "clean $2"; else echo "dirty $2"; cat "$t" >>"$1/clang-tidy.log"; fi; rm -f "$t"' \
  _ "$build" {} >"$build/clang-tidy.status"
while read -r state f; do
  if [[ "$state" == clean ]]; then : >"$cache/${key_of[$f]}"; else failed=1; fi
done <"$build/clang-tidy.status"
if ((failed)); then
  grep -E "(warning|error):" "$build/clang-tidy.log" | head -n 50 >&2
  echo "clang-tidy: findings above (full log: $build/clang-tidy.log)" >&2
  exit 1
fi
echo "clang-tidy: ${#todo[@]} files clean"
