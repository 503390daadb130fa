"""Intake: documents enter here from the portal (queue) and from FMS (SendOrder).

inspect (one parse) -> [fill the checksum] -> route by the DUNS handshake -> check against the
account -> store. Every step before 'store' can refuse the document, and a refused document leaves
nothing behind.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from eproc import ebis
from eproc.services.authentication import USERNAME_PATTERN, Principal, require_confirmed
from eproc.services.errors import Conflict, DuplicateDocument, InvalidDocument, InvalidInput, NoMatchingAccount
from eproc.services.events import EventType, emit
from eproc.services.hub import Hub
from eproc.store.models import Account, Document, ReceivedOrder
from eproc.store.unit_of_work import UnitOfWork

REVISION_ATTEMPTS = 5


@dataclass(frozen=True)
class QueuedDocument:
    doc_id: str
    doc_type: str
    username: str
    report: ebis.ValidationReport | None
    # True when the same document was already pending (or the Idempotency-Key already used):
    # nothing new was stored and ``doc_id`` is the existing one.
    duplicate: bool = False
    # What was stored for a new document (the portal API answers with it without reading it back).
    number: str | None = None
    queued_at: datetime | None = None
    expires_at: datetime | None = None


@dataclass(frozen=True)
class ReceivedOrderReceipt:
    order_id: int
    order_number: str
    revision: int
    duplicate: bool


def new_doc_id(doc_type: str) -> str:
    """``ORD-`` + 120 random bits in base32: unguessable, no spaces, well under 100 characters."""
    token = base64.b32encode(secrets.token_bytes(15)).decode("ascii")
    return f"{ebis.DOCUMENT_TYPES[doc_type].prefix}-{token}"


def expectations_of(account: Account) -> ebis.AccountExpectations:
    return ebis.AccountExpectations(
        buyer_duns=account.buyer_duns,
        supplier_duns=account.supplier_duns,
        language=account.language,
        currency=account.currency,
    )


def check_requested_type(requested_type: str | None) -> None:
    if requested_type is not None and requested_type not in ebis.DOCUMENT_TYPES:
        choices = ", ".join(ebis.DOCUMENT_TYPES)
        raise InvalidInput(f"unknown document type {requested_type!r}: use one of {choices}")


def refuse(report: ebis.ValidationReport) -> InvalidDocument:
    return InvalidDocument(report.first_problem(), report)


def inspect(hub: Hub, data: bytes | str) -> ebis.Inspection:
    """Inspect (parse once, safely, within the configured size limit)."""
    return ebis.inspect(data, max_bytes=hub.settings.max_request_bytes)


def queue_document(
    hub: Hub,
    data: bytes,
    *,
    username: str | None = None,
    requested_type: str | None = None,
    fill_checksum: bool = False,
    idempotency_key: str | None = None,
    scope: frozenset[int] | None = None,
) -> QueuedDocument:
    """Queue a document for a school's FMS to collect.

    The document is routed by the DUNS handshake (its buyer and supplier DUNS name the account);
    ``username``, when given, must agree. A document with any error is refused with its report.
    The same bytes still pending for the account are not stored twice (the pending one is
    returned, ``duplicate``); another document with the same number still pending is a
    :class:`DuplicateDocument` until that one is withdrawn. ``scope`` limits the accounts the
    caller may queue for (an account-limited API token).
    """
    check_requested_type(requested_type)
    inspection = inspect(hub, data)
    check = _checker(hub, inspection, requested_type)
    if inspection.rejection is not None:
        raise InvalidDocument(inspection.rejection.message, check(None))
    if fill_checksum:
        inspection = _fill_missing_checksum(hub, inspection)
        check = _checker(hub, inspection, requested_type)
    quote = requested_type == "quote"
    if quote:
        assert inspection.root is not None
        duns = ebis.quote_duns(inspection.root)
        if not all(duns):
            raise InvalidDocument(
                "a quote must carry its buyer's and supplier's DUNS where an Order does "
                "(Buyer/BuyerReferences/DUNS and Supplier/SupplierReferences/DUNS): FMS takes only "
                "documents whose DUNS pair names the school"
            )
    else:
        if inspection.metadata is None or inspection.doc_type is None:
            # Not an eBIS Order or Invoice at all (or an Invoice whose type code is neither INV nor
            # CRN): the report names what was found and what is expected.
            raise refuse(check(None))
        if not (inspection.metadata.buyer_duns and inspection.metadata.supplier_duns):
            # Nothing to route by: the account-independent report says what is missing.
            raise refuse(check(None))
    doc_type = "quote" if quote else inspection.doc_type
    assert doc_type is not None
    metadata = None if quote else inspection.metadata
    if metadata is not None:
        duns = (metadata.buyer_duns, metadata.supplier_duns)
    now = hub.now()
    sha256 = hashlib.sha256(inspection.data).hexdigest()
    with hub.unit_of_work() as uow:
        try:
            account = _route(uow, duns, username)
        except InvalidDocument as exc:
            # Say why in the document's own terms where it has errors (a DUNS of 8 digits), and
            # carry its findings with the routing error either way.
            report = None if quote else check(None)
            if report is not None and not report.accepted:
                raise refuse(report) from None
            exc.report = report
            raise
        if scope is not None and account.id not in scope:
            raise NoMatchingAccount("this token may not queue documents for that school's account")
        report = None
        if not quote:
            report = check(expectations_of(account))
            if not report.accepted:
                raise refuse(report)
        # One queueing per school at a time, so two identical documents sent at once are stored once.
        uow.accounts.hold(account.id)
        earlier = _earlier(uow, account.id, sha256, metadata, idempotency_key, now)
        if earlier is not None:
            return QueuedDocument(earlier.doc_id, earlier.doc_type, account.username, report, duplicate=True)
        doc_id = new_doc_id(doc_type)
        uow.documents.add(
            Document(
                doc_id=doc_id,
                account_id=account.id,
                doc_type=doc_type,
                xml=inspection.data,
                sha256=sha256,
                idempotency_key=idempotency_key,
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
        )
        emit(uow, EventType.DOCUMENT_QUEUED, now, account_id=account.id, doc_id=doc_id, detail=doc_type,
             data={"type": doc_type, "number": metadata.document_number if metadata else None})
        uow.commit()
        return QueuedDocument(
            doc_id, doc_type, account.username, report, number=metadata.document_number if metadata else None,
            queued_at=now, expires_at=now + timedelta(days=hub.settings.expiry_days),
        )


def _earlier(
    uow: UnitOfWork,
    account_id: int,
    sha256: str,
    metadata: ebis.DocumentMetadata | None,
    idempotency_key: str | None,
    now: datetime,
) -> Document | None:
    """The pending document this one repeats (stored once), or :class:`DuplicateDocument`."""
    if idempotency_key is not None:
        keyed = uow.documents.by_idempotency_key(account_id, idempotency_key)
        if keyed is not None:
            if keyed.sha256 != sha256:
                raise DuplicateDocument(
                    f"Idempotency-Key {idempotency_key!r} was used for document {keyed.doc_id} with other content",
                    keyed.doc_id,
                )
            return keyed
    for pending in uow.documents.pending_with(account_id, now, sha256=sha256):
        return pending
    number = metadata.document_number if metadata else None
    for pending in uow.documents.pending_with(account_id, now, number=number) if number else ():
        raise DuplicateDocument(
            f"document number {number} is already pending for this school as {pending.doc_id} with other "
            f"content; withdraw {pending.doc_id} first to replace it",
            pending.doc_id,
        )
    return None


Check = Callable[[ebis.AccountExpectations | None], ebis.ValidationReport]


def _checker(hub: Hub, inspection: ebis.Inspection, requested_type: str | None) -> Check:
    """The document's check, with or without the account's expectations (routing comes between)."""

    def check(expectations: ebis.AccountExpectations | None) -> ebis.ValidationReport:
        return ebis.check_content(
            inspection, requested_type=requested_type, expectations=expectations, registry=hub.schemas
        )

    return check


def _fill_missing_checksum(hub: Hub, inspection: ebis.Inspection) -> ebis.Inspection:
    """Write the checksum only where the portal left it out (absent or 0); a wrong one stays wrong
    so that the check reports it rather than hiding a bug in the portal's own calculation."""
    if inspection.document is not None:
        state, stated = ebis.read_stated(inspection.document)
        if state == "present" and stated != 0:
            return inspection
    try:
        return ebis.fill_checksum_of(inspection, max_bytes=hub.settings.max_request_bytes)
    except (ebis.XmlRejected, ebis.ChecksumUnavailable) as exc:
        raise InvalidDocument(f"cannot fill in the checksum: {exc}") from None


def _route(uow: UnitOfWork, duns: tuple[str | None, str | None], username: str | None) -> Account:
    """The DUNS handshake: the document's buyer and supplier DUNS name exactly one account."""
    named = None
    if username and USERNAME_PATTERN.fullmatch(username):
        named = uow.accounts.by_username(username)
    if username and named is None:
        raise InvalidDocument(f"no account named {username!r}")
    buyer, supplier = duns
    candidates = list(uow.accounts.by_duns(buyer, supplier)) if buyer and supplier else []
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
    order number, other content) becomes the next revision. The bytes stored are the ones parsed:
    the characters FMS sent, as UTF-8, with a declaration that says so.
    """
    require_confirmed(principal)
    if not document:
        raise InvalidDocument("the Document element is empty: send the Authorised Order XML")
    inspection = inspect(hub, document)
    if inspection.rejection is not None:
        raise InvalidDocument(inspection.rejection.message)
    with hub.unit_of_work() as uow:
        account = uow.accounts.by_id(principal.account_id)
        if account is None:
            raise InvalidDocument("the calling account no longer exists")
        expectations = expectations_of(account)
    report = ebis.check_authorised_order(inspection, expectations=expectations, registry=hub.schemas)
    if not report.accepted:
        raise refuse(report)
    # FMS numbers the orders it sends: BuyersOrderNumber identifies an order across re-sends.
    metadata = report.metadata
    order_number = (metadata.buyers_order_number or metadata.document_number) if metadata else None
    if not order_number:
        raise InvalidDocument("/Order/OrderReferences/BuyersOrderNumber: the order has no order number")
    data = inspection.data
    sha256 = hashlib.sha256(data).hexdigest()
    for _ in range(REVISION_ATTEMPTS):
        try:
            return _store_order(hub, principal, order_number, data, sha256, report)
        except Conflict:
            # Another worker stored this order (or took this revision number) first: look again.
            continue
    raise RuntimeError(f"could not store order {order_number} after {REVISION_ATTEMPTS} attempts")


def _store_order(
    hub: Hub, principal: Principal, order_number: str, data: bytes, sha256: str, report: ebis.ValidationReport
) -> ReceivedOrderReceipt:
    now = hub.now()
    account_id = principal.account_id
    with hub.unit_of_work() as uow:
        # One SendOrder at a time per school (a row lock on PostgreSQL): concurrent re-sends and
        # amendments then find each other's rows instead of racing for revision numbers.
        uow.accounts.hold(account_id)
        existing = uow.orders.with_hash(account_id, order_number, sha256)
        if existing is not None:
            emit(uow, EventType.ORDER_DUPLICATE, now, account_id=account_id, order_id=existing.id,
                 subject=order_number)
            uow.commit()
            return ReceivedOrderReceipt(existing.id, order_number, existing.revision, True)
        revision = uow.orders.latest_revision(account_id, order_number) + 1
        order = ReceivedOrder(
            account_id=account_id,
            xml=data,
            sha256=sha256,
            order_number=order_number,
            revision=revision,
            report_json=report.to_json(),
            received_at=now,
        )
        uow.orders.add(order)
        emit(uow, EventType.ORDER_RECEIVED, now, account_id=account_id, order_id=order.id, subject=order_number,
             detail=f"revision {revision}", data={"orderNumber": order_number, "revision": revision})
        uow.commit()
        return ReceivedOrderReceipt(order.id, order_number, revision, False)
