"""`sloguard dashboards preview`: the dashboards drawn from a Prometheus as one HTML page each."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

from sloguard.conventions import ExitCode

if TYPE_CHECKING:
    from sloguard.durations import Window

# The preview package pulls in httpx (through the Prometheus client): imported inside the command
# so that `sloguard --help` stays light.


def _window(last: str | None, start: str | None, end: str | None, run: str | None) -> Window:
    from sloguard import runs
    from sloguard.durations import Window, parse_duration, parse_time
    from sloguard.errors import UsageError

    now = time.time()
    given = [name for name, v in (("--last", last), ("--from/--to", start or end), ("--run", run)) if v]
    if len(given) > 1:
        raise UsageError(f"give one of --last, --from/--to or --run, not {' and '.join(given)}")
    if run:
        window = runs.read_window(Path(run))
    elif start or end:
        if not start:
            raise UsageError("--to needs --from")
        window = Window(parse_time(start, now=now), parse_time(end or "now", now=now))
    else:
        try:
            seconds = parse_duration(last or "1h")  # Grafana's default dashboard range is the last hour
        except ValueError as exc:
            raise UsageError(f"--last {last!r}: {exc}") from None
        window = Window(now - seconds, now)
    if window.seconds <= 0:
        raise UsageError("the window must end after it starts")
    return window


@click.command("preview")
@click.option("--prometheus", "prometheus_url", envvar="SLOGUARD_PROMETHEUS_URL", required=True,
              help="Prometheus-API base URL the panels are queried from. Env: SLOGUARD_PROMETHEUS_URL.")
@click.option("--last", help="Window ending now, e.g. 15m (default: 1h, as Grafana's default range).")
@click.option("--from", "start", help="Window start: unix seconds or RFC 3339.")
@click.option("--to", "end", help="Window end: unix seconds, RFC 3339 or 'now' (default: now).")
@click.option("--run", "run_file", type=click.Path(dir_okay=False), help="Take the window from a load run's run.json.")
@click.option("-d", "--dashboards", "directory", default="dashboards", show_default=True,
              type=click.Path(file_okay=False), help="Directory of dashboard JSON files (Grafana's classic model).")
@click.option("-f", "--spec", "spec_file", type=click.Path(dir_okay=False),
              help="Generate the dashboards from this spec in memory instead of reading --dashboards.")
@click.option("-o", "--output-dir", default="previews", show_default=True, type=click.Path(file_okay=False),
              help="Where <dashboard>.html files go.")
@click.option("--var", "variables", multiple=True, metavar="NAME=VALUE",
              help="Select a dashboard variable's value (comma-separated for several; All for All).")
@click.option("--scrape-interval", help="Prometheus's scrape interval for $__rate_interval "
              "(default: read from Prometheus's samples, else 15s as Grafana).")
@click.option("--require-data/--allow-empty", default=True, show_default=True,
              help="Exit 1 when a panel has no data or a query failed (--allow-empty: write the pages, exit 0).")
@click.option("--timeout", type=float, default=10.0, show_default=True, help="Seconds per query.")
def preview(prometheus_url: str, last: str | None, start: str | None, end: str | None, run_file: str | None,
            directory: str, spec_file: str | None, output_dir: str, variables: tuple[str, ...],
            scrape_interval: str | None, require_data: bool, timeout: float) -> None:
    """Draw each dashboard's panels from Prometheus into one self-contained HTML page.

    The queries, variables ($var, ${var:regex}, $__rate_interval, ...), units, thresholds,
    legends and layout are Grafana's; see docs/dashboards-preview.md for what is not. A panel
    without data fails the command unless --allow-empty is given.

    \b
    Examples:
      sloguard dashboards preview --prometheus http://127.0.0.1:9090 --last 15m
      sloguard dashboards preview --prometheus $PROM --run runs/quick/run.json -o previews/
      sloguard dashboards preview --prometheus $PROM -f sloguard.yaml --var implementation=rust --allow-empty
    """
    from sloguard.durations import parse_duration
    from sloguard.errors import UsageError
    from sloguard.preview import PreviewOptions, load_directory, parse_files, parse_overrides, write_previews
    from sloguard.prometheus import PrometheusClient

    window = _window(last, start, end, run_file)
    overrides = parse_overrides(variables)
    interval = None
    if scrape_interval:
        try:
            interval = parse_duration(scrape_interval)
        except ValueError as exc:
            raise UsageError(f"--scrape-interval {scrape_interval!r}: {exc}") from None
        if interval <= 0:
            raise UsageError("--scrape-interval must be positive")
    dashboards = parse_files(_generated(spec_file)) if spec_file else load_directory(Path(directory))
    with PrometheusClient.from_env(prometheus_url, timeout=timeout) as client:
        client.buildinfo()  # an unreachable Prometheus is exit 2 here, not a page of failed panels
        options = PreviewOptions(window=window, output_dir=Path(output_dir), prometheus_url=client.url,
                                 variables=overrides, scrape_interval=interval)  # fmt: skip
        summaries = write_previews(dashboards, client, options)
    for summary in summaries:
        click.echo(summary.line())
    failing = [s for s in summaries if s.no_data or any(p.errors for p in s.panels)]
    if require_data and failing:
        click.echo(f"sloguard: {sum(len(s.no_data) for s in failing)} panel(s) without data in "
                   f"{len(failing)} dashboard(s); --allow-empty accepts that", err=True)  # fmt: skip
        sys.exit(int(ExitCode.FAILED))


def _generated(spec_file: str) -> dict[str, str]:
    """What `dashboards generate` would write for the spec, in memory: relative path -> text."""
    from sloguard import dashboards as dashboards_mod
    from sloguard.spec.loader import load_spec
    from sloguard.spec.windows import windows_for

    slo_set = load_spec(spec_file)
    return dashboards_mod.output_files(slo_set, windows_for(slo_set, None))
