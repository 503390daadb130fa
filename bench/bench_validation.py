"""Accepted documents per second through eproc's whole intake check, beside a bare lxml gate.

    python -m bench.bench_validation [--seconds 0.5] [--rounds 5]

For 10, 100 and 1,000-line orders and invoices (built from the corpus's realistic examples), one
run measures:

* whole check: ``check_document`` = safe parse + schema gate + checksum + metadata + every
  FMS-readiness rule, with the account's expectations, as intake runs it;
* bare lxml: ``etree.fromstring`` + ``XMLSchema.validate`` of the same bytes with the same
  compiled schema.

and prints documents per second for both and their ratio (target: <= 2x at 100 lines). Each
figure is the best of several rounds, the two measurements interleaved so that drift hits both.
"""

from __future__ import annotations

import argparse
import platform
import re
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

from lxml import etree

from eproc.ebis import AccountExpectations, check_document, default_registry, fill_checksum

CORPUS = Path(__file__).resolve().parents[1] / "tests" / "data" / "ebis" / "valid"
ACCOUNT = AccountExpectations(buyer_duns="123456789", supplier_duns="987654321")
LINE_NET, LINE_TAX = Decimal("75.80"), Decimal("15.16")


def _lines(template: str, name: str, count: int) -> str:
    block = re.search(rf"  <{name} .*?</{name}>\n", template, re.DOTALL)
    assert block is not None
    line = block.group(0)
    return "".join(
        re.sub(r"<LineNumber>\d+</LineNumber>", f"<LineNumber>{i}</LineNumber>", line) for i in range(1, count + 1)
    )


def build_order(count: int) -> bytes:
    """A Content Order of ``count`` lines like the first line of the corpus's full example."""
    template = (CORPUS / "content-order-full.xml").read_text()
    head = template[: template.index("  <OrderLine ")]
    goods, tax = LINE_NET * count, LINE_TAX * count
    tail = (
        "  <OrderTotal>\n"
        f"    <GoodsValue>{goods}</GoodsValue>\n    <TaxTotal>{tax}</TaxTotal>\n"
        f"    <GrossValue>{goods + tax}</GrossValue>\n  </OrderTotal>\n</Order>\n"
    )
    return fill_checksum((head + _lines(template, "OrderLine", count) + tail).encode())


def build_invoice(count: int) -> bytes:
    """An invoice of ``count`` standard-rated lines, totals consistent."""
    template = (CORPUS / "invoice-full.xml").read_text()
    head = template[: template.index("  <InvoiceLine ")]
    total, tax = LINE_NET * count, LINE_TAX * count
    tail = (
        '  <TaxSubTotal>\n    <TaxRate Code="S" Codelist="BASDA">20.00</TaxRate>\n'
        f"    <NumberOfLinesAtRate>{count}</NumberOfLinesAtRate>\n    <TotalValueAtRate>{total}</TotalValueAtRate>\n"
        f"    <TaxableValueAtRate>{total}</TaxableValueAtRate>\n    <TaxAtRate>{tax}</TaxAtRate>\n"
        f"    <NetPaymentAtRate>{total + tax}</NetPaymentAtRate>\n"
        f"    <GrossPaymentAtRate>{total + tax}</GrossPaymentAtRate>\n"
        '    <TaxCurrency>\n      <Currency Code="GBP">Sterling</Currency>\n    </TaxCurrency>\n  </TaxSubTotal>\n'
        f"  <InvoiceTotal>\n    <NumberOfLines>{count}</NumberOfLines>\n    <NumberOfTaxRates>1</NumberOfTaxRates>\n"
        f"    <LineValueTotal>{total}</LineValueTotal>\n    <TaxableTotal>{total}</TaxableTotal>\n"
        f"    <TaxTotal>{tax}</TaxTotal>\n    <NetPaymentTotal>{total + tax}</NetPaymentTotal>\n"
        f"    <GrossPaymentTotal>{total + tax}</GrossPaymentTotal>\n  </InvoiceTotal>\n</Invoice>\n"
    )
    lines = _lines(template, "InvoiceLine", count).replace("<NetLineTotal>24.98", "<NetLineTotal>75.80")
    return fill_checksum((head + lines + tail).encode())


def _rate(work: Callable[[], object], seconds: float) -> float:
    """Calls per second, timing whole batches sized to last about ``seconds``."""
    batch, elapsed = 1, 0.0
    while elapsed < seconds / 4:
        batch *= 2
        start = time.perf_counter()
        for _ in range(batch):
            work()
        elapsed = time.perf_counter() - start
    repeats = max(1, int(batch * seconds / elapsed))
    start = time.perf_counter()
    for _ in range(repeats):
        work()
    return repeats / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=0.5, help="time per measurement (default 0.5)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds; the best of each is reported (default 5)")
    options = parser.parse_args()

    registry = default_registry()
    registry.warm()
    bare_parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    print(
        f"eproc validation benchmark - Python {platform.python_version()}, lxml {etree.__version__}, "
        f"libxml2 {'.'.join(map(str, etree.LIBXML_VERSION))}, {options.rounds} rounds x {options.seconds}s"
    )
    print(f"{'document':<16}{'bytes':>10}{'whole check/s':>16}{'bare lxml/s':>14}{'ratio':>8}")
    for kind, build, family, requested in (
        ("order", build_order, "order", "order"),
        ("invoice", build_invoice, "invoice", "invoice"),
    ):
        gate = registry.gate(family)
        for count in (10, 100, 1000):
            data = build(count)
            report = check_document(data, requested_type=requested, expectations=ACCOUNT)
            if not report.accepted or report.findings:
                raise SystemExit(f"benchmark document not clean: {report.first_problem()}")

            def whole(data: bytes = data, requested: str = requested) -> object:
                return check_document(data, requested_type=requested, expectations=ACCOUNT)

            def bare(data: bytes = data, gate: etree.XMLSchema = gate) -> object:
                return gate.validate(etree.fromstring(data, bare_parser))

            whole_best = bare_best = 0.0
            for _ in range(options.rounds):
                whole_best = max(whole_best, _rate(whole, options.seconds))
                bare_best = max(bare_best, _rate(bare, options.seconds))
            label = f"{kind} {count} lines"
            print(f"{label:<16}{len(data):>10}{whole_best:>16.0f}{bare_best:>14.0f}{bare_best / whole_best:>7.2f}x")


if __name__ == "__main__":
    main()
