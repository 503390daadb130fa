"""Concurrency on PostgreSQL, over real HTTP to four workers: eight FMS import cycles for different
accounts at once, while another thread keeps changing one of those accounts' password. No
document crosses accounts, no update is lost, and every call either succeeds or fails with the
documented fault."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from lxml import etree
from sec_support import AUTH_FAULT, Reply, call, events_of, new_school, queue_quotes
from support import LiveServer, create_postgres_database, make_settings, start_server

from eproc.services import admin
from eproc.services.hub import Hub, build_hub
from eproc.store.migrate import upgrade

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

ACCOUNTS = 8
DOCUMENTS = 8
CYCLES = 3
PASSWORD_CHANGES = 20


@dataclass
class Tenant:
    username: str
    password: str
    doc_ids: list[str]
    lock: threading.Lock = field(default_factory=threading.Lock)
    fetched: Counter = field(default_factory=Counter)
    processed: dict[str, bool] = field(default_factory=dict)
    auth_faults: int = 0

    def current_password(self) -> str:
        with self.lock:
            return self.password


@pytest.fixture(scope="module")
def postgres_server() -> Iterator[tuple[LiveServer, Hub]]:
    database = create_postgres_database()
    upgrade(database.url)
    # Lockouts off for this test: it is about consistency under concurrency, and the importer of the
    # account whose password changes may send a just-retired password a few times (a failure each).
    env = {"EPROC_LOGIN_FAILURE_LIMIT": "0", "EPROC_LOGIN_ADDRESS_FAILURE_LIMIT": "0"}
    server = start_server(database.url, "--workers", "4", env=env)
    try:
        yield server, build_hub(make_settings(database.url))
    finally:
        server.stop()
        from eproc.store.db import dispose_engines

        dispose_engines(database.url)
        database.drop()


class Unexpected(AssertionError):
    pass


def _checked(reply: Reply, operation: str) -> str | None:
    """The result text, or None for the documented AuthenticationException; anything else is a failure."""
    if reply.status == 200:
        return reply.result(operation)
    if reply.status == 500 and reply.fault() == ("soap:Client", AUTH_FAULT):
        return None
    raise Unexpected(f"{operation}: {reply.status} {reply.body[:300]!r}")


def _call(server: LiveServer, tenant: Tenant, operation: str, params: str = "") -> str | None:
    """One FMS call with the password FMS holds now; after an auth fault it tries again with the
    newest one, as a school re-entering its password would."""
    for _ in range(5):
        result = _checked(
            call(server.endpoint, operation, tenant.username, tenant.current_password(), params), operation
        )
        if result is not None:
            return result
        tenant.auth_faults += 1
        time.sleep(0.01)
    return None


def _import_cycles(server: LiveServer, tenant: Tenant, errors: list[BaseException]) -> None:
    try:
        for _ in range(CYCLES):
            index = _call(server, tenant, "FetchIndex")
            listed = [] if index is None else [e.text for e in etree.fromstring(index.encode()).iter("DocID")]
            if set(listed) - set(tenant.doc_ids):
                raise Unexpected(f"{tenant.username} was listed another account's documents")
            for doc_id in listed:
                text = _call(server, tenant, "FetchDoc", f"<DocID>{doc_id}</DocID>")
                if text is not None:
                    if f"<Owner>{tenant.username}</Owner>" not in text:
                        raise Unexpected(f"{tenant.username} fetched another account's document")
                    tenant.fetched[doc_id] += 1
                done = _call(
                    server, tenant, "UpdateDocumentStatus", f"<DocID>{doc_id}</DocID><Processed>true</Processed>"
                )
                if done is not None:
                    assert done == "true"
                    tenant.processed[doc_id] = True
            for doc_id in tenant.doc_ids:  # put everything back for the next cycle
                params = f"<DocID>{doc_id}</DocID><Processed>false</Processed>"
                if _call(server, tenant, "UpdateDocumentStatus", params) is not None:
                    tenant.processed[doc_id] = False
    except BaseException as exc:  # noqa: BLE001 - reported by the test
        errors.append(exc)


def _change_passwords(server: LiveServer, tenant: Tenant, changes: list[str], errors: list[BaseException]) -> None:
    try:
        while len(changes) < PASSWORD_CHANGES:
            reply = call(server.endpoint, "ChangePassword", tenant.username, tenant.current_password())
            new_password = _checked(reply, "ChangePassword")
            if new_password is None:
                continue  # the documented fault (e.g. overtaken by a concurrent login): FMS tries again
            changes.append(new_password)
            with tenant.lock:
                tenant.password = new_password
            time.sleep(0.01)
    except BaseException as exc:  # noqa: BLE001
        errors.append(exc)


def test_import_cycles_and_a_password_change_at_once(postgres_server: tuple[LiveServer, Hub]) -> None:
    server, hub = postgres_server
    tenants = []
    for n in range(ACCOUNTS):
        username, password = new_school(hub, buyer_duns=f"{200_000_000 + n}", prefix=f"conc{n}")
        tenants.append(Tenant(username, password, queue_quotes(hub, username, DOCUMENTS)))
    initial_password = tenants[0].password
    errors: list[BaseException] = []
    changes: list[str] = []
    threads = [threading.Thread(target=_import_cycles, args=(server, t, errors)) for t in tenants]
    threads.append(threading.Thread(target=_change_passwords, args=(server, tenants[0], changes, errors)))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not any(thread.is_alive() for thread in threads)
    assert errors == []

    # Only the account whose password changed ever met the authentication fault.
    assert [t.auth_faults for t in tenants[1:]] == [0] * (ACCOUNTS - 1)
    # No lost update: every successful FetchDoc was counted, every flag is the last one set.
    for tenant in tenants:
        stored = {d.doc_id: d for d in admin.list_documents(hub, tenant.username)}
        assert sorted(stored) == sorted(tenant.doc_ids)
        for doc_id in tenant.doc_ids:
            assert stored[doc_id].collect_count == tenant.fetched[doc_id], doc_id
            assert stored[doc_id].processed is tenant.processed.get(doc_id, False), doc_id
        assert sum(tenant.fetched.values()) > 0
    # Every change happened once, and the last password handed out is the one that works.
    changed = [e for e in events_of(hub, "account.password_changed") if e.subject == tenants[0].username]
    assert len(changed) == len(changes) == PASSWORD_CHANGES
    final = changes[-1]
    assert call(server.endpoint, "FetchIndex", tenants[0].username, final).status == 200
    for old in [initial_password, *changes[:-1]]:
        assert call(server.endpoint, "FetchIndex", tenants[0].username, old).fault()[1] == AUTH_FAULT
    log = "".join(server.log)
    assert "internal error" not in log and "Traceback" not in log
