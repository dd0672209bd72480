#!/usr/bin/env bash
# The Dockerfiles in deploy/images/, checked without a Docker engine (there is none here):
#   - plugin and operator: multi-stage, built on debian:bookworm, final stage
#     debian:bookworm-slim; the sources the build stage copies are enough for CMake to
#     configure the program's target (with the flags of its RUN line); the file the final
#     stage copies is where that target is built; the final stage's Debian packages (plus
#     what bookworm-slim has) hold every shared library our binary loads (ldd, dpkg,
#     apt-cache); the operator runs as a non-root user, the entrypoint is the copied binary;
#   - the LLaMA-Factory NPU workload image has what the issue lists (base image argument with
#     its default, build arguments, workdir, requirements before the source, editable install
#     with the NPU extras, volumes, ports).
#
# Usage: tests/chart/dockerfile_test.sh [path/to/ascend-device-plugin path/to/llamafactory-operator]
#   With the binaries, also check the runtime packages against what they load.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
images=$root/deploy/images
declare -A binaries=()
for b in "$@"; do binaries[$(basename "$b")]=$b; done

# shellcheck source=tests/lib/check.sh
source "$root/tests/lib/check.sh"
make_work dockerfile-test

# instructions FILE: the Dockerfile with comments dropped and continuation lines joined
instructions() { sed -e '/^[[:space:]]*#/d' "$1" | sed -e ':a' -e '/\\$/N; s/\\\n[[:space:]]*/ /; ta' | sed '/^[[:space:]]*$/d'; }

# Packages in a bookworm-slim image before any apt-get install: apt's dependency closure
# (apt is in the image) plus the required ones; computed from this Debian's apt metadata.
closure() {
  apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks \
    --no-replaces --no-enhances "$@" 2>/dev/null | grep -v '^ ' | sed 's/:.*//' | sort -u
}
can_resolve=1
if ! apt-cache show apt >/dev/null 2>&1; then can_resolve=0; fi

for name in ascend-device-plugin llamafactory-operator; do
  f=$images/$name.Dockerfile
  [[ -f "$f" ]] || fail "$f is missing"
  instructions "$f" >"$work/$name"
  mapfile -t froms < <(grep -E '^FROM ' "$work/$name")
  ((${#froms[@]} == 2)) || fail "$name.Dockerfile: want 2 stages (build, final), has ${#froms[@]}: ${froms[*]}"
  [[ "${froms[0]}" =~ ^FROM\ debian:bookworm\ AS\ build$ ]] || fail "$name.Dockerfile: build stage is '${froms[0]}', want 'FROM debian:bookworm AS build'"
  [[ "${froms[1]}" == "FROM debian:bookworm-slim" ]] || fail "$name.Dockerfile: final stage is '${froms[1]}', want 'FROM debian:bookworm-slim'"

  # The build stage's sources configure the target with the RUN line's flags.
  src=$work/$name-src
  mkdir -p "$src"
  awk '/^FROM /{n++} n == 1 && /^COPY / && !/--from/' "$work/$name" | while read -r _ from to; do
    [[ -e "$root/$from" ]] || { echo "COPY source $from does not exist" >"$work/$name.copyerr"; break; }
    mkdir -p "$src/$(dirname "$to")"
    cp -r "$root/$from" "$src/$to"
  done
  [[ ! -s "$work/$name.copyerr" ]] || fail "$name.Dockerfile: $(cat "$work/$name.copyerr")"
  flags=$(grep -oE 'cmake -S \. -B /build[^&]*' "$work/$name" | head -1 | sed 's|cmake -S \. -B /build||')
  [[ -n "$flags" ]] || fail "$name.Dockerfile: no 'cmake -S . -B /build ...' in the build stage"
  grep -q -- "--target $name" "$work/$name" || fail "$name.Dockerfile: the build does not build --target $name"
  # shellcheck disable=SC2086
  cmake -S "$src" -B "$work/$name-build" $flags >"$work/$name-cmake.log" 2>&1 \
    || fail "$name.Dockerfile: CMake does not configure with only the copied sources:
$(tail -n 20 "$work/$name-cmake.log")"
  built=$(cmake --build "$work/$name-build" --target help 2>/dev/null | grep -c "^\.\.\. $name$" || true)
  ninja_file=$(grep -oE "build [^:]*/$name:" "$work/$name-build/build.ninja" 2>/dev/null | head -1 | sed 's/^build //; s/:$//')
  [[ "$built" == 1 || -n "$ninja_file" ]] || fail "$name.Dockerfile: target $name not defined by the copied sources"
  copied=$(awk '/^COPY --from=build /{print $3}' "$work/$name")
  [[ -n "$ninja_file" ]] && [[ "/build/$ninja_file" == "$copied" ]] \
    || fail "$name.Dockerfile: the final stage copies '$copied' but CMake builds $name at /build/${ninja_file:-?}"
  # A library folder left out of the COPY lines shows as a bare -l<our target> on the link
  # line: every -l must be a library the compiler finds.
  while read -r lib; do
    found=$(c++ -print-file-name="lib$lib.so")
    [[ "$found" == /* ]] || found=$(c++ -print-file-name="lib$lib.a")
    [[ "$found" == /* ]] || fail "$name.Dockerfile: $name links -l$lib, which neither the copied sources define nor the system provides (a folder missing from the COPY lines?)"
  done < <(cd "$work/$name-build" && ninja -t commands "$name" | tail -1 | tr ' ' '\n' | sed -n 's/^-l//p' | sort -u)
  dest=$(awk '/^COPY --from=build /{print $4}' "$work/$name")
  entry=$(sed -n 's/^ENTRYPOINT \["\([^"]*\)".*/\1/p' "$work/$name")
  [[ "$entry" == "$dest" ]] || fail "$name.Dockerfile: ENTRYPOINT '$entry' is not the copied binary '$dest'"
  user=$(awk '/^USER /{u=$2} END{print u}' "$work/$name")
  if [[ "$name" == llamafactory-operator ]]; then
    [[ -n "$user" && "${user%%:*}" != 0 && "${user%%:*}" != root ]] || fail "$name.Dockerfile: final USER is '$user', want non-root"
    [[ "$user" == 65532:65532 ]] || fail "$name.Dockerfile: USER $user, want 65532:65532 (the chart's runAsUser)"
  fi
  check "$name.Dockerfile: bookworm build stage, bookworm-slim final stage, the copied sources configure $name at $copied, ENTRYPOINT $entry, USER ${user:-root}"

  # The final stage's packages carry every library the binary loads.
  bin=${binaries[$name]:-}
  if [[ -z "$bin" ]]; then echo "skip: $name runtime packages (no binary given)"; continue; fi
  if ((!can_resolve)); then echo "skip: $name runtime packages (no apt metadata; run apt-get update)"; continue; fi
  read -r -a pkgs < <(awk '/^FROM /{n++} n == 2 && /^RUN / {
    s = $0; sub(/.*apt-get install[^&]*--no-install-recommends/, "", s); sub(/&&.*/, "", s); print s }' "$work/$name")
  ((${#pkgs[@]})) || fail "$name.Dockerfile: no apt-get install --no-install-recommends in the final stage"
  closure apt libc6 base-files "${pkgs[@]}" >"$work/$name-have"
  missing=()
  while read -r lib path; do
    [[ -n "$path" ]] || continue
    real=$(readlink -f "$path")
    pkg=""
    for candidate in "$real" "${real#/usr}" "/usr${real#/usr}" "$path"; do
      pkg=$(dpkg -S "$candidate" 2>/dev/null | head -1 | sed 's/:.*//') && [[ -n "$pkg" ]] && break
    done
    [[ -n "$pkg" ]] || fail "$name loads $lib ($real), which no Debian package ships"
    grep -qx "$pkg" "$work/$name-have" || missing+=("$lib ($pkg)")
  done < <(ldd "$bin" | awk '/=> \//{print $1, $3}')
  ((${#missing[@]} == 0)) || fail "$name.Dockerfile: the final stage lacks packages for ${missing[*]}"
  check "$name.Dockerfile: the final stage's ${#pkgs[@]} packages hold all $(ldd "$bin" | grep -c '=> /') libraries $name loads"
done

# --- the LLaMA-Factory NPU workload image
f=$images/llamafactory-npu.Dockerfile
instructions "$f" >"$work/npu"
need() { grep -qE "$1" "$work/npu" || fail "llamafactory-npu.Dockerfile lacks $2"; }
need '^ARG BASE_IMAGE=ascendai/cann:8\.0\.rc1-910b-ubuntu22\.04-py3\.9$' "ARG BASE_IMAGE=ascendai/cann:8.0.rc1-910b-ubuntu22.04-py3.9"
[[ $(grep -m1 '^FROM ' "$work/npu") == 'FROM ${BASE_IMAGE}' ]] || fail "llamafactory-npu.Dockerfile: the first FROM is not \${BASE_IMAGE}"
[[ $(grep -c '^# *ascendai/cann:' "$f") -ge 2 ]] || fail "llamafactory-npu.Dockerfile: the other CANN variants are not listed as comments"
need '^ENV DEBIAN_FRONTEND=noninteractive$' "DEBIAN_FRONTEND=noninteractive"
need '^ARG INSTALL_DEEPSPEED=false$' "ARG INSTALL_DEEPSPEED=false"
need '^ARG PIP_INDEX=' "ARG PIP_INDEX"
need '^ARG TORCH_INDEX=' "ARG TORCH_INDEX"
need '^WORKDIR /app$' "WORKDIR /app"
req=$(grep -n '^COPY requirements.txt' "$work/npu" | cut -d: -f1)
src=$(grep -n '^COPY \. /app' "$work/npu" | cut -d: -f1)
[[ -n "$req" && -n "$src" && "$req" -lt "$src" ]] || fail "llamafactory-npu.Dockerfile: requirements.txt must be copied (and installed) before the source"
inst=$(grep -n 'pip install -r requirements.txt' "$work/npu" | cut -d: -f1)
[[ -n "$inst" && "$inst" -lt "$src" ]] || fail "llamafactory-npu.Dockerfile: requirements are not installed before the source is copied"
need 'pip install -e "\.\[\$EXTRA_PACKAGES\]"' "an editable install with extras"
need 'EXTRA_PACKAGES="torch-npu,metrics"' "the torch-npu,metrics extras"
need 'INSTALL_DEEPSPEED" = "true" \].*deepspeed' "deepspeed when INSTALL_DEEPSPEED=true"
need '^VOLUME \[ "/root/\.cache/huggingface", "/root/\.cache/modelscope", "/app/data", "/app/output" \]$' "VOLUME for the two caches, /app/data and /app/output"
need '^ENV GRADIO_SERVER_PORT=7860$' "GRADIO_SERVER_PORT=7860"
need '^ENV API_PORT=8000$' "API_PORT=8000"
need '^EXPOSE 7860$' "EXPOSE 7860"
need '^EXPOSE 8000$' "EXPOSE 8000"
need '^COPY --from=ascendfactory reporter/ ' "the progress reporter's source from the ascendfactory context"
need ' -o /usr/local/bin/lfjob-progress' "lfjob-progress in /usr/local/bin (the operator's sidecar command)"
for f in main.cpp follower.cpp poster.cpp; do
  need "reporter/$f" "reporter/$f compiled"
  [[ -f "$root/reporter/$f" ]] || fail "llamafactory-npu.Dockerfile compiles reporter/$f, which does not exist"
done
check "llamafactory-npu.Dockerfile: builds lfjob-progress from reporter/ (every source it names exists)"
check "llamafactory-npu.Dockerfile: base image argument (ascendai/cann:8.0.rc1-910b-ubuntu22.04-py3.9, variants listed), INSTALL_DEEPSPEED/PIP_INDEX/TORCH_INDEX, /app, requirements first, editable torch-npu,metrics[,deepspeed], volumes, ports 7860 and 8000"

finish
