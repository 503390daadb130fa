"""What webhooks cost: how soon an Authorised Order reaches a receiver, and how many deliveries a
worker sends per second.

    python -m bench.bench_webhooks [--orders 60] [--deliveries 1000] [--postgres-url URL]

Latency: a real ``eproc serve`` (one web worker and its webhook worker, default poll interval)
and a receiver on 127.0.0.1, both in this run; ``SendOrder`` posted raw (a new order number each
time), the worker idle between orders (a pause of 0.2-0.6 s). It prints p50/p99 of the time from
``SendOrder`` returning to the receiver having the order (target: p99 under 1 s), beside the
``SendOrder`` round trip itself as the baseline, on SQLite and (with ``--postgres-url`` or
``EPROC_TEST_POSTGRES_URL``) PostgreSQL.

Throughput: ``--deliveries`` deliveries written to the outbox in one transaction, then one worker
(in this process) sends them all to the local receiver; printed as deliveries per second, against
the same number of bare signed POSTs to the same receiver (no database) as the baseline, in
alternating rounds.
"""

from __future__ import annotations

import argparse
import http.client
import os
import random
import statistics
import sys
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit
from xml.sax.saxutils import escape

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bench.bench_auth import start
from eproc.config import load_settings
from eproc.delivery import sender, signing
from eproc.services import accounts, webhooks
from eproc.services.events import EventType, emit
from eproc.services.hub import Hub, build_hub
from eproc.store.db import engine_for
from eproc.store.migrate import upgrade
from eproc.webhook_worker import WebhookWorker

CHEAP = {"EPROC_ARGON2_TIME_COST": "1", "EPROC_ARGON2_MEMORY_COST": "1024", "EPROC_ARGON2_PARALLELISM": "1"}
HOOKS = {"EPROC_WEBHOOK_ALLOW_PRIVATE_TARGETS": "true"}
OTS = "http://www.dcsf.gov.uk/open/webservices/ots"
ORDER = Path(__file__).resolve().parents[1] / "tests" / "data" / "ebis" / "valid" / "authorised-order-fms.xml"
PASSWORD = "bench-webhooks-password-1"


class _Server(ThreadingHTTPServer):
    # A backlog of 128, as real servers have: http.server's 5 drops the connections a worker opens
    # at once, and each dropped SYN costs a one-second retransmit.
    request_queue_size = 128
    daemon_threads = True


class Receiver:
    """Answers 200 to every POST and notes when each ``webhook-id`` arrived."""

    def __init__(self) -> None:
        self.arrived: dict[str, float] = {}
        self.orders: dict[str, float] = {}  # order number -> arrival
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                now = time.monotonic()
                with receiver.lock:
                    receiver.arrived[self.headers.get("webhook-id", "")] = now
                    marker = body.find(b'"orderNumber":"')
                    if marker >= 0:
                        number = body[marker + 15: body.index(b'"', marker + 15)].decode()
                        receiver.orders[number] = now
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

        self.server = _Server(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _send_order(url: str, username: str, document: str) -> float:
    parts = urlsplit(url)
    envelope = (
        '<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">'
        f'<soap:Header><AuthHeader xmlns="{OTS}"><Username>{username}</Username><Password>{PASSWORD}</Password>'
        f'</AuthHeader></soap:Header><soap:Body><SendOrder xmlns="{OTS}"><Document>{escape(document)}</Document>'
        "</SendOrder></soap:Body></soap:Envelope>"
    ).encode()
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    started = time.monotonic()
    try:
        connection.request("POST", parts.path, envelope, {"Content-Type": "text/xml; charset=utf-8",
                                                          "SOAPAction": f'"{OTS}/SendOrder"'})
        response = connection.getresponse()
        answer = response.read()
        if response.status != 200 or b"true" not in answer:
            raise RuntimeError(f"SendOrder failed: {response.status} {answer[:300]!r}")
    finally:
        connection.close()
    return time.monotonic() - started


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def latency(label: str, url: str, orders: int) -> None:
    upgrade(url)
    hub = build_hub(load_settings({"EPROC_DATABASE_URL": url, **CHEAP, **HOOKS}))
    username = f"bench-{uuid.uuid4().hex[:8]}"
    accounts.create_account(hub, username, establishment_name="Bench School", buyer_duns="123456789",
                            supplier_duns="987654321", password=PASSWORD)
    receiver = Receiver()
    webhooks.create_webhook(hub, receiver.url, ["order.received"], usernames=[username])
    server = start(label, [sys.executable, "-m", "eproc.cli", "serve", "--host", "127.0.0.1", "--port", "0",
                           "--workers", "1"], {"EPROC_DATABASE_URL": url, **CHEAP, **HOOKS})
    template = ORDER.read_text(encoding="utf-8")
    rng = random.Random(10)
    waits: list[float] = []
    calls: list[float] = []
    try:
        time.sleep(2)  # the webhook worker starts beside gunicorn
        for n in range(orders):
            number = f"BENCH/{uuid.uuid4().hex[:10]}"
            calls.append(_send_order(server.url, username, template.replace("HIL/000731", number)))
            returned = time.monotonic()
            deadline = returned + 30
            while number not in receiver.orders and time.monotonic() < deadline:
                time.sleep(0.002)
            if number not in receiver.orders:
                raise RuntimeError(f"order {n} never reached the receiver")
            waits.append(receiver.orders[number] - returned)
            time.sleep(rng.uniform(0.2, 0.6))  # the worker goes idle again
    finally:
        server.stop()
        receiver.stop()
    print(f"{label}: SendOrder returned -> receiver has it, {orders} orders: p50 {_pct(waits, 0.5) * 1000:.0f} ms, "
          f"p99 {_pct(waits, 0.99) * 1000:.0f} ms, max {max(waits) * 1000:.0f} ms "
          f"(baseline, the SendOrder round trip: p50 {_pct(calls, 0.5) * 1000:.0f} ms; "
          f"p99 target < 1000 ms: {'met' if _pct(waits, 0.99) < 1 else 'NOT met'})", flush=True)


def _fill(hub: Hub, count: int) -> None:
    with hub.unit_of_work() as uow:
        for n in range(count):
            emit(uow, EventType.ACCOUNT_ENABLED, hub.now(), subject=f"bench-{n}")
        uow.commit()


def throughput(label: str, url: str, count: int, rounds: int = 3) -> None:
    upgrade(url)
    hub = build_hub(load_settings({"EPROC_DATABASE_URL": url, **CHEAP, **HOOKS}))
    receiver = Receiver()
    webhooks.create_webhook(hub, receiver.url, ["account.enabled"])
    secret = signing.new_secret()
    body = b'{"type":"account.enabled","timestamp":"2026-12-02T00:00:00Z","data":{}}'
    worker_rates: list[float] = []
    bare_rates: list[float] = []
    try:
        for _ in range(rounds):
            started = time.monotonic()
            for n in range(count):
                sender.post(receiver.url, secret, f"msg_bare{n}", body, timeout=15, allow_private=True)
            bare_rates.append(count / (time.monotonic() - started))

            _fill(hub, count)
            worker = WebhookWorker(hub, name="bench")
            started = time.monotonic()
            sent, busy = 0, False
            while turns := worker.run_once(busy=busy):
                sent += len(turns)
                busy = True
            worker_rates.append(sent / (time.monotonic() - started))
    finally:
        receiver.stop()
    worker_rate, bare_rate = statistics.median(worker_rates), statistics.median(bare_rates)
    print(f"{label}: one worker {worker_rate:.0f} deliveries/s (median of {rounds} rounds of {count}); "
          f"bare signed POSTs to the same receiver {bare_rate:.0f}/s; worker/bare = {worker_rate / bare_rate:.2f}",
          flush=True)


def _postgres(admin_url: str) -> tuple[str, str]:
    name = f"eproc_bench_{uuid.uuid4().hex[:10]}"
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return name, make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def _drop(admin_url: str, name: str, url: str) -> None:
    engine_for(url).dispose()
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--orders", type=int, default=60)
    parser.add_argument("--deliveries", type=int, default=1000)
    parser.add_argument("--postgres-url", default=os.environ.get("EPROC_TEST_POSTGRES_URL", ""))
    args = parser.parse_args(argv)
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores", flush=True)
    with tempfile.TemporaryDirectory() as folder:
        latency("SQLite", f"sqlite:///{folder}/latency.db", args.orders)
        throughput("SQLite", f"sqlite:///{folder}/throughput.db", args.deliveries)
    if args.postgres_url:
        for kind in ("latency", "throughput"):
            name, url = _postgres(args.postgres_url)
            try:
                if kind == "latency":
                    latency("PostgreSQL", url, args.orders)
                else:
                    throughput("PostgreSQL", url, args.deliveries)
            finally:
                _drop(args.postgres_url, name, url)
    else:
        print("PostgreSQL: skipped (no --postgres-url or EPROC_TEST_POSTGRES_URL)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
