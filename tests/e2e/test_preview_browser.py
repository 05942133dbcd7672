"""The browser driver the preview tests use (tests/support/chromium.py): a page's console errors are caught.

The previews themselves are opened in headless Chromium by tests/integration/test_preview_live.py, on
the pages it writes from its real stack (one stack for both: it was two, and a minute of the suite).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.chromium import find_chromium, render

pytestmark = [pytest.mark.e2e]


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
