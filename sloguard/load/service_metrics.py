"""The service's own decision counts (sark_authz_requests_total by implementation and decision).

A policy-server outage answers HTTP 200 with a fail-closed deny: only the
service's decision="error" counter tells it from a real deny. The poller scrapes
/metrics once a second in a thread, so error ratios can be read for any stretch
of a run (to within one scrape interval).
"""

from __future__ import annotations

import re
import threading
import time
import urllib.error
import urllib.request

from sloguard.conventions import AUTHZ_REQUESTS, LABEL_DECISION, LABEL_IMPLEMENTATION

_LABEL = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"')
Decisions = dict[tuple[str, str], float]  # (implementation, decision) -> cumulative count


def parse_decisions(text: str) -> Decisions:
    """Cumulative sark_authz_requests_total per (implementation, decision) from exposition text."""
    out: Decisions = {}
    prefix = AUTHZ_REQUESTS + "{"
    for line in text.splitlines():
        if not line.startswith(prefix):
            continue
        labels_end = line.rfind("}")
        labels = dict(_LABEL.findall(line[len(prefix) : labels_end]))
        try:
            value = float(line[labels_end + 1 :].split()[0])
        except (IndexError, ValueError):
            continue
        key = (labels.get(LABEL_IMPLEMENTATION, ""), labels.get(LABEL_DECISION, ""))
        out[key] = out.get(key, 0.0) + value
    return out


def scrape(url: str, timeout: float = 2.0) -> Decisions | None:
    try:
        with urllib.request.urlopen(f"{url.rstrip('/')}/metrics", timeout=timeout) as response:
            return parse_decisions(response.read().decode("utf-8", "replace"))
    except (urllib.error.URLError, OSError, ValueError):
        return None


class MetricsPoller:
    """Scrapes /metrics every `interval` seconds into (unix time, decisions) samples."""

    def __init__(self, url: str, interval: float = 1.0) -> None:
        self.url = url
        self.interval = interval
        self.samples: list[tuple[float, Decisions]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="sloguard-metrics-poller", daemon=True)

    def start(self) -> MetricsPoller:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self.interval + 3)
        self._take()

    def _take(self) -> None:
        sample = scrape(self.url)
        if sample is not None:
            self.samples.append((time.time(), sample))

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._take()
            self._stop.wait(self.interval)

    def delta(self, start: float, end: float) -> dict[str, dict[str, int]] | None:
        """Decisions per implementation between the samples nearest to start and end."""
        if len(self.samples) < 2:
            return None
        first = min(self.samples, key=lambda s: abs(s[0] - start))[1]
        last = min(self.samples, key=lambda s: abs(s[0] - end))[1]
        out: dict[str, dict[str, int]] = {}
        for (impl, decision), value in last.items():
            out.setdefault(impl, {})[decision] = int(value - first.get((impl, decision), 0.0))
        return out

    def error_series(self) -> list[tuple[float, int, int]]:
        """(end time, decisions, error decisions) for each interval between samples."""
        series = []
        for (_, before), (t, after) in zip(self.samples, self.samples[1:], strict=False):
            total = sum(after.values()) - sum(before.values())
            errors = sum(v - before.get(k, 0.0) for k, v in after.items() if k[1] == "error")
            series.append((t, int(total), int(errors)))
        return series
