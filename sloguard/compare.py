"""Control vs experiment statistics (Rust vs Python, baseline vs now).

Per metric: a quantile of each side (median, p95), their ratio with a bootstrap
confidence interval, Mann-Whitney U and the Hodges-Lehmann shift, a
minimum-sample guard and a verdict. The statistics themselves are in sloguard.stats;
what each side was read from (files, run directories, baselines, Prometheus) is in
sloguard.sources. numpy is imported inside the functions that need it (`sloguard
check` imports this module).

Verdict rules (alpha defaults to 0.01, so a 99 % interval):
- fewer than `min_samples` on either side -> inconclusive;
- the ratio's interval excludes 1 (and, for the median, Mann-Whitney agrees at
  alpha) -> slower or faster;
- otherwise the interval lies inside [1 - max_regression, 1 + max_regression]
  -> no difference; a wider interval -> inconclusive (it cannot rule out a
  change that matters).
The gate fails a statistic that is significantly slower AND whose interval
reaches past 1 + max_regression: a regression larger than the allowed one
cannot be excluded. A slowdown shown to be smaller than the allowance passes.
When nothing fails but a statistic is inconclusive the gate is INCONCLUSIVE,
and `inconclusive` (fail | warn | pass, default fail, as a spec's `noData: fail`)
says whether that fails: a gate that cannot judge does not pass silently.

Intervals come from an i.i.d. bootstrap by default. On a shared machine latency
comes in episodes, requests close in time are not independent and two runs (or
two halves of one run) differ by more than i.i.d. noise; `block_seconds`
resamples whole time blocks instead. When the two samples were recorded side by
side (`sloguard load ab`, or two implementations of one run) the blocks are
paired in time, so drift common to both cancels in the ratio; two `load ab` run
directories get 10 s paired blocks by default. tests/benchmarks/
calibrate_compare.py measures false alarms and power of each mode.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from sloguard import runs
from sloguard.conventions import (
    API_VERSION,
    COMPARISON_KIND,
    DEFAULT_PROCESS_NOISE,
    INTERLEAVED_BLOCK_SECONDS,
    SCRAPE_JOB,
    ExitCode,
)
from sloguard.errors import UsageError
from sloguard.sources import Source, load_source, prometheus_samples
from sloguard.stats import (
    MIN_BLOCKS,
    block_bootstrap_quantiles,
    bootstrap_quantile,
    count_blocks,
    hodges_lehmann_sorted,
    mann_whitney,
    paired_block_bootstrap_quantiles,
    paired_in_time,
    quantile,
    widen_for_few_blocks,
    widen_for_processes,
)

if TYPE_CHECKING:
    from sloguard.sources import FloatArray, Sample


class Verdict(StrEnum):
    FASTER = "faster"
    SLOWER = "slower"
    NO_DIFFERENCE = "no difference"
    INCONCLUSIVE = "inconclusive"


class Gate(StrEnum):
    """What the gate says about a whole comparison."""

    PASS = "pass"
    FAIL = "fail"  # a statistic is significantly slower and a regression past the allowance cannot be excluded
    INCONCLUSIVE = "inconclusive"  # nothing fails, but some statistic could not be judged


class InconclusivePolicy(StrEnum):
    """What an INCONCLUSIVE gate counts as (`--inconclusive`): exit 1, exit 0 with a warning, or exit 0."""

    FAIL = "fail"
    WARN = "warn"
    PASS = "pass"


TEST_SAMPLES = "bootstrap+mann-whitney"
TEST_BLOCKS = "block bootstrap"
TEST_PAIRED_BLOCKS = "paired block bootstrap"
TEST_BARE_RATIO = "bare ratio (no raw samples on both sides: no significance test)"


@dataclass(frozen=True)
class CompareSettings:
    """Tunables of a comparison; the defaults are the calibrated ones (tests/benchmarks/calibrate_compare.py)."""

    max_regression: float = 0.10
    alpha: float = 0.01
    min_samples: int = 100
    resamples: int = 4000
    seed: int = 20261126
    quantiles: tuple[float, ...] = (0.5, 0.95)
    hl_points: int = 1000  # pairwise differences of at most hl_points**2 pairs
    # Block bootstrap over time (seconds per block) when send times are known; None = i.i.d. bootstrap.
    block_seconds: float | None = None
    # Between-process spread: the standard deviation of a log quantile between processes of one build
    # (hash seeds, memory layout, scheduling), measured by tests/benchmarks/calibrate_compare.py. Added to
    # the intervals of two sides served by different processes, divided by their numbers of processes.
    process_noise: float = DEFAULT_PROCESS_NOISE
    inconclusive: InconclusivePolicy = InconclusivePolicy.FAIL

    def as_dict(self) -> dict[str, Any]:
        return {
            "maxRegression": self.max_regression, "alpha": self.alpha, "minSamples": self.min_samples,
            "resamples": self.resamples, "seed": self.seed, "quantiles": list(self.quantiles),
            "hodgesLehmannPoints": self.hl_points, "blockSeconds": self.block_seconds,
            "processNoise": self.process_noise, "inconclusive": self.inconclusive.value,
        }  # fmt: skip


@dataclass(frozen=True)
class StatRow:
    """One statistic (p50, p95, or a report's value) of one metric, control vs experiment."""

    statistic: str
    control: float | None
    experiment: float | None
    ratio: float | None
    ci_low: float | None
    ci_high: float | None
    verdict: Verdict
    gate_fails: bool
    test: str
    reason: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "statistic": self.statistic, "control": _r(self.control), "experiment": _r(self.experiment),
            "ratio": _r(self.ratio), "ciLow": _r(self.ci_low), "ciHigh": _r(self.ci_high),
            "verdict": self.verdict.value, "gateFails": self.gate_fails, "test": self.test, "reason": self.reason,
        }  # fmt: skip


@dataclass(frozen=True)
class MetricComparison:
    """All statistics of one metric (e.g. latency of the rust path) plus the distribution tests."""

    metric: str
    n_control: int | None
    n_experiment: int | None
    rows: tuple[StatRow, ...]
    lower_is_better: bool = True
    mann_whitney_u: float | None = None
    p_value: float | None = None
    hl_shift: float | None = None  # experiment - control, in the metric's unit
    hl_relative: float | None = None  # exp(HL of log values) - 1: the typical relative change

    @property
    def gate_fails(self) -> bool:
        return any(r.gate_fails for r in self.rows)

    def as_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric, "nControl": self.n_control, "nExperiment": self.n_experiment,
            "lowerIsBetter": self.lower_is_better, "mannWhitneyU": _r(self.mann_whitney_u),
            "pValue": _r(self.p_value), "hodgesLehmannShift": _r(self.hl_shift),
            "hodgesLehmannRelative": _r(self.hl_relative), "gateFails": self.gate_fails,
            "statistics": [row.as_dict() for row in self.rows],
        }  # fmt: skip


@dataclass(frozen=True)
class Comparison:
    control: str
    experiment: str
    settings: CompareSettings
    metrics: tuple[MetricComparison, ...]
    notes: tuple[str, ...] = field(default=())

    @property
    def gate(self) -> Gate:
        if any(m.gate_fails for m in self.metrics):
            return Gate.FAIL
        if self.inconclusive_rows():
            return Gate.INCONCLUSIVE
        return Gate.PASS

    @property
    def fails(self) -> bool:
        """Exit 1: the gate failed, or it is inconclusive and the policy counts that as a failure."""
        gate = self.gate
        if gate is Gate.INCONCLUSIVE:
            return self.settings.inconclusive is InconclusivePolicy.FAIL
        return gate is Gate.FAIL

    def inconclusive_rows(self) -> list[tuple[MetricComparison, StatRow]]:
        return [(m, row) for m in self.metrics for row in m.rows if row.verdict is Verdict.INCONCLUSIVE]

    def to_document(self) -> dict[str, Any]:
        return {
            "apiVersion": API_VERSION,
            "kind": COMPARISON_KIND,
            "control": self.control,
            "experiment": self.experiment,
            "settings": self.settings.as_dict(),
            "verdict": self.gate.value,
            "exitCode": int(ExitCode.FAILED if self.fails else ExitCode.PASS),
            "metrics": [m.as_dict() for m in self.metrics],
            "notes": list(self.notes),
        }


def _r(value: float | None) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return float(f"{value:.6g}")


# ---- one metric from raw samples --------------------------------------------------------------


def compare_samples(metric: str, control: Sample, experiment: Sample, settings: CompareSettings | None = None, *,
                    control_times: Sample | None = None, experiment_times: Sample | None = None,
                    processes: tuple[int, int] | None = None) -> MetricComparison:
    """Compare two samples of a lower-is-better metric (latency in seconds).

    `processes` (control, experiment): how many service processes served each side when the
    sides ran in different processes; settings.process_noise then widens the intervals.

    With send times for both sides and settings.block_seconds, the intervals come from a block
    bootstrap over time and the verdict does not lean on Mann-Whitney (which assumes independence).
    """
    import numpy as np

    s = settings or CompareSettings()
    blocked = bool(s.block_seconds and control_times is not None and experiment_times is not None)
    raw_c = np.asarray(control, dtype=np.float64)
    raw_e = np.asarray(experiment, dtype=np.float64)
    if blocked:
        tc, te = np.asarray(control_times, dtype=np.float64), np.asarray(experiment_times, dtype=np.float64)
        raw_c, tc = _finite_pairs(raw_c, tc)
        raw_e, te = _finite_pairs(raw_e, te)
    c = np.sort(_finite(raw_c))
    e = np.sort(_finite(raw_e))
    if min(len(c), len(e)) < s.min_samples:
        rows = tuple(
            StatRow(_stat_name(q), quantile(c, q) if len(c) else None, quantile(e, q) if len(e) else None,
                    _ratio(c, e, q), None, None, Verdict.INCONCLUSIVE, False, TEST_SAMPLES,
                    f"too few samples: {len(c)} control, {len(e)} experiment (need {s.min_samples} each)")
            for q in s.quantiles
        )  # fmt: skip
        return MetricComparison(metric, len(c), len(e), rows)
    u, p = mann_whitney(e, c)
    hl = hodges_lehmann_sorted(c, e, s.hl_points)
    positive = bool(c.min() > 0 and e.min() > 0)
    hl_rel = math.expm1(hodges_lehmann_sorted(c, e, s.hl_points, log=True)) if positive else None
    rng = np.random.default_rng(s.seed)
    judged: list[StatRow] = []
    test = TEST_SAMPLES
    if blocked:
        assert s.block_seconds is not None
        if paired_in_time(tc, te):
            boot_c, boot_e, blocks = paired_block_bootstrap_quantiles(raw_c, tc, raw_e, te, s.quantiles,
                                                                      s.block_seconds, s.resamples, rng)
            test = f"{TEST_PAIRED_BLOCKS} ({blocks} blocks of {s.block_seconds:g} s)"
        else:
            boot_c = block_bootstrap_quantiles(raw_c, tc, s.quantiles, s.block_seconds, s.resamples, rng)
            boot_e = block_bootstrap_quantiles(raw_e, te, s.quantiles, s.block_seconds, s.resamples, rng)
            blocks = min(count_blocks(tc, s.block_seconds), count_blocks(te, s.block_seconds))
            test = f"{TEST_BLOCKS} ({blocks} blocks of {s.block_seconds:g} s a side)"
    if processes and s.process_noise > 0:
        test += f" + process spread {s.process_noise:.1%} ({processes[0]} vs {processes[1]} processes)"
    if blocked and blocks < MIN_BLOCKS:
        rows = tuple(
            StatRow(_stat_name(q), quantile(c, q), quantile(e, q), _ratio(c, e, q), None, None,
                    Verdict.INCONCLUSIVE, False, test,
                    f"only {blocks} time block(s) of {s.block_seconds:g} s: need {MIN_BLOCKS} "
                    "(a longer run or a shorter --block)")
            for q in s.quantiles
        )  # fmt: skip
        return MetricComparison(metric, len(c), len(e), rows, True, u, p, hl, hl_rel)
    for q in s.quantiles:
        qc, qe = quantile(c, q), quantile(e, q)
        if qc <= 0:
            judged.append(StatRow(_stat_name(q), qc, qe, None, None, None, Verdict.INCONCLUSIVE, False,
                                  TEST_SAMPLES, "control value is 0: no ratio"))
            continue
        if blocked:
            bc, be = boot_c[q], boot_e[q]
        else:
            bc = bootstrap_quantile(c, q, s.resamples, rng)
            be = bootstrap_quantile(e, q, s.resamples, rng)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratios = be / bc
        lo, hi = (float(v) for v in np.quantile(ratios, [s.alpha / 2, 1 - s.alpha / 2]))
        if blocked and lo > 0:
            lo, hi = widen_for_few_blocks(qe / qc, lo, hi, blocks, s.alpha)
        if processes and s.process_noise > 0 and lo > 0:
            lo, hi = widen_for_processes(qe / qc, lo, hi, s.process_noise, processes, s.alpha)
        # The median is a location statistic: demand the rank test agree (unless the data are blocked:
        # the rank test assumes independent requests). The tail has no such test.
        rank_ok = p < s.alpha if q == 0.5 and not blocked else True
        judged.append(_judge_ratio(_stat_name(q), qc, qe, lo, hi, rank_ok, s, test))
    return MetricComparison(metric, len(c), len(e), tuple(judged), True, u, p, hl, hl_rel)


def _finite(values: FloatArray) -> FloatArray:
    import numpy as np

    finite = np.isfinite(values)
    return values if finite.all() else values[finite]


def _finite_pairs(values: FloatArray, times: FloatArray) -> tuple[FloatArray, FloatArray]:
    """The (value, time) pairs where both are finite (the arrays themselves when all are: no copies)."""
    import numpy as np

    keep = np.isfinite(values) & np.isfinite(times)
    return (values, times) if keep.all() else (values[keep], times[keep])


def _judge_ratio(name: str, qc: float, qe: float, lo: float, hi: float, rank_ok: bool,
                 s: CompareSettings, test: str = TEST_SAMPLES) -> StatRow:
    ratio = qe / qc
    limit = 1 + s.max_regression
    if lo > 1 and rank_ok:
        fails = hi > limit
        why = (f"a regression over {s.max_regression:.0%} cannot be excluded (interval up to {hi:.3f})" if fails
               else f"slower, but by less than the allowed {s.max_regression:.0%}")
        return StatRow(name, qc, qe, ratio, lo, hi, Verdict.SLOWER, fails, test, why)
    if hi < 1 and rank_ok:
        return StatRow(name, qc, qe, ratio, lo, hi, Verdict.FASTER, False, test, "")
    if lo >= 1 - s.max_regression and hi <= limit:
        return StatRow(name, qc, qe, ratio, lo, hi, Verdict.NO_DIFFERENCE, False, test,
                       f"interval within ±{s.max_regression:.0%}")
    return StatRow(name, qc, qe, ratio, lo, hi, Verdict.INCONCLUSIVE, False, test,
                   f"not significant, but the interval [{lo:.3f}, {hi:.3f}] is wider than ±{s.max_regression:.0%}")


def _ratio(c: FloatArray, e: FloatArray, q: float) -> float | None:
    if not len(c) or not len(e):
        return None
    qc = quantile(c, q)
    return quantile(e, q) / qc if qc > 0 else None


def _stat_name(q: float) -> str:
    return "median" if q == 0.5 else f"p{q * 100:g}"


# ---- bare values (two check reports) ------------------------------------------------------------


def compare_values(metric: str, control: float | None, experiment: float | None, *, lower_is_better: bool,
                   settings: CompareSettings | None = None) -> MetricComparison:
    """Two single values: only their ratio against the allowance, and the output says so."""
    s = settings or CompareSettings()
    if control is None or experiment is None or not (math.isfinite(control) and math.isfinite(experiment)):
        row = StatRow("value", control, experiment, None, None, None, Verdict.INCONCLUSIVE, False, TEST_BARE_RATIO,
                      "a value is missing (no data)")
        return MetricComparison(metric, None, None, (row,), lower_is_better)
    if control == 0:
        verdict = Verdict.NO_DIFFERENCE if experiment == 0 else Verdict.INCONCLUSIVE
        row = StatRow("value", control, experiment, None, None, None, verdict, False, TEST_BARE_RATIO,
                      "control is 0: no ratio")
        return MetricComparison(metric, None, None, (row,), lower_is_better)
    ratio = experiment / control
    worse = ratio - 1 if lower_is_better else 1 - ratio
    if worse > s.max_regression:
        verdict, fails = Verdict.SLOWER, True
    elif worse < -s.max_regression:
        verdict, fails = Verdict.FASTER, False
    else:
        verdict, fails = Verdict.NO_DIFFERENCE, False
    why = f"{'worse' if worse > 0 else 'better'} by {abs(worse):.1%}; allowance {s.max_regression:.0%}"
    row = StatRow("value", control, experiment, ratio, None, None, verdict, fails, TEST_BARE_RATIO, why)
    return MetricComparison(metric, None, None, (row,), lower_is_better)


# ---- comparisons of two sources -----------------------------------------------------------------


def compare_sources(control: Source, experiment: Source, settings: CompareSettings) -> Comparison:
    """Samples where both sides have them (per common group), bare values otherwise."""
    metrics: list[MetricComparison] = []
    notes: list[str] = []
    common = [g for g in control.samples if g in experiment.samples]
    for group in sorted(common):
        name = "latency" + (f" {{{group}}}" if group else "")
        metrics.append(compare_samples(name, control.samples[group], experiment.samples[group], settings,
                                       control_times=control.times.get(group),
                                       experiment_times=experiment.times.get(group),
                                       processes=(control.processes, experiment.processes)))
    paired = any(row.test.startswith(TEST_PAIRED_BLOCKS) for m in metrics for row in m.rows)
    if common and paired:
        notes.append("recorded side by side (interleaved): the two runs' time blocks are paired, so drift of the "
                     "machine common to both cancels in the ratios")
    elif common:
        notes.append("two separate runs: the intervals cover sampling noise, not drift of the machine between runs; "
                     "record both builds side by side with `sloguard load ab` (calibrated), or at least compare "
                     "an A/A pair (the same build twice) first"
                     + ("" if settings.block_seconds else " and use --block 10s"))
    if control.samples and experiment.samples and not common:
        notes.append(f"no common group in the samples: control {sorted(control.samples)}, "
                     f"experiment {sorted(experiment.samples)}")
    if not metrics:
        for name in (k for k in control.values if k in experiment.values):
            value_c, lower = control.values[name]
            metrics.append(compare_values(name, value_c, experiment.values[name][0], lower_is_better=lower,
                                          settings=settings))
        if metrics:
            notes.append("no raw samples on both sides: values compared as bare ratios, without a significance test")
    if not metrics:
        raise UsageError(f"nothing to compare: {control.label} and {experiment.label} share no samples or metrics")
    return Comparison(control.label, experiment.label, settings, tuple(metrics), tuple(notes))


def compare_groups(source: Source, *, control: str, experiment: str, settings: CompareSettings) -> Comparison:
    """Two groups of one CSV, e.g. implementation=python vs implementation=rust of one run."""
    for group in (control, experiment):
        if group not in source.samples:
            known = ", ".join(sorted(source.samples))
            raise UsageError(f"{source.label}: no rows with group {group!r} (groups: {known})")
    metric = compare_samples("latency", source.samples[control], source.samples[experiment], settings,
                             control_times=source.times.get(control), experiment_times=source.times.get(experiment))
    return Comparison(f"{source.label} [{control}]", f"{source.label} [{experiment}]", settings, (metric,))


def build_comparison(*, control: str | None, experiment: str | None, csv_path: str | None, by: str | None,
                     filters: Mapping[str, str], column: str, settings: CompareSettings,
                     prometheus: str | None = None, run_file: str | None = None, step: float = 10.0,
                     job: str = SCRAPE_JOB) -> Comparison:
    """`sloguard compare`'s modes: two files/run dirs, two groups of one CSV, or two groups in Prometheus."""
    if prometheus or run_file:
        if not (prometheus and run_file):
            raise UsageError("--prometheus and --run go together")
        samples = prometheus_samples(prometheus, run_file, step=step, by=by, job=job)
        source = Source(f"{run_file} @ {step:g} s intervals", dict(samples))
        comparison = compare_groups(source, control=control or "python", experiment=experiment or "rust",
                                    settings=settings)
        metric = dataclasses.replace(comparison.metrics[0], metric=f"mean latency per {step:g} s interval")
        return dataclasses.replace(comparison, metrics=(metric,), notes=(
            "per-interval means from Prometheus histograms (_sum/_count): the quantiles are of interval means, "
            "not of single requests",))
    if not control or not experiment:
        raise UsageError("give --control and --experiment")
    if csv_path:
        if not by:
            raise UsageError("--csv needs --by COLUMN (e.g. --by implementation --control python --experiment rust)")
        source = load_source(csv_path, column=column, filters=filters, by=by,
                             with_times=settings.block_seconds is not None)
        return compare_groups(source, control=control, experiment=experiment, settings=settings)
    if by:
        raise UsageError("--by goes with --csv (two groups of one file)")
    if settings.block_seconds is None and runs.interleaved_pair(control, experiment):
        # The calibrated method for `sloguard load ab` recordings (tests/benchmarks/calibrate_compare.py).
        settings = dataclasses.replace(settings, block_seconds=INTERLEAVED_BLOCK_SECONDS)
    timed = settings.block_seconds is not None
    return compare_sources(load_source(control, column=column, filters=filters, with_times=timed),
                           load_source(experiment, column=column, filters=filters, with_times=timed), settings)
