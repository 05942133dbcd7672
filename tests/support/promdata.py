"""Test data for a backfilled Prometheus: an OpenMetrics writer, series generators, and the
arithmetic that gives the expected SLI values independently of sloguard's code.

Why the expected values are exact: every series has a sample exactly at the window's
start and end (both multiples of the step). Prometheus 2.x selects samples in
[end - R, end] inclusive, so increase() over the window is last - first with no
extrapolation (extrapolation only stretches to the window edges, and the samples are
already there). Inside the window a counter grows by the same amount every step, so
even a left-open range (Prometheus 3) would extrapolate to the same number. Outside the
window series grow at a different rate, so a query over the wrong window gives a
different answer and the test notices.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from sloguard.conventions import LATENCY_BUCKETS

# An exporter with coarser buckets than sloguard's own: the 23 bounds LATENCY_BUCKETS had before issue 15
# (1-2.5 ms in one bucket), as other services' histograms have. sloguard reads whatever bounds a histogram
# has; the synthetic SARK series keep these so their hand-chosen counts keep their meaning.
COARSE_BUCKETS: tuple[float, ...] = (
    0.00001, 0.000025, 0.00005, 0.000075, 0.0001, 0.00025, 0.0005, 0.00075, 0.001, 0.0025, 0.005, 0.0075,
    0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)

INF = math.inf
Labels = Mapping[str, str]


@dataclass(frozen=True)
class Window:
    """A check window [start, end] in unix seconds, sampled every `step` s, with `pad` s of data either side."""

    start: int
    end: int
    step: int = 60
    pad: int = 1800

    @classmethod
    def hours_ago(cls, hours: int = 4, length: int = 3600, step: int = 60, pad: int = 1800) -> Window:
        """A window ending `hours` whole hours before the last full hour.

        Hours in the past so that every block is persisted and well inside retention; aligned to
        the hour so that start and end are multiples of any step that divides an hour.
        """
        end = int(time.time()) // 3600 * 3600 - hours * 3600
        return cls(start=end - length, end=end, step=step, pad=pad)

    @property
    def seconds(self) -> int:
        return self.end - self.start

    @property
    def steps(self) -> int:
        return self.seconds // self.step

    def times(self, step: int | None = None) -> list[int]:
        step = step or self.step
        return list(range(self.start - self.pad, self.end + self.pad + 1, step))

    def inside(self, t: int) -> bool:
        """Whether the step ending at t lies in the window."""
        return self.start < t <= self.end


# ---- OpenMetrics text -------------------------------------------------------------------------


def escape_label_value(value: str) -> str:
    """OpenMetrics label-value escaping: backslash, double quote, newline."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def format_value(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


def format_labels(labels: Labels) -> str:
    if not labels:
        return ""
    inner = ",".join(f'{k}="{escape_label_value(v)}"' for k, v in labels.items())
    return "{" + inner + "}"


class OpenMetrics:
    """Collects samples per metric family and renders OpenMetrics text ending in # EOF."""

    def __init__(self) -> None:
        self._families: dict[str, tuple[str, list[str]]] = {}
        self.series_count = 0
        self.sample_count = 0

    def _lines(self, family: str, kind: str) -> list[str]:
        if family not in self._families:
            self._families[family] = (kind, [])
        existing_kind, lines = self._families[family]
        if existing_kind != kind:
            raise ValueError(f"{family} is a {existing_kind}, not a {kind}")
        return lines

    def counter(self, name: str, labels: Labels, points: Iterable[tuple[int, float]]) -> None:
        """A counter series; `name` may end in _total (the family name drops it)."""
        family = name.removesuffix("_total")
        lines = self._lines(family, "counter")
        series = f"{family}_total{format_labels(labels)}"
        for t, value in points:
            lines.append(f"{series} {format_value(value)} {t}")
            self.sample_count += 1
        self.series_count += 1

    def gauge(self, name: str, labels: Labels, points: Iterable[tuple[int, float]]) -> None:
        lines = self._lines(name, "gauge")
        series = f"{name}{format_labels(labels)}"
        for t, value in points:
            lines.append(f"{series} {format_value(value)} {t}")
            self.sample_count += 1
        self.series_count += 1

    def histogram(
        self, name: str, labels: Labels, points: Iterable[tuple[int, Mapping[float, float], float]]
    ) -> None:
        """A histogram series; each point is (t, cumulative count per upper bound incl. +Inf, sum)."""
        lines = self._lines(name, "histogram")
        first = True
        for t, buckets, total_sum in points:
            for le, count in sorted(buckets.items()):
                le_text = "+Inf" if le == INF else repr(float(le))  # as prometheus_client spells it
                bucket_labels = {**labels, "le": le_text}
                lines.append(f"{name}_bucket{format_labels(bucket_labels)} {format_value(count)} {t}")
            lines.append(f"{name}_count{format_labels(labels)} {format_value(buckets[INF])} {t}")
            lines.append(f"{name}_sum{format_labels(labels)} {format_value(total_sum)} {t}")
            self.sample_count += len(buckets) + 2
            if first:
                self.series_count += len(buckets) + 2
                first = False

    def text(self) -> str:
        out: list[str] = []
        for family, (kind, lines) in self._families.items():
            out.append(f"# TYPE {family} {kind}")
            out.extend(lines)
        out.append("# EOF")
        return "\n".join(out) + "\n"


# ---- generators ---------------------------------------------------------------------------------


def counter_points(
    window: Window, inc_in: float, inc_out: float | None = None, start_value: float = 1000.0
) -> list[tuple[int, float]]:
    """A counter growing by inc_in every step inside the window and inc_out (default 3×) outside."""
    outside = 3 * inc_in + 7 if inc_out is None else inc_out
    points: list[tuple[int, float]] = []
    value = start_value
    for i, t in enumerate(window.times()):
        if i:
            value += inc_in if window.inside(t) else outside
        points.append((t, value))
    return points


def histogram_points(
    window: Window,
    per_step_in: Mapping[float, int],
    per_step_out: Mapping[float, int] | None = None,
    bounds: Sequence[float] = LATENCY_BUCKETS,
) -> list[tuple[int, dict[float, float], float]]:
    """A histogram whose buckets receive `per_step_in` observations (per upper bound) every step
    inside the window and `per_step_out` outside (default: everything in the slowest bucket)."""
    all_bounds = [*bounds, INF]
    for bound in per_step_in:
        if bound not in all_bounds:
            raise ValueError(f"{bound} is not a bucket bound")
    outside = per_step_out if per_step_out is not None else {bounds[-1]: 5}
    counts = {b: 0.0 for b in all_bounds}  # non-cumulative totals so far
    total_sum = 0.0
    points = []
    for i, t in enumerate(window.times()):
        if i:
            step = per_step_in if window.inside(t) else outside
            for bound, n in step.items():
                counts[bound] += n
                # An observation exactly at its bucket's bound (the slowest for +Inf).
                total_sum += n * (bound if bound != INF else 2 * bounds[-1])
        cumulative, running = {}, 0.0
        for bound in all_bounds:
            running += counts[bound]
            cumulative[bound] = running
        points.append((t, cumulative, total_sum))
    return points


def gauge_points(
    window: Window,
    slope_in: float,
    slope_out: float,
    *,
    base: float = 50_000_000.0,
    noise: Sequence[float] = (0.0,),
    step: int | None = None,
) -> list[tuple[int, float]]:
    """A gauge rising slope_in per second inside the window (slope_out outside), plus a repeating noise."""
    step = step or window.step
    points = []
    level = base
    previous: int | None = None
    for i, t in enumerate(window.times(step)):
        if previous is not None:
            level += (slope_in if window.inside(t) else slope_out) * (t - previous)
        previous = t
        points.append((t, level + noise[i % len(noise)]))
    return points


# ---- independent expected values ------------------------------------------------------------------


def in_window(points: Iterable[tuple[int, float]], window: Window) -> list[tuple[int, float]]:
    """The samples a range selector [end - R, end] sees in Prometheus 2.x (both ends inclusive)."""
    return [(t, v) for t, v in points if window.start <= t <= window.end]


def window_increase(points: Iterable[tuple[int, float]], window: Window) -> float:
    """Counter increase from the samples on the window's edges and in between (resets counted)."""
    inside = [v for _, v in in_window(points, window)]
    total = 0.0
    for before, after in itertools.pairwise(inside):
        total += after - before if after >= before else after
    return total


def bucket_increases(
    points: Sequence[tuple[int, Mapping[float, float], float]], window: Window
) -> list[tuple[float, float]]:
    """Per upper bound, the increase of the cumulative bucket counter over the window."""
    bounds = sorted(points[0][1])
    return [
        (bound, window_increase([(t, buckets[bound]) for t, buckets, _ in points], window))
        for bound in bounds
    ]


def histogram_quantile(q: float, buckets: Sequence[tuple[float, float]]) -> float:
    """Prometheus's histogram_quantile on (upper bound, cumulative count) pairs, ending with +Inf.

    Documented rule (promql/quantile.go): rank = q × total; the first bucket whose cumulative
    count reaches rank holds the quantile; interpolate linearly between the bucket's lower
    bound (the previous bound, 0 for the first) and its upper bound by (rank - count below) /
    (count in bucket). A rank in the +Inf bucket answers the largest finite bound.
    """
    if q < 0:
        return -INF
    if q > 1:
        return INF
    ordered = sorted(buckets)
    if len(ordered) < 2 or ordered[-1][0] != INF:
        return math.nan
    total = ordered[-1][1]
    if total == 0:
        return math.nan
    rank = q * total
    index = next((i for i in range(len(ordered) - 1) if ordered[i][1] >= rank), len(ordered) - 1)
    if index == len(ordered) - 1:
        return ordered[-2][0]
    if index == 0 and ordered[0][0] <= 0:
        return ordered[0][0]
    lower = 0.0 if index == 0 else ordered[index - 1][0]
    below = 0.0 if index == 0 else ordered[index - 1][1]
    upper, cumulative = ordered[index]
    in_bucket = cumulative - below
    return lower + (upper - lower) * ((rank - below) / in_bucket)


def least_squares_slope(points: Sequence[tuple[int, float]]) -> float:
    """Ordinary least-squares slope per second (what PromQL deriv() computes)."""
    n = len(points)
    mean_t = sum(t for t, _ in points) / n
    mean_v = sum(v for _, v in points) / n
    cov = sum((t - mean_t) * (v - mean_v) for t, v in points)
    var = sum((t - mean_t) ** 2 for t, _ in points)
    return cov / var
