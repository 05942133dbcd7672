"""Benchmark: what measuring the window's coverage adds to a check, next to evaluating the spec.

Run:  .venv/bin/python -m tests.benchmarks.bench_coverage [--repeat 9] [--objectives 500]

In-process against a real Prometheus on a backfilled TSDB (the data of tests/benchmarks/bench_check.py:
SARK's metrics over a one-hour window, 15 s apart, plus 50 memory series): the median time of
`evaluate` and of `measure_coverage` for sloguard.yaml and for the generated spec, and how many
queries each sends. Every series there runs through the window, so only the cheap instant queries
run; a window that starts 10 minutes before the data adds the subqueries, timed on its own row.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `tests` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import yaml

from sloguard.durations import Window
from sloguard.evaluate import evaluate
from sloguard.prometheus import PrometheusClient, Sample
from sloguard.spec.loader import load_spec
from sloguard.window_coverage import measure_coverage
from tests.benchmarks.bench_check import generated_spec
from tests.support.processes import ProcessGroup
from tests.support.promdata import Window as DataWindow
from tests.support.promharness import backfilled_prometheus
from tests.support.sarkdata import build_sark_data

ROOT = Path(__file__).resolve().parents[2]


def timed(spec_file: Path, window: Window, client: PrometheusClient, repeat: int) -> tuple[float, float, int, int]:
    slo = load_spec(str(spec_file), {"minThroughput": 1} if spec_file.name == "sloguard.yaml" else {})
    sent: list[str] = []

    def query(text: str, at: float) -> list[Sample]:
        sent.append(text)
        return client.instant_query(text, at)

    evaluate_s, coverage_s = [], []
    for _ in range(repeat):
        sent.clear()
        began = time.perf_counter()
        result = evaluate(slo, window, query)
        evaluated, asked = time.perf_counter(), len(sent)
        measure_coverage(result, query)
        evaluate_s.append(evaluated - began)
        coverage_s.append(time.perf_counter() - evaluated)
    return statistics.median(evaluate_s), statistics.median(coverage_s), asked, len(sent) - asked


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--objectives", type=int, default=500)
    args = parser.parse_args()
    data_window = DataWindow.hours_ago(4)
    data = build_sark_data(data_window, extra_instances=50)
    with tempfile.TemporaryDirectory(prefix="sloguard-coverage-") as tmp:
        work = Path(tmp)
        big = work / "generated.yaml"
        big.write_text(yaml.safe_dump(generated_spec(args.objectives), sort_keys=False))
        group = ProcessGroup(work / "logs")
        try:
            prom = backfilled_prometheus(group, data.openmetrics, work / "prometheus")
            window = Window(data_window.start, data_window.end)
            early = Window(data_window.start - data_window.pad - 600, data_window.start - data_window.pad + 3000)
            print("| spec, window | evaluate | its queries | coverage | its queries |")
            print("|---|---|---|---|---|")
            with PrometheusClient(prom.url) as client:
                for label, spec, w in (("sloguard.yaml, covered", ROOT / "sloguard.yaml", window),
                                       ("sloguard.yaml, starts 10 min before the data", ROOT / "sloguard.yaml", early),
                                       (f"generated {args.objectives} objectives, covered", big, window)):
                    evaluated, covered, asked, more = timed(spec, w, client, args.repeat)
                    print(f"| {label} | {evaluated * 1000:.1f} ms | {asked} | {covered * 1000:.1f} ms | {more} |")
        finally:
            group.stop_all()


if __name__ == "__main__":
    main()
