"""A canned world for the rollout controller's tests: a clock, a flag setter, and Prometheus answers from them.

Traffic arrives at `rate` requests a second, Rust taking the flag's percent of it; each path has its own
error ratio and lognormal latency, bucketed with LATENCY_BUCKETS at their expected counts (no noise, so a
test's outcome is exact). A query's window is read from its `[...]` range, as Prometheus would.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from statistics import NormalDist

from sloguard import conventions as c
from sloguard.errors import BackendError
from sloguard.prometheus import Sample

T0 = 1_800_000_000.0
_RANGE = re.compile(r"\[(\d+(?:\.\d+)?)(ms|s)\]")

SPEC = """\
apiVersion: sloguard/v1
kind: SLOSet
metadata: {name: t}
spec:
  service: sark
  selector: {job: sark}
  objectives:
    - name: rust-gate
      sli: {promql: {query: 'sum by (implementation) (gate_value{job="sark"})'}}
      objective: {max: 1}
"""

PLAN = """\
apiVersion: sloguard/v1
kind: RolloutPlan
metadata: {name: test-rollout}
spec:
  spec: slo.yaml
  flags: [rust_opa, rust_cache]
  interval: 1m
  steps:
    - {percent: 5, minDuration: 10m, minEvents: 1000}
    - {percent: 50, minDuration: 10m, minEvents: 1000}
    - {percent: 100}
  onFailure: {rollbackTo: zero}
"""


def write_plan(directory: Path, plan: str = PLAN, spec: str = SPEC) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "slo.yaml").write_text(spec)
    path = directory / "rollout.yaml"
    path.write_text(plan)
    return path


@dataclass
class Behaviour:
    """One implementation's behaviour."""

    error_ratio: float = 0.005
    median: float = 0.0004
    sigma: float = 0.35


@dataclass
class World:
    """Clock, flag system and Prometheus in one: the percent the setter set decides the traffic split."""

    rate: float = 100.0
    now_value: float = T0
    percent: dict[str, float] = field(default_factory=dict)
    rust: Behaviour = field(default_factory=Behaviour)
    python: Behaviour = field(default_factory=Behaviour)
    gate_value: float | None = 0.0  # None: the gate's query returns nothing (no_data)
    sets: list[tuple[str, float]] = field(default_factory=list)
    sleeps: int = 0
    on_sleep: list[object] = field(default_factory=list)  # callables run at each sleep (by count)
    down: bool = False  # Prometheus unreachable
    fallback_ratio: float = 0.0  # Rust attempts that panic and fall back to Python

    # the clock
    def now(self) -> float:
        return self.now_value

    def sleep(self, seconds: float) -> None:
        self.sleeps += 1
        self.now_value += seconds
        for hook in self.on_sleep:
            hook(self)  # type: ignore[operator]

    # the flag setter
    def set(self, flag: str, percent: float) -> None:
        self.sets.append((flag, percent))
        self.percent[flag] = percent

    def get(self, flag: str) -> float:
        return self.percent.get(flag, 0.0)

    # Prometheus
    def share(self) -> float:
        return min(self.percent.values(), default=0.0) / 100

    def query(self, text: str, at: float) -> list[Sample]:
        if self.down:
            raise BackendError("http://127.0.0.1:9090: connection refused")
        if c.FALLBACKS in text:
            found = _RANGE.search(text)
            seconds = 0.0 if found is None else float(found.group(1)) / (1000 if found.group(2) == "ms" else 1)
            return [Sample({}, self.rate * seconds * self.share() * self.fallback_ratio)]
        return answer(text, self.share(), self.rate, self.rust, self.python, self.gate_value)


def answer(text: str, share: float, rate: float, rust: Behaviour, python: Behaviour,
           gate_value: float | None) -> list[Sample]:
    """What Prometheus would answer `text` with, for a split held at `share` over the query's window."""
    if "gate_value" in text:
        return [] if gate_value is None else [Sample({c.LABEL_IMPLEMENTATION: c.IMPL_RUST}, gate_value)]
    found = _RANGE.search(text)
    seconds = 0.0 if found is None else float(found.group(1)) / (1000 if found.group(2) == "ms" else 1)
    totals = {c.IMPL_RUST: rate * seconds * share, c.IMPL_PYTHON: rate * seconds * (1 - share)}
    paths = {c.IMPL_RUST: rust, c.IMPL_PYTHON: python}
    if "_bucket" in text:
        samples = []
        for impl, total in totals.items():
            path = paths[impl]
            for bound in (*c.LATENCY_BUCKETS, math.inf):
                cdf = 1.0 if bound == math.inf else NormalDist(math.log(path.median), path.sigma).cdf(math.log(bound))
                le = "+Inf" if bound == math.inf else repr(bound)
                samples.append(Sample({c.LABEL_IMPLEMENTATION: impl, "le": le}, total * cdf))
        return samples
    if 'decision="error"' in text:
        return [Sample({c.LABEL_IMPLEMENTATION: impl}, total * paths[impl].error_ratio)
                for impl, total in totals.items()]
    if c.AUTHZ_REQUESTS in text:
        return [Sample({c.LABEL_IMPLEMENTATION: impl}, total) for impl, total in totals.items()]
    return []
