"""The eBIS checksum: published vectors, worked illustrations, exactness, and writing it into a file."""

from __future__ import annotations

import datetime
import re
from decimal import Decimal
from fractions import Fraction

import pytest
from ebis_helpers import build_document, corpus_bytes, manifest, reference_checksum
from hypothesis import given, settings
from hypothesis import strategies as st

from eproc.ebis import (
    ChecksumUnavailable,
    XmlRejected,
    check_content_document,
    checksum_of,
    compute_checksum,
    extract_metadata,
    fill_checksum,
    parse_xml,
    stated_checksum,
)

# --------------------------------------------------------------------------- published and worked values


def test_published_vector_61491() -> None:
    assert checksum_of(2000, 4, 18, [Decimal(3)], Decimal("389.97")) == 61491


def test_published_vector_35441_uses_the_total_before_settlement_discount() -> None:
    assert checksum_of(2002, 9, 27, [Decimal(1), Decimal(4)], Decimal("535.98")) == 35441
    # The same sample with the discounted (taxable) total gives 06441: the wrong reading of TotalValue.
    assert checksum_of(2002, 9, 27, [Decimal(1), Decimal(4)], Decimal("515.98")) == 6441


@pytest.mark.parametrize(
    ("file", "published"), [("valid/invoice-vector-61491.xml", 61491), ("valid/invoice-vector-35441.xml", 35441)]
)
def test_published_vectors_from_whole_documents(file: str, published: int) -> None:
    root = parse_xml(corpus_bytes(file))
    assert compute_checksum(root) == published
    assert stated_checksum(root) == published


def test_worked_illustration_49551() -> None:
    """Order of 2010-09-15, lines 1 x 3 and 2 x 10, GoodsValue 123.45: F1 2044, F2 660.25 -> 1349551."""
    root = parse_xml(build_document("order", "2010-09-15", ["3", "10"], "123.45"))
    assert compute_checksum(root) == 49551


def test_worked_illustration_11699_drops_the_sign_of_a_negative_product() -> None:
    """2024-03-01, 10 lines with sum(line x qty) = 600, GoodsValue 2500.00: F1 -2163, F2 12673."""
    quantities = ["50"] + ["0"] * 8 + ["55"]  # 1 x 50 + 10 x 55 = 600
    root = parse_xml(build_document("order", "2024-03-01", quantities, "2500.00"))
    assert compute_checksum(root) == 11699


def test_corpus_checksums_match_the_independent_reference() -> None:
    """The corpus generator states checksums computed by its own Fraction implementation."""
    for entry in manifest()["valid"]:
        root = parse_xml(corpus_bytes(entry["file"]))
        assert compute_checksum(root) == entry["checksum"] == stated_checksum(root), entry["file"]


def test_order_without_goods_value_sums_the_lines_net_values() -> None:
    root = parse_xml(corpus_bytes("valid/content-order-minimal.xml"))
    # 2026-11-04, lines 30 and 15, NetLineTotal 26.70 + 18.75 = 45.45
    expected = reference_checksum(2026, 11, 4, [Fraction(30), Fraction(15)], Fraction("45.45"))
    assert compute_checksum(root) == expected
    assert extract_metadata(root).total_value == Decimal("45.45")


def test_date_part_of_a_datetime_is_used() -> None:
    plain = parse_xml(build_document("order", "2026-11-03", ["2"], "10.00"))
    timed = parse_xml(build_document("order", "2026-11-03T23:59:59", ["2"], "10.00"))
    assert compute_checksum(plain) == compute_checksum(timed)


def test_a_document_without_a_readable_date_has_no_checksum() -> None:
    root = parse_xml(build_document("order", "next tuesday", ["2"], "10.00"))
    with pytest.raises(ChecksumUnavailable, match="OrderDate is 'next tuesday'"):
        compute_checksum(root)
    assert extract_metadata(root).checksum_expected is None


def test_stated_checksum_reads_leading_zeros_and_ignores_junk() -> None:
    assert stated_checksum(parse_xml(build_document("order", "2026-11-03", ["1"], "1", checksum="02112"))) == 2112
    assert stated_checksum(parse_xml(build_document("order", "2026-11-03", ["1"], "1", checksum=""))) is None
    assert stated_checksum(parse_xml(build_document("order", "2026-11-03", ["1"], "1", checksum="12.5"))) is None


# --------------------------------------------------------------------------- properties (hypothesis)

money = st.decimals(min_value=Decimal("-99999999.99"), max_value=Decimal("99999999.99"), places=2)
quantity = st.decimals(min_value=Decimal("-1000"), max_value=Decimal("1000000"), places=3)
date = st.dates(min_value=datetime.date(1900, 1, 1), max_value=datetime.date(2199, 12, 31))


@settings(max_examples=150, deadline=None)
@given(
    kind=st.sampled_from(["order", "invoice"]),
    day=date,
    quantities=st.lists(quantity, min_size=1, max_size=30),
    total=money,
)
def test_checksum_equals_a_plain_big_integer_reference(kind, day, quantities, total) -> None:
    xml = build_document(kind, day.isoformat(), [f"{q}" for q in quantities], f"{total}")
    expected = reference_checksum(day.year, day.month, day.day, [Fraction(q) for q in quantities], Fraction(total))
    assert compute_checksum(parse_xml(xml)) == expected


def _spellings(value: int) -> st.SearchStrategy[str]:
    """Ways XML Schema lets a supplier write the same number."""
    text = str(value)
    return st.sampled_from(
        [
            text,
            f"{text}.0",
            f"{text}.000",
            f"+{text}" if value >= 0 else text,
            f"0{text}" if value >= 0 else text,
            f" {text} ",
        ]
    )


@settings(max_examples=100, deadline=None)
@given(
    data=st.data(),
    day=date,
    quantities=st.lists(st.integers(min_value=0, max_value=10**6), min_size=1, max_size=20),
    pence=st.integers(min_value=0, max_value=10**10),
)
def test_checksum_does_not_depend_on_how_numbers_are_written(data, day, quantities, pence) -> None:
    plain = build_document("order", day.isoformat(), [str(q) for q in quantities], f"{Decimal(pence) / 100}")
    spelled_quantities = [data.draw(_spellings(q)) for q in quantities]
    total = Decimal(pence) / 100
    spelled_total = data.draw(st.sampled_from([f"{total}", f"{total:.3f}", f"{total:.5f}", f"0{total}"]))
    spelled = build_document("order", day.isoformat(), spelled_quantities, spelled_total)
    assert compute_checksum(parse_xml(spelled)) == compute_checksum(parse_xml(plain))


@settings(max_examples=100, deadline=None)
@given(
    day=date,
    quantities=st.lists(st.integers(min_value=10**9, max_value=10**15), min_size=5, max_size=50),
    total=st.integers(min_value=10**10, max_value=10**14),
)
def test_products_far_beyond_64_bits_are_exact(day, quantities, total) -> None:
    fractions = [Fraction(q) for q in quantities]
    lines_total = sum(i * q for i, q in enumerate(fractions, 1))
    product = abs((day.year + 13 * day.day - 7 * lines_total) * (day.month + 17 * len(quantities) + 5 * total))
    assert product > 2**63  # the case an int32 or int64 implementation gets wrong
    xml = build_document("invoice", day.isoformat(), [str(q) for q in quantities], f"{total}.00")
    assert compute_checksum(parse_xml(xml)) == reference_checksum(
        day.year, day.month, day.day, fractions, Fraction(total)
    )


def test_the_fms_int64_example() -> None:
    """Part 2 section 3.4: sum 505 000 and 50 000 pounds of goods give ~8.8e11, past 2^31."""
    quantities = [Fraction(505_000)]
    expected = reference_checksum(2026, 11, 3, quantities, Fraction(50_000))
    assert abs((2026 + 13 * 3 - 7 * 505_000) * (11 + 17 + 5 * 50_000)) > 2**31
    assert checksum_of(2026, 11, 3, [Decimal(505_000)], Decimal(50_000)) == expected


# --------------------------------------------------------------------------- fill_checksum

CONTENT_ORDER = "valid/content-order-full.xml"


def _single_edit(before: bytes, after: bytes) -> tuple[bytes, bytes]:
    """(removed, inserted): the one contiguous region where two byte strings differ."""
    prefix = 0
    while prefix < min(len(before), len(after)) and before[prefix] == after[prefix]:
        prefix += 1
    suffix = 0
    while (
        suffix < min(len(before), len(after)) - prefix
        and before[len(before) - 1 - suffix] == after[len(after) - 1 - suffix]
    ):
        suffix += 1
    return before[prefix : len(before) - suffix], after[prefix : len(after) - suffix]


def _expected_checksum() -> int:
    return next(e["checksum"] for e in manifest()["valid"] if e["file"] == CONTENT_ORDER)


def test_fill_replaces_a_wrong_value_and_nothing_else() -> None:
    right = corpus_bytes(CONTENT_ORDER)
    wrong = right.replace(b"<Checksum>%d</Checksum>" % _expected_checksum(), b"<Checksum>0</Checksum>")
    filled = fill_checksum(wrong)
    assert filled == right
    assert _single_edit(wrong, filled) == (b"0", str(_expected_checksum()).encode())


def test_fill_leaves_a_right_document_byte_for_byte() -> None:
    right = corpus_bytes(CONTENT_ORDER)
    assert fill_checksum(right) == right


def test_fill_inserts_a_missing_checksum_as_the_heads_last_child_indented_like_its_siblings() -> None:
    right = corpus_bytes(CONTENT_ORDER)
    line = b"\n    <Checksum>%d</Checksum>" % _expected_checksum()
    missing = right.replace(line, b"")
    filled = fill_checksum(missing)
    assert filled == right
    removed, inserted = _single_edit(missing, filled)
    assert removed == b"" and len(inserted) == len(line)  # a pure insertion; where exactly is ambiguous


@pytest.mark.parametrize("empty", [b"<Checksum/>", b"<Checksum />", b"<Checksum></Checksum>"])
def test_fill_opens_an_empty_checksum(empty: bytes) -> None:
    right = corpus_bytes(CONTENT_ORDER)
    holder = right.replace(b"<Checksum>%d</Checksum>" % _expected_checksum(), empty)
    assert fill_checksum(holder) == right


def test_fill_keeps_crlf_line_endings_and_latin1_bytes() -> None:
    text = corpus_bytes(CONTENT_ORDER).decode().replace("\n", "\r\n")
    text = text.replace('encoding="UTF-8"', 'encoding="ISO-8859-1"').replace("Early readers", "Early readers £")
    right = text.encode("iso-8859-1")
    line = b"\r\n    <Checksum>%d</Checksum>" % _expected_checksum()
    missing = right.replace(line, b"")
    filled = fill_checksum(missing)
    assert filled == right


def test_fill_writes_the_prefix_the_document_uses() -> None:
    text = corpus_bytes(CONTENT_ORDER).decode()
    body = re.sub(r"<(/?)(?=[A-Z])", r"<\1o:", text).replace('xmlns="urn:', 'xmlns:o="urn:')
    right = body.encode()
    missing = right.replace(b"\n    <o:Checksum>%d</o:Checksum>" % _expected_checksum(), b"")
    assert missing != right
    assert fill_checksum(missing) == right


def test_fill_ignores_a_checksum_inside_a_comment() -> None:
    right = corpus_bytes(CONTENT_ORDER)
    decoy = right.replace(b"    <OrderType", b"    <!-- <Checksum>1</Checksum> -->\n    <OrderType")
    wrong = decoy.replace(b"<Checksum>%d</Checksum>" % _expected_checksum(), b"<Checksum>7</Checksum>")
    filled = fill_checksum(wrong)
    assert filled == decoy
    assert b"<!-- <Checksum>1</Checksum> -->" in filled


def test_filled_content_order_passes_the_checksum_rules() -> None:
    missing = corpus_bytes("rules/content-order/checksum.missing.xml")
    report = check_content_document(parse_xml(fill_checksum(missing)), requested_type="order")
    assert report.accepted and report.findings == []


def test_fill_refuses_what_parse_refuses_and_utf16() -> None:
    with pytest.raises(XmlRejected, match="DTD"):
        fill_checksum(b'<!DOCTYPE Order [<!ENTITY x "y">]><Order/>')
    utf16 = corpus_bytes(CONTENT_ORDER).decode().replace('encoding="UTF-8"', 'encoding="UTF-16"').encode("utf-16")
    with pytest.raises(XmlRejected, match="ASCII-compatible"):
        fill_checksum(utf16.replace("<Checksum>".encode("utf-16")[2:], "<Checksum>1".encode("utf-16")[2:]))
