"""``eproc purge`` of a million expired documents on PostgreSQL, with an FMS polling meanwhile.

    python -m bench.bench_purge [--documents 1000000] [--postgres-url URL]

Builds the database fast (``INSERT ... SELECT generate_series``): N expired, never collected
documents of one school, and 20 live ones of another school whose FMS polls. Then, against one
``eproc serve`` worker, FetchIndex is polled over HTTP back to back for 5 s (idle baseline), and
again while ``eproc purge`` runs in its own process. It prints the purge's time and rate, the
poll's p50/p99 idle and during the purge (targets: purge <= 30 s for 1M, poll p99 < 25 ms), and
checks that every purged document got its ``document.purged`` event.
THE DATABASE'S public SCHEMA IS DROPPED AND REBUILT. Takes 1-3 minutes at 1M.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import threading
import time

from sqlalchemy import create_engine, text

from bench.bench_auth import soap_call
from bench.bench_fms import fresh_database, start
from bench.quotes import quote

CHEAP = {"EPROC_ARGON2_TIME_COST": "1", "EPROC_ARGON2_MEMORY_COST": "1024", "EPROC_ARGON2_PARALLELISM": "1"}
TARGET_SECONDS_PER_MILLION, TARGET_P99_MS = 30.0, 25.0


def build(url: str, documents: int) -> tuple[str, str]:
    """The schema, the two schools, the documents; the polling school's (username, password)."""
    from eproc.config import load_settings
    from eproc.services import accounts, intake
    from eproc.services.hub import build_hub
    from eproc.store.migrate import upgrade

    upgrade(url)
    hub = build_hub(load_settings({"EPROC_DATABASE_URL": url, **CHEAP}))
    accounts.create_account(hub, "expired-school", establishment_name="Expired", buyer_duns="123456789",
                            supplier_duns="987654321")
    _, password = accounts.create_account(hub, "polling-school", establishment_name="Polling",
                                          buyer_duns="123456780", supplier_duns="987654321")
    for n in range(20):
        intake.queue_document(hub, quote(f"<N>{n}</N>", buyer_duns="123456780"), username="polling-school",
                              requested_type="quote")
    hub.store.engine.dispose()
    engine = create_engine(url)
    started = time.perf_counter()
    with engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO document (doc_id, account_id, doc_type, xml, sha256, created_at, processed, collect_count,"
            " expires_at) SELECT 'EXP-' || g, a.id, 'quote', convert_to('<Quote/>', 'UTF8'), repeat('0', 64),"
            " now() - interval '40 days', false, 0, now() - interval '1 day' - g * interval '1 millisecond'"
            " FROM generate_series(1, :n) AS g, account AS a WHERE a.username = 'expired-school'"
        ), {"n": documents})
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE document"))
        connection.execute(text("ANALYZE event"))
    print(f"built {documents:,} expired documents in {time.perf_counter() - started:.1f} s")
    engine.dispose()
    return "polling-school", password


def poll(url: str, password: str, until: threading.Event, samples: list[float]) -> None:
    while not until.is_set():
        begun = time.perf_counter()
        soap_call(url, "FetchIndex", password)
        samples.append(time.perf_counter() - begun)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0],
                                     epilog=(__doc__ or "").split("\n\n", 2)[-1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--documents", type=int, default=1_000_000)
    parser.add_argument("--postgres-url", default=os.environ.get("EPROC_TEST_POSTGRES_URL", ""),
                        help="PostgreSQL database (its schema is rebuilt); default $EPROC_TEST_POSTGRES_URL")
    options = parser.parse_args(argv)
    if not options.postgres_url.startswith("postgresql"):
        parser.error("a PostgreSQL URL is needed (--postgres-url or EPROC_TEST_POSTGRES_URL)")
    print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    url = fresh_database(options.postgres_url, None)  # type: ignore[arg-type]
    username, password = build(url, options.documents)
    env = {"EPROC_DATABASE_URL": url, **CHEAP}
    import bench.bench_auth as auth

    auth.USERNAME = username  # the envelopes name the polling school
    server = start("eproc", [sys.executable, "-m", "eproc.cli", "serve", "--host", "127.0.0.1", "--port", "0",
                             "--workers", "1"], env)
    try:
        for _ in range(20):  # warm: imports, pool, the credential cache, prepared statements
            soap_call(server.url, "FetchIndex", password)
        idle: list[float] = []
        stop = threading.Event()
        poller = threading.Thread(target=poll, args=(server.url, password, stop, idle))
        poller.start()
        time.sleep(5)
        stop.set()
        poller.join()

        during: list[float] = []
        stop = threading.Event()
        poller = threading.Thread(target=poll, args=(server.url, password, stop, during))
        poller.start()
        begun = time.perf_counter()
        purge = subprocess.run([sys.executable, "-m", "eproc.cli", "purge"], env={**os.environ, **env},
                               capture_output=True, text=True)
        seconds = time.perf_counter() - begun
        stop.set()
        poller.join()
    finally:
        server.stop()
    print(purge.stdout.strip() or purge.stderr.strip())
    engine = create_engine(url)
    with engine.connect() as connection:
        left = connection.execute(text("SELECT count(*) FROM document WHERE doc_id LIKE 'EXP-%'")).scalar_one()
        logged = connection.execute(text(
            "SELECT count(DISTINCT doc_id) FROM event WHERE type = 'document.purged' AND doc_id LIKE 'EXP-%'"
        )).scalar_one()
    engine.dispose()
    rate = options.documents / seconds
    scaled = seconds * 1_000_000 / options.documents
    p99_idle, p99_during = percentile(idle, 0.99) * 1e3, percentile(during, 0.99) * 1e3
    print(f"purge: {options.documents:,} documents in {seconds:.1f} s ({rate:,.0f}/s; {scaled:.1f} s per million, "
          f"target {TARGET_SECONDS_PER_MILLION:.0f} s); left {left}, purged events {logged:,}")
    print(f"FetchIndex over HTTP, idle: {len(idle)} polls, p50 {statistics.median(idle) * 1e3:.2f} ms, "
          f"p99 {p99_idle:.2f} ms")
    print(f"FetchIndex during purge:    {len(during)} polls, p50 {statistics.median(during) * 1e3:.2f} ms, "
          f"p99 {p99_during:.2f} ms (target < {TARGET_P99_MS:.0f} ms; {p99_during / p99_idle:.2f}x idle)")
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    ok = (purge.returncode == 0 and left == 0 and logged == options.documents
          and scaled <= TARGET_SECONDS_PER_MILLION and p99_during < TARGET_P99_MS)
    print("targets met: " + ("yes" if ok else "NO"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
