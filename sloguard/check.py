"""`sloguard check` end to end: window, spec, queries, verdicts, reports, exit code."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from rich.console import Console

from sloguard.conventions import ExitCode
from sloguard.durations import parse_duration
from sloguard.errors import UsageError
from sloguard.evaluate import CheckResult, Status, Window, evaluate
from sloguard.prometheus import PrometheusClient, redact_url
from sloguard.spec.loader import load_spec

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


def parse_time(text: str, *, now: float) -> float:
    """Unix seconds, RFC 3339 ("2026-11-26T14:00:00Z") or "now"."""
    text = text.strip()
    if text == "now":
        return now
    try:
        return float(text)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(f"cannot read time {text!r}: give unix seconds, RFC 3339 or 'now'") from None
    if parsed.tzinfo is None:
        raise UsageError(f"time {text!r} has no timezone: add Z or +00:00")
    return parsed.timestamp()


def resolve_window(
    *, last: str | None, start: str | None, end: str | None, run: str | None, now: float | None = None
) -> Window:
    """The window from exactly one of --last, --start/--end or --run."""
    now = time.time() if now is None else now
    given = [name for name, v in (("--last", last), ("--start/--end", start or end), ("--run", run)) if v]
    if len(given) != 1:
        raise UsageError("give exactly one of --last, --start/--end or --run")
    if last:
        try:
            seconds = parse_duration(last)
        except ValueError as exc:
            raise UsageError(f"--last {last!r}: {exc}") from None
        window = Window(now - seconds, now)
    elif run:
        window = window_from_run(Path(run))
    else:
        if not (start and end):
            raise UsageError("--start and --end go together")
        window = Window(parse_time(start, now=now), parse_time(end, now=now))
    if window.seconds <= 0:
        raise UsageError("the window must end after it starts")
    return window


def window_from_run(path: Path) -> Window:
    """The steady-state window a load run recorded in its run.json."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        raw = doc["window"]
        now = time.time()
        return Window(_time_value(raw["start"], now), _time_value(raw["end"], now))
    except FileNotFoundError:
        raise UsageError(f"{path}: no such run file") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UsageError(f"{path}: not a run.json with window.start and window.end ({exc})") from None


def _time_value(value: object, now: float) -> float:
    if isinstance(value, int | float):
        return float(value)
    return parse_time(str(value), now=now)


def run_variables(path: Path) -> dict[str, float]:
    """The spec variables a load run declares (its profile's slo_variables), e.g. minThroughput."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UsageError(f"{path}: unreadable run file ({exc})") from None
    raw = doc.get("sloVariables") or {}
    if not isinstance(raw, dict) or not all(isinstance(v, int | float) for v in raw.values()):
        raise UsageError(f"{path}: sloVariables must map names to numbers")
    return {str(k): float(v) for k, v in raw.items()}


def parse_variables(items: Sequence[str]) -> dict[str, float]:
    """--var NAME=NUMBER options."""
    variables = {}
    for item in items:
        name, _, value = item.partition("=")
        try:
            variables[name.strip()] = float(value)
        except ValueError:
            raise UsageError(f"--var {item!r}: write NAME=NUMBER") from None
    return variables


def parse_formats(text: str) -> list[str]:
    formats = [f.strip() for f in text.split(",") if f.strip()]
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise UsageError(f"unknown format {','.join(unknown) or text!r}: choose from {','.join(FORMATS)}")
    return formats


def exit_code_for(result: CheckResult) -> ExitCode:
    return ExitCode.FAILED if result.status is Status.FAIL else ExitCode.PASS


def run_check(options: CheckOptions, console: Console) -> tuple[CheckResult, ExitCode]:
    """Evaluate the spec over the window, print and write the reports, and say the exit code."""
    slo_set = load_spec(options.spec_file, options.variables)
    client = PrometheusClient.from_env(options.prometheus_url, timeout=options.timeout, retries=options.retries)
    with client:
        result = evaluate(slo_set, options.window, client.instant_query)
    if options.baseline:
        from sloguard.baseline import apply_baseline

        result = apply_baseline(result, options.baseline, options.run_file, options.max_regression, console)
    code = exit_code_for(result)
    write_reports(result, code, options, client_url=redact_url(options.prometheus_url), console=console)
    return result, code


def write_reports(
    result: CheckResult, code: ExitCode, options: CheckOptions, *, client_url: str, console: Console
) -> list[Path]:
    from sloguard.report import json_report, junit, markdown, table

    if "table" in options.formats:
        table.render(result, console)
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
