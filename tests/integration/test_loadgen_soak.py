"""`sloguard soak` (short CI form) against the real service: the service's leak fault is reported as
growth; the same service without it is not."""

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
from sloguard.load.target import admin_request

# 32 KiB kept per request at 100 req/s is ~11 GiB/h; a clean service stays flat after warm-up.
# The bound sits far from both, as a 10 s soak cannot resolve SARK's 1 MiB/h.
BOUND = "256MiB/h"


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server not installed (Debian package redis-server)")
    with Target.start(tmp_path_factory.mktemp("target")) as t:
        yield t


def soak(target: Target, out: Path) -> tuple[int, dict]:
    result = subprocess.run(
        [sys.executable, "-m", "sloguard", "soak", "--host", target.url, "--profile", "cache-hit", "--rate", "100",
         "--warmup", "3s", "--duration", "10s", "--sample", "500ms", "--bound", BOUND, "--output-dir", str(out),
         "--no-progress"],
        capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert result.returncode in (0, 1), result.stderr
    return result.returncode, json.loads((out / "soak.json").read_text())


def test_clean_then_leaking_service(target: Target, tmp_path: Path) -> None:
    code, clean = soak(target, tmp_path / "clean")
    assert clean["pid"] == target.service_pid  # found by the port it listens on
    assert clean["load"]["errors"]["total"] == 0
    assert clean["memory"]["verdict"] != "growth" and code == 0
    with (tmp_path / "clean" / "rss.csv").open() as fh:
        assert len(list(csv.DictReader(fh))) == clean["memory"]["samples"] >= 15

    leak = {"leak": {"rust": "32KiB", "python": "32KiB"}}
    admin_request(target.url, "PUT", "/admin/faults", target.admin_token, leak)
    try:
        code, leaking = soak(target, tmp_path / "leak")
    finally:
        admin_request(target.url, "DELETE", "/admin/faults", target.admin_token)
    memory = leaking["memory"]
    assert memory["verdict"] == "growth" and code == 1
    # About 100 req/s x 32 KiB over the samples' span (allocator overhead adds a little).
    expected_per_hour = 100 * 32 * 1024 * 3600
    low, _ = memory["ci95_bytes_per_hour"]
    assert low > 0.5 * expected_per_hour and memory["growth_bytes_per_hour"] < 2 * expected_per_hour
    assert memory["second_half_mean_bytes"] > memory["first_half_mean_bytes"]
