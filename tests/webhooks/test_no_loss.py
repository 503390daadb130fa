"""No loss, no double send, with real ``eproc worker`` processes: one killed with SIGKILL mid-delivery
(its lease runs out and another worker sends it, with the same webhook-id), and several racing
over one outbox (every event delivered, none sent by two workers at once)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest
from hook_support import FAST, Receiver
from support import make_settings, server_environment

from eproc.services import webhooks
from eproc.services.events import EventType, emit
from eproc.services.hub import build_hub

pytestmark = pytest.mark.e2e


def start_worker(database_url: str, **extra: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, **server_environment(database_url, **{**FAST, **extra})}
    return subprocess.Popen([sys.executable, "-m", "eproc.cli", "worker"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_until(condition: object, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError("timed out")


def test_a_worker_killed_mid_delivery_leaves_it_to_another_after_the_lease(database_url: str) -> None:
    lease = {"EPROC_WEBHOOK_TIMEOUT_SECONDS": "1", "EPROC_WEBHOOK_LEASE_SECONDS": "3"}
    hub = build_hub(make_settings(database_url, **{**FAST, **lease}))
    release = threading.Event()

    def answer(n: int, _request: object) -> int:
        if n == 0:
            release.wait(30)  # the first worker's request hangs until the test has killed it
        return 200

    receiver = Receiver(answer=answer).start()
    first = start_worker(database_url, **lease)
    second = None
    try:
        view, _ = webhooks.create_webhook(hub, receiver.url, ["account.enabled"])
        with hub.unit_of_work() as uow:
            emit(uow, EventType.ACCOUNT_ENABLED, hub.now(), subject="kill-test")
            uow.commit()
        receiver.wait_for(1, timeout=20)
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
        killed_at = time.monotonic()
        release.set()
        second = start_worker(database_url, **lease)
        requests = receiver.wait_for(2, timeout=30)
        assert requests[0].headers["webhook-id"] == requests[1].headers["webhook-id"]
        assert requests[1].at - killed_at < 10
        _wait_until(lambda: webhooks.deliveries(hub, view.id)[0].status == "delivered", 10)
        [delivery] = webhooks.deliveries(hub, view.id)
        # The killed worker's attempt was never recorded; the second worker's was.
        assert delivery.attempts == 1 and [a.status_code for a in delivery.history] == [200]
    finally:
        release.set()
        stop(first)
        if second is not None:
            stop(second)
        receiver.stop()


@pytest.mark.parametrize("deliveries,workers", [(200, 2)])
def test_workers_racing_over_the_outbox_deliver_everything_once(database_url: str, deliveries: int,
                                                                workers: int) -> None:
    _race(database_url, deliveries, workers)


@pytest.mark.postgres
def test_three_workers_on_postgresql_racing_over_1000_deliveries(database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("the 1,000-delivery race is PostgreSQL's (SQLite's runs with 200 above)")
    _race(database_url, 1000, 3)


def _race(database_url: str, count: int, workers: int) -> None:
    hub = build_hub(make_settings(database_url, **FAST))
    receiver = Receiver(delay=0.002).start()
    view, _ = webhooks.create_webhook(hub, receiver.url, ["account.enabled"])
    with hub.unit_of_work() as uow:
        for n in range(count):
            emit(uow, EventType.ACCOUNT_ENABLED, hub.now(), subject=f"race-{n}")
        uow.commit()
    processes = [start_worker(database_url) for _ in range(workers)]
    try:
        receiver.wait_for(count, timeout=120)
        _wait_until(lambda: _delivered(hub) == count, 30)
    finally:
        for process in processes:
            stop(process)
        receiver.stop()
    ids = [r.headers["webhook-id"] for r in receiver.requests]
    assert len(set(ids)) == count  # every event delivered
    assert receiver.overlaps == []  # none handled by two workers at one moment
    assert len(ids) == count  # and, with no answer lost, none sent twice at all
    senders = {a.worker for d in _attempts(hub, view.id) for a in d}
    assert len(senders) == workers  # every worker took a share


def _delivered(hub: object) -> int:
    with hub.unit_of_work() as uow:  # type: ignore[attr-defined]
        return uow.webhooks.counts().get("delivered", 0)


def _attempts(hub: object, endpoint_id: int) -> list[list[object]]:
    with hub.unit_of_work() as uow:  # type: ignore[attr-defined]
        rows = uow.webhooks.deliveries(endpoint_id, limit=100_000)
        return list(uow.webhooks.attempts_of([r.id for r in rows]).values())
