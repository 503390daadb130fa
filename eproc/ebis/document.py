"""A parsed eBIS document seen once: its family, its head, its lines with the values every check needs.

The checksum, the metadata and the FMS-readiness rules all read the same lines; collecting them in
one pass over the tree keeps the whole check close to the cost of the lxml schema gate itself.
"""

from __future__ import annotations

from functools import cached_property, lru_cache

from lxml import etree

from .names import FAMILY_NAMESPACE, INVOICE_NS, ORDER_NS, Family, family_of, local_name
from .parsing import XmlRejected
from .values import leaf_text


def describe_root(root: etree._Element) -> str:
    """Why a root is not one eproc reads, naming what it is and what was expected."""
    tag = root.tag if isinstance(root.tag, str) else ""
    namespace = tag[1:].partition("}")[0] if tag.startswith("{") else ""
    name = local_name(tag)
    expected = {"Order": ORDER_NS, "Invoice": INVOICE_NS}
    if name in expected:
        found = f"namespace '{namespace}'" if namespace else "no namespace"
        return f"the root element {name} is in {found}; an eBIS-XML 3.09 {name} must be in namespace '{expected[name]}'"
    found = f"{name} (namespace '{namespace}')" if namespace else f"{name} (no namespace)"
    return (
        f"the root element is {found}; eproc reads eBIS-XML 3.09 Order documents (namespace "
        f"'{ORDER_NS}') and Invoice documents (namespace '{INVOICE_NS}')"
    )


class EbisDocument:
    """An Order or an Invoice root with cheap, cached access to the parts the checks read."""

    def __init__(self, root: etree._Element) -> None:
        family = family_of(root)
        if family is None:
            raise XmlRejected(describe_root(root))
        self.root = root
        self.family: Family = family
        self.namespace = FAMILY_NAMESPACE[family]
        self.root_name = "Order" if family == "order" else "Invoice"
        self.head_name = "OrderHead" if family == "order" else "InvoiceHead"
        self.line_name = "OrderLine" if family == "order" else "InvoiceLine"
        self.date_name = "OrderDate" if family == "order" else "InvoiceDate"
        self.references_name = "OrderReferences" if family == "order" else "InvoiceReferences"
        self.total_name = "OrderTotal" if family == "order" else "InvoiceTotal"
        self.currency_name = "OrderCurrency" if family == "order" else "InvoiceCurrency"

        # Children by tag, per element, filled on first use: the head, totals and parties are read
        # by several checks, and lxml's ElementPath costs microseconds per call where a dict does not.
        self._children: dict[etree._Element, dict[object, list[etree._Element]]] = {}
        self._line_parts: dict[str, list[etree._Element | None]] = {}

    def find(self, path: str) -> etree._Element | None:
        """The first element at ``path`` (local names joined by ``/``) below the root."""
        node = self.root
        for tag in _steps(self.namespace, path):
            children = self._children_of(node).get(tag)
            if not children:
                return None
            node = children[0]
        return node

    def find_all(self, path: str) -> list[etree._Element]:
        """Every element at ``path`` below the root, in document order."""
        nodes = [self.root]
        for tag in _steps(self.namespace, path):
            nodes = [child for node in nodes for child in self._children_of(node).get(tag, ())]
        return nodes

    def _children_of(self, element: etree._Element) -> dict[object, list[etree._Element]]:
        children = self._children.get(element)
        if children is None:
            children = {}
            for child in element:
                children.setdefault(child.tag, []).append(child)
            self._children[element] = children
        return children

    def text(self, path: str) -> str | None:
        """Whitespace-collapsed text at ``path``; ``None`` when the element is absent."""
        return leaf_text(self.find(path))

    def value(self, path: str) -> str | None:
        """Like :meth:`text`, but an empty element counts as absent."""
        return self.text(path) or None

    def tag(self, name: str) -> str:
        return f"{{{self.namespace}}}{name}"

    @cached_property
    def lines(self) -> list[etree._Element]:
        """The OrderLine / InvoiceLine elements; a line's number is its 1-based index here."""
        return self._children_of(self.root).get(self.tag(self.line_name), [])

    @property
    def amounts(self) -> list[etree._Element | None]:
        """Each line's Quantity/Amount (``None`` where a line has none), aligned with :attr:`lines`."""
        return self.line_parts("Quantity/Amount")

    def line_parts(self, path: str) -> list[etree._Element | None]:
        """The first element at ``path`` below each line, aligned with :attr:`lines`."""
        found = self._line_parts.get(path)
        if found is None:
            found = [nodes[0] if nodes else None for nodes in self.line_children(path)]
            self._line_parts[path] = found
        return found

    def line_children(self, path: str) -> list[list[etree._Element]]:
        """All elements at ``path`` below each line, aligned with :attr:`lines`.

        One compiled XPath over the whole document, then each hit is given to its line through its
        ancestors: far cheaper than a Python loop over every line's children, because lxml creates
        an element object only for the hits.
        """
        index = self._line_index
        found: list[list[etree._Element]] = [[] for _ in index]
        depth = path.count("/") + 1
        for node in _line_xpath(self.namespace, self.line_name, path)(self.root):
            owner = node
            for _ in range(depth):
                owner = owner.getparent()
            position = index.get(owner)
            if position is not None:
                found[position].append(node)
        return found

    @cached_property
    def _line_index(self) -> dict[etree._Element, int]:
        # lxml hands back the same element object for a node while one is alive (self.lines keeps
        # them), so identity-hashed elements map a hit's ancestor to its line.
        return {line: position for position, line in enumerate(self.lines)}


@lru_cache(maxsize=64)
def _line_xpath(namespace: str, line_name: str, path: str) -> etree.XPath:
    # Compiled once; lxml locks an XPath object during evaluation, so threads can share it.
    steps = "/".join(f"e:{step}" for step in [line_name, *path.split("/")])
    return etree.XPath(steps, namespaces={"e": namespace})


@lru_cache(maxsize=256)
def _steps(namespace: str, path: str) -> tuple[str, ...]:
    return tuple(f"{{{namespace}}}{step}" for step in path.split("/"))
