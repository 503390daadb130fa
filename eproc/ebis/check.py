"""The two checks intake runs: what a portal queues for FMS, and what FMS sends back (SendOrder).

Both take an :class:`~eproc.ebis.inspection.Inspection` (one parse): the schema gate, the checksum,
the metadata and the rules all read the same tree, and the checksum is worked out once.
"""

from __future__ import annotations

from lxml import etree

from .document import EbisDocument, describe_root
from .inspection import Inspection, inspect
from .names import DOCUMENT_TYPES, local_name
from .parsing import DEFAULT_MAX_BYTES
from .report import Finding, Severity, ValidationReport
from .rules import (
    AUTHORISED_ORDER_RULES,
    CONTENT_ORDER_RULES,
    INVOICE_RULES,
    RULE_SET_VERSION,
    AccountExpectations,
    Rule,
    RuleContext,
    run_rules,
)
from .schemas import SchemaRegistry, default_registry

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
    """:func:`check_content` of an already-parsed root."""
    return check_content(Inspection.of_root(root), requested_type=requested_type, expectations=expectations,
                         registry=registry)


def check_content(
    inspection: Inspection,
    *,
    requested_type: str | None = None,
    expectations: AccountExpectations | None = None,
    registry: SchemaRegistry | None = None,
) -> ValidationReport:
    """Schema and every FMS-readiness rule for a document a portal queues (order, invoice, credit note).

    Without ``expectations`` only the account-independent rules run (DUNS presence included); with
    them, also the DUNS handshake and the language and currency rules.
    """
    if requested_type is not None and requested_type not in DOCUMENT_TYPES:
        raise ValueError(f"requested_type must be one of {', '.join(DOCUMENT_TYPES)}, not {requested_type!r}")
    if inspection.rejection is not None:
        return _refused(inspection.rejection)
    document = inspection.document
    if document is None:
        assert inspection.root is not None
        return _unknown_root(inspection.root, describe_root(inspection.root))
    findings: list[Finding] = []
    if requested_type is not None and DOCUMENT_TYPES[requested_type].family != document.family:
        findings.append(_type_mismatch(document, requested_type))
    context = "content-order" if document.family == "order" else "invoice"
    rules = CONTENT_ORDER_RULES if document.family == "order" else INVOICE_RULES
    return _check(inspection, document, requested_type, expectations, registry, context, rules, findings)


def check_authorised_order(
    subject: Inspection | etree._Element,
    *,
    expectations: AccountExpectations,
    registry: SchemaRegistry | None = None,
) -> ValidationReport:
    """What SendOrder accepts: an Order, schema-valid, with both DUNS the authenticated account's.

    A wrong or missing checksum is a warning: FMS wrote the document, so eproc is liberal in what it takes.
    """
    inspection = subject if isinstance(subject, Inspection) else Inspection.of_root(subject)
    if inspection.rejection is not None:
        return _refused(inspection.rejection)
    document = inspection.document
    if document is None or document.family != "order":
        assert inspection.root is not None
        what = "an Invoice" if document is not None else describe_root(inspection.root)
        return _unknown_root(inspection.root, f"SendOrder takes an eBIS-XML 3.09 Order, and this document is {what}")
    return _check(inspection, document, None, expectations, registry, "authorised-order", AUTHORISED_ORDER_RULES, [])


def check_document(
    data: bytes | str,
    *,
    requested_type: str | None = None,
    expectations: AccountExpectations | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    registry: SchemaRegistry | None = None,
) -> ValidationReport:
    """Inspect (parse safely, once) and run :func:`check_content`; unreadable XML is an ``xml.rejected`` report."""
    inspection = inspect(data, max_bytes=max_bytes)
    return check_content(inspection, requested_type=requested_type, expectations=expectations, registry=registry)


def _refused(finding: Finding) -> ValidationReport:
    return ValidationReport.from_findings([finding], doc_type=None, rule_set_version=RULE_SET_VERSION)


def _check(
    inspection: Inspection,
    document: EbisDocument,
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
    checksum = inspection.checksum
    assert checksum is not None  # an Order or Invoice always has a checksum result
    severity, why = _CHECKSUM_WHY[context]
    doc_type = inspection.doc_type
    rule_context = RuleContext(document, doc_type, requested_type, expectations, checksum, severity, why)
    findings.extend(run_rules(rules, rule_context))
    return ValidationReport.from_findings(
        findings,
        doc_type=doc_type,
        rule_set_version=RULE_SET_VERSION,
        metadata=inspection.metadata,
        findings_truncated=truncated,
    )


def _type_mismatch(document: EbisDocument, requested_type: str) -> Finding:
    actual = "an Order" if document.family == "order" else "an Invoice (an invoice or credit note)"
    if requested_type == "quote":
        message = (
            f"the document was queued as a quote but is {actual}; eproc validates orders, invoices and "
            "credit notes only"
        )
    else:
        message = f"the document was queued as {DOCUMENT_TYPES[requested_type].with_article} but is {actual}"
    return Finding("document.type-mismatch", "error", f"/{document.root_name}", message, document.root.sourceline)


def _unknown_root(root: etree._Element, message: str) -> ValidationReport:
    finding = Finding("document.type", "error", f"/{local_name(root.tag)}", message, root.sourceline)
    return ValidationReport.from_findings([finding], doc_type=None, rule_set_version=RULE_SET_VERSION)
