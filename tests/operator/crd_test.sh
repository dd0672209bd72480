#!/usr/bin/env bash
# The LlamaFactoryJob CRD against a real kube-apiserver: it installs with the pinned kubectl,
# the examples in deploy/examples are stored with the schema's defaults, every invalid manifest in
# manifests/invalid/ is refused by the API server itself with a message that names the field
# (each file lists the expected substrings in `# expect:` lines), `kubectl explain` teaches
# the fields, and the printer columns show. Every file under deploy/examples/, quickstart/
# included, passes a server-side dry run. The test bed is stopped at the end, also on failure.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
crd=$root/crds/llamafactoryjobs.yaml
manifests=$here/manifests
examples=$root/deploy/examples

# shellcheck source=tests/lib/check.sh
source "$root/tests/lib/check.sh"
testbed_up --nodes 0
kubectl=("$TESTBED_BIN/kubectl")

# --- the CRD installs and becomes Established
"${kubectl[@]}" apply -f "$crd" >/dev/null || fail "kubectl apply of $crd failed"
crd_established llamafactoryjobs.ascendfactory.io
nonstructural=$("${kubectl[@]}" get crd llamafactoryjobs.ascendfactory.io \
  -o jsonpath='{.status.conditions[?(@.type=="NonStructuralSchema")].message}')
[[ -z "$nonstructural" ]] || fail "schema is not structural: $nonstructural"
check "CRD llamafactoryjobs.ascendfactory.io applied, Established and structural"

# The discovery cache of kubectl may lag a fresh CRD; wait until the short name resolves.
for _ in $(seq 1 50); do "${kubectl[@]}" get lfjob -A >/dev/null 2>&1 && break; sleep 0.2; done
"${kubectl[@]}" api-resources --api-group=ascendfactory.io -o wide | grep "lfjob" >/dev/null \
  || fail "short name lfjob not in api-resources"
check "short name lfjob resolves"

"${kubectl[@]}" create namespace crd-test >/dev/null

# --- every example users are shown (deploy/examples) is accepted
for f in "$examples"/*.yaml; do
  out=$("${kubectl[@]}" apply -n crd-test -f "$f" 2>&1) || fail "example $(basename "$f") refused: $out"
  [[ "$(head -n 1 "$f")" == "# "?* ]] || fail "example $(basename "$f") does not start with a comment saying what it does"
done
check "$(ls "$examples"/*.yaml | wc -l) examples from deploy/examples accepted"

# --- every file under deploy/examples/, subfolders too (quickstart/ is what make demo applies),
# passes the API server's own validation in a server-side dry run: nothing is stored.
# kueue/ holds Kueue's own objects, which need Kueue's CRDs: operator.kueue applies that folder.
# autoscaling/ holds a Karpenter NodePool (its CRDs are not on this bed either):
# autoscaler.karpenter dry-runs it.
mapfile -t all_examples < <(find "$examples" -name '*.yaml' -not -path "$examples/kueue/*" \
  -not -path "$examples/autoscaling/*" | sort)
((${#all_examples[@]} > 0)) || fail "no example files under $examples"
for f in "${all_examples[@]}"; do
  out=$("${kubectl[@]}" apply --dry-run=server -n crd-test -f "$f" 2>&1) \
    || fail "server-side dry run of ${f#"$root"/} refused: $out"
done
check "${#all_examples[@]} files under deploy/examples/ (quickstart/ included, kueue/ left to operator.kueue) pass a server-side dry run"

# --- defaults from the schema are stored
jp() { "${kubectl[@]}" get lfjob -n crd-test "$1" -o jsonpath="$2"; }
got=$(jp llama-board '{.spec.nodes} {.spec.npusPerNode} {.spec.masterPort} {.spec.runPolicy.restartPolicy} {.spec.runPolicy.maxRestarts} {.spec.runPolicy.restartScope} {.spec.runPolicy.suspend} {.spec.storage.shmSize} {.spec.service.type} {.spec.podSecurity}')
[[ "$got" == "1 1 29500 OnFailure 3 Job false 16Gi NodePort baseline" ]] \
  || fail "defaults of llama-board: got '$got', want '1 1 29500 OnFailure 3 Job false 16Gi NodePort baseline'"
got=$(jp qwen-lora-sft '{.spec.mode} {.spec.service.type} {.spec.storage.shmSize}')
[[ "$got" == "train ClusterIP 16Gi" ]] || fail "defaults of qwen-lora-sft: got '$got'"
got=$(jp llama3-full-sft '{.spec.configMapRef.key} {.spec.storage.shmSize} {.spec.runPolicy.restartPolicy}')
[[ "$got" == "llama3_full_sft.yaml 64Gi ExitCode" ]] || fail "llama3-full-sft stored as '$got'"
# config is an arbitrary object and survives as written
got=$(jp qwen-lora-sft '{.spec.config.finetuning_type} {.spec.config.learning_rate} {.spec.config.bf16}')
[[ "$got" == "lora 0.0001 true" ]] || fail "spec.config of qwen-lora-sft stored as '$got'"
check "defaults applied (mode, nodes, npusPerNode, masterPort, runPolicy, shmSize, service.type); config kept as written"

# --- status is a subresource: a spec write cannot set it
"${kubectl[@]}" patch lfjob -n crd-test llama-board --type merge -p '{"status":{"phase":"Succeeded"}}' >/dev/null 2>&1 || true
[[ -z "$(jp llama-board '{.status.phase}')" ]] || fail "status.phase was set through the main resource"
"${kubectl[@]}" patch lfjob -n crd-test llama-board --subresource status --type merge \
  -p '{"status":{"phase":"Running","restarts":2}}' >/dev/null || fail "patching /status failed"
[[ "$(jp llama-board '{.status.phase}')" == Running ]] || fail "status.phase not written through /status"
check "status is a subresource (ignored on the main resource, written through /status)"

# --- printer columns
# (Read whole, then cut: `kubectl | head -n 1` can kill kubectl with SIGPIPE, and pipefail makes
# that a silent exit of this script.)
header=$("${kubectl[@]}" get lfjob -n crd-test)
header=${header%%$'\n'*}
for col in NAME MODE NODES NPUS PHASE RESTARTS AGE; do
  [[ "$header" == *"$col"* ]] || fail "column $col missing from 'kubectl get lfjob': $header"
done
row=$("${kubectl[@]}" get lfjob -n crd-test llama-board --no-headers | tr -s ' ')
[[ "$row" == "llama-board webui 1 1 Running 2 "* ]] || fail "printer row for llama-board: '$row'"
check "printer columns: $(tr -s ' ' <<<"$header")"

# --- every invalid manifest is refused by the API server, naming the field
for f in "$manifests"/invalid/*.yaml; do
  name=$(basename "$f" .yaml)
  mapfile -t expects < <(sed -n 's/^# expect: //p' "$f")
  ((${#expects[@]} > 0)) || fail "$name has no '# expect:' line"
  if out=$("${kubectl[@]}" apply -n crd-test -f "$f" 2>&1); then
    fail "invalid manifest $name was accepted: $out"
  fi
  [[ "$out" == *"is invalid"* ]] || fail "$name refused, but not by validation: $out"
  for e in "${expects[@]}"; do
    [[ "$out" == *"$e"* ]] || fail "$name: message does not contain '$e': $out"
  done
  if "${kubectl[@]}" get lfjob -n crd-test "$name" >/dev/null 2>&1; then fail "$name exists after refusal"; fi
  echo "   $name: ${out#*: }" | cut -c1-200
done
check "$(ls "$manifests"/invalid/*.yaml | wc -l) invalid manifests refused with the field named"

# --- a valid job cannot be edited into an invalid one either (rules run on update too)
if out=$("${kubectl[@]}" patch lfjob -n crd-test llama-board --type merge -p '{"spec":{"nodes":4}}' 2>&1); then
  fail "patching webui job to 4 nodes was accepted"
fi
[[ "$out" == *"spec.nodes"* ]] || fail "update refusal does not name spec.nodes: $out"
check "update to nodes=4 on a webui job refused: ${out##*: }"

# --- only runPolicy may change on an existing job (CEL transition rules): an edit of what
# shapes the Pods is refused naming the field; suspend, deadlines, TTL and budget go through
for edit in '{"spec":{"image":"other:1"}}=spec.image' '{"spec":{"npusPerNode":2}}=spec.npusPerNode' \
  '{"spec":{"env":[{"name":"A","value":"b"}]}}=spec.env' '{"spec":{"config":{"stage":"dpo"}}}=spec.config' \
  '{"spec":{"serviceAccountName":"builder"}}=spec.serviceAccountName' \
  '{"spec":{"podSecurity":"restricted"}}=spec.podSecurity' \
  '{"spec":{"storage":{"data":{"hostPath":{"path":"/data"}}}}}=spec.storage'; do
  patch=${edit%=*} field=${edit##*=}
  if out=$("${kubectl[@]}" patch lfjob -n crd-test qwen-lora-sft --type merge -p "$patch" 2>&1); then
    fail "edit $patch of an existing job was accepted"
  fi
  [[ "$out" == *"$field"* && "$out" == *"cannot change on an existing job"* ]] \
    || fail "edit $patch refused without naming $field: $out"
done
"${kubectl[@]}" patch lfjob -n crd-test qwen-lora-sft --type merge -p \
  '{"spec":{"runPolicy":{"suspend":true,"maxRestarts":5,"activeDeadlineSeconds":7200,"ttlSecondsAfterFinished":60}}}' \
  >/dev/null || fail "editing runPolicy of an existing job was refused"
got=$(jp qwen-lora-sft '{.spec.runPolicy.suspend} {.spec.runPolicy.maxRestarts} {.spec.runPolicy.activeDeadlineSeconds}')
[[ "$got" == "true 5 7200" ]] || fail "runPolicy edit not stored: $got"
check "an existing job refuses edits of image, npusPerNode, env, config, serviceAccountName, podSecurity, storage and takes runPolicy edits"

# --- kubectl explain teaches the fields
explain=$("${kubectl[@]}" explain lfjob.spec.runPolicy 2>&1) || fail "kubectl explain lfjob.spec.runPolicy failed: $explain"
for want in restartPolicy maxRestarts restartScope activeDeadlineSeconds ttlSecondsAfterFinished suspend "NonRetryableExitCode"; do
  [[ "$explain" == *"$want"* ]] || fail "kubectl explain lfjob.spec.runPolicy lacks '$want': $explain"
done
explain=$("${kubectl[@]}" explain lfjob.spec.storage.data 2>&1) || fail "kubectl explain lfjob.spec.storage.data failed"
[[ "$explain" == *"/app/data"* && "$explain" == *"persistentVolumeClaim"* ]] || fail "explain storage.data: $explain"
explain=$("${kubectl[@]}" explain lfjob.status.conditions 2>&1) || fail "kubectl explain lfjob.status.conditions failed"
[[ "$explain" == *"MaxRestartsExceeded"* ]] || fail "explain status.conditions: $explain"
check "kubectl explain lfjob.spec.runPolicy, .spec.storage.data and .status.conditions describe the fields"

finish
