#!/usr/bin/env bash
# The stand-in llamafactory-cli as a plain process (no container, no root): a fake device
# root of plain files (STANDIN_DEV_ROOT, STANDIN_ALLOW_PLAIN_FILES=1), its report, train with
# trainer_log.jsonl, the device-check failure, standin_exit_code, two ranks meeting on
# loopback, a rendezvous timeout, api/webui over HTTP until SIGTERM, export.
#
# Usage: standin_cli_test.sh PATH/TO/llamafactory-cli
set -euo pipefail
cli=${1:?usage: standin_cli_test.sh LLAMAFACTORY_CLI}
for c in jq curl python3; do command -v "$c" >/dev/null || { echo "needs $c"; exit 1; }; done
# shellcheck source=tests/lib/check.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/check.sh"
make_work standin-cli-test
pids=()
on_exit() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
# expect_rc WANT CMD...: runs CMD with output in $work/out.txt, fails unless it exits WANT.
expect_rc() {
  local want=$1 rc=0; shift
  "$@" >"$work/out.txt" 2>&1 || rc=$?
  [[ $rc -eq $want ]] || { cat "$work/out.txt" >&2; fail "'$*' exited $rc, want $want"; }
}

# --- names itself a stand-in
expect_rc 0 "$cli" --help
grep -q "THIS IS A STAND-IN" "$work/out.txt" || fail "--help does not say it is a stand-in"
expect_rc 0 "$cli" version
grep -q "stand-in" "$work/out.txt" || fail "version does not say stand-in"
expect_rc 2 "$cli" chat
check "help and version name the stand-in; an unknown command exits 2"

# --- a fake host: chips 0..3 on the host, a container that got chips 1 and 3
dev=$work/dev
mkdir -p "$dev"
touch "$dev"/davinci1 "$dev"/davinci3 "$dev"/davinci_manager "$dev"/devmm_svm "$dev"/hisi_hdc "$dev"/null
export STANDIN_DEV_ROOT=$dev STANDIN_ALLOW_PLAIN_FILES=1 STANDIN_OUTPUT_ROOT=$work/app-output
export ASCEND_VISIBLE_DEVICES=1,3 ASCEND_RT_VISIBLE_DEVICES=0,1
cat >"$work/config.yaml" <<YAML
model_name_or_path: meta-llama/Meta-Llama-3-8B-Instruct
stage: sft
learning_rate: 1.0e-4
num_train_epochs: 2.0
output_dir: $work/saves/sft
standin_steps: 3
standin_step_seconds: 0.05
YAML

expect_rc 0 "$cli" train "$work/config.yaml"
grep -q '^\[ok\]   device files: sees exactly /dev/davinci1, /dev/davinci3$' "$work/out.txt" \
  || { cat "$work/out.txt"; fail "device check lines"; }
log=$work/saves/sft/trainer_log.jsonl
[[ $(wc -l <"$log") -eq 3 ]] || fail "trainer_log.jsonl has $(wc -l <"$log") lines, want 3"
jq -e -s 'length == 3 and .[2].current_steps == 3 and .[2].total_steps == 3 and .[2].percentage == 100
  and .[2].epoch == 2 and (.[0].loss > .[2].loss) and (.[0] | has("lr") and has("elapsed_time") and has("remaining_time"))' \
  "$log" >/dev/null || fail "trainer_log.jsonl content: $(cat "$log")"
check "train writes 3 LLaMA-Factory trainer_log.jsonl lines into output_dir"

report=$STANDIN_OUTPUT_ROOT/standin-report-0.json
jq -e '.standin and .mode == "train" and .device_check.ok and .devices.requested == [1,3]
  and .devices.seen == [1,3] and .env.ASCEND_VISIBLE_DEVICES == "1,3" and .config.standin_steps == 3' \
  "$report" >/dev/null || fail "report: $(cat "$report")"
sed -n 's/^standin-report: //p' "$work/out.txt" | jq -e '.device_check.ok' >/dev/null \
  || fail "no standin-report line on stdout"
check "the report (file and stdout line) says what it saw"

# --- overrides on top of the file
expect_rc 5 "$cli" train "$work/config.yaml" standin_exit_code=5 --standin_steps 1 overwrite_output_dir=true
[[ $(wc -l <"$log") -eq 1 ]] || fail "overwrite_output_dir=true did not start a fresh log"
check "key=value overrides: standin_exit_code=5 exits 5"

# --- checkpoints and resume: fail once at step 3, the second run resumes after checkpoint-2
ck=$work/saves/ck
expect_rc 1 "$cli" train "$work/config.yaml" output_dir="$ck" standin_steps=5 save_steps=2 \
  standin_fail_at_step=3
[[ -d $ck/checkpoint-2 && ! -d $ck/checkpoint-4 ]] || fail "checkpoints after the failure: $(ls "$ck")"
grep -q "failing at step 3" "$work/out.txt" || { cat "$work/out.txt"; fail "no failure line"; }
STANDIN_FAIL_AT_STEP=3 expect_rc 0 "$cli" train "$work/config.yaml" output_dir="$ck" standin_steps=5 \
  save_steps=2
grep -q "^Resuming training from $ck/checkpoint-2\.$" "$work/out.txt" || { cat "$work/out.txt"; fail "no resume line"; }
jq -s -e '[.[].current_steps] == [1,2,3,3,4,5]' "$ck/trainer_log.jsonl" >/dev/null \
  || fail "steps logged: $(jq -s -c '[.[].current_steps]' "$ck/trainer_log.jsonl")"
check "train fails once at standin_fail_at_step, writes checkpoint-N every save_steps, resumes after the newest"

# --- device check failures
ASCEND_VISIBLE_DEVICES=1 expect_rc 3 "$cli" train "$work/config.yaml"
grep -q '^\[FAIL\] device files: .*not allocated but visible /dev/davinci3' "$work/out.txt" \
  || { cat "$work/out.txt"; fail "no [FAIL] line for the extra chip"; }
jq -e '.device_check.ok == false' "$report" >/dev/null || fail "report after failure"
ASCEND_VISIBLE_DEVICES=1,2,3 ASCEND_RT_VISIBLE_DEVICES=0,1,2 expect_rc 3 "$cli" webui
ASCEND_RT_VISIBLE_DEVICES=1,3 expect_rc 3 "$cli" api
(unset ASCEND_VISIBLE_DEVICES; expect_rc 3 "$cli" export)
rm "$dev/hisi_hdc"
expect_rc 3 "$cli" train "$work/config.yaml"
grep -q '^\[FAIL\] /dev/hisi_hdc: missing' "$work/out.txt" || fail "missing hisi_hdc not reported"
expect_rc 0 "$cli" train "$work/config.yaml" standin_skip_device_check=true standin_steps=1
touch "$dev/hisi_hdc"
unset STANDIN_ALLOW_PLAIN_FILES
expect_rc 3 "$cli" train "$work/config.yaml"
grep -q 'not character devices' "$work/out.txt" || fail "plain files accepted as devices"
export STANDIN_ALLOW_PLAIN_FILES=1
check "device check: extra, missing, unset, wrong runtime ids, missing shared file, plain files all exit 3; skip works"

# --- config errors
printf 'a: [1\n' >"$work/bad.yaml"
expect_rc 2 "$cli" train "$work/bad.yaml"
expect_rc 2 "$cli" train "$work/missing.yaml"
expect_rc 2 "$cli" train "$work/config.yaml" loose-word
expect_rc 2 "$cli" train "$work/config.yaml" standin_steps=abc
check "bad or missing config, bad override exits 2"

# --- two ranks on loopback; rank 1 starts first and waits for rank 0
port=$(free_port)
NNODES=2 NODE_RANK=1 MASTER_ADDR=localhost MASTER_PORT=$port NPROC_PER_NODE=2 \
  "$cli" train "$work/config.yaml" output_dir="$work/rank1" >"$work/rank1.txt" 2>&1 &
r1=$!; pids+=("$r1")
sleep 1
NNODES=2 NODE_RANK=0 MASTER_ADDR=localhost MASTER_PORT=$port NPROC_PER_NODE=2 \
  "$cli" train "$work/config.yaml" output_dir="$work/rank0" >"$work/rank0.txt" 2>&1 || { cat "$work/rank0.txt"; fail "rank 0 failed"; }
wait "$r1" || { cat "$work/rank1.txt"; fail "rank 1 failed"; }
grep -q "rank 0 got 'rank 1 hello'" "$work/rank0.txt" || fail "rank 0 did not hear rank 1"
grep -q "rank 1 got 'rank 0 hello" "$work/rank1.txt" || fail "rank 1 did not hear rank 0"
[[ -f $work/rank0/trainer_log.jsonl && ! -e $work/rank1/trainer_log.jsonl ]] \
  || fail "only rank 0 writes trainer_log.jsonl"
[[ -f $STANDIN_OUTPUT_ROOT/standin-report-1.json ]] || fail "no report of rank 1"
check "two ranks meet on MASTER_ADDR:MASTER_PORT; only rank 0 writes the log"

NNODES=2 NODE_RANK=0 MASTER_PORT=$(free_port) NPROC_PER_NODE=2 \
  expect_rc 4 "$cli" train "$work/config.yaml" standin_rendezvous_timeout=1
grep -q "timed out after 1 s waiting for rank(s) 1" "$work/out.txt" || fail "timeout message"
NNODES=2 NODE_RANK=1 MASTER_ADDR=no-such-host.invalid MASTER_PORT=1 NPROC_PER_NODE=2 \
  expect_rc 4 "$cli" train "$work/config.yaml" standin_rendezvous_timeout=1
check "rendezvous timeouts exit 4 (rank 0 alone; rank 1 with an unresolvable MASTER_ADDR)"

# --- api and webui until SIGTERM
serve_check() {  # serve_check COMMAND PORTVAR URL JQ|GREP
  local cmd=$1 var=$2 path=$3 p pid body rc=0
  p=$(free_port)
  env "$var=$p" "$cli" "$cmd" "$work/config.yaml" >"$work/$cmd.txt" 2>&1 &
  pid=$!; pids+=("$pid")
  for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$p/" >/dev/null 2>&1 && break; sleep 0.1; done
  body=$(curl -sf "http://127.0.0.1:$p$path") || { cat "$work/$cmd.txt"; fail "$cmd: GET $path failed"; }
  echo "$body"
  kill -TERM "$pid"
  wait "$pid" || rc=$?
  [[ $rc -eq 0 ]] || { cat "$work/$cmd.txt"; fail "$cmd exited $rc on SIGTERM, want 0"; }
}
body=$(serve_check api API_PORT /v1/models)
jq -e '.object == "list" and .data[0].id == "meta-llama/Meta-Llama-3-8B-Instruct" and .data[0].object == "model"' \
  <<<"$body" >/dev/null || fail "api /v1/models: $body"
check "api serves /v1/models on API_PORT and exits 0 on SIGTERM"
body=$(serve_check webui GRADIO_SERVER_PORT /)
grep -q "LLaMA Board (ascend-factory stand-in)" <<<"$body" || fail "webui /: $body"
check "webui serves its page on GRADIO_SERVER_PORT and exits 0 on SIGTERM"

# --- export
expect_rc 0 "$cli" export "$work/config.yaml" export_dir="$work/exported"
jq -e '.standin and .model_name_or_path == "meta-llama/Meta-Llama-3-8B-Instruct"' \
  "$work/exported/standin-export.json" >/dev/null || fail "export file"
check "export writes into export_dir"
finish
