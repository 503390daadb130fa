"""What an admin looks at: the queue, received orders, the event log. Read-only views."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from eproc.ebis.text import xml_text
from eproc.services.clock import utcnow
from eproc.services.errors import AccountError, EprocError
from eproc.services.hub import Hub
from eproc.store import repositories as repo


class NotFound(EprocError):
    pass


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
    # Filled only by show_document: a listing does not load or decode the XML.
    report_json: str | None = None
    xml: str | None = None


@dataclass(frozen=True)
class OrderView:
    id: int
    username: str
    order_number: str
    revision: int
    sha256: str
    received_at: datetime
    report_json: str | None
    xml: str


@dataclass(frozen=True)
class EventView:
    at: datetime
    kind: str
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


def queue_status(hub: Hub) -> list[QueueStatus]:
    """Every account's counts, in two grouped queries however many documents there are."""
    now = utcnow()
    with hub.uow.begin() as session:
        counts = repo.queue_counts(session, now, now + EXPIRING_SOON)
        orders = repo.order_counts(session)
        rows = []
        for account in repo.all_accounts(session):
            c = counts.get(account.id, {})
            rows.append(
                QueueStatus(
                    username=account.username,
                    enabled=account.enabled,
                    locked=account.locked_until is not None and account.locked_until > now,
                    waiting=c.get("waiting", 0),
                    collected_not_processed=c.get("collected_not_processed", 0),
                    expiring_soon=c.get("expiring_soon", 0),
                    processed=c.get("processed", 0),
                    orders=orders.get(account.id, 0),
                )
            )
        return rows


def _account_id(session, username: str | None) -> int | None:  # type: ignore[no-untyped-def]
    if username is None:
        return None
    account = repo.account_by_username(session, username)
    if account is None:
        raise AccountError(f"no account named {username!r}")
    return account.id


def _usernames(session) -> dict[int, str]:  # type: ignore[no-untyped-def]
    return {a.id: a.username for a in repo.all_accounts(session)}


def _document_view(document, username: str, full: bool = False) -> DocumentView:  # type: ignore[no-untyped-def]
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
        xml=xml_text(document.xml) if full else None,
    )


def list_documents(hub: Hub, username: str | None = None, unprocessed_only: bool = False) -> list[DocumentView]:
    with hub.uow.begin() as session:
        names = _usernames(session)
        rows = repo.list_documents(session, _account_id(session, username), unprocessed_only)
        return [_document_view(d, names.get(d.account_id, "?")) for d in rows]


def show_document(hub: Hub, doc_id: str) -> DocumentView:
    with hub.uow.begin() as session:
        document = repo.document_by_doc_id(session, doc_id)
        if document is None:
            raise NotFound(f"no document with DocID {doc_id!r}")
        return _document_view(document, _usernames(session).get(document.account_id, "?"), full=True)


def _order_view(order, username: str) -> OrderView:  # type: ignore[no-untyped-def]
    return OrderView(
        id=order.id,
        username=username,
        order_number=order.order_number,
        revision=order.revision,
        sha256=order.sha256,
        received_at=order.received_at,
        report_json=order.report_json,
        xml=xml_text(order.xml),
    )


def list_orders(hub: Hub, username: str | None = None) -> list[OrderView]:
    with hub.uow.begin() as session:
        names = _usernames(session)
        return [
            _order_view(o, names.get(o.account_id, "?"))
            for o in repo.list_orders(session, _account_id(session, username))
        ]


def show_order(hub: Hub, order_id: int) -> OrderView:
    with hub.uow.begin() as session:
        order = repo.order_by_id(session, order_id)
        if order is None:
            raise NotFound(f"no received order with id {order_id}")
        return _order_view(order, _usernames(session).get(order.account_id, "?"))


def list_events(hub: Hub, username: str | None = None, kind: str | None = None) -> list[EventView]:
    with hub.uow.begin() as session:
        names = _usernames(session)
        rows = repo.events(session, _account_id(session, username), kind)
        return [
            EventView(e.at, e.kind, names.get(e.account_id) if e.account_id else None, e.subject, e.detail)
            for e in rows
        ]
