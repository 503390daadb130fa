"""FetchDoc of one large document over HTTP: eproc against bare spyne serving the same text.

    python -m bench.bench_fetchdoc [--megabytes 10] [--calls 5] [--database-url URL]

eproc (``eproc serve``, one gunicorn worker) serves a queued quote of ``--megabytes`` MB (its
text full of ``<``, ``>`` and ``&``, which the SOAP answer must escape); bare spyne
(``bench/bare_spyne.py``, one worker, the same server) answers FetchDoc with the same text read
from a file at start. Calls alternate between the two. For each it prints the median wall time
seen by the client, the worker's CPU time per call (target for eproc: under 150 ms), and the
worker's RSS when idle (after one small call) and after the large FetchDocs: memory that stays is
copies of the document held past the answer.

Database: a throwaway SQLite file unless ``--database-url`` names one (ITS SCHEMA IS REBUILT).
"""

from __future__ import annotations

import argparse
import http.client
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

from lxml import etree

from bench.bench_auth import OTS, USERNAME, Server, envelope, soap_call, start
from bench.bench_fms import fresh_database
from bench.quotes import quote

TARGET_MS = 150.0


def document(megabytes: float) -> bytes:
    """A quote of about ``megabytes`` MB of XML: many small elements, as a long order has."""
    line = b"<Line><Description>Pens &amp; paper &lt;A4&gt;</Description><Qty>12</Qty></Line>\n"
    return quote(line * int(megabytes * 1_000_000 / len(line)))


def fetch_doc(url: str, password: str, doc_id: str) -> str:
    """FetchDoc's result text (the client parses it with libxml2's size limit lifted)."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)
    try:
        connection.request("POST", parts.path, envelope("FetchDoc", password, f"<DocID>{doc_id}</DocID>"),
                           {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": f'"{OTS}/FetchDoc"'})
        response = connection.getresponse()
        data = response.read()
    finally:
        connection.close()
    if response.status != 200:
        raise RuntimeError(f"FetchDoc: HTTP {response.status}: {data[:300]!r}")
    result = etree.fromstring(data, etree.XMLParser(huge_tree=True)).find(f".//{{{OTS}}}FetchDocResult")
    return "" if result is None else result.text or ""


def prepare(database_url: str, xml: bytes) -> tuple[str, str]:
    """The school, its password and the DocID of the large document."""
    from eproc.config import load_settings
    from eproc.services import accounts, intake
    from eproc.services.hub import build_hub
    from eproc.store.migrate import upgrade

    upgrade(database_url)
    hub = build_hub(load_settings({"EPROC_DATABASE_URL": database_url}))
    _, password = accounts.create_account(
        hub, USERNAME, establishment_name="Benchmark School", buyer_duns="123456789", supplier_duns="987654321"
    )
    doc_id = intake.queue_document(hub, xml, username=USERNAME, requested_type="quote").doc_id
    hub.store.engine.dispose()
    return password, doc_id


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--megabytes", type=float, default=10.0)
    parser.add_argument("--calls", type=int, default=5, help="timed FetchDocs per server (default 5)")
    parser.add_argument("--database-url", default="sqlite", help="default: a throwaway SQLite file")
    options = parser.parse_args(argv)
    print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    xml = document(options.megabytes)
    with tempfile.TemporaryDirectory(prefix="eproc-bench-fetchdoc-") as scratch:
        database_url = fresh_database(options.database_url, Path(scratch))
        password, doc_id = prepare(database_url, xml)
        text_file = Path(scratch) / "document.xml"
        text_file.write_bytes(xml)
        env = {"EPROC_DATABASE_URL": database_url, "BENCH_FETCHDOC_FILE": str(text_file)}
        py = sys.executable
        servers: dict[str, Server] = {}
        wall: dict[str, list[float]] = {"bare": [], "eproc": []}
        cpu: dict[str, list[float]] = {"bare": [], "eproc": []}
        idle: dict[str, int] = {}
        try:
            servers["bare"] = start("bare", [py, "-m", "bench.bench_fms", "--serve-bare"], env)
            servers["eproc"] = start(
                "eproc", [py, "-m", "eproc.cli", "serve", "--host", "127.0.0.1", "--port", "0", "--workers", "1"], env)
            for name, server in servers.items():
                soap_call(server.url, "FetchIndex", password)  # warm: imports, pool, the one argon2 verify
                idle[name] = server.rss_kib()
            expected = xml.decode()
            for _ in range(options.calls):
                for name, server in servers.items():
                    cpu_before, wall_before = server.cpu_ns(), time.perf_counter()
                    answer = fetch_doc(server.url, password, doc_id)
                    wall[name].append(time.perf_counter() - wall_before)
                    cpu[name].append((server.cpu_ns() - cpu_before) / 1e9)
                    if answer != expected:
                        raise RuntimeError(f"{name}: FetchDoc answered {len(answer)} characters, not the document")
            after = {name: server.rss_kib() for name, server in servers.items()}
        finally:
            for server in servers.values():
                server.stop()
    print(f"\nFetchDoc of one {len(xml) / 1e6:.1f} MB document over HTTP, one worker, {options.calls} calls "
          f"per server, interleaved; medians")
    print(f"{'server':<8}{'wall ms':>10}{'worker CPU ms':>15}{'RSS idle MiB':>14}{'RSS after MiB':>15}")
    for name in servers:
        print(f"{name:<8}{statistics.median(wall[name]) * 1e3:>10.0f}{statistics.median(cpu[name]) * 1e3:>15.0f}"
              f"{idle[name] / 1024:>14.0f}{after[name] / 1024:>15.0f}")
    eproc_ms = statistics.median(cpu["eproc"]) * 1e3
    ratio = eproc_ms / (statistics.median(cpu["bare"]) * 1e3)
    ok = eproc_ms < TARGET_MS
    print(f"eproc worker CPU per FetchDoc: {eproc_ms:.0f} ms (target under {TARGET_MS:.0f} ms), {ratio:.2f}x bare: "
          f"{'yes' if ok else 'NO'}")
    print(f"\nload average after: {os.getloadavg()[0]:.2f}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
