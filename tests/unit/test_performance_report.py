"""The performance report's pieces on files the test writes: discovery, series, charts, no-data sections."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from sloguard.errors import UsageError
from sloguard.report import svg
from sloguard.report.html import write_report
from sloguard.report.perfdata import bin_seconds, load, percentile_series, rate_series
from sloguard.report.performance import SECTIONS


def write_run(d: Path, rng: np.random.Generator, seconds: int = 120, rate: int = 50) -> None:
    d.mkdir(parents=True)
    t0 = 1_800_000_000.0
    lines = ["intended_send_time,actual_send_time,latency_seconds,implementation,status,kind"]
    for i in range(seconds * rate):
        impl = "rust" if i % 2 else "python"
        lat = rng.lognormal(np.log(0.001 if impl == "rust" else 0.004), 0.3)
        status = 503 if i % 100 == 0 else 200
        lines.append(f"{t0 + i / rate:.6f},{t0 + i / rate:.6f},{lat:.7f},{impl},{status},read")
    (d / "latencies.csv").write_text("\n".join(lines) + "\n")
    (d / "run.json").write_text(json.dumps({
        "apiVersion": "sloguard/v1", "kind": "LoadRun", "profile": {"name": "unit"}, "mode": "open-loop",
        "window": {"start": t0, "end": t0 + seconds, "seconds": seconds},
        "rate": {"requested": rate, "achieved": rate}, "requests": {"completed": seconds * rate},
        "errors": {"total": seconds * rate // 100, "ratio": 0.01}, "rollout": {"observed_percent_rust": 50.0},
    }))  # fmt: skip


def test_bins_and_series_are_computed_from_the_records(tmp_path: Path) -> None:
    write_run(tmp_path / "run", np.random.default_rng(1))
    data = load([tmp_path])
    (run,) = data.loads
    lat = run.latencies
    assert lat is not None and lat.implementations == ["python", "rust"]
    assert bin_seconds(120) == 2.0 and bin_seconds(3600) == 60.0
    series = {s.name: s for s in percentile_series(lat)}
    assert set(series) == {"python p50", "python p95", "rust p50", "rust p95"}
    assert 3.0 < float(np.median(series["python p50"].y)) < 5.0  # ms, around the 4 ms median written
    throughput, errors = rate_series(lat)
    total = next(s for s in throughput if s.name == "total")
    assert all(v == pytest.approx(50.0) for v in total.y)  # 50 requests a second, every full bin
    assert float(np.mean(errors[0].y)) == pytest.approx(0.01, abs=0.002)  # every 100th answered 503


def test_report_with_only_a_load_run_says_which_sections_have_no_data(tmp_path: Path) -> None:
    write_run(tmp_path / "run", np.random.default_rng(2))
    html_path = write_report([tmp_path], tmp_path / "out")
    md = (tmp_path / "out" / "performance-report.md").read_text()
    assert re.findall(r"^## (.+)$", md, re.M) == list(SECTIONS)
    for section in ("Policy engine", "Cache", "Stress", "Memory"):
        body = md.split(f"## {section}\n")[1].split("\n## ")[0]
        assert "**No data:**" in body, section
    html = html_path.read_text()
    assert 'data-chart="latency-percentiles"' in html and 'data-series="rust p95"' in html
    assert "Rust" in md.split("## Executive summary")[1].split("## ")[0]


def test_nothing_to_report_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"no run\.json"):
        load([tmp_path])


def test_charts_without_points_say_no_data() -> None:
    assert "no data" in svg.line_chart([], x_label="x", y_label="y", title="t")
    assert "no data" in svg.bar_chart([], [], title="t", x_label="x")
    drawn = svg.bar_chart(["a", "b"], [50.0, 150.0], title="t", x_label="x", limit=100.0)
    assert drawn.count('class="bar"') == 2 and "#e03131" in drawn  # the bar over the limit is red
