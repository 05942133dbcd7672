"""Fixtures for integration tests: a real Prometheus on a backfilled TSDB, one per test module."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.processes import ProcessGroup
from tests.support.promharness import PrometheusServer, backfilled_prometheus

BackfillPrometheus = Callable[[str], PrometheusServer]


@pytest.fixture(scope="module")
def backfill_prometheus(
    module_processes: ProcessGroup,
    tmp_path_factory: pytest.TempPathFactory,
    prometheus_bin: str,
    promtool_bin: str,
) -> BackfillPrometheus:
    """Call with OpenMetrics text: backfills it with promtool and serves it from a real Prometheus.

    Module-scoped: build one dataset with every series the module needs and start Prometheus
    once (startup dominates the cost of a query). Stopped by pid when the module is done.
    """

    def start(openmetrics: str) -> PrometheusServer:
        work_dir: Path = tmp_path_factory.mktemp("prometheus")
        return backfilled_prometheus(
            module_processes, openmetrics, work_dir, prometheus=prometheus_bin, promtool=promtool_bin
        )

    return start
