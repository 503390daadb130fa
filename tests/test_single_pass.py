"""One parse per document at every door: enqueue, validate, SendOrder, and two at most for
enqueue --fill-checksum (the second parse is of the rewritten bytes, and doubles as its check)."""

from __future__ import annotations

from pathlib import Path
from xml.sax.saxutils import escape

import pytest
from click.testing import CliRunner
from support import WsgiResponse, call_wsgi

from eproc import ebis
from eproc.cli import main
from eproc.config import Settings
from eproc.services import accounts, admin
from eproc.services.hub import Hub
from eproc.web import create_app

DATA = Path(__file__).parent / "data" / "ebis"
PASSWORD = "single-pass-password-1"


@pytest.fixture
def school(hub: Hub) -> str:
    accounts.create_account(
        hub, "single-pass", establishment_name="Hillside Primary", buyer_duns="123456789",
        supplier_duns="987654321", password=PASSWORD,
    )
    return "single-pass"


def _env(settings: Settings) -> dict[str, str]:
    return {
        "EPROC_DATABASE_URL": settings.database_url,
        "EPROC_ARGON2_TIME_COST": "1",
        "EPROC_ARGON2_MEMORY_COST": "1024",
        "EPROC_ARGON2_PARALLELISM": "1",
    }


def _parses_during(run) -> int:  # type: ignore[no-untyped-def]
    before = ebis.parse_count()
    run()
    return ebis.parse_count() - before


def _cli(settings: Settings, *args: str) -> str:
    result = CliRunner().invoke(main, list(args), env=_env(settings), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_enqueue_parses_once(settings: Settings, hub: Hub, school: str) -> None:
    path = str(DATA / "valid" / "content-order-full.xml")
    assert _parses_during(lambda: _cli(settings, "enqueue", path)) == 1
    assert len(admin.list_documents(hub, school)) == 1


def test_validate_parses_once_per_file(settings: Settings, school: str) -> None:
    files = [str(DATA / "valid" / "content-order-full.xml"), str(DATA / "valid" / "invoice-full.xml")]
    assert _parses_during(lambda: _cli(settings, "validate", "--account", school, *files)) == 2


def test_fill_checksum_parses_at_most_twice(settings: Settings, hub: Hub, school: str, tmp_path: Path) -> None:
    original = (DATA / "valid" / "content-order-full.xml").read_bytes()
    stated = ebis.stated_checksum(ebis.parse_xml(original))
    assert stated
    unfilled = tmp_path / "no-checksum.xml"
    unfilled.write_bytes(original.replace(f"<Checksum>{stated}</Checksum>".encode(), b"<Checksum>0</Checksum>"))
    assert _parses_during(lambda: _cli(settings, "enqueue", "--fill-checksum", str(unfilled))) == 2
    (queued,) = admin.list_documents(hub, school)
    stored = admin.show_document(hub, queued.doc_id).xml
    assert stored is not None and f"<Checksum>{stated}</Checksum>".encode() in stored


def test_send_order_parses_the_document_once(settings: Settings, hub: Hub, school: str) -> None:
    app = create_app(hub=hub)
    document = (DATA / "valid" / "authorised-order-fms.xml").read_text(encoding="utf-8")
    body = (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">'
        '<soap:Header><AuthHeader xmlns="http://www.dcsf.gov.uk/open/webservices/ots">'
        f"<Username>{school}</Username><Password>{PASSWORD}</Password></AuthHeader></soap:Header>"
        '<soap:Body><SendOrder xmlns="http://www.dcsf.gov.uk/open/webservices/ots">'
        f"<Document>{escape(document)}</Document></SendOrder></soap:Body></soap:Envelope>"
    ).encode()
    headers = [
        ("Content-Type", "text/xml; charset=utf-8"),
        ("SOAPAction", '"http://www.dcsf.gov.uk/open/webservices/ots/SendOrder"'),
    ]
    responses: list[WsgiResponse] = []

    def call() -> None:
        responses.append(call_wsgi(app, "http://127.0.0.1/service.asmx", "POST", body, headers))

    # The envelope itself is spyne's to parse; the Authorised Order inside it is parsed once.
    assert _parses_during(call) == 1
    (response,) = responses
    assert response.status == 200 and b"<SendOrderResult>true</SendOrderResult>" in response.body, response.body
    assert len(admin.list_orders(hub, school)) == 1


def test_the_api_parses_a_queued_or_validated_document_once(hub: Hub, school: str) -> None:
    from werkzeug.test import Client

    from eproc.services import tokens

    _view, token = tokens.create_token(hub, "single-pass", ["StoreDocument"])
    client = Client(create_app(hub=hub))
    headers = {"Content-Type": "application/xml", "Authorization": f"Bearer {token}"}
    document = (DATA / "valid" / "content-order-full.xml").read_bytes()
    statuses: list[int] = []

    def post(path: str) -> None:
        statuses.append(client.post(path, data=document, headers=headers).status_code)

    assert _parses_during(lambda: post("/api/v1/documents/validate")) == 1
    assert _parses_during(lambda: post("/api/v1/documents")) == 1
    assert statuses == [200, 201]
    assert len(admin.list_documents(hub, school)) == 1
