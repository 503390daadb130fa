"""The schema registry: eproc's own XSDs, compiled once per process, local files only.

lxml (libxml2) is the accept/reject gate: about a millisecond for a 100-line document. xmlschema is
45-60x slower and is only built, once and lazily, when a document has been rejected and its
findings must name elements by path (``/Invoice/InvoiceLine[3]/Price``).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

from lxml import etree

from eproc.config import SCHEMAS_DIR

from .names import Family
from .report import Finding

if TYPE_CHECKING:  # xmlschema is imported only when a rejected document is explained
    import xmlschema

SCHEMA_FILES: dict[Family, str] = {"order": "order.xsd", "invoice": "invoice.xsd"}
XSD_NS = "http://www.w3.org/2001/XMLSchema"
MAX_SCHEMA_FINDINGS = 25
EXPLAIN_MAX_ELEMENTS = 20_000  # about 1,400 invoice lines; xmlschema takes ~0.7 s for that many


class SchemaError(RuntimeError):
    """eproc's own schema files are missing or refer to something outside their directory."""


def default_schema_directory() -> Path:
    """The XSDs beside the code; a hub builds its registry from the configured ``schema_dir`` instead."""
    return SCHEMAS_DIR / "ebis"


class SchemaRegistry:
    """Compiled schemas for the two document families; safe to share between threads.

    A compiled lxml ``XMLSchema`` validates with a fresh libxml2 context per call, so one instance
    per family serves every thread; only its ``error_log`` is shared, which is why findings never
    come from it (see :func:`explain_with_lxml`).
    """

    def __init__(self, directory: Path | str) -> None:
        self.directory = Path(directory).resolve()
        self._lock = threading.Lock()
        self._trees: dict[Family, etree._ElementTree] = {}
        self._gates: dict[Family, etree.XMLSchema] = {}
        self._explainers: dict[Family, xmlschema.XMLSchema] = {}

    def warm(self) -> None:
        """Compile both gates now (at start-up) instead of on the first document."""
        for family in SCHEMA_FILES:
            self.gate(family)

    def gate(self, family: Family) -> etree.XMLSchema:
        gate = self._gates.get(family)
        if gate is None:
            with self._lock:
                gate = self._gates.get(family)
                if gate is None:
                    gate = etree.XMLSchema(self._tree(family))
                    self._gates[family] = gate
        return gate

    def is_valid(self, root: etree._Element, family: Family) -> bool:
        return bool(self.gate(family).validate(root))

    def explainer(self, family: Family) -> xmlschema.XMLSchema:
        explainer = self._explainers.get(family)
        if explainer is None:
            with self._lock:
                explainer = self._explainers.get(family)
                if explainer is None:
                    import xmlschema

                    self._tree(family)  # the same local-files check as the gate's
                    # sandbox: only files under the schema directory may be read, never a URL.
                    explainer = xmlschema.XMLSchema(
                        str(self.directory / SCHEMA_FILES[family]), allow="sandbox", defuse="always"
                    )
                    self._explainers[family] = explainer
        return explainer

    def findings(self, root: etree._Element, family: Family) -> tuple[list[Finding], bool]:
        """Readable schema findings for a document the gate rejected; (findings, more_not_listed)."""
        import xmlschema

        from .explain import explain_with_lxml, explain_with_xmlschema

        findings: list[Finding] = []
        truncated = False
        # xmlschema needs ~35 us per element: a 16 MiB document would take seconds to explain, so a
        # large one is explained from libxml2's own messages (still with paths by name).
        if int(root.xpath("count(//*)")) <= EXPLAIN_MAX_ELEMENTS:
            try:
                findings, truncated = explain_with_xmlschema(self.explainer(family), root, MAX_SCHEMA_FINDINGS)
            except (xmlschema.XMLSchemaException, ValueError, TypeError, KeyError):
                findings, truncated = [], False
        if not findings:
            # The two engines disagree, or xmlschema failed: report what libxml2 said, with a private
            # schema object so that another thread's validation cannot clear the error log under us.
            findings, truncated = explain_with_lxml(etree.XMLSchema(self._tree(family)), root, MAX_SCHEMA_FINDINGS)
        return findings, truncated

    def _tree(self, family: Family) -> etree._ElementTree:
        tree = self._trees.get(family)
        if tree is None:
            path = self.directory / SCHEMA_FILES[family]
            tree = _load_local_schema(path, seen=set())
            self._trees[family] = tree
        return tree


def _load_local_schema(path: Path, seen: set[Path]) -> etree._ElementTree:
    """Parse an XSD safely and check that everything it includes is a sibling file (recursively)."""
    if not path.is_file():
        raise SchemaError(f"schema file {path} is missing")
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    tree = etree.parse(str(path), parser)
    seen.add(path)
    for ref in tree.iterfind(f"{{{XSD_NS}}}*[@schemaLocation]"):
        location = ref.get("schemaLocation", "")
        target = (path.parent / location).resolve()
        if "://" in location or location.startswith("/") or target.parent != path.parent:
            raise SchemaError(f"{path.name} refers to '{location}'; eproc's schemas include sibling files only")
        if target not in seen:
            _load_local_schema(target, seen)
    return tree


_default: SchemaRegistry | None = None
_default_lock = threading.Lock()


def default_registry() -> SchemaRegistry:
    """A process-wide registry over the XSDs beside the code, for library callers that bring none."""
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = SchemaRegistry(default_schema_directory())
    return _default
