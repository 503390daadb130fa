"""The document index XML that FetchIndex / FetchIndexFromDate return (schemas/document-index.xsd)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

from lxml import etree


@dataclass(frozen=True)
class IndexEntry:
    doc_id: str
    doc_type: str
    created_at: datetime


def format_utc(moment: datetime) -> str:
    """``2026-11-22T09:15:30Z``: whole seconds, UTC, as the index promises."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def build_index(entries: Iterable[IndexEntry], xslt_path: str = "") -> str:
    """The canonical index, oldest first; an operator's XSLT may reshape it into a vendor layout."""
    root = etree.Element("DocumentIndex")
    for entry in entries:
        document = etree.SubElement(root, "Document")
        etree.SubElement(document, "DocID").text = entry.doc_id
        etree.SubElement(document, "DocType").text = entry.doc_type
        etree.SubElement(document, "CreateDate").text = format_utc(entry.created_at)
    if xslt_path:
        root = _transform(xslt_path)(root).getroot()
    body = etree.tostring(root, encoding="unicode", pretty_print=True)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + body


@lru_cache(maxsize=4)
def _transform(xslt_path: str) -> etree.XSLT:
    access = etree.XSLTAccessControl.DENY_ALL
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    return etree.XSLT(etree.parse(str(Path(xslt_path)), parser), access_control=access)
