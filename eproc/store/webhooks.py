"""The webhook tables' queries: endpoints, the delivery outbox, the attempt log, and the claim.

The claim is one statement on both backends: ``UPDATE ... WHERE id IN (SELECT ... FOR UPDATE SKIP
LOCKED LIMIT n) RETURNING id``. On PostgreSQL concurrent workers skip each other's rows instead of
waiting; SQLite has no row locks (the compiler drops the clause) but runs each write statement
alone under its database lock, so the same statement cannot hand one row to two workers there
either.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Engine, ScalarSelect, Text, cast, delete, func, literal_column, or_, select, true, update
from sqlalchemy.orm import Session

from eproc.store.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint


class Subscription(NamedTuple):
    """What the outbox needs of an enabled endpoint to decide whether it wants an event."""

    id: int
    events: frozenset[str]
    account_ids: frozenset[int] | None


class ClaimedDelivery(NamedTuple):
    id: int
    message_id: str
    payload: str
    attempts: int
    endpoint_id: int
    url: str
    secret: str


def split_ids(value: str | None) -> frozenset[int] | None:
    return None if value is None else frozenset(int(part) for part in value.split(",") if part)


NOTIFY_CHANNEL = "eproc_webhooks"

# The enabled endpoints' subscriptions as one string ("id|events|accounts" per endpoint, "*" for
# every account, space-separated; NULL when there is none), as a scalar subquery. The event insert
# returns it (EventRepository.record), so the outbox learns who wants an event from the statement
# that writes it, in its snapshot, instead of a SELECT of its own per event. The string is the
# subscriptions themselves, not a version of them: a change made by any process is seen by the
# next event, with no counter to bump.
_e = WebhookEndpoint.__table__.c
_BAR = literal_column("'|'", Text)  # constants in the SQL, not parameters: the statement stays fixed
ENABLED_SUBSCRIPTIONS: ScalarSelect[str] = (
    select(func.aggregate_strings(
        cast(_e.id, Text) + _BAR + _e.events + _BAR + func.coalesce(_e.accounts, literal_column("'*'", Text)),
        literal_column("' '", Text),  # type: ignore[arg-type]  # a constant, not a POSTCOMPILE parameter
    ))
    .where(_e.enabled == true())
    .scalar_subquery()
)
_parsed: tuple[str | None, list[Subscription]] = (None, [])


def subscriptions_of(text: str | None) -> list[Subscription]:
    """:data:`ENABLED_SUBSCRIPTIONS` parsed (the last one parsed is remembered: it seldom changes)."""
    global _parsed
    if not text:
        return []
    seen, subscriptions = _parsed
    if text == seen:
        return subscriptions
    subscriptions = []
    for item in text.split(" "):
        id_, events, accounts = item.split("|")
        subscriptions.append(Subscription(int(id_), frozenset(events.split(",")),
                                          None if accounts == "*" else split_ids(accounts)))
    subscriptions.sort()
    _parsed = (text, subscriptions)
    return subscriptions


class WebhookRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    # --- endpoints --------------------------------------------------------------------------

    def subscriptions(self) -> list[Subscription]:
        """Every enabled endpoint, narrowly: the outbox reads this on each state change."""
        query = select(WebhookEndpoint.id, WebhookEndpoint.events, WebhookEndpoint.accounts).where(
            WebhookEndpoint.enabled == true()
        )
        return [
            Subscription(id_, frozenset(events.split(",")), split_ids(accounts))
            for id_, events, accounts in self._session.execute(query)
        ]

    def add_endpoint(self, endpoint: WebhookEndpoint) -> None:
        self._session.add(endpoint)
        self._session.flush()

    def endpoint(self, endpoint_id: int) -> WebhookEndpoint | None:
        return self._session.get(WebhookEndpoint, endpoint_id)

    def endpoints(self, after: int | None = None, limit: int = 1000) -> Sequence[WebhookEndpoint]:
        query = select(WebhookEndpoint).order_by(WebhookEndpoint.id).limit(limit)
        if after is not None:
            query = query.where(WebhookEndpoint.id > after)
        return self._session.scalars(query).all()

    def delete_endpoint(self, endpoint_id: int) -> None:
        # Its deliveries and their attempts go with it (ON DELETE CASCADE).
        self._session.execute(delete(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id))

    def disable_endpoint(self, endpoint_id: int, reason: str, now: datetime) -> bool:
        result = self._session.execute(
            update(WebhookEndpoint)
            .where(WebhookEndpoint.id == endpoint_id, WebhookEndpoint.enabled == true())
            .values(enabled=False, disabled_reason=reason[:500], updated_at=now)
        )
        return bool(getattr(result, "rowcount", 0))

    # --- the outbox -------------------------------------------------------------------------

    def add_deliveries(self, event_id: int, deliveries: Sequence[WebhookDelivery]) -> None:
        """Deliveries of the event ``event_id``, written in the event's own transaction."""
        for delivery in deliveries:
            delivery.event_id = event_id
            self._session.add(delivery)

    def notify(self) -> None:
        """Wake idle workers. PostgreSQL sends it at commit, so none wakes for a delivery it cannot
        see yet, and none at all if the change rolls back; SQLite's workers poll."""
        if self._session.get_bind().dialect.name == "postgresql":
            self._session.execute(select(func.pg_notify(NOTIFY_CHANNEL, "")))

    def delivery(self, delivery_id: int) -> WebhookDelivery | None:
        return self._session.get(WebhookDelivery, delivery_id)

    def deliveries(
        self, endpoint_id: int, *, failed_only: bool = False, after: int | None = None, limit: int = 100
    ) -> Sequence[WebhookDelivery]:
        """Newest first: the log a person reads after something went wrong."""
        query = select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint_id)
        if failed_only:
            query = query.where(WebhookDelivery.status == "failed")
        if after is not None:
            query = query.where(WebhookDelivery.id < after)
        return self._session.scalars(query.order_by(WebhookDelivery.id.desc()).limit(limit)).all()

    def attempts_of(self, delivery_ids: Sequence[int]) -> dict[int, list[WebhookAttempt]]:
        found: dict[int, list[WebhookAttempt]] = {id_: [] for id_ in delivery_ids}
        if not delivery_ids:
            return found
        query = (
            select(WebhookAttempt)
            .where(WebhookAttempt.delivery_id.in_(list(delivery_ids)))
            .order_by(WebhookAttempt.id)
        )
        for attempt in self._session.scalars(query):
            found[attempt.delivery_id].append(attempt)
        return found

    def counts(self) -> dict[str, int]:
        query = select(WebhookDelivery.status, func.count()).group_by(WebhookDelivery.status)
        return {status: int(count) for status, count in self._session.execute(query)}

    def schedule_now(self, delivery_id: int, now: datetime) -> None:
        """A manual retry: due at once, whatever its state; a lease held now is left to run out."""
        self._session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id == delivery_id)
            .values(status="pending", next_attempt_at=now)
        )

    # --- the worker -------------------------------------------------------------------------

    def any_due(self, now: datetime) -> bool:
        """A read before the claim's write: an idle worker's poll then takes no write lock (on
        SQLite, the whole database's)."""
        query = (
            select(WebhookDelivery.id)
            .where(WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at <= now,
                   or_(WebhookDelivery.lease_until.is_(None), WebhookDelivery.lease_until <= now))
            .limit(1)
        )
        return self._session.scalar(query) is not None

    def claim(self, now: datetime, lease_until: datetime, worker: str, limit: int) -> list[ClaimedDelivery]:
        """Take up to ``limit`` due deliveries of enabled endpoints for ``worker`` until ``lease_until``."""
        due = (
            select(WebhookDelivery.id)
            .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
            .where(
                WebhookDelivery.status == "pending",
                WebhookDelivery.next_attempt_at <= now,
                or_(WebhookDelivery.lease_until.is_(None), WebhookDelivery.lease_until <= now),
                WebhookEndpoint.enabled == true(),
            )
            .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
            .limit(limit)
            .with_for_update(of=WebhookDelivery, skip_locked=True)
        )
        claim = (
            update(WebhookDelivery)
            .where(WebhookDelivery.id.in_(due.scalar_subquery()))
            .values(lease_until=lease_until, leased_by=worker)
            .returning(WebhookDelivery.id)
        )
        ids = list(self._session.scalars(claim))
        if not ids:
            return []
        rows = self._session.execute(
            select(
                WebhookDelivery.id, WebhookDelivery.message_id, WebhookDelivery.payload, WebhookDelivery.attempts,
                WebhookEndpoint.id, WebhookEndpoint.url, WebhookEndpoint.secret,
            )
            .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
            .where(WebhookDelivery.id.in_(ids))
            .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
        )
        return [ClaimedDelivery(*row) for row in rows]

    def record_attempt(self, attempt: WebhookAttempt) -> None:
        self._session.add(attempt)

    def settle(
        self,
        delivery_id: int,
        worker: str,
        *,
        status: str,
        next_attempt_at: datetime | None,
        now: datetime,
        status_code: int | None,
        error: str | None,
    ) -> bool:
        """The outcome of the attempt ``worker`` made, and the lease given back.

        Only while the worker still holds the lease: if it ran out and another worker took the
        delivery, that worker's outcome is the one that counts (the attempt is logged either way).
        """
        values: dict[str, object] = {
            "status": status,
            "attempts": WebhookDelivery.attempts + 1,
            "lease_until": None,
            "leased_by": None,
            "last_attempt_at": now,
            "last_status_code": status_code,
            "last_error": error[:500] if error else None,
        }
        if next_attempt_at is not None:
            values["next_attempt_at"] = next_attempt_at
        if status == "delivered":
            values["delivered_at"] = now
        result = self._session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id == delivery_id, WebhookDelivery.leased_by == worker)
            .values(**values)
        )
        return bool(getattr(result, "rowcount", 0))

    def next_due(self) -> datetime | None:
        """When the earliest pending delivery falls due (the worker sleeps until then, or a poll)."""
        query = select(func.min(WebhookDelivery.next_attempt_at)).where(WebhookDelivery.status == "pending")
        return self._session.scalar(query)



class Wakeup:
    """An idle worker's wait: LISTEN on PostgreSQL (woken by the outbox's NOTIFY), a sleep elsewhere."""

    def __init__(self, engine: Engine) -> None:
        self._connection: Any = None
        if engine.dialect.name == "postgresql":
            raw = engine.raw_connection()
            self._pooled = raw
            connection: Any = raw.driver_connection
            connection.autocommit = True
            connection.execute(f"LISTEN {NOTIFY_CHANNEL}")
            self._connection = connection

    def wait(self, seconds: float) -> None:
        if self._connection is None:
            time.sleep(seconds)
            return
        for _ in self._connection.notifies(timeout=seconds, stop_after=1):
            pass
        # Several NOTIFYs may have queued up: take them all, one claim serves them.
        for _ in self._connection.notifies(timeout=0):
            pass

    def close(self) -> None:
        if self._connection is not None:
            self._pooled.invalidate()
            self._connection = None
