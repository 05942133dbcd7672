"""`sloguard stress` against the real service: stepping to a breaking point, and recovery after the
policy server and Redis are stopped and restarted during load."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

import pytest

from sloguard.load.procs import Target
from sloguard.processes import pid_alive, stop_pid


@pytest.fixture(scope="module")
def redis_installed() -> None:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server not installed (Debian package redis-server)")


@pytest.fixture(scope="module")
def target(redis_installed: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    with Target.start(tmp_path_factory.mktemp("target")) as t:
        yield t


def stress(*args: str) -> tuple[int, dict, str]:
    out = Path(args[args.index("--output-dir") + 1])
    result = subprocess.run([sys.executable, "-m", "sloguard", "stress", *args, "--no-progress"],
                            capture_output=True, text=True, timeout=150, stdin=subprocess.DEVNULL)
    assert result.returncode in (0, 1), result.stderr
    return result.returncode, json.loads((out / "stress.json").read_text()), result.stdout


def test_steps_hold_under_a_loose_bound(target: Target, tmp_path: Path) -> None:
    code, doc, _ = stress("--host", target.url, "--start", "40", "--step", "40", "--max", "80",
                          "--step-duration", "2s", "--p95-max", "10", "--output-dir", str(tmp_path),
                          "--require", "80")  # fmt: skip
    assert code == 0
    assert [s["rate"] for s in doc["steps"]] == [40, 80]
    assert all(s["held"] for s in doc["steps"]) and doc["max_rate_reached"]
    assert doc["sustainable_rate"] == 80 and doc["breaking_rate"] is None


def test_an_impossible_p95_breaks_at_the_first_step(target: Target, tmp_path: Path) -> None:
    code, doc, stdout = stress("--host", target.url, "--start", "40", "--step", "40", "--max", "400",
                               "--step-duration", "2s", "--p95-max", "0.000001", "--output-dir", str(tmp_path),
                               "--require", "40")  # fmt: skip
    assert code == 1  # --require 40 not met
    assert len(doc["steps"]) == 1 and doc["breaking_rate"] == 40 and doc["sustainable_rate"] is None
    assert doc["breaking_reasons"][0].startswith("p95")
    assert "last sustainable rate: none" in stdout


def test_recovery_after_the_policy_server_and_redis_restart(redis_installed: None, tmp_path: Path) -> None:
    # A private stack described by a stack.json, as `sloguard stack up` writes it.
    stack_dir = tmp_path / "stack"
    stack_dir.mkdir()
    target = Target.start(tmp_path / "procs")
    try:
        components = {name: asdict(p) | {"log": str(p.log)} for name, p in target.procs.items()}
        (stack_dir / "stack.json").write_text(json.dumps({"components": components}))
        code, doc, stdout = stress("--recovery", "policy-server,redis", "--stack", str(stack_dir), "--rate", "60",
                                   "--outage", "2s", "--output-dir", str(tmp_path / "out"))  # fmt: skip
        state = json.loads((stack_dir / "stack.json").read_text())["components"]
        alive = {name: pid_alive(int(comp["pid"])) for name, comp in state.items()}
    finally:
        target.stop()
        for comp in json.loads((stack_dir / "stack.json").read_text())["components"].values():
            stop_pid(int(comp["pid"]))
    assert code == 0, stdout
    scenarios = {s["dependency"]: s for s in doc["recovery"]}
    policy = scenarios["policy-server"]
    # Without its policy server the Python path fails closed (decision="error"); Rust keeps answering.
    assert 0.05 < policy["outage_error_ratio"] < 0.95
    assert policy["recovered"] and policy["recovery_seconds"] is not None
    # Redis down: the Python path bypasses its cache and keeps deciding.
    assert scenarios["redis"]["recovered"]
    # The restarted processes are new pids, recorded back into stack.json (so `stack down` stops them).
    for name in ("policy-server", "redis"):
        assert state[name]["pid"] != components[name]["pid"] and alive[name]
