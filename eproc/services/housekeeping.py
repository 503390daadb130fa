"""Housekeeping: purge documents past their expiry, and processed ones past the retention period."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from eproc.services.clock import utcnow
from eproc.services.hub import Hub
from eproc.store import repositories as repo


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
    now = utcnow()
    processed_before = now - timedelta(days=hub.settings.retention_days)
    batch_size = max(hub.settings.purge_batch_size, 1)
    expired = processed = 0
    if dry_run:
        with hub.uow.begin() as session:
            expired, processed = repo.count_purgeable(session, now, processed_before)
        return PurgeResult(expired, processed, True)
    while True:
        with hub.uow.begin() as session:
            rows = repo.purgeable_documents(session, now, processed_before, batch_size)
            if not rows:
                break
            for _id, doc_id, account_id, was_processed in rows:
                reason = "processed, past retention" if was_processed else "expired uncollected"
                repo.record_event(session, "purged", now, account_id, doc_id, reason)
                processed += was_processed
                expired += not was_processed
            repo.delete_documents(session, [row[0] for row in rows])
    return PurgeResult(expired, processed, False)
