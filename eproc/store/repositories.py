"""Every query eproc runs, by name. Only ``eproc.store`` writes SQL; the use cases call these.

Each repository works inside the session of the unit of work that owns it (``store/unit_of_work.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import NamedTuple

from sqlalchemy import (
    CTE,
    Boolean,
    ColumnElement,
    Connection,
    String,
    Table,
    Text,
    Update,
    and_,
    bindparam,
    case,
    delete,
    exists,
    false,
    func,
    insert,
    literal,
    literal_column,
    or_,
    select,
    text,
    true,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, defer

from eproc.store.models import (
    Account,
    AddressFailure,
    ApiToken,
    Document,
    Event,
    FamiliarAddress,
    LoginBucket,
    ReceivedOrder,
    SigningKey,
    UtcDateTime,
    WebhookEndpoint,
)
from eproc.store.webhooks import ENABLED_SUBSCRIPTIONS, Subscription, subscriptions_of


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

    def ids_of(self, usernames: Sequence[str]) -> list[int]:
        query = select(Account.id).where(Account.username.in_(list(usernames)))
        return list(self._session.scalars(query))

    def usernames(self) -> dict[int, str]:
        return {row.id: row.username for row in self._session.execute(select(Account.id, Account.username))}

    def add(self, account: Account) -> None:
        self._session.add(account)
        self._session.flush()

    def hold(self, account_id: int) -> None:
        """Hold the account's row until the unit of work ends. A write, because that is what takes
        the lock on both backends (SQLite has no SELECT ... FOR UPDATE, and reads take no lock)."""
        self._session.execute(update(Account).where(Account.id == account_id).values(updated_at=Account.updated_at))

    def hold_and_reload(self, account: Account, now: datetime) -> None:
        """Hold the account row until the unit of work ends, and re-read it.

        The write comes first because that is what takes the lock on both backends: PostgreSQL
        locks the row, SQLite the database (it has no SELECT ... FOR UPDATE). What is read
        afterwards is the latest committed state, and no other worker can change it before commit.
        """
        account.updated_at = now
        self._session.flush()
        self._session.refresh(account)


# Built once, as _TOKEN_STATE below: every FMS call runs it.
_CREDENTIAL_STATE = select(
    Account.id,
    Account.credential_version,
    Account.enabled,
    Account.locked_until,
    Account.previous_password_expires_at,
    Account.failed_logins,
).where(Account.username == bindparam("username"))


def credential_state(connection: Connection, username: str) -> CredentialState | None:
    """The warm login path's one narrow read, outside any session."""
    row = connection.execute(_CREDENTIAL_STATE, {"username": username}).one_or_none()
    return None if row is None else CredentialState(*row)


class TokenState(NamedTuple):
    """What decides whether a bearer token is accepted now."""

    id: str
    name: str
    permissions: str
    accounts: str | None
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None


# Built once: every API call runs it, and building the expression cost more than running it.
_TOKEN_STATE = select(
    ApiToken.id, ApiToken.name, ApiToken.permissions, ApiToken.accounts, ApiToken.expires_at,
    ApiToken.revoked_at, ApiToken.last_used_at,
).where(ApiToken.id == bindparam("token_id"))


def token_state(connection: Connection, token_id: str) -> TokenState | None:
    """Every API call's one narrow read of its token, outside any session."""
    row = connection.execute(_TOKEN_STATE, {"token_id": token_id}).one_or_none()
    return None if row is None else TokenState(*row)


def account_ids_of(connection: Connection, usernames: Sequence[str]) -> list[int]:
    return list(connection.scalars(select(Account.id).where(Account.username.in_(list(usernames)))))


# Booleans are compared with "= false", not "IS FALSE": PostgreSQL can use a btree index only for
# the former.


def _visible(now: datetime) -> ColumnElement[bool]:
    """Processed documents stay listed until purged; unprocessed ones vanish at expiry; withdrawn
    ones at once."""
    return Document.withdrawn_at.is_(None) & or_(Document.processed == true(), Document.expires_at > now)


def _pending(now: datetime) -> ColumnElement[bool]:
    """Waiting for FMS: not processed, not withdrawn, not expired."""
    return (Document.processed == false()) & Document.withdrawn_at.is_(None) & (Document.expires_at > now)


def _purgeable(now: datetime, processed_before: datetime) -> ColumnElement[bool]:
    return or_(
        (Document.processed == false()) & (Document.expires_at <= now),
        (Document.processed == true()) & (Document.processed_at <= processed_before),
    )


_INDEX_COLUMNS = (Document.doc_id, Document.doc_type, Document.created_at)

# The FMS hot path's statements, built once at import and run on the session's connection as Core
# statements: neither the statement objects nor (through SQLAlchemy's compiled cache) their SQL
# are made again per call, and no ORM object is loaded. On PostgreSQL psycopg prepares them
# server-side after a few executions.
_documents: Table = Document.__table__  # type: ignore[assignment]
_d = _documents.c
_NOW = bindparam("now", type_=Document.expires_at.type)


def _visible_core() -> ColumnElement[bool]:
    return _d.withdrawn_at.is_(None) & or_(_d.processed == true(), _d.expires_at > _NOW)


_OWN_VISIBLE = (_d.doc_id == bindparam("p_doc_id")) & (_d.account_id == bindparam("p_account_id")) & _visible_core()
# FetchDoc's bookkeeping and read in one statement: the count goes up and the bytes come back only
# if the document is the caller's and visible.
_COLLECT = (
    update(_documents)
    .where(_OWN_VISIBLE)
    .values(
        collect_count=_d.collect_count + 1,
        last_collected_at=_NOW,
        first_collected_at=func.coalesce(_d.first_collected_at, _NOW),
    )
    .returning(_d.xml)
)
# UpdateDocumentStatus in one statement when the flag changes (the usual case); an unchanged flag
# takes a second look to tell "already so" from "not yours".
_SET_PROCESSED = (
    update(_documents)
    .where(_OWN_VISIBLE, _d.processed == bindparam("was"))
    .values(processed=bindparam("p_processed"), processed_at=bindparam("p_processed_at"))
)
# The caller's login still holds: the account is as its password was verified against (the warm
# login's conditions, eproc/services/authentication.py), checked in the statement that acts on it.
_a = Account.__table__.c
_LOGIN_HOLDS = exists().where(
    _a.id == bindparam("p_account_id"), _a.username == bindparam("p_username"),
    _a.credential_version == bindparam("p_version"), _a.enabled == true(), _a.failed_logins == 0,
    _a.locked_until.is_(None),
    or_(bindparam("p_current", type_=Boolean()), _a.previous_password_expires_at > _NOW),
)
_COLLECT_CHECKED = _COLLECT.where(_LOGIN_HOLDS)
_SET_PROCESSED_CHECKED = _SET_PROCESSED.where(_LOGIN_HOLDS)
# Why a checked statement changed nothing: the login, and whether the document is there for it.
_NOTHING_CHANGED = select(_LOGIN_HOLDS, exists().where(_OWN_VISIBLE))


# FetchDoc's and UpdateDocumentStatus's change and its event in one PostgreSQL statement (data-
# modifying CTEs), run in autocommit mode: no BEGIN, no COMMIT, no second statement. It is the
# transactional path's own UPDATE (_COLLECT, _SET_PROCESSED) with the same login check
# (_LOGIN_HOLDS), so no read of the account precedes it and it changes nothing unless the login
# holds; and it changes nothing either when an enabled webhook endpoint subscribes to the event
# type: deliveries are owed per event and written by events.emit in a transaction, so the caller
# then does it that way.
_events: Table = Event.__table__  # type: ignore[assignment]
_e = WebhookEndpoint.__table__.c
_TYPE = bindparam("type", type_=String())
_COMMA = literal_column("','", Text)  # a constant in the SQL, not a parameter
_login = select(_LOGIN_HOLDS.label("ok")).cte("login")
_wanted = select(exists().where(
    _e.enabled == true(), func.strpos(_COMMA + _e.events + _COMMA, _COMMA + _TYPE + _COMMA) > 0,
).label("yes")).cte("wanted")
_LOGIN_OK = select(_login.c.ok).scalar_subquery()
_SUBSCRIBED = select(_wanted.c.yes).scalar_subquery()


def _with_its_event(change: Update) -> tuple[CTE, CTE]:
    """``change`` made only if the login holds and nobody subscribes, and its event written from
    what it changed (the CTE ``changed`` and the insert that must be attached to the statement)."""
    changed = change.where(_LOGIN_OK, ~_SUBSCRIBED).cte("changed")
    event_of = select(_NOW, _TYPE, bindparam("p_account_id"), bindparam("p_doc_id"), bindparam("p_doc_id"))
    recorded = insert(_events).from_select(
        ["at", "type", "account_id", "subject", "doc_id"], event_of.select_from(changed)
    ).cte("recorded")
    return changed, recorded


_collected, _collected_event = _with_its_event(_COLLECT)
_COLLECT_RECORDED = select(select(_collected.c.xml).scalar_subquery(), _LOGIN_OK, _SUBSCRIBED).add_cte(
    _collected_event
)
_marked, _marked_event = _with_its_event(_SET_PROCESSED.returning(_d.id))
_SET_PROCESSED_RECORDED = select(
    exists(select(_marked.c.id)), exists().where(_OWN_VISIBLE), _LOGIN_OK, _SUBSCRIBED
).add_cte(_marked_event)


class LoginCheck(NamedTuple):
    """What a one-statement change checks of the caller's login: the account as the password was
    verified against it (its id, username and credential version, and whether the password was
    the current one rather than the previous one, which must still be in its grace period)."""

    account_id: int
    username: str
    credential_version: int
    current: bool


class LoginChanged(Exception):
    """The account is no longer as the login was verified against it; the statement changed nothing."""


def _login_params(login: LoginCheck) -> dict[str, object]:
    return {"p_account_id": login.account_id, "p_username": login.username, "p_version": login.credential_version,
            "p_current": login.current}


class InTransaction(Exception):
    """A one-statement change that must be made in a transaction instead (see its caller)."""


# Where a purge walk starts: before any expiry or processing time.
PURGE_FROM_START = datetime.min.replace(tzinfo=UTC)
_ASYNC_COMMIT = text("SET LOCAL synchronous_commit = off")


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
            .where(Document.account_id == account_id, _pending(now))
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

    def collect(self, login: LoginCheck, doc_id: str, now: datetime) -> bytes | None:
        """Record a collection of the caller's own visible document and return its bytes, in the
        statement that checks the caller's ``login``; None when there is no such document
        (unknown, expired and another account's alike); LoginChanged, having changed nothing, when
        the login no longer holds."""
        connection = self._session.connection()
        params = {"p_doc_id": doc_id, "now": now, **_login_params(login)}
        row = connection.execute(_COLLECT_CHECKED, params).first()
        if row is None and not connection.execute(_NOTHING_CHANGED, params).one()[0]:
            raise LoginChanged()
        return None if row is None else bytes(row[0])

    def mark_processed(self, login: LoginCheck, doc_id: str, processed: bool, now: datetime) -> bool | None:
        """Set the caller's own visible document's flag, checking ``login`` as :meth:`collect`
        does: whether it changed, None when there is no such document."""
        connection = self._session.connection()
        params = {"p_doc_id": doc_id, "now": now, "was": not processed, "p_processed": processed,
                  "p_processed_at": now if processed else None, **_login_params(login)}
        if connection.execute(_SET_PROCESSED_CHECKED, params).rowcount:
            return True
        login_holds, found = connection.execute(_NOTHING_CHANGED, params).one()
        if not login_holds:
            raise LoginChanged()
        return False if found else None

    def collect_recorded(self, login: LoginCheck, doc_id: str, now: datetime, event_type: str) -> bytes | None:
        """:meth:`collect` and its ``event_type`` event in one statement that also checks ``login``,
        for a unit of work in autocommit mode (PostgreSQL). Raises, having changed nothing,
        :class:`LoginChanged` when the login no longer holds and :class:`InTransaction` when a
        webhook endpoint subscribes to the event."""
        xml, login_ok, subscribed = self._session.connection().execute(
            _COLLECT_RECORDED, {**_login_params(login), "p_doc_id": doc_id, "now": now, "type": event_type},
        ).one()
        if not login_ok:
            raise LoginChanged()
        if subscribed:
            raise InTransaction(event_type)
        return None if xml is None else bytes(xml)

    def mark_processed_recorded(
        self, login: LoginCheck, doc_id: str, processed: bool, now: datetime, event_type: str
    ) -> bool | None:
        """:meth:`mark_processed` and, when the flag changes, its ``event_type`` event in one
        statement, as :meth:`collect_recorded`."""
        changed, found, login_ok, subscribed = self._session.connection().execute(_SET_PROCESSED_RECORDED, {
            **_login_params(login), "p_doc_id": doc_id, "now": now, "was": not processed,
            "p_processed": processed, "p_processed_at": now if processed else None, "type": event_type,
        }).one()
        if not login_ok:
            raise LoginChanged()
        if not found:
            return None
        if changed:
            return True
        if subscribed:  # it may have been unchanged only because the statement held back
            raise InTransaction(event_type)
        return False

    def by_doc_id(self, doc_id: str, *, with_xml: bool = True) -> Document | None:
        query = select(Document).where(Document.doc_id == doc_id)
        if not with_xml:
            query = query.options(defer(Document.xml))
        return self._session.scalars(query).one_or_none()

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

    def pending_with(self, account_id: int, now: datetime, *, sha256: str | None = None,
                     number: str | None = None) -> Sequence[Document]:
        """Pending documents of the account with these bytes, or with this document number.

        Selected by the account and the bytes (or number) alone, through that index, and the
        pending ones kept here: the rows are few, while a pending condition in the query lets
        SQLite's planner (no statistics) prefer the (processed, expires_at) index and walk every
        pending document of the hub, 4 ms a queueing at 300 documents and growing.
        """
        same: ColumnElement[bool] = (
            Document.sha256 == sha256 if sha256 is not None else Document.document_number == number
        )
        query = (
            select(Document)
            .options(defer(Document.xml), defer(Document.report_json))
            .where(Document.account_id == account_id, same)
            .order_by(Document.id)
        )
        return [
            document for document in self._session.scalars(query)
            if not document.processed and document.withdrawn_at is None and document.expires_at > now
        ]

    def by_idempotency_key(self, account_id: int, key: str) -> Document | None:
        query = select(Document).where(Document.account_id == account_id, Document.idempotency_key == key)
        return self._session.scalars(query).one_or_none()

    def page(
        self,
        *,
        now: datetime,
        account_ids: Sequence[int] | None,
        status: str | None,
        doc_type: str | None,
        after: int | None,
        limit: int,
    ) -> Sequence[Document]:
        """One keyset page by row id, without XML; ``status`` as the portal API names it."""
        query = select(Document).options(defer(Document.xml), defer(Document.report_json))
        if account_ids is not None:
            query = query.where(Document.account_id.in_(list(account_ids)))
        if doc_type is not None:
            query = query.where(Document.doc_type == doc_type)
        if after is not None:
            query = query.where(Document.id > after)
        live = Document.withdrawn_at.is_(None)
        conditions = {
            "withdrawn": Document.withdrawn_at.is_not(None),
            "processed": live & (Document.processed == true()),
            "expired": live & (Document.processed == false()) & (Document.expires_at <= now),
            "collected": _pending(now) & (Document.collect_count > 0),
            "queued": _pending(now) & (Document.collect_count == 0),
        }
        if status is not None:
            query = query.where(conditions[status])
        return self._session.scalars(query.order_by(Document.id).limit(limit)).all()

    def due_for_purge(
        self, *, expired: bool, now: datetime, processed_before: datetime, limit: int
    ) -> list[PurgeCandidate]:
        """One batch of the documents of one kind due for purging (unprocessed past expiry, or
        processed past retention), walked from the oldest on that kind's index (migration 0006)."""
        query = select(Document.id, Document.doc_id, Document.account_id, Document.processed)
        if expired:
            query = query.where(Document.processed == false(), Document.expires_at <= now).order_by(
                Document.expires_at)
        else:
            query = query.where(Document.processed == true(), Document.processed_at <= processed_before).order_by(
                Document.processed_at)
        return [PurgeCandidate(*row) for row in self._session.execute(query.limit(limit))]

    @property
    def purges_in_one_statement(self) -> bool:
        """Whether :meth:`purge_batch` is available: PostgreSQL's data-modifying CTEs."""
        return self._session.get_bind().dialect.name == "postgresql"

    def purge_batch(
        self,
        *,
        expired: bool,
        now: datetime,
        processed_before: datetime,
        limit: int,
        events: Sequence[tuple[str, str | None, str | None]],
        after: datetime = PURGE_FROM_START,
    ) -> tuple[int, datetime | None]:
        """Delete one batch of due documents of one kind and log ``events`` (type, detail, data)
        for each of them, in this order per document, in one statement (PostgreSQL only): the
        DELETE's RETURNING feeds the INSERT ... SELECT of the events, so no row comes to Python.

        The batch is walked on that kind's index from ``after`` (its expiry, or processing time),
        not from the oldest row: the index entries of the rows earlier batches deleted stay until
        a vacuum, and a walk from the start stepped over all of them (10 ms per batch after 600k).
        It is deleted by the row addresses (ctid) its locking select found, a TID scan, rather
        than found again through the primary key (1.5-2.5 us a document less): the rows are
        locked, so their addresses hold.
        Rows a concurrent call holds are skipped (SKIP LOCKED); a walk from the start picks them
        up again (see the purge loop). Returns how many documents it deleted and the batch's
        latest expiry (or processing time), where the next batch may start; (0, None) when none
        is due from ``after`` on.

        Its transaction commits without waiting for the WAL flush (``synchronous_commit = off``,
        this transaction only): a batch lost in a crash is one the next purge finds due again and
        redoes, its documents and events alike, so nothing is lost or logged twice."""
        if expired:
            due, order = "processed = false AND expires_at <= :now", "expires_at"
        else:
            due, order = "processed = true AND processed_at <= :before", "processed_at"
        kinds = ", ".join(
            f"({n}, CAST(:type_{n} AS VARCHAR), CAST(:detail_{n} AS TEXT), CAST(:data_{n} AS TEXT))"
            for n in range(len(events))
        )
        params: dict[str, object] = {"now": now, "before": processed_before, "limit": limit, "after": after}
        for n, (type_, detail, data) in enumerate(events):
            params.update({f"type_{n}": type_, f"detail_{n}": detail, f"data_{n}": data})
        # Only fixed fragments of this module are formatted in; every value is a bound parameter.
        statement = text(
            f"""
            WITH gone AS (
                DELETE FROM document WHERE ctid = ANY(ARRAY(
                    SELECT ctid FROM document WHERE {due} AND {order} >= :after
                    ORDER BY {order} LIMIT :limit FOR UPDATE SKIP LOCKED
                ))
                RETURNING id, doc_id, account_id, {order} AS mark
            ), logged AS (
                INSERT INTO event (at, type, account_id, subject, detail, doc_id, data)
                SELECT :now, k.type, gone.account_id, gone.doc_id, k.detail, gone.doc_id, k.data
                FROM gone CROSS JOIN (VALUES {kinds}) AS k (n, type, detail, data)
                ORDER BY gone.id, k.n
            )
            SELECT count(*), max(mark) FROM gone
            """  # noqa: S608
        ).bindparams(
            bindparam("now", type_=Document.expires_at.type), bindparam("after", type_=Document.expires_at.type)
        )
        if not expired:
            statement = statement.bindparams(bindparam("before", type_=Document.expires_at.type))
        self._session.execute(_ASYNC_COMMIT)
        count, mark = self._session.execute(statement, params).one()
        return int(count), mark

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

    def queue_depth(self, now: datetime) -> tuple[int, int]:
        """All accounts together: documents pending (never fetched, fetched but not processed).
        For the metrics, read at every scrape: the range on ``expires_at`` keeps it to the last
        expiry period's documents, however many processed ones are retained."""
        pending = _pending(now)
        query = select(
            func.count().filter(pending & (Document.collect_count == 0)),
            func.count().filter(pending & (Document.collect_count > 0)),
        ).where(Document.expires_at > now)
        waiting, collected = self._session.execute(query).one()
        return int(waiting or 0), int(collected or 0)


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

    def page(
        self, *, account_ids: Sequence[int] | None, acknowledged: bool | None, after: int | None, limit: int
    ) -> Sequence[ReceivedOrder]:
        query = select(ReceivedOrder).options(defer(ReceivedOrder.xml))
        if account_ids is not None:
            query = query.where(ReceivedOrder.account_id.in_(list(account_ids)))
        if acknowledged is not None:
            acked = ReceivedOrder.acknowledged_at.is_not(None)
            query = query.where(acked if acknowledged else ~acked)
        if after is not None:
            query = query.where(ReceivedOrder.id > after)
        return self._session.scalars(query.order_by(ReceivedOrder.id).limit(limit)).all()

    def revision_ids(self, account_id: int, order_number: str) -> list[int]:
        query = (
            select(ReceivedOrder.id)
            .where(ReceivedOrder.account_id == account_id, ReceivedOrder.order_number == order_number)
            .order_by(ReceivedOrder.revision)
        )
        return list(self._session.scalars(query))

    def counts(self) -> dict[int, int]:
        query = select(ReceivedOrder.account_id, func.count()).group_by(ReceivedOrder.account_id)
        return {int(account_id): int(count) for account_id, count in self._session.execute(query)}

    def delete_received_before(self, before: datetime, limit: int) -> int:
        """One purge batch in one statement: up to ``limit`` orders received before ``before``."""
        batch = select(ReceivedOrder.id).where(ReceivedOrder.received_at < before).order_by(
            ReceivedOrder.received_at).limit(limit)
        result = self._session.execute(delete(ReceivedOrder).where(ReceivedOrder.id.in_(batch.scalar_subquery())))
        return int(getattr(result, "rowcount", 0) or 0)

    def count_received_before(self, before: datetime) -> int:
        query = select(func.count()).select_from(ReceivedOrder).where(ReceivedOrder.received_at < before)
        return int(self._session.scalar(query) or 0)

    def delete(self, ids: Sequence[int]) -> int:
        result = self._session.execute(delete(ReceivedOrder).where(ReceivedOrder.id.in_(ids)))
        return int(getattr(result, "rowcount", 0) or 0)


class RecordedEvent(NamedTuple):
    """An event as written, with the enabled endpoints' subscriptions as the same statement saw them."""

    id: int
    type: str
    at: datetime
    account_id: int | None
    doc_id: str | None
    order_id: int | None
    subscriptions: list[Subscription]


# Every state change runs it: built once, a Core insert (no ORM object, no flush of its own), and
# it brings back the event's id and who subscribes, so that no SELECT of the endpoints follows.
_RECORD_EVENT = insert(_events).returning(_events.c.id, ENABLED_SUBSCRIPTIONS)


class EventRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def record(
        self,
        type_: str,
        at: datetime,
        account_id: int | None = None,
        subject: str | None = None,
        detail: str | None = None,
        *,
        doc_id: str | None = None,
        order_id: int | None = None,
        data: str | None = None,
    ) -> RecordedEvent:
        # What the unit of work changed so far goes first, as an autoflush would have sent it: the
        # subscriptions must include an endpoint changed in this same unit of work. A no-op on
        # the FMS hot path, where the session holds no objects.
        self._session.flush()
        row = self._session.connection().execute(_RECORD_EVENT, {
            "type": type_, "at": at, "account_id": account_id, "subject": subject, "detail": detail,
            "doc_id": doc_id, "order_id": order_id, "data": data,
        }).one()
        return RecordedEvent(row[0], type_, at, account_id, doc_id, order_id, subscriptions_of(row[1]))

    def listing(
        self,
        account_id: int | None = None,
        type_: str | None = None,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = None,
    ) -> Sequence[Event]:
        """Oldest first; with ``limit``, the most recent ``limit`` of them (as ``tail`` would)."""
        query = select(Event).order_by(Event.id.desc())
        if account_id is not None:
            query = query.where(Event.account_id == account_id)
        if type_ is not None:
            query = query.where(Event.type == type_)
        if since is not None:
            query = query.where(Event.at >= since)
        if until is not None:
            query = query.where(Event.at < until)
        if limit is not None:
            query = query.limit(limit)
        return list(reversed(self._session.scalars(query).all()))

    def feed(
        self,
        *,
        from_event_id: int | None,
        from_date: datetime | None,
        to_date: datetime | None,
        types: Sequence[str],
        account_ids: Sequence[int] | None,
        offset: int,
        limit: int,
    ) -> Sequence[Event]:
        """Events by id; a range on the primary key (or on ``at``) so a page costs the same at any depth."""
        query = select(Event)
        if from_event_id is not None:
            query = query.where(Event.id >= from_event_id)
        if from_date is not None:
            query = query.where(Event.at >= from_date)
        if to_date is not None:
            query = query.where(Event.at < to_date)
        if types:
            query = query.where(Event.type.in_(list(types)))
        if account_ids is not None:
            query = query.where(Event.account_id.in_(list(account_ids)))
        return self._session.scalars(query.order_by(Event.id).offset(offset).limit(limit)).all()

    def delete_before(self, before: datetime, limit: int) -> int:
        """One purge batch in one statement: up to ``limit`` events older than ``before``, walked
        on the ``at`` index."""
        batch = select(Event.id).where(Event.at < before).order_by(Event.at).limit(limit)
        result = self._session.execute(delete(Event).where(Event.id.in_(batch.scalar_subquery())))
        return int(getattr(result, "rowcount", 0) or 0)

    def count_before(self, before: datetime) -> int:
        return int(self._session.scalar(select(func.count()).select_from(Event).where(Event.at < before)) or 0)

    def delete(self, ids: Sequence[int]) -> int:
        result = self._session.execute(delete(Event).where(Event.id.in_(ids)))
        return int(getattr(result, "rowcount", 0) or 0)


class TokenRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def add(self, token: ApiToken) -> None:
        self._session.add(token)
        self._session.flush()

    def by_name(self, name: str) -> ApiToken | None:
        return self._session.scalars(select(ApiToken).where(ApiToken.name == name)).one_or_none()

    def by_id(self, token_id: str) -> ApiToken | None:
        return self._session.get(ApiToken, token_id)

    def all(self) -> Sequence[ApiToken]:
        return self._session.scalars(select(ApiToken).order_by(ApiToken.name)).all()

    def touch(self, token_id: str, now: datetime) -> None:
        self._session.execute(update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=now))


class SigningKeyRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def add(self, key: SigningKey) -> None:
        self._session.add(key)
        self._session.flush()

    def all_newest_first(self) -> Sequence[SigningKey]:
        return self._session.scalars(select(SigningKey).order_by(SigningKey.created_at.desc())).all()

    def delete_all_but(self, kid: str) -> int:
        result = self._session.execute(delete(SigningKey).where(SigningKey.kid != kid))
        return int(getattr(result, "rowcount", 0) or 0)


def _upsert(session: Session, model: type) -> postgresql.Insert | sqlite.Insert:
    """``INSERT`` that can take ``ON CONFLICT ... DO UPDATE`` (both backends spell it the same)."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(model)
    return sqlite.insert(model)


class FamiliarAddressRepository:
    """The addresses each account has logged in from (smart lockout's *familiar* addresses)."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def is_familiar(self, account_id: int, address: str, seen_since: datetime) -> bool:
        query = select(FamiliarAddress.last_seen_at).where(
            FamiliarAddress.account_id == account_id, FamiliarAddress.address == address,
            FamiliarAddress.last_seen_at >= seen_since,
        )
        return self._session.execute(query).first() is not None

    def touch(self, account_id: int, address: str, now: datetime) -> None:
        """Seen now: one upsert, whichever worker saw it first."""
        statement = _upsert(self._session, FamiliarAddress).values(
            account_id=account_id, address=address, first_seen_at=now, last_seen_at=now
        )
        self._session.execute(statement.on_conflict_do_update(
            index_elements=["account_id", "address"], set_={"last_seen_at": literal(now, UtcDateTime())}
        ))

    def of_account(self, account_id: int) -> Sequence[FamiliarAddress]:
        query = (select(FamiliarAddress).where(FamiliarAddress.account_id == account_id)
                 .order_by(FamiliarAddress.last_seen_at.desc()))
        return self._session.scalars(query).all()

    def forget(self, account_id: int) -> int:
        result = self._session.execute(delete(FamiliarAddress).where(FamiliarAddress.account_id == account_id))
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    def delete_seen_before(self, before: datetime) -> int:
        result = self._session.execute(delete(FamiliarAddress).where(FamiliarAddress.last_seen_at < before))
        return int(result.rowcount or 0)  # type: ignore[attr-defined]


class LoginBucketRepository:
    """Failed logins per account and bucket (familiar or unfamiliar addresses)."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def get(self, account_id: int, bucket: str) -> LoginBucket | None:
        """The row as committed now (re-read even if this session holds an older copy)."""
        query = (select(LoginBucket).where(LoginBucket.account_id == account_id, LoginBucket.bucket == bucket)
                 .execution_options(populate_existing=True))
        return self._session.scalars(query).one_or_none()

    def of_account(self, account_id: int) -> Sequence[LoginBucket]:
        query = select(LoginBucket).where(LoginBucket.account_id == account_id).order_by(LoginBucket.bucket)
        return self._session.scalars(query).all()

    def add(self, bucket: LoginBucket) -> None:
        self._session.add(bucket)

    def clear(self, account_id: int) -> None:
        self._session.execute(delete(LoginBucket).where(LoginBucket.account_id == account_id))


class AddressFailureRepository:
    """Failed logins per client address, shared by every worker and machine."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def blocked_until(self, address: str) -> datetime | None:
        query = select(AddressFailure.blocked_until).where(AddressFailure.address == address)
        return self._session.execute(query).scalar_one_or_none()

    def count_failure(self, address: str, now: datetime, window_start: datetime, quiet_since: datetime) -> int | None:
        """One failure more, in one upsert; the failures in the current window, or None when the
        address is refused already (attempts while refused are not counted).

        A window that started before ``window_start`` is over: the count starts again at 1. An
        address quiet since ``quiet_since`` (no failure, no refusal running) starts its growing
        refusals from the shortest again.
        """
        table = AddressFailure.__table__
        at = literal(now, UtcDateTime())
        over = table.c.window_started_at < window_start
        quiet = and_(table.c.last_seen_at < quiet_since,
                     or_(table.c.blocked_until.is_(None), table.c.blocked_until < quiet_since))
        statement = _upsert(self._session, AddressFailure).values(
            address=address, failures=1, window_started_at=now, blocked_until=None, lockouts=0, last_seen_at=now
        )
        upsert = statement.on_conflict_do_update(
            index_elements=["address"],
            set_={
                "failures": case((over, 1), else_=table.c.failures + 1),
                "window_started_at": case((over, at), else_=table.c.window_started_at),
                "lockouts": case((quiet, 0), else_=table.c.lockouts),
                "last_seen_at": at,
            },
            where=or_(table.c.blocked_until.is_(None), table.c.blocked_until <= now),
        ).returning(table.c.failures)
        return self._session.execute(upsert).scalar_one_or_none()

    def lockouts(self, address: str) -> int:
        query = select(AddressFailure.lockouts).where(AddressFailure.address == address)
        return int(self._session.execute(query).scalar_one_or_none() or 0)

    def block(self, address: str, now: datetime, until: datetime, limit: int) -> bool:
        """Refuse the address until ``until`` if it has reached ``limit`` failures and is not refused
        already; True for the one worker that did it."""
        statement = (
            update(AddressFailure)
            .where(AddressFailure.address == address, AddressFailure.failures >= limit,
                   or_(AddressFailure.blocked_until.is_(None), AddressFailure.blocked_until <= now))
            .values(blocked_until=until, lockouts=AddressFailure.lockouts + 1, failures=0)
        )
        return bool(self._session.execute(statement).rowcount)  # type: ignore[attr-defined]

    def clear(self, address: str | None = None) -> int:
        statement = delete(AddressFailure)
        if address is not None:
            statement = statement.where(AddressFailure.address == address)
        return int(self._session.execute(statement).rowcount or 0)  # type: ignore[attr-defined]

    def delete_quiet(self, quiet_since: datetime, now: datetime) -> int:
        """Forget addresses with no failure since ``quiet_since`` and no refusal running."""
        statement = delete(AddressFailure).where(
            AddressFailure.last_seen_at < quiet_since,
            or_(AddressFailure.blocked_until.is_(None), AddressFailure.blocked_until <= now),
        )
        return int(self._session.execute(statement).rowcount or 0)  # type: ignore[attr-defined]
