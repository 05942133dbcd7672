"""`sloguard soak`: steady open-loop load while sampling the target's RSS; is memory growing?

The growth rate is the least-squares slope of RSS over time, with a 95 %
confidence interval from the t distribution (n - 2 degrees of freedom). A leak
is reported only when the whole interval lies above the bound, so noise on a
short run reads as "inconclusive", never as a leak; the first and second half
means are compared as a second, model-free view.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sloguard import runs
from sloguard.conventions import API_VERSION, SOAK_KIND
from sloguard.demo.faults import parse_bytes
from sloguard.errors import UsageError
from sloguard.load.openloop import OpenLoopGenerator, Phase, run_open_loop
from sloguard.load.profiles import Profile
from sloguard.load.progress import Progress
from sloguard.load.target import pid_listening_on, require_healthy
from sloguard.load.workload import WORKLOADS, http_source

# psutil and scipy (the load extra) are imported inside the functions that use them.

MIN_SAMPLES = 5

VERDICT_PASS = "pass"  # the whole interval is within the bound
VERDICT_GROWTH = "growth"  # the whole interval is above the bound
VERDICT_INCONCLUSIVE = "inconclusive"  # the interval straddles the bound: run longer


@dataclass
class SoakOptions:
    profile: Profile  # rate, workload, warm-up (its duration is replaced by `duration`)
    host: str
    duration: float
    sample: float
    bound: float  # bytes per hour
    output_dir: Path
    pid: int | None = None
    token_secret: str | None = None
    progress: bool = True


def rss_of_tree(pid: int) -> tuple[int, int]:
    """RSS in bytes of a process and all its children (pre-forked workers), and how many processes."""
    import psutil

    proc = psutil.Process(pid)
    procs = [proc, *proc.children(recursive=True)]
    total = 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return total, len(procs)


class RssSampler:
    """Samples RSS every `interval` seconds from `start` (unix) until stopped, in a thread."""

    def __init__(self, pid: int, interval: float, start: float, directory: Path) -> None:
        self.pid = pid
        self.interval = interval
        self.start = start
        self.directory = directory  # where rss.csv goes
        self.samples: list[tuple[float, int]] = []
        self.error: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="sloguard-rss-sampler", daemon=True)

    def run(self) -> RssSampler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        import psutil

        with runs.RssWriter(self.directory) as out:
            k = 0
            while not self._stop.is_set():
                # On a fixed grid from the window start, so a slow sample does not shift later ones.
                due = self.start + k * self.interval
                if self._stop.wait(max(0.0, due - time.time())):
                    break
                try:
                    rss, n = rss_of_tree(self.pid)
                except psutil.NoSuchProcess:
                    self.error = f"the target process {self.pid} exited during the soak"
                    break
                now = time.time()
                self.samples.append((now, rss))
                out.write(now, now - self.start, rss, n)
                k += 1


def analyze_growth(times: list[float], rss: list[float], bound: float) -> dict[str, Any]:
    """Growth per hour (slope, 95 % CI), first vs second half, and the verdict against `bound`."""
    from scipy import stats

    n = len(times)
    if n < MIN_SAMPLES:
        raise UsageError(f"{n} RSS samples are too few to fit a growth rate: need {MIN_SAMPLES} "
                         "(a longer --duration or a shorter --sample)")
    t0 = times[0]
    hours = [(t - t0) / 3600.0 for t in times]
    fit = stats.linregress(hours, rss)
    half_width = float(stats.t.ppf(0.975, n - 2) * fit.stderr)
    if math.isnan(half_width):  # a perfectly flat series (RSS moves in whole pages): no spread at all
        half_width = 0.0
    slope = float(fit.slope)
    low, high = slope - half_width, slope + half_width
    half = n // 2
    first, second = rss[:half], rss[n - half:]
    span_hours = hours[-1] - hours[0]
    mean_first, mean_second = sum(first) / len(first), sum(second) / len(second)
    # The half means sit half a span apart (centre of each half).
    halves_per_hour = (mean_second - mean_first) / (span_hours / 2) if span_hours > 0 else 0.0
    if low > bound:
        verdict = VERDICT_GROWTH
    elif high <= bound:
        verdict = VERDICT_PASS
    else:
        verdict = VERDICT_INCONCLUSIVE
    return {
        "samples": n,
        "span_seconds": round(span_hours * 3600, 3),
        "growth_bytes_per_hour": round(slope, 1),
        "ci95_bytes_per_hour": [round(low, 1), round(high, 1)],
        "r_squared": round(float(fit.rvalue) ** 2, 4) if not math.isnan(fit.rvalue) else None,
        "p_value": float(fit.pvalue) if not math.isnan(fit.pvalue) else None,
        "first_half_mean_bytes": round(mean_first, 1),
        "second_half_mean_bytes": round(mean_second, 1),
        "halves_growth_bytes_per_hour": round(halves_per_hour, 1),
        "rss_start_bytes": int(rss[0]),
        "rss_end_bytes": int(rss[-1]),
        "bound_bytes_per_hour": bound,
        "verdict": verdict,
    }


def run_soak(options: SoakOptions) -> dict[str, Any]:
    """Steady load for the duration while sampling RSS; soak.json, rss.csv, latencies.csv."""
    if options.duration / options.sample + 1 < MIN_SAMPLES:
        raise UsageError(f"--duration {options.duration:g}s with --sample {options.sample:g}s gives fewer than "
                         f"{MIN_SAMPLES} RSS samples")
    require_healthy(options.host)
    pid = options.pid or pid_listening_on(options.host)
    profile = options.profile
    out = options.output_dir
    out.mkdir(parents=True, exist_ok=True)
    workload = WORKLOADS[profile.user_class](secret=options.token_secret)
    writer = runs.LatencyWriter(out / runs.LATENCIES_CSV)
    progress = Progress("soak", profile.warmup + options.duration, enabled=options.progress)
    generator = OpenLoopGenerator(options.host, http_source(workload, urlsplit(options.host).netloc),
                                  max_in_flight=profile.max_in_flight, timeout=profile.timeout,
                                  writer=writer, progress=progress)  # fmt: skip
    phases = [Phase("warmup", profile.rate, profile.warmup, measured=False),
              Phase("steady", profile.rate, options.duration)]  # fmt: skip
    steady_start = time.time() + 0.05 + profile.warmup  # the generator starts ~10 ms after prewarm
    sampler = RssSampler(pid, options.sample, steady_start, out).run()
    try:
        result = run_open_loop(generator, [p for p in phases if p.duration > 0])
    finally:
        sampler.stop()
        writer.close()
        progress.close()
    if sampler.error:
        raise UsageError(sampler.error)
    window = result.window() or (steady_start, steady_start)
    samples = [(t, r) for t, r in sampler.samples if t <= window[1] + options.sample / 2]
    growth = analyze_growth([t for t, _ in samples], [float(r) for _, r in samples], options.bound)
    counts = result.steady_counts()
    seconds = max(window[1] - window[0], 0.0)
    doc = {
        "apiVersion": API_VERSION,
        "kind": SOAK_KIND,
        "target": options.host,
        "pid": pid,
        "profile": profile.as_dict() | {"duration": options.duration},
        "window": {"start": round(window[0], 3), "end": round(window[1], 3), "seconds": round(seconds, 3)},
        "interrupted": result.interrupted,
        "sample_seconds": options.sample,
        "memory": growth,
        "load": counts.summary(seconds),
        "files": {"rss": runs.RSS_CSV, "latencies": runs.LATENCIES_CSV},
    }
    runs.write_soak(out, doc)
    return doc


def parse_growth_bound(text: str) -> float:
    """'1MiB/h', '512KiB/hour', '1048576' (bytes per hour) -> bytes per hour."""
    raw = str(text).strip()
    amount, _, per = raw.partition("/")
    per = per.strip().lower()
    scale = {"": 1.0, "h": 1.0, "hour": 1.0, "m": 60.0, "min": 60.0, "s": 3600.0, "d": 1 / 24}.get(per)
    if scale is None:
        raise UsageError(f"invalid growth bound {text!r} (e.g. 1MiB/h, 512KiB/h)")
    try:
        return float(parse_bytes(amount)) * scale
    except Exception:
        raise UsageError(f"invalid growth bound {text!r} (e.g. 1MiB/h, 512KiB/h)") from None
