"""Engines, and the store: the one object the use cases reach the database through."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import sessionmaker

from eproc.store import guards
from eproc.store.condition import Condition, condition, explain, row_counts
from eproc.store.guards import DatabaseTimeouts
from eproc.store.repositories import (
    CredentialState,
    TokenState,
    account_ids_of,
    credential_state,
    token_state,
)
from eproc.store.unit_of_work import UnitOfWork


def make_engine(url: str, timeouts: DatabaseTimeouts = DatabaseTimeouts()) -> Engine:
    """An engine for ``url`` with the settings each backend needs under several workers, and
    bounded waits (eproc/store/guards.py)."""
    engine = _create(url, timeouts)
    guards.install(engine, timeouts)
    return engine


def _create(url: str, timeouts: DatabaseTimeouts) -> Engine:
    busy_ms = int(timeouts.statement * 1000)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args=guards.connect_args(url, timeouts), hide_parameters=True)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            # WAL lets FMS polls read while the portal queues; foreign keys are off by default.
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
            cursor.close()

        return engine
    # pre_ping: a connection dropped by a database restart is replaced before use, so FMS is not
    # turned away after one. hide_parameters: errors logged by SQLAlchemy never carry usernames,
    # DocIDs or hashes.
    return create_engine(
        url, pool_pre_ping=True, pool_size=5, max_overflow=10, hide_parameters=True,
        connect_args=guards.connect_args(url, timeouts), pool_timeout=timeouts.connect + timeouts.statement,
    )


_ENGINES: dict[tuple[str, DatabaseTimeouts], Engine] = {}


def engine_for(url: str, timeouts: DatabaseTimeouts = DatabaseTimeouts()) -> Engine:
    """One engine (and connection pool) per database URL (and timeouts) per process."""
    key = (url, timeouts)
    engine = _ENGINES.get(key)
    if engine is None:
        engine = _ENGINES[key] = make_engine(url, timeouts)
    return engine


def dispose_engines(url: str) -> None:
    """Close every pooled connection to ``url``, whatever timeouts its engines were made with (a
    database about to be dropped or moved must not stay open through one of them)."""
    for (engine_url, _timeouts), engine in list(_ENGINES.items()):
        if engine_url == url:
            engine.dispose()


class Store:
    """The database as the use cases see it: units of work, the warm-path read, a ping."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @classmethod
    def at(cls, url: str, timeouts: DatabaseTimeouts = DatabaseTimeouts()) -> Store:
        return cls(engine_for(url, timeouts))

    def unit_of_work(self) -> UnitOfWork:
        return UnitOfWork(self._sessions)

    @contextmanager
    def _autocommit(self) -> Iterator[Connection]:
        with self.engine.connect() as connection:
            yield connection.execution_options(isolation_level="AUTOCOMMIT")

    def credential_state(self, username: str) -> CredentialState | None:
        """One narrow read in autocommit mode: no session and no BEGIN/COMMIT, so on PostgreSQL a
        single round trip. Only for the warm login path, whose answer needs no transaction."""
        with self._autocommit() as connection:
            return credential_state(connection, username)

    def token_state(self, token_id: str) -> tuple[TokenState | None, list[int]]:
        """The token's row and, when it is limited to some accounts, their ids: one connection, no
        transaction (the API's hot path, like :meth:`credential_state` is FMS's)."""
        with self._autocommit() as connection:
            state = token_state(connection, token_id)
            ids = account_ids_of(connection, state.accounts.split(",")) if state and state.accounts else []
            return state, ids

    def ping(self) -> None:
        """Raise if the database cannot be reached."""
        with self._autocommit() as connection:
            connection.execute(text("SELECT 1"))

    def probe_write(self, timeout_seconds: float = 1.0) -> None:
        """Raise if the database cannot be written now: one row write, rolled back (the schema's
        own version row, so no table of its own). The caller bounds the wait (SQLite may wait
        for another writer's lock; a PostgreSQL statement waits at most ``timeout_seconds``)."""
        with self.engine.connect() as connection, connection.begin() as transaction:
            if self.engine.dialect.name == "postgresql":
                connection.exec_driver_sql(f"SET LOCAL statement_timeout = {int(timeout_seconds * 1000)}")
            connection.execute(text("UPDATE alembic_version SET version_num = version_num"))
            transaction.rollback()

    def explain(self, exc: BaseException) -> str:
        """One line for a failure of this database, by its cause, with the fix."""
        if isinstance(exc, SQLAlchemyError):
            return str(explain(exc, self.engine.url.render_as_string(hide_password=False)))
        return f"{type(exc).__name__}: {exc}"

    def condition(self) -> Condition:
        """Reachable or not, and at which migration compared with the code's (never raises)."""
        return condition(self.engine)

    def row_counts(self) -> dict[str, int]:
        return row_counts(self.engine)
