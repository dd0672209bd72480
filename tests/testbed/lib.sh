# Shared by cluster.sh and node.sh (sourced, not run). They set here (tests/testbed) and DIR
# (the test bed folder) and define log and fail (fail STEP LOGFILE: report the step, clean up as that script
# does, exit) before calling these.

# start NAME CMD...: run CMD in its own session (so its whole process group can be
# signalled), output to DIR/logs/NAME.log, PID recorded in DIR/pids and the command line in
# DIR/cmd/NAME (for `cluster.sh restart`).
start() {
  local name=$1; shift
  mkdir -p "$DIR/cmd"
  printf '%q ' "$@" >"$DIR/cmd/$name"
  setsid "$@" >>"$DIR/logs/$name.log" 2>&1 </dev/null &
  echo "$name $!" >>"$DIR/pids"
  log "started $name (pid $!, log $DIR/logs/$name.log)"
}

# alive PID: the process exists and is not a zombie (an exited component whose parent, the
# shell that started it, is gone waits for PID 1 to reap it; it is stopped all the same).
alive() { [[ -r /proc/$1/stat ]] && [[ $(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) != Z ]]; }

pid_of() { awk -v n="$1" '$1 == n {print $2}' "$DIR/pids" | tail -n 1; }

# wait_for STEP LOGFILE TIMEOUT_S PID CMD...: poll CMD until it succeeds; fail when the
# process PID is gone or the timeout passes; say every 10 s what it is still waiting for.
wait_for() {
  local step=$1 logfile=$2 timeout=$3 pid=$4; shift 4
  local deadline=$((SECONDS + timeout)) next_note=$((SECONDS + 10))
  until "$@" >/dev/null 2>&1; do
    if [[ -n "$pid" ]] && ! alive "$pid"; then fail "$step (process exited)" "$logfile"; fi
    if ((SECONDS >= deadline)); then fail "$step (not ready after ${timeout}s)" "$logfile"; fi
    if ((SECONDS >= next_note)); then log "still waiting for $step..."; next_note=$((SECONDS + 10)); fi
    sleep 0.3
  done
}

# issue_cert OUT NAME SUBJECT [SAN]: OUT/NAME.{key,crt}, a client certificate (or with SAN a
# serving and client one) signed by the test bed's CA in DIR/pki.
issue_cert() {
  local out=$1 name=$2 subj=$3 san=${4:-} ca=$DIR/pki
  mkdir -p "$out"
  openssl genrsa -out "$out/$name.key" 2048 2>/dev/null
  openssl req -new -key "$out/$name.key" -subj "$subj" -out "$out/$name.csr" 2>/dev/null
  {
    echo "basicConstraints=CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    if [[ -n "$san" ]]; then
      echo "extendedKeyUsage=serverAuth,clientAuth"
      echo "subjectAltName=$san"
    else
      echo "extendedKeyUsage=clientAuth"
    fi
  } >"$out/$name.ext"
  openssl x509 -req -in "$out/$name.csr" -CA "$ca/ca.crt" -CAkey "$ca/ca.key" -CAcreateserial \
    -days 30 -sha256 -extfile "$out/$name.ext" -out "$out/$name.crt" 2>/dev/null
  rm -f "$out/$name.csr" "$out/$name.ext"
}

# tools_bin: the folder of the Go-built tools (TESTBED_BIN, else what tools/build.sh built
# for the current pins).
tools_bin() {
  if [[ -n "${TESTBED_BIN:-}" ]]; then echo "$TESTBED_BIN"; return; fi
  "$here/tools/build.sh" --bin-dir
}

# free_ports N: N distinct TCP ports that are free on 127.0.0.1 right now.
free_ports() {
  python3 - "$1" <<'PY'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
PY
}
