"""The purge logs every document it removes exactly as emit() would, whichever way a backend runs
it (one statement per batch on PostgreSQL, per document elsewhere)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from support import make_settings
from test_collection import backdate, make_school, queue_quote

from eproc.services import collection, housekeeping
from eproc.services.hub import build_hub


def _events(hub) -> list[tuple[str, int | None, str | None, str | None, str | None, str | None]]:  # type: ignore[no-untyped-def]
    with hub.unit_of_work() as uow:
        rows = uow.events.listing()
        return [(e.type, e.account_id, e.subject, e.doc_id, e.detail, e.data) for e in rows
                if e.type in ("document.expired", "document.purged")]


def test_every_purged_document_has_its_events_in_order(database_url):
    hub = build_hub(make_settings(database_url, EPROC_PURGE_BATCH_SIZE="3", EPROC_RETENTION_DAYS="30"))
    school = make_school(hub)
    expired = [queue_quote(hub, school) for _ in range(7)]
    for doc_id in expired:
        backdate(hub, doc_id, expires_at=datetime.now(UTC) - timedelta(seconds=1))
    retained = [queue_quote(hub, school) for _ in range(4)]
    for doc_id in retained:
        backdate(hub, doc_id, processed=True, processed_at=datetime.now(UTC) - timedelta(days=31))
    kept = queue_quote(hub, school)
    collection.update_document_status(hub, school, kept, True)

    result = housekeeping.purge(hub)

    assert (result.expired, result.processed) == (7, 4)
    logged = _events(hub)
    account = school.account_id
    expected_expired = []
    for doc_id in expired:
        expected_expired += [
            ("document.expired", account, doc_id, doc_id, None, None),
            ("document.purged", account, doc_id, doc_id, "expired uncollected", '{"reason": "expired uncollected"}'),
        ]
    expected_retained = [
        ("document.purged", account, doc_id, doc_id, "processed, past retention",
         '{"reason": "processed, past retention"}')
        for doc_id in retained
    ]
    # Each document's expired event comes before its purged one; the expired kind is purged first.
    assert sorted(logged[: 2 * len(expired)]) == sorted(expected_expired)
    for n in range(0, 2 * len(expired), 2):
        assert logged[n][0] == "document.expired" and logged[n + 1][0] == "document.purged"
        assert logged[n][2] == logged[n + 1][2]
    assert sorted(logged[2 * len(expired):]) == sorted(expected_retained)
    with hub.unit_of_work() as uow:
        assert [d.doc_id for d in uow.documents.listing()] == [kept]
    assert housekeeping.purge(hub) == housekeeping.PurgeResult(0, 0, False)
