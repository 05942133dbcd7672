"""`sloguard report` on real runs: a real demo run (stack, load, check), a soak and a stress run against a real stack.

Checks every section and chart is present and carries data, that the numbers are the
runs' own (recomputed here from the raw files), and renders the page with headless
Chromium to a PNG whose pixels must show the implementations' chart colours.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from sloguard.conventions import BINARIES
from tests.support.clirun import run_sloguard
from tests.support.processes import find_binary, missing_binary_message

pytestmark = pytest.mark.e2e

for _key in ("redis", "prometheus", "alertmanager"):
    if find_binary(BINARIES[_key][0]) is None:
        pytestmark = [pytest.mark.e2e, pytest.mark.skip(reason=missing_binary_message(BINARIES[_key][0]))]

SECTIONS = ("Executive summary", "Methodology and environment", "Policy engine", "Cache", "End-to-end", "Load",
            "Stress", "Memory", "Bottlenecks", "Recommendations")  # fmt: skip
CHARTS = ("latency-percentiles", "latency-cdf", "throughput", "error-ratio", "memory", "error-budget", "stress")
RUST_RGB, PYTHON_RGB = (0xD9, 0x48, 0x0F), (0x1C, 0x7E, 0xD6)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real demo run, then a soak and a stress run against a stack of our own (stopped by pid)."""
    root = tmp_path_factory.mktemp("perf")
    demo = subprocess.run([sys.executable, "-m", "sloguard", "demo", "--output-dir", str(root / "demo"),
                           "--duration", "12s"], capture_output=True, text=True, timeout=600)  # fmt: skip
    assert (root / "demo" / "reports" / "sloguard-report.json").exists(), demo.stdout[-3000:] + demo.stderr[-3000:]
    up = run_sloguard("stack", "up", "--dir", str(root / "stack"), "--rollout", "50", timeout=180)
    try:
        assert up.returncode == 0, up.describe()
        host = json.loads((root / "stack" / "stack.json").read_text())["components"]["service"]["url"]
        soak = run_sloguard("soak", "--host", host, "--duration", "15s", "--sample", "1s", "--warmup", "1s",
                            "--rate", "100", "--output-dir", str(root / "soak"), "--no-progress", timeout=180)
        assert (root / "soak" / "soak.json").exists(), soak.describe()
        # A generous p95 bound: the steps must hold on a busy 2-core machine for the table to have rows.
        stress = run_sloguard("stress", "--host", host, "--start", "100", "--step", "300", "--max", "700",
                              "--p95-max", "0.5", "--step-duration", "3s", "--output-dir", str(root / "stress"),
                              "--no-progress",
                              timeout=240)  # fmt: skip
        assert (root / "stress" / "stress.json").exists(), stress.describe()
    finally:
        run_sloguard("stack", "down", "--dir", str(root / "stack"), timeout=120)
    return root


@pytest.fixture(scope="module")
def report(runs: Path) -> Path:
    out = runs / "out"
    res = run_sloguard("report", str(runs / "demo"), str(runs / "soak"), str(runs / "stress"), "-o", str(out))
    assert res.returncode == 0, res.describe()
    return out


def figures(html: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for key, body in re.findall(r'<figure class="chart" data-chart="([a-z-]+)">(.*?)</figure>', html, re.S):
        found.setdefault(key, []).append(body)
    return found


def test_every_section_in_order_in_html_and_markdown(report: Path) -> None:
    md = (report / "performance-report.md").read_text()
    html = (report / "performance-report.html").read_text()
    assert re.findall(r"^## (.+)$", md, re.M) == list(SECTIONS)
    assert re.findall(r"<h2>(.+?)</h2>", html) == list(SECTIONS)
    # Self-contained: no external resources.
    assert not re.search(r'<(script|link|img)[^>]+(src|href)="(http|//)', html)
    assert "No data" not in md, "every section has data from these runs"


def test_every_chart_is_present_and_draws_data(report: Path) -> None:
    charts = figures((report / "performance-report.html").read_text())
    assert set(CHARTS) <= set(charts), set(CHARTS) - set(charts)
    for key in CHARTS:
        for body in charts[key]:
            assert "no data" not in body, key
            points = re.findall(r'points="([^"]+)"', body)
            drawn = sum(len(p.split()) for p in points) + body.count('class="bar"') + body.count("<circle")
            assert drawn >= 2, key
    series = " ".join(charts["latency-percentiles"])
    for name in ("rust p50", "rust p95", "python p50", "python p95"):
        assert f'data-series="{name}"' in series


def order_stat(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[max(0, math.ceil(q * len(values)) - 1)]


def test_numbers_come_from_the_runs(runs: Path, report: Path) -> None:
    md = (report / "performance-report.md").read_text()
    lat: dict[str, list[float]] = {}
    lines = (runs / "demo" / "run" / "latencies.csv").read_text().splitlines()
    header = lines[0].split(",")
    for line in lines[1:]:
        row = dict(zip(header, line.split(","), strict=True))
        lat.setdefault(row["implementation"], []).append(float(row["latency_seconds"]))
    for impl, values in lat.items():
        cells = f"| {impl} | {len(values)} | {order_stat(values, 0.5) * 1000:.3f} ms | " \
                f"{order_stat(values, 0.95) * 1000:.3f} ms | {order_stat(values, 0.99) * 1000:.3f} ms |"
        assert cells in md, cells
    run = json.loads((runs / "demo" / "run" / "run.json").read_text())
    assert f"{run['rate']['achieved']:,.1f}" in md
    check = json.loads((runs / "demo" / "reports" / "sloguard-report.json").read_text())
    opa = next(o for o in check["objectives"] if o["name"] == "opa-p95-latency" and o["value"] is not None)
    assert f"{opa['value'] * 1000:.3f} ms" in md.split("## Policy engine")[1].split("## Cache")[0]
    soak = json.loads((runs / "soak" / "soak.json").read_text())
    assert f"{soak['memory']['samples']} RSS samples" in md
    stress = json.loads((runs / "stress" / "stress.json").read_text())
    assert len(stress["steps"]) >= 2
    stress_md = md.split("## Stress")[1].split("## Memory")[0]
    for step in stress["steps"]:
        assert f"| {step['rate']:,.0f} | {step['achieved_rate']:,.1f} |" in stress_md


def test_a_section_without_data_says_so(runs: Path, tmp_path: Path) -> None:
    res = run_sloguard("report", str(runs / "demo"), "-o", str(tmp_path))
    assert res.returncode == 0, res.describe()
    md = (tmp_path / "performance-report.md").read_text()
    for section, what in (("Stress", "no stress result"), ("Memory", "no RSS samples over time")):
        body = md.split(f"## {section}\n")[1].split("\n## ")[0]
        assert body.strip().startswith(f"**No data:** {what}"), section


def png_pixels(path: Path) -> tuple[int, int, list[bytes]]:
    """Decode an 8-bit RGB/RGBA non-interlaced PNG (what Chromium writes) to rows of pixel bytes."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width = 8, b"", 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, color_type, _, _, interlace = struct.unpack(">IIBBBBB", chunk)
            assert depth == 8 and color_type in (2, 6) and interlace == 0
            bpp = 3 if color_type == 2 else 4
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows, prev = [], bytearray(stride)
    for y in range(height):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return width, bpp, rows


def count_colour(rows: list[bytes], bpp: int, rgb: tuple[int, int, int]) -> int:
    target = bytes(rgb)
    return sum(sum(1 for i in range(0, len(r), bpp) if r[i:i + 3] == target) for r in rows)


def test_the_rendered_page_shows_the_charts(report: Path) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("chromium is not installed (Debian package: chromium)")
    png = report / "performance-report.png"
    subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
                    f"--screenshot={png}", "--window-size=1100,6000", (report / "performance-report.html").as_uri()],
                   capture_output=True, timeout=120, check=False)  # fmt: skip
    assert png.exists() and png.stat().st_size > 20000
    _, bpp, rows = png_pixels(png)
    # Lines of both implementations are drawn in their exact colours. The legend swatches alone are
    # about 250 px per colour (4 legends, 22x3 px each) and anti-aliased line edges do not match, so
    # 800 exact pixels means the data lines themselves were painted.
    assert count_colour(rows, bpp, RUST_RGB) > 800
    assert count_colour(rows, bpp, PYTHON_RGB) > 800
