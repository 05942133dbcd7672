"""A log that writes one line per kind per interval and counts the lines it held back.

A policy that fails, or is undefined, fails on every request: one line per request (or a
traceback per request) buries everything else. The service and the policy server log
through this instead: the first occurrence of a kind is logged at once, later ones within
the interval are counted, and the next line of that kind says how many were held back.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

DEFAULT_INTERVAL = 10.0  # seconds between two lines of the same kind
LOGGER_NAME = "sloguard.demo"


class RateLimitedLog:
    """``log(kind, message)``: at most one line per kind per ``interval`` seconds."""

    def __init__(
        self,
        logger: logging.Logger | None = None,
        interval: float = DEFAULT_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.logger = logger or logging.getLogger(LOGGER_NAME)
        self.interval = interval
        self._clock = clock
        self._last: dict[str, float] = {}
        self._held: dict[str, int] = {}

    def log(self, kind: str, message: str, level: int = logging.ERROR) -> bool:
        """Log the line, or count it when a line of this kind was logged less than an interval ago."""
        now = self._clock()
        last = self._last.get(kind)
        if last is not None and now - last < self.interval:
            self._held[kind] = self._held.get(kind, 0) + 1
            return False
        held = self._held.pop(kind, 0)
        self._last[kind] = now
        if held and last is not None:
            message += f" ({held} more of this kind in the last {now - last:.0f} s were not logged)"
        self.logger.log(level, "sloguard: %s: %s", kind, message)
        return True

    def warning(self, kind: str, message: str) -> bool:
        return self.log(kind, message, logging.WARNING)

    def held(self, kind: str) -> int:
        """How many lines of this kind are held back now."""
        return self._held.get(kind, 0)
