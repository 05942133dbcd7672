"""The time series of a run directory: timeline.csv (per-second outcomes) and rss.csv (memory over a soak)."""

from __future__ import annotations

import csv
from pathlib import Path
from types import TracebackType
from typing import IO

from sloguard.files import write_text_atomic
from sloguard.runs.names import RSS_BYTES_COLUMN, RSS_COLUMNS, RSS_CSV, RSS_TIME_COLUMN, TIMELINE_COLUMNS


def write_timeline(path: Path, timeline: list[dict[str, float]], t0_unix: float) -> None:
    """One row per second of an open-loop run: completions, errors and their ratio."""
    rows = [f"{t0_unix + row['second']:.3f},{row['second']:.0f},{row['done']:.0f},{row['errors']:.0f},"
            f"{row['error_ratio']}\n" for row in timeline]
    write_text_atomic(path, ",".join(TIMELINE_COLUMNS) + "\n" + "".join(rows))


class RssWriter:
    """rss.csv, a row per sample, flushed at once so a killed soak keeps every sample taken."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / RSS_CSV
        self._file: IO[str] = self.path.open("w", encoding="utf-8")
        self._file.write(",".join(RSS_COLUMNS) + "\n")

    def write(self, now: float, elapsed: float, rss: int, processes: int) -> None:
        self._file.write(f"{now:.3f},{elapsed:.3f},{rss},{processes}\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> RssWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()


def read_rss(directory: Path) -> tuple[list[float], list[float]]:
    """(sample times, RSS bytes) of DIRECTORY/rss.csv; rows that do not read are skipped, no file is no samples."""
    path = directory / RSS_CSV
    times: list[float] = []
    rss: list[float] = []
    if not path.exists():
        return times, rss
    with path.open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            try:
                times.append(float(row[RSS_TIME_COLUMN]))
                rss.append(float(row[RSS_BYTES_COLUMN]))
            except (KeyError, TypeError, ValueError):
                continue
    return times, rss


def has_rss(directory: Path) -> bool:
    return (directory / RSS_CSV).exists()
