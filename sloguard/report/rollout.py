"""The performance report's rollout section: a rollout's steps over time, how each ended, and the evidence.

Read from the rollout's state directory only (state.recover, read-only: it works beside a running
controller). Looks are many (one per interval for weeks), so they are summarised per step; every other
decision (promote, rollback, hold, resume, abort) is listed with its evidence.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sloguard.durations import iso
from sloguard.errors import UsageError
from sloguard.report import svg
from sloguard.report.perfdata import Series
from sloguard.report.perfdoc import Chart, Para, Section, Table
from sloguard.rollout.state import Decision, Kind, Recovery, recover

TITLE = "Rollout"
CHART = "rollout-timeline"
# The decisions listed one by one; looks are summarised per step, intent and applied are how a change is carried out.
_LISTED = frozenset({Kind.PROMOTE, Kind.ROLLBACK, Kind.HOLD, Kind.RESUME, Kind.ABORT})
_UNITS = (("d", 86400.0), ("h", 3600.0), ("min", 60.0), ("s", 1.0))
_MAX_EVIDENCE_CHARS = 240


def load_rollout(directory: Path) -> Recovery:
    """The rollout recorded in `directory`, or a UsageError naming it."""
    recovery = recover(directory)
    if recovery is None:
        raise UsageError(f"{directory}: no rollout recorded here (no rollout-state.json); pass a rollout's --state-dir")
    return recovery


def rollout_section(recovery: Recovery) -> Section:
    state, decisions = recovery.state, recovery.decisions
    section = Section(TITLE)
    where = f"step {state.step_index + 1}" if state.step_index >= 0 else "no step"
    section.add(Para(
        f"Rollout `{state.plan_name}`: **{str(state.status).upper()}** at {state.percent:g} % ({where}, flag pass "
        f"{state.flag_index + 1})" + (f"; {state.reason}" if state.reason else "") + f". {len(decisions)} decisions "
        f"from {iso(state.started_at)} to {iso(state.updated_at)}; plan {state.plan_digest}."
    ))  # fmt: skip
    for warning in recovery.warnings:
        section.add(Para(warning))
    section.add(timeline_chart(decisions, state.started_at))
    section.add(step_table(decisions))
    listed = [d for d in decisions if d.kind in _LISTED]
    if listed:
        section.add(Table(["seq", "time", "decision", "step", "percent", "status", "reason", "evidence"], [
            [str(d.seq), iso(d.time), str(d.kind), str(d.step + 1), f"{d.percent:g} %", str(d.status), d.reason,
             evidence_text(d.evidence)] for d in listed
        ]))  # fmt: skip
    else:
        section.add(Para("No promotion, rollback, hold or abort yet."))
    return section


def _unit(span: float) -> tuple[str, float]:
    return next(((name, scale) for name, scale in _UNITS if span >= 2 * scale), _UNITS[-1])


def timeline_chart(decisions: Sequence[Decision], started_at: float) -> Chart:
    """The percent applied to each flag over time: a step line, one series per flag."""
    title = "Rust percent per flag over the rollout (each step from its applied decision)"
    applied = [d for d in decisions if d.kind == Kind.APPLIED]
    end = decisions[-1].time if decisions else started_at
    unit, scale = _unit(end - started_at)
    flags = sorted({flag for d in applied for flag in d.flags}) or ["rust path"]
    series: list[Series] = []
    for flag in flags:
        xs, ys, percent = [0.0], [0.0], 0.0
        for d in applied:
            if d.flags and flag not in d.flags:
                continue
            x = (d.time - started_at) / scale
            xs += [x, x]  # a vertical edge: the split changes at once
            ys += [percent, d.percent]
            percent = d.percent
        xs.append((end - started_at) / scale)
        ys.append(percent)
        series.append(Series(flag, xs, ys, dashed=len(series) > 0))
    body = (svg.line_chart(series, x_label=f"time since the rollout started ({unit})", y_label="% on the Rust path",
                           title=title, y_min=0.0, y_max=100.0) if applied
            else svg.no_data(title, "no flag change applied yet"))  # fmt: skip
    return Chart(CHART, title, body)


@dataclass
class _Step:
    flag_index: int
    step: int
    percent: float
    started: float
    ended: float
    looks: int = 0
    last_look: Decision | None = None
    outcome: str = "current"
    flags: tuple[str, ...] = field(default_factory=tuple)


def _steps(decisions: Sequence[Decision]) -> list[_Step]:
    steps: list[_Step] = []
    for d in decisions:
        current = steps[-1] if steps else None
        if d.kind == Kind.APPLIED:
            if current is not None:
                current.ended = d.time
            steps.append(_Step(d.flag_index, d.step, d.percent, d.time, d.time, flags=d.flags))
        elif current is not None:
            current.ended = d.time
            if d.kind == Kind.LOOK:
                current.looks += 1
                current.last_look = d
            elif d.kind in _LISTED:
                current.outcome = str(d.kind)
    return steps


def step_table(decisions: Sequence[Decision]) -> Table | Para:
    """One row per applied split: how long it ran, its looks, its last look's evidence, how it ended."""
    steps = _steps(decisions)
    if not steps:
        return Para("No step has started yet.")
    rows = []
    for s in steps:
        unit, scale = _unit(s.ended - s.started)
        last = evidence_text(s.last_look.evidence) if s.last_look is not None else "-"
        rows.append(
            [
                f"{s.flag_index + 1}.{s.step + 1}",
                f"{s.percent:g} %",
                ", ".join(s.flags) or "-",
                iso(s.started),
                f"{(s.ended - s.started) / scale:.1f} {unit}",
                str(s.looks),
                s.outcome,
                last,
            ]
        )
    return Table(["pass.step", "percent", "flags", "applied", "time in step", "looks", "ended by",
                  "last look's evidence"], rows)  # fmt: skip


def evidence_text(evidence: Mapping[str, Any]) -> str:
    """A decision's evidence in one line: the monitors first, then the gates, then the other values.

    The step table already says when and how long, so a `window` is left out; what is cut at the length
    limit is the least telling part.
    """
    monitors, gates, others = [], [], []
    for key, value in evidence.items():
        if isinstance(value, Mapping) and "decision" in value:
            stat, bound = value.get("statistic"), value.get("boundary")
            numbers = f" (z {_number(stat)} vs {_number(bound)})" if stat is not None else ""
            monitors.append(f"{key}: {value['decision']}{numbers}")
        elif isinstance(value, list) and value and all(isinstance(v, Mapping) and "status" in v for v in value):
            gates.append(_gates_text(key, value))
        elif key == "window" or isinstance(value, list):
            continue
        elif isinstance(value, Mapping):
            inner = ", ".join(f"{k} {_number(v)}" for k, v in value.items() if not isinstance(v, Mapping | list))
            others.append(f"{key}: {inner}" if inner else key)
        else:
            others.append(f"{key} {_number(value)}")
    text = "; ".join(monitors + gates + others) or "-"
    return text if len(text) <= _MAX_EVIDENCE_CHARS else text[: _MAX_EVIDENCE_CHARS - 1] + "…"


def _gates_text(key: str, gates: Sequence[Mapping[str, Any]]) -> str:
    """`gates: 3 pass, 1 fail (authz-error-rate)`: counts per status, naming the objectives that did not pass."""
    counts = Counter(str(g["status"]) for g in gates)
    failing = [str(g.get("objective", "?")) for g in gates if g["status"] != "pass"]
    named = f" ({', '.join(dict.fromkeys(failing))})" if failing else ""
    return f"{key}: " + ", ".join(f"{n} {status}" for status, n in counts.items()) + named


def _number(value: Any) -> str:
    if isinstance(value, bool | int) or not isinstance(value, float):
        return str(value)
    return f"{value:.3g}" if math.isfinite(value) else str(value)
