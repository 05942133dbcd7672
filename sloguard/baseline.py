"""Baselines: `sloguard baseline save` and the relative criteria of `sloguard check --baseline`.

A baseline stores a run's check report values and, when the run recorded them, its raw
latencies per implementation (the document itself is made and read by sloguard.sources).
`check --baseline` then asks, per implementation, whether p95 grew more than the allowance,
with the statistics of sloguard.compare when the current run has raw latencies too; with
only report values on one side the test is a bare ratio and the output says so.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sloguard import runs
from sloguard.compare import (
    CompareSettings,
    Comparison,
    InconclusivePolicy,
    MetricComparison,
    compare_sources,
    compare_values,
)
from sloguard.conventions import BASELINE_KIND, LABEL_IMPLEMENTATION
from sloguard.errors import UsageError
from sloguard.evaluate import CheckResult
from sloguard.sources import Source, load_source, make_baseline

if TYPE_CHECKING:
    from sloguard.sources import Sample

# The relative criterion of the issue: p95 may not grow more than the allowance.
BASELINE_QUANTILES = (0.95,)


def save(source: str, output: Path) -> dict[str, Any]:
    """Write a Baseline document from a check report, run.json or run directory."""
    doc = make_baseline(source, by=LABEL_IMPLEMENTATION)
    output.parent.mkdir(parents=True, exist_ok=True)
    runs.write_json(output, doc, indent=1)
    return doc


def current_source(result: CheckResult, run_file: str | None) -> Source:
    """This check's side: raw latencies next to --run's run.json (if any) and the verdicts' values."""
    samples: dict[str, Sample] = {}
    processes = 1
    if run_file:
        csv_path = Path(run_file).parent / runs.LATENCIES_CSV
        if csv_path.exists():
            samples = {g: s.values for g, s in runs.read_samples(csv_path, by=LABEL_IMPLEMENTATION).items()}
        run = runs.find_run(run_file)
        processes = run.processes if run else 1
    values = {}
    for v in result.verdicts:
        name = v.objective.name + (f" {{{v.group}}}" if v.group else "")
        values[name] = (v.value, v.objective.objective.max is not None or v.objective.objective.min is None)
    return Source("this check", samples, values, processes=processes)


def compare_to_baseline(result: CheckResult, baseline_file: str, run_file: str | None, max_regression: float,
                        inconclusive: InconclusivePolicy = InconclusivePolicy.FAIL) -> Comparison:
    path = Path(baseline_file)
    try:
        kind = json.loads(path.read_text(encoding="utf-8")).get("kind")
    except (OSError, ValueError, AttributeError):
        kind = None
    if kind != BASELINE_KIND:
        raise UsageError(f"{baseline_file}: not a baseline (write one with `sloguard baseline save`)")
    baseline = load_source(baseline_file, by=LABEL_IMPLEMENTATION)
    # A baseline is another run with other processes, so at a few thousand requests its p95 interval
    # seldom fits in ±10 %: the gate is then INCONCLUSIVE, which fails the check unless the user says
    # otherwise (`check --inconclusive`), as noData: fail does for an objective without data.
    settings = CompareSettings(max_regression=max_regression, quantiles=BASELINE_QUANTILES,
                               inconclusive=inconclusive)
    current = current_source(result, run_file)
    if any(g in current.samples for g in baseline.samples):
        return compare_sources(baseline, current, settings)
    # No raw latencies on both sides: objective values of the two check reports, as bare ratios.
    metrics: list[MetricComparison] = []
    for name, (value, lower) in current.values.items():
        if name in baseline.values:
            metrics.append(compare_values(name, baseline.values[name][0], value, lower_is_better=lower,
                                          settings=settings))
    if not metrics:
        raise UsageError(f"{baseline_file}: shares no objective or latency sample with this check")
    why = ("no raw latencies on both sides (give --run with a run directory holding latencies.csv, and a "
           "baseline saved from one): objective values compared as bare ratios, without a significance test")
    return Comparison(baseline.label, current.label, settings, tuple(metrics), (why,))
