#!/usr/bin/env python3
"""Load driver for the llamafactory-operator benchmark (run by bench/run_operator_bench.sh).

Applies N LlamaFactoryJobs (server-side apply, one connection, as fast as the API server takes
them; every `--two-rank-every`th job has 2 node ranks, the rest 1), watches jobs and Pods from
before the first apply, and reports:
  - time from the first apply until every expected Pod exists, and until every job is Running,
    both also measured from the last apply;
  - per job, apply-to-Running latency (the watch event that first shows phase Running);
  - API requests: the kube-apiserver's apiserver_request_total by verb (all clients) and the
    operator's own llamafactory_operator_kube_requests_total by verb, as deltas over the run;
  - the operator's CPU seconds over the run and peak RSS (VmHWM), from /proc.
With `--kind pytorchjob` it drives Kubeflow's training-operator instead: equivalent PyTorchJobs
(a Master, plus one Worker for a 2-rank job, the same NPU request), Running from the job's
Running condition, the operator's requests from client-go's rest_client_requests_total.
With `--floor` no operator runs: after the applies, the driver itself makes the writes our
operator makes for the run (ConfigMap, rendezvous Service for 2 ranks, Pods, one status write
per job) over `--floor-connections` connections with no client rate limit: the bed's best
possible time for the run.
Only the standard library: http.client with the test bed's admin client certificate.
"""
import argparse
import http.client
import json
import os
import re
import ssl
import statistics
import sys
import threading
import time
import urllib.parse
import urllib.request

GROUP_PATH = "/apis/ascendfactory.io/v1alpha1"


class Api:
    def __init__(self, server, ca, cert, key):
        url = urllib.parse.urlparse(server)
        self.host, self.port = url.hostname, url.port
        self.ctx = ssl.create_default_context(cafile=ca)
        self.ctx.load_cert_chain(cert, key)

    def connect(self, timeout=300):
        # Long: on a saturated machine one apply took more than 30 s.
        return http.client.HTTPSConnection(self.host, self.port, context=self.ctx, timeout=timeout)

    def get(self, path):
        conn = self.connect()
        try:
            conn.request("GET", path)
            resp = conn.getresponse()
            body = resp.read()
            if resp.status != 200:
                raise RuntimeError(f"GET {path}: {resp.status} {body[:300]!r}")
            return body
        finally:
            conn.close()


class Watch(threading.Thread):
    """Lists then watches one collection; calls on_object(type, object, monotonic_time)."""

    def __init__(self, api, path, on_object):
        super().__init__(daemon=True)
        self.api, self.path, self.on_object = api, path, on_object
        self.ready = threading.Event()
        self.stop = False

    def run(self):
        sep = "&" if "?" in self.path else "?"
        listed = json.loads(self.api.get(self.path))
        rv = listed["metadata"]["resourceVersion"]
        for item in listed.get("items", []):
            self.on_object("ADDED", item, time.monotonic())
        while not self.stop:
            conn = self.api.connect(timeout=None)
            conn.request("GET", f"{self.path}{sep}watch=1&allowWatchBookmarks=true&resourceVersion={rv}")
            resp = conn.getresponse()
            self.ready.set()
            if resp.status != 200:
                raise RuntimeError(f"watch {self.path}: {resp.status}")
            while not self.stop:
                line = resp.readline()
                if not line:
                    break  # the server ended the watch: resume from rv
                now = time.monotonic()
                event = json.loads(line)
                obj = event.get("object", {})
                if event["type"] == "ERROR":
                    raise RuntimeError(f"watch {self.path}: {obj}")
                rv = obj.get("metadata", {}).get("resourceVersion", rv)
                if event["type"] != "BOOKMARK":
                    self.on_object(event["type"], obj, now)
            conn.close()


def scrape(url, api=None):
    """A Prometheus text page as {(name, frozenset(labels)): value}."""
    if api is not None:
        text = api.get(url).decode()
    else:
        with urllib.request.urlopen(url, timeout=10) as resp:
            text = resp.read().decode()
    series = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)", line)
        if not m:
            continue
        labels = frozenset(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
        series[(m.group(1), labels)] = float(m.group(4))
    return series


def by_label(series, name, label, where=None):
    out = {}
    for (n, labels), value in series.items():
        if n != name:
            continue
        d = dict(labels)
        if where and any(d.get(k) != v for k, v in where.items()):
            continue
        out[d.get(label, "")] = out.get(d.get(label, ""), 0) + value
    return out


def by_labels(series, name, labels):
    """Like by_label, keyed by several label values joined with a space ("POST 201")."""
    out = {}
    for (n, pairs), value in series.items():
        if n != name:
            continue
        d = dict(pairs)
        key = " ".join(d.get(label, "") for label in labels)
        out[key] = out.get(key, 0) + value
    return out


def delta(after, before):
    return {k: after.get(k, 0) - before.get(k, 0) for k in sorted(set(after) | set(before))
            if after.get(k, 0) - before.get(k, 0) > 0}


def proc_cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_status(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024  # MiB
    return 0.0


def percentile(values, p):
    values = sorted(values)
    if not values:
        return float("nan")
    k = max(0, min(len(values) - 1, int(round(p / 100 * len(values) + 0.5)) - 1))
    return values[k]


def floor_writes(api, a, ns, jobs, jobs_path, pod_label, expected_pods, kubeflow, failures):
    """The writes our operator makes for the run, made directly (no operator, no client rate
    limit) over a.floor_connections connections: per job its ConfigMap, a rendezvous Service
    for more than one rank, one Pod per rank (the same NPU request) and one status write."""
    npus = str(a.npus_per_node)

    def pod(job, name, rank):
        return {"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": name, "namespace": ns,
                             "labels": {pod_label: job, "bench/rank": str(rank)}},
                "spec": {"restartPolicy": "Never", "enableServiceLinks": False,
                         "automountServiceAccountToken": False,
                         "containers": [{"name": "llamafactory",
                                         "image": "stand-in.invalid/llamafactory:never-pulled",
                                         "command": ["llamafactory-cli", "train"],
                                         "resources": {"limits": {"huawei.com/Ascend910": npus},
                                                       "requests": {"huawei.com/Ascend910": npus}}}]}}

    def writes_of(job):
        out = [("POST", f"/api/v1/namespaces/{ns}/configmaps", "application/json",
                {"apiVersion": "v1", "kind": "ConfigMap",
                 "metadata": {"name": f"{job}-config", "namespace": ns, "labels": {pod_label: job}},
                 "data": {"config.yaml": json.dumps({"model_name_or_path": "Qwen/Qwen2.5-0.5B-Instruct",
                                                     "stage": "sft", "output_dir": f"/app/output/{job}"})}})]
        if jobs[job] > 1:
            out.append(("POST", f"/api/v1/namespaces/{ns}/services", "application/json",
                        {"apiVersion": "v1", "kind": "Service",
                         "metadata": {"name": f"{job}-workers", "namespace": ns},
                         "spec": {"clusterIP": "None", "selector": {pod_label: job},
                                  "ports": [{"name": "rendezvous", "port": 29500}]}}))
        names = sorted(p for p in expected_pods if p.startswith(job + "-"))
        for rank, name in enumerate(names):
            out.append(("POST", f"/api/v1/namespaces/{ns}/pods", "application/json", pod(job, name, rank)))
        out.append(("PATCH", f"{jobs_path}/{job}/status", "application/merge-patch+json",
                    {"status": {"phase": "Running"} if not kubeflow else
                     {"conditions": [{"type": "Running", "status": "True", "reason": "Floor",
                                      "message": "floor", "lastUpdateTime": "2026-01-01T00:00:00Z",
                                      "lastTransitionTime": "2026-01-01T00:00:00Z"}]}}))
        return out

    def worker(names):
        conn = api.connect()
        try:
            for job in names:
                for method, path, ctype, body in writes_of(job):
                    conn.request(method, path, body=json.dumps(body), headers={"Content-Type": ctype})
                    resp = conn.getresponse()
                    data = resp.read()
                    if resp.status not in (200, 201):
                        failures.append(f"floor {method} {path}: {resp.status} {data[:300]!r}")
                        return
        finally:
            conn.close()

    names = list(jobs)
    n = max(1, a.floor_connections)
    threads = [threading.Thread(target=worker, args=(names[i::n],)) for i in range(n)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(f"floor: made the run's writes in {time.monotonic() - t0:.2f} s", file=sys.stderr)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--server", required=True)
    ap.add_argument("--ca", required=True)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--namespace", default="bench")
    ap.add_argument("--jobs", type=int, default=500)
    ap.add_argument("--two-rank-every", type=int, default=2, help="every Nth job has 2 ranks")
    ap.add_argument("--npus-per-node", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=900)
    ap.add_argument("--kind", choices=("llamafactory", "pytorchjob"), default="llamafactory")
    ap.add_argument("--floor", action="store_true",
                    help="no operator: make our operator's writes directly (the bed's best time)")
    ap.add_argument("--floor-connections", type=int, default=16,
                    help="connections for --floor's writes (the operator's 16 workers)")
    ap.add_argument("--operator-pid", type=int)
    ap.add_argument("--operator-metrics", help="http://host:port/metrics")
    ap.add_argument("--label", default="", help="a name for this run in the figures")
    ap.add_argument("--probe", type=int, default=0,
                    help="apply this many single-rank jobs one at a time, each waited for until "
                         "Running, before the burst and again after it (latency idle vs full)")
    ap.add_argument("--apply-connections", type=int, default=1,
                    help="apply over this many connections at once (a burst even when one "
                         "connection is slow on a loaded machine)")
    ap.add_argument("--json", help="also write the figures here")
    ap.add_argument("--empty-dir-output", action="store_true",
                    help="leave spec.storage.output at its default emptyDir (one more Event per job)")
    ap.add_argument("--queue", default="",
                    help="label every job kueue.x-k8s.io/queue-name=QUEUE (a Kueue LocalQueue)")
    a = ap.parse_args()

    if not a.floor and (a.operator_pid is None or a.operator_metrics is None):
        sys.exit("--operator-pid and --operator-metrics are needed unless --floor")
    api = Api(a.server, a.ca, a.cert, a.key)
    ns = a.namespace
    jobs = {}
    for i in range(a.jobs):
        name = f"bench-{i:04d}"
        jobs[name] = 2 if a.two_rank_every > 0 and i % a.two_rank_every == a.two_rank_every - 1 else 1
    kubeflow = a.kind == "pytorchjob"
    if kubeflow:
        jobs_path = f"/apis/kubeflow.org/v1/namespaces/{ns}/pytorchjobs"
        pod_label = "training.kubeflow.org/job-name"
        expected_pods = {f"{j}-{'master' if r == 0 else 'worker'}-{0 if r == 0 else r - 1}"
                         for j, n in jobs.items() for r in range(n)}
    else:
        jobs_path = f"{GROUP_PATH}/namespaces/{ns}/llamafactoryjobs"
        pod_label = "ascendfactory.io/job-name"
        expected_pods = {f"{j}-worker-{r}" for j, n in jobs.items() for r in range(n)}

    lock = threading.Lock()
    running_at, pod_seen_at, pod_running_at, applied_at = {}, {}, {}, {}
    all_pods = threading.Event()
    all_running = threading.Event()

    def job_running(obj):
        status = obj.get("status", {})
        if kubeflow:
            return any(c.get("type") == "Running" and c.get("status") == "True"
                       for c in status.get("conditions") or [])
        return status.get("phase") == "Running"

    probe_running = {}

    def on_job(kind, obj, now):
        name = obj["metadata"]["name"]
        if name.startswith("probe-") and job_running(obj):
            with lock:
                probe_running.setdefault(name, now)
            return
        if job_running(obj):
            with lock:
                if name in jobs and name not in running_at:
                    running_at[name] = now
                    if len(running_at) == len(jobs):
                        all_running.set()

    def on_pod(kind, obj, now):
        name = obj["metadata"]["name"]
        with lock:
            if kind != "DELETED" and name in expected_pods and name not in pod_seen_at:
                pod_seen_at[name] = now
                if len(pod_seen_at) == len(expected_pods):
                    all_pods.set()
            if (kind != "DELETED" and name in expected_pods and name not in pod_running_at
                    and obj.get("status", {}).get("phase") == "Running"):
                pod_running_at[name] = now

    watches = [Watch(api, jobs_path, on_job),
               Watch(api, f"/api/v1/namespaces/{ns}/pods?labelSelector={urllib.parse.quote(pod_label, safe='')}",
                     on_pod)]
    for w in watches:
        w.start()
    for w in watches:
        if not w.ready.wait(60):
            sys.exit("watches did not start")

    api_before = scrape("/metrics", api)
    op_before = scrape(a.operator_metrics) if not a.floor else {}
    cpu_before = proc_cpu_seconds(a.operator_pid) if not a.floor else 0.0
    npus = str(a.npus_per_node)
    image = "stand-in.invalid/llamafactory:never-pulled"
    train_args = ["model_name_or_path=Qwen/Qwen2.5-0.5B-Instruct", "stage=sft",
                  "finetuning_type=lora", "dataset=alpaca_en_demo", "template=qwen"]

    def pytorchjob_body(name, ranks):
        def replica(replicas):
            return {"replicas": replicas, "restartPolicy": "OnFailure",
                    "template": {"spec": {"containers": [{
                        "name": "pytorch", "image": image,
                        "command": ["llamafactory-cli", "train"] + train_args + [f"output_dir=/app/output/{name}"],
                        "resources": {"limits": {"huawei.com/Ascend910": npus},
                                      "requests": {"huawei.com/Ascend910": npus}}}]}}}
        specs = {"Master": replica(1)}
        if ranks > 1:
            specs["Worker"] = replica(ranks - 1)
        return {"apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob",
                "metadata": {"name": name, "namespace": ns},
                "spec": {"pytorchReplicaSpecs": specs}}

    def job_body(name, ranks):
        if kubeflow:
            return pytorchjob_body(name, ranks)
        return {
            "apiVersion": "ascendfactory.io/v1alpha1",
            "kind": "LlamaFactoryJob",
            "metadata": {"name": name, "namespace": ns,
                         **({"labels": {"kueue.x-k8s.io/queue-name": a.queue}} if a.queue else {})},
            "spec": {
                "mode": "train",
                "nodes": ranks,
                "npusPerNode": a.npus_per_node,
                "config": {"model_name_or_path": "Qwen/Qwen2.5-0.5B-Instruct", "stage": "sft",
                           "finetuning_type": "lora", "dataset": "alpaca_en_demo", "template": "qwen",
                           "output_dir": f"/app/output/{name}"},
                # A persistent output, as README recommends for training (checkpoints survive a
                # restart); the default emptyDir adds one Warning Event per job (OutputNotPersistent).
                **({} if a.empty_dir_output else
                   {"storage": {"output": {"hostPath": {"path": "/srv/llamafactory/output"}}}}),
            },
        }

    failures = []

    def apply_all(names):
        conn = api.connect()
        try:
            for name in names:
                path = f"{jobs_path}/{name}?fieldManager=operator-bench&force=true"
                applied_at[name] = time.monotonic()
                try:
                    conn.request("PATCH", path, body=json.dumps(job_body(name, jobs[name])),
                                 headers={"Content-Type": "application/apply-patch+yaml"})
                    resp = conn.getresponse()
                    data = resp.read()
                except OSError as e:
                    failures.append(f"apply {name}: {e!r}")
                    return
                if resp.status not in (200, 201):
                    failures.append(f"apply {name}: {resp.status} {data[:300]!r}")
                    return
        finally:
            conn.close()

    def probe(tag):
        """apply -> Running of a.probe single-rank jobs, one at a time (seconds each)."""
        out = []
        conn = api.connect()
        try:
            for i in range(a.probe):
                name = f"probe-{tag}-{i:02d}"
                t0 = time.monotonic()
                conn.request("PATCH", f"{jobs_path}/{name}?fieldManager=operator-bench&force=true",
                             body=json.dumps(job_body(name, 1)),
                             headers={"Content-Type": "application/apply-patch+yaml"})
                resp = conn.getresponse()
                resp.read()
                if resp.status not in (200, 201):
                    sys.exit(f"probe apply {name}: {resp.status}")
                while time.monotonic() - t0 < 60:
                    with lock:
                        if name in probe_running:
                            out.append(probe_running[name] - t0)
                            break
                    time.sleep(0.005)
        finally:
            conn.close()
        return out

    def reconcile_mean_ms():
        if a.floor:
            return float("nan")
        series = scrape(a.operator_metrics)
        name = "llamafactory_operator_reconcile_duration_seconds"
        total = by_label(series, name + "_sum", "controller").get("lfjob", 0.0)
        count = by_label(series, name + "_count", "controller").get("lfjob", 0.0)
        return total, count

    probe_start = probe("start") if a.probe else []
    rec_start = reconcile_mean_ms() if a.probe and not kubeflow else None

    names = list(jobs)
    n_conn = max(1, a.apply_connections)
    appliers = [threading.Thread(target=apply_all, args=(names[i::n_conn],)) for i in range(n_conn)]
    t_first = time.monotonic()
    for t in appliers:
        t.start()
    for t in appliers:
        t.join()
    t_last = time.monotonic()
    if failures:
        sys.exit(failures[0])
    print(f"applied {len(jobs)} jobs in {t_last - t_first:.2f} s", file=sys.stderr)
    if a.floor:
        floor_writes(api, a, ns, jobs, jobs_path, pod_label, expected_pods, kubeflow, failures)
        if failures:
            sys.exit(failures[0])

    deadline = t_first + a.timeout
    def pods_running():
        with lock:
            return len(pod_running_at) == len(expected_pods)
    while (not (all_pods.is_set() and all_running.is_set() and pods_running())
           and time.monotonic() < deadline):
        time.sleep(0.5)
        with lock:
            print(f"  t+{time.monotonic() - t_first:6.1f}s pods {len(pod_seen_at)}/{len(expected_pods)}"
                  f" (running {len(pod_running_at)}) jobs running {len(running_at)}/{len(jobs)}",
                  file=sys.stderr)
    complete = all_pods.is_set() and all_running.is_set()
    time.sleep(3)  # let the last status writes and Events land before counting requests
    rec_burst = reconcile_mean_ms() if a.probe and not kubeflow else None
    probe_end = probe("end") if a.probe and complete else []
    rec_end = reconcile_mean_ms() if a.probe and not kubeflow else None
    api_after = scrape("/metrics", api)
    op_after = scrape(a.operator_metrics) if not a.floor else {}
    cpu_after = proc_cpu_seconds(a.operator_pid) if not a.floor else 0.0

    with lock:
        latencies = [running_at[j] - applied_at[j] for j in jobs if j in running_at]
        t_pods = max(pod_seen_at.values()) if all_pods.is_set() else float("nan")
        t_running = max(running_at.values()) if all_running.is_set() else float("nan")
        t_pods_running = (max(pod_running_at.values()) if len(pod_running_at) == len(expected_pods)
                          else float("nan"))
    single = [running_at[j] - applied_at[j] for j, n in jobs.items() if n == 1 and j in running_at]
    double = [running_at[j] - applied_at[j] for j, n in jobs.items() if n == 2 and j in running_at]

    api_verbs = delta(by_label(api_after, "apiserver_request_total", "verb"),
                      by_label(api_before, "apiserver_request_total", "verb"))
    # Ours counts every request of both its clients; client-go's rest_client_requests_total
    # counts every client in Kubeflow's process (its Events' too).
    req_metric, verb_label = (("rest_client_requests_total", "method") if kubeflow
                              else ("llamafactory_operator_kube_requests_total", "verb"))
    op_verbs = delta(by_label(op_after, req_metric, verb_label),
                     by_label(op_before, req_metric, verb_label))
    op_verb_codes = delta(
        by_labels(op_after, req_metric, (verb_label, "code")),
        by_labels(op_before, req_metric, (verb_label, "code")))
    # Mean time of one operator request (rate limiter wait excluded), by verb.
    dur = "llamafactory_operator_kube_request_duration_seconds"
    d_sum = delta(by_label(op_after, dur + "_sum", "verb"), by_label(op_before, dur + "_sum", "verb"))
    d_cnt = delta(by_label(op_after, dur + "_count", "verb"), by_label(op_before, dur + "_count", "verb"))
    op_latency_ms = {k: round(1000 * d_sum[k] / d_cnt[k], 1) for k in d_sum if d_cnt.get(k)}
    # The API server's own time per request (all clients), by verb and resource.
    adur = "apiserver_request_duration_seconds"
    a_sum = delta(by_labels(api_after, adur + "_sum", ("verb", "resource")),
                  by_labels(api_before, adur + "_sum", ("verb", "resource")))
    a_cnt = delta(by_labels(api_after, adur + "_count", ("verb", "resource")),
                  by_labels(api_before, adur + "_count", ("verb", "resource")))
    api_latency_ms = {k: round(1000 * a_sum[k] / a_cnt[k], 1) for k in a_sum
                      if a_cnt.get(k, 0) >= 100 and not k.startswith(("WATCH", "LIST"))}
    api_writes = sum(v for k, v in api_verbs.items() if k in ("POST", "PUT", "PATCH", "APPLY", "DELETE", "CREATE", "UPDATE"))
    op_reads = {"get", "list", "watch", "GET", "LIST", "WATCH"}
    op_writes = sum(v for k, v in op_verbs.items() if k not in op_reads)
    op_counters = {}
    for name in ("llamafactory_operator_pods_created_total", "llamafactory_operator_status_writes_total",
                 "llamafactory_operator_children_applied_total", "llamafactory_operator_reconcile_total"):
        label = {"llamafactory_operator_status_writes_total": "result",
                 "llamafactory_operator_children_applied_total": "kind",
                 "llamafactory_operator_reconcile_total": "result"}.get(name, "")
        op_counters[name] = delta(by_label(op_after, name, label), by_label(op_before, name, label))

    n_single = sum(1 for n in jobs.values() if n == 1)
    n_double = len(jobs) - n_single
    extra_pods = len(expected_pods) - len(jobs)
    figures = {
        "label": a.label or ("floor" if a.floor else a.kind),
        "kind": a.kind, "floor": a.floor, "queue": a.queue or None,
        "jobs": len(jobs), "single_rank_jobs": n_single, "two_rank_jobs": n_double,
        "pods": len(expected_pods), "complete": complete,
        "apply_connections": n_conn,
        "apply_seconds": t_last - t_first,
        "all_pods_exist_s_from_first_apply": t_pods - t_first,
        "all_pods_exist_s_from_last_apply": t_pods - t_last,
        "all_running_s_from_first_apply": t_running - t_first,
        "all_running_s_from_last_apply": t_running - t_last,
        "all_pods_running_s_from_first_apply": t_pods_running - t_first,
        "running_jobs": len(latencies),
        "apply_to_running_p50_s": percentile(latencies, 50),
        "apply_to_running_p99_s": percentile(latencies, 99),
        "apply_to_running_max_s": max(latencies) if latencies else float("nan"),
        "single_rank_p50_s": percentile(single, 50), "two_rank_p50_s": percentile(double, 50),
        "apiserver_requests_by_verb": api_verbs,
        "apiserver_writes_per_job": api_writes / len(jobs),
        "operator_requests_by_verb": op_verbs,
        "operator_requests_by_verb_and_code": op_verb_codes,
        "operator_request_mean_ms_by_verb": op_latency_ms,
        "apiserver_mean_ms_by_verb_and_resource": api_latency_ms,
        "operator_writes": op_writes,
        "operator_writes_per_job": op_writes / len(jobs),
        # Every write the operator makes for a job is the same for 1 and 2 ranks except one
        # more Pod creation per extra rank.
        "operator_writes_per_single_rank_job_est": (op_writes - extra_pods) / len(jobs),
        "operator_counters": op_counters,
        "operator_cpu_seconds": cpu_after - cpu_before,
        "operator_peak_rss_mib": proc_status(a.operator_pid, "VmHWM") if not a.floor else 0.0,
        "operator_rss_mib_now": proc_status(a.operator_pid, "VmRSS") if not a.floor else 0.0,
        "load_average": os.getloadavg(),
    }
    if a.probe:
        figures["probe_idle_apply_to_running_s"] = probe_start
        figures["probe_full_apply_to_running_s"] = probe_end
        figures["probe_idle_median_s"] = percentile(probe_start, 50)
        figures["probe_full_median_s"] = percentile(probe_end, 50)

        def mean_ms(before, after):
            if not before or not after or after[1] <= before[1]:
                return float("nan")
            return round(1000 * (after[0] - before[0]) / (after[1] - before[1]), 2)
        if rec_start is not None:
            figures["reconcile_mean_ms_probe_idle"] = mean_ms((0.0, 0.0), rec_start)
            figures["reconcile_mean_ms_burst"] = mean_ms(rec_start, rec_burst)
            figures["reconcile_mean_ms_probe_full"] = mean_ms(rec_burst, rec_end)
    for w in watches:
        w.stop = True
    print(json.dumps(figures, indent=2))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(figures, f, indent=2)
    return 0 if complete else 1


if __name__ == "__main__":
    sys.exit(main())
