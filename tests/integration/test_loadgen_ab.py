"""`sloguard load ab` against two real service processes, and `sloguard compare` on what it wrote.

One redis-server and policy server, two processes of the reference service (an A/A pair)
and a third with 3 ms of added policy latency (a regression far larger than the noise, so
the verdict does not depend on how busy the machine is).
"""

from __future__ import annotations

import csv
import json
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from sloguard.load.procs import Target
from sloguard.stackstate import Component
from tests.support.clirun import run_sloguard
from tests.support.processes import interrupt_when

RATE = 50.0  # per side


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server not installed (Debian package redis-server)")
    with Target.start(tmp_path_factory.mktemp("ab-target")) as t:
        yield t


@pytest.fixture(scope="module")
def twin(target: Target) -> Component:
    return target.add_service("service-b")


@pytest.fixture(scope="module")
def replicas(target: Target, twin: Component) -> list[Component]:
    """Two more processes of the same build: with target and twin, two replicas a side."""
    return [target.add_service("service-c"), target.add_service("service-d")]


@pytest.fixture(scope="module")
def slow(target: Target) -> Component:
    return target.add_service("service-slow", "--inject-latency", "rust:3ms", "--inject-latency", "python:3ms")


def ab(target: Target, out: Path, duration: str, control: list[str], experiment: list[str]) -> None:
    sides = [arg for url in control for arg in ("--control", url)] + \
        [arg for url in experiment for arg in ("--experiment", url)]
    res = run_sloguard("load", "ab", "quick", *sides, "--rate", f"{RATE:g}", "--warmup", "2s", "--duration", duration,
                       "--no-progress", "--admin-token", target.admin_token, "--output-dir", str(out), timeout=120)
    assert res.returncode == 0, res.describe()


def read(out: Path, role: str) -> tuple[dict, list[dict[str, str]]]:
    doc = json.loads((out / role / "run.json").read_text())
    with (out / role / "latencies.csv").open() as fh:
        return doc, list(csv.DictReader(fh))


def test_each_side_gets_the_rate_split_over_its_replicas_on_interleaved_schedules(
    target: Target, twin: Component, replicas: list[Component], tmp_path: Path
) -> None:
    out = tmp_path / "ab"
    control_urls, experiment_urls = [target.url, replicas[0].url], [twin.url, replicas[1].url]
    ab(target, out, "12s", control_urls, experiment_urls)
    (control, c_rows), (experiment, e_rows) = read(out, "control"), read(out, "experiment")
    assert control["interleaved"]["pair"] == experiment["interleaved"]["pair"]
    assert (control["interleaved"]["role"], experiment["interleaved"]["role"]) == ("control", "experiment")
    assert (control["interleaved"]["targets"], experiment["interleaved"]["targets"]) == (control_urls, experiment_urls)
    for doc, rows, urls in ((control, c_rows, control_urls), (experiment, e_rows, experiment_urls)):
        assert doc["requests"]["scheduled"] == len(rows) == round(RATE * 12)
        assert doc["errors"]["total"] == 0 and {r["status"] for r in rows} == {"200"}
        # Every replica answered half of its side (the `target` column), and its own /metrics counted
        # them: had a side's requests gone elsewhere, some replica would count none. /metrics is
        # polled every 5 s, so that count is coarse.
        assert {u: sum(r["target"] == u for r in rows) for u in urls} == {u: len(rows) // 2 for u in urls}
        decided = sum(n for per_impl in doc["service"]["decisions"].values() for n in per_impl.values())
        assert 0.5 * len(rows) <= decided <= 1.5 * len(rows), doc["service"]
    # The four schedules take turns: control 1, experiment 1, control 2, experiment 2, a quarter of
    # a replica's interval apart (each replica gets RATE / 2).
    first = min(float(r["intended_send_time"]) for r in c_rows)
    interval = 2 / RATE
    for rows, urls, offsets in ((c_rows, control_urls, (0, 2)), (e_rows, experiment_urls, (1, 3))):
        for url, k in zip(urls, offsets, strict=True):
            t = np.array([float(r["intended_send_time"]) for r in rows if r["target"] == url])
            # Distance from the expected phase, on the circle of one interval (0 and `interval` meet).
            off = np.mod(t - first - k * interval / 4 + interval / 2, interval) - interval / 2
            assert np.all(np.abs(off) < 0.0011), (url, sorted(set(np.round(off, 4))))
    # compare recognises the pair and uses its calibrated method; 12 s is too short for 10 s blocks,
    # so the gate is inconclusive, which fails by default.
    res = run_sloguard("compare", "--control", str(out / "control"), "--experiment", str(out / "experiment"),
                       "--json", str(tmp_path / "cmp.json"))
    assert res.returncode == 1 and "gate: INCONCLUSIVE" in res.stdout, res.describe()
    cmp_doc = json.loads((tmp_path / "cmp.json").read_text())
    assert cmp_doc["verdict"] == "inconclusive"
    assert cmp_doc["settings"]["blockSeconds"] == 10.0
    stats = cmp_doc["metrics"][0]["statistics"]
    assert all(s["verdict"] == "inconclusive" and "need 3" in s["reason"] for s in stats), stats
    assert all("(2 vs 2 processes)" in s["test"] for s in stats), stats


def test_a_real_regression_is_detected_with_paired_blocks(target: Target, slow: Component, tmp_path: Path) -> None:
    out = tmp_path / "ab"
    ab(target, out, "12s", [target.url], [slow.url])
    res = run_sloguard("compare", "--control", str(out / "control"), "--experiment", str(out / "experiment"),
                       "--block", "2s", "--json", str(tmp_path / "cmp.json"))
    assert res.returncode == 1, res.describe()
    stats = json.loads((tmp_path / "cmp.json").read_text())["metrics"][0]["statistics"]
    median = next(s for s in stats if s["statistic"] == "median")
    assert median["test"].startswith("paired block bootstrap") and median["verdict"] == "slower", stats
    # 3 ms on top of each decision: the experiment's median is at least 3 ms above the control's.
    assert median["experiment"] - median["control"] >= 0.003 * 0.95


def test_the_same_url_twice_or_unequal_replicas_are_refused(target: Target, twin: Component, tmp_path: Path) -> None:
    res = run_sloguard("load", "ab", "quick", "--control", target.url, "--experiment", target.url,
                       "--output-dir", str(tmp_path))
    assert res.returncode == 2 and res.stderr.count("\n") == 1 and "given twice" in res.stderr, res.describe()
    res = run_sloguard("load", "ab", "quick", "--control", target.url, "--experiment", twin.url,
                       "--experiment", "http://127.0.0.1:9", "--output-dir", str(tmp_path))
    assert res.returncode == 2 and res.stderr.count("\n") == 1 and "as many" in res.stderr, res.describe()
    assert not (tmp_path / "control").exists()


def test_ctrl_c_writes_both_sides_partial_results(target: Target, twin: Component, tmp_path: Path) -> None:
    out = tmp_path / "ab"

    def recorded() -> bool:  # steady-state rows on both sides
        files = [out / role / "latencies.csv" for role in ("control", "experiment")]
        return all(f.exists() and f.stat().st_size > 3000 for f in files)

    code, stderr = interrupt_when(
        [sys.executable, "-m", "sloguard", "load", "ab", "quick", "--control", target.url, "--experiment", twin.url,
         "--rate", "40", "--warmup", "1s", "--duration", "120s", "--output-dir", str(out), "--no-progress",
         "--admin-token", target.admin_token], recorded)
    assert code == 130, stderr
    for role in ("control", "experiment"):
        doc, rows = read(out, role)
        assert doc["interrupted"] is True and doc["window"]["seconds"] < 120
        outside = [r for r in rows
                   if not doc["window"]["start"] <= float(r["intended_send_time"]) <= doc["window"]["end"]]
        assert rows and not outside, (doc["window"], outside[:3])
