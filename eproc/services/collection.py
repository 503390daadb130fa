"""What FMS does on each import: list its documents, fetch each one, mark it processed.

These speak the domain (index entries, document bytes); the SOAP layer shapes them for the wire.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from eproc.services.authentication import Principal, require_confirmed
from eproc.services.errors import DocumentNotFound
from eproc.services.events import EventType, count_bulk, emit
from eproc.services.hub import Hub
from eproc.store.repositories import InTransaction, LoginCheck
from eproc.store.unit_of_work import UnitOfWork

MAX_DOC_ID_LENGTH = 100
DOC_ID_PATTERN = re.compile(rf"[!-~]{{1,{MAX_DOC_ID_LENGTH}}}")


@dataclass(frozen=True)
class IndexEntry:
    doc_id: str
    doc_type: str
    created_at: datetime


def fetch_index(hub: Hub, principal: Principal) -> list[IndexEntry]:
    """Unprocessed, unexpired documents of the caller, oldest first. Changes nothing."""
    require_confirmed(principal)
    with hub.unit_of_work(one_statement=True) as uow:
        rows = uow.documents.unprocessed_index(principal.account_id, hub.now())
    return [IndexEntry(*row) for row in rows]


def fetch_index_from_date(hub: Hub, principal: Principal, begin: datetime) -> list[IndexEntry]:
    """Documents created strictly after ``begin``, processed or not.

    A ``begin`` without an offset (a .NET DateTime of kind Unspecified) is wall-clock time in the
    service's configured zone, which is how a school's FMS in the UK means it.
    """
    require_confirmed(principal)
    if begin.tzinfo is None:
        begin = begin.replace(tzinfo=hub.settings.zone)
    with hub.unit_of_work(one_statement=True) as uow:
        rows = uow.documents.index_created_after(principal.account_id, begin, hub.now())
    return [IndexEntry(*row) for row in rows]


def _well_formed(doc_id: str) -> bool:
    """DocIDs are printable ASCII without spaces; anything else (a NUL, which PostgreSQL refuses
    outright) cannot name a document, so it is not sent to the database at all."""
    return bool(doc_id) and DOC_ID_PATTERN.fullmatch(doc_id) is not None


def _login(principal: Principal) -> LoginCheck:
    return LoginCheck(principal.account_id, principal.username, principal.credential_version,
                      principal.slot == "current")


T = TypeVar("T")


def _in_one_statement(
    hub: Hub, doc_id: str, statement: Callable[[UnitOfWork], T | None], counted: Callable[[T], EventType | None],
    in_transaction: Callable[[UnitOfWork], T],
) -> T:
    """A document's change and its event: on PostgreSQL in one statement (``statement``, whose
    result says which event it wrote, if any); on SQLite, or when a webhook endpoint wants the
    event (its deliveries are written by emit), ``in_transaction``. Both check the caller's login
    in the statement that changes the document (CredentialsChanged if it no longer holds)."""
    with hub.unit_of_work(one_statement=True) as uow:
        if not uow.autocommit:
            return in_transaction(uow)
        try:
            result = uow.once_more_if_dropped(lambda: statement(uow))
        except InTransaction:
            pass
        else:
            if result is None:
                raise DocumentNotFound(doc_id)
            kind = counted(result)
            if kind is not None:
                count_bulk(uow, kind, 1)
            uow.commit()
            return result
    with hub.unit_of_work() as uow:
        return in_transaction(uow)


def fetch_doc(hub: Hub, principal: Principal, doc_id: str) -> bytes:
    """The document's bytes exactly as queued; records the collection, never the processed flag.

    ``principal`` may be unconfirmed (authentication.remembered): the statement that collects
    checks it against the account as it is now, and changes nothing if it no longer holds
    (CredentialsChanged: authenticate afresh)."""
    now = hub.now()
    if not _well_formed(doc_id):
        require_confirmed(principal)  # "not found" is an answer for a confirmed login only
        raise DocumentNotFound(doc_id or "")
    return _in_one_statement(
        hub, doc_id,
        lambda uow: uow.documents.collect_recorded(_login(principal), doc_id, now, EventType.DOCUMENT_COLLECTED.value),
        lambda _data: EventType.DOCUMENT_COLLECTED,
        lambda uow: _collect(uow, principal, doc_id, now),
    )


def _collect(uow: UnitOfWork, principal: Principal, doc_id: str, now: datetime) -> bytes:
    # One statement checks the login, finds the caller's own visible document, counts the
    # collection and reads the bytes; unknown, expired and another account's ids fail alike. Its
    # event follows, with the webhook deliveries it owes, in the same transaction.
    data = uow.documents.collect(_login(principal), doc_id, now)
    if data is None:
        raise DocumentNotFound(doc_id)
    emit(uow, EventType.DOCUMENT_COLLECTED, now, account_id=principal.account_id, doc_id=doc_id)
    uow.commit()
    return data


def update_document_status(hub: Hub, principal: Principal, doc_id: str, processed: bool) -> bool:
    """Mark processed or unprocessed; idempotent, and only a real change is logged.

    Returns whether the flag changed. ``principal`` may be unconfirmed, as for :func:`fetch_doc`.
    """
    now = hub.now()
    if not _well_formed(doc_id):
        require_confirmed(principal)
        raise DocumentNotFound(doc_id or "")
    kind = EventType.DOCUMENT_PROCESSED if processed else EventType.DOCUMENT_UNPROCESSED
    return _in_one_statement(
        hub, doc_id,
        lambda uow: uow.documents.mark_processed_recorded(_login(principal), doc_id, processed, now, kind.value),
        lambda changed: kind if changed else None,
        lambda uow: _mark(uow, principal, doc_id, processed, kind, now),
    )


def _mark(uow: UnitOfWork, principal: Principal, doc_id: str, processed: bool, kind: EventType, now: datetime) -> bool:
    changed = uow.documents.mark_processed(_login(principal), doc_id, processed, now)
    if changed is None:
        raise DocumentNotFound(doc_id)
    if changed:
        emit(uow, kind, now, account_id=principal.account_id, doc_id=doc_id)
    uow.commit()
    return changed
