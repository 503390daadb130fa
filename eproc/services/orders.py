"""The supplier's view of the Authorised Orders FMS sent back: list, read, acknowledge.

An order system takes each order once by listing the unacknowledged ones and acknowledging each
after it has stored it; acknowledging is idempotent.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from eproc.services.authentication import USERNAME_PATTERN
from eproc.services.documents import MAX_PAGE_SIZE, AccountScope, in_scope
from eproc.services.errors import InvalidInput, NotFound
from eproc.services.events import EventType, emit
from eproc.services.hub import Hub
from eproc.store.models import ReceivedOrder
from eproc.store.unit_of_work import UnitOfWork


@dataclass(frozen=True)
class OrderRecord:
    id: int
    account: str
    order_number: str
    revision: int
    received_at: datetime
    acknowledged_at: datetime | None
    accepted: bool
    warnings: int
    report: dict[str, Any] | None = None
    # The order's other revisions (ids), when one order is shown.
    revisions: list[int] = field(default_factory=list)


def _record(order: ReceivedOrder, username: str, report: dict[str, Any] | None) -> OrderRecord:
    summary = report or {}
    return OrderRecord(
        id=order.id,
        account=username,
        order_number=order.order_number,
        revision=order.revision,
        received_at=order.received_at,
        acknowledged_at=order.acknowledged_at,
        accepted=bool(summary.get("accepted", True)),
        warnings=len(summary.get("warnings", [])),
        report=report,
    )


def list_orders(
    hub: Hub,
    *,
    scope: AccountScope = None,
    username: str | None = None,
    acknowledged: bool | None = None,
    after: int | None = None,
    page_size: int = 100,
) -> list[OrderRecord]:
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise InvalidInput(f"pageSize must be 1 to {MAX_PAGE_SIZE}")
    with hub.unit_of_work() as uow:
        account_ids: list[int] | None = sorted(scope) if scope is not None else None
        if username is not None:
            account = uow.accounts.by_username(username) if USERNAME_PATTERN.fullmatch(username) else None
            if account is None or not in_scope(account.id, scope):
                raise NotFound(f"no account named {username!r}")
            account_ids = [account.id]
        names = uow.accounts.usernames()
        rows = uow.orders.page(account_ids=account_ids, acknowledged=acknowledged, after=after, limit=page_size)
        return [
            _record(row, names.get(row.account_id, "?"), json.loads(row.report_json) if row.report_json else None)
            for row in rows
        ]


def _scoped_order(uow: UnitOfWork, order_id: int, scope: AccountScope) -> ReceivedOrder:
    """The order, if the caller may see it; another tenant's reads exactly as one that does not exist."""
    order = uow.orders.by_id(order_id)
    if order is None or not in_scope(order.account_id, scope):
        raise NotFound(f"no Authorised Order with id {order_id}")
    return order


def _visible(hub: Hub, order_id: int, scope: AccountScope) -> tuple[ReceivedOrder, str, list[int]]:
    with hub.unit_of_work() as uow:
        order = _scoped_order(uow, order_id, scope)
        revisions = [r for r in uow.orders.revision_ids(order.account_id, order.order_number) if r != order.id]
        return order, uow.accounts.usernames().get(order.account_id, "?"), revisions


def get_order(hub: Hub, order_id: int, *, scope: AccountScope = None) -> OrderRecord:
    order, username, revisions = _visible(hub, order_id, scope)
    report = json.loads(order.report_json) if order.report_json else None
    record = _record(order, username, report)
    return OrderRecord(**{**record.__dict__, "revisions": revisions})


def order_xml(hub: Hub, order_id: int, *, scope: AccountScope = None) -> bytes:
    with hub.unit_of_work() as uow:
        return _scoped_order(uow, order_id, scope).xml


def acknowledge_order(hub: Hub, order_id: int, *, scope: AccountScope = None) -> OrderRecord:
    now = hub.now()
    with hub.unit_of_work() as uow:
        order = _scoped_order(uow, order_id, scope)
        if order.acknowledged_at is None:
            order.acknowledged_at = now
            emit(uow, EventType.ORDER_ACKNOWLEDGED, now, account_id=order.account_id, order_id=order.id,
                 subject=order.order_number)
        uow.commit()
    return get_order(hub, order_id, scope=scope)
