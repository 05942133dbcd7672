"""Client-side latencies by X-Sark-Implementation: the growing-CSV reader, the buckets, and the controller's monitor."""

from __future__ import annotations

import math
from pathlib import Path
from statistics import NormalDist

import pytest

from sloguard.conventions import ExitCode
from sloguard.errors import UsageError
from sloguard.rollout import controller
from sloguard.rollout.client_latencies import ClientLatencies, latencies_file
from sloguard.rollout.controller import Clock, Controller
from sloguard.rollout.plan import load_plan
from sloguard.rollout.state import DECISIONS_FILE, read_decisions
from sloguard.runs import LATENCIES_CSV, LATENCY_COLUMNS, LatencyTail, LatencyWriter
from sloguard.spec.loader import load_spec
from tests.support.rollout_world import T0, World, write_plan

HEADER = ",".join(LATENCY_COLUMNS) + "\n"


def row(intended: float, latency: float, implementation: str = "rust", status: int = 200) -> str:
    return f"{intended:.6f},{intended:.6f},{latency:.6f},{implementation},{status},authorize\n"


# ---- LatencyTail -----------------------------------------------------------------------------------


def test_the_tail_reads_only_new_complete_rows_and_leaves_a_torn_line_for_the_next_read(tmp_path: Path) -> None:
    path = tmp_path / LATENCIES_CSV
    tail = LatencyTail(path)
    assert tail.read() == []  # the generator has not started: no file yet is no rows
    path.write_text(HEADER + row(T0, 0.001) + row(T0 + 1, 0.002, "python")[:20])
    first = tail.read()
    assert [(r.intended, r.implementation, r.latency) for r in first] == [(T0, "rust", 0.001)]
    with path.open("a") as fh:  # the torn row completed, and one more
        fh.write(row(T0 + 1, 0.002, "python")[20:] + row(T0 + 2, 0.003))
    second = tail.read()
    assert [(r.implementation, r.latency) for r in second] == [("python", 0.002), ("rust", 0.003)]
    assert tail.read() == []


def test_the_tail_reads_a_replaced_shorter_file_from_its_start(tmp_path: Path) -> None:
    path = tmp_path / LATENCIES_CSV
    path.write_text(HEADER + row(T0, 0.001) + row(T0 + 1, 0.001))
    tail = LatencyTail(path)
    assert len(tail.read()) == 2
    path.write_text(HEADER + row(T0 + 5, 0.004))
    assert [r.latency for r in tail.read()] == [0.004]


def test_the_tail_reads_what_a_latency_writer_flushes_while_it_is_still_open(tmp_path: Path) -> None:
    path = tmp_path / LATENCIES_CSV
    writer = LatencyWriter(path, block=2)
    tail = LatencyTail(path)
    writer.write(T0, T0, 0.001, "rust", 200, "authorize")
    writer.write(T0 + 0.5, T0 + 0.5, 0.002, "python", 403, "authorize")  # a block: flushed
    assert [(r.implementation, r.status) for r in tail.read()] == [("rust", 200), ("python", 403)]
    writer.close()


def test_a_file_that_is_not_a_latencies_csv_is_one_line_with_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(UsageError, match=r"x\.csv:1: not a latencies CSV: no column intended_send_time"):
        LatencyTail(path).read()
    path.write_text(HEADER + row(T0, 0.001) + "1,2,three,rust,200,k\n")
    with pytest.raises(UsageError, match=r"x\.csv:3: not a latencies row"):
        LatencyTail(path).read()


# ---- ClientLatencies -------------------------------------------------------------------------------


def counts_of(buckets: list[tuple[float, float]]) -> dict[float, float]:
    return dict(buckets)


def test_rows_are_bucketed_by_le_and_failures_and_unknown_paths_do_not_count(tmp_path: Path) -> None:
    path = tmp_path / LATENCIES_CSV
    path.write_text(HEADER + row(T0, 0.0005) + row(T0, 0.0006) + row(T0, 0.0006, status=0)
                    + row(T0, 0.0006, status=503) + row(T0, 0.0006, "") + row(T0, 0.0006, status=403)
                    + row(T0, 0.0002, "python"))  # fmt: skip
    buckets = ClientLatencies(path).buckets_since(T0)
    rust = counts_of(buckets["rust"])
    # 0.0005 is on a bound: `le` counts it there; 0.0006 (twice: a 200 and a 403 deny) in the next bucket.
    assert rust[0.00025] == 0 and rust[0.0005] == 1 and rust[0.00075] == 3 and rust[math.inf] == 3
    assert counts_of(buckets["python"])[0.00025] == 1
    assert set(buckets) == {"rust", "python"}


def test_rows_before_the_window_are_dropped_and_stay_dropped(tmp_path: Path) -> None:
    path = tmp_path / LATENCIES_CSV
    path.write_text(HEADER + "".join(row(T0 + s, 0.001) for s in range(10)))
    client = ClientLatencies(path)
    assert counts_of(client.buckets_since(T0)["rust"])[math.inf] == 10
    assert counts_of(client.buckets_since(T0 + 6.5)["rust"])[math.inf] == 4  # seconds 6..9, to the second
    with path.open("a") as fh:  # a late row of an old second: outside the window, not counted
        fh.write(row(T0 + 1, 0.001) + row(T0 + 12, 0.001))
    assert counts_of(client.buckets_since(T0 + 6.5)["rust"])[math.inf] == 5


def test_a_run_directory_names_its_latencies_csv(tmp_path: Path) -> None:
    assert latencies_file(tmp_path) == tmp_path / LATENCIES_CSV
    assert latencies_file(tmp_path / "x.csv") == tmp_path / "x.csv"


# ---- the controller with a generator beside it -----------------------------------------------------


class Generator:
    """Appends a look's worth of client rows at each sleep: the World's split, lognormal at evenly spaced ranks."""

    def __init__(self, path: Path, rust_median: float, python_median: float, sigma: float = 0.35) -> None:
        self.writer = LatencyWriter(path)
        self.medians = {"rust": rust_median, "python": python_median}
        self.sigma = sigma
        self.last = T0

    def __call__(self, world: World) -> None:
        share = world.share()
        requests = round(world.rate * (world.now_value - self.last))
        for i in range(requests):
            impl = "rust" if (i * share) % 1 + share >= 1 else "python"  # share of rows, evenly spread
            rank = ((i * 0.6180339887) % 1) * 0.998 + 0.001
            latency = math.exp(NormalDist(math.log(self.medians[impl]), self.sigma).inv_cdf(rank))
            intended = self.last + i / world.rate
            self.writer.write(intended, intended, latency, impl, 200, "authorize")
        self.writer.flush()
        self.last = world.now_value


def drive_with_generator(tmp_path: Path, rust_median: float) -> tuple[ExitCode, list]:
    world = World()  # the server's histograms say both paths are alike
    generator = Generator(tmp_path / LATENCIES_CSV, rust_median=rust_median, python_median=0.0004)
    world.on_sleep.append(generator)
    plan_file = write_plan(tmp_path / "plan")
    plan = load_plan(plan_file)
    store = controller.start(plan, plan_file, tmp_path / "state", now=world.now())
    with store:
        code = Controller(plan, store, world, world.query, load_spec(plan.spec_path),
                          clock=Clock(world.now, world.sleep), client=ClientLatencies(tmp_path / LATENCIES_CSV)).run()
    generator.writer.close()
    return code, read_decisions(tmp_path / "state")[0]


def test_a_rust_slowdown_only_the_client_sees_is_rolled_back_by_the_client_monitor(tmp_path: Path) -> None:
    code, log = drive_with_generator(tmp_path, rust_median=0.0006)
    assert code is ExitCode.FAILED
    rollback = next(d for d in log if d.kind == "rollback")
    assert "client latency: Rust worse than the margin allows" in rollback.reason
    assert "latency: Rust" not in rollback.reason.replace("client latency", "")  # the server's monitor saw nothing
    client = rollback.evidence["clientLatency"]
    assert client["decision"] == "harm" and client["details"]["ratio"] > 1.3
    # Two latency tests of one question: each at half the plan's alpha.
    assert client["details"]["alpha"] == rollback.evidence["latency"]["details"]["alpha"] == 0.005


def test_equal_client_latencies_complete_and_every_look_records_the_client_evidence(tmp_path: Path) -> None:
    code, log = drive_with_generator(tmp_path, rust_median=0.0004)
    assert code is ExitCode.PASS
    looks = [d for d in log if d.kind == "look"]
    assert looks and all(d.evidence["clientLatency"]["decision"] != "harm" for d in looks)
    assert looks[-1].evidence["clientLatency"]["details"]["rust_total"] > 0
    assert (tmp_path / "state" / DECISIONS_FILE).exists()


def test_a_run_directory_created_after_the_controller_started_is_read(tmp_path: Path) -> None:
    run = tmp_path / "run"  # the generator has not made it yet
    client = ClientLatencies(run)
    assert client.buckets_since(T0) == {}
    run.mkdir()
    (run / LATENCIES_CSV).write_text(HEADER + row(T0, 0.001))
    assert counts_of(client.buckets_since(T0)["rust"])[math.inf] == 1
