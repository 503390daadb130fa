"""Engines, and the store: the one object the use cases reach the database through."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event, exc, text
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
from eproc.store.unit_of_work import CallSession, UnitOfWork

T = TypeVar("T")
# A pooled connection unused for longer than this is pinged when it is next checked out; one in
# steady use is not (a ping per checkout was a round trip on every FMS call).
IDLE_PING_SECONDS = 30.0
# The session of the FMS call being served (see Store.call), shared by its credential read and
# its unit of work.
_CALL_SESSION: ContextVar[CallSession | None] = ContextVar("eproc_call_session", default=None)


def make_engine(url: str, timeouts: DatabaseTimeouts = DatabaseTimeouts()) -> Engine:
    """An engine for ``url`` with the settings each backend needs under several workers, and
    bounded waits (eproc/store/guards.py)."""
    engine = _create(url, timeouts)
    guards.install(engine, timeouts)
    return engine


def _create(url: str, timeouts: DatabaseTimeouts) -> Engine:
    busy_ms = int(timeouts.statement * 1000)
    if url.startswith("sqlite"):
        # LIFO: the connection used last is used next. A worker can come to hold two (the buffering
        # front's threads, a probe), and taken in turn, each call's write invalidated the other's
        # page cache: 12 page reads per FMS call instead of none (measured with strace).
        engine = create_engine(url, connect_args=guards.connect_args(url, timeouts), hide_parameters=True,
                               pool_use_lifo=True)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            # WAL lets FMS polls read while the portal queues; foreign keys are off by default.
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
            cursor.close()

        return engine
    # No pool_pre_ping: it cost a round trip on every checkout, i.e. on every FMS call. A connection
    # dropped by a database restart is found instead by the idle ping below (after a quiet spell)
    # or by the first read of a call, which is retried once on a fresh connection
    # (Store.credential_state, Store.token_state). hide_parameters: errors logged by SQLAlchemy
    # never carry usernames, DocIDs or hashes.
    engine = create_engine(
        url, pool_size=5, max_overflow=10, hide_parameters=True, pool_use_lifo=True,
        connect_args=guards.connect_args(url, timeouts), pool_timeout=timeouts.connect + timeouts.statement,
    )
    _ping_when_idle(engine)
    _autocommit_off_at_checkin(engine)
    return engine


def _autocommit_off_at_checkin(engine: Engine) -> None:
    """A connection an FMS call switched to autocommit (CallSession) goes back to the pool in the
    default mode, so no other user of the pool gets one whose "transactions" commit statement by
    statement; one that cannot be switched back is discarded instead."""

    @event.listens_for(engine, "checkin")
    def _checked_in(dbapi_connection: Any, record: Any) -> None:
        if dbapi_connection is None or not dbapi_connection.autocommit:
            return
        try:
            dbapi_connection.autocommit = False  # the pool's reset has rolled back: it is idle
        except Exception:  # noqa: BLE001 - broken or busy: not to be handed out again
            record.invalidate()


def _ping_when_idle(engine: Engine) -> None:
    """Ping a pooled connection at checkout only when it has been idle a while (SQLAlchemy's
    "pessimistic disconnect handling" recipe, limited to connections likely to have gone stale)."""

    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_connection: Any, record: Any) -> None:
        record.info["eproc_checked_in"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get("eproc_checked_in")
        if since is None or time.monotonic() - since < IDLE_PING_SECONDS:
            return
        try:
            cursor = dbapi_connection.cursor()
            cursor.execute("SELECT 1")
            cursor.close()
            dbapi_connection.rollback()
        except Exception as error:  # noqa: BLE001 - any failure means: use another connection
            # The pool discards this connection and checks out (or opens) another.
            raise exc.DisconnectionError() from error


def _first_read(call: CallSession, read: Callable[[Connection], T]) -> T:
    """Run a read on the call's connection (autocommit on PostgreSQL; the operation's unit of work
    then takes over SQLAlchemy's transaction, see UnitOfWork). If the pooled connection turns out to have
    been dropped (a database restart, an administrator's kill) and this was the call's first
    statement, run it once more: SQLAlchemy gives the invalidated connection a fresh one. Safe
    because nothing else was sent and a read changes nothing; on a disconnect SQLAlchemy also
    recycles every other connection of the pool."""
    first = not call.used
    connection = call.connect(autocommit=True)
    try:
        result = read(connection)
    except exc.DBAPIError as error:
        connection.rollback()
        if not (first and error.connection_invalidated):
            raise
        connection = call.connect(autocommit=True)  # the new connection starts in the default mode
        result = read(connection)
    return result


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

    def unit_of_work(self, *, one_statement: bool = False) -> UnitOfWork:
        """A unit of work; inside :meth:`call`, on the call's connection. ``one_statement``: the use
        case changes what it changes in one statement, so on PostgreSQL inside a call that
        statement may commit by itself (``uow.autocommit``), saving the BEGIN and COMMIT round
        trips; elsewhere it is an ordinary unit of work."""
        return UnitOfWork(self._sessions, shared=_CALL_SESSION.get(), one_statement=one_statement)

    @contextmanager
    def call(self) -> Iterator[None]:
        """Serve one FMS call on one connection in one transaction.

        Within it, the warm credential read and the operation's unit of work share one
        connection: one pool checkout (see :class:`CallSession` for when they share a transaction
        and why it does not matter). Nested use joins the outer call. Whatever a unit of work left
        uncommitted is rolled back at the end.
        """
        if _CALL_SESSION.get() is not None:
            yield
            return
        call = CallSession(self.engine)
        token = _CALL_SESSION.set(call)
        try:
            yield
        finally:
            _CALL_SESSION.reset(token)
            call.close()

    @contextmanager
    def _autocommit(self) -> Iterator[Connection]:
        with self.engine.connect() as connection:
            yield connection.execution_options(isolation_level="AUTOCOMMIT")

    def credential_state(self, username: str) -> CredentialState | None:
        """The warm login path's one narrow read: inside :meth:`call`, the first statement on the
        call's connection; outside, one read in autocommit mode. Retried once on a fresh
        connection if the pooled one was dropped."""
        call = _CALL_SESSION.get()
        if call is not None and not call.busy:
            return _first_read(call, lambda connection: credential_state(connection, username))
        return self._autocommit_read(lambda connection: credential_state(connection, username))

    def token_state(self, token_id: str) -> tuple[TokenState | None, list[int]]:
        """The token's row and, when it is limited to some accounts, their ids (the API's hot
        path, like :meth:`credential_state` is FMS's): inside :meth:`call`, the first statement on
        the connection the operation then uses; outside, one read in autocommit mode. Retried once
        on a fresh connection if the pooled one was dropped."""

        def read(connection: Connection) -> tuple[TokenState | None, list[int]]:
            state = token_state(connection, token_id)
            ids = account_ids_of(connection, state.accounts.split(",")) if state and state.accounts else []
            return state, ids

        call = _CALL_SESSION.get()
        if call is not None and not call.busy:
            return _first_read(call, read)
        return self._autocommit_read(read)

    def _autocommit_read(self, read: Callable[[Connection], T]) -> T:
        """A read in autocommit mode (no BEGIN/COMMIT: one round trip per statement on
        PostgreSQL), retried once on a fresh connection if the pooled one was dropped."""
        try:
            with self._autocommit() as connection:
                return read(connection)
        except exc.DBAPIError as error:
            if not error.connection_invalidated:
                raise
        with self._autocommit() as connection:
            return read(connection)

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
