"""The eBIS-XML 3.09 checksum (BASDA "Code Lists Appendix 2"), computed exactly.

    LinesTotal = sum over lines i = 1..n of  i x Quantity_i        (i = 1-based position of the line)
    Factor1    = Year + 13 x Day - 7 x LinesTotal
    Factor2    = Month + 17 x n + 5 x TotalValue
    Checksum   = last five digits of trunc(|Factor1 x Factor2|)

TotalValue is ``OrderTotal/GoodsValue`` for orders (absent: the sum of the lines' net values) and
``InvoiceTotal/LineValueTotal`` for invoices, i.e. net goods before settlement discount.

Everything is ``Decimal`` in a context wide enough to be exact (an inexact step raises instead of
rounding): an IEEE-double implementation gets a published sample wrong, and |Factor1 x Factor2|
passes 2^31 with ordinary orders (FMS itself needed INT64).
"""

from __future__ import annotations

import decimal
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from lxml import etree

from .document import EbisDocument
from .values import EXACT, leaf_text, parse_date_parts, parse_decimal

CHECKSUM_MODULUS = 100_000


class ChecksumUnavailable(ValueError):
    """The document lacks what the checksum is computed from (a date, readable quantities, a total)."""


@dataclass(frozen=True)
class ChecksumInputs:
    """What went into a checksum, so that a report can show a supplier how it was reached."""

    year: int
    month: int
    day: int
    quantities: tuple[Decimal, ...]
    total_value: Decimal
    total_source: str

    @property
    def lines_total(self) -> Decimal:
        with decimal.localcontext(EXACT):
            return sum((position * quantity for position, quantity in enumerate(self.quantities, 1)), Decimal(0))

    def describe(self) -> str:
        return (
            f"date {self.year:04d}-{self.month:02d}-{self.day:02d}, {len(self.quantities)} line(s), "
            f"sum of line number x quantity {self.lines_total.normalize():f}, "
            f"{self.total_source} {self.total_value:f}"
        )


def checksum_of(year: int, month: int, day: int, quantities: Sequence[Decimal], total_value: Decimal) -> int:
    """The checksum from its inputs; ``quantities`` in line order (line number = position)."""
    with decimal.localcontext(EXACT):
        lines_total = sum((position * Decimal(quantity) for position, quantity in enumerate(quantities, 1)), Decimal(0))
        factor1 = year + 13 * day - 7 * lines_total
        factor2 = month + 17 * len(quantities) + 5 * Decimal(total_value)
        # abs() before truncation: both public implementations drop the sign, and int() truncates.
        return int(abs(factor1 * factor2)) % CHECKSUM_MODULUS


def checksum_inputs(document: EbisDocument) -> ChecksumInputs:
    """Read the checksum's inputs from the document, or say which one is missing or unreadable."""
    date_text = document.text(document.date_name)
    parts = parse_date_parts(date_text)
    if parts is None:
        found = "is missing" if date_text is None else f"is '{date_text}', not a date"
        raise ChecksumUnavailable(f"{document.date_name} {found}")
    quantities = tuple(_quantity(amount, position) for position, amount in enumerate(document.amounts, start=1))
    total_value, total_source = _total_value(document)
    return ChecksumInputs(*parts, quantities=quantities, total_value=total_value, total_source=total_source)


@dataclass(frozen=True)
class ChecksumResult:
    """The expected checksum with its inputs, or why the document cannot have one."""

    inputs: ChecksumInputs | None
    expected: int | None
    unavailable: str | None = None


def evaluate_checksum(document: EbisDocument) -> ChecksumResult:
    try:
        inputs = checksum_inputs(document)
    except ChecksumUnavailable as exc:
        return ChecksumResult(None, None, str(exc))
    return ChecksumResult(
        inputs, checksum_of(inputs.year, inputs.month, inputs.day, inputs.quantities, inputs.total_value)
    )


def compute_checksum(root: etree._Element) -> int:
    """The checksum the document should carry. Raises :class:`ChecksumUnavailable` if it cannot have one."""
    result = evaluate_checksum(EbisDocument(root))
    if result.expected is None:
        raise ChecksumUnavailable(result.unavailable)
    return result.expected


def stated_checksum(root: etree._Element) -> int | None:
    """The ``Checksum`` the document carries; ``None`` when absent, empty or not a whole number."""
    return read_stated(EbisDocument(root))[1]


def read_stated(document: EbisDocument) -> tuple[str, int | None]:
    """(``"absent"`` | ``"empty"`` | ``"malformed"`` | ``"present"``, value) of the head's Checksum."""
    text = document.text(f"{document.head_name}/Checksum")
    if text is None:
        return "absent", None
    if not text:
        return "empty", None
    number = parse_decimal(text)
    if number is None or number != number.to_integral_value() or "." in text:
        return "malformed", None
    return "present", int(number)


def _quantity(amount: etree._Element | None, position: int) -> Decimal:
    # A line without a quantity (or with an empty one) counts as 0, as the public implementations do.
    text = leaf_text(amount)
    if not text:
        return Decimal(0)
    number = parse_decimal(text)
    if number is None:
        raise ChecksumUnavailable(f"the quantity of line {position} is '{text}', not a number")
    return number


def _total_value(document: EbisDocument) -> tuple[Decimal, str]:
    if document.family == "invoice":
        path = "InvoiceTotal/LineValueTotal"
        text = document.value(path)
        number = parse_decimal(text)
        if number is None:
            raise ChecksumUnavailable(f"{path} is missing" if text is None else f"{path} is '{text}', not a number")
        return number, path
    text = document.value("OrderTotal/GoodsValue")
    if text is not None:
        number = parse_decimal(text)
        if number is None:
            raise ChecksumUnavailable(f"OrderTotal/GoodsValue is '{text}', not a number")
        return number, "OrderTotal/GoodsValue"
    values = zip(
        document.line_parts("NetLineTotal"),
        document.line_parts("LineTotal"),
        document.line_parts("Price/UnitPrice"),
        document.amounts,
        strict=True,
    )
    with decimal.localcontext(EXACT):
        total = sum((_line_net_value(*parts, position) for position, parts in enumerate(values, start=1)), Decimal(0))
    return total, "sum of the lines' net values (no OrderTotal/GoodsValue)"


def _line_net_value(
    net_total: etree._Element | None,
    line_total: etree._Element | None,
    unit_price: etree._Element | None,
    amount: etree._Element | None,
    position: int,
) -> Decimal:
    """NetLineTotal, else LineTotal, else quantity x unit price, else 0."""
    for element in (net_total, line_total):
        text = leaf_text(element)
        if text:
            number = parse_decimal(text)
            if number is None:
                raise ChecksumUnavailable(f"a value of line {position} is '{text}', not a number")
            return number
    price = parse_decimal(leaf_text(unit_price))
    if price is None:
        return Decimal(0)
    with decimal.localcontext(EXACT):
        return _quantity(amount, position) * price
