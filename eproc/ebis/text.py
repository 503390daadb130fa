"""Turning stored XML bytes back into the text a SOAP string carries."""

from __future__ import annotations

import codecs
import re

_DECLARED_ENCODING = re.compile(rb"""^<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._\-]+)["']""")


def xml_text(data: bytes) -> str:
    """Decode XML bytes by their BOM or declared encoding (UTF-8 when neither says otherwise)."""
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
