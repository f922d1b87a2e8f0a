"""A webhook receiver on loopback that records every POST and can fail the first ones."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Received:
    body: bytes
    headers: dict[str, str]
    at: float

    @property
    def json(self) -> dict:
        return json.loads(self.body)


class WebhookReceiver:
    """Record webhook POSTs; answer `fail_first` of them with 503 before answering 200."""

    def __init__(self, fail_first: int = 0) -> None:
        self.fail_first = fail_first
        self.received: list[Received] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver._lock:
                    receiver.received.append(Received(body, dict(self.headers), time.time()))
                    failing = len(receiver.received) <= receiver.fail_first
                self.send_response(503 if failing else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/hooks/batchgen"

    def start(self) -> WebhookReceiver:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def for_batch(self, batch_id: str) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.json.get("batchId") == batch_id]
