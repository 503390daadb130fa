"""What the portal API costs: queueing over HTTP against the intake use case called in process, and
the events feed's page latency at 10,000 and at 1,000,000 events.

    python -m bench.bench_api [--queues 60] [--pages 200] [--postgres-url URL]

Queueing: a 100-line Content Order (built as bench_validation builds it, a new order number each
time so nothing is a duplicate), alternately (1) POSTed to ``/api/v1/documents`` on a real
``eproc serve`` (one gunicorn worker) with a bearer token, and (2) given to
``intake.queue_document`` in this process, against one SQLite database. The server's worker also
times the intake call inside each API request (``serve_timed_intake``), so the API's own cost
(HTTP, routing, the token, the JSON) is seen against intake run in the same process at the same
moment, free of the difference between a busy client process and a worker woken by a request.
It prints the medians and both ratios (target: the API within 1.3x of in-process intake).

Events feed: two PostgreSQL databases (when ``--postgres-url`` or ``EPROC_TEST_POSTGRES_URL`` names
a server), one with 10,000 events and one with 1,000,000 (made by ``INSERT ... SELECT
generate_series``), and a page of 100 events fetched through the API in process (the WSGI
application gunicorn serves), by ``fromEventId`` at random depths, the two databases interleaved.
It prints p50/p99 of each and the p50 ratio (target: within 1.2x).
"""

from __future__ import annotations

import argparse
import http.client
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bench.bench_auth import start
from bench.bench_validation import build_order
from eproc.config import load_settings
from eproc.services import accounts, intake, tokens
from eproc.services.hub import build_hub
from eproc.store.migrate import upgrade

CHEAP = {"EPROC_ARGON2_TIME_COST": "1", "EPROC_ARGON2_MEMORY_COST": "1024", "EPROC_ARGON2_PARALLELISM": "1"}


def _numbered(template: bytes, n: int) -> bytes:
    return template.replace(b"BSK-20261103-0042", f"BENCH-{n:08d}".encode())


def _post(url: str, token: str, body: bytes) -> int:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    try:
        connection.request("POST", "/api/v1/documents", body,
                           {"Content-Type": "application/xml", "Authorization": f"Bearer {token}"})
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def serve_timed_intake(port: int, log_path: str) -> None:
    """``eproc serve`` whose worker appends the time of every intake call to ``log_path``."""
    from eproc import cli

    queue_document = intake.queue_document

    def timed(*args, **kwargs):  # type: ignore[no-untyped-def]
        started = time.perf_counter()
        try:
            return queue_document(*args, **kwargs)
        finally:
            with open(log_path, "a") as log:
                log.write(f"{time.perf_counter() - started:.6f}\n")

    intake.queue_document = timed  # type: ignore[assignment]
    cli.main(["serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"], standalone_mode=False)


def bench_queue(queues: int) -> float:
    directory = Path(tempfile.mkdtemp(prefix="eproc-bench-api-"))
    url = f"sqlite:///{directory / 'eproc.db'}"
    upgrade(url)
    settings = load_settings({"EPROC_DATABASE_URL": url, **CHEAP})
    hub = build_hub(settings)
    accounts.create_account(hub, "bench-school", establishment_name="Bench School", buyer_duns="123456789",
                            supplier_duns="987654321")
    _view, token = tokens.create_token(hub, "bench", ["StoreDocument", "ReadDocument"])
    log_path = directory / "intake-in-worker.log"
    server = start("api", [sys.executable, "-c",
                           f"from bench.bench_api import serve_timed_intake; serve_timed_intake(0, {str(log_path)!r})"],
                   {"EPROC_DATABASE_URL": url, "PYTHONPATH": str(Path(__file__).resolve().parents[1]), **CHEAP})
    base = server.url.rsplit("/service.asmx", 1)[0]
    template = build_order(100)
    print(f"100-line Content Order, {len(template):,} bytes; {queues} of each, interleaved")
    times: dict[str, list[float]] = {"api over HTTP": [], "intake in process": []}
    try:
        for n in range(queues + 5):
            started = time.perf_counter()
            status = _post(base, token, _numbered(template, 2 * n))
            api = time.perf_counter() - started
            assert status == 201, status
            started = time.perf_counter()
            intake.queue_document(hub, _numbered(template, 2 * n + 1))
            direct = time.perf_counter() - started
            if n >= 5:  # the first few warm both sides up
                times["api over HTTP"].append(api)
                times["intake in process"].append(direct)
    finally:
        server.stop()
    in_worker = [float(line) for line in log_path.read_text().split()]
    assert len(in_worker) == queues + 5, len(in_worker)
    times["intake in the worker"] = in_worker[5:]
    medians = {name: statistics.median(values) for name, values in times.items()}
    for name, median in medians.items():
        print(f"  {name:<22} median {median * 1000:7.2f} ms")
    ratio = medians["api over HTTP"] / medians["intake in the worker"]
    client = medians["api over HTTP"] / medians["intake in process"]
    print(f"  API over HTTP / intake in the same worker: {ratio:.2f}x (target <= 1.3x): "
          f"{'met' if ratio <= 1.3 else 'NOT met'}")
    print(f"  API over HTTP / intake in this (client) process: {client:.2f}x")
    return ratio


def _database_with_events(admin_url: str, count: int) -> str:
    name = f"eproc_bench_{uuid.uuid4().hex[:8]}"
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    upgrade(url)
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO account (username, password_hash, credential_version, password_changed_at, "
            "establishment_name, buyer_duns, supplier_duns, language, currency, enabled, failed_logins, "
            "created_at, updated_at) VALUES ('bench', 'x', 1, now(), 'Bench', '123456789', '987654321', 'en', "
            "'GBP', true, 0, now(), now())"
        ))
        connection.execute(text(
            "INSERT INTO event (at, type, account_id, subject, doc_id) "
            "SELECT now() - (:count - n) * interval '1 second', 'document.collected', 1, 'ORD-' || n, 'ORD-' || n "
            "FROM generate_series(1, :count) AS n"
        ), {"count": count})
        connection.execute(text("ANALYZE event"))
    engine.dispose()
    return url


def _drop(admin_url: str, url: str) -> None:
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)'))
    engine.dispose()


def bench_events(admin_url: str, pages: int) -> float:
    from werkzeug.test import Client

    from eproc.web import create_app

    sizes = (10_000, 1_000_000)
    print(f"events feed, PostgreSQL: building databases of {sizes[0]:,} and {sizes[1]:,} events ...", flush=True)
    urls = {size: _database_with_events(admin_url, size) for size in sizes}
    try:
        clients = {}
        for size, url in urls.items():
            hub = build_hub(load_settings({"EPROC_DATABASE_URL": url, **CHEAP}))
            _view, token = tokens.create_token(hub, "bench", ["ReadEvent"])
            clients[size] = (Client(create_app(hub=hub)), {"Authorization": f"Bearer {token}"})
        times: dict[int, list[float]] = {size: [] for size in sizes}
        rng = random.Random(7)
        for n in range(pages + 20):
            for size in sizes:
                client, headers = clients[size]
                start_id = rng.randint(1, size - 100)
                started = time.perf_counter()
                response = client.get(f"/api/v1/events?fromEventId={start_id}&pageSize=100", headers=headers)
                elapsed = time.perf_counter() - started
                assert response.status_code == 200 and len(response.get_json()) == 100
                if n >= 20:
                    times[size].append(elapsed)
        for size in sizes:
            values = sorted(times[size])
            p50, p99 = statistics.median(values), values[int(len(values) * 0.99) - 1]
            print(f"  {size:>9,} events: page of 100 p50 {p50 * 1000:6.2f} ms, p99 {p99 * 1000:6.2f} ms")
        ratio = statistics.median(times[sizes[1]]) / statistics.median(times[sizes[0]])
        print(f"  p50 ratio 1M / 10k {ratio:.2f}x (target <= 1.2x): {'met' if ratio <= 1.2 else 'NOT met'}")
        return ratio
    finally:
        for url in urls.values():
            _drop(admin_url, url)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queues", type=int, default=60)
    parser.add_argument("--pages", type=int, default=200)
    parser.add_argument("--postgres-url", default=os.environ.get("EPROC_TEST_POSTGRES_URL", ""))
    options = parser.parse_args()
    bench_queue(options.queues)
    if options.postgres_url:
        bench_events(options.postgres_url, options.pages)
    else:
        print("events feed: skipped (no --postgres-url / EPROC_TEST_POSTGRES_URL)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
