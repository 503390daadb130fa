"""Writing the computed checksum into a document's bytes, leaving every other byte as it was.

Re-serialising with lxml would reflow attributes, quotes, namespace declarations and the XML
declaration; a supplier comparing files (or signing them) needs the rest untouched. So the
Checksum's position is found with expat's byte offsets and only its content is replaced (or the
element inserted as the head's last child, indented like its siblings).
"""

from __future__ import annotations

# expat runs only on bytes parse_xml has accepted: no DTD, no entities, within the size limit.
import xml.parsers.expat
from dataclasses import dataclass

from .checksum import ChecksumUnavailable, read_stated
from .document import describe_root
from .inspection import Inspection, inspect
from .parsing import DEFAULT_MAX_BYTES, XmlRejected

_PROBE = "<Checksum>0123456789</Checksum>"


@dataclass
class _Positions:
    head_start: int | None = None
    head_end_tag: int | None = None
    checksum_start: int | None = None
    checksum_end_tag: int | None = None
    last_child_start: int | None = None
    last_child_end_tag: int | None = None  # None for an empty-element last child


def fill_checksum(data: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES) -> bytes:
    """``data`` with ``OrderHead/Checksum`` or ``InvoiceHead/Checksum`` set to the computed value.

    The element is created (as the head's last child) when missing. Raises :class:`XmlRejected` for
    input eproc will not read and :class:`ChecksumUnavailable` when the document has no checksum.
    """
    return fill_checksum_of(inspect(data, max_bytes=max_bytes), max_bytes=max_bytes).data


def fill_checksum_of(inspection: Inspection, *, max_bytes: int = DEFAULT_MAX_BYTES) -> Inspection:
    """The inspection of the document with its checksum written in.

    Reads the checksum from the inspection (no parse); the one parse here is of the new bytes, which
    both proves the edit and is the inspection handed back, so filling costs one parse in all.
    """
    if inspection.rejection is not None:
        raise XmlRejected(inspection.rejection.message, inspection.rejection.line)
    document, result = inspection.document, inspection.checksum
    if document is None or result is None:
        assert inspection.root is not None
        raise XmlRejected(describe_root(inspection.root))
    if result.expected is None:
        raise ChecksumUnavailable(result.unavailable)
    state, stated = read_stated(document)
    if state == "present" and stated == result.expected:
        return inspection
    data = inspection.data
    encoding = document.root.getroottree().docinfo.encoding or "UTF-8"
    try:
        ascii_compatible = _PROBE.encode(encoding, errors="replace") == _PROBE.encode("ascii")
    except LookupError:
        ascii_compatible = False
    if not ascii_compatible:
        raise XmlRejected(f"the checksum can be written into ASCII-compatible files only, not {encoding}")
    positions = _locate(data, document.namespace, document.head_name)
    value = str(result.expected).encode("ascii")
    filled = inspect(_edit(data, positions, value), max_bytes=max_bytes + 64)
    check = filled.document
    if check is None or read_stated(check) != ("present", result.expected):
        raise RuntimeError("writing the checksum did not produce the expected document")  # a bug, not input
    return filled


def _locate(data: bytes, namespace: str, head_name: str) -> _Positions:
    found = _Positions()
    parser = xml.parsers.expat.ParserCreate(namespace_separator=" ")
    head, checksum = f"{namespace} {head_name}", f"{namespace} Checksum"
    depth = 0

    def start(name: str, _attributes: dict[str, str]) -> None:
        nonlocal depth
        depth += 1
        inside_head = found.head_start is not None and found.head_end_tag is None
        if depth == 2 and name == head and found.head_start is None:
            found.head_start = parser.CurrentByteIndex
        elif depth == 3 and inside_head:
            found.last_child_start, found.last_child_end_tag = parser.CurrentByteIndex, None
            if name == checksum and found.checksum_start is None:
                found.checksum_start = parser.CurrentByteIndex

    def end(name: str) -> None:
        nonlocal depth
        inside_head = found.head_start is not None and found.head_end_tag is None
        if depth == 2 and name == head and inside_head:
            found.head_end_tag = parser.CurrentByteIndex
        elif depth == 3 and inside_head:
            index = parser.CurrentByteIndex
            # expat reports an empty element's end after its tag, a normal one at its "</".
            is_end_tag = data.startswith(b"</", index)
            found.last_child_end_tag = index if is_end_tag else None
            if name == checksum and found.checksum_start == found.last_child_start and is_end_tag:
                found.checksum_end_tag = index
        depth -= 1

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.Parse(data, True)
    return found


def _edit(data: bytes, at: _Positions, value: bytes) -> bytes:
    if at.head_start is None or at.head_end_tag is None:
        raise XmlRejected("the document has no head element to write the checksum into")
    if at.checksum_start is not None:
        tag_end = _tag_end(data, at.checksum_start)
        if at.checksum_end_tag is not None:  # <Checksum>...</Checksum>: replace the content only
            return data[: tag_end + 1] + value + data[at.checksum_end_tag :]
        start_tag = data[at.checksum_start : tag_end].rstrip(b"/").rstrip()  # <Checksum/>: open it
        name = _tag_name(data, at.checksum_start)
        return data[: at.checksum_start] + start_tag + b">" + value + b"</" + name + b">" + data[tag_end + 1 :]
    prefix = _tag_name(data, at.head_start).rpartition(b":")
    element_name = prefix[0] + prefix[1] + b"Checksum"
    element = b"<" + element_name + b">" + value + b"</" + element_name + b">"
    if at.last_child_start is None:
        return data[: at.head_end_tag] + element + data[at.head_end_tag :]
    # After the head's last child, preceded by the same whitespace that precedes that child.
    indent_start = at.last_child_start
    while indent_start > 0 and data[indent_start - 1 : indent_start] in (b" ", b"\t", b"\n", b"\r"):
        indent_start -= 1
    indent = data[indent_start : at.last_child_start]
    child_end = at.last_child_end_tag if at.last_child_end_tag is not None else at.last_child_start
    insert_at = _tag_end(data, child_end) + 1
    return data[:insert_at] + indent + element + data[insert_at:]


def _tag_end(data: bytes, start: int) -> int:
    """Index of the ``>`` that closes the tag starting at ``start`` (``>`` inside quotes does not count)."""
    quote = 0
    for index in range(start, len(data)):
        byte = data[index]
        if quote:
            if byte == quote:
                quote = 0
        elif byte in (0x22, 0x27):  # " or '
            quote = byte
        elif byte == 0x3E:  # >
            return index
    raise XmlRejected("a tag is not closed")


def _tag_name(data: bytes, start: int) -> bytes:
    """The qualified name as written in the tag at ``start`` (``Checksum`` or ``eb:Checksum``)."""
    index = start + 1
    while index < len(data) and data[index : index + 1] not in (b" ", b"\t", b"\n", b"\r", b"/", b">"):
        index += 1
    return data[start + 1 : index]
