"""Smart lockout over real HTTP (``eproc serve``), addresses forged through the trusted proxy
header: strangers cannot lock a school out of its own address, a stale password repeated is one
failure, and the guess budget per account is the same with 1 and 4 workers (issue 11)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator

import pytest
from sec_support import AUTH_FAULT, Reply, call, events_of, new_school
from support import LiveServer, make_settings, start_server

from eproc.services import accounts
from eproc.services.hub import Hub, build_hub

PASSWORD = "smart-lockout-password-1"
PROXY = {"EPROC_TRUSTED_PROXY_HEADER": "X-Forwarded-For"}


@pytest.fixture(scope="module")
def server(live_database: str) -> Iterator[LiveServer]:
    server = start_server(live_database, "--workers", "2", env=PROXY)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def hub(live_database: str) -> Hub:
    return build_hub(make_settings(live_database))


def poll(server: LiveServer, username: str, password: str, address: str) -> Reply:
    return call(server.endpoint, "FetchIndex", username, password, headers={"X-Forwarded-For": address})


def refused(reply: Reply) -> bool:
    assert reply.status in (200, 500), reply.body[:300]
    if reply.status == 500:
        assert reply.fault() == ("soap:Client", AUTH_FAULT)
    return reply.status == 500


def test_a_school_is_served_from_its_address_through_strangers_guesses(server: LiveServer, hub: Hub) -> None:
    username, _ = new_school(hub, PASSWORD)
    school = "192.0.2.10"
    assert not refused(poll(server, username, PASSWORD, school))  # its address is now familiar
    served = 0
    for n in range(30):  # one stranger
        assert refused(poll(server, username, f"guess-a{n}", "203.0.113.7"))
        served += not refused(poll(server, username, PASSWORD, school))
    for n in range(100):  # 50 strangers, two guesses each
        assert refused(poll(server, username, f"guess-b{n}", f"198.51.100.{n % 50 + 1}"))
        if n % 2:
            served += not refused(poll(server, username, PASSWORD, school))
    assert served == 30 + 50
    # The strangers' addresses are locked for this account even with the right password, and the
    # refusal reads byte for byte as a wrong password.
    wrong = poll(server, username, "guess-c", "198.51.100.1")
    for stranger in ("203.0.113.7", "198.51.100.3", "203.0.113.200"):
        right = poll(server, username, PASSWORD, stranger)
        assert refused(right) and right.body == wrong.body
    view = accounts.show_account(hub, username)
    familiar, unfamiliar = view.buckets
    assert (familiar.failures, familiar.locked) == (0, False)
    assert unfamiliar.locked and unfamiliar.failures >= 5
    assert [a.address for a in view.familiar_addresses] == [school]
    locks = [e for e in events_of(hub, "account.locked") if e.subject == username]
    assert locks and all(json.loads(e.data or "{}")["bucket"] == "unfamiliar" for e in locks)


def test_a_stale_password_repeated_20_times_is_one_failure(server: LiveServer, hub: Hub) -> None:
    username, _ = new_school(hub, PASSWORD)
    school = "192.0.2.20"
    assert not refused(poll(server, username, PASSWORD, school))
    for _ in range(20):
        assert refused(poll(server, username, "last-years-password", school))
    assert not refused(poll(server, username, PASSWORD, school))  # in at once
    failed = [json.loads(e.data or "{}") for e in events_of(hub, "login.failed") if e.subject == username]
    assert len(failed) == 20 and sum(1 for d in failed if d["counted"]) == 1
    # And from an address it never used (FMS moved), the same: 20 refusals, then in at once.
    other, _ = new_school(hub, PASSWORD)
    for _ in range(20):
        assert refused(poll(server, other, "last-years-password", "192.0.2.21"))
    assert not refused(poll(server, other, PASSWORD, "192.0.2.21"))


def _verified_guesses(live_database: str, workers: int, hub: Hub) -> int:
    """60 different wrong passwords from 30 addresses at once, 6 threads; how many were checked."""
    env = {**PROXY, "EPROC_LOGIN_FAILURE_LIMIT": "1000", "EPROC_LOGIN_UNFAMILIAR_HOURLY_LIMIT": "12"}
    live = start_server(live_database, "--workers", str(workers), env=env)
    try:
        username, _ = new_school(hub, PASSWORD)
        barrier = threading.Barrier(6)

        def guess(thread: int) -> None:
            barrier.wait()
            for n in range(10):
                address = f"203.0.113.{100 + (thread * 10 + n) % 30}"
                assert refused(poll(live, username, f"guess-{thread}-{n}", address))

        pool = [threading.Thread(target=guess, args=(t,)) for t in range(6)]
        for thread in pool:
            thread.start()
        for thread in pool:
            thread.join()
    finally:
        live.stop()
    failed = [json.loads(e.data or "{}") for e in events_of(hub, "login.failed") if e.subject == username]
    assert len(failed) == 60
    return sum(1 for d in failed if d.get("counted"))


def test_the_guess_budget_per_account_is_the_same_with_1_and_4_workers(live_database: str, hub: Hub) -> None:
    assert _verified_guesses(live_database, 1, hub) == _verified_guesses(live_database, 4, hub) == 12
