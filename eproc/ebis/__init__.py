"""eBIS-XML 3.09: the one place in eproc that knows the document standard FMS reads and writes.

Parse once (:func:`parse_xml`), then hand the root to :func:`check_content_document` (what a portal
queues) or :func:`check_authorised_order` (what FMS sends via SendOrder). The rules and their ids are
listed in :mod:`eproc.ebis.rules`.
"""

from .check import check_authorised_order, check_content_document, check_document
from .checksum import ChecksumUnavailable, checksum_of, compute_checksum, stated_checksum
from .metadata import extract_metadata, identify
from .names import INVOICE_NS, ORDER_NS, DocumentType
from .parsing import DEFAULT_MAX_BYTES, XmlRejected, parse_xml, read_document
from .report import DocumentMetadata, Finding, ValidationReport
from .rewrite import fill_checksum
from .rules import RULE_SET_VERSION, RULES, AccountExpectations
from .schemas import SchemaRegistry, default_registry

__all__ = [
    "DEFAULT_MAX_BYTES",
    "INVOICE_NS",
    "ORDER_NS",
    "RULES",
    "RULE_SET_VERSION",
    "AccountExpectations",
    "ChecksumUnavailable",
    "DocumentMetadata",
    "DocumentType",
    "Finding",
    "SchemaRegistry",
    "ValidationReport",
    "XmlRejected",
    "check_authorised_order",
    "check_content_document",
    "check_document",
    "checksum_of",
    "compute_checksum",
    "default_registry",
    "extract_metadata",
    "fill_checksum",
    "identify",
    "parse_xml",
    "read_document",
    "stated_checksum",
]
