"""The webhook outbox: the deliveries a state change owes, written in the change's own transaction.

:func:`enqueue` is called by ``events.emit`` for every event; the event's own insert has brought
back the enabled endpoints' subscriptions (no read of its own), and it writes nothing unless one of
them wants the event. Since
the rows commit or roll back with the change itself, a crash can neither lose a delivery of a
change that happened nor deliver one that did not.
"""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime
from typing import Any

from eproc.store.models import WebhookDelivery
from eproc.store.repositories import RecordedEvent
from eproc.store.unit_of_work import UnitOfWork
from eproc.store.webhooks import Subscription

# The one event type no endpoint subscribes to: it goes only to the endpoint it tests.
TEST_EVENT = "webhook.test"
ORDER_RECEIVED = "order.received"


def wants(subscription: Subscription, event_type: str, account_id: int | None) -> bool:
    """An endpoint limited to some accounts hears only their events (never those naming none)."""
    if event_type not in subscription.events:
        return False
    return subscription.account_ids is None or (account_id is not None and account_id in subscription.account_ids)


def enqueue(uow: UnitOfWork, event: RecordedEvent, data: dict[str, Any] | None) -> int:
    """Write a delivery of ``event`` for each endpoint that wants it; returns how many."""
    subscriptions = event.subscriptions
    if not subscriptions:
        return 0
    if event.type == TEST_EVENT:
        target = (data or {}).get("webhookId")
        chosen = [s for s in subscriptions if s.id == target]
    else:
        chosen = [s for s in subscriptions if wants(s, event.type, event.account_id)]
    if not chosen:
        return 0
    payload = json.dumps(
        {"type": event.type, "timestamp": _utc(event.at), "data": _data(uow, event, data or {})},
        ensure_ascii=False, separators=(",", ":"), default=str,
    )
    deliveries = [
        WebhookDelivery(
            endpoint_id=subscription.id,
            message_id=f"msg_{uuid.uuid4().hex}",
            event_type=event.type,
            payload=payload,
            status="pending",
            attempts=0,
            next_attempt_at=event.at,
            created_at=event.at,
        )
        for subscription in chosen
    ]
    uow.webhooks.add_deliveries(event.id, deliveries)
    uow.webhooks.notify()
    return len(deliveries)


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _data(uow: UnitOfWork, event: RecordedEvent, data: dict[str, Any]) -> dict[str, Any]:
    """What the receiver gets: the event's id, account, document or order, and its data."""
    account = uow.accounts.by_id(event.account_id) if event.account_id is not None else None
    body: dict[str, Any] = {"eventId": event.id, "account": account.username if account else None}
    if event.doc_id is not None:
        body["docId"] = event.doc_id
    if event.order_id is not None:
        body["orderId"] = event.order_id
    body.update(data)
    if event.type == ORDER_RECEIVED and event.order_id is not None:
        # The order itself, so the supplier can start picking without a second call. The row was
        # written in this same unit of work, so this read comes from the session, not the database.
        order = uow.orders.by_id(event.order_id)
        if order is not None:
            body.update({"orderNumber": order.order_number, "revision": order.revision})
            try:
                body["xml"] = order.xml.decode("utf-8")
            except UnicodeDecodeError:
                body["xmlBase64"] = base64.b64encode(order.xml).decode()
    return body
