"""Housekeeping: purge documents past their expiry, processed ones past the retention period, and
received orders and events past their own retention periods."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from eproc.services.events import EventType, emit
from eproc.services.hub import Hub


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
    while True:
        with hub.unit_of_work() as uow:
            batch = uow.documents.purgeable(now, processed_before, batch_size)
            if not batch:
                break
            for candidate in batch:
                reason = "processed, past retention" if candidate.processed else "expired uncollected"
                if not candidate.processed:
                    emit(uow, EventType.DOCUMENT_EXPIRED, now, account_id=candidate.account_id,
                         doc_id=candidate.doc_id)
                emit(uow, EventType.DOCUMENT_PURGED, now, account_id=candidate.account_id, doc_id=candidate.doc_id,
                     detail=reason, data={"reason": reason})
                processed += candidate.processed
                expired += not candidate.processed
            uow.documents.delete([candidate.id for candidate in batch])
            uow.commit()
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
                ids = uow.orders.ids_received_before(before, batch_size)
                removed += uow.orders.delete(ids) if ids else 0
            else:
                ids = uow.events.ids_before(before, batch_size)
                removed += uow.events.delete(ids) if ids else 0
            if not ids:
                return removed
            uow.commit()
