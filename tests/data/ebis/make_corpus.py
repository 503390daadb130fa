"""Regenerate the rule-variant corpus from the valid documents: ``python tests/data/ebis/make_corpus.py``.

Each variant is a valid document with one textual change that breaks exactly one rule. Checksums
are worked out here with a separate, deliberately plain implementation (``fractions.Fraction``,
no eproc code), so the corpus can test eproc's checksum rather than repeat it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from lxml import etree

HERE = Path(__file__).resolve().parent
VALID = HERE / "valid"
RULES = HERE / "rules"
NAMESPACES = {
    "Order": "urn:schemas-basda-org:2000:purchaseOrder:xdr:3.01",
    "Invoice": "urn:schemas-basda-org:2000:salesInvoice:xdr:3.01",
}
# Published sample figures: their stated checksum is checked against the reference, never rewritten.
PUBLISHED = {"invoice-vector-61491.xml", "invoice-vector-35441.xml"}


def reference_checksum(xml: bytes) -> int:
    """The BASDA checksum by its textbook definition, in exact rational arithmetic."""
    root = etree.fromstring(xml)
    kind = etree.QName(root).localname
    ns = {"e": NAMESPACES[kind]}
    date = root.findtext(f"e:{kind}Date", namespaces=ns).strip()
    year, month, day = int(date[0:4]), int(date[5:7]), int(date[8:10])
    lines = root.findall(f"e:{kind}Line", namespaces=ns)
    amounts = [line.findtext("e:Quantity/e:Amount", default="", namespaces=ns).strip() for line in lines]
    quantities = [Fraction(amount or "0") for amount in amounts]
    if kind == "Invoice":
        total = Fraction(root.findtext("e:InvoiceTotal/e:LineValueTotal", namespaces=ns).strip())
    elif root.find("e:OrderTotal/e:GoodsValue", namespaces=ns) is not None:
        total = Fraction(root.findtext("e:OrderTotal/e:GoodsValue", namespaces=ns).strip())
    else:
        total = sum((Fraction(line.findtext("e:NetLineTotal", namespaces=ns).strip()) for line in lines), Fraction(0))
    lines_total = sum((number * quantity for number, quantity in enumerate(quantities, start=1)), Fraction(0))
    factor1 = year + 13 * day - 7 * lines_total
    factor2 = month + 17 * len(lines) + 5 * total
    product = abs(factor1 * factor2)
    return (product.numerator // product.denominator) % 100000


def with_checksum(xml: bytes, value: int) -> bytes:
    return re.sub(rb"<Checksum>[^<]*</Checksum>", b"<Checksum>%d</Checksum>" % value, xml, count=1)


@dataclass(frozen=True)
class Variant:
    kind: str  # directory under rules/
    base: str  # file under valid/
    rule_id: str
    severity: str
    what: str
    change: Callable[[bytes], bytes]
    check: str = "content"  # "content" (check_content_document) or "authorised" (check_authorised_order)
    requested_type: str | None = None
    name: str | None = None  # file name when a rule has more than one variant
    refresh_checksum: bool = False  # the change moves the checksum's inputs: state the new, right value


def replace(old: str, new: str, count: int = 1) -> Callable[[bytes], bytes]:
    def change(xml: bytes) -> bytes:
        if old.encode() not in xml:
            raise ValueError(f"{old!r} not found")
        return xml.replace(old.encode(), new.encode(), count)

    return change


def remove_block(start: str, end: str) -> Callable[[bytes], bytes]:
    def change(xml: bytes) -> bytes:
        begin = xml.index(start.encode())
        finish = xml.index(end.encode(), begin) + len(end)
        line_start = xml.rindex(b"\n", 0, begin)
        return xml[:line_start] + xml[finish:]

    return change


def wrong_checksum(xml: bytes) -> bytes:
    return with_checksum(xml, (reference_checksum(xml) + 1) % 100000)


def drop_checksum(xml: bytes) -> bytes:
    return re.sub(rb"\n\s*<Checksum>[^<]*</Checksum>", b"", xml, count=1)


def other_document(xml: bytes) -> bytes:
    return (VALID / "invoice-minimal.xml").read_bytes()


CO, AO, INV, CRN = "content-order-full.xml", "authorised-order-fms.xml", "invoice-full.xml", "creditnote-full.xml"

VARIANTS = [
    # ---------------------------------------------------------------- content orders (portal -> FMS)
    Variant(
        "content-order",
        CO,
        "schema",
        "error",
        "a unit price that is not a number",
        replace("<UnitPrice>12.49</UnitPrice>", "<UnitPrice>twelve pounds</UnitPrice>"),
        requested_type="order",
    ),
    Variant(
        "content-order", CO, "checksum.missing", "error", "no OrderHead/Checksum", drop_checksum, requested_type="order"
    ),
    Variant(
        "content-order",
        CO,
        "checksum.mismatch",
        "error",
        "a checksum one off the right value",
        wrong_checksum,
        requested_type="order",
    ),
    Variant(
        "content-order",
        CO,
        "duns.buyer.missing",
        "error",
        "no Buyer/BuyerReferences/DUNS",
        replace("      <DUNS>123456789</DUNS>\n", ""),
        requested_type="order",
    ),
    Variant(
        "content-order",
        CO,
        "duns.supplier.missing",
        "error",
        "no Supplier/SupplierReferences/DUNS",
        replace("      <DUNS>987654321</DUNS>\n", ""),
        requested_type="order",
    ),
    Variant(
        "content-order",
        CO,
        "duns.handshake",
        "error",
        "a buyer DUNS that is not the account's",
        replace("<DUNS>123456789</DUNS>", "<DUNS>111111111</DUNS>"),
        requested_type="order",
    ),
    Variant(
        "content-order",
        CO,
        "language.mismatch",
        "error",
        "Language fr-FR where FMS is en",
        replace("<Language>en-GB</Language>", "<Language>fr-FR</Language>"),
        requested_type="order",
    ),
    Variant(
        "content-order",
        CO,
        "currency.mismatch",
        "error",
        "an order in EUR where FMS works in GBP",
        replace('<Currency Code="GBP"', '<Currency Code="EUR"'),
        requested_type="order",
    ),
    Variant(
        "content-order",
        CO,
        "quantity.not-integer",
        "error",
        "a fractional quantity (2.5 boxes)",
        replace("<Amount>2</Amount>", "<Amount>2.5</Amount>"),
        requested_type="order",
        refresh_checksum=True,
    ),
    Variant(
        "content-order",
        CO,
        "quantity.not-integer",
        "error",
        "a whole quantity written as 4.0",
        replace("<Amount>4</Amount>", "<Amount>4.0</Amount>"),
        requested_type="order",
        name="quantity.not-integer--written-as-decimal",
    ),
    Variant(
        "content-order",
        CO,
        "date.format",
        "error",
        "an OrderDate with a time of day",
        replace("<OrderDate>2026-11-03</OrderDate>", "<OrderDate>2026-11-03T09:30:00</OrderDate>"),
        requested_type="order",
    ),
    Variant(
        "content-order",
        CO,
        "date.format",
        "error",
        "a PreferredDate with a time zone",
        replace("<PreferredDate>2026-11-10</PreferredDate>", "<PreferredDate>2026-11-10Z</PreferredDate>"),
        requested_type="order",
        name="date.format--time-zone",
    ),
    Variant(
        "content-order",
        CO,
        "line.action-not-original",
        "warning",
        'line 3 with Action="Add"',
        replace(
            '<OrderLine Action="Original" TypeCode="GDS" TypeDescription="Goods &amp; Services">\n'
            "    <LineNumber>3</LineNumber>",
            '<OrderLine Action="Add" TypeCode="GDS" TypeDescription="Goods &amp; Services">\n'
            "    <LineNumber>3</LineNumber>",
        ),
        requested_type="order",
    ),
    Variant(
        "content-order",
        CO,
        "buyer.contact-missing",
        "warning",
        "no Buyer/Contact",
        remove_block("<Contact>\n      <Name>jsmith</Name>", "</Contact>"),
        requested_type="order",
    ),
    Variant(
        "content-order",
        CO,
        "document.type-mismatch",
        "error",
        "an order queued as an invoice",
        lambda xml: xml,
        requested_type="invoice",
    ),
    # ---------------------------------------------------------------- authorised orders (FMS -> portal)
    Variant(
        "authorised-order",
        AO,
        "schema",
        "error",
        "a line number that is not a number",
        replace("<LineNumber>2</LineNumber>", "<LineNumber>two</LineNumber>"),
        check="authorised",
    ),
    Variant(
        "authorised-order",
        AO,
        "checksum.missing",
        "warning",
        "no OrderHead/Checksum",
        drop_checksum,
        check="authorised",
    ),
    Variant(
        "authorised-order", AO, "checksum.mismatch", "warning", "a wrong checksum", wrong_checksum, check="authorised"
    ),
    Variant(
        "authorised-order",
        AO,
        "duns.buyer.missing",
        "error",
        "no Buyer/BuyerReferences/DUNS",
        replace("      <DUNS>123456789</DUNS>\n", ""),
        check="authorised",
    ),
    Variant(
        "authorised-order",
        AO,
        "duns.supplier.missing",
        "error",
        "no Supplier/SupplierReferences/DUNS",
        replace("      <DUNS>987654321</DUNS>\n", ""),
        check="authorised",
    ),
    Variant(
        "authorised-order",
        AO,
        "duns.handshake",
        "error",
        "a supplier DUNS that is not the account's",
        replace("<DUNS>987654321</DUNS>", "<DUNS>555555555</DUNS>"),
        check="authorised",
    ),
    Variant(
        "authorised-order",
        AO,
        "document.type",
        "error",
        "an invoice sent through SendOrder",
        other_document,
        check="authorised",
    ),
    # ---------------------------------------------------------------- invoices
    Variant(
        "invoice",
        INV,
        "schema",
        "error",
        "no SuppliersInvoiceNumber (required)",
        replace('    <SuppliersInvoiceNumber Preserve="true">INV-2026-10452</SuppliersInvoiceNumber>\n', ""),
        requested_type="invoice",
    ),
    Variant(
        "invoice",
        INV,
        "invoice.type-code",
        "error",
        "InvoiceType code DEN (debit note)",
        replace('<InvoiceType Code="INV"', '<InvoiceType Code="DEN"'),
        requested_type="invoice",
    ),
    Variant(
        "invoice",
        INV,
        "invoice.type-mismatch",
        "error",
        "an invoice queued as a credit note",
        lambda xml: xml,
        requested_type="creditnote",
    ),
    Variant(
        "invoice",
        INV,
        "invoice.codelist",
        "error",
        "InvoiceType from the UNCL code list",
        replace('Code="INV" Codelist="BASDA"', 'Code="INV" Codelist="UNCL"'),
        requested_type="invoice",
    ),
    Variant(
        "invoice",
        INV,
        "invoice.test-flag",
        "error",
        "TestFlag/Test Mode true",
        replace('<Test Mode="false"/>', '<Test Mode="true"/>'),
        requested_type="invoice",
    ),
    Variant(
        "invoice",
        INV,
        "invoice.test-flag",
        "error",
        "TestFlag/@Mode 1 (as FMS's documentation writes it)",
        replace("<TestFlag>", '<TestFlag Mode="1">'),
        requested_type="invoice",
        name="invoice.test-flag--mode-on-testflag",
    ),
    Variant(
        "invoice",
        INV,
        "duns.buyer.missing",
        "error",
        "no Buyer/BuyerReferences/DUNS",
        replace("      <DUNS>123456789</DUNS>\n", ""),
        requested_type="invoice",
    ),
    Variant(
        "invoice",
        INV,
        "duns.supplier.missing",
        "error",
        "no Supplier/SupplierReferences/DUNS",
        replace("      <DUNS>987654321</DUNS>\n", ""),
        requested_type="invoice",
    ),
    Variant(
        "invoice",
        INV,
        "duns.handshake",
        "error",
        "a supplier DUNS that is not the account's",
        replace("<DUNS>987654321</DUNS>", "<DUNS>555555555</DUNS>"),
        requested_type="invoice",
    ),
    Variant(
        "invoice",
        INV,
        "invoice.buyers-order-number",
        "error",
        "no InvoiceReferences/BuyersOrderNumber",
        replace('    <BuyersOrderNumber Preserve="true">HIL/000731</BuyersOrderNumber>\n', ""),
        requested_type="invoice",
    ),
    Variant(
        "invoice",
        INV,
        "invoice.totals.lines",
        "warning",
        "NumberOfLines 4 for 3 lines",
        replace("<NumberOfLines>3</NumberOfLines>", "<NumberOfLines>4</NumberOfLines>"),
        requested_type="invoice",
    ),
    Variant(
        "invoice",
        INV,
        "invoice.totals.line-value",
        "warning",
        "a NetLineTotal that does not add up",
        replace("<NetLineTotal>75.80</NetLineTotal>", "<NetLineTotal>75.00</NetLineTotal>"),
        requested_type="invoice",
    ),
    Variant(
        "invoice",
        INV,
        "invoice.totals.tax",
        "warning",
        "a TaxAtRate that does not add up",
        replace("<TaxAtRate>19.65</TaxAtRate>", "<TaxAtRate>19.56</TaxAtRate>"),
        requested_type="invoice",
    ),
    Variant(
        "invoice",
        INV,
        "invoice.totals.gross",
        "warning",
        "a GrossPaymentTotal that does not add up",
        replace("<GrossPaymentTotal>180.33</GrossPaymentTotal>", "<GrossPaymentTotal>183.30</GrossPaymentTotal>"),
        requested_type="invoice",
    ),
    Variant(
        "invoice", INV, "checksum.mismatch", "warning", "a wrong checksum", wrong_checksum, requested_type="invoice"
    ),
    Variant(
        "invoice",
        INV,
        "checksum.missing",
        "warning",
        "no InvoiceHead/Checksum",
        drop_checksum,
        requested_type="invoice",
    ),
    Variant(
        "invoice",
        INV,
        "document.type-mismatch",
        "error",
        "an invoice queued as an order",
        lambda xml: xml,
        requested_type="order",
    ),
    Variant(
        "invoice",
        INV,
        "document.type",
        "error",
        "a UBL invoice, not an eBIS one",
        lambda xml: (
            b'<?xml version="1.0" encoding="UTF-8"?>\n'
            b'<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"\n'
            b'         xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2">\n'
            b"  <cbc:ID>INV-2026-10452</cbc:ID>\n"
            b"  <cbc:IssueDate>2026-11-12</cbc:IssueDate>\n"
            b"</Invoice>\n"
        ),
        requested_type="invoice",
    ),
    # ---------------------------------------------------------------- credit notes
    Variant(
        "creditnote",
        CRN,
        "invoice.type-mismatch",
        "error",
        "a credit note queued as an invoice",
        lambda xml: xml,
        requested_type="invoice",
    ),
    Variant(
        "creditnote",
        CRN,
        "invoice.codelist",
        "error",
        "InvoiceType without a Codelist",
        replace('<InvoiceType Code="CRN" Codelist="BASDA">', '<InvoiceType Code="CRN">'),
        requested_type="creditnote",
    ),
    Variant(
        "creditnote",
        CRN,
        "invoice.buyers-order-number",
        "error",
        "no InvoiceReferences/BuyersOrderNumber",
        replace(
            "    <BuyersOrderNumber>HIL/000731</BuyersOrderNumber>\n    <SuppliersInvoiceNumber>",
            "    <SuppliersInvoiceNumber>",
        ),
        requested_type="creditnote",
    ),
    Variant(
        "creditnote",
        CRN,
        "invoice.totals.gross",
        "warning",
        "a GrossPaymentTotal that does not add up",
        replace("<GrossPaymentTotal>28.73</GrossPaymentTotal>", "<GrossPaymentTotal>24.94</GrossPaymentTotal>"),
        requested_type="creditnote",
    ),
    Variant(
        "creditnote",
        CRN,
        "duns.handshake",
        "error",
        "a buyer DUNS that is not the account's",
        replace("<DUNS>123456789</DUNS>", "<DUNS>012345678</DUNS>"),
        requested_type="creditnote",
    ),
]

VALID_CHECKS = {
    "content-order-full.xml": ("content", "order"),
    "content-order-minimal.xml": ("content", "order"),
    "authorised-order-fms.xml": ("authorised", None),
    "authorised-order-minimal.xml": ("authorised", None),
    "invoice-full.xml": ("content", "invoice"),
    "invoice-minimal.xml": ("content", "invoice"),
    "invoice-vector-61491.xml": ("content", "invoice"),
    "invoice-vector-35441.xml": ("content", "invoice"),
    "creditnote-full.xml": ("content", "creditnote"),
    "creditnote-minimal.xml": ("content", "creditnote"),
}


def main() -> None:
    manifest: dict[str, list[dict[str, object]]] = {"valid": [], "variants": []}
    for path in sorted(VALID.glob("*.xml")):
        xml = path.read_bytes()
        expected = reference_checksum(xml)
        if path.name in PUBLISHED:
            stated = int(re.search(rb"<Checksum>(\d+)</Checksum>", xml)[1])
            if stated != expected:
                raise SystemExit(f"{path.name}: reference gives {expected}, the published value is {stated}")
        else:
            path.write_bytes(with_checksum(xml, expected))
        check, requested = VALID_CHECKS[path.name]
        manifest["valid"].append(
            {"file": f"valid/{path.name}", "check": check, "requested_type": requested, "checksum": expected}
        )
    for variant in VARIANTS:
        base = (VALID / variant.base).read_bytes()
        xml = variant.change(base)
        if variant.refresh_checksum:
            xml = with_checksum(xml, reference_checksum(xml))
        if xml.startswith(b"<?xml"):
            declaration_end = xml.index(b"?>") + 2
            note = f"\n<!-- eproc corpus: valid/{variant.base} with {variant.what}; breaks {variant.rule_id} only -->"
            xml = xml[:declaration_end] + note.encode() + xml[declaration_end:]
        target = RULES / variant.kind / f"{variant.name or variant.rule_id}.xml"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(xml)
        manifest["variants"].append(
            {
                "file": str(target.relative_to(HERE)),
                "rule_id": variant.rule_id,
                "severity": variant.severity,
                "check": variant.check,
                "requested_type": variant.requested_type,
                "base": f"valid/{variant.base}",
            }
        )
    (HERE / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")


if __name__ == "__main__":
    main()
