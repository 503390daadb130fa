"""escape_text writes text content as ASMX does, whatever the characters (checked per character)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

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
