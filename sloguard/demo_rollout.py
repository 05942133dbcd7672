"""`sloguard demo --rollout`: SARK's rollout plan compressed to minutes, driven on the embedded stack under load.

The stack starts with both flags at 0 %, the open-loop generator sends the `quick` profile's traffic
for the whole plan (its split left alone: the controller owns the flags), and the rollout controller
moves the reference service's flags through its admin API, looking every few seconds.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml
from rich.console import Console

from sloguard.conventions import ENV_DEMO_ADMIN_TOKEN, ExitCode
from sloguard.demo_pipeline import PREVIEWS_DIR, fault_args, write_demo_previews
from sloguard.durations import Window
from sloguard.errors import SloguardError, UsageError
from sloguard.files import write_text_atomic
from sloguard.processes import free_port
from sloguard.prometheus import PrometheusClient
from sloguard.rollout import controller
from sloguard.rollout.client_latencies import ClientLatencies
from sloguard.rollout.flags import AdminApiSetter
from sloguard.rollout.metrics import serve_metrics
from sloguard.rollout.plan import load_plan
from sloguard.rollout.state import DECISIONS_FILE, Kind, read_decisions, recover
from sloguard.spec.loader import load_spec
from sloguard.stack import StackOptions, default_rules, down, up, wait_for_scrape

PLAN_NAME = "sark-rust-rollout-demo"
# SARK's 5 → 10 → 25 → 50 → 100 % in weeks, compressed: 10 % is left out (on the demo's 60 users it
# routes barely more traffic than 5 %), each step lasts 30 s of 5 s looks, and minEvents is what Rust's
# share of the quick profile's 100 req/s at 5 % reaches in about 40 s (measured: 159 events in 65 s).
DEMO_STEPS: tuple[int, ...] = (5, 25, 50, 100)
STEP_SECONDS = 30
LOOK_SECONDS = 5
MIN_EVENTS = 100
LOAD_PROFILE = "quick"
LATENCY_SLI_KINDS = {"latency", "latencyRatio"}  # the objectives left out of the demo's gates
# The generator's bound: every step at its minimum plus room for late looks; the controller is asked
# to abort when the budget is used up, so a step that cannot be promoted never outlives the traffic.
LOAD_SECONDS = (len(DEMO_STEPS) - 1) * STEP_SECONDS + 75
ABORT_AFTER_SECONDS = LOAD_SECONDS - 5


@dataclass
class RolloutDemoOptions:
    spec_file: str = "sloguard.yaml"
    faults: Sequence[str] = ()
    output_dir: Path | None = None


def compressed_plan(spec_file: Path, admin_url: str) -> dict[str, object]:
    """SARK's rollout.yaml with the demo's short steps, gated by `spec_file`, setting flags at `admin_url`."""
    steps: list[dict[str, object]] = [
        {"percent": percent, "minDuration": f"{STEP_SECONDS}s", "minEvents": MIN_EVENTS} for percent in DEMO_STEPS[:-1]
    ]
    steps.append({"percent": DEMO_STEPS[-1]})
    return {
        "apiVersion": "sloguard/v1",
        "kind": "RolloutPlan",
        "metadata": {"name": PLAN_NAME},
        "spec": {
            "spec": str(spec_file.resolve()),
            "flags": ["rust_opa", "rust_cache"],
            "together": True,
            "interval": f"{LOOK_SECONDS}s",
            "steps": steps,
            "compare": {"errorRatio": {"margin": 0.001}, "latency": {"quantile": 0.95, "margin": 0.05}, "alpha": 0.01},
            "onFailure": {"rollbackTo": "zero"},
            "flagSetter": {"adminApi": {"url": admin_url, "tokenEnv": ENV_DEMO_ADMIN_TOKEN}},
        },
    }


def gating_spec(spec_file: Path) -> dict[str, object]:
    """The spec without its absolute latency objectives: on a shared machine the latency monitor is the gate."""
    # A step's window holds a few hundred Rust events over 30 s: one scheduler stall put
    # authz-within-5ms{rust} just outside 99 % and rolled back a clean run (a timing measurement, as
    # tests/e2e/test_demo.py treats these objectives), and under decideOn: confidence neither it nor
    # authz-error-rate can be shown inside its bound on so few events, so nothing is ever promoted.
    # The same-window Rust-vs-Python latency monitor, where machine drift cancels, judges latency instead.
    document = yaml.safe_load(spec_file.read_text(encoding="utf-8"))
    body = document.get("spec") if isinstance(document, dict) else None
    if not isinstance(body, dict) or not isinstance(body.get("objectives"), list):
        raise UsageError(f"{spec_file}: not a sloguard spec (no spec.objectives list)")
    body["objectives"] = [objective for objective in body["objectives"]
                          if not (isinstance(objective, dict) and isinstance(objective.get("sli"), dict)
                                  and set(objective["sli"]) & LATENCY_SLI_KINDS)]
    return document


def run_rollout_demo(options: RolloutDemoOptions, console: Console, progress: Console) -> ExitCode:
    """Stack up at 0 %, traffic, the compressed plan, stack down; returns the controller's exit code."""
    # As in demo_pipeline: a SIGTERM must unwind through `finally`, or the stack outlives the demo.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    spec_file = Path(options.spec_file)
    if not spec_file.is_file():
        raise UsageError(f"{spec_file}: no such spec file (--spec)")
    service_args = fault_args(options.faults)
    workdir = options.output_dir or Path(tempfile.mkdtemp(prefix="sloguard-demo-rollout-"))
    workdir.mkdir(parents=True, exist_ok=True)
    stack_dir, rollout_dir, run_dir = workdir / "stack", workdir / "rollout", workdir / "run"
    metrics_port = free_port()
    console.rule("sloguard demo --rollout: starting the stack (Rust path at 0 %)")
    state = up(StackOptions(directory=stack_dir, rollout=0.0, rules=default_rules(), service_args=service_args,
                            rollout_metrics_port=metrics_port), say=console.print)
    service, prometheus = state.components["service"].url, state.components["prometheus"].url
    try:
        console.print("waiting for Prometheus's first scrape of the service", style="dim")
        wait_for_scrape(state, 0.0)
        gates_file = workdir / "gates.yaml"
        write_text_atomic(gates_file, yaml.safe_dump(gating_spec(spec_file), sort_keys=False))
        plan_file = workdir / "rollout.yaml"
        write_text_atomic(plan_file, yaml.safe_dump(compressed_plan(gates_file, service), sort_keys=False))
        plan = load_plan(plan_file)
        slo_set = load_spec(plan.spec_path)
        steps = " → ".join(f"{percent} %" for percent in DEMO_STEPS)
        console.rule(f"rollout: {steps}, {STEP_SECONDS} s per step, a look every {LOOK_SECONDS} s")
        started = time.time()
        generator = _start_load(service, state.admin_token, run_dir, workdir / "load.log")
        budget = threading.Timer(ABORT_AFTER_SECONDS, _abort_quietly, (rollout_dir,))
        budget.daemon = True
        try:
            with PrometheusClient.from_env(prometheus) as client:
                client.buildinfo()
                setter = AdminApiSetter(service, state.admin_token)
                store = controller.start(plan, plan_file, rollout_dir)
                budget.start()
                with store, serve_metrics(rollout_dir, metrics_port, flags=plan.flags):
                    # The generator's own samples by X-Sark-Implementation judge latency beside the server's.
                    code = controller.Controller(plan, store, setter, client.instant_query, slo_set,
                                                 console=progress,
                                                 client=ClientLatencies(run_dir)).run()
        finally:
            budget.cancel()
            _stop(generator)
            # Also when the controller stopped on an error: the log so far and the flags are what the user needs.
            if (rollout_dir / DECISIONS_FILE).exists():
                _report(rollout_dir, workdir, _served_flags(service, state.admin_token, plan.flags), console)
        # The dashboards over the whole rollout, its row included, once a scrape past the end is in.
        ended = time.time()
        wait_for_scrape(state, ended)
        console.rule("dashboard previews")
        write_demo_previews(options.spec_file, prometheus, Window(started, ended), workdir / PREVIEWS_DIR, console)
    finally:
        console.rule("stopping the stack")
        down(stack_dir)
    console.print(f"plan, decision log, final state and stack logs in {workdir}")
    return code


def _served_flags(service: str, token: str, flags: Sequence[str]) -> dict[str, float | None]:
    """The service's flags read back from its admin API (None for one it could not tell)."""
    setter = AdminApiSetter(service, token)
    served: dict[str, float | None] = {}
    for flag in flags:
        try:
            served[flag] = setter.get(flag)
        except SloguardError:
            served[flag] = None
    return served


def last_applied_percent(rollout_dir: Path) -> float:
    """The percent of the decision log's last `applied` decision (0 when none was applied)."""
    decisions, _, _ = read_decisions(rollout_dir)
    applied = [decision for decision in decisions if decision.kind is Kind.APPLIED]
    return applied[-1].percent if applied else 0.0


def _report(rollout_dir: Path, workdir: Path, served: dict[str, float | None], console: Console) -> None:
    """Print the decision log (one line per decision but the looks, summarised) and the final state; keep both."""
    decisions, _, _ = read_decisions(rollout_dir)
    lines: list[str] = []
    looks = 0
    for decision in decisions:
        if decision.kind is Kind.LOOK:
            looks += 1
            continue
        if looks:
            lines.append(f"  … {looks} look(s)")
            looks = 0
        reason = f": {decision.reason}" if decision.reason else ""
        lines.append(f"  {decision.seq:>3} {decision.kind!s:<8} step {decision.step} {decision.percent:g} %"
                     f" → {decision.status!s}{reason}")
    if looks:
        lines.append(f"  … {looks} look(s)")
    final = controller.status_lines(rollout_dir)
    shown = ", ".join(f"{flag} {'unknown' if percent is None else f'{percent:g} %'}"
                      for flag, percent in served.items())
    final.append(f"  the service's flags now: {shown}; the log's last applied percent: "
                 f"{last_applied_percent(rollout_dir):g} %")
    console.rule("decision log")
    for line in lines:
        console.print(line, markup=False, highlight=False)
    console.rule("final state")
    for line in final:
        console.print(line, markup=False, highlight=False)
    state = recover(rollout_dir)
    final_state = {"status": str(state.state.status) if state else None, "reason": state.state.reason if state else "",
                   "servicePercent": served, "lastAppliedPercent": last_applied_percent(rollout_dir)}
    write_text_atomic(workdir / "rollout-final.json", json.dumps(final_state, indent=2) + "\n")
    write_text_atomic(workdir / "rollout-summary.txt", "\n".join(["decision log:", *lines, "final state:", *final])
                      + "\n")


def _start_load(service: str, admin_token: str, run_dir: Path, log_file: Path) -> subprocess.Popen[bytes]:
    """The open-loop generator for the whole plan, bounded in time; it leaves the flags to the controller."""
    argv = [sys.executable, "-m", "sloguard", "load", "run", LOAD_PROFILE, "--host", service, "--open-loop",
            "--keep-rollout", "--duration", f"{LOAD_SECONDS}s", "--output-dir", str(run_dir)]
    # Its own process keeps Locust's gevent patching out of this one; its output goes to a log so the
    # controller's progress lines stay readable. The token travels in the environment, not argv.
    with log_file.open("wb") as log:
        return subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                env={**os.environ, ENV_DEMO_ADMIN_TOKEN: admin_token})


def _stop(generator: subprocess.Popen[bytes]) -> None:
    """Stop the generator (Ctrl-C first, as a person would, so it writes its run), then make sure."""
    if generator.poll() is None:
        generator.send_signal(signal.SIGINT)
        try:
            generator.wait(timeout=20)
        except subprocess.TimeoutExpired:
            generator.kill()
            generator.wait()


def _abort_quietly(rollout_dir: Path) -> None:
    """The time budget is used up: ask the controller to abort at its next look."""
    try:
        controller.abort(rollout_dir, f"the demo's {LOAD_SECONDS} s of traffic are used up")
    except SloguardError:  # the rollout just ended on its own: nothing to abort
        return


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)

