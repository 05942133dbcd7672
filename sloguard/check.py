"""`sloguard check` end to end: spec, queries, verdicts, the baseline's criteria, reports, exit code."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console

from sloguard.baseline import compare_to_baseline
from sloguard.compare import Gate, InconclusivePolicy
from sloguard.conventions import ExitCode
from sloguard.evaluate import CheckResult, Status, Window, evaluate
from sloguard.prometheus import PrometheusClient, redact_url
from sloguard.report import comparison as comparison_table
from sloguard.report import json_report, junit, markdown, table
from sloguard.spec.loader import load_spec
from sloguard.window_coverage import coverage_warnings, measure_coverage, require_past

FORMATS = ("table", "json", "junit", "markdown")


@dataclass(frozen=True)
class CheckOptions:
    spec_file: str
    prometheus_url: str
    formats: Sequence[str]
    output_dir: Path
    window: Window
    timeout: float = 10.0
    retries: int = 3
    variables: dict[str, float] = field(default_factory=dict)
    baseline: str | None = None  # relative criteria against `sloguard baseline save` output
    run_file: str | None = None  # --run: its directory's latencies.csv feeds the baseline statistics
    max_regression: float = 0.10
    inconclusive: InconclusivePolicy = InconclusivePolicy.FAIL  # what an inconclusive baseline gate counts as


def exit_code_for(result: CheckResult) -> ExitCode:
    return ExitCode.FAILED if result.status is Status.FAIL else ExitCode.PASS


def run_check(options: CheckOptions, console: Console) -> tuple[CheckResult, ExitCode]:
    """Evaluate the spec over the window, print and write the reports, and say the exit code."""
    require_past(options.window, time.time())
    slo_set = load_spec(options.spec_file, options.variables)
    client = PrometheusClient.from_env(options.prometheus_url, timeout=options.timeout, retries=options.retries)
    with client:
        result = evaluate(slo_set, options.window, client.instant_query)
        result = measure_coverage(result, client.instant_query)
    if options.baseline:
        result = apply_baseline(result, options.baseline, options.run_file, options.max_regression, console,
                                options.inconclusive)
    code = exit_code_for(result)
    write_reports(result, code, options, client_url=redact_url(options.prometheus_url), console=console)
    return result, code


def apply_baseline(result: CheckResult, baseline_file: str, run_file: str | None, max_regression: float,
                   console: Console, inconclusive: InconclusivePolicy = InconclusivePolicy.FAIL) -> CheckResult:
    """The check result with the baseline comparison in its report; a failed gate (or an inconclusive one,
    unless `inconclusive` says otherwise) fails the check."""
    comparison = compare_to_baseline(result, baseline_file, run_file, max_regression, inconclusive)
    comparison_table.render(comparison, console)
    if comparison.gate is Gate.INCONCLUSIVE and inconclusive is InconclusivePolicy.WARN:
        console.print("warning: the baseline comparison is inconclusive; counted as a pass (--inconclusive warn)")
    extra = dict(result.extra)
    extra["baseline"] = comparison.to_document()
    status = Status.FAIL if comparison.fails else result.status
    return dataclasses.replace(result, extra=extra, status=status)


def write_reports(
    result: CheckResult, code: ExitCode, options: CheckOptions, *, client_url: str, console: Console
) -> list[Path]:
    if "table" in options.formats:
        table.render(result, console)
    for warning in coverage_warnings(result):
        console.print(warning, style="yellow", markup=False, highlight=False, soft_wrap=True)
    written: list[Path] = []
    files = [f for f in options.formats if f != "table"]
    if files:
        options.output_dir.mkdir(parents=True, exist_ok=True)
    for fmt in files:
        if fmt == "json":
            doc = json_report.to_document(result, exit_code=int(code), prometheus=client_url)
            written.append(json_report.write(doc, options.output_dir))
        elif fmt == "junit":
            written.append(junit.write(result, options.output_dir))
        elif fmt == "markdown":
            written.append(markdown.write(result, options.output_dir))
    for path in written:
        console.print(f"wrote {path}", style="dim")
    return written
