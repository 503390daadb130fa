"""FetchIndex as the queue grows, FetchIndex over big queued documents, and a 10 MB FetchDoc: time
and the worker's memory, over HTTP against one ``eproc serve`` worker on PostgreSQL.

    python -m bench.bench_index [--big-table 1000000] [--polls 300] [--postgres-url URL]

1. FetchIndex of a school with 20 queued documents, the table holding 1,000 documents, then again
   after other schools' documents bring it to ``--big-table`` (``INSERT ... SELECT
   generate_series``): p50/p99 of each and the p50 ratio (targets: within 1.2x, p99 < 15 ms).
   The two sizes are measured one after the other (one database), not interleaved.
2. FetchIndex of a school with 1,000 queued 200 KB documents: time (median of 5) and the growth of
   the worker's peak RSS (VmHWM) over its RSS before (targets: < 50 ms, < 20 MB).
3. FetchDoc of one 10 MB document: time (median of 5; target < 150 ms) and the worker's RSS idle,
   after, and its peak.
THE DATABASE'S public SCHEMA IS DROPPED AND REBUILT. Takes 1-3 minutes.
"""

from __future__ import annotations

import argparse
import http.client
import os
import statistics
import sys
import time
from urllib.parse import urlsplit

from sqlalchemy import create_engine, text

import bench.bench_auth as auth
from bench.bench_fms import fresh_database, start
from bench.bench_purge import CHEAP, percentile
from bench.quotes import quote

INSERT_DOCUMENTS = (
    "INSERT INTO document (doc_id, account_id, doc_type, xml, sha256, created_at, processed, collect_count,"
    " expires_at) SELECT :prefix || g, a.id, 'quote', convert_to(:xml, 'UTF8'), repeat('0', 64),"
    " now() - interval '1 hour', :processed, 0, now() + interval '30 days'"
    " FROM generate_series(1, :n) AS g, account AS a WHERE a.username = :username"
)


def raw_call(url: str, operation: str, password: str, params: str) -> int:
    """A call whose (large) answer is only counted, not parsed: the size of the body."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)
    try:
        connection.request("POST", parts.path, auth.envelope(operation, password, params),
                           {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": f'"{auth.OTS}/{operation}"'})
        response = connection.getresponse()
        size = len(response.read())
    finally:
        connection.close()
    if response.status != 200:
        raise RuntimeError(f"{operation}: HTTP {response.status}")
    return size


def status_kib(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0],
                                     epilog=(__doc__ or "").split("\n\n", 2)[-1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--big-table", type=int, default=1_000_000)
    parser.add_argument("--polls", type=int, default=300)
    parser.add_argument("--postgres-url", default=os.environ.get("EPROC_TEST_POSTGRES_URL", ""))
    options = parser.parse_args(argv)
    if not options.postgres_url.startswith("postgresql"):
        parser.error("a PostgreSQL URL is needed (--postgres-url or EPROC_TEST_POSTGRES_URL)")
    from eproc.config import load_settings
    from eproc.services import accounts, intake
    from eproc.services.hub import build_hub
    from eproc.store.migrate import upgrade

    print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    url = fresh_database(options.postgres_url, None)  # type: ignore[arg-type]
    upgrade(url)
    hub = build_hub(load_settings({"EPROC_DATABASE_URL": url, **CHEAP}))
    passwords = {}
    for name in ("polling", "others", "big-docs", "huge-doc"):
        _, passwords[name] = accounts.create_account(hub, name, establishment_name=name, buyer_duns="123456789",
                                                     supplier_duns="987654321")
    for n in range(20):
        intake.queue_document(hub, quote(f"<N>{n}</N>"), username="polling", requested_type="quote")
    # 10 MB of text with markup characters in it, so that the response really has to escape.
    huge = intake.queue_document(hub, quote(b"<Note>" + b"x&amp;y&lt; " * (10 * 1024 * 1024 // 12)
                                       + b"</Note>"), username="huge-doc", requested_type="quote").doc_id
    hub.store.engine.dispose()
    engine = create_engine(url)

    def insert(username: str, prefix: str, n: int, xml: str = "<Quote/>", processed: bool = False) -> None:
        with engine.begin() as connection:
            connection.execute(text(INSERT_DOCUMENTS), {"prefix": prefix, "n": n, "xml": xml, "processed": processed,
                                                        "username": username})
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM ANALYZE document"))

    insert("others", "SMALL-", 1000 - 21, processed=True)
    server = start("eproc", [sys.executable, "-m", "eproc.cli", "serve", "--host", "127.0.0.1", "--port", "0",
                             "--workers", "1"], {"EPROC_DATABASE_URL": url, **CHEAP})
    ok = True
    try:
        def polls(user: str, count: int, operation: str = "FetchIndex", params: str = "") -> list[float]:
            auth.USERNAME = user
            times = []
            for _ in range(count):
                begun = time.perf_counter()
                if operation == "FetchDoc":
                    raw_call(server.url, operation, passwords[user], params)
                else:
                    auth.soap_call(server.url, operation, passwords[user], params)
                times.append(time.perf_counter() - begun)
            return times

        polls("polling", 30)  # warm: pool, credential cache, prepared statements
        small = polls("polling", options.polls)
        idle_rss = status_kib(server.worker_pid, "VmRSS")
        started = time.perf_counter()
        insert("others", "BIG-", options.big_table - 1000)
        print(f"grew the table to {options.big_table:,} documents in {time.perf_counter() - started:.1f} s")
        polls("polling", 30)
        big = polls("polling", options.polls)
        ratio = statistics.median(big) / statistics.median(small)
        p99 = percentile(big, 0.99) * 1e3
        print(f"1. FetchIndex (20 listed) at 1,000 documents: p50 {statistics.median(small) * 1e3:.2f} ms, "
              f"p99 {percentile(small, 0.99) * 1e3:.2f} ms")
        print(f"   at {options.big_table:,}: p50 {statistics.median(big) * 1e3:.2f} ms, p99 {p99:.2f} ms; "
              f"p50 ratio {ratio:.2f}x (target 1.2x), p99 target < 15 ms")
        ok = ok and ratio <= 1.2 and p99 < 15

        insert("big-docs", "HEAVY-", 1000, xml="<Quote><Note>" + "y" * 200_000 + "</Note></Quote>")
        before = status_kib(server.worker_pid, "VmRSS")
        heavy = polls("big-docs", 5)
        growth = (status_kib(server.worker_pid, "VmHWM") - before) / 1024
        print(f"2. FetchIndex of 1,000 queued 200 KB documents: median {statistics.median(heavy) * 1e3:.1f} ms "
              f"(target < 50 ms); worker peak RSS {max(growth, 0):.1f} MiB above its RSS before (target < 20 MiB)")
        ok = ok and statistics.median(heavy) < 0.05 and growth < 20

        fetches = polls("huge-doc", 5, "FetchDoc", f"<DocID>{huge}</DocID>")
        print(f"3. FetchDoc of a 10 MB document: median {statistics.median(fetches) * 1e3:.1f} ms over HTTP "
              f"(target < 150 ms); worker RSS idle {idle_rss / 1024:.0f} MiB, after "
              f"{status_kib(server.worker_pid, 'VmRSS') / 1024:.0f} MiB, peak "
              f"{status_kib(server.worker_pid, 'VmHWM') / 1024:.0f} MiB")
        ok = ok and statistics.median(fetches) < 0.15
    finally:
        server.stop()
        engine.dispose()
    print(f"load average after: {os.getloadavg()[0]:.2f}; targets met: {'yes' if ok else 'NO'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
