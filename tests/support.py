"""Helpers shared by the tests, one of each: the environment eproc runs with, a school, the command
line in process, a WSGI call in process, and a real server (for what needs the wire)."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from eproc.config import Settings, load_settings
from eproc.services.hub import Hub

POSTGRES_URL = os.environ.get("EPROC_TEST_POSTGRES_URL", "")
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]

# argon2 at production cost would make every test account cost ~150 ms; the cost is configuration,
# and the benchmarks measure the real one.
CHEAP_HASHING = {
    "EPROC_ARGON2_TIME_COST": "1",
    "EPROC_ARGON2_MEMORY_COST": "1024",
    "EPROC_ARGON2_PARALLELISM": "1",
}


def server_environment(database_url: str, **extra: str) -> dict[str, str]:
    """The EPROC_* variables a test process or server runs with."""
    return {"EPROC_DATABASE_URL": database_url, **CHEAP_HASHING, **extra}


# --- a school ------------------------------------------------------------------------------------

BUYER_DUNS = "123456789"
SUPPLIER_DUNS = "987654321"


def quote_xml(body: str = "", *, buyer_duns: str = BUYER_DUNS, supplier_duns: str = SUPPLIER_DUNS) -> bytes:
    """A quote: no schema, but the DUNS handshake where an Order carries it (docs/ebis-decisions.md)."""
    return (
        f"<Quote><Buyer><BuyerReferences><DUNS>{buyer_duns}</DUNS></BuyerReferences></Buyer>"
        f"<Supplier><SupplierReferences><DUNS>{supplier_duns}</DUNS></SupplierReferences></Supplier>{body}</Quote>"
    ).encode()


def new_school(
    hub: Hub,
    password: str | None = None,
    *,
    buyer_duns: str = BUYER_DUNS,
    supplier_duns: str = SUPPLIER_DUNS,
    prefix: str = "school",
    establishment_name: str | None = None,
) -> tuple[str, str]:
    """A fresh school account (a unique username); (username, password)."""
    from eproc.services import accounts

    username = unique_name(prefix)
    _, secret = accounts.create_account(
        hub,
        username,
        establishment_name=establishment_name or f"{username} School",
        buyer_duns=buyer_duns,
        supplier_duns=supplier_duns,
        password=password,
    )
    return username, secret


# --- the command line, in process -------------------------------------------------------------


@dataclass
class CliResult:
    """What a shell would see of one ``eproc`` run."""

    returncode: int
    stdout: str
    stderr: str


def run_cli(database_url: str | None, *args: str, **env: str) -> CliResult:
    """``eproc ARGS`` run in this process by click's CliRunner, with the environment a user's shell
    would give it (each invocation reads its settings from that environment, as a process does).

    An exception the command does not handle is written to ``stderr`` as a traceback, as the real
    process would, so that "no traceback" stays something a test can check.
    """
    from click.testing import CliRunner

    from eproc.cli import main

    environment = {**(server_environment(database_url) if database_url else {}), **env}
    result = CliRunner().invoke(main, list(args), env=environment, prog_name="eproc")
    stderr = result.stderr
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        assert result.exc_info is not None
        stderr += "".join(traceback.format_exception(*result.exc_info))
    return CliResult(result.exit_code, result.stdout, stderr)


# --- a WSGI call, in process --------------------------------------------------------------------

WsgiApp = Callable[[dict[str, Any], Callable[..., object]], Iterable[bytes]]


@dataclass
class WsgiResponse:
    status: int
    headers: dict[str, str]  # names in lower case
    body: bytes


def call_wsgi(
    app: WsgiApp,
    url: str,
    method: str = "GET",
    body: bytes = b"",
    headers: Iterable[tuple[str, str]] = (),
    remote_addr: str = "127.0.0.1",
) -> WsgiResponse:
    """One request to ``app`` as a WSGI server would make it (PEP 3333 environ), without a socket."""
    parts = urlsplit(url)
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": "",
        "PATH_INFO": parts.path or "/",
        "QUERY_STRING": parts.query,
        "SERVER_NAME": parts.hostname or "127.0.0.1",
        "SERVER_PORT": str(parts.port or (443 if parts.scheme == "https" else 80)),
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": remote_addr,
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": parts.scheme or "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    for name, value in headers:
        key = name.upper().replace("-", "_")
        if key == "CONTENT_TYPE":
            environ["CONTENT_TYPE"] = value
        elif key == "CONTENT_LENGTH":
            environ["CONTENT_LENGTH"] = value
        else:
            environ["HTTP_" + key] = value
    started: dict[str, Any] = {}

    def start_response(status: str, response_headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        started["status"] = int(status.split()[0])
        started["headers"] = {name.lower(): value for name, value in response_headers}

    chunks = app(environ, start_response)
    try:
        payload = b"".join(chunks)
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
    return WsgiResponse(started["status"], started["headers"], payload)


@dataclass(frozen=True)
class WsgiEndpoint:
    """The SOAP endpoint of an application called in process; the raw SOAP client posts to it as it
    posts to a URL."""

    app: WsgiApp
    url: str = "http://127.0.0.1/service.asmx"


@dataclass
class InProcessService:
    """``eproc.web.create_app(settings)``, called directly: the same WSGI application gunicorn serves."""

    app: WsgiApp
    base_url: str = "http://127.0.0.1"

    @property
    def endpoint(self) -> WsgiEndpoint:
        return WsgiEndpoint(self.app, f"{self.base_url}/service.asmx")


def in_process_service(settings: Settings | None = None, *, hub: Hub | None = None) -> InProcessService:
    from eproc.web import create_app

    return InProcessService(create_app(settings, hub=hub))


# --- a real server ----------------------------------------------------------------------------


@dataclass
class LiveServer:
    process: subprocess.Popen
    base_url: str
    log: list[str]

    @property
    def endpoint(self) -> str:
        return f"{self.base_url}/service.asmx"

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


LISTENING = re.compile(r"Listening at: (https?://[^\s]+) ")


def start_server(
    database_url: str, *extra_args: str, env: dict[str, str] | None = None, worker: bool = False,
    run_as: Any = None,
) -> LiveServer:
    """``eproc serve --port 0`` as a user would run it; the bound port is read from gunicorn's log.
    ``run_as`` (tests/unprivileged.py) starts it as another user."""
    command = [sys.executable, "-m", "eproc.cli", "serve", "--host", "127.0.0.1", "--port", "0", *extra_args]
    if not worker:
        command.append("--no-worker")  # most tests want no webhook worker polling beside them
    process_env = {**os.environ, **server_environment(database_url), **(env or {})}
    options: dict[str, Any] = {}
    if run_as is not None:
        command = run_as.command(command)
        options = run_as.popen_options()
        process_env["PYTHONDONTWRITEBYTECODE"] = "1"
    process = subprocess.Popen(
        command, env=process_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1, **options
    )
    log: list[str] = []
    found: dict[str, str] = {}
    ready = threading.Event()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            log.append(line)
            match = LISTENING.search(line)
            if match and "url" not in found:
                found["url"] = match.group(1)
            if "Booting worker" in line and "url" in found:
                ready.set()
        ready.set()

    threading.Thread(target=pump, daemon=True).start()
    if not ready.wait(timeout=30) or "url" not in found:
        process.kill()
        raise RuntimeError("server did not start:\n" + "".join(log))
    server = LiveServer(process, found["url"], log)
    _wait_until_answering(server)
    return server


def _wait_until_answering(server: LiveServer) -> None:
    """Workers may still be importing after the arbiter logs; wait until a connection is accepted."""
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(server.base_url)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((parts.hostname, parts.port), timeout=2):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("server never answered:\n" + "".join(server.log))


@dataclass
class PostgresDatabase:
    admin_url: str
    url: str
    name: str

    def drop(self) -> None:
        engine = create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        with engine.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
        engine.dispose()


def create_postgres_database() -> PostgresDatabase:
    """A fresh, empty database on the test server, dropped by the caller."""
    if not POSTGRES_URL:
        pytest.skip("no PostgreSQL: set EPROC_TEST_POSTGRES_URL (e.g. postgresql+psycopg://postgres@127.0.0.1/test)")
    name = f"eproc_test_{uuid.uuid4().hex[:12]}"
    engine = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    url = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    return PostgresDatabase(POSTGRES_URL, url, name)


def make_settings(database_url: str, **extra: str) -> Settings:
    return load_settings(server_environment(database_url, **extra))


@contextmanager
def migrated_database(backend: str, directory: Path) -> Iterator[str]:
    """A fresh database migrated to head (a SQLite file in ``directory``, or a new PostgreSQL
    database), removed afterwards."""
    from eproc.store.db import dispose_engines
    from eproc.store.migrate import upgrade

    if backend == "sqlite":
        url = f"sqlite:///{directory / 'eproc.db'}"
        upgrade(url)
        yield url
        return
    database = create_postgres_database()
    try:
        upgrade(database.url)
        yield database.url
    finally:
        dispose_engines(database.url)
        database.drop()


def unique_name(prefix: str = "school") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"
