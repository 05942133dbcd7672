"""A small HTTP server on loopback whose answers a test scripts: a misbehaving backend.

For behaviour we cannot get from a real Prometheus on demand (5xx, garbage, hangs) and to
record exactly which headers a client sent. Anything a real Prometheus can do is tested
against the real one.
"""

from __future__ import annotations

import json
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class RecordedRequest:
    method: str
    path: str
    params: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: bytes = b""
    extra: dict[str, Any] = field(default_factory=dict)


Answer = tuple[int, dict[str, str], bytes | str]
Responder = Callable[[RecordedRequest], Answer]


def json_answer(payload: Any, status: int = 200) -> Answer:
    return status, {"Content-Type": "application/json"}, json.dumps(payload)


def prom_vector(samples: list[tuple[dict[str, str], str]], at: float = 0.0) -> Answer:
    """A Prometheus success answer with an instant vector."""
    result = [{"metric": labels, "value": [at, value]} for labels, value in samples]
    return json_answer({"status": "success", "data": {"resultType": "vector", "result": result}})


def prom_buildinfo() -> Answer:
    return json_answer({"status": "success", "data": {"version": "2.42.0-fake"}})


class _QuietServer(ThreadingHTTPServer):
    """Clients that give up (timeouts, failed TLS handshakes) are part of the tests, not errors to print."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        return


class FakeHTTPServer:
    """ThreadingHTTPServer on 127.0.0.1:<free port>; every request is recorded, then answered."""

    def __init__(self, responder: Responder, ssl_context: ssl.SSLContext | None = None) -> None:
        self.responder = responder
        self.requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                params = {k: v[-1] for k, v in parse_qs(parts.query).items()}
                if self.headers.get("Content-Type", "").startswith("application/x-www-form-urlencoded"):
                    params.update({k: v[-1] for k, v in parse_qs(body.decode()).items()})
                request = RecordedRequest(
                    self.command, parts.path, params, {k.lower(): v for k, v in self.headers.items()}, body
                )
                with owner._lock:
                    owner.requests.append(request)
                status, headers, content = owner.responder(request)
                data = content.encode() if isinstance(content, str) else content
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = _handle
            do_POST = _handle
            do_PUT = _handle

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = _QuietServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        if ssl_context is not None:
            self._server.socket = ssl_context.wrap_socket(self._server.socket, server_side=True)
        self.port = int(self._server.server_address[1])
        scheme = "https" if ssl_context is not None else "http"
        self.url = f"{scheme}://127.0.0.1:{self.port}"
        # A short poll interval keeps shutdown() (which waits for the next poll) from costing 0.5 s a test.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-http", daemon=True
        )

    def start(self) -> FakeHTTPServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FakeHTTPServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
