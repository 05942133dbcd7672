"""A rollout's own Prometheus metrics, read from its state directory: what the controller serves and the stack scrapes.

The metrics are derived on every scrape from the state directory alone (state.recover: the state file plus
the decisions it missed), never from the controller's memory, so they say what the record says, survive a
restart of the controller, and can be served by any process that can read the directory. Reading needs no
lock: the state file is replaced atomically and a torn last log line is left out, as on recovery.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from threading import Lock, Thread
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from sloguard import conventions as c
from sloguard.processes import LOOPBACK
from sloguard.rollout.state import DECISIONS_FILE, STATE_FILE, Kind, Recovery, RolloutStateError, Status, recover

# The counter's family name: prometheus_client appends the _total the exposition shows.
_DECISIONS_FAMILY = c.ROLLOUT_DECISIONS.removesuffix("_total")


@dataclass(frozen=True)
class RolloutSnapshot:
    """What the metrics show: the reconciled state, the percent last applied per flag, decisions per kind."""

    recovery: Recovery
    percent_by_flag: dict[str, float]
    decisions_by_kind: dict[str, int]


def snapshot(directory: Path, flags: Sequence[str] = ()) -> RolloutSnapshot | None:
    """The rollout recorded in `directory` (None when there is none); `flags` are shown at 0 % until applied."""
    recovery = recover(directory)
    if recovery is None:
        return None
    percent = dict.fromkeys(flags, 0.0)
    for decision in recovery.decisions:
        if decision.kind == Kind.APPLIED:  # the split in place: what the flag system was told and confirmed
            percent.update(dict.fromkeys(decision.flags or flags, decision.percent))  # no flags named: all of them
    counts = Counter(str(decision.kind) for decision in recovery.decisions)
    return RolloutSnapshot(recovery, percent, {str(kind): counts.get(str(kind), 0) for kind in Kind})


def families(snap: RolloutSnapshot | None, *, readable: bool = True) -> list[Metric]:
    """The metric families of one snapshot (none but state_ok when there is no rollout or it is unreadable)."""
    ok = GaugeMetricFamily(c.ROLLOUT_STATE_OK, "1 when the rollout's state directory reads cleanly, else 0")
    ok.add_metric([], 1.0 if readable else 0.0)
    if snap is None:
        return [ok]
    state = snap.recovery.state
    name = [state.plan_name]
    percent = GaugeMetricFamily(c.ROLLOUT_PERCENT, "The percent of traffic last applied to the Rust path, per flag",
                                labels=[c.LABEL_ROLLOUT, c.LABEL_FLAG])  # fmt: skip
    for flag, value in sorted(snap.percent_by_flag.items()):
        percent.add_metric([*name, flag], value)
    step = GaugeMetricFamily(c.ROLLOUT_STEP, "The plan step the rollout is at (-1 before the first)",
                             labels=[c.LABEL_ROLLOUT])  # fmt: skip
    step.add_metric(name, float(state.step_index))
    status = GaugeMetricFamily(c.ROLLOUT_STATUS, "1 for the rollout's current status, 0 for the others",
                               labels=[c.LABEL_ROLLOUT, c.LABEL_STATUS])  # fmt: skip
    for each in Status:
        status.add_metric([*name, str(each)], 1.0 if each == state.status else 0.0)
    decisions = CounterMetricFamily(_DECISIONS_FAMILY, "Decision-log lines, by kind",
                                    labels=[c.LABEL_ROLLOUT, c.LABEL_DECISION])  # fmt: skip
    for kind, count in snap.decisions_by_kind.items():
        decisions.add_metric([*name, kind], float(count))
    result: list[Metric] = [ok, percent, step, status, decisions]
    if state.step_started_at is not None:
        started = GaugeMetricFamily(c.ROLLOUT_STEP_STARTED, "When the current step's split was applied (unix s)",
                                    labels=[c.LABEL_ROLLOUT])  # fmt: skip
        started.add_metric(name, state.step_started_at)
        result.append(started)
    return result


class RolloutCollector:
    """A prometheus_client collector over one state directory; re-reads it only when one of its files changed."""

    def __init__(self, directory: Path, flags: Sequence[str] = ()) -> None:
        self.directory = directory
        self.flags = tuple(flags)
        self._lock = Lock()  # scrapes may come from several server threads at once
        self._key: tuple[Any, ...] | None = None
        self._metrics: list[Metric] = []

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            key = self._files_key()
            if key != self._key:
                self._metrics = self._read()
                self._key = key
            yield from self._metrics

    def _read(self) -> list[Metric]:
        try:
            return families(snapshot(self.directory, self.flags))
        except RolloutStateError:  # a damaged directory is shown, not raised: the scrape itself still works
            return families(None, readable=False)

    def _files_key(self) -> tuple[Any, ...]:
        key: list[Any] = []
        for name in (STATE_FILE, DECISIONS_FILE):
            try:
                info = os.stat(self.directory / name)
            except OSError:
                key.append(None)
            else:
                key.append((info.st_ino, info.st_size, info.st_mtime_ns))
        return tuple(key)


def registry_for(directory: Path, flags: Sequence[str] = ()) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(RolloutCollector(directory, flags))
    return registry


def render_metrics(directory: Path, flags: Sequence[str] = ()) -> str:
    """The rollout's metrics in the Prometheus text format."""
    return generate_latest(registry_for(directory, flags)).decode("utf-8")


@dataclass
class MetricsServer:
    """The /metrics endpoint of a rollout, served from a daemon thread until `close`."""

    port: int
    host: str
    _server: Any
    _thread: Thread

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/metrics"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> MetricsServer:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def serve_metrics(directory: Path, port: int, *, flags: Sequence[str] = (), host: str = LOOPBACK) -> MetricsServer:
    """Serve the rollout's metrics on host:port (loopback by default, as every sloguard server; 0: a free port)."""
    try:
        server, thread = start_http_server(port, addr=host, registry=registry_for(directory, flags))
    except OSError as exc:
        raise RolloutStateError(f"cannot serve rollout metrics on {host}:{port} ({exc.strerror})") from None
    return MetricsServer(int(server.server_port), host, server, thread)
