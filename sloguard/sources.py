"""The two sides of a comparison: what each was read from, and the baseline documents that store one.

A side is a latency CSV, a run directory, a run.json, a CheckReport, a Baseline, or two
implementations' per-interval means from Prometheus. Run-directory files are read through
sloguard.runs. numpy is imported inside the functions that need it.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sloguard import runs
from sloguard.conventions import (
    API_VERSION,
    AUTHZ_DURATION,
    BASELINE_KIND,
    CHECK_REPORT_JSON,
    LABEL_IMPLEMENTATION,
    LOAD_RUN_KIND,
    REPORT_KIND,
    SCRAPE_JOB,
)
from sloguard.durations import iso
from sloguard.errors import UsageError
from sloguard.prometheus import PrometheusClient
from sloguard.promql import mean_latency_per_step
from sloguard.spec.model import Matcher
from sloguard.stats import thin

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

    FloatArray = NDArray[np.float64]
    # One side's raw values of a group: read from a CSV (an array) or from a baseline document (a list).
    Sample = Sequence[float] | FloatArray


@dataclass(frozen=True)
class Source:
    """What one side of a comparison was read from: raw samples per group and/or report values."""

    label: str
    samples: dict[str, Sample] = field(default_factory=dict)  # group -> latencies (seconds)
    values: dict[str, tuple[float | None, bool]] = field(default_factory=dict)  # metric -> (value, lower better)
    times: dict[str, Sample] = field(default_factory=dict)  # group -> send times, aligned with samples
    processes: int = 1  # service processes that served this side (replicas of a `load ab` side)


def load_source(path_text: str, *, column: str = runs.LATENCY_COLUMN, filters: Mapping[str, str] | None = None,
                by: str | None = None, with_times: bool = False) -> Source:
    """A latency CSV, a CheckReport JSON, a run.json, a baseline or a run directory holding them."""
    path = Path(path_text)
    csv_path = path / runs.LATENCIES_CSV if path.is_dir() else path
    timed = with_times and csv_path.suffix.lower() == ".csv" and csv_path.exists()
    source = _load_source(path, column=column, filters=filters, by=by, with_times=timed)
    run = runs.find_run(path_text)
    return replace(source, processes=run.processes) if run else source


def _load_source(path: Path, *, column: str, filters: Mapping[str, str] | None, by: str | None,
                 with_times: bool) -> Source:
    if path.is_dir():
        csv_path = path / runs.LATENCIES_CSV
        groups = (runs.read_samples(csv_path, column=column, filters=filters, by=by, with_times=with_times)
                  if csv_path.exists() else {})  # fmt: skip
        values: dict[str, tuple[float | None, bool]] = {}
        for doc_path in (path / CHECK_REPORT_JSON, runs.run_json(path)):
            if doc_path.exists():
                values.update(report_values(_read_json(doc_path), doc_path))
        if not groups and not values:
            raise UsageError(f"{path}: no {runs.LATENCIES_CSV}, {CHECK_REPORT_JSON} or {runs.RUN_JSON} in it")
        return _sampled(str(path), groups, values)
    if path.suffix.lower() == ".csv":
        return _sampled(str(path), runs.read_samples(path, column=column, filters=filters, by=by,
                                                     with_times=with_times))
    doc = _read_json(path)
    if doc.get("kind") == BASELINE_KIND:
        return baseline_source(doc, path, by=by, filters=filters)
    return Source(str(path), values=report_values(doc, path))


def _sampled(label: str, groups: Mapping[str, runs.Samples],
             values: dict[str, tuple[float | None, bool]] | None = None) -> Source:
    samples: dict[str, Sample] = {g: s.values for g, s in groups.items()}
    times: dict[str, Sample] = {g: s.times for g, s in groups.items() if s.times is not None}
    return Source(label, samples, values or {}, times)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UsageError(f"{path}: not a JSON report ({exc})") from None
    if not isinstance(doc, dict):
        raise UsageError(f"{path}: not a JSON object")
    return doc


def report_values(doc: Mapping[str, Any], path: Path) -> dict[str, tuple[float | None, bool]]:
    """Metric -> (value, lower is better) from a CheckReport (objective values) or a LoadRun (its summary)."""
    try:
        return _report_values(doc, path)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise UsageError(f"{path}: not a valid {doc.get('kind')} document ({exc!r})") from None


def _report_values(doc: Mapping[str, Any], path: Path) -> dict[str, tuple[float | None, bool]]:
    kind = doc.get("kind")
    out: dict[str, tuple[float | None, bool]] = {}
    if kind == REPORT_KIND:
        for obj in doc.get("objectives", []):
            name = obj["name"] + (f" {{{obj['group']}}}" if obj.get("group") else "")
            bound = obj.get("objective") or {}
            out[name] = (obj.get("value"), "max" in bound or "min" not in bound)
        return out
    if kind == LOAD_RUN_KIND:
        run = runs.RunDocument.from_document(doc)
        for key, value in run.latency_seconds.items():
            out[f"run latency {key}"] = (value, True)
        out["run throughput"] = (run.rate.get("achieved"), False)
        out["run error ratio"] = (run.errors.get("ratio"), True)
        return out
    raise UsageError(f"{path}: kind {kind!r} is neither {REPORT_KIND}, {LOAD_RUN_KIND} nor {BASELINE_KIND}")


# ---- baselines ---------------------------------------------------------------------------------

BASELINE_MAX_SAMPLES = 20000  # per group; above it the stored sample is thinned to evenly spaced quantiles


def make_baseline(path_text: str, *, by: str = LABEL_IMPLEMENTATION, now: float | None = None) -> dict[str, Any]:
    """A Baseline document from a check report, a run.json or a run directory (samples embedded)."""
    import numpy as np

    source = load_source(path_text, by=by)
    groups: dict[str, Any] = {}
    for group, values in sorted(source.samples.items()):
        arr = np.sort(np.asarray(values, dtype=np.float64))
        thinned = len(arr) > BASELINE_MAX_SAMPLES
        kept = thin(arr, BASELINE_MAX_SAMPLES) if thinned else arr
        groups[group or "all"] = {"n": len(arr), "thinned": thinned,
                                  "values": [float(f"{v:.7g}") for v in kept]}
    if not groups and not source.values:
        raise UsageError(f"{path_text}: nothing to store in a baseline")
    return {
        "apiVersion": API_VERSION,
        "kind": BASELINE_KIND,
        "createdAt": iso(time.time() if now is None else now),
        "source": str(Path(path_text).resolve()),
        "groupedBy": by if groups else None,
        "processes": source.processes,
        "samples": groups,
        "values": {k: {"value": v, "lowerIsBetter": lower} for k, (v, lower) in source.values.items()},
    }


def baseline_source(doc: Mapping[str, Any], path: Path, *, by: str | None = None,
                    filters: Mapping[str, str] | None = None) -> Source:
    """The Source a Baseline document stands for."""
    try:
        return _baseline_source(doc, path, by=by, filters=filters)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise UsageError(f"{path}: not a valid {BASELINE_KIND} document ({exc!r})") from None


def _baseline_source(doc: Mapping[str, Any], path: Path, *, by: str | None,
                     filters: Mapping[str, str] | None) -> Source:
    if doc.get("apiVersion") != API_VERSION:
        raise UsageError(f"{path}: apiVersion {doc.get('apiVersion')!r} is not {API_VERSION}")
    samples: dict[str, Sample] = {g: [float(x) for x in v["values"]] for g, v in (doc.get("samples") or {}).items()}
    grouped = doc.get("groupedBy")
    if filters and grouped and set(filters) == {grouped}:
        samples = {g: v for g, v in samples.items() if g == filters[grouped]}
    elif filters:
        raise UsageError(f"{path}: a baseline can only be filtered on {grouped!r}")
    if by is None and samples:
        samples = {"": [x for v in samples.values() for x in v]}
    values = {k: (v.get("value"), bool(v.get("lowerIsBetter", True))) for k, v in (doc.get("values") or {}).items()}
    return Source(str(path), samples, values, processes=int(doc.get("processes") or 1))


# ---- two implementations of one run, from Prometheus -------------------------------------------

PROMETHEUS_MIN_INTERVALS = 20  # default guard for per-interval samples (a 5-minute run at 10 s gives 30)


def prometheus_samples(url: str, run_file: str, *, step: float, metric: str | None = None,
                       by: str | None = None, timeout: float = 10.0, job: str = SCRAPE_JOB) -> dict[str, list[float]]:
    """Mean latency per non-overlapping `step` interval of a run's window, per implementation.

    increase(_sum)/increase(_count) over [t - step, t] for t = start + step, start + 2 step, ...: one
    value per interval, and the intervals do not overlap, so the values are not the same data twice
    (overlapping rate windows would make neighbouring samples correlated and the tests overconfident).
    """
    metric = metric or AUTHZ_DURATION
    by = by or LABEL_IMPLEMENTATION
    window = runs.read_window(Path(run_file))
    if window.seconds < 2 * step:
        raise UsageError(f"{run_file}: a {window.seconds:g} s window holds fewer than two {step:g} s intervals")
    query = mean_latency_per_step(metric, [Matcher("job", "=", job)], [by], f"{step:g}s")
    with PrometheusClient.from_env(url, timeout=timeout) as client:
        result = client.range_query(query, window.start + step, window.end, step)
    groups: dict[str, list[float]] = {}
    for labels, points in result:
        values = [v for _, v in points if math.isfinite(v)]
        groups.setdefault(labels.get(by, ""), []).extend(values)
    return groups
