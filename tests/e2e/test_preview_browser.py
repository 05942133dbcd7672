"""The previews in a real browser: headless Chromium opens each page, screenshots it and sees no console error.

The pages come from `sloguard dashboards preview` on a real stack with traffic (the demo's
dashboards, committed in dashboards/). Chromium is driven over the DevTools pipe
(tests/support/chromium.py): console messages with their level, uncaught exceptions and
failed loads are all errors here; a screenshot (kept in the test's tmp directory) must show
the panels drawn, i.e. the series' colours, not a blank page.
"""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from sloguard.conventions import BINARIES
from tests.support.chromium import find_chromium, render
from tests.support.clirun import run_sloguard
from tests.support.processes import find_binary, missing_binary_message
from tests.support.rulestack import Load, stack_down, stack_env, url

pytest.importorskip("regorus")
pytest.importorskip("uvicorn")

pytestmark = [pytest.mark.e2e]
for _key in ("redis", "prometheus", "alertmanager"):
    if find_binary(BINARIES[_key][0]) is None:
        pytestmark = [pytest.mark.e2e, pytest.mark.skip(reason=missing_binary_message(BINARIES[_key][0]))]

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = ROOT / "dashboards"
# Grafana's classic palette: the first two series' colours (#7EB26D green, #EAB839 yellow).
SERIES_RGB = ((0x7E, 0xB2, 0x6D), (0xEA, 0xB8, 0x39))


@pytest.fixture(scope="module")
def previews(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The previews of every committed dashboard over ~13 s of real traffic on a real stack."""
    directory = tmp_path_factory.mktemp("preview-browser")
    argv = [sys.executable, "-m", "sloguard", "stack", "up", "--dir", str(directory / "stack"), "--rollout", "50",
            "--rules", str(ROOT / "alerts" / "sark.rules.yml")]  # fmt: skip
    result = subprocess.run(argv, capture_output=True, text=True, timeout=180, env=stack_env())
    assert result.returncode == 0, result.stdout + result.stderr
    state = json.loads((directory / "stack" / "stack.json").read_text())
    try:
        load = Load(url(state, "service"), max_requests=100_000, max_seconds=25)
        load.start()
        time.sleep(12)  # the counters' first scrapes: rates exist from here on
        start = time.time()
        load.join(timeout=40)
        load.stop()
        # --allow-empty: without a rollout controller the rollout panels have nothing; they must still draw.
        preview = run_sloguard("dashboards", "preview", "--prometheus", url(state, "prometheus"), "--from",
                               f"{start}", "--to", f"{time.time()}", "-d", str(DASHBOARDS), "-o",
                               str(directory / "previews"), "--allow-empty", timeout=120)  # fmt: skip
        assert preview.returncode == 0, preview.describe()
    finally:
        left = stack_down(directory / "stack", state)
        assert not left, f"processes left behind: {left}"
    yield directory / "previews"


def _pixels(png: Path) -> tuple[int, int, bytes]:
    """Width, height and raw RGB(A) rows of a PNG (8-bit, no interlace, as Chromium writes them)."""
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks, header = 8, [], b""
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            chunks.append(body)
        pos += 12 + length
    width, height, depth, color_type = struct.unpack(">IIBB", header[:10])
    assert depth == 8 and color_type in (2, 6), (depth, color_type)
    return width, height, zlib.decompress(b"".join(chunks)) + bytes([color_type])


def _has_color(png: Path, rgb: tuple[int, int, int], tolerance: int = 12) -> bool:
    width, height, raw = _pixels(png)
    channels = 4 if raw[-1] == 6 else 3
    stride = width * channels + 1
    previous = bytearray(stride - 1)
    for row in range(height):
        line = raw[row * stride:(row + 1) * stride]
        kind, current = line[0], bytearray(line[1:])
        for i in range(len(current)):  # undo PNG's per-row filters
            left = current[i - channels] if i >= channels else 0
            up = previous[i]
            corner = previous[i - channels] if i >= channels else 0
            if kind == 1:
                current[i] = (current[i] + left) & 0xFF
            elif kind == 2:
                current[i] = (current[i] + up) & 0xFF
            elif kind == 3:
                current[i] = (current[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                current[i] = (current[i] + (left if pa <= pb and pa <= pc else up if pb <= pc else corner)) & 0xFF
        for x in range(0, len(current), channels):
            if all(abs(current[x + c] - rgb[c]) <= tolerance for c in range(3)):
                return True
        previous = current
    return False


def test_each_preview_opens_without_console_errors_and_draws_its_series(previews: Path) -> None:
    chromium = find_chromium()
    if chromium is None:
        pytest.skip("chromium is not installed (Debian package: chromium)")
    pages = sorted(previews.glob("*.html"))
    assert len(pages) == len(list(DASHBOARDS.glob("*.json")))
    for page in pages:
        png = previews / f"{page.stem}.png"
        report = render(page.as_uri(), png, width=1290, height=1000, full_page=True, binary=chromium)
        assert not report.errors, f"{page.name}: {report.errors}"
        assert png.stat().st_size > 10_000, f"{page.name}: a nearly empty screenshot"
        assert any(_has_color(png, rgb) for rgb in SERIES_RGB), f"{page.name}: no series colour in {png}"


def test_the_driver_reports_console_errors(tmp_path: Path) -> None:
    """The check above can fail: a page that logs an error and throws is reported as such."""
    chromium = find_chromium()
    if chromium is None:
        pytest.skip("chromium is not installed (Debian package: chromium)")
    bad = tmp_path / "bad.html"
    bad.write_text("<!DOCTYPE html><title>x</title><script>console.error('boom');"
                   "setTimeout(() => { throw new Error('late') }, 10)</script>")
    report = render(bad.as_uri(), tmp_path / "bad.png", binary=chromium)
    assert any("boom" in e for e in report.errors) and any("late" in e for e in report.errors), report.errors
