"""Benchmark: `sloguard check` wall time vs `promtool query instant` issuing the same queries one
after another, for SARK's sloguard.yaml and a generated 500-objective spec; and CLI cold start.

Run:  .venv/bin/python -m tests.benchmarks.bench_check   [--objectives 500] [--repeat 5] [--cold-runs 10]

Targets (issue 2): the whole check no slower than promtool's sequential queries (ratio <= 1),
and `sloguard --help` under 0.5 s. Everything runs on 127.0.0.1 against a real Prometheus on
a backfilled TSDB, started and stopped (by pid) here.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `tests` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import yaml

from sloguard.conventions import LATENCY_BUCKETS
from tests.support.clirun import run_sloguard, sloguard_executable
from tests.support.processes import ProcessGroup, find_binary, missing_binary_message
from tests.support.promdata import Window
from tests.support.promharness import backfilled_prometheus
from tests.support.sarkdata import build_sark_data

ROOT = Path(__file__).resolve().parents[2]
COLD_START_TARGET = 0.5
HISTOGRAMS = ("opa_evaluation_duration_seconds", "cache_operation_duration_seconds", "sark_authz_duration_seconds")


def generated_spec(count: int) -> dict[str, Any]:
    """`count` objectives cycling through the six SLI kinds with varied parameters (distinct queries)."""
    objectives: list[dict[str, Any]] = []
    for i in range(count):
        kind = i % 6
        n = i // 6
        by = ["implementation"] if n % 2 else []
        obj: dict[str, Any]
        if kind == 0:
            quantile = round(0.5 + (n % 49) / 100, 2)
            obj = {"sli": {"latency": {"metric": HISTOGRAMS[n % 3], "quantile": quantile}}, "objective": {"max": 0.05}}
        elif kind == 1:
            threshold = LATENCY_BUCKETS[n % len(LATENCY_BUCKETS)]
            obj = {"sli": {"latencyRatio": {"metric": HISTOGRAMS[n % 3], "threshold": threshold}},
                   "objective": {"min": 0.5}}
        elif kind == 2:
            errors = ("error", "deny", "allow")[n % 3]
            obj = {"sli": {"errorRatio": {"errors": f'sark_authz_requests_total{{decision="{errors}"}}',
                                          "total": "sark_authz_requests_total"}}, "objective": {"max": 0.5}}
        elif kind == 3:
            impl = ("rust", "python")[n % 2]
            obj = {"sli": {"throughput": {"metric": f'sark_authz_requests_total{{implementation="{impl}"}}'}},
                   "objective": {"min": 1}}
            by = []
        elif kind == 4:
            obj = {"sli": {"memoryGrowth": {"metric": "process_resident_memory_bytes", "per": f"{n + 1}h"}},
                   "objective": {"max": 1e12}}
            by = []
        else:
            query = f'sum(increase(sark_authz_requests_total{{job="sark"}}[{{{{window}}}}])) / {n + 1}'
            obj = {"sli": {"promql": {"query": query}}, "objective": {"min": 0}}
            by = []
        objectives.append({"name": f"gen-{i:03d}", **obj, **({"by": by} if by else {})})
    return {
        "apiVersion": "sloguard/v1",
        "kind": "SLOSet",
        "metadata": {"name": f"generated-{count}"},
        "spec": {"service": "sark", "selector": {"job": "sark"}, "noData": "fail", "minEvents": 100,
                 "objectives": objectives},
    }


def time_check(spec: Path, url: str, window: Window, out: Path, repeat: int) -> tuple[float, dict[str, Any]]:
    """Median wall time of the whole `sloguard check` process, and its JSON report."""
    times = []
    for _ in range(repeat):
        result = run_sloguard("check", "-f", str(spec), "--prometheus", url, "--start", str(window.start),
                              "--end", str(window.end), "--format", "json", "--output-dir", str(out))
        if result.returncode not in (0, 1):
            raise SystemExit(f"sloguard check could not evaluate:\n{result.describe()}")
        times.append(result.seconds)
    return statistics.median(times), json.loads((out / "sloguard-report.json").read_text())


def report_queries(report: dict[str, Any]) -> list[str]:
    """Every distinct query the check ran: value, events (traffic guard) and bucket-count (interval) queries."""
    queries: dict[str, None] = {}
    for objective in report["objectives"]:
        for key in ("query", "eventsQuery", "bucketsQuery"):
            if objective.get(key):
                queries[objective[key]] = None
    return list(queries)


def time_promtool(promtool: str, url: str, queries: list[str], at: int, repeat: int) -> float:
    """Median wall time of `promtool query instant` run once per query, one after another."""
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        for query in queries:
            proc = subprocess.run([promtool, "query", "instant", f"--time={at}", url, query],
                                  capture_output=True, text=True, timeout=60, check=False)
            if proc.returncode != 0:
                raise SystemExit(f"promtool failed on {query!r}: {proc.stderr.strip()}")
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def cold_start(runs: int, *args: str) -> float:
    exe = sloguard_executable()
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        subprocess.run([exe, *args], capture_output=True, check=True, timeout=60, cwd=ROOT)
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objectives", type=int, default=500, help="size of the generated spec")
    parser.add_argument("--repeat", type=int, default=5, help="runs per measurement (median)")
    parser.add_argument("--promtool-repeat", type=int, default=1, help="runs of the big promtool sequence")
    parser.add_argument("--cold-runs", type=int, default=10, help="runs of `sloguard --help`")
    parser.add_argument("--memory-instances", type=int, default=50, help="extra memory series in the data")
    args = parser.parse_args(argv)

    prometheus, promtool = find_binary("prometheus"), find_binary("promtool")
    if prometheus is None or promtool is None:
        print(missing_binary_message("prometheus"), file=sys.stderr)
        return 2

    rows: list[tuple[str, int, float, float]] = []
    with tempfile.TemporaryDirectory(prefix="sloguard-bench-") as tmp_name:
        tmp = Path(tmp_name)
        window = Window.hours_ago(4)
        data = build_sark_data(window, extra_instances=args.memory_instances)
        with ProcessGroup(tmp / "logs") as group:
            prom = backfilled_prometheus(group, data.openmetrics, tmp / "prom", prometheus=prometheus,
                                         promtool=promtool)
            big = tmp / "generated.yaml"
            big.write_text(yaml.safe_dump(generated_spec(args.objectives), sort_keys=False))
            cases = [
                ("SARK sloguard.yaml", ROOT / "sloguard.yaml", args.repeat),
                (f"generated {args.objectives} objectives", big, args.promtool_repeat),
            ]
            for label, spec, promtool_repeat in cases:
                time_check(spec, prom.url, window, tmp / "warm", 1)  # warm Prometheus's page cache once
                seconds, report = time_check(spec, prom.url, window, tmp / "out", args.repeat)
                queries = report_queries(report)
                promtool_seconds = time_promtool(promtool, prom.url, queries, window.end, promtool_repeat)
                rows.append((f"{label} ({len(report['objectives'])} verdicts)", len(queries), seconds,
                             promtool_seconds))
        help_seconds = cold_start(args.cold_runs, "--help")
        validate_seconds = cold_start(max(3, args.cold_runs // 2), "validate", "sloguard.yaml")

    print(f"\nBackfilled Prometheus: {data.series} series, {data.samples} samples; window {window.seconds} s\n")
    header = f"| {'check':<44} | {'queries':>7} | {'sloguard check':>14} | {'promtool sequential':>19} | {'ratio':>6} |"
    print(header)
    print("|" + "|".join("-" * (len(cell)) for cell in header.split("|")[1:-1]) + "|")
    for label, n, ours, theirs in rows:
        print(f"| {label:<44} | {n:>7} | {ours:>12.2f} s | {theirs:>17.2f} s | {ours / theirs:>6.2f} |")
    print(f"\n| {'cold start (median)':<44} | {'seconds':>7} | {'target':>14} | {'ratio to target':>19} |")
    print(f"|{'-' * 46}|{'-' * 9}|{'-' * 16}|{'-' * 21}|")
    print(f"| {f'sloguard --help ({args.cold_runs} runs)':<44} | {help_seconds:>7.3f} | "
          f"{COLD_START_TARGET:>12.1f} s | {help_seconds / COLD_START_TARGET:>19.2f} |")
    print(f"| {'sloguard validate sloguard.yaml':<44} | {validate_seconds:>7.3f} | {'-':>14} | {'-':>19} |")
    print("\nratio = sloguard check / promtool (<= 1 meets the target: no slower than promtool's sequential queries)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
