"""eBIS-XML 3.09: the one place in eproc that knows the document standard FMS reads and writes.

Inspect once (:func:`inspect`), then hand the inspection to :func:`check_content` (what a portal
queues) or :func:`check_authorised_order` (what FMS sends via SendOrder). The rules and their ids are
listed in :data:`eproc.ebis.rules.CATALOGUE`.
"""

from .check import check_authorised_order, check_content, check_content_document, check_document
from .checksum import ChecksumUnavailable, checksum_of, compute_checksum, read_stated, stated_checksum
from .document import describe_root
from .inspection import Inspection, inspect
from .metadata import extract_metadata, identify, quote_duns
from .names import DOCUMENT_TYPES, INVOICE_NS, ORDER_NS, DocType, DocumentType
from .parsing import DEFAULT_MAX_BYTES, XmlRejected, decode_document, parse_count, parse_xml, read_document
from .report import DocumentMetadata, Finding, ValidationReport
from .rewrite import fill_checksum, fill_checksum_of
from .rules import CATALOGUE, RULE_SET_VERSION, RULES, AccountExpectations, RuleSpec, rule_table_markdown
from .schemas import SchemaRegistry, default_registry

__all__ = [
    "CATALOGUE",
    "DEFAULT_MAX_BYTES",
    "DOCUMENT_TYPES",
    "INVOICE_NS",
    "ORDER_NS",
    "RULES",
    "RULE_SET_VERSION",
    "AccountExpectations",
    "ChecksumUnavailable",
    "DocType",
    "DocumentMetadata",
    "DocumentType",
    "Finding",
    "Inspection",
    "RuleSpec",
    "SchemaRegistry",
    "ValidationReport",
    "XmlRejected",
    "check_authorised_order",
    "check_content",
    "check_content_document",
    "check_document",
    "checksum_of",
    "compute_checksum",
    "decode_document",
    "describe_root",
    "explain_schema_finding",
    "default_registry",
    "extract_metadata",
    "quote_duns",
    "fill_checksum",
    "fill_checksum_of",
    "identify",
    "inspect",
    "parse_count",
    "parse_xml",
    "read_document",
    "read_stated",
    "rule_table_markdown",
    "stated_checksum",
]


def explain_schema_finding(finding: Finding, registry: SchemaRegistry | None = None) -> str | None:
    """What the standard allows where a schema finding points (see :mod:`eproc.ebis.standard`).

    Imported on first use: it needs xmlschema, which costs a third of a second to import, and only a
    person asking for an explanation needs it.
    """
    from .standard import explain_schema_finding as explain

    return explain(finding, registry)
