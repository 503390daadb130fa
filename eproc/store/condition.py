"""The database's condition: can it be reached, which migration is it at, and what a failure means.

Every door asks the same questions (``eproc serve`` before forking, ``/health/ready``, ``eproc db
status``, each CLI command that fails), so the answers and their wording live here, next to the
only code that knows SQLAlchemy's and the drivers' exceptions. "Unreachable", "not migrated",
"read-only" and "full" are told apart because each has a different fix, and advising
'eproc db upgrade' for a server that is down sends the operator the wrong way.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache

from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError

from eproc.services.errors import DatabaseUnavailable, EprocError, SchemaNotReady, StorageRefused

UPGRADE_HINT = "run 'eproc db upgrade'"

# Substrings of the drivers' messages (sqlite3's and psycopg's), lower case, by what they mean.
_MISSING_SCHEMA = ("no such table", "no such column", "undefinedtable", "undefinedcolumn")
_MISSING_SCHEMA_PG = ("relation", "column")  # '... "x" does not exist'
_READ_ONLY = ("readonly database", "read-only", "read only")
_FULL = ("database or disk is full", "no space left on device", "could not extend file", "disk full")
_LOCKED = ("database is locked",)


def display_url(url: str) -> str:
    """The URL with any password masked; a SQLite path made absolute (the default is relative to
    the current directory, and the operator needs to know which file is meant)."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return url
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        parsed = parsed.set(database=os.path.abspath(parsed.database))
    return parsed.render_as_string(hide_password=True)


@lru_cache(maxsize=1)
def head_revision() -> str:
    """The latest migration this code ships."""
    from alembic.script import ScriptDirectory

    from eproc.store.migrate import alembic_config

    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert head is not None  # the package always carries its migrations
    return str(head)


@lru_cache(maxsize=1)
def known_revisions() -> frozenset[str]:
    from alembic.script import ScriptDirectory

    from eproc.store.migrate import alembic_config

    scripts = ScriptDirectory.from_config(alembic_config("sqlite://"))
    return frozenset(script.revision for script in scripts.walk_revisions())


def schema_revision(engine: Engine) -> str | None:
    """The migration the database is at, None when it has no eproc schema at all. Raises the error
    vocabulary's :class:`DatabaseUnavailable` (or kin) when it cannot be asked."""
    from alembic.migration import MigrationContext

    try:
        with engine.connect() as connection:
            revision = MigrationContext.configure(connection).get_current_revision()
            return None if revision is None else str(revision)
    except SQLAlchemyError as exc:
        raise explain(exc, engine.url.render_as_string(hide_password=False)) from None


@dataclass(frozen=True)
class Condition:
    """The database as a start-up check or a readiness probe sees it."""

    url: str  # for display: password masked
    reachable: bool
    revision: str | None
    head: str
    problem: str | None  # one line: what is wrong and the command that fixes it

    @property
    def ready(self) -> bool:
        return self.problem is None


def condition(engine: Engine) -> Condition:
    url = engine.url.render_as_string(hide_password=False)
    shown = display_url(url)
    head = head_revision()
    try:
        revision = schema_revision(engine)
    except EprocError as exc:
        return Condition(shown, False, None, head, str(exc))
    return Condition(shown, True, revision, head, schema_problem(shown, revision, head))


def schema_problem(shown_url: str, revision: str | None, head: str) -> str | None:
    if revision == head:
        return None
    if revision is None:
        return f"the database {shown_url} has no eproc schema: {UPGRADE_HINT} (or check EPROC_DATABASE_URL)"
    if revision not in known_revisions():
        return (
            f"the database {shown_url} is at migration {revision}, which this eproc does not know "
            f"(its latest is {head}): it was migrated by a newer eproc; run that version"
        )
    return f"the database {shown_url} is at migration {revision}, behind this eproc's {head}: {UPGRADE_HINT}"


def explain(exc: SQLAlchemyError, url: str) -> EprocError:
    """One line for a database failure, by its cause; the driver's own first line as the detail."""
    shown = display_url(url)
    original = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    detail = (str(original).strip().splitlines() or [type(original).__name__])[0]
    lowered = f"{type(original).__name__} {detail}".lower()
    if any(marker in lowered for marker in _MISSING_SCHEMA) or (
        "does not exist" in lowered and any(marker in lowered for marker in _MISSING_SCHEMA_PG)
        and "database" not in lowered
    ):
        return SchemaNotReady(f"the database {shown} is not migrated ({detail}): {UPGRADE_HINT}")
    if any(marker in lowered for marker in _READ_ONLY):
        fix = _sqlite_fix(url)
        if fix:
            return StorageRefused(f"{fix} ({detail})")
        return StorageRefused(
            f"the database {shown} is read-only ({detail}): check the file's and its directory's "
            "permissions, or the server's read-only mode"
        )
    if any(marker in lowered for marker in _FULL):
        return StorageRefused(f"the database {shown} cannot grow: the disk is full ({detail}); free some space")
    if any(marker in lowered for marker in _LOCKED):
        return StorageRefused(f"the database {shown} is locked by another process ({detail}); try again")
    if "unable to open database file" in lowered:
        return DatabaseUnavailable(
            f"cannot open the SQLite database {shown} ({detail}): does its directory exist and may eproc write there?"
        )
    if "authentication failed" in lowered or "no password supplied" in lowered or (
        "role" in lowered and "does not exist" in lowered
    ):
        return DatabaseUnavailable(
            f"the database server refused the login for {shown} ({detail}): check EPROC_DATABASE_URL"
        )
    if "database" in lowered and "does not exist" in lowered:
        return DatabaseUnavailable(
            f"the database named in {shown} does not exist on the server ({detail}): create it, then {UPGRADE_HINT}"
        )
    if (isinstance(exc, DBAPIError) and exc.connection_invalidated) or _is_connection_failure(lowered):
        return DatabaseUnavailable(f"cannot reach the database {shown} ({detail}): is the server running?")
    return StorageRefused(f"the database {shown} refused the operation ({detail})")


def file_problem(engine: Engine) -> str | None:
    """For a SQLite database: one line when its files would refuse a new connection's writes (the
    file, its ``-wal``/``-shm`` or its directory read-only for this user), None otherwise and for
    PostgreSQL. Connections opened before the file turned read-only still write, so a probe
    write alone answers "writable" until the next worker or connection finds otherwise."""
    return _sqlite_fix(engine.url.render_as_string(hide_password=False))


def _sqlite_fix(url: str) -> str | None:
    """The exact fix for a read-only SQLite database, the -wal/-shm trap included (eproc/store/guards.py)."""
    from eproc.store.guards import sqlite_permission_fix

    try:
        parsed = make_url(url)
    except ArgumentError:
        return None
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    return sqlite_permission_fix(parsed.database)


def _is_connection_failure(lowered: str) -> bool:
    return any(
        marker in lowered
        for marker in (
            "connection refused",
            "could not connect",
            "connection failed",
            "could not translate host name",
            "name or service not known",
            "timeout expired",
            "server closed the connection",
            "connection timed out",
            "no route to host",
            "the database is not answering",
        )
    )


def row_counts(engine: Engine) -> dict[str, int]:
    """Rows per eproc table that exists (a database behind the code may lack the newer ones)."""
    from sqlalchemy import func, inspect, select

    from eproc.store.models import Base

    try:
        with engine.connect() as connection:
            present = set(inspect(connection).get_table_names())
            return {
                table.name: int(connection.execute(select(func.count()).select_from(table)).scalar_one())
                for table in Base.metadata.sorted_tables
                if table.name in present
            }
    except SQLAlchemyError as exc:
        raise explain(exc, engine.url.render_as_string(hide_password=False)) from None
