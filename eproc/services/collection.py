"""What FMS does on each import: list its documents, fetch each one, mark it processed."""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy.orm import Session

from eproc.ebis.index import IndexEntry, build_index
from eproc.ebis.text import xml_text
from eproc.services.accounts import Principal
from eproc.services.clock import utcnow
from eproc.services.errors import DocumentNotFound
from eproc.services.hub import Hub
from eproc.store import repositories as repo
from eproc.store.models import Document

MAX_DOC_ID_LENGTH = 100
DOC_ID_PATTERN = re.compile(rf"[!-~]{{1,{MAX_DOC_ID_LENGTH}}}")


def fetch_index(hub: Hub, principal: Principal) -> str:
    """Unprocessed, unexpired documents of the caller, oldest first. Changes nothing."""
    now = utcnow()
    with hub.uow.begin() as session:
        documents = repo.unprocessed_documents(session, principal.account_id, now)
        entries = [IndexEntry(d.doc_id, d.doc_type, d.created_at) for d in documents]
    return build_index(entries, hub.settings.index_xslt)


def fetch_index_from_date(hub: Hub, principal: Principal, begin: datetime) -> str:
    """Documents created strictly after ``begin``, processed or not.

    A ``begin`` without an offset (a .NET DateTime of kind Unspecified) is wall-clock time in the
    service's configured zone, which is how a school's FMS in the UK means it.
    """
    if begin.tzinfo is None:
        begin = begin.replace(tzinfo=hub.settings.zone)
    now = utcnow()
    with hub.uow.begin() as session:
        documents = repo.documents_created_after(session, principal.account_id, begin, now)
        entries = [IndexEntry(d.doc_id, d.doc_type, d.created_at) for d in documents]
    return build_index(entries, hub.settings.index_xslt)


def _own_document(session: Session, principal: Principal, doc_id: str, now: datetime) -> Document:
    """The caller's own visible document. Unknown, expired and another account's ids fail alike:
    one query, one message, so neither wording nor timing tells them apart."""
    document = None
    # DocIDs are printable ASCII without spaces; anything else (a NUL, which PostgreSQL refuses
    # outright) cannot name a document, so it is not sent to the database at all.
    if doc_id and DOC_ID_PATTERN.fullmatch(doc_id):
        document = repo.visible_document(session, principal.account_id, doc_id, now)
    if document is None:
        raise DocumentNotFound(doc_id or "")
    return document


def fetch_doc(hub: Hub, principal: Principal, doc_id: str) -> str:
    """The document text exactly as queued; records the collection, never the processed flag."""
    now = utcnow()
    with hub.uow.begin() as session:
        document = _own_document(session, principal, doc_id, now)
        repo.record_collection(session, document.id, now)
        repo.record_event(session, "collected", now, principal.account_id, doc_id)
        data = document.xml
    return xml_text(data)


def update_document_status(hub: Hub, principal: Principal, doc_id: str, processed: bool) -> bool:
    """Mark processed or unprocessed; idempotent, and only a real change is logged."""
    now = utcnow()
    with hub.uow.begin() as session:
        document = _own_document(session, principal, doc_id, now)
        if repo.set_processed(session, document.id, processed, now):
            repo.record_event(session, "processed" if processed else "unprocessed", now, principal.account_id, doc_id)
    return True
