"""Reading eBIS values exactly as XML Schema reads them: decimals, integers, dates, leaf text.

Never ``float``: money and quantities stay ``Decimal`` so that the checksum and the totals
checks see the digits the supplier wrote.
"""

from __future__ import annotations

import decimal
import re
from decimal import Decimal

from lxml import etree

# Wide enough that no sum or product of document values is ever rounded; a rounding would raise.
EXACT = decimal.Context(
    prec=decimal.MAX_PREC,
    Emax=decimal.MAX_EMAX,
    Emin=decimal.MIN_EMIN,
    traps=[decimal.Inexact, decimal.Rounded, decimal.InvalidOperation, decimal.Overflow],
)

# XML Schema's whitespace (collapse) is these four characters, not Python's wider str.strip().
XML_SPACE = " \t\r\n"

_DECIMAL = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)")
_INTEGER = re.compile(r"[+-]?\d+")
# xsd:date and xsd:dateTime both start with the date; the year may be longer than four digits.
_DATE_START = re.compile(r"(-?\d{4,})-(\d{2})-(\d{2})")
_PLAIN_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def leaf_text(element: etree._Element | None) -> str | None:
    """The character data of a simple-typed element, whitespace-collapsed; ``None`` if absent.

    A comment or processing instruction inside the value does not split it (``1<!---->2`` is "12").
    """
    if element is None:
        return None
    raw = (element.text or "") if len(element) == 0 else "".join(element.itertext())
    return raw.strip(XML_SPACE)


def parse_decimal(text: str | None) -> Decimal | None:
    """An ``xsd:decimal`` lexical value as an exact ``Decimal``; ``None`` for empty or malformed.

    Python's ``Decimal`` also reads ``1e3``, ``NaN`` and ``1_000``; XML Schema reads none of them,
    so the lexical form is checked first.
    """
    if text is None:
        return None
    text = text.strip(XML_SPACE)
    if not _DECIMAL.fullmatch(text):
        return None
    return Decimal(text)


def is_integer_lexical(text: str) -> bool:
    """Written as a whole number (``3``, ``+3``), as FMS's integer quantity reader needs."""
    return bool(_INTEGER.fullmatch(text.strip(XML_SPACE)))


def parse_date_parts(text: str | None) -> tuple[int, int, int] | None:
    """(year, month, day) of an ``xsd:date`` or ``xsd:dateTime`` value; ``None`` if it has none."""
    if text is None:
        return None
    match = _DATE_START.match(text.strip(XML_SPACE))
    if match is None:
        return None
    year, month, day = (int(group) for group in match.groups())
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return None
    return year, month, day


def is_plain_date(text: str) -> bool:
    """``YYYY-MM-DD`` and nothing else: no time, no time zone (what FMS reads)."""
    return bool(_PLAIN_DATE.fullmatch(text.strip(XML_SPACE)))
