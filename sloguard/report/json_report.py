"""The versioned JSON check report (CLI contract: apiVersion sloguard/v1, kind CheckReport)."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

from sloguard.conventions import API_VERSION, CHECK_REPORT_JSON, REPORT_KIND
from sloguard.evaluate import CheckResult, Verdict
from sloguard.files import write_text_atomic
from sloguard.intervals import Interval
from sloguard.report.format import iso
from sloguard.spec.model import Bound

# Spelt in conventions: compare, baseline and the performance report look for it in a directory.
FILENAME = CHECK_REPORT_JSON


def to_document(result: CheckResult, *, exit_code: int, prometheus: str) -> dict[str, Any]:
    """The report as plain data, in the shape of the contract."""
    slo = result.slo_set
    return {
        "apiVersion": API_VERSION,
        "kind": REPORT_KIND,
        "verdict": result.status.value,
        "score": round(result.score, 3),
        "exitCode": exit_code,
        "spec": {"name": slo.name, "service": slo.service, "source": slo.source},
        "prometheus": prometheus,
        "generatedAt": iso(time.time()),
        "window": {
            "start": iso(result.window.start),
            "end": iso(result.window.end),
            "startUnix": result.window.start,
            "endUnix": result.window.end,
            "seconds": result.window.seconds,
        },
        "objectives": [_objective(v) for v in result.verdicts],
        **result.extra,
    }


def _objective(v: Verdict) -> dict[str, Any]:
    obj = v.objective
    return {
        "name": obj.name,
        "group": v.group,
        "labels": v.group_labels,
        "value": v.value,
        "status": v.status.value,
        "countsAs": v.counts_as.value,
        "reason": v.reason,
        "interval": _interval(v.interval),
        "withinNoise": v.within_noise,
        "decideOn": v.decided_on.value,
        "coverage": v.coverage.to_document() if v.coverage else None,
        "events": v.events,
        "query": v.queries.value,
        "eventsQuery": v.queries.events,
        "bucketsQuery": v.queries.buckets,
        "sli": type(obj.sli).__name__.removesuffix("SLI").lower(),
        "objective": _bound(obj.objective),
        "warning": _bound(obj.warning) if obj.warning else None,
        "key": obj.key,
        "weight": obj.weight,
        "description": obj.description,
    }


def _interval(interval: Interval | None) -> dict[str, Any] | None:
    """{low, high, level, method}; an unbounded end (a rank in the +Inf bucket) is null."""
    if interval is None:
        return None
    return {
        "low": interval.low if math.isfinite(interval.low) else None,
        "high": interval.high if math.isfinite(interval.high) else None,
        "level": interval.level,
        "method": interval.method,
    }


def _bound(bound: Bound) -> dict[str, float]:
    return {k: v for k, v in (("min", bound.min), ("max", bound.max)) if v is not None}


def write(document: dict[str, Any], directory: Path) -> Path:
    path = directory / FILENAME
    write_text_atomic(path, json.dumps(document, indent=2) + "\n")
    return path
