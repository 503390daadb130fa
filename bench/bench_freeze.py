"""PostgreSQL frozen (SIGSTOP) for 15 s under ``eproc serve --workers 2`` (issue 11).

    python -m bench.bench_freeze [--seconds 15] [--clients 4] [--statement-timeout 10] [--connect-timeout 5]

A private PostgreSQL (tests/private_postgres.py: initdb in a temporary directory, a free port, the
``postgres`` OS user), never the shared one. ``--clients`` FMS clients call FetchIndex and SendOrder
in a loop over raw SOAP (each with its own school), and one prober asks ``/health/ready`` and
``/health`` every 0.1 s. The postmaster and all its backends are stopped for ``--seconds``, then
continued. It prints, with the settings' timeouts (the defaults unless given):

* per client, the time from the freeze to its first fault;
* p50/p99/max latency of the calls that faulted during the freeze (target: within the statement
  timeout + 1 s of the watchdog + the connect timeout);
* the time from the freeze to the first ``/health/ready`` 503 (target: under 2 s), and the slowest
  ``/health`` during the freeze;
* the time from SIGCONT to each client's first success, and the first success of all;
* calls that neither succeeded nor faulted (timeouts, dropped connections: target 0), and the
  orders stored per client against the SendOrders answered true (target: equal).
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1] / "tests"
sys.path.insert(0, str(TESTS))  # the test suite's helpers: the private server, the raw SOAP client

import dotnet_client as net  # noqa: E402
import requests  # noqa: E402
from private_postgres import running_private_postgres, unavailable  # noqa: E402
from support import LiveServer, make_settings, new_school, start_server  # noqa: E402

PASSWORD = "bench-freeze-password-1"
ORDER_TEMPLATE = (TESTS / "data" / "ebis" / "valid" / "authorised-order-fms.xml").read_text(encoding="utf-8")


@dataclass
class Call:
    client: int
    operation: str
    started: float
    ended: float
    outcome: str  # "ok", "fault", "error"


@dataclass
class Probe:
    at: float  # /health/ready asked
    answered: float  # and answered
    ready: int
    health_seconds: float


@dataclass
class Run:
    calls: list[Call] = field(default_factory=list)
    probes: list[Probe] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    stop: threading.Event = field(default_factory=threading.Event)


def order(client: int, number: int) -> str:
    """A distinct order per call (another buyer's order number), so each SendOrder is a new one."""
    return ORDER_TEMPLATE.replace("<BuyersOrderNumber>HIL/000731<", f"<BuyersOrderNumber>HIL/B{client}-{number}<", 1)


def fms_client(server: LiveServer, client: int, username: str, run: Run, answered_true: list[int]) -> None:
    number = 0
    while not run.stop.is_set():
        number += 1
        operation = "SendOrder" if number % 2 else "FetchIndex"
        params = f"<Document>{net.escape(order(client, number))}</Document>" if operation == "SendOrder" else ""
        started = time.monotonic()
        try:
            response = net.call(server.endpoint, operation, params, username=username, password=PASSWORD, timeout=60)
            outcome = "ok" if response.status == 200 else "fault" if response.status == 500 else "error"
            if operation == "SendOrder" and outcome == "ok" and net.result_text(response, operation) == "true":
                answered_true[client] += 1
        except OSError:
            outcome = "error"
        with run.lock:
            run.calls.append(Call(client, operation, started, time.monotonic(), outcome))
        time.sleep(0.05)


def prober(server: LiveServer, run: Run) -> None:
    while not run.stop.is_set():
        at = time.monotonic()
        try:
            ready = requests.get(f"{server.base_url}/health/ready", timeout=10).status_code
        except requests.RequestException:
            ready = 0
        answered = started = time.monotonic()
        with contextlib.suppress(requests.RequestException):
            requests.get(f"{server.base_url}/health", timeout=10)
        run.probes.append(Probe(at, answered, ready, time.monotonic() - started))
        time.sleep(0.1)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--statement-timeout", type=int, default=10)
    parser.add_argument("--connect-timeout", type=int, default=5)
    parser.add_argument("--verbose", action="store_true", help="every readiness answer around the freeze")
    args = parser.parse_args(argv)
    reason = unavailable()
    if reason:
        print(f"skipped: {reason}")
        return 0
    from eproc.services import admin
    from eproc.services.hub import build_hub
    from eproc.store.db import dispose_engines
    from eproc.store.migrate import upgrade

    with open("/proc/loadavg") as loadavg:
        print(f"load average before: {loadavg.read().split()[:3]}")
    with running_private_postgres() as postgres:
        url = postgres.create_database("eproc")
        upgrade(url)
        hub = build_hub(make_settings(url))
        schools = [new_school(hub, PASSWORD, establishment_name=f"Bench School {i}")[0] for i in range(args.clients)]
        env = {
            "EPROC_DATABASE_STATEMENT_TIMEOUT_SECONDS": str(args.statement_timeout),
            "EPROC_DATABASE_CONNECT_TIMEOUT_SECONDS": str(args.connect_timeout),
        }
        server = start_server(url, "--workers", "2", env=env)
        run = Run()
        answered_true = [0] * args.clients
        threads = [threading.Thread(target=fms_client, args=(server, i, schools[i], run, answered_true))
                   for i in range(args.clients)]
        threads.append(threading.Thread(target=prober, args=(server, run)))
        try:
            for thread in threads:
                thread.start()
            # Warm: every worker has pooled connections and has answered readiness once (a worker's
            # first /health/ready loads the migrations and can take seconds on a loaded machine).
            time.sleep(2)
            while not any(p.at > run.probes[0].answered for p in run.probes[1:] if p.ready == 200):
                time.sleep(0.2)
            time.sleep(1)
            postgres.freeze()
            frozen_at = time.monotonic()
            time.sleep(args.seconds)
            postgres.thaw()
            thawed_at = time.monotonic()
            time.sleep(max(5.0, args.statement_timeout + args.connect_timeout + 2.0))
        finally:
            run.stop.set()
            for thread in threads:
                thread.join(timeout=90)
            postgres.thaw()
            server.stop()
        report(run, args, frozen_at, thawed_at)
        stored = [len(admin.list_orders(hub, username)) for username in schools]
        dispose_engines(url)
        print(f"orders stored per client {stored}, SendOrders answered true {answered_true}")
    with open("/proc/loadavg") as loadavg:
        print(f"load average after: {loadavg.read().split()[:3]}")
    return 0


def report(run: Run, args: argparse.Namespace, frozen_at: float, thawed_at: float) -> None:
    print(f"freeze {args.seconds:g} s, {args.clients} clients, eproc serve --workers 2, "
          f"statement timeout {args.statement_timeout} s, connect timeout {args.connect_timeout} s "
          f"(watchdog cuts at {args.statement_timeout + 1} s)")
    during = [c for c in run.calls if c.ended > frozen_at and c.started < thawed_at]
    faults = [c for c in during if c.outcome == "fault"]
    for client in range(args.clients):
        first = min((c.ended for c in faults if c.client == client), default=None)
        print(f"  client {client}: first fault {first - frozen_at:.2f} s after the freeze" if first else
              f"  client {client}: no fault during the freeze")
    if faults:
        latencies = [c.ended - c.started for c in faults]
        print(f"fault latency during the freeze: {len(faults)} faults, p50 {statistics.median(latencies):.2f} s, "
              f"p99 {percentile(latencies, 0.99):.2f} s, max {max(latencies):.2f} s")
    # Every call that overlapped the freeze, whatever its answer: none may wait longer than the
    # connect plus statement timeouts (the front answers a queued call unstarted at that bound).
    bound = args.connect_timeout + args.statement_timeout
    longest = max((c.ended - c.started for c in during), default=0.0)
    print(f"longest call overlapping the freeze: {longest:.2f} s (bound: connect + statement timeouts, {bound} s)")
    errors = [c for c in run.calls if c.outcome == "error"]
    print(f"calls neither answered nor faulted: {len(errors)}")
    first = run.probes[0]
    print(f"(the first /health/ready, before the freeze, took {first.answered - first.at:.2f} s)")
    first_503 = min((p.answered for p in run.probes if p.answered >= frozen_at and p.ready == 503), default=None)
    print("freeze to first /health/ready 503: " + (f"{first_503 - frozen_at:.2f} s" if first_503 else "never"))
    frozen_probes = [p for p in run.probes if frozen_at <= p.at < thawed_at]
    if args.verbose:
        for p in run.probes:
            if frozen_at - 3 <= p.at < frozen_at + 9:
                print(f"    /health/ready asked {p.at - frozen_at:+.2f} s answered {p.answered - frozen_at:+.2f} s: "
                      f"{p.ready}, /health {p.health_seconds:.3f} s")
    if frozen_probes:
        slowest = max(p.health_seconds for p in frozen_probes)
        print(f"/health during the freeze: {len(frozen_probes)} asked, slowest {slowest:.3f} s")
    after = [c for c in run.calls if c.started >= thawed_at or (c.ended > thawed_at and c.outcome == "ok")]
    first_ok = min((c.ended for c in after if c.outcome == "ok"), default=None)
    print("SIGCONT to first success: " + (f"{first_ok - thawed_at:.2f} s" if first_ok else "never"))
    for client in range(args.clients):
        own = min((c.ended for c in after if c.client == client and c.outcome == "ok"), default=None)
        print(f"  client {client}: first success {own - thawed_at:.2f} s after SIGCONT" if own else
              f"  client {client}: no success after SIGCONT")
    ready_again = min((p.answered for p in run.probes if p.at >= thawed_at and p.ready == 200), default=None)
    print("SIGCONT to /health/ready 200: " + (f"{ready_again - thawed_at:.2f} s" if ready_again else "never"))


if __name__ == "__main__":
    sys.exit(main())
