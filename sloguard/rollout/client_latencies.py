"""Client-side latencies by X-Sark-Implementation, from a load generator's latencies CSV, for the rollout.

The server's histograms time the decision inside the service; a generator's rows time what a caller
waits for (connection, queueing, the HTTP stack), each labelled with the implementation that answered
(the `X-Sark-Implementation` header). While a generator runs beside a rollout, the controller feeds
these to a second latency monitor over the same window as the server's, bucketed with the same
bounds (LATENCY_BUCKETS) so both monitors read a quantile the same way.

Memory stays bounded by the window's length, not its requests: rows are counted per second of their
intended send time, and seconds before the window's start are dropped (the comparison window only
moves forward: it starts where the current climb began).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from pathlib import Path

from sloguard.conventions import IMPLEMENTATIONS, LATENCY_BUCKETS
from sloguard.rollout.sequential import cumulative
from sloguard.runs import LATENCIES_CSV, LatencyTail

Buckets = list[tuple[float, float]]


class ClientLatencies:
    """Cumulative per-implementation buckets of a growing latencies CSV over [since, now]."""

    def __init__(self, path: Path, bounds: Sequence[float] = LATENCY_BUCKETS) -> None:
        self.path = path  # the CSV, or the run directory it will be in (the generator may create it later)
        self._tail = LatencyTail(latencies_file(path))
        self._bounds = tuple(bounds)
        # second -> implementation -> per-bucket counts (the last past the largest bound)
        self._seconds: dict[int, dict[str, list[int]]] = {}
        self._totals: dict[str, list[int]] = {}
        self._kept_from = -math.inf

    def buckets_since(self, since: float) -> dict[str, Buckets]:
        """Rows read so far, intended at or after `since` (to the second), as cumulative (le, count) buckets.

        Only successful requests count: a failed one's latency (a refused connection, a 5xx) is no
        decision's, and the error monitor weighs failures. Rows of other implementations are ignored.
        """
        if latencies_file(self.path) != self._tail.path:  # the run directory appeared after we started
            self._tail = LatencyTail(latencies_file(self.path))
        for row in self._tail.read():
            if row.implementation not in IMPLEMENTATIONS or not 200 <= row.status < 500:
                continue
            second = math.floor(row.intended)
            if second < self._kept_from:
                continue
            index = bisect.bisect_left(self._bounds, row.latency)  # le: a value on a bound counts in it
            per_impl = self._seconds.setdefault(second, {})
            counts = per_impl.setdefault(row.implementation, [0] * (len(self._bounds) + 1))
            counts[index] += 1
            self._totals.setdefault(row.implementation, [0] * (len(self._bounds) + 1))[index] += 1
        self._drop_before(math.floor(since))
        return {impl: cumulative(self._bounds, counts) for impl, counts in self._totals.items() if sum(counts)}

    def _drop_before(self, second: int) -> None:
        if second <= self._kept_from:
            return
        self._kept_from = second
        for old in [s for s in self._seconds if s < second]:
            for impl, counts in self._seconds.pop(old).items():
                totals = self._totals[impl]
                for i, n in enumerate(counts):
                    totals[i] -= n


def latencies_file(path: Path) -> Path:
    """A run directory's latencies CSV, or the file itself (which may not exist yet: the generator starts later)."""
    return path / LATENCIES_CSV if path.is_dir() else path
