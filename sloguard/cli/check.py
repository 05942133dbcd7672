"""`sloguard validate` and `sloguard check`: judge a spec, against Prometheus or without a backend."""

from __future__ import annotations

import sys
from pathlib import Path

import click

# Each command imports the modules it runs inside its body: `sloguard --help` then loads click and the
# cli package only (tests/unit/test_spec_loader.py holds it to that).


@click.command()
@click.argument("spec_file", default="sloguard.yaml")
def validate(spec_file: str) -> None:
    """Check an SLO spec without a backend.

    Loads the spec as every command does, then parses every PromQL query in it and every
    query sloguard would build from it (promql-parser, {{window}} as 5m). Exit 0 = valid,
    2 = the first problem, as FILE:LINE: field: message.

    \b
    Example:
      sloguard validate sloguard.yaml
    """
    from sloguard.spec.loader import load_spec_with_lines
    from sloguard.validate import check_queries

    slo_set, lines = load_spec_with_lines(spec_file)
    check_queries(slo_set, lines)
    click.echo(f"{spec_file}: valid ({len(slo_set.objectives)} objectives)")


@click.command()
@click.option("-f", "--spec", "spec_file", default="sloguard.yaml", show_default=True,
              type=click.Path(dir_okay=False), help="SLO spec (sloguard/v1).")
@click.option("--prometheus", "prometheus_url", envvar="SLOGUARD_PROMETHEUS_URL", required=True,
              help="Prometheus-API base URL (Prometheus, Thanos, Mimir, VictoriaMetrics). "
                   "Env: SLOGUARD_PROMETHEUS_URL.")
@click.option("--last", help="Window ending now, e.g. 10m, 1h.")
@click.option("--start", help="Window start: unix seconds or RFC 3339.")
@click.option("--end", help="Window end: unix seconds, RFC 3339 or 'now'.")
@click.option("--run", "run_file", type=click.Path(dir_okay=False),
              help="Take the window from a load run's run.json.")
@click.option("--format", "formats", default="table", show_default=True,
              help="Comma-separated: table,json,junit,markdown.")
@click.option("--output-dir", type=click.Path(file_okay=False), default=".", show_default=True,
              help="Where the json, junit and markdown reports go.")
@click.option("--timeout", type=float, default=10.0, show_default=True, help="Seconds per query.")
@click.option("--retries", type=click.IntRange(1, 10), default=3, show_default=True,
              help="Attempts per query on connection errors and 5xx.")
@click.option("--baseline", "baseline_file", type=click.Path(dir_okay=False),
              help="Also fail when p95 grew more than --max-regression over this `sloguard baseline save` file.")
@click.option("--max-regression", default="10%", show_default=True, help="Allowed growth over --baseline.")
@click.option("--inconclusive", type=click.Choice(["fail", "warn", "pass"]), default="fail", show_default=True,
              help="What a --baseline comparison that cannot judge counts as (exit 1, or 0 with a warning, or 0).")
@click.option("--var", "variables", multiple=True, metavar="NAME=NUMBER",
              help="Set a spec variable (overrides spec.variables and the run's sloVariables).")
def check(spec_file: str, prometheus_url: str, last: str | None, start: str | None, end: str | None,
          run_file: str | None, formats: str, output_dir: str, timeout: float, retries: int,
          baseline_file: str | None, max_regression: str, inconclusive: str, variables: tuple[str, ...]) -> None:
    """Judge the SLOs of a spec against Prometheus over a window.

    Exit 0 = pass (warnings allowed), 1 = an objective failed (no_data counts as
    failed under noData: fail), 2 = could not evaluate.

    \b
    Examples:
      sloguard check --prometheus http://127.0.0.1:9090 --last 10m
      sloguard check -f sloguard.yaml --prometheus $PROM --run runs/quick/run.json \\
          --format table,json,junit,markdown --output-dir reports/
      sloguard check --prometheus $PROM --run runs/pr/run.json --baseline baseline.json --max-regression 10%
    """
    from sloguard import runs
    from sloguard.check import CheckOptions, run_check
    from sloguard.cli.options import parse_formats, parse_fraction, parse_variables, resolve_window
    from sloguard.compare import InconclusivePolicy
    from sloguard.report.console import make_console

    spec_variables = runs.read_slo_variables(Path(run_file)) if run_file else {}
    spec_variables.update(parse_variables(variables))
    options = CheckOptions(
        spec_file=spec_file,
        prometheus_url=prometheus_url,
        formats=parse_formats(formats),
        output_dir=Path(output_dir),
        window=resolve_window(last=last, start=start, end=end, run=run_file),
        timeout=timeout,
        retries=retries,
        baseline=baseline_file,
        run_file=run_file,
        max_regression=parse_fraction(max_regression),
        inconclusive=InconclusivePolicy(inconclusive),
        variables=spec_variables,
    )
    _, code = run_check(options, make_console())
    sys.exit(int(code))
