"""Headless Chromium driven over the DevTools protocol on --remote-debugging-pipe: stdlib only.

Chromium reads NUL-terminated JSON commands on fd 3 and writes replies and events on fd 4, so
no websocket package and no port are needed. `render(url, png)` loads a page, waits for its
load event, takes a screenshot at an exact viewport and reports every console message (with
its level), uncaught exception and Log-domain entry (failed loads, CSP, ...). The browser is
stopped by its own pid.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import select
import shutil
import struct
import subprocess
import tempfile
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars"]  # fmt: skip


def find_chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@dataclass
class PageReport:
    loaded: bool
    console: list[dict[str, str]] = field(default_factory=list)
    exceptions: list[dict[str, Any]] = field(default_factory=list)
    log: list[dict[str, Any]] = field(default_factory=list)

    @property
    def errors(self) -> list[str]:
        """Console errors and warnings, exceptions and error log entries: what a clean page has none of."""
        out = [f"console.{c['level']}: {c['text']}" for c in self.console if c["level"] in ("error", "warning")]
        out += [f"exception: {e['text']}" for e in self.exceptions]
        out += [f"log {e['source']}/{e['level']}: {e['text']} {e.get('url') or ''}".strip()
                for e in self.log if e["level"] in ("error", "warning")]  # fmt: skip
        if not self.loaded:
            out.append("the page never fired its load event")
        return out


def _as_fds_3_4(read_end: int, write_end: int) -> None:
    """In the child: Chromium's pipe protocol wants its input on fd 3 and its output on fd 4."""
    r, w = os.dup(read_end), os.dup(write_end)  # out of the way first, so 3/4 cannot clobber each other
    os.dup2(r, 3)
    os.dup2(w, 4)


class Chromium:
    """One headless browser; use as a context manager."""

    def __init__(self, binary: str, width: int, height: int) -> None:
        self.profile = tempfile.TemporaryDirectory(prefix="chromium-profile-")
        to_chrome_r, self._to_chrome_w = os.pipe()
        self._from_chrome_r, from_chrome_w = os.pipe()
        self.proc = subprocess.Popen(
            [binary, *FLAGS, f"--user-data-dir={self.profile.name}", f"--window-size={width},{height}",
             "--remote-debugging-pipe", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            pass_fds=(3, 4),  # kept open across exec; preexec_fn below puts the pipe ends there
            preexec_fn=lambda: _as_fds_3_4(to_chrome_r, from_chrome_w),
        )  # fmt: skip
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self._buf = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []

    def __enter__(self) -> Chromium:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _read(self, timeout: float) -> dict[str, Any] | None:
        deadline = time.monotonic() + timeout
        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._from_chrome_r], [], [], left)[0]:
                return None
            chunk = os.read(self._from_chrome_r, 1 << 20)
            if not chunk:
                raise RuntimeError("chromium closed the DevTools pipe")
            self._buf += chunk
        raw, self._buf = self._buf.split(b"\0", 1)
        message: dict[str, Any] = json.loads(raw)
        return message

    def send(self, method: str, params: dict[str, Any] | None = None, session: str | None = None,
             timeout: float = 30) -> dict[str, Any]:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._to_chrome_w, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read(deadline - time.monotonic())
            if reply is None:
                raise TimeoutError(f"chromium did not answer {method} within {timeout:g} s")
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                result: dict[str, Any] = reply.get("result", {})
                return result
            self.events.append(reply)

    def pump(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            event = self._read(left)
            if event is not None:
                self.events.append(event)

    def wait_for(self, method: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not any(e.get("method") == method for e in self.events):
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            event = self._read(left)
            if event is not None:
                self.events.append(event)
        return True

    def close(self) -> None:
        with contextlib.suppress(OSError, RuntimeError, TimeoutError):
            self.send("Browser.close", timeout=5)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()  # only the process we started
            self.proc.wait()
        for fd in (self._to_chrome_w, self._from_chrome_r):
            with contextlib.suppress(OSError):
                os.close(fd)
        self.profile.cleanup()


def render(url: str, png: Path, *, width: int = 1280, height: int = 800, settle: float = 0.5,
           full_page: bool = False, binary: str | None = None) -> PageReport:
    """Load `url`, screenshot it to `png` (the whole page when `full_page`), and report what it logged."""
    chromium = binary or find_chromium()
    if chromium is None:
        raise FileNotFoundError("chromium is not installed")
    with Chromium(chromium, width, height) as browser:
        target = browser.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = browser.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            browser.send(f"{domain}.enable", session=session)
        browser.send("Emulation.setDeviceMetricsOverride",
                     {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False}, session=session)
        browser.send("Page.navigate", {"url": url}, session=session)
        loaded = browser.wait_for("Page.loadEventFired", timeout=30)
        browser.pump(settle)
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            metrics = browser.send("Page.getLayoutMetrics", session=session)
            size = metrics.get("cssContentSize") or metrics["contentSize"]
            params.update(captureBeyondViewport=True,
                          clip={"x": 0, "y": 0, "width": width, "height": min(int(size["height"]) + 1, 16000),
                                "scale": 1})  # fmt: skip
        shot = browser.send("Page.captureScreenshot", params, session=session)
        png.write_bytes(base64.b64decode(shot["data"]))
    report = PageReport(loaded)
    for event in browser.events:
        p = event.get("params", {})
        if event.get("method") == "Runtime.consoleAPICalled":
            text = " ".join(str(a.get("value", a.get("description", ""))) for a in p.get("args", []))
            report.console.append({"level": str(p.get("type")), "text": text})
        elif event.get("method") == "Runtime.exceptionThrown":
            details = p.get("exceptionDetails", {})
            report.exceptions.append({"text": details.get("exception", {}).get("description") or details.get("text"),
                                      "url": details.get("url"), "line": details.get("lineNumber")})
        elif event.get("method") == "Log.entryAdded":
            entry = p.get("entry", {})
            report.log.append({"level": entry.get("level"), "source": entry.get("source"),
                               "text": entry.get("text"), "url": entry.get("url")})
    return report


# ---- reading a screenshot: whether a colour was drawn at all ------------------------------------


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


def has_color(png: Path, rgb: tuple[int, int, int], tolerance: int = 12) -> bool:
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
