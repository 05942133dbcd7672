"""The open-loop generator against the real service: it holds the requested rate, and its latencies
include the time requests wait behind a stalled target (no coordinated omission).

The target is stalled with SIGSTOP/SIGCONT of its process.
"""

from __future__ import annotations

import csv
import os
import shutil
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sloguard.load.openloop import OpenLoopGenerator, OpenLoopResult, Phase, run_open_loop
from sloguard.load.procs import Target
from sloguard.load.workload import WORKLOADS, http_source
from sloguard.runs import LatencyWriter


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server not installed (Debian package redis-server)")
    with Target.start(tmp_path_factory.mktemp("target")) as t:
        yield t


def run(target: Target, path: Path, phases: list[Phase], **kwargs: object) -> tuple[OpenLoopResult,
                                                                                  list[dict[str, float]]]:
    writer = LatencyWriter(path)
    source = http_source(WORKLOADS["ReadHeavyUser"](seed=1), target.url.split("//")[1])
    try:
        result = run_open_loop(OpenLoopGenerator(target.url, source, writer=writer, **kwargs), phases)  # type: ignore[arg-type]
    finally:
        writer.close()
    with path.open() as fh:
        rows = [{k: float(v) if k != "implementation" and k != "kind" else v for k, v in r.items()}
                for r in csv.DictReader(fh)]  # type: ignore[misc]
    return result, rows


def stall(pid: int, after: float, seconds: float, marks: dict[str, float]) -> threading.Thread:
    def pause() -> None:
        time.sleep(after)
        marks["stop"] = time.time()
        os.kill(pid, signal.SIGSTOP)
        try:
            time.sleep(seconds)
        finally:
            marks["cont"] = time.time()
            os.kill(pid, signal.SIGCONT)

    thread = threading.Thread(target=pause, daemon=True)
    thread.start()
    return thread


def test_holds_the_requested_rate(target: Target, tmp_path: Path) -> None:
    rate, seconds = 150.0, 8.0
    result, rows = run(target, tmp_path / "lat.csv", [Phase("warmup", rate, 1.0, measured=False),
                                                      Phase("steady", rate, seconds)])  # fmt: skip
    start, end = result.window()  # type: ignore[misc]
    # Intended sends: exactly rate x duration. Actual sends inside the window, per second: the
    # scheduler's fidelity, from the recorded send times.
    assert len(rows) == result.measured()[0].counts.scheduled == round(rate * seconds)
    sent_in_window = sum(1 for r in rows if start <= r["actual_send_time"] <= end)
    achieved = sent_in_window / (end - start)
    assert achieved == pytest.approx(rate, rel=0.02)
    assert all(r["status"] == 200 for r in rows)


def test_latency_includes_the_stall(target: Target, tmp_path: Path) -> None:
    pause = 1.0
    marks: dict[str, float] = {}
    thread = stall(target.service_pid, after=2.0, seconds=pause, marks=marks)
    result, rows = run(target, tmp_path / "lat.csv", [Phase("warmup", 100, 0.5, measured=False),
                                                      Phase("steady", 100, 4.0)])  # fmt: skip
    thread.join()
    during = [r for r in rows if marks["stop"] + 0.05 <= r["intended_send_time"] <= marks["cont"] - 0.05]
    assert len(during) >= 50
    for r in during:
        # Sent on schedule although the target answered nothing (open loop) ...
        assert r["actual_send_time"] - r["intended_send_time"] < 0.25
        # ... and no answer could come before the target resumed: the wait is in the latency.
        assert r["latency_seconds"] >= marks["cont"] - r["intended_send_time"] - 0.02
    assert max(r["latency_seconds"] for r in rows) >= 0.9 * pause
    assert all(r["status"] == 200 for r in rows)
    assert result.steady_counts().errors == 0


def test_excess_over_the_in_flight_cap_is_counted_never_hidden(target: Target, tmp_path: Path) -> None:
    marks: dict[str, float] = {}
    thread = stall(target.service_pid, after=1.0, seconds=1.0, marks=marks)
    result, rows = run(target, tmp_path / "lat.csv", [Phase("steady", 100, 3.0)], max_in_flight=4, max_backlog=8)
    thread.join()
    counts = result.steady_counts()
    assert counts.dropped > 0
    # Every intended request is accounted for: sent (and answered or failed) or dropped.
    assert counts.scheduled == counts.sent + counts.dropped == 300
    assert counts.sent == counts.completed + counts.transport_errors == len(rows)
    # Requests that waited in the backlog were late, and their wait is in their latency.
    late = [r for r in rows if r["actual_send_time"] - r["intended_send_time"] > 0.1]
    assert late and counts.late >= len(late)
    assert all(r["latency_seconds"] >= r["actual_send_time"] - r["intended_send_time"] for r in rows)
