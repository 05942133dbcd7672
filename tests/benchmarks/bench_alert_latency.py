"""Benchmark: time from an injected error fault to the page, in Prometheus and at the webhook receiver.

Run:  .venv/bin/python -m tests.benchmarks.bench_alert_latency   [--trials 3]

One embedded stack (`sloguard stack up`) loads rules generated from sloguard.yaml with the
short windows of tests/data/rules/burn-windows-fast.yaml; steady traffic runs on both paths.
Each trial makes every Python-path evaluation fail, measures when Prometheus reports the
AuthzErrorRateBudgetBurn page as firing and when the webhook receiver gets it through the real
Alertmanager, then clears the fault and waits for the alert to resolve. Everything is on
127.0.0.1; processes are stopped by pid at the end.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `tests` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from click.testing import CliRunner

from sloguard.cli import cli
from sloguard.receiver import read_notifications
from tests.support.rulestack import Load, admin, query, stack_down, stack_up, url, wait

ROOT = Path(__file__).resolve().parents[2]
FAST_WINDOWS = ROOT / "tests" / "data" / "rules" / "burn-windows-fast.yaml"
ALERT = "AuthzErrorRateBudgetBurn"
FIRING = f'ALERTS{{alertname="{ALERT}",sloth_severity="page",implementation="python",alertstate="firing"}}'


def page_notifications(directory: Path, after: float) -> list[float]:
    times = []
    for entry in read_notifications(directory / "notifications.jsonl"):
        notification = entry["notification"]
        assert isinstance(notification, dict)
        for alert in notification.get("alerts", []):
            labels = alert.get("labels", {})
            wanted = {"alertname": ALERT, "sloth_severity": "page", "implementation": "python"}
            if (alert.get("status") == "firing" and all(labels.get(k) == v for k, v in wanted.items())
                    and float(entry["receivedAt"]) > after):
                times.append(float(entry["receivedAt"]))
    return times


def trial(directory: Path, state: dict[str, Any]) -> tuple[float, float]:
    prometheus = url(state, "prometheus")
    fault_at = time.time()
    admin(state, "PUT", "faults", {"errors": {"python": "100%"}}).raise_for_status()
    fired = wait(lambda: bool(query(prometheus, FIRING)[1]) and time.time(), 180)
    notified = wait(lambda: page_notifications(directory, fault_at), 180)
    admin(state, "DELETE", "faults").raise_for_status()
    if not fired or not notified:
        raise RuntimeError("the page did not fire within 180 s")
    # Let the burn clear (short windows) so the next trial starts from a resolved alert.
    if not wait(lambda: not query(prometheus, FIRING)[1], 240, interval=1):
        raise RuntimeError("the page did not resolve within 240 s")
    time.sleep(6)  # one more Alertmanager group interval, so the resolution is sent
    return float(fired) - fault_at, min(notified) - fault_at


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=3)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-alert-") as tmp:
        directory = Path(tmp)
        result = CliRunner().invoke(cli, ["rules", "generate", "-f", str(ROOT / "sloguard.yaml"),
                                          "-o", str(directory / "rules"), "--windows", str(FAST_WINDOWS)])
        if result.exit_code != 0:
            print(result.output)
            return 1
        state = stack_up(directory, sorted((directory / "rules").glob("*.rules.yml")))
        load = Load(url(state, "service"), max_requests=400_000, max_seconds=900, pause=0.01)
        rows = []
        try:
            load.start()
            ratio = 'slo:sli_error:ratio_rate30s{sloth_id="sark-authz-error-rate"}'
            wait(lambda: len(query(url(state, "prometheus"), ratio)[1]) >= 2, 60)
            for number in range(1, args.trials + 1):
                fired, notified = trial(directory, state)
                rows.append((number, fired, notified))
                print(f"trial {number}: firing in Prometheus after {fired:.1f} s, "
                      f"at the receiver after {notified:.1f} s", flush=True)
        finally:
            load.stop()
            left = stack_down(directory, state)
            if left:
                print(f"warning: processes left behind: {left}")
    print(f"\nerror fault -> page (windows {FAST_WINDOWS.name}, scrape/eval 5 s, group_wait 1 s)")
    print(f"{'trial':>5}  {'Prometheus firing (s)':>22}  {'receiver (s)':>13}  {'receiver / firing':>18}")
    for number, fired, notified in rows:
        print(f"{number:>5}  {fired:>22.1f}  {notified:>13.1f}  {notified / fired:>18.2f}")
    fired_median = statistics.median(r[1] for r in rows)
    notified_median = statistics.median(r[2] for r in rows)
    print(f"{'median':>5}  {fired_median:>22.1f}  {notified_median:>13.1f}  {notified_median / fired_median:>18.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
