"""`sloguard compare`, `sloguard baseline save`, `sloguard report`: control vs experiment, and reports."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from sloguard import conventions as c
from sloguard.conventions import ExitCode
from sloguard.runs.names import LATENCY_COLUMN

# Each command imports the modules it runs inside its body: `sloguard --help` then loads click and the
# cli package only (tests/unit/test_spec_loader.py holds it to that).


@click.command()
@click.option("--control", help="Control: latency CSV, check report, run.json, baseline or run dir "
                                "(with --csv: the control group's value).")
@click.option("--experiment", help="Experiment: as --control.")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False), help="One CSV holding both groups (needs --by).")
@click.option("--by", help="Column that splits --csv into groups, e.g. implementation.")
@click.option("--filter", "filters", multiple=True, metavar="COLUMN=VALUE", help="Keep only matching CSV rows.")
@click.option("--column", default=LATENCY_COLUMN, show_default=True, help="CSV column to compare.")
@click.option("--max-regression", default="10%", show_default=True,
              help="Exit 1 when the experiment is significantly slower and this much cannot be excluded.")
@click.option("--alpha", type=click.FloatRange(0.0001, 0.5), default=0.01, show_default=True,
              help="Significance level (two-sided; intervals are 1-alpha).")
@click.option("--min-samples", type=click.IntRange(2), default=None,
              help="Fewer per side -> inconclusive [default: 100 requests; 20 intervals with --prometheus].")
@click.option("--resamples", type=click.IntRange(100), default=4000, show_default=True, help="Bootstrap replicates.")
@click.option("--seed", type=int, default=20261126, show_default=True, help="Bootstrap RNG seed.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), help="Also write the Comparison JSON here.")
@click.option("--markdown", "markdown_path", type=click.Path(dir_okay=False),
              help="Also write a Markdown summary here (for a CI step summary; the file is replaced).")
# The values of compare.InconclusivePolicy, spelled here so that `--help` need not import sloguard.compare.
@click.option("--inconclusive", type=click.Choice(["fail", "warn", "pass"]), default="fail", show_default=True,
              help="What a gate that cannot judge (too few samples, an interval wider than the allowance) "
                   "counts as: exit 1 (as a spec's noData: fail), exit 0 with a warning, or exit 0.")
@click.option("--prometheus", "prometheus_url", help="Two implementations of one run from Prometheus (with --run).")
@click.option("--run", "run_file", type=click.Path(dir_okay=False), help="run.json whose window --prometheus reads.")
@click.option("--step", default="10s", show_default=True,
              help="--prometheus: one sample (mean latency) per interval of this length.")
@click.option("--job", default=c.SCRAPE_JOB, show_default=True,
              help="--prometheus: the service's scrape job (`sloguard stack up --job`).")
@click.option("--block", default=None, metavar="DURATION",
              help="Block bootstrap over send time (e.g. 10s): intervals that hold when latency comes in "
                   "episodes, as on shared machines. Needs the CSV's intended_send_time column.")
@click.option("--process-noise", default=None, metavar="FRACTION",
              help="Spread of a latency quantile between processes of one build, added to the intervals of "
                   f"sides served by different processes [default: {c.DEFAULT_PROCESS_NOISE:.1%}, measured "
                   "here by tests/benchmarks/calibrate_compare.py; 0 turns it off].")
def compare(control: str | None, experiment: str | None, csv_path: str | None, by: str | None,
            filters: tuple[str, ...], column: str, max_regression: str, alpha: float, min_samples: int | None,
            resamples: int, seed: int, json_path: str | None, markdown_path: str | None, inconclusive: str,
            prometheus_url: str | None, run_file: str | None, step: str, job: str, block: str | None,
            process_noise: str | None) -> None:
    """Control vs experiment: quantiles, bootstrap ratio intervals, Mann-Whitney U, Hodges-Lehmann.

    Exit 0 = no regression beyond --max-regression, 1 = the experiment is significantly
    slower and a regression beyond it cannot be excluded, or the gate is INCONCLUSIVE
    (a statistic could not be judged) under --inconclusive fail, 2 = could not compare.

    \b
    Examples:
      sloguard compare --control runs/main/latencies.csv --experiment runs/pr/latencies.csv
      sloguard compare --control a.csv --experiment b.csv --filter implementation=rust --json cmp.json
      sloguard compare --csv runs/quick/latencies.csv --by implementation --control python --experiment rust
      sloguard compare --control main/sloguard-report.json --experiment pr/sloguard-report.json
      sloguard compare --prometheus http://127.0.0.1:9090 --run runs/baseline/run.json --step 10s
      sloguard compare --control runs/main --experiment runs/pr --filter implementation=rust --block 10s
      sloguard compare --control a.csv --experiment b.csv --inconclusive warn --markdown reports/compare.md
    """
    import dataclasses

    from sloguard.cli.options import parse_filters, parse_fraction, parse_step
    from sloguard.compare import CompareSettings, Gate, InconclusivePolicy, build_comparison
    from sloguard.report import comparison as out
    from sloguard.report.console import make_console
    from sloguard.sources import PROMETHEUS_MIN_INTERVALS

    if min_samples is None:
        min_samples = PROMETHEUS_MIN_INTERVALS if prometheus_url else CompareSettings.min_samples
    settings = CompareSettings(max_regression=parse_fraction(max_regression), alpha=alpha,
                               min_samples=min_samples, resamples=resamples, seed=seed,
                               block_seconds=parse_step(block, option="--block") if block else None,
                               inconclusive=InconclusivePolicy(inconclusive))
    if process_noise is not None:
        settings = dataclasses.replace(settings, process_noise=parse_fraction(process_noise, option="--process-noise"))
    result = build_comparison(control=control, experiment=experiment, csv_path=csv_path, by=by,
                              filters=parse_filters(filters), column=column, settings=settings,
                              prometheus=prometheus_url, run_file=run_file, step=parse_step(step), job=job)
    console = make_console()
    out.render(result, console)
    if result.gate is Gate.INCONCLUSIVE and settings.inconclusive is InconclusivePolicy.WARN:
        click.echo(f"warning: {out.gate_line(result)}", err=True)
    if json_path:
        console.print(f"wrote {out.write(result, Path(json_path))}", style="dim")
    if markdown_path:
        console.print(f"wrote {out.write_markdown(result, Path(markdown_path))}", style="dim")
    sys.exit(int(ExitCode.FAILED if result.fails else ExitCode.PASS))


@click.group()
def baseline() -> None:
    """Baselines for relative criteria (`sloguard check --baseline`).

    \b
    Example:
      sloguard baseline save runs/main -o baseline.json
    """


@baseline.command("save")
@click.argument("source", type=click.Path(exists=True))
@click.option("-o", "--output", default="baseline.json", show_default=True, type=click.Path(dir_okay=False),
              help="Baseline file to write.")
def baseline_save(source: str, output: str) -> None:
    """Store a run's check report and raw latencies (per implementation) as a baseline.

    SOURCE is a run directory (latencies.csv, run.json, sloguard-report.json), a check report or a run.json.

    \b
    Example:
      sloguard baseline save runs/main -o baseline.json
    """
    from sloguard.baseline import save

    doc = save(source, Path(output))
    groups = ", ".join(f"{g}: {v['n']}" for g, v in doc["samples"].items()) or "none"
    click.echo(f"wrote {output}: {len(doc['values'])} values, latency samples {groups}")


@click.command()
@click.argument("run_dirs", nargs=-1, type=click.Path(exists=True, file_okay=False))
@click.option("-o", "--output-dir", default="reports", show_default=True, type=click.Path(file_okay=False),
              help="Where performance-report.html and performance-report.md go.")
@click.option("--rollout", "rollout_dir", type=click.Path(exists=True, file_okay=False),
              help="A rollout's state directory: adds a Rollout section (steps over time, decisions, evidence).")
def report(run_dirs: tuple[str, ...], output_dir: str, rollout_dir: str | None) -> None:
    """Performance report (self-contained HTML with charts + Markdown summary) from run directories.

    Reads every run.json, latencies.csv, sloguard-report.json, stress.json, soak.json and rss.csv
    found in (or up to three levels below) the RUN_DIRs; a section with no data says so. With
    --rollout and no RUN_DIRs, the report is the rollout's alone.

    \b
    Examples:
      sloguard report runs/baseline runs/stress runs/soak -o reports/
      sloguard demo --output-dir demo-out && sloguard report demo-out
      sloguard report runs/canary --rollout .sloguard/rollout
      sloguard report --rollout .sloguard/rollout -o reports/rollout
    """
    from sloguard.report.html import MARKDOWN_FILE, write_report

    rollout = Path(rollout_dir) if rollout_dir is not None else None
    path = write_report([Path(d) for d in run_dirs], Path(output_dir), rollout=rollout)
    click.echo(f"wrote {path}")
    click.echo(f"wrote {path.parent / MARKDOWN_FILE}")
