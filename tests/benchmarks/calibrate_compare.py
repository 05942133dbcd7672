"""Calibrate `sloguard compare` on real latencies recorded on this machine.

    .venv/bin/python tests/benchmarks/calibrate_compare.py --record          # record 2 runs, then calibrate
    .venv/bin/python tests/benchmarks/calibrate_compare.py --runs RUN_A RUN_B  # reuse recorded run dirs

--record starts the embedded stack (`sloguard stack up`, real Redis, policy server and
reference service on loopback), records two open-loop runs of the `baseline` load
profile (the default comparison run length: 5 min at 100 req/s, 50 % Rust) and stops the
stack by pid. Then, per implementation, with the default CompareSettings:

- A/A halves: one run's latencies shuffled and split into two disjoint halves, many times;
  a failed gate (or any significant verdict) is a false alarm. Target: <= 1 %.
- A/A runs: n drawn with replacement from run A and from run B (two runs of the same
  build, so real run-to-run drift is included), A as control in half the trials, B in the other.
- power: as A/A halves, with every experiment latency multiplied by 1.10 (a 10 % latency
  regression); a failed gate is a detection. Target: >= 90 %.
The same at n = 1,000 a side (about what the 20 s `quick` profile records per implementation)
shows what a shorter run can and cannot detect.

--block 10 calibrates the block bootstrap (`sloguard compare --block 10s`): halves and the
draws from each run then take whole 10 s blocks, so latency episodes stay together.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from sloguard.compare import CompareSettings, Verdict, compare_samples, read_csv_samples  # noqa: E402

SLOGUARD = str(Path(sys.executable).parent / "sloguard")
REGRESSION = 1.10


def record(directory: Path, profile: str, duration: str | None) -> list[Path]:
    """Two open-loop runs of `profile` against a fresh embedded stack."""
    stack = directory / "stack"
    subprocess.run([SLOGUARD, "stack", "up", "--dir", str(stack), "--rollout", "50"], check=True)
    runs = []
    try:
        doc = json.loads((stack / "stack.json").read_text())
        host = doc["components"]["service"]["url"]
        for name in ("a", "b"):
            out = directory / f"run-{name}"
            extra = ["--duration", duration] if duration else []
            subprocess.run([SLOGUARD, "load", "run", profile, "--host", host, "--open-loop", "--no-progress",
                            "--admin-token", doc["adminToken"], "--output-dir", str(out), *extra], check=True)
            runs.append(out)
    finally:
        subprocess.run([SLOGUARD, "stack", "down", "--dir", str(stack)], check=False)
    return runs


def alarm(m) -> tuple[bool, bool]:
    """(gate failed, any significant verdict)."""
    significant = any(r.verdict in (Verdict.SLOWER, Verdict.FASTER) for r in m.rows)
    return m.gate_fails, significant


def rates(trials: int, draw, settings: CompareSettings) -> tuple[float, float, float]:
    gate = sig = 0
    seconds = 0.0
    for i in range(trials):
        c, e, tc, te = draw(i)
        t0 = time.perf_counter()
        m = compare_samples("latency", c, e, settings, control_times=tc, experiment_times=te)
        seconds += time.perf_counter() - t0
        g, s = alarm(m)
        gate += g
        sig += s
    return gate / trials, sig / trials, seconds / trials


def calibrate(run_a: Path, run_b: Path, trials: int, seed: int, sizes: list[int | None],
              block: float | None = None) -> list[dict]:
    a = read_csv_samples(run_a / "latencies.csv", by="implementation")
    b = read_csv_samples(run_b / "latencies.csv", by="implementation")
    ta = read_csv_samples(run_a / "latencies.csv", column="intended_send_time", by="implementation")
    tb = read_csv_samples(run_b / "latencies.csv", column="intended_send_time", by="implementation")
    settings = CompareSettings(block_seconds=block)
    rng = np.random.default_rng(seed)
    table = []
    for impl in sorted(set(a) & set(b)):
        xa, xb = np.asarray(a[impl]), np.asarray(b[impl])
        sa, sb = np.asarray(ta[impl]), np.asarray(tb[impl])
        for size in sizes:
            n = min(size or len(xa) // 2, len(xa) // 2)
            if block:
                # Time structure kept: whole blocks go to one side or the other.
                blocks_a = np.floor((sa - sa.min()) / block).astype(int)
                blocks_b = np.floor((sb - sb.min()) / block).astype(int)

                def pick(blocks, k):
                    chosen = rng.permutation(np.unique(blocks))
                    return chosen[:k], chosen[k:2 * k]

                def halves(_: int, scale: float = 1.0, x=xa, t=sa, blocks=blocks_a):
                    one, two = pick(blocks, len(np.unique(blocks)) // 2)
                    m1, m2 = np.isin(blocks, one), np.isin(blocks, two)
                    return x[m1], x[m2] * scale, t[m1], t[m2]

                def across(i: int, xa=xa, sa=sa, xb=xb, sb=sb, blocks_a=blocks_a, blocks_b=blocks_b):
                    k = len(np.unique(blocks_a)) // 2
                    one, _ = pick(blocks_a, k)
                    two, _ = pick(blocks_b, k)
                    m1, m2 = np.isin(blocks_a, one), np.isin(blocks_b, two)
                    first, second = (xa[m1], sa[m1]), (xb[m2], sb[m2])
                    if i % 2:
                        first, second = second, first
                    return first[0], second[0], first[1], second[1]
            else:
                def halves(_: int, scale: float = 1.0, x=xa, n=n):
                    perm = rng.permutation(len(x))
                    return x[perm[:n]], x[perm[n:2 * n]] * scale, None, None

                def across(i: int, x=xa, y=xb, n=n):
                    # Alternate which run is the control: drift between runs must count in both directions.
                    first, second = (x, y) if i % 2 == 0 else (y, x)
                    return rng.choice(first, n), rng.choice(second, n), None, None

            aa_gate, aa_sig, cost = rates(trials, halves, settings)
            ar_gate, ar_sig, _ = rates(trials, across, settings)
            pw_gate, pw_sig, _ = rates(trials, lambda i: halves(i, REGRESSION), settings)
            row = {
                "implementation": impl, "n_per_side": n,
                "median_ms": float(np.median(xa) * 1000), "p95_ms": float(np.quantile(xa, 0.95) * 1000),
                "aa_halves_gate": aa_gate, "aa_halves_significant": aa_sig,
                "aa_runs_gate": ar_gate, "aa_runs_significant": ar_sig,
                "power_gate": pw_gate, "power_significant": pw_sig, "ms_per_compare": cost * 1000,
            }  # fmt: skip
            table.append(row)
            print_row(row)
    return table


HEADER = (f"{'impl':<7}{'n/side':>8}{'p50 ms':>9}{'p95 ms':>9} | {'A/A halves':>18} | {'A/A two runs':>18} | "
          f"{'power @+10%':>18} | {'ms/cmp':>7}")


def print_row(r: dict) -> None:
    def pair(g: float, s: float) -> str:
        return f"{g:6.1%} ({s:6.1%})"

    print(f"{r['implementation']:<7}{r['n_per_side']:>8}{r['median_ms']:>9.3f}{r['p95_ms']:>9.3f} | "
          f"{pair(r['aa_halves_gate'], r['aa_halves_significant']):>18} | "
          f"{pair(r['aa_runs_gate'], r['aa_runs_significant']):>18} | "
          f"{pair(r['power_gate'], r['power_significant']):>18} | {r['ms_per_compare']:>7.1f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", nargs=2, type=Path, metavar=("RUN_A", "RUN_B"), help="Two recorded run dirs.")
    parser.add_argument("--record", action="store_true", help="Record two runs on a fresh embedded stack first.")
    parser.add_argument("--profile", default="baseline", help="Load profile to record (default: baseline).")
    parser.add_argument("--duration", default=None, help="Override the profile's duration when recording.")
    parser.add_argument("--trials", type=int, default=500, help="Trials per cell (default 500).")
    parser.add_argument("--sizes", default="full,1000", help="Samples per side: 'full' = half a run, or numbers.")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", type=Path, help="Also write the table as JSON.")
    parser.add_argument("--block", type=float, default=None,
                        help="Block bootstrap with blocks of this many seconds (sloguard compare --block).")
    args = parser.parse_args()
    if args.record:
        runs = record(Path(tempfile.mkdtemp(prefix="sloguard-calibrate-")), args.profile, args.duration)
    elif args.runs:
        runs = args.runs
    else:
        parser.error("give --runs RUN_A RUN_B or --record")
    sizes = [None if s == "full" else int(s) for s in args.sizes.split(",")]
    s = CompareSettings()
    print(f"runs: {runs[0]} {runs[1]}; {args.trials} trials per cell; alpha {s.alpha}, max regression "
          f"{s.max_regression:.0%}, min samples {s.min_samples}, {s.resamples} bootstrap replicates")
    print("cells: gate failure rate (rate of any significant faster/slower verdict)")
    print(HEADER)
    if args.block:
        print(f"block bootstrap: {args.block:g} s blocks; halves and run draws take whole blocks (sizes ignored)")
        sizes = [None]
    table = calibrate(runs[0], runs[1], args.trials, args.seed, sizes, args.block)
    if args.json:
        args.json.write_text(json.dumps(table, indent=2) + "\n")


if __name__ == "__main__":
    main()
