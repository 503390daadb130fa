"""Safe parsing of XML that comes from outside: no DTDs, no entities, no network, bounded size and depth.

Every door into eproc (SOAP ``Document`` strings, CLI files, portal uploads) parses through here,
once per document (see ``inspection.py``): later steps share the parsed tree. :func:`parse_count`
lets a test hold the code to that.
"""

from __future__ import annotations

import codecs
import os
import re
import threading
from pathlib import Path

from lxml import etree

DEFAULT_MAX_BYTES = 16 * 1024 * 1024
# libxml2 refuses deeper trees unless XML_PARSE_HUGE is set; eBIS documents are < 15 levels deep.
MAX_DEPTH = 256

# A DOCTYPE can only stand in the prolog, before the root element. Looking for it there first refuses
# entity bombs and external entities without handing them to libxml2 at all.
_PROLOG_WINDOW = 65536
_PROLOG_DOCTYPE = re.compile(rb"^(?:\xef\xbb\xbf)?\s*(?:<\?[^>]*\?>\s*|<!--.*?-->\s*)*<!DOCTYPE", re.DOTALL)


class XmlRejected(ValueError):
    """The input is not XML eproc will read; the message says what and where (``line`` when known)."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line


_local = threading.local()


def parse_count() -> int:
    """How many documents this thread has parsed through :func:`parse_xml` so far."""
    return int(getattr(_local, "parses", 0))


def _parser() -> etree.XMLParser:
    # One parser per thread, reused: lxml parsers must not be shared between threads, and building
    # one costs about as much as parsing a small document.
    parser = getattr(_local, "parser", None)
    if parser is None:
        parser = etree.XMLParser(
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            dtd_validation=False,
            huge_tree=False,
            remove_comments=False,
        )
        _local.parser = parser
    return parser


def parse_xml(data: bytes | str, *, max_bytes: int = DEFAULT_MAX_BYTES) -> etree._Element:
    """Parse ``data`` into an element tree, refusing anything unsafe or malformed.

    Raises :class:`XmlRejected` with a message naming the problem and its line.
    """
    _local.parses = parse_count() + 1
    if isinstance(data, str):
        data = as_utf8(data)
    if len(data) > max_bytes:
        raise XmlRejected(f"the document is {len(data)} bytes, over the limit of {max_bytes} bytes")
    if not data or data.isspace():  # isspace() stops at the first other byte; strip() would copy
        raise XmlRejected("the document is empty")
    if data.find(b"<!DOCTYPE", 0, _PROLOG_WINDOW) != -1 and _PROLOG_DOCTYPE.match(data, 0, _PROLOG_WINDOW):
        raise XmlRejected(_DTD_REFUSED, line=_line_of(data, b"<!DOCTYPE"))
    try:
        root = etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as exc:
        message, line = _describe_syntax_error(exc)
        if "amplification" in message:  # libxml2's own entity-bomb guard fired first
            raise XmlRejected(f"{_DTD_REFUSED}; this one is an entity expansion bomb", line=line) from None
        raise XmlRejected(f"not well-formed XML: {message}", line=line) from None
    except ValueError as exc:  # lxml: e.g. a str with an encoding declaration it cannot honour
        raise XmlRejected(f"not readable XML: {exc}") from None
    # The prolog check cannot see a DOCTYPE in a UTF-16 document; the parsed tree can.
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None:
        raise XmlRejected(_DTD_REFUSED)
    return root


def read_document(path: str | os.PathLike[str], *, max_bytes: int = DEFAULT_MAX_BYTES) -> bytes:
    """Read a file for :func:`parse_xml`, refusing an oversized one before reading it into memory.

    Raises ``OSError`` when the file cannot be read and :class:`XmlRejected` when it is too large.
    """
    with Path(path).open("rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        if size > max_bytes:
            raise XmlRejected(f"the document is {size} bytes, over the limit of {max_bytes} bytes")
        # A file that grows while being read (or a pipe) is cut off at the limit, never read whole.
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise XmlRejected(f"the document is over the limit of {max_bytes} bytes")
    return data


_DTD_REFUSED = "DTDs and entity declarations are not allowed (<!DOCTYPE ...>): eBIS-XML documents never need one"


def _line_of(data: bytes, needle: bytes) -> int:
    return data.count(b"\n", 0, max(data.find(needle), 0)) + 1


def as_utf8(text: str) -> bytes:
    """A document received as characters (a SOAP string), as the UTF-8 bytes eproc stores and parses."""
    return text.encode("utf-8") if not text.lstrip().startswith("<?xml") else _reencode(text)


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


def _describe_syntax_error(exc: etree.XMLSyntaxError) -> tuple[str, int | None]:
    # libxml2 ends some messages with a line break; a report line, a log line or a SOAP fault
    # string needs one line.
    message = " ".join((exc.msg or str(exc)).split())
    lineno = getattr(exc, "lineno", None) or None
    column = getattr(exc, "offset", None)
    lowered = message.lower()
    if "excessive depth" in lowered or ("depth" in lowered and "exceed" in lowered):
        return f"nesting deeper than {MAX_DEPTH} levels (line {lineno})", lineno
    if "huge" in lowered:
        return f"a text node or name is larger than libxml2's safety limit (line {lineno})", lineno
    if lineno:
        where = f"line {lineno}" + (f", column {column}" if column else "")
        # libxml2 repeats the position at the end of its message; keep one copy.
        message = message.split(", line ")[0].rstrip()
        return f"{message} ({where})", lineno
    return message, None


_DECLARED_ENCODING = re.compile(rb"""^<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._\-]+)["']""")


def decode_document(data: bytes) -> str:
    """Stored XML bytes as text, by their BOM or declared encoding (UTF-8 when neither says otherwise)."""
    if data.startswith(codecs.BOM_UTF8):
        return data[len(codecs.BOM_UTF8) :].decode("utf-8")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16")
    match = _DECLARED_ENCODING.match(data)
    encoding = match.group(1).decode("ascii") if match else "utf-8"
    try:
        return data.decode(encoding)
    except LookupError:
        return data.decode("utf-8")
