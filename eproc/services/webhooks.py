"""Webhook endpoints and their delivery log: add, list, change, remove, retry, test ping.

What the portal API (``ManageWebhook``) and ``eproc webhooks`` both call. An account-limited token
manages only endpoints limited to its own accounts; anyone else's read as unknown (404). The
secret is returned once, when the endpoint is made; the outbox (``services/outbox.py``) and the
worker (``eproc/webhook_worker.py``) do the rest.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from eproc.delivery import signing
from eproc.delivery.targets import TargetRefused, check_literal, parse_url
from eproc.services.authentication import USERNAME_PATTERN
from eproc.services.documents import MAX_PAGE_SIZE, AccountScope
from eproc.services.errors import Conflict, InvalidInput, NotFound
from eproc.services.events import EVENT_TYPE_NAMES, EventType, emit
from eproc.services.hub import Hub
from eproc.store.models import WebhookDelivery, WebhookEndpoint
from eproc.store.unit_of_work import UnitOfWork
from eproc.store.webhooks import split_ids

# What an endpoint may subscribe to: every event type but the test ping, which goes only where asked.
SUBSCRIBABLE: tuple[str, ...] = tuple(name for name in EVENT_TYPE_NAMES if name != EventType.WEBHOOK_TEST)
MAX_ENDPOINTS = 1000
MAX_DESCRIPTION = 500
DELIVERY_STATUSES = ("pending", "delivered", "failed")


@dataclass(frozen=True)
class WebhookView:
    id: int
    url: str
    events: tuple[str, ...]
    accounts: tuple[str, ...] | None  # None: every account
    description: str | None
    enabled: bool
    disabled_reason: str | None
    created_by: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class AttemptView:
    at: datetime
    status_code: int | None
    duration_ms: int
    error: str | None


@dataclass(frozen=True)
class DeliveryView:
    id: int
    webhook_id: int
    message_id: str
    event_id: int
    event_type: str
    status: str
    attempts: int
    created_at: datetime
    next_attempt_at: datetime | None
    delivered_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    history: list[AttemptView] = field(default_factory=list)


def _visible(endpoint: WebhookEndpoint, scope: AccountScope) -> bool:
    if scope is None:
        return True
    limited = split_ids(endpoint.accounts)
    return limited is not None and limited <= scope


def _scoped(uow: UnitOfWork, webhook_id: int, scope: AccountScope) -> WebhookEndpoint:
    endpoint = uow.webhooks.endpoint(webhook_id) if 0 < webhook_id < 2**31 else None
    if endpoint is None or not _visible(endpoint, scope):
        raise NotFound(f"no webhook {webhook_id}")
    return endpoint


def _view(endpoint: WebhookEndpoint, names: dict[int, str]) -> WebhookView:
    ids = split_ids(endpoint.accounts)
    return WebhookView(
        id=endpoint.id,
        url=endpoint.url,
        events=tuple(e for e in endpoint.events.split(",") if e),
        accounts=None if ids is None else tuple(sorted(names.get(i, f"#{i}") for i in ids)),
        description=endpoint.description,
        enabled=endpoint.enabled,
        disabled_reason=endpoint.disabled_reason,
        created_by=endpoint.created_by,
        created_at=endpoint.created_at,
        updated_at=endpoint.updated_at,
    )


def _check_url(hub: Hub, url: str) -> str:
    try:
        check_literal(parse_url(url), hub.settings.webhook_allow_private_targets)
    except TargetRefused as exc:
        raise InvalidInput(f"url: {exc}") from None
    return url


def _check_events(events: list[str]) -> str:
    if not events:
        raise InvalidInput(f"events: name at least one event type ({', '.join(SUBSCRIBABLE)})")
    unknown = [e for e in events if e not in SUBSCRIBABLE]
    if unknown:
        raise InvalidInput(f"events: unknown event type {unknown[0]!r}; use {', '.join(SUBSCRIBABLE)}")
    return ",".join(sorted(set(events)))


def _check_description(description: str | None) -> str | None:
    if description is not None and (len(description) > MAX_DESCRIPTION or "\x00" in description):
        raise InvalidInput(f"description: at most {MAX_DESCRIPTION} characters, no NUL")
    return description or None


def _account_ids(uow: UnitOfWork, usernames: list[str] | None, scope: AccountScope) -> str | None:
    """The accounts an endpoint is limited to: those named (which the caller must be able to see),
    or, for an account-limited caller who names none, the caller's own."""
    if not usernames:
        return None if scope is None else ",".join(str(i) for i in sorted(scope))
    ids = set()
    for username in usernames:
        account = uow.accounts.by_username(username) if USERNAME_PATTERN.fullmatch(username) else None
        if account is None or (scope is not None and account.id not in scope):
            raise NotFound(f"no account named {username!r}")
        ids.add(account.id)
    return ",".join(str(i) for i in sorted(ids))


def create_webhook(
    hub: Hub,
    url: str,
    events: list[str],
    *,
    usernames: list[str] | None = None,
    description: str | None = None,
    scope: AccountScope = None,
    created_by: str = "cli",
) -> tuple[WebhookView, str]:
    """A new endpoint; returns it with its signing secret, which is shown this once."""
    url = _check_url(hub, url)
    kinds = _check_events(events)
    description = _check_description(description)
    now = hub.now()
    secret = signing.new_secret()
    with hub.unit_of_work() as uow:
        if len(uow.webhooks.endpoints(limit=MAX_ENDPOINTS)) >= MAX_ENDPOINTS:
            raise Conflict(f"there are already {MAX_ENDPOINTS} webhook endpoints")
        endpoint = WebhookEndpoint(
            url=url, events=kinds, accounts=_account_ids(uow, usernames, scope), description=description,
            secret=secret, enabled=True, created_by=created_by[:100], created_at=now, updated_at=now,
        )
        uow.webhooks.add_endpoint(endpoint)
        emit(uow, EventType.WEBHOOK_CREATED, now, subject=str(endpoint.id),
             data={"webhookId": endpoint.id, "url": url, "events": kinds.split(",")})
        view = _view(endpoint, uow.accounts.usernames())
        uow.commit()
    return view, secret


def list_webhooks(hub: Hub, *, scope: AccountScope = None) -> list[WebhookView]:
    with hub.unit_of_work() as uow:
        names = uow.accounts.usernames()
        return [_view(e, names) for e in uow.webhooks.endpoints(limit=MAX_ENDPOINTS) if _visible(e, scope)]


def get_webhook(hub: Hub, webhook_id: int, *, scope: AccountScope = None) -> WebhookView:
    with hub.unit_of_work() as uow:
        return _view(_scoped(uow, webhook_id, scope), uow.accounts.usernames())


_UNSET: list[str] = []


def update_webhook(
    hub: Hub,
    webhook_id: int,
    *,
    scope: AccountScope = None,
    url: str | None = None,
    events: list[str] | None = None,
    usernames: list[str] | None = _UNSET,
    description: str | None = None,
    clear_description: bool = False,
    enabled: bool | None = None,
) -> WebhookView:
    """Change what was given; enabling again clears the reason it was disabled, and its pending
    deliveries are sent from then on."""
    now = hub.now()
    with hub.unit_of_work() as uow:
        endpoint = _scoped(uow, webhook_id, scope)
        if url is not None:
            endpoint.url = _check_url(hub, url)
        if events is not None:
            endpoint.events = _check_events(events)
        if usernames is not _UNSET:
            endpoint.accounts = _account_ids(uow, usernames, scope)
        if description is not None or clear_description:
            endpoint.description = _check_description(description)
        if enabled is not None and enabled != endpoint.enabled:
            endpoint.enabled = enabled
            endpoint.disabled_reason = None if enabled else "disabled by its owner"
        endpoint.updated_at = now
        emit(uow, EventType.WEBHOOK_UPDATED, now, subject=str(endpoint.id),
             data={"webhookId": endpoint.id, "enabled": endpoint.enabled})
        view = _view(endpoint, uow.accounts.usernames())
        uow.commit()
    return view


def remove_webhook(hub: Hub, webhook_id: int, *, scope: AccountScope = None) -> None:
    """Remove the endpoint with its deliveries and their attempts."""
    now = hub.now()
    with hub.unit_of_work() as uow:
        endpoint = _scoped(uow, webhook_id, scope)
        uow.webhooks.delete_endpoint(endpoint.id)
        emit(uow, EventType.WEBHOOK_REMOVED, now, subject=str(webhook_id),
             data={"webhookId": webhook_id, "url": endpoint.url})
        uow.commit()


def _delivery_view(row: WebhookDelivery, history: list[AttemptView]) -> DeliveryView:
    return DeliveryView(
        id=row.id, webhook_id=row.endpoint_id, message_id=row.message_id, event_id=row.event_id,
        event_type=row.event_type, status=row.status, attempts=row.attempts, created_at=row.created_at,
        next_attempt_at=row.next_attempt_at if row.status == "pending" else None, delivered_at=row.delivered_at,
        last_status_code=row.last_status_code, last_error=row.last_error, history=history,
    )


def deliveries(
    hub: Hub,
    webhook_id: int,
    *,
    scope: AccountScope = None,
    failed_only: bool = False,
    before: int | None = None,
    page_size: int = 100,
) -> list[DeliveryView]:
    """An endpoint's deliveries, newest first, each with every attempt (time, status, duration, error)."""
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise InvalidInput(f"pageSize must be 1 to {MAX_PAGE_SIZE}")
    with hub.unit_of_work() as uow:
        endpoint = _scoped(uow, webhook_id, scope)
        rows = uow.webhooks.deliveries(endpoint.id, failed_only=failed_only, after=before, limit=page_size)
        attempts = uow.webhooks.attempts_of([r.id for r in rows])
        return [
            _delivery_view(r, [AttemptView(a.at, a.status_code, a.duration_ms, a.error) for a in attempts[r.id]])
            for r in rows
        ]


def retry_delivery(
    hub: Hub, delivery_id: int, *, webhook_id: int | None = None, scope: AccountScope = None
) -> DeliveryView:
    """Send a delivery again now, whatever became of it (a failed one gets one more attempt), with
    the same ``webhook-id`` and body."""
    now = hub.now()
    with hub.unit_of_work() as uow:
        row = uow.webhooks.delivery(delivery_id) if 0 < delivery_id < 2**63 else None
        if row is None or (webhook_id is not None and row.endpoint_id != webhook_id):
            raise NotFound(f"no delivery {delivery_id}")
        try:
            endpoint = _scoped(uow, row.endpoint_id, scope)
        except NotFound:
            raise NotFound(f"no delivery {delivery_id}") from None
        if not endpoint.enabled:
            raise Conflict(f"webhook {endpoint.id} is disabled ({endpoint.disabled_reason}); enable it first")
        uow.webhooks.schedule_now(row.id, now)
        uow.webhooks.notify()
        uow.commit()
    with hub.unit_of_work() as uow:
        fresh = uow.webhooks.delivery(delivery_id)
        assert fresh is not None
        return _delivery_view(fresh, [])


def send_test(hub: Hub, webhook_id: int, *, scope: AccountScope = None) -> DeliveryView:
    """A ``webhook.test`` event, delivered to this endpoint only (which must be enabled)."""
    now = hub.now()
    with hub.unit_of_work() as uow:
        endpoint = _scoped(uow, webhook_id, scope)
        if not endpoint.enabled:
            raise Conflict(f"webhook {endpoint.id} is disabled ({endpoint.disabled_reason}); enable it first")
        emit(uow, EventType.WEBHOOK_TEST, now, subject=str(endpoint.id), data={"webhookId": endpoint.id})
        uow.commit()
        rows = uow.webhooks.deliveries(endpoint.id, limit=1)
        return _delivery_view(rows[0], [])
