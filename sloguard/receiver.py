"""A webhook receiver for Alertmanager that appends every notification to a JSONL file.

Run as `python -m sloguard.receiver --port P --out FILE`; the embedded stack
routes Alertmanager here so tests and the demo can see which alerts fired and when.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

_lock = threading.Lock()


def make_handler(out: Path) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            try:
                payload = json.loads(body)
            except ValueError:
                self.send_error(400, "not JSON")
                return
            line = json.dumps({"receivedAt": time.time(), "path": self.path, "notification": payload})
            with _lock, open(out, "a", encoding="utf-8") as sink:
                sink.write(line + "\n")
            self.send_response(200)
            self.end_headers()

        def do_GET(self) -> None:
            self.send_response(200 if self.path == "/health" else 404)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


def read_notifications(path: Path) -> list[dict[str, object]]:
    """Every notification received so far (empty when none)."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    server = ThreadingHTTPServer((args.host, args.port), make_handler(args.out))
    server.serve_forever()


if __name__ == "__main__":
    main()
