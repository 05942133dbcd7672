"""Control vs experiment statistics (Rust vs Python, baseline vs now).

Per metric: a quantile of each side (median, p95), their ratio with a bootstrap
confidence interval, Mann-Whitney U and the Hodges-Lehmann shift, a
minimum-sample guard and a verdict. numpy and scipy (the [load] extra) are
imported inside the functions that need them.

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

import csv
import dataclasses
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sloguard.conventions import (
    API_VERSION,
    BASELINE_KIND,
    CHECK_REPORT_JSON,
    COMPARISON_KIND,
    DEFAULT_PROCESS_NOISE,
    INTERLEAVED_BLOCK_SECONDS,
    LATENCIES_CSV,
    LATENCY_COLUMN,
    LOAD_RUN_KIND,
    RUN_JSON,
    SEND_TIME_COLUMN,
)
from sloguard.errors import UsageError

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

    FloatArray = NDArray[np.float64]


class Verdict(StrEnum):
    FASTER = "faster"
    SLOWER = "slower"
    NO_DIFFERENCE = "no difference"
    INCONCLUSIVE = "inconclusive"


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

    def as_dict(self) -> dict[str, Any]:
        return {
            "maxRegression": self.max_regression, "alpha": self.alpha, "minSamples": self.min_samples,
            "resamples": self.resamples, "seed": self.seed, "quantiles": list(self.quantiles),
            "hodgesLehmannPoints": self.hl_points, "blockSeconds": self.block_seconds,
            "processNoise": self.process_noise,
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
    def gate_fails(self) -> bool:
        return any(m.gate_fails for m in self.metrics)

    def to_document(self) -> dict[str, Any]:
        return {
            "apiVersion": API_VERSION,
            "kind": COMPARISON_KIND,
            "control": self.control,
            "experiment": self.experiment,
            "settings": self.settings.as_dict(),
            "verdict": "fail" if self.gate_fails else "pass",
            "metrics": [m.as_dict() for m in self.metrics],
            "notes": list(self.notes),
        }


def _r(value: float | None) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return float(f"{value:.6g}")


# ---- statistics on raw samples ------------------------------------------------------------------


def quantile(sorted_values: FloatArray, q: float) -> float:
    """The inverted-CDF quantile: the order statistic x_(ceil(q n)), the one the bootstrap below resamples."""
    n = len(sorted_values)
    return float(sorted_values[max(0, min(n - 1, math.ceil(q * n) - 1))])


def bootstrap_quantile(sorted_values: FloatArray, q: float, resamples: int, rng: Any) -> FloatArray:
    """Bootstrap distribution of the q-quantile, drawn exactly without materialising resamples.

    A resample of size n from the sample is F_n^-1(U_1..U_n) with uniform U; its m-th order
    statistic (m = ceil(q n)) is F_n^-1(U_(m)) and U_(m) ~ Beta(m, n - m + 1). So each
    bootstrap replicate costs one Beta draw instead of an O(n) resample and partition.
    """
    import numpy as np

    n = len(sorted_values)
    m = max(1, min(n, math.ceil(q * n)))
    u = rng.beta(m, n - m + 1, size=resamples)
    idx = np.clip(np.ceil(u * n).astype(np.int64) - 1, 0, n - 1)
    return sorted_values[idx]


_BLOCK_BIN_GROWTH = 1.005  # 0.5 %-wide log bins: the block bootstrap's quantile resolution
_BLOCK_BATCH = 500  # replicates per batch (bounds memory at batch x bins floats)
# Two timed samples are paired when they overlap for at least this share of the shorter one's span.
_PAIRED_OVERLAP = 0.5
MIN_BLOCKS = 3  # fewer time blocks give no spread to resample: inconclusive


@dataclass(frozen=True)
class _Blocks:
    """One side cut into time blocks: a histogram over shared log bins per block."""

    hist: FloatArray  # blocks x bins
    mids: FloatArray  # bin midpoints (a replicate's quantile is reported as one)


def _log_edges(*samples: FloatArray) -> FloatArray:
    import numpy as np

    values = np.concatenate(samples)
    positive = values[values > 0]
    lo = float(positive.min()) if len(positive) else 1e-9
    hi = max(float(values.max()), lo * 1.01)
    n_bins = int(math.log(hi / lo) / math.log(_BLOCK_BIN_GROWTH)) + 2
    return lo * _BLOCK_BIN_GROWTH ** np.arange(n_bins + 1, dtype=np.float64)


def _block_hist(values: FloatArray, block_index: Any, n_blocks: int, edges: FloatArray) -> _Blocks:
    import numpy as np

    n_bins = len(edges) - 1
    bins = np.clip(np.searchsorted(edges, values, side="right") - 1, 0, n_bins - 1)
    hist = np.zeros((n_blocks, n_bins))
    np.add.at(hist, (block_index, bins), 1.0)
    return _Blocks(hist, np.sqrt(edges[:-1] * edges[1:]))


def _replicates(sides: Sequence[_Blocks], qs: Sequence[float], resamples: int, rng: Any, *,
                paired: bool) -> list[dict[float, FloatArray]]:
    """Bootstrap quantiles per side; paired sides draw the same blocks in every replicate."""
    import numpy as np

    out: list[dict[float, list[FloatArray]]] = [{q: [] for q in qs} for _ in sides]
    done = 0
    while done < resamples:
        batch = min(_BLOCK_BATCH, resamples - done)
        weights = None
        for side, result in zip(sides, out, strict=True):
            n_blocks = side.hist.shape[0]
            if weights is None or not paired:
                weights = rng.multinomial(n_blocks, np.full(n_blocks, 1.0 / n_blocks), size=batch).astype(np.float64)
            cum = np.cumsum(weights @ side.hist, axis=1)
            for q in qs:
                target = np.ceil(q * cum[:, -1])
                idx = (cum < target[:, None]).sum(axis=1)
                result[q].append(side.mids[np.clip(idx, 0, len(side.mids) - 1)])
        done += batch
    return [{q: np.concatenate(parts) for q, parts in result.items()} for result in out]


def block_bootstrap_quantiles(values: FloatArray, times: FloatArray, qs: Sequence[float], block_seconds: float,
                              resamples: int, rng: Any) -> dict[float, FloatArray]:
    """Bootstrap distributions of quantiles resampling whole time blocks (non-overlapping).

    Latency on a shared machine comes in episodes (a noisy neighbour, a GC pause): requests
    close in time are not independent, and an i.i.d. bootstrap then understates how much a
    quantile can move. Resampling blocks of `block_seconds` keeps each episode together. Each
    block is a histogram over 0.5 %-wide log bins, so a replicate is a weighted sum of block
    histograms (multinomial block counts @ block histograms) instead of a concatenation.
    Returned values are bin midpoints: within 0.25 % of the exact quantile of the replicate.
    """
    import numpy as np

    blocks = np.floor((times - times.min()) / block_seconds).astype(np.int64)
    _, block_index = np.unique(blocks, return_inverse=True)
    side = _block_hist(values, block_index, int(block_index.max()) + 1, _log_edges(values))
    return _replicates([side], qs, resamples, rng, paired=False)[0]


def paired_in_time(control_times: FloatArray, experiment_times: FloatArray) -> bool:
    """Were the two samples recorded at the same time (an interleaved run, or two groups of one run)?"""
    if not len(control_times) or not len(experiment_times):
        return False
    c0, c1 = float(control_times.min()), float(control_times.max())
    e0, e1 = float(experiment_times.min()), float(experiment_times.max())
    overlap = min(c1, e1) - max(c0, e0)
    return overlap > 0 and overlap >= _PAIRED_OVERLAP * min(c1 - c0, e1 - e0)


def paired_block_bootstrap_quantiles(control: FloatArray, control_times: FloatArray, experiment: FloatArray,
                                     experiment_times: FloatArray, qs: Sequence[float], block_seconds: float,
                                     resamples: int, rng: Any) -> tuple[dict[float, FloatArray],
                                                                        dict[float, FloatArray], int]:
    """Block bootstrap of two samples recorded side by side: a replicate draws the same time blocks for both.

    Whatever slowed the machine in a block slowed both sides, so it moves both quantiles of a
    replicate together and cancels in their ratio; only the difference between the sides is
    left to vary. Blocks are cut on one clock from the earlier start; requests outside the
    common span join the nearest common block. Returns both distributions and the block count.
    """
    import numpy as np

    origin = min(float(control_times.min()), float(experiment_times.min()))
    bc = np.floor((control_times - origin) / block_seconds).astype(np.int64)
    be = np.floor((experiment_times - origin) / block_seconds).astype(np.int64)
    first, last = max(int(bc.min()), int(be.min())), min(int(bc.max()), int(be.max()))
    # Numbered by the blocks that hold requests: a gap in the recording is no block to draw.
    ids, index = np.unique(np.concatenate([np.clip(bc, first, last), np.clip(be, first, last)]),
                           return_inverse=True)
    bc, be = index[: len(bc)], index[len(bc):]
    n_blocks = len(ids)
    edges = _log_edges(control, experiment)
    sides = [_block_hist(control, bc, n_blocks, edges), _block_hist(experiment, be, n_blocks, edges)]
    boot_c, boot_e = _replicates(sides, qs, resamples, rng, paired=True)
    return boot_c, boot_e, n_blocks


def _n_blocks(times: FloatArray, s: CompareSettings) -> int:
    import numpy as np

    assert s.block_seconds is not None
    return len(np.unique(np.floor((times - times.min()) / s.block_seconds)))


def _widen_for_few_blocks(ratio: float, lo: float, hi: float, blocks: int, alpha: float) -> tuple[float, float]:
    """Widen a percentile interval by t(blocks-1)/z around the estimate, in log space.

    With a few dozen blocks the percentile bootstrap is too narrow (it treats the block
    spread as known); the Student-t factor is the usual small-sample allowance for that.
    """
    from scipy.stats import norm, t

    if blocks < MIN_BLOCKS:
        return 0.0, math.inf
    factor = float(t.ppf(1 - alpha / 2, blocks - 1) / norm.ppf(1 - alpha / 2))
    centre = math.log(ratio)
    return (math.exp(centre + (math.log(lo) - centre) * factor),
            math.exp(centre + (math.log(hi) - centre) * factor))


def _widen_for_processes(ratio: float, lo: float, hi: float, noise: float, processes: tuple[int, int],
                         alpha: float) -> tuple[float, float]:
    """Add the between-process spread to an interval, in log space (independent variance components).

    The bootstrap only sees requests; processes are fixed for a run, so a difference between the
    processes serving each side would pass for a difference between builds. Each side's mean
    process effect has variance noise**2 / processes.
    """
    from scipy.stats import norm

    z = float(norm.ppf(1 - alpha / 2))
    extra = z * noise * math.sqrt(1 / processes[0] + 1 / processes[1])
    centre = math.log(ratio)
    below = math.hypot(centre - math.log(lo), extra)
    above = math.hypot(math.log(hi) - centre, extra)
    return math.exp(centre - below), math.exp(centre + above)


def hodges_lehmann(control: FloatArray, experiment: FloatArray, max_points: int) -> float:
    """Median of all pairwise differences experiment - control.

    Above max_points per side each sample is thinned deterministically to max_points evenly
    spaced quantiles (same shape, no RNG), which keeps the cost at max_points**2 pairs.
    """
    import numpy as np

    c = _thin(np.sort(control), max_points)
    e = _thin(np.sort(experiment), max_points)
    return float(np.median(np.subtract.outer(e, c)))


def _thin(sorted_values: FloatArray, k: int) -> FloatArray:
    import numpy as np

    if len(sorted_values) <= k:
        return sorted_values
    return np.quantile(sorted_values, (np.arange(k) + 0.5) / k)


def compare_samples(metric: str, control: Sequence[float] | FloatArray, experiment: Sequence[float] | FloatArray,
                    settings: CompareSettings | None = None, *, control_times: Sequence[float] | None = None,
                    experiment_times: Sequence[float] | None = None,
                    processes: tuple[int, int] | None = None) -> MetricComparison:
    """Compare two samples of a lower-is-better metric (latency in seconds).

    `processes` (control, experiment): how many service processes served each side when the
    sides ran in different processes; settings.process_noise then widens the intervals.

    With send times for both sides and settings.block_seconds, the intervals come from a block
    bootstrap over time and the verdict does not lean on Mann-Whitney (which assumes independence).
    """
    import numpy as np
    from scipy.stats import mannwhitneyu

    s = settings or CompareSettings()
    blocked = bool(s.block_seconds and control_times is not None and experiment_times is not None)
    raw_c = np.asarray(control, dtype=np.float64)
    raw_e = np.asarray(experiment, dtype=np.float64)
    if blocked:
        tc, te = np.asarray(control_times, dtype=np.float64), np.asarray(experiment_times, dtype=np.float64)
        keep_c, keep_e = np.isfinite(raw_c) & np.isfinite(tc), np.isfinite(raw_e) & np.isfinite(te)
        raw_c, tc, raw_e, te = raw_c[keep_c], tc[keep_c], raw_e[keep_e], te[keep_e]
    c = np.sort(raw_c[np.isfinite(raw_c)])
    e = np.sort(raw_e[np.isfinite(raw_e)])
    if min(len(c), len(e)) < s.min_samples:
        rows = tuple(
            StatRow(_stat_name(q), quantile(c, q) if len(c) else None, quantile(e, q) if len(e) else None,
                    _ratio(c, e, q), None, None, Verdict.INCONCLUSIVE, False, TEST_SAMPLES,
                    f"too few samples: {len(c)} control, {len(e)} experiment (need {s.min_samples} each)")
            for q in s.quantiles
        )  # fmt: skip
        return MetricComparison(metric, len(c), len(e), rows)
    mw = mannwhitneyu(e, c, alternative="two-sided")
    u, p = float(mw.statistic), float(mw.pvalue)
    hl = hodges_lehmann(c, e, s.hl_points)
    positive = bool(c.min() > 0 and e.min() > 0)
    hl_rel = math.expm1(hodges_lehmann(np.log(c), np.log(e), s.hl_points)) if positive else None
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
            blocks = min(_n_blocks(tc, s), _n_blocks(te, s))
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
            lo, hi = _widen_for_few_blocks(qe / qc, lo, hi, blocks, s.alpha)
        if processes and s.process_noise > 0 and lo > 0:
            lo, hi = _widen_for_processes(qe / qc, lo, hi, s.process_noise, processes, s.alpha)
        # The median is a location statistic: demand the rank test agree (unless the data are blocked:
        # the rank test assumes independent requests). The tail has no such test.
        rank_ok = p < s.alpha if q == 0.5 and not blocked else True
        judged.append(_judge_ratio(_stat_name(q), qc, qe, lo, hi, rank_ok, s, test))
    return MetricComparison(metric, len(c), len(e), tuple(judged), True, u, p, hl, hl_rel)


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


# ---- inputs ------------------------------------------------------------------------------------


def parse_filters(items: Iterable[str]) -> dict[str, str]:
    """`implementation=rust` style filters on CSV columns."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--filter {item!r}: write COLUMN=VALUE, e.g. implementation=rust")
        out[key.strip()] = value.strip()
    return out


def read_csv_samples(path: Path, *, column: str = LATENCY_COLUMN, filters: Mapping[str, str] | None = None,
                     by: str | None = None) -> dict[str, list[float]]:
    """Values of `column` from a CSV, grouped by column `by` ("" when not grouped), rows kept if they match filters."""
    filters = filters or {}
    groups: dict[str, list[float]] = {}
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            header = reader.fieldnames or []
            missing = [c for c in (column, *filters, *([by] if by else [])) if c not in header]
            if missing:
                raise UsageError(f"{path}: no column {', '.join(missing)} (columns: {', '.join(header) or 'none'})")
            for line, row in enumerate(reader, start=2):
                if any(row.get(k) != v for k, v in filters.items()):
                    continue
                try:
                    value = float(row[column])
                except (TypeError, ValueError):
                    raise UsageError(f"{path}:{line}: {column} is not a number: {row[column]!r}") from None
                groups.setdefault(row[by] if by else "", []).append(value)
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except UnicodeDecodeError:
        raise UsageError(f"{path}: not a text CSV file") from None
    return groups


@dataclass(frozen=True)
class Source:
    """What one side of a comparison was read from: raw samples per group and/or report values."""

    label: str
    samples: dict[str, list[float]] = field(default_factory=dict)  # group -> latencies (seconds)
    values: dict[str, tuple[float | None, bool]] = field(default_factory=dict)  # metric -> (value, lower better)
    times: dict[str, list[float]] = field(default_factory=dict)  # group -> send times, aligned with samples
    processes: int = 1  # service processes that served this side (replicas of a `load ab` side)


def load_source(path_text: str, *, column: str = LATENCY_COLUMN, filters: Mapping[str, str] | None = None,
                by: str | None = None, with_times: bool = False) -> Source:
    """A latency CSV, a CheckReport JSON, a run.json, a baseline or a run directory holding them."""
    path = Path(path_text)
    if with_times:
        csv_path = path / LATENCIES_CSV if path.is_dir() else path
        if csv_path.suffix.lower() == ".csv" and csv_path.exists():
            source = load_source(path_text, column=column, filters=filters, by=by)
            times = read_csv_samples(csv_path, column=SEND_TIME_COLUMN, filters=filters, by=by)
            return dataclasses.replace(source, times=times)
    source = _load_source(path, column=column, filters=filters, by=by)
    run = run_document_near(path_text)
    return dataclasses.replace(source, processes=processes_of(run)) if run else source


def processes_of(run: Mapping[str, Any]) -> int:
    """How many service processes served a run: the replicas of a `load ab` side, else one."""
    targets = (run.get("interleaved") or {}).get("targets")
    return len(targets) if isinstance(targets, list) and targets else 1


def _load_source(path: Path, *, column: str, filters: Mapping[str, str] | None, by: str | None) -> Source:
    if path.is_dir():
        csv_path = path / LATENCIES_CSV
        report = path / CHECK_REPORT_JSON
        run = path / RUN_JSON
        samples = read_csv_samples(csv_path, column=column, filters=filters, by=by) if csv_path.exists() else {}
        values: dict[str, tuple[float | None, bool]] = {}
        for doc_path in (report, run):
            if doc_path.exists():
                values.update(report_values(_read_json(doc_path), doc_path))
        if not samples and not values:
            raise UsageError(f"{path}: no latencies.csv, sloguard-report.json or run.json in it")
        return Source(str(path), samples, values)
    if path.suffix.lower() == ".csv":
        return Source(str(path), samples=read_csv_samples(path, column=column, filters=filters, by=by))
    doc = _read_json(path)
    if doc.get("kind") == BASELINE_KIND:
        return baseline_source(doc, path, by=by, filters=filters)
    return Source(str(path), values=report_values(doc, path))


def _read_json(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UsageError(f"{path}: not a JSON report ({exc})") from None
    if not isinstance(doc, dict):
        raise UsageError(f"{path}: not a JSON object")
    return doc


def report_values(doc: Mapping[str, Any], path: Path) -> dict[str, tuple[float | None, bool]]:
    """Metric -> (value, lower is better) from a CheckReport (objective values) or a LoadRun (its summary)."""
    from sloguard.conventions import REPORT_KIND

    kind = doc.get("kind")
    out: dict[str, tuple[float | None, bool]] = {}
    if kind == REPORT_KIND:
        for obj in doc.get("objectives", []):
            name = obj["name"] + (f" {{{obj['group']}}}" if obj.get("group") else "")
            bound = obj.get("objective") or {}
            out[name] = (obj.get("value"), "max" in bound or "min" not in bound)
        return out
    if kind == LOAD_RUN_KIND:
        for key, value in (doc.get("latency_seconds") or {}).items():
            out[f"run latency {key}"] = (value, True)
        rate = (doc.get("rate") or {}).get("achieved")
        out["run throughput"] = (rate, False)
        out["run error ratio"] = ((doc.get("errors") or {}).get("ratio"), True)
        return out
    raise UsageError(f"{path}: kind {kind!r} is neither {REPORT_KIND}, {LOAD_RUN_KIND} nor {BASELINE_KIND}")


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


# ---- baselines ---------------------------------------------------------------------------------

BASELINE_MAX_SAMPLES = 20000  # per group; above it the stored sample is thinned to evenly spaced quantiles


def make_baseline(path_text: str, *, by: str = "implementation", now: float | None = None) -> dict[str, Any]:
    """A Baseline document from a check report, a run.json or a run directory (samples embedded)."""
    import time

    import numpy as np

    from sloguard.report.format import iso

    source = load_source(path_text, by=by)
    groups: dict[str, Any] = {}
    for group, values in sorted(source.samples.items()):
        arr = np.sort(np.asarray(values, dtype=np.float64))
        thinned = len(arr) > BASELINE_MAX_SAMPLES
        kept = _thin(arr, BASELINE_MAX_SAMPLES) if thinned else arr
        groups[group or "all"] = {"n": len(arr), "thinned": thinned,
                                  "values": [float(f"{v:.7g}") for v in kept]}
    if not groups and not source.values:
        raise UsageError(f"{path_text}: nothing to store in a baseline")
    return {
        "apiVersion": API_VERSION,
        "kind": BASELINE_KIND,
        "createdAt": iso(time.time() if now is None else now),
        "source": str(Path(path_text).resolve()),
        "groupedBy": by if groups else None,
        "processes": source.processes,
        "samples": groups,
        "values": {k: {"value": v, "lowerIsBetter": lower} for k, (v, lower) in source.values.items()},
    }


def baseline_source(doc: Mapping[str, Any], path: Path, *, by: str | None = None,
                    filters: Mapping[str, str] | None = None) -> Source:
    """The Source a Baseline document stands for."""
    if doc.get("apiVersion") != API_VERSION:
        raise UsageError(f"{path}: apiVersion {doc.get('apiVersion')!r} is not {API_VERSION}")
    samples = {g: list(v["values"]) for g, v in (doc.get("samples") or {}).items()}
    grouped = doc.get("groupedBy")
    if filters and grouped and set(filters) == {grouped}:
        samples = {g: v for g, v in samples.items() if g == filters[grouped]}
    elif filters:
        raise UsageError(f"{path}: a baseline can only be filtered on {grouped!r}")
    if by is None and samples:
        samples = {"": [x for v in samples.values() for x in v]}
    values = {k: (v.get("value"), bool(v.get("lowerIsBetter", True))) for k, v in (doc.get("values") or {}).items()}
    return Source(str(path), samples, values, processes=int(doc.get("processes") or 1))


# ---- command-line entry points ------------------------------------------------------------------


def parse_fraction(text: str, *, option: str = "--max-regression") -> float:
    """"10%" or "0.1" -> 0.1."""
    raw = text.strip()
    try:
        value = float(raw[:-1]) / 100 if raw.endswith("%") else float(raw)
    except ValueError:
        raise UsageError(f"{option} {text!r}: give a fraction (0.1) or a percentage (10%)") from None
    if not 0 <= value < 10:
        raise UsageError(f"{option} {text!r}: out of range")
    return value


def build_comparison(*, control: str | None, experiment: str | None, csv_path: str | None, by: str | None,
                     filters: Mapping[str, str], column: str, settings: CompareSettings,
                     prometheus: str | None = None, run_file: str | None = None, step: float = 10.0) -> Comparison:
    """`sloguard compare`'s modes: two files/run dirs, two groups of one CSV, or two groups in Prometheus."""
    if prometheus or run_file:
        if not (prometheus and run_file):
            raise UsageError("--prometheus and --run go together")
        samples = prometheus_samples(prometheus, run_file, step=step, by=by)
        source = Source(f"{run_file} @ {step:g} s intervals", samples)
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
    if settings.block_seconds is None and interleaved_pair(control, experiment):
        # The calibrated method for `sloguard load ab` recordings (tests/benchmarks/calibrate_compare.py).
        settings = dataclasses.replace(settings, block_seconds=INTERLEAVED_BLOCK_SECONDS)
    timed = settings.block_seconds is not None
    return compare_sources(load_source(control, column=column, filters=filters, with_times=timed),
                           load_source(experiment, column=column, filters=filters, with_times=timed), settings)


def run_document_near(path_text: str) -> dict[str, Any] | None:
    """The run.json of a run directory, of the directory holding a latency CSV, or the file itself."""
    path = Path(path_text)
    if path.is_dir():
        candidates = [path / RUN_JSON]
    else:
        candidates = [path.parent / RUN_JSON] if path.suffix.lower() == ".csv" else [path]
    for candidate in candidates:
        if candidate.suffix == ".json" and candidate.is_file():
            try:
                doc = json.loads(candidate.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, json.JSONDecodeError):
                return None
            if isinstance(doc, dict) and doc.get("kind") == LOAD_RUN_KIND:
                return doc
    return None


def interleaved_pair(control: str, experiment: str) -> bool:
    """Are the two paths the two sides of one `sloguard load ab` recording?"""
    docs = [run_document_near(p) for p in (control, experiment)]
    marks = [(d or {}).get("interleaved") or {} for d in docs]
    return bool(marks[0].get("pair")) and marks[0].get("pair") == marks[1].get("pair") and \
        marks[0].get("role") != marks[1].get("role")


# ---- two implementations of one run, from Prometheus -------------------------------------------

PROMETHEUS_MIN_INTERVALS = 20  # default guard for per-interval samples (a 5-minute run at 10 s gives 30)


def prometheus_samples(url: str, run_file: str, *, step: float, metric: str | None = None,
                       by: str | None = None, timeout: float = 10.0) -> dict[str, list[float]]:
    """Mean latency per non-overlapping `step` interval of a run's window, per implementation.

    increase(_sum)/increase(_count) over [t - step, t] for t = start + step, start + 2 step, ...: one
    value per interval, and the intervals do not overlap, so the values are not the same data twice
    (overlapping rate windows would make neighbouring samples correlated and the tests overconfident).
    """
    from sloguard.check import window_from_run
    from sloguard.conventions import AUTHZ_DURATION, LABEL_IMPLEMENTATION, SCRAPE_JOB
    from sloguard.prometheus import PrometheusClient
    from sloguard.promql import aggregate, increase, series
    from sloguard.spec.model import Matcher

    metric = metric or AUTHZ_DURATION
    by = by or LABEL_IMPLEMENTATION
    window = window_from_run(Path(run_file))
    if window.seconds < 2 * step:
        raise UsageError(f"{run_file}: a {window.seconds:g} s window holds fewer than two {step:g} s intervals")
    job = [Matcher("job", "=", SCRAPE_JOB)]
    span = f"{step:g}s"
    query = (f"{aggregate('sum', [by], increase(series(metric + '_sum', job), span))} / "
             f"{aggregate('sum', [by], increase(series(metric + '_count', job), span))}")
    with PrometheusClient.from_env(url, timeout=timeout) as client:
        result = client.range_query(query, window.start + step, window.end, step)
    groups: dict[str, list[float]] = {}
    for labels, points in result:
        values = [v for _, v in points if math.isfinite(v)]
        groups.setdefault(labels.get(by, ""), []).extend(values)
    return groups


def parse_step(text: str, *, option: str = "--step") -> float:
    from sloguard.durations import parse_duration

    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        raise UsageError(f"{option} {text!r}: {exc}") from None
    if seconds <= 0:
        raise UsageError(f"{option} must be positive")
    return seconds
