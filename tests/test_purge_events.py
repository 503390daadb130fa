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


def _expired_school(hub, count: int, expires_at: datetime | None = None):  # type: ignore[no-untyped-def]
    school = make_school(hub)
    doc_ids = [queue_quote(hub, school) for _ in range(count)]
    for n, doc_id in enumerate(doc_ids):
        backdate(hub, doc_id, expires_at=expires_at or datetime.now(UTC) - timedelta(minutes=count - n))
    return school, doc_ids


def test_documents_expiring_at_the_same_instant_are_all_purged_across_batches(database_url):
    """A batch resumes its walk at the last expiry it reached: rows sharing that instant with the
    batch's last are not skipped."""
    hub = build_hub(make_settings(database_url, EPROC_PURGE_BATCH_SIZE="3"))
    school, doc_ids = _expired_school(hub, 8, expires_at=datetime.now(UTC) - timedelta(hours=1))

    assert housekeeping.purge(hub).expired == 8
    purged = [e for e in _events(hub) if e[0] == "document.purged"]
    assert sorted(e[2] for e in purged) == sorted(doc_ids)
    with hub.unit_of_work() as uow:
        assert uow.documents.listing() == []


def test_a_document_held_by_a_concurrent_call_while_the_walk_passes_it_is_purged_in_the_same_run(
    database_url, monkeypatch
):
    """On PostgreSQL a batch skips rows another transaction holds (SKIP LOCKED) and the next batch
    starts after it: the purge ends with one walk from the start, which finds them."""
    if not database_url.startswith("postgresql"):
        return  # one statement per batch, and the walk, are PostgreSQL's
    from sqlalchemy import create_engine, text

    from eproc.store.repositories import DocumentRepository

    hub = build_hub(make_settings(database_url, EPROC_PURGE_BATCH_SIZE="2"))
    school, doc_ids = _expired_school(hub, 5)
    engine = create_engine(database_url)
    holder = engine.connect()
    holder.execute(text("SELECT id FROM document WHERE doc_id = :d FOR UPDATE"), {"d": doc_ids[0]})  # the oldest
    original = DocumentRepository.purge_batch
    calls = []

    def batch_then_release(self, **kwargs):  # type: ignore[no-untyped-def]
        result = original(self, **kwargs)
        calls.append(result[0])
        if len(calls) == 1:
            holder.rollback()  # the concurrent call ends after the first batch went past its row
        return result

    monkeypatch.setattr(DocumentRepository, "purge_batch", batch_then_release)
    try:
        result = housekeeping.purge(hub)
    finally:
        holder.close()
        engine.dispose()
    assert calls[0] == 2 and result.expired == 5
    assert sorted(e[2] for e in _events(hub) if e[0] == "document.purged") == sorted(doc_ids)


def test_a_webhook_subscribed_to_purged_documents_gets_a_delivery_for_each(database_url):
    """While an endpoint subscribes, the purge writes each event through emit (with its delivery),
    not set-based."""
    from eproc.services import webhooks

    hub = build_hub(make_settings(database_url, EPROC_PURGE_BATCH_SIZE="2", EPROC_WEBHOOK_ALLOW_PRIVATE_TARGETS="true"))
    view, _ = webhooks.create_webhook(hub, "http://127.0.0.1:9/hook", ["document.purged"])
    school, doc_ids = _expired_school(hub, 3)

    assert housekeeping.purge(hub).expired == 3
    deliveries = webhooks.deliveries(hub, view.id)
    assert sorted(d.event_type for d in deliveries) == ["document.purged"] * 3
    assert len(_events(hub)) == 6  # the expired events too, with no delivery (not subscribed)
