#!/usr/bin/env bash
# The offline image builder (deploy/oci/build-image.sh) makes images that containerd
# imports and runc runs: for each binary given, build its image twice (same digest: the
# build is reproducible), import it into a private containerd, run it with --help and
# check it starts (its libraries are all there) as the intended user.
#
# Usage: oci_image_test.sh BINARY [BINARY...]
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
(($#)) || { echo "usage: oci_image_test.sh BINARY..." >&2; exit 2; }
if [[ $(id -u) -ne 0 ]]; then echo "needs root (runc); skipping"; exit 77; fi

# shellcheck source=tests/lib/check.sh
source "$here/../lib/check.sh"
make_work ascend-oci-test
on_exit() { if [[ -n "${CONTAINERD_DIR:-}" ]]; then "$here/containerd.sh" down "$CONTAINERD_DIR"; fi; }

eval "$("$here/containerd.sh" up --dir "$work/containerd" --owner-pid $$)"
ctr=(ctr -a "$CONTAINERD_ADDRESS" -n k8s.io)

for bin in "$@"; do
  name=$(basename "$bin")
  ref=ascend-factory/$name:test
  "$root/deploy/oci/build-image.sh" --binary "$bin" --name "$ref" --out "$work/$name-1.tar" 2>/dev/null
  "$root/deploy/oci/build-image.sh" --binary "$bin" --name "$ref" --out "$work/$name-2.tar" 2>/dev/null
  cmp -s "$work/$name-1.tar" "$work/$name-2.tar" || fail "$name: two builds of the same inputs differ"
  check "$name: image build is reproducible ($(du -h "$work/$name-1.tar" | cut -f1))"

  "${ctr[@]}" images import "$work/$name-1.tar" >/dev/null
  # Read whole before grep (two lines; `ctr | grep -q` under pipefail can die of SIGPIPE).
  images=$("${ctr[@]}" images ls -q)
  grep -qx "docker.io/$ref" <<<"$images" || fail "$name: docker.io/$ref not listed after import: $images"
  check "$name: imported as docker.io/$ref"

  out=$(timeout 60 "${ctr[@]}" run --rm "docker.io/$ref" "t-$name" "/usr/local/bin/$name" --help 2>&1) \
    || fail "$name --help in the container failed: $out"
  grep -q "Usage" <<<"$out" || fail "$name --help printed no usage: $out"
  check "$name: runs in a container (--help)"

  cfg_user=$(tar -xOf "$work/$name-1.tar" ./index.json | jq -r '.manifests[0].digest' | sed 's/sha256://' \
    | xargs -I{} tar -xOf "$work/$name-1.tar" ./blobs/sha256/{} | jq -r .config.digest | sed 's/sha256://' \
    | xargs -I{} tar -xOf "$work/$name-1.tar" ./blobs/sha256/{} | jq -r .config.User)
  [[ "$cfg_user" == 65532:65532 ]] || fail "$name: image user is '$cfg_user', want non-root 65532:65532"
  check "$name: image runs as non-root 65532 by default"
done
finish
