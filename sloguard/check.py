"""`sloguard check` end to end: window, spec, queries, verdicts, reports, exit code."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
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
    slo_set = load_spec(options.spec_file)
    client = PrometheusClient.from_env(options.prometheus_url, timeout=options.timeout, retries=options.retries)
    with client:
        result = evaluate(slo_set, options.window, client.instant_query)
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
