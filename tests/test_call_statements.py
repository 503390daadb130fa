"""FetchDoc and UpdateDocumentStatus as an FMS call runs them (inside ``Store.call``), on both
databases: on PostgreSQL the change and its event are one statement in autocommit mode, unless a
webhook endpoint wants the event, when they go back to one transaction with the delivery (issue 12).
"""

from __future__ import annotations

import json

import pytest
from support import make_settings, new_school, quote_xml

from eproc.services import authentication, collection, intake, webhooks
from eproc.services.errors import DocumentNotFound
from eproc.services.hub import build_hub
from eproc.store.repositories import LoginCheck


def school_with_document(hub, text: str = "<N>1</N>") -> tuple[authentication.Principal, str]:
    username, password = new_school(hub)
    principal = authentication.authenticate(hub, username, password)
    doc_id = intake.queue_document(hub, quote_xml(text), username=username, requested_type="quote").doc_id
    return principal, doc_id


def events_of(hub, doc_id: str) -> list[str]:
    with hub.unit_of_work() as uow:
        return [event.type for event in uow.events.listing() if event.doc_id == doc_id]


def deliveries_of(hub, endpoint_id: int) -> list[tuple[str, str]]:
    with hub.unit_of_work() as uow:
        rows = uow.webhooks.deliveries(endpoint_id)
        return sorted((row.event_type, json.loads(row.payload)["data"]["docId"]) for row in rows)


def test_a_call_logs_each_change_once_and_refuses_what_is_not_the_callers(hub):
    school, doc_id = school_with_document(hub)
    other, others_doc = school_with_document(hub, "<N>2</N>")
    with hub.store.call():
        assert collection.fetch_doc(hub, school, doc_id) == quote_xml("<N>1</N>")
    with hub.store.call():
        assert collection.update_document_status(hub, school, doc_id, True) is True
    with hub.store.call():
        assert collection.update_document_status(hub, school, doc_id, True) is False  # already so
    with hub.store.call():
        assert collection.update_document_status(hub, school, doc_id, False) is True
    for attempt in (
        lambda: collection.fetch_doc(hub, school, others_doc),
        lambda: collection.update_document_status(hub, school, others_doc, True),
        lambda: collection.fetch_doc(hub, school, "QUO-NO-SUCH-DOCUMENT"),
    ):
        with hub.store.call(), pytest.raises(DocumentNotFound):
            attempt()
    assert events_of(hub, doc_id) == [
        "document.queued", "document.collected", "document.processed", "document.unprocessed",
    ]
    # The other school's document was neither counted as collected nor marked.
    assert events_of(hub, others_doc) == ["document.queued"]
    with hub.unit_of_work() as uow:
        theirs = uow.documents.by_doc_id(others_doc)
        mine = uow.documents.by_doc_id(doc_id)
        assert (theirs.collect_count, theirs.processed) == (0, False)
        assert (mine.collect_count, mine.processed, mine.processed_at) == (1, False, None)


def test_a_subscribed_event_gets_its_delivery_with_the_change(database_url):
    hub = build_hub(make_settings(database_url, EPROC_WEBHOOK_ALLOW_PRIVATE_TARGETS="true"))
    school, doc_id = school_with_document(hub)
    view, _ = webhooks.create_webhook(hub, "http://127.0.0.1:9/hook", ["document.collected", "document.processed"])
    with hub.store.call():
        collection.fetch_doc(hub, school, doc_id)
    with hub.store.call():
        assert collection.update_document_status(hub, school, doc_id, True) is True
    with hub.store.call():
        assert collection.update_document_status(hub, school, doc_id, True) is False
    assert deliveries_of(hub, view.id) == [("document.collected", doc_id), ("document.processed", doc_id)]
    assert events_of(hub, doc_id) == ["document.queued", "document.collected", "document.processed"]


def test_a_connection_a_call_used_goes_back_to_the_pool_transactional(hub):
    """A call switches its connection to autocommit on PostgreSQL; the next unit of work outside a
    call gets that same connection (the pool is LIFO) and must still roll back what it did not commit."""
    school, doc_id = school_with_document(hub)
    with hub.store.call():
        assert [entry.doc_id for entry in collection.fetch_index(hub, school)] == [doc_id]
        collection.fetch_doc(hub, school, doc_id)
    with pytest.raises(RuntimeError), hub.unit_of_work() as uow:
        login = LoginCheck(school.account_id, school.username, school.credential_version, current=True)
        assert uow.documents.mark_processed(login, doc_id, True, hub.now()) is True
        raise RuntimeError("the use case fails before it commits")
    with hub.unit_of_work() as uow:
        assert uow.documents.by_doc_id(doc_id).processed is False
