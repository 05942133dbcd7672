"""Live progress of long runs: elapsed, rate, errors and p95, on a terminal or as log lines."""

from __future__ import annotations

import math
import sys
import time
from typing import Any

from sloguard.load.openloop import Snapshot
from sloguard.report.console import make_console

_LOG_EVERY = 10.0  # seconds between plain lines when stderr is not a terminal


class Progress:
    """A one-line rich display on a terminal; one plain line every 10 s otherwise (CI logs)."""

    def __init__(self, title: str, total_seconds: float, *, enabled: bool = True) -> None:
        self.title = title
        self.total = total_seconds
        self.enabled = enabled
        self.started = time.monotonic()
        self._last_line = time.monotonic()  # the first plain line after 10 s, with real numbers
        self._live: Any = None
        if enabled and sys.stderr.isatty():
            from rich.live import Live

            # Refreshed by the caller once a second: no rich thread next to the event loop or gevent.
            self._live = Live(console=make_console(stderr=True), auto_refresh=False, transient=False)
            self._live.start()

    def __call__(self, snap: Snapshot) -> None:
        if not self.enabled:
            return
        line = self.render(snap)
        if self._live is not None:
            self._live.update(line, refresh=True)
            return
        now = time.monotonic()
        if now - self._last_line >= _LOG_EVERY:
            self._last_line = now
            print(line, file=sys.stderr, flush=True)

    def render(self, snap: Snapshot) -> str:
        elapsed = time.monotonic() - self.started
        p95 = "-" if math.isnan(snap.p95) else f"{snap.p95 * 1000:.2f} ms"
        # Requests sent per second over the last interval, against the schedule's rate (none while
        # connecting or draining).
        rate = f"{snap.counted} {snap.rate:,.0f}/s" + (f" of {snap.requested_rate:,.0f}/s requested"
                                                       if snap.requested_rate > 0 else "")
        return (f"{self.title} {_clock(elapsed)}/{_clock(self.total)} [{snap.phase}] {rate}  "
                f"errors {snap.errors:,} ({snap.error_ratio:.2%})  p95 {p95}  in flight {snap.in_flight:,}")

    def close(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None


def _clock(seconds: float) -> str:
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"
