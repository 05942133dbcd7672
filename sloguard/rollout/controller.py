"""The rollout controller: walks a plan's steps, looks every interval, promotes, rolls back or holds (docs/rollout.md).

A look judges the step's window [step start, now] twice: the plan's SLO spec per implementation (any
objective failing on implementation=rust fails the gate; no_data is not a pass) and the same-window
Rust-vs-Python comparison (the sequential monitors on the error and bucket counts of both paths). Every
look and every decision goes to the decision log before the controller acts on it (state.py), and a
flag change is bracketed by `intent` and `applied`, so a crash or a kill at any point resumes without
a second promotion. Time comes in through `Clock`, so tests run a two-week step in milliseconds.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from rich.console import Console

from sloguard import conventions as c
from sloguard import promql
from sloguard.conventions import ExitCode
from sloguard.durations import Window, iso
from sloguard.errors import SloguardError, UsageError
from sloguard.evaluate import QueryFn, Verdict, evaluate
from sloguard.evaluate import Status as VerdictStatus
from sloguard.prometheus import Sample, bucket_counts
from sloguard.rollout.client_latencies import ClientLatencies
from sloguard.rollout.flags import FlagSetter, format_percent
from sloguard.rollout.plan import RolloutPlan
from sloguard.rollout.sequential import HARM, ErrorRatioMonitor, Evidence, LatencyMonitor
from sloguard.rollout.state import (
    NOT_STARTED,
    Decision,
    Kind,
    Pending,
    RolloutState,
    RolloutStateError,
    RolloutStore,
    Status,
    clear_abort_request,
    locked,
    plan_digest,
    read_abort_request,
    read_decisions,
    recover,
    request_abort,
    require_plan,
)
from sloguard.spec.model import SLOSet

_EXIT_FOR = {Status.COMPLETED: ExitCode.PASS, Status.ROLLED_BACK: ExitCode.FAILED, Status.ABORTED: ExitCode.FAILED}


@dataclass(frozen=True)
class Clock:
    """Where the controller reads the time and how it waits: the real ones, or a test's."""

    now: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep


@dataclass(frozen=True)
class Look:
    """One evaluation of a step: the gates, the monitors and the counts behind them, over `window`."""

    window: Window
    totals: dict[str, float]  # events per implementation over the monitors' window (`compared`)
    errors: dict[str, float]
    gates: tuple[Verdict, ...]  # the verdicts on implementation=rust
    error_ratio: Evidence
    latency: Evidence
    promotable: bool = False
    reasons: tuple[str, ...] = field(default_factory=tuple)  # why not promotable, or why harmful
    compared: Window | None = None  # the monitors' window: since the climb's first step (None: `window`)
    client_latency: Evidence | None = None  # the generator's samples by X-Sark-Implementation, when it runs
    step_totals: dict[str, float] | None = None  # events per implementation over the step's `window` (None: totals)

    @property
    def failed_gates(self) -> list[Verdict]:
        return [v for v in self.gates if v.status is VerdictStatus.FAIL]

    @property
    def harmful(self) -> bool:
        return bool(self.failed_gates) or HARM in (m.decision for _, m in self.monitors())

    @property
    def step_events(self) -> dict[str, float]:
        return self.totals if self.step_totals is None else self.step_totals

    def monitors(self) -> list[tuple[str, Evidence]]:
        """The comparison's monitors by the name a reason gives them."""
        shown = [("error ratio", self.error_ratio), ("latency", self.latency)]
        return shown + ([("client latency", self.client_latency)] if self.client_latency is not None else [])

    def evidence(self) -> dict[str, Any]:
        return {
            "window": _window_json(self.window),
            "comparisonWindow": _window_json(self.compared or self.window),
            "events": self.totals,
            "stepEvents": self.step_events,
            "errors": self.errors,
            "gates": [{"objective": v.objective.name, "group": v.group, "status": str(v.status), "value": v.value,
                       "events": v.events, "reason": v.reason} for v in self.gates],
            "errorRatio": self.error_ratio.to_json(),
            "latency": self.latency.to_json(),
            **({"clientLatency": self.client_latency.to_json()} if self.client_latency is not None else {}),
            "promotable": self.promotable,
            "reasons": list(self.reasons),
        }


class Controller:
    """Runs one rollout from its store's state until it completes, rolls back, is aborted or interrupted."""

    def __init__(self, plan: RolloutPlan, store: RolloutStore, setter: FlagSetter, query: QueryFn, slo_set: SLOSet,
                 *, clock: Clock | None = None, console: Console | None = None,
                 client: ClientLatencies | None = None) -> None:  # fmt: skip
        self.plan = plan
        self.store = store
        self.setter = setter
        self.query = query
        self.slo_set = slo_set
        self.clock = clock or Clock()
        self.console = console
        self.client = client
        self._since: tuple[tuple[int, float | None], float] | None = None

    def run(self) -> ExitCode:
        """Drive the plan; a Ctrl-C or a failure to evaluate holds the step (and says why) before it propagates."""
        try:
            return self._drive()
        except KeyboardInterrupt:
            self._hold("interrupted (Ctrl-C); `sloguard rollout resume` continues this step")
            raise
        except RolloutStateError:
            raise  # the log itself failed: nothing more can be recorded
        except SloguardError as exc:
            self._hold(f"could not evaluate: {exc}")
            raise

    def _drive(self) -> ExitCode:
        if self.store.state.pending is not None:
            self._carry_out("re-applying a flag change a stopped controller had not confirmed")
        while True:
            state = self.store.state
            if state.status in _EXIT_FOR:
                return _EXIT_FOR[state.status]
            if state.status is Status.HELD:
                return ExitCode.ERROR
            passes = self.plan.flag_passes()
            if state.step_index == NOT_STARTED:
                self._move(Kind.PROMOTE, state.flag_index, 0, "starting the pass", {})
            elif self.plan.steps[state.step_index].percent >= 100:  # a pass done, and another to go
                self._move(Kind.PROMOTE, state.flag_index + 1, 0, f"{', '.join(passes[state.flag_index])} at 100 %",
                           {})  # fmt: skip
            else:
                self.clock.sleep(self.plan.interval_seconds)
                if self._abort_requested():
                    continue
                self._decide(self.look())

    def look(self) -> Look:
        """Judge the current step over [its start, now]: the spec's gates on Rust and the two monitors."""
        state = self.store.state
        now = self.clock.now()
        start = state.step_started_at if state.step_started_at is not None else now
        window = Window(start, max(now, start + 1e-3))
        step = self.plan.steps[state.step_index]
        matchers = self.slo_set.selector
        # The monitors read the counts since the climb began (docs/rollout.md, "The window"): an
        # always-valid test stays valid on them, and evidence survives a promotion.
        since = min(self._evidence_since(), start)
        compared_window = Window(since, max(now, since + 1e-3))
        compared = compared_window.seconds
        totals = _by_implementation(self.query(promql.requests_by_implementation(matchers, compared), now))
        # minEvents is the step's own sample size: the climb's earlier steps do not count towards it.
        step_totals = (totals if compared_window.start >= window.start else
                       _by_implementation(self.query(promql.requests_by_implementation(matchers, window.seconds),
                                                     now)))  # fmt: skip
        errors = _by_implementation(self.query(promql.errors_by_implementation(matchers, compared), now))
        # A Rust engine failure is served by Python (and labelled so) after a fallback: count each one as a
        # failed Rust attempt, or panics would never weigh against Rust.
        fallbacks = _total(self.query(promql.fallbacks_total(matchers, compared), now))
        if fallbacks > 0:
            totals[c.IMPL_RUST] = totals.get(c.IMPL_RUST, 0.0) + fallbacks
            errors[c.IMPL_RUST] = errors.get(c.IMPL_RUST, 0.0) + fallbacks
        buckets = _buckets_by_implementation(
            self.query(promql.latency_buckets_by_implementation(matchers, compared), now))
        criteria = self.plan.compare
        planned = max(step.min_events, 1)
        error_ratio = ErrorRatioMonitor(criteria.error_ratio_margin, criteria.alpha, planned).look(
            errors.get(c.IMPL_RUST, 0.0), totals.get(c.IMPL_RUST, 0.0),
            errors.get(c.IMPL_PYTHON, 0.0), totals.get(c.IMPL_PYTHON, 0.0))  # fmt: skip
        # With the generator's samples there are two latency tests of one question: each gets half of
        # alpha, so latency as a whole keeps the plan's false-rollback rate (Bonferroni).
        latency_alpha = criteria.alpha / 2 if self.client is not None else criteria.alpha
        latency_monitor = LatencyMonitor(criteria.latency_quantile, criteria.latency_margin, latency_alpha, planned)
        latency = latency_monitor.look(buckets.get(c.IMPL_RUST, []), buckets.get(c.IMPL_PYTHON, []))
        client_latency = None
        if self.client is not None:
            client_buckets = self.client.buckets_since(since)
            client_latency = latency_monitor.look(client_buckets.get(c.IMPL_RUST, []),
                                                  client_buckets.get(c.IMPL_PYTHON, []))
        result = evaluate(self.slo_set, window, self.query)
        gates = tuple(v for v in result.verdicts if v.group_labels.get(c.LABEL_IMPLEMENTATION) == c.IMPL_RUST)
        look = Look(window, totals, errors, gates, error_ratio, latency, compared=compared_window,
                    client_latency=client_latency, step_totals=step_totals)
        reasons = _harm_reasons(look) or _not_yet(look, step.min_duration_seconds, step.min_events)
        return replace(look, promotable=not reasons, reasons=tuple(reasons))

    def _evidence_since(self) -> float:
        """When the current climb's first step was applied (read from the log once per step change)."""
        state = self.store.state
        key = (state.flag_index, state.step_started_at)
        if self._since is None or self._since[0] != key:
            decisions, _, _ = read_decisions(self.store.directory)
            since = evidence_since(decisions, state.flag_index)
            self._since = (key, since if since is not None else (state.step_started_at or self.clock.now()))
        return self._since[1]

    def _decide(self, look: Look) -> None:
        state = self.store.state
        evidence = look.evidence()
        self._progress(look)
        if look.harmful:
            self.store.record(Kind.LOOK, evidence=evidence, now=look.window.end)
            self._rollback("; ".join(look.reasons), evidence)
        elif look.promotable:
            self.store.record(Kind.LOOK, evidence=evidence, now=look.window.end)
            step = self.plan.steps[state.step_index]
            reason = (f"{format_percent(step.percent)} % held {_duration(look.window.seconds)} with "
                      f"{_events(look)}; every gate passes and no monitor says harm")
            self._move(Kind.PROMOTE, state.flag_index, state.step_index + 1, reason, evidence)
        else:
            self.store.record(Kind.LOOK, evidence=evidence, reason="; ".join(look.reasons), now=look.window.end)

    def _rollback(self, reason: str, evidence: dict[str, Any]) -> None:
        state = self.store.state
        previous = self.plan.rollback_percent(state.step_index)
        target = NOT_STARTED if previous == 0 else state.step_index - 1
        self._move(Kind.ROLLBACK, state.flag_index, target, reason, evidence, percent=previous)

    def _move(self, kind: Kind, flag_index: int, step: int, reason: str, evidence: dict[str, Any],
              *, percent: float | None = None) -> None:  # fmt: skip
        """Decide a flag change (promote or rollback), then carry it out: intent, the flags set, applied."""
        flags = self.plan.flag_passes()[flag_index]
        target = self.plan.steps[step].percent if percent is None else percent
        self.store.record(kind, flag_index=flag_index, step=step, percent=target, flags=flags, reason=reason,
                          evidence=evidence, now=self.clock.now())  # fmt: skip
        self._carry_out()

    def _carry_out(self, reason: str = "") -> None:
        pending = self.store.state.pending
        assert pending is not None  # only called with a decided change
        self.store.record(Kind.INTENT, flag_index=pending.flag_index, step=pending.step, percent=pending.percent,
                          flags=pending.flags, reason=reason, now=self.clock.now())  # fmt: skip
        for flag in pending.flags:
            self.setter.set(flag, pending.percent)
        final = pending.cause is not Kind.ROLLBACK and self._is_final(pending)
        self.store.record(Kind.APPLIED, status=Status.COMPLETED if final else None, now=self.clock.now(),
                          reason="every flag at 100 %" if final else "")  # fmt: skip
        if self.console is not None:
            self.console.print(f"{pending.cause}: {', '.join(pending.flags)} at {format_percent(pending.percent)} %",
                               markup=False, highlight=False)  # fmt: skip

    def _is_final(self, pending: Pending) -> bool:
        last_pass = len(self.plan.flag_passes()) - 1
        return pending.flag_index == last_pass and pending.step == len(self.plan.steps) - 1

    def _abort_requested(self) -> bool:
        request = read_abort_request(self.store.directory)
        if request is None:
            return False
        self.store.record(Kind.ABORT, reason=request, now=self.clock.now())
        clear_abort_request(self.store.directory)
        return True

    def _hold(self, reason: str) -> None:
        if self.store.state.status is Status.RUNNING:
            self.store.record(Kind.HOLD, reason=reason, now=self.clock.now())

    def _progress(self, look: Look) -> None:
        if self.console is None:
            return
        state = self.store.state
        step = self.plan.steps[state.step_index]
        self.console.print(
            f"step {state.step_index + 1}/{len(self.plan.steps)} {format_percent(step.percent)} % · "
            f"{_duration(look.window.seconds)} in step · {_events(look)} · errors {_shown(look.error_ratio)} · "
            f"latency {_shown(look.latency)}"
            + (f" · client latency {_shown(look.client_latency)}" if look.client_latency is not None else "")
            + f" · gates {_gates(look)}", markup=False, highlight=False)  # fmt: skip


# ---- the commands' work (cli/rollout.py parses; these do) ----------------------------------------


def start(plan: RolloutPlan, plan_file: Path, directory: Path, *, now: float | None = None) -> RolloutStore:
    """A new rollout of `plan` recorded in `directory` (refused where one is recorded)."""
    return RolloutStore.create(directory, plan_name=plan.name, plan_digest=plan_digest(plan_file), now=now)


def reopen(plan_file: Path, directory: Path, *, now: float | None = None) -> tuple[RolloutStore, tuple[str, ...]]:
    """The recorded rollout and the warnings reading it gave; a held or rolled-back one is resumed (recorded)."""
    store, recovery = RolloutStore.open(directory)
    try:
        require_plan(store.state, plan_digest(plan_file), plan_file)
        if store.state.status is Status.ABORTED:
            raise UsageError(f"{directory}: the rollout was aborted ({store.state.reason}); start a new one")
        if store.state.status in (Status.HELD, Status.ROLLED_BACK):
            store.record(Kind.RESUME, reason=f"resumed after: {store.state.reason}", now=now)
    except BaseException:
        store.close()
        raise
    return store, recovery.warnings


def abort(directory: Path, reason: str, *, now: float | None = None) -> str:
    """Abort the rollout in `directory`: at once when no controller runs, else at the running one's next look."""
    try:
        store, _ = RolloutStore.open(directory)
    except RolloutStateError:
        if not locked(directory):
            raise
        request_abort(directory, reason, now=now)
        return f"{directory}: abort requested; the running controller aborts at its next look"
    with store:
        if store.state.status in (Status.COMPLETED, Status.ABORTED):
            raise UsageError(f"{directory}: the rollout is {store.state.status} already")
        store.record(Kind.ABORT, reason=reason, now=now)
    return f"{directory}: aborted; the flags stay where they are ({format_percent(store.state.percent)} %)"


def status_lines(directory: Path, plan: RolloutPlan | None = None) -> list[str]:
    """What `sloguard rollout status` prints: where the rollout stands and its last decision."""
    recovery = recover(directory)
    if recovery is None:
        raise RolloutStateError(f"{directory}: no rollout recorded here")
    state = recovery.state
    lines = [*recovery.warnings, f"rollout {state.plan_name}: {state.status}" + (f" ({state.reason})"
                                                                                 if state.reason else "")]
    lines.append(f"  step {_step_text(state, plan)}, {format_percent(state.percent)} % applied"
                 + (f" since {iso(state.step_started_at)}" if state.step_started_at is not None else ""))
    if state.pending is not None:
        lines.append(f"  pending: {state.pending.cause} to {format_percent(state.pending.percent)} % "
                     "(resume sets it again)")
    if recovery.decisions:
        last = recovery.decisions[-1]
        lines.append(f"  last decision #{last.seq} {last.kind} at {iso(last.time)}"
                     + (f": {last.reason}" if last.reason else ""))
    request = read_abort_request(directory)
    if request is not None:
        lines.append(f"  {request} (at the running controller's next look)")
    return lines


def exit_code_of(state: RolloutState) -> ExitCode:
    return _EXIT_FOR.get(state.status, ExitCode.ERROR)


# ---- helpers --------------------------------------------------------------------------------------


def evidence_since(decisions: Sequence[Decision], flag_index: int) -> float | None:
    """The time of the first `applied` after the latest start of a climb of `flag_index`'s pass.

    A climb starts at the pass's first promotion (step 0) and again after every rollback: evidence
    gathered before a rollback is about a Rust that was rolled back, not the one climbing now.
    """
    since: float | None = None
    armed = False
    for decision in decisions:
        if decision.flag_index != flag_index:
            continue
        if decision.kind is Kind.ROLLBACK or (decision.kind is Kind.PROMOTE and decision.step == 0):
            since, armed = None, True
        elif decision.kind is Kind.APPLIED and armed and since is None:
            since = decision.time
    return since


def _window_json(window: Window) -> dict[str, Any]:
    return {"start": iso(window.start), "end": iso(window.end), "seconds": window.seconds}


def _total(samples: Sequence[Sample]) -> float:
    return sum(sample.value for sample in samples if not math.isnan(sample.value))


def _by_implementation(samples: Sequence[Sample]) -> dict[str, float]:
    out: dict[str, float] = {}
    for sample in samples:
        value = sample.value if math.isfinite(sample.value) else 0.0
        impl = sample.labels.get(c.LABEL_IMPLEMENTATION, "")
        out[impl] = out.get(impl, 0.0) + value
    return out


def _buckets_by_implementation(samples: Sequence[Sample]) -> dict[str, list[tuple[float, float]]]:
    grouped = bucket_counts(samples, lambda labels: labels.get(c.LABEL_IMPLEMENTATION, ""))
    return {impl: sorted((bound, count) for bound, count in buckets if not math.isnan(bound) and math.isfinite(count))
            for impl, buckets in grouped.items()}


def _harm_reasons(look: Look) -> list[str]:
    reasons = [f"gate failed: {v.objective.name} on {v.group}" + (f" ({v.reason})" if v.reason else "")
               for v in look.failed_gates]  # fmt: skip
    for name, evidence in look.monitors():
        if evidence.decision == HARM:
            reasons.append(f"{name}: Rust worse than the margin allows (z {evidence.statistic:.2f} ≥ "
                           f"{evidence.boundary:.2f})")  # fmt: skip
    return reasons


def _not_yet(look: Look, min_seconds: float, min_events: int) -> list[str]:
    reasons = []
    if look.window.seconds < min_seconds:
        reasons.append(f"{_duration(look.window.seconds)} of {_duration(min_seconds)} in step")
    for impl in c.IMPLEMENTATIONS:
        if look.step_events.get(impl, 0.0) < min_events:
            reasons.append(f"{impl} {look.step_events.get(impl, 0.0):,.0f} of {min_events:,} events")
    reasons.extend(f"gate {v.objective.name} on {v.group} is {v.status}" for v in look.gates
                   if v.status not in (VerdictStatus.PASS, VerdictStatus.WARN))  # fmt: skip
    if not look.gates:
        reasons.append("no gate judged implementation=rust (no_data is not a pass)")
    return reasons


def _step_text(state: RolloutState, plan: RolloutPlan | None) -> str:
    if state.step_index == NOT_STARTED:
        return "not started"
    total = f"/{len(plan.steps)}" if plan is not None else ""
    return f"{state.step_index + 1}{total} (flag pass {state.flag_index + 1})"


def _events(look: Look) -> str:
    return " / ".join(f"{impl} {look.step_events.get(impl, 0.0):,.0f}" for impl in c.IMPLEMENTATIONS) + " events"


def _shown(evidence: Evidence) -> str:
    if not math.isfinite(evidence.boundary):
        return evidence.decision
    return f"{evidence.decision} (z {evidence.statistic:.2f}, harm at {evidence.boundary:.2f})"


def _gates(look: Look) -> str:
    if not look.gates:
        return "no data"
    failed = look.failed_gates
    if failed:
        return "fail: " + ", ".join(v.objective.name for v in failed)
    # no_data and inconclusive block a promotion: the line must not call them a pass.
    unjudged = [v for v in look.gates if v.status is not VerdictStatus.PASS and v.status is not VerdictStatus.WARN]
    return f"not judged: {', '.join(f'{v.objective.name} {v.status}' for v in unjudged)}" if unjudged else "pass"


def _duration(seconds: float) -> str:
    seconds = max(0.0, seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds:.0f}s"
