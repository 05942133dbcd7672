"""The rollout state directory: decisions logged durably, the state kept current, crashes recovered without a repeat."""

from __future__ import annotations

import errno
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sloguard.rollout import state as rollout_state
from sloguard.rollout.state import (
    DECISIONS_FILE,
    NOT_STARTED,
    STATE_FILE,
    Kind,
    RolloutStateError,
    RolloutStore,
    Status,
    plan_digest,
    read_decisions,
    recover,
    require_plan,
)

FLAGS = ("rust_opa", "rust_cache")
T0 = 1_800_000_000.0


def new_store(directory: Path) -> RolloutStore:
    return RolloutStore.create(directory, plan_name="sark-rust-rollout", plan_digest="sha256:abc", now=T0)


def enter_step(store: RolloutStore, step: int, percent: float, now: float) -> None:
    store.record(Kind.INTENT, step=step, percent=percent, flags=FLAGS, now=now)
    store.record(Kind.APPLIED, now=now + 1)


def log_lines(directory: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in (directory / DECISIONS_FILE).read_text().splitlines()]


def test_decisions_are_logged_in_order_and_the_state_follows_them(tmp_path: Path) -> None:
    with new_store(tmp_path) as store:
        assert store.state.step_index == NOT_STARTED and store.state.percent == 0
        enter_step(store, 0, 5, T0 + 10)
        store.record(Kind.LOOK, evidence={"errorRatio": {"decision": "continue", "statistic": 0.4}}, now=T0 + 70)
        store.record(Kind.PROMOTE, step=1, percent=10, flags=FLAGS, reason="step 0 passed", now=T0 + 130)
        enter_step(store, 1, 10, T0 + 131)
        state = store.state
    assert (state.step_index, state.percent, state.status, state.last_seq) == (1, 10, Status.RUNNING, 6)
    assert state.step_started_at == T0 + 132 and state.pending is None
    lines = log_lines(tmp_path)
    assert [line["seq"] for line in lines] == [1, 2, 3, 4, 5, 6]
    assert [line["kind"] for line in lines] == ["intent", "applied", "look", "promote", "intent", "applied"]
    assert lines[1]["flags"] == list(FLAGS) and lines[1]["percent"] == 5  # applied defaults to the intent's target
    assert lines[2]["evidence"] == {"errorRatio": {"decision": "continue", "statistic": 0.4}}
    assert lines[0]["time"] == "2027-01-15T08:00:10.000Z" and lines[0]["unix"] == T0 + 10
    raw = json.loads((tmp_path / STATE_FILE).read_text())
    assert raw["kind"] == "RolloutState" and raw["apiVersion"] == "sloguard/v1"
    assert (raw["stepIndex"], raw["percent"], raw["lastSeq"], raw["status"]) == (1, 10, 6, "running")
    assert raw["stepStartedAt"] == "2027-01-15T08:02:12.000Z" and raw["stepStartedAtUnix"] == T0 + 132
    recovery = recover(tmp_path)
    assert recovery is not None and recovery.state == state and recovery.replayed == 0 and not recovery.warnings


def test_a_look_changes_nothing_but_the_sequence(tmp_path: Path) -> None:
    with new_store(tmp_path) as store:
        enter_step(store, 0, 5, T0)
        before = store.state
        store.record(Kind.LOOK, reason="ignored for the state", now=T0 + 60)
        after = store.state
    assert after.last_seq == before.last_seq + 1
    assert (after.step_index, after.percent, after.step_started_at, after.reason) == (0, 5, T0 + 1, "")


def test_hold_resume_abort_and_rollback_set_the_status_and_reason(tmp_path: Path) -> None:
    with new_store(tmp_path) as store:
        enter_step(store, 0, 5, T0)
        store.record(Kind.HOLD, reason="interrupted (Ctrl-C)", now=T0 + 5)
        assert (store.state.status, store.state.reason) == (Status.HELD, "interrupted (Ctrl-C)")
        store.record(Kind.RESUME, reason="sloguard rollout resume", now=T0 + 6)
        assert store.state.status == Status.RUNNING
        store.record(Kind.ROLLBACK, percent=0, flags=FLAGS, reason="error ratio: harm", now=T0 + 7)
        assert store.state.status == Status.RUNNING and store.state.pending is not None
        store.record(Kind.INTENT, percent=0, flags=FLAGS, now=T0 + 7)
        assert store.state.pending is not None and store.state.pending.cause == Kind.ROLLBACK
        store.record(Kind.APPLIED, now=T0 + 8)
        assert (store.state.status, store.state.percent) == (Status.ROLLED_BACK, 0)
        assert store.state.reason == "error ratio: harm"  # intent and applied carry out the rollback: its reason stays
        store.record(Kind.ABORT, reason="by hand", now=T0 + 9)
        assert store.state.status == Status.ABORTED


def test_one_flag_after_the_other_moves_the_flag_index_and_starts_a_new_window(tmp_path: Path) -> None:
    with new_store(tmp_path) as store:
        store.record(Kind.INTENT, step=4, percent=100, flags=FLAGS[:1], now=T0)
        store.record(Kind.APPLIED, now=T0 + 1)
        store.record(
            Kind.PROMOTE, flag_index=1, step=0, percent=5, flags=FLAGS[1:], reason="rust_opa at 100 %", now=T0 + 60
        )
        store.record(Kind.INTENT, flag_index=1, step=0, percent=5, flags=FLAGS[1:], now=T0 + 60)
        store.record(Kind.APPLIED, now=T0 + 61)
        state = store.state
    assert (state.flag_index, state.step_index, state.percent, state.step_started_at) == (1, 0, 5, T0 + 61)
    assert log_lines(tmp_path)[-1]["flags"] == ["rust_cache"]


def test_an_explicit_status_overrides_the_default(tmp_path: Path) -> None:
    with new_store(tmp_path) as store:
        store.record(Kind.INTENT, step=4, percent=100, flags=FLAGS, now=T0)
        store.record(Kind.APPLIED, status=Status.COMPLETED, reason="reached 100 %", now=T0 + 1)
    recovery = recover(tmp_path)
    assert recovery is not None
    assert (recovery.state.status, recovery.state.reason) == (Status.COMPLETED, "reached 100 %")


def test_an_applied_that_no_intent_asked_for_is_refused(tmp_path: Path) -> None:
    with new_store(tmp_path) as store:
        with pytest.raises(RolloutStateError, match="applied flag 0 step 0 at 5 % that no intent asked for"):
            store.record(Kind.APPLIED, step=0, percent=5)
        store.record(Kind.INTENT, step=0, percent=5, now=T0)
        with pytest.raises(RolloutStateError, match="no intent asked for"):
            store.record(Kind.APPLIED, step=0, percent=10)
    assert [line["kind"] for line in log_lines(tmp_path)] == ["intent"]  # a refused decision is not logged


def test_evidence_is_strict_json(tmp_path: Path) -> None:
    with new_store(tmp_path) as store:
        store.record(Kind.LOOK, evidence={"boundary": float("inf"), "values": (1.5, float("nan")), "n": 3}, now=T0)
        with pytest.raises(TypeError, match="evidence must be JSON"):
            store.record(Kind.LOOK, evidence={"bad": object()})
    assert log_lines(tmp_path)[0]["evidence"] == {"boundary": None, "values": [1.5, None], "n": 3}


def test_a_directory_with_a_rollout_is_not_created_again(tmp_path: Path) -> None:
    new_store(tmp_path).close()
    with pytest.raises(RolloutStateError, match="holds a rollout already"):
        new_store(tmp_path)


def test_a_second_controller_on_the_same_directory_is_refused(tmp_path: Path) -> None:
    with new_store(tmp_path), pytest.raises(RolloutStateError, match="another sloguard rollout is running on it"):
        RolloutStore.open(tmp_path)
    store, _ = RolloutStore.open(tmp_path)  # the lock went with the first store
    store.close()


def test_no_rollout_recorded(tmp_path: Path) -> None:
    assert recover(tmp_path) is None
    with pytest.raises(RolloutStateError, match="no rollout recorded here"):
        RolloutStore.open(tmp_path)


@pytest.mark.parametrize("tail", [b'{"seq":3,"time":"2027-01-', b"\0\0\0\0\0\0\n"], ids=["fragment", "garbage line"])
def test_a_torn_last_line_is_ignored_with_a_warning_and_cut_off(tmp_path: Path, tail: bytes) -> None:
    with new_store(tmp_path) as store:
        enter_step(store, 0, 5, T0)
    with (tmp_path / DECISIONS_FILE).open("ab") as log:
        log.write(tail)
    recovery = recover(tmp_path)
    assert recovery is not None and [d.seq for d in recovery.decisions] == [1, 2]
    torn = len(tail.rstrip(b"\n"))
    assert recovery.warnings == (f"warning: {tmp_path / DECISIONS_FILE}:3: ignoring a torn last line ({torn} bytes)",)
    store, _ = RolloutStore.open(tmp_path)
    with store:
        store.record(Kind.LOOK, now=T0 + 60)
    assert [line["seq"] for line in log_lines(tmp_path)] == [1, 2, 3]  # the next line is not glued to the torn one
    decisions, warnings, _ = read_decisions(tmp_path)
    assert len(decisions) == 3 and not warnings


def test_a_bad_line_before_the_last_is_an_error_with_file_and_line(tmp_path: Path) -> None:
    with new_store(tmp_path) as store:
        enter_step(store, 0, 5, T0)
    path = tmp_path / DECISIONS_FILE
    lines = path.read_text().splitlines()
    path.write_text("\n".join([lines[0], "not json", lines[1]]) + "\n")
    with pytest.raises(RolloutStateError, match=f"^{re.escape(str(path))}:2: not a decision"):
        recover(tmp_path)


def test_a_gap_or_a_repeat_in_the_sequence_is_an_error(tmp_path: Path) -> None:
    with new_store(tmp_path) as store:
        enter_step(store, 0, 5, T0)
    path = tmp_path / DECISIONS_FILE
    first = path.read_text().splitlines()[0]
    path.write_text(f"{first}\n{first}\n")
    with pytest.raises(RolloutStateError, match=f"^{re.escape(str(path))}:2: decision seq 1, expected 2"):
        recover(tmp_path)


def test_a_state_ahead_of_its_log_is_an_error(tmp_path: Path) -> None:
    with new_store(tmp_path) as store:
        enter_step(store, 0, 5, T0)
    (tmp_path / DECISIONS_FILE).write_text("")
    with pytest.raises(RolloutStateError, match=r"records decision 2, but decisions\.jsonl ends at 0"):
        recover(tmp_path)


def test_a_crash_between_the_log_and_the_state_is_replayed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = new_store(tmp_path)
    enter_step(store, 0, 5, T0)
    store.record(Kind.PROMOTE, step=1, percent=10, flags=FLAGS, now=T0 + 60)

    def crash(directory: Path, state: object) -> None:
        raise KeyboardInterrupt  # the process dies after the log line is durable, before the state is written

    monkeypatch.setattr(rollout_state, "_write_state", crash)
    with pytest.raises(KeyboardInterrupt):
        store.record(Kind.INTENT, step=1, percent=10, flags=FLAGS, now=T0 + 61)
    store.close()
    monkeypatch.undo()
    assert json.loads((tmp_path / STATE_FILE).read_text())["lastSeq"] == 3
    reopened, recovery = RolloutStore.open(tmp_path)
    with reopened:
        assert recovery.replayed == 1 and recovery.state.last_seq == 4
        assert json.loads((tmp_path / STATE_FILE).read_text())["lastSeq"] == 4  # reconciled on open
        pending = recovery.reapply
        assert pending is not None and (pending.cause, pending.step, pending.percent) == (Kind.PROMOTE, 1, 10)


def test_a_failed_append_is_cut_back_and_the_decision_can_be_made_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with new_store(tmp_path) as store:
        enter_step(store, 0, 5, T0)

        def full_disk(fd: int) -> None:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        monkeypatch.setattr(rollout_state.os, "fsync", full_disk)
        with pytest.raises(RolloutStateError, match=r"decisions\.jsonl: cannot append \(No space left on device\)"):
            store.record(Kind.LOOK, now=T0 + 60)
        monkeypatch.undo()
        assert store.state.last_seq == 2
        store.record(Kind.LOOK, now=T0 + 120)
    assert [line["seq"] for line in log_lines(tmp_path)] == [1, 2, 3]


def test_a_promote_without_its_applied_is_reapplied_not_decided_again(tmp_path: Path) -> None:
    with new_store(tmp_path) as store:
        enter_step(store, 0, 5, T0)
        store.record(Kind.PROMOTE, step=1, percent=10, flags=FLAGS, now=T0 + 60)
    store, recovery = RolloutStore.open(tmp_path)
    with store:
        pending = recovery.reapply
        assert pending is not None and pending.flags == FLAGS
        assert (recovery.state.step_index, recovery.state.percent) == (0, 5)  # not applied yet
        store.record(Kind.INTENT, flag_index=pending.flag_index, step=pending.step, percent=pending.percent,
                     flags=pending.flags, now=T0 + 120)  # fmt: skip
        store.record(Kind.APPLIED, now=T0 + 121)
        assert (store.state.step_index, store.state.percent, store.state.step_started_at) == (1, 10, T0 + 121)
    assert [line["kind"] for line in log_lines(tmp_path)].count("promote") == 1


def test_the_plan_digest_names_the_file_and_a_changed_plan_is_refused(tmp_path: Path) -> None:
    plan = tmp_path / "rollout.yaml"
    plan.write_text("kind: RolloutPlan\n")
    digest = plan_digest(plan)
    assert digest.startswith("sha256:") and len(digest) == 7 + 64
    with new_store(tmp_path / "state") as store:
        require_plan(store.state, "sha256:abc", plan)
        changed = f"^{re.escape(str(plan))}: changed since rollout 'sark-rust-rollout' started"
        with pytest.raises(RolloutStateError, match=changed):
            require_plan(store.state, digest, plan)
    with pytest.raises(RolloutStateError, match="cannot read the plan"):
        plan_digest(tmp_path / "missing.yaml")


def test_an_unreadable_state_file_is_one_line(tmp_path: Path) -> None:
    new_store(tmp_path).close()
    (tmp_path / STATE_FILE).write_text('{"kind": "Stack"}')
    with pytest.raises(RolloutStateError, match=f"^{re.escape(str(tmp_path / STATE_FILE))}: not a rollout state"):
        recover(tmp_path)


# ---- a controller killed with SIGKILL in the middle of its write loop, resumed until it completes ----------------

# A controller in miniature: six looks per step, then promote, intent, flag set (its own fsynced log), applied.
# It prints each decision's seq once record() has returned, so whatever it printed was acknowledged as durable.
CHILD = r"""
import os, sys
from pathlib import Path
from sloguard.rollout.state import Kind, NOT_STARTED, RolloutStore, Status

directory = Path(sys.argv[1])
steps = [5.0, 10.0, 25.0, 50.0, 100.0]
flags = ("rust_opa", "rust_cache")


def set_flag(percent):
    with open(directory / "flag-setter.log", "a") as out:
        out.write(f"{percent}\n")
        out.flush()
        os.fsync(out.fileno())


def record(store, kind, **fields):
    decision = store.record(kind, **fields)
    print(decision.seq, flush=True)


def move(store, step):
    record(store, Kind.INTENT, step=step, percent=steps[step], flags=flags)
    set_flag(steps[step])
    record(store, Kind.APPLIED)


if (directory / "rollout-state.json").exists():
    store, recovery = RolloutStore.open(directory)
    looks = 0
    for decision in recovery.decisions:
        looks = looks + 1 if decision.kind == Kind.LOOK else 0 if decision.kind == Kind.APPLIED else looks
    if recovery.reapply is not None:
        move(store, recovery.reapply.step)
        looks = 0
else:
    store = RolloutStore.create(directory, plan_name="kill-test", plan_digest="sha256:0")
    looks = 0
while store.state.status == Status.RUNNING:
    state = store.state
    if state.step_index == NOT_STARTED:
        move(store, 0)
    elif state.step_index == len(steps) - 1:
        record(store, Kind.LOOK, status=Status.COMPLETED, reason="reached 100 %")
    elif looks < 6:
        record(store, Kind.LOOK, evidence={"look": looks})
        looks += 1
    else:
        record(store, Kind.PROMOTE, step=state.step_index + 1, percent=steps[state.step_index + 1], flags=flags)
        move(store, state.step_index + 1)
        looks = 0
store.close()
"""


def run_child(directory: Path, kill_after: int | None, rng: random.Random) -> tuple[list[int], int]:
    """Run the miniature controller; SIGKILL it once it has acknowledged `kill_after` more decisions."""
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(directory)], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)  # fmt: skip
    assert child.stdout is not None
    acknowledged: list[int] = []
    try:
        if kill_after is not None:
            for line in child.stdout:
                acknowledged.append(int(line))
                if len(acknowledged) >= kill_after:
                    time.sleep(rng.uniform(0, 0.004))  # land anywhere in the next record: log, fsync, state
                    child.send_signal(signal.SIGKILL)
                    break
        out, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
    acknowledged.extend(int(line) for line in out.split())
    assert kill_after is not None or child.returncode == 0, err
    return acknowledged, child.returncode


def test_a_controller_killed_mid_write_resumes_without_a_lost_or_repeated_decision(tmp_path: Path) -> None:
    rng = random.Random(15)  # fixed seed: the kill points are reproducible in count, if not to the microsecond
    acknowledged: list[int] = []
    kills = 0
    for _ in range(10):
        seqs, code = run_child(tmp_path, rng.randint(1, 6), rng)
        acknowledged += seqs
        kills += code == -signal.SIGKILL
        recovery = recover(tmp_path)
        if recovery is not None and recovery.state.status == Status.COMPLETED:
            break
    seqs, _ = run_child(tmp_path, None, rng)  # the last resume runs to the end
    acknowledged += seqs
    assert kills >= 3  # usually 6 to 8; fewer only when a child outruns the kill by several decisions

    recovery = recover(tmp_path)
    assert recovery is not None and recovery.state.status == Status.COMPLETED and recovery.state.percent == 100
    logged = [decision.seq for decision in recovery.decisions]
    assert logged == list(range(1, len(logged) + 1))  # no gap, no duplicate
    assert set(acknowledged) <= set(logged)  # no acknowledged decision lost
    assert len(acknowledged) == len(set(acknowledged))  # no seq handed out twice
    promotes = [decision.step for decision in recovery.decisions if decision.kind == Kind.PROMOTE]
    assert promotes == [1, 2, 3, 4]  # each step promoted exactly once
    applied = [decision.percent for decision in recovery.decisions if decision.kind == Kind.APPLIED]
    assert applied == [5, 10, 25, 50, 100]  # each percent applied once in the log, in order
    set_percents = [float(p) for p in (tmp_path / "flag-setter.log").read_text().split()]
    assert sorted(set_percents) == set_percents and set(set_percents) == {5, 10, 25, 50, 100}  # re-applied at most
