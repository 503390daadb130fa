"""Housekeeping: purge documents past their expiry, processed ones past the retention period, and
received orders and events past their own retention periods."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from eproc.services.events import EventType, count_bulk, emit, may_write_in_bulk
from eproc.services.hub import Hub
from eproc.store.repositories import PURGE_FROM_START


@dataclass(frozen=True)
class PurgeResult:
    expired: int
    processed: int
    dry_run: bool
    orders: int = 0
    events: int = 0

    @property
    def total(self) -> int:
        """Documents purged (orders and events are counted on their own)."""
        return self.expired + self.processed


def purge(hub: Hub, *, dry_run: bool = False) -> PurgeResult:
    """Delete in bounded batches, one event per document, each batch its own transaction.

    Small batches keep locks short while FMS installs are polling the same tables; an interrupted
    purge loses nothing, since each batch logs and deletes together.
    """
    now = hub.now()
    processed_before = now - timedelta(days=hub.settings.retention_days)
    batch_size = max(hub.settings.purge_batch_size, 1)
    expired = processed = 0
    orders_before = _cutoff(now, hub.settings.order_retention_days)
    events_before = _cutoff(now, hub.settings.event_retention_days)
    if dry_run:
        with hub.unit_of_work() as uow:
            expired, processed = uow.documents.count_purgeable(now, processed_before)
            orders = uow.orders.count_received_before(orders_before) if orders_before else 0
            events = uow.events.count_before(events_before) if events_before else 0
        return PurgeResult(expired, processed, True, orders, events)
    expired = _purge_documents(hub, expired=True, now=now, processed_before=processed_before, batch_size=batch_size)
    processed = _purge_documents(hub, expired=False, now=now, processed_before=processed_before,
                                 batch_size=batch_size)
    orders = _purge_in_batches(hub, orders_before, batch_size, "orders")
    # Last, so that the document.purged events just written (at now) are never among them.
    events = _purge_in_batches(hub, events_before, batch_size, "events")
    _forget_login_history(hub, now)
    return PurgeResult(expired, processed, False, orders, events)


def _forget_login_history(hub: Hub, now: datetime) -> None:
    """Addresses no longer familiar, and client addresses long quiet (the smart lockout's tables):
    rows a login would no longer look at, removed so that neither table grows without bound."""
    settings = hub.settings
    quiet = timedelta(seconds=max(settings.login_address_window_seconds, settings.login_lockout_max_seconds))
    with hub.unit_of_work() as uow:
        uow.familiar_addresses.delete_seen_before(now - timedelta(days=settings.login_familiar_days))
        uow.address_failures.delete_quiet(now - quiet, now)
        uow.commit()


EXPIRED_REASON = "expired uncollected"
RETAINED_REASON = "processed, past retention"


def _purge_documents(hub: Hub, *, expired: bool, now: datetime, processed_before: datetime, batch_size: int) -> int:
    """One kind of due document, a bounded batch per short transaction, each logged as it goes:
    ``document.expired`` then ``document.purged`` for one never processed, ``document.purged``
    for one processed. An interrupted purge loses nothing, since each batch logs and deletes
    together.

    On PostgreSQL a batch is one statement (the delete feeding the events' insert), which keeps
    a million-document purge in the database instead of in Python; these events are written as
    :func:`~eproc.services.events.emit` would write them, and counted in the metrics as it would.
    Elsewhere, and whenever a webhook endpoint subscribes to these events (their deliveries are
    written per event by emit), each event goes through emit.
    """
    reason = EXPIRED_REASON if expired else RETAINED_REASON
    data = json.dumps({"reason": reason}, ensure_ascii=False, sort_keys=True)
    events: list[tuple[str, str | None, str | None]] = [(EventType.DOCUMENT_PURGED.value, reason, data)]
    types = [EventType.DOCUMENT_PURGED]
    if expired:
        events.insert(0, (EventType.DOCUMENT_EXPIRED.value, None, None))
        types.insert(0, EventType.DOCUMENT_EXPIRED)
    purged = 0
    after = PURGE_FROM_START  # where the next set-based batch starts on its index
    restarted = False
    while True:
        with hub.unit_of_work() as uow:
            if uow.documents.purges_in_one_statement and may_write_in_bulk(uow, *types):
                count, mark = uow.documents.purge_batch(expired=expired, now=now, processed_before=processed_before,
                                                        limit=batch_size, events=events, after=after)
                for type_ in types:
                    count_bulk(uow, type_, count, reason if type_ is EventType.DOCUMENT_PURGED else None)
                if not count and not restarted and after != PURGE_FROM_START:
                    # Once more from the start, for rows a concurrent call held (skipped, so
                    # behind the walk); after that pass the walk ends where it finds none.
                    after, restarted = PURGE_FROM_START, True
                    continue
                if mark is not None:
                    after = mark
            else:
                batch = uow.documents.due_for_purge(expired=expired, now=now, processed_before=processed_before,
                                                    limit=batch_size)
                for candidate in batch:
                    if expired:
                        emit(uow, EventType.DOCUMENT_EXPIRED, now, account_id=candidate.account_id,
                             doc_id=candidate.doc_id)
                    emit(uow, EventType.DOCUMENT_PURGED, now, account_id=candidate.account_id,
                         doc_id=candidate.doc_id, detail=reason, data={"reason": reason})
                count = uow.documents.delete([candidate.id for candidate in batch]) if batch else 0
            if not count:
                return purged
            uow.commit()
            purged += count


def _cutoff(now: datetime, days: int) -> datetime | None:
    return now - timedelta(days=days) if days > 0 else None


def _purge_in_batches(hub: Hub, before: datetime | None, batch_size: int, table: str) -> int:
    """Received orders or events older than ``before``, a bounded batch per transaction."""
    if before is None:
        return 0
    removed = 0
    while True:
        with hub.unit_of_work() as uow:
            if table == "orders":
                count = uow.orders.delete_received_before(before, batch_size)
            else:
                count = uow.events.delete_before(before, batch_size)
            if not count:
                return removed
            uow.commit()
            removed += count
