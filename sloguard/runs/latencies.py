"""latencies.csv: per-request rows, streamed in blocks while a run goes and read back columnar.

Reading goes through numpy.loadtxt in one pass over the file (its float parser is Python's own,
so values are bit for bit what float() gives). Anything it cannot vouch for (quotes in the
header, a row that does not parse, a text value holding a line break) sends the read to the
csv-module reader the commands always had, which keeps their lenient or strict rules and
their file:line messages. numpy is imported inside the readers: writing a run must not pay for it.
"""

from __future__ import annotations

import csv
import math
import time
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING

from sloguard.errors import UsageError
from sloguard.runs.names import (
    ACTUAL_SEND_COLUMN,
    IMPLEMENTATION_COLUMN,
    KIND_COLUMN,
    LATENCY_COLUMN,
    LATENCY_COLUMNS,
    SEND_TIME_COLUMN,
    STATUS_COLUMN,
)

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

    FloatArray = NDArray[np.float64]
    IntArray = NDArray[np.int64]


# ---- writing ------------------------------------------------------------------------------------


class LatencyWriter:
    """Streams raw per-request rows to CSV in blocks (bounded memory whatever the run length)."""

    def __init__(self, path: Path, block: int = 4096, extra_columns: tuple[str, ...] = ()) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file: IO[str] = path.open("w", encoding="utf-8", newline="")
        self._file.write(",".join(LATENCY_COLUMNS + extra_columns) + "\n")
        self._rows: list[str] = []
        self._block = block
        self._flushed = time.monotonic()
        self.rows_written = 0

    def write(self, intended: float, sent: float, latency: float, implementation: str, status: int,
              kind: str, *extra: str) -> None:
        tail = "".join("," + value for value in extra)
        self._rows.append(f"{intended:.6f},{sent:.6f},{latency:.6f},{implementation},{status},{kind}{tail}\n")
        # By count, and at least once a second so a crash or a kill loses at most a second of rows.
        if len(self._rows) >= self._block or time.monotonic() - self._flushed > 1.0:
            self.flush()

    def flush(self) -> None:
        if self._rows:
            self._file.write("".join(self._rows))
            self.rows_written += len(self._rows)
            self._rows.clear()
        self._file.flush()
        self._flushed = time.monotonic()

    def close(self) -> None:
        if not self._file.closed:
            self.flush()
            self._file.close()


class TaggedWriter:
    """A LatencyWriter shared by several generators, each appending its own value (its target) to a row."""

    def __init__(self, writer: LatencyWriter, tag: str) -> None:
        self._writer = writer
        self._tag = tag

    def write(self, intended: float, sent: float, latency: float, implementation: str, status: int,
              kind: str) -> None:
        self._writer.write(intended, sent, latency, implementation, status, kind, self._tag)

    def flush(self) -> None:
        self._writer.flush()


def copy_in_window(sources: Iterable[Path], dest: Path, start: float, end: float) -> Iterator[tuple[int, str, float]]:
    """Copy the rows intended inside [start, end] from raw latency files to `dest`; yield (status, impl, latency)."""
    writer = LatencyWriter(dest)
    try:
        for source in sources:
            with source.open(encoding="utf-8", newline="") as fh:
                for row in csv.DictReader(fh):
                    intended = float(row[SEND_TIME_COLUMN])
                    if not start <= intended <= end:
                        continue
                    status = int(row[STATUS_COLUMN])
                    latency = float(row[LATENCY_COLUMN])
                    yield status, row[IMPLEMENTATION_COLUMN], latency
                    writer.write(intended, float(row[ACTUAL_SEND_COLUMN]), latency, row[IMPLEMENTATION_COLUMN],
                                 status, row[KIND_COLUMN])
    finally:
        writer.close()


# ---- reading while a generator writes: the rollout's client-side samples -------------------------


@dataclass(frozen=True)
class LatencyRow:
    """One request of a latencies CSV, as the rollout's client-side monitor needs it."""

    intended: float  # unix s
    implementation: str  # the X-Sark-Implementation header that answered ("" when none did)
    status: int
    latency: float


class LatencyTail:
    """The rows appended to a latencies CSV since the last `read()`, while a generator is still writing it.

    The writer flushes whole rows in blocks, but a read can land in the middle of one: the unfinished
    last line is left for the next read. A file that does not exist yet reads as no rows (the generator
    has not started); one replaced by a shorter file (a new run) is read again from its start.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset = 0
        self._line = 0
        self._columns: tuple[int, int, int, int] | None = None

    def read(self) -> list[LatencyRow]:
        try:
            with self.path.open("rb") as fh:
                if fh.seek(0, 2) < self._offset:  # truncated or replaced: a new file
                    self._offset, self._line, self._columns = 0, 0, None
                fh.seek(self._offset)
                chunk = fh.read()
        except FileNotFoundError:
            return []
        except IsADirectoryError:
            raise UsageError(f"{self.path}: a directory, not a latencies CSV") from None
        complete = chunk[: chunk.rfind(b"\n") + 1]
        self._offset += len(complete)
        rows: list[LatencyRow] = []
        for raw in complete.decode("utf-8", errors="replace").splitlines():
            self._line += 1
            if self._columns is None:
                self._columns = self._header(raw)
                continue
            rows.append(self._row(raw))
        return rows

    def _header(self, raw: str) -> tuple[int, int, int, int]:
        names = raw.split(",")
        wanted = (SEND_TIME_COLUMN, IMPLEMENTATION_COLUMN, STATUS_COLUMN, LATENCY_COLUMN)
        missing = [name for name in wanted if name not in names]
        if missing:
            raise UsageError(f"{self.path}:1: not a latencies CSV: no column {', '.join(missing)}")
        intended, implementation, status, latency = (names.index(name) for name in wanted)
        return intended, implementation, status, latency

    def _row(self, raw: str) -> LatencyRow:
        assert self._columns is not None
        intended, implementation, status, latency = self._columns
        fields = raw.split(",")
        try:
            return LatencyRow(float(fields[intended]), fields[implementation], int(fields[status]),
                              float(fields[latency]))  # fmt: skip
        except (IndexError, ValueError):
            raise UsageError(f"{self.path}:{self._line}: not a latencies row: {raw[:80]!r}") from None


# ---- reading: samples for `sloguard compare` ----------------------------------------------------


@dataclass(frozen=True)
class Samples:
    """One group of a latency CSV: the values of a column and, when asked for, the rows' send times."""

    values: FloatArray
    times: FloatArray | None = None


def read_samples(path: Path, *, column: str = LATENCY_COLUMN, filters: Mapping[str, str] | None = None,
                 by: str | None = None, with_times: bool = False) -> dict[str, Samples]:
    """Values of `column` grouped by column `by` ("" when not grouped), rows kept if they match `filters`.

    Groups come in the order of their first row. A missing column, a value that is not a
    number or a file that is not text is a UsageError naming the file (and the line).
    """
    import numpy as np

    filters = dict(filters or {})
    floats = list(dict.fromkeys([column, *([SEND_TIME_COLUMN] if with_times else [])]))
    texts = list(dict.fromkeys([*filters, *([by] if by else [])]))
    table = _read_columns(path, floats=floats, texts=texts, duplicates="last")
    if table is None:
        return _read_samples_with_csv(path, column=column, filters=filters, by=by, with_times=with_times)
    numbers, labelled = table
    keep: NDArray[np.bool_] | None = None
    for key, wanted in filters.items():
        codes, labels = labelled[key]
        match = codes == (labels.index(wanted) if wanted in labels else -1)
        keep = match if keep is None else keep & match
    values = numbers[column] if keep is None else numbers[column][keep]
    times = numbers[SEND_TIME_COLUMN] if with_times else None
    if times is not None and keep is not None:
        times = times[keep]
    if not by:
        return {"": Samples(values, times)} if len(values) else {}
    codes, labels = labelled[by]
    if keep is not None:
        codes = codes[keep]
    present, first = np.unique(codes, return_index=True)
    groups: dict[str, Samples] = {}
    for code in present[np.argsort(first, kind="stable")]:
        rows = codes == code
        groups[labels[int(code)]] = Samples(values[rows], None if times is None else times[rows])
    return groups


def _read_samples_with_csv(path: Path, *, column: str, filters: Mapping[str, str], by: str | None,
                           with_times: bool) -> dict[str, Samples]:
    import numpy as np

    values = _csv_column(path, column=column, filters=filters, by=by)
    times = _csv_column(path, column=SEND_TIME_COLUMN, filters=filters, by=by) if with_times else None
    return {group: Samples(np.asarray(v, dtype=np.float64),
                           None if times is None else np.asarray(times[group], dtype=np.float64))
            for group, v in values.items()}  # fmt: skip


def _csv_column(path: Path, *, column: str, filters: Mapping[str, str], by: str | None) -> dict[str, list[float]]:
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


# ---- reading: every request of a run, for the performance report --------------------------------


@dataclass
class Latencies:
    """Per-request records of one run, in send order: send time (unix s), latency (s), implementation, HTTP status."""

    sent: FloatArray
    latency: FloatArray
    implementation: NDArray[np.str_]
    status: IntArray

    def of(self, impl: str) -> FloatArray:
        return self.latency[self.implementation == impl]

    @property
    def implementations(self) -> list[str]:
        return sorted({str(i) for i in self.implementation if i})


def read_latencies(path: Path) -> Latencies | None:
    """Every row of a latency CSV that reads (others are skipped); None without a latency column or a row."""
    try:
        return _read_latencies(path)
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: not a readable latency CSV ({exc})") from None


def _read_latencies(path: Path) -> Latencies | None:
    import numpy as np

    with path.open(newline="", encoding="utf-8") as fh:
        header = next(csv.reader(fh), None)
    if not header or LATENCY_COLUMN not in header:
        return None
    floats = [LATENCY_COLUMN] + ([SEND_TIME_COLUMN] if SEND_TIME_COLUMN in header else [])
    texts = [c for c in (IMPLEMENTATION_COLUMN, STATUS_COLUMN) if c in header]
    table = _read_columns(path, floats=floats, texts=texts, duplicates="first")
    statuses = None
    if table is not None and STATUS_COLUMN in table[1]:
        try:
            statuses = [int(s) if s else 0 for s in table[1][STATUS_COLUMN][1]]
        except ValueError:
            table = None  # a row the csv reader skips: let it
    if table is None:
        return _read_latencies_with_csv(path)
    numbers, labelled = table
    latency = numbers[LATENCY_COLUMN]
    n = len(latency)
    if not n:
        return None
    sent = numbers[SEND_TIME_COLUMN] if SEND_TIME_COLUMN in numbers else np.full(n, math.nan)
    if IMPLEMENTATION_COLUMN in labelled:
        codes, labels = labelled[IMPLEMENTATION_COLUMN]
        impl = np.asarray(labels)[codes]
    else:
        impl = np.asarray([""] * n)
    if statuses is not None:
        codes, _ = labelled[STATUS_COLUMN]
        status = np.asarray(statuses, dtype=np.int64)[codes]
    else:
        status = np.zeros(n, dtype=np.int64)
    order = np.argsort(sent)
    return Latencies(sent[order], latency[order], impl[order], status[order])


def _read_latencies_with_csv(path: Path) -> Latencies | None:
    try:
        return _csv_latencies(path)
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: not a readable latency CSV ({exc})") from None


def _csv_latencies(path: Path) -> Latencies | None:
    import numpy as np

    sent: list[float] = []
    latency: list[float] = []
    impl: list[str] = []
    status: list[int] = []
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if not header or LATENCY_COLUMN not in header:
            return None
        i_lat = header.index(LATENCY_COLUMN)
        i_sent = header.index(SEND_TIME_COLUMN) if SEND_TIME_COLUMN in header else None
        i_impl = header.index(IMPLEMENTATION_COLUMN) if IMPLEMENTATION_COLUMN in header else None
        i_status = header.index(STATUS_COLUMN) if STATUS_COLUMN in header else None
        for row in reader:
            # Parse the whole row before keeping any of it: a row cut short (a run killed mid-write)
            # is dropped in full, so the columns stay in step.
            try:
                values = (float(row[i_lat]), float(row[i_sent]) if i_sent is not None else math.nan,
                          row[i_impl] if i_impl is not None else "",
                          int(row[i_status]) if i_status is not None and row[i_status] else 0)
            except (ValueError, IndexError):
                continue
            latency.append(values[0])
            sent.append(values[1])
            impl.append(values[2])
            status.append(values[3])
    if not latency:
        return None
    order = np.argsort(np.asarray(sent))
    return Latencies(np.asarray(sent)[order], np.asarray(latency)[order], np.asarray(impl)[order],
                     np.asarray(status, dtype=np.int64)[order])


# ---- the columnar reader ------------------------------------------------------------------------


class _Codes(dict[str, int]):
    """Text values numbered in the order they first appear (a column's values become small integers)."""

    def __missing__(self, key: str) -> int:
        code = self[key] = len(self)
        return code


def _read_columns(path: Path, *, floats: Sequence[str], texts: Sequence[str], duplicates: str
                  ) -> tuple[dict[str, FloatArray], dict[str, tuple[IntArray, list[str]]]] | None:
    """Float columns and coded text columns of a CSV in one pass; None when the csv module must decide.

    `duplicates` says which of two same-named columns counts: "last" as csv.DictReader, "first" as
    list.index. Text columns come back as (codes, labels): labels[codes[i]] is row i's value.
    """
    import numpy as np

    if set(floats) & set(texts):
        return None
    try:
        with path.open(encoding="utf-8") as fh:  # universal newlines: \n, \r\n and \r end rows, as in csv
            first = fh.readline()
            if '"' in first:
                return None
            header = next(csv.reader([first]), [])
            index: dict[str, int] = {}
            for i, name in enumerate(header):
                if duplicates == "last" or name not in index:
                    index[name] = i
            if any(name not in index for name in (*floats, *texts)):
                return None
            columns = sorted({index[name] for name in (*floats, *texts)})
            coders = {index[name]: _Codes() for name in texts}
            dtype = [(f"c{i}", "i8" if i in coders else "f8") for i in columns]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # "input contained no data": only a header
                table = np.loadtxt(fh, delimiter=",", quotechar='"', comments=None, usecols=columns, dtype=dtype,
                                   converters={i: coder.__getitem__ for i, coder in coders.items()}, ndmin=1)
    except (OSError, UnicodeError, ValueError, TypeError, IndexError):
        return None
    labelled: dict[str, tuple[IntArray, list[str]]] = {}
    for name in texts:
        labels = list(coders[index[name]])
        if any("\n" in label or "\r" in label for label in labels):
            return None  # a quoted line break: csv keeps "\r\n" inside a field, universal newlines would not
        labelled[name] = (np.ascontiguousarray(table[f"c{index[name]}"]), labels)
    numbers = {name: np.ascontiguousarray(table[f"c{index[name]}"]) for name in floats}
    return numbers, labelled
