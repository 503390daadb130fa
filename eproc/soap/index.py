"""The document index XML that FetchIndex / FetchIndexFromDate return (schemas/document-index.xsd),
and the operator's XSLT hook that can reshape it into another layout."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from lxml import etree

from eproc.services.collection import IndexEntry


class IndexXsltError(RuntimeError):
    """``EPROC_INDEX_XSLT`` names a file that cannot be read or is no XSLT."""


def format_utc(moment: datetime) -> str:
    """``2026-11-22T09:15:30Z``: whole seconds, UTC, as the index promises."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class IndexWriter:
    """Writes the index XML; with an operator's XSLT (compiled once, at start-up) applied to it."""

    def __init__(self, xslt_path: str = "") -> None:
        self._transform = _compile(xslt_path) if xslt_path else None

    def write(self, entries: Iterable[IndexEntry]) -> str:
        """The canonical index, oldest first, as the text FetchIndex returns."""
        root = etree.Element("DocumentIndex")
        for entry in entries:
            document = etree.SubElement(root, "Document")
            etree.SubElement(document, "DocID").text = entry.doc_id
            etree.SubElement(document, "DocType").text = entry.doc_type
            etree.SubElement(document, "CreateDate").text = format_utc(entry.created_at)
        if self._transform is not None:
            root = self._transform(root).getroot()
        body = etree.tostring(root, encoding="unicode", pretty_print=True)
        return '<?xml version="1.0" encoding="utf-8"?>\n' + body


def _compile(xslt_path: str) -> etree.XSLT:
    # No network, no file access from inside the stylesheet: it only reshapes the index.
    access = etree.XSLTAccessControl.DENY_ALL
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    path = Path(xslt_path)
    # lxml's own messages for an unreadable file are several lines of libxml2 text; these are one.
    if not path.is_file():
        raise IndexXsltError(f"EPROC_INDEX_XSLT {xslt_path}: no such file")
    try:
        with path.open("rb") as handle:
            tree = etree.parse(handle, parser)
    except OSError as exc:
        raise IndexXsltError(f"EPROC_INDEX_XSLT {xslt_path}: cannot read it ({exc.strerror})") from None
    except etree.XMLSyntaxError as exc:
        raise IndexXsltError(f"EPROC_INDEX_XSLT {xslt_path}: not well-formed XML ({_first_line(exc)})") from None
    try:
        return etree.XSLT(tree, access_control=access)
    except etree.XSLTParseError as exc:
        raise IndexXsltError(f"EPROC_INDEX_XSLT {xslt_path}: not a usable XSLT ({_first_line(exc)})") from None


def _first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
