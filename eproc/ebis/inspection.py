"""One look at a document's bytes: parsed once, and everything later reads from this.

Intake, ``eproc validate``, SendOrder and ``--fill-checksum`` all start here. The root, the family,
the document type, the checksum and the metadata are worked out at most once per inspection and
shared by the routing (DUNS), the checks and what is stored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from lxml import etree

from .checksum import ChecksumResult, evaluate_checksum
from .document import EbisDocument
from .metadata import document_type_of, metadata_of
from .names import DocType, family_of
from .parsing import DEFAULT_MAX_BYTES, XmlRejected, as_utf8, parse_xml
from .report import DocumentMetadata, Finding


@dataclass
class Inspection:
    """The bytes as received (``data``) and, unless they were refused, the parsed tree."""

    data: bytes
    root: etree._Element | None = None
    # Why the bytes are not XML eproc reads (``xml.rejected``); None when they parsed.
    rejection: Finding | None = None
    _document: EbisDocument | None = field(default=None, repr=False)

    @property
    def parsed(self) -> bool:
        return self.root is not None

    @cached_property
    def document(self) -> EbisDocument | None:
        """The Order or Invoice view of the root; None when the root is neither."""
        if self._document is not None:
            return self._document
        if self.root is None or family_of(self.root) is None:
            return None
        return EbisDocument(self.root)

    @cached_property
    def doc_type(self) -> DocType | None:
        return document_type_of(self.document) if self.document is not None else None

    @cached_property
    def checksum(self) -> ChecksumResult | None:
        return evaluate_checksum(self.document) if self.document is not None else None

    @cached_property
    def metadata(self) -> DocumentMetadata | None:
        if self.document is None:
            return None
        return metadata_of(self.document, self.doc_type, self.checksum)

    @classmethod
    def of_root(cls, root: etree._Element, data: bytes = b"") -> Inspection:
        """An inspection of a tree parsed elsewhere (the library API's entry points)."""
        return cls(data=data, root=root)


def inspect(data: bytes | str, *, max_bytes: int = DEFAULT_MAX_BYTES) -> Inspection:
    """Parse ``data`` once, safely. Unreadable input gives an inspection with a ``rejection``.

    A str (what a SOAP ``Document`` carries) is stored and parsed as UTF-8, its declaration saying so.
    """
    raw = as_utf8(data) if isinstance(data, str) else data
    try:
        root = parse_xml(raw, max_bytes=max_bytes)
    except XmlRejected as exc:
        return Inspection(data=raw, rejection=Finding("xml.rejected", "error", "/", str(exc), exc.line))
    return Inspection(data=raw, root=root)
