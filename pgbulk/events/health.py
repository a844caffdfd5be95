"""A liveness endpoint for a relay run as a Cloud Run service.

Cloud Run starts an instance only once its container listens on ``$PORT`` and keeps
probing it; the relay itself serves no requests. ``GET /healthz`` answers 200 while
the relay runs and 503 once it stops. A blocked relay (401/403) is alive: restarting
it would not fix its credentials, and ``pgbulk events status`` says why it waits.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class HealthServer:
    """``GET /healthz`` on ``host:port`` in a daemon thread; ``alive()`` decides the answer."""

    def __init__(self, host: str, port: int, alive: Callable[[], bool]) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                ok = self.path.split("?")[0] == "/healthz" and alive()
                body = b"ok\n" if ok else b"unavailable\n"
                self.send_response(200 if ok else 503)
                self.send_header("content-type", "text/plain")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer((host, port), Handler)
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> HealthServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
