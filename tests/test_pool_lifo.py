"""The pool hands out the connection returned last: a worker holding two SQLite connections and
taking them in turn made each call's write invalidate the other's page cache (issue 12)."""

from __future__ import annotations

from pathlib import Path

from eproc.store.db import make_engine


def test_the_connection_returned_last_is_the_one_taken_next(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'pool.db'}")
    try:
        first, second = engine.raw_connection(), engine.raw_connection()
        first_dbapi, second_dbapi = first.dbapi_connection, second.dbapi_connection
        assert first_dbapi is not second_dbapi
        first.close()
        second.close()  # returned last
        taken = engine.raw_connection()
        assert taken.dbapi_connection is second_dbapi
        taken.close()
    finally:
        engine.dispose()
