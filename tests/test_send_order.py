"""SendOrder, .NET-shaped, to the WSGI application in process: FMS's Authorised Order is checked
against the calling account."""

from __future__ import annotations

import json
from pathlib import Path

import dotnet_client as net
import pytest
from support import new_school

from eproc.services import admin

DATA = Path(__file__).parent / "data" / "ebis"
PASSWORD = "send-order-password-1"


@pytest.fixture
def school(live_hub) -> str:
    username, _ = new_school(live_hub, PASSWORD, establishment_name="Hillside Primary School")
    return username


def send(server, username: str, document: str, version: str = "1.1") -> net.Response:
    params = f"<Document>{net.escape(document)}</Document>"
    return net.call(server.endpoint, "SendOrder", params, username=username, password=PASSWORD, version=version)


@pytest.mark.parametrize(
    "variant", ["schema", "duns.handshake", "duns.buyer.missing", "duns.supplier.missing", "document.type"]
)
def test_refused_orders_name_the_rule_and_where(live_app, live_hub, school, variant):
    document = (DATA / "rules" / "authorised-order" / f"{variant}.xml").read_text(encoding="utf-8")
    response = send(live_app, school, document)
    assert response.status == 500
    code, message = net.fault(response)
    assert code == "soap:Client"
    assert message.startswith("InvalidXmlException: /")
    assert message.endswith(f"[{variant}]")
    assert "(line " in message
    assert admin.list_orders(live_hub, school) == []


def test_another_schools_order_is_refused(live_app, live_hub, school):
    other, _ = new_school(live_hub, PASSWORD, buyer_duns="555555555", prefix="other")
    document = (DATA / "valid" / "authorised-order-fms.xml").read_text(encoding="utf-8")
    response = send(live_app, other, document)
    code, message = net.fault(response)
    assert message.startswith("InvalidXmlException: /Order/Buyer/BuyerReferences/DUNS")
    assert "[duns.handshake]" in message
    assert admin.list_orders(live_hub, other) == []
    assert send(live_app, school, document).status == 200


def test_a_wrong_checksum_is_accepted_with_a_warning_in_the_stored_report(live_app, live_hub, school):
    document = (DATA / "rules" / "authorised-order" / "checksum.mismatch.xml").read_text(encoding="utf-8")
    response = send(live_app, school, document, version="1.2")
    assert response.status == 200 and net.result_text(response, "SendOrder") == "true"
    [listed] = admin.list_orders(live_hub, school)
    order = admin.show_order(live_hub, listed.id)
    report = json.loads(order.report_json)
    assert report["accepted"] is True
    assert [w["rule_id"] for w in report["warnings"]] == ["checksum.mismatch"]
    assert order.xml == document.encode()  # its declaration says utf-8 already: stored as sent


def test_an_empty_document_is_refused(live_app, school):
    response = net.call(live_app.endpoint, "SendOrder", "<Document></Document>", username=school, password=PASSWORD)
    code, message = net.fault(response)
    assert message == "InvalidXmlException: the Document element is empty: send the Authorised Order XML"


def _padded_order(total_characters: int) -> str:
    """The FMS order, padded with white space between elements up to ``total_characters``: still a
    legal Authorised Order, whose escaped text in the envelope is one text node of that size.
    The padding is split in two so that no text node of the order itself is over libxml2's limit."""
    document = (DATA / "valid" / "authorised-order-fms.xml").read_text(encoding="utf-8")
    half = " " * ((total_characters - len(document)) // 2)
    return document.replace("<OrderHead>", f"{half}<OrderHead>", 1).replace("<OrderReferences>",
                                                                           f"{half}<OrderReferences>", 1)


def test_an_order_over_libxml2s_text_node_limit_but_within_the_body_limit_is_accepted(live_app, live_hub, school):
    """libxml2 refuses text nodes over 10,000,000 characters unless told otherwise; the limit FMS is
    told about is EPROC_MAX_REQUEST_BYTES (16 MiB), and a 15 MB Authorised Order is legal."""
    document = _padded_order(15_000_000)
    response = send(live_app, school, document)
    assert response.status == 200, net.fault(response)
    assert net.result_text(response, "SendOrder") == "true"
    [listed] = admin.list_orders(live_hub, school)
    assert len(admin.show_order(live_hub, listed.id).xml) == len(document.encode())


def test_a_large_envelope_is_still_held_to_the_depth_limit(live_app, school):
    """Lifting the text limit must not lift the depth limit (XML_PARSE_HUGE does both in libxml2)."""
    deep = "<a>" * 1000 + "</a>" * 1000
    params = f"<Document>{' ' * 10_500_000}</Document>{deep}"
    response = net.call(live_app.endpoint, "SendOrder", params, username=school, password=PASSWORD)
    code, message = net.fault(response)
    assert message.startswith("InvalidRequestException: the request is not well-formed XML: Excessive depth")
