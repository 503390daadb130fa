"""Shared by the security tests: accounts and documents, a raw SOAP poster, a recording listener,
the peak memory of a server's worker, and everything a database holds, as text."""

from __future__ import annotations

import http.server
import itertools
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dotnet_client as net
from sqlalchemy import create_engine, inspect, select
from sqlalchemy.orm import Session
from support import BUYER_DUNS, SUPPLIER_DUNS, LiveServer, WsgiEndpoint, new_school, quote_xml  # noqa: F401 - shared here too

from eproc.services import accounts, authentication, intake
from eproc.services.hub import Hub
from eproc.store.models import Account, Document, Event, ReceivedOrder
from eproc.store.repositories import EventRepository

SOAP11_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
AUTH_FAULT = "AuthenticationException: The username or password supplied is not valid."
DATA = Path(__file__).resolve().parents[1] / "data" / "ebis" / "valid"


_QUOTE_NUMBERS = itertools.count(1)


def queue_quotes(hub: Hub, username: str, count: int) -> list[str]:
    """``count`` documents for ``username``, each naming its owner (so a leak shows in its text).

    Each is numbered apart: the same bytes still pending for a school are stored only once.
    """
    with hub.unit_of_work() as uow:
        account = uow.accounts.by_username(username)
        assert account is not None, username
        duns = (account.buyer_duns, account.supplier_duns)
    return [
        intake.queue_document(
            hub,
            quote_xml(f"<Owner>{username}</Owner><N>{next(_QUOTE_NUMBERS)}</N>", buyer_duns=duns[0],
                      supplier_duns=duns[1]),
            username=username,
            requested_type="quote",
        ).doc_id
        for _ in range(count)
    ]


# What ends a verified login, made through another worker's hub (a lockout, the fourth, each test
# makes from where it matters to it).
CREDENTIAL_CHANGES = ("reset", "change_password", "disable")


def change_credentials(other: Hub, username: str, password: str, change: str) -> None:
    if change == "reset":
        accounts.reset_password(other, username)
    elif change == "change_password":
        new_password = authentication.change_password(other, authentication.authenticate(other, username, password))
        authentication.authenticate(other, username, new_password)  # used once: the old one is retired
    elif change == "disable":
        accounts.set_enabled(other, username, False)
    else:
        raise ValueError(change)


def account_row(hub: Hub, username: str) -> Account:
    # A plain session: closing it detaches the row with its values loaded (a unit of work rolls
    # back on exit, which would expire them).
    with Session(hub.store.engine) as session:
        account = session.scalars(select(Account).where(Account.username == username)).one_or_none()
        assert account is not None
        return account


def stored_counts(hub: Hub) -> dict[str, int]:
    """How many documents, received orders and accounts the database holds."""
    with Session(hub.store.engine) as session:
        return {
            model.__tablename__: len(session.scalars(select(model.id)).all())
            for model in (Document, ReceivedOrder, Account)
        }


def events_of(hub: Hub, kind: str | None = None) -> list[Event]:
    with Session(hub.store.engine) as session:
        return list(EventRepository(session).listing(type_=kind))


def database_text(database_url: str) -> str:
    """Every value of every table, as text: what someone holding a dump of the database would see."""
    engine = create_engine(database_url)
    try:
        lines: list[str] = []
        with engine.connect() as connection:
            for table in inspect(connection).get_table_names():
                for row in connection.exec_driver_sql(f'SELECT * FROM "{table}"'):  # noqa: S608 - names from the schema
                    lines.append(" | ".join(_text(value) for value in row))
        return "\n".join(lines)
    finally:
        engine.dispose()


def _text(value: object) -> str:
    if isinstance(value, bytes | memoryview):
        return bytes(value).decode("utf-8", errors="replace")
    return str(value)


def sqlite_file_bytes(database_url: str) -> bytes:
    """The raw bytes of an SQLite database and its write-ahead log (freed pages and all)."""
    path = Path(database_url.removeprefix("sqlite:///"))
    return b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists())


# --- raw SOAP (the one client, dotnet_client, with the envelopes these tests build) -----------

Reply = net.Response
OTS = net.OTS


def escape(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def auth_header(username: str, password: str) -> str:
    return (
        f'<AuthHeader xmlns="{OTS}"><Username>{escape(username)}</Username>'
        f"<Password>{escape(password)}</Password></AuthHeader>"
    )


def envelope(operation: str, params: str = "", header: str = "", prolog: str = "") -> bytes:
    body = f'<{operation} xmlns="{OTS}">{params}</{operation}>'
    return (
        f'{prolog}<soap:Envelope xmlns:soap="{SOAP11_ENV}"><soap:Header>{header}</soap:Header>'
        f"<soap:Body>{body}</soap:Body></soap:Envelope>"
    ).encode()


def post(
    url: str | WsgiEndpoint,
    body: bytes,
    operation: str = "FetchIndex",
    content_type: str | None = "text/xml; charset=utf-8",
    headers: dict[str, str] | None = None,
    chunked: bool = False,
    timeout: float = 60,
    remote_addr: str = "127.0.0.1",
) -> Reply:
    """A SOAP 1.1 POST without ``Expect: 100-continue`` (``content_type=None`` sends none)."""
    return net.post(
        url,
        operation,
        body,
        content_type=content_type,
        expect_continue=False,
        timeout=timeout,
        headers=headers,
        chunked=chunked,
        remote_addr=remote_addr,
    )


def call(
    url: str | WsgiEndpoint, operation: str, username: str, password: str, params: str = "", **kwargs: Any
) -> Reply:
    return post(url, envelope(operation, params, auth_header(username, password)), operation, **kwargs)


# --- a listener that records whether anything contacted it -------------------------------------


@dataclass
class Listener:
    url: str
    requests: list[str] = field(default_factory=list)


@contextmanager
def recording_listener() -> Iterator[Listener]:
    """An HTTP server on 127.0.0.1 that records every request made to it (and answers with an entity)."""
    listener = Listener("")

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the http.server API
            listener.requests.append(self.path)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b'<!ENTITY leaked "LISTENER-WAS-READ">')

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    listener.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield listener
    finally:
        server.shutdown()
        server.server_close()


# --- memory of a server's worker ---------------------------------------------------------------


def worker_pids(server: LiveServer) -> list[int]:
    """The gunicorn workers: the children of the process ``eproc serve`` runs in."""
    master = server.process.pid
    children: list[int] = []
    for task in Path(f"/proc/{master}/task").iterdir():
        text = (task / "children").read_text().split()
        children.extend(int(pid) for pid in text)
    return children


def peak_rss_kib(pid: int) -> int:
    """VmHWM: the most resident memory the process has ever had."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmHWM for process {pid}")
