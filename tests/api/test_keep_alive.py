"""The portal API's connections are kept alive (a portal's HTTP client reuses them): requests one
after another, or sent ahead (pipelined), on one connection, each answered in turn; an idle
connection closed after gunicorn's keepalive; the SOAP endpoint still answers ``Connection: close``."""

from __future__ import annotations

import http.client
import socket
import time
from collections.abc import Iterator
from typing import BinaryIO
from urllib.parse import urlsplit

import dotnet_client as net
import pytest
from api_support import new_token
from support import LiveServer, make_settings, migrated_database, new_school, start_server

from eproc.services.hub import build_hub

pytestmark = pytest.mark.e2e

KEEPALIVE_SECONDS = 2  # gunicorn's default, which eproc serve keeps


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with migrated_database("sqlite", tmp_path_factory.mktemp("keep-alive")) as url:
        yield url


@pytest.fixture(scope="module")
def server(database: str) -> Iterator[LiveServer]:
    live = start_server(database, "--workers", "1")
    yield live
    live.stop()


@pytest.fixture(scope="module")
def school(database: str) -> tuple[str, str]:
    return new_school(build_hub(make_settings(database)))


@pytest.fixture(scope="module")
def token(database: str, school: tuple[str, str]) -> str:
    return new_token(build_hub(make_settings(database)), "keep-alive")


def _address(server: LiveServer) -> tuple[str, int]:
    parts = urlsplit(server.base_url)
    return parts.hostname or "127.0.0.1", parts.port or 80


def _read_response(reader: BinaryIO) -> tuple[int, dict[str, str], bytes]:
    """One response from a connection's byte stream (status, headers, body), leaving the bytes of
    the next one unread."""
    status = int(reader.readline().split()[1])
    headers: dict[str, str] = {}
    while (line := reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers, reader.read(int(headers.get("content-length", "0")))


def test_api_requests_share_one_connection(server: LiveServer, token: str) -> None:
    host, port = _address(server)
    connection = http.client.HTTPConnection(host, port, timeout=10)
    headers = {"Authorization": f"Bearer {token}"}
    try:
        connection.request("GET", "/api/v1/documents", headers=headers)
        first = connection.getresponse()
        assert first.status == 200 and first.getheader("Connection") == "keep-alive"
        first.read()
        opened = connection.sock
        assert opened is not None
        for _ in range(3):
            connection.request("GET", "/api/v1/documents", headers=headers)
            again = connection.getresponse()
            assert again.status == 200
            again.read()
            assert connection.sock is opened  # no new connection was needed
        connection.request("GET", "/api/v1/documents")  # a problem answer keeps it open too
        refused = connection.getresponse()
        assert refused.status == 401 and refused.getheader("Connection") == "keep-alive"
        refused.read()
        assert connection.sock is opened
    finally:
        connection.close()


def test_requests_sent_ahead_are_answered_in_turn(server: LiveServer, token: str) -> None:
    request = (
        f"GET /api/v1/documents?pageSize={{size}} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\r\n"
    )
    chunked = (
        "POST /api/v1/documents/validate HTTP/1.1\r\nHost: x\r\nContent-Type: application/xml\r\n"
        f"Authorization: Bearer {token}\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n<a/\r\n1\r\n>\r\n0\r\n\r\n"
    )
    with socket.create_connection(_address(server), timeout=10) as sock:
        sock.sendall((request.format(size=1) + chunked + request.format(size=0)).encode())
        reader = sock.makefile("rb")
        answers = [_read_response(reader) for _ in range(3)]
    assert [status for status, _headers, _body in answers] == [200, 200, 400]
    assert b'"accepted":false' in answers[1][2]  # the chunked body was read as sent
    assert b"pageSize" in answers[2][2]  # pageSize=0 is refused by name


def test_an_idle_connection_is_closed_after_the_keepalive(server: LiveServer, token: str) -> None:
    with socket.create_connection(_address(server), timeout=KEEPALIVE_SECONDS + 8) as sock:
        sock.sendall(f"GET /api/v1/documents HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\r\n".encode())
        assert _read_response(sock.makefile("rb"))[0] == 200
        started = time.monotonic()
        assert sock.recv(4096) == b""
    assert KEEPALIVE_SECONDS - 0.5 < time.monotonic() - started < KEEPALIVE_SECONDS + 3


def test_the_soap_endpoint_still_closes_each_connection(server: LiveServer, school: tuple[str, str]) -> None:
    username, password = school
    body = net.envelope("FetchIndex", username=username, password=password)
    head = (
        "POST /service.asmx HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml; charset=utf-8\r\n"
        f'SOAPAction: "{net.OTS}/FetchIndex"\r\nContent-Length: {len(body)}\r\n\r\n'
    ).encode()
    with socket.create_connection(_address(server), timeout=10) as sock:
        sock.sendall(head + body)
        reply = b""
        while chunk := sock.recv(65536):  # the server closes: the loop ends
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"\r\nConnection: close\r\n" in reply
