"""PostgreSQL frozen (SIGSTOP) under ``eproc serve`` (issue 11): calls fault within the configured
timeouts, ``/health/ready`` answers 503 within 2 s while ``/health`` (liveness) stays 200, and the
first call after SIGCONT succeeds, with nothing half-applied.

A private server (tests/private_postgres.py), never the shared one. The timeouts are set to their
least (1 s per statement, 2 s to connect: the driver's minimum) and the freeze lasts a few seconds
to keep the suite fast; ``bench/bench_freeze.py`` measures the full 15 s freeze with the defaults.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import dotnet_client as net
import pytest
import requests
from private_postgres import PrivatePostgres, private_postgres
from support import LiveServer, make_settings, new_school, start_server

from eproc.services import admin
from eproc.services.hub import build_hub
from eproc.store.db import dispose_engines
from eproc.store.guards import WATCHDOG_GRACE_SECONDS
from eproc.store.migrate import upgrade

pytestmark = pytest.mark.e2e

PASSWORD = "frozen-database-password-1"
ORDER = (Path(__file__).parent / "data" / "ebis" / "valid" / "authorised-order-fms.xml").read_text(encoding="utf-8")
INTERNAL = re.compile(r"Server was unable to process request\. ---> An internal error occurred \(correlation id ")
STATEMENT_TIMEOUT = 1
CONNECT_TIMEOUT = 2  # the driver's minimum: libpq (and psycopg) read 1 as 2
# A call on a pooled connection: the watchdog cuts it one second past the statement timeout (and
# the call does not retry on a new connection, which would wait the connect timeout too). A call on
# a new connection: the connect timeout (the frozen postmaster's listening socket accepts, and never
# answers the start-up packet). Plus a margin for a loaded machine.
FAULT_BOUND = max(STATEMENT_TIMEOUT + WATCHDOG_GRACE_SECONDS, CONNECT_TIMEOUT) + 1.5


@pytest.fixture
def frozen_setting() -> Iterator[tuple[PrivatePostgres, str]]:
    with private_postgres() as postgres:
        url = postgres.create_database("eproc")
        upgrade(url)
        try:
            yield postgres, url
        finally:
            dispose_engines(url)


def send_order(server: LiveServer, username: str) -> net.Response:
    return net.call(server.endpoint, "SendOrder", f"<Document>{net.escape(ORDER)}</Document>",
                    username=username, password=PASSWORD, timeout=60)


def fetch_index(server: LiveServer, username: str) -> net.Response:
    return net.call(server.endpoint, "FetchIndex", "", username=username, password=PASSWORD, timeout=60)


def is_internal_fault(response: net.Response) -> bool:
    return response.status == 500 and bool(INTERNAL.match(net.fault(response)[1]))


def test_a_frozen_postgres_gives_quick_faults_and_503_then_the_first_call_after_it_succeeds(
    frozen_setting: tuple[PrivatePostgres, str],
) -> None:
    postgres, url = frozen_setting
    hub = build_hub(make_settings(url))
    polling, _ = new_school(hub, PASSWORD, establishment_name="Hillside Primary School")
    ordering, _ = new_school(hub, PASSWORD, establishment_name="Riverside Academy")
    env = {
        "EPROC_DATABASE_STATEMENT_TIMEOUT_SECONDS": str(STATEMENT_TIMEOUT),
        "EPROC_DATABASE_CONNECT_TIMEOUT_SECONDS": str(CONNECT_TIMEOUT),
    }
    server = start_server(url, "--workers", "2", env=env)
    try:
        for _ in range(4):  # both workers hold pooled connections
            assert fetch_index(server, polling).status == 200

        stopped = postgres.freeze()
        frozen_at = time.monotonic()
        assert len(stopped) > 1  # the postmaster and its backends

        # FMS calls, one after the other (one school's FMS), while readiness is polled.
        calls: list[tuple[str, net.Response, float]] = []

        def fms() -> None:
            for name, call, username in (("SendOrder", send_order, ordering), ("FetchIndex", fetch_index, polling),
                                         ("FetchIndex", fetch_index, polling)):
                started = time.monotonic()
                response = call(server, username)
                calls.append((name, response, time.monotonic() - started))

        caller = threading.Thread(target=fms)
        caller.start()
        first_503 = None
        while time.monotonic() - frozen_at < 5:
            ready = requests.get(f"{server.base_url}/health/ready", timeout=5)
            if ready.status_code == 503:
                first_503 = time.monotonic() - frozen_at
                assert ready.json()["status"] == "database not answering"
                break
        assert first_503 is not None and first_503 < 2.0
        started = time.monotonic()
        assert requests.get(f"{server.base_url}/health", timeout=2).status_code == 200
        liveness = time.monotonic() - started
        assert liveness < 0.5  # liveness does not wait on the database
        caller.join(timeout=60)
        assert len(calls) == 3
        for name, response, took in calls:
            assert is_internal_fault(response), (name, response.status, response.body[:300])
            assert took < FAULT_BOUND, (name, took)
        assert time.monotonic() - frozen_at < 15

        postgres.thaw()
        thawed_at = time.monotonic()
        first = send_order(server, ordering)
        assert first.status == 200, net.fault(first)
        assert net.result_text(first, "SendOrder") == "true"
        recovered = time.monotonic() - thawed_at
        assert recovered < 1.0
        faults = ", ".join(f"{name} {took:.2f} s" for name, _, took in calls)
        print(f"/health/ready 503 after {first_503:.2f} s, /health in {liveness:.3f} s; faults after {faults}; "
              f"first call after SIGCONT {recovered:.3f} s")
        assert fetch_index(server, polling).status == 200
        # The SendOrder faulted during the freeze was stored whole or not at all (it was cut before
        # its commit, so not at all), and the one after it exactly once.
        assert len(admin.list_orders(hub, ordering)) == 1
        time.sleep(1.1)  # past the readiness cache
        deadline = time.monotonic() + 3
        while requests.get(f"{server.base_url}/health/ready", timeout=5).status_code != 200:
            assert time.monotonic() < deadline, "readiness never came back"
            time.sleep(0.2)
    finally:
        postgres.thaw()
        server.stop()


def test_calls_queued_behind_a_frozen_call_fault_within_the_timeouts_not_one_after_another(
    frozen_setting: tuple[PrivatePostgres, str],
) -> None:
    """One worker, four FMS schools calling at once into a frozen database: the first call waits on
    the database and faults; the three queued behind it are answered by the front with the same
    internal-error fault once they have waited the connect plus statement timeouts (the longest a
    call served at once takes to fault), instead of each waiting out its predecessors' timeouts
    (the fourth would answer after four of them) or the whole freeze. Nothing of them was done."""
    postgres, url = frozen_setting
    hub = build_hub(make_settings(url))
    schools = [new_school(hub, PASSWORD, establishment_name=f"Queue School {n}")[0] for n in range(4)]
    env = {
        "EPROC_DATABASE_STATEMENT_TIMEOUT_SECONDS": str(STATEMENT_TIMEOUT),
        "EPROC_DATABASE_CONNECT_TIMEOUT_SECONDS": str(CONNECT_TIMEOUT),
    }
    call_wait = STATEMENT_TIMEOUT + CONNECT_TIMEOUT
    server = start_server(url, "--workers", "1", env=env)
    try:
        for username in schools:
            assert fetch_index(server, username).status == 200
        postgres.freeze()
        answers: list[tuple[net.Response, float]] = []
        lock = threading.Lock()

        def call(username: str) -> None:
            started = time.monotonic()
            response = send_order(server, username)
            with lock:
                answers.append((response, time.monotonic() - started))

        callers = [threading.Thread(target=call, args=(username,)) for username in schools]
        for caller in callers:
            caller.start()
            time.sleep(0.1)  # in this order, the first one on the database
        for caller in callers:
            caller.join(timeout=60)
        postgres.thaw()
        assert len(answers) == 4
        for response, took in answers:
            assert is_internal_fault(response), (response.status, response.body[:300])
            assert took < call_wait + 2.0, took  # a queue's wait, not a sum of timeouts
        # None of the faulted SendOrders was stored; the first call after the freeze is served.
        assert [len(admin.list_orders(hub, username)) for username in schools] == [0, 0, 0, 0]
        assert send_order(server, schools[0]).status == 200
        assert len(admin.list_orders(hub, schools[0])) == 1
        took = sorted(took for _, took in answers)
        print("calls into the frozen database answered after " + ", ".join(f"{t:.2f} s" for t in took))
    finally:
        postgres.thaw()
        server.stop()
