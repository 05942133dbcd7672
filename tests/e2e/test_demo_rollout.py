"""`sloguard demo --rollout` end to end: the clean compressed plan reaches 100 %, an injected Rust fault rolls back.

Both runs check that the service's flags afterwards (read from its admin API by the demo before the
stack stops) are the decision log's last applied percent.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sloguard.conventions import BINARIES
from sloguard.processes import pid_alive
from sloguard.rollout.sequential import HARM
from tests.support.previews import assert_previews_drawn_with_data
from tests.support.processes import find_binary, missing_binary_message

pytestmark = pytest.mark.e2e

for _key in ("redis", "prometheus", "alertmanager"):
    if find_binary(BINARIES[_key][0]) is None:
        pytestmark = [pytest.mark.e2e, pytest.mark.skip(reason=missing_binary_message(BINARIES[_key][0]))]

RUN_SECONDS = 180  # the brief's bound per run; the plan's own budget is shorter


def run_rollout_demo(out: Path, *args: str) -> tuple[int, list[dict], dict, str]:
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "sloguard", "demo", "--rollout", *args, "--output-dir", str(out)],
                            capture_output=True, text=True, timeout=RUN_SECONDS + 60)
    elapsed = time.monotonic() - started
    shown = result.stdout + result.stderr[-3000:]  # all of stdout: the previews' summary lines are in it
    assert elapsed < RUN_SECONDS, f"the compressed plan took {elapsed:.0f} s\n{shown}"
    log = out / "rollout" / "decisions.jsonl"
    assert log.exists(), shown
    decisions = [json.loads(line) for line in log.read_text().splitlines()]
    stack_state = json.loads((out / "stack" / "stack.stopped.json").read_text())
    left = [c["name"] for c in stack_state["components"].values() if pid_alive(c["pid"])]
    assert not left, f"demo left processes running: {left}"
    final = json.loads((out / "rollout-final.json").read_text())
    return result.returncode, decisions, final, shown


def last_applied(decisions: list[dict]) -> float:
    return [d for d in decisions if d["kind"] == "applied"][-1]["percent"]


def test_the_clean_compressed_plan_reaches_100_percent(tmp_path: Path) -> None:
    code, decisions, final, shown = run_rollout_demo(tmp_path)
    assert code == 0, shown
    assert final["status"] == "completed", shown
    assert [d["percent"] for d in decisions if d["kind"] == "promote"] == [5, 25, 50, 100]
    assert not [d for d in decisions if d["kind"] == "rollback"], shown
    assert last_applied(decisions) == 100
    assert final["servicePercent"] == {"rust_opa": 100, "rust_cache": 100}, final
    assert "completed" in (tmp_path / "rollout-summary.txt").read_text()
    looks = [d for d in decisions if d["kind"] == "look"]
    assert looks and all(d["evidence"]["clientLatency"]["decision"] != "harm" for d in looks), shown
    assert looks[-1]["evidence"]["clientLatency"]["details"]["rust_total"] > 0, "the generator's samples were not read"
    # The dashboards over the whole rollout (issue 16): its row too has data now.
    assert_previews_drawn_with_data(tmp_path / "previews", shown)


def test_an_injected_rust_error_fault_rolls_back_to_zero(tmp_path: Path) -> None:
    code, decisions, final, shown = run_rollout_demo(tmp_path, "--inject", "errors=rust:2%")
    assert code == 1, shown
    assert final["status"] == "rolled_back", shown
    rollbacks = [d for d in decisions if d["kind"] == "rollback"]
    assert len(rollbacks) == 1 and rollbacks[0]["percent"] == 0, shown
    assert 100 not in [d["percent"] for d in decisions if d["kind"] == "promote"], "a faulty Rust must not reach 100 %"
    assert last_applied(decisions) == 0
    assert final["servicePercent"] == {"rust_opa": 0, "rust_cache": 0}, final


def test_an_injected_rust_latency_fault_is_rolled_back_by_a_latency_monitor(tmp_path: Path) -> None:
    # 2 ms more on every Rust decision: slower than the Python path's OPA round trip at p95.
    code, decisions, final, shown = run_rollout_demo(tmp_path, "--inject", "latency=rust:2ms")
    assert code == 1, shown
    rollbacks = [d for d in decisions if d["kind"] == "rollback"]
    assert len(rollbacks) == 1 and rollbacks[0]["percent"] == 0, shown
    assert "latency: Rust worse than the margin allows" in rollbacks[0]["reason"], rollbacks[0]["reason"]
    assert "error ratio" not in rollbacks[0]["reason"], rollbacks[0]["reason"]
    evidence = rollbacks[0]["evidence"]
    assert evidence["clientLatency"]["details"]["rust_total"] > 0, "the generator's samples were not read"
    assert HARM in (evidence["latency"]["decision"], evidence["clientLatency"]["decision"])
    assert last_applied(decisions) == 0
    assert final["servicePercent"] == {"rust_opa": 0, "rust_cache": 0}, final
