"""`sloguard baseline save` and `sloguard check --baseline` against a real Prometheus on SARK-shaped data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from sloguard.compare import CompareSettings
from tests.support.clirun import run_sloguard
from tests.support.promdata import Window
from tests.support.promharness import PrometheusServer
from tests.support.sarkdata import AUTHZ_PER_STEP, SarkData, build_sark_data

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def sark() -> SarkData:
    return build_sark_data(Window.hours_ago(6))


@pytest.fixture(scope="module")
def prom(backfill_prometheus, sark: SarkData) -> PrometheusServer:
    return backfill_prometheus(sark.openmetrics)


def check(prom: PrometheusServer, sark: SarkData, out: Path, *extra: str, run: Path | None = None):
    window = ["--run", str(run / "run.json")] if run else [
        "--start", str(sark.window.start), "--end", str(sark.window.end)]
    return run_sloguard(
        "check", "-f", str(ROOT / "sloguard.yaml"), "--prometheus", prom.url, *window,
        "--format", "json", "--output-dir", str(out), *extra,
    )  # fmt: skip


def run_dir(path: Path, sark: SarkData, scale: float, seed: int) -> Path:
    """A run directory as `sloguard load run` leaves it: run.json (the window) and latencies.csv."""
    path.mkdir(parents=True)
    (path / "run.json").write_text(json.dumps({
        "apiVersion": "sloguard/v1", "kind": "LoadRun",
        "window": {"start": sark.window.start, "end": sark.window.end, "seconds": sark.window.seconds},
        "latency_seconds": {"p50": 0.003, "p95": 0.006}, "rate": {"achieved": 100.0}, "errors": {"ratio": 0.0},
    }))  # fmt: skip
    rng = np.random.default_rng(seed)
    lines = ["intended_send_time,actual_send_time,latency_seconds,implementation,status,kind"]
    for impl, median in (("rust", 0.001), ("python", 0.004)):
        for v in rng.lognormal(np.log(median), 0.5, 3000) * scale:
            lines.append(f"0,0,{v:.7f},{impl},200,read")
    (path / "latencies.csv").write_text("\n".join(lines) + "\n")
    return path


def test_baseline_from_a_check_report_compares_objective_values_as_bare_ratios(
    prom: PrometheusServer, sark: SarkData, tmp_path: Path
) -> None:
    first = check(prom, sark, tmp_path / "main")
    assert first.returncode == 0, first.describe()
    saved = run_sloguard("baseline", "save", str(tmp_path / "main" / "sloguard-report.json"),
                         "-o", str(tmp_path / "baseline.json"))
    assert saved.returncode == 0, saved.describe()
    baseline = json.loads((tmp_path / "baseline.json").read_text())
    assert baseline["kind"] == "Baseline" and len(baseline["values"]) == len(sark.expected)

    # Same data, same values: passes, and the report says the test was a bare ratio.
    same = check(prom, sark, tmp_path / "same", "--baseline", str(tmp_path / "baseline.json"))
    assert same.returncode == 0, same.describe()
    report = json.loads((tmp_path / "same" / "sloguard-report.json").read_text())
    assert report["baseline"]["verdict"] == "pass"
    assert any("bare ratios" in n for n in report["baseline"]["notes"])
    assert "bare ratios" in same.stdout

    # A baseline whose p95 values were 30 % lower: now p95 grew ~43 % -> the check fails.
    for key, entry in baseline["values"].items():
        if key.startswith("opa-p95-latency"):
            entry["value"] *= 0.7
    (tmp_path / "faster-baseline.json").write_text(json.dumps(baseline))
    worse = check(prom, sark, tmp_path / "worse", "--baseline", str(tmp_path / "faster-baseline.json"))
    assert worse.returncode == 1, worse.describe()
    report = json.loads((tmp_path / "worse" / "sloguard-report.json").read_text())
    assert report["verdict"] == "fail"
    failing = {m["metric"] for m in report["baseline"]["metrics"] if m["gateFails"]}
    assert failing and all(name.startswith("opa-p95-latency") for name in failing)
    # Every objective of its own still passed: the failure is the relative criterion.
    assert {o["status"] for o in report["objectives"]} == {"pass"}


def test_baseline_with_raw_latencies_uses_the_statistics(
    prom: PrometheusServer, sark: SarkData, tmp_path: Path
) -> None:
    main = run_dir(tmp_path / "main", sark, 1.0, seed=1)
    saved = run_sloguard("baseline", "save", str(main), "-o", str(tmp_path / "baseline.json"))
    assert saved.returncode == 0, saved.describe()
    assert "rust: 3000" in saved.stdout and "python: 3000" in saved.stdout

    same = run_dir(tmp_path / "same", sark, 1.0, seed=2)
    # Same build, other processes: 3,000 requests a side cannot rule out a 10 % regression. An
    # inconclusive gate is not a pass unless the user says so.
    unsure = check(prom, sark, tmp_path / "unsure", "--baseline", str(tmp_path / "baseline.json"), run=same)
    assert unsure.returncode == 1 and "INCONCLUSIVE" in unsure.stdout, unsure.describe()
    assert json.loads((tmp_path / "unsure" / "sloguard-report.json").read_text())["verdict"] == "fail"
    warned = check(prom, sark, tmp_path / "warned", "--baseline", str(tmp_path / "baseline.json"), "--inconclusive",
                   "warn", run=same)
    assert warned.returncode == 0 and "inconclusive" in warned.stdout, warned.describe()
    ok = check(prom, sark, tmp_path / "ok", "--baseline", str(tmp_path / "baseline.json"), "--inconclusive", "pass",
               run=same)
    assert ok.returncode == 0, ok.describe()
    doc = json.loads((tmp_path / "ok" / "sloguard-report.json").read_text())["baseline"]
    assert {m["metric"] for m in doc["metrics"]} == {"latency {python}", "latency {rust}"}
    # Baseline and this run were served by different processes: their spread is in the intervals.
    assert {m["statistics"][0]["test"].split(" (")[0] for m in doc["metrics"]} == {
        f"bootstrap+mann-whitney + process spread {CompareSettings().process_noise:.1%}"}
    assert {m["statistics"][0]["statistic"] for m in doc["metrics"]} == {"p95"}

    slow = run_dir(tmp_path / "slow", sark, 1.3, seed=3)
    bad = check(prom, sark, tmp_path / "bad", "--baseline", str(tmp_path / "baseline.json"), run=slow)
    assert bad.returncode == 1, bad.describe()
    doc = json.loads((tmp_path / "bad" / "sloguard-report.json").read_text())["baseline"]
    assert all(m["gateFails"] and m["statistics"][0]["verdict"] == "slower" for m in doc["metrics"])
    assert all(m["pValue"] < 0.01 for m in doc["metrics"])


def test_a_file_that_is_not_a_baseline_is_a_usage_error(prom: PrometheusServer, sark: SarkData, tmp_path: Path) -> None:
    (tmp_path / "x.json").write_text('{"kind": "CheckReport"}')
    res = check(prom, sark, tmp_path, "--baseline", str(tmp_path / "x.json"))
    assert res.returncode == 2 and "not a baseline" in res.stderr, res.describe()


def test_compare_two_implementations_from_prometheus_per_interval(
    prom: PrometheusServer, sark: SarkData, tmp_path: Path
) -> None:
    """Per 2-minute interval mean latency (increase of _sum / _count) of each path, from the backfilled run."""
    run = run_dir(tmp_path / "run", sark, 1.0, seed=4)
    out = tmp_path / "cmp.json"
    res = run_sloguard("compare", "--prometheus", prom.url, "--run", str(run / "run.json"), "--step", "2m",
                       "--json", str(out))
    assert res.returncode == 0, res.describe()
    doc = json.loads(out.read_text())
    (metric,) = doc["metrics"]
    assert metric["metric"] == "mean latency per 120 s interval"
    assert metric["nControl"] == metric["nExperiment"] == sark.window.seconds // 120
    # Expected interval means from the generator's per-step observations (each at its bucket bound).
    rust = sum(b * n for b, n in AUTHZ_PER_STEP["rust"].items()) / sum(AUTHZ_PER_STEP["rust"].values())
    python = sum(b * n for b, n in AUTHZ_PER_STEP["python"].items()) / sum(AUTHZ_PER_STEP["python"].values())
    median = metric["statistics"][0]
    assert median["control"] == pytest.approx(python, rel=1e-4)
    assert median["experiment"] == pytest.approx(rust, rel=1e-4)
    assert median["verdict"] == "faster"
    # Fewer intervals than the guard: inconclusive, and it says why; the gate cannot judge, so it fails
    # (unless --inconclusive says otherwise).
    few = run_sloguard("compare", "--prometheus", prom.url, "--run", str(run / "run.json"), "--step", "10m",
                       "--json", str(out))
    assert few.returncode == 1 and "gate: INCONCLUSIVE" in few.stdout, few.describe()
    assert json.loads(out.read_text())["metrics"][0]["statistics"][0]["verdict"] == "inconclusive"
    lenient = run_sloguard("compare", "--prometheus", prom.url, "--run", str(run / "run.json"), "--step", "10m",
                           "--inconclusive", "pass")
    assert lenient.returncode == 0, lenient.describe()
