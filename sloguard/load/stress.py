"""`sloguard stress`: find the breaking point with stepped open-loop rates; time recovery from outages.

A step breaks when its error ratio exceeds the bound (HTTP and transport errors,
requests dropped at the in-flight cap, and the service's own decision="error"
count) or its p95, measured from intended send times, exceeds the declared
bound. The last step that held is the sustainable rate. A step whose requests
could not even be sent on time says so: the load generator, not the service, was
the limit.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sloguard import runs
from sloguard.conventions import API_VERSION, STRESS_KIND
from sloguard.errors import UsageError
from sloguard.load.openloop import OpenLoopGenerator, Phase, PhaseResult, new_event_loop
from sloguard.load.procs import DEPENDENCIES, Target
from sloguard.load.progress import Progress
from sloguard.load.service_metrics import MetricsPoller
from sloguard.load.target import require_healthy
from sloguard.load.workload import WORKLOADS, http_source

MAX_STEPS = 100
_SEND_FIDELITY = 0.95  # achieved / requested below this: the generator could not keep up


@dataclass
class StressOptions:
    host: str
    user_class: str = "SARKUser"
    start_rate: float = 100.0
    step_rate: float = 100.0
    max_rate: float = 5000.0
    step_duration: float = 10.0
    step_warmup: float = 2.0
    p95_max: float = 0.005
    error_max: float = 0.01
    max_in_flight: int = 1024
    timeout: float = 5.0
    output_dir: Path = Path(".")
    token_secret: str | None = None
    progress: bool = True


@dataclass
class RecoveryOptions:
    dependencies: tuple[str, ...]
    rate: float = 100.0
    before: float = 5.0  # seconds of load before the stop
    outage: float = 5.0  # seconds the dependency stays down
    recovery_timeout: float = 30.0  # bounded wait for the error ratio to settle
    settle: float = 2.0  # seconds the error ratio must stay under the bound to count as recovered
    error_max: float = 0.01


def _generator(host: str, user_class: str, secret: str | None, max_in_flight: int, timeout: float,
               progress: Any = None) -> OpenLoopGenerator:
    workload = WORKLOADS[user_class](secret=secret)
    return OpenLoopGenerator(host, http_source(workload, urlsplit(host).netloc), max_in_flight=max_in_flight,
                             timeout=timeout, progress=progress)


def judge_step(result: PhaseResult, decisions: dict[str, dict[str, int]] | None, p95_max: float,
               error_max: float) -> dict[str, Any]:
    """One step's numbers and whether it held; `decisions` are the service's counts over the step."""
    counts = result.counts
    service_errors = sum(d.get("error", 0) for d in (decisions or {}).values())
    finished = counts.completed + counts.transport_errors + counts.dropped
    errors = counts.errors + service_errors
    ratio = errors / finished if finished else 1.0
    p95 = counts.histogram.quantile(0.95)
    achieved = result.achieved_rate()
    reasons = []
    if ratio > error_max:
        reasons.append(f"error ratio {ratio:.2%} > {error_max:.2%}")
    if not p95 <= p95_max:  # NaN (nothing answered) breaks too
        reasons.append(f"p95 {p95 * 1000:.2f} ms > {p95_max * 1000:.2f} ms")
    generator_bound = achieved < _SEND_FIDELITY * result.requested_rate
    if generator_bound:
        reasons.append(f"only {achieved:.0f} of {result.requested_rate:.0f} req/s could be sent")
    return {
        "rate": result.requested_rate,
        "achieved_rate": round(achieved, 2),
        "requests": counts.sent,
        "errors": errors,
        "service_decision_errors": service_errors,
        "dropped": counts.dropped,
        "error_ratio": round(ratio, 6),
        "p50_seconds": round(counts.histogram.quantile(0.5), 7),
        "p95_seconds": round(p95, 7) if p95 == p95 else None,
        "window": {"start": round(result.start, 3), "end": round(result.end, 3)},
        "held": not reasons,
        "reasons": reasons,
    }


def run_steps(options: StressOptions) -> dict[str, Any]:
    """Step the rate up until a step breaks or max_rate; the last rate that held."""
    if options.start_rate <= 0 or options.step_rate <= 0 or options.max_rate < options.start_rate:
        raise UsageError("need 0 < --start <= --max and --step > 0")
    rates: list[float] = []
    rate = options.start_rate
    while rate <= options.max_rate + 1e-9 and len(rates) < MAX_STEPS:
        rates.append(rate)
        rate += options.step_rate
    require_healthy(options.host)
    total = len(rates) * (options.step_warmup + options.step_duration)
    progress = Progress("stress", total, enabled=options.progress)
    generator = _generator(options.host, options.user_class, options.token_secret, options.max_in_flight,
                           options.timeout, progress)
    poller = MetricsPoller(options.host, interval=0.5).start()
    steps: list[dict[str, Any]] = []
    stop = asyncio.Event()

    async def drive() -> bool:
        # One phase pair per step on one connection pool; the poller gives decision errors per step.
        interrupted = False
        for r in rates:
            result = await generator.run([Phase(f"warmup {r:g}", r, options.step_warmup, measured=False),
                                          Phase(f"step {r:g}", r, options.step_duration)],
                                         stop=stop, drain=min(options.timeout, 2.0))  # fmt: skip
            measured = result.measured()
            interrupted = result.interrupted
            if not measured:
                break
            await asyncio.sleep(0.6)  # one more scrape after the step
            step = judge_step(measured[0], poller.delta(measured[0].start, measured[0].end),
                              options.p95_max, options.error_max)
            steps.append(step)
            if not step["held"] or interrupted:
                break
        return interrupted

    try:
        with asyncio.Runner(loop_factory=new_event_loop) as runner:
            interrupted = runner.run(drive())
    finally:
        poller.stop()
        progress.close()
    held = [s for s in steps if s["held"]]
    broke = next((s for s in steps if not s["held"]), None)
    doc = _stress_report(options.host, {
        "user_class": options.user_class,
        "bounds": {"p95_seconds": options.p95_max, "error_ratio": options.error_max},
        "interrupted": interrupted,
        "sustainable_rate": held[-1]["rate"] if held and (broke is None or held[-1]["rate"] < broke["rate"])
        else None,
        "breaking_rate": broke["rate"] if broke else None,
        "breaking_reasons": broke["reasons"] if broke else [],
        "max_rate_reached": broke is None and len(steps) == len(rates),
        "steps": steps,
    })
    options.output_dir.mkdir(parents=True, exist_ok=True)
    runs.write_stress(options.output_dir, doc)
    return doc


def _stress_report(target: str, fields: dict[str, Any]) -> dict[str, Any]:
    """A StressReport document: the header of every stress.json, then a stepped or a recovery run's fields."""
    return {"apiVersion": API_VERSION, "kind": STRESS_KIND, "target": target, **fields}


def recovery_time(series: list[tuple[float, int, int]], since: float, error_max: float, settle: float
                  ) -> float | None:
    """Seconds from `since` until the error ratio is under the bound and stays there for `settle` s.

    `series` holds (interval end, requests, errors) per interval, in time order.
    """
    candidate: float | None = None
    for end, total, errors in series:
        if end < since:
            continue
        ok = total > 0 and errors / total <= error_max
        if ok and candidate is None:
            candidate = end
        elif not ok:
            candidate = None
        if candidate is not None and end - candidate >= settle:
            return max(0.0, candidate - since)
    return None


def run_recovery(target: Target, options: RecoveryOptions, stress: StressOptions) -> dict[str, Any]:
    """For each dependency: load, stop it, restart it, and time the return under the error bound."""
    unknown = [d for d in options.dependencies if d not in DEPENDENCIES]
    if unknown:
        raise UsageError(f"--recovery takes {', '.join(DEPENDENCIES)}, not {', '.join(unknown)}")
    scenarios = []
    for dependency in options.dependencies:
        scenarios.append(_one_recovery(target, dependency, options, stress))
    doc = _stress_report(target.url, {
        "rate": options.rate,
        "bounds": {"error_ratio": options.error_max, "settle_seconds": options.settle},
        "recovery": scenarios,
    })
    stress.output_dir.mkdir(parents=True, exist_ok=True)
    runs.write_stress(stress.output_dir, doc)
    return doc


def _one_recovery(target: Target, dependency: str, options: RecoveryOptions, stress: StressOptions
                  ) -> dict[str, Any]:
    require_healthy(target.url)
    generator = _generator(target.url, stress.user_class, stress.token_secret, stress.max_in_flight,
                           stress.timeout)
    poller = MetricsPoller(target.url, interval=0.25).start()
    marks: dict[str, float] = {}
    total = options.before + options.outage + options.recovery_timeout

    async def drive() -> Any:
        stop = asyncio.Event()
        task = asyncio.get_running_loop().create_task(
            generator.run([Phase("recovery", options.rate, total)], stop=stop, drain=2.0))
        await asyncio.sleep(options.before)
        marks["stopped"] = time.time()
        await asyncio.to_thread(target.kill, dependency)
        await asyncio.sleep(options.outage)
        marks["restart"] = time.time()
        marks["healthy_after"] = await asyncio.to_thread(target.restart, dependency)
        restarted = time.time()
        # Bounded: stop as soon as the error ratio has settled, or at the recovery timeout.
        while time.time() - restarted < options.recovery_timeout:
            await asyncio.sleep(0.5)
            if recovery_time(_combined(generator, poller, marks["stopped"] - options.before),
                             marks["restart"], options.error_max, options.settle) is not None:
                break
        stop.set()
        return await task

    try:
        with asyncio.Runner(loop_factory=new_event_loop) as runner:
            result = runner.run(drive())
    finally:
        poller.stop()
    series = _combined(generator, poller, marks.get("stopped", time.time()) - options.before)
    during = [(t, n, e) for t, n, e in series if marks.get("stopped", 0) <= t <= marks.get("restart", 0)]
    outage_total = sum(n for _, n, _ in during)
    outage_errors = sum(e for _, _, e in during)
    seconds = recovery_time(series, marks.get("restart", time.time()), options.error_max, options.settle)
    return {
        "dependency": dependency,
        "stopped_at": round(marks.get("stopped", 0.0), 3),
        "restarted_at": round(marks.get("restart", 0.0), 3),
        "restart_healthy_seconds": round(marks.get("healthy_after", 0.0), 3),
        "outage_error_ratio": round(outage_errors / outage_total, 6) if outage_total else None,
        "recovered": seconds is not None,
        "recovery_seconds": round(seconds, 3) if seconds is not None else None,
        "requests": sum(p.counts.sent for p in result.phases),
        "timeline": [{"time": round(t, 3), "requests": n, "errors": e} for t, n, e in series],
    }


def _combined(generator: OpenLoopGenerator, poller: MetricsPoller, since: float) -> list[tuple[float, int, int]]:
    """Per-interval (end, requests, errors): the service's decision errors plus client-side errors.

    Client-side errors (refused connections, timeouts, 5xx) come from the generator's per-second
    timeline and are added to the poller's interval that contains them.
    """
    series = [list(x) for x in poller.error_series() if x[0] >= since]
    client = {int(row["second"]): int(row["errors"]) for row in generator._timeline()}
    t0 = generator.offset + generator._t0
    for second, errors in client.items():
        if not errors:
            continue
        at = t0 + second + 0.5
        for row in series:
            if row[0] >= at:
                row[2] += errors
                row[1] += errors  # they never reached the service's counter
                break
    return [(float(t), int(n), int(e)) for t, n, e in series]
