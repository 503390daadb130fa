"""The names of the eBIS-XML 3.09 documents eproc handles: namespaces, roots, tags, element paths."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from lxml import etree

ORDER_NS = "urn:schemas-basda-org:2000:purchaseOrder:xdr:3.01"
INVOICE_NS = "urn:schemas-basda-org:2000:salesInvoice:xdr:3.01"

ORDER_ROOT = f"{{{ORDER_NS}}}Order"
INVOICE_ROOT = f"{{{INVOICE_NS}}}Invoice"

# The FetchIndex document types; a quote is listed by FMS but has no eBIS schema.
DocType = Literal["order", "invoice", "creditnote", "quote"]
# The two schemas: an "invoice" family document is an invoice or a credit note.
Family = Literal["order", "invoice"]


@dataclass(frozen=True)
class DocumentType:
    """One kind of document FMS collects: its index value, its DocID prefix, its name in messages."""

    value: DocType
    prefix: str
    noun: str
    # Which schema validates it; None for a quote.
    family: Family | None

    @property
    def with_article(self) -> str:
        return f"{'an' if self.noun[0] in 'aeiou' else 'a'} {self.noun}"


# The one list of document types: every door, the store and the index take their names from here.
DOCUMENT_TYPES: dict[str, DocumentType] = {
    kind.value: kind
    for kind in (
        DocumentType("order", "ORD", "order", "order"),
        DocumentType("invoice", "INV", "invoice", "invoice"),
        DocumentType("creditnote", "CRN", "credit note", "invoice"),
        DocumentType("quote", "QUO", "quote", None),
    )
}
# What InvoiceHead/InvoiceType/@Code says an Invoice root is.
INVOICE_TYPE_CODES: dict[str, DocType] = {"INV": "invoice", "CRN": "creditnote"}

FAMILY_NAMESPACE: dict[str, str] = {"order": ORDER_NS, "invoice": INVOICE_NS}
ROOT_FAMILY: dict[str, Family] = {ORDER_ROOT: "order", INVOICE_ROOT: "invoice"}

_CLARK = re.compile(r"\{[^{}\s]+:[^{}\s]*\}")


def family_of(root: etree._Element) -> Family | None:
    """``order`` or ``invoice`` from the root's qualified name, ``None`` for anything else."""
    return ROOT_FAMILY.get(root.tag) if isinstance(root.tag, str) else None


def local_name(tag: object) -> str:
    if not isinstance(tag, str):
        return "#comment"
    return tag.rpartition("}")[2]


def element_path(element: etree._Element) -> str:
    """The element's path by local name, with a 1-based index where a name repeats among siblings.

    ``/Invoice/InvoiceLine[3]/Price``: what a supplier's developer can find in their own file.
    Computed only for findings, so the sibling scans cost nothing on the accept path.
    """
    steps: list[str] = []
    node: etree._Element | None = element
    while node is not None:
        parent = node.getparent()
        name = local_name(node.tag)
        if parent is not None:
            same = list(parent.iterchildren(node.tag))
            if len(same) > 1:
                name = f"{name}[{same.index(node) + 1}]"
        steps.append(name)
        node = parent
    return "/" + "/".join(reversed(steps))


def strip_namespaces(text: str) -> str:
    """Drop ``{urn:...}`` from a message: a reader needs ``UnitPrice``, not Clark notation.

    Only braces around a URI (they hold a colon and no space) go; a pattern such as ``\\d{9}`` stays.
    """
    return _CLARK.sub("", text)
