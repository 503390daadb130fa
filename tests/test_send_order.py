"""SendOrder over real HTTP: FMS's Authorised Order is checked against the calling account."""

from __future__ import annotations

import json
from pathlib import Path

import dotnet_client as net
import pytest
from support import unique_name

from eproc.services import accounts, admin

DATA = Path(__file__).parent / "data" / "ebis"
PASSWORD = "send-order-password-1"

pytestmark = pytest.mark.e2e


@pytest.fixture
def school(live_hub) -> str:
    username = unique_name()
    accounts.create_account(
        live_hub,
        username,
        establishment_name="Hillside Primary School",
        buyer_duns="123456789",
        supplier_duns="987654321",
        password=PASSWORD,
    )
    return username


def send(server, username: str, document: str, version: str = "1.1") -> net.Response:
    params = f"<Document>{net.escape(document)}</Document>"
    return net.call(server.endpoint, "SendOrder", params, username=username, password=PASSWORD, version=version)


@pytest.mark.parametrize(
    "variant", ["schema", "duns.handshake", "duns.buyer.missing", "duns.supplier.missing", "document.type"]
)
def test_refused_orders_name_the_rule_and_where(live_server, live_hub, school, variant):
    document = (DATA / "rules" / "authorised-order" / f"{variant}.xml").read_text(encoding="utf-8")
    response = send(live_server, school, document)
    assert response.status == 500
    code, message = net.fault(response)
    assert code == "soap:Client"
    assert message.startswith("InvalidXmlException: /")
    assert message.endswith(f"[{variant}]")
    assert "(line " in message
    assert admin.list_orders(live_hub, school) == []


def test_another_schools_order_is_refused(live_server, live_hub, school):
    other = unique_name("other")
    accounts.create_account(
        live_hub,
        other,
        establishment_name="Other School",
        buyer_duns="555555555",
        supplier_duns="987654321",
        password=PASSWORD,
    )
    document = (DATA / "valid" / "authorised-order-fms.xml").read_text(encoding="utf-8")
    response = send(live_server, other, document)
    code, message = net.fault(response)
    assert message.startswith("InvalidXmlException: /Order/Buyer/BuyerReferences/DUNS")
    assert "[duns.handshake]" in message
    assert admin.list_orders(live_hub, other) == []
    assert send(live_server, school, document).status == 200


def test_a_wrong_checksum_is_accepted_with_a_warning_in_the_stored_report(live_server, live_hub, school):
    document = (DATA / "rules" / "authorised-order" / "checksum.mismatch.xml").read_text(encoding="utf-8")
    response = send(live_server, school, document, version="1.2")
    assert response.status == 200 and net.result_text(response, "SendOrder") == "true"
    [order] = admin.list_orders(live_hub, school)
    report = json.loads(order.report_json)
    assert report["accepted"] is True
    assert [w["rule_id"] for w in report["warnings"]] == ["checksum.mismatch"]
    assert order.xml == document


def test_an_empty_document_is_refused(live_server, school):
    response = net.call(live_server.endpoint, "SendOrder", "<Document></Document>", username=school, password=PASSWORD)
    code, message = net.fault(response)
    assert message == "InvalidXmlException: the Document element is empty: send the Authorised Order XML"
