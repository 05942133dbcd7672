"""A real Prometheus on a TSDB backfilled by promtool from OpenMetrics text the caller generates.

Why backfilled blocks give exact answers: promtool writes the samples into TSDB
blocks, Prometheus loads every block in --storage.tsdb.path at startup, and a
query at a past time reads them like scraped data. Callers put samples exactly on
the window's edges, so increase() needs no extrapolation (see tests/support/promdata.py).
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.support.processes import ProcessError, ProcessGroup, ProcessHandle, free_port, http_status

# No scrape targets: the only data is what the test backfilled.
MINIMAL_CONFIG = "global:\n  scrape_interval: 1m\n  evaluation_interval: 1m\nscrape_configs: []\n"


@dataclass
class PrometheusServer:
    """A running Prometheus and where to reach it."""

    url: str
    port: int
    data_dir: Path
    handle: ProcessHandle


def backfill(openmetrics: str, data_dir: Path, *, work_dir: Path, promtool: str = "promtool") -> Path:
    """Write the OpenMetrics text to work_dir and turn it into TSDB blocks in data_dir."""
    work_dir.mkdir(parents=True, exist_ok=True)
    data_dir.mkdir(parents=True, exist_ok=True)
    source = work_dir / "backfill.om.txt"
    source.write_text(openmetrics)
    result = subprocess.run(
        [promtool, "tsdb", "create-blocks-from", "openmetrics", "--quiet", str(source), str(data_dir)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if result.returncode != 0:
        raise ProcessError(
            f"promtool backfill of {source} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
        )
    return source


def start_prometheus(
    group: ProcessGroup,
    data_dir: Path,
    *,
    config_dir: Path,
    prometheus: str = "prometheus",
    config: str = MINIMAL_CONFIG,
    web_config: str | None = None,
    scheme: str = "http",
    extra_args: Sequence[str] = (),
    ready: Callable[[str], bool] | None = None,
    timeout: float = 60.0,
) -> PrometheusServer:
    """Start Prometheus on a free loopback port over data_dir and wait until it is ready.

    `ready(url)` replaces the default check (GET /-/ready answers 200), e.g. for TLS or auth.
    """
    config_dir.mkdir(parents=True, exist_ok=True)
    config_file = config_dir / "prometheus.yml"
    config_file.write_text(config)
    check = ready or (lambda base: http_status(f"{base}/-/ready") == 200)
    # Another process may take the free port between our probe and Prometheus's bind
    # (several suites share this machine): try a fresh port a few times.
    for attempt in range(1, 4):
        port = free_port()
        argv = [
            prometheus,
            f"--config.file={config_file}",
            f"--storage.tsdb.path={data_dir}",
            f"--web.listen-address=127.0.0.1:{port}",
            # Retention counts back from the newest block; a generous one keeps every backfilled block.
            "--storage.tsdb.retention.time=90d",
            "--log.level=warn",
            *extra_args,
        ]
        if web_config is not None:
            web_file = config_dir / "web.yml"
            web_file.write_text(web_config)
            argv.append(f"--web.config.file={web_file}")
        handle = group.start(argv, name="prometheus")
        url = f"{scheme}://127.0.0.1:{port}"
        try:
            handle.wait_until(lambda u=url: check(u), timeout=timeout, what=f"ready at {url}")
            break
        except ProcessError as exc:
            handle.stop()
            if attempt == 3 or "address already in use" not in str(exc):
                raise
    return PrometheusServer(url=url, port=port, data_dir=data_dir, handle=handle)


def backfilled_prometheus(
    group: ProcessGroup,
    openmetrics: str,
    work_dir: Path,
    *,
    prometheus: str = "prometheus",
    promtool: str = "promtool",
) -> PrometheusServer:
    """Backfill `openmetrics` into a fresh TSDB under work_dir and serve it."""
    data_dir = work_dir / "tsdb"
    backfill(openmetrics, data_dir, work_dir=work_dir, promtool=promtool)
    return start_prometheus(group, data_dir, config_dir=work_dir, prometheus=prometheus)
