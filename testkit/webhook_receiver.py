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
    """Record webhook POSTs; answer 503 to the first ones about a topic in `fail_topics`.

    With `drip_s` set, answer like a hostile receiver: a 200 whose body arrives one byte
    every `drip_s` seconds, so no single read ever times out.
    """

    DRIP_BYTES = 200

    def __init__(self) -> None:
        # topic -> how many deliveries about it still get a 503
        self.fail_topics: dict[str, int] = {}
        self.drip_s = 0.0
        self.received: list[Received] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver._lock:
                    receiver.received.append(Received(body, dict(self.headers), time.time()))
                    failing = receiver._take_failure(body)
                if receiver.drip_s:
                    self._drip(receiver.drip_s)
                    return
                self.send_response(503 if failing else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def _drip(self, interval: float) -> None:
                self.send_response(200)
                self.send_header("Content-Length", str(WebhookReceiver.DRIP_BYTES))
                self.end_headers()
                try:
                    for _ in range(WebhookReceiver.DRIP_BYTES):
                        self.wfile.write(b" ")
                        self.wfile.flush()
                        time.sleep(interval)
                except OSError:
                    pass  # the sender gave up: what a bounded delivery must do

            def log_message(self, *args) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/hooks/batchgen"

    def _take_failure(self, body: bytes) -> bool:
        try:
            topic = json.loads(body).get("payload", {}).get("topic")
        except ValueError:
            return False
        if self.fail_topics.get(topic, 0) > 0:
            self.fail_topics[topic] -= 1
            return True
        return False

    def start(self) -> WebhookReceiver:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def for_batch(self, batch_id: str) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.json.get("batchId") == batch_id]
