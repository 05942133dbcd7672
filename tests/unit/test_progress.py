"""The live progress line: the phase the run is really in, and the rate it means (sent/s of requested/s)."""

from __future__ import annotations

from collections.abc import Callable

from sloguard.load.openloop import OpenLoopGenerator, Phase, Snapshot, run_open_loop
from sloguard.load.progress import Progress
from tests.support.fakehttp import FakeHTTPServer, RecordedRequest, Responder, json_answer


def ok(_: RecordedRequest) -> tuple[int, dict[str, str], str]:
    return json_answer({"allow": True})


def source(_: int) -> tuple[str, bytes]:
    return "check", b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n"


def test_snapshots_name_the_phase_being_sent_not_connecting(fake_http: Callable[[Responder], FakeHTTPServer]) -> None:
    """A fast target leaves no request in flight at most ticks: the snapshot must still know the phase."""
    server = fake_http(ok)
    snaps: list[Snapshot] = []
    generator = OpenLoopGenerator(server.url, source, progress=snaps.append, progress_interval=0.1)
    result = run_open_loop(generator, [Phase("warmup", 20, 0.6, measured=False), Phase("steady", 40, 1.2)])
    assert result.measured()[0].counts.sent == 48
    phases = [s.phase for s in snaps]
    assert "steady" in phases and "warmup" in phases, phases
    # Between its first and last tick of sending no snapshot claims to be connecting.
    sending = [s for s in snaps if s.phase in ("warmup", "steady")]
    first, last = snaps.index(sending[0]), snaps.index(sending[-1])
    assert all(s.phase in ("warmup", "steady") for s in snaps[first:last + 1]), phases
    assert {s.requested_rate for s in sending} == {20, 40}
    assert all(s.requested_rate == 40 for s in snaps if s.phase == "steady")


def test_the_line_says_sent_per_second_of_requested_per_second() -> None:
    progress = Progress("load quick", 60, enabled=False)
    snap = Snapshot(elapsed=12, phase="steady", requested_rate=100, rate=98.4, errors=2, error_ratio=0.002,
                    p95=0.00123, in_flight=3, backlog=0)
    line = progress.render(snap)
    assert "[steady]" in line and "sent 98/s of 100/s requested" in line, line
    assert "errors 2 (0.20%)" in line and "p95 1.23 ms" in line
    idle = Snapshot(elapsed=0.5, phase="connecting", requested_rate=0, rate=0, errors=0, error_ratio=0,
                    p95=float("nan"), in_flight=0, backlog=0)
    assert "[connecting] sent 0/s " in progress.render(idle) and "requested" not in progress.render(idle)
