#!/usr/bin/env bash
# Builds the stand-in workload image (llamafactory-cli, see main.cpp) as an OCI tarball with
# deploy/oci/build-image.sh: no base image, no registry. The image is honestly labelled a
# stand-in (label ascend-factory.standin=true, env ASCEND_FACTORY_STANDIN=1).
#
#   image      docker.io/ascend-factory/llamafactory-standin:dev (a third argument overrides)
#   binary     /usr/local/bin/llamafactory-cli, also the entrypoint; default Cmd: help
#   reporter   /usr/local/bin/lfjob-progress, the progress reporter the operator runs beside
#              llamafactory-cli (reporter/; default: build/reporter/ of the same build folder,
#              or $LFJOB_PROGRESS_BINARY)
#   user       root (as LLaMA-Factory's image: its caches live under /root)
#   workdir    /app, with empty /app/data, /app/output, /root/.cache/{huggingface,modelscope}
#              and /etc/llamafactory (where the operator mounts config.yaml)
#   env        GRADIO_SERVER_PORT=7860 API_PORT=8000 ASCEND_FACTORY_STANDIN=1 HOME=/root
#
# A pod runs it the way the operator writes it: command [llamafactory-cli, train,
# /etc/llamafactory/config.yaml, key=value...] (or args only: the entrypoint is the CLI).
#
# Usage: build-standin-image.sh PATH/TO/llamafactory-cli OUT.tar [IMAGE]
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
binary=${1:?usage: build-standin-image.sh BINARY OUT.tar [IMAGE]}
out=${2:?usage: build-standin-image.sh BINARY OUT.tar [IMAGE]}
image=${3:-ascend-factory/llamafactory-standin:dev}

work=$(mktemp -d "${TMPDIR:-/tmp}/standin-image.XXXXXX")
trap 'rm -rf "$work"' EXIT
# The entrypoint is named after the file: make sure it is llamafactory-cli.
cp -L "$binary" "$work/llamafactory-cli"
# Debug info is most of a RelWithDebInfo binary; the image needs none of it.
if command -v strip >/dev/null; then strip --strip-debug "$work/llamafactory-cli"; fi
reporter=${LFJOB_PROGRESS_BINARY:-$(cd "$(dirname "$binary")/../.." && pwd)/reporter/lfjob-progress}
[[ -x "$reporter" ]] || { echo "build-standin-image: the progress reporter $reporter is missing (build the lfjob-progress target)" >&2; exit 2; }
cp -L "$reporter" "$work/lfjob-progress"
if command -v strip >/dev/null; then strip --strip-debug "$work/lfjob-progress"; fi
# Name lookups (MASTER_ADDR) go to /etc/hosts, then DNS, as on any distribution.
printf 'hosts: files dns\n' >"$work/nsswitch.conf"

"$root/deploy/oci/build-image.sh" --binary "$work/llamafactory-cli" --name "$image" --out "$out" \
  --user 0:0 --workdir /app \
  --mkdir /app/data --mkdir /app/output --mkdir /root/.cache/huggingface \
  --mkdir /root/.cache/modelscope --mkdir /etc/llamafactory \
  --extra "$work/nsswitch.conf=/etc/nsswitch.conf" \
  --extra "$work/lfjob-progress=/usr/local/bin/lfjob-progress" \
  --env GRADIO_SERVER_PORT=7860 --env API_PORT=8000 --env ASCEND_FACTORY_STANDIN=1 --env HOME=/root \
  --cmd help \
  --label ascend-factory.standin=true \
  --label org.opencontainers.image.title=llamafactory-standin \
  --label "org.opencontainers.image.description=A STAND-IN for the LLaMA-Factory NPU image: llamafactory-cli's command surface for tests, no model, no NPU kernels"
