"""Benchmark: `sloguard compare` on two long `load ab` run directories, the code before issue 11 vs now.

Run:  .venv/bin/python -m tests.benchmarks.bench_compare_read   [--rate 2000] [--seconds 900] [--repeat 1]
                                                                [--before /tmp/sloguard-before]

Two run directories like those of a 15-minute `sloguard load ab` at 2,000 req/s (1.8 M rows a
side) are written to a temporary directory with the real writer (sloguard.runs.LatencyWriter,
seeded, so every run of the benchmark compares the same files). Then
`sloguard compare --control A --experiment B --json OUT` runs as a child process, once with
PYTHONPATH at the code before issue 11 (`--before`, a checkout of it) and once with this
checkout, side by side; the table gives each one's wall time and peak RSS (the child's own
ru_maxrss), and whether their JSON outputs are identical to the byte.

Target (issue 11): this checkout <= 3 s and <= 250 MB (before: 10.5 s and 486 MB, reading each
CSV twice with csv.DictReader).
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `tests` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import numpy as np

from sloguard import runs

ROOT = Path(__file__).resolve().parents[2]
TARGET_SECONDS = 3.0
TARGET_MB = 250.0
SEED = 20261201
START = 1_800_000_000.0


def write_pair(directory: Path, rate: float, seconds: float) -> tuple[Path, Path]:
    """The two sides of one interleaved recording, as `sloguard load ab` lays them out."""
    rng = np.random.default_rng(SEED)
    n = int(rate * seconds)
    pair = f"bench{SEED}"
    sides = []
    for k, role in enumerate(runs.AB_ROLES):
        side = directory / role
        side.mkdir(parents=True)
        url = f"http://127.0.0.1:{8100 + k}"
        intended = START + np.arange(n) / rate + k / (2 * rate)
        sent = intended + rng.exponential(0.0002, n)
        # Right-skewed latencies around 2 ms, the experiment 2 % slower.
        latency = rng.lognormal(math.log(0.002), 0.5, n) * (1.0 + 0.02 * k)
        rust = rng.random(n) < 0.5
        writer = runs.LatencyWriter(side / runs.LATENCIES_CSV, extra_columns=(runs.TARGET_COLUMN,))
        tagged = runs.TaggedWriter(writer, url)
        for i in range(n):
            tagged.write(float(intended[i]), float(sent[i]), float(latency[i]), "rust" if rust[i] else "python",
                         200, "read")
        writer.close()
        peer = runs.AB_ROLES[1 - k]
        runs.write_run(side, runs.RunDocument(
            window=runs.window_around(START, START + seconds), steady_seconds=seconds,
            profile={"name": "bench", "rate": rate}, target=url, mode="open-loop interleaved",
            rate={"requested": rate, "achieved": rate}, files={"latencies": runs.LATENCIES_CSV},
            interleaved=runs.Interleaved(pair, role, f"../{peer}", (url,), (f"http://127.0.0.1:{8101 - k}",)),
        ))  # fmt: skip
        sides.append(side)
    return sides[0], sides[1]


@dataclass
class Timing:
    label: str
    seconds: float
    peak_mb: float
    exit_code: int
    output: bytes


def time_compare(label: str, pythonpath: str, control: Path, experiment: Path, out: Path) -> Timing:
    """One `sloguard compare` child: wall time and its own peak RSS (os.wait4 reports the child's rusage)."""
    env = {**os.environ, "PYTHONPATH": pythonpath, "COLUMNS": "200", "NO_COLOR": "1"}
    argv = [sys.executable, "-m", "sloguard", "compare", "--control", str(control), "--experiment", str(experiment),
            "--json", str(out)]
    began = time.perf_counter()
    # Run from the output's directory: `python -m` puts the working directory before PYTHONPATH.
    child = subprocess.Popen(argv, env=env, cwd=out.parent, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - began
    assert child.stderr is not None
    if child.stderr.read():
        child.stderr.close()
        raise SystemExit(f"{label}: sloguard compare wrote to stderr (exit {os.waitstatus_to_exitcode(status)})")
    child.stderr.close()
    return Timing(label, seconds, usage.ru_maxrss / 1024, os.waitstatus_to_exitcode(status), out.read_bytes())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=2000.0, help="requests per second a side")
    parser.add_argument("--seconds", type=float, default=900.0, help="length of the recording")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each side (the fastest is shown)")
    parser.add_argument("--before", default="/tmp/sloguard-before", help="a checkout of the code before issue 11")
    args = parser.parse_args(argv)
    if args.rate * args.seconds > 5e6:
        parser.error("at most 5 M rows a side")
    before = Path(args.before)
    if not (before / "sloguard" / "compare.py").exists():
        print(f"no checkout of the earlier code at {before}: timing this checkout only", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="sloguard-bench-compare-") as tmp:
        began = time.perf_counter()
        control, experiment = write_pair(Path(tmp), args.rate, args.seconds)
        rows = int(args.rate * args.seconds)
        print(f"\nwrote 2 x {rows:,} rows in {time.perf_counter() - began:.1f} s "
              f"({(control / runs.LATENCIES_CSV).stat().st_size / 2**20:,.0f} MiB a side)\n")
        sides = [("before issue 11", str(before))] if (before / "sloguard").is_dir() else []
        sides.append(("this checkout", str(ROOT)))
        timings = []
        for label, path in sides:
            runs_of_side = [time_compare(label, path, control, experiment, Path(tmp) / f"{len(timings)}-{k}.json")
                            for k in range(args.repeat)]  # fmt: skip
            timings.append(min(runs_of_side, key=lambda t: t.seconds))
    print(f"| {'sloguard compare --control A --experiment B':<44} | {'wall':>8} | {'peak RSS':>9} | {'exit':>4} |")
    print(f"|{'-' * 46}|{'-' * 10}|{'-' * 11}|{'-' * 6}|")
    for t in timings:
        print(f"| {t.label:<44} | {t.seconds:>6.2f} s | {t.peak_mb:>6.0f} MB | {t.exit_code:>4} |")
    new = timings[-1]
    met = new.seconds <= TARGET_SECONDS and new.peak_mb <= TARGET_MB
    print(f"\ntarget for this checkout: <= {TARGET_SECONDS:g} s and <= {TARGET_MB:g} MB: {'met' if met else 'NOT met'}")
    if len(timings) == 2:
        same = timings[0].output == timings[1].output
        print(f"Comparison JSON before and now: {'identical' if same else 'DIFFERENT'}")
        if not same:
            return 1
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
