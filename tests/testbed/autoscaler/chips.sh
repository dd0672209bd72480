#!/usr/bin/env bash
# The test bed's stand-in for Huawei's device plugin registering with a new node's kubelet
# (started by tests/testbed/autoscaler.sh). A node an autoscaler adds registers with zero
# huawei.com/Ascend910 (chips-late.yaml); DELAY seconds after the Node was created this sets
# its capacity and allocatable to COUNT, as the kubelet does once the plugin has registered.
#
# Usage: chips.sh DELAY_S [COUNT]   (KUBECONFIG and TESTBED_BIN from the environment)
set -euo pipefail
delay=${1:?usage: chips.sh DELAY_S [COUNT]}
count=${2:-8}
[[ "$delay" =~ ^[0-9]+$ ]] || { echo "chips.sh: DELAY_S must be whole seconds, got '$delay'" >&2; exit 2; }
kubectl=("$TESTBED_BIN/kubectl")
patch="{\"status\":{\"capacity\":{\"huawei.com/Ascend910\":\"$count\"},\"allocatable\":{\"huawei.com/Ascend910\":\"$count\"}}}"
declare -A done_nodes=()
while sleep 0.5; do
  now=$(date +%s)
  # name, creation time, chips allocatable, for the nodes the autoscalers add.
  listing=$("${kubectl[@]}" get nodes -l testbed.ascendfactory.io/chips-late=true -o \
    jsonpath='{range .items[*]}{.metadata.name} {.metadata.creationTimestamp} {.status.allocatable.huawei\.com/Ascend910}{"\n"}{end}' 2>/dev/null) || continue
  while read -r name created chips; do
    [[ -n "$name" && "$chips" == 0 && -z "${done_nodes[$name]:-}" ]] || continue
    age=$((now - $(date -d "$created" +%s)))
    ((age >= delay)) || continue
    if "${kubectl[@]}" patch node "$name" --subresource=status --type=merge -p "$patch" >/dev/null; then
      done_nodes[$name]=1
      echo "$(date -u +%FT%TZ) node $name: $count huawei.com/Ascend910 registered ${age}s after it was created"
    fi
  done <<<"$listing"
done
