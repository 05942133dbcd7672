"""The rollout controller against a real Prometheus on a backfilled TSDB: its queries, its gates, its decisions.

One Prometheus holds two jobs of SARK-shaped series over the same past hour: `clean` (both paths at 0.5 %
errors, the same latencies) and `faulty` (Rust at 5 % errors). The controller runs on a clock set to that
hour, with a fake flag setter, so each look reads exactly the counts generated here (samples fall on the
window's edges: tests/support/promdata.py), and the evidence is compared with plain arithmetic.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sloguard.conventions import AUTHZ_DURATION, AUTHZ_REQUESTS, ExitCode
from sloguard.prometheus import PrometheusClient
from sloguard.rollout import controller
from sloguard.rollout.controller import Clock, Controller
from sloguard.rollout.plan import load_plan
from sloguard.rollout.state import DECISIONS_FILE
from sloguard.spec.loader import load_spec
from tests.integration.conftest import BackfillPrometheus
from tests.support.promdata import OpenMetrics, Window, counter_points, histogram_points
from tests.support.promharness import PrometheusServer

pytestmark = pytest.mark.integration

WINDOW = Window.hours_ago(hours=4, length=3600)
PER_STEP = {"rust": 200, "python": 3800}  # requests every 60 s sample
ERRORS = {"clean": {"rust": 1, "python": 19}, "faulty": {"rust": 10, "python": 19}}
LATENCY = {0.0005: 60, 0.00075: 30, 0.001: 8, 0.0025: 2}  # per 100 requests

SPEC = """\
apiVersion: sloguard/v1
kind: SLOSet
metadata: {name: t}
spec:
  service: sark
  selector: {job: JOB}
  minEvents: 100
  objectives:
    - name: authz-error-rate
      sli:
        errorRatio:
          errors: 'sark_authz_requests_total{decision="error"}'
          total: sark_authz_requests_total
      by: [implementation]
      objective: {max: 0.01}
"""
PLAN = """\
apiVersion: sloguard/v1
kind: RolloutPlan
metadata: {name: JOB-rollout}
spec:
  spec: slo.yaml
  flags: [rust_opa]
  interval: 5m
  steps:
    - {percent: 5, minDuration: 20m, minEvents: 1000}
    - {percent: 100}
"""


def dataset() -> str:
    om = OpenMetrics()
    for job, errors in ERRORS.items():
        for impl, total in PER_STEP.items():
            labels = {"job": job, "implementation": impl}
            om.counter(AUTHZ_REQUESTS, {**labels, "decision": "error"}, counter_points(WINDOW, errors[impl]))
            om.counter(AUTHZ_REQUESTS, {**labels, "decision": "allow"},
                       counter_points(WINDOW, total - errors[impl]))  # fmt: skip
            scaled = {bound: n * total // 100 for bound, n in LATENCY.items()}
            om.histogram(AUTHZ_DURATION, labels, histogram_points(WINDOW, scaled))
    return om.text()


@pytest.fixture(scope="module")
def prometheus(backfill_prometheus: BackfillPrometheus) -> PrometheusServer:
    return backfill_prometheus(dataset())


class FakeFlags:
    def __init__(self) -> None:
        self.sets: list[tuple[str, float]] = []

    def set(self, flag: str, percent: float) -> None:
        self.sets.append((flag, percent))

    def get(self, flag: str) -> float:
        return self.sets[-1][1] if self.sets else 0.0


def run_rollout(tmp_path: Path, prometheus: PrometheusServer, job: str) -> tuple[ExitCode, list[dict[str, Any]]]:
    (tmp_path / "slo.yaml").write_text(SPEC.replace("JOB", job))
    plan_file = tmp_path / "rollout.yaml"
    plan_file.write_text(PLAN.replace("JOB", job))
    plan = load_plan(plan_file)
    now = [float(WINDOW.start)]
    clock = Clock(lambda: now[0], lambda seconds: now.__setitem__(0, now[0] + seconds))
    with PrometheusClient(prometheus.url) as client, controller.start(plan, plan_file, tmp_path / "state",
                                                                      now=now[0]) as store:  # fmt: skip
        code = Controller(plan, store, FakeFlags(), client.instant_query, load_spec(plan.spec_path), clock=clock).run()
    lines = (tmp_path / "state" / DECISIONS_FILE).read_text().splitlines()
    return code, [json.loads(line) for line in lines]


def test_a_clean_rollout_reads_the_windows_counts_and_completes(tmp_path: Path, prometheus: PrometheusServer) -> None:
    code, log = run_rollout(tmp_path, prometheus, "clean")
    assert code is ExitCode.PASS, log[-1]
    looks = [d for d in log if d["kind"] == "look"]
    assert len(looks) == 4  # 20m of 5m looks
    for index, look in enumerate(looks, start=1):
        minutes = 5 * index
        evidence = look["evidence"]
        assert evidence["events"] == pytest.approx({impl: n * minutes for impl, n in PER_STEP.items()})
        assert evidence["errors"] == pytest.approx({impl: n * minutes for impl, n in ERRORS["clean"].items()})
        assert evidence["latency"]["details"]["rust_total"] == pytest.approx(PER_STEP["rust"] * minutes)
        assert [(g["group"], g["status"]) for g in evidence["gates"]] == [("implementation=rust", "pass")]
        assert evidence["gates"][0]["value"] == pytest.approx(0.005)
    assert log[-1]["status"] == "completed"


def test_a_rust_error_ratio_over_its_objective_rolls_back_at_the_first_look(
    tmp_path: Path, prometheus: PrometheusServer
) -> None:
    code, log = run_rollout(tmp_path, prometheus, "faulty")
    assert code is ExitCode.FAILED
    rollback = next(d for d in log if d["kind"] == "rollback")
    assert "gate failed: authz-error-rate on implementation=rust" in rollback["reason"]
    assert rollback["evidence"]["gates"][0]["value"] == pytest.approx(0.05)
    assert rollback["evidence"]["errorRatio"]["decision"] == "harm"
    assert [d["kind"] for d in log].count("look") == 1 and log[-1]["status"] == "rolled_back"
