"""`sloguard demo`: stack up, a load profile at a 50/50 Rust/Python rollout, check, reports, previews, stack down.

Everything it prints comes from the run it just made: real processes, real
traffic, Prometheus scraping the reference service, `sloguard check` on the
load run's steady-state window.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console

from sloguard import runs
from sloguard.check import CheckOptions, run_check
from sloguard.conventions import DASHBOARD_UID_PREFIX, ENV_DEMO_ADMIN_TOKEN, ExitCode
from sloguard.dashboards.files import dashboard_files
from sloguard.durations import Window, iso
from sloguard.errors import SloguardError, UsageError
from sloguard.generated import OVERVIEW, RUST_VS_PYTHON, dashboard_uid
from sloguard.preview import DashboardSummary, PreviewOptions, parse_files, write_previews
from sloguard.prometheus import PrometheusClient
from sloguard.spec.loader import load_spec
from sloguard.spec.windows import windows_for
from sloguard.stack import StackOptions, default_rules, down, up, wait_for_scrape

FAULT_KINDS = ("latency", "errors", "leak")
REPORT_FORMATS = ("table", "json", "junit", "markdown")
# What the on-call would look at after this run, drawn as Grafana would draw them (`dashboards preview`).
PREVIEW_DASHBOARDS = (RUST_VS_PYTHON, OVERVIEW)
PREVIEWS_DIR = "previews"


@dataclass
class DemoOptions:
    spec_file: str = "sloguard.yaml"
    profile: str = "quick"
    rollout: float = 50.0
    faults: Sequence[str] = ()
    output_dir: Path | None = None
    duration: str | None = None
    open_loop: bool = True
    extra_load_args: Sequence[str] = field(default_factory=tuple)


def fault_args(faults: Sequence[str]) -> list[str]:
    """--inject latency=rust:20ms -> the service's --inject-latency rust:20ms."""
    args = []
    for fault in faults:
        kind, _, value = fault.partition("=")
        if kind not in FAULT_KINDS or ":" not in value:
            raise UsageError(f"--inject {fault!r}: write KIND=IMPL:AMOUNT with KIND one of {', '.join(FAULT_KINDS)}, "
                             "e.g. latency=rust:20ms, errors=python:5%, leak=rust:64KiB")
        args += [f"--inject-{kind}", value]
    return args


def run_demo(options: DemoOptions, console: Console) -> ExitCode:
    """The whole demo; returns the check's exit code. The stack is stopped whatever happens."""
    # A SIGTERM (a CI timeout, a killed parent) must unwind through `finally` like Ctrl-C does,
    # or the stack's processes, which run in their own sessions, would outlive the demo.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    service_args = fault_args(options.faults)
    keep = options.output_dir is not None
    workdir = options.output_dir or Path(tempfile.mkdtemp(prefix="sloguard-demo-"))
    workdir.mkdir(parents=True, exist_ok=True)
    stack_dir, run_dir, report_dir = workdir / "stack", workdir / "run", workdir / "reports"
    console.rule("sloguard demo: starting the stack")
    state = up(StackOptions(directory=stack_dir, rollout=options.rollout, rules=default_rules(),
                            service_args=service_args), say=console.print)
    service, prometheus = state.components["service"].url, state.components["prometheus"].url
    try:
        # The window must open after Prometheus's first scrape of the service and be read after a
        # scrape past its end (stack.wait_for_scrape says why), as `load run --stack` does.
        console.print("waiting for Prometheus's first scrape of the service", style="dim")
        wait_for_scrape(state, 0.0)
        console.rule(f"load: profile {options.profile}, {options.rollout:g}% of users on the Rust path")
        _run_load(options, service, state.admin_token, run_dir)
        run_file = runs.run_json(run_dir)
        window = runs.read_window(run_file)
        console.print(f"waiting for Prometheus to scrape past the window's end ({iso(window.end)})", style="dim")
        wait_for_scrape(state, window.end)
        console.rule("check")
        check = CheckOptions(
            spec_file=options.spec_file, prometheus_url=prometheus, formats=REPORT_FORMATS, output_dir=report_dir,
            window=window, variables=runs.read_slo_variables(run_file), run_file=str(run_file),
        )
        _, code = run_check(check, console)
        _html_report(workdir, console)
        write_demo_previews(options.spec_file, prometheus, window, workdir / PREVIEWS_DIR, console)
    finally:
        console.rule("stopping the stack")
        down(stack_dir)
    if keep:
        console.print(f"run, reports and stack logs kept in {workdir}")
    else:
        console.print(f"reports in {report_dir}")
    return code


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def _run_load(options: DemoOptions, service: str, admin_token: str, run_dir: Path) -> None:
    argv = [sys.executable, "-m", "sloguard", "load", "run", options.profile, "--host", service,
            "--output-dir", str(run_dir)]
    if options.open_loop:
        argv.append("--open-loop")
    if options.duration:
        argv += ["--duration", options.duration]
    argv += list(options.extra_load_args)
    # A child process keeps Locust's gevent monkey-patching out of this one. The stack's token goes in
    # its environment, not its argv, which every local user can read.
    result = subprocess.run(argv, check=False, env={**os.environ, ENV_DEMO_ADMIN_TOKEN: admin_token})
    if result.returncode != 0 or not runs.run_json(run_dir).exists():
        raise SloguardError(f"the load run failed (exit {result.returncode}); see the output above")


def write_demo_previews(spec_file: str, prometheus: str, window: Window, out_dir: Path,
                        console: Console) -> list[DashboardSummary]:
    """The spec's Rust-vs-Python and SLO-overview dashboards drawn over the run's window, one HTML page each."""
    slo_set = load_spec(spec_file)
    wanted = {f"{dashboard_uid(slo_set.service, kind).removeprefix(DASHBOARD_UID_PREFIX)}.json"
              for kind in PREVIEW_DASHBOARDS}  # fmt: skip
    files = {name: text for name, text in dashboard_files(slo_set, windows_for(slo_set, None)).items()
             if name in wanted}  # fmt: skip
    with PrometheusClient.from_env(prometheus) as client:
        summaries = write_previews(parse_files(files), client,
                                   PreviewOptions(window=window, output_dir=out_dir, prometheus_url=client.url))
    for summary in summaries:
        console.print(summary.line(), style="dim", markup=False, highlight=False, soft_wrap=True)
    return summaries


def _html_report(workdir: Path, console: Console) -> None:
    """The HTML performance report of this run, when the report module is installed."""
    import importlib

    try:
        html = importlib.import_module("sloguard.report.html")
    except ImportError:
        return
    render = getattr(html, "write_report", None)
    if render is None:
        return
    path = render([workdir], workdir / "reports")
    console.print(f"wrote {path}", style="dim")
