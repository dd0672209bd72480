#!/usr/bin/env bash
# The stand-in workload image in a real container runtime: build it with
# build-standin-image.sh, import it into a private containerd (tests/testbed/containerd.sh)
# and run it with runc the way the kubelet would run a job's pod: command
# [llamafactory-cli, train, /etc/llamafactory/config.yaml], a fake Ascend device tree
# (character devices made with mknod, bind-mounted at /dev/davinci<N> etc.), the env the
# device plugin sets, the config and output folders mounted. Checks: train exits 0 and writes
# trainer_log.jsonl; a mismatching ASCEND_VISIBLE_DEVICES exits 3; two ranks in two
# containers meet over TCP; api answers on its port and exits 0 on SIGTERM as PID 1.
#
# Usage: standin_image_test.sh PATH/TO/llamafactory-cli     (root; exits 77 otherwise)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
testbed=$root/tests/testbed
cli=${1:?usage: standin_image_test.sh LLAMAFACTORY_CLI}
if [[ $(id -u) -ne 0 ]]; then echo "needs root (runc, mknod); skipping"; exit 77; fi
for c in jq curl ctr runc python3; do command -v "$c" >/dev/null || { echo "needs $c; run scripts/install-deps.sh" >&2; exit 1; }; done

# shellcheck source=tests/lib/check.sh
source "$root/tests/lib/check.sh"
make_work standin-image-test
bg=()
on_exit() {
  local p
  for p in "${bg[@]}"; do kill "$p" 2>/dev/null || true; done
  if [[ -n "${CONTAINERD_DIR:-}" ]]; then "$testbed/containerd.sh" down "$CONTAINERD_DIR"; fi
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

image=docker.io/ascend-factory/llamafactory-standin:dev
"$here/build-standin-image.sh" "$cli" "$work/standin.tar" 2>/dev/null
check "built $image ($(du -h "$work/standin.tar" | cut -f1))"

eval "$("$testbed/containerd.sh" up --dir "$work/containerd" --owner-pid $$)"
ctr=(ctr -a "$CONTAINERD_ADDRESS" -n k8s.io)
"${ctr[@]}" images import "$work/standin.tar" >/dev/null
# (The listing is read whole before grep: it has two lines, the name and the CRI's digest ref,
# and `ctr ... | grep -q` under pipefail fails when grep exits before ctr writes the second.)
images=$("${ctr[@]}" images ls -q)
grep -qx "$image" <<<"$images" || fail "$image not listed after import: $images"
check "imported into containerd as $image"

# The fake Ascend host: chips 0..3 and the shared device files, as character devices with
# /dev/null's numbers (harmless: the stand-in only looks at them).
dev=$work/dev
mkdir -p "$dev"
for n in davinci0 davinci1 davinci2 davinci3 davinci_manager devmm_svm hisi_hdc; do mknod "$dev/$n" c 1 3; done
mkdir -p "$work/config"
cat >"$work/config/config.yaml" <<'YAML'
### a LLaMA-Factory LoRA SFT config, with the stand-in's own keys at the end
model_name_or_path: meta-llama/Meta-Llama-3-8B-Instruct
stage: sft
do_train: true
finetuning_type: lora
dataset: identity,alpaca_en_demo
template: llama3
output_dir: /app/output
learning_rate: 1.0e-4
num_train_epochs: 3.0
standin_steps: 4
standin_step_seconds: 0.1
YAML

# run NAME CHIPS VISIBLE RT [extra ctr flags...] -- ARGS...: one container, like a pod that
# was allocated CHIPS (their /dev/davinci<N> and the shared files), with env VISIBLE and RT.
run() {
  local name=$1 chips=$2 visible=$3 rt=$4; shift 4
  local flags=() c
  mkdir -p "$work/out-$name"
  for c in ${chips//,/ }; do
    flags+=(--mount "type=bind,src=$dev/davinci$c,dst=/dev/davinci$c,options=rbind:rw")
  done
  for c in davinci_manager devmm_svm hisi_hdc; do
    flags+=(--mount "type=bind,src=$dev/$c,dst=/dev/$c,options=rbind:rw")
  done
  flags+=(--mount "type=bind,src=$work/config,dst=/etc/llamafactory,options=rbind:ro")
  flags+=(--mount "type=bind,src=$work/out-$name,dst=/app/output,options=rbind:rw")
  flags+=(--env "ASCEND_VISIBLE_DEVICES=$visible" --env "ASCEND_RT_VISIBLE_DEVICES=$rt")
  while [[ $1 != -- ]]; do flags+=("$1"); shift; done
  shift
  timeout 120 "${ctr[@]}" run --rm "${flags[@]}" "$image" "standin-$name" "$@"
}

# --- train with two chips, started as the operator writes the pod's command
rc=0
run train 0,1 0,1 0,1 --env NPROC_PER_NODE=2 -- llamafactory-cli train /etc/llamafactory/config.yaml \
  >"$work/train.txt" 2>&1 || rc=$?
[[ $rc -eq 0 ]] || { cat "$work/train.txt"; fail "train exited $rc, want 0"; }
grep -q '^\[ok\]   device files: sees exactly /dev/davinci0, /dev/davinci1$' "$work/train.txt" \
  || { cat "$work/train.txt"; fail "device check lines"; }
log=$work/out-train/trainer_log.jsonl
[[ -f "$log" && $(wc -l <"$log") -eq 4 ]] || { cat "$work/train.txt"; fail "trainer_log.jsonl missing or not 4 lines"; }
jq -e -s '[.[].current_steps] == [1,2,3,4] and all(.[]; .total_steps == 4 and has("loss") and has("lr")
  and has("epoch") and has("percentage") and has("elapsed_time") and has("remaining_time"))' "$log" >/dev/null \
  || fail "trainer_log.jsonl: $(cat "$log")"
report=$work/out-train/standin-report-0.json
jq -e '.device_check.ok and .devices.seen == [0,1]
  and all(.devices.chips[]; .char_device and .numbers == "1:3")
  and .devices.shared["/dev/hisi_hdc"].char_device
  and .env.ASCEND_FACTORY_STANDIN == "1" and .env.GRADIO_SERVER_PORT == "7860" and .env.API_PORT == "8000"
  and .volumes["/app/output"].mounted and .volumes["/dev/shm"].mounted
  and .volumes["/etc/llamafactory"].read_only and .uid == 0' "$report" >/dev/null \
  || fail "report: $(cat "$report")"
check "train in a container: device check passes, 4 trainer_log.jsonl lines, report on the mounted /app/output"

# --- the plugin gave chips 0,1 but the container sees 0,1,2: exit 3
rc=0
run mismatch 0,1,2 0,1 0,1 -- llamafactory-cli train /etc/llamafactory/config.yaml >"$work/mismatch.txt" 2>&1 || rc=$?
[[ $rc -eq 3 ]] || { cat "$work/mismatch.txt"; fail "mismatching devices exited $rc, want 3"; }
grep -q '^\[FAIL\] device files: .*not allocated but visible /dev/davinci2' "$work/mismatch.txt" \
  || { cat "$work/mismatch.txt"; fail "no [FAIL] line"; }
[[ ! -e $work/out-mismatch/trainer_log.jsonl ]] || fail "a failed device check still trained"
jq -e '.device_check.ok == false' "$work/out-mismatch/standin-report-0.json" >/dev/null || fail "report of the failure"
check "mismatching ASCEND_VISIBLE_DEVICES exits 3 with a [FAIL] line"

# --- no arguments: the image's Cmd (help), which names the stand-in
out=$(timeout 60 "${ctr[@]}" run --rm "$image" standin-help 2>&1) || fail "default command failed: $out"
grep -q "THIS IS A STAND-IN" <<<"$out" || fail "default command output: $out"
check "the image's default command prints help naming the stand-in"

# --- two ranks in two containers (host network), rank 1 first; chips 0,1 and 2,3
port=$(free_port)
dist=(--net-host --env NNODES=2 --env MASTER_ADDR=127.0.0.1 --env "MASTER_PORT=$port" --env NPROC_PER_NODE=2 --env FORCE_TORCHRUN=1)
run rank1 2,3 2,3 0,1 "${dist[@]}" --env NODE_RANK=1 -- llamafactory-cli train /etc/llamafactory/config.yaml \
  >"$work/rank1.txt" 2>&1 &
r1=$!; bg+=("$r1")
sleep 1
rc=0
run rank0 0,1 0,1 0,1 "${dist[@]}" --env NODE_RANK=0 -- llamafactory-cli train /etc/llamafactory/config.yaml \
  >"$work/rank0.txt" 2>&1 || rc=$?
[[ $rc -eq 0 ]] || { cat "$work/rank0.txt"; fail "rank 0 exited $rc"; }
rc=0; wait "$r1" || rc=$?
[[ $rc -eq 0 ]] || { cat "$work/rank1.txt"; fail "rank 1 exited $rc"; }
grep -q "rank 0 got 'rank 1 hello'" "$work/rank0.txt" || fail "rank 0 did not hear rank 1"
[[ -f $work/out-rank0/trainer_log.jsonl && -f $work/out-rank1/standin-report-1.json ]] || fail "rank outputs"
check "two ranks in two containers meet on MASTER_ADDR:MASTER_PORT and both exit 0"

# --- api as PID 1: answers /v1/models, exits 0 on SIGTERM
port=$(free_port)
run api 0 0 0 --net-host --env "API_PORT=$port" -- llamafactory-cli api /etc/llamafactory/config.yaml \
  >"$work/api.txt" 2>&1 &
api=$!; bg+=("$api")
body=""
for _ in $(seq 1 100); do body=$(curl -sf "http://127.0.0.1:$port/v1/models" 2>/dev/null) && break; sleep 0.1; done
jq -e '.data[0].id == "meta-llama/Meta-Llama-3-8B-Instruct"' <<<"$body" >/dev/null \
  || { cat "$work/api.txt"; fail "api /v1/models: '$body'"; }
"${ctr[@]}" task kill -s SIGTERM standin-api
rc=0; wait "$api" || rc=$?
[[ $rc -eq 0 ]] || { cat "$work/api.txt"; fail "api exited $rc on SIGTERM, want 0"; }
check "api in a container answers /v1/models and exits 0 on SIGTERM as PID 1"
finish
