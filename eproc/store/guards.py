"""Bounded waits on the database, and connections that failed for good replaced (issue 11).

Without these a PostgreSQL server that stopped answering held every request (and ``/health``) for as
long as it was frozen, and a SQLite connection opened while the file was read-only stayed read-only
after the file was mended. Three guards, each small:

* the drivers' own limits: PostgreSQL's ``connect_timeout`` and ``statement_timeout`` (the server
  cancels a slow statement; the connection stays usable), SQLite's busy timeout;
* a watchdog for a server that does not answer at all (frozen, or the network blackholed): the
  server-side timeout cannot fire there, so once a statement, commit or rollback has waited one
  second past the statement timeout the client shuts the connection's socket down; the driver
  raises, and the connection is discarded;
* error classification: read-only and I/O errors mark the connection as lost, so SQLAlchemy
  replaces it (and the pool's others) instead of handing it out again;
* SQLite's side files kept writable: SQLite creates ``-wal`` and ``-shm`` with the database file's
  mode, so a connection opened while the file was read-only left them read-only, and every write
  kept failing after the file was mended (issue 11: 56 of 56 SendOrders, a fresh server too). Each
  new connection gives its own user's side files their write permission back.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import pwd
import socket
import stat
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event, exc
from sqlalchemy.engine import ExceptionContext

log = logging.getLogger("eproc.store")

# How much longer than the server's own statement_timeout the client waits for an answer.
WATCHDOG_GRACE_SECONDS = 1.0
# How soon after the watchdog cut its connection a call's connect is refused at once (its retry;
# see _Watchdog._refuse_just_after_a_cut).
REFUSE_CONNECT_AFTER_CUT_SECONDS = 0.5
# Driver messages (lower case) after which a connection cannot be trusted again.
_LOST_CONNECTION = (
    "readonly database",
    "read-only transaction",
    "disk i/o error",
    "unable to open database file",
    "database disk image is malformed",
)


@dataclass(frozen=True)
class DatabaseTimeouts:
    """``connect``: to open a connection; ``statement``: for one statement (SQLite: for a lock)."""

    connect: float = 5
    statement: float = 10


def connect_args(url: str, timeouts: DatabaseTimeouts) -> dict[str, Any]:
    if url.startswith("sqlite"):
        return {"timeout": timeouts.statement, "check_same_thread": False}
    return {
        # libpq (and psycopg) wait at least 2 s whatever is asked: say what happens.
        "connect_timeout": max(2, round(timeouts.connect)),
        "options": f"-c statement_timeout={int(timeouts.statement * 1000)}",
    }


def install(engine: Engine, timeouts: DatabaseTimeouts) -> None:
    """The watchdog (PostgreSQL) and the error classification (both backends) on ``engine``."""
    event.listen(engine, "handle_error", _classify)
    database = engine.url.database
    if engine.dialect.name == "sqlite" and database and database != ":memory:":
        _watch_sqlite_files(engine, database)
    if engine.dialect.name == "postgresql":
        watchdog = _Watchdog(timeouts.statement + WATCHDOG_GRACE_SECONDS)
        watchdog.install(engine)
        _WATCHDOGS[engine] = watchdog


def longest_wait(engine: Engine) -> float:
    """How long this process's longest-waiting statement on ``engine`` has waited for the server
    (0 when none waits, and for SQLite): readiness answers from it at once while a call is stuck,
    instead of starting a probe that would wait too."""
    watchdog = _WATCHDOGS.get(engine)
    return 0.0 if watchdog is None else watchdog.longest_wait()


def _watch_sqlite_files(engine: Engine, path: str) -> None:
    """Side files kept writable, and no connection of a read-only episode reused once the file is
    writable: such a connection has its database file open read-only for good, and while any of
    them is open the process's other connections share its read-only ``-shm``; so the first write
    on each would fail after the episode. At the first checkout after it, the pool is emptied."""
    episode = threading.Event()  # a connection of this engine met the file read-only

    def connected(_dbapi_connection: Any, _record: Any) -> None:
        # After the backend's own "connect" listeners: the WAL pragma has opened the side files,
        # read-only if they were.
        if keep_side_files_writable(path) or not os.access(path, os.W_OK):
            episode.set()

    def failed(context: ExceptionContext) -> None:
        if "readonly" in str(context.original_exception).lower():
            episode.set()

    def checked_out(_dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        if not episode.is_set() or not os.access(path, os.W_OK):
            return
        episode.clear()
        keep_side_files_writable(path)  # a side file may have been re-created read-only since
        log.info("the SQLite database %s is writable: the connections opened read-only replaced", path)
        engine.pool.dispose()  # the idle ones
        raise exc.DisconnectionError("opened during a read-only episode")  # this one

    event.listen(engine, "connect", connected)
    event.listen(engine, "handle_error", failed)
    event.listen(engine, "checkout", checked_out)


_WATCHDOGS: weakref.WeakKeyDictionary[Engine, _Watchdog] = weakref.WeakKeyDictionary()


def _classify(context: ExceptionContext) -> None:
    original = context.original_exception
    message = str(original).lower()
    # Not the info of an invalidated connection: asking for it reconnects (a connect the cut call
    # must not wait for, see _refuse_just_after_a_cut); it is a lost connection already.
    connection = context.connection
    if connection is not None and not connection.invalidated and connection.info.get("eproc_cut_by_watchdog"):
        context.is_disconnect = True
        return
    if any(marker in message for marker in _LOST_CONNECTION):
        context.is_disconnect = True
        if context.connection is not None:  # a failed first connect replaced nothing: the caller says why
            log.info("database connection replaced after: %s", (str(original).splitlines() or ["?"])[0])
        url = context.engine.url if context.engine is not None else None
        if url is not None and url.get_backend_name() == "sqlite" and url.database and "readonly" in message:
            fix = sqlite_permission_fix(url.database, mend=True)
            if fix:
                _tell(logging.ERROR, "%s", fix)


class _Watchdog:
    """Shuts down the socket of a connection that has waited ``limit`` seconds for the server."""

    def __init__(self, limit: float) -> None:
        self.limit = limit
        self._waiting: dict[int, tuple[float, Any, int]] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._pid = 0
        # Threads whose call had its connection cut, and when: their next connect is refused.
        self._cut_threads: dict[int, float] = {}

    def install(self, engine: Engine) -> None:
        event.listen(engine, "before_cursor_execute", self._before_cursor)
        event.listen(engine, "after_cursor_execute", self._after_cursor)
        event.listen(engine, "commit", self._before_connection_call)
        event.listen(engine, "rollback", self._before_connection_call)
        event.listen(engine.pool, "reset", self._before_reset)
        event.listen(engine.pool, "checkin", self._at_checkin)
        event.listen(engine, "handle_error", self._after_error)
        event.listen(engine, "do_connect", self._refuse_just_after_a_cut)
        # The pool's pre-ping talks to the driver directly, past the cursor events.
        ping = engine.dialect.do_ping

        def watched_ping(dbapi_connection: Any) -> bool:
            self._start(dbapi_connection)
            try:
                return bool(ping(dbapi_connection))
            finally:
                self._stop(dbapi_connection)

        engine.dialect.do_ping = watched_ping  # type: ignore[method-assign]

    # Each hook marks the DBAPI connection as waiting (or no longer); the thread does the rest.
    def _before_cursor(self, conn: Any, _cursor: Any, *_args: Any) -> None:
        self._start(conn.connection.dbapi_connection)

    def _after_cursor(self, conn: Any, _cursor: Any, *_args: Any) -> None:
        self._stop(conn.connection.dbapi_connection)

    def _before_connection_call(self, conn: Any) -> None:
        # A connection already invalidated (a dropped one being rolled back) has no DBAPI
        # connection to watch, and asking for one would try to reconnect mid-rollback.
        if conn.invalidated:
            return
        self._start(conn.connection.dbapi_connection)

    def _before_reset(self, dbapi_connection: Any, _record: Any, _state: Any) -> None:
        self._start(dbapi_connection)

    def _at_checkin(self, dbapi_connection: Any, _record: Any) -> None:
        if dbapi_connection is not None:
            self._stop(dbapi_connection)

    def _after_error(self, context: ExceptionContext) -> None:
        # An invalidated connection is not asked for its DBAPI connection: that would reconnect.
        # (Its old one's entry, if any, expires in the watchdog harmlessly: it has no socket.)
        connection = context.connection
        if connection is not None and not connection.closed and not connection.invalidated:
            with contextlib.suppress(Exception):  # the connection is being discarded anyway
                self._stop(connection.connection.dbapi_connection)

    def _start(self, dbapi_connection: Any) -> None:
        if dbapi_connection is None:
            return
        with self._lock:
            self._waiting[id(dbapi_connection)] = (
                time.monotonic() + self.limit, dbapi_connection, threading.get_ident(),
            )
            self._ensure_thread()

    def longest_wait(self) -> float:
        with self._lock:
            deadlines = [deadline for deadline, _conn, _thread in self._waiting.values()]
        return max(0.0, self.limit - (min(deadlines) - time.monotonic())) if deadlines else 0.0

    def _stop(self, dbapi_connection: Any) -> None:
        with self._lock:
            self._waiting.pop(id(dbapi_connection), None)

    def _ensure_thread(self) -> None:
        # A thread does not survive fork: each worker process starts its own on first use.
        if self._thread is None or self._pid != os.getpid() or not self._thread.is_alive():
            self._pid = os.getpid()
            self._thread = threading.Thread(target=self._watch, name="eproc-db-watchdog", daemon=True)
            self._thread.start()

    def _watch(self) -> None:
        while True:
            time.sleep(0.25)
            now = time.monotonic()
            with self._lock:
                expired = [(key, conn, thread) for key, (deadline, conn, thread) in self._waiting.items()
                           if deadline <= now]
                for key, _conn, _thread in expired:
                    del self._waiting[key]
            for _key, connection, thread in expired:
                _cut(connection, self.limit, functools.partial(self._note_cut, thread))

    def _note_cut(self, thread: int) -> None:
        # Before the socket goes: the cut call's retry follows at once.
        with self._lock:
            self._cut_threads[thread] = time.monotonic()

    def _refuse_just_after_a_cut(self, dialect: Any, _record: Any, _cargs: Any, _cparams: Any) -> None:
        """A call whose connection was cut retries its first read on a new one (for a connection a
        restart dropped, eproc/store/db.py); against a server that does not answer, that connect
        would wait its whole timeout too (a 10 s statement bound became 16 s). So that call's next
        connect, made at once, is refused; other calls connect as usual, and the next call of that
        thread too."""
        with self._lock:
            cut_at = self._cut_threads.pop(threading.get_ident(), None)
        since = time.monotonic() - cut_at if cut_at is not None else REFUSE_CONNECT_AFTER_CUT_SECONDS
        if since < REFUSE_CONNECT_AFTER_CUT_SECONDS:
            raise dialect.loaded_dbapi.OperationalError(
                f"the database is not answering: a connection was cut {since:.1f} s ago "
                f"after {self.limit:.0f} s without an answer"
            )


def _cut(dbapi_connection: Any, waited: float, before: Callable[[], None]) -> None:
    """Shut the socket down under the driver, which then fails the call it is waiting in."""
    try:
        fd = dbapi_connection.pgconn.socket
        duplicate = socket.socket(fileno=os.dup(fd))
    except Exception:  # noqa: BLE001 - already closed: nothing waits on it
        return
    before()
    try:
        duplicate.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    finally:
        duplicate.close()
    log.error("the database did not answer within %.0f s: connection cut, the call fails", waited)


_side_file_told: dict[str, float] = {}


def _tell(level: int, message: str, *args: Any) -> None:
    """Log what a failed call's fault cannot say (it only says "internal error"): at ``level``
    while serving a request, else at INFO, because a command-line run prints the same line as its
    error and a second copy on its stderr would only repeat it."""
    from eproc import logs

    log.log(level if logs.current() is not None else logging.INFO, message, *args)


def keep_side_files_writable(database_path: str) -> bool:
    """Give this user's read-only ``-wal``/``-shm`` files their owner's write permission back.

    They are read-only only because SQLite copied the mode of a database file that was read-only
    when they were created; left so, they would outlast the episode. Write permission for their
    owner is what they would have had, and gives nobody else anything. True when one was mended.
    """
    uid = os.getuid()
    mended = False
    for side in (Path(f"{database_path}-wal"), Path(f"{database_path}-shm")):
        try:
            info = side.stat()
            if info.st_uid != uid or info.st_mode & stat.S_IWUSR:
                continue
            os.chmod(side, stat.S_IMODE(info.st_mode) | stat.S_IWUSR)
        except OSError:  # gone, or not ours to change: sqlite_permission_fix tells the operator
            continue
        mended = True
        now = time.monotonic()
        if now - _side_file_told.get(str(side), -60.0) >= 60.0:  # once a minute, not per connection
            _side_file_told[str(side)] = now
            _tell(
                logging.WARNING,
                "the SQLite file %s was created read-only (the database file is read-only now): made "
                "writable for its owner, so writes work again once the database file is", side,
            )
    return mended


def sqlite_permission_fix(database_path: str, *, mend: bool = False) -> str | None:
    """The SQLite ``-wal``/``-shm`` permission trap, mended or explained.

    SQLite creates ``eproc.db-wal`` and ``eproc.db-shm`` with the database file's permissions: a
    process that opened the database while the file was read-only leaves them read-only, and
    every write keeps failing after the database file itself is writable again. When they belong
    to this user and ``mend`` is set (the server does, on a read-only error) they are given the
    database file's mode back, and the line says so; otherwise the line names the command that
    fixes them. None when there is no such problem.
    """
    database = Path(database_path)
    try:
        mode = stat.S_IMODE(database.stat().st_mode)
    except OSError:
        return None
    if not os.access(database, os.W_OK):
        return f"the SQLite database {database} is read-only for {_user()}: {_write_fix(database)}"
    for side in (Path(f"{database}-wal"), Path(f"{database}-shm")):
        if not side.exists() or os.access(side, os.W_OK):
            continue
        try:
            if mend and side.stat().st_uid == os.getuid():
                os.chmod(side, mode)
                return f"the SQLite file {side} was read-only while {database} is writable: given {database}'s mode"
        except OSError:
            pass
        return (
            f"the SQLite file {side} is read-only while {database} is writable, so every write fails: "
            f"run 'chown --reference={database} {side} && chmod --reference={database} {side}'"
        )
    directory = database.parent
    side_files = (Path(f"{database}-wal"), Path(f"{database}-shm"))
    # With both side files in place SQLite creates nothing more; without them it must.
    if not all(side.exists() for side in side_files) and not os.access(directory, os.W_OK):
        return (
            f"the directory {directory} of the SQLite database is read-only, and SQLite must create "
            f"{database.name}-wal and {database.name}-shm there: make it writable (chmod u+w {directory})"
        )
    return None


def _user(uid: int | None = None) -> str:
    uid = os.getuid() if uid is None else uid
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def _write_fix(path: Path) -> str:
    """The command that lets this user write ``path``: its owner's write bit, or the file itself."""
    try:
        owner = path.stat().st_uid
    except OSError:
        owner = os.getuid()
    if owner == os.getuid():
        return f"make it writable (chmod u+w {path})"
    return (
        f"it belongs to {_user(owner)}; give it to the user eproc runs as "
        f"(chown {_user()} {path} && chmod u+w {path})"
    )
