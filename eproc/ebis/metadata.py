"""What kind of document this is, and the facts intake stores beside it (never re-parsed later)."""

from __future__ import annotations

from lxml import etree

from .checksum import ChecksumResult, evaluate_checksum, read_stated
from .document import EbisDocument
from .names import INVOICE_TYPE_CODES, DocType
from .parsing import XmlRejected
from .report import DocumentMetadata
from .values import parse_decimal


def stated_invoice_type_code(document: EbisDocument) -> str | None:
    """``InvoiceHead/InvoiceType/@Code`` as written (``None`` when absent)."""
    element = document.find("InvoiceHead/InvoiceType")
    return None if element is None else element.get("Code")


def document_type_of(document: EbisDocument) -> DocType | None:
    """order / invoice / creditnote; ``None`` for an Invoice whose type code is neither INV nor CRN."""
    if document.family == "order":
        return "order"
    code = stated_invoice_type_code(document)
    return INVOICE_TYPE_CODES.get((code or "").strip().upper())


def identify(root: etree._Element) -> DocType:
    """``order`` for an Order; ``invoice`` / ``creditnote`` for an Invoice by its InvoiceType code (any case).

    Raises :class:`XmlRejected` for any other root, and for an Invoice whose type code is neither
    INV nor CRN, saying what was found.
    """
    document = EbisDocument(root)
    doc_type = document_type_of(document)
    if doc_type is None:
        code = stated_invoice_type_code(document)
        found = "has no Code attribute" if code is None else f"has Code '{code}'"
        raise XmlRejected(
            f"the Invoice's InvoiceHead/InvoiceType {found}; eproc reads INV (invoice) or CRN (credit note)"
        )
    return doc_type


def extract_metadata(root: etree._Element) -> DocumentMetadata:
    """Type, number, date, both DUNS, line count, totals and checksums of an Order or Invoice root."""
    document = EbisDocument(root)
    return metadata_of(document, document_type_of(document))


def metadata_of(
    document: EbisDocument, doc_type: DocType | None, checksum: ChecksumResult | None = None
) -> DocumentMetadata:
    """Metadata of an already-wrapped document; pass ``checksum`` when the caller has worked it out."""
    head, references, total = document.head_name, document.references_name, document.total_name
    if checksum is None:
        checksum = evaluate_checksum(document)
    inputs = checksum.inputs
    if document.family == "order":
        number = document.value(f"{references}/BuyersOrderNumber") or document.value(
            f"{references}/SuppliersOrderReference"
        )
        gross_path = f"{total}/GrossValue"
    else:
        number = document.value(f"{references}/SuppliersInvoiceNumber")
        gross_path = f"{total}/GrossPaymentTotal"
    currency = document.find(f"{head}/{document.currency_name}/Currency")
    return DocumentMetadata(
        doc_type=doc_type,
        document_number=number,
        document_date=document.value(document.date_name),
        buyer_duns=document.value("Buyer/BuyerReferences/DUNS"),
        supplier_duns=document.value("Supplier/SupplierReferences/DUNS"),
        line_count=len(document.lines),
        total_value=inputs.total_value if inputs is not None else None,
        checksum_stated=read_stated(document)[1],
        checksum_expected=checksum.expected,
        language=document.value(f"{head}/Parameters/Language"),
        currency=currency.get("Code") if currency is not None else None,
        schema_version=document.value(f"{head}/Schema/Version"),
        buyers_order_number=document.value(f"{references}/BuyersOrderNumber"),
        tax_total=parse_decimal(document.value(f"{total}/TaxTotal")),
        gross_total=parse_decimal(document.value(gross_path)),
    )


def quote_duns(root: etree._Element) -> tuple[str | None, str | None]:
    """A quote's buyer and supplier DUNS, read where an Order carries them
    (``Buyer/BuyerReferences/DUNS``, ``Supplier/SupplierReferences/DUNS``, in whatever namespace):
    no eBIS schema exists for quotes, but the DUNS handshake still decides whose they are
    (docs/ebis-decisions.md)."""

    def leaf(*names: str) -> str | None:
        element: etree._Element | None = root
        for name in names:
            element = next(
                (child for child in element if isinstance(child.tag, str) and etree.QName(child).localname == name),
                None,
            ) if element is not None else None
        text = " ".join((element.text or "").split()) if element is not None else ""
        return text or None

    return leaf("Buyer", "BuyerReferences", "DUNS"), leaf("Supplier", "SupplierReferences", "DUNS")
