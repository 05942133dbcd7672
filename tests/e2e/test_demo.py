"""`sloguard demo` end to end: a clean run passes; each injected fault fails the objective it targets."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from sloguard.conventions import BINARIES
from sloguard.processes import pid_alive
from tests.processes import find_binary, missing_binary_message

pytestmark = pytest.mark.e2e

for _key in ("redis", "prometheus", "alertmanager"):
    if find_binary(BINARIES[_key][0]) is None:
        pytestmark = [pytest.mark.e2e, pytest.mark.skip(reason=missing_binary_message(BINARIES[_key][0]))]


def run_demo(out: Path, *args: str) -> tuple[int, dict, str]:
    result = subprocess.run([sys.executable, "-m", "sloguard", "demo", "--output-dir", str(out), *args],
                            capture_output=True, text=True, timeout=600)
    report_file = out / "reports" / "sloguard-report.json"
    assert report_file.exists(), result.stdout[-3000:] + result.stderr[-3000:]
    stack_state = json.loads((out / "stack" / "stack.stopped.json").read_text())
    left = [c["name"] for c in stack_state["components"].values() if pid_alive(c["pid"])]
    assert not left, f"demo left processes running: {left}"
    return result.returncode, json.loads(report_file.read_text()), result.stdout


def failing(report: dict) -> set[tuple[str, str]]:
    return {(o["name"], o["group"]) for o in report["objectives"] if o["countsAs"] == "fail"}


def test_a_clean_demo_passes_and_writes_every_report(tmp_path: Path) -> None:
    code, report, stdout = run_demo(tmp_path)
    assert code == 0, f"clean demo failed: {failing(report)}\n{stdout[-3000:]}"
    assert report["verdict"] in ("pass", "warn")
    groups = {o["group"] for o in report["objectives"] if o["name"] == "opa-p95-latency"}
    assert groups == {"implementation=rust", "implementation=python"}, "both paths must have carried traffic"
    for name in ("sloguard-junit.xml", "sloguard-summary.md"):
        assert (tmp_path / "reports" / name).stat().st_size > 0
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run["window"]["end"] == pytest.approx(report["window"]["endUnix"], abs=0.01)


def test_injected_rust_latency_fails_the_rust_latency_objectives_only(tmp_path: Path) -> None:
    code, report, _ = run_demo(tmp_path, "--inject", "latency=rust:20ms")
    assert code == 1
    bad = failing(report)
    assert ("opa-p95-latency", "implementation=rust") in bad
    assert {name for name, group in bad} <= {"opa-p95-latency", "authz-within-5ms"}
    assert all(group == "implementation=rust" for _, group in bad), bad


def test_injected_python_errors_fail_the_python_error_rate(tmp_path: Path) -> None:
    code, report, _ = run_demo(tmp_path, "--inject", "errors=python:5%")
    assert code == 1
    assert failing(report) == {("authz-error-rate", "implementation=python")}
    [python] = [o for o in report["objectives"]
                if o["name"] == "authz-error-rate" and o["group"] == "implementation=python"]
    assert 0.02 < python["value"] < 0.10  # 5 % injected, a binomial sample of ~1,000 requests


def test_an_injected_leak_fails_memory_growth_on_a_run_long_enough_to_see_it(tmp_path: Path) -> None:
    code, report, _ = run_demo(tmp_path, "--inject", "leak=rust:64KiB", "--duration", "60s")
    assert code == 1
    assert ("memory-growth", "") in failing(report)
    [growth] = [o for o in report["objectives"] if o["name"] == "memory-growth"]
    assert growth["status"] == "fail" and growth["value"] > 1024 * 1024
