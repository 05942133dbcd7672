"""Each Locust user class, briefly, against the real reference service: every request accepted.

`sloguard load run` runs in a subprocess (Locust monkey-patches its process with gevent).
"""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from sloguard.load.procs import Target
from sloguard.processes import free_port, stop_pid
from tests.support.processes import interrupt_when

PROFILES = {"SARKUser": "quick", "ReadHeavyUser": "cache-hit", "CacheMissUser": "cache-miss",
            "ComplexPolicyUser": "complex"}  # fmt: skip
LOADGEN = Path(__file__).resolve().parents[2] / "loadgen"


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server not installed (Debian package redis-server)")
    with Target.start(tmp_path_factory.mktemp("target")) as t:
        yield t


def sloguard(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sloguard", *args], capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def read_run(out: Path) -> tuple[dict, list[dict[str, str]]]:
    doc = json.loads((out / "run.json").read_text())
    with (out / "latencies.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    return doc, rows


def assert_all_accepted(doc: dict, rows: list[dict[str, str]], user_class: str) -> None:
    assert doc["apiVersion"] == "sloguard/v1" and doc["kind"] == "LoadRun"
    assert doc["profile"]["user_class"] == user_class
    assert doc["requests"]["sent"] == len(rows) > 0
    assert doc["errors"]["total"] == 0, doc["errors"]
    assert {r["status"] for r in rows} == {"200"}
    # Both paths served traffic (the profile's 50 % rollout was applied through the admin API).
    assert {r["implementation"] for r in rows} == {"rust", "python"}
    assert doc["rollout"]["applied"] and doc["rollout"]["state"]["rust_opa"] == 50
    start, end = doc["window"]["start"], doc["window"]["end"]
    assert start < end
    assert all(start <= float(r["intended_send_time"]) <= end for r in rows)


@pytest.mark.parametrize("user_class", sorted(PROFILES))
def test_locust_user_class_is_accepted(target: Target, tmp_path: Path, user_class: str) -> None:
    out = tmp_path / "run"
    result = sloguard("load", "run", PROFILES[user_class], "--host", target.url, "--scale", "0.1", "--rate", "40",
                      "--warmup", "1s", "--duration", "3s", "--output-dir", str(out), "--no-progress")
    assert result.returncode == 0, result.stderr
    doc, rows = read_run(out)
    assert doc["mode"] == "locust"
    assert_all_accepted(doc, rows, user_class)
    assert {r["kind"] for r in rows} <= {"read", "write", "admin", "repeat", "unique", "complex"}
    for name in ("locust_stats.csv", "locust_stats_history.csv", "locust_failures.csv", "report.html"):
        assert (out / name).stat().st_size > 0, name


@pytest.mark.parametrize("user_class", sorted(PROFILES))
def test_open_loop_workload_is_accepted(target: Target, tmp_path: Path, user_class: str) -> None:
    out = tmp_path / "run"
    result = sloguard("load", "run", PROFILES[user_class], "--host", target.url, "--open-loop", "--rate", "50",
                      "--warmup", "1s", "--duration", "2s", "--output-dir", str(out), "--no-progress")
    assert result.returncode == 0, result.stderr
    doc, rows = read_run(out)
    assert doc["mode"] == "open-loop"
    assert_all_accepted(doc, rows, user_class)
    # Open loop: exactly rate x duration requests were intended in the window.
    assert doc["requests"]["scheduled"] == 100


def test_distributed_workers_ship_their_latencies(target: Target, tmp_path: Path) -> None:
    # One local worker started by sloguard, one started by hand as on another machine.
    out = tmp_path / "run"
    port = free_port()
    remote = subprocess.Popen(
        [sys.executable, "-m", "locust", "-f", str(LOADGEN / "locustfile.py"), "--worker", "--master-host",
         "127.0.0.1", "--master-port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        result = sloguard("load", "run", "quick", "--host", target.url, "--workers", "1", "--remote-workers", "1",
                          "--allow-remote", "--master-port", str(port), "--rate", "40", "--warmup", "1s",
                          "--duration", "3s", "--output-dir", str(out), "--no-progress")  # fmt: skip
    finally:
        stop_pid(remote.pid)
    assert result.returncode == 0, result.stderr
    assert f"--master-port {port}" in result.stderr  # the command to start workers elsewhere
    doc, rows = read_run(out)
    assert doc["workers"] == 2
    # The master runs no users: every row came from a worker, as a custom Locust message.
    assert_all_accepted(doc, rows, "SARKUser")
    assert (out / "worker-0.log").exists()


def test_remote_workers_need_allow_remote(tmp_path: Path) -> None:
    result = sloguard("load", "run", "quick", "--host", "http://127.0.0.1:9", "--remote-workers", "2")
    assert result.returncode == 2 and "--allow-remote" in result.stderr


@pytest.mark.parametrize("mode", [[], ["--open-loop"]], ids=["locust", "open-loop"])
def test_ctrl_c_writes_partial_results(target: Target, tmp_path: Path, mode: list[str]) -> None:
    out = tmp_path / "run"

    def recorded() -> bool:  # requests of the steady state are on disk
        return sum(f.stat().st_size for f in out.glob("latencies*.csv")) > 4000

    code, stderr = interrupt_when(
        [sys.executable, "-m", "sloguard", "load", "run", "quick", "--host", target.url, "--rate", "40",
         "--warmup", "1s", "--duration", "120s", "--output-dir", str(out), "--no-progress", *mode], recorded)
    assert code == 130, stderr
    doc, rows = read_run(out)
    assert doc["interrupted"] is True
    assert doc["window"]["end"] > doc["window"]["start"]
    assert doc["window"]["seconds"] < 120
    assert rows and all(doc["window"]["start"] <= float(r["intended_send_time"]) <= doc["window"]["end"]
                        for r in rows)


def test_plain_locust_aborts_when_the_target_is_down(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "locust", "-f", str(LOADGEN / "locustfile.py"), "--headless", "-u", "1", "-r", "1",
         "-t", "30s", "--host", "http://127.0.0.1:9", "SARKUser"],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert result.returncode == 2
    assert "aborting: target http://127.0.0.1:9 is down" in result.stderr


def test_load_run_refuses_a_down_target(tmp_path: Path) -> None:
    result = sloguard("load", "run", "quick", "--host", "http://127.0.0.1:9", "--output-dir", str(tmp_path))
    assert result.returncode == 2
    assert result.stderr.strip().startswith("sloguard: error: target http://127.0.0.1:9 is down")
    assert "Traceback" not in result.stderr
