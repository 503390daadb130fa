"""Safe parsing of XML that comes from outside: no DTDs, no entities, no network, bounded size and depth.

Every door into eproc (SOAP ``Document`` strings, CLI files, portal uploads) parses through here, once;
later steps share the parsed tree.
"""

from __future__ import annotations

import re

from lxml import etree

DEFAULT_MAX_BYTES = 16 * 1024 * 1024
# libxml2 refuses deeper trees unless XML_PARSE_HUGE is set; eBIS documents are < 15 levels deep.
MAX_DEPTH = 256


class XmlRejected(ValueError):
    """The input is not XML eproc will read; the message says what and where."""


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=False,
    )


def parse_xml(data: bytes | str, *, max_bytes: int = DEFAULT_MAX_BYTES) -> etree._Element:
    """Parse ``data`` into an element tree, refusing anything unsafe or malformed.

    Raises :class:`XmlRejected` with a message naming the problem and its line.
    """
    if isinstance(data, str):
        data = data.encode("utf-8") if not data.lstrip().startswith("<?xml") else _reencode(data)
    if len(data) > max_bytes:
        raise XmlRejected(f"the document is {len(data)} bytes, over the limit of {max_bytes} bytes")
    if not data.strip():
        raise XmlRejected("the document is empty")
    try:
        root = etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as exc:
        raise XmlRejected(f"not well-formed XML: {_describe_syntax_error(exc)}") from None
    except ValueError as exc:  # lxml: e.g. a str with an encoding declaration it cannot honour
        raise XmlRejected(f"not readable XML: {exc}") from None
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None:
        raise XmlRejected("DTDs and entity declarations are not allowed (line 1: <!DOCTYPE ...>)")
    return root


def _reencode(text: str) -> bytes:
    """A str that carries its own XML declaration: re-encode as UTF-8 and say so in the declaration.

    A .NET client sends the Document as a string whose declaration may still say utf-16 or
    iso-8859-1; the characters are what counts, so the declared encoding is replaced.
    """
    end = text.find("?>")
    if end == -1:
        return text.encode("utf-8")
    declaration = text[: end + 2]
    rest = text[end + 2 :]
    declaration = re.sub(r"""encoding\s*=\s*["'][^"']*["']""", 'encoding="utf-8"', declaration)
    return (declaration + rest).encode("utf-8")


def _describe_syntax_error(exc: etree.XMLSyntaxError) -> str:
    message = (exc.msg or str(exc)).strip()
    lineno = getattr(exc, "lineno", None)
    column = getattr(exc, "offset", None)
    if "Excessive depth" in message or "depth" in message.lower() and "exceed" in message.lower():
        return f"nesting deeper than {MAX_DEPTH} levels (line {lineno})"
    if lineno:
        where = f"line {lineno}" + (f", column {column}" if column else "")
        # libxml2 repeats the position at the end of its message; keep one copy.
        message = message.split(", line ")[0]
        return f"{message} ({where})"
    return message
