"""What a performance report reads from run directories: load runs, check reports, stress and soak results.

A RUN_DIR may be a run directory itself (run.json + latencies.csv) or hold several
(`sloguard demo --output-dir D` leaves D/run, D/reports, D/stack). Every file is found
by its name and, for JSON, checked by its `kind`; nothing is assumed present.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sloguard import runs
from sloguard.conventions import CHECK_REPORT_JSON, REPORT_KIND
from sloguard.errors import UsageError
from sloguard.runs import Latencies, RunDocument

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

_MAX_DEPTH = 3  # how deep below a RUN_DIR argument files are searched


@dataclass
class LoadRun:
    path: Path
    doc: RunDocument
    latencies: Latencies | None

    @property
    def name(self) -> str:
        return f"{self.doc.profile_name} ({self.path.name})"


@dataclass
class Memory:
    path: Path
    doc: dict[str, Any] | None  # soak.json, if any
    times: list[float]
    rss: list[float]


@dataclass
class RunData:
    """Everything found under the RUN_DIR arguments."""

    roots: list[Path]
    loads: list[LoadRun] = field(default_factory=list)
    checks: list[tuple[Path, dict[str, Any]]] = field(default_factory=list)
    stress: list[tuple[Path, dict[str, Any]]] = field(default_factory=list)
    memory: list[Memory] = field(default_factory=list)


def _walk(root: Path, depth: int = 0) -> Iterable[Path]:
    yield root
    if depth >= _MAX_DEPTH:
        return
    try:
        children = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    except OSError:
        return
    for child in children:
        yield from _walk(child, depth + 1)


def load(roots: Sequence[Path]) -> RunData:
    """Find and read every run, report, stress and soak result under the given directories."""
    data = RunData(list(roots))
    seen: set[Path] = set()
    for root in roots:
        if not root.is_dir():
            raise UsageError(f"{root}: not a directory")
        for d in _walk(root):
            if d.resolve() in seen:
                continue
            seen.add(d.resolve())
            _read_dir(d, data)
    if not (data.loads or data.checks or data.stress or data.memory):
        raise UsageError(f"no {runs.RUN_JSON}, {CHECK_REPORT_JSON}, {runs.STRESS_JSON} or {runs.SOAK_JSON} under "
                         f"{', '.join(str(r) for r in roots)}")
    return data


def _read_dir(d: Path, data: RunData) -> None:
    run = runs.read_run(d)
    if run is not None:
        csv_path = d / runs.LATENCIES_CSV
        data.loads.append(LoadRun(d, run, runs.read_latencies(csv_path) if csv_path.exists() else None))
    report = runs.read_json_object(d / CHECK_REPORT_JSON)
    if report and report.get("kind") == REPORT_KIND:
        data.checks.append((d, report))
    stress = runs.read_stress(d)
    if stress is not None:
        data.stress.append((d, stress))
    soak = runs.read_soak(d)
    if soak is not None or runs.has_rss(d):
        times, rss = runs.read_rss(d)
        data.memory.append(Memory(d, soak, times, rss))


# ---- derived series -----------------------------------------------------------------------------


def is_error(status: NDArray[np.int64]) -> NDArray[np.bool_]:
    """Transport errors (status 0) and 5xx; a fail-closed deny answers 200 and is not one."""
    return (status == 0) | (status >= 500)


def bin_seconds(span: float, target_bins: int = 60) -> float:
    """A round bin width giving about target_bins bins over span seconds."""
    for width in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600):
        if span / width <= target_bins:
            return float(width)
    return 3600.0


@dataclass
class Series:
    name: str
    x: list[float]
    y: list[float]
    dashed: bool = False


def percentile_series(lat: Latencies, qs: Sequence[float] = (0.5, 0.95), min_per_bin: int = 5) -> list[Series]:
    """Latency percentiles per time bin and implementation (x: seconds since the first request, y: ms)."""
    import numpy as np

    t0 = float(lat.sent[0])
    width = bin_seconds(float(lat.sent[-1]) - t0)
    bins = np.floor((lat.sent - t0) / width).astype(np.int64)
    out = []
    for impl in lat.implementations:
        mask = lat.implementation == impl
        b, v = bins[mask], lat.latency[mask]
        for q in qs:
            xs, ys = [], []
            for k in np.unique(b):
                vals = v[b == k]
                if len(vals) >= min_per_bin:
                    xs.append(float(k * width + width / 2))
                    ys.append(float(np.quantile(vals, q) * 1000))
            out.append(Series(f"{impl} p{q * 100:g}", xs, ys, dashed=q != 0.5))
    return out


def rate_series(lat: Latencies) -> tuple[list[Series], list[Series]]:
    """(throughput req/s per implementation and total, error ratio per bin) over time."""
    import numpy as np

    t0 = float(lat.sent[0])
    width = bin_seconds(float(lat.sent[-1]) - t0)
    bins = np.floor((lat.sent - t0) / width).astype(np.int64)
    n_bins = int(bins.max()) + 1
    # The last bin is usually partial: leave it out rather than draw a fake drop.
    full = n_bins - 1 if n_bins > 1 else n_bins
    xs = [float(k * width + width / 2) for k in range(full)]
    throughput = []
    for impl in [*lat.implementations, "total"]:
        mask = np.ones(len(bins), bool) if impl == "total" else lat.implementation == impl
        counts = np.bincount(bins[mask], minlength=n_bins)[:full]
        throughput.append(Series(impl, xs, [float(c / width) for c in counts], dashed=impl == "total"))
    errs = np.bincount(bins[is_error(lat.status)], minlength=n_bins)[:full]
    total = np.bincount(bins, minlength=n_bins)[:full]
    ratio = [float(e / t) if t else 0.0 for e, t in zip(errs, total, strict=True)]
    return throughput, [Series("error ratio", xs, ratio)]


def cdf_series(lat: Latencies, points: int = 200) -> list[Series]:
    """Empirical CDF per implementation (x: latency ms, y: fraction), thinned to `points` quantiles."""
    import numpy as np

    out = []
    for impl in lat.implementations:
        v = np.sort(lat.of(impl))
        qs = np.linspace(0, 1, points)
        out.append(Series(impl, [float(x * 1000) for x in np.quantile(v, qs)], [float(q) for q in qs]))
    return out


def memory_fit(mem: Memory) -> tuple[float, float] | None:
    """Least-squares slope (bytes/s) and intercept of RSS over time since the first sample."""
    import numpy as np

    if len(mem.times) < 3:
        return None
    t = np.asarray(mem.times) - mem.times[0]
    slope, intercept = np.polyfit(t, np.asarray(mem.rss), 1)
    return float(slope), float(intercept)
