"""Every query eproc runs, by name. Only ``eproc.store`` writes SQL; the use cases call these.

Each repository works inside the session of the unit of work that owns it (``store/unit_of_work.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import ColumnElement, Connection, delete, false, func, or_, select, true, update
from sqlalchemy.orm import Session, defer

from eproc.store.models import Account, Document, Event, ReceivedOrder


class CredentialState(NamedTuple):
    """What decides whether a remembered verification still holds."""

    id: int
    credential_version: int
    enabled: bool
    locked_until: datetime | None
    previous_password_expires_at: datetime | None
    failed_logins: int


class IndexRow(NamedTuple):
    doc_id: str
    doc_type: str
    created_at: datetime


class PurgeCandidate(NamedTuple):
    id: int
    doc_id: str
    account_id: int
    processed: bool


class QueueCounts(NamedTuple):
    waiting: int
    collected_not_processed: int
    expiring_soon: int
    processed: int


class AccountRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def by_username(self, username: str, *, for_update: bool = False) -> Account | None:
        query = select(Account).where(Account.username == username)
        if for_update:
            query = query.with_for_update()
        return self._session.scalars(query).one_or_none()

    def by_id(self, account_id: int) -> Account | None:
        return self._session.get(Account, account_id)

    def by_duns(self, buyer_duns: str, supplier_duns: str) -> Sequence[Account]:
        query = (
            select(Account)
            .where(Account.buyer_duns == buyer_duns, Account.supplier_duns == supplier_duns)
            .order_by(Account.id)
        )
        return self._session.scalars(query).all()

    def all(self) -> Sequence[Account]:
        return self._session.scalars(select(Account).order_by(Account.username)).all()

    def usernames(self) -> dict[int, str]:
        return {row.id: row.username for row in self._session.execute(select(Account.id, Account.username))}

    def add(self, account: Account) -> None:
        self._session.add(account)
        self._session.flush()

    def hold(self, account_id: int) -> None:
        """Hold the account's row until the unit of work ends (SQLite serialises writers anyway)."""
        self._session.execute(select(Account.id).where(Account.id == account_id).with_for_update())

    def hold_and_reload(self, account: Account, now: datetime) -> None:
        """Hold the account row until the unit of work ends, and re-read it.

        The write comes first because that is what takes the lock on both backends: PostgreSQL
        locks the row, SQLite the database (it has no SELECT ... FOR UPDATE). What is read
        afterwards is the latest committed state, and no other worker can change it before commit.
        """
        account.updated_at = now
        self._session.flush()
        self._session.refresh(account)

    def count_failed_login(self, account: Account) -> int:
        """``failed_logins = failed_logins + 1`` in the database, then the row re-read (and held).

        Failures counted at the same moment by other workers are not lost, and the row stays locked
        until commit, so a lockout decision made after this sees every failure before this one.
        """
        self._session.execute(
            update(Account).where(Account.id == account.id).values(failed_logins=Account.failed_logins + 1)
        )
        self._session.refresh(account)
        return account.failed_logins


def credential_state(connection: Connection, username: str) -> CredentialState | None:
    """The warm login path's one narrow read, outside any session."""
    query = select(
        Account.id,
        Account.credential_version,
        Account.enabled,
        Account.locked_until,
        Account.previous_password_expires_at,
        Account.failed_logins,
    ).where(Account.username == username)
    row = connection.execute(query).one_or_none()
    return None if row is None else CredentialState(*row)


# Booleans are compared with "= false", not "IS FALSE": PostgreSQL can use a btree index only for
# the former.


def _visible(now: datetime) -> ColumnElement[bool]:
    """Processed documents stay listed until purged; unprocessed ones vanish at expiry."""
    return or_(Document.processed == true(), Document.expires_at > now)


def _purgeable(now: datetime, processed_before: datetime) -> ColumnElement[bool]:
    return or_(
        (Document.processed == false()) & (Document.expires_at <= now),
        (Document.processed == true()) & (Document.processed_at <= processed_before),
    )


_INDEX_COLUMNS = (Document.doc_id, Document.doc_type, Document.created_at)


class DocumentRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def add(self, document: Document) -> None:
        self._session.add(document)
        self._session.flush()

    def unprocessed_index(self, account_id: int, now: datetime) -> list[IndexRow]:
        """What FetchIndex lists: ids, types and dates only, never the XML."""
        query = (
            select(*_INDEX_COLUMNS)
            .where(Document.account_id == account_id, Document.processed == false(), Document.expires_at > now)
            .order_by(Document.created_at, Document.id)
        )
        return [IndexRow(*row) for row in self._session.execute(query)]

    def index_created_after(self, account_id: int, after: datetime, now: datetime) -> list[IndexRow]:
        query = (
            select(*_INDEX_COLUMNS)
            .where(Document.account_id == account_id, Document.created_at > after, _visible(now))
            .order_by(Document.created_at, Document.id)
        )
        return [IndexRow(*row) for row in self._session.execute(query)]

    def visible_id(self, account_id: int, doc_id: str, now: datetime) -> int | None:
        """The row id of the caller's own, unexpired document; another account's reads as unknown."""
        query = select(Document.id).where(
            Document.doc_id == doc_id, Document.account_id == account_id, _visible(now)
        )
        return self._session.scalars(query).one_or_none()

    def xml_of(self, document_id: int) -> bytes:
        return self._session.scalars(select(Document.xml).where(Document.id == document_id)).one()

    def by_doc_id(self, doc_id: str) -> Document | None:
        return self._session.scalars(select(Document).where(Document.doc_id == doc_id)).one_or_none()

    def listing(
        self, account_id: int | None = None, unprocessed_only: bool = False, limit: int = 1000
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
        return self._session.scalars(query).all()

    def record_collection(self, document_id: int, now: datetime) -> None:
        """Atomic increment: concurrent FetchDocs on several workers lose no count."""
        self._session.execute(
            update(Document)
            .where(Document.id == document_id)
            .values(
                collect_count=Document.collect_count + 1,
                last_collected_at=now,
                first_collected_at=func.coalesce(Document.first_collected_at, now),
            )
        )

    def set_processed(self, document_id: int, processed: bool, now: datetime) -> bool:
        """Set the flag; returns whether it changed (so only real changes are logged)."""
        result = self._session.execute(
            update(Document)
            .where(Document.id == document_id, Document.processed == (false() if processed else true()))
            .values(processed=processed, processed_at=now if processed else None)
        )
        return bool(getattr(result, "rowcount", 0))

    def purgeable(self, now: datetime, processed_before: datetime, limit: int) -> list[PurgeCandidate]:
        """Documents past expiry or past retention, oldest first."""
        query = (
            select(Document.id, Document.doc_id, Document.account_id, Document.processed)
            .where(_purgeable(now, processed_before))
            .order_by(Document.id)
            .limit(limit)
        )
        return [PurgeCandidate(*row) for row in self._session.execute(query)]

    def count_purgeable(self, now: datetime, processed_before: datetime) -> tuple[int, int]:
        """(expired, processed-past-retention) counts, for a dry run."""
        rows = self._session.execute(
            select(Document.processed, func.count())
            .where(_purgeable(now, processed_before))
            .group_by(Document.processed)
        ).all()
        counts = {bool(processed): int(count) for processed, count in rows}
        return counts.get(False, 0), counts.get(True, 0)

    def delete(self, ids: Sequence[int]) -> int:
        result = self._session.execute(delete(Document).where(Document.id.in_(ids)))
        return int(getattr(result, "rowcount", 0) or 0)

    def queue_counts(self, now: datetime, soon: datetime) -> dict[int, QueueCounts]:
        """Per account: waiting (unprocessed, unexpired), of those collected at least once (fetched
        but never marked processed: an import that keeps failing), expiring before ``soon``, and
        processed."""
        waiting = (Document.processed == false()) & (Document.expires_at > now)
        query = select(
            Document.account_id,
            func.count().filter(waiting),
            func.count().filter(waiting & (Document.collect_count > 0)),
            func.count().filter(waiting & (Document.expires_at <= soon)),
            func.count().filter(Document.processed == true()),
        ).group_by(Document.account_id)
        return {row[0]: QueueCounts(*row[1:]) for row in self._session.execute(query)}


class OrderRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def add(self, order: ReceivedOrder) -> None:
        self._session.add(order)
        self._session.flush()

    def with_hash(self, account_id: int, order_number: str, sha256: str) -> ReceivedOrder | None:
        query = select(ReceivedOrder).where(
            ReceivedOrder.account_id == account_id,
            ReceivedOrder.order_number == order_number,
            ReceivedOrder.sha256 == sha256,
        )
        return self._session.scalars(query).one_or_none()

    def latest_revision(self, account_id: int, order_number: str) -> int:
        query = select(func.max(ReceivedOrder.revision)).where(
            ReceivedOrder.account_id == account_id, ReceivedOrder.order_number == order_number
        )
        return self._session.scalar(query) or 0

    def listing(self, account_id: int | None = None, limit: int = 1000) -> Sequence[ReceivedOrder]:
        query = (
            select(ReceivedOrder)
            .options(defer(ReceivedOrder.xml), defer(ReceivedOrder.report_json))
            .order_by(ReceivedOrder.received_at, ReceivedOrder.id)
            .limit(limit)
        )
        if account_id is not None:
            query = query.where(ReceivedOrder.account_id == account_id)
        return self._session.scalars(query).all()

    def by_id(self, order_id: int) -> ReceivedOrder | None:
        return self._session.get(ReceivedOrder, order_id)

    def counts(self) -> dict[int, int]:
        query = select(ReceivedOrder.account_id, func.count()).group_by(ReceivedOrder.account_id)
        return {int(account_id): int(count) for account_id, count in self._session.execute(query)}


class EventRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def record(
        self,
        kind: str,
        at: datetime,
        account_id: int | None = None,
        subject: str | None = None,
        detail: str | None = None,
    ) -> None:
        self._session.add(Event(kind=kind, at=at, account_id=account_id, subject=subject, detail=detail))

    def listing(self, account_id: int | None = None, kind: str | None = None) -> Sequence[Event]:
        query = select(Event).order_by(Event.id)
        if account_id is not None:
            query = query.where(Event.account_id == account_id)
        if kind is not None:
            query = query.where(Event.kind == kind)
        return self._session.scalars(query).all()

