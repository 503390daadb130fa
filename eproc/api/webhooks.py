"""``/api/v1/webhooks``: endpoints, their delivery log, manual retry and a test ping (ManageWebhook)."""

from __future__ import annotations

from flask import Response
from flask_openapi3.blueprint import APIBlueprint
from flask_openapi3.models.tag import Tag
from flask_openapi3.types import ResponseDict
from pydantic import Field

from eproc.api import models
from eproc.api.app import API_PREFIX, BEARER, grant, hub, json_response
from eproc.api.paging import decode_cursor, encode_cursor, next_url
from eproc.services import webhooks
from eproc.services.webhooks import DeliveryView, WebhookView

tag = Tag(name="webhooks", description="events pushed to the portal as they happen, signed per Standard Webhooks")
blueprint = APIBlueprint("webhooks", __name__, url_prefix=f"{API_PREFIX}/webhooks", abp_tags=[tag],
                         abp_security=[BEARER])
ERRORS: ResponseDict = {400: models.Problem, 401: models.Problem, 403: models.Problem, 404: models.Problem}
PERMISSION = "ManageWebhook"


class WebhookIn(models.ApiModel):
    url: str = Field(min_length=1, max_length=2000, description="http:// or https:// URL the events are POSTed to")
    events: list[str] = Field(min_length=1, max_length=64, description="event types, e.g. order.received")
    accounts: list[str] | None = Field(
        default=None, max_length=1000,
        description="only these accounts' events; default: every account (an account-limited token: its own)",
    )
    description: str | None = Field(default=None, max_length=500)


class WebhookPatch(models.ApiModel):
    url: str | None = Field(default=None, min_length=1, max_length=2000)
    events: list[str] | None = Field(default=None, min_length=1, max_length=64)
    accounts: list[str] | None = Field(default=None, max_length=1000)
    description: str | None = Field(default=None, max_length=500)
    enabled: bool | None = None


class Webhook(models.ApiModel):
    id: int
    url: str
    events: list[str]
    accounts: list[str] | None
    description: str | None
    enabled: bool
    disabled_reason: str | None
    created_by: str
    created_at: models.UtcTime
    updated_at: models.UtcTime


class NewWebhook(Webhook):
    secret: str = Field(description="the signing secret (whsec_...): shown this once")


class WebhookList(models.ApiModel):
    items: list[Webhook]
    next: str | None = None


class Attempt(models.ApiModel):
    at: models.UtcTime
    status_code: int | None = Field(description="the receiver's answer; null when none came")
    duration_ms: int
    error: str | None


class Delivery(models.ApiModel):
    id: int
    webhook_id: int
    message_id: str = Field(description="the webhook-id header: the same on every attempt")
    event_id: int
    event_type: str
    status: str = Field(description="pending, delivered or failed")
    attempts: int
    created_at: models.UtcTime
    next_attempt_at: models.UtcTime | None
    delivered_at: models.UtcTime | None
    last_status_code: int | None
    last_error: str | None
    history: list[Attempt]


class DeliveryList(models.ApiModel):
    items: list[Delivery]
    next: str | None = None


class WebhookPath(models.ApiModel):
    id: int = Field(ge=1, le=2**31 - 1)


class DeliveryPath(models.ApiModel):
    id: int = Field(ge=1, le=2**31 - 1)
    delivery_id: int = Field(ge=1, le=2**63 - 1)


class DeliveryQuery(models.ApiModel):
    failed: bool | None = Field(default=None, description="true: only failed deliveries (dead letters)")
    page_size: int = Field(default=100, ge=1, le=1000)
    after: str | None = Field(default=None, max_length=40)


def _out(view: WebhookView) -> Webhook:
    return Webhook(
        id=view.id, url=view.url, events=list(view.events),
        accounts=list(view.accounts) if view.accounts is not None else None, description=view.description,
        enabled=view.enabled, disabled_reason=view.disabled_reason, created_by=view.created_by,
        created_at=view.created_at, updated_at=view.updated_at,
    )


def _delivery(view: DeliveryView) -> Delivery:
    return Delivery(
        id=view.id, webhook_id=view.webhook_id, message_id=view.message_id, event_id=view.event_id,
        event_type=view.event_type, status=view.status, attempts=view.attempts, created_at=view.created_at,
        next_attempt_at=view.next_attempt_at, delivered_at=view.delivered_at,
        last_status_code=view.last_status_code, last_error=view.last_error,
        history=[Attempt(at=a.at, status_code=a.status_code, duration_ms=a.duration_ms, error=a.error)
                 for a in view.history],
    )


@blueprint.post("", summary="Add a webhook endpoint (its secret is in the answer, once)",
                responses={201: NewWebhook, 409: models.Problem, **ERRORS})
def create(body: WebhookIn) -> Response:
    allowed = grant(PERMISSION)
    view, secret = webhooks.create_webhook(
        hub(), body.url, body.events, usernames=body.accounts, description=body.description,
        scope=allowed.account_ids, created_by=f"token:{allowed.name}",
    )
    out = NewWebhook(**_out(view).model_dump(), secret=secret)
    return json_response(out, 201, {"Location": f"{API_PREFIX}/webhooks/{view.id}"})


@blueprint.get("", summary="List webhook endpoints", responses={200: WebhookList, **ERRORS})
def list_all() -> Response:
    allowed = grant(PERMISSION)
    return json_response(WebhookList(items=[_out(v) for v in webhooks.list_webhooks(hub(), scope=allowed.account_ids)]))


@blueprint.get("/<int:id>", summary="A webhook endpoint", responses={200: Webhook, **ERRORS})
def show(path: WebhookPath) -> Response:
    allowed = grant(PERMISSION)
    return json_response(_out(webhooks.get_webhook(hub(), path.id, scope=allowed.account_ids)))


@blueprint.patch("/<int:id>", summary="Change an endpoint, or enable/disable it",
                 responses={200: Webhook, **ERRORS})
def update(path: WebhookPath, body: WebhookPatch) -> Response:
    allowed = grant(PERMISSION)
    changes = body.model_dump(exclude_unset=True)
    view = webhooks.update_webhook(
        hub(), path.id, scope=allowed.account_ids, url=changes.get("url"), events=changes.get("events"),
        description=changes.get("description"),
        clear_description="description" in changes and changes["description"] is None,
        enabled=changes.get("enabled"),
        **({"usernames": changes["accounts"]} if "accounts" in changes else {}),
    )
    return json_response(_out(view))


@blueprint.delete("/<int:id>", summary="Remove an endpoint with its deliveries", responses={204: None, **ERRORS})
def remove(path: WebhookPath) -> Response:
    allowed = grant(PERMISSION)
    webhooks.remove_webhook(hub(), path.id, scope=allowed.account_ids)
    return Response(status=204)


@blueprint.get("/<int:id>/deliveries", summary="The endpoint's deliveries, newest first, with every attempt",
               responses={200: DeliveryList, **ERRORS})
def deliveries(path: WebhookPath, query: DeliveryQuery) -> Response:
    allowed = grant(PERMISSION)
    rows = webhooks.deliveries(
        hub(), path.id, scope=allowed.account_ids, failed_only=bool(query.failed),
        before=decode_cursor(query.after), page_size=query.page_size,
    )
    following = next_url(after=encode_cursor(rows[-1].id)) if len(rows) == query.page_size else None
    return json_response(DeliveryList(items=[_delivery(d) for d in rows], next=following))


@blueprint.post("/<int:id>/deliveries/<int:deliveryId>/retry",
                summary="Send a delivery again now, with the same webhook-id",
                responses={202: Delivery, 409: models.Problem, **ERRORS})
def retry(path: DeliveryPath) -> Response:
    allowed = grant(PERMISSION)
    view = webhooks.retry_delivery(hub(), path.delivery_id, webhook_id=path.id, scope=allowed.account_ids)
    return json_response(_delivery(view), 202)


@blueprint.post("/<int:id>/test", summary="Queue a webhook.test event for this endpoint",
                responses={202: Delivery, 409: models.Problem, **ERRORS})
def test(path: WebhookPath) -> Response:
    allowed = grant(PERMISSION)
    return json_response(_delivery(webhooks.send_test(hub(), path.id, scope=allowed.account_ids)), 202)



