"""`sloguard dashboards preview` against a real stack: every panel of the committed dashboards drawn with data.

One stack for the module (`sloguard stack up` with alerts/sark.rules.yml and a rollout
controller's metrics port), a rollout state directory served by rollout.metrics whose step
changes during 30-90 s of real traffic to both paths, then the previews of the committed
dashboards/*.json over that window: no panel without data, no NaN, Grafana's units.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from sloguard import conventions as c
from sloguard.conventions import BINARIES, ROLLOUT_SCRAPE_JOB
from sloguard.demo.tokens import issue_token
from sloguard.durations import Window
from sloguard.preview import DashboardSummary, PreviewOptions, load_directory, write_previews
from sloguard.prometheus import PrometheusClient
from sloguard.rollout.metrics import serve_metrics
from sloguard.rollout.state import Kind, RolloutStore
from tests.support.chromium import find_chromium, has_color, render
from tests.support.clirun import run_sloguard
from tests.support.processes import find_binary, missing_binary_message
from tests.support.rulestack import SECRET, Load, query, stack_down, stack_env, url

pytest.importorskip("regorus")
pytest.importorskip("uvicorn")

pytestmark = [pytest.mark.integration]
for _key in ("redis", "prometheus", "alertmanager"):
    if find_binary(BINARIES[_key][0]) is None:
        pytestmark = [pytest.mark.integration, pytest.mark.skip(reason=missing_binary_message(BINARIES[_key][0]))]

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = ROOT / "dashboards"
RULES_FILE = ROOT / "alerts" / "sark.rules.yml"
FLAGS = ("rust_opa", "rust_cache")


@dataclass
class Live:
    state: dict[str, Any]
    window: Window
    directory: Path

    @property
    def prometheus(self) -> str:
        return url(self.state, "prometheus")


class OtherActions(threading.Thread):
    """A few requests a second of every gateway action but tool:invoke (which Load sends).

    The service exports every action's histogram from the start; an action without requests
    for $__rate_interval has all-zero bucket rates, and its p95 is NaN: traffic to each keeps
    the "by action" panels' series real numbers, as production traffic would.
    """

    def __init__(self, service_url: str) -> None:
        super().__init__(daemon=True)
        self.service_url = service_url
        self.stop_event = threading.Event()
        self.sent = 0

    def run(self) -> None:
        token = issue_token("user-actions", ["admin"], "acme", secret=SECRET)
        actions = [a for a in c.GATEWAY_ACTIONS if a != "gateway:tool:invoke"]
        with httpx.Client(timeout=5) as client:
            while not self.stop_event.is_set():
                for action in actions:
                    body = {"action": action, "server_name": "docs-mcp", "tool_name": "get_page", "parameters": {}}
                    try:
                        client.post(f"{self.service_url}{c.AUTHORIZE_PATH}", json=body,
                                    headers={"Authorization": f"Bearer {token}"})  # fmt: skip
                        self.sent += 1
                    except httpx.HTTPError:
                        pass
                self.stop_event.wait(0.3)

    def stop(self) -> None:
        self.stop_event.set()
        self.join(timeout=10)


def _step(store: RolloutStore, step: int, percent: float) -> None:
    store.record(Kind.PROMOTE, step=step, percent=percent, flags=FLAGS)
    store.record(Kind.INTENT, step=step, percent=percent, flags=FLAGS)
    store.record(Kind.APPLIED)


def _wait(prometheus: str, expr: str, timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        error, result = query(prometheus, expr)
        if not error and result:
            return True
        time.sleep(0.5)
    return False


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    directory = tmp_path_factory.mktemp("preview-live")
    (directory / "rollout").mkdir()
    with RolloutStore.create(directory / "rollout", plan_name="sark-rust-rollout", plan_digest="sha256:x") as store, \
            serve_metrics(directory / "rollout", 0, flags=FLAGS) as server:  # fmt: skip
        _step(store, 0, 25)
        argv = [sys.executable, "-m", "sloguard", "stack", "up", "--dir", str(directory / "stack"), "--rollout", "50",
                "--rules", str(RULES_FILE), "--rollout-metrics-port", str(server.port)]  # fmt: skip
        result = subprocess.run(argv, capture_output=True, text=True, timeout=180, env=stack_env())
        assert result.returncode == 0, result.stdout + result.stderr
        state = dict(json.loads((directory / "stack" / "stack.json").read_text()))
        try:
            prometheus = url(state, "prometheus")
            assert _wait(prometheus, f'up{{job="{ROLLOUT_SCRAPE_JOB}"}} == 1'), "the rollout was never scraped"
            load = Load(url(state, "service"), max_requests=1_000_000, max_seconds=150)
            others = OtherActions(url(state, "service"))
            load.start()
            others.start()
            time.sleep(12)
            start = time.time()  # rates need a few scrapes of traffic before the window opens
            # Grafana runs a Prometheus annotation query at a 60 s step (its default), aligned to the
            # minute: the step change must fall within $__rate_interval (20 s here) before a whole
            # minute inside the window for the annotation to show, as it would in Grafana.
            time.sleep((45 - time.time() % 60) % 60)
            _step(store, 1, 50)
            time.sleep(60 - time.time() % 60 + 4)
            load.stop()
            others.stop()
            assert others.sent > 100, others.sent
            assert load.by_implementation["rust"] > 50 and load.by_implementation["python"] > 50, load.by_implementation
            end = time.time()
            assert _wait(prometheus, "sloguard_rollout_step == 1")
            yield Live(state, Window(start, end), directory)
        finally:
            left = stack_down(directory / "stack", state)
            assert not left, f"processes left behind: {left}"


@pytest.fixture(scope="module")
def summaries(live: Live) -> list[DashboardSummary]:
    with PrometheusClient(live.prometheus) as client:
        return write_previews(load_directory(DASHBOARDS), client,
                              PreviewOptions(window=live.window, output_dir=live.directory / "api",
                                             prometheus_url=client.url))  # fmt: skip


def test_every_panel_of_every_committed_dashboard_has_data(summaries: list[DashboardSummary]) -> None:
    assert {s.path.name for s in summaries} == {p.with_suffix(".html").name for p in DASHBOARDS.glob("*.json")}
    problems = [f"{s.title}: {p.title}: {'; '.join(p.errors) or 'no data'}"
                for s in summaries for p in s.panels if p.needs_data and not p.has_data]  # fmt: skip
    assert not problems, "\n".join(problems)
    assert sum(s.drawn for s in summaries) >= 30
    nan = {s.title: [p.title for p in s.panels if p.nan_values] for s in summaries if s.nan_values}
    assert not nan, f"NaN values in {nan}"


def test_the_pages_show_grafanas_units_and_the_rollout_step(summaries: list[DashboardSummary]) -> None:
    pages = {s.path.stem: s.path.read_text(encoding="utf-8") for s in summaries}
    rust_vs_python = pages["sark-rust-vs-python"]
    assert re.search(r"Last \*: [\d.]+ (µs|ms) ", rust_vs_python), "latencies in µs or ms"
    assert re.search(r"Last \*: [\d.]+%", rust_vs_python), "ratios in %"
    assert re.search(r"[\d.]+K? req/s", pages["sark-load-run"]), "rates in req/s"
    assert 'class="annotation"' in rust_vs_python  # the rollout's step change, drawn on the charts
    assert "NaN" not in "".join(pages.values())
    assert "No data" not in "".join(pages.values())


def test_the_command_writes_one_page_per_dashboard_and_requires_data(live: Live) -> None:
    out = live.directory / "cli"
    result = run_sloguard("dashboards", "preview", "--prometheus", live.prometheus, "--from", f"{live.window.start}",
                          "--to", f"{live.window.end}", "-d", str(DASHBOARDS), "-o", str(out), timeout=120)  # fmt: skip
    assert result.returncode == 0, result.describe()
    lines = result.stdout.splitlines()
    assert len(lines) == len(list(DASHBOARDS.glob("*.json"))), result.describe()
    assert all(re.match(r"wrote \S+\.html \(\d+ panels, \d+ with data, 0 without, 0 NaN values\)$", x) for x in lines)
    # A variable set on the command line reaches the queries: only the Rust path's series remain.
    rust = run_sloguard("dashboards", "preview", "--prometheus", live.prometheus, "--from", f"{live.window.start}",
                        "--to", f"{live.window.end}", "-d", str(DASHBOARDS), "-o", str(out / "rust"),
                        "--var", "implementation=rust", "--allow-empty", timeout=120)  # fmt: skip
    assert rust.returncode == 0, rust.describe()
    page = (out / "rust" / "sark-rust-vs-python.html").read_text(encoding="utf-8")
    assert 'implementation=~&quot;rust&quot;' in page and "$implementation = rust" in page


def test_a_window_without_traffic_fails_unless_allowed(live: Live) -> None:
    # An hour before the stack started: Prometheus has nothing, so every panel is "No data" and the command fails.
    before = ["--from", f"{live.window.start - 7200}", "--to", f"{live.window.start - 3600}"]
    args = ["dashboards", "preview", "--prometheus", live.prometheus, *before, "-d", str(DASHBOARDS)]
    failed = run_sloguard(*args, "-o", str(live.directory / "empty"), timeout=120)
    assert failed.returncode == 1, failed.describe()
    assert "without data" in failed.stderr and "--allow-empty" in failed.stderr
    assert "No data" in (live.directory / "empty" / "sark-load-run.html").read_text(encoding="utf-8")


# Grafana's classic palette: the first two series' colours (#7EB26D green, #EAB839 yellow).
SERIES_RGB = ((0x7E, 0xB2, 0x6D), (0xEA, 0xB8, 0x39))


def test_each_preview_opens_in_chromium_without_console_errors_and_draws_its_series(
        summaries: list[DashboardSummary]) -> None:
    # Console messages with their level, uncaught exceptions and failed loads are errors; the screenshot
    # (kept beside the page) must show the series' colours, not a blank page.
    chromium = find_chromium()
    if chromium is None:
        pytest.skip("chromium is not installed (Debian package: chromium)")
    pages = sorted(s.path for s in summaries)
    assert len(pages) == len(list(DASHBOARDS.glob("*.json")))
    for page in pages:
        png = page.with_suffix(".png")
        report = render(page.as_uri(), png, width=1290, height=1000, full_page=True, binary=chromium)
        assert not report.errors, f"{page.name}: {report.errors}"
        assert png.stat().st_size > 10_000, f"{page.name}: a nearly empty screenshot"
        assert any(has_color(png, rgb) for rgb in SERIES_RGB), f"{page.name}: no series colour in {png}"
