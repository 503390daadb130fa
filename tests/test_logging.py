"""The log: every line with time, level and process; JSON lines on request; a correlation id per
request, returned in X-Request-Id; no password or document body ever; an outage's traceback once."""

from __future__ import annotations

import json
import logging
import re
import shutil
import time
from pathlib import Path

import dotnet_client as net
import pytest
from support import BUYER_DUNS, SUPPLIER_DUNS, in_process_service, make_settings, new_school, start_server

from eproc.services.hub import build_hub

PASSWORD = "logging-password-1"
WRONG_PASSWORD = "Wr0ng-Secret-Never-Logged"
DATA = Path(__file__).parent / "data" / "ebis"
PLAIN_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (DEBUG|INFO|WARNING|ERROR|CRITICAL) \[\d+\] [\w.]+: ")


def _wait_for(log: list[str], needle: str) -> None:
    deadline = time.monotonic() + 5
    while needle not in "".join(log) and time.monotonic() < deadline:
        time.sleep(0.05)


def _order_with_marker(marker: str) -> str:
    document = (DATA / "valid" / "authorised-order-fms.xml").read_text(encoding="utf-8")
    # A comment inside the body: the order is still accepted, and the marker shows any leak.
    return document.replace("<Order", f"<!-- {marker} --><Order", 1)


@pytest.mark.e2e
@pytest.mark.parametrize("log_format", ["plain", "json"])
def test_server_lines_have_time_level_process_and_never_a_password_or_body(live_database: str,
                                                                           log_format: str) -> None:
    hub = build_hub(make_settings(live_database))
    username, _ = new_school(hub, PASSWORD, buyer_duns=BUYER_DUNS, supplier_duns=SUPPLIER_DUNS)
    marker = f"BODY-MARKER-{log_format}-7Q2"
    server = start_server(live_database, "--workers", "2", env={"EPROC_LOG_FORMAT": log_format})
    try:
        params = f"<Document>{net.escape(_order_with_marker(marker))}</Document>"
        sent = net.call(server.endpoint, "SendOrder", params, username=username, password=PASSWORD,
                        headers={"X-Request-Id": "order-42"})
        assert sent.status == 200 and net.result_text(sent, "SendOrder") == "true"
        assert sent.headers["x-request-id"] == "order-42"
        refused = net.call(server.endpoint, "FetchIndex", username=username, password=WRONG_PASSWORD)
        assert refused.status == 500
        refused_id = refused.headers["x-request-id"]
        assert re.fullmatch(r"[0-9a-f]{16}", refused_id)
        _wait_for(server.log, refused_id)
    finally:
        server.stop()
    text = "".join(server.log)
    for secret in (PASSWORD, WRONG_PASSWORD, marker):
        assert secret not in text
    lines = [line.rstrip("\n") for line in server.log if line.strip()]
    eproc_lines = [line for line in lines if not line.startswith("eproc: ")]  # the CLI's own announcements
    if log_format == "plain":
        assert all(PLAIN_LINE.match(line) for line in eproc_lines), eproc_lines
        [order_line] = [line for line in eproc_lines if "id=order-42" in line]
        assert "eproc.access: POST /service.asmx 200" in order_line
        assert f"op=SendOrder account={username} outcome=ok" in order_line
        return
    records = [json.loads(line) for line in eproc_lines]  # every line is JSON
    for record in records:
        assert {"time", "level", "process", "logger", "message"} <= record.keys()
    assert any(r["logger"] == "gunicorn.error" and "Booting worker" in r["message"] for r in records)
    [order] = [r for r in records if r.get("correlation_id") == "order-42"]
    assert order["operation"] == "SendOrder" and order["account"] == username and order["outcome"] == "ok"
    assert order["status"] == 200 and isinstance(order["duration"], float)
    [failure] = [r for r in records if r.get("correlation_id") == refused_id]
    assert failure["outcome"] == "auth_failed" and failure["operation"] == "FetchIndex"


def test_an_unsafe_request_id_is_replaced(live_database: str) -> None:
    service = in_process_service(make_settings(live_database))
    for unsafe in ("has space", "x" * 65, "semi;colon", "new\nline"):
        reply = net.call(service.endpoint, "FetchIndex", username="nobody", password="x",
                         headers={"X-Request-Id": unsafe})
        assert re.fullmatch(r"[0-9a-f]{16}", reply.headers["x-request-id"]), unsafe


def test_an_outage_logs_one_line_per_request_and_the_traceback_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from support import migrated_database

    with migrated_database("sqlite", tmp_path) as url:
        hub = build_hub(make_settings(url))
        username, _ = new_school(hub, PASSWORD)
        service = in_process_service(make_settings(url))
        assert net.call(service.endpoint, "FetchIndex", username=username, password=PASSWORD).status == 200
        # The database goes away: its file becomes a directory nobody can open as a database.
        database = Path(url.removeprefix("sqlite:///"))
        shutil.move(database, tmp_path / "moved.db")
        for suffix in ("-wal", "-shm"):
            Path(f"{database}{suffix}").unlink(missing_ok=True)
        database.mkdir()
        from eproc.store.db import engine_for

        engine_for(url).dispose()
        ids = []
        with caplog.at_level(logging.INFO, logger="eproc"):
            for number in range(3):
                reply = net.call(service.endpoint, "FetchIndex", username=username, password=PASSWORD,
                                 headers={"X-Request-Id": f"outage-{number}"})
                code, faultstring = net.fault(reply)
                assert code == "soap:Server" and f"(correlation id outage-{number})" in faultstring
                ids.append(f"outage-{number}")
        errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
        # One line per failing request, naming its correlation id and what went wrong...
        for cid in ids:
            [line] = [r for r in caplog.records if getattr(r, "eproc", {}).get("correlation_id") == cid]
            assert line.levelno == logging.ERROR
            assert "internal error: OperationalError: (sqlite3.OperationalError) unable to open" in line.getMessage()
        assert len(errors) == 3
        # ... and the traceback only with the first.
        assert [r.exc_info is not None for r in errors] == [True, False, False]
