"""A rollout's state directory: rollout-state.json and the decision log decisions.jsonl, their one reader and writer.

The log is the record of truth: every decision is appended (flushed and fsynced) before the state file is
rewritten (atomically), so a crash leaves the state at most one decision behind the log, and `recover`
replays what the state missed. Flag changes are bracketed: `intent` before the flag setter runs, `applied`
after; an intent (or a promote or rollback) without its applied is re-applied on resume, never decided again.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import math
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import IO, Any

from sloguard.conventions import API_VERSION
from sloguard.durations import iso
from sloguard.errors import SloguardError
from sloguard.files import write_text_atomic

STATE_FILE = "rollout-state.json"
DECISIONS_FILE = "decisions.jsonl"
# `sloguard rollout abort` while `run` holds the directory's lock: the request `run` picks up at its next look.
ABORT_REQUEST_FILE = "abort-request.json"
STATE_KIND = "RolloutState"
NOT_STARTED = -1  # the step index before the first step's percent is applied


class Status(StrEnum):
    RUNNING = "running"
    HELD = "held"
    COMPLETED = "completed"
    ROLLED_BACK = "rolled_back"
    ABORTED = "aborted"


class Kind(StrEnum):
    """What a decision-log line records."""

    LOOK = "look"  # an evaluation of the gates and the comparison that changed nothing
    PROMOTE = "promote"  # to the next step (its flag index, step and percent are the target)
    ROLLBACK = "rollback"  # to zero or the previous step (the target percent)
    HOLD = "hold"
    RESUME = "resume"
    ABORT = "abort"
    INTENT = "intent"  # the flag setter is about to set the target percent
    APPLIED = "applied"  # the flag setter set it


_TRANSITIONS = frozenset({Kind.PROMOTE, Kind.ROLLBACK, Kind.INTENT})  # the kinds that name a target percent
# Kinds that carry out an earlier decision (or change nothing): without a reason of their own, its reason stays.
_KEEP_REASON = frozenset({Kind.LOOK, Kind.INTENT, Kind.APPLIED})
_DEFAULT_STATUS = {Kind.HOLD: Status.HELD, Kind.RESUME: Status.RUNNING, Kind.ABORT: Status.ABORTED,
                   Kind.PROMOTE: Status.RUNNING, Kind.INTENT: Status.RUNNING}  # fmt: skip


class RolloutStateError(SloguardError):
    """The state directory is unusable: unreadable, inconsistent, or in use by another controller."""


@dataclass(frozen=True)
class Pending:
    """A flag change decided (or intended) and not yet known to be applied: what resume sets again."""

    cause: Kind  # promote, rollback or intent: the decision that asked for it
    flag_index: int
    step: int
    percent: float
    flags: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {"cause": str(self.cause), "flagIndex": self.flag_index, "step": self.step, "percent": self.percent,
                "flags": list(self.flags)}  # fmt: skip

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Pending:
        return cls(Kind(raw["cause"]), int(raw["flagIndex"]), int(raw["step"]), float(raw["percent"]),
                   tuple(str(flag) for flag in raw["flags"]))  # fmt: skip

    def same_target(self, flag_index: int, step: int, percent: float) -> bool:
        return (self.flag_index, self.step, self.percent) == (flag_index, step, percent)


@dataclass(frozen=True, kw_only=True)
class Decision:
    """One line of decisions.jsonl: `status` is the rollout's status after it; `evidence` is JSON as written."""

    seq: int
    time: float  # unix seconds
    kind: Kind
    flag_index: int
    step: int
    percent: float
    status: Status
    reason: str = ""
    flags: tuple[str, ...] = ()
    evidence: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"seq": self.seq, "time": iso(self.time), "unix": self.time, "kind": str(self.kind),
                "flagIndex": self.flag_index, "flags": list(self.flags), "step": self.step, "percent": self.percent,
                "status": str(self.status), "reason": self.reason, "evidence": dict(self.evidence)}  # fmt: skip

    @classmethod
    def from_json(cls, raw: Any) -> Decision:
        """A decision from its JSON object; KeyError, TypeError or ValueError when it is not one."""
        if not isinstance(raw, dict) or not isinstance(raw["evidence"], dict) or not isinstance(raw["flags"], list):
            raise TypeError("a decision is an object with seq, unix, kind, flagIndex, flags, step, percent, ...")
        return cls(seq=int(raw["seq"]), time=float(raw["unix"]), kind=Kind(raw["kind"]),
                   flag_index=int(raw["flagIndex"]), step=int(raw["step"]), percent=float(raw["percent"]),
                   status=Status(raw["status"]), reason=str(raw.get("reason", "")),
                   flags=tuple(str(flag) for flag in raw["flags"]), evidence=raw["evidence"])  # fmt: skip


@dataclass(frozen=True, kw_only=True)
class RolloutState:
    """The whole of rollout-state.json: which plan, where the rollout stands, why, and the last decision in it."""

    plan_name: str
    plan_digest: str
    flag_index: int = 0
    step_index: int = NOT_STARTED
    percent: float = 0.0  # the percent last applied (0 before the first step)
    step_started_at: float | None = None  # unix seconds the current step's percent was applied
    status: Status = Status.RUNNING
    reason: str = ""
    last_seq: int = 0
    pending: Pending | None = None
    started_at: float = 0.0
    updated_at: float = 0.0

    def to_json(self) -> dict[str, Any]:
        started = self.step_started_at
        return {
            "apiVersion": API_VERSION,
            "kind": STATE_KIND,
            "planName": self.plan_name,
            "planDigest": self.plan_digest,
            "flagIndex": self.flag_index,
            "stepIndex": self.step_index,
            "percent": self.percent,
            "stepStartedAt": None if started is None else iso(started),
            "stepStartedAtUnix": started,
            "status": str(self.status),
            "reason": self.reason,
            "lastSeq": self.last_seq,
            "pending": None if self.pending is None else self.pending.to_json(),
            "startedAtUnix": self.started_at,
            "updatedAtUnix": self.updated_at,
        }

    @classmethod
    def from_json(cls, raw: Any) -> RolloutState:
        """The state from its JSON object; KeyError, TypeError or ValueError when it is not one."""
        if not isinstance(raw, dict) or raw.get("kind") != STATE_KIND:
            raise ValueError(f"not a {STATE_KIND} document")
        if raw.get("apiVersion") != API_VERSION:
            raise ValueError(f"apiVersion {raw.get('apiVersion')!r} is not {API_VERSION}")
        started, pending = raw["stepStartedAtUnix"], raw["pending"]
        return cls(plan_name=str(raw["planName"]), plan_digest=str(raw["planDigest"]),
                   flag_index=int(raw["flagIndex"]), step_index=int(raw["stepIndex"]), percent=float(raw["percent"]),
                   step_started_at=None if started is None else float(started), status=Status(raw["status"]),
                   reason=str(raw["reason"]), last_seq=int(raw["lastSeq"]),
                   pending=None if pending is None else Pending.from_json(pending),
                   started_at=float(raw["startedAtUnix"]), updated_at=float(raw["updatedAtUnix"]))  # fmt: skip


@dataclass(frozen=True)
class Recovery:
    """The state to resume from, the decisions behind it, and what reading them had to say."""

    state: RolloutState
    decisions: tuple[Decision, ...]
    warnings: tuple[str, ...] = ()
    replayed: int = 0  # decisions the state file had missed (a crash between the log and the state write)
    log_bytes: int = 0  # the length of the log's intact part: a torn tail after it is cut off before appending

    @property
    def reapply(self) -> Pending | None:
        """The flag change to set again before anything else: decided, maybe set, never confirmed."""
        return self.state.pending


def plan_digest(path: Path) -> str:
    """The plan file's identity: a resumed rollout must run the plan it started with."""
    try:
        return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as exc:
        raise RolloutStateError(f"{path}: cannot read the plan ({exc.strerror})") from None


def apply(state: RolloutState, decision: Decision) -> RolloutState:
    """The state after one decision: the one transition function of both the live controller and recovery."""
    if decision.seq != state.last_seq + 1:
        raise ValueError(f"decision {decision.seq} follows decision {state.last_seq}")
    changes: dict[str, Any] = {"last_seq": decision.seq, "status": decision.status, "updated_at": decision.time,
                               "reason": _reason_after(state, decision)}  # fmt: skip
    target = (decision.flag_index, decision.step, decision.percent)
    if decision.kind in _TRANSITIONS:
        pending = state.pending
        # An intent for what a promote or rollback already asked for keeps that cause: the log says why.
        cause = decision.kind
        if pending is not None and decision.kind == Kind.INTENT and pending.same_target(*target):
            cause = pending.cause
        changes["pending"] = Pending(cause, *target, decision.flags)
    elif decision.kind == Kind.APPLIED:
        if state.pending is None or not state.pending.same_target(*target):
            raise ValueError(f"decision {decision.seq}: applied {_target_text(*target)} that no intent asked for")
        changes["pending"] = None
        if (state.flag_index, state.step_index, state.percent) != target:
            changes["step_started_at"] = decision.time  # the step's window starts once its split is in place
        changes.update(flag_index=decision.flag_index, step_index=decision.step, percent=decision.percent)
    return replace(state, **changes)


def _reason_after(state: RolloutState, decision: Decision) -> str:
    """Why the rollout is in its status: a look's reason is the log's alone unless the look changed the status."""
    if decision.kind not in _KEEP_REASON:
        return decision.reason
    if decision.reason and (decision.kind != Kind.LOOK or decision.status != state.status):
        return decision.reason
    return state.reason


def default_status(state: RolloutState, kind: Kind) -> Status:
    """The status a decision of this kind leaves the rollout in, when the controller does not say."""
    if kind == Kind.APPLIED:
        rolled_back = state.pending is not None and state.pending.cause == Kind.ROLLBACK
        return Status.ROLLED_BACK if rolled_back else Status.RUNNING
    return _DEFAULT_STATUS.get(kind, state.status)


def read_state(directory: Path) -> RolloutState | None:
    """DIR/rollout-state.json, or None when there is none."""
    path = directory / STATE_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise RolloutStateError(f"{path}: unreadable ({exc.strerror})") from None
    try:
        return RolloutState.from_json(json.loads(text))
    except (ValueError, KeyError, TypeError) as exc:
        raise RolloutStateError(f"{path}: not a rollout state ({exc})") from None


def read_decisions(directory: Path) -> tuple[list[Decision], list[str], int]:
    """The decision log's decisions, warnings, and the byte length of its intact part (a torn tail is left out).

    A line is written whole with its newline and fsynced before the controller acts on it, so a last line
    without its newline, or one that does not parse, is a crash in the middle of an append: that decision
    never took effect and is ignored with a warning. A bad line anywhere else is an error.
    """
    path = directory / DECISIONS_FILE
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return [], [], 0
    except OSError as exc:
        raise RolloutStateError(f"{path}: unreadable ({exc.strerror})") from None
    complete, _, fragment = data.rpartition(b"\n")
    lines = complete.split(b"\n") if complete or data.endswith(b"\n") else []
    decisions: list[Decision] = []
    warnings: list[str] = []
    intact = 0
    for number, line in enumerate(lines, start=1):
        try:
            decision = None if not line.strip() else Decision.from_json(json.loads(line))
        except (ValueError, KeyError, TypeError) as exc:
            if number == len(lines) and not fragment:
                warnings.append(f"warning: {path}:{number}: ignoring a torn last line ({len(line)} bytes)")
                return decisions, warnings, intact
            raise RolloutStateError(f"{path}:{number}: not a decision ({exc})") from None
        if decision is not None:
            expected = decisions[-1].seq + 1 if decisions else 1
            if decision.seq != expected:
                raise RolloutStateError(f"{path}:{number}: decision seq {decision.seq}, expected {expected}")
            decisions.append(decision)
        intact += len(line) + 1
    if fragment:
        warnings.append(f"warning: {path}:{len(lines) + 1}: ignoring a torn last line ({len(fragment)} bytes)")
    return decisions, warnings, intact


def recover(directory: Path) -> Recovery | None:
    """The state to resume from (the state file plus the decisions it missed), or None when there is no rollout."""
    state = read_state(directory)
    if state is None:
        return None
    decisions, warnings, intact = read_decisions(directory)
    logged = decisions[-1].seq if decisions else 0
    if state.last_seq > logged:
        raise RolloutStateError(
            f"{directory / STATE_FILE}: records decision {state.last_seq}, but "
            f"{DECISIONS_FILE} ends at {logged}; the log was truncated or replaced"
        )
    missed = decisions[state.last_seq :]
    for decision in missed:
        try:
            state = apply(state, decision)
        except ValueError as exc:
            raise RolloutStateError(f"{directory / DECISIONS_FILE}: {exc}") from None
    return Recovery(state, tuple(decisions), tuple(warnings), len(missed), intact)


def require_plan(state: RolloutState, digest: str, plan: Path) -> None:
    """Refuse to resume a rollout with a plan other than the one it started with."""
    if state.plan_digest != digest:
        raise RolloutStateError(
            f"{plan}: changed since rollout {state.plan_name!r} started "
            f"({digest} is not {state.plan_digest}); restore it, or start a new rollout"
        )


class RolloutStore:
    """The writer of one state directory, holding its lock: records decisions, keeps the state file current."""

    def __init__(self, directory: Path, state: RolloutState, log: IO[bytes]) -> None:
        self.directory = directory
        self._state = state
        self._log = log

    @property
    def state(self) -> RolloutState:
        return self._state

    @classmethod
    def create(cls, directory: Path, *, plan_name: str, plan_digest: str, now: float | None = None) -> RolloutStore:
        """A new rollout in `directory`; refused when one is recorded there already."""
        directory.mkdir(parents=True, exist_ok=True)
        log = _open_locked(directory)
        try:
            if read_state(directory) is not None or log.seek(0, os.SEEK_END) > 0:
                raise RolloutStateError(f"{directory}: holds a rollout already; resume it, or choose another directory")
            started = time.time() if now is None else now
            state = RolloutState(plan_name=plan_name, plan_digest=plan_digest, started_at=started,
                                 updated_at=started)  # fmt: skip
            _write_state(directory, state)
        except BaseException:
            log.close()
            raise
        return cls(directory, state, log)

    @classmethod
    def open(cls, directory: Path) -> tuple[RolloutStore, Recovery]:
        """The recorded rollout, reconciled: a torn last line cut off, missed decisions replayed into the state."""
        log = _open_locked(directory)
        try:
            recovery = recover(directory)
            if recovery is None:
                raise RolloutStateError(f"{directory / STATE_FILE}: no rollout recorded here")
            if log.seek(0, os.SEEK_END) > recovery.log_bytes:
                log.truncate(recovery.log_bytes)  # the next line must not be glued to a torn one
                os.fsync(log.fileno())
            if recovery.replayed:
                _write_state(directory, recovery.state)
        except BaseException:
            log.close()
            raise
        return cls(directory, recovery.state, log), recovery

    def record(
        self,
        kind: Kind,
        *,
        step: int | None = None,
        percent: float | None = None,
        flag_index: int | None = None,
        flags: tuple[str, ...] = (),
        reason: str = "",
        evidence: Mapping[str, Any] | None = None,
        status: Status | None = None,
        now: float | None = None,
    ) -> Decision:
        """Append one decision (durable when this returns), then rewrite the state; where unsaid, where it stands."""
        state = self._state
        pending = state.pending
        if kind == Kind.APPLIED and pending is not None:  # by default, what the intent asked for
            flag_index = pending.flag_index if flag_index is None else flag_index
            step = pending.step if step is None else step
            percent = pending.percent if percent is None else percent
            flags = flags or pending.flags
        decision = Decision(
            seq=state.last_seq + 1, time=time.time() if now is None else now, kind=kind,
            flag_index=state.flag_index if flag_index is None else flag_index,
            step=state.step_index if step is None else step, percent=state.percent if percent is None else percent,
            status=default_status(state, kind) if status is None else status, reason=reason,
            flags=flags, evidence=_json_safe(evidence or {}),
        )  # fmt: skip
        try:
            following = apply(state, decision)
        except ValueError as exc:
            raise RolloutStateError(f"{self.directory / DECISIONS_FILE}: {exc}") from None
        line = json.dumps(decision.to_json(), allow_nan=False, separators=(",", ":")) + "\n"
        self._append(line.encode("utf-8"))
        try:
            _write_state(self.directory, following)
        except OSError as exc:  # the decision is in the log: recovery replays it into the state
            raise RolloutStateError(f"{self.directory / STATE_FILE}: cannot write ({exc.strerror})") from None
        self._state = following
        return decision

    def _append(self, line: bytes) -> None:
        """One whole line, durable on return; a failed write (a full disk) is cut back, never left half-written."""
        end = self._log.seek(0, os.SEEK_END)
        try:
            self._log.write(line)
            self._log.flush()
            os.fsync(self._log.fileno())
        except OSError as exc:
            with contextlib.suppress(OSError):
                self._log.truncate(end)
            raise RolloutStateError(f"{self.directory / DECISIONS_FILE}: cannot append ({exc.strerror})") from None

    def close(self) -> None:
        self._log.close()  # closing the file releases the lock

    def __enter__(self) -> RolloutStore:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def locked(directory: Path) -> bool:
    """Whether a controller holds the directory's lock (the flock on the decision log a store keeps)."""
    try:
        log = open(directory / DECISIONS_FILE, "rb")  # noqa: SIM115 - closed below, lock test only
    except OSError:
        return False
    with log:
        try:
            fcntl.flock(log.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return True
        fcntl.flock(log.fileno(), fcntl.LOCK_UN)
    return False


# ---- the abort request: how `abort` reaches a running controller ----------------------------------


def request_abort(directory: Path, reason: str, *, now: float | None = None) -> None:
    """Leave an abort request for the controller that holds the lock (written atomically)."""
    request = {"reason": reason, "requestedAt": iso(time.time() if now is None else now)}
    write_text_atomic(directory / ABORT_REQUEST_FILE, json.dumps(request) + "\n")


def read_abort_request(directory: Path) -> str | None:
    """The reason of a pending abort request, or None."""
    try:
        raw = json.loads((directory / ABORT_REQUEST_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return "abort requested (unreadable request file)"
    return f"abort requested: {raw.get('reason', '')}" if isinstance(raw, dict) else "abort requested"


def clear_abort_request(directory: Path) -> None:
    """The request was recorded as an `abort` decision: remove it."""
    with contextlib.suppress(FileNotFoundError):
        (directory / ABORT_REQUEST_FILE).unlink()


def _open_locked(directory: Path) -> IO[bytes]:
    """The decision log opened for appending, locked against a second controller (the lock dies with the process)."""
    path = directory / DECISIONS_FILE
    try:
        log = open(path, "ab")  # noqa: SIM115 - the store keeps it open (and locked) for its lifetime
    except OSError as exc:
        raise RolloutStateError(f"{path}: cannot open ({exc.strerror})") from None
    try:
        fcntl.flock(log.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        log.close()
        raise RolloutStateError(f"{directory}: another sloguard rollout is running on it; stop it first") from None
    return log


def _write_state(directory: Path, state: RolloutState) -> None:
    write_text_atomic(directory / STATE_FILE, json.dumps(state.to_json(), indent=2) + "\n")
    with contextlib.suppress(OSError):  # the rename is durable once the directory is (a plan lasting weeks)
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _json_safe(value: Any) -> Any:
    """Evidence as strict JSON: a non-finite number (a boundary not yet reachable) is written as null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(key): _json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(item) for item in value]
    if value is None or isinstance(value, str | int | bool):
        return value
    raise TypeError(f"evidence must be JSON (dicts, lists, strings, numbers), not {type(value).__name__}")


def _target_text(flag_index: int, step: int, percent: float) -> str:
    return f"flag {flag_index} step {step} at {percent:g} %"
