"""Collection use cases on both databases: expiry, BeginDate time zones, status changes, purge, events."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from lxml import etree
from sqlalchemy.orm import Session
from support import make_settings, new_school, quote_xml

from eproc.services import admin, authentication, collection, housekeeping, intake
from eproc.services.errors import DocumentNotFound
from eproc.services.hub import build_hub
from eproc.soap.index import IndexWriter
from eproc.store.models import Document


def make_school(hub) -> authentication.Principal:
    username, password = new_school(hub)
    return authentication.authenticate(hub, username, password)


_QUOTES = itertools.count(1)


def queue_quote(hub, principal, text: str | None = None) -> str:
    # Each quote differs: the same bytes still pending for a school are stored only once.
    data = quote_xml(text if text is not None else f'<N>{next(_QUOTES)}</N>')
    return intake.queue_document(hub, data, username=principal.username, requested_type="quote").doc_id


def index_ids(entries: list[collection.IndexEntry]) -> list[str]:
    return [entry.doc_id for entry in entries]


def backdate(hub, doc_id: str, **changes) -> None:
    with hub.unit_of_work() as uow:
        document = uow.documents.by_doc_id(doc_id)
        for name, value in changes.items():
            setattr(document, name, value)
        uow.commit()


def test_expired_documents_are_neither_listed_nor_fetchable(hub):
    school = make_school(hub)
    live, expired = queue_quote(hub, school), queue_quote(hub, school)
    backdate(hub, expired, expires_at=datetime.now(UTC) - timedelta(seconds=1))

    assert index_ids(collection.fetch_index(hub, school)) == [live]
    since = datetime.now(UTC) - timedelta(days=1)
    assert index_ids(collection.fetch_index_from_date(hub, school, since)) == [live]
    for call in (
        lambda: collection.fetch_doc(hub, school, expired),
        lambda: collection.update_document_status(hub, school, expired, True),
    ):
        with pytest.raises(DocumentNotFound):
            call()


def test_processed_documents_stay_in_the_dated_index_past_expiry(hub):
    school = make_school(hub)
    doc_id = queue_quote(hub, school)
    collection.update_document_status(hub, school, doc_id, True)
    backdate(hub, doc_id, expires_at=datetime.now(UTC) - timedelta(days=1))
    since = datetime.now(UTC) - timedelta(days=1)
    assert index_ids(collection.fetch_index_from_date(hub, school, since)) == [doc_id]
    assert index_ids(collection.fetch_index(hub, school)) == []


def test_begin_date_without_offset_is_read_in_the_configured_zone(database_url):
    hub = build_hub(make_settings(database_url, EPROC_TIMEZONE="Asia/Tokyo"))  # UTC+9, no DST
    school = make_school(hub)
    doc_id = queue_quote(hub, school)
    created = admin.show_document(hub, doc_id).created_at
    tokyo_wall_clock = (created + timedelta(hours=9)).replace(tzinfo=None)

    assert index_ids(collection.fetch_index_from_date(hub, school, tokyo_wall_clock - timedelta(minutes=1))) == [doc_id]
    assert index_ids(collection.fetch_index_from_date(hub, school, tokyo_wall_clock + timedelta(minutes=1))) == []
    # Read as UTC, the same wall-clock value would be nine hours in the future and list nothing.
    assert index_ids(collection.fetch_index_from_date(hub, school, created - timedelta(minutes=1))) == [doc_id]


def test_after_is_strictly_after(hub):
    school = make_school(hub)
    doc_id = queue_quote(hub, school)
    created = admin.show_document(hub, doc_id).created_at
    assert index_ids(collection.fetch_index_from_date(hub, school, created)) == []
    assert index_ids(collection.fetch_index_from_date(hub, school, created - timedelta(microseconds=1))) == [doc_id]


def test_status_changes_are_logged_once(hub):
    school = make_school(hub)
    doc_id = queue_quote(hub, school)
    changed = [collection.update_document_status(hub, school, doc_id, p) for p in (True, True, False, False, True)]
    assert changed == [True, False, True, False, True]
    kinds = [e.type for e in admin.list_events(hub, school.username) if e.subject == doc_id]
    assert kinds == ["document.queued", "document.processed", "document.unprocessed", "document.processed"]


def test_fetch_records_collection_without_touching_processed(hub):
    school = make_school(hub)
    doc_id = queue_quote(hub, school, "<Line>chairs</Line>")
    assert collection.fetch_doc(hub, school, doc_id) == quote_xml("<Line>chairs</Line>")
    assert collection.fetch_doc(hub, school, doc_id) == quote_xml("<Line>chairs</Line>")
    shown = admin.show_document(hub, doc_id)
    assert shown.collect_count == 2 and not shown.processed
    assert shown.first_collected_at <= shown.last_collected_at
    assert index_ids(collection.fetch_index(hub, school)) == [doc_id]


def test_purge_in_batches_logs_every_document(database_url):
    hub = build_hub(make_settings(database_url, EPROC_PURGE_BATCH_SIZE="2", EPROC_RETENTION_DAYS="30"))
    school = make_school(hub)
    expired = [queue_quote(hub, school) for _ in range(5)]
    for doc_id in expired:
        backdate(hub, doc_id, expires_at=datetime.now(UTC) - timedelta(seconds=1))
    old_processed = queue_quote(hub, school)
    backdate(hub, old_processed, processed=True, processed_at=datetime.now(UTC) - timedelta(days=31))
    recent_processed = queue_quote(hub, school)
    collection.update_document_status(hub, school, recent_processed, True)
    live = queue_quote(hub, school)

    assert housekeeping.purge(hub, dry_run=True) == housekeeping.PurgeResult(5, 1, True)
    assert len(admin.list_documents(hub)) == 8
    assert housekeeping.purge(hub) == housekeeping.PurgeResult(5, 1, False)
    assert {d.doc_id for d in admin.list_documents(hub)} == {recent_processed, live}
    purged = {e.subject for e in admin.list_events(hub, type_="document.purged")}
    assert purged == {*expired, old_processed}
    with Session(hub.store.engine) as session:
        assert session.query(Document).count() == 2


def test_an_operator_xslt_reshapes_the_index(database_url, tmp_path):
    stylesheet = tmp_path / "vendor-index.xslt"
    stylesheet.write_text(
        '<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">'
        '<xsl:template match="/DocumentIndex"><Index><xsl:for-each select="Document">'
        '<Doc id="{DocID}" type="{DocType}" created="{CreateDate}"/>'
        "</xsl:for-each></Index></xsl:template></xsl:stylesheet>"
    )
    hub = build_hub(make_settings(database_url, EPROC_INDEX_XSLT=str(stylesheet)))
    school = make_school(hub)
    doc_id = queue_quote(hub, school)
    index = IndexWriter(hub.settings.index_xslt).write(collection.fetch_index(hub, school))
    root = etree.fromstring(index.encode())
    assert root.tag == "Index"
    assert [(d.get("id"), d.get("type")) for d in root] == [(doc_id, "quote")]
    assert root[0].get("created").endswith("Z")


def test_queue_status_counts_per_school(hub):
    school, other = make_school(hub), make_school(hub)
    fetched, waiting, done = (queue_quote(hub, school) for _ in range(3))
    expiring = queue_quote(hub, school)
    backdate(hub, expiring, expires_at=datetime.now(UTC) + timedelta(days=2))
    collection.fetch_doc(hub, school, fetched)
    collection.update_document_status(hub, school, done, True)
    queue_quote(hub, other)

    status = {row.username: row for row in admin.queue_status(hub)}
    mine = status[school.username]
    assert (mine.waiting, mine.collected_not_processed, mine.expiring_soon, mine.processed) == (3, 1, 1, 1)
    assert (mine.orders, mine.enabled, mine.locked) == (0, True, False)
    assert status[other.username].waiting == 1 and status[other.username].processed == 0
