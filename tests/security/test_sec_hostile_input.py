"""Hostile input at the SOAP door, over real HTTP to a real server with one worker (so that one
process sees every request and its peak memory can be read): each request gets a clear fault,
nothing is stored, no file or URL is read, memory stays bounded, and the next normal call works."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sec_support import (
    AUTH_FAULT,
    DATA,
    OTS,
    Listener,
    Reply,
    auth_header,
    envelope,
    escape,
    new_school,
    peak_rss_kib,
    post,
    queue_quotes,
    recording_listener,
    stored_counts,
    worker_pids,
)
from support import LiveServer, start_server

from eproc.services.hub import Hub

pytestmark = pytest.mark.e2e

PASSWORD = "hostile-test-password-1"
LIMIT = 16 * 1024 * 1024
MiB = 1024
# Peak-memory growth of the worker over the whole battery. A body of up to the 16 MiB limit is
# held whole by design (about 18 MiB measured, for the chunked one); billion laughs expanded would
# need gigabytes, the quadratic blow-up here 2 GB. Measured: about 21 MiB, reported with -s.
RSS_GROWTH_BOUND_KIB = 32 * MiB
DTD_FAULT = "InvalidRequestException: a SOAP message must not contain a document type declaration (<!DOCTYPE ...>)"
LAUGHS_DTD = (
    '<!DOCTYPE soap:Envelope [<!ENTITY lol "lol">'
    + "".join(f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">' for i in range(1, 10))
    + "]>"
)
QUADRATIC_DTD = f'<!DOCTYPE soap:Envelope [<!ENTITY big "{"x" * 100_000}">]>'


@dataclass
class Battery:
    server: LiveServer
    hub: Hub
    school: str
    victim: str
    own_doc: str
    listener: Listener
    secret_file: Path
    secret: str


@pytest.fixture(scope="module")
def battery(live_database: str, live_hub: Hub, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Battery]:
    school, _ = new_school(live_hub, PASSWORD)
    victim, _ = new_school(live_hub, PASSWORD, buyer_duns="555555555")  # takes the failed logins
    [own_doc] = queue_quotes(live_hub, school, 1)
    secret_file = tmp_path_factory.mktemp("secret") / "secret.txt"
    secret = "FILE-CONTENT-MARKER-90125"
    secret_file.write_text(secret)
    server = start_server(live_database, "--workers", "1")
    with recording_listener() as listener:
        yield Battery(server, live_hub, school, victim, own_doc, listener, secret_file, secret)
    server.stop()


def normal_call(battery: Battery) -> Reply:
    return post(battery.server.endpoint, envelope("FetchIndex", header=auth_header(battery.school, PASSWORD)))


def _auth(username: str, password: str = PASSWORD) -> str:
    """An AuthHeader with the values written into the XML as they are (entity references stay live)."""
    return f'<AuthHeader xmlns="{OTS}"><Username>{username}</Username><Password>{password}</Password></AuthHeader>'


def hostile_requests(b: Battery) -> list[tuple[str, Callable[[], Reply], int, str]]:
    """(name, send, expected HTTP status, expected faultstring or its beginning + '...')."""
    url = b.server.endpoint
    auth = _auth(b.school)
    xxe_file = f'<!DOCTYPE soap:Envelope [<!ENTITY xxe SYSTEM "file://{b.secret_file}">]>'
    xxe_http = f'<!DOCTYPE soap:Envelope [<!ENTITY xxe SYSTEM "{b.listener.url}/entity">]>'
    parameter = f'<!DOCTYPE soap:Envelope [<!ENTITY % p SYSTEM "{b.listener.url}/parameter"> %p;]>'
    external_dtd = f'<!DOCTYPE soap:Envelope SYSTEM "{b.listener.url}/external.dtd">'
    deep = "<a>" * 10_000 + "</a>" * 10_000
    megabyte = "u" * (1024 * 1024)

    def soap(
        operation: str, params: str = "", header: str = auth, prolog: str = "", **kw: object
    ) -> Callable[[], Reply]:
        return lambda: post(url, envelope(operation, params, header, prolog), operation, **kw)  # type: ignore[arg-type]

    def raw(body: bytes, **kw: object) -> Callable[[], Reply]:
        return lambda: post(url, body, **kw)  # type: ignore[arg-type]

    valid = envelope("FetchIndex", header=auth)
    cases: list[tuple[str, Callable[[], Reply], int, str]] = [
        ("external file entity", soap("FetchIndex", header=_auth("&xxe;"), prolog=xxe_file), 500, DTD_FAULT),
        ("external http entity", soap("FetchIndex", header=_auth("&xxe;"), prolog=xxe_http), 500, DTD_FAULT),
        ("parameter entity", soap("FetchIndex", prolog=parameter), 500, DTD_FAULT),
        ("external DTD", soap("FetchIndex", prolog=external_dtd), 500, DTD_FAULT),
        ("billion laughs", soap("FetchIndex", header=_auth("&lol9;"), prolog=LAUGHS_DTD), 500, DTD_FAULT),
        ("quadratic blow-up", soap("FetchIndex", header=_auth("&big;" * 20_000), prolog=QUADRATIC_DTD), 500, DTD_FAULT),
        ("harmless DTD", soap("FetchIndex", prolog="<!DOCTYPE soap:Envelope>"), 500, DTD_FAULT),
        (
            "DTD after declaration and comment",
            soap("FetchIndex", prolog='<?xml version="1.0"?><!-- hi --><!DOCTYPE soap:Envelope>'),
            500,
            DTD_FAULT,
        ),
        (
            "DTD in UTF-16",
            raw(
                ('<?xml version="1.0" encoding="utf-16"?><!DOCTYPE soap:Envelope>' + valid.decode()).encode("utf-16"),
                content_type="text/xml",
            ),
            500,
            DTD_FAULT,
        ),
        (
            "10,000-deep header",
            soap("FetchIndex", header=auth + deep),
            500,
            "InvalidRequestException: the request is not well-formed XML: Excessive depth in document: 256...",
        ),
        (
            "10,000-deep body",
            soap("FetchDoc", f"<DocID>{deep}</DocID>"),
            500,
            "InvalidRequestException: the request is not well-formed XML: Excessive depth in document: 256...",
        ),
        (
            "invalid UTF-8 with charset",
            raw(valid.replace(b"FetchIndex xmlns", b"FetchIndex\xff\xfe xmlns")),
            500,
            "InvalidRequestException: the request body is not valid utf-8 (an invalid byte sequence near byte ...",
        ),
        (
            "invalid UTF-8 without charset",
            raw(valid.replace(PASSWORD.encode(), b"pass\xc3\x28word"), content_type="text/xml"),
            500,
            "InvalidRequestException: the request is not well-formed XML: Invalid bytes in character encoding...",
        ),
        (
            "unknown charset",
            raw(valid, content_type="text/xml; charset=x-no-such"),
            500,
            "InvalidRequestException: the Content-Type names charset 'x-no-such', which is not supported: send utf-8",
        ),
        (
            "wrong Content-Type",
            raw(valid, content_type="application/json"),
            415,
            "InvalidRequestException: Content-Type 'application/json' is not supported: use text/xml (SOAP 1.1) or "
            "application/soap+xml (SOAP 1.2)",
        ),
        (
            "missing Content-Type",
            raw(valid, content_type=None),
            415,
            "InvalidRequestException: Content-Type '(none)' is not supported: use text/xml (SOAP 1.1) or "
            "application/soap+xml (SOAP 1.2)",
        ),
        ("empty body", raw(b""), 500, "InvalidRequestException: the request body is empty: send a SOAP envelope"),
        (
            "not XML",
            raw(b"\x00\x01\x02 hello"),
            500,
            "InvalidRequestException: the request is not well-formed XML: ...",
        ),
        (
            "two AuthHeaders",
            soap("FetchIndex", header=auth + _auth(b.victim)),
            500,
            "InvalidRequestException: the SOAP header carries more than one AuthHeader; send exactly one",
        ),
        ("1 MB username", soap("FetchIndex", header=_auth(megabyte)), 500, AUTH_FAULT),
        ("1 MB password", soap("FetchIndex", header=_auth(b.victim, megabyte)), 500, AUTH_FAULT),
        (
            "XInclude in the username",
            soap(
                "FetchIndex",
                header=auth.replace(
                    f"<Username>{b.school}</Username>",
                    f'<Username><xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="file://{b.secret_file}" '
                    'parse="text"/></Username>',
                ),
            ),
            500,
            AUTH_FAULT,  # never processed: the username is empty text
        ),
    ]
    sql = "x' OR '1'='1'; DROP TABLE account; --"
    for label, text in (("SQL", sql), ("NUL", "a\x00b"), ("NUL reference", "a&#0;b"), ("control reference", "a&#1;b")):
        # A NUL, raw or as a reference, cannot be in XML 1.0 at all: the envelope itself is refused.
        bad_xml = label != "SQL"
        malformed = "InvalidRequestException: the request is not well-formed XML: ..."
        value = text if label.endswith("reference") else escape(text)
        cases += [
            (
                f"{label} in Username",
                soap("FetchIndex", header=_auth(value)),
                500,
                malformed if bad_xml else AUTH_FAULT,
            ),
            (
                f"{label} in Password",
                soap("FetchIndex", header=_auth(b.victim, value)),
                500,
                malformed if bad_xml else AUTH_FAULT,
            ),
            (
                f"{label} in DocID (FetchDoc)",
                soap("FetchDoc", f"<DocID>{value}</DocID>"),
                500,
                malformed if bad_xml else f"DocumentNotExistException: Document '{text}' does not exist.",
            ),
            (
                f"{label} in DocID (UpdateDocumentStatus)",
                soap("UpdateDocumentStatus", f"<DocID>{value}</DocID><Processed>true</Processed>"),
                500,
                malformed if bad_xml else f"DocumentNotExistException: Document '{text}' does not exist.",
            ),
            (
                f"{label} in Document (SendOrder)",
                soap("SendOrder", f"<Document>{value}</Document>"),
                500,
                malformed if bad_xml else "InvalidXmlException: not well-formed XML: ...",
            ),
        ]
    order = (DATA / "authorised-order-minimal.xml").read_text()
    embedded = {
        "external file entity": order.replace(
            "<Order ", f'<!DOCTYPE Order [<!ENTITY x SYSTEM "file://{b.secret_file}">]><Order ', 1
        ).replace("<Party>Hillside Primary School</Party>", "<Party>&x;</Party>"),
        "external http entity": order.replace(
            "<Order ", f'<!DOCTYPE Order [<!ENTITY x SYSTEM "{b.listener.url}/order">]><Order ', 1
        ).replace("<Party>Hillside Primary School</Party>", "<Party>&x;</Party>"),
        "billion laughs": order.replace("<Order ", LAUGHS_DTD.replace("soap:Envelope", "Order") + "<Order ", 1).replace(
            "<Party>Hillside Primary School</Party>", "<Party>&lol9;</Party>"
        ),
        "quadratic blow-up": order.replace(
            "<Order ", QUADRATIC_DTD.replace("soap:Envelope", "Order") + "<Order ", 1
        ).replace("<Party>Hillside Primary School</Party>", "<Party>" + "&big;" * 20_000 + "</Party>"),
        "DTD": order.replace("<Order ", "<!DOCTYPE Order><Order ", 1),
    }
    for label, document in embedded.items():
        cases.append(
            (
                f"{label} in SendOrder's Document",
                soap("SendOrder", f"<Document>{escape(document)}</Document>"),
                500,
                "InvalidXmlException: DTDs and entity declarations are not allowed...",
            )
        )
    deep_order = order.replace("<OrderDate>", "<OrderDate>" + "<a>" * 10_000 + "</a>" * 10_000, 1)
    cases.append(
        (
            "10,000-deep Document",
            soap("SendOrder", f"<Document>{escape(deep_order)}</Document>"),
            500,
            "InvalidXmlException: not well-formed XML: nesting deeper than 256 levels...",
        )
    )
    # Last, so that the memory they cost (up to the limit, by design) does not hide the others'.
    cases += [
        (
            "body over the limit",
            soap("SendOrder", f"<Document>{'x' * (LIMIT + 1)}</Document>"),
            500,
            f"RequestTooLargeException: The request body is larger than {LIMIT} bytes.",
        ),
        (
            "chunked body over the limit",
            soap("SendOrder", f"<Document>{'x' * (LIMIT + 1)}</Document>", chunked=True),
            500,
            f"RequestTooLargeException: The request body is larger than {LIMIT} bytes.",
        ),
    ]
    return cases


def _matches(text: str, expected: str) -> bool:
    if expected.endswith("..."):
        return text.startswith(expected[:-3])
    return text == expected


LEAKS = ("Traceback", 'File "', "/work/", "site-packages", "sqlalchemy", "SELECT ", "psycopg", "sqlite3")


def test_every_hostile_request_gets_a_clear_fault_in_bounded_memory(battery: Battery) -> None:
    assert normal_call(battery).status == 200
    [worker] = worker_pids(battery.server)
    baseline = peak_rss_kib(worker)
    before = stored_counts(battery.hub)
    growth: dict[str, int] = {}
    problems: list[str] = []
    for name, send, status, expected in hostile_requests(battery):
        high_water = peak_rss_kib(worker)
        reply = send()
        growth[name] = peak_rss_kib(worker) - high_water
        try:
            code, text = reply.fault()
        except Exception as exc:  # noqa: BLE001 - collected and reported below
            problems.append(f"{name}: not a SOAP fault ({exc}): {reply.status} {reply.body[:200]!r}")
            continue
        if reply.status != status or code != "soap:Client" or not _matches(text, expected):
            problems.append(f"{name}: {reply.status} {code} {text[:300]!r}")
        if any(leak in text for leak in LEAKS) or battery.secret in text:
            problems.append(f"{name}: the fault leaks something: {text[:300]!r}")
        after = normal_call(battery)
        if after.status != 200:
            problems.append(f"{name}: the next normal call failed: {after.status} {after.body[:200]!r}")
        if worker_pids(battery.server) != [worker]:
            problems.append(f"{name}: the worker died")
            break
    assert problems == [], "\n".join(problems)
    assert stored_counts(battery.hub) == before
    assert battery.listener.requests == []
    log = "".join(battery.server.log)
    assert battery.secret not in log
    total = peak_rss_kib(worker) - baseline
    report = ", ".join(f"{name}: {kib} KiB" for name, kib in growth.items() if kib)
    print(f"\nworker peak RSS: baseline {baseline} KiB, growth {total} KiB ({report})")
    assert total < RSS_GROWTH_BOUND_KIB, report


def test_sql_metacharacters_change_nothing(battery: Battery) -> None:
    """The SQL-looking values above were bound as parameters: every table and row is still there."""
    counts = stored_counts(battery.hub)
    assert counts["account"] >= 2 and counts["document"] >= 1
    reply = post(
        battery.server.endpoint,
        envelope("FetchDoc", f"<DocID>{battery.own_doc}</DocID>", auth_header(battery.school, PASSWORD)),
        "FetchDoc",
    )
    assert battery.school in reply.result("FetchDoc")


def test_the_worker_survives_a_flood_of_failed_parses(battery: Battery) -> None:
    """Many cheap bad requests in a row: no leak of memory between requests."""
    [worker] = worker_pids(battery.server)
    body = envelope("FetchIndex", header=auth_header("&lol9;", "x"), prolog=LAUGHS_DTD)
    for _ in range(20):
        post(battery.server.endpoint, body)
    baseline = peak_rss_kib(worker)
    for _ in range(200):
        assert post(battery.server.endpoint, body).fault()[1] == DTD_FAULT
    assert peak_rss_kib(worker) - baseline < 4 * MiB
    assert normal_call(battery).status == 200
    assert os.path.exists(f"/proc/{worker}")
