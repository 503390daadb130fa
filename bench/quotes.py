"""Quotes for the benchmarks: no schema, but the DUNS handshake where an Order carries it."""

from __future__ import annotations


def quote(body: bytes | str = b"", buyer_duns: str = "123456789", supplier_duns: str = "987654321") -> bytes:
    inner = body.encode() if isinstance(body, str) else body
    return (
        f"<Quote><Buyer><BuyerReferences><DUNS>{buyer_duns}</DUNS></BuyerReferences></Buyer>"
        f"<Supplier><SupplierReferences><DUNS>{supplier_duns}</DUNS></SupplierReferences></Supplier>"
    ).encode() + inner + b"</Quote>"
