"""Shared by the eBIS tests: the corpus, the test account, a plain reference checksum, a document builder."""

from __future__ import annotations

import json
from fractions import Fraction
from functools import cache
from pathlib import Path
from typing import Any

from eproc.ebis import (
    AccountExpectations,
    ValidationReport,
    check_authorised_order,
    check_content_document,
    parse_xml,
)

DATA = Path(__file__).resolve().parents[1] / "data" / "ebis"
ACCOUNT = AccountExpectations(buyer_duns="123456789", supplier_duns="987654321")


@cache
def manifest() -> dict[str, list[dict[str, Any]]]:
    return json.loads((DATA / "manifest.json").read_text())


def corpus_bytes(relative: str) -> bytes:
    return (DATA / relative).read_bytes()


def run_entry(entry: dict[str, Any], expectations: AccountExpectations | None = ACCOUNT) -> ValidationReport:
    """Check a manifest entry the way intake would: content check or SendOrder check."""
    root = parse_xml(corpus_bytes(entry["file"]))
    if entry["check"] == "authorised":
        return check_authorised_order(root, expectations=expectations or ACCOUNT)
    return check_content_document(root, requested_type=entry["requested_type"], expectations=expectations)


def reference_checksum(year: int, month: int, day: int, quantities: list[Fraction], total: Fraction) -> int:
    """The published formula, read literally, with Python's exact big integers and fractions."""
    lines_total = sum((Fraction(i) * q for i, q in enumerate(quantities, start=1)), Fraction(0))
    factor1 = Fraction(year) + 13 * day - 7 * lines_total
    factor2 = Fraction(month) + 17 * len(quantities) + 5 * total
    product = abs(factor1 * factor2)
    whole = product.numerator // product.denominator
    return int(str(whole)[-5:])


ORDER_NS = "urn:schemas-basda-org:2000:purchaseOrder:xdr:3.01"
INVOICE_NS = "urn:schemas-basda-org:2000:salesInvoice:xdr:3.01"


def build_document(
    kind: str,
    date: str,
    quantities: list[str],
    total: str,
    *,
    checksum: str = "0",
    line_values: list[str] | None = None,
) -> bytes:
    """A schema-valid order or invoice with the given checksum inputs written exactly as given."""
    line_values = line_values or ["1.00"] * len(quantities)
    line_name = "OrderLine" if kind == "order" else "InvoiceLine"
    lines = "".join(
        f'<{line_name} Action="Original"><LineNumber>{i}</LineNumber>'
        f"<Quantity><Amount>{quantity}</Amount></Quantity>"
        f"<NetLineTotal>{value}</NetLineTotal></{line_name}>"
        for i, (quantity, value) in enumerate(zip(quantities, line_values, strict=True), start=1)
    )
    parameters = (
        "<Parameters><Language>en</Language><DecimalSeparator>.</DecimalSeparator>"
        "<Precision>20.3</Precision></Parameters>"
    )
    parties = (
        "<Supplier><SupplierReferences><DUNS>987654321</DUNS></SupplierReferences><Party>S</Party></Supplier>"
        "<Buyer><BuyerReferences><DUNS>123456789</DUNS></BuyerReferences><Party>B</Party>"
        "<Contact><Name>jsmith</Name></Contact></Buyer>"
    )
    if kind == "order":
        return (
            f'<?xml version="1.0" encoding="UTF-8"?>\n<Order xmlns="{ORDER_NS}"><OrderHead>'
            f"<Schema><Version>3.09-UKGov.20030911</Version></Schema>{parameters}"
            '<OrderType Code="PUO">Purchase Order</OrderType>'
            f'<OrderCurrency><Currency Code="GBP">Sterling</Currency></OrderCurrency><Checksum>{checksum}</Checksum>'
            f"</OrderHead><OrderDate>{date}</OrderDate>{parties}{lines}"
            f"<OrderTotal><GoodsValue>{total}</GoodsValue></OrderTotal></Order>"
        ).encode()
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<Invoice xmlns="{INVOICE_NS}"><InvoiceHead>'
        f"<Schema><Version>3.09</Version></Schema>{parameters}"
        '<InvoiceType Code="INV" Codelist="BASDA">Commercial Invoice</InvoiceType>'
        f'<InvoiceCurrency><Currency Code="GBP">Sterling</Currency></InvoiceCurrency><Checksum>{checksum}</Checksum>'
        "</InvoiceHead><InvoiceReferences><BuyersOrderNumber>PO1</BuyersOrderNumber>"
        f"<SuppliersInvoiceNumber>INV1</SuppliersInvoiceNumber></InvoiceReferences><InvoiceDate>{date}</InvoiceDate>"
        f"{parties}<InvoiceTo><Party>B</Party></InvoiceTo>{lines}"
        "<TaxSubTotal><NumberOfLinesAtRate>1</NumberOfLinesAtRate><TotalValueAtRate>0</TotalValueAtRate>"
        "<TaxableValueAtRate>0</TaxableValueAtRate><TaxAtRate>0</TaxAtRate><NetPaymentAtRate>0</NetPaymentAtRate>"
        "<GrossPaymentAtRate>0</GrossPaymentAtRate><TaxCurrency><Currency Code='GBP'/></TaxCurrency></TaxSubTotal>"
        f"<InvoiceTotal><NumberOfLines>{len(quantities)}</NumberOfLines><NumberOfTaxRates>1</NumberOfTaxRates>"
        f"<LineValueTotal>{total}</LineValueTotal><TaxableTotal>{total}</TaxableTotal><TaxTotal>0</TaxTotal>"
        f"<NetPaymentTotal>{total}</NetPaymentTotal><GrossPaymentTotal>{total}</GrossPaymentTotal></InvoiceTotal>"
        "</Invoice>"
    ).encode()
