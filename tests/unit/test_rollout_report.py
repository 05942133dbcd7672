"""The performance report's rollout section, from a state directory written with rollout.state."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from sloguard.errors import UsageError
from sloguard.report.html import to_markdown
from sloguard.report.perfdoc import Chart, Report, Table
from sloguard.report.rollout import evidence_text, load_rollout, rollout_section
from sloguard.rollout.state import Kind, RolloutStore, Status
from tests.support.clirun import run_sloguard

FLAGS = ("rust_opa", "rust_cache")
T0 = 1_800_000_000.0
HARM = {"errorRatio": {"decision": "harm", "statistic": 4.2, "boundary": 3.35, "information": 0.4},
        "latency": {"decision": "continue", "statistic": 0.5, "boundary": 3.9},
        "window": {"start": T0 + 3602, "end": T0 + 7200}}  # fmt: skip


def move(store: RolloutStore, kind: Kind, step: int, percent: float, now: float, **extra: object) -> None:
    store.record(kind, step=step, percent=percent, flags=FLAGS, now=now, **extra)  # type: ignore[arg-type]
    store.record(Kind.INTENT, step=step, percent=percent, flags=FLAGS, now=now + 1)
    store.record(Kind.APPLIED, now=now + 2)


def rolled_back(directory: Path) -> None:
    """5 % for an hour, 10 % until a harmful error ratio, rolled back to 0 and held."""
    with RolloutStore.create(directory, plan_name="sark-rust-rollout", plan_digest="sha256:x", now=T0) as store:
        move(store, Kind.PROMOTE, 0, 5, T0)
        for minute in range(1, 60):
            store.record(Kind.LOOK, evidence={"errorRatio": {"decision": "continue"}}, now=T0 + 60 * minute)
        move(store, Kind.PROMOTE, 1, 10, T0 + 3600, reason="step 1 safe", evidence={"errorRatio": {"decision": "safe"}})
        store.record(Kind.LOOK, evidence=HARM, now=T0 + 7000)
        move(store, Kind.ROLLBACK, -1, 0, T0 + 7200, reason="error ratio: harm", evidence=HARM)
        store.record(Kind.HOLD, reason="after a rollback", status=Status.ROLLED_BACK, now=T0 + 7203)


def test_the_section_has_the_timeline_each_step_and_the_evidence_of_each_decision(tmp_path: Path) -> None:
    rolled_back(tmp_path)
    section = rollout_section(load_rollout(tmp_path))
    summary = section.blocks[0].text  # type: ignore[union-attr]
    assert "`sark-rust-rollout`: **ROLLED_BACK** at 0 % (no step, flag pass 1); after a rollback." in summary
    chart = next(b for b in section.blocks if isinstance(b, Chart))
    assert chart.key == "rollout-timeline"
    assert 'data-series="rust_opa"' in chart.svg and 'data-series="rust_cache"' in chart.svg
    steps, decisions = [b for b in section.blocks if isinstance(b, Table)]
    assert [row[:3] + row[5:7] for row in steps.rows] == [
        ["1.1", "5 %", "rust_opa, rust_cache", "59", "promote"],
        ["1.2", "10 %", "rust_opa, rust_cache", "1", "rollback"],
        ["1.0", "0 %", "rust_opa, rust_cache", "0", "hold"],
    ]
    assert [row[2] for row in decisions.rows] == ["promote", "promote", "rollback", "hold"]
    assert decisions.rows[2][7].startswith("errorRatio: harm (z 4.2 vs 3.35); latency: continue (z 0.5 vs 3.9)")


def test_evidence_text_is_one_bounded_line() -> None:
    controller_look = {  # the shape of controller.Look.evidence()
        "window": {"start": "2027-01-15T08:00:00Z", "end": "2027-01-15T09:00:00Z", "seconds": 3600},
        "events": {"rust": 120, "python": 2280},
        "gates": [
            {"objective": "authz-error-rate", "status": "fail"},
            {"objective": "opa-p95", "status": "pass"},
            {"objective": "cache-p95", "status": "no_data"},
        ],
        "errorRatio": {"decision": "harm", "statistic": 4.2, "boundary": 3.35},
        "reasons": ["error ratio: harm"],
        "promotable": False,
    }
    assert evidence_text(controller_look) == (
        "errorRatio: harm (z 4.2 vs 3.35); gates: 1 fail, 1 pass, 1 no_data (authz-error-rate, cache-p95); "
        "events: rust 120, python 2280; promotable False"
    )
    assert evidence_text({}) == "-"
    events = {"events": {"rust": 120, "python": 2280, "ratio": 0.052631}, "note": "x"}
    assert evidence_text(events) == "events: rust 120, python 2280, ratio 0.0526; note x"
    assert len(evidence_text({f"m{i}": {"decision": "continue", "statistic": 1.0} for i in range(50)})) == 240


def test_sloguard_report_with_rollout_adds_the_section_and_a_dir_without_one_is_a_usage_error(tmp_path: Path) -> None:
    rolled_back(tmp_path / "rollout")
    run = tmp_path / "run"
    run.mkdir()
    rows = [f"{T0 + i / 10:.3f},{T0 + i / 10:.3f},0.00{1 + i % 3},{'rust' if i % 2 else 'python'},200,read"
            for i in range(200)]  # fmt: skip
    (run / "latencies.csv").write_text(
        "intended_send_time,actual_send_time,latency_seconds,implementation,status,kind\n" + "\n".join(rows) + "\n"
    )
    (run / "run.json").write_text(json.dumps({
        "apiVersion": "sloguard/v1", "kind": "LoadRun", "profile": {"name": "unit"}, "mode": "open-loop",
        "window": {"start": T0, "end": T0 + 20, "seconds": 20}, "rate": {"requested": 10, "achieved": 10},
        "requests": {"completed": 200}, "errors": {"total": 0, "ratio": 0.0}, "rollout": {"observed_percent_rust": 50},
    }))  # fmt: skip
    result = run_sloguard("report", str(run), "--rollout", str(tmp_path / "rollout"), "-o", str(tmp_path / "out"))
    assert result.returncode == 0, result.describe()
    md = (tmp_path / "out" / "performance-report.md").read_text()
    titles = re.findall(r"^## (.+)$", md, re.M)
    assert titles[-2:] == ["Rollout", "Recommendations"]
    assert 'data-chart="rollout-timeline"' in (tmp_path / "out" / "performance-report.html").read_text()
    with pytest.raises(UsageError, match="no rollout recorded"):
        load_rollout(tmp_path / "run")
    assert to_markdown(Report("t", "now", [rollout_section(load_rollout(tmp_path / "rollout"))])).count("|") > 20


def test_sloguard_report_with_only_a_rollout_is_the_rollout_alone_and_with_nothing_is_exit_2(tmp_path: Path) -> None:
    rolled_back(tmp_path / "rollout")
    result = run_sloguard("report", "--rollout", str(tmp_path / "rollout"), "-o", str(tmp_path / "out"))
    assert result.returncode == 0, result.describe()
    md = (tmp_path / "out" / "performance-report.md").read_text()
    assert re.findall(r"^## (.+)$", md, re.M) == ["Rollout"]
    assert 'data-chart="rollout-timeline"' in (tmp_path / "out" / "performance-report.html").read_text()
    nothing = run_sloguard("report", "-o", str(tmp_path / "out2"))
    assert nothing.returncode == 2 and "nothing to report" in nothing.stderr, nothing.describe()
    assert "Traceback" not in nothing.stderr
