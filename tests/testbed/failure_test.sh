#!/usr/bin/env bash
# Failure paths of the test bed scripts: each says which step failed and where its log
# is, and leaves no process behind.
#   1. a component that fails to start (a kube-apiserver that exits at once)
#   2. a port that is already taken (etcd cannot bind its client port)
#   3. a tools build that cannot fetch its modules
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
real_bin=$("$here/tools/build.sh" --bin-dir)
# shellcheck source=tests/lib/check.sh
source "$here/../lib/check.sh"
make_work ascend-failure-test

# assert_nothing_left DIR: every PID the test bed recorded in DIR is gone.
assert_nothing_left() {
  local dir=$1 name pid
  [[ -s "$dir/pids.stopped" ]] || fail "no record of stopped processes in $dir"
  while read -r name pid; do
    # zombies (exited, waiting for PID 1 to reap them) do not count as running
    pgrep -r R,S,D,T -g "$pid" >/dev/null && fail "processes of $name's group ($pid) still running after a failed start"
    [[ -r /proc/$pid/stat && $(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) != Z ]] \
      && fail "$name (pid $pid) still running after a failed start"
  done <"$dir/pids.stopped"
  # the records are cleared by the stop, so also look for processes using the folder
  if pgrep -f -- "$dir" >/dev/null; then
    pgrep -af -- "$dir" >&2
    fail "processes referring to $dir are still running"
  fi
}

# --- 1. a component that exits at once
bin1=$work/bin-broken-apiserver
mkdir -p "$bin1"
for b in "$real_bin"/*; do ln -s "$b" "$bin1/$(basename "$b")"; done
rm "$bin1/kube-apiserver"
printf '#!/bin/sh\necho "kube-apiserver: simulated start failure" >&2\nexit 3\n' >"$bin1/kube-apiserver"
chmod +x "$bin1/kube-apiserver"
dir1=$work/tb1
if TESTBED_BIN=$bin1 "$here/cluster.sh" up --dir "$dir1" --nodes 1 >"$work/out1" 2>"$work/err1"; then
  fail "cluster.sh up succeeded with a kube-apiserver that exits"
fi
grep -q "error: kube-apiserver (process exited) failed" "$work/err1" || { cat "$work/err1" >&2; fail "no 'kube-apiserver ... failed' line"; }
grep -q "$dir1/logs/kube-apiserver.log" "$work/err1" || { cat "$work/err1" >&2; fail "the log path is not named"; }
grep -q "simulated start failure" "$work/err1" || fail "the failing component's last log lines are not shown"
assert_nothing_left "$dir1"
check "a component that exits: step and log named, etcd stopped again"

# --- 2. a port that is taken: hold etcd's client port before etcd starts
# Run `up` with a wrapper etcd that first finds its port taken: we pre-bind the port the
# wrapper is given by binding it in a helper process for the duration of the start.
bin2=$work/bin-port-taken
mkdir -p "$bin2"
for b in "$real_bin"/*; do ln -s "$b" "$bin2/$(basename "$b")"; done
rm "$bin2/etcd"
cat >"$bin2/etcd" <<EOF
#!/usr/bin/env bash
# Take our own client port first (as another program would), then start the real etcd.
port=\$(printf '%s\n' "\$@" | grep -A1 -- '--listen-client-urls' | tail -n 1 | sed 's#.*:##')
python3 -c 'import socket,sys,time; s=socket.socket(); s.bind(("127.0.0.1",int(sys.argv[1]))); s.listen(); time.sleep(120)' "\$port" &
sleep 0.5
exec "$real_bin/etcd" "\$@"
EOF
chmod +x "$bin2/etcd"
dir2=$work/tb2
if TESTBED_BIN=$bin2 "$here/cluster.sh" up --dir "$dir2" --nodes 1 >"$work/out2" 2>"$work/err2"; then
  fail "cluster.sh up succeeded although etcd's port was taken"
fi
grep -q "error: etcd" "$work/err2" || { cat "$work/err2" >&2; fail "no 'etcd ... failed' line"; }
grep -q "$dir2/logs/etcd.log" "$work/err2" || fail "the etcd log path is not named"
grep -qi "address already in use" "$work/err2" || { cat "$work/err2" >&2; fail "the bind error is not shown"; }
assert_nothing_left "$dir2"
check "a taken port: etcd's bind error shown with its log, nothing left running"

# --- 3. a tools build that cannot download its modules
if ASCEND_FACTORY_CACHE=$work/empty-cache GOPROXY=off GOFLAGS=-mod=mod \
  "$here/tools/build.sh" >"$work/out3" 2>"$work/err3"; then
  fail "tools build succeeded without a module source"
fi
grep -q "error: go mod download failed; see $work/empty-cache/tools/.*/build.log" "$work/err3" \
  || { cat "$work/err3" >&2; fail "the failed build step and its log are not named"; }
check "a failed tools build names the step and its log"

finish
