"""Slow clients cannot starve ``eproc serve`` (issue 11): connections that dribble their headers hold
a connection slot in the buffering front (eproc/front.py), never one of the two workers, so FMS calls
keep being answered quickly; and the front's deadlines close what never finishes."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import dotnet_client as net
import pytest
from support import LiveServer, make_settings, migrated_database, new_school, start_server

from eproc.services.hub import build_hub

pytestmark = pytest.mark.e2e

DRIBBLERS = 50
HEADER_TIMEOUT = 3


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    # The serving model does not depend on the database: SQLite only, to keep the suite quick.
    with migrated_database("sqlite", tmp_path_factory.mktemp("slow")) as url:
        yield url


@pytest.fixture(scope="module")
def server(database: str) -> Iterator[LiveServer]:
    env = {"EPROC_HEADER_TIMEOUT_SECONDS": str(HEADER_TIMEOUT), "EPROC_BODY_TIMEOUT_SECONDS": "2"}
    live = start_server(database, "--workers", "2", env=env)
    yield live
    live.stop()


@pytest.fixture(scope="module")
def school(database: str) -> tuple[str, str]:
    return new_school(build_hub(make_settings(database)))


def _address(server: LiveServer) -> tuple[str, int]:
    parts = urlsplit(server.base_url)
    return parts.hostname or "127.0.0.1", parts.port or 80


def _dribble(address: tuple[str, int], stop: threading.Event, opened: list[socket.socket]) -> None:
    """Open a connection and send a header a byte at a time, for ever (the front closes it)."""
    while not stop.is_set():
        try:
            connection = socket.create_connection(address, timeout=5)
        except OSError:
            time.sleep(0.05)
            continue
        opened.append(connection)
        try:
            for byte in b"POST /service.asmx HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 10_000:
                if stop.is_set():
                    return
                connection.send(bytes([byte]))
                stop.wait(0.2)
        except OSError:
            pass  # closed by the front's header deadline: start again, as an attacker would
        finally:
            connection.close()


def test_dribbling_connections_do_not_hold_the_workers(server: LiveServer, school: tuple[str, str]) -> None:
    username, password = school
    # Warm: the worker's first login of this school checks the password hash.
    assert net.call(server.endpoint, "FetchIndex", username=username, password=password).status == 200
    stop = threading.Event()
    opened: list[socket.socket] = []
    threads = [
        threading.Thread(target=_dribble, args=(_address(server), stop, opened), daemon=True) for _ in range(DRIBBLERS)
    ]
    for thread in threads:
        thread.start()
    try:
        deadline = time.monotonic() + 2
        while len(opened) < DRIBBLERS and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(opened) >= DRIBBLERS
        durations = []
        end = time.monotonic() + 3
        while time.monotonic() < end:
            started = time.monotonic()
            response = net.call(server.endpoint, "FetchIndex", username=username, password=password, timeout=10)
            durations.append(time.monotonic() - started)
            assert response.status == 200
        # With the sync workers every one of these timed out (0 of 6 over 60 s).
        assert max(durations) < 1.0, durations
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=5)


def test_a_connection_that_never_finishes_its_headers_is_answered_408_and_closed(server: LiveServer) -> None:
    with socket.create_connection(_address(server), timeout=HEADER_TIMEOUT + 5) as connection:
        started = time.monotonic()
        connection.sendall(b"POST /service.asmx HTTP/1.1\r\nHost: x\r\n")
        reply = connection.recv(4096)
        waited = time.monotonic() - started
        assert reply.startswith(b"HTTP/1.1 408 ")
        assert connection.recv(4096) == b""
    assert HEADER_TIMEOUT - 0.5 < waited < HEADER_TIMEOUT + 2


def test_a_connection_that_sends_nothing_is_closed_at_the_header_deadline(server: LiveServer) -> None:
    with socket.create_connection(_address(server), timeout=HEADER_TIMEOUT + 5) as connection:
        started = time.monotonic()
        assert connection.recv(4096) == b""
    assert time.monotonic() - started < HEADER_TIMEOUT + 2


def test_a_body_that_stops_arriving_is_dropped_after_the_body_timeout(server: LiveServer) -> None:
    with socket.create_connection(_address(server), timeout=10) as connection:
        connection.sendall(
            b"POST /service.asmx HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml\r\nContent-Length: 100\r\n\r\n<a"
        )
        started = time.monotonic()
        assert connection.recv(4096).startswith(b"HTTP/1.1 408 ")
    assert time.monotonic() - started < 2 + 2


def test_a_body_sent_in_slow_pieces_within_the_timeouts_is_served(server: LiveServer, school: tuple[str, str]) -> None:
    username, password = school
    body = net.envelope("FetchIndex", username=username, password=password)
    head = (
        "POST /service.asmx HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml; charset=utf-8\r\n"
        f'SOAPAction: "{net.OTS}/FetchIndex"\r\nContent-Length: {len(body)}\r\n\r\n'
    ).encode()
    with socket.create_connection(_address(server), timeout=10) as connection:
        connection.sendall(head)
        for start in range(0, len(body), len(body) // 4 + 1):
            time.sleep(0.5)
            connection.sendall(body[start : start + len(body) // 4 + 1])
        reply = b""
        while chunk := connection.recv(65536):
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"FetchIndexResult" in reply


@pytest.mark.parametrize("expect_continue", [True, False])
def test_a_chunked_request_is_read_whole_and_answered(
    server: LiveServer, school: tuple[str, str], expect_continue: bool
) -> None:
    username, password = school
    response = net.call(
        server.endpoint, "FetchIndex", username=username, password=password, chunked=True,
        expect_continue=expect_continue,
    )
    assert response.status == 200
    assert response.got_continue == expect_continue
    assert "FetchIndexResult" in response.body.decode()


def test_a_malformed_chunked_body_is_refused_400(server: LiveServer) -> None:
    with socket.create_connection(_address(server), timeout=10) as connection:
        connection.sendall(
            b"POST /service.asmx HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"zz\r\nabc\r\n"
        )
        assert connection.recv(4096).startswith(b"HTTP/1.1 400 ")
