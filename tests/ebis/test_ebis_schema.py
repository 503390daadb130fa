"""eproc's own XSDs: liberal where the standard is unknown (FMS's orders must pass), strict where it is known."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from ebis_helpers import ACCOUNT, corpus_bytes

from eproc.ebis import check_authorised_order, check_content_document, fill_checksum, parse_xml

FMS_ORDER = "valid/authorised-order-fms.xml"


def _authorised(change: Callable[[bytes], bytes]):  # type: ignore[no-untyped-def]
    return check_authorised_order(parse_xml(fill_checksum(change(corpus_bytes(FMS_ORDER)))), expectations=ACCOUNT)


LIBERAL = {
    "upper-case language": lambda x: x.replace(b"<Language>en</Language>", b"<Language>EN</Language>"),
    "no OrderTotal": lambda x: x[: x.index(b"  <OrderTotal>")] + b"</Order>\n",
    "amended lines": lambda x: x.replace(b"<OrderLine>", b'<OrderLine Action="Change">', 1),
    "no OrderReferences": lambda x: x[: x.index(b"  <OrderReferences>")] + x[x.index(b"  <OrderDate>") :],
    "schemaLocation hint": lambda x: x.replace(
        b'<Order xmlns="urn:schemas-basda-org:2000:purchaseOrder:xdr:3.01">',
        b'<Order xmlns="urn:schemas-basda-org:2000:purchaseOrder:xdr:3.01" '
        b'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:schemaLocation='
        b'"urn:schemas-basda-org:2000:purchaseOrder:xdr:3.01 http://www.ebis-xml.net/schemas/order-v3.xsd">',
    ),
    "line extension": lambda x: x.replace(
        b"    </OrderLineReferences>\n    <Product>",
        b'    </OrderLineReferences>\n    <Extensions><f:Fund xmlns:f="urn:example:fms">DEL</f:Fund></Extensions>'
        b"\n    <Product>",
        1,
    ),
    "foreign elements inline (deprecated form)": lambda x: x.replace(
        b"  <OrderDate>", b'  <f:Origin xmlns:f="urn:example:fms">FMS6</f:Origin>\n  <OrderDate>'
    ),
    "empty delivery date": lambda x: x.replace(b"<PreferredDate>2026-11-10</PreferredDate>", b"<PreferredDate/>"),
    "order date with time": lambda x: x.replace(
        b"<OrderDate>2026-11-05</OrderDate>", b"<OrderDate>2026-11-05T10:00:00</OrderDate>"
    ),
    "originator and invoice-to": lambda x: x.replace(
        b"  <Buyer>", b"  <Originator><Party>Office</Party></Originator>\n  <Buyer>"
    ).replace(b"  <OrderLine>", b"  <InvoiceTo><Party>Finance</Party></InvoiceTo>\n  <OrderLine>", 1),
}


@pytest.mark.parametrize("change", LIBERAL.values(), ids=LIBERAL.keys())
def test_what_fms_may_write_in_an_authorised_order_is_accepted(change: Callable[[bytes], bytes]) -> None:
    report = _authorised(change)
    assert report.accepted and report.findings == [], report.to_json()


def test_an_authorised_order_with_an_empty_checksum_is_accepted_with_a_warning() -> None:
    xml = corpus_bytes(FMS_ORDER)
    start = xml.index(b"<Checksum>")
    empty = xml[:start] + b"<Checksum/>" + xml[xml.index(b"</Checksum>") + len(b"</Checksum>") :]
    report = check_authorised_order(parse_xml(empty), expectations=ACCOUNT)
    assert report.accepted
    assert [(f.rule_id, f.severity) for f in report.findings] == [("checksum.missing", "warning")]


STRICT = {
    "invoice without InvoiceTo": (
        "valid/invoice-minimal.xml",
        lambda x: x[: x.index(b"  <InvoiceTo>")] + x[x.index(b"  <InvoiceLine>") :],
    ),
    "invoice without TaxSubTotal": (
        "valid/invoice-minimal.xml",
        lambda x: x[: x.index(b"  <TaxSubTotal>")] + x[x.index(b"  <InvoiceTotal>") :],
    ),
    "checksum not the last child of InvoiceHead": (
        "valid/invoice-minimal.xml",
        lambda x: x.replace(b"    <Checksum>", b"    <Intrastat/>\n    <Checksum>").replace(
            b"</Checksum>\n", b"</Checksum>\n    <Intrastat/>\n"
        ),
    ),
    "checksum before OrderCurrency": (
        "valid/content-order-minimal.xml",
        lambda x: x.replace(b"    <OrderCurrency>", b"    <Checksum>1</Checksum>\n    <OrderCurrency>"),
    ),
    "extension element in the document's own namespace": (
        "valid/invoice-full.xml",
        lambda x: x.replace(b"<portal:Remittance", b"<Colour>red</Colour><portal:Remittance"),
    ),
    "DUNS of eight digits": (
        "valid/invoice-minimal.xml",
        lambda x: x.replace(b"<DUNS>987654321</DUNS>", b"<DUNS>98765432</DUNS>"),
    ),
    "unknown line action": (
        "valid/content-order-minimal.xml",
        lambda x: x.replace(b'Action="Original"', b'Action="original"', 1),
    ),
}


@pytest.mark.parametrize(("file", "change"), STRICT.values(), ids=STRICT.keys())
def test_what_the_standard_forbids_is_a_schema_error(file: str, change: Callable[[bytes], bytes]) -> None:
    report = check_content_document(parse_xml(change(corpus_bytes(file))))
    assert "schema" in report.rule_ids() and not report.accepted
