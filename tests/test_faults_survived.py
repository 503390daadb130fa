"""Faults survived (issue 11, item 6): a worker killed mid-SendOrder, a database that stops answering,
a SQLite file that is read-only for a while (tests/test_read_only_sqlite.py). Each over real HTTP to
``eproc serve``."""

from __future__ import annotations

import os
import random
import re
import select
import signal
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import dotnet_client as net
import pytest
import requests
from sqlalchemy.engine import make_url
from support import LiveServer, create_postgres_database, make_settings, migrated_database, new_school, start_server

from eproc.services import admin
from eproc.services.hub import build_hub
from eproc.store.migrate import upgrade

pytestmark = pytest.mark.e2e

PASSWORD = "faults-survived-password-1"
ORDER = (Path(__file__).parent / "data" / "ebis" / "valid" / "authorised-order-fms.xml").read_text(encoding="utf-8")
INTERNAL = re.compile(r"Server was unable to process request\. ---> An internal error occurred \(correlation id ")


def send_order(server: LiveServer, username: str, timeout: float = 30) -> net.Response:
    params = f"<Document>{net.escape(ORDER)}</Document>"
    return net.call(server.endpoint, "SendOrder", params, username=username, password=PASSWORD, timeout=timeout)


def worker_pids(server: LiveServer) -> list[int]:
    children: list[int] = []
    for task in Path(f"/proc/{server.process.pid}/task").iterdir():
        children.extend(int(pid) for pid in (task / "children").read_text().split())
    return children


def is_internal_fault(response: net.Response) -> bool:
    return response.status == 500 and bool(INTERNAL.match(net.fault(response)[1]))


# --- kill -9 ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sqlite_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with migrated_database("sqlite", tmp_path_factory.mktemp("faults")) as url:
        yield url


def test_a_worker_killed_mid_send_order_leaves_the_order_stored_once_or_not_at_all(sqlite_database: str) -> None:
    hub = build_hub(make_settings(sqlite_database))
    server = start_server(sqlite_database, "--workers", "1")
    try:
        for attempt in range(4):
            username, _ = new_school(hub, PASSWORD, establishment_name="Hillside Primary School")
            [worker] = worker_pids(server)
            result: dict[str, object] = {}

            def call(name: str = username, into: dict[str, object] = result) -> None:
                try:
                    into["response"] = send_order(server, name)
                except OSError as exc:
                    into["error"] = exc

            caller = threading.Thread(target=call)
            caller.start()
            # Somewhere in the call: reading, validating, storing or answering.
            time.sleep(0.02 + random.random() * 0.15 * (attempt + 1))
            os.kill(worker, signal.SIGKILL)
            caller.join(timeout=30)
            stored = len(admin.list_orders(hub, username))
            assert stored in (0, 1)
            if "response" in result:
                response = result["response"]
                assert isinstance(response, net.Response)
                assert response.status != 200 or stored == 1  # an answered "true" was stored
            # FMS retries; the order ends up stored exactly once whatever the cut left.
            deadline = time.monotonic() + 20
            while True:
                try:
                    retry = send_order(server, username, timeout=10)
                    break
                except OSError:
                    assert time.monotonic() < deadline, "no worker came back"
                    time.sleep(0.1)
            assert retry.status == 200 and net.result_text(retry, "SendOrder") == "true"
            assert len(admin.list_orders(hub, username)) == 1
    finally:
        server.stop()


# --- a read-only SQLite file: tests/test_read_only_sqlite.py (run as an unprivileged user) -------


# --- PostgreSQL that stops answering ------------------------------------------------------------


class FreezableProxy:
    """A TCP proxy in front of PostgreSQL that the test can freeze: connections stay open and
    nothing passes, as with a SIGSTOPped server or a blackholed network."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.frozen = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self._closing = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closing.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.upstream)
            except OSError:
                client.close()
                continue
            threading.Thread(target=self._pump, args=(client, server), daemon=True).start()

    def _pump(self, client: socket.socket, server: socket.socket) -> None:
        peers = {client: server, server: client}
        try:
            while not self._closing.is_set():
                if self.frozen.is_set():
                    time.sleep(0.05)
                    continue
                readable, _, _ = select.select(list(peers), [], [], 0.1)
                for source in readable:
                    data = source.recv(65536)
                    if not data:
                        return
                    peers[source].sendall(data)
        except OSError:
            return
        finally:
            client.close()
            server.close()

    def close(self) -> None:
        self._closing.set()
        self.listener.close()


@pytest.mark.postgres
def test_a_database_that_stops_answering_gives_quick_faults_and_503_then_recovers() -> None:
    database = create_postgres_database()
    proxy: FreezableProxy | None = None
    server: LiveServer | None = None
    try:
        upgrade(database.url)
        real = make_url(database.url)
        proxy = FreezableProxy((real.host or "127.0.0.1", real.port or 5432))
        url = real.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
        hub = build_hub(make_settings(database.url))
        username, _ = new_school(hub, PASSWORD, establishment_name="Hillside Primary School")
        env = {"EPROC_DATABASE_STATEMENT_TIMEOUT_SECONDS": "2", "EPROC_DATABASE_CONNECT_TIMEOUT_SECONDS": "2"}
        server = start_server(url, "--workers", "2", env=env)
        assert send_order(server, username).status == 200

        proxy.frozen.set()
        frozen_at = time.monotonic()
        first_503 = None
        while time.monotonic() - frozen_at < 5:
            ready = requests.get(f"{server.base_url}/health/ready", timeout=5)
            if ready.status_code == 503:
                first_503 = time.monotonic() - frozen_at
                break
        assert first_503 is not None and first_503 < 2.0
        for _ in range(2):
            started = time.monotonic()
            response = send_order(server, username)
            # The statement timeout and the watchdog's second; then the pool's new connection
            # fails within the connect timeout; plus a little.
            assert time.monotonic() - started < 2 + 1 + 2 + 1.5
            assert is_internal_fault(response)

        proxy.frozen.clear()
        first = send_order(server, username)
        assert first.status == 200, net.fault(first)
    finally:
        if server is not None:
            server.stop()
        if proxy is not None:
            proxy.close()
        from eproc.store.db import dispose_engines

        dispose_engines(database.url)
        database.drop()
