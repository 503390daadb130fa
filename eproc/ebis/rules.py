"""FMS-readiness rules: what FMS would refuse (errors) or silently mishandle (warnings), by stable id.

The catalogue (:data:`CATALOGUE`) is the one list of rule ids, with each rule's severity, what it
applies to and what it checks; the README's rule table is generated from it
(:func:`rule_table_markdown`), and a test keeps the two the same.

Each rule reports only what the schema does not: a value the schema already refuses (an empty
DUNS, a date that is no date) is left to the ``schema`` finding, so one mistake is one finding.
"""

from __future__ import annotations

import decimal
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal

from lxml import etree

from .checksum import ChecksumResult, read_stated
from .document import EbisDocument
from .names import DOCUMENT_TYPES, DocType, element_path
from .report import Finding, Severity
from .values import EXACT, is_integer_lexical, is_plain_date, leaf_text, parse_date_parts, parse_decimal

RULE_SET_VERSION = "2026.11-1"

# What each rule applies to: a Content Order a portal queues, an Authorised Order FMS sends
# (SendOrder), an invoice or credit note a portal queues.
CONTENT_ORDER, AUTHORISED_ORDER, INVOICE = "content order", "authorised order", "invoice/credit note"
ALL_DOCUMENTS = (CONTENT_ORDER, AUTHORISED_ORDER, INVOICE)
CHECKSUM_SEVERITY = "error on content orders, warning on the others"


@dataclass(frozen=True)
class RuleSpec:
    id: str
    severity: str
    applies_to: tuple[str, ...]
    summary: str
    # Runs only when the account's expectations (DUNS, language, currency) are known.
    needs_account: bool = False


CATALOGUE: tuple[RuleSpec, ...] = (
    RuleSpec(
        "xml.rejected", "error", ALL_DOCUMENTS,
        "well-formed, safe XML (no DTD or entities) within the size and depth limits",
    ),
    RuleSpec(
        "document.type", "error", ALL_DOCUMENTS,
        "an eBIS-XML 3.09 Order or Invoice root in its namespace (SendOrder: an Order)",
    ),
    RuleSpec(
        "document.type-mismatch", "error", (CONTENT_ORDER, INVOICE),
        "the document is of the type it was queued as",
    ),
    RuleSpec(
        "schema", "error", ALL_DOCUMENTS,
        "valid against eproc's eBIS-XML 3.09 order / invoice schema (schemas/ebis/)",
    ),
    RuleSpec("checksum.missing", CHECKSUM_SEVERITY, ALL_DOCUMENTS, "the head carries a Checksum (its last child)"),
    RuleSpec(
        "checksum.mismatch", CHECKSUM_SEVERITY, ALL_DOCUMENTS,
        "the Checksum is the one computed from the document",
    ),
    RuleSpec("duns.buyer.missing", "error", ALL_DOCUMENTS, "Buyer/BuyerReferences/DUNS is present"),
    RuleSpec("duns.supplier.missing", "error", ALL_DOCUMENTS, "Supplier/SupplierReferences/DUNS is present"),
    RuleSpec("duns.handshake", "error", ALL_DOCUMENTS, "both DUNS numbers are the account's (FMS's handshake)", True),
    RuleSpec(
        "language.mismatch", "error", (CONTENT_ORDER,),
        "Parameters/Language starts with FMS's language (any case)", True,
    ),
    RuleSpec("currency.mismatch", "error", (CONTENT_ORDER,), "OrderCurrency/Currency/@Code is FMS's currency", True),
    RuleSpec("quantity.not-integer", "error", (CONTENT_ORDER,), "every line quantity is written as a whole number"),
    RuleSpec("date.format", "error", (CONTENT_ORDER,), "dates are written YYYY-MM-DD: no time, no time zone"),
    RuleSpec(
        "line.action-not-original", "warning", (CONTENT_ORDER,),
        'every line has Action="Original" (FMS drops the others)',
    ),
    RuleSpec(
        "buyer.contact-missing", "warning", (CONTENT_ORDER,),
        "Buyer/Contact/Name is present: it selects FMS's coding templates",
    ),
    RuleSpec("invoice.type-code", "error", (INVOICE,), "InvoiceType/@Code is INV or CRN (any case)"),
    RuleSpec("invoice.type-mismatch", "error", (INVOICE,), "INV is queued as an invoice, CRN as a credit note"),
    RuleSpec("invoice.codelist", "error", (INVOICE,), "InvoiceType/@Codelist is BASDA (any case)"),
    RuleSpec(
        "invoice.test-flag", "error", (INVOICE,),
        "a TestFlag Mode (on TestFlag or Test), if present, is false or 0",
    ),
    RuleSpec(
        "invoice.buyers-order-number", "error", (INVOICE,),
        "InvoiceReferences/BuyersOrderNumber links the invoice to FMS's order",
    ),
    RuleSpec("invoice.totals.lines", "warning", (INVOICE,), "NumberOfLines counts the InvoiceLine elements"),
    RuleSpec("invoice.totals.line-value", "warning", (INVOICE,), "LineValueTotal is the sum of NetLineTotal"),
    RuleSpec("invoice.totals.tax", "warning", (INVOICE,), "TaxTotal is the sum of TaxSubTotal/TaxAtRate"),
    RuleSpec("invoice.totals.gross", "warning", (INVOICE,), "GrossPaymentTotal is LineValueTotal + TaxTotal"),
)

RULES: dict[str, str] = {spec.id: spec.summary for spec in CATALOGUE}


def rule_table_markdown() -> str:
    """The README's rule table, made from the catalogue."""
    rows = ["| rule id | severity | applies to | what FMS needs |", "|---|---|---|---|"]
    for spec in CATALOGUE:
        applies = ", ".join(spec.applies_to) if spec.applies_to != ALL_DOCUMENTS else "all documents"
        if spec.needs_account:
            applies += " (with the account)"
        rows.append(f"| `{spec.id}` | {spec.severity} | {applies} | {spec.summary.replace('|', '/')} |")
    return "\n".join(rows) + "\n"



@dataclass(frozen=True)
class AccountExpectations:
    """What FMS holds for the account the document is for: the handshake and FMS's settings."""

    buyer_duns: str
    supplier_duns: str
    language: str = "en"
    currency: str = "GBP"


@dataclass(frozen=True)
class RuleContext:
    document: EbisDocument
    doc_type: DocType | None
    requested_type: str | None
    expectations: AccountExpectations | None
    checksum: ChecksumResult
    checksum_severity: Severity
    checksum_why: str


Rule = Callable[[RuleContext], Iterator[Finding]]


def _locate(document: EbisDocument, path: str) -> tuple[str, int | None]:
    """Path and line for an element that may be missing: the line is that of its nearest ancestor."""
    nearest: etree._Element = document.root
    steps = path.split("/")
    for depth in range(1, len(steps) + 1):
        child = document.find("/".join(steps[:depth]))
        if child is None:
            break
        nearest = child
    return f"/{document.root_name}/{path}", nearest.sourceline


def _found(rule_id: str, severity: Severity, where: tuple[str, int | None], message: str) -> Finding:
    return Finding(rule_id, severity, where[0], message, where[1])


def _at(element: etree._Element, attribute: str | None = None) -> tuple[str, int | None]:
    path = element_path(element)
    return (f"{path}/@{attribute}" if attribute else path), element.sourceline


# ------------------------------------------------------------------------------------------ checksum


def checksum_rules(ctx: RuleContext) -> Iterator[Finding]:
    document, checksum = ctx.document, ctx.checksum
    head = document.head_name
    state, stated = read_stated(document)
    if checksum.inputs is not None:
        expected = f"the eBIS checksum of this document is {checksum.expected} (from {checksum.inputs.describe()})"
    else:
        expected = f"eproc cannot compute one because {checksum.unavailable}"
    if state in ("absent", "empty"):
        what = "an empty Checksum" if state == "empty" else "no Checksum (its last child)"
        message = f"{head} has {what}; {expected}; {ctx.checksum_why}"
        yield _found("checksum.missing", ctx.checksum_severity, _locate(document, f"{head}/Checksum"), message)
    elif state == "present" and checksum.inputs is not None and stated != checksum.expected:
        element = document.find(f"{head}/Checksum")
        placeholder = " (a placeholder?)" if stated == 0 else ""
        message = f"Checksum is {stated}{placeholder} but {expected}; {ctx.checksum_why}"
        where = _at(element) if element is not None else _locate(document, f"{head}/Checksum")
        yield _found("checksum.mismatch", ctx.checksum_severity, where, message)
    # "malformed" is a schema finding; so is whatever makes the checksum uncomputable (a date, a number).


# ------------------------------------------------------------------------------------------ DUNS

_PARTIES = (
    ("Buyer", "BuyerReferences", "duns.buyer.missing", "buyer", "the school"),
    ("Supplier", "SupplierReferences", "duns.supplier.missing", "supplier", "the supplier"),
)


def duns_present(ctx: RuleContext) -> Iterator[Finding]:
    for party, references, rule_id, role, who in _PARTIES:
        if ctx.document.find(f"{party}/{references}/DUNS") is not None:
            continue  # present; an empty or malformed value is a schema finding
        path, line = _locate(ctx.document, f"{party}/{references}/DUNS")
        message = (
            f"no {role} DUNS number ({party}/{references}/DUNS): FMS identifies {who} by its 9-digit DUNS "
            "and refuses a document that does not carry both"
        )
        if ctx.expectations is not None:
            expected = ctx.expectations.buyer_duns if role == "buyer" else ctx.expectations.supplier_duns
            message += f"; this account's {role} DUNS is {expected}"
        yield Finding(rule_id, "error", path, message, line)


def duns_handshake(ctx: RuleContext) -> Iterator[Finding]:
    if ctx.expectations is None:
        return
    for party, references, _rule, role, who in _PARTIES:
        element = ctx.document.find(f"{party}/{references}/DUNS")
        value = leaf_text(element)
        expected = ctx.expectations.buyer_duns if role == "buyer" else ctx.expectations.supplier_duns
        if element is None or not value or value == expected:
            continue
        message = (
            f"{role} DUNS is {value} but the account's {role} DUNS is {expected}; FMS accepts a document only "
            f"when both DUNS numbers match the ones it holds for {who}"
        )
        yield _found("duns.handshake", "error", _at(element), message)


# ------------------------------------------------------------------------------------------ orders


def language_matches(ctx: RuleContext) -> Iterator[Finding]:
    if ctx.expectations is None:
        return
    element = ctx.document.find(f"{ctx.document.head_name}/Parameters/Language")
    value = leaf_text(element)
    expected = ctx.expectations.language
    if element is None or not value or value[:2].lower() == expected[:2].lower():
        return
    message = (
        f"Language is '{value}' but FMS is set to '{expected}'; FMS compares the first two letters and "
        "refuses the order when they differ"
    )
    yield _found("language.mismatch", "error", _at(element), message)


def currency_matches(ctx: RuleContext) -> Iterator[Finding]:
    if ctx.expectations is None:
        return
    element = ctx.document.find(f"{ctx.document.head_name}/{ctx.document.currency_name}/Currency")
    code = element.get("Code") if element is not None else None
    expected = ctx.expectations.currency
    if element is None or code is None or code.strip() == expected:
        return
    message = f"the order's currency is '{code}' but FMS works in '{expected}' only and refuses the order"
    yield _found("currency.mismatch", "error", _at(element, "Code"), message)


def quantities_are_integers(ctx: RuleContext) -> Iterator[Finding]:
    document = ctx.document
    for position, (line, amount) in enumerate(zip(document.lines, document.amounts, strict=True), start=1):
        text = leaf_text(amount)
        if amount is None or not text:
            path, where = _at(line)
            message = f"line {position} has no quantity; FMS needs a whole-number Quantity/Amount on every line"
            yield Finding("quantity.not-integer", "error", f"{path}/Quantity/Amount", message, where)
        elif not is_integer_lexical(text):
            number = parse_decimal(text)
            if number is None:
                continue  # not a number at all: a schema finding
            if number == number.to_integral_value():
                message = (
                    f"the quantity of line {position} is written '{text}'; FMS reads line quantities as "
                    f"whole numbers: write {int(number)}"
                )
            else:
                message = f"the quantity of line {position} is {text}; FMS accepts whole-number quantities only"
            yield _found("quantity.not-integer", "error", _at(amount), message)


_DATE_NAMES = (
    "EarliestAcceptableDate",
    "LatestAcceptableDate",
    "PreferredDate",
    "ActualDeliveryDate",
    "ExpectedDeliveryDate",
)


def _order_dates(document: EbisDocument) -> Iterator[etree._Element]:
    date = document.find("OrderDate")
    if date is not None:
        yield date
    date_tags = {document.tag(name) for name in _DATE_NAMES}
    deliveries = [
        *document.find_all("Delivery"),
        *(delivery for deliveries in document.line_children("Delivery") for delivery in deliveries),
    ]
    for delivery in deliveries:
        yield from (child for child in delivery if child.tag in date_tags)


def dates_are_plain(ctx: RuleContext) -> Iterator[Finding]:
    for element in _order_dates(ctx.document):
        text = leaf_text(element)
        if not text or is_plain_date(text):
            continue
        parts = parse_date_parts(text)
        if parts is None:
            continue  # not a date at all: a schema finding
        plain = "{:04d}-{:02d}-{:02d}".format(*parts)
        message = (
            f"{etree.QName(element).localname} is '{text}'; FMS reads dates as YYYY-MM-DD only, "
            f"without a time or time zone: write {plain}"
        )
        yield _found("date.format", "error", _at(element), message)


def lines_are_original(ctx: RuleContext) -> Iterator[Finding]:
    for position, line in enumerate(ctx.document.lines, start=1):
        action = line.get("Action")
        if action == "Original":
            continue
        found = f'Action="{action}"' if action is not None else "no Action attribute"
        message = (
            f'line {position} has {found}; FMS imports only lines with Action="Original" '
            "and drops this one from the order"
        )
        yield _found("line.action-not-original", "warning", _at(line, "Action"), message)


def buyer_contact_named(ctx: RuleContext) -> Iterator[Finding]:
    if any(leaf_text(name) for name in ctx.document.find_all("Buyer/Contact/Name")):
        return
    path, line = _locate(ctx.document, "Buyer/Contact/Name")
    message = (
        "no Buyer/Contact/Name: FMS stores it as the portal user's logon id and uses it to pick the coding "
        "templates (fund, ledger code, cost centre); without it the school codes every line by hand"
    )
    yield Finding("buyer.contact-missing", "warning", path, message, line)


# ------------------------------------------------------------------------------------------ invoices


def _invoice_type(ctx: RuleContext) -> etree._Element | None:
    return ctx.document.find("InvoiceHead/InvoiceType")


def invoice_type_code_known(ctx: RuleContext) -> Iterator[Finding]:
    element = _invoice_type(ctx)
    if element is None:
        return  # InvoiceType is required: a schema finding
    code = element.get("Code")
    if code is not None and code.strip().upper() in ("INV", "CRN"):
        return
    found = "has no Code" if code is None else f"Code is '{code}'"
    message = f"InvoiceType {found}; FMS reads INV (invoice) or CRN (credit note) only"
    yield _found("invoice.type-code", "error", _at(element, "Code"), message)


def invoice_type_matches(ctx: RuleContext) -> Iterator[Finding]:
    requested = ctx.requested_type
    if ctx.doc_type is None or requested not in ("invoice", "creditnote") or requested == ctx.doc_type:
        return
    element = _invoice_type(ctx)
    code = element.get("Code") if element is not None else None
    path, line = _at(element, "Code") if element is not None else _locate(ctx.document, "InvoiceHead/InvoiceType")
    message = (
        f"the document is {DOCUMENT_TYPES[ctx.doc_type].with_article} (InvoiceType/@Code '{code}') but was "
        f"queued as {DOCUMENT_TYPES[requested].with_article}; FMS files invoices and credit notes apart"
    )
    yield Finding("invoice.type-mismatch", "error", path, message, line)


def invoice_codelist(ctx: RuleContext) -> Iterator[Finding]:
    element = _invoice_type(ctx)
    if element is None:
        return
    codelist = element.get("Codelist")
    if codelist is not None and codelist.strip().upper() == "BASDA":
        return
    found = "has no Codelist" if codelist is None else f"Codelist is '{codelist}'"
    message = f'InvoiceType {found}; FMS reads the invoice type only from the BASDA code list (Codelist="BASDA")'
    yield _found("invoice.codelist", "error", _at(element, "Codelist"), message)


def invoice_not_test(ctx: RuleContext) -> Iterator[Finding]:
    flag = ctx.document.find("InvoiceHead/TestFlag")
    if flag is None:
        return
    # FMS's documentation writes TestFlag/@Mode; the core schema puts Mode on TestFlag/Test: read both.
    for element in (flag, *ctx.document.find_all("InvoiceHead/TestFlag/Test")):
        mode = element.get("Mode")
        if mode is None or mode.strip() in ("false", "0"):
            continue
        message = (
            f"TestFlag Mode is '{mode}': the document declares itself a test, and FMS imports live documents "
            "only; remove the TestFlag or set Mode to false (or 0)"
        )
        yield _found("invoice.test-flag", "error", _at(element, "Mode"), message)


def invoice_buyers_order_number(ctx: RuleContext) -> Iterator[Finding]:
    if ctx.document.value("InvoiceReferences/BuyersOrderNumber") is not None:
        return
    path, line = _locate(ctx.document, "InvoiceReferences/BuyersOrderNumber")
    message = (
        "no InvoiceReferences/BuyersOrderNumber: FMS links the invoice to the school's order by it (the "
        "order number of the Authorised Order) and cannot match it without"
    )
    yield Finding("invoice.buyers-order-number", "error", path, message, line)


def invoice_totals(ctx: RuleContext) -> Iterator[Finding]:
    document = ctx.document
    if document.find("InvoiceTotal") is None:
        return

    def number(name: str) -> tuple[Decimal | None, etree._Element | None]:
        element = document.find(f"InvoiceTotal/{name}")
        return parse_decimal(leaf_text(element)), element

    count, count_element = number("NumberOfLines")
    if count_element is not None and count is not None and count != len(document.lines):
        message = f"NumberOfLines is {count} but the document has {len(document.lines)} InvoiceLine elements"
        yield _found("invoice.totals.lines", "warning", _at(count_element), message)

    line_value, line_value_element = number("LineValueTotal")
    net_totals = document.line_parts("NetLineTotal")
    nets = [value for element in net_totals if (value := parse_decimal(leaf_text(element))) is not None]
    # Only when every line states its NetLineTotal: a partial sum proves nothing.
    if line_value_element is not None and line_value is not None and nets and len(nets) == len(document.lines):
        with decimal.localcontext(EXACT):
            net_sum = sum(nets, Decimal(0))
        if net_sum != line_value:
            message = f"LineValueTotal is {line_value} but the lines' NetLineTotal values add up to {net_sum}"
            yield _found("invoice.totals.line-value", "warning", _at(line_value_element), message)

    tax, tax_element = number("TaxTotal")
    rate_elements = document.find_all("TaxSubTotal/TaxAtRate")
    rates = [value for element in rate_elements if (value := parse_decimal(leaf_text(element))) is not None]
    if tax_element is not None and tax is not None and rates and len(rates) == len(rate_elements):
        with decimal.localcontext(EXACT):
            rate_sum = sum(rates, Decimal(0))
        if rate_sum != tax:
            message = f"TaxTotal is {tax} but the TaxSubTotal/TaxAtRate values add up to {rate_sum}"
            yield _found("invoice.totals.tax", "warning", _at(tax_element), message)

    gross, gross_element = number("GrossPaymentTotal")
    if gross_element is not None and gross is not None and line_value is not None and tax is not None:
        with decimal.localcontext(EXACT):
            expected_gross = line_value + tax
        if gross != expected_gross:
            message = (
                f"GrossPaymentTotal is {gross} but LineValueTotal + TaxTotal = {line_value} + {tax} = {expected_gross}"
            )
            yield _found("invoice.totals.gross", "warning", _at(gross_element), message)


CONTENT_ORDER_RULES: tuple[Rule, ...] = (
    checksum_rules,
    duns_present,
    duns_handshake,
    language_matches,
    currency_matches,
    quantities_are_integers,
    dates_are_plain,
    lines_are_original,
    buyer_contact_named,
)

INVOICE_RULES: tuple[Rule, ...] = (
    invoice_type_code_known,
    invoice_type_matches,
    invoice_codelist,
    invoice_not_test,
    duns_present,
    duns_handshake,
    invoice_buyers_order_number,
    invoice_totals,
    checksum_rules,
)

AUTHORISED_ORDER_RULES: tuple[Rule, ...] = (duns_present, duns_handshake, checksum_rules)


MAX_FINDINGS_PER_RULE = 20


def run_rules(rules: tuple[Rule, ...], ctx: RuleContext) -> list[Finding]:
    """Every rule's findings, at most :data:`MAX_FINDINGS_PER_RULE` each plus one line saying how many more.

    A 1,000-line order without ``Action`` attributes is one problem; the report (stored with the
    document) should not carry a thousand copies of it.
    """
    findings: list[Finding] = []
    for rule in rules:
        produced = list(rule(ctx))
        findings.extend(produced[:MAX_FINDINGS_PER_RULE])
        if len(produced) > MAX_FINDINGS_PER_RULE:
            first_left_out = produced[MAX_FINDINGS_PER_RULE]
            more = len(produced) - MAX_FINDINGS_PER_RULE
            message = f"and {more} more like the above, not listed (first: {first_left_out.message})"
            findings.append(
                Finding(
                    first_left_out.rule_id, first_left_out.severity, first_left_out.path, message, first_left_out.line
                )
            )
    return findings
