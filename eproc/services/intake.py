"""Intake: documents enter here from the portal (queue) and from FMS (SendOrder).

parse -> validate -> handshake -> store. Every step before 'store' can refuse the document, and a
refused document leaves nothing behind.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.exc import IntegrityError

from eproc import ebis
from eproc.ebis.parsing import XmlRejected, parse_xml
from eproc.services.accounts import USERNAME_PATTERN, Principal
from eproc.services.clock import utcnow
from eproc.services.errors import InvalidDocument, NoMatchingAccount
from eproc.services.hub import Hub
from eproc.store import repositories as repo
from eproc.store.models import DOCUMENT_TYPES, Account, Document, ReceivedOrder

DOC_ID_PREFIX = {"order": "ORD", "invoice": "INV", "creditnote": "CRN", "quote": "QUO"}
REVISION_ATTEMPTS = 5


@dataclass(frozen=True)
class QueuedDocument:
    doc_id: str
    doc_type: str
    username: str
    report: ebis.ValidationReport | None


@dataclass(frozen=True)
class ReceivedOrderReceipt:
    order_id: int
    order_number: str
    revision: int
    duplicate: bool


def new_doc_id(doc_type: str) -> str:
    """``ORD-`` + 120 random bits in base32: unguessable, no spaces, well under 100 characters."""
    token = base64.b32encode(secrets.token_bytes(15)).decode("ascii")
    return f"{DOC_ID_PREFIX[doc_type]}-{token}"


def _expectations(account: Account) -> ebis.AccountExpectations:
    return ebis.AccountExpectations(
        buyer_duns=account.buyer_duns,
        supplier_duns=account.supplier_duns,
        language=account.language,
        currency=account.currency,
    )


def _parse(hub: Hub, data: bytes | str):  # type: ignore[no-untyped-def]
    try:
        return parse_xml(data, max_bytes=hub.settings.max_request_bytes)
    except XmlRejected as exc:
        raise InvalidDocument(str(exc)) from None


def queue_document(
    hub: Hub,
    data: bytes,
    *,
    username: str | None = None,
    requested_type: str | None = None,
    fill_checksum: bool = False,
) -> QueuedDocument:
    """Queue a document for a school's FMS to collect.

    The document is routed by the DUNS handshake (its buyer and supplier DUNS name the account);
    ``username``, when given, must agree. A document with any error is refused with its report.
    """
    if requested_type is not None and requested_type not in DOCUMENT_TYPES:
        raise InvalidDocument(f"unknown document type {requested_type!r}: use one of {', '.join(DOCUMENT_TYPES)}")
    if fill_checksum:
        data = _fill_missing_checksum(hub, data)
    root = _parse(hub, data)
    metadata: ebis.DocumentMetadata | None = None
    if requested_type == "quote":
        doc_type = "quote"
    else:
        try:
            doc_type = requested_type or ebis.identify(root)
            metadata = ebis.extract_metadata(root)
        except XmlRejected:
            # Not an eBIS Order or Invoice at all: the report names what was found and what is expected.
            report = ebis.check_content_document(root, requested_type=requested_type)
            raise InvalidDocument(report.first_problem(), report) from None
        if not (metadata.buyer_duns and metadata.supplier_duns):
            # Nothing to route by: the account-independent report says what is missing.
            report = ebis.check_content_document(root, requested_type=doc_type)
            raise InvalidDocument(report.first_problem(), report)

    now = utcnow()
    with hub.uow.begin() as session:
        account = _route(session, metadata, username)
        report = None
        if metadata is not None:
            report = ebis.check_content_document(root, requested_type=doc_type, expectations=_expectations(account))
            if not report.accepted:
                raise InvalidDocument(report.first_problem(), report)
            metadata = report.metadata or metadata
        doc_id = new_doc_id(doc_type)
        document = Document(
            doc_id=doc_id,
            account_id=account.id,
            doc_type=doc_type,
            xml=data,
            sha256=hashlib.sha256(data).hexdigest(),
            document_number=metadata.document_number if metadata else None,
            document_date=metadata.document_date if metadata else None,
            buyer_duns=metadata.buyer_duns if metadata else None,
            supplier_duns=metadata.supplier_duns if metadata else None,
            line_count=metadata.line_count if metadata else None,
            total_value=metadata.total_value if metadata else None,
            report_json=report.to_json() if report else None,
            created_at=now,
            processed=False,
            collect_count=0,
            expires_at=now + timedelta(days=hub.settings.expiry_days),
        )
        repo.add(session, document)
        repo.record_event(session, "queued", now, account.id, doc_id, doc_type)
        return QueuedDocument(doc_id, doc_type, account.username, report)


def _fill_missing_checksum(hub: Hub, data: bytes) -> bytes:
    """Write the checksum only where the portal left it out (absent or 0); a wrong one stays wrong
    so that the check below reports it rather than hiding a bug in the portal's own calculation."""
    root = _parse(hub, data)
    try:
        if ebis.stated_checksum(root) not in (None, 0):
            return data
        return ebis.fill_checksum(data, max_bytes=hub.settings.max_request_bytes)
    except (XmlRejected, ebis.ChecksumUnavailable) as exc:
        raise InvalidDocument(f"cannot fill in the checksum: {exc}") from None


def _route(session, metadata, username: str | None) -> Account:  # type: ignore[no-untyped-def]
    """The DUNS handshake: the document's buyer and supplier DUNS name exactly one account."""
    named = None
    if username and USERNAME_PATTERN.fullmatch(username):
        named = repo.account_by_username(session, username)
    if username and named is None:
        raise InvalidDocument(f"no account named {username!r}")
    if metadata is None:
        if named is None:
            raise InvalidDocument("a quote has no DUNS to route by: name the account")
        return named
    buyer, supplier = metadata.buyer_duns, metadata.supplier_duns
    candidates = list(repo.accounts_by_duns(session, buyer, supplier)) if buyer and supplier else []
    if named is not None:
        if named.id not in {a.id for a in candidates}:
            raise InvalidDocument(
                f"the document's buyer DUNS {buyer} and supplier DUNS {supplier} do not match account "
                f"{named.username!r} (buyer DUNS {named.buyer_duns}, supplier DUNS {named.supplier_duns})"
            )
        return named
    if not candidates:
        raise NoMatchingAccount(f"no account has buyer DUNS {buyer} and supplier DUNS {supplier}")
    if len(candidates) > 1:
        names = ", ".join(a.username for a in candidates)
        raise InvalidDocument(
            f"buyer DUNS {buyer} and supplier DUNS {supplier} match several accounts ({names}): name one"
        )
    return candidates[0]


def receive_order(hub: Hub, principal: Principal, document: str) -> ReceivedOrderReceipt:
    """SendOrder: check an Authorised Order against the caller's account and store it once.

    FMS retries, so an identical re-send returns the original receipt; an amended re-send (same
    order number, other content) becomes the next revision.
    """
    data = document.encode("utf-8")
    root = _parse(hub, document)
    with hub.uow.begin() as session:
        account = repo.account_by_id(session, principal.account_id)
        expectations = _expectations(account)  # type: ignore[arg-type]
    report = ebis.check_authorised_order(root, expectations=expectations)
    if not report.accepted:
        raise InvalidDocument(report.first_problem(), report)
    # FMS numbers the orders it sends: BuyersOrderNumber identifies an order across re-sends.
    metadata = report.metadata
    order_number = (metadata.buyers_order_number or metadata.document_number) if metadata else None
    if not order_number:
        raise InvalidDocument("/Order/OrderReferences/BuyersOrderNumber: the order has no order number")
    sha256 = hashlib.sha256(data).hexdigest()
    for _ in range(REVISION_ATTEMPTS):
        now = utcnow()
        try:
            with hub.uow.begin() as session:
                # One SendOrder at a time per school (a row lock on PostgreSQL): concurrent re-sends
                # and amendments then find each other's rows instead of racing for revision numbers.
                repo.lock_account(session, principal.account_id)
                existing = repo.order_with_hash(session, principal.account_id, order_number, sha256)
                if existing is not None:
                    repo.record_event(session, "order_duplicate", now, principal.account_id, order_number)
                    return ReceivedOrderReceipt(existing.id, order_number, existing.revision, True)
                revision = repo.latest_revision(session, principal.account_id, order_number) + 1
                order = ReceivedOrder(
                    account_id=principal.account_id,
                    xml=data,
                    sha256=sha256,
                    order_number=order_number,
                    revision=revision,
                    report_json=report.to_json(),
                    received_at=now,
                )
                repo.add(session, order)
                repo.record_event(
                    session, "order_received", now, principal.account_id, order_number, f"revision {revision}"
                )
                return ReceivedOrderReceipt(order.id, order_number, revision, False)
        except IntegrityError:
            # Another worker stored this order (or took this revision number) first: look again.
            continue
    raise RuntimeError(f"could not store order {order_number} after {REVISION_ATTEMPTS} attempts")
