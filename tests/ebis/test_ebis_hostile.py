"""Hostile input is refused quickly, with a clear message, in bounded memory, without touching the network.

Each case runs in a fresh interpreter so that its peak RSS (``VmHWM``) is its own; the hostile
bytes are built inside that process, after the baseline is taken where the case allows.
"""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from ebis_helpers import corpus_bytes

from eproc.ebis import XmlRejected, check_authorised_order, check_content_document, parse_xml
from eproc.ebis.rules import AccountExpectations

REPO = Path(__file__).resolve().parents[2]
MiB = 1024 * 1024
RSS_BOUND_KIB = 24 * 1024  # far below what any of these would cost if expanded or read whole
TIME_BOUND_S = 2.0

LAUGHS = (
    '<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol">'
    + "".join(f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">' for i in range(1, 10))
    + "]>\n<lolz>&lol9;</lolz>"
)

RUNNER = r"""
import json, sys, time
from pathlib import Path
from eproc.ebis import XmlRejected, parse_xml, read_document
case, argument = sys.argv[1], sys.argv[2]
MiB = 1024 * 1024

def build():
    if case == "laughs":
        return argument.encode()
    if case == "laughs-utf16":
        return argument.encode("utf-16")
    if case == "laughs-after-long-comment":
        return ("<!--" + "x" * 100_000 + "-->" + argument.split("?>", 1)[1]).encode()
    if case == "deep":
        return b"<a>" * 10_000 + b"</a>" * 10_000
    if case == "large-bytes":
        return b"<Order>" + b" " * (50 * MiB) + b"</Order>"
    return None

def high_water_kib():
    # VmHWM is this program's own peak; ru_maxrss would carry over the (larger) parent's across exec.
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))

data = build()
before = high_water_kib()
start = time.perf_counter()
try:
    if case == "large-file":
        parse_xml(read_document(argument))
    else:
        parse_xml(data)
    outcome = {"rejected": False, "message": ""}
except XmlRejected as exc:
    outcome = {"rejected": True, "message": str(exc)}
outcome["seconds"] = time.perf_counter() - start
outcome["rss_growth_kib"] = high_water_kib() - before
print(json.dumps(outcome))
"""


def _run(case: str, argument: str = "") -> dict:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-c", RUNNER, case, argument], capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.parametrize(
    ("case", "argument", "message"),
    [
        ("laughs", LAUGHS, "DTDs and entity declarations are not allowed"),
        # Past the quick prolog check, libxml2 (entities never resolved) and the tree check still refuse.
        ("laughs-utf16", LAUGHS, "DTDs and entity declarations are not allowed"),
        ("laughs-after-long-comment", LAUGHS, "DTDs and entity declarations are not allowed"),
        ("deep", "", "nesting deeper than 256 levels"),
        ("large-bytes", "", "over the limit of 16777216 bytes"),
    ],
)
def test_hostile_bytes_are_refused_quickly_in_bounded_memory(case: str, argument: str, message: str) -> None:
    outcome = _run(case, argument)
    assert outcome["rejected"], outcome
    assert message in outcome["message"]
    assert outcome["seconds"] < TIME_BOUND_S
    assert outcome["rss_growth_kib"] < RSS_BOUND_KIB, outcome


def test_a_50_mib_file_is_refused_before_it_is_read(tmp_path: Path) -> None:
    path = tmp_path / "huge.xml"
    with path.open("wb") as handle:
        handle.write(b"<Order>")
        handle.seek(50 * MiB)
        handle.write(b"</Order>")
    outcome = _run("large-file", str(path))
    assert outcome["rejected"] and "over the limit" in outcome["message"]
    assert outcome["seconds"] < TIME_BOUND_S
    assert outcome["rss_growth_kib"] < 4 * 1024, outcome  # nothing of the 50 MiB was read


def test_external_file_entity_is_refused_and_never_read() -> None:
    for encoding in ("utf-8", "utf-16"):
        xml = '<?xml version="1.0"?>\n<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n<r>&x;</r>'
        with pytest.raises(XmlRejected, match="DTDs and entity declarations are not allowed") as caught:
            parse_xml(xml.encode(encoding))
        assert "root:" not in str(caught.value)


def test_plain_dtd_is_refused() -> None:
    xml = corpus_bytes("valid/content-order-full.xml").replace(
        b"?>\n", b'?>\n<!DOCTYPE Order SYSTEM "order-v3.dtd">\n', 1
    )
    with pytest.raises(XmlRejected, match="DTDs") as caught:
        parse_xml(xml)
    assert caught.value.line == 2


class _Recorder(http.server.BaseHTTPRequestHandler):
    requests: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 - the http.server API
        _Recorder.requests.append(self.path)
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b'<!ENTITY leaked "yes">')

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def listener() -> Iterator[str]:
    """An HTTP server on 127.0.0.1 that records every request made to it."""
    _Recorder.requests = []
    server = http.server.HTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_external_http_entities_and_dtds_are_never_fetched(listener: str) -> None:
    documents = [
        f'<?xml version="1.0"?>\n<!DOCTYPE r [<!ENTITY x SYSTEM "{listener}/entity">]>\n<r>&x;</r>',
        f'<?xml version="1.0"?>\n<!DOCTYPE r [<!ENTITY % p SYSTEM "{listener}/parameter"> %p;]>\n<r/>',
        f'<?xml version="1.0"?>\n<!DOCTYPE r SYSTEM "{listener}/external.dtd">\n<r/>',
    ]
    for xml in documents:
        for encoding in ("utf-8", "utf-16"):
            with pytest.raises(XmlRejected, match="DTDs and entity declarations are not allowed"):
                parse_xml(xml.encode(encoding))
    assert _Recorder.requests == []


def test_schema_location_hints_are_never_followed(listener: str) -> None:
    """Real documents carry xsi:schemaLocation; neither engine may fetch it, valid or not."""
    hint = (
        b' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:schemaLocation='
        b'"urn:schemas-basda-org:2000:purchaseOrder:xdr:3.01 ' + listener.encode() + b'/order-v3.xsd"'
    )
    valid = corpus_bytes("valid/content-order-full.xml").replace(
        b'<Order xmlns="urn:schemas-basda-org:2000:purchaseOrder:xdr:3.01"',
        b'<Order xmlns="urn:schemas-basda-org:2000:purchaseOrder:xdr:3.01"' + hint,
    )
    assert check_content_document(parse_xml(valid), requested_type="order").accepted
    invalid = valid.replace(b"<LineNumber>2</LineNumber>", b"<LineNumber>two</LineNumber>")
    report = check_authorised_order(parse_xml(invalid), expectations=AccountExpectations("123456789", "987654321"))
    assert report.rule_ids() == {"schema"}
    assert _Recorder.requests == []
