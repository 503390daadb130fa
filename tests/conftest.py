"""Fixtures: throwaway databases (SQLite always, PostgreSQL when EPROC_TEST_POSTGRES_URL is set),
settings that point at them, and a real gunicorn server started through the real CLI."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from eproc.config import Settings, load_settings
from eproc.services.hub import Hub, build_hub
from eproc.store.migrate import upgrade

POSTGRES_URL = os.environ.get("EPROC_TEST_POSTGRES_URL", "")
DATA = Path(__file__).parent / "data"

# argon2 at production cost would make every test account cost ~150 ms; the cost is configuration,
# and the benchmarks measure the real one.
CHEAP_HASHING = {
    "EPROC_ARGON2_TIME_COST": "1",
    "EPROC_ARGON2_MEMORY_COST": "1024",
    "EPROC_ARGON2_PARALLELISM": "1",
}

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def server_environment(database_url: str, **extra: str) -> dict[str, str]:
    """The EPROC_* variables a test process or server runs with."""
    return {"EPROC_DATABASE_URL": database_url, **CHEAP_HASHING, **extra}


def make_settings(database_url: str, **extra: str) -> Settings:
    return load_settings(server_environment(database_url, **extra))


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


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Migrating once and copying the file is much faster than migrating for every test."""
    path = tmp_path_factory.mktemp("template") / "eproc.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def _postgres_session_db() -> Iterator[PostgresDatabase]:
    database = create_postgres_database()
    upgrade(database.url)
    yield database
    from eproc.store.db import engine_for

    engine_for(database.url).dispose()
    database.drop()


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path, _sqlite_template: Path) -> Iterator[str]:
    """A migrated, empty database for one test."""
    if request.param == "sqlite":
        path = tmp_path / "eproc.db"
        shutil.copy(_sqlite_template, path)
        yield f"sqlite:///{path}"
        return
    database = request.getfixturevalue("_postgres_session_db")
    engine = create_engine(database.url)
    with engine.begin() as connection:
        connection.execute(text("TRUNCATE event, document, received_order, account RESTART IDENTITY CASCADE"))
    engine.dispose()
    yield database.url


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url)


@pytest.fixture
def hub(settings: Settings) -> Hub:
    return build_hub(settings)


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
    import requests

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            requests.get(f"{server.base_url}/health", timeout=2, verify=False)
            return
        except requests.exceptions.SSLError:
            return
        except requests.ConnectionError:
            time.sleep(0.1)
    raise RuntimeError("server never answered:\n" + "".join(server.log))


@pytest.fixture(scope="module", params=BACKENDS)
def live_database(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated database shared by one test module and its server."""
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("live") / "eproc.db"
        url = f"sqlite:///{path}"
        upgrade(url)
        yield url
        return
    database = create_postgres_database()
    upgrade(database.url)
    yield database.url
    from eproc.store.db import engine_for

    engine_for(database.url).dispose()
    database.drop()


@pytest.fixture(scope="module")
def live_hub(live_database: str) -> Hub:
    return build_hub(make_settings(live_database))


@pytest.fixture(scope="module")
def live_server(live_database: str) -> Iterator[LiveServer]:
    server = start_server(live_database)
    yield server
    server.stop()


def unique_name(prefix: str = "school") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"
