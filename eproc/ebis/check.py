"""The two checks intake runs: what a portal queues for FMS, and what FMS sends back (SendOrder).

Both take the already-parsed root (parse once): the schema gate, the checksum, the metadata and the
rules all read the same tree.
"""

from __future__ import annotations

from lxml import etree

from .checksum import evaluate_checksum
from .document import EbisDocument, describe_root
from .metadata import document_type_of, metadata_of
from .names import DocumentType, Family, family_of, local_name
from .parsing import DEFAULT_MAX_BYTES, XmlRejected, parse_xml
from .report import Finding, Severity, ValidationReport
from .rules import (
    AUTHORISED_ORDER_RULES,
    CONTENT_ORDER_RULES,
    DOCUMENT_TYPE_NAMES,
    INVOICE_RULES,
    RULE_SET_VERSION,
    AccountExpectations,
    Rule,
    RuleContext,
    run_rules,
)
from .schemas import SchemaRegistry, default_registry

REQUESTED_TYPES = ("order", "invoice", "creditnote", "quote")

_CHECKSUM_WHY: dict[str, tuple[Severity, str]] = {
    "content-order": ("error", "FMS refuses a Content Order whose checksum is missing or wrong"),
    "authorised-order": ("warning", "FMS wrote this order, so eproc reports the checksum without refusing it"),
    "invoice": ("warning", "FMS does not check the checksum of invoices and credit notes; reported for information"),
}


def check_content_document(
    root: etree._Element,
    *,
    requested_type: str | None = None,
    expectations: AccountExpectations | None = None,
    registry: SchemaRegistry | None = None,
) -> ValidationReport:
    """Schema and every FMS-readiness rule for a document a portal queues (order, invoice, credit note).

    Without ``expectations`` only the account-independent rules run (DUNS presence included); with
    them, also the DUNS handshake and the language and currency rules.
    """
    if requested_type is not None and requested_type not in REQUESTED_TYPES:
        raise ValueError(f"requested_type must be one of {', '.join(REQUESTED_TYPES)}, not {requested_type!r}")
    family = family_of(root)
    if family is None:
        return _unknown_root(root, describe_root(root))
    document = EbisDocument(root)
    doc_type = document_type_of(document)
    findings: list[Finding] = []
    if requested_type is not None and _family_of_type(requested_type) != family:
        findings.append(_type_mismatch(document, requested_type))
    context = "content-order" if family == "order" else "invoice"
    rules = CONTENT_ORDER_RULES if family == "order" else INVOICE_RULES
    return _check(document, doc_type, requested_type, expectations, registry, context, rules, findings)


def check_authorised_order(
    root: etree._Element,
    *,
    expectations: AccountExpectations,
    registry: SchemaRegistry | None = None,
) -> ValidationReport:
    """What SendOrder accepts: an Order, schema-valid, with both DUNS the authenticated account's.

    A wrong or missing checksum is a warning: FMS wrote the document, so eproc is liberal in what it takes.
    """
    family = family_of(root)
    if family != "order":
        what = "an Invoice" if family == "invoice" else describe_root(root)
        return _unknown_root(root, f"SendOrder takes an eBIS-XML 3.09 Order, and this document is {what}")
    document = EbisDocument(root)
    return _check(document, "order", None, expectations, registry, "authorised-order", AUTHORISED_ORDER_RULES, [])


def check_document(
    data: bytes | str,
    *,
    requested_type: str | None = None,
    expectations: AccountExpectations | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    registry: SchemaRegistry | None = None,
) -> ValidationReport:
    """Parse (safely) and run :func:`check_content_document`; unreadable XML becomes an ``xml.rejected`` report."""
    try:
        root = parse_xml(data, max_bytes=max_bytes)
    except XmlRejected as exc:
        finding = Finding("xml.rejected", "error", "/", str(exc), exc.line)
        return ValidationReport.from_findings([finding], doc_type=None, rule_set_version=RULE_SET_VERSION)
    return check_content_document(root, requested_type=requested_type, expectations=expectations, registry=registry)


def _check(
    document: EbisDocument,
    doc_type: DocumentType | None,
    requested_type: str | None,
    expectations: AccountExpectations | None,
    registry: SchemaRegistry | None,
    context: str,
    rules: tuple[Rule, ...],
    findings: list[Finding],
) -> ValidationReport:
    registry = registry or default_registry()
    truncated = False
    # The lxml gate decides; xmlschema only explains a rejection.
    if not registry.is_valid(document.root, document.family):
        schema_findings, truncated = registry.findings(document.root, document.family)
        findings.extend(schema_findings)
    checksum = evaluate_checksum(document)
    severity, why = _CHECKSUM_WHY[context]
    rule_context = RuleContext(document, doc_type, requested_type, expectations, checksum, severity, why)
    findings.extend(run_rules(rules, rule_context))
    return ValidationReport.from_findings(
        findings,
        doc_type=doc_type,
        rule_set_version=RULE_SET_VERSION,
        metadata=metadata_of(document, doc_type, checksum),
        findings_truncated=truncated,
    )


def _family_of_type(requested_type: str) -> Family | None:
    if requested_type == "order":
        return "order"
    if requested_type in ("invoice", "creditnote"):
        return "invoice"
    return None  # a quote: FMS lists quotes but has no eBIS schema for them


def _type_mismatch(document: EbisDocument, requested_type: str) -> Finding:
    actual = "an Order" if document.family == "order" else "an Invoice (an invoice or credit note)"
    if requested_type == "quote":
        message = (
            f"the document was queued as a quote but is {actual}; eproc validates orders, invoices and "
            "credit notes only"
        )
    else:
        message = f"the document was queued as {DOCUMENT_TYPE_NAMES[requested_type]} but is {actual}"
    return Finding("document.type-mismatch", "error", f"/{document.root_name}", message, document.root.sourceline)


def _unknown_root(root: etree._Element, message: str) -> ValidationReport:
    finding = Finding("document.type", "error", f"/{local_name(root.tag)}", message, root.sourceline)
    return ValidationReport.from_findings([finding], doc_type=None, rule_set_version=RULE_SET_VERSION)
