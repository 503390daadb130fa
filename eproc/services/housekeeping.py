"""Housekeeping: purge documents past their expiry, and processed ones past the retention period."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from eproc.services.events import EventType, emit
from eproc.services.hub import Hub


@dataclass(frozen=True)
class PurgeResult:
    expired: int
    processed: int
    dry_run: bool

    @property
    def total(self) -> int:
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
    if dry_run:
        with hub.unit_of_work() as uow:
            expired, processed = uow.documents.count_purgeable(now, processed_before)
        return PurgeResult(expired, processed, True)
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
    return PurgeResult(expired, processed, False)
