"""End to end: an injected error fault pages through the real Prometheus and Alertmanager.

The stack loads rules generated from sloguard.yaml with the short windows of
tests/data/rules/burn-windows-fast.yaml (page: 1m/30s x14.4, 2m/1m x6); the committed
alerts/ are not touched. With steady traffic on both paths, every Python-path evaluation is
made to fail; the AuthzErrorRateBudgetBurn page for implementation=python must reach the
webhook receiver. The time from the fault to the notification is measured and printed (and
written to the test's directory as alert-latency.json); it is not asserted: the machine is shared.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from sloguard.cli import cli
from sloguard.conventions import BINARIES
from sloguard.receiver import read_notifications
from tests.support.processes import find_binary, missing_binary_message
from tests.support.rulestack import Load, admin, query, stack_down, stack_up, url, wait

pytest.importorskip("regorus")
pytest.importorskip("uvicorn")

pytestmark = pytest.mark.e2e
for _key in ("redis", "prometheus", "alertmanager"):
    if find_binary(BINARIES[_key][0]) is None:
        pytestmark = [pytest.mark.e2e, pytest.mark.skip(reason=missing_binary_message(BINARIES[_key][0]))]

ROOT = Path(__file__).resolve().parents[2]
FAST_WINDOWS = ROOT / "tests" / "data" / "rules" / "burn-windows-fast.yaml"
ALERT = "AuthzErrorRateBudgetBurn"
WARMUP_TIMEOUT = 60.0
NOTIFY_TIMEOUT = 120.0


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, Any], Load]]:
    directory = tmp_path_factory.mktemp("alert-e2e")
    rules_dir = directory / "rules"
    result = CliRunner().invoke(cli, ["rules", "generate", "-f", str(ROOT / "sloguard.yaml"), "-o", str(rules_dir),
                                      "--windows", str(FAST_WINDOWS)])
    assert result.exit_code == 0, result.output
    state = stack_up(directory, sorted(rules_dir.glob("*.rules.yml")))
    load = Load(url(state, "service"), max_requests=40000, max_seconds=150, pause=0.01)
    try:
        load.start()
        yield directory, state, load
    finally:
        load.stop()
        left = stack_down(directory, state)
        assert not left, f"processes left behind: {left}"


def pages(directory: Path, implementation: str) -> list[dict[str, Any]]:
    """Firing page notifications of ALERT for one implementation, with the time the receiver got them."""
    found = []
    for entry in read_notifications(directory / "notifications.jsonl"):
        notification = entry["notification"]
        assert isinstance(notification, dict)
        for alert in notification.get("alerts", []):
            labels = alert.get("labels", {})
            if (alert.get("status") == "firing" and labels.get("alertname") == ALERT
                    and labels.get("sloth_severity") == "page" and labels.get("implementation") == implementation):
                found.append({"receivedAt": entry["receivedAt"], "receiver": notification.get("receiver"),
                              "labels": labels, "annotations": alert.get("annotations", {})})
    return found


def test_error_fault_pages_through_alertmanager_and_page_inhibits_ticket(
    stack: tuple[Path, dict[str, Any], Load], capsys: pytest.CaptureFixture[str]
) -> None:
    directory, state, load = stack
    prometheus = url(state, "prometheus")
    ratio = 'slo:sli_error:ratio_rate30s{sloth_id="sark-authz-error-rate"}'

    def both_paths_recorded() -> bool:
        _, result = query(prometheus, ratio)
        return {r["metric"].get("implementation") for r in result} >= {"rust", "python"}

    recorded = wait(both_paths_recorded, WARMUP_TIMEOUT, interval=0.5)
    assert recorded, "no error ratio recorded for both paths before the fault"
    assert not pages(directory, "python"), "paged before any fault"

    response = admin(state, "PUT", "faults", {"errors": {"python": "100%"}})
    assert response.status_code == 200, response.text
    fault_at = time.time()
    found = wait(lambda: pages(directory, "python"), NOTIFY_TIMEOUT, interval=0.5)
    assert found, f"no page for python within {NOTIFY_TIMEOUT:.0f} s; load {dict(load.statuses)}"
    page = found[0]
    seconds = page["receivedAt"] - fault_at
    assert page["receiver"] == "page"
    assert page["labels"]["sloth_slo"] == "authz-error-rate" and page["labels"]["implementation"] == "python"
    # Sloth's summary, with the labels filled in by Prometheus.
    assert page["annotations"]["summary"] == "sark authz-error-rate SLO error budget burn rate is over expected."
    (directory / "alert-latency.json").write_text(json.dumps(
        {"fault_to_notification_seconds": round(seconds, 2), "windows": FAST_WINDOWS.name, "alert": ALERT}
    ) + "\n")
    with capsys.disabled():
        print(f"\n[alert e2e] error fault -> page at the webhook receiver in {seconds:.1f} s "
              f"(windows {FAST_WINDOWS.name}; scrape and rule interval 5 s)")
    assert not pages(directory, "rust"), "the healthy Rust path paged"

    # The ticket of the same SLO and path fires too (5m/1m x3), but Alertmanager inhibits it.
    alertmanager = url(state, "alertmanager")

    def ticket_inhibited() -> bool:
        alerts = httpx.get(f"{alertmanager}/api/v2/alerts", params={"inhibited": "true"}, timeout=5).json()
        return any(a["labels"].get("alertname") == ALERT and a["labels"].get("sloth_severity") == "ticket"
                   and a["labels"].get("implementation") == "python" and a["status"]["inhibitedBy"] for a in alerts)

    assert wait(ticket_inhibited, 60, interval=0.5), "the python ticket was never inhibited by its page"
    admin(state, "DELETE", "faults")
