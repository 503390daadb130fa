"""``eproc.ebis.standard``: what the standard allows where a schema finding points (validate --explain-schema)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from ebis_helpers import DATA

from eproc.ebis import Finding, SchemaRegistry, check_content_document, default_registry, parse_xml
from eproc.ebis.standard import allowed_at, explain_schema_finding

INVOICE = (DATA / "fidelity" / "invoice-every-structure.xml").read_bytes()
ORDER = (DATA / "fidelity" / "order-every-structure.xml").read_bytes()

INVOICE_HEAD = (
    "Schema, Stylesheet (optional), Parameters, OriginatingSoftware (optional), TestFlag (optional), "
    "InvoiceType, Function (optional), InvoiceCurrency, Intrastat (optional), Checksum (optional) (in this order)"
)


def _schema_finding(xml: bytes) -> Finding:
    findings = [finding for finding in check_content_document(parse_xml(xml)).findings if finding.rule_id == "schema"]
    assert findings and len({finding.path for finding in findings}) == 1, findings
    return findings[0]


def test_an_unknown_element_is_explained_by_its_parent_content_in_order() -> None:
    finding = _schema_finding(INVOICE.replace(b"    <Checksum>", b"    <Priority>1</Priority>\n    <Checksum>"))
    assert finding.path == "/Invoice/InvoiceHead/Priority"
    assert explain_schema_finding(finding) == (
        f"at /Invoice/InvoiceHead the standard allows: {INVOICE_HEAD}\nPriority is not one of them"
    )


def test_a_misplaced_element_gets_where_it_is_and_what_it_holds() -> None:
    head = INVOICE.index(b"    <Intrastat>")
    block = INVOICE[head : INVOICE.index(b"    </Intrastat>\n", head) + len(b"    </Intrastat>\n")]
    moved = INVOICE.replace(block, b"", 1).replace(b"    <InvoiceCurrency>", block + b"    <InvoiceCurrency>", 1)
    text = explain_schema_finding(_schema_finding(moved))
    assert text is not None
    lines = text.splitlines()
    assert lines[0] == f"at /Invoice/InvoiceHead the standard allows: {INVOICE_HEAD}"
    assert lines[1] == (
        "inside /Invoice/InvoiceHead/Intrastat: CommodityCode (optional), CommodityDescription (optional), "
        "NatureOfTransaction (optional), SupplementaryUnits (optional), CountryOfDestination (optional), "
        "ModeOfTransport (optional) (in this order)"
    )


def test_an_attribute_finding_lists_the_attributes_allowed() -> None:
    finding = _schema_finding(
        INVOICE.replace(b'<NatureOfTransaction Code="11"', b'<NatureOfTransaction Mode="x" Code="11"', 1)
    )
    assert explain_schema_finding(finding) == (
        "at /Invoice/InvoiceHead/Intrastat/NatureOfTransaction the standard allows the attributes: "
        "Code (optional), Codelist (optional)\nMode is not one of them"
    )
    narrative = _schema_finding(INVOICE.replace(b"<Narrative>Thank you", b'<Narrative Code="X">Thank you', 1))
    assert (
        explain_schema_finding(narrative)
        == "at /Invoice/Narrative[1] the standard allows no attributes\nCode is not one of them"
    )


def test_a_value_finding_says_what_the_value_must_look_like() -> None:
    finding = _schema_finding(INVOICE.replace(b"<DUNS>987654321</DUNS>", b"<DUNS>98765432X</DUNS>", 1))
    text = explain_schema_finding(finding)
    assert text is not None
    assert text.splitlines()[-1] == (
        "/Invoice/Supplier/SupplierReferences/DUNS holds a DUNS number of exactly 9 digits (leading zeros kept)"
    )


def test_required_attributes_choices_and_repetition_are_worded() -> None:
    allowed = allowed_at(default_registry().explainer("invoice"), "/Invoice/Settlement/CardDetails/@CardType")
    assert allowed is not None
    assert allowed.lines() == [
        "at /Invoice/Settlement/CardDetails the standard allows the attributes: "
        "CardType (required, one of Charge, Credit, Debit)"
    ]
    card = allowed_at(default_registry().explainer("invoice"), "/Invoice/Settlement/CardDetails")
    assert card is not None and card.content is not None
    assert "[at most one of: ValidFrom | IssueDate], [one of: ExpiresEnd | ExpiryDate]" in card.content
    root = allowed_at(default_registry().explainer("invoice"), "/Invoice")
    assert root is not None and root.context is None and root.content is not None
    assert "Delivery (any number), InvoiceTo, InvoiceLine (one or more)" in root.content
    assert "[at most one of: Extensions | elements of another namespace (any number)]" in root.content
    terms = allowed_at(default_registry().explainer("invoice"), "/Invoice/Settlement/SettlementTerms")
    assert terms is not None and terms.content is not None
    assert terms.content.endswith("; text is allowed between them")


def test_an_order_is_explained_from_the_order_schema() -> None:
    xml = ORDER.replace(
        b"    <Attachment>\n      <FileName>delivery-note",
        b'    <LotSerial><LotSerialType Code="LOT">Lot</LotSerialType><LotSerialNumber>1</LotSerialNumber>'
        b"</LotSerial>\n    <Attachment>\n      <FileName>delivery-note",
        1,
    )
    text = explain_schema_finding(_schema_finding(xml))
    assert text is not None
    first, last = text.splitlines()
    assert first.startswith("at /Order/OrderLine[1] the standard allows: LineNumber, OrderLineReferences (optional), ")
    assert "OrderLineInformation (any number)" in first and "LotSerial" not in first
    assert last == "LotSerial is not one of them"


@pytest.mark.parametrize(
    "finding",
    [
        Finding("duns.buyer.missing", "error", "/Invoice/Buyer", "no DUNS"),  # not a schema finding
        Finding("schema", "error", "/Batch/Invoice", "not eBIS"),  # not an eBIS root
        Finding("schema", "error", "/Invoice/Extensions/Remittance/Reference", "m"),  # inside an extension
        Finding("schema", "error", "/Invoice/Nothing/Here", "m"),  # below an element the standard lacks
    ],
    ids=["other rule", "other root", "inside an extension", "below an unknown element"],
)
def test_nothing_is_said_where_nothing_certain_can_be_said(finding: Finding) -> None:
    assert explain_schema_finding(finding) is None


def test_the_explanation_comes_from_the_compiled_schema_not_from_a_list(tmp_path: Path) -> None:
    """Change the XSD and the explanation changes: nothing in standard.py knows the structures."""
    directory = tmp_path / "ebis"
    shutil.copytree(Path(default_registry().directory), directory)
    invoice = directory / "invoice.xsd"
    text = invoice.read_text()
    marker = '<xsd:element ref="Checksum" minOccurs="0"/>'
    assert marker in text
    invoice.write_text(text.replace(marker, marker + '\n        <xsd:element ref="Party" minOccurs="0"/>', 1))
    finding = Finding("schema", "error", "/Invoice/InvoiceHead/Priority", "m")
    explained = explain_schema_finding(finding, SchemaRegistry(directory))
    assert explained is not None
    assert "Checksum (optional), Party (optional) (in this order)" in explained
    assert "Party" not in (explain_schema_finding(finding) or "")
