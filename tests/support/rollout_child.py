"""A rollout controller in its own process for the kill test: the canned world on a fast clock, a durable flag log.

`python -m tests.support.rollout_child PLAN STATE_DIR FLAG_LOG BASE` starts (or, when STATE_DIR holds a
rollout, resumes) the plan. Time runs 600× faster than the wall clock from BASE, so a 1m interval is 0.1 s
and every process of the test shares one timeline; the flag system is a file of `flag percent` lines,
fsynced per change, whose last lines decide the traffic split the canned Prometheus answers from.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from sloguard.prometheus import Sample
from sloguard.rollout import controller
from sloguard.rollout.controller import Clock, Controller
from sloguard.rollout.plan import load_plan
from sloguard.rollout.state import STATE_FILE
from sloguard.spec.loader import load_spec
from tests.support.rollout_world import T0, Behaviour, answer

SPEEDUP = 600.0


class FlagLog:
    """A flag system whose every change is one fsynced line: what the test reads back after the kills."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def set(self, flag: str, percent: float) -> None:
        with self.path.open("a") as out:
            out.write(f"{flag} {percent:g}\n")
            out.flush()
            os.fsync(out.fileno())

    def get(self, flag: str) -> float:
        percents = [float(p) for f, p in (line.split() for line in self.lines()) if f == flag]
        return percents[-1] if percents else 0.0

    def lines(self) -> list[str]:
        return self.path.read_text().splitlines() if self.path.exists() else []


def main(plan_file: Path, state_dir: Path, flag_log: Path, base: float) -> int:
    flags = FlagLog(flag_log)
    clock = Clock(lambda: T0 + (time.time() - base) * SPEEDUP, lambda seconds: time.sleep(seconds / SPEEDUP))
    plan = load_plan(plan_file)

    def query(text: str, at: float) -> list[Sample]:
        share = min((flags.get(flag) for flag in plan.flags), default=0.0) / 100
        return answer(text, share, 100.0, Behaviour(), Behaviour(), 0.0)

    if (state_dir / STATE_FILE).exists():
        store, _ = controller.reopen(plan_file, state_dir, now=clock.now())
    else:
        store = controller.start(plan, plan_file, state_dir, now=clock.now())
    with store:
        return int(Controller(plan, store, flags, query, load_spec(plan.spec_path), clock=clock).run())


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), float(sys.argv[4])))
