"""The serving model (issue 11): slow clients against ``eproc serve --workers 2``, and the import
cycle's throughput of the buffering front against gunicorn's sync workers.

    python -m bench.bench_serving [--dribblers 200] [--seconds 60] [--documents 30] [--cycles 5]

Slow clients: ``--dribblers`` connections send their headers a byte every 2 s for ``--seconds``
(each reconnects when the front's header deadline closes it), while one FMS client polls FetchIndex
in a loop; it prints the calls made, failures and p50/p99/max latency (target: no failure, p99
under 1 s). With ``--against-sync`` the same is run against gunicorn's sync workers too (expect
every call to time out there).

Throughput: two servers on one SQLite database, both ``--workers 2``: the buffering front (what
``eproc serve`` runs) and gunicorn's sync worker (what it ran before). Import cycles (FetchIndex,
then FetchDoc and UpdateDocumentStatus per document) alternate between them, each figure the median;
it prints calls per second and the ratio (target: the front within 10% of sync).
"""

from __future__ import annotations

import argparse
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

from bench.bench_auth import USERNAME, Server, import_cycle, prepare, reset, soap_call, start

TARGET_RATIO = 1.10
SERVE_WITH = (
    "import sys; from eproc.server import EprocServer, gunicorn_options; "
    "o = gunicorn_options('127.0.0.1', 0, 2); o['worker_class'] = sys.argv[1] if sys.argv[1] != 'front' "
    "else o['worker_class']; EprocServer(o).run()"
)


def serve(name: str, worker: str, database_url: str) -> Server:
    return start(name, [sys.executable, "-c", SERVE_WITH, worker], {"EPROC_DATABASE_URL": database_url})


def dribble(address: tuple[str, int], stop: threading.Event, opened: list[int]) -> None:
    while not stop.is_set():
        try:
            connection = socket.create_connection(address, timeout=5)
        except OSError:
            stop.wait(0.1)
            continue
        opened[0] += 1
        try:
            for byte in b"POST /service.asmx HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100_000:
                connection.send(bytes([byte]))
                if stop.wait(2):
                    return
        except OSError:
            pass
        finally:
            connection.close()


def slow_clients(server: Server, password: str, dribblers: int, seconds: float) -> None:
    parts = urlsplit(server.url)
    address = (parts.hostname or "127.0.0.1", parts.port or 80)
    stop = threading.Event()
    opened = [0]
    threads = [threading.Thread(target=dribble, args=(address, stop, opened), daemon=True) for _ in range(dribblers)]
    for thread in threads:
        thread.start()
    time.sleep(2)
    latencies: list[float] = []
    failures = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        started = time.monotonic()
        try:
            soap_call(server.url, "FetchIndex", password, timeout=10)
            latencies.append(time.monotonic() - started)
        except Exception:  # noqa: BLE001 - counted: a timeout or a refused connection
            failures += 1
        time.sleep(0.1)
    stop.set()
    for thread in threads:
        thread.join(timeout=5)
    latencies.sort()
    if latencies:
        p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
        print(
            f"{server.name}: {dribblers} dribblers ({opened[0]} connections over {seconds:.0f} s): "
            f"{len(latencies)} FMS calls served, {failures} failed; p50 {statistics.median(latencies) * 1000:.0f} ms, "
            f"p99 {p99 * 1000:.0f} ms, max {latencies[-1] * 1000:.0f} ms; "
            f"p99 under 1 s: {'yes' if p99 < 1 and not failures else 'NO'}",
            flush=True,
        )
    else:
        print(f"{server.name}: {dribblers} dribblers: 0 FMS calls served, {failures} failed", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dribblers", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--documents", type=int, default=30)
    parser.add_argument("--cycles", type=int, default=5)
    parser.add_argument("--against-sync", action="store_true", help="also run the slow clients against sync workers")
    options = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="eproc-bench-") as scratch:
        database_url = f"sqlite:///{Path(scratch) / 'bench.db'}"
        password, hub, principal = prepare(database_url, options.documents)
        servers = {"front": serve("front", "front", database_url), "sync": serve("sync", "sync", database_url)}
        try:
            times: dict[str, list[float]] = {name: [] for name in servers}
            calls = 0
            for name in servers:  # untimed: imports, pools, the one password verify per worker
                import_cycle(servers[name].url, password)
                reset(hub, principal)
            for _ in range(options.cycles):
                for name in servers:
                    calls, seconds = import_cycle(servers[name].url, password)
                    times[name].append(seconds)
                    reset(hub, principal)
            median = {name: statistics.median(values) for name, values in times.items()}
            # Judged by the median of each round's own ratio (a round: front then sync): this
            # machine's speed drifts between rounds by more than the margin measured.
            ratio = statistics.median(f / s for f, s in zip(times["front"], times["sync"], strict=True))
            print(f"import cycle ({calls} calls, {USERNAME}, SQLite, --workers 2, {options.cycles} cycles each)")
            for name in servers:
                print(f"  {name:<6} median {median[name]:.3f} s  {calls / median[name]:.1f} calls/s")
            verdict = "yes" if ratio <= TARGET_RATIO else "NO"
            print(f"front/sync cycle time (median of the rounds' ratios): {ratio:.3f}x; within 10%: {verdict}",
                  flush=True)
            slow_clients(servers["front"], password, options.dribblers, options.seconds)
            if options.against_sync:
                slow_clients(servers["sync"], password, options.dribblers, min(options.seconds, 20))
        finally:
            for server in servers.values():
                server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
