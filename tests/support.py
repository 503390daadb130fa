"""Helpers shared by the tests: the environment a test server runs with, and a real server."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from eproc.config import Settings, load_settings

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


def start_server(database_url: str, *extra_args: str, env: dict[str, str] | None = None) -> LiveServer:
    """``eproc serve --port 0`` as a user would run it; the bound port is read from gunicorn's log."""
    command = [sys.executable, "-m", "eproc.cli", "serve", "--host", "127.0.0.1", "--port", "0", *extra_args]
    process_env = {**os.environ, **server_environment(database_url), **(env or {})}
    process = subprocess.Popen(
        command, env=process_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
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
    from eproc.store.db import engine_for
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
        engine_for(database.url).dispose()
        database.drop()


def unique_name(prefix: str = "school") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"
