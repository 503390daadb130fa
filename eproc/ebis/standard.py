"""What the standard allows at a given place in a document, read from eproc's compiled schemas.

A schema finding says what is wrong (``found Foo where Checksum was expected``); a supplier's
developer fixing the file also wants to know what *would* be right there. :func:`allowed_at` answers
that from the xmlschema model of eproc's own XSDs (the same one that explains rejections), and
:func:`explain_schema_finding` words it for ``eproc validate --explain-schema``::

    at /Invoice/InvoiceHead the standard allows: Schema, Stylesheet (optional), Parameters, ...,
    Checksum (optional) (in this order)

"The standard" here is eproc's schemas: the published structures plus the few deliberate liberties
listed in ``schemas/ebis/README.md``. Nothing here is on the accept path: it runs only for findings a
person asked to have explained.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import xmlschema
from xmlschema.validators import XsdAnyElement, XsdElement, XsdGroup

from .explain import RULE_ID, TYPE_DESCRIPTIONS
from .names import Family
from .report import Finding
from .schemas import SchemaRegistry, default_registry

ROOT_FAMILIES: dict[str, Family] = {"Order": "order", "Invoice": "invoice"}
XSD_NAMESPACE = "http://www.w3.org/2001/XMLSchema"
_INDEX = re.compile(r"\[\d+\]$")
# Built-in XSD types a reader may meet in a value, in plain words (the project's own types are in
# TYPE_DESCRIPTIONS). Anything not listed is described as text.
_BUILTIN_DESCRIPTIONS = {
    "string": "text",
    "anyURI": "a URL",
    "boolean": "true or false",
    "date": "a date YYYY-MM-DD",
    "dateTime": "a date and time YYYY-MM-DDThh:mm:ss",
    "double": "a number",
}


@dataclass(frozen=True)
class AllowedHere:
    """What the standard allows at one element of a document, and at its parent.

    ``context`` and ``context_content`` are about the element's parent (where the element sits);
    ``content``, ``value`` and ``attributes`` about the element itself, when the standard knows it
    there (``declared``). For an attribute finding (``.../@Code``) ``attribute`` names it.
    """

    path: str
    declared: bool
    context: str | None = None
    context_content: str | None = None
    content: str | None = None
    value: str | None = None
    attributes: tuple[str, ...] = ()
    attribute: str | None = None
    attribute_known: bool = True

    def lines(self) -> list[str]:
        name = self.path.rstrip("/").rpartition("/")[2]
        out: list[str] = []
        if self.attribute is not None:
            if self.attributes:
                out.append(f"at {self.path} the standard allows the attributes: {', '.join(self.attributes)}")
            else:
                out.append(f"at {self.path} the standard allows no attributes")
            if not self.attribute_known:
                out.append(f"{self.attribute} is not one of them")
            return out
        if self.context is not None:
            out.append(f"at {self.context} the standard allows: {self.context_content or 'no child elements'}")
            if not self.declared:
                out.append(f"{_INDEX.sub('', name)} is not one of them")
        if self.declared:
            if self.content is not None:
                out.append(f"inside {self.path}: {self.content}")
            if self.value is not None:
                out.append(f"{self.path} holds {self.value}")
            if self.attributes:
                out.append(f"{self.path} may have the attributes: {', '.join(self.attributes)}")
        return out

    def text(self) -> str:
        return "\n".join(self.lines())


def allowed_at(schema: xmlschema.XMLSchema, path: str) -> AllowedHere | None:
    """What ``schema`` allows at ``path`` (a finding's path: ``/Invoice/InvoiceLine[2]/Price/@UOMCode``).

    ``None`` when the path does not start at the schema's root element or passes through an element
    the standard does not describe (inside an extension, say): there is nothing certain to say.
    """
    steps = [step for step in path.split("/") if step]
    attribute = steps.pop()[1:] if steps and steps[-1].startswith("@") else None
    if not steps:
        return None
    root = schema.elements.get(_INDEX.sub("", steps[0]))
    if root is None:
        return None
    chain: list[XsdElement] = [root]
    for position, step in enumerate(steps[1:], start=1):
        child = _children(chain[-1]).get(_INDEX.sub("", step))
        if child is None:
            if position < len(steps) - 1 or attribute is not None:
                return None  # below something the standard does not describe
            parent_path = "/" + "/".join(steps[:position])
            return AllowedHere(
                path=path,
                declared=False,
                context=parent_path,
                context_content=_render_content(chain[-1]),
            )
        chain.append(child)
    element = chain[-1]
    element_path = "/" + "/".join(steps)
    attributes = _render_attributes(element)
    if attribute is not None:
        known = attribute in _attribute_names(element)
        return AllowedHere(
            path=element_path, declared=True, attributes=attributes, attribute=attribute, attribute_known=known
        )
    context_path: str | None = "/" + "/".join(steps[:-1]) if len(chain) > 1 else None
    return AllowedHere(
        path=element_path,
        declared=True,
        context=context_path,
        context_content=_render_content(chain[-2]) if len(chain) > 1 else None,
        content=_render_content(element),
        value=_describe_value(element),
        attributes=attributes,
    )


def explain_schema_finding(finding: Finding, registry: SchemaRegistry | None = None) -> str | None:
    """For ``eproc validate --explain-schema``: what the standard allows where a schema finding points.

    Several lines of text, or ``None`` for a finding that is not a schema finding or whose place the
    standard does not describe. The family (order or invoice) is read from the path's first step.
    """
    if finding.rule_id != RULE_ID:
        return None
    first = next((step for step in finding.path.split("/") if step), "")
    family = ROOT_FAMILIES.get(_INDEX.sub("", first))
    if family is None:
        return None
    allowed = allowed_at((registry or default_registry()).explainer(family), finding.path)
    return allowed.text() if allowed is not None else None


# ----------------------------------------------------------------------------------------- model


def _children(element: XsdElement) -> dict[str, XsdElement]:
    """The element declarations allowed directly inside ``element``, by local name."""
    content = _element_content(element)
    found: dict[str, XsdElement] = {}
    if content is not None:
        _collect(content, found)
    return found


def _collect(group: XsdGroup, found: dict[str, XsdElement]) -> None:
    for particle in group:
        if isinstance(particle, XsdGroup):
            _collect(particle, found)
        elif isinstance(particle, XsdElement):
            found.setdefault(particle.local_name or "", particle)


def _element_content(element: XsdElement) -> XsdGroup | None:
    value_type: Any = element.type
    if not value_type.is_complex() or value_type.has_simple_content() or value_type.is_empty():
        return None
    content = value_type.content
    return content if isinstance(content, XsdGroup) else None


def _render_content(element: XsdElement) -> str | None:
    """The element's content model in words, or ``None`` when it holds a value, not elements."""
    value_type: Any = element.type
    content = _element_content(element)
    if content is None:
        return "nothing (an empty element)" if value_type.is_complex() and value_type.is_empty() else None
    text = _render_group(content, top=True) or "no child elements"
    return text + ("; text is allowed between them" if value_type.mixed else "")


def _render_group(group: XsdGroup, *, top: bool = False) -> str:
    in_choice = group.model == "choice"
    parts = [_render_particle(particle, in_choice=in_choice) for particle in group]
    parts = [part for part in parts if part]
    if in_choice:
        # A choice whose branches may all be empty allows nothing at all, too.
        lead = "at most one of" if group.is_emptiable() else "one of"
        return f"{lead}: " + " | ".join(parts)
    text = ", ".join(parts)
    if len(parts) > 1:
        text += " (in this order)" if top else ""
    return text if top else f"[{text}]{_occurs(group)}"


def _render_particle(particle: Any, *, in_choice: bool = False) -> str:
    # Inside "at most one of: A | B", a branch's own "(optional)" says nothing more: leave it out.
    if isinstance(particle, XsdGroup):
        if particle.model == "choice":
            return f"[{_render_group(particle)}]{_occurs(particle, in_choice=in_choice)}"
        return _render_group(particle)
    if isinstance(particle, XsdAnyElement):
        return "elements of another namespace" + _occurs(particle, plural=True, in_choice=in_choice)
    if isinstance(particle, XsdElement):
        return (particle.local_name or "") + _occurs(particle, in_choice=in_choice)
    return ""


def _occurs(particle: Any, *, plural: bool = False, in_choice: bool = False) -> str:
    low, high = particle.min_occurs, particle.max_occurs
    if high is None or high > 1:
        return " (any number)" if low == 0 else (" (one or more)" if low == 1 else f" ({low} or more)")
    if low == 0 and not in_choice:
        return " (any number)" if plural else " (optional)"
    return ""


def _attribute_names(element: XsdElement) -> set[str]:
    value_type: Any = element.type
    if not value_type.is_complex():
        return set()
    return {attribute.local_name or "" for name, attribute in value_type.attributes.items() if name is not None}


def _render_attributes(element: XsdElement) -> tuple[str, ...]:
    value_type: Any = element.type
    if not value_type.is_complex():
        return ()
    rendered = []
    for name, attribute in value_type.attributes.items():
        if name is None:
            continue
        use = "required" if attribute.use == "required" else "optional"
        description = _describe_simple(attribute.type)
        detail = f"{use}, {description}" if description and description != "text" else use
        rendered.append(f"{attribute.local_name} ({detail})")
    return tuple(rendered)


def _describe_value(element: XsdElement) -> str | None:
    value_type: Any = element.type
    if value_type.is_complex():
        if not value_type.has_simple_content():
            return None
        value_type = value_type.content
    return _describe_simple(value_type)


def _describe_simple(value_type: Any) -> str:
    """The value type in the words explain.py uses for findings (walking up to a type it names)."""
    node = value_type
    while node is not None:
        name = node.local_name or ""
        if name in TYPE_DESCRIPTIONS:
            return TYPE_DESCRIPTIONS[name]
        enumeration = getattr(node, "enumeration", None)
        if enumeration:
            return "one of " + ", ".join(str(value) for value in enumeration)
        patterns = getattr(node, "patterns", None)
        if patterns:
            return "text matching " + " or ".join(patterns.regexps)
        if name in _BUILTIN_DESCRIPTIONS and node.target_namespace == XSD_NAMESPACE:
            return _BUILTIN_DESCRIPTIONS[name]
        node = getattr(node, "base_type", None)
    return "text"
