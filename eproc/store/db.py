"""Engine and session factory; the unit of work that use cases run in."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker


def make_engine(url: str) -> Engine:
    """An engine for ``url`` with the settings each backend needs under several workers."""
    if url.startswith("sqlite"):
        engine = create_engine(
            url, connect_args={"timeout": 30, "check_same_thread": False}, hide_parameters=True
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
            cursor = dbapi_connection.cursor()
            # WAL lets FMS polls read while the portal queues; foreign keys are off by default.
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    # pre_ping: a connection dropped by a database restart is replaced before use, so FMS is not
    # turned away after one. hide_parameters: errors logged by SQLAlchemy never carry usernames,
    # DocIDs or hashes.
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10, hide_parameters=True)


@lru_cache(maxsize=8)
def engine_for(url: str) -> Engine:
    """One engine (and connection pool) per database URL per process."""
    return make_engine(url)


class UnitOfWork:
    """A session that rolls back unless the use case commits."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._factory = sessionmaker(engine, expire_on_commit=False)

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        """A connection in autocommit mode, for one read on a hot path.

        No session and no BEGIN/COMMIT: on PostgreSQL the read is a single round trip. Only for a
        lone SELECT whose answer needs no transaction around it.
        """
        with self._engine.connect() as connection:
            yield connection.execution_options(isolation_level="AUTOCOMMIT")

    @contextmanager
    def begin(self) -> Iterator[Session]:
        session = self._factory()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()
