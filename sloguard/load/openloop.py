"""Open-loop, constant-arrival-rate HTTP load: requests leave on schedule whatever is outstanding.

A closed-loop client (Locust, wrk) waits for a response before its next request,
so a stalled server also stalls the clock that measures it ("coordinated
omission"). Here request i is *intended* at t0 + i/rate; latency is measured from
that intended time, so time spent queueing behind a stall is counted. When more
than `max_in_flight` requests are outstanding, the excess waits in a bounded
backlog (its wait is in its latency and it counts as late) and beyond that is
dropped and counted as an error — never silently delayed.

The HTTP/1.1 client is a minimal keep-alive protocol on asyncio transports:
httpx costs several times more CPU per request, and this generator must leave
most of a small machine to the service it measures.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import queue
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from sloguard.load.recorder import Counts, Histogram
from sloguard.runs import STATUS_TRANSPORT_ERROR, LatencyWriter, TaggedWriter

# A request source maps a sequence number to (kind, full HTTP request bytes).
RequestSource = Callable[[int], tuple[str, bytes]]


@dataclass(frozen=True)
class Phase:
    """A stretch of constant arrival rate; only `measured` phases make the steady-state window."""

    name: str
    rate: float  # requests per second
    duration: float  # seconds
    measured: bool = True


@dataclass
class PhaseResult:
    """The counts of one phase, with the window it covered in unix seconds."""

    phase: Phase
    start: float
    end: float
    counts: Counts = field(default_factory=Counts)
    max_send_lag: float = 0.0
    send_lag: Histogram = field(default_factory=Histogram)  # actual - intended send time

    @property
    def seconds(self) -> float:
        return max(self.end - self.start, 0.0)

    @property
    def requested_rate(self) -> float:
        return self.phase.rate

    def achieved_rate(self) -> float:
        """Requests actually sent per second of the phase (the scheduler's fidelity)."""
        return self.counts.sent / self.seconds if self.seconds > 0 else 0.0


@dataclass
class Snapshot:
    """What the progress display shows, once a second."""

    elapsed: float
    phase: str
    requested_rate: float
    rate: float  # sends in the last interval, per second
    errors: int  # in the current phase
    error_ratio: float
    p95: float  # of the last interval
    in_flight: int
    backlog: int
    counted: str = "sent"  # what `rate` counts: requests sent (open loop) or done (Locust's current_rps)


@dataclass
class OpenLoopResult:
    phases: list[PhaseResult]
    interrupted: bool
    timeline: list[dict[str, float]]  # per intended second since the start: done, errors, error_ratio

    def measured(self) -> list[PhaseResult]:
        return [p for p in self.phases if p.phase.measured and p.seconds > 0]

    def window(self) -> tuple[float, float] | None:
        measured = self.measured()
        if not measured:
            return None
        return measured[0].start, measured[-1].end

    def steady_counts(self) -> Counts:
        total = Counts()
        for p in self.measured():
            total.merge(p.counts)
        return total


class _Conn(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection carrying at most one request at a time."""

    __slots__ = ("buf", "gen", "idle_since", "intended", "kind", "phase", "sent_at", "transport")

    def __init__(self, gen: OpenLoopGenerator) -> None:
        self.gen = gen
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.intended = 0.0  # 0.0 = idle
        self.sent_at = 0.0
        self.kind = ""
        self.phase: PhaseResult | None = None
        self.idle_since = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def send(self, intended: float, kind: str, data: bytes, phase: PhaseResult) -> None:
        self.intended = intended
        self.kind = kind
        self.phase = phase
        self.sent_at = time.monotonic()
        assert self.transport is not None
        self.transport.write(data)
        self.gen._on_sent(self)

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        end = buf.find(b"\r\n\r\n")
        if end < 0 or not self.intended:
            return
        head = bytes(buf[:end]).lower()
        status = int(head[9:12])
        i = head.find(b"\r\ncontent-length:")
        if i >= 0:
            j = head.find(b"\r\n", i + 17)
            length = int(head[i + 17 : j if j >= 0 else len(head)])
            if len(buf) < end + 4 + length:
                return
        elif b"\r\ntransfer-encoding: chunked" in head and not buf.endswith(b"0\r\n\r\n"):
            return
        i = head.find(b"\r\nx-sark-implementation:")
        impl = ""
        if i >= 0:
            j = head.find(b"\r\n", i + 24)
            impl = head[i + 24 : j if j >= 0 else len(head)].strip().decode("ascii", "replace")
        close = b"\r\nconnection: close" in head
        buf.clear()
        self.gen._on_response(self, status, impl, close)

    def connection_lost(self, exc: Exception | None) -> None:
        self.gen._on_lost(self)


class OpenLoopGenerator:
    """Sends requests from `source` on a constant-rate schedule through a bounded connection pool."""

    def __init__(
        self,
        url: str,
        source: RequestSource,
        *,
        max_in_flight: int = 512,
        max_backlog: int | None = None,
        timeout: float = 10.0,
        late_threshold: float = 0.01,
        writer: LatencyWriter | TaggedWriter | None = None,
        progress: Callable[[Snapshot], None] | None = None,
        progress_interval: float = 1.0,
        clock_offset: float | None = None,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"the open-loop generator speaks plain http://host:port, not {url!r}")
        self.host = parts.hostname
        self.port = parts.port or 80
        self.source = source
        self.max_in_flight = max(1, max_in_flight)
        self.max_backlog = max_backlog
        self.timeout = timeout
        self.late_threshold = late_threshold
        self.writer = writer
        self.progress = progress
        self.progress_interval = progress_interval
        # Unix time = monotonic + offset, fixed once so every timestamp of the run shares one clock.
        self.offset = time.time() - time.monotonic() if clock_offset is None else clock_offset
        self._idle: list[_Conn] = []
        self._busy: set[_Conn] = set()
        self._open = 0  # connected or connecting
        self._backlog: deque[tuple[float, str, bytes, PhaseResult]] = deque()
        self._backlog_cap = max_backlog if max_backlog is not None else 0
        self._tick = Counts()  # since the last progress snapshot
        # What the progress line shows: the phase being sent (or connecting, draining) and its result.
        self._state = "connecting"
        self._phase_now: PhaseResult | None = None
        # Per intended second: [finished, errors]; small enough for a 24 h run (86,400 entries).
        self._second: dict[int, list[int]] = {}
        self._t0 = 0.0
        self._stop: asyncio.Event | None = None
        self._timer: _PreciseTimer | None = None
        self.connect_errors = 0

    # ---- the schedule ----------------------------------------------------------------------

    async def run(self, phases: Sequence[Phase], stop: asyncio.Event | None = None,
                  drain: float | None = None, start_at: float | None = None) -> OpenLoopResult:
        """Run the phases back to back; `stop` (or SIGINT) ends early with partial results.

        `start_at` (a time.monotonic() instant) fixes the first intended send, so several
        generators on one loop can share a schedule (see run_interleaved).
        """
        loop = asyncio.get_running_loop()
        self._stop = stop or asyncio.Event()
        installed = _install_sigint(loop, self._stop)
        self._timer = _PreciseTimer(loop)
        sweeper = loop.create_task(self._sweep())
        ticker = loop.create_task(self._ticker()) if self.progress else None
        results: list[PhaseResult] = []
        try:
            await self._prewarm(min(self.max_in_flight, 8))
            # Start on a whole millisecond so the 1 ms grid of intended times matches the loop's clock.
            first = time.monotonic() + 0.01 if start_at is None else start_at
            self._t0 = t = math.ceil(first / _TICK - 1e-9) * _TICK
            for phase in phases:
                if self._stop.is_set():
                    break
                result = PhaseResult(phase, t + self.offset, t + self.offset)
                results.append(result)
                self._state, self._phase_now = phase.name, result
                if self.max_backlog is None:
                    # Room to queue one timeout's worth of arrivals; anything older would time out anyway.
                    self._backlog_cap = max(1, int(phase.rate * self.timeout))
                t = await self._run_phase(phase, result, t)
            self._state = "draining"
            await self._drain(self.timeout if drain is None else drain)
        finally:
            sweeper.cancel()
            if ticker:
                ticker.cancel()
            if installed:
                loop.remove_signal_handler(signal.SIGINT)
            self._close_all()
            self._timer.close()
            if self.writer:
                self.writer.flush()
        return OpenLoopResult(results, self._stop.is_set(), self._timeline())

    async def _run_phase(self, phase: Phase, result: PhaseResult, t_start: float) -> float:
        assert self._stop is not None
        total = max(0, round(phase.rate * phase.duration))
        interval = 1.0 / phase.rate if phase.rate > 0 else math.inf
        t_end = t_start + phase.duration
        source = self.source
        i = 0
        stop = self._stop
        loop = asyncio.get_running_loop()
        timer = self._timer
        assert timer is not None
        while i < total and not stop.is_set():
            now = time.monotonic()
            due = t_start + _quantize(i * interval)
            if due > now:
                if due - now > 2 * _TICK:
                    # The loop's timers are coarse (whole milliseconds, and uvloop's clock is in
                    # milliseconds): good enough to get close, measured on the loop's own clock;
                    # the precise timer takes the last 1.5 ms.
                    await asyncio.sleep(max(due - 1.5 * _TICK - loop.time(), 0.0))
                    if stop.is_set():
                        break
                if due > time.monotonic():
                    await timer.sleep_until(due)
                now = time.monotonic()
            batch = 0
            while i < total and (intended := t_start + _quantize(i * interval)) <= now and batch < 256:
                kind, data = source(i)
                result.counts.scheduled += 1
                self._dispatch(intended, kind, data, result)
                i += 1
                batch += 1
            if batch == 256:
                await asyncio.sleep(0)  # far behind schedule: still let responses in
        if stop.is_set():
            end = min(time.monotonic(), t_end)
        else:
            end = t_end
            now = time.monotonic()
            if now < t_end:
                await asyncio.sleep(t_end - now)
        result.end = end + self.offset
        return end

    def _dispatch(self, intended: float, kind: str, data: bytes, phase: PhaseResult) -> None:
        while self._idle and not self._backlog:
            conn = self._idle.pop()
            if time.monotonic() - conn.idle_since > _MAX_IDLE:
                # The server may be closing it this very moment (uvicorn's keep-alive timeout is
                # 5 s); a request written into that race fails for no fault of the service's.
                assert conn.transport is not None
                conn.transport.close()
                continue
            conn.send(intended, kind, data, phase)
            return
        if len(self._backlog) >= self._backlog_cap:
            self._drop(phase, intended)
            return
        self._backlog.append((intended, kind, data, phase))
        if self._open < self.max_in_flight:
            self._open += 1
            asyncio.get_running_loop().create_task(self._connect())

    # ---- connections -----------------------------------------------------------------------

    async def _prewarm(self, n: int) -> None:
        self._open += n
        await asyncio.gather(*(self._connect() for _ in range(n)))

    async def _connect(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            _, conn = await asyncio.wait_for(
                loop.create_connection(lambda: _Conn(self), self.host, self.port), self.timeout
            )
        except (TimeoutError, OSError):
            self._open -= 1
            self.connect_errors += 1
            # A request that waited for this connection fails as a real client's would.
            if self._backlog:
                intended, kind, _, phase = self._backlog.popleft()
                self._finish(phase, intended, intended, kind, STATUS_TRANSPORT_ERROR, "")
            await asyncio.sleep(0.01)  # do not spin on a target that refuses connections
            return
        self._release(conn)

    def _release(self, conn: _Conn) -> None:
        """Give a free connection the oldest waiting request, or park it."""
        now = time.monotonic()
        while self._backlog:
            intended, kind, data, phase = self._backlog.popleft()
            if now - intended > self.timeout:
                self._drop(phase, intended)  # waited a whole timeout for a connection: never sent
                continue
            conn.send(intended, kind, data, phase)
            return
        conn.idle_since = now
        self._idle.append(conn)

    def _on_sent(self, conn: _Conn) -> None:
        self._busy.add(conn)
        phase = conn.phase
        assert phase is not None
        lag = conn.sent_at - conn.intended
        phase.counts.sent += 1
        self._tick.sent += 1
        if lag > self.late_threshold:
            phase.counts.late += 1
        phase.send_lag.add(lag)
        if lag > phase.max_send_lag:
            phase.max_send_lag = lag

    def _on_response(self, conn: _Conn, status: int, impl: str, close: bool) -> None:
        assert conn.phase is not None
        self._finish(conn.phase, conn.intended, conn.sent_at, conn.kind, status, impl)
        conn.intended = 0.0
        self._busy.discard(conn)
        if close:
            assert conn.transport is not None
            conn.transport.close()
        else:
            self._release(conn)

    def _on_lost(self, conn: _Conn) -> None:
        self._open -= 1
        if conn.intended and conn.phase is not None:
            self._finish(conn.phase, conn.intended, conn.sent_at, conn.kind, STATUS_TRANSPORT_ERROR, "")
            conn.intended = 0.0
        self._busy.discard(conn)
        with contextlib.suppress(ValueError):
            self._idle.remove(conn)
        # Waiting requests need a connection even if no new one would be scheduled.
        if self._backlog and self._open < self.max_in_flight and self._stop and not self._stop.is_set():
            self._open += 1
            asyncio.get_running_loop().create_task(self._connect())

    def _finish(self, phase: PhaseResult, intended: float, sent: float, kind: str, status: int,
                impl: str) -> None:
        now = time.monotonic()
        latency = now - intended
        phase.counts.add_result(status, impl, latency)
        self._tick.add_result(status, impl, latency)
        self._mark_second(intended, error=not 200 <= status < 400)
        if self.writer is not None and phase.phase.measured:
            self.writer.write(intended + self.offset, sent + self.offset, latency, impl, status, kind)

    def _drop(self, phase: PhaseResult, intended: float) -> None:
        phase.counts.dropped += 1
        self._tick.dropped += 1
        self._mark_second(intended, error=True)

    def _mark_second(self, intended: float, error: bool) -> None:
        key = int(intended - self._t0)
        second = self._second.get(key)
        if second is None:
            second = self._second[key] = [0, 0]
        second[0] += 1
        second[1] += error

    async def _sweep(self) -> None:
        """Abort requests older than the timeout (counted as transport errors)."""
        while True:
            await asyncio.sleep(min(0.25, self.timeout / 4))
            deadline = time.monotonic() - self.timeout
            for conn in [c for c in self._busy if c.intended and c.sent_at < deadline]:
                if conn.transport is not None:
                    conn.transport.abort()

    async def _drain(self, seconds: float) -> None:
        """Wait (bounded) for outstanding and waiting requests after the last phase."""
        deadline = time.monotonic() + seconds
        while (self._busy or self._backlog) and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        for intended, _, _, phase in self._backlog:
            self._drop(phase, intended)
        self._backlog.clear()

    def _close_all(self) -> None:
        for conn in list(self._busy) + self._idle:
            if conn.transport is not None:
                conn.transport.abort()
        self._idle.clear()

    # ---- progress --------------------------------------------------------------------------

    async def _ticker(self) -> None:
        assert self.progress is not None
        last = time.monotonic()
        while True:
            await asyncio.sleep(self.progress_interval)
            now = time.monotonic()
            tick, self._tick = self._tick, Counts()
            self.progress(self._snapshot(tick, now - last, now))
            last = now

    def _snapshot(self, tick: Counts, dt: float, now: float) -> Snapshot:
        # The phase the schedule is in, not the phase of a request in flight: against a fast target
        # most ticks find none in flight, and the line said "connecting" for the whole run.
        phase = self._phase_now
        p95 = tick.histogram.quantile(0.95)
        counts = phase.counts if phase else Counts()
        sending = self._state not in ("connecting", "draining")
        return Snapshot(
            elapsed=now - self._t0 if self._t0 else 0.0,
            phase=self._state,
            requested_rate=phase.phase.rate if phase and sending else 0.0,
            rate=tick.sent / dt if dt > 0 else 0.0,
            errors=counts.errors,
            error_ratio=counts.error_ratio(),
            p95=p95,
            in_flight=len(self._busy),
            backlog=len(self._backlog),
        )

    def _timeline(self) -> list[dict[str, float]]:
        return [
            {"second": s, "done": done, "errors": errors, "error_ratio": round(errors / done, 6)}
            for s, (done, errors) in sorted(self._second.items())
        ]


# A parked connection idle for longer is closed rather than reused: well under the keep-alive
# timeouts of common servers (uvicorn 5 s, nginx 75 s).
_MAX_IDLE = 2.0

# Intended send times sit on a 1 ms grid: the rate stays exact, requests due in the same
# millisecond leave together, and the loop wakes at most a thousand times a second.
_TICK = 0.001


class _PreciseTimer:
    """Wakes the event loop at a monotonic instant, to ~0.1 ms, from a helper thread.

    Event-loop timers have millisecond resolution (epoll's timeout, libuv's clock): a request
    would leave 0.5 ms late on average, and that lag would sit in every latency measured from the
    intended send time. A thread's time.sleep is precise to tens of microseconds, and while the
    loop waits in epoll the GIL is free, so the hand-over costs ~20 µs per wake-up.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._queue: queue.SimpleQueue[tuple[float, asyncio.Future[None]] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="sloguard-openloop-timer", daemon=True)
        self._thread.start()

    async def sleep_until(self, when: float) -> None:
        future: asyncio.Future[None] = self._loop.create_future()
        self._queue.put((when, future))
        await future

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=1.0)

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            when, future = item
            delay = when - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            try:
                self._loop.call_soon_threadsafe(_wake, future)
            except RuntimeError:  # the loop closed meanwhile
                return


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _quantize(offset: float) -> float:
    return math.ceil(offset / _TICK - 1e-9) * _TICK


def _install_sigint(loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> bool:
    """Ctrl-C stops the schedule so partial results and the window so far are still written."""
    try:
        loop.add_signal_handler(signal.SIGINT, stop.set)
    except (NotImplementedError, RuntimeError, ValueError):  # not the main thread, or no signals
        return False
    return True


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop when installed (~1.5x the requests per CPU-second here), else asyncio's own loop."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def run_open_loop(generator: OpenLoopGenerator, phases: Sequence[Phase],
                  drain: float | None = None) -> OpenLoopResult:
    """Run the generator to completion on a fresh event loop."""
    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        return runner.run(generator.run(phases, drain=drain))


# Time for every generator to open its first connections before the shared schedule starts.
_INTERLEAVE_LEAD = 0.25


def run_interleaved(generators: Sequence[OpenLoopGenerator], phases: Sequence[Phase],
                    drain: float | None = None) -> list[OpenLoopResult]:
    """Run generators for different targets on one loop, their schedules interleaved.

    Each generator sends the phases' rate to its own target. Generator k's intended send
    times are shifted by k/len(generators) of the first phase's interval, so the targets
    take turns instead of receiving requests in the same instant (where the one written
    first would always be a few microseconds ahead). One stop event: Ctrl-C ends all of
    them with their partial results.
    """

    async def together() -> list[OpenLoopResult]:
        stop = asyncio.Event()
        rate = next((p.rate for p in phases if p.rate > 0), 0.0)
        interval = 1.0 / rate if rate else 0.0
        start = time.monotonic() + _INTERLEAVE_LEAD
        runs = [g.run(phases, stop=stop, drain=drain, start_at=start + k * interval / len(generators))
                for k, g in enumerate(generators)]  # fmt: skip
        return list(await asyncio.gather(*runs))

    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        return runner.run(together())
