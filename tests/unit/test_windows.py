"""Burn-rate windows files: built-in and user files, durations, one-line errors naming the file."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from sloguard.errors import UsageError
from sloguard.spec.loader import load_spec
from sloguard.spec.windows import Duration, load_windows, resolve_windows, windows_for

ROOT = Path(__file__).resolve().parents[2]
FAST = ROOT / "tests" / "data" / "rules" / "burn-windows-fast.yaml"
SPEC = """apiVersion: sloguard/v1
kind: SLOSet
metadata: {name: t}
spec:
  service: svc
  objectives:
    - name: errs
      sli: {errorRatio: {errors: 'req_total{code="500"}', total: req_total}}
      objective: {max: 0.001}
"""


def test_windows_from_the_spec_resolve_relative_to_the_spec(tmp_path: Path) -> None:
    (tmp_path / "w.yaml").write_text(FAST.read_text())
    spec_file = tmp_path / "s.yaml"
    spec_file.write_text(SPEC + "  alerting: {windows: w.yaml}\n")
    slo_set = load_spec(spec_file)
    assert windows_for(slo_set, None).name == "fast"
    assert windows_for(slo_set, "google").name == "google"


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.update(kind="Other"), "kind BurnRateWindows"),
        (lambda d: d["page"].append({"long": "5m", "short": "1h", "factor": 2}), "short must be shorter"),
        (lambda d: d["ticket"][0].update(long="1x"), "invalid duration"),
        (lambda d: d.pop("threshold"), "threshold"),
    ],
)
def test_bad_windows_files_name_the_file(tmp_path: Path, mutate, message: str) -> None:
    doc = yaml.safe_load(FAST.read_text())
    mutate(doc)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(UsageError, match=message) as info:
        load_windows(path)
    assert str(path) in str(info.value)


def test_unknown_windows_name_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="not a built-in name"):
        resolve_windows("no-such-windows")


def test_google_defaults_are_the_workbook_table() -> None:
    windows = load_windows(resolve_windows("google"))
    assert [(w.long, w.short, w.factor) for w in windows.page] == [("1h", "5m", 14.4), ("6h", "30m", 6.0)]
    assert [(w.long, w.short, w.factor) for w in windows.ticket] == [("1d", "2h", 3.0), ("3d", "6h", 1.0)]
    assert windows.period == "30d"


def test_durations_print_as_written_and_know_their_seconds() -> None:
    windows = load_windows(FAST)
    assert windows.period == "1h" and windows.period.seconds == 3600
    assert f"rate{windows.page[0].short}" == "rate30s" and windows.page[0].short.seconds == 30
    assert windows.ratio_windows() == ["30s", "1m", "2m", "5m", "10m"]
    assert windows.short_windows() == ["30s", "1m", "2m"]
    assert windows.threshold_for.seconds == 0  # `for: 0s` is allowed where the file says how long to wait
    with pytest.raises(ValueError, match="must be longer than zero"):
        Duration("0s")


def test_a_file_is_parsed_once_and_again_when_it_changes(tmp_path: Path) -> None:
    path = tmp_path / "w.yaml"
    path.write_text(FAST.read_text())
    assert load_windows(path) is load_windows(path)
    path.write_text(FAST.read_text().replace("name: fast", "name: faster"))
    assert load_windows(path).name == "faster"
