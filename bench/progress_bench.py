#!/usr/bin/env python3
"""Training progress at scale: every running job's rank 0 reports to the operator's status server.

Run by bench/run_operator_bench.sh --progress SECONDS once its jobs are Running (kwok keeps the
Pods Running, so no reporter runs there: this script is the reporters). For every job's rank-0
Pod it asks the API server for a token of the namespace's default ServiceAccount bound to that
Pod, for the audience ascendfactory.io/progress (what the kubelet projects into the real
`lfjob-progress` sidecar), then for SECONDS posts one trainer_log.jsonl line per job every
--period seconds, over --connections keep-alive HTTPS connections, and reports:

  reports posted and their HTTP codes, post latency p50/p99, the operator's status writes in the
  window (llamafactory_operator_status_writes_total{result="written"}) as writes per job-minute,
  the API server's TokenReviews, the operator's CPU in the window and its peak RSS, and how
  many jobs' status.progress.step showed the last step posted for them once one interval passed.
"""
import argparse
import http.client
import json
import os
import ssl
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from operator_bench import Api, by_label, proc_cpu_seconds, proc_status, percentile, scrape  # noqa: E402

AUDIENCE = "ascendfactory.io/progress"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--server", required=True)
    ap.add_argument("--ca", required=True)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--namespace", default="bench")
    ap.add_argument("--progress-url", required=True, help="the status server's https URL")
    ap.add_argument("--progress-ca", required=True, help="the CA of the status server's certificate")
    ap.add_argument("--seconds", type=float, default=120, help="how long the jobs report")
    ap.add_argument("--period", type=float, default=5, help="seconds between one job's reports")
    ap.add_argument("--interval", type=float, default=30, help="the operator's --progress-interval")
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--operator-pid", type=int, required=True)
    ap.add_argument("--operator-metrics", required=True)
    ap.add_argument("--json", help="also write the figures here")
    a = ap.parse_args()

    api = Api(a.server, a.ca, a.cert, a.key)
    ns = a.namespace
    pods = json.loads(api.get(f"/api/v1/namespaces/{ns}/pods?labelSelector="
                              + urllib.parse.quote("ascendfactory.io/node-rank=0")))["items"]
    ranks0 = [(p["metadata"]["labels"]["ascendfactory.io/job-name"], p["metadata"]["name"], p["metadata"]["uid"])
              for p in pods if p.get("status", {}).get("phase") == "Running"]
    if not ranks0:
        sys.exit("progress bench: no Running rank-0 Pod in namespace " + ns)
    print(f"progress: {len(ranks0)} jobs' rank 0 Running; asking for their Pod-bound tokens", file=sys.stderr)

    # Pod-bound tokens through the TokenRequest API, as the kubelet asks for projected ones.
    tokens = {}
    lock = threading.Lock()

    def request_tokens(part):
        conn = api.connect()
        for job, pod, uid in part:
            body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                    "spec": {"audiences": [AUDIENCE], "expirationSeconds": 3600,
                             "boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": pod, "uid": uid}}}
            conn.request("POST", f"/api/v1/namespaces/{ns}/serviceaccounts/default/token",
                         body=json.dumps(body), headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            answer = resp.read()
            if resp.status != 201:
                raise RuntimeError(f"TokenRequest for {pod}: {resp.status} {answer[:200]!r}")
            with lock:
                tokens[job] = json.loads(answer)["status"]["token"]
        conn.close()

    parts = [ranks0[i::8] for i in range(8)]
    threads = [threading.Thread(target=request_tokens, args=(p,)) for p in parts]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if len(tokens) != len(ranks0):
        sys.exit(f"progress bench: {len(tokens)} tokens for {len(ranks0)} Pods")

    url = urllib.parse.urlparse(a.progress_url)
    ctx = ssl.create_default_context(cafile=a.progress_ca)

    def writes():
        return by_label(scrape(a.operator_metrics), "llamafactory_operator_status_writes_total",
                        "result").get("written", 0.0)

    def token_reviews():
        series = scrape("/metrics", api)
        return sum(v for (name, labels), v in series.items()
                   if name == "apiserver_request_total" and ("resource", "tokenreviews") in labels
                   and ("verb", "POST") in labels)

    jobs = sorted(tokens)
    last_step = {job: 0 for job in jobs}
    codes = {}
    latencies = []
    total_steps = 100000

    def report(part, start, end):
        conn = http.client.HTTPSConnection(url.hostname, url.port, context=ctx, timeout=30)
        # Spread each connection's jobs over the period, as independent trainers would be.
        offsets = {job: (i / max(1, len(part))) * a.period for i, job in enumerate(part)}
        due = {job: start + offsets[job] for job in part}
        local_codes, local_lat = {}, []
        while True:
            job = min(part, key=lambda j: due[j])
            when = due[job]
            if when >= end:
                break
            if when > time.monotonic():
                time.sleep(when - time.monotonic())
            step = last_step[job] + 5
            line = {"current_steps": step, "total_steps": total_steps, "loss": round(2.0 - step / total_steps, 4),
                    "lr": 5e-05, "epoch": round(step / 1000, 3), "percentage": round(100 * step / total_steps, 2),
                    "elapsed_time": "0:10:00", "remaining_time": "3:20:00"}
            t0 = time.monotonic()
            try:
                conn.request("POST", url.path, body=json.dumps(line),
                             headers={"Content-Type": "application/json", "Authorization": "Bearer " + tokens[job]})
                resp = conn.getresponse()
                resp.read()
                code = resp.status
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPSConnection(url.hostname, url.port, context=ctx, timeout=30)
                code = "error"
            local_lat.append(time.monotonic() - t0)
            local_codes[code] = local_codes.get(code, 0) + 1
            if code == 202:
                last_step[job] = step
            due[job] = when + a.period
        conn.close()
        with lock:
            latencies.extend(local_lat)
            for k, v in local_codes.items():
                codes[k] = codes.get(k, 0) + v

    writes_before, reviews_before = writes(), token_reviews()
    cpu_before = proc_cpu_seconds(a.operator_pid)
    print(f"progress: {len(jobs)} jobs report every {a.period:g} s for {a.seconds:g} s over "
          f"{a.connections} connections (operator --progress-interval {a.interval:g})", file=sys.stderr)
    start = time.monotonic() + 0.5
    end = start + a.seconds
    parts = [jobs[i::a.connections] for i in range(a.connections)]
    threads = [threading.Thread(target=report, args=(p, start, end)) for p in parts if p]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    window = time.monotonic() - start
    # The newest report of each job is written within one interval of its arrival.
    time.sleep(a.interval + 3)
    writes_after, reviews_after = writes(), token_reviews()
    cpu_after = proc_cpu_seconds(a.operator_pid)

    shown = 0
    lfjobs = json.loads(api.get(f"/apis/ascendfactory.io/v1alpha1/namespaces/{ns}/llamafactoryjobs"))["items"]
    for obj in lfjobs:
        name = obj["metadata"]["name"]
        if name in last_step and obj.get("status", {}).get("progress", {}).get("step") == last_step[name]:
            shown += 1

    status_writes = writes_after - writes_before
    job_minutes = len(jobs) * (window + a.interval + 3) / 60
    posted = sum(codes.values())
    figures = {
        "jobs": len(jobs),
        "seconds": round(window, 1),
        "period_s": a.period,
        "progress_interval_s": a.interval,
        "reports_posted": posted,
        "reports_per_second": round(posted / window, 1),
        "http_codes": {str(k): v for k, v in sorted(codes.items(), key=lambda kv: str(kv[0]))},
        "post_latency_p50_ms": round(1000 * percentile(latencies, 50), 1),
        "post_latency_p99_ms": round(1000 * percentile(latencies, 99), 1),
        "status_writes": status_writes,
        "status_writes_per_job_minute": round(status_writes / job_minutes, 2),
        "status_writes_bound_per_job_minute": round(60 / a.interval, 2),
        "token_reviews": reviews_after - reviews_before,
        "operator_cpu_seconds": round(cpu_after - cpu_before, 2),
        "operator_cpu_share_of_a_core": round((cpu_after - cpu_before) / (window + a.interval + 3), 3),
        "operator_peak_rss_mib": round(proc_status(a.operator_pid, "VmHWM"), 1),
        "jobs_showing_their_last_step": shown,
    }
    print(json.dumps(figures, indent=2))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(figures, f, indent=2)
    failed = posted - codes.get(202, 0)
    if failed:
        print(f"progress: {failed} of {posted} reports were not accepted", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
