"""Calibrate `sloguard compare` on real latencies recorded on this machine.

    .venv/bin/python tests/benchmarks/calibrate_compare.py --record 3          # record, then calibrate
    .venv/bin/python tests/benchmarks/calibrate_compare.py --pairs DIR/ab-1 DIR/ab-2 DIR/ab-3

--record N makes N A/A recordings, each on fresh processes (redis-server, the policy
server and two processes of the reference service on loopback, stopped by pid):
`sloguard load ab` drives the `baseline` profile (100 req/s to each service, 50 % Rust)
at both services at once for --duration (default 10 min), so each recording holds two
runs of the same build side by side. Any difference compare finds between them is a
false alarm. Then, per implementation, with the default CompareSettings and trials of
the default run length (--length, the baseline profile's 5 min):

- interleaved A/A: a trial takes the same random 30 of a recording's 10 s blocks from
  both sides (sides swapped in every other trial) and compares them as `sloguard compare`
  does two `load ab` run dirs (paired 10 s blocks). A failed gate is a false alarm.
- sequential A/A: two runs of the same build recorded at different times: random blocks of
  one recording's control against random blocks of another recording's control, with
  compare's default (i.i.d. bootstrap) and with --block 10s (unpaired blocks).
- power: the same trials with every experiment latency multiplied by 1.10 (a 10 % latency
  regression); a failed gate is a detection.
- whole windows: each recording cut into consecutive windows of the default length, each
  compared once (real A/A comparisons with nothing resampled; few, but nothing synthetic).
Targets from the issue: false alarms <= 1 %, power >= 90 %.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from sloguard.compare import CompareSettings, MetricComparison, Verdict, compare_samples  # noqa: E402
from sloguard.conventions import INTERLEAVED_BLOCK_SECONDS  # noqa: E402
from sloguard.runs import AB_ROLES, LATENCIES_CSV, TARGET_COLUMN, read_samples  # noqa: E402

SLOGUARD = str(Path(sys.executable).parent / "sloguard")
REGRESSION = 1.10
BLOCK = INTERLEAVED_BLOCK_SECONDS


def record(directory: Path, profile: str, duration: str | None, count: int, replicas: int) -> list[Path]:
    """`count` interleaved A/A recordings, each on fresh processes: one build served 2 x `replicas` times.

    Fresh processes per recording, so the spread between processes of one build is sampled
    again each time instead of being fixed by one set of processes.
    """
    from sloguard.load.procs import Target

    pairs = []
    for k in range(count):
        out = directory / f"ab-{k + 1}"
        with Target.start(directory / f"target-{k + 1}") as target:
            urls = [target.url] + [target.add_service(f"service-{i}").url for i in range(2, 2 * replicas + 1)]
            sides = [arg for i, url in enumerate(urls) for arg in ("--control" if i % 2 == 0 else "--experiment", url)]
            extra = ["--duration", duration] if duration else []
            subprocess.run([SLOGUARD, "load", "ab", profile, *sides, "--no-progress", "--admin-token",
                            target.admin_token, "--output-dir", str(out), *extra], check=True)
        pairs.append(out)
    return pairs


@dataclass
class Process:
    """What one service process answered in a recording, one implementation, blocks on the recording's clock."""

    role: str
    x: np.ndarray
    t: np.ndarray
    block: np.ndarray


@dataclass
class Recording:
    name: str
    processes: list[Process]
    blocks: np.ndarray  # the 10 s blocks every process has requests in

    @property
    def replicas(self) -> int:
        return len(self.processes) // 2

    def take(self, members: list[Process], blocks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        keep = [np.isin(p.block, blocks) for p in members]
        return (np.concatenate([p.x[k] for p, k in zip(members, keep, strict=True)]),
                np.concatenate([p.t[k] for p, k in zip(members, keep, strict=True)]))


def load_recording(pair: Path, impl: str) -> Recording:
    """Every process of one `load ab` recording (the `target` column), one implementation."""
    raw: list[tuple[str, np.ndarray, np.ndarray]] = []
    for role in AB_ROLES:
        csv_path = pair / role / LATENCIES_CSV
        # Recordings from before the target column had one process a side: group them by nothing.
        by = TARGET_COLUMN if TARGET_COLUMN in csv_path.open().readline().strip().split(",") else None
        groups = read_samples(csv_path, filters={"implementation": impl}, by=by, with_times=True)
        raw += [(role, groups[url].values, groups[url].times) for url in sorted(groups)]
    origin = min(float(t.min()) for _, _, t in raw)
    processes = [Process(role, x, t, np.floor((t - origin) / BLOCK).astype(int)) for role, x, t in raw]
    blocks = processes[0].block
    common = np.unique(blocks)
    for proc in processes[1:]:
        common = np.intersect1d(common, np.unique(proc.block))
    return Recording(pair.name, processes, common)


Draw = tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None, tuple[int, int]]
Trial = Callable[[int, float], Draw]


def rates(trials: int, draw: Trial, settings: CompareSettings, scale: float) -> tuple[float, float, int, float]:
    """(gate failure rate, significant-verdict rate, median n per side, seconds per compare)."""
    gate = sig = 0
    sizes = []
    seconds = 0.0
    for i in range(trials):
        c, e, tc, te, processes = draw(i, scale)
        t0 = time.perf_counter()
        m = compare_samples("latency", c, e, settings, control_times=tc, experiment_times=te, processes=processes)
        seconds += time.perf_counter() - t0
        gate += m.gate_fails
        sig += significant(m)
        sizes.append(min(len(c), len(e)))
    return gate / trials, sig / trials, int(np.median(sizes)), seconds / trials


def significant(m: MetricComparison) -> bool:
    return any(r.verdict in (Verdict.SLOWER, Verdict.FASTER) for r in m.rows)


class Trials:
    """Trials of the default run length drawn from the recordings of one implementation."""

    def __init__(self, recordings: list[Recording], k_blocks: int, rng: np.random.Generator) -> None:
        self.recordings = recordings
        self.k_blocks = k_blocks
        self.rng = rng

    def _pick(self, rec: Recording) -> np.ndarray:
        return self.rng.choice(rec.blocks, size=min(self.k_blocks, len(rec.blocks)), replace=False)

    def interleaved(self, _: int, scale: float) -> Draw:
        """One recording's processes split at random into two sides of equal size, the same random blocks.

        All processes of a recording run the same build, so every split is an A/A comparison, and
        the splits vary which processes meet (what one fixed pair of sides could not show).
        """
        rec = self.recordings[int(self.rng.integers(len(self.recordings)))]
        order = self.rng.permutation(len(rec.processes))
        half = rec.replicas
        control = [rec.processes[i] for i in order[:half]]
        experiment = [rec.processes[i] for i in order[half:]]
        chosen = self._pick(rec)
        (c, tc), (e, te) = rec.take(control, chosen), rec.take(experiment, chosen)
        return c, e * scale, tc, te, (half, half)

    def sequential(self, _: int, scale: float, timed: bool) -> Draw:
        """The control processes of two different recordings, random blocks of each: runs made at different times."""
        i, j = (int(v) for v in self.rng.choice(len(self.recordings), size=2, replace=False))
        one, two = self.recordings[i], self.recordings[j]
        c, tc = one.take([p for p in one.processes if p.role == "control"], self._pick(one))
        e, te = two.take([p for p in two.processes if p.role == "control"], self._pick(two))
        return c, e * scale, (tc if timed else None), (te if timed else None), (one.replicas, two.replicas)


def process_spread(recordings: list[Recording]) -> dict[str, float]:
    """Pooled standard deviation of each process's log median and log p95 around its recording's mean.

    The processes of a recording ran at the same moments, so machine drift is common to them;
    what is left is the difference between processes plus the sampling noise of each quantile.
    """
    out = {}
    for name, q in (("median", 0.5), ("p95", 0.95)):
        squares = 0.0
        dof = 0
        for rec in recordings:
            logs = np.log([np.quantile(p.x, q) for p in rec.processes])
            squares += float(((logs - logs.mean()) ** 2).sum())
            dof += len(logs) - 1
        out[name] = float(np.sqrt(squares / dof)) if dof else float("nan")
    return out


def calibrate(pairs: list[Path], trials: int, seed: int, length: float, noise: float | None) -> list[dict]:
    rng = np.random.default_rng(seed)
    k_blocks = round(length / BLOCK)
    base = CompareSettings() if noise is None else CompareSettings(process_noise=noise)
    paired = dataclasses.replace(base, block_seconds=BLOCK)
    table: list[dict] = []
    for impl in ("rust", "python"):
        recordings = [load_recording(pair, impl) for pair in pairs]
        spread = process_spread(recordings)
        n_processes = sum(len(r.processes) for r in recordings)
        print(f"{impl}: spread between processes (pooled sd of log quantiles, {n_processes} processes): "
              f"median {spread['median']:.2%}, p95 {spread['p95']:.2%}", flush=True)
        draws = Trials(recordings, k_blocks, rng)
        replicas = recordings[0].replicas
        cells: list[tuple[str, Trial, CompareSettings]] = [
            (f"interleaved, {replicas} vs {replicas} processes, paired 10 s blocks", draws.interleaved, paired),
        ]
        if len(recordings) > 1:
            cells += [
                ("sequential runs, i.i.d. (compare's default)", functools.partial(draws.sequential, timed=False), base),
                ("sequential runs, --block 10s", functools.partial(draws.sequential, timed=True), paired),
            ]
        for name, draw, settings in cells:
            aa_gate, aa_sig, n, cost = rates(trials, draw, settings, 1.0)
            pw_gate, pw_sig, _, _ = rates(trials, draw, settings, REGRESSION)
            row = {"comparison": name, "implementation": impl, "n_per_side": n, "trials": trials,
                   "false_alarm_gate": aa_gate, "false_alarm_significant": aa_sig,
                   "power_gate": pw_gate, "power_significant": pw_sig, "ms_per_compare": cost * 1000,
                   "process_noise": settings.process_noise, "process_spread": spread}
            table.append(row)
            print_row(row)
        table.append(whole_windows(recordings, impl, length, paired))
        print_windows(table[-1])
    return table


def whole_windows(recordings: list[Recording], impl: str, length: float, settings: CompareSettings) -> dict:
    """Each recording cut into consecutive default-length windows, sides as recorded, each compared once."""
    results = []
    for rec in recordings:
        control = [p for p in rec.processes if p.role == "control"]
        experiment = [p for p in rec.processes if p.role == "experiment"]
        start = min(float(p.t.min()) for p in rec.processes)
        end = max(float(p.t.max()) for p in rec.processes)
        w = start
        while w + length <= end + 1:
            blocks = np.unique(np.concatenate([p.block[(p.t >= w) & (p.t < w + length)] for p in rec.processes]))
            (c, tc), (e, te) = rec.take(control, blocks), rec.take(experiment, blocks)
            m = compare_samples("latency", c, e, settings, control_times=tc, experiment_times=te,
                                processes=(len(control), len(experiment)))
            results.append({"recording": rec.name, "window_start": w, "gate_fails": m.gate_fails,
                            "significant": significant(m), "ratios": {r.statistic: r.ratio for r in m.rows},
                            "intervals": {r.statistic: [r.ci_low, r.ci_high] for r in m.rows}})
            w += length
    return {"comparison": "whole windows, sides as recorded", "implementation": impl, "windows": results}


HEADER = (f"{'comparison':<52}{'impl':<8}{'n/side':>8}{'trials':>7} | {'false alarms':>16} | "
          f"{'power @+10%':>16} | {'ms/cmp':>7}")


def print_row(r: dict) -> None:
    def pair(g: float, s: float) -> str:
        return f"{g:5.1%} ({s:5.1%})"

    print(f"{r['comparison']:<52}{r['implementation']:<8}{r['n_per_side']:>8}{r['trials']:>7} | "
          f"{pair(r['false_alarm_gate'], r['false_alarm_significant']):>16} | "
          f"{pair(r['power_gate'], r['power_significant']):>16} | {r['ms_per_compare']:>7.1f}", flush=True)


def print_windows(r: dict) -> None:
    windows = r["windows"]
    fails = sum(w["gate_fails"] for w in windows)
    sig = sum(w["significant"] for w in windows)
    ratios = ", ".join(f"{w['ratios'].get('median', float('nan')):.3f}/{w['ratios'].get('p95', float('nan')):.3f}"
                       for w in windows)
    print(f"{r['comparison']:<52}{r['implementation']:<8} {len(windows)} windows: gate failed {fails}, "
          f"significant {sig}; median/p95 ratios {ratios}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", nargs="+", type=Path, metavar="DIR", help="Recorded `load ab` output dirs.")
    parser.add_argument("--record", type=int, metavar="N", help="Record N interleaved A/A recordings first.")
    parser.add_argument("--out", type=Path, help="Where --record writes (default: a new temporary directory).")
    parser.add_argument("--profile", default="baseline", help="Load profile to record (default: baseline).")
    parser.add_argument("--duration", default="8m", help="Length of each recording (default 8m).")
    parser.add_argument("--replicas", type=int, default=3, help="Service processes per side (default 3).")
    parser.add_argument("--length", type=float, default=300.0,
                        help="Seconds per trial: the default run length (the baseline profile's 5 min).")
    parser.add_argument("--trials", type=int, default=500, help="Trials per cell (default 500).")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", type=Path, help="Also write the table as JSON.")
    parser.add_argument("--process-noise", type=float, default=None,
                        help="Override CompareSettings.process_noise (e.g. 0 to see the bootstrap alone).")
    args = parser.parse_args()
    if args.record:
        out = args.out or Path(tempfile.mkdtemp(prefix="sloguard-calibrate-"))
        pairs = record(out, args.profile, args.duration, args.record, args.replicas)
    elif args.pairs:
        pairs = args.pairs
    else:
        parser.error("give --pairs DIR... or --record N")
    s = CompareSettings()
    print(f"recordings: {', '.join(str(p) for p in pairs)}; {args.trials} trials per cell of {args.length:g} s; "
          f"alpha {s.alpha}, max regression {s.max_regression:.0%}, {s.resamples} bootstrap replicates")
    print("cells: rate of failed gates (rate of any significant faster/slower verdict)")
    print(HEADER)
    table = calibrate(pairs, args.trials, args.seed, args.length, args.process_noise)
    if args.json:
        args.json.write_text(json.dumps(table, indent=2) + "\n")


if __name__ == "__main__":
    main()
