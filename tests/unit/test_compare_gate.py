"""compare's gate: a statistic it cannot judge makes the gate INCONCLUSIVE, and --inconclusive decides the exit."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from sloguard.compare import CompareSettings, Comparison, Gate, InconclusivePolicy, compare_samples, compare_values
from tests.support.clirun import run_sloguard

MEDIAN = 0.004


def write_csv(path: Path, values: np.ndarray) -> Path:
    path.write_text("latency_seconds\n" + "".join(f"{v:.9f}\n" for v in values))
    return path


@pytest.fixture
def tiny(tmp_path: Path) -> tuple[str, str]:
    """5 vs 5 requests, the experiment twice as slow: too few to judge, however large the difference."""
    rng = np.random.default_rng(14)
    control = write_csv(tmp_path / "control.csv", rng.lognormal(np.log(MEDIAN), 0.1, 5))
    experiment = write_csv(tmp_path / "experiment.csv", 2 * rng.lognormal(np.log(MEDIAN), 0.1, 5))
    return str(control), str(experiment)


def test_tiny_samples_exit_1_by_default_and_say_inconclusive(tiny: tuple[str, str], tmp_path: Path) -> None:
    control, experiment = tiny
    out, md = tmp_path / "cmp.json", tmp_path / "cmp.md"
    res = run_sloguard("compare", "--control", control, "--experiment", experiment, "--json", str(out),
                       "--markdown", str(md), unset=("COLUMNS",))
    assert res.returncode == 1, res.describe()
    assert "gate: INCONCLUSIVE" in res.stdout, res.describe()
    assert "PASS" not in res.stdout
    assert "too few samples: 5 control, 5 experiment" in res.stdout
    doc = json.loads(out.read_text())
    assert doc["verdict"] == "inconclusive" and doc["exitCode"] == 1
    assert doc["settings"]["inconclusive"] == "fail"
    assert {s["verdict"] for s in doc["metrics"][0]["statistics"]} == {"inconclusive"}
    summary = md.read_text()
    assert "INCONCLUSIVE" in summary and "too few samples" in summary
    assert "| latency | 5/5 | median |" in summary


def test_inconclusive_pass_and_warn_exit_0_and_still_say_inconclusive(tiny: tuple[str, str], tmp_path: Path) -> None:
    control, experiment = tiny
    for policy in ("pass", "warn"):
        out = tmp_path / f"{policy}.json"
        res = run_sloguard("compare", "--control", control, "--experiment", experiment, "--inconclusive", policy,
                           "--json", str(out), unset=("COLUMNS",))
        assert res.returncode == 0, res.describe()
        assert "gate: INCONCLUSIVE" in res.stdout, res.describe()
        doc = json.loads(out.read_text())
        assert doc["verdict"] == "inconclusive" and doc["exitCode"] == 0
        assert doc["settings"]["inconclusive"] == policy
    bad = run_sloguard("compare", "--control", control, "--experiment", experiment, "--inconclusive", "maybe")
    assert bad.returncode == 2 and "--inconclusive" in bad.stderr, bad.describe()


def comparison(*metrics, policy: InconclusivePolicy = InconclusivePolicy.FAIL) -> Comparison:
    return Comparison("a", "b", CompareSettings(inconclusive=policy), tuple(metrics))


def test_a_regression_fails_whatever_the_policy_and_a_clear_answer_passes() -> None:
    rng = np.random.default_rng(3)
    slower = compare_samples("latency", rng.lognormal(np.log(MEDIAN), 0.5, 3000),
                             1.5 * rng.lognormal(np.log(MEDIAN), 0.5, 3000))
    few = compare_samples("latency", rng.lognormal(np.log(MEDIAN), 0.5, 5), rng.lognormal(np.log(MEDIAN), 0.5, 5))
    same = compare_values("throughput", 100.0, 101.0, lower_is_better=False)
    for policy in InconclusivePolicy:
        assert comparison(slower, few, policy=policy).gate is Gate.FAIL
        assert comparison(slower, few, policy=policy).fails
        assert comparison(same, policy=policy).gate is Gate.PASS
        assert not comparison(same, policy=policy).fails
    assert comparison(same, few).gate is Gate.INCONCLUSIVE
    assert comparison(same, few).fails
    assert not comparison(same, few, policy=InconclusivePolicy.WARN).fails
    assert not comparison(same, few, policy=InconclusivePolicy.PASS).fails
    # A missing value cannot be judged either.
    missing = compare_values("p95", 0.004, None, lower_is_better=True)
    assert comparison(missing).gate is Gate.INCONCLUSIVE and comparison(missing).fails
