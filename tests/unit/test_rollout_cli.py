"""`sloguard rollout` through the real console script: bad plans, no Prometheus, status and abort."""

from __future__ import annotations

import contextlib
from pathlib import Path

from sloguard.rollout import controller
from sloguard.rollout.controller import Clock, Controller
from sloguard.rollout.plan import load_plan
from sloguard.spec.loader import load_spec
from tests.support.clirun import run_sloguard
from tests.support.rollout_world import PLAN, T0, World, write_plan


def test_a_bad_plan_is_one_line_with_file_and_line_and_exit_2(tmp_path: Path) -> None:
    plan = write_plan(tmp_path, PLAN.replace("flags: [rust_opa, rust_cache]", "flags: [rust_opa, rust_kache]"))
    result = run_sloguard("rollout", "run", str(plan), "--prometheus", "http://127.0.0.1:9",
                          "--state-dir", str(tmp_path / "state"))  # fmt: skip
    assert result.returncode == 2, result.describe()
    assert len(result.stderr_lines()) == 1 and f"{plan}:6: flags[1]: unknown flag 'rust_kache'" in result.stderr
    assert not (tmp_path / "state").exists()


def test_a_missing_spec_is_exit_2(tmp_path: Path) -> None:
    plan = write_plan(tmp_path, PLAN.replace("spec: slo.yaml", "spec: nope.yaml"))
    result = run_sloguard("rollout", "resume", str(plan), "--prometheus", "http://127.0.0.1:9",
                          "--state-dir", str(tmp_path / "state"))  # fmt: skip
    assert result.returncode == 2 and len(result.stderr_lines()) == 1, result.describe()
    assert f"{plan}:5: spec: 'nope.yaml': no such file" in result.stderr


def test_prometheus_unreachable_is_exit_2_before_any_flag_moves(tmp_path: Path) -> None:
    plan = write_plan(tmp_path)
    result = run_sloguard("rollout", "run", str(plan), "--prometheus", "http://127.0.0.1:9",
                          "--state-dir", str(tmp_path / "state"), timeout=60)  # fmt: skip
    assert result.returncode == 2, result.describe()
    assert not (tmp_path / "state" / "decisions.jsonl").exists()


def test_status_and_abort_of_a_held_rollout(tmp_path: Path) -> None:
    plan_file = write_plan(tmp_path / "plan")
    plan = load_plan(plan_file)
    world = World()

    def stop(w: World) -> None:
        if w.sleeps > 2:
            raise KeyboardInterrupt

    world.on_sleep.append(stop)
    store = controller.start(plan, plan_file, tmp_path / "state", now=T0)
    with store, contextlib.suppress(KeyboardInterrupt):
        clock = Clock(world.now, world.sleep)
        Controller(plan, store, world, world.query, load_spec(plan.spec_path), clock=clock).run()
    status = run_sloguard("rollout", "status", "--state-dir", str(tmp_path / "state"))
    assert status.returncode == 0 and status.stdout.startswith("rollout test-rollout: held"), status.describe()
    aborted = run_sloguard("rollout", "abort", "--state-dir", str(tmp_path / "state"), "--reason", "test")
    assert aborted.returncode == 0 and "aborted" in aborted.stdout, aborted.describe()
    again = run_sloguard("rollout", "status", "--state-dir", str(tmp_path / "state"))
    assert "aborted (test)" in again.stdout
    missing = run_sloguard("rollout", "status", "--state-dir", str(tmp_path / "none"))
    assert missing.returncode == 2 and len(missing.stderr_lines()) == 1
