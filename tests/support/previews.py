"""What a demo's dashboard previews must show (issue 16): every panel drawn with data, no NaN, Grafana's units."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

PREVIEWED = {"sark-rust-vs-python", "sark-slo-overview"}
# The Rust-vs-Python dashboard's rollout row: data only while `sloguard rollout` serves its metrics.
ROLLOUT_PANELS = ("Rust rollout", "Rust rollout decisions")


def assert_previews_drawn_with_data(previews: Path, stdout: str, *, without: Sequence[str] = ()) -> None:
    """Both pages written; every panel but `without` (titles, on Rust vs Python) drawn with data; no NaN; units."""
    pages = {path.stem: path.read_text(encoding="utf-8") for path in previews.glob("*.html")}
    assert set(pages) == PREVIEWED, sorted(pages)
    words = " ".join(stdout.split())
    for name in pages:
        expected = list(without) if name == "sark-rust-vs-python" else []
        found = re.search(rf"{name}\.html \((\d+) panels, (\d+) with data, (\d+) without, (\d+) NaN values"
                          rf"(?:; no data: ([^)]*))?\)", words)
        assert found, f"no summary line for {name}: {words[-2000:]}"
        drawn, with_data, missing, nan = map(int, found.groups()[:4])
        assert nan == 0 and drawn >= with_data >= 10, found.group(0)
        assert missing == len(expected) and sorted((found.group(5) or "").split(", ") if missing else []) == sorted(
            expected), found.group(0)
        page = pages[name]
        assert page.count(">No data<") == len(expected) and "NaN" not in page, name
        assert re.search(r"Last \*: [\d.]+%", page), f"{name}: ratios in %"
    rust_vs_python = pages["sark-rust-vs-python"]
    assert re.search(r"Last \*: [\d.]+ (µs|ms) ", rust_vs_python), "latencies in µs or ms"
    assert re.search(r"Last \*: [\d.]+K? req/s", rust_vs_python), "rates in req/s"
