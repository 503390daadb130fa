"""GET /metrics: the Prometheus text format, counts summed over every gunicorn worker, aggregate
labels only, and open only to the addresses allowed."""

from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import dotnet_client as net
import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families
from support import (
    BACKENDS,
    call_wsgi,
    in_process_service,
    make_settings,
    migrated_database,
    new_school,
    quote_xml,
    run_cli,
    start_server,
)

from eproc import metrics
from eproc.services import intake
from eproc.services.events import EventType, emit
from eproc.services.hub import build_hub

PASSWORD = "metrics-password-1"


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of an exposition by (name, sorted labels); parsing it checks the format too."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(parsed: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return parsed.get((name, tuple(sorted(labels.items()))), 0.0)


def scrape(app: net.WsgiEndpoint | object, remote_addr: str = "127.0.0.1") -> str:
    response = call_wsgi(app, "http://127.0.0.1/metrics", remote_addr=remote_addr)  # type: ignore[arg-type]
    assert response.status == 200, response.body
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return response.body.decode()


def test_the_text_format_counts_calls_events_and_the_queue(live_database: str, live_hub) -> None:
    service = in_process_service(make_settings(live_database))
    username, _ = new_school(live_hub, PASSWORD, establishment_name="Metrics Street Primary School")
    before = samples(scrape(service.app))
    for number in range(3):
        intake.queue_document(live_hub, quote_xml(f"<N>{number}</N>"), username=username,
                              requested_type="quote")
    for _ in range(4):
        assert net.call(service.endpoint, "FetchIndex", username=username, password=PASSWORD).status == 200
    assert net.call(service.endpoint, "FetchIndex", username=username, password="wrong").status == 500
    text = scrape(service.app)
    after = samples(text)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("eproc_requests_total", interface="soap", operation="FetchIndex", outcome="ok") == 4
    assert grew("eproc_requests_total", interface="soap", operation="FetchIndex", outcome="auth_failed") == 1
    assert grew("eproc_request_duration_seconds_count", interface="soap", operation="FetchIndex") == 5
    assert grew("eproc_documents_total", event="queued") == 3
    assert grew("eproc_events_total", type="document.queued") == 3
    assert grew("eproc_login_failures_total", kind="wrong_password") == 1
    # The queue is read from the database at the scrape, whoever queued.
    assert value(after, "eproc_queue_documents", state="waiting") >= 3
    assert value(after, "eproc_database_up") == 1
    # Aggregate only: no account, school or address in any label.
    assert username not in text and "Metrics Street" not in text and "127.0.0.1" not in text


def test_an_event_rolled_back_is_not_counted(live_hub) -> None:
    counted = samples(metrics.exposition().decode())
    with live_hub.unit_of_work() as uow:
        emit(uow, EventType.DOCUMENT_WITHDRAWN, live_hub.now(), subject="never-committed")
        # leaving without commit: rolled back
    with live_hub.unit_of_work() as uow:
        emit(uow, EventType.DOCUMENT_WITHDRAWN, live_hub.now(), subject="committed")
        uow.commit()
    now = samples(metrics.exposition().decode())
    assert value(now, "eproc_documents_total", event="withdrawn") - value(
        counted, "eproc_documents_total", event="withdrawn") == 1


def test_metrics_are_open_to_loopback_only_unless_allowed(live_database: str) -> None:
    service = in_process_service(make_settings(live_database))
    refused = call_wsgi(service.app, "http://127.0.0.1/metrics", remote_addr="203.0.113.7")
    assert refused.status == 403 and b"EPROC_METRICS_ALLOW" in refused.body
    widened = in_process_service(make_settings(live_database, EPROC_METRICS_ALLOW="10.0.0.0/8, 203.0.113.7"))
    assert call_wsgi(widened.app, "http://127.0.0.1/metrics", remote_addr="203.0.113.7").status == 200
    assert call_wsgi(widened.app, "http://127.0.0.1/metrics", remote_addr="127.0.0.1").status == 403
    # Behind the trusted proxy, the address the proxy saw decides, not the proxy's own.
    proxied = in_process_service(make_settings(live_database, EPROC_TRUSTED_PROXY_HEADER="X-Forwarded-For"))
    forwarded = call_wsgi(proxied.app, "http://127.0.0.1/metrics", headers=[("X-Forwarded-For", "198.51.100.4")])
    assert forwarded.status == 403
    off = in_process_service(make_settings(live_database, EPROC_METRICS="off"))
    assert call_wsgi(off.app, "http://127.0.0.1/metrics").status == 404


@pytest.mark.parametrize(
    ("variable", "value", "said"),
    [
        ("EPROC_METRICS", "maybe", "EPROC_METRICS must be on or off, not 'maybe'"),
        ("EPROC_METRICS_ALLOW", "10.0.0.0/33", "EPROC_METRICS_ALLOW: '10.0.0.0/33' is not an address or network"),
        ("EPROC_LOG_FORMAT", "xml", "EPROC_LOG_FORMAT must be plain or json, not 'xml'"),
        ("EPROC_LOG_LEVEL", "loud", "EPROC_LOG_LEVEL must be debug, info, warning or error, not 'loud'"),
    ],
)
def test_a_bad_operations_setting_is_one_line(database_url: str, variable: str, value: str, said: str) -> None:
    result = run_cli(database_url, "config", "show", **{variable: value})
    assert result.returncode == 1
    assert result.stderr.strip() == f"eproc: error: {said}" or result.stderr.startswith(f"eproc: error: {said}")
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


@pytest.fixture(params=BACKENDS)
def own_database(request: pytest.FixtureRequest, tmp_path: Path):
    with migrated_database(request.param, tmp_path) as url:
        yield url


@pytest.mark.e2e
def test_counts_under_four_workers_are_summed_whichever_worker_answers(own_database: str) -> None:
    hub = build_hub(make_settings(own_database))
    username, _ = new_school(hub, PASSWORD)
    # At debug level the scrapes' own request lines are logged too, so the test sees who answered.
    server = start_server(own_database, "--workers", "4", env={"EPROC_LOG_LEVEL": "debug"})
    calls, scrapes = 0, 12
    try:
        # Eight callers at once, in rounds until more than one worker has answered: a worker takes
        # a new connection only while idle (eproc/front.py), but on a loaded machine a slow client
        # may still find the same worker free every time.
        with ThreadPoolExecutor(8) as pool:
            while calls < 400:
                replies = list(pool.map(
                    lambda _: net.call(server.endpoint, "FetchIndex", username=username, password=PASSWORD),
                    range(40),
                ))
                assert [reply.status for reply in replies] == [200] * 40
                calls += 40
                if len(_pids(server.log, "/service.asmx", calls)) > 1:
                    break
        assert len(_pids(server.log, "/service.asmx", calls)) > 1, "one worker took every call: this proves nothing"
        scraped = 0
        with ThreadPoolExecutor(4) as pool:
            while scraped < 10 * scrapes:
                responses = list(pool.map(
                    lambda _: requests.get(f"{server.base_url}/metrics", timeout=10), range(scrapes)
                ))
                scraped += scrapes
                for response in responses:
                    assert response.status_code == 200
                    parsed = samples(response.text)
                    ok = value(parsed, "eproc_requests_total", interface="soap", operation="FetchIndex", outcome="ok")
                    assert ok == calls
                    assert value(parsed, "eproc_request_duration_seconds_count", interface="soap",
                                 operation="FetchIndex") == calls
                if len(_pids(server.log, "/metrics", scraped)) > 1:
                    break
        assert len(_pids(server.log, "/metrics", scraped)) > 1, "one worker answered every scrape"
    finally:
        server.stop()


def _pids(log: list[str], path: str, count: int) -> set[str]:
    """The worker pids in the request lines for ``path``, once ``count`` of them are in the log."""
    line = re.compile(rf"\[(\d+)\] eproc\.access: \w+ {re.escape(path)} ")
    deadline = time.monotonic() + 5
    while True:
        pids = [m.group(1) for entry in list(log) if (m := line.search(entry))]
        if len(pids) >= count or time.monotonic() > deadline:
            return set(pids)
        time.sleep(0.05)


def test_a_scrape_while_another_process_creates_its_file_is_answered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker's new file is empty for a moment before it is sized; prometheus_client, reading
    without locks, raises on it. The scrape must wait it out, not answer 500."""
    import threading

    half_made = tmp_path / "counter_4242.db"
    half_made.touch()
    monkeypatch.setenv(metrics.MULTIPROC_VARIABLE, str(tmp_path))
    # Here the other process "gives up" on its file 5 ms on (a real one sizes it): either way the
    # next read finds nothing half-made.
    threading.Timer(0.005, half_made.unlink).start()
    assert metrics.exposition() == b""
