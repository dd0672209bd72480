#!/usr/bin/env bash
# containerd for the test bed (Debian's containerd and runc), with its own root, state,
# socket and config in one folder, so it never touches a system containerd.
#
# Usage:
#   containerd.sh up [--dir DIR] [--owner-pid PID] [--sandbox-image REF]
#       Start containerd (CNI config read from DIR/cni, plugins from /usr/lib/cni; the CRI
#       plugin's pause image is REF, which must be imported, never pulled); prints `export CONTAINERD_ADDRESS=...` and
#       `export CONTAINERD_DIR=...` on stdout. With --owner-pid, a watchdog stops it when
#       that process is gone.
#   containerd.sh down DIR
#       Stop it (by PID), unmount what it mounted and remove DIR.
# Needs root (containers are created with runc).
set -euo pipefail
log() { echo "containerd.sh: $*" >&2; }
die() { echo "containerd.sh: error: $*" >&2; exit 1; }

cmd_down() {
  local dir=${1:?usage: containerd.sh down DIR} pid
  [[ -d "$dir" ]] || return 0
  # Containers outlive their shims, so end them first: through containerd while it runs,
  # then through runc's own state (CRI containers keep it in DIR/runc).
  if [[ -S "$dir/containerd.sock" ]]; then
    local ns task
    for ns in $(timeout 10 ctr -a "$dir/containerd.sock" namespaces ls -q 2>/dev/null); do
      for task in $(timeout 10 ctr -a "$dir/containerd.sock" -n "$ns" tasks ls -q 2>/dev/null); do
        timeout 10 ctr -a "$dir/containerd.sock" -n "$ns" tasks kill -a -s SIGKILL "$task" >/dev/null 2>&1 || true
      done
    done
  fi
  local rroot id
  for rroot in "$dir"/runc/*; do
    [[ -d "$rroot" ]] || continue
    for id in $(runc --root "$rroot" list -q 2>/dev/null); do
      runc --root "$rroot" kill --all "$id" KILL >/dev/null 2>&1 || true
      runc --root "$rroot" delete -f "$id" >/dev/null 2>&1 || true
    done
  done
  for f in "$dir"/watchdog.pid "$dir"/containerd.pid; do
    [[ -f "$f" ]] || continue
    pid=$(cat "$f")
    [[ "$pid" == "${CONTAINERD_SELF_PID:-}" ]] && continue
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$pid" 2>/dev/null || true
  done
  # Tasks left by a killed containerd: their shims are in other process groups.
  pkill -f -- "containerd-shim.*-address $dir/" 2>/dev/null || true
  # Unmount snapshots and sandbox mounts under DIR, deepest first.
  local mounts
  mounts=$(awk -v d="$dir/" 'index($2, d) == 1 {print $2}' /proc/mounts | sort -r)
  for m in $mounts; do umount -l "$m" 2>/dev/null || true; done
  rm -rf "$dir"
}

cmd_up() {
  local dir="" owner="" sandbox=docker.io/ascend-factory/pause:dev
  while (($#)); do
    case "$1" in
      --dir) dir=$2; shift 2 ;;
      --owner-pid) owner=$2; shift 2 ;;
      --sandbox-image) sandbox=$2; shift 2 ;;
      *) die "unknown option '$1'" ;;
    esac
  done
  [[ $(id -u) -eq 0 ]] || die "containerd needs root"
  command -v containerd >/dev/null || die "containerd is not installed; run scripts/install-deps.sh"
  [[ -n "$dir" ]] || dir=$(mktemp -d "${TMPDIR:-/tmp}/ascend-containerd.XXXXXX")
  mkdir -p "$dir/cni"
  dir=$(cd "$dir" && pwd)
  cat >"$dir/config.toml" <<CONF
version = 2
root = "$dir/root"
state = "$dir/state"
[grpc]
  address = "$dir/containerd.sock"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$sandbox"
  # Sandboxed machines refuse a lower oom_score_adj than containerd's own (runc init fails
  # with "failed to update /proc/self/oom_score_adj: Permission denied" otherwise).
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
    runtime_type = "io.containerd.runc.v2"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
      Root = "$dir/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$dir/cni"
CONF
  setsid containerd --config "$dir/config.toml" >"$dir/containerd.log" 2>&1 </dev/null &
  echo $! >"$dir/containerd.pid"
  if [[ -n "$owner" ]]; then
    setsid bash -c 'while kill -0 "$1" 2>/dev/null && [[ -d "$2" ]]; do sleep 1; done
      [[ -d "$2" ]] && CONTAINERD_SELF_PID=$$ "$3" down "$2" >/dev/null 2>&1' \
      watchdog "$owner" "$dir" "${BASH_SOURCE[0]}" >/dev/null 2>&1 </dev/null &
    echo $! >"$dir/watchdog.pid"
  fi
  local i
  for i in $(seq 1 100); do
    if ctr -a "$dir/containerd.sock" version >/dev/null 2>&1; then break; fi
    if ! kill -0 "$(cat "$dir/containerd.pid")" 2>/dev/null; then
      echo "containerd.sh: error: containerd exited; last lines of $dir/containerd.log:" >&2
      tail -n 20 "$dir/containerd.log" >&2
      cmd_down "$dir"; exit 1
    fi
    sleep 0.1
  done
  ctr -a "$dir/containerd.sock" version >/dev/null 2>&1 || { log "containerd not ready after 10s (log: $dir/containerd.log)"; cmd_down "$dir"; exit 1; }
  log "containerd ready at $dir/containerd.sock (log $dir/containerd.log)"
  echo "export CONTAINERD_ADDRESS=$dir/containerd.sock"
  echo "export CONTAINERD_DIR=$dir"
}

case "${1:-}" in
  up) shift; cmd_up "$@" ;;
  down) shift; cmd_down "$@" ;;
  *) die "usage: containerd.sh up|down ..." ;;
esac
