"""`sloguard dashboards preview` on the command line: bad input is one line and exit 2.

Exit 0 and 1 (every panel with data, a panel without) are tested on a real Prometheus:
tests/integration/test_preview_live.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from sloguard.cli import cli

DASHBOARD = {"title": "Tiny", "uid": "tiny", "templating": {"list": []}, "annotations": {"list": []},
             "panels": [{"type": "stat", "id": 1, "title": "Up", "gridPos": {"h": 4, "w": 6, "x": 0, "y": 0},
                         "targets": [{"expr": "up", "refId": "A", "instant": True}]}]}  # fmt: skip


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["dashboards", "preview", *args], env={"SLOGUARD_PROMETHEUS_URL": None})
    return result.exit_code, result.output


@pytest.fixture
def boards(tmp_path: Path) -> Path:
    directory = tmp_path / "boards"
    directory.mkdir()
    (directory / "tiny.json").write_text(json.dumps(DASHBOARD))
    return directory


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--last", "1h", "--from", "0"], "give one of --last, --from/--to or --run"),
        (["--last", "soon"], "--last 'soon'"),
        (["--to", "now"], "--to needs --from"),
        (["--from", "2026-01-01T00:00:00Z", "--to", "2025-01-01T00:00:00Z"], "must end after it starts"),
        (["--scrape-interval", "fast"], "--scrape-interval 'fast'"),
        (["-d", "/nonexistent-dir"], "no such dashboards directory"),
        (["--var", "novalue"], "expected NAME=VALUE"),
        (["--run", "/nonexistent/run.json"], "no such run file"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args: list[str], message: str, boards: Path) -> None:
    code, output = invoke("--prometheus", "http://127.0.0.1:9", "-d", str(boards), *args)
    assert code == 2, output
    assert message in output and len(output.strip().splitlines()) == 1, output


def test_an_unreachable_prometheus_is_exit_2(boards: Path, tmp_path: Path) -> None:
    # Port 9 (discard) on loopback: nothing listens, the connection is refused at once.
    code, output = invoke("--prometheus", "http://127.0.0.1:9", "-d", str(boards), "-o", str(tmp_path / "o"),
                          "--last", "5m")  # fmt: skip
    assert code == 2 and "could not connect" in output, output


def test_dashboards_generated_from_the_spec_are_read_as_grafana_json() -> None:
    """-f SPEC: the spec's dashboards in memory, the same files `dashboards generate` writes."""
    from sloguard.cli.preview import _generated
    from sloguard.preview import parse_files

    root = Path(__file__).resolve().parents[2]
    boards = parse_files(_generated(str(root / "sloguard.yaml")))  # provisioning files are left out
    assert sorted(b.source for b in boards) == sorted(p.name for p in (root / "dashboards").glob("*.json"))
    assert all(b.panels and any(p.targets for p in b.panels) for b in boards)
