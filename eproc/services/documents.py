"""The supplier's view of the documents it queued: their status, their report, their bytes, and
withdrawing one before FMS collects it. What the portal API and the CLI show."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from eproc.services.authentication import USERNAME_PATTERN
from eproc.services.collection import DOC_ID_PATTERN
from eproc.services.errors import Conflict, InvalidInput, NotFound
from eproc.services.events import EventType, emit
from eproc.services.hub import Hub
from eproc.services.intake import QueuedDocument
from eproc.store.models import Document
from eproc.store.unit_of_work import UnitOfWork

DocumentStatus = Literal["queued", "collected", "processed", "expired", "withdrawn"]
DOCUMENT_STATUSES: tuple[DocumentStatus, ...] = ("queued", "collected", "processed", "expired", "withdrawn")
# None: every account; otherwise the account ids a caller may see (an account-limited API token).
AccountScope = frozenset[int] | None
MAX_PAGE_SIZE = 1000


@dataclass(frozen=True)
class DocumentRecord:
    id: int
    doc_id: str
    account: str
    type: str
    number: str | None
    status: DocumentStatus
    queued_at: datetime
    first_collected_at: datetime | None
    last_collected_at: datetime | None
    collect_count: int
    processed_at: datetime | None
    expires_at: datetime
    withdrawn_at: datetime | None
    report: dict[str, Any] | None = None


def status_of(document: Document, now: datetime) -> DocumentStatus:
    if document.withdrawn_at is not None:
        return "withdrawn"
    if document.processed:
        return "processed"
    if document.expires_at <= now:
        return "expired"
    return "collected" if document.collect_count else "queued"


def _record(document: Document, username: str, now: datetime, with_report: bool) -> DocumentRecord:
    report = json.loads(document.report_json) if with_report and document.report_json else None
    return DocumentRecord(
        id=document.id,
        doc_id=document.doc_id,
        account=username,
        type=document.doc_type,
        number=document.document_number,
        status=status_of(document, now),
        queued_at=document.created_at,
        first_collected_at=document.first_collected_at,
        last_collected_at=document.last_collected_at,
        collect_count=document.collect_count,
        processed_at=document.processed_at,
        expires_at=document.expires_at,
        withdrawn_at=document.withdrawn_at,
        report=report,
    )


def _scoped_account_id(hub: Hub, username: str | None, scope: AccountScope) -> int | None:
    """The id of the account named (None: all the caller may see); another tenant's reads as unknown."""
    if username is None:
        return None
    with hub.unit_of_work() as uow:
        # A name that no account can have (a NUL, which PostgreSQL refuses) is not sent to the database.
        account = uow.accounts.by_username(username) if USERNAME_PATTERN.fullmatch(username) else None
    if account is None or not in_scope(account.id, scope):
        raise NotFound(f"no account named {username!r}")
    return account.id


def list_documents(
    hub: Hub,
    *,
    scope: AccountScope = None,
    username: str | None = None,
    status: str | None = None,
    doc_type: str | None = None,
    after: int | None = None,
    page_size: int = 100,
) -> list[DocumentRecord]:
    """One page, oldest first, keyset-paged by row id (``after``): cheap at any depth."""
    if status is not None and status not in DOCUMENT_STATUSES:
        raise InvalidInput(f"unknown status {status!r}: use one of {', '.join(DOCUMENT_STATUSES)}")
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise InvalidInput(f"pageSize must be 1 to {MAX_PAGE_SIZE}")
    account_id = _scoped_account_id(hub, username, scope)
    now = hub.now()
    with hub.unit_of_work() as uow:
        names = uow.accounts.usernames()
        rows = uow.documents.page(
            now=now,
            account_ids=[account_id] if account_id is not None else (sorted(scope) if scope is not None else None),
            status=status,
            doc_type=doc_type,
            after=after,
            limit=page_size,
        )
        return [_record(row, names.get(row.account_id, "?"), now, with_report=False) for row in rows]


def in_scope(account_id: int, scope: AccountScope) -> bool:
    return scope is None or account_id in scope


def _scoped_document(uow: UnitOfWork, doc_id: str, scope: AccountScope, with_xml: bool) -> Document:
    """The document, if the caller may see it; another tenant's reads exactly as one that does not exist."""
    document = uow.documents.by_doc_id(doc_id, with_xml=with_xml) if DOC_ID_PATTERN.fullmatch(doc_id) else None
    if document is None or not in_scope(document.account_id, scope):
        raise NotFound(f"no document with docId {doc_id!r}")
    return document


def _visible(hub: Hub, doc_id: str, scope: AccountScope, with_xml: bool = False) -> tuple[Document, str]:
    with hub.unit_of_work() as uow:
        document = _scoped_document(uow, doc_id, scope, with_xml)
        return document, uow.accounts.usernames().get(document.account_id, "?")


def get_document(hub: Hub, doc_id: str, *, scope: AccountScope = None) -> DocumentRecord:
    document, username = _visible(hub, doc_id, scope)
    return _record(document, username, hub.now(), with_report=True)


def document_xml(hub: Hub, doc_id: str, *, scope: AccountScope = None) -> bytes:
    """The exact bytes queued."""
    document, _username = _visible(hub, doc_id, scope, with_xml=True)
    return document.xml


def withdraw_document(hub: Hub, doc_id: str, *, scope: AccountScope = None) -> DocumentRecord:
    """FMS no longer lists or fetches it; refused once FMS has marked it processed. Idempotent."""
    now = hub.now()
    with hub.unit_of_work() as uow:
        document = _scoped_document(uow, doc_id, scope, with_xml=False)
        uow.accounts.hold(document.account_id)  # queueing checks duplicates under the same lock
        if document.processed:
            raise Conflict(f"document {doc_id} has been processed by the school's FMS; it can no longer be withdrawn")
        if document.withdrawn_at is None:
            document.withdrawn_at = now
            emit(uow, EventType.DOCUMENT_WITHDRAWN, now, account_id=document.account_id, doc_id=doc_id)
        username = uow.accounts.usernames().get(document.account_id, "?")
        uow.commit()
        return _record(document, username, now, with_report=True)


def record_of_queued(queued: QueuedDocument) -> DocumentRecord | None:
    """The record of a document just stored (None for a duplicate, which must be read back)."""
    if queued.duplicate or queued.queued_at is None or queued.expires_at is None:
        return None
    return DocumentRecord(
        id=0,
        doc_id=queued.doc_id,
        account=queued.username,
        type=queued.doc_type,
        number=queued.number,
        status="queued",
        queued_at=queued.queued_at,
        first_collected_at=None,
        last_collected_at=None,
        collect_count=0,
        processed_at=None,
        expires_at=queued.expires_at,
        withdrawn_at=None,
        report=queued.report.to_dict() if queued.report is not None else None,
    )


def check_account_in_scope(hub: Hub, username: str, scope: AccountScope) -> None:
    """Raise :class:`NotFound` unless ``username`` is an account the caller may see."""
    _scoped_account_id(hub, username, scope)


def scoped_account_ids(hub: Hub, username: str | None, scope: AccountScope) -> tuple[int, ...] | None:
    """The account ids a listing is limited to: the one named, the caller's scope, or None (all)."""
    account_id = _scoped_account_id(hub, username, scope)
    if account_id is not None:
        return (account_id,)
    return tuple(sorted(scope)) if scope is not None else None
