"""Fixtures: throwaway databases (SQLite always, PostgreSQL when EPROC_TEST_POSTGRES_URL is set),
settings that point at them, the WSGI application called in process, and a real gunicorn server
started through the real CLI (for what needs the wire)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from support import (
    BACKENDS,
    InProcessService,
    LiveServer,
    PostgresDatabase,
    create_postgres_database,
    in_process_service,
    make_settings,
    migrated_database,
    start_server,
)

from eproc.config import Settings
from eproc.services.hub import Hub, build_hub
from eproc.store.migrate import upgrade
from eproc.store.models import Base

DATA = Path(__file__).parent / "data"


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
    from eproc.store.db import dispose_engines

    dispose_engines(database.url)
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
    # Every table the models define (tokens and signing keys too, or a token made by one test
    # collides with the next test's by name), so a new table needs no edit here.
    tables = ", ".join(table.name for table in Base.metadata.sorted_tables)
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()
    yield database.url


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url)


@pytest.fixture
def hub(settings: Settings) -> Hub:
    return build_hub(settings)


@pytest.fixture(scope="module", params=BACKENDS)
def live_database(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated database shared by one test module and its server."""
    with migrated_database(request.param, tmp_path_factory.mktemp("live")) as url:
        yield url


@pytest.fixture(scope="module")
def live_hub(live_database: str) -> Hub:
    return build_hub(make_settings(live_database))


@pytest.fixture(scope="module")
def live_app(live_database: str) -> InProcessService:
    """The application gunicorn would serve, built from its own settings (its own hub, as a worker
    has), called in process on the module's database."""
    return in_process_service(make_settings(live_database))


@pytest.fixture(scope="module")
def live_server(live_database: str) -> Iterator[LiveServer]:
    server = start_server(live_database)
    yield server
    server.stop()
