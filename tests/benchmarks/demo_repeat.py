"""Clean demos in a row: how often does each objective's status change, and do the intervals explain it?

Run:  .venv/bin/python -m tests.benchmarks.demo_repeat --runs 10 --output-dir /tmp/demo-repeat

Runs `sloguard demo` (no fault injected) `--runs` times one after the other, each in its own output
directory, and reads every run's sloguard-report.json. Per objective and group it prints the
status of each run, how many times the status changed from one run to the next, the range of the
values, and how many runs had a 95 % interval that straddles the objective's bound (an "explained"
change is one where the run's interval straddles the bound, i.e. the status was within noise).
"""

from __future__ import annotations

import argparse
import itertools
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SLOGUARD = ROOT / ".venv" / "bin" / "sloguard"


def run_demo(directory: Path) -> dict[str, Any]:
    started = time.monotonic()
    result = subprocess.run([str(SLOGUARD), "demo", "--output-dir", str(directory)], capture_output=True, text=True,
                            cwd=ROOT, timeout=600)
    report = next(directory.rglob("sloguard-report.json"), None)
    if report is None:
        raise SystemExit(f"{directory}: no sloguard-report.json (exit {result.returncode}): {result.stderr[-2000:]}")
    data = json.loads(report.read_text(encoding="utf-8"))
    data["_seconds"] = time.monotonic() - started
    data["_exit"] = result.returncode
    return data


def straddles(objective: dict[str, Any]) -> bool:
    """The run's interval contains a bound of the objective: its status is within noise."""
    interval = objective.get("interval") or {}
    low, high = interval.get("low"), interval.get("high")
    if low is None or high is None:
        return False
    bounds = [v for v in (objective.get("objective") or {}).values() if v is not None]
    return any(low <= bound <= high for bound in bounds)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--output-dir", type=Path, required=True)
    args = parser.parse_args()
    reports = []
    for index in range(args.runs):
        directory = args.output_dir / f"run-{index + 1:02d}"
        directory.mkdir(parents=True, exist_ok=True)
        report = run_demo(directory)
        reports.append(report)
        print(f"run {index + 1}: verdict {report['verdict']}, exit {report['_exit']}, {report['_seconds']:.0f} s",
              flush=True)
    rows: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for report in reports:
        for objective in report["objectives"]:
            rows.setdefault((objective["name"], objective.get("group", "")), []).append(objective)
    print()
    print(f"{'objective':44} {'statuses':{args.runs * 2 + 2}} changes  values                    straddling")
    for (name, group), runs in rows.items():
        statuses = [run["status"] for run in runs]
        changes = sum(1 for a, b in itertools.pairwise(statuses) if a != b)
        values = [run["value"] for run in runs if run.get("value") is not None]
        shown = f"{min(values):.6g}–{max(values):.6g}" if values else "no data"
        letters = " ".join(s[0].upper() if s != "no_data" else "N" for s in statuses)
        label = f"{name}[{group}]" if group else name
        noisy = sum(map(straddles, runs))
        print(f"{label:44} {letters:{args.runs * 2 + 2}} {changes:7d}  {shown:25} {noisy}/{len(runs)}")
    (args.output_dir / "reports.json").write_text(json.dumps(reports, indent=1, default=str), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
