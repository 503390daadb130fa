"""The public API intake relies on: identify, metadata, reports, the two-tier registry, readable findings."""

from __future__ import annotations

import json
import re
import threading
from decimal import Decimal
from pathlib import Path

import pytest
from ebis_helpers import ACCOUNT, build_document, corpus_bytes, manifest, run_entry

from eproc import ebis
from eproc.ebis import (
    RULE_SET_VERSION,
    SchemaRegistry,
    XmlRejected,
    check_authorised_order,
    check_content_document,
    check_document,
    extract_metadata,
    fill_checksum,
    identify,
    parse_xml,
    schemas,
)
from eproc.ebis.schemas import SchemaError

ONE_LINE = re.compile(r"^/\S* \(line \d+\): .+ \[[a-z.\-]+\]$")


# --------------------------------------------------------------------------- identify and metadata


@pytest.mark.parametrize(
    ("file", "doc_type"),
    [
        ("valid/content-order-full.xml", "order"),
        ("valid/authorised-order-fms.xml", "order"),
        ("valid/invoice-full.xml", "invoice"),
        ("valid/creditnote-full.xml", "creditnote"),
        ("valid/creditnote-minimal.xml", "creditnote"),  # code written "crn"
    ],
)
def test_identify(file: str, doc_type: str) -> None:
    assert identify(parse_xml(corpus_bytes(file))) == doc_type


def test_identify_names_a_root_it_does_not_know() -> None:
    with pytest.raises(XmlRejected, match=r"root element is Basket \(no namespace\)"):
        identify(parse_xml(b"<Basket/>"))
    with pytest.raises(XmlRejected, match="Order is in no namespace; an eBIS-XML 3.09 Order must be in namespace"):
        identify(parse_xml(b"<Order/>"))


def test_identify_names_an_invoice_type_it_does_not_know() -> None:
    root = parse_xml(corpus_bytes("rules/invoice/invoice.type-code.xml"))
    with pytest.raises(XmlRejected, match="Code 'DEN'"):
        identify(root)


def test_metadata_of_an_invoice() -> None:
    metadata = extract_metadata(parse_xml(corpus_bytes("valid/invoice-full.xml")))
    assert metadata.doc_type == "invoice"
    assert metadata.document_number == "INV-2026-10452"
    assert metadata.document_date == "2026-11-12"
    assert (metadata.buyer_duns, metadata.supplier_duns) == ("123456789", "987654321")
    assert metadata.line_count == 3
    assert metadata.total_value == Decimal("160.68")
    assert metadata.tax_total == Decimal("19.65") and metadata.gross_total == Decimal("180.33")
    assert metadata.buyers_order_number == "HIL/000731"
    assert (metadata.language, metadata.currency, metadata.schema_version) == ("en-GB", "GBP", "3.09")
    assert metadata.checksum_stated == metadata.checksum_expected == _reference("valid/invoice-full.xml")


def test_metadata_of_orders() -> None:
    authorised = extract_metadata(parse_xml(corpus_bytes("valid/authorised-order-fms.xml")))
    assert authorised.document_number == authorised.buyers_order_number == "HIL/000731"
    assert authorised.schema_version == "3.09-UKGov.20030911"
    assert authorised.total_value == Decimal("141.73") and authorised.line_count == 3
    content = extract_metadata(parse_xml(corpus_bytes("valid/content-order-full.xml")))
    assert content.document_number == "BSK-20261103-0042"  # no FMS order number yet: the basket reference
    assert content.buyers_order_number is None


def test_metadata_of_a_document_without_a_checksum() -> None:
    metadata = extract_metadata(parse_xml(corpus_bytes("rules/content-order/checksum.missing.xml")))
    assert metadata.checksum_stated is None
    assert metadata.checksum_expected == _reference("valid/content-order-full.xml")


def _reference(file: str) -> int:
    return next(entry["checksum"] for entry in manifest()["valid"] if entry["file"] == file)


# --------------------------------------------------------------------------- reports


def test_report_serialises_to_json_with_exact_money() -> None:
    report = run_entry({"file": "valid/invoice-full.xml", "check": "content", "requested_type": "invoice"})
    data = json.loads(report.to_json())
    assert data["accepted"] is True and data["doc_type"] == "invoice"
    assert data["rule_set_version"] == RULE_SET_VERSION
    assert data["metadata"]["total_value"] == "160.68"
    assert data["errors"] == [] and data["warnings"] == []
    assert report.first_problem() == "no problems found"


def test_first_problem_is_one_line_with_path_line_and_rule() -> None:
    xml = corpus_bytes("rules/content-order/checksum.mismatch.xml")
    report = check_content_document(parse_xml(xml), requested_type="order", expectations=ACCOUNT)
    problem = report.first_problem()
    assert ONE_LINE.match(problem), problem
    line = xml[: xml.index(b"<Checksum>")].count(b"\n") + 1
    assert problem.startswith(f"/Order/OrderHead/Checksum (line {line}): Checksum is ")
    assert problem.endswith("[checksum.mismatch]")
    assert f"is {_reference('valid/content-order-full.xml')}" in problem  # says what was expected


def test_errors_come_before_warnings_in_first_problem() -> None:
    xml = corpus_bytes("rules/content-order/line.action-not-original.xml").replace(
        b"<DUNS>123456789</DUNS>", b"<DUNS>111111111</DUNS>"
    )
    report = check_content_document(parse_xml(xml), requested_type="order", expectations=ACCOUNT)
    assert report.first_problem().endswith("[duns.handshake]")
    assert [f.rule_id for f in report.warnings] == ["line.action-not-original"]


def test_schema_findings_name_the_element_and_its_real_line() -> None:
    xml = corpus_bytes("valid/invoice-full.xml").replace(b"<UnitPrice>5.99</UnitPrice>", b"<UnitPrice>5,99</UnitPrice>")
    report = check_content_document(parse_xml(xml), requested_type="invoice")
    (finding,) = report.errors
    assert finding.rule_id == "schema"
    assert finding.path == "/Invoice/InvoiceLine[3]/Price/UnitPrice"
    assert finding.line == xml[: xml.index(b"<UnitPrice>5,99")].count(b"\n") + 1
    assert "'5,99'" in finding.message and "decimal number" in finding.message


def test_schema_finding_for_a_missing_element_says_what_was_expected() -> None:
    report = run_entry({"file": "rules/invoice/schema.xml", "check": "content", "requested_type": "invoice"})
    (finding,) = report.errors
    assert "SuppliersInvoiceNumber was expected" in finding.message
    assert "{urn:" not in finding.message


def test_schema_finding_for_a_foreign_element_names_its_namespace() -> None:
    xml = corpus_bytes("valid/content-order-full.xml").replace(
        b"<OrderDate>", b'<x:Colour xmlns:x="urn:example:colour">red</x:Colour><OrderDate>'
    )
    # Foreign elements are allowed only where the standard has an extension point: not after Extensions.
    report = check_content_document(parse_xml(xml), requested_type="order")
    assert report.rule_ids() == {"schema"}
    assert "namespace 'urn:example:colour'" in report.errors[0].message


def test_check_document_reports_unreadable_xml() -> None:
    report = check_document(b'<?xml version="1.0"?>\n<Order>\n  <OrderHead>\n</Order>')
    (finding,) = report.errors
    assert finding.rule_id == "xml.rejected" and finding.line == 4
    assert "not well-formed XML" in finding.message
    assert not report.accepted and report.metadata is None


def test_check_document_runs_the_whole_check() -> None:
    report = check_document(corpus_bytes("rules/content-order/language.mismatch.xml"), expectations=ACCOUNT)
    assert report.rule_ids() == {"language.mismatch"}


def test_unknown_requested_type_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="requested_type"):
        check_content_document(parse_xml(corpus_bytes("valid/invoice-full.xml")), requested_type="bill")


def test_queued_as_a_quote() -> None:
    root = parse_xml(corpus_bytes("valid/invoice-full.xml"))
    report = check_content_document(root, requested_type="quote")
    assert report.rule_ids() == {"document.type-mismatch"}
    assert "quote" in report.errors[0].message


def test_send_order_refuses_a_non_ebis_document() -> None:
    report = check_authorised_order(parse_xml(b"<Basket/>"), expectations=ACCOUNT)
    assert report.rule_ids() == {"document.type"} and report.doc_type is None


# --------------------------------------------------------------------------- the registry


def test_xmlschema_is_only_built_for_rejected_documents(monkeypatch: pytest.MonkeyPatch) -> None:
    registry = SchemaRegistry(_schema_dir())

    def refuse(*_args: object) -> None:
        raise AssertionError("xmlschema used on the accept path")

    monkeypatch.setattr(registry, "explainer", refuse)
    for entry in manifest()["valid"]:
        root = parse_xml(corpus_bytes(entry["file"]))
        assert check_content_document(root, registry=registry).accepted or entry["check"] == "authorised"


def test_findings_fall_back_to_libxml2_when_xmlschema_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    registry = SchemaRegistry(_schema_dir())

    def broken(*_args: object) -> None:
        raise ValueError("explainer unavailable")

    monkeypatch.setattr(registry, "explainer", broken)
    root = parse_xml(corpus_bytes("rules/content-order/schema.xml"))
    report = check_content_document(root, requested_type="order", registry=registry)
    (finding,) = report.errors
    assert finding.rule_id == "schema"
    assert finding.path == "/Order/OrderLine[2]/Price/UnitPrice" and finding.line is not None
    assert "twelve pounds" in finding.message and "{urn:" not in finding.message


def test_large_rejected_documents_are_explained_by_libxml2(monkeypatch: pytest.MonkeyPatch) -> None:
    """xmlschema is too slow for a document of many thousand elements: libxml2 explains those."""
    registry = SchemaRegistry(_schema_dir())
    monkeypatch.setattr(schemas, "EXPLAIN_MAX_ELEMENTS", 50)

    def refuse(*_args: object) -> None:
        raise AssertionError("xmlschema used on a large document")

    monkeypatch.setattr(registry, "explainer", refuse)
    root = parse_xml(corpus_bytes("rules/authorised-order/schema.xml"))
    report = check_authorised_order(root, expectations=ACCOUNT, registry=registry)
    (finding,) = report.errors
    assert finding.path == "/Order/OrderLine[2]/LineNumber"
    assert "'two'" in finding.message and "{urn:" not in finding.message


def test_a_rule_reports_at_most_twenty_findings_and_counts_the_rest() -> None:
    xml = build_document("order", "2026-11-03", ["1"] * 30, "30.00").replace(b' Action="Original"', b"")
    report = check_content_document(parse_xml(fill_checksum(xml)), requested_type="order")
    assert report.rule_ids() == {"line.action-not-original"}
    assert len(report.warnings) == 21
    assert report.warnings[-1].message.startswith("and 10 more like the above")
    assert report.warnings[-1].path == "/Order/OrderLine[21]/@Action"


def test_registry_refuses_a_schema_that_reaches_outside_its_directory(tmp_path: Path) -> None:
    (tmp_path / "order.xsd").write_text(
        '<xsd:schema xmlns:xsd="http://www.w3.org/2001/XMLSchema">'
        '<xsd:include schemaLocation="http://127.0.0.1:9/CoreStructures.xsd"/></xsd:schema>'
    )
    with pytest.raises(SchemaError, match="sibling files only"):
        SchemaRegistry(tmp_path).gate("order")
    (tmp_path / "order.xsd").write_text(
        '<xsd:schema xmlns:xsd="http://www.w3.org/2001/XMLSchema">'
        '<xsd:include schemaLocation="../elsewhere/CoreStructures.xsd"/></xsd:schema>'
    )
    with pytest.raises(SchemaError, match="sibling files only"):
        SchemaRegistry(tmp_path).gate("order")


def test_gate_is_compiled_once_and_shared() -> None:
    registry = SchemaRegistry(_schema_dir())
    assert registry.gate("invoice") is registry.gate("invoice")


def test_concurrent_checks_agree() -> None:
    """One compiled schema serves every thread: results must not bleed between documents."""
    entries = [*manifest()["valid"], *manifest()["variants"]]
    expected = {entry["file"]: run_entry(entry).rule_ids() for entry in entries}
    failures: list[str] = []

    def work() -> None:
        for _ in range(3):
            for entry in entries:
                if run_entry(entry).rule_ids() != expected[entry["file"]]:
                    failures.append(entry["file"])

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []


def _schema_dir() -> Path:
    return Path(__file__).resolve().parents[2] / "schemas" / "ebis"


def test_public_names() -> None:
    names = [
        "XmlRejected",
        "parse_xml",
        "RULE_SET_VERSION",
        "DocumentType",
        "AccountExpectations",
        "DocumentMetadata",
        "Finding",
        "ValidationReport",
        "identify",
        "extract_metadata",
        "compute_checksum",
        "stated_checksum",
        "fill_checksum",
        "check_content_document",
        "check_authorised_order",
    ]
    assert [name for name in names if not hasattr(ebis, name)] == []


def test_parse_errors_are_one_line_with_their_position() -> None:
    """libxml2 ends some messages with a line break; a report line or SOAP fault needs one line."""
    with pytest.raises(XmlRejected) as caught:
        parse_xml(b"<Quote>a\x00b</Quote>")
    assert str(caught.value) == (
        "not well-formed XML: Invalid character: Char 0x0 out of allowed range (line 1, column 8)"
    )
    assert caught.value.line == 1
