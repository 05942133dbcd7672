"""The rollout controller on a canned world: promotions, rollbacks, holds, aborts and resumes, on a fake clock."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import promql_parser
import pytest

from sloguard import promql
from sloguard.conventions import ExitCode
from sloguard.errors import BackendError
from sloguard.rollout import controller
from sloguard.rollout.controller import Clock, Controller
from sloguard.rollout.plan import load_plan
from sloguard.rollout.state import ABORT_REQUEST_FILE, DECISIONS_FILE, Kind, RolloutStore, Status, read_decisions
from sloguard.spec.loader import load_spec
from sloguard.spec.model import Matcher
from tests.support.rollout_world import PLAN, T0, Behaviour, World, write_plan

FLAGS = ("rust_opa", "rust_cache")


def kinds(directory: Path) -> list[str]:
    return [json.loads(line)["kind"] for line in (directory / DECISIONS_FILE).read_text().splitlines()]


def decisions(directory: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (directory / DECISIONS_FILE).read_text().splitlines()]


def drive(tmp_path: Path, world: World, *, plan_text: str = PLAN, resume: bool = False) -> ExitCode:
    plan_file = write_plan(tmp_path / "plan", plan_text)
    plan = load_plan(plan_file)
    state_dir = tmp_path / "state"
    if resume:
        store, _ = controller.reopen(plan_file, state_dir, now=world.now())
    else:
        store = controller.start(plan, plan_file, state_dir, now=world.now())
    with store:
        return Controller(plan, store, world, world.query, load_spec(plan.spec_path),
                          clock=Clock(world.now, world.sleep)).run()


def test_a_clean_rollout_walks_every_step_and_completes(tmp_path: Path) -> None:
    world = World()
    assert drive(tmp_path, world) is ExitCode.PASS
    assert world.sets == [(f, p) for p in (5.0, 50.0, 100.0) for f in FLAGS]
    log = decisions(tmp_path / "state")
    promotes = [d for d in log if d["kind"] == "promote"]
    assert [d["percent"] for d in promotes] == [5, 50, 100]
    assert log[-1]["kind"] == "applied" and log[-1]["status"] == "completed"
    # Each step is watched at least its minDuration (10 looks of 1m) before it is promoted.
    looks = [d for d in log if d["kind"] == "look"]
    assert len(looks) == 20
    evidence = promotes[1]["evidence"]
    assert isinstance(evidence, dict) and evidence["errorRatio"]["decision"] != "harm"
    assert evidence["events"]["rust"] >= 1000 and evidence["window"]["seconds"] >= 600
    assert [g["status"] for g in evidence["gates"]] == ["pass"]


def test_flags_one_after_the_other_each_walk_the_steps(tmp_path: Path) -> None:
    world = World()
    one_by_one = PLAN.replace("interval: 1m", "interval: 1m\n  together: false")
    assert drive(tmp_path, world, plan_text=one_by_one) is ExitCode.PASS
    assert world.sets == [("rust_opa", 5.0), ("rust_opa", 50.0), ("rust_opa", 100.0),
                          ("rust_cache", 5.0), ("rust_cache", 50.0), ("rust_cache", 100.0)]


def test_a_rust_error_ratio_far_above_pythons_is_rolled_back_to_zero_and_held(tmp_path: Path) -> None:
    world = World(rust=Behaviour(error_ratio=0.03))
    assert drive(tmp_path, world) is ExitCode.FAILED
    assert world.sets[-2:] == [("rust_opa", 0.0), ("rust_cache", 0.0)]
    log = decisions(tmp_path / "state")
    rollback = next(d for d in log if d["kind"] == "rollback")
    assert "error ratio" in str(rollback["reason"]) and rollback["evidence"]["errorRatio"]["decision"] == "harm"
    assert log[-1]["status"] == "rolled_back" and not any(d["kind"] == "promote" and d["percent"] == 50 for d in log)


def test_a_rust_latency_regression_is_rolled_back(tmp_path: Path) -> None:
    world = World(rust=Behaviour(median=0.0008))
    assert drive(tmp_path, world) is ExitCode.FAILED
    rollback = next(d for d in decisions(tmp_path / "state") if d["kind"] == "rollback")
    assert rollback["evidence"]["latency"]["decision"] == "harm"


def test_a_failing_gate_on_rust_rolls_back_at_once(tmp_path: Path) -> None:
    world = World(gate_value=5.0)
    assert drive(tmp_path, world) is ExitCode.FAILED
    rollback = next(d for d in decisions(tmp_path / "state") if d["kind"] == "rollback")
    assert "gate failed: rust-gate" in str(rollback["reason"])
    assert world.sleeps == 1  # the first look


def test_previous_rolls_back_one_step(tmp_path: Path) -> None:
    world = World()

    def break_rust_at_50(w: World) -> None:
        if w.share() == 0.5:
            w.gate_value = 5.0

    world.on_sleep.append(break_rust_at_50)
    assert drive(tmp_path, world, plan_text=PLAN.replace("rollbackTo: zero", "rollbackTo: previous")) is ExitCode.FAILED
    assert world.sets[-2:] == [("rust_opa", 5.0), ("rust_cache", 5.0)]


def interrupt_after(looks: int) -> object:
    def hook(w: World) -> None:
        if w.sleeps > looks:
            raise KeyboardInterrupt

    return hook


def test_no_data_on_a_gate_never_promotes_and_ctrl_c_holds_with_the_reason(tmp_path: Path) -> None:
    world = World(gate_value=None)
    world.on_sleep.append(interrupt_after(30))
    with pytest.raises(KeyboardInterrupt):
        drive(tmp_path, world)
    log = decisions(tmp_path / "state")
    assert [d["percent"] for d in log if d["kind"] == "promote"] == [5]
    assert "no_data" in str(log[-2]["reason"])
    assert log[-1]["kind"] == "hold" and "Ctrl-C" in str(log[-1]["reason"]) and log[-1]["status"] == "held"


def test_resume_after_a_hold_continues_the_step_without_a_second_promotion(tmp_path: Path) -> None:
    world = World()
    world.on_sleep.append(interrupt_after(4))
    with pytest.raises(KeyboardInterrupt):
        drive(tmp_path, world)
    world.on_sleep.clear()
    assert drive(tmp_path, world, resume=True) is ExitCode.PASS
    log = decisions(tmp_path / "state")
    assert [d["percent"] for d in log if d["kind"] == "promote"] == [5, 50, 100]
    assert [d["kind"] for d in log].count("resume") == 1
    assert [d["seq"] for d in log] == list(range(1, len(log) + 1))


def test_a_change_decided_but_not_applied_is_set_again_on_resume_and_not_decided_again(tmp_path: Path) -> None:
    plan_file = write_plan(tmp_path / "plan")
    plan = load_plan(plan_file)
    with controller.start(plan, plan_file, tmp_path / "state", now=T0) as store:
        store.record(Kind.PROMOTE, flag_index=0, step=0, percent=5, flags=FLAGS, now=T0)
        store.record(Kind.INTENT, flag_index=0, step=0, percent=5, flags=FLAGS, now=T0)  # then: killed
    world = World(now_value=T0 + 5)
    assert drive(tmp_path, world, resume=True) is ExitCode.PASS
    assert world.sets[:2] == [("rust_opa", 5.0), ("rust_cache", 5.0)]
    assert [d["percent"] for d in decisions(tmp_path / "state") if d["kind"] == "promote"] == [5, 50, 100]


def test_prometheus_down_holds_and_says_why(tmp_path: Path) -> None:
    world = World()
    world.on_sleep.append(lambda w: setattr(w, "down", w.sleeps >= 3))
    with pytest.raises(BackendError):
        drive(tmp_path, world)
    last = decisions(tmp_path / "state")[-1]
    assert last["kind"] == "hold" and "could not evaluate" in str(last["reason"])


def test_abort_while_running_is_picked_up_at_the_next_look(tmp_path: Path) -> None:
    world = World()
    requested: list[str] = []
    world.on_sleep.append(lambda w: requested.append(controller.abort(tmp_path / "state", "pager", now=w.now()))
                          if w.sleeps == 3 else None)  # fmt: skip
    assert drive(tmp_path, world) is ExitCode.FAILED
    assert "abort requested" in requested[0]
    last = decisions(tmp_path / "state")[-1]
    assert (last["kind"], last["status"]) == ("abort", "aborted") and "pager" in str(last["reason"])
    assert not (tmp_path / "state" / ABORT_REQUEST_FILE).exists()
    assert world.sets[-1] == ("rust_cache", 5.0)  # the flags stay where they are


def test_abort_without_a_controller_records_it_and_resume_refuses(tmp_path: Path) -> None:
    world = World()
    world.on_sleep.append(interrupt_after(2))
    with pytest.raises(KeyboardInterrupt):
        drive(tmp_path, world)
    assert "aborted" in controller.abort(tmp_path / "state", "changed our mind")
    store, _ = RolloutStore.open(tmp_path / "state")
    with store:
        assert store.state.status is Status.ABORTED
    with pytest.raises(Exception, match="aborted"):
        drive(tmp_path, world, resume=True)


def test_status_says_where_the_rollout_stands(tmp_path: Path) -> None:
    world = World()
    world.on_sleep.append(interrupt_after(2))
    with pytest.raises(KeyboardInterrupt):
        drive(tmp_path, world)
    lines = controller.status_lines(tmp_path / "state", load_plan(tmp_path / "plan" / "rollout.yaml"))
    assert lines[0].startswith("rollout test-rollout: held")
    assert "step 1/3" in lines[1] and "5 % applied" in lines[1]
    assert "hold" in lines[-1]


def test_killed_mid_step_and_resumed_no_second_promotion_no_lost_decision(tmp_path: Path) -> None:
    """SIGKILL the controller at random points (its own process), resume, until it completes."""
    plan_file = write_plan(tmp_path / "plan")
    state_dir, flag_log = tmp_path / "state", tmp_path / "flags.log"
    base = time.time()
    rng = random.Random(15)
    root = Path(__file__).resolve().parents[2]
    kills, seen = 0, 0
    for _ in range(60):
        child = subprocess.Popen([sys.executable, "-m", "tests.support.rollout_child", str(plan_file), str(state_dir),
                                  str(flag_log), repr(base)], cwd=root, stderr=subprocess.PIPE)  # fmt: skip
        try:
            code = child.wait(timeout=rng.uniform(0.3, 0.9))
        except subprocess.TimeoutExpired:
            child.send_signal(signal.SIGKILL)
            child.wait()
            kills += 1
            logged, _, _ = read_decisions(state_dir)
            assert len(logged) >= seen  # nothing the log had is lost
            seen = len(logged)
            continue
        assert code == 0, child.stderr.read() if child.stderr else ""
        break
    else:
        pytest.fail("the rollout never completed")
    assert kills >= 2
    log = decisions(state_dir)
    assert [d["seq"] for d in log] == list(range(1, len(log) + 1))
    assert [d["percent"] for d in log if d["kind"] == "promote"] == [5, 50, 100]
    assert log[-1]["status"] == "completed"
    percents = [float(line.split()[1]) for line in flag_log.read_text().splitlines()]
    assert percents == sorted(percents)  # the flags only ever moved up (a re-apply repeats a percent)
    assert set(percents) == {5.0, 50.0, 100.0}


def test_the_comparison_queries_read_each_path_over_the_step_window_and_parse() -> None:
    job = (Matcher("job", "=", "sark"),)
    queries = [promql.requests_by_implementation(job, 600), promql.errors_by_implementation(job, 600),
               promql.latency_buckets_by_implementation(job, 600)]  # fmt: skip
    assert queries == [
        'sum by (implementation) (increase(sark_authz_requests_total{job="sark"}[600s]))',
        'sum by (implementation) (increase(sark_authz_requests_total{job="sark",decision="error"}[600s]))',
        'sum by (implementation, le) (increase(sark_authz_duration_seconds_bucket{job="sark"}[600s]))',
    ]
    for query in queries:
        promql_parser.parse(query)


def test_the_monitors_count_since_the_climb_began_and_the_gates_the_step(tmp_path: Path) -> None:
    world = World()
    assert drive(tmp_path, world) is ExitCode.PASS
    log = decisions(tmp_path / "state")
    first_applied = next(d for d in log if d["kind"] == "applied")
    second_step_look = [d for d in log if d["kind"] == "look" and d["percent"] == 50][-1]["evidence"]
    # The step's own window for the gates; the whole climb (from the 5 % step) for the monitors.
    assert second_step_look["window"]["seconds"] >= 600
    assert second_step_look["comparisonWindow"]["start"] == first_applied["time"]
    assert second_step_look["comparisonWindow"]["seconds"] >= second_step_look["window"]["seconds"] + 600


def test_evidence_since_restarts_after_a_rollback() -> None:
    from sloguard.rollout.state import Decision

    def decision(seq: int, kind: Kind, step: int, flag_index: int = 0) -> Decision:
        return Decision(seq=seq, time=float(seq), kind=kind, flag_index=flag_index, step=step, percent=5.0,
                        status=Status.RUNNING)

    climb = [decision(1, Kind.PROMOTE, 0), decision(2, Kind.INTENT, 0), decision(3, Kind.APPLIED, 0),
             decision(4, Kind.LOOK, 0), decision(5, Kind.PROMOTE, 1), decision(6, Kind.APPLIED, 1)]
    assert controller.evidence_since(climb, 0) == 3.0  # from the first step, through the promotion
    rolled = [*climb, decision(7, Kind.ROLLBACK, 0), decision(8, Kind.APPLIED, 0)]
    assert controller.evidence_since(rolled, 0) == 8.0  # a rolled-back Rust's evidence is not carried over
    assert controller.evidence_since(climb, 1) is None  # another pass has not started


def test_rust_panics_falling_back_to_python_count_as_rust_errors_and_roll_back(tmp_path: Path) -> None:
    # Every authorization answered is fine on both paths; 3 % of Rust attempts panic and Python serves them.
    world = World(fallback_ratio=0.03)
    assert drive(tmp_path, world) is ExitCode.FAILED
    rollback = next(d for d in decisions(tmp_path / "state") if d["kind"] == "rollback")
    assert rollback["evidence"]["errorRatio"]["decision"] == "harm"


def test_the_progress_line_does_not_call_an_unjudged_gate_a_pass() -> None:
    from sloguard.durations import Window
    from sloguard.evaluate import Status as VerdictStatus
    from sloguard.evaluate import Verdict
    from sloguard.promql import ObjectiveQueries
    from sloguard.rollout.sequential import Evidence
    from sloguard.spec.model import Bound, ErrorRatioSLI, MetricSelector, Objective

    objective = Objective("errors", ErrorRatioSLI(MetricSelector("e"), MetricSelector("t")), Bound(max=0.01))

    def gate(status: VerdictStatus) -> Verdict:
        return Verdict(objective, "implementation=rust", {"implementation": "rust"}, 0.001, 300.0, status, status,
                       ObjectiveQueries("v", None))

    evidence = Evidence("continue", 0.0, 3.0, 0.1, {})
    look = controller.Look(Window(0, 60), {}, {}, (gate(VerdictStatus.INCONCLUSIVE),), evidence, evidence)
    assert controller._gates(look) == "not judged: errors inconclusive"
    passing = controller.Look(Window(0, 60), {}, {}, (gate(VerdictStatus.PASS),), evidence, evidence)
    assert controller._gates(passing) == "pass"


def test_min_events_count_the_steps_own_window_not_the_climbs(tmp_path: Path) -> None:
    # 10 % of 100 req/s: Rust needs 100 s of the second step for its 1,000 events, though the climb since
    # the 5 % step already holds 3,000 of them; a promotion at the first look (60 s) would skip the minimum.
    plan_text = PLAN.replace("- {percent: 50, minDuration: 10m, minEvents: 1000}",
                             "- {percent: 10, minDuration: 1m, minEvents: 1000}")
    world = World()
    assert drive(tmp_path, world, plan_text=plan_text) is ExitCode.PASS
    log = decisions(tmp_path / "state")
    promote = next(d for d in log if d["kind"] == "promote" and d["percent"] == 100)
    evidence = promote["evidence"]
    assert evidence["window"]["seconds"] >= 100, evidence["window"]
    assert evidence["stepEvents"]["rust"] >= 1000
    assert evidence["events"]["rust"] > evidence["stepEvents"]["rust"]  # the monitors' counts: the whole climb
    waiting = [d for d in log if d["kind"] == "look" and d["percent"] == 10 and not d["evidence"]["promotable"]]
    assert any("rust 600 of 1,000 events" in d["reason"] for d in waiting), [d["reason"] for d in waiting]
