"""A rollout's metrics scraped by a real Prometheus, configured as `sloguard stack up --rollout-metrics-port` does it.

The state directory is written with rollout.state while Prometheus scrapes the metrics server every second;
the Rust-vs-Python dashboard's rollout panels and its step-change annotation must then return data.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import yaml

from sloguard import dashboards, stack
from sloguard.conventions import ROLLOUT_SCRAPE_JOB
from sloguard.rollout.metrics import MetricsServer, serve_metrics
from sloguard.rollout.state import Kind, RolloutStore
from tests.support.processes import ProcessGroup, closed_port
from tests.support.promharness import PrometheusServer, start_prometheus
from tests.support.rulestack import query

FLAGS = ("rust_opa", "rust_cache")
WINDOW = "1m"  # for $__rate_interval: the whole test fits in it


def wait_for(prometheus: PrometheusServer, expr: str, timeout: float = 30.0) -> list[dict]:
    deadline = time.monotonic() + timeout
    while True:
        error, result = query(prometheus.url, expr)
        assert not error, f"{expr}: {error}"
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.5)


def apply_step(store: RolloutStore, step: int, percent: float) -> None:
    store.record(Kind.PROMOTE, step=step, percent=percent, flags=FLAGS)
    store.record(Kind.INTENT, step=step, percent=percent, flags=FLAGS)
    store.record(Kind.APPLIED)


@pytest.fixture(scope="module")
def rollout(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RolloutStore, MetricsServer]]:
    directory = tmp_path_factory.mktemp("rollout")
    with RolloutStore.create(directory, plan_name="sark-rust-rollout", plan_digest="sha256:x") as store, \
            serve_metrics(directory, 0, flags=FLAGS) as server:  # fmt: skip
        yield store, server


@pytest.fixture(scope="module")
def prometheus(
    module_processes: ProcessGroup,
    tmp_path_factory: pytest.TempPathFactory,
    prometheus_bin: str,
    rollout: tuple[RolloutStore, MetricsServer],
) -> PrometheusServer:
    _, server = rollout
    config = stack.prometheus_config({"alertmanager": closed_port(), "service": closed_port()}, [],
                                     rollout_metrics_port=server.port)  # fmt: skip
    config["global"] = {"scrape_interval": "1s", "evaluation_interval": "1s"}
    work = tmp_path_factory.mktemp("prometheus")
    return start_prometheus(module_processes, work / "tsdb", config_dir=work, prometheus=prometheus_bin,
                            config=yaml.safe_dump(config))  # fmt: skip


def test_the_stack_scrapes_the_rollout_and_the_dashboard_panels_have_data(
    prometheus: PrometheusServer, rollout: tuple[RolloutStore, MetricsServer]
) -> None:
    store, _ = rollout
    assert wait_for(prometheus, f'up{{job="{ROLLOUT_SCRAPE_JOB}"}} == 1'), "Prometheus never scraped the rollout"
    apply_step(store, 0, 5)
    assert wait_for(prometheus, 'sloguard_rollout_percent{flag="rust_opa"} == 5')
    store.record(Kind.LOOK, evidence={"errorRatio": {"decision": "continue"}})
    apply_step(store, 1, 10)
    assert wait_for(prometheus, "sloguard_rollout_step == 1 and changes(sloguard_rollout_step[1m]) > 0")

    (percent, *_), (decisions, *_) = (panel.queries for panel in dashboards.rollout_panels())
    by_flag = {s["metric"]["flag"]: float(s["value"][1]) for s in wait_for(prometheus, percent[0])}
    assert by_flag == {"rust_opa": 10.0, "rust_cache": 10.0}
    kinds = {s["metric"]["decision"]: float(s["value"][1])
             for s in wait_for(prometheus, decisions[0].replace(dashboards.RATE, WINDOW))}  # fmt: skip
    assert kinds["applied"] > 0 and kinds["promote"] > 0 and set(kinds) == {str(k) for k in Kind}
    annotation = dashboards.rollout_step_annotation().expr.replace(dashboards.RATE, WINDOW)
    (mark,) = wait_for(prometheus, annotation)
    assert mark["metric"]["rollout"] == "sark-rust-rollout"
    (running,) = wait_for(prometheus, 'sloguard_rollout_status{status="running"} == 1')
    assert running["metric"]["job"] == ROLLOUT_SCRAPE_JOB
