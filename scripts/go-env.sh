# shellcheck shell=bash
# Sourced by what runs go (tests/testbed/tools/build.sh, scripts/install-deps.sh): puts a Go
# that builds the test bed (1.24 or newer) first on PATH. That is the machine's own go when it
# is new enough, else the pinned Go that scripts/install-deps.sh downloads into the cache as
# the Go module golang.org/toolchain (the whole Go distribution; go checks it against the
# checksum database as it downloads it).
#
#   ascend_go_ok         true when the go on PATH is 1.24 or newer
#   ascend_go_dir        the pinned Go's folder in the cache (its go is bin/go)
#   ascend_go_download   fetch the pinned Go with whatever go is on PATH (any version)
#   ASCEND_GO_VERSION, ASCEND_GO_MIN, ascend_go_module, ascend_go_modcache

ASCEND_GO_VERSION=1.26.8
ASCEND_GO_MIN=1.24
ascend_go_modcache=${ASCEND_FACTORY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ascend-factory}/go/mod
case $(uname -m) in
  x86_64) ascend_go_arch=amd64 ;;
  aarch64 | arm64) ascend_go_arch=arm64 ;;
  *) ascend_go_arch=$(uname -m) ;;
esac
ascend_go_module=golang.org/toolchain@v0.0.1-go$ASCEND_GO_VERSION.linux-$ascend_go_arch
ascend_go_dir=$ascend_go_modcache/$ascend_go_module

ascend_go_ok() {
  local v
  command -v go >/dev/null 2>&1 || return 1
  v=$(GOTOOLCHAIN=local go env GOVERSION 2>/dev/null) || return 1
  v=${v#go}
  printf '%s\n%s\n' "$ASCEND_GO_MIN" "${v%%[!0-9.]*}" | sort -V -C
}

# ascend_go_download: the module is downloaded outside any go.mod, with the default module proxy and checksum
# database, into the project's own module cache (tests/testbed/tools/build.sh uses the same).
ascend_go_download() {
  local tmp rc=0
  tmp=$(mktemp -d)
  (cd "$tmp" && GOMODCACHE="$ascend_go_modcache" GOFLAGS='' GO111MODULE=on GOTOOLCHAIN=local \
    go mod download -json "$ascend_go_module") || rc=$?
  rm -rf "$tmp"
  ((rc == 0)) || return "$rc"
  # A module zip keeps no file modes: mark bin/ and pkg/tool/ executable, as go does itself
  # when it switches to a downloaded toolchain.
  find "$ascend_go_dir/bin" "$ascend_go_dir/pkg/tool" -type f -exec chmod a+x {} +
}

if ! ascend_go_ok && [[ -x "$ascend_go_dir/bin/go" ]]; then
  PATH=$ascend_go_dir/bin:$PATH
  export PATH
fi
