"""The replay source of the rollout calibration (tests/support/rollout_simulation.py) on a small synthetic recording.

The recording is a latencies.csv written by sloguard.runs' LatencyWriter, both paths drawn from one
distribution, so a clean replay is a null and the faults are only the transforms under test.
Fixed seeds: deterministic, no stack, a couple of seconds.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sloguard.conventions import (
    IMPL_PYTHON,
    IMPL_RUST,
    LATENCY_BUCKETS,
    ROLLOUT_DEFAULT_ALPHA,
    ROLLOUT_DEFAULT_ERROR_MARGIN,
    ROLLOUT_DEFAULT_LATENCY_MARGIN,
    ROLLOUT_DEFAULT_LATENCY_QUANTILE,
)
from sloguard.rollout.sequential import cumulative, histogram_quantile_estimate
from sloguard.runs import LATENCIES_CSV, STATUS_TRANSPORT_ERROR, LatencyWriter
from tests.support.rollout_simulation import (
    BUCKETS,
    PYTHON,
    RUST,
    STEP_25,
    RecordedPath,
    ReplaySource,
    Scenario,
    histogram_quantile,
    read_recording,
    share_rolled_back,
    simulate,
)

TRIALS = 200
RATE = 100.0  # rows per second, both paths together
SECONDS = 60.0
PLAN = Scenario("replay", error_margin=ROLLOUT_DEFAULT_ERROR_MARGIN, latency_quantile=ROLLOUT_DEFAULT_LATENCY_QUANTILE,
                latency_margin=ROLLOUT_DEFAULT_LATENCY_MARGIN, alpha=ROLLOUT_DEFAULT_ALPHA, window="plan")


def write_recording(path: Path, latencies: dict[str, np.ndarray], statuses: dict[str, np.ndarray]) -> Path:
    """A latencies.csv whose rows alternate Rust and Python, RATE a second in all."""
    writer = LatencyWriter(path / LATENCIES_CSV)
    try:
        rows = len(latencies[IMPL_RUST])
        for i in range(rows):
            for j, impl in enumerate((IMPL_RUST, IMPL_PYTHON)):
                sent = 1_700_000_000.0 + (2 * i + j) / RATE
                writer.write(sent, sent, float(latencies[impl][i]), impl, int(statuses[impl][i]), "opa")
    finally:
        writer.close()
    return path / LATENCIES_CSV


@pytest.fixture(scope="module")
def identical(tmp_path_factory: pytest.TempPathFactory) -> dict[str, RecordedPath]:
    """Both paths lognormal (median 0.4 ms, σ 0.35, the simulation's) with 0.5 % 5xx; SECONDS of traffic."""
    rng = np.random.default_rng(7)
    rows = int(RATE * SECONDS / 2)
    latencies = {impl: rng.lognormal(np.log(0.0004), 0.35, rows) for impl in (IMPL_RUST, IMPL_PYTHON)}
    statuses = {impl: np.where(rng.random(rows) < 0.005, 503, 200) for impl in (IMPL_RUST, IMPL_PYTHON)}
    return read_recording(write_recording(tmp_path_factory.mktemp("identical"), latencies, statuses))


def test_errors_are_5xx_and_transport_errors_but_not_4xx(tmp_path: Path) -> None:
    latencies = {impl: np.full(6, 0.001) for impl in (IMPL_RUST, IMPL_PYTHON)}
    statuses = {IMPL_RUST: np.array([200, 500, 503, STATUS_TRANSPORT_ERROR, 404, 200]),
                IMPL_PYTHON: np.array([200, 200, 429, 200, 502, 200])}
    paths = read_recording(write_recording(tmp_path, latencies, statuses))
    assert paths[IMPL_RUST].error.tolist() == [False, True, True, True, False, False]
    assert paths[IMPL_PYTHON].error_ratio == pytest.approx(1 / 6)
    assert paths[IMPL_RUST].requests == 6
    assert paths[IMPL_RUST].seconds == pytest.approx(10 / RATE)


def test_a_recording_without_one_of_the_paths_is_an_error(tmp_path: Path) -> None:
    writer = LatencyWriter(tmp_path / LATENCIES_CSV)
    for i in range(5):
        writer.write(float(i), float(i), 0.001, IMPL_PYTHON, 200, "opa")
    writer.close()
    with pytest.raises(ValueError, match="implementation rust"):
        read_recording(tmp_path / LATENCIES_CSV)


def test_a_clean_replay_of_identical_paths_is_rarely_rolled_back(identical: dict[str, RecordedPath]) -> None:
    outcomes = simulate(PLAN, TRIALS, 15, ReplaySource.at(identical))
    assert share_rolled_back(outcomes) <= 0.01
    assert all(o.rolled_back_at is None for o in outcomes[:20])  # and the plans do reach 100 %


def test_one_point_more_rust_errors_is_rolled_back_before_25_percent(identical: dict[str, RecordedPath]) -> None:
    source = ReplaySource.at(identical, rust_error_over_python=0.01)
    assert source.rust_error_ratio == pytest.approx(identical[IMPL_PYTHON].error_ratio + 0.01)
    outcomes = simulate(PLAN, TRIALS, 19, source)
    assert share_rolled_back(outcomes, STEP_25) >= 0.90
    assert {o.monitor for o in outcomes if o.rolled_back_at is not None} == {"error ratio"}


def test_flipped_errors_reach_the_target_ratio_both_ways(identical: dict[str, RecordedPath]) -> None:
    rng = np.random.default_rng(3)
    for target in (0.02, 0.001):
        source = ReplaySource(identical[IMPL_RUST], identical[IMPL_PYTHON], rust_error_ratio=target)
        draws = [source.draw(RUST, 2000, rng) for _ in range(300)]
        ratio = sum(errors for _, errors, _ in draws) / sum(n for n, _, _ in draws)
        assert ratio == pytest.approx(target, rel=0.05)


def test_rust_latencies_scale_to_the_target_p95(identical: dict[str, RecordedPath]) -> None:
    rust, python = identical[IMPL_RUST], identical[IMPL_PYTHON]
    raw = ReplaySource.at(identical, rust_p95_over_python=1.10)
    assert np.quantile(rust.latency * raw.rust_latency_scale, 0.95) == pytest.approx(1.10 * python.quantile(0.95))
    read = ReplaySource.at(identical, rust_p95_over_python=1.10, read="buckets")
    expected = 1.10 * histogram_quantile(0.95, python.latency)
    # Met to within a step: a row crossing a bucket bound moves the read quantile (here by < 1 %).
    assert histogram_quantile(0.95, rust.latency * read.rust_latency_scale) == pytest.approx(expected, rel=0.01)
    # What the replay feeds the monitor reads the same p95 as the scaled recording it resamples.
    rng = np.random.default_rng(5)
    counts = sum((read.draw(RUST, 1000, rng)[2] for _ in range(400)), np.zeros(BUCKETS))
    replayed = histogram_quantile_from_counts(counts)
    assert replayed == pytest.approx(expected, rel=0.02)
    assert replayed > 1.05 * histogram_quantile(0.95, python.latency)
    python_counts = sum((read.draw(PYTHON, 1000, rng)[2] for _ in range(400)), np.zeros(BUCKETS))
    assert histogram_quantile_from_counts(python_counts) == pytest.approx(expected / 1.10, rel=0.02)


def test_blocks_keep_consecutive_rows_together(tmp_path: Path) -> None:
    # Rust slow for the first half of the recording, fast for the second: a draw of one block's rows
    # is nearly always all slow or all fast; single rows (an i.i.d. bootstrap) would mix them.
    rows = int(RATE * SECONDS / 2)
    slow = np.where(np.arange(rows) < rows // 2, 0.004, 0.0002)
    paths = read_recording(write_recording(tmp_path, {IMPL_RUST: slow, IMPL_PYTHON: np.full(rows, 0.001)},
                                           {impl: np.full(rows, 200) for impl in (IMPL_RUST, IMPL_PYTHON)}))
    rng = np.random.default_rng(11)
    blocked = ReplaySource(paths[IMPL_RUST], paths[IMPL_PYTHON], block_seconds=1.0)
    single = ReplaySource(paths[IMPL_RUST], paths[IMPL_PYTHON], block_seconds=0.0)
    assert blocked.block_rows == (50, 50) and single.block_rows == (1, 1)
    assert pure_share(blocked, rng) >= 0.9
    assert pure_share(single, rng) <= 0.1


def pure_share(source: ReplaySource, rng: np.random.Generator) -> float:
    """The share of 40-request Rust draws that fall in one latency bucket only."""
    pure = 0
    trials = 0
    while trials < 300:
        n, _, counts = source.draw(RUST, 40, rng)
        if n != 40:  # the count is Poisson: keep draws of exactly 40, well inside a block of 50
            continue
        trials += 1
        pure += int((counts > 0).sum() == 1)
    return pure / trials


def histogram_quantile_from_counts(counts: np.ndarray) -> float:
    estimate = histogram_quantile_estimate(0.95, cumulative(LATENCY_BUCKETS, counts.tolist()))
    assert estimate is not None
    return estimate.value
