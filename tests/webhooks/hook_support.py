"""A webhook receiver for the tests: a real HTTP server on 127.0.0.1 (port 0) that records every
request and answers as the test tells it; the settings a webhook test runs with; a portal client.

(No conftest.py in this folder: a second module named ``conftest`` would shadow the one that
tests/accounts_return imports from.)"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import requests

# Retries at once (no jitter on 0), a short timeout, private targets allowed (the receiver is on
# loopback), and an idle worker that looks often.
FAST = {
    "EPROC_WEBHOOK_ALLOW_PRIVATE_TARGETS": "true",
    "EPROC_WEBHOOK_RETRY_SCHEDULE": "0,0,0",
    "EPROC_WEBHOOK_TIMEOUT_SECONDS": "2",
    "EPROC_WEBHOOK_LEASE_SECONDS": "5",
    "EPROC_WEBHOOK_POLL_MS": "50",
}


class _Server(ThreadingHTTPServer):
    # A backlog of 128, as real servers have: http.server's 5 drops the connections a worker opens
    # at once, and each dropped SYN costs a one-second retransmit.
    request_queue_size = 128
    daemon_threads = True


@dataclass
class Received:
    at: float  # time.monotonic()
    path: str
    headers: dict[str, str]  # names in lower case
    body: bytes


@dataclass
class Receiver:
    """``answer(n, request)`` gives the status for the n-th request (from 0); default 200."""

    answer: Callable[[int, Received], int] = lambda _n, _r: 200
    requests: list[Received] = field(default_factory=list)
    in_flight: dict[str, int] = field(default_factory=dict)
    overlaps: list[str] = field(default_factory=list)  # webhook-ids being handled twice at one moment
    delay: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _arrived: threading.Condition = field(init=False)
    server: ThreadingHTTPServer | None = None

    def __post_init__(self) -> None:
        self._arrived = threading.Condition(self._lock)

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                length = int(self.headers.get("Content-Length", "0"))
                request = Received(time.monotonic(), self.path, {k.lower(): v for k, v in self.headers.items()},
                                   self.rfile.read(length))
                message = request.headers.get("webhook-id", "")
                with receiver._lock:
                    number = len(receiver.requests)
                    receiver.requests.append(request)
                    receiver.in_flight[message] = receiver.in_flight.get(message, 0) + 1
                    if receiver.in_flight[message] > 1:
                        receiver.overlaps.append(message)
                    receiver._arrived.notify_all()
                try:
                    if receiver.delay:
                        time.sleep(receiver.delay)
                    status = receiver.answer(number, request)
                    self.send_response(status)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                finally:
                    with receiver._lock:
                        receiver.in_flight[message] -= 1

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

        self.server = _Server(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    def wait_for(self, count: int, timeout: float = 20) -> list[Received]:
        deadline = time.monotonic() + timeout
        with self._lock:
            while len(self.requests) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"the receiver got {len(self.requests)} requests, not {count}")
                self._arrived.wait(left)
            return list(self.requests)


@contextmanager
def running_receiver() -> Iterator[Receiver]:
    receiver = Receiver().start()
    try:
        yield receiver
    finally:
        receiver.stop()


@dataclass
class Portal:
    """A supplier portal calling the API over real HTTP with a bearer token."""

    base_url: str
    token: str

    def call(self, method: str, path: str, body: Any = None) -> requests.Response:
        return requests.request(method, f"{self.base_url}/api/v1{path}", json=body, timeout=30,
                                headers={"Authorization": f"Bearer {self.token}"})


def new_token(hub: Any, name: str, permissions: list[str], accounts: list[str] | None = None) -> str:
    from eproc.services import tokens

    return tokens.create_token(hub, name, permissions, accounts)[1]
