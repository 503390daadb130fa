"""What an admin looks at: the queue, received orders, the event log. Read-only views."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from eproc.services.errors import NotFound
from eproc.services.hub import Hub
from eproc.services.lockout import is_locked
from eproc.store.models import Document, ReceivedOrder
from eproc.store.unit_of_work import UnitOfWork


@dataclass(frozen=True)
class DocumentView:
    doc_id: str
    username: str
    doc_type: str
    document_number: str | None
    document_date: str | None
    buyer_duns: str | None
    supplier_duns: str | None
    line_count: int | None
    total_value: Decimal | None
    sha256: str
    created_at: datetime
    expires_at: datetime
    processed: bool
    processed_at: datetime | None
    collect_count: int
    first_collected_at: datetime | None
    last_collected_at: datetime | None
    # Filled only by show_document: a listing does not load the XML or the report.
    report_json: str | None = None
    xml: bytes | None = None


@dataclass(frozen=True)
class OrderView:
    id: int
    username: str
    order_number: str
    revision: int
    sha256: str
    received_at: datetime
    # Filled only by show_order: a listing does not load the XML.
    report_json: str | None = None
    xml: bytes | None = None


@dataclass(frozen=True)
class EventView:
    at: datetime
    type: str
    username: str | None
    subject: str | None
    detail: str | None


@dataclass(frozen=True)
class QueueStatus:
    """One school's queue at a glance, for an admin watching it."""

    username: str
    enabled: bool
    locked: bool
    waiting: int
    collected_not_processed: int
    expiring_soon: int
    processed: int
    orders: int


EXPIRING_SOON = timedelta(days=7)


def queue_depth(hub: Hub) -> tuple[int, int]:
    """Pending documents over every account: (never fetched, fetched but not processed)."""
    with hub.unit_of_work() as uow:
        return uow.documents.queue_depth(hub.now())


def queue_status(hub: Hub) -> list[QueueStatus]:
    """Every account's counts, in two grouped queries however many documents there are."""
    now = hub.now()
    with hub.unit_of_work() as uow:
        counts = uow.documents.queue_counts(now, now + EXPIRING_SOON)
        orders = uow.orders.counts()
        rows = []
        for account in uow.accounts.all():
            c = counts.get(account.id)
            rows.append(
                QueueStatus(
                    username=account.username,
                    enabled=account.enabled,
                    locked=is_locked(account.locked_until, now),
                    waiting=c.waiting if c else 0,
                    collected_not_processed=c.collected_not_processed if c else 0,
                    expiring_soon=c.expiring_soon if c else 0,
                    processed=c.processed if c else 0,
                    orders=orders.get(account.id, 0),
                )
            )
        return rows


def _account_id(uow: UnitOfWork, username: str | None) -> int | None:
    if username is None:
        return None
    account = uow.accounts.by_username(username)
    if account is None:
        raise NotFound(f"no account named {username!r}")
    return account.id


def _document_view(document: Document, username: str, full: bool = False) -> DocumentView:
    return DocumentView(
        doc_id=document.doc_id,
        username=username,
        doc_type=document.doc_type,
        document_number=document.document_number,
        document_date=document.document_date,
        buyer_duns=document.buyer_duns,
        supplier_duns=document.supplier_duns,
        line_count=document.line_count,
        total_value=document.total_value,
        sha256=document.sha256,
        created_at=document.created_at,
        expires_at=document.expires_at,
        processed=document.processed,
        processed_at=document.processed_at,
        collect_count=document.collect_count,
        first_collected_at=document.first_collected_at,
        last_collected_at=document.last_collected_at,
        report_json=document.report_json if full else None,
        xml=document.xml if full else None,
    )


def list_documents(hub: Hub, username: str | None = None, unprocessed_only: bool = False) -> list[DocumentView]:
    with hub.unit_of_work() as uow:
        names = uow.accounts.usernames()
        rows = uow.documents.listing(_account_id(uow, username), unprocessed_only)
        return [_document_view(d, names.get(d.account_id, "?")) for d in rows]


def show_document(hub: Hub, doc_id: str) -> DocumentView:
    with hub.unit_of_work() as uow:
        document = uow.documents.by_doc_id(doc_id)
        if document is None:
            raise NotFound(f"no document with DocID {doc_id!r}")
        return _document_view(document, uow.accounts.usernames().get(document.account_id, "?"), full=True)


def _order_view(order: ReceivedOrder, username: str, full: bool = False) -> OrderView:
    return OrderView(
        id=order.id,
        username=username,
        order_number=order.order_number,
        revision=order.revision,
        sha256=order.sha256,
        received_at=order.received_at,
        report_json=order.report_json if full else None,
        xml=order.xml if full else None,
    )


def list_orders(hub: Hub, username: str | None = None) -> list[OrderView]:
    with hub.unit_of_work() as uow:
        names = uow.accounts.usernames()
        rows = uow.orders.listing(_account_id(uow, username))
        return [_order_view(o, names.get(o.account_id, "?")) for o in rows]


def show_order(hub: Hub, order_id: int) -> OrderView:
    with hub.unit_of_work() as uow:
        order = uow.orders.by_id(order_id)
        if order is None:
            raise NotFound(f"no received order with id {order_id}")
        return _order_view(order, uow.accounts.usernames().get(order.account_id, "?"), full=True)


def list_events(
    hub: Hub,
    username: str | None = None,
    type_: str | None = None,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int | None = None,
) -> list[EventView]:
    """Events oldest first, ``since`` inclusive and ``until`` exclusive; ``limit``: the most recent."""
    with hub.unit_of_work() as uow:
        names = uow.accounts.usernames()
        rows = uow.events.listing(_account_id(uow, username), type_, since=since, until=until, limit=limit)
        return [
            EventView(e.at, e.type, names.get(e.account_id) if e.account_id else None, e.subject, e.detail)
            for e in rows
        ]
