"""The one list of event types, and the one function every state change is recorded through.

Two kinds of change write their events set-based in the store's own statement instead, counted
here by :func:`count_bulk`, and only while no webhook endpoint subscribes to them (deliveries are
owed per event and written by :func:`emit`): the purge's batches and, on PostgreSQL, FetchDoc's
and UpdateDocumentStatus's one statement (eproc/store/repositories.py).

Types are dotted (``document.queued``), as the portal API's events feed and webhooks name them.
Each event names its account and, where there is one, the document (``doc_id``) or received order
(``order_id``) it is about; ``data`` carries the rest as JSON.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from eproc import metrics
from eproc.services import outbox
from eproc.services.errors import InvalidInput
from eproc.services.hub import Hub
from eproc.store.models import Event
from eproc.store.unit_of_work import UnitOfWork


class EventType(StrEnum):
    DOCUMENT_QUEUED = "document.queued"
    DOCUMENT_COLLECTED = "document.collected"
    DOCUMENT_PROCESSED = "document.processed"
    DOCUMENT_UNPROCESSED = "document.unprocessed"
    DOCUMENT_EXPIRED = "document.expired"
    DOCUMENT_WITHDRAWN = "document.withdrawn"
    DOCUMENT_PURGED = "document.purged"
    ORDER_RECEIVED = "order.received"
    ORDER_DUPLICATE = "order.duplicate"
    ORDER_ACKNOWLEDGED = "order.acknowledged"
    ACCOUNT_CREATED = "account.created"
    ACCOUNT_UPDATED = "account.updated"
    ACCOUNT_DISABLED = "account.disabled"
    ACCOUNT_ENABLED = "account.enabled"
    ACCOUNT_UNLOCKED = "account.unlocked"
    ACCOUNT_PASSWORD_CHANGED = "account.password_changed"
    ACCOUNT_LOCKED = "account.locked"
    ACCOUNT_LOCK_ENDED = "account.lock_ended"
    LOGIN_FAILED = "login.failed"
    LOGIN_ADDRESS_LOCKED = "login.address_locked"
    TOKEN_CREATED = "token.created"
    TOKEN_REVOKED = "token.revoked"
    WEBHOOK_CREATED = "webhook.created"
    WEBHOOK_UPDATED = "webhook.updated"
    WEBHOOK_REMOVED = "webhook.removed"
    WEBHOOK_DISABLED = "webhook.disabled"
    WEBHOOK_TEST = outbox.TEST_EVENT


# What each type means, for the README, `eproc events --type` and the API's documentation.
EVENT_TYPES: dict[str, str] = {
    EventType.DOCUMENT_QUEUED: "a portal queued a document for a school",
    EventType.DOCUMENT_COLLECTED: "FMS fetched a document (FetchDoc)",
    EventType.DOCUMENT_PROCESSED: "FMS marked a document processed",
    EventType.DOCUMENT_UNPROCESSED: "FMS marked a document unprocessed again",
    EventType.DOCUMENT_EXPIRED: "a document expired uncollected (recorded when it is purged)",
    EventType.DOCUMENT_WITHDRAWN: "the supplier withdrew a queued document; FMS no longer sees it",
    EventType.DOCUMENT_PURGED: "'eproc purge' removed a document",
    EventType.ORDER_RECEIVED: "FMS sent an Authorised Order (or an amended revision)",
    EventType.ORDER_DUPLICATE: "FMS re-sent an Authorised Order already stored",
    EventType.ORDER_ACKNOWLEDGED: "the supplier's order system acknowledged an Authorised Order",
    EventType.ACCOUNT_CREATED: "an admin created a school account",
    EventType.ACCOUNT_UPDATED: "an admin changed a school account's details",
    EventType.ACCOUNT_DISABLED: "an admin disabled an account",
    EventType.ACCOUNT_ENABLED: "an admin enabled an account",
    EventType.ACCOUNT_UNLOCKED: "an admin lifted a lockout",
    EventType.ACCOUNT_PASSWORD_CHANGED: "a password was changed (ChangePassword or an admin's reset)",
    EventType.ACCOUNT_LOCKED: (
        "an account's familiar or unfamiliar addresses were locked out after failed logins "
        "(bucket, reason and seconds in the data)"
    ),
    EventType.ACCOUNT_LOCK_ENDED: (
        "a lockout ended: run out (recorded at the next login attempt) or lifted by an admin "
        "(bucket and reason in the data)"
    ),
    EventType.LOGIN_FAILED: (
        "an FMS call failed to authenticate (reason, address, bucket and whether it counted in the data)"
    ),
    EventType.LOGIN_ADDRESS_LOCKED: "a client address was refused after failed logins",
    EventType.TOKEN_CREATED: "an admin created an API token",
    EventType.TOKEN_REVOKED: "an admin revoked an API token",
    EventType.WEBHOOK_CREATED: "a webhook endpoint was added",
    EventType.WEBHOOK_UPDATED: "a webhook endpoint was changed, enabled or disabled by its owner",
    EventType.WEBHOOK_REMOVED: "a webhook endpoint was removed",
    EventType.WEBHOOK_DISABLED: "a webhook endpoint was disabled because its receiver answered 410 Gone",
    EventType.WEBHOOK_TEST: "a test ping (sent only to the endpoint it tests)",
}
def event_table_markdown() -> str:
    """The README's table of event types, made from :data:`EVENT_TYPES`."""
    rows = ["| type | what happened |", "|---|---|"]
    rows += [f"| `{kind}` | {meaning} |" for kind, meaning in EVENT_TYPES.items()]
    return "\n".join(rows) + "\n"


# By value: what `eproc events --type` and the API's `type` filter accept.
EVENT_TYPE_NAMES: dict[str, str] = {str(kind): meaning for kind, meaning in EVENT_TYPES.items()}


def emit(
    uow: UnitOfWork,
    type_: EventType,
    at: datetime,
    *,
    account_id: int | None = None,
    doc_id: str | None = None,
    order_id: int | None = None,
    subject: str | None = None,
    detail: str | None = None,
    data: dict[str, Any] | None = None,
) -> None:
    """Record a state change in the unit of work that makes it, with the webhook deliveries it owes
    (the outbox): the change, its event and its deliveries commit together, or none of them. It is
    counted in the metrics once it has committed."""
    payload = json.dumps(data, ensure_ascii=False, sort_keys=True, default=str) if data else None
    event = uow.events.record(
        type_.value, at, account_id, subject or doc_id, detail, doc_id=doc_id, order_id=order_id, data=payload
    )
    outbox.enqueue(uow, event, data)
    reason = data.get("reason") if data else None
    uow.after_commit(lambda: metrics.count_event(type_.value, reason if isinstance(reason, str) else None))


def may_write_in_bulk(uow: UnitOfWork, *types: EventType) -> bool:
    """Whether events of these types may be written set-based by a store statement instead of one
    :func:`emit` each (the purge on PostgreSQL): only while no enabled webhook endpoint subscribes
    to any of them, since their deliveries are owed per event and written by emit."""
    wanted = {type_.value for type_ in types}
    return not any(wanted & subscription.events for subscription in uow.webhooks.subscriptions())


def count_bulk(uow: UnitOfWork, type_: EventType, count: int, reason: str | None = None) -> None:
    """Count ``count`` events written set-based in the metrics, as emit counts each, once committed:
    one increment by ``count`` (counting a million purged documents one by one took 8-20 s)."""
    if count:
        uow.after_commit(lambda: metrics.count_event(type_.value, reason, count))


@dataclass(frozen=True)
class EventRecord:
    id: int
    type: str
    at: datetime
    account: str | None
    doc_id: str | None
    order_id: int | None
    subject: str | None
    detail: str | None
    data: dict[str, Any]


@dataclass(frozen=True)
class EventQuery:
    """The events feed's parameters, with das-events' rules: ``from_event_id`` (inclusive) wins over
    the dates; ``from_date`` inclusive, ``to_date`` exclusive; pages by number from 1."""

    from_date: datetime | None = None
    to_date: datetime | None = None
    from_event_id: int | None = None
    page_size: int = 1000
    page_number: int = 1
    types: tuple[str, ...] = ()
    account_ids: tuple[int, ...] | None = None


MAX_EVENT_PAGE_SIZE = 10_000


def check_query(query: EventQuery) -> None:
    if not 1 <= query.page_size <= MAX_EVENT_PAGE_SIZE:
        raise InvalidInput(f"pageSize must be 1 to {MAX_EVENT_PAGE_SIZE}")
    if query.page_number < 1:
        raise InvalidInput("pageNumber must be 1 or more")
    if query.from_event_id is not None and query.from_event_id < 0:
        raise InvalidInput("fromEventId must not be negative")
    if (
        query.from_event_id is None
        and query.from_date is not None
        and query.to_date is not None
        and query.to_date < query.from_date
    ):
        raise InvalidInput("toDate must be the same as or later than fromDate")
    unknown = [t for t in query.types if t not in EVENT_TYPE_NAMES]
    if unknown:
        raise InvalidInput(f"unknown event type {unknown[0]!r}")


def record_of(row: Event, username: str | None) -> EventRecord:
    return EventRecord(
        id=row.id,
        type=row.type,
        at=row.at,
        account=username,
        doc_id=row.doc_id,
        order_id=row.order_id,
        subject=row.subject,
        detail=row.detail,
        data=json.loads(row.data) if row.data else {},
    )


def feed(hub: Hub, query: EventQuery) -> list[EventRecord]:
    """One page of the events feed, ordered by id."""
    check_query(query)
    with hub.unit_of_work() as uow:
        rows = uow.events.feed(
            from_event_id=query.from_event_id,
            from_date=None if query.from_event_id is not None else query.from_date,
            to_date=None if query.from_event_id is not None else query.to_date,
            types=query.types,
            account_ids=query.account_ids,
            offset=(query.page_number - 1) * query.page_size,
            limit=query.page_size,
        )
        names = uow.accounts.usernames()
        return [record_of(row, names.get(row.account_id) if row.account_id else None) for row in rows]
