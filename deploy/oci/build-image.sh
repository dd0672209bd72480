#!/usr/bin/env bash
# Builds an OCI image tarball from a compiled binary and the shared libraries it loads,
# without a Docker engine, a registry or a base image: the image holds exactly the binary,
# its libraries (as `ldd` resolves them on this machine), the dynamic loader, CA
# certificates and a passwd/group with a non-root user. The result is an OCI image layout
# in a tar that `ctr -n k8s.io images import` (containerd) accepts.
#
# Usage: build-image.sh --binary PATH --name NAME:TAG --out FILE.tar
#                       [--user UID:GID] [--extra SRC=DEST]... [--env K=V]...
#                       [--workdir DIR] [--mkdir DIR]... [--cmd ARG]... [--label K=V]...
#   --binary   the program; it becomes the image's entrypoint at /usr/local/bin/<basename>
#   --name     image reference, e.g. ascend-factory/ascend-device-plugin:dev (stored as
#              docker.io/ascend-factory/... by containerd when it has no registry host)
#   --user     default 65532:65532 (non-root); use 0:0 for a program that needs root
#   --extra    another file or folder to put in the image (its libraries are added too
#              when it is an executable)
#   --env      an environment variable of the image
#   --workdir  the working directory (default /); created in the image
#   --mkdir    an empty folder to create in the image (mode 0755)
#   --cmd      one argument of the image's Cmd (the default arguments to the entrypoint)
#   --label    a label of the image config
#
# Layers are built reproducibly (sorted, owner 0, mtime 0), so the same inputs give the
# same digest.
set -euo pipefail

binary="" name="" out="" user="65532:65532"
workdir="/"
extras=() envs=() dirs=() cmds=() labels=()
while (($#)); do
  case "$1" in
    --binary) binary=$2; shift 2 ;;
    --name) name=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --user) user=$2; shift 2 ;;
    --extra) extras+=("$2"); shift 2 ;;
    --env) envs+=("$2"); shift 2 ;;
    --workdir) workdir=$2; shift 2 ;;
    --mkdir) dirs+=("$2"); shift 2 ;;
    --cmd) cmds+=("$2"); shift 2 ;;
    --label) labels+=("$2"); shift 2 ;;
    -h|--help) sed -n '2,27p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "build-image: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[[ -n "$binary" && -n "$name" && -n "$out" ]] || { echo "build-image: --binary, --name and --out are required (see --help)" >&2; exit 2; }
[[ -x "$binary" ]] || { echo "build-image: $binary is not an executable file" >&2; exit 2; }
[[ "$name" == *:* ]] || name="$name:latest"
for c in jq sha256sum tar gzip ldd; do command -v "$c" >/dev/null || { echo "build-image: '$c' is missing; run scripts/install-deps.sh" >&2; exit 1; }; done

work=$(mktemp -d "${TMPDIR:-/tmp}/oci-build.XXXXXX")
trap 'rm -rf "$work"' EXIT
root=$work/rootfs
mkdir -p "$root/usr/local/bin" "$root/etc/ssl/certs" "$root/tmp" "$root/proc" "$root/sys" "$root/dev"
chmod 1777 "$root/tmp"

# add_libs FILE: copy every shared library FILE loads (and the loader) to the same path.
add_libs() {
  local f=$1 lib
  ldd "$f" 2>/dev/null | awk '/=> \//{print $3} /^[ \t]*\/[^ ]+ \(/{print $1}' | while read -r lib; do
    [[ -e "$root$lib" ]] && continue
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
  done
}

bname=$(basename "$binary")
cp -L "$binary" "$root/usr/local/bin/$bname"
add_libs "$binary"
for e in "${extras[@]}"; do
  src=${e%%=*} dest=${e#*=}
  [[ -e "$src" ]] || { echo "build-image: --extra source $src does not exist" >&2; exit 2; }
  mkdir -p "$root$(dirname "$dest")"
  cp -rL "$src" "$root$dest"
  if [[ -f "$src" && -x "$src" ]]; then add_libs "$src"; fi
done
if [[ -f /etc/ssl/certs/ca-certificates.crt ]]; then cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/"; fi
uid=${user%%:*} gid=${user#*:}
cat >"$root/etc/passwd" <<EOF
root:x:0:0:root:/root:/sbin/nologin
nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin
EOF
cat >"$root/etc/group" <<EOF
root:x:0:
nonroot:x:65532:
EOF
mkdir -p "$root/home/nonroot" "$root/root"
for d in "${dirs[@]}" "$workdir"; do
  [[ "$d" == /* ]] || { echo "build-image: --mkdir/--workdir $d is not an absolute path" >&2; exit 2; }
  mkdir -p "$root$d"
done

# The layer: a reproducible tar of the root file system.
layout=$work/layout
mkdir -p "$layout/blobs/sha256"
tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$root" -cf "$work/layer.tar" .
diff_id=$(sha256sum "$work/layer.tar" | cut -d' ' -f1)
gzip -n -9 "$work/layer.tar"
layer_digest=$(sha256sum "$work/layer.tar.gz" | cut -d' ' -f1)
layer_size=$(stat -c %s "$work/layer.tar.gz")
mv "$work/layer.tar.gz" "$layout/blobs/sha256/$layer_digest"

# blob FILE: store FILE as a blob, print "digest size".
blob() {
  local d s
  d=$(sha256sum "$1" | cut -d' ' -f1)
  s=$(stat -c %s "$1")
  mv "$1" "$layout/blobs/sha256/$d"
  echo "$d $s"
}

env_json=$(printf '%s\n' "PATH=/usr/local/bin:/usr/bin:/bin" "${envs[@]}" | jq -R . | jq -s .)
# Cmd and Labels only when given, so images built without them keep their digest.
cmd_json=null labels_json=null
if ((${#cmds[@]})); then cmd_json=$(printf '%s\n' "${cmds[@]}" | jq -R . | jq -s .); fi
if ((${#labels[@]})); then
  labels_json=$(printf '%s\n' "${labels[@]}" | jq -R 'index("=") as $i | {(.[:$i]): .[$i+1:]}' | jq -s add)
fi
jq -n --arg entry "/usr/local/bin/$bname" --arg user "$uid:$gid" --argjson env "$env_json" \
  --arg workdir "$workdir" --argjson cmd "$cmd_json" --argjson labels "$labels_json" \
  --arg diff "sha256:$diff_id" '{
    architecture: "amd64", os: "linux",
    config: ({Entrypoint: [$entry], User: $user, Env: $env, WorkingDir: $workdir}
      + (if $cmd then {Cmd: $cmd} else {} end) + (if $labels then {Labels: $labels} else {} end)),
    rootfs: {type: "layers", diff_ids: [$diff]},
    history: [{created_by: "ascend-factory deploy/oci/build-image.sh"}]
  }' >"$work/config.json"
read -r config_digest config_size < <(blob "$work/config.json")

jq -n --arg cd "sha256:$config_digest" --argjson cs "$config_size" \
  --arg ld "sha256:$layer_digest" --argjson ls "$layer_size" '{
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    config: {mediaType: "application/vnd.oci.image.config.v1+json", digest: $cd, size: $cs},
    layers: [{mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: $ld, size: $ls}]
  }' >"$work/manifest.json"
read -r manifest_digest manifest_size < <(blob "$work/manifest.json")

# containerd names an imported image after io.containerd.image.name; a bare name without
# a registry host is normalised the way Kubernetes normalises pod images (docker.io/...).
full=$name
first=${name%%/*}
if [[ "$name" != */* ]]; then full="docker.io/library/$name"
elif [[ "$first" != *.* && "$first" != *:* && "$first" != localhost ]]; then full="docker.io/$name"; fi
jq -n --arg md "sha256:$manifest_digest" --argjson ms "$manifest_size" --arg full "$full" --arg tag "${name##*:}" '{
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.index.v1+json",
    manifests: [{mediaType: "application/vnd.oci.image.manifest.v1+json", digest: $md, size: $ms,
      annotations: {"io.containerd.image.name": $full, "org.opencontainers.image.ref.name": $tag}}]
  }' >"$layout/index.json"
echo '{"imageLayoutVersion":"1.0.0"}' >"$layout/oci-layout"

mkdir -p "$(dirname "$out")"
tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$layout" -cf "$out" .
echo "build-image: $full ($(du -h "$out" | cut -f1), layer sha256:${layer_digest:0:12}) -> $out" >&2
