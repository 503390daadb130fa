"""Every query eproc runs. Use cases call these with a session; nothing outside ``store`` writes SQL."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection, Row, delete, false, func, or_, select, true, update
from sqlalchemy.orm import Session, defer

from eproc.store.models import Account, Document, Event, ReceivedOrder

# --- accounts ---------------------------------------------------------------------------------


def account_by_username(session: Session, username: str, *, for_update: bool = False) -> Account | None:
    query = select(Account).where(Account.username == username)
    if for_update:
        query = query.with_for_update()
    return session.scalars(query).one_or_none()


def credential_state(connection: Connection, username: str) -> Row | None:
    """What decides whether a remembered verification still holds: one narrow row, no ORM."""
    query = select(
        Account.id,
        Account.credential_version,
        Account.enabled,
        Account.locked_until,
        Account.previous_password_expires_at,
        Account.failed_logins,
    ).where(Account.username == username)
    return connection.execute(query).one_or_none()


def lock_account(session: Session, account_id: int) -> None:
    """Hold the account's row until the transaction ends (SQLite serialises writers anyway)."""
    session.execute(select(Account.id).where(Account.id == account_id).with_for_update())


def account_by_id(session: Session, account_id: int) -> Account | None:
    return session.get(Account, account_id)


def accounts_by_duns(session: Session, buyer_duns: str, supplier_duns: str) -> Sequence[Account]:
    query = (
        select(Account)
        .where(Account.buyer_duns == buyer_duns, Account.supplier_duns == supplier_duns)
        .order_by(Account.id)
    )
    return session.scalars(query).all()


def all_accounts(session: Session) -> Sequence[Account]:
    return session.scalars(select(Account).order_by(Account.username)).all()


def add(session: Session, row: Account | Document | ReceivedOrder | Event) -> None:
    session.add(row)
    session.flush()


# --- documents --------------------------------------------------------------------------------


# Booleans are compared with "= false", not "IS FALSE": PostgreSQL can use a btree index only for
# the former.


def _visible(now: datetime):  # type: ignore[no-untyped-def]
    """Processed documents stay listed until purged; unprocessed ones vanish at expiry."""
    return or_(Document.processed == true(), Document.expires_at > now)


def unprocessed_documents(session: Session, account_id: int, now: datetime) -> Sequence[Document]:
    query = (
        select(Document)
        .where(Document.account_id == account_id, Document.processed == false(), Document.expires_at > now)
        .order_by(Document.created_at, Document.id)
    )
    return session.scalars(query).all()


def documents_created_after(session: Session, account_id: int, after: datetime, now: datetime) -> Sequence[Document]:
    query = (
        select(Document)
        .where(Document.account_id == account_id, Document.created_at > after, _visible(now))
        .order_by(Document.created_at, Document.id)
    )
    return session.scalars(query).all()


def visible_document(session: Session, account_id: int, doc_id: str, now: datetime) -> Document | None:
    """The caller's own, unexpired document; another account's DocID reads exactly as unknown."""
    query = select(Document).where(Document.doc_id == doc_id, Document.account_id == account_id, _visible(now))
    return session.scalars(query).one_or_none()


def document_by_doc_id(session: Session, doc_id: str) -> Document | None:
    return session.scalars(select(Document).where(Document.doc_id == doc_id)).one_or_none()


def list_documents(
    session: Session, account_id: int | None = None, unprocessed_only: bool = False, limit: int = 1000
) -> Sequence[Document]:
    """Documents without their XML and report: a listing never needs the blobs."""
    query = (
        select(Document)
        .options(defer(Document.xml), defer(Document.report_json))
        .order_by(Document.created_at, Document.id)
        .limit(limit)
    )
    if account_id is not None:
        query = query.where(Document.account_id == account_id)
    if unprocessed_only:
        query = query.where(Document.processed == false())
    return session.scalars(query).all()


def record_collection(session: Session, document_id: int, now: datetime) -> None:
    """Atomic increment: concurrent FetchDocs on several workers lose no count."""
    session.execute(
        update(Document)
        .where(Document.id == document_id)
        .values(
            collect_count=Document.collect_count + 1,
            last_collected_at=now,
            first_collected_at=func.coalesce(Document.first_collected_at, now),
        )
    )


def set_processed(session: Session, document_id: int, processed: bool, now: datetime) -> bool:
    """Set the flag; returns whether it changed (so only real changes are logged)."""
    result = session.execute(
        update(Document)
        .where(Document.id == document_id, Document.processed == (false() if processed else true()))
        .values(processed=processed, processed_at=now if processed else None)
    )
    return bool(result.rowcount)


def _purgeable(now: datetime, processed_before: datetime):  # type: ignore[no-untyped-def]
    return or_(
        (Document.processed == false()) & (Document.expires_at <= now),
        (Document.processed == true()) & (Document.processed_at <= processed_before),
    )


def purgeable_documents(
    session: Session, now: datetime, processed_before: datetime, limit: int
) -> Sequence[tuple[int, str, int, bool]]:
    """(id, doc_id, account_id, processed) of documents past expiry or past retention."""
    query = (
        select(Document.id, Document.doc_id, Document.account_id, Document.processed)
        .where(_purgeable(now, processed_before))
        .order_by(Document.id)
        .limit(limit)
    )
    return [tuple(row) for row in session.execute(query).all()]  # type: ignore[misc]


def count_purgeable(session: Session, now: datetime, processed_before: datetime) -> tuple[int, int]:
    """(expired, processed-past-retention) counts, for a dry run."""
    rows = session.execute(
        select(Document.processed, func.count()).where(_purgeable(now, processed_before)).group_by(Document.processed)
    ).all()
    counts = {bool(processed): count for processed, count in rows}
    return counts.get(False, 0), counts.get(True, 0)


def delete_documents(session: Session, ids: Sequence[int]) -> int:
    result = session.execute(delete(Document).where(Document.id.in_(ids)))
    return result.rowcount or 0


def queue_counts(session: Session, now: datetime, soon: datetime) -> dict[int, dict[str, int]]:
    """Per account: waiting (unprocessed, unexpired), of those collected at least once (fetched but
    never marked processed: an import that keeps failing), expiring before ``soon``, and processed."""
    waiting = (Document.processed == false()) & (Document.expires_at > now)
    query = select(
        Document.account_id,
        func.count().filter(waiting),
        func.count().filter(waiting & (Document.collect_count > 0)),
        func.count().filter(waiting & (Document.expires_at <= soon)),
        func.count().filter(Document.processed == true()),
    ).group_by(Document.account_id)
    return {
        account_id: {"waiting": w, "collected_not_processed": c, "expiring_soon": e, "processed": p}
        for account_id, w, c, e, p in session.execute(query).all()
    }


def order_counts(session: Session) -> dict[int, int]:
    query = select(ReceivedOrder.account_id, func.count()).group_by(ReceivedOrder.account_id)
    return dict(session.execute(query).all())  # type: ignore[arg-type]


# --- received orders --------------------------------------------------------------------------


def order_with_hash(session: Session, account_id: int, order_number: str, sha256: str) -> ReceivedOrder | None:
    query = select(ReceivedOrder).where(
        ReceivedOrder.account_id == account_id,
        ReceivedOrder.order_number == order_number,
        ReceivedOrder.sha256 == sha256,
    )
    return session.scalars(query).one_or_none()


def latest_revision(session: Session, account_id: int, order_number: str) -> int:
    query = select(func.max(ReceivedOrder.revision)).where(
        ReceivedOrder.account_id == account_id, ReceivedOrder.order_number == order_number
    )
    return session.scalar(query) or 0


def list_orders(session: Session, account_id: int | None = None, limit: int = 1000) -> Sequence[ReceivedOrder]:
    query = select(ReceivedOrder).order_by(ReceivedOrder.received_at, ReceivedOrder.id).limit(limit)
    if account_id is not None:
        query = query.where(ReceivedOrder.account_id == account_id)
    return session.scalars(query).all()


def order_by_id(session: Session, order_id: int) -> ReceivedOrder | None:
    return session.get(ReceivedOrder, order_id)


# --- events -----------------------------------------------------------------------------------


def record_event(
    session: Session,
    kind: str,
    at: datetime,
    account_id: int | None = None,
    subject: str | None = None,
    detail: str | None = None,
) -> None:
    session.add(Event(kind=kind, at=at, account_id=account_id, subject=subject, detail=detail))


def events(session: Session, account_id: int | None = None, kind: str | None = None) -> Sequence[Event]:
    query = select(Event).order_by(Event.id)
    if account_id is not None:
        query = query.where(Event.account_id == account_id)
    if kind is not None:
        query = query.where(Event.kind == kind)
    return session.scalars(query).all()
