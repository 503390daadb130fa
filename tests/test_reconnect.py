"""A database connection dropped under the pool (a restart, an administrator's kill) costs FMS no
failed call: the pool no longer pings on every checkout, so the call's first read finds the dead
connection and is retried once on a fresh one."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text
from support import call_wsgi, create_postgres_database, in_process_service, make_settings, new_school, quote_xml

from eproc.services import intake
from eproc.services.hub import build_hub
from eproc.store.db import engine_for
from eproc.store.migrate import upgrade

OTS = "http://www.dcsf.gov.uk/open/webservices/ots"


def _call(app, username: str, password: str, operation: str, params: str = "") -> bytes:  # type: ignore[no-untyped-def]
    body = (
        f'<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">'
        f'<soap:Header><AuthHeader xmlns="{OTS}"><Username>{username}</Username><Password>{password}</Password>'
        f'</AuthHeader></soap:Header><soap:Body><{operation} xmlns="{OTS}">{params}</{operation}></soap:Body>'
        "</soap:Envelope>"
    ).encode()
    headers = [("Content-Type", "text/xml; charset=utf-8"), ("SOAPAction", f'"{OTS}/{operation}"')]
    response = call_wsgi(app, "http://127.0.0.1/service.asmx", "POST", body, headers)
    assert response.status == 200, response.body
    return response.body


def _kill_our_connections(url: str) -> int:
    """Terminate every other backend on this test's own database: the service's pooled ones."""
    engine = create_engine(url)
    with engine.connect() as connection:
        killed = connection.execute(text(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )).scalar_one()
    engine.dispose()
    return int(killed)


@pytest.fixture
def own_database():  # type: ignore[no-untyped-def]
    """A database of this test's own: terminating its backends touches no other test's pool."""
    database = create_postgres_database()
    upgrade(database.url)
    yield database.url
    engine_for(database.url).dispose()
    database.drop()


def test_the_call_after_the_database_dropped_our_connection_succeeds(own_database):
    database_url = own_database
    hub = build_hub(make_settings(database_url))
    username, password = new_school(hub)
    doc_id = intake.queue_document(hub, quote_xml(), username=username, requested_type="quote").doc_id
    app = in_process_service(hub=hub).app
    assert doc_id.encode() in _call(app, username, password, "FetchIndex")  # the pool now holds a connection

    assert _kill_our_connections(database_url) >= 1

    assert doc_id.encode() in _call(app, username, password, "FetchIndex")
    _kill_our_connections(database_url)
    assert quote_xml().replace(b"<", b"&lt;").replace(b">", b"&gt;") in _call(
        app, username, password, "FetchDoc", f"<DocID>{doc_id}</DocID>"
    )
    _kill_our_connections(database_url)
    assert b"<UpdateDocumentStatusResult>true<" in _call(
        app, username, password, "UpdateDocumentStatus", f"<DocID>{doc_id}</DocID><Processed>true</Processed>"
    )
