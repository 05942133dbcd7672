"""Benchmark: a load run straight after `stack up`, then `check --run`: where the window opens and what it reads.

Run:  .venv/bin/python -m tests.benchmarks.bench_stack_window [--trials 3] [--before /tmp/sloguard-before]

Each trial starts a fresh stack, runs `load run quick --stack DIR --open-loop --rate 100 --warmup 0s
--duration 20s` at once (the issue's case, without the profile's 3 s warm-up so the window opens as
soon as the load does) and reads the window's throughput with `check --run`. It prints how far the
window opens after Prometheus' first scrape of the service (negative: before it), the achieved
rate, the throughput the check reads, and the coverage today's check reports. With --before, the
same trials run the load and its check from that checkout (PYTHONPATH), and today's check reads
the coverage of the old run's window too.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `tests` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.support.clirun import run_sloguard

SPEC = {
    "apiVersion": "sloguard/v1", "kind": "SLOSet", "metadata": {"name": "rate"},
    "spec": {"service": "sark", "selector": {"job": "sark"}, "minEvents": 1, "variables": {"minThroughput": 0},
             "objectives": [{"name": "rps", "sli": {"throughput": {"metric": "sark_authz_requests_total"}},
                             "objective": {"min": 0}}]},
}


def first_scrape(prometheus: str) -> float:
    query = urllib.parse.urlencode({"query": 'up{job="sark"}[1h]'})
    with urllib.request.urlopen(f"{prometheus}/api/v1/query?{query}", timeout=5) as response:
        [series] = json.load(response)["data"]["result"]
    return float(series["values"][0][0])


def check(spec: Path, prometheus: str, run_json: Path, out: Path, env: dict[str, str]) -> dict[str, Any]:
    result = run_sloguard("check", "-f", str(spec), "--prometheus", prometheus, "--run", str(run_json),
                          "--format", "json", "--output-dir", str(out), env=env)
    if result.returncode not in (0, 1):
        raise SystemExit(result.describe())
    [rps] = json.loads((out / "sloguard-report.json").read_text())["objectives"]
    return rps


def trial(work: Path, env: dict[str, str]) -> dict[str, Any]:
    stack = work / "stack"
    up = run_sloguard("stack", "up", "--dir", str(stack), env=env, timeout=180)
    if up.returncode != 0:
        raise SystemExit(up.describe())
    try:
        run = run_sloguard("load", "run", "quick", "--stack", str(stack), "--open-loop", "--rate", "100",
                           "--warmup", "0s", "--duration", "20s", "--no-progress", "--output-dir", str(work / "run"),
                           env=env, timeout=180)
        if run.returncode != 0:
            raise SystemExit(run.describe())
        doc = json.loads((work / "run" / "run.json").read_text())
        prometheus = json.loads((stack / "stack.json").read_text())["components"]["prometheus"]["url"]
        spec = work / "rate.yaml"
        spec.write_text(json.dumps(SPEC))
        own = check(spec, prometheus, work / "run" / "run.json", work / "own", env)
        today = check(spec, prometheus, work / "run" / "run.json", work / "today", {})
        return {"opens_after_first_scrape": doc["window"]["start"] - first_scrape(prometheus),
                "achieved": doc["rate"]["achieved"], "throughput": own["value"],
                "coverage": today["coverage"]["fraction"]}
    finally:
        run_sloguard("stack", "down", "--dir", str(stack), env=env, timeout=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--before", type=Path, help="a checkout of the code before, run through PYTHONPATH")
    args = parser.parse_args()
    sides = [("now", {})] + ([("before", {"PYTHONPATH": str(args.before)})] if args.before else [])
    for name, env in sides:
        for number in range(1, args.trials + 1):
            with tempfile.TemporaryDirectory(prefix="sloguard-window-") as tmp:
                got = trial(Path(tmp), env)
            print(f"{name} trial {number}: window opens {got['opens_after_first_scrape']:+.2f} s after the first "
                  f"scrape; achieved {got['achieved']:.1f} req/s, check reads {got['throughput']:.1f} req/s "
                  f"({got['throughput'] / got['achieved'] - 1:+.1%}); coverage {got['coverage']:.3f}", flush=True)


if __name__ == "__main__":
    main()
