"""Shared by the security tests: accounts and documents, a raw SOAP poster, a recording listener,
the peak memory of a server's worker, and everything a database holds, as text."""

from __future__ import annotations

import http.client
import http.server
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy import create_engine, inspect, select
from support import LiveServer, unique_name

from eproc.services import accounts, intake
from eproc.services.hub import Hub
from eproc.store import repositories as repo
from eproc.store.models import Account, Document, Event, ReceivedOrder

OTS = "http://www.dcsf.gov.uk/open/webservices/ots"
SOAP11_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
AUTH_FAULT = "AuthenticationException: The username or password supplied is not valid."
DATA = Path(__file__).resolve().parents[1] / "data" / "ebis" / "valid"
BUYER_DUNS = "123456789"
SUPPLIER_DUNS = "987654321"


def new_school(
    hub: Hub, password: str | None = None, buyer_duns: str = BUYER_DUNS, prefix: str = "school"
) -> tuple[str, str]:
    """A fresh account; (username, password)."""
    username = unique_name(prefix)
    _, secret = accounts.create_account(
        hub,
        username,
        establishment_name=f"{username} School",
        buyer_duns=buyer_duns,
        supplier_duns=SUPPLIER_DUNS,
        password=password,
    )
    return username, secret


def queue_quotes(hub: Hub, username: str, count: int) -> list[str]:
    """``count`` documents for ``username``, each naming its owner (so a leak shows in its text)."""
    return [
        intake.queue_document(
            hub,
            f"<Quote><Owner>{username}</Owner><N>{n}</N></Quote>".encode(),
            username=username,
            requested_type="quote",
        ).doc_id
        for n in range(count)
    ]


def account_row(hub: Hub, username: str) -> Account:
    with hub.uow.begin() as session:
        account = repo.account_by_username(session, username)
        assert account is not None
        return account


def stored_counts(hub: Hub) -> dict[str, int]:
    """How many documents, received orders and accounts the database holds."""
    with hub.uow.begin() as session:
        return {
            model.__tablename__: len(session.scalars(select(model.id)).all())
            for model in (Document, ReceivedOrder, Account)
        }


def events_of(hub: Hub, kind: str | None = None) -> list[Event]:
    with hub.uow.begin() as session:
        return list(repo.events(session, kind=kind))


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


# --- raw SOAP over HTTP -----------------------------------------------------------------------


@dataclass
class Reply:
    status: int
    content_type: str
    body: bytes

    def fault(self) -> tuple[str, str]:
        """(faultcode, faultstring) of a SOAP 1.1 fault, checking it has the ASMX shape."""
        from lxml import etree

        root = etree.fromstring(self.body)
        fault = root.find(f"{{{SOAP11_ENV}}}Body/{{{SOAP11_ENV}}}Fault")
        assert fault is not None, self.body[:500]
        assert [child.tag for child in fault] == ["faultcode", "faultstring", "detail"]
        return fault[0].text or "", fault[1].text or ""

    def result(self, operation: str) -> str:
        from lxml import etree

        root = etree.fromstring(self.body)
        element = root.find(f"{{{SOAP11_ENV}}}Body/{{{OTS}}}{operation}Response/{{{OTS}}}{operation}Result")
        assert self.status == 200 and element is not None, self.body[:500]
        return element.text or ""


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
    url: str,
    body: bytes,
    operation: str = "FetchIndex",
    content_type: str | None = "text/xml; charset=utf-8",
    headers: dict[str, str] | None = None,
    chunked: bool = False,
    timeout: float = 60,
) -> Reply:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        connection.putrequest("POST", parts.path)
        if content_type is not None:
            connection.putheader("Content-Type", content_type)
        connection.putheader("SOAPAction", f'"{OTS}/{operation}"')
        for name, value in (headers or {}).items():
            connection.putheader(name, value)
        if chunked:
            connection.putheader("Transfer-Encoding", "chunked")
            connection.endheaders()
            for start in range(0, len(body), 1 << 20):
                piece = body[start : start + (1 << 20)]
                connection.send(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            connection.send(b"0\r\n\r\n")
        else:
            connection.putheader("Content-Length", str(len(body)))
            connection.endheaders(body)
        response = connection.getresponse()
        return Reply(response.status, response.getheader("Content-Type") or "", response.read())
    finally:
        connection.close()


def call(url: str, operation: str, username: str, password: str, params: str = "", **kwargs: object) -> Reply:
    return post(url, envelope(operation, params, auth_header(username, password)), operation, **kwargs)  # type: ignore[arg-type]


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
