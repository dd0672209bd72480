#!/usr/bin/env bash
# CoreDNS (built by tools/build.sh with only the plugins the test bed needs) as the cluster
# DNS of the control-plane test bed: against the real apiserver it answers the names a
# LlamaFactoryJob's ranks use. A job's pods have hostname <job>-worker-<rank> and subdomain
# <job>-workers, a headless Service of that name publishes not-ready addresses, and rank 1
# resolves MASTER_ADDR <job>-worker-0.<job>-workers.<ns>.svc(.cluster.local). The record
# appears only once the pod has an IP and the EndpointSlice controller has written its
# slice, which is why the stand-in's ranks retry.
#
# Checks: the build holds the plugins we need and not the others (a left-out one is refused
# by name); ready and health endpoints; NXDOMAIN before the pod exists; the pod's A record
# and the Service's once it runs under kwok; the record goes away with its pod.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
for c in python3 curl; do command -v "$c" >/dev/null || { echo "needs $c" >&2; exit 1; }; done

# shellcheck source=tests/lib/check.sh
source "$here/../lib/check.sh"
make_work coredns-test
fail_context() { if [[ -f "$work/coredns.log" ]]; then tail -n 30 "$work/coredns.log"; fi; }
coredns_pid=""
on_exit() {
  if [[ -n "$coredns_pid" ]]; then
    kill -TERM "$coredns_pid" 2>/dev/null || true
    wait "$coredns_pid" 2>/dev/null || true
  fi
}

bin=$("$here/tools/build.sh" --bin-dir)
[[ -x "$bin/coredns" ]] || fail "no coredns in $bin; run tests/testbed/tools/build.sh"

# --- only the plugins main.go asks for (plus the few those import themselves)
plugins=$("$bin/coredns" -plugins)
for p in kubernetes forward bind errors log health ready cache; do
  grep -qx "$p" <<<"$plugins" || fail "coredns lacks plugin $p: $plugins"
done
for p in etcd route53 azure clouddns file auto secondary hosts rewrite; do
  if grep -qx "$p" <<<"$plugins"; then fail "coredns has plugin $p that the test bed does not need"; fi
done
printf '.:1053 {\n    etcd\n}\n' >"$work/Corefile.bad"
if timeout 10 "$bin/coredns" -conf "$work/Corefile.bad" >"$work/bad.log" 2>&1; then
  fail "coredns accepted a Corefile with a plugin it was built without"
fi
grep -q "Unknown directive 'etcd'" "$work/bad.log" || fail "unexpected error: $(cat "$work/bad.log")"
check "$("$bin/coredns" -version | head -n 1) with only the plugins the test bed needs; others refused by name"

testbed_up --nodes 1
kubectl=("$TESTBED_BIN/kubectl")

# Three TCP ports free on 127.0.0.1 now (the DNS port serves UDP and TCP).
read -r dns_port health_port ready_port < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(3)]
for s in socks: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))')

cat >"$work/Corefile" <<COREFILE
.:$dns_port {
    bind 127.0.0.1
    errors
    log
    health 127.0.0.1:$health_port
    ready 127.0.0.1:$ready_port
    kubernetes cluster.local {
        kubeconfig $KUBECONFIG
        ttl 1
    }
    forward . /etc/resolv.conf
}
COREFILE

"$bin/coredns" -conf "$work/Corefile" >"$work/coredns.log" 2>&1 &
coredns_pid=$!
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$ready_port/ready" >/dev/null 2>&1 && break
  kill -0 "$coredns_pid" 2>/dev/null || fail "coredns exited"
  sleep 0.2
done
curl -sf "http://127.0.0.1:$ready_port/ready" >/dev/null || fail "coredns not ready after 20 s"
[[ $(curl -sf "http://127.0.0.1:$health_port/health") == OK ]] || fail "health endpoint"
check "coredns serves DNS on 127.0.0.1:$dns_port, ready once its kubernetes plugin synced"

# resolve NAME: "NOERROR ip..." or "NXDOMAIN", an A query to our CoreDNS over UDP.
resolve() {
  python3 - "$dns_port" "$1" <<'PY'
import random, socket, struct, sys
port, name = int(sys.argv[1]), sys.argv[2]
qname = b"".join(bytes([len(p)]) + p.encode() for p in name.rstrip(".").split(".")) + b"\0"
tid = random.randint(0, 65535)
packet = struct.pack(">HHHHHH", tid, 0x0100, 1, 0, 0, 0) + qname + struct.pack(">HH", 1, 1)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(3)
s.sendto(packet, ("127.0.0.1", port))
data, _ = s.recvfrom(65535)
assert struct.unpack(">H", data[:2])[0] == tid, "wrong transaction id"
rcode = data[3] & 0x0F
answers = struct.unpack(">H", data[6:8])[0]
off = 12 + len(qname) + 4
ips = []
for _ in range(answers):
    while True:  # the owner name: labels ending in a zero byte, or a pointer
        n = data[off]
        if n & 0xC0 == 0xC0:
            off += 2
            break
        off += 1 + n
        if n == 0:
            break
    rtype, _, _, rdlen = struct.unpack(">HHIH", data[off:off + 10])
    off += 10
    if rtype == 1:
        ips.append(socket.inet_ntoa(data[off:off + rdlen]))
    off += rdlen
names = {0: "NOERROR", 2: "SERVFAIL", 3: "NXDOMAIN", 5: "REFUSED"}
print(" ".join([names.get(rcode, "RCODE%d" % rcode)] + sorted(ips)))
PY
}

ns=dns-test
job=demo
"${kubectl[@]}" create namespace "$ns" >/dev/null
master=$job-worker-0.$job-workers.$ns.svc.cluster.local
answer=$(resolve "$master")
[[ "$answer" == NXDOMAIN ]] || fail "$master before the job exists: '$answer', want NXDOMAIN"
check "$master is NXDOMAIN before the job exists"

# What the operator creates: the headless Service, then the pod of rank 0 (kwok runs it and
# gives it an IP; the EndpointSlice controller writes the slice with its hostname).
"${kubectl[@]}" apply -f - >/dev/null <<MANIFEST
apiVersion: v1
kind: Service
metadata: {name: $job-workers, namespace: $ns}
spec:
  clusterIP: None
  publishNotReadyAddresses: true
  selector: {app: $job}
  ports: [{name: rendezvous, port: 29500}]
---
apiVersion: v1
kind: Pod
metadata: {name: $job-worker-0, namespace: $ns, labels: {app: $job}}
spec:
  hostname: $job-worker-0
  subdomain: $job-workers
  containers: [{name: main, image: docker.io/ascend-factory/llamafactory-standin:dev}]
  tolerations: [{operator: Exists}]
MANIFEST
ip=""
for _ in $(seq 1 60); do
  ip=$("${kubectl[@]}" -n "$ns" get pod "$job-worker-0" -o jsonpath='{.status.podIP}' 2>/dev/null || true)
  [[ -n "$ip" ]] && break
  sleep 0.5
done
[[ -n "$ip" ]] || fail "the pod got no IP from kwok"
t0=$SECONDS
for _ in $(seq 1 60); do
  answer=$(resolve "$master")
  [[ "$answer" == "NOERROR $ip" ]] && break
  sleep 0.5
done
[[ "$answer" == "NOERROR $ip" ]] || fail "$master: '$answer', want 'NOERROR $ip'"
check "$master -> $ip (the pod's IP), resolvable $((SECONDS - t0)) s after the pod had its IP"

answer=$(resolve "$job-workers.$ns.svc.cluster.local")
[[ "$answer" == "NOERROR $ip" ]] || fail "the headless Service's name: '$answer', want 'NOERROR $ip'"
answer=$(resolve "$job-worker-1.$job-workers.$ns.svc.cluster.local")
[[ "$answer" == NXDOMAIN ]] || fail "a rank that does not exist: '$answer', want NXDOMAIN"
check "the headless Service's name lists the pod; a rank that does not exist is NXDOMAIN"

"${kubectl[@]}" -n "$ns" delete pod "$job-worker-0" --grace-period=0 --force >/dev/null 2>&1 || true
for _ in $(seq 1 60); do
  answer=$(resolve "$master")
  [[ "$answer" == NXDOMAIN ]] && break
  sleep 0.5
done
[[ "$answer" == NXDOMAIN ]] || fail "$master after its pod is gone: '$answer', want NXDOMAIN"
check "the record goes away with its pod"

grep -q "\"A IN $master. udp" "$work/coredns.log" || fail "the log plugin logged no query for $master"
check "queries are logged"
finish
