"""Schema errors as findings a supplier's developer can act on: element path by name, line, plain words."""

from __future__ import annotations

import re
from typing import Any

import xmlschema
from lxml import etree

from .names import element_path, local_name, strip_namespaces
from .report import Finding

RULE_ID = "schema"

# What a value of each simple type looks like, in the words of someone fixing the file.
TYPE_DESCRIPTIONS = {
    "DecimalOrEmptyType": "a decimal number such as 12.50 (or empty)",
    "decimal": "a decimal number such as 12.50",
    "IntegerOrEmptyType": "a whole number (or empty)",
    "IntegerType": "a whole number",
    "integer": "a whole number",
    "int": "a whole number",
    "LineNumberType": "a whole number (the line number)",
    "ChecksumType": "a whole number (the eBIS checksum) or empty",
    "DateTimeType": "a date YYYY-MM-DD or a date and time YYYY-MM-DDThh:mm:ss",
    "DateTimeOrEmptyType": "a date YYYY-MM-DD, a date and time YYYY-MM-DDThh:mm:ss, or empty",
    "DateType": "a date YYYY-MM-DD",
    "DUNStype": "a DUNS number of exactly 9 digits (leading zeros kept)",
    "GTINType": "a GTIN (digits only)",
    "GUIDType": "a GUID such as 3f2b8c1a-9d4e-4b7a-8c21-5e6f7a8b9c0d",
    "LanguageCodeType": "a language code such as en or en-GB",
    "DecimalSeparatorType": "'.' or ','",
    "PrecisionType": "a precision such as 20.3 (digits before.after the separator)",
    "PreserveType": "true or false",
    "EmailType": "an e-mail address",
    "CommodityClassType": "a UNSPSC class of 2 to 4 digit pairs such as 44 12 15",
    "ActionAttrType": "one of Add, Change, Delete, Original",
    "CalculationTypeAttrType": "D or M",
    "CardTypeAttrType": "one of Charge, Credit, Debit",
    "CardMonthYearType": "a month and year as printed on a card, such as 01/27",
    "CRIType": "1 to 16 letters or digits",
}

_MISSING_ATTRIBUTE = re.compile(r"missing required attribute '([^']+)'")
_UNEXPECTED_ATTRIBUTE = re.compile(r"'([^']+)' attribute not allowed")
_ATTRIBUTE_VALUE = re.compile(r"attribute ([\w:{}.\-/]+)='(.*?)': (.*)", re.DOTALL)


def explain_with_xmlschema(schema: xmlschema.XMLSchema, root: etree._Element, limit: int) -> tuple[list[Finding], bool]:
    # An in-memory tree with allow="none": validating it can never open a file or a URL.
    resource = xmlschema.XMLResource(root, allow="none")
    findings: list[Finding] = []
    for error in schema.iter_errors(resource):
        if len(findings) == limit:
            return findings, True
        findings.append(_finding(schema, error))
    return findings, False


def explain_with_lxml(schema: etree.XMLSchema, root: etree._Element, limit: int) -> tuple[list[Finding], bool]:
    schema.validate(root)
    entries = list(schema.error_log)
    findings = []
    for entry in entries[:limit]:
        element = _resolve(root, entry.path)
        path = element_path(element) if element is not None else "/" + local_name(root.tag)
        message = strip_namespaces(entry.message).replace("Element '", "element '")
        findings.append(Finding(RULE_ID, "error", path, message, entry.line or None))
    return findings, len(entries) > limit


def _resolve(root: etree._Element, path: str | None) -> etree._Element | None:
    if not path:
        return None
    try:
        found = root.getroottree().xpath(path)
    except etree.XPathError:
        return None
    return found[0] if isinstance(found, list) and found and isinstance(found[0], etree._Element) else None


def _finding(schema: xmlschema.XMLSchema, error: xmlschema.XMLSchemaValidationError) -> Finding:
    element = error.elem if isinstance(error.elem, etree._Element) else None
    path = element_path(element) if element is not None else (error.path or "/")
    line = element.sourceline if element is not None else None
    name = local_name(element.tag) if element is not None else "the element"
    reason = strip_namespaces(error.reason or error.message)

    if isinstance(error, xmlschema.XMLSchemaChildrenValidationError):
        expected = _expected(error.expected_tags)
        child = error.invalid_child
        if isinstance(child, etree._Element):
            found = local_name(child.tag) + _namespace_note(child, element)
            if expected:
                message = f"found {found} where {expected} was expected (missing or out of order)"
            else:
                message = f"{found} is not allowed here (inside {name})"
            return Finding(RULE_ID, "error", element_path(child), message, child.sourceline)
        missing = f"{expected} is missing" if expected else "required content is missing"
        return Finding(RULE_ID, "error", path, f"{name} is incomplete: {missing}", line)

    match = _MISSING_ATTRIBUTE.search(reason)
    if match:
        return Finding(RULE_ID, "error", f"{path}/@{match[1]}", f"{name} needs the attribute {match[1]}", line)
    match = _UNEXPECTED_ATTRIBUTE.search(reason)
    if match:
        attribute = local_name(match[1]) if match[1].startswith("{") else match[1]
        return Finding(RULE_ID, "error", f"{path}/@{attribute}", f"{name} may not have an attribute {attribute}", line)
    match = _ATTRIBUTE_VALUE.match(reason)
    if match:
        attribute, value, why = match.groups()
        message = f"attribute {attribute} is '{_short(value)}': {why}"
        return Finding(RULE_ID, "error", f"{path}/@{attribute}", message, line)

    if element is not None and isinstance(error.obj, str):
        description = _describe_value_type(schema, element)
        if description:
            return Finding(RULE_ID, "error", path, f"{name} is '{_short(error.obj)}'; expected {description}", line)
    if "character data" in reason:
        return Finding(RULE_ID, "error", path, f"{name} may contain elements only, not text", line)
    return Finding(RULE_ID, "error", path, f"{name}: {reason}", line)


def _expected(tags: list[str] | None) -> str:
    names = list(dict.fromkeys(local_name(tag) if tag.startswith("{") else tag for tag in tags or []))
    names = [name.replace("##other", "an extension element in another namespace") for name in names]
    if not names:
        return ""
    if len(names) == 1:
        return names[0]
    shown = names[:6]
    more = f" (or {len(names) - 6} more)" if len(names) > 6 else ""
    return ", ".join(shown[:-1]) + f" or {shown[-1]}" + more


def _namespace_note(child: etree._Element, parent: etree._Element | None) -> str:
    """Say so when the misplaced element is in another namespace: a common cause, invisible in the name."""
    child_ns = etree.QName(child).namespace
    parent_ns = etree.QName(parent).namespace if parent is not None else None
    if child_ns == parent_ns:
        return ""
    return f" (namespace '{child_ns}')" if child_ns else " (in no namespace)"


def _describe_value_type(schema: xmlschema.XMLSchema, element: etree._Element) -> str | None:
    declaration = schema.elements.get(local_name(element.tag))
    if declaration is None:
        return None
    value_type: Any = declaration.type
    if value_type.is_complex():
        value_type = value_type.content if value_type.has_simple_content() else None
    while value_type is not None:
        description = TYPE_DESCRIPTIONS.get(value_type.local_name or "")
        if description:
            return description
        value_type = getattr(value_type, "base_type", None)
    return None


def _short(value: str, limit: int = 60) -> str:
    return value if len(value) <= limit else value[: limit - 3] + "..."
