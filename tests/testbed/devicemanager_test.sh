#!/usr/bin/env bash
# ascend-device-plugin against the real kubelet's device-manager code.
#
# The `kube devicemanager-harness` subcommand (tests/testbed/tools/kube/) runs the
# kubelet's own registration server and device-plugin client, compiled from the pinned
# k8s.io/kubernetes module. This test starts our plugin on a fake Ascend host (a device
# root of 8 davinci files plus the shared ones, a fake driver tree), with the kubelet
# absent at first, then lets the harness play the kubelet: registration, ListAndWatch,
# GetDevicePluginOptions, GetPreferredAllocation, Allocate, an unknown id, and two kubelet
# restarts (sockets deleted, kubelet.sock served anew), each of which the plugin must
# survive by registering again within 2 seconds.
#
# Usage: devicemanager_test.sh <path to ascend-device-plugin>
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
plugin=${1:?usage: devicemanager_test.sh <ascend-device-plugin binary>}
bin=$("$here/tools/build.sh" --bin-dir)

# shellcheck source=tests/lib/check.sh
source "$here/../lib/check.sh"
make_work ascend-dm-test
plugin_pid=""
on_exit() {
  if [[ -n "$plugin_pid" ]]; then kill "$plugin_pid" 2>/dev/null || true; wait "$plugin_pid" 2>/dev/null || true; fi
  if [[ "$1" -ne 0 ]]; then
    echo "--- plugin log ($work/plugin.log):" >&2
    tail -n 40 "$work/plugin.log" >&2 || true
  fi
  if [[ -n "${KEEP_DM_TEST:-}" ]]; then echo "kept $work" >&2; work=""; fi
}

# The fake Ascend host: regular files stand in for the character devices (no root needed).
mkdir -p "$work/dev" "$work/device-plugins" "$work/driver/lib64" "$work/dcmi"
for i in 0 1 2 3 4 5 6 7; do : >"$work/dev/davinci$i"; done
for f in davinci_manager devmm_svm hisi_hdc; do : >"$work/dev/$f"; done
: >"$work/npu-smi"
echo "Driver_Install_Path_Param=/usr/local/Ascend" >"$work/ascend_install.info"

"$plugin" --socket-dir "$work/device-plugins" --device-root "$work/dev" --discovery devfs \
  --allow-regular-device-files --health-interval 1s --http-address 127.0.0.1:0 \
  --driver-mounts "$work/driver,$work/dcmi,$work/npu-smi,$work/ascend_install.info" \
  >"$work/plugin.log" 2>&1 &
plugin_pid=$!

# The kubelet is absent for a moment: the plugin must wait and retry, not exit.
sleep 1.5
kill -0 "$plugin_pid" 2>/dev/null || fail "plugin exited while the kubelet was absent"
check "plugin keeps running while kubelet.sock is absent"

if ! "$bin/kube" devicemanager-harness --dir "$work/device-plugins" --expect-devices 8 \
  --allocate 2 --restarts 2 --timeout 20s >"$work/harness.jsonl" 2>"$work/harness.log"; then
  cat "$work/harness.jsonl" >&2
  tail -n 20 "$work/harness.log" >&2
  fail "the kubelet harness reported a failed step (last line above)"
fi
step() { jq -c "select(.step == \"$1\")" "$work/harness.jsonl"; }

reg=$(step registered)
[[ $(jq -r .resource <<<"$reg") == huawei.com/Ascend910 ]] || fail "registered resource: $reg"
[[ $(jq -r .endpoint <<<"$reg") == Ascend910.sock ]] || fail "registered endpoint: $reg"
[[ $(jq -r '.healthy | length' <<<"$reg") == 8 ]] || fail "want 8 healthy devices: $reg"
[[ $(jq -r '.healthy | join(",")' <<<"$reg") == "Ascend910-0,Ascend910-1,Ascend910-2,Ascend910-3,Ascend910-4,Ascend910-5,Ascend910-6,Ascend910-7" ]] \
  || fail "device ids: $reg"
check "registered huawei.com/Ascend910 at Ascend910.sock with 8 healthy devices Ascend910-0..7"

[[ $(step options | jq -r .get_preferred_allocation_available) == true ]] || fail "options: $(step options)"
check "GetDevicePluginOptions: get_preferred_allocation_available"

chosen=$(step preferred | jq -r '.chosen | join(",")')
[[ $(tr ',' '\n' <<<"$chosen" | grep -c '^Ascend910-[0-7]$') == 2 ]] || fail "preferred allocation: $chosen"
check "GetPreferredAllocation(size 2) chose $chosen"

alloc=$(step allocate)
phys=$(tr ',' '\n' <<<"$chosen" | sed 's/Ascend910-//' | paste -sd,)
[[ $(jq -r '.envs.ASCEND_VISIBLE_DEVICES' <<<"$alloc") == "$phys" ]] || fail "ASCEND_VISIBLE_DEVICES: $alloc"
[[ $(jq -r '.envs.ASCEND_RT_VISIBLE_DEVICES' <<<"$alloc") == "0,1" ]] || fail "ASCEND_RT_VISIBLE_DEVICES: $alloc"
for p in ${phys//,/ }; do
  jq -e --arg d "$work/dev/davinci$p:/dev/davinci$p:rw" '.devices | index($d)' <<<"$alloc" >/dev/null \
    || fail "device spec for davinci$p missing: $alloc"
done
[[ $(jq -r '[.devices[] | select(test("/davinci[0-9]+:"))] | length' <<<"$alloc") == 2 ]] || fail "want exactly 2 chip devices: $alloc"
for f in davinci_manager devmm_svm hisi_hdc; do
  jq -e --arg d "$work/dev/$f:/dev/$f:rw" '.devices | index($d)' <<<"$alloc" >/dev/null || fail "shared device $f missing: $alloc"
done
jq -e '[.mounts[] | select(endswith("ro=true"))] | length == 4' <<<"$alloc" >/dev/null || fail "want 4 read-only driver mounts: $alloc"
check "Allocate: env ASCEND_VISIBLE_DEVICES=$phys ASCEND_RT_VISIBLE_DEVICES=0,1, 2 chip + 3 shared devices, 4 read-only mounts"

err=$(step allocate-unknown | jq -r .error)
[[ "$err" == *"Ascend910-999"* ]] || fail "Allocate of an unknown id: error does not name it: $err"
check "Allocate of an unknown id refused: $err"

for i in 1 2; do
  r=$(step "re-registered-$i")
  ms=$(jq -r .elapsed_ms <<<"$r")
  [[ $(jq -r '.healthy | length' <<<"$r") == 8 ]] || fail "after kubelet restart $i: $r"
  ((ms < 2000)) || fail "re-registration after kubelet restart $i took ${ms}ms, the contract is 2s"
  check "kubelet restart $i: plugin registered again with 8 devices in ${ms}ms"
done
kill -0 "$plugin_pid" 2>/dev/null || fail "plugin exited during the kubelet restarts"

finish
