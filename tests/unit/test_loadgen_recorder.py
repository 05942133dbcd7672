"""Latency histogram, counts, raw-latency CSV filtering, and the service's decision counters."""

from __future__ import annotations

import csv
import random
from pathlib import Path

import pytest

from sloguard.load.recorder import Counts, Histogram, filter_window
from sloguard.load.service_metrics import parse_decisions
from sloguard.runs import LATENCY_COLUMNS, LatencyWriter


def exact_quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, -(-int(q * len(ordered) * 1_000_000) // 1_000_000) - 1)]


@pytest.mark.parametrize("q", [0.5, 0.9, 0.95, 0.99, 0.999])
def test_histogram_quantiles_within_one_percent(q: float) -> None:
    rng = random.Random(3)
    values = [rng.lognormvariate(-6, 1.2) for _ in range(20_000)]  # ~2.5 ms median, long tail
    h = Histogram()
    for v in values:
        h.add(v)
    exact = exact_quantile(values, q)
    assert exact <= h.quantile(q) <= exact * 1.0101  # upper bucket edge: never under-reported
    assert h.count == len(values) and h.max == max(values)


def test_histogram_merge_and_empty() -> None:
    a, b = Histogram(), Histogram()
    assert a.quantile(0.5) != a.quantile(0.5)  # NaN when empty
    for v in (0.001, 0.002):
        a.add(v)
    b.add(0.5)
    a.merge(b)
    assert a.count == 3 and a.quantile(1.0) == 0.5


def test_counts_classify_statuses() -> None:
    c = Counts()
    for status in (200, 200, 401, 422, 503, 0):
        c.sent += 1
        c.add_result(status, "rust" if status == 200 else "", 0.001)
    c.dropped = 4
    assert (c.ok, c.client_errors, c.server_errors, c.transport_errors) == (2, 2, 1, 1)
    assert c.errors == 8 and c.error_ratio() == pytest.approx(8 / 10)
    assert c.summary(2.0)["implementations"] == {"python": 0, "rust": 2}


def test_filter_window_keeps_rows_intended_inside(tmp_path: Path) -> None:
    raw = tmp_path / "raw.csv"
    writer = LatencyWriter(raw, block=3)
    for i in range(10):
        writer.write(100.0 + i, 100.0 + i, 0.01 * (i + 1), "rust" if i % 2 else "python", 200 if i != 5 else 503,
                     "read")
    writer.close()
    counts = filter_window([raw], tmp_path / "out.csv", start=102.0, end=106.0)
    with (tmp_path / "out.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert tuple(rows[0]) == LATENCY_COLUMNS
    assert [float(r["intended_send_time"]) for r in rows] == [102.0, 103.0, 104.0, 105.0, 106.0]
    assert counts.sent == 5 and counts.server_errors == 1 and counts.ok == 4


EXPOSITION = """\
# HELP sark_authz_requests_total Authorization decisions
# TYPE sark_authz_requests_total counter
sark_authz_requests_total{decision="allow",implementation="rust"} 120.0
sark_authz_requests_total{decision="error",implementation="python",otel_scope_name="sark"} 7.0
sark_authz_requests_total{implementation="python",decision="deny"} 3
sark_authz_requests_total_created{decision="allow",implementation="rust"} 1.7e9
sark_authz_duration_seconds_count{decision="allow",implementation="rust",cache="hit"} 120
"""


def test_parse_decisions_sums_by_implementation_and_decision() -> None:
    assert parse_decisions(EXPOSITION) == {("rust", "allow"): 120.0, ("python", "error"): 7.0,
                                           ("python", "deny"): 3.0}  # fmt: skip
