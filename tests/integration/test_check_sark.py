"""The repository's sloguard.yaml (SARK's SLOs) against SARK-shaped data in a real Prometheus."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.clirun import run_sloguard
from tests.support.promdata import Window
from tests.support.promharness import PrometheusServer
from tests.support.sarkdata import SarkData, build_sark_data

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def sark() -> SarkData:
    return build_sark_data(Window.hours_ago(5))


@pytest.fixture(scope="module")
def prom(backfill_prometheus, sark: SarkData) -> PrometheusServer:
    return backfill_prometheus(sark.openmetrics)


def test_sark_spec_passes_with_the_expected_values(prom: PrometheusServer, sark: SarkData, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run_sloguard(
        "check", "-f", str(ROOT / "sloguard.yaml"), "--prometheus", prom.url,
        "--start", str(sark.window.start), "--end", str(sark.window.end),
        "--format", "table,json,junit,markdown", "--output-dir", str(out),
    )  # fmt: skip
    assert result.returncode == 0, result.describe()
    report = json.loads((out / "sloguard-report.json").read_text())
    assert report["verdict"] == "pass"
    got = {(o["name"], o["group"]): o for o in report["objectives"]}
    assert set(got) == set(sark.expected)
    for key, value in sark.expected.items():
        assert got[key]["status"] == "pass", got[key]
        assert got[key]["value"] == pytest.approx(value, rel=1e-9), key
    # The table names every objective; the other formats were written.
    for name in {name for name, _ in sark.expected}:
        assert name in result.stdout
    assert any(p.suffix == ".xml" for p in out.iterdir()) and any(p.suffix == ".md" for p in out.iterdir())


def test_last_window_with_no_recent_data_is_no_data(prom: PrometheusServer, tmp_path: Path) -> None:
    """`--last 10m` ends now; the backfilled data is hours old, so every objective is no_data -> exit 1."""
    result = run_sloguard(
        "check", "-f", str(ROOT / "sloguard.yaml"), "--prometheus", prom.url, "--last", "10m",
        "--format", "json", "--output-dir", str(tmp_path),
    )  # fmt: skip
    assert result.returncode == 1, result.describe()
    report = json.loads((tmp_path / "sloguard-report.json").read_text())
    assert {o["status"] for o in report["objectives"]} == {"no_data"}
