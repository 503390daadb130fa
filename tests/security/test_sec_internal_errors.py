"""Internal errors, provoked for real by dropping tables from under a live server: the fault carries a
correlation id and nothing else (no trace, no SQL, no path); the log line carries the same id."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sec_support import call, new_school, queue_quotes
from sqlalchemy import create_engine, text
from support import BACKENDS, make_settings, migrated_database, start_server

from eproc.services.hub import build_hub

pytestmark = pytest.mark.e2e

PASSWORD = "internal-error-password-1"
INTERNAL = re.compile(
    r"Server was unable to process request\. ---> An internal error occurred \(correlation id ([0-9a-f]{16})\)\."
)


@pytest.fixture(params=BACKENDS)
def throwaway_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database of this test's own, since the test breaks it."""
    with migrated_database(request.param, tmp_path) as url:
        yield url


def _drop(database_url: str, table: str) -> None:
    engine = create_engine(database_url)
    with engine.begin() as connection:
        # CASCADE on PostgreSQL: the webhook outbox's foreign key to event would refuse it otherwise.
        cascade = " CASCADE" if database_url.startswith("postgresql") else ""
        connection.execute(text(f"DROP TABLE {table}{cascade}"))
    engine.dispose()


def _log_line_with(server_log: list[str], correlation_id: str) -> str:
    deadline = time.monotonic() + 5  # the log is read by a thread: give it a moment
    while time.monotonic() < deadline:
        for line in list(server_log):
            if correlation_id in line:
                return line
        time.sleep(0.05)
    raise AssertionError(f"correlation id {correlation_id} not in the log:\n{''.join(server_log)}")


def test_internal_errors_carry_a_correlation_id_and_nothing_else(throwaway_database: str) -> None:
    hub = build_hub(make_settings(throwaway_database))
    username, _ = new_school(hub, PASSWORD)
    queue_quotes(hub, username, 2)
    server = start_server(throwaway_database, "--workers", "1")
    try:
        assert call(server.endpoint, "FetchIndex", username, PASSWORD).status == 200
        _drop(throwaway_database, "document")
        seen: set[str] = set()
        for operation, params in (
            ("FetchIndex", ""),
            ("FetchDoc", "<DocID>QUO-X</DocID>"),
            ("FetchIndexFromDate", "<BeginDate>2026-01-01T00:00:00</BeginDate>"),
        ):
            reply = call(server.endpoint, operation, username, PASSWORD, params)
            code, faultstring = reply.fault()
            assert (reply.status, code) == (500, "soap:Server")
            # The whole faultstring is the template: no room for a trace, SQL or a path.
            match = INTERNAL.fullmatch(faultstring)
            assert match, faultstring
            correlation_id = match.group(1)
            assert correlation_id not in seen  # one id per error, so a support call finds the right line
            seen.add(correlation_id)
            line = _log_line_with(server.log, correlation_id)
            assert "internal error" in line
        # The log has the detail the fault does not: the traceback with the database's complaint.
        log = "".join(server.log)
        assert "Traceback" in log and "document" in log
        # A failed login whose event cannot be written is an internal error too: the failure must
        # never be dropped silently, nor read as a wrong password.
        _drop(throwaway_database, "event")
        reply = call(server.endpoint, "FetchIndex", username, "wrong-password")
        code, faultstring = reply.fault()
        assert code == "soap:Server" and INTERNAL.fullmatch(faultstring), faultstring
        _log_line_with(server.log, INTERNAL.fullmatch(faultstring).group(1))  # type: ignore[union-attr]
    finally:
        server.stop()
    assert PASSWORD not in "".join(server.log)
    assert "wrong-password" not in "".join(server.log)
