"""escape_text writes text content as ASMX does, whatever the characters (checked per character)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from eproc.soap import envelope
from eproc.soap.envelope import escape_text, escape_text_utf8

_ESCAPED = {"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#xD;"}


def _xml_char(c: str) -> bool:
    code = ord(c)
    return code in (0x9, 0xA, 0xD) or 0x20 <= code <= 0xD7FF or 0xE000 <= code <= 0xFFFD or code >= 0x10000


def _reference(text: str) -> str:
    return "".join(_ESCAPED.get(c, c) for c in text if _xml_char(c))


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=200))
def test_escape_text_matches_the_per_character_rule(text: str) -> None:
    assert escape_text(text) == _reference(text)


def test_already_escaped_text_is_escaped_again_not_left_alone() -> None:
    assert escape_text("&amp; <a>\r\n\x00") == "&amp;amp; &lt;a&gt;&#xD;\n"


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=200))
def test_the_byte_level_escape_gives_the_same_bytes(text: str) -> None:
    assert escape_text_utf8(text) == _reference(text).encode("utf-8")


def test_the_byte_level_escape_drops_what_xml_cannot_carry() -> None:
    assert escape_text_utf8("a\x00\x1f\ufffe\uffff\ud800<é") == "a&lt;é".encode()


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=200))
def test_escaping_in_pieces_gives_the_same_bytes_wherever_the_cuts_fall(text: str) -> None:
    """Large text is escaped a piece at a time; pieces of 7 characters put cuts everywhere."""
    saved = envelope.ESCAPE_PIECE
    envelope.ESCAPE_PIECE = 7
    try:
        pieces = envelope.escaped_utf8_pieces(text)
    finally:
        envelope.ESCAPE_PIECE = saved
    assert b"".join(pieces) == _reference(text).encode("utf-8")


def test_a_large_text_is_answered_in_pieces_none_of_them_whole() -> None:
    text = "<a>&\r\n" * 200_000
    parts = envelope.response_parts(envelope.SOAP11, "FetchDoc", text)
    assert b"".join(parts[1:-1]) == _reference(text).encode("utf-8")
    assert len(parts) > 3 and max(len(p) for p in parts) < len(text)
