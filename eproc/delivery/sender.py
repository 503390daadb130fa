"""One webhook POST: to the checked address, signed, within a deadline, reading a bounded answer.

Redirects are never followed (a 3xx is a failed attempt): a receiver that moved must be updated by
its owner, and following one could lead the hub anywhere, its own network included.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import ssl
import threading
import time
from dataclasses import dataclass

from eproc.delivery import signing
from eproc.delivery.targets import Target, TargetRefused, parse_url, resolve

# What is read of an answer: enough to leave the connection tidy, never a receiver's whole page.
MAX_ANSWER_BYTES = 64 * 1024
USER_AGENT = "eproc-webhooks/1"


@dataclass(frozen=True)
class Outcome:
    """What one attempt came to. ``status_code`` is None when no answer came."""

    status_code: int | None
    duration_ms: int
    error: str | None

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300 and self.error is None

    @property
    def gone(self) -> bool:
        return self.status_code == 410


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Connects to the address that was checked, not to a fresh resolution of the host name."""

    def __init__(self, target: Target, address: str, timeout: float) -> None:
        super().__init__(target.host, target.port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """TLS to the checked address, with the certificate verified against the host name."""

    def __init__(self, target: Target, address: str, timeout: float) -> None:
        super().__init__(target.host, target.port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self) -> None:
        raw = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(raw, server_hostname=self.host)  # type: ignore[attr-defined]


def _cut(connection: http.client.HTTPConnection) -> None:
    sock = connection.sock
    if sock is not None:
        with contextlib.suppress(OSError):  # already closed
            sock.shutdown(socket.SHUT_RDWR)


def post(
    url: str,
    secret: str,
    message_id: str,
    body: bytes,
    *,
    timeout: float,
    allow_private: bool,
    timestamp: int | None = None,
) -> Outcome:
    """POST ``body`` signed per Standard Webhooks; never raises for what the network does."""
    started = time.monotonic()

    def outcome(status: int | None, error: str | None) -> Outcome:
        return Outcome(status, int((time.monotonic() - started) * 1000), error)

    try:
        target = parse_url(url)
        address = resolve(target, allow_private)
    except TargetRefused as exc:
        return outcome(None, f"refused: {exc}")
    stamp = int(time.time()) if timestamp is None else timestamp
    headers = {
        "Host": target.host_header,
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "Connection": "close",
        **signing.headers(secret, message_id, stamp, body),
    }
    kind = _PinnedHTTPSConnection if target.scheme == "https" else _PinnedHTTPConnection
    connection = kind(target, address, timeout)
    # Socket timeouts bound each read, not the whole answer: a receiver dripping a byte at a time
    # could outlast the worker's lease, and the delivery would be sent twice at once. The
    # watchdog cuts the connection at the deadline whatever the receiver is doing.
    watchdog = threading.Timer(timeout, _cut, (connection,))
    watchdog.daemon = True
    watchdog.start()
    try:
        connection.request("POST", target.path, body=body, headers=headers)
        response = connection.getresponse()
        response.read(MAX_ANSWER_BYTES)
        status = response.status
    except TimeoutError:
        return outcome(None, f"no answer within {timeout:g} s")
    except (OSError, http.client.HTTPException) as exc:
        if time.monotonic() - started >= timeout:
            return outcome(None, f"no answer within {timeout:g} s")
        if isinstance(exc, ssl.SSLError):
            return outcome(None, f"TLS failed: {exc.reason or exc}")
        return outcome(None, f"{type(exc).__name__}: {exc}"[:300])
    finally:
        watchdog.cancel()
        connection.close()
    elapsed = time.monotonic() - started
    if elapsed > timeout:
        return outcome(status, f"no complete answer within {timeout:g} s")
    if 300 <= status < 400:
        return outcome(status, "redirect not followed: update the endpoint's URL")
    if not 200 <= status < 300:
        return outcome(status, f"answered {status}")
    return outcome(status, None)
