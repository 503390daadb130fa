"""The buffering front: a gunicorn worker that reads each request whole before the application sees it.

gunicorn's sync worker gives a connection to the application the moment it is accepted, and the
application then waits on the socket: two clients that send their headers a byte every few seconds
held both workers of ``eproc serve --workers 2`` and every FMS call timed out (issue 11). Here each
worker process has two threads:

* the *front* (the worker's main thread) accepts connections, completes TLS handshakes and reads
  requests without blocking, all connections at once from one selector, with a deadline for the
  headers, a limit on the wait for body bytes and a limit on open connections. Only a request that
  has arrived whole is queued;
* the *application thread* takes whole requests from the queue and answers them through gunicorn's
  own request handling (so responses are byte for byte those of the sync worker), one at a time:
  SOAP is CPU-bound Python under the GIL, so the parallelism stays one process per worker.

``/health`` and ``/health/ready`` are answered by a third, small thread, so that a probe is not
queued behind a call that waits on a hung database.

A worker accepts new connections only while its application thread is idle (or the connections it
holds are still arriving): with several workers on one listening socket a busy worker leaves the
next caller to an idle one, as the sync worker does, instead of queueing it behind its own call.
Once its call has taken longer than ``STUCK_AFTER_SECONDS`` it accepts again: when every worker
waits on a database that does not answer, ``/health`` and ``/health/ready`` are still answered (a
call accepted then waits behind the stuck one instead of in the listening socket's backlog).

The portal API's connections are kept alive (HTTP/1.1 persistent connections, as a portal's HTTP
client reuses them): once answered, a connection goes back to the front, which waits gunicorn's
``keepalive`` seconds (2 by default) for its next request, then closes it; the next request then has
the usual header deadline. Bytes a client sent ahead (pipelining) are kept for its next request.
The SOAP endpoint and everything else answer ``Connection: close`` as before.
"""

from __future__ import annotations

import collections
import contextlib
import errno
import os
import queue
import re
import selectors
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from gunicorn import http, sock, util
from gunicorn.http import wsgi
from gunicorn.workers.sync import SyncWorker

from eproc import affinity
from eproc.web import SHED_KEY

HEADER_END = b"\r\n\r\n"
READ_SIZE = 256 * 1024
BAD_REQUEST = b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
REQUEST_TIMEOUT = b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
# A call running longer than this no longer keeps its worker from accepting (see the module's text);
# FMS calls take milliseconds, a large FetchDoc a few hundred.
STUCK_AFTER_SECONDS = 0.5
HEALTH_PATHS = (b"/health", b"/health/", b"/health/ready", b"/health/ready/")
_EXPECT_LINE = re.compile(rb"(?<=\r\n)expect:[^\r\n]*\r\n", re.IGNORECASE)
_TRANSFER_ENCODING_LINE = re.compile(rb"(?<=\r\n)transfer-encoding:[^\r\n]*\r\n", re.IGNORECASE)
_REQUEST_TARGET = re.compile(rb"^[A-Z]+ ([^ ?]*)")
# The paths whose connections are kept alive: the portal API's.
KEEP_ALIVE_PREFIX = "/api/"


@dataclass(frozen=True)
class FrontLimits:
    """What a connection may take before it is dropped (settings, see eproc/config.py)."""

    header_timeout: float = 10.0
    body_timeout: float = 30.0
    max_connections: int = 1000
    max_body_bytes: int = 16 * 1024 * 1024
    max_header_bytes: int = 64 * 1024
    # Whether the worker pins its threads to the CPU the arbiter chose for it (eproc/affinity.py).
    pin_workers: bool = True
    # A call that has waited this long for the application thread (stuck behind a call on a
    # database that does not answer) is answered with a fault instead of waiting on: the
    # database's connect plus statement timeouts, i.e. the longest a call served at once takes to
    # fault. None: calls wait however long it takes.
    call_wait: float | None = None


@dataclass
class _Connection:
    client: socket.socket
    addr: Any
    listener: socket.socket
    deadline: float
    handshaking: bool = False
    data: bytearray = field(default_factory=bytearray)
    header_end: int = -1
    # Body bytes still to come (Content-Length), or None while unknown / chunked.
    remaining: int | None = None
    chunked: bool = False
    # A chunked body is decoded as it arrives (and handed on with a Content-Length): the raw bytes
    # not yet decoded, the data bytes left in the current chunk, and where the decoder stands.
    raw: bytearray = field(default_factory=bytearray)
    chunk_left: int = 0
    chunk_state: str = "size"
    decoded: int = 0
    # Bytes of an over-long body seen and dropped: the application answers from the headers.
    discarding: bool = False
    continued: bool = False
    # Bytes received after the end of the request being read (pipelining): the next request's.
    ahead: bytes = b""
    # Kept alive after an answer, waiting for the next request (gunicorn's keepalive deadline).
    idle: bool = False
    # When the request was handed to the application thread, and whether the front answered it
    # instead (it waited longer than FrontLimits.call_wait); both under the worker's pending lock.
    queued_at: float = 0.0
    shed: bool = False

    def next_request(self, deadline: float) -> None:
        """Ready to read the connection's next request (kept alive after an answer)."""
        self.deadline = deadline
        self.handshaking = False
        self.data = bytearray()
        self.header_end = -1
        self.remaining = None
        self.chunked = False
        self.raw = bytearray()
        self.chunk_left = 0
        self.chunk_state = "size"
        self.decoded = 0
        self.discarding = False
        self.continued = False
        self.idle = True


class Complete(Exception):
    """Raised internally when a connection's request has arrived whole."""


class _Malformed(Exception):
    """Raised internally for a chunked body that breaks the framing: answered 400 by the front."""


class BufferingWorker(SyncWorker):
    """gunicorn worker class; ``limits`` is set on a subclass by :func:`eproc.server.worker_class`."""

    limits = FrontLimits()

    def run(self) -> None:
        if self.limits.pin_workers:
            affinity.pin(self)  # before the threads start: they inherit its CPU
        self._calls: queue.Queue[tuple[_Connection, bytes] | None] = queue.Queue()
        self._probes: queue.Queue[tuple[_Connection, bytes] | None] = queue.Queue()
        # Connections answered and kept alive, for the front to wait on again.
        self._kept: queue.Queue[_Connection] = queue.Queue()
        # Requests read whole in this turn of the front's loop, handed over just before it sleeps.
        self._ready: list[tuple[queue.Queue[tuple[_Connection, bytes] | None], tuple[_Connection, bytes]]] = []
        self._busy_since: float | None = None
        self._notified = float("-inf")
        # Calls handed to the application thread and not yet started, oldest first (pending lock).
        self._waiting: collections.deque[tuple[_Connection, bytes]] = collections.deque()
        # Calls queued or being answered; the front accepts only at zero (see the module's text).
        self._pending = 0
        self._pending_lock = threading.Lock()
        # The application thread writes a byte here when it becomes idle, waking the front at once.
        self._wake_reader, self._wake_writer = socket.socketpair()
        self._wake_reader.setblocking(False)
        self._wake_writer.setblocking(False)
        self._open: dict[int, _Connection] = {}
        self._ssl_context = sock.ssl_context(self.cfg) if self.cfg.is_ssl else None
        threads = [
            threading.Thread(target=self._answer, args=(self._calls, True), name="eproc-app", daemon=True),
            threading.Thread(target=self._answer, args=(self._probes, False), name="eproc-health", daemon=True),
        ]
        for thread in threads:
            thread.start()
        for listener in self.sockets:
            listener.setblocking(False)
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._wake_reader, selectors.EVENT_READ, "wake")
        self._accepting = False
        try:
            self._front()
        finally:
            self._stop(threads)

    # --- the front ------------------------------------------------------------------------

    def _front(self) -> None:
        try:
            self._loop()
        finally:
            self._release()

    def _loop(self) -> None:
        while self.alive:
            self._set_accepting(self._may_accept())
            timeout = 1.0
            busy_since = self._busy_since
            if not self._accepting and busy_since is not None:  # wake when the call counts as stuck
                timeout = max(0.0, min(timeout, busy_since + STUCK_AFTER_SECONDS - time.monotonic()))
            if self._open:
                timeout = max(0.0, min(timeout, min(c.deadline for c in self._open.values()) - time.monotonic()))
            shed_at = self._next_shed()
            if shed_at is not None:
                timeout = max(0.0, min(timeout, shed_at - time.monotonic()))
            self._release()
            for key, _events in self._selector.select(timeout):
                if isinstance(key.data, _Connection):
                    self._progress(key.data)
                elif key.data == "wake":
                    with contextlib.suppress(BlockingIOError):
                        self._wake_reader.recv(4096)
                    self._resume_kept()
                elif self._may_accept():
                    self._accept(key.fileobj)  # type: ignore[arg-type]
            self._expire()
            self._shed()
            self._heartbeat()
            if self.ppid != os.getppid():
                self.log.info("Parent changed, shutting down: %s", self)
                return

    def _release(self) -> None:
        """Hand over the requests read whole, as the last thing before the front sleeps: a woken
        application thread then has the interpreter to itself, instead of trading it back and
        forth with the front's own book-keeping (each trade a wake-up of one thread by the other)."""
        ready, self._ready = self._ready, []
        for requests, item in ready:
            requests.put(item)

    def _may_accept(self) -> bool:
        """Idle (or holding only requests still arriving) or stuck on one call, and below the
        connection limit."""
        if len(self._open) + self._pending >= self.limits.max_connections:
            return False
        if self._pending == 0:
            return True
        busy_since = self._busy_since
        return busy_since is not None and time.monotonic() - busy_since >= STUCK_AFTER_SECONDS

    def _set_accepting(self, accepting: bool) -> None:
        if accepting == self._accepting:
            return
        for listener in self.sockets:
            if accepting:
                self._selector.register(listener, selectors.EVENT_READ, None)
            else:
                self._selector.unregister(listener)
        self._accepting = accepting

    def _heartbeat(self) -> None:
        """Tell the arbiter this worker lives, unless its application thread has been stuck on one
        call for longer than gunicorn's --timeout: then let the arbiter replace the worker, as it
        would a stuck sync worker."""
        now = time.monotonic()
        # A file's time is touched per heartbeat: at most a few times a second, not on every turn
        # of the loop (three turns per call), well within any --timeout the arbiter checks.
        if now - self._notified < min(0.25, self.timeout / 8):
            return
        busy_since = self._busy_since
        if busy_since is None or now - busy_since < self.timeout:
            self.notify()
            self._notified = now

    def _accept(self, listener: socket.socket) -> None:
        # One connection at a time: after it, the loop asks again whether this worker is still idle.
        try:
            client, addr = listener.accept()
        except OSError as exc:
            if exc.errno in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                return
            raise
        client.setblocking(False)
        util.close_on_exec(client)
        connection = _Connection(client, addr, listener, time.monotonic() + self.limits.header_timeout)
        if self._ssl_context is not None:
            connection.client = self._ssl_context.wrap_socket(
                client, server_side=True, do_handshake_on_connect=False,
                suppress_ragged_eofs=self.cfg.suppress_ragged_eofs,
            )
            connection.handshaking = True
        self._open[connection.client.fileno()] = connection
        self._selector.register(connection.client, selectors.EVENT_READ, connection)
        # The request has often arrived with the connection.
        self._progress(connection)

    def _resume_kept(self) -> None:
        """Wait again on the connections answered and kept alive (the front's thread owns the
        selector); a request the client already sent ahead is read at once."""
        while True:
            try:
                connection = self._kept.get_nowait()
            except queue.Empty:
                return
            connection.next_request(time.monotonic() + self.cfg.keepalive)
            self._open[connection.client.fileno()] = connection
            self._selector.register(connection.client, selectors.EVENT_READ, connection)
            ahead, connection.ahead = connection.ahead, b""
            secure_pending = isinstance(connection.client, ssl.SSLSocket) and connection.client.pending()
            if ahead or secure_pending:
                self._progress(connection, ahead)

    def _progress(self, connection: _Connection, ahead: bytes = b"") -> None:
        try:
            if ahead:
                self._received(connection, ahead)
            if connection.handshaking:
                connection.client.do_handshake()  # type: ignore[attr-defined]
                connection.handshaking = False
            while True:
                chunk = connection.client.recv(READ_SIZE)
                if not chunk:
                    self._drop(connection)
                    return
                self._received(connection, chunk)
                if not isinstance(connection.client, ssl.SSLSocket) or not connection.client.pending():
                    return
        except (ssl.SSLWantReadError, BlockingIOError, InterruptedError):
            self._want(connection, selectors.EVENT_READ)
        except ssl.SSLWantWriteError:
            self._want(connection, selectors.EVENT_WRITE)
        except Complete:
            self._hand_over(connection)
        except _Malformed:
            self._reply_and_close(connection, BAD_REQUEST)
        except (OSError, ssl.SSLError) as exc:
            self.log.debug("connection from %s dropped while reading: %s", connection.addr, exc)
            self._drop(connection)

    def _want(self, connection: _Connection, events: int) -> None:
        self._selector.modify(connection.client, events, connection)

    def _received(self, connection: _Connection, chunk: bytes) -> None:
        """Take ``chunk``; raise :class:`Complete` once the request is whole."""
        limits = self.limits
        if connection.idle:
            # A kept-alive connection's next request has begun: the usual header deadline.
            connection.idle = False
            connection.deadline = time.monotonic() + limits.header_timeout
        if connection.header_end < 0:
            start = max(0, len(connection.data) - 3)
            connection.data += chunk
            end = connection.data.find(HEADER_END, start)
            if end < 0:
                if len(connection.data) > limits.max_header_bytes:
                    raise Complete  # gunicorn's parser answers the over-long header with its 4xx
                return
            connection.header_end = end + len(HEADER_END)
            self._read_framing(connection)
            body = bytes(connection.data[connection.header_end :])
            del connection.data[connection.header_end :]
            connection.deadline = time.monotonic() + limits.body_timeout
            self._body(connection, body)
            return
        connection.deadline = time.monotonic() + limits.body_timeout
        self._body(connection, chunk)

    def _read_framing(self, connection: _Connection) -> None:
        head = bytes(connection.data[: connection.header_end]).lower()
        lengths = re.findall(rb"\r\ncontent-length:[ \t]*([^\r\n]*)", head)
        connection.chunked = b"chunked" in b"".join(re.findall(rb"\r\ntransfer-encoding:([^\r\n]*)", head))
        if connection.chunked and lengths:
            raise Complete  # both framings: gunicorn's parser refuses the request smuggling attempt
        if not connection.chunked:
            try:
                connection.remaining = max(int(lengths[0].strip()), 0) if lengths else 0
            except ValueError:
                raise Complete from None  # malformed: gunicorn's parser answers 400
            if len(set(lengths)) > 1 or (lengths and lengths[0].strip().startswith(b"-")):
                raise Complete
            # Read and drop an over-long body, so the client hears the fault instead of a reset;
            # the application sees the declared length and answers from it.
            connection.discarding = connection.remaining > self.limits.max_body_bytes
        if (connection.chunked or connection.remaining) and re.search(rb"\r\nexpect:[ \t]*100-continue", head):
            # The client waits for this before it sends the body (.NET does by default); the
            # application, which sees the request whole, no longer needs to send it.
            connection.client.setblocking(True)
            try:
                connection.client.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
            finally:
                connection.client.setblocking(False)
            connection.continued = True

    def _body(self, connection: _Connection, chunk: bytes) -> None:
        if connection.chunked:
            self._dechunk(connection, chunk)
            return
        assert connection.remaining is not None
        if not connection.discarding:
            connection.data += chunk[: connection.remaining]
        taken = min(len(chunk), connection.remaining)
        connection.remaining -= taken
        if connection.remaining == 0:
            connection.ahead = chunk[taken:]
            raise Complete

    def _dechunk(self, connection: _Connection, chunk: bytes) -> None:
        """Decode ``chunk`` of a chunked body; raise :class:`Complete` after the last chunk's trailers."""
        raw = connection.raw
        raw += chunk
        while raw:
            state = connection.chunk_state
            if state == "data":
                take = min(connection.chunk_left, len(raw))
                self._keep(connection, raw[:take])
                del raw[:take]
                connection.chunk_left -= take
                if connection.chunk_left:
                    return
                connection.chunk_state = "end"
                continue
            if state == "end":
                if len(raw) < 2:
                    return
                if raw[:2] != b"\r\n":
                    raise _Malformed
                del raw[:2]
                connection.chunk_state = "size"
                continue
            line_end = raw.find(b"\r\n")
            if line_end < 0:
                if len(raw) > 8192:
                    raise _Malformed
                return
            line = bytes(raw[:line_end])
            del raw[: line_end + 2]
            if state == "trailers":
                if not line:
                    connection.ahead = bytes(raw)
                    raise Complete
                continue
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise _Malformed from None
            if size < 0:
                raise _Malformed
            connection.chunk_left = size
            connection.chunk_state = "data" if size else "trailers"

    def _keep(self, connection: _Connection, data: bytes | bytearray) -> None:
        connection.decoded += len(data)
        if connection.discarding:
            return
        if connection.decoded > self.limits.max_body_bytes:
            # Over the limit: what has been kept goes, the rest is counted and dropped; the
            # application answers the fault from the length.
            connection.discarding = True
            del connection.data[connection.header_end :]
            return
        connection.data += data

    def _hand_over(self, connection: _Connection) -> None:
        self._forget(connection)
        request = bytes(connection.data)
        connection.data = bytearray()
        if connection.continued or connection.chunked:
            head, body = request[: connection.header_end - 2], request[connection.header_end :]
            if connection.continued:
                head = _EXPECT_LINE.sub(b"", head)
            if connection.chunked:
                head = _TRANSFER_ENCODING_LINE.sub(b"", head) + b"Content-Length: %d\r\n" % connection.decoded
            request = head + b"\r\n" + body
        target = _REQUEST_TARGET.match(request)
        health = target is not None and target.group(1).lower() in HEALTH_PATHS
        if health:
            self._ready.append((self._probes, (connection, request)))
            return
        with self._pending_lock:
            self._pending += 1
            connection.queued_at = time.monotonic()
            self._waiting.append((connection, request))
        self._ready.append((self._calls, (connection, request)))

    def _next_shed(self) -> float | None:
        """When the oldest waiting call is due to be answered by the front, if one waits."""
        wait = self.limits.call_wait
        with self._pending_lock:
            return self._waiting[0][0].queued_at + wait if wait is not None and self._waiting else None

    def _shed(self) -> None:
        """Answer with a fault the calls that have waited longer than ``call_wait`` for the
        application thread (which is stuck on a database that does not answer): on the probes'
        thread, with a fault saying the call was not started (so retrying is safe), instead of
        letting them wait out the whole outage. The application thread skips them."""
        wait = self.limits.call_wait
        if wait is None:
            return
        now = time.monotonic()
        shed: list[tuple[_Connection, bytes]] = []
        with self._pending_lock:
            while self._waiting and now - self._waiting[0][0].queued_at >= wait:
                item = self._waiting.popleft()
                item[0].shed = True
                self._pending -= 1
                shed.append(item)
        for item in shed:
            self._ready.append((self._probes, item))

    def _expire(self) -> None:
        now = time.monotonic()
        for connection in [c for c in self._open.values() if c.deadline <= now]:
            if connection.data and not connection.handshaking:
                self._reply_and_close(connection, REQUEST_TIMEOUT)
            else:
                self._drop(connection)

    def _reply_and_close(self, connection: _Connection, reply: bytes) -> None:
        with contextlib.suppress(OSError, ssl.SSLError):
            connection.client.send(reply)
        self._drop(connection)

    def _forget(self, connection: _Connection) -> None:
        self._open.pop(connection.client.fileno(), None)
        with contextlib.suppress(KeyError, ValueError):
            self._selector.unregister(connection.client)

    def _drop(self, connection: _Connection) -> None:
        self._forget(connection)
        util.close(connection.client)

    # --- answering --------------------------------------------------------------------------

    def _answer(self, requests: queue.Queue[tuple[_Connection, bytes] | None], counts_as_busy: bool) -> None:
        while True:
            item = requests.get()
            if item is None:
                return
            if counts_as_busy:
                with self._pending_lock:
                    if item[0].shed:
                        continue  # answered by the front already (it waited too long)
                    # By identity (the oldest, as a rule): a connection's fields are not its name.
                    index = next(i for i, waiting in enumerate(self._waiting) if waiting[0] is item[0])
                    del self._waiting[index]
                self._busy_since = time.monotonic()
            kept = False
            try:
                kept = self._serve(*item)
            finally:
                idle = False
                if counts_as_busy:
                    self._busy_since = None
                    with self._pending_lock:
                        self._pending -= 1
                        idle = self._pending == 0
                # One wake-up of the front, once this thread's book-keeping is done.
                if idle or kept:
                    with contextlib.suppress(OSError):
                        self._wake_writer.send(b"\0")

    def _serve(self, connection: _Connection, request: bytes) -> bool:
        """As the sync worker's ``handle``, with the request read from memory; a connection kept
        alive goes back to the front instead of being closed (True; the caller wakes the front)."""
        client, addr = connection.client, connection.addr
        req = None
        keep = False
        try:
            # Writing the answer may block, but not for ever on a client that stops reading.
            client.settimeout(self.limits.body_timeout)
            parser = http.get_parser(self.cfg, [request], addr)
            req = next(parser)
            waited = time.monotonic() - connection.queued_at if connection.shed else None
            keep = self._handle(connection.listener, req, client, addr, waited)
        except http.errors.NoMoreData as exc:
            self.log.debug("Ignored premature client disconnection. %s", exc)
        except StopIteration as exc:
            self.log.debug("Closing connection. %s", exc)
        except (ssl.SSLError, OSError) as exc:
            self.log.debug("connection from %s failed while answering: %s", addr, exc)
        except BaseException as exc:  # noqa: BLE001 - as gunicorn: every failure gets its 500
            with contextlib.suppress(OSError, ssl.SSLError):
                self.handle_error(req, client, addr, exc)
        finally:
            if keep:
                client.setblocking(False)
                self._kept.put(connection)
            else:
                util.close_graceful(client)
        return keep

    def _handle(self, listener: socket.socket, req: Any, client: socket.socket, addr: Any,
                waited: float | None = None) -> bool:
        """gunicorn's own request handling (its threaded worker's, which keeps connections alive),
        keeping alive only the portal API's connections; True when the connection stays open.
        ``waited``: the call was shed after waiting that long (see :meth:`_shed`); the application
        answers it from ``environ[SHED_KEY]`` without serving it."""
        environ: dict[str, Any] = {}
        resp = None
        # gunicorn sends the status line and headers, then the body, each with its own sendall:
        # held back until the answer is whole, the client is woken once, not twice (on a busy
        # machine the first wake-up let it take the CPU from the worker in the middle of the answer).
        _cork(client, True)
        try:
            self.cfg.pre_request(self, req)
            request_start = datetime.now()
            resp, environ = wsgi.create(req, client, addr, listener.getsockname(), self.cfg)
            self.nr += 1
            if self.nr >= self.max_requests:
                self.log.info("Autorestarting worker after current request.")
                self.alive = False
            if waited is not None:
                environ[SHED_KEY] = waited
            if waited is not None or not (
                self.alive and self.cfg.keepalive and str(req.path).startswith(KEEP_ALIVE_PREFIX)
            ):
                resp.force_close()
            respiter = self.wsgi(environ, resp.start_response)
            try:
                if isinstance(respiter, environ["wsgi.file_wrapper"]):
                    resp.write_file(respiter)
                else:
                    for item in respiter:
                        resp.write(item)
                resp.close()
                _cork(client, False)
            finally:
                self.log.access(resp, req, environ, datetime.now() - request_start)
                if hasattr(respiter, "close"):
                    respiter.close()
            return not resp.should_close()
        except OSError:
            raise
        except (Exception, SystemExit):
            if resp and resp.headers_sent:
                # Timeout abort is SystemExit. If the answer has begun, a 500 would corrupt it.
                self.log.exception("Error handling request")
                util.close_graceful(client)
                raise StopIteration() from None
            raise
        finally:
            _cork(client, False)
            try:
                self.cfg.post_request(self, req, environ, resp)
            except Exception:  # noqa: BLE001 - as gunicorn
                self.log.exception("Exception in post_request hook")

    def _stop(self, threads: list[threading.Thread]) -> None:
        """Graceful stop: no new connections, half-read requests dropped, queued ones answered."""
        self._set_accepting(False)
        for connection in list(self._open.values()):
            self._drop(connection)
        while not self._kept.empty():
            util.close(self._kept.get_nowait().client)
        self._calls.put(None)
        self._probes.put(None)
        deadline = time.monotonic() + self.cfg.graceful_timeout
        for thread in threads:
            while thread.is_alive() and time.monotonic() < deadline:
                self.notify()
                thread.join(timeout=0.5)


def _cork(client: socket.socket, on: bool) -> None:
    """Hold partial frames back while an answer is written (Linux TCP_CORK); uncorking sends them."""
    cork = getattr(socket, "TCP_CORK", None)
    if cork is not None:
        with contextlib.suppress(OSError):
            client.setsockopt(socket.IPPROTO_TCP, cork, 1 if on else 0)
