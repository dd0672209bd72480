#!/usr/bin/env python3
"""Prints the side-by-side table of bench/run_compare_bench.sh from the figures operator_bench.py
wrote (one JSON file per run): per configuration the median over its runs, each run's value in
brackets when there are several, and ours as a multiple of the floor and of each Kubeflow.

Usage: bench/compare_report.py FILE.json...   (configurations in the order first seen)
"""
import json
import math
import statistics
import sys


def median(values):
    values = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    return statistics.median(values) if values else float("nan")


def fmt(value, unit="", digits=1):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:.{digits}f}{unit}"


def writes(fig):
    reads = {"get", "list", "watch", "GET", "LIST", "WATCH"}
    return sum(v for k, v in fig.get("operator_requests_by_verb", {}).items() if k not in reads)


def floor_time(fig):
    # The floor is done when the last write landed and the last Pod runs.
    return max(fig["all_running_s_from_first_apply"], fig["all_pods_running_s_from_first_apply"])


def single_rank_writes(fig):
    """Writes per single-rank job, estimated from the mixed run. Ours: a 2-rank job adds its
    rendezvous Service and a Pod; the Lease renewals (PUTs that are not status writes) are
    left out. Kubeflow v1.8.1: each replica is a Pod and a Service, each with an Event."""
    if fig["floor"]:
        return None
    total = writes(fig)
    if fig["kind"] == "pytorchjob":
        return (total - 4 * fig["two_rank_jobs"]) / fig["jobs"]
    puts = fig["operator_requests_by_verb"].get("PUT", 0)
    status = fig["operator_counters"]["llamafactory_operator_status_writes_total"].get("written", 0)
    return (total - (puts - status) - 2 * fig["two_rank_jobs"]) / fig["jobs"]


def status_writes(fig):
    if fig["floor"] or fig["kind"] == "pytorchjob":
        return None
    return fig["operator_counters"]["llamafactory_operator_status_writes_total"].get("written", 0) / fig["jobs"]


ROWS = [
    ("every Pod exists, s after the first apply", lambda f: f["all_pods_exist_s_from_first_apply"], "s"),
    ("every Pod Running, s after the first apply", lambda f: f["all_pods_running_s_from_first_apply"], "s"),
    ("**every job Running, s after the first apply**",
     lambda f: floor_time(f) if f["floor"] else f["all_running_s_from_first_apply"], "s"),
    ("every job Running, s after the last apply", lambda f: f["all_running_s_from_last_apply"], "s"),
    ("apply → Running p50", lambda f: f["apply_to_running_p50_s"], "s"),
    ("apply → Running p99", lambda f: f["apply_to_running_p99_s"], "s"),
    ("applying the jobs took", lambda f: f["apply_seconds"], "s"),
    ("operator writes per job", lambda f: None if f["floor"] else writes(f) / f["jobs"], "", 2),
    ("operator writes per single-rank job (est.)", single_rank_writes, "", 2),
    ("status writes per job (ours)", status_writes, "", 2),
    ("operator CPU over the run", lambda f: None if f["floor"] else f["operator_cpu_seconds"], "s"),
    ("operator peak RSS", lambda f: None if f["floor"] else f["operator_peak_rss_mib"], " MiB"),
    ("API server writes per job (all clients)", lambda f: f["apiserver_writes_per_job"], "", 2),
    ("load average (1 min) at the end", lambda f: f["load_average"][0], "", 1),
]


def main(paths):
    runs = {}
    for path in paths:
        with open(path) as fh:
            fig = json.load(fh)
        runs.setdefault(fig["label"], []).append(fig)
    labels = list(runs)
    first = runs[labels[0]][0]
    print(f"{first['jobs']} jobs ({first['two_rank_jobs']} of 2 ranks), {first['pods']} Pods, "
          f"applied over {first['apply_connections']} connections; runs per configuration: "
          + ", ".join(f"{l} {len(runs[l])}" for l in labels))
    print()
    print("| measurement (median of runs [each run]) | " + " | ".join(labels) + " |")
    print("|---|" + "---|" * len(labels))
    for row in ROWS:
        name, get, unit = row[0], row[1], row[2]
        digits = row[3] if len(row) > 3 else 1
        cells = []
        for label in labels:
            values = [get(f) for f in runs[label]]
            cell = fmt(median(values), unit, digits)
            if len([v for v in values if v is not None]) > 1:
                cell += " [" + ", ".join(fmt(v, "", digits) for v in values) + "]"
            cells.append(cell)
        print(f"| {name} | " + " | ".join(cells) + " |")
    # Requests by verb, operator's own client(s), medians.
    cells = []
    for label in labels:
        verbs = {}
        for f in runs[label]:
            for k, v in f.get("operator_requests_by_verb", {}).items():
                verbs.setdefault(k.upper(), []).append(v)
        cells.append(" / ".join(f"{k} {median(v):.0f}" for k, v in sorted(verbs.items())) or "—")
    print("| operator requests by verb | " + " | ".join(cells) + " |")
    cells = []
    for label in labels:
        verbs = {}
        for f in runs[label]:
            for k, v in f.get("apiserver_requests_by_verb", {}).items():
                if k in ("WATCH",):
                    continue
                verbs.setdefault(k, []).append(v)
        cells.append(" / ".join(f"{k} {median(v):.0f}" for k, v in sorted(verbs.items())))
    print("| API server requests by verb (all clients) | " + " | ".join(cells) + " |")
    print()
    ours = [l for l in labels if runs[l][0]["kind"] == "llamafactory" and not runs[l][0]["floor"]]
    floor = [l for l in labels if runs[l][0]["floor"]]
    if ours:
        o = median([f["all_running_s_from_first_apply"] for f in runs[ours[0]]])
        for label in labels:
            if label == ours[0]:
                continue
            figs = runs[label]
            t = median([floor_time(f) if f["floor"] else f["all_running_s_from_first_apply"] for f in figs])
            print(f"- every job Running, {ours[0]} / {label}: {o / t:.2f}x" if t else "")
            if not figs[0]["floor"]:
                c = median([f["operator_cpu_seconds"] for f in figs])
                oc = median([f["operator_cpu_seconds"] for f in runs[ours[0]]])
                print(f"- operator CPU, {ours[0]} / {label}: {oc / c:.2f}x" if c else "")
    return 0


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1:]))
