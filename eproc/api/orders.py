"""``/api/v1/orders``: the Authorised Orders FMS sent back, and acknowledging them."""

from __future__ import annotations

from flask import Response
from flask_openapi3.blueprint import APIBlueprint
from flask_openapi3.models.tag import Tag
from flask_openapi3.types import ResponseDict

from eproc.api import models
from eproc.api.app import API_PREFIX, BEARER, grant, hub, json_response
from eproc.api.documents import _report
from eproc.api.paging import decode_cursor, encode_cursor, next_url
from eproc.services import orders
from eproc.services.orders import OrderRecord

tag = Tag(name="orders", description="Authorised Orders received from schools' FMS")
blueprint = APIBlueprint("orders", __name__, url_prefix=f"{API_PREFIX}/orders", abp_tags=[tag],
                         abp_security=[BEARER])
ERRORS: ResponseDict = {400: models.Problem, 401: models.Problem, 403: models.Problem, 404: models.Problem}


def _summary(record: OrderRecord) -> models.Order:
    return models.Order(
        id=record.id, account=record.account, order_number=record.order_number, revision=record.revision,
        received_at=record.received_at, acknowledged_at=record.acknowledged_at, accepted=record.accepted,
        warnings=record.warnings,
    )


def _detail(record: OrderRecord) -> models.OrderDetail:
    return models.OrderDetail(
        **_summary(record).model_dump(),
        report=_report(record.report) if record.report else None,
        revisions=record.revisions,
    )


@blueprint.get("", summary="List received orders, oldest first", responses={200: models.OrderList, **ERRORS})
def list_orders(query: models.OrderListQuery) -> Response:
    allowed = grant("ReadOrder")
    rows = orders.list_orders(
        hub(), scope=allowed.account_ids, username=query.account, acknowledged=query.acknowledged,
        after=decode_cursor(query.after), page_size=query.page_size,
    )
    following = next_url(after=encode_cursor(rows[-1].id)) if len(rows) == query.page_size else None
    return json_response(models.OrderList(items=[_summary(r) for r in rows], next=following))


@blueprint.get("/<int:id>", summary="An order, its report and its other revisions",
               responses={200: models.OrderDetail, **ERRORS})
def show(path: models.OrderPath) -> Response:
    allowed = grant("ReadOrder")
    return json_response(_detail(orders.get_order(hub(), path.id, scope=allowed.account_ids)))


@blueprint.get("/<int:id>/xml", summary="The exact bytes FMS sent", responses=ERRORS)
def xml(path: models.OrderPath) -> Response:
    allowed = grant("ReadOrder")
    return Response(orders.order_xml(hub(), path.id, scope=allowed.account_ids), mimetype="application/xml")


@blueprint.post("/<int:id>/acknowledge", summary="Mark the order taken (idempotent)",
                responses={200: models.OrderDetail, **ERRORS})
def acknowledge(path: models.OrderPath) -> Response:
    allowed = grant("ReadOrder")
    return json_response(_detail(orders.acknowledge_order(hub(), path.id, scope=allowed.account_ids)))
