"""What loadgen/locustfile.py needs besides its users: per-request recording and the target check.

Imported only by the locustfile and the Locust driver: importing locust monkey-patches
the process with gevent.

Raw per-request rows go to a LatencyWriter in the process that drives the run
(local or master). A distributed worker cannot write there, so it batches its rows
and sends them to the master as a custom Locust message; that also works across
machines.
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

import gevent
from locust.env import Environment
from locust.runners import WorkerRunner

from sloguard.conventions import HEADER_IMPLEMENTATION
from sloguard.load.target import health_problem
from sloguard.runs import STATUS_TRANSPORT_ERROR, LatencyWriter

MESSAGE = "sloguard_latencies"
_BATCH = 2000
_FLUSH_SECONDS = 1.0


class _State:
    writer: LatencyWriter | None = None
    environment: Environment | None = None
    rows: ClassVar[list[tuple[float, float, str, int, str]]] = []
    flusher: Any = None


def attach(environment: Environment) -> None:
    """Called from the locustfile's init listener: workers ship their rows to the master."""
    _State.environment = environment
    if isinstance(environment.runner, WorkerRunner) and _State.flusher is None:
        _State.flusher = gevent.spawn(_flush_loop)


def record_to(writer: LatencyWriter | None, environment: Environment | None = None) -> None:
    """The driver (local or master process) names where rows go; a master also receives them."""
    _State.writer = writer
    runner = environment.runner if environment is not None else None
    if writer is None or runner is None or isinstance(runner, WorkerRunner):
        return
    if MESSAGE not in runner.custom_messages:
        runner.register_message(MESSAGE, _receive)


def on_request(response_time: float, response: Any = None, context: dict[str, Any] | None = None,
               exception: Exception | None = None, start_time: float | None = None, name: str = "",
               **_: Any) -> None:
    """Locust's request event: one row per request (closed loop: intended = actual send time)."""
    if _State.writer is None and not _is_worker():
        return
    latency = response_time / 1000.0
    status = int(getattr(response, "status_code", 0) or 0) if response is not None else STATUS_TRANSPORT_ERROR
    impl = ""
    if response is not None and status:
        headers = getattr(response, "headers", None)
        impl = (headers.get(HEADER_IMPLEMENTATION) or "") if headers is not None else ""
    kind = (context or {}).get("kind") or name
    sent = start_time if start_time is not None else time.time() - latency
    if _State.writer is not None:
        _State.writer.write(sent, sent, latency, impl, status, kind)
    else:
        _State.rows.append((sent, latency, impl, status, kind))
        if len(_State.rows) >= _BATCH:
            flush()


def check_target(environment: Environment) -> str | None:
    """The test_start check: a one-line problem when the target is down, else None."""
    if isinstance(environment.runner, WorkerRunner) or not environment.host:
        return None
    return health_problem(environment.host)


def flush() -> None:
    """Send the buffered rows of a worker to the master."""
    env = _State.environment
    if not _State.rows or env is None or env.runner is None:
        return
    rows, _State.rows = _State.rows, []
    env.runner.send_message(MESSAGE, rows)


def _flush_loop() -> None:
    while True:
        gevent.sleep(_FLUSH_SECONDS)
        flush()


def _is_worker() -> bool:
    env = _State.environment
    return env is not None and isinstance(env.runner, WorkerRunner)


def _receive(environment: Environment, msg: Any, **_: Any) -> None:
    writer = _State.writer
    if writer is None:
        return
    for sent, latency, impl, status, kind in msg.data:
        writer.write(sent, sent, latency, impl, status, kind)
