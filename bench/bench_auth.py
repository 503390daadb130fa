"""What authentication costs an FMS import, over real HTTP, with production argon2 parameters.

    python -m bench.bench_auth [--documents 50] [--cycles 5] [--cold-cycles 1] [--database-url URL]

One FMS import cycle is FetchIndex, then FetchDoc and UpdateDocumentStatus for each document
(1 + 2 x 50 = 101 calls, each carrying the password). The same cycle runs against three real
``eproc serve`` processes (one gunicorn sync worker each, one database):

* warm: the verified-credential cache as configured by default (the verify happens once);
* cold: ``EPROC_CREDENTIAL_CACHE_SECONDS=0``, so every call pays for an argon2id verify;
* bypassed: authentication replaced by a lookup of the account, done once per worker.

It prints calls per second and the ratios (target: warm within 1.25x of bypassed). Warm and
bypassed cycles are interleaved so that drift hits both alike; each figure is the median.

The bypass is not a setting of eproc and cannot be turned on in production: it exists only in
this file, which is not part of the installed package. The bypassed server is ``eproc serve`` run
by this module (``--serve-bypassed``), which swaps ``eproc.services.authentication.authenticate`` for a
stand-in before gunicorn forks its worker; nothing else differs.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from lxml import etree

from bench.quotes import quote

OTS = "http://www.dcsf.gov.uk/open/webservices/ots"
SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
USERNAME = "bench-school"
TARGET_RATIO = 1.25
LISTENING = re.compile(r"Listening at: (http://[^\s]+) ")


# --- the bypassed server (runs in its own process) ------------------------------------------------


def serve_bypassed(port: int) -> None:
    """``eproc serve`` with authentication swapped for a once-per-process account lookup."""
    from eproc import cli
    from eproc.services import authentication

    known: dict[str, authentication.Principal] = {}

    def bypass(hub, username, password, client_address=None):  # type: ignore[no-untyped-def]
        if username not in known:
            with hub.unit_of_work() as uow:
                account = uow.accounts.by_username(username)
                known[username] = authentication.Principal(account.id, username, "current", account.credential_version)
        return known[username]

    authentication.authenticate = bypass  # type: ignore[assignment]
    cli.main(["serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"], standalone_mode=False)


# --- the client -----------------------------------------------------------------------------------


WORKER = re.compile(r"Booting worker with pid: (\d+)")


@dataclass
class Server:
    name: str
    process: subprocess.Popen[str]
    url: str
    worker_pid: int  # the first worker's: with --workers 1, the one that answers

    def cpu_ns(self) -> int:
        """CPU time the worker has used, every thread of it (the front reads requests on one, the
        application answers on another), from the kernel's scheduler statistics."""
        total = 0
        for task in Path(f"/proc/{self.worker_pid}/task").iterdir():
            with contextlib.suppress(FileNotFoundError):  # a thread that has just ended
                total += int((task / "schedstat").read_text().split()[0])
        return total

    def rss_kib(self) -> int:
        with open(f"/proc/{self.worker_pid}/status") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start(name: str, command: list[str], env: dict[str, str]) -> Server:
    """Start a server and wait for its first worker; its URL and the worker's pid come from the log."""
    process = subprocess.Popen(
        command, env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
    )
    found: dict[str, str] = {}
    ready = threading.Event()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            if (match := LISTENING.search(line)) is not None:
                found["url"] = match.group(1)
            if (match := WORKER.search(line)) is not None:
                found.setdefault("pid", match.group(1))
            if "url" in found and "pid" in found:
                ready.set()
        ready.set()

    threading.Thread(target=pump, daemon=True).start()
    if not ready.wait(60) or "url" not in found or "pid" not in found:
        process.kill()
        raise RuntimeError(f"the {name} server did not start")
    time.sleep(0.5)  # the worker loads the application after its boot line
    return Server(name, process, found["url"] + "/service.asmx", int(found["pid"]))


def envelope(operation: str, password: str, params: str = "") -> bytes:
    return (
        f'<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="{SOAP11}"><soap:Header>'
        f'<AuthHeader xmlns="{OTS}"><Username>{USERNAME}</Username><Password>{password}</Password></AuthHeader>'
        f'</soap:Header><soap:Body><{operation} xmlns="{OTS}">{params}</{operation}></soap:Body></soap:Envelope>'
    ).encode()


def soap_call(url: str, operation: str, password: str, params: str = "", timeout: float = 120) -> str:
    parts = urlsplit(url)
    body = envelope(operation, password, params)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        connection.request(
            "POST",
            parts.path,
            body,
            {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": f'"{OTS}/{operation}"'},
        )
        response = connection.getresponse()
        data = response.read()
    finally:
        connection.close()
    if response.status != 200:
        raise RuntimeError(f"{operation}: HTTP {response.status}: {data[:300]!r}")
    result = etree.fromstring(data).find(f".//{{{OTS}}}{operation}Result")
    return "" if result is None else result.text or ""


def import_cycle(url: str, password: str) -> tuple[int, float]:
    """One FMS import: (calls made, seconds)."""
    start_time = time.perf_counter()
    index = soap_call(url, "FetchIndex", password)
    doc_ids = [e.text for e in etree.fromstring(index.encode()).iter("DocID")]
    for doc_id in doc_ids:
        soap_call(url, "FetchDoc", password, f"<DocID>{doc_id}</DocID>")
        soap_call(url, "UpdateDocumentStatus", password, f"<DocID>{doc_id}</DocID><Processed>true</Processed>")
    return 1 + 2 * len(doc_ids), time.perf_counter() - start_time


# --- the run --------------------------------------------------------------------------------------


def prepare(database_url: str, documents: int) -> tuple[str, object, object]:
    """Migrate, create the school at production argon2 cost, queue its documents."""
    from eproc.config import load_settings
    from eproc.services import accounts, authentication, intake
    from eproc.services.hub import build_hub
    from eproc.store.migrate import upgrade

    upgrade(database_url)
    hub = build_hub(load_settings({"EPROC_DATABASE_URL": database_url}))
    _, password = accounts.create_account(
        hub, USERNAME, establishment_name="Benchmark School", buyer_duns="123456789", supplier_duns="987654321"
    )
    for n in range(documents):
        intake.queue_document(hub, quote(f"<N>{n}</N>"), username=USERNAME, requested_type="quote")
    return password, hub, authentication.authenticate(hub, USERNAME, password)


def reset(hub, principal) -> None:  # type: ignore[no-untyped-def]
    """Every document unprocessed again, so that each cycle lists all of them (not timed)."""
    from eproc.services import admin, collection

    for document in admin.list_documents(hub, USERNAME):
        collection.update_document_status(hub, principal, document.doc_id, False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=50)
    parser.add_argument("--cycles", type=int, default=5, help="timed warm and bypassed cycles (each)")
    parser.add_argument("--cold-cycles", type=int, default=1, help="timed cold cycles (each ~15 s at 50 documents)")
    parser.add_argument("--database-url", default="", help="default: a throwaway SQLite file")
    parser.add_argument("--serve-bypassed", type=int, metavar="PORT", help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    if options.serve_bypassed is not None:
        serve_bypassed(options.serve_bypassed)
        return 0

    with tempfile.TemporaryDirectory(prefix="eproc-bench-") as scratch:
        database_url = options.database_url or f"sqlite:///{Path(scratch) / 'bench.db'}"
        password, hub, principal = prepare(database_url, options.documents)
        env = {"EPROC_DATABASE_URL": database_url}
        serve = [sys.executable, "-m", "eproc.cli", "serve", "--host", "127.0.0.1", "--port", "0", "--workers", "1"]
        servers = {
            "bypassed": start("bypassed", [sys.executable, "-m", "bench.bench_auth", "--serve-bypassed", "0"], env),
            "warm": start("warm", serve, env),
            "cold": start("cold", serve, {**env, "EPROC_CREDENTIAL_CACHE_SECONDS": "0"}),
        }
        times: dict[str, list[float]] = {name: [] for name in servers}
        calls = 0
        try:
            for name in ("bypassed", "warm"):  # untimed: imports, connection pools, the one verify
                import_cycle(servers[name].url, password)
                reset(hub, principal)
            for _ in range(options.cycles):
                for name in ("bypassed", "warm"):
                    calls, seconds = import_cycle(servers[name].url, password)
                    times[name].append(seconds)
                    reset(hub, principal)
            soap_call(servers["cold"].url, "FetchIndex", password)  # untimed: imports, connection pool
            for _ in range(options.cold_cycles):
                calls, seconds = import_cycle(servers["cold"].url, password)
                times["cold"].append(seconds)
                reset(hub, principal)
        finally:
            for server in servers.values():
                server.stop()
    report(times, calls, options.documents, database_url)
    return 0


def report(times: dict[str, list[float]], calls: int, documents: int, database_url: str) -> None:
    from eproc.config import Settings

    defaults = Settings()
    backend = "SQLite" if database_url.startswith("sqlite") else database_url.split(":", 1)[0]
    print(
        f"FMS import cycle: {documents} documents, {calls} calls over HTTP, one gunicorn worker, {backend}, "
        f"argon2id m={defaults.argon2_memory_cost} t={defaults.argon2_time_cost} p={defaults.argon2_parallelism}"
    )
    median = {name: statistics.median(values) for name, values in times.items()}
    print(f"{'mode':<10}{'cycles':>7}{'median cycle':>15}{'calls/s':>10}{'vs bypassed':>13}")
    for name in ("bypassed", "warm", "cold"):
        ratio = median[name] / median["bypassed"]
        print(f"{name:<10}{len(times[name]):>7}{median[name]:>13.3f} s{calls / median[name]:>10.1f}{ratio:>12.2f}x")
    warm_ratio = median["warm"] / median["bypassed"]
    verdict = "yes" if warm_ratio <= TARGET_RATIO else "NO"
    print(
        f"warm cache within {TARGET_RATIO}x of bypassed: {verdict} ({warm_ratio:.2f}x); "
        f"cold is {median['cold'] / median['warm']:.1f}x slower than warm"
    )


if __name__ == "__main__":
    sys.exit(main())
